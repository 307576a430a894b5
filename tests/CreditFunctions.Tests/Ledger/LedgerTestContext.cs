using Azure.Core;
using Azure.Core.Pipeline;
using Azure.Data.Tables;
using CreditFunctions.Ledger;
using CreditFunctions.TestSupport;
using Microsoft.Extensions.Logging.Abstractions;

namespace CreditFunctions.Tests.Ledger;

/// <summary>A clock the test moves by hand; like a real clock it never reads the same instant twice (each read
/// moves it on by a microsecond).</summary>
internal sealed class ManualClock(DateTimeOffset start) : TimeProvider
{
    private long _ticks = start.UtcTicks;

    public DateTimeOffset Now => new(Interlocked.Read(ref _ticks), TimeSpan.Zero);

    public override DateTimeOffset GetUtcNow() => new(Interlocked.Add(ref _ticks, 10), TimeSpan.Zero);

    public void Advance(TimeSpan by) => Interlocked.Add(ref _ticks, by.Ticks);
}

/// <summary>
/// Fails a share of storage requests as dropped connections: half before they reach the service, half after it
/// applied them (the answer is lost, and the pipeline's retry sends it again), which is the case that tests
/// idempotency for real.
/// </summary>
internal sealed class FaultInjectionPolicy(double rate, int seed) : HttpPipelinePolicy
{
    private readonly Random _random = new(seed);
    private long _injected;

    public long Injected => Interlocked.Read(ref _injected);

    public bool Enabled { get; set; } = true;

    public override void Process(HttpMessage message, ReadOnlyMemory<HttpPipelinePolicy> pipeline) =>
        ProcessAsync(message, pipeline).AsTask().GetAwaiter().GetResult();

    public override async ValueTask ProcessAsync(HttpMessage message, ReadOnlyMemory<HttpPipelinePolicy> pipeline)
    {
        double roll;
        lock (_random)
        {
            roll = _random.NextDouble();
        }
        if (Enabled && roll < rate / 2)
        {
            Interlocked.Increment(ref _injected);
            throw new IOException("Injected fault: the connection dropped before sending.");
        }
        await ProcessNextAsync(message, pipeline);
        if (Enabled && roll < rate)
        {
            Interlocked.Increment(ref _injected);
            throw new IOException("Injected fault: the connection dropped after the service applied the request.");
        }
    }
}

/// <summary>A ledger on its own table in the test run's Azurite.</summary>
internal sealed class LedgerTestContext
{
    public static readonly DateTimeOffset Start = new(2026, 11, 2, 9, 0, 0, TimeSpan.Zero);

    private LedgerTestContext(AzuriteFixture azurite, string tableName, ManualClock clock)
    {
        Azurite = azurite;
        TableName = tableName;
        Clock = clock;
    }

    public AzuriteFixture Azurite { get; }

    public string TableName { get; }

    public ManualClock Clock { get; }

    public LedgerService Ledger { get; private set; } = null!;

    public static async Task<LedgerTestContext> CreateAsync(AzuriteFixture azurite, DateTimeOffset? start = null)
    {
        var context = new LedgerTestContext(azurite, AzuriteFixture.NewName("ledger"), new ManualClock(start ?? Start));
        context.Ledger = context.NewLedger();
        await context.Ledger.InitializeAsync(TestContext.Current.CancellationToken);
        return context;
    }

    /// <summary>Another ledger instance on the same table: a second process, or a restarted client.</summary>
    public LedgerService NewLedger(HttpPipelinePolicy? fault = null, TimeSpan? committerIdleTimeout = null)
    {
        var options = new TableClientOptions();
        options.Retry.Delay = TimeSpan.FromMilliseconds(5);
        options.Retry.MaxDelay = TimeSpan.FromMilliseconds(50);
        if (fault is not null)
        {
            options.AddPolicy(fault, HttpPipelinePosition.PerRetry);
        }
        return new LedgerService(new TableServiceClient(Azurite.ConnectionString, options), Catalog.Default,
            new LedgerOptions { TableName = TableName, CommitterIdleTimeout = committerIdleTimeout ?? new LedgerOptions().CommitterIdleTimeout }, Clock, NullLogger<LedgerService>.Instance);
    }

    public static string Key() => Guid.NewGuid().ToString("N");

    public async Task GrantAsync(string team, string creditType, decimal amount, GrantKind kind = GrantKind.TopUp, DateTimeOffset? expiresAt = null, int? priority = null)
    {
        var result = await Ledger.GrantAsync(new GrantRequest(team, "admin", creditType, Credits.FromDecimal(amount), kind, Key())
        {
            ExpiresAt = expiresAt, Priority = priority,
        });
        Assert.Equal(LedgerStatus.Granted, result.Status);
    }

    public Task<LedgerResult> ChargeAsync(string team, string feature, string action, string? subject = null, string user = "ada", string? key = null) =>
        Ledger.ChargeAsync(new ChargeRequest(team, user, feature, action, key ?? Key()) { SubjectId = subject });

    public async Task<BalanceView> BalanceAsync(string team, string creditType) =>
        (await Ledger.GetBalancesAsync(team, TestContext.Current.CancellationToken)).Single(b => b.CreditType == creditType);

    public async Task<decimal> AvailableAsync(string team, string creditType) => (await BalanceAsync(team, creditType)).Available.Value;

    public async Task AssertVerifiedAsync(string team)
    {
        var report = await Ledger.VerifyAsync(team, TestContext.Current.CancellationToken);
        Assert.True(report.Ok, string.Join(Environment.NewLine, report.Problems));
    }

    public async Task<List<UsageLine>> UsageAsync(string team, bool includeRefunds = false, string? user = null)
    {
        var lines = new List<UsageLine>();
        await foreach (var line in Ledger.StreamUsageAsync(new UsageQuery(team)
        {
            From = Start.AddYears(-1), To = Clock.Now.AddSeconds(1), IncludeRefunds = includeRefunds, UserId = user,
        }, TestContext.Current.CancellationToken))
        {
            lines.Add(line);
        }
        return lines;
    }
}
