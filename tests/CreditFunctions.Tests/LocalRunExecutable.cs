using CreditFunctions.Hosting;

namespace CreditFunctions.Tests;

/// <summary>The local run's executable as built next to its project (with its own runtimeconfig and deps), in this
/// test build's configuration: what the operator command and crash tests start as a child process.</summary>
internal static class LocalRunExecutable
{
    public static string Dll
    {
        get
        {
            var root = RepositoryRoot.Find() ?? throw new InvalidOperationException("Cannot find the repository root.");
#if DEBUG
            const string configuration = "Debug";
#else
            const string configuration = "Release";
#endif
            var dll = Path.Combine(root, "functions", "LocalRun", "bin", configuration, "net10.0", "CreditFunctions.LocalRun.dll");
            return File.Exists(dll) ? dll : throw new FileNotFoundException("Build functions/LocalRun first.", dll);
        }
    }
}
