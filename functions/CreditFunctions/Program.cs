using CreditFunctions.AzureStorage.Emulator;
using CreditFunctions.AzureStorage.Tables;
using CreditFunctions.Hosting;

var builder = WebApplication.CreateSlimBuilder(args);
if (builder.Configuration["FUNCTIONS_CUSTOMHANDLER_PORT"] is null)
{
    builder.Configuration.AddLocalSettings(AzuriteProcess.FindRepositoryRoot());
}
var settings = AppSettings.From(builder.Configuration);
var port = settings.CustomHandlerPort ?? settings.LocalPort;
builder.WebHost.UseUrls($"http://127.0.0.1:{port}");

await using var azurite = await LocalStorage.EnsureRunningAsync(settings, CancellationToken.None);
var storage = azurite?.ConnectionString ?? settings.StorageConnectionString;

builder.Services.AddSingleton(settings);
builder.Services.AddSingleton(new TableServiceClient(storage));

var app = builder.Build();
app.MapHealth();

app.Lifetime.ApplicationStarted.Register(() =>
{
    if (settings.IsUnderFunctionsHost)
    {
        return;
    }
    Console.WriteLine($"CreditFunctions is listening on http://127.0.0.1:{port} (health: http://127.0.0.1:{port}/api/health)");
    Console.WriteLine(azurite is null
        ? "Storage: using the Azurite already listening for the configured connection."
        : $"Storage: started Azurite with data in {settings.LocalStorageFolder}/: {azurite.Connection}");
    Console.WriteLine("Press Ctrl+C to stop.");
});

await app.RunAsync();
