namespace DevHost;

/// <summary>A function uses a binding feature the dev host does not support; thrown at start-up, naming the function
/// and the feature, so that nothing behaves differently than in Azure without notice.</summary>
public sealed class UnsupportedFunctionException : InvalidOperationException
{
    /// <summary>Creates the exception for <paramref name="functionName"/>.</summary>
    public UnsupportedFunctionException(string functionName, string reason)
        : base($"Function '{functionName}' cannot run on the dev host: {reason}. See the dev host's supported binding features.")
    {
        FunctionName = functionName;
        Reason = reason;
    }

    /// <summary>Creates the exception with a message only.</summary>
    public UnsupportedFunctionException()
        : this("(unknown)", "unsupported")
    {
    }

    /// <summary>Creates the exception with a message only.</summary>
    public UnsupportedFunctionException(string message)
        : this("(unknown)", message)
    {
    }

    /// <summary>Creates the exception with a message and an inner exception.</summary>
    public UnsupportedFunctionException(string message, Exception innerException)
        : base(message, innerException)
    {
        FunctionName = "(unknown)";
        Reason = message;
    }

    /// <summary>The function refused.</summary>
    public string FunctionName { get; } = "(unknown)";

    /// <summary>What it uses that the dev host does not support.</summary>
    public string Reason { get; } = string.Empty;
}
