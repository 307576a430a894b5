using CreditFunctions.Auth;
using CreditFunctions.CsvJobs;
using CreditFunctions.Forms;
using CreditFunctions.Providers;
using CreditFunctions.Tracking;
using CreditFunctions.Waterfall;
using DevHost;
using DevHost.Azurite;
using SandboxProviders;

namespace CreditFunctions.Benchmarks;

/// <summary>
/// The app under the dev host as every scenario runs it, in this process: one set of settings with the scenario's own
/// names for every table, queue and task hub (so scenarios sharing an emulator never meet), no demo team, a fixed
/// secrets key, the timers off, logs at Warning. A scenario changes what it measures on top.
/// </summary>
internal static class BenchmarkApp
{
    public static Dictionary<string, string?> Settings(string prefix, string storage, Uri sandbox, string providersFile)
    {
        var settings = SandboxProcess.DefaultKeySettings.ToDictionary(k => k.Key, k => (string?)k.Value, StringComparer.Ordinal);
        settings["AzureWebJobsStorage"] = storage;
        settings[ProviderCatalog.SandboxUrlSetting] = sandbox.ToString();
        settings[ProviderCatalog.FileSetting] = providersFile;
        settings[AuthOptions.TableSetting] = prefix + "teams";
        settings["CREDITFUNCTIONS_LEDGER_TABLE"] = prefix + "ledger";
        settings[WaterfallSetup.TableSetting] = prefix + "enrich";
        settings[CsvJobSetup.TableSetting] = prefix + "jobs";
        settings[FormOptions.TableSetting] = prefix + "inbound";
        settings[TrackingOptions.TableSetting] = prefix + "tracking";
        foreach (var (name, value) in CreditFunctionsApp.TriggerSettingDefaults)
        {
            // The queues get the scenario's names; a schedule stays what it is (the timers are off below).
            settings[name] = name == TrackingOptions.ScheduleSetting ? value : prefix + value;
        }
        settings[AuthOptions.DemoSeedSetting] = "false";
        settings[SecretProtector.KeySetting] = Convert.ToBase64String(new byte[32]);
        settings["AzureFunctionsJobHost:extensions:durableTask:hubName"] = prefix + "hub";
        settings["AzureWebJobs.plan-grants.Disabled"] = "true";
        settings["AzureWebJobs.tracking-scan.Disabled"] = "true";
        settings["Logging:LogLevel:Default"] = "Warning";
        settings["Logging:LogLevel:DevHost.Invocation.FunctionInvoker"] = "Warning";
        return settings;
    }

    public static Task<FunctionsDevHost> StartAsync(IReadOnlyDictionary<string, string?> settings)
    {
        var root = AzuriteProcess.FindRepositoryRoot() ?? throw new InvalidOperationException("The repository root was not found.");
        return FunctionsDevHost.StartAsync(new DevHostOptions
        {
            AppAssembly = typeof(CreditFunctionsApp).Assembly,
            ConfigureAppServices = (configuration, services) => services.AddCreditFunctions(configuration),
            HostJsonPath = Path.Combine(root, "host.json"),
            Settings = settings,
            Port = 0,
        });
    }
}
