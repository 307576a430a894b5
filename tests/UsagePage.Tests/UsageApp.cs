using Azure.Data.Tables;
using CreditFunctions;
using CreditFunctions.Auth;
using CreditFunctions.Ledger;
using CreditFunctions.TestSupport;
using CreditFunctions.Waterfall;
using DevHost;
using Microsoft.Extensions.DependencyInjection;

namespace UsagePage.Tests;

/// <summary>
/// The real app under the dev host (as the local run and the app tests run it) on the test Azurite, with tables and
/// queues of its own and <see cref="Clock"/> as its clock, and a team seeded with usage: reveals, a bulk waterfall,
/// CSV job lines, AI research, refunds, over the last two weeks, by an admin (<c>ada</c>) and a member (<c>bob</c>).
/// </summary>
public sealed class UsageApp : IAsyncDisposable
{
    private readonly FunctionsDevHost _host;

    private UsageApp(FunctionsDevHost host, TestClock clock)
    {
        _host = host;
        Clock = clock;
        Address = host.BaseAddress;
    }

    public Uri Address { get; }
    public TestClock Clock { get; }
    public IServiceProvider Services => _host.Services;
    public LedgerService Ledger => Services.GetRequiredService<LedgerService>();
    public string TeamId { get; private set; } = string.Empty;
    public string AdminKey { get; private set; } = string.Empty;
    public string AdminKeyId { get; private set; } = string.Empty;
    public string MemberKey { get; private set; } = string.Empty;

    /// <summary>The seed's facts the tests check against.</summary>
    public SeededUsage Seed { get; private set; } = new();

    public static async Task<UsageApp> StartAsync(AzuriteFixture azurite, CancellationToken ct)
    {
        var clock = new TestClock(DateTimeOffset.UtcNow);
        var settings = IsolatedAppSettings.For(azurite);
        // Revocations must show at once in these tests: every request reads the key.
        settings[AuthOptions.KeyCacheSecondsSetting] = "0";
        var host = await FunctionsDevHost.StartAsync(new DevHostOptions
        {
            AppAssembly = typeof(CreditFunctionsApp).Assembly,
            ConfigureAppServices = (configuration, services) => services.AddCreditFunctions(configuration),
            ConfigureTestServices = services => services.AddSingleton<TimeProvider>(clock),
            Settings = settings,
            Port = 0,
            Console = TextWriter.Null,
        }, ct);
        var app = new UsageApp(host, clock);
        await app.SeedAsync(ct);
        return app;
    }

