namespace DevHost.Azurite;

/// <summary>How to start Azurite. Defaults: in memory, free ports on 127.0.0.1, 60 s to start.</summary>
public sealed record AzuriteOptions
{
    /// <summary>The folder holding <c>package.json</c> that pins the <c>azurite</c> package. Null: found by walking
    /// up from the application's folder and then from the current directory.</summary>
    public string? RepositoryRoot { get; init; }

    /// <summary>Keep all data in memory (tests). False: persist under <see cref="DataFolder"/>.</summary>
    public bool InMemory { get; init; } = true;

    /// <summary>Where data persists when <see cref="InMemory"/> is false.</summary>
    public string? DataFolder { get; init; }

    /// <summary>Port for Blob; 0 lets the OS pick a free port.</summary>
    public int BlobPort { get; init; }

    /// <summary>Port for Queue; 0 lets the OS pick a free port.</summary>
    public int QueuePort { get; init; }

    /// <summary>Port for Table; 0 lets the OS pick a free port.</summary>
    public int TablePort { get; init; }

    /// <summary>How long to wait for all three services to listen.</summary>
    public TimeSpan StartTimeout { get; init; } = TimeSpan.FromSeconds(60);
}
