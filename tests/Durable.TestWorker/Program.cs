using CreditFunctions.AzureStorage.Tables;
using CreditFunctions.Durable;
using CreditFunctions.Durable.TestWorker;
using Microsoft.Extensions.Logging;

// A durable worker in a process of its own: tests start two of these on one hub and kill one with SIGKILL.
// Usage: CREDITFUNCTIONS_TESTWORKER_STORAGE=<connection string> CreditFunctions.Durable.TestWorker --hub <name>
//   --effects-table <name> [--lease-ms 3000] [--visibility-ms 5000] [--max-polling-ms 200] [--concurrency 8]
// Prints "ready <worker id>" once it receives work, and stops when its standard input closes (the starting
// process ended or let it go), so a crashed test never leaves a worker behind.
var connectionString = Environment.GetEnvironmentVariable(TestWorkerContract.StorageVariable);
if (string.IsNullOrEmpty(connectionString))
{
    Console.Error.WriteLine($"Set {TestWorkerContract.StorageVariable} to the storage connection string.");
    return 2;
}
DurableTaskHubOptions options;
string effectsTable;
try
{
    (options, effectsTable) = TestWorkerContract.Parse(args);
}
catch (ArgumentException ex)
{
    Console.Error.WriteLine(ex.Message);
    return 2;
}

using var loggers = LoggerFactory.Create(b => b
    .SetMinimumLevel(LogLevel.Warning)
    .AddSimpleConsole(o => o.SingleLine = true)
    .AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace));
var effects = new TableServiceClient(connectionString).GetTableClient(effectsTable);
await effects.CreateIfNotExistsAsync();
var registry = new DurableTaskRegistry()
    .AddOrchestrator(TestWorkerContract.FanOutOrchestrator, _ => new FanOutEffects())
    .AddActivity(TestWorkerContract.ApplyEffectActivity, _ => new ApplyEffect(effects));
await using var worker = new DurableWorker(DurableTaskHub.FromConnectionString(connectionString, options), registry, loggerFactory: loggers);
await worker.StartAsync();
Console.WriteLine($"{TestWorkerContract.ReadyPrefix} {worker.WorkerId}");

await Task.Run(() => Console.In.ReadToEnd());
await worker.StopAsync();
return 0;
