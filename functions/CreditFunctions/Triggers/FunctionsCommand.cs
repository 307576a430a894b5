using System.Text.Json;
using System.Text.Json.Nodes;

namespace CreditFunctions.Triggers;

/// <summary>
/// <c>functions list</c> and <c>functions generate &lt;folder&gt;</c>: the app's executable describes its functions,
/// and writes <c>{folder}/{function}/function.json</c> for each (the publish step runs it on the publish folder).
/// Runs no server and touches no storage. Exit codes: 0 done, 2 usage error.
/// </summary>
public static class FunctionsCommand
{
    private static readonly JsonSerializerOptions s_indented = new() { WriteIndented = true };

    /// <summary>True when <paramref name="args"/> ask for this command.</summary>
    public static bool Handles(IReadOnlyList<string> args) => args is ["functions", ..];

    /// <summary>Runs the command against the functions declared in <paramref name="catalog"/>; returns the exit code.</summary>
    public static async Task<int> RunAsync(IReadOnlyList<string> args, FunctionsCatalog catalog, TextWriter output, TextWriter error)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(catalog);
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(error);
        switch (args)
        {
            case ["functions", "list"]:
                foreach (var function in catalog.Functions)
                {
                    await output.WriteLineAsync($"{function.Name}\t{function.Trigger.BindingType}\t{Describe(function.Trigger)}").ConfigureAwait(false);
                }
                return 0;
            case ["functions", "generate", var folder]:
                foreach (var function in catalog.Functions)
                {
                    var directory = Path.Combine(folder, function.Name);
                    Directory.CreateDirectory(directory);
                    await File.WriteAllTextAsync(Path.Combine(directory, "function.json"), FunctionJson(function) + "\n").ConfigureAwait(false);
                }
                await output.WriteLineAsync($"Wrote function.json for {catalog.Functions.Count} functions under {folder}.").ConfigureAwait(false);
                return 0;
            default:
                await error.WriteLineAsync("Usage: functions list | functions generate <folder>").ConfigureAwait(false);
                return 2;
        }
    }

    /// <summary>The <c>function.json</c> of <paramref name="function"/>: its trigger binding (and for HTTP the response
    /// binding), with <c>%SETTING%</c> expressions kept for the host to resolve.</summary>
    public static string FunctionJson(FunctionDefinition function)
    {
        ArgumentNullException.ThrowIfNull(function);
        var trigger = function.Trigger;
        var binding = new JsonObject { ["type"] = trigger.BindingType, ["direction"] = "in", ["name"] = trigger.BindingName };
        var bindings = new JsonArray(binding);
        switch (trigger)
        {
            case HttpTrigger http:
                binding["authLevel"] = http.AuthLevel;
                binding["methods"] = new JsonArray(http.Methods.Select(m => (JsonNode?)m).ToArray());
                binding["route"] = http.Route;
                bindings.Add(new JsonObject { ["type"] = "http", ["direction"] = "out", ["name"] = "res" });
                break;
            case QueueTrigger queue:
                binding["queueName"] = queue.QueueName;
                binding["connection"] = queue.Connection;
                break;
            case BlobTrigger blob:
                binding["path"] = blob.Path;
                binding["connection"] = blob.Connection;
                // Binary: the host sends the content base64-encoded, whatever it holds.
                binding["dataType"] = "binary";
                break;
            case TimerTrigger timer:
                binding["schedule"] = timer.Schedule;
                binding["runOnStartup"] = timer.RunOnStartup;
                binding["useMonitor"] = timer.UseMonitor;
                break;
            default:
                break;
        }
        return new JsonObject { ["bindings"] = bindings }.ToJsonString(s_indented);
    }

    private static string Describe(FunctionTrigger trigger) => trigger switch
    {
        HttpTrigger http => "route " + http.Route,
        QueueTrigger queue => "queue " + queue.QueueName,
        BlobTrigger blob => "path " + blob.Path,
        TimerTrigger timer => "schedule " + timer.Schedule,
        _ => string.Empty,
    };
}