    private async Task SeedAsync(CancellationToken ct)
    {
        var teams = Services.GetRequiredService<TeamStore>();
        var keys = Services.GetRequiredService<ApiKeyStore>();
        var contacts = Services.GetRequiredService<ContactStore>();
        TeamId = AzuriteFixture.NewName("team");
        var created = await teams.CreateAsync(TeamId, "ada", "test", ct);
        AdminKey = created.AdminKey!.Key;
        AdminKeyId = created.AdminKey.Record.KeyId;
        MemberKey = (await keys.CreateAsync(TeamId, "bob", "member", "test", ct)).Key!.Key;

        var now = DateTimeOffset.UtcNow;
        var today = new DateTimeOffset(now.UtcDateTime.Date, TimeSpan.Zero);
        Clock.Set(today.AddDays(-14).AddHours(8));
        foreach (var type in new[] { "email", "phone", "ai_research" })
        {
            Check(await Ledger.GrantAsync(new GrantRequest(TeamId, "operator.test", type, new Credits(1_000_000), GrantKind.TopUp, "seed-grant-" + type)));
        }
        var seed = new SeededUsage();
        var n = 0;
        async Task<string> ChargeAsync(int daysAgo, string user, string feature, string action, string? subject, string? description, string? related)
        {
            Clock.Set(today.AddDays(-daysAgo).AddHours(9).AddMinutes(n * 7 % 480));
            var result = Check(await Ledger.ChargeAsync(new ChargeRequest(TeamId, user, feature, action, "seed-" + n++)
            {
                SubjectId = subject, Description = description, RelatedRecord = related,
            }));
            seed.Add(user, feature, result.Amount.Value, refund: false);
            return result.LineId!;
        }
        // Ada's email reveals over two weeks; the first concerns a contact the team's store knows.
        var reveals = new List<string>();
        for (var day = 13; day >= 0; day -= 1)
        {
            for (var i = 0; i < 1 + day % 3; i++)
            {
                var person = $"person-{day}-{i}";
                reveals.Add(await ChargeAsync(day, "ada", "email", "email_reveal", person, $"Email of Person {day}-{i} at Acme", null));
            }
        }
        await contacts.RecordEmailAsync(TeamId, "person-13-0", "Grace Hopper", "grace@navy.example", "pattern", "valid", reveals[0], today.AddDays(-13), ct);
        // A name typed into a form that a spreadsheet would run as a formula.
        seed.FormulaDescription = "=HYPERLINK(\"http://evil.example\",\"click\")";
        await ChargeAsync(6, "ada", "email", "email_reveal", "person-formula", seed.FormulaDescription, null);
        // Ada's bulk waterfall: one run, many lines on two days.
        seed.WaterfallRun = "run-7";
        for (var i = 0; i < 24; i++)
        {
            await ChargeAsync(i < 14 ? 9 : 8, "ada", "waterfall_enrichment", i % 3 == 0 ? "waterfall_mobile" : "api_waterfall_email", $"wf-person-{i}",
                $"Waterfall of 40 people (person {i})", "waterfall:" + seed.WaterfallRun);
        }
        // Bob's phone reveals, AI research and a CSV job's enrichment.
        var bobs = new List<string>();
        for (var day = 12; day >= 1; day -= 2)
        {
            bobs.Add(await ChargeAsync(day, "bob", "phone_number", "phone_reveal", $"bob-person-{day}", $"Phone of Lead {day} at Globex", null));
            await ChargeAsync(day, "bob", "ai_research", "person_research", $"bob-research-{day}", $"Research on Lead {day}", null);
        }
        // The CSV job holds its maximum, draws each lead found into one job line, and releases the rest.
        Clock.Set(today.AddDays(-4).AddHours(11));
        var hold = await Ledger.PlaceHoldAsync(new HoldRequest(TeamId, "bob", "enrichment", "csv_enrich", Credits.FromDecimal(6), Clock.GetUtcNow().AddDays(1), "seed-csv-hold")
        {
            RelatedRecord = "csv-job:job-42",
        });
        for (var i = 0; i < 10; i++)
        {
            Check(await Ledger.ChargeAsync(new ChargeRequest(TeamId, "bob", "enrichment", "csv_enrich", "seed-csv-" + i)
            {
                SubjectId = $"csv-person-{i}", Description = "CSV email enrichment — job leads.csv", RelatedRecord = "csv-job:job-42", HoldId = hold.HoldId,
                RollUp = true,
            }));
        }
        await Ledger.VoidHoldAsync(new VoidRequest(TeamId, "bob", hold.HoldId!, "seed-csv-release"));
        seed.Add("bob", "enrichment", 5m, refund: false);
        // Refunds: three of Ada's reveals proved invalid, one of Bob's numbers too.
        foreach (var (charge, user, feature, daysAgo) in new[] { (reveals[2], "ada", "email", 5), (reveals[5], "ada", "email", 3), (reveals[9], "ada", "email", 1), (bobs[1], "bob", "phone_number", 2) })
        {
            Clock.Set(today.AddDays(-daysAgo).AddHours(15));
            // Refunded as a re-verification does: by the user whose purchase proved invalid.
            var refund = Check(await Ledger.RefundAsync(new RefundRequest(TeamId, user, charge, "invalid_email", "seed-refund-" + charge)));
            seed.Add(user, feature, refund.Amount.Value, refund: true);
        }
        Clock.Set(DateTimeOffset.UtcNow);
        Seed = seed;
    }

    private static LedgerResult Check(LedgerResult result)
    {
        if (result.Status is not (LedgerStatus.Charged or LedgerStatus.Granted or LedgerStatus.Refunded))
        {
            throw new InvalidOperationException($"Seeding failed: {result.Status}");
        }
        return result;
    }

    public async ValueTask DisposeAsync() => await _host.DisposeAsync();
}

/// <summary>What the seed wrote, to compare the page with.</summary>
public sealed class SeededUsage
{
    private readonly List<(string User, string Feature, decimal Credits, bool Refund)> _lines = [];

    public string FormulaDescription { get; set; } = string.Empty;
    public string WaterfallRun { get; set; } = string.Empty;

    public void Add(string user, string feature, decimal credits, bool refund) => _lines.Add((user, feature, credits, refund));

    public int Lines(string? user = null, string? feature = null, bool refunds = false) =>
        _lines.Count(l => (user is null || l.User == user) && (feature is null || l.Feature == feature) && (refunds || !l.Refund));

    public decimal Charged(string? user = null, string? feature = null) =>
        _lines.Where(l => !l.Refund && (user is null || l.User == user) && (feature is null || l.Feature == feature)).Sum(l => l.Credits);

    public decimal Refunded(string? user = null, string? feature = null) =>
        _lines.Where(l => l.Refund && (user is null || l.User == user) && (feature is null || l.Feature == feature)).Sum(l => l.Credits);
}
