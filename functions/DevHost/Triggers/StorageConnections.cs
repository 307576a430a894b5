using Microsoft.Extensions.Configuration;

namespace DevHost.Triggers;

/// <summary>Resolves a binding's <c>connection</c> the way the host does: the setting named by it (or
/// <c>AzureWebJobs&lt;name&gt;</c>), <c>AzureWebJobsStorage</c> when none is named.</summary>
internal sealed class StorageConnections(IConfiguration configuration, string effectiveDefault)
{
    public const string DefaultName = "AzureWebJobsStorage";

    public string Resolve(string? connectionName, string functionName)
    {
        if (string.IsNullOrEmpty(connectionName) || connectionName == DefaultName)
        {
            return effectiveDefault;
        }
        var value = configuration[connectionName] ?? configuration["AzureWebJobs" + connectionName]
            ?? throw new UnsupportedFunctionException(functionName,
                $"its connection '{connectionName}' names no setting holding a connection string (identity-based connections are not supported)");
        return value.Trim().Equals("UseDevelopmentStorage=true", StringComparison.OrdinalIgnoreCase) ? effectiveDefault : value;
    }
}
