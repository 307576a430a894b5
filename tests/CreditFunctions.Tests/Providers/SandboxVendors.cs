using CreditFunctions.Providers;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging.Abstractions;
using SandboxProviders;

namespace CreditFunctions.Tests.Providers;

/// <summary>
/// The sandbox vendors in-process on a free port of 127.0.0.1, one per test class, quiet (no latency, no failures)
/// until a test adds the faults it tests. The app's code reaches them only over HTTP; the tests read the vendors'
/// recorded calls to assert what was sent. Tests of a class run one after another; each calls <see cref="Reset"/>.
/// </summary>
public sealed class SandboxVendors : IAsyncLifetime
{
    private SandboxServer? _server;

    public SandboxServer Server => _server ?? throw new InvalidOperationException("not started");

    public VendorRegistry Vendors => Server.Vendors;

    public PeopleDataSet People => Server.People;

    /// <summary>The app settings pointing the embedded providers.json at this sandbox, with its default keys.</summary>
    public IConfiguration Settings { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        _server = await SandboxServer.StartAsync(new SandboxOptions { Config = SandboxConfig.Default.Quiet() });
        Settings = SettingsWith();
    }

    /// <summary>The settings, with some changed (a null value removes the setting).</summary>
    public IConfiguration SettingsWith(params (string Name, string? Value)[] changes)
    {
        var values = SandboxProcess.DefaultKeySettings.ToDictionary(k => k.Key, k => (string?)k.Value);
        values[ProviderCatalog.SandboxUrlSetting] = Server.BaseAddress.ToString();
        foreach (var (name, value) in changes)
        {
            values[name] = value;
        }
        return new ConfigurationBuilder().AddInMemoryCollection(values.Where(v => v.Value is not null)).Build();
    }

    /// <summary>Back to the quiet vendors with no calls recorded.</summary>
    public void Reset() => Vendors.Reset();

    /// <summary>A fresh caller (its own circuits, rate limits and statistics) over the embedded definitions, one of
    /// them changed by <paramref name="change"/>.</summary>
    public ProviderCaller NewCaller(string? provider = null, Func<ProviderDefinition, ProviderDefinition>? change = null, IConfiguration? settings = null)
    {
        settings ??= Settings;
        var definitions = ProviderCatalog.Load(settings).Definitions
            .Select(d => d.Name == provider && change is not null ? change(d) : d);
        return new ProviderCaller(ProviderCatalog.Create(definitions, settings), new ProviderStatistics(), TimeProvider.System,
            NullLogger<ProviderCaller>.Instance);
    }

    /// <summary>People matching the conditions, in id order.</summary>
    public IEnumerable<PersonView> Sample(string? knownBy = null, string? unknownBy = null, (string Vendor, EmailStatus Status)? emailStatus = null) =>
        People.People.Select(p => VendorKnowledge.View(People, Vendors, p))
            .Where(v => (knownBy is null || v.Vendors[knownBy].Known)
                && (unknownBy is null || !v.Vendors[unknownBy].Known)
                && (emailStatus is not { } s || (v.Vendors[s.Vendor].Known && v.Vendors[s.Vendor].EmailStatus == s.Status)));

    /// <summary>The first person <paramref name="vendor"/> knows.</summary>
    public Person KnownBy(string vendor) => Sample(knownBy: vendor).First().Person;

    /// <summary>What the app knows of a sandbox person: name, company and profile.</summary>
    public static PersonInput Input(Person person) => new()
    {
        FirstName = person.FirstName,
        LastName = person.LastName,
        CompanyName = person.CompanyName,
        CompanyDomain = person.CompanyDomain,
        LinkedInUrl = person.LinkedInUrl,
    };

    /// <summary>Changes a vendor's knobs.</summary>
    public void Configure(string vendor, Func<VendorSettings, VendorSettings> change) => Vendors.Update(vendor, change);

    public VendorStats Stats(string vendor) => Vendors.Stats(vendor)!;

    public async ValueTask DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
    }
}
