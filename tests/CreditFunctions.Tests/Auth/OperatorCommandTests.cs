using System.Diagnostics;
using System.Net;
using CreditFunctions.Auth;
using CreditFunctions.TestSupport;

namespace CreditFunctions.Tests.Auth;

/// <summary>The operator commands as operators run them: the app's executable in its own process.</summary>
public sealed class OperatorCommandTests(AzuriteFixture azurite)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private readonly string _table = AzuriteFixture.NewName("teams");
    private readonly string _ledgerTable = AzuriteFixture.NewName("ledger");

    [Fact]
    public async Task Credits_allocate_grants_a_plan_allocation_once_per_period_expiring_at_the_months_end()
    {
        var team = AzuriteFixture.NewName("team");
        var admin = await RunAsync("teams", "create", "--team", team, "--admin", "ada");
        var period = DateTimeOffset.UtcNow.ToString("yyyy-MM", System.Globalization.CultureInfo.InvariantCulture);

        var first = await RunAsync("credits", "allocate", "--team", team, "--period", period, "--credit-type", "email", "--amount", "100");
        var again = await RunAsync("credits", "allocate", "--team", team, "--period", period, "--credit-type", "email", "--amount", "100");
        var past = await RunAsync("credits", "allocate", "--team", team, "--period", "2020-01", "--credit-type", "email", "--amount", "100");
        var noTeam = await RunAsync("credits", "allocate", "--team", AzuriteFixture.NewName("nosuch"), "--period", period, "--credit-type", "email", "--amount", "1");

        Assert.Equal((0, 0, 2, 1), (first.ExitCode, again.ExitCode, past.ExitCode, noTeam.ExitCode));
        Assert.Contains("nothing more was granted", again.Output, StringComparison.Ordinal);
        Assert.Contains("--period", past.Error, StringComparison.Ordinal);
        await using var app = await TestApp.StartAsync(azurite, tableName: _table, ledgerTable: _ledgerTable);
        var balances = await (await app.GetAsync("/api/v1/credits/balances", admin.LastLine)).Content.ReadAsStringAsync(Ct);
        Assert.Contains("{\"creditType\":\"email\",\"available\":100,", balances, StringComparison.Ordinal);
        Assert.Contains("\"expiringSoon\"", balances, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Operators_create_prints_an_operator_key_that_grants_for_a_named_team_and_nothing_else()
    {
        var team = AzuriteFixture.NewName("team");
        var admin = await RunAsync("teams", "create", "--team", team, "--admin", "ada");
        var created = await RunAsync("operators", "create", "--name", "billing");
        var bad = await RunAsync("operators", "create", "--name", "Not A Name");
        var reserved = await RunAsync("teams", "create", "--team", "platform", "--admin", "mallory");

        Assert.Equal((0, 2, 2), (created.ExitCode, bad.ExitCode, reserved.ExitCode));
        await using var app = await TestApp.StartAsync(azurite, tableName: _table, ledgerTable: _ledgerTable);
        var grant = new HttpRequestMessage(HttpMethod.Post, "/api/v1/credits/grants")
        {
            Content = System.Net.Http.Json.JsonContent.Create(new { teamId = team, creditType = "email", amount = 7, kind = "top_up" }),
        };
        grant.Headers.Authorization = new("Bearer", created.LastLine);
        grant.Headers.Add("Idempotency-Key", "op-grant-1");
        Assert.Equal(HttpStatusCode.Created, (await app.Client.SendAsync(grant, Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await app.GetAsync("/api/v1/credits/balances", created.LastLine)).StatusCode);
        var balances = await (await app.GetAsync("/api/v1/credits/balances", admin.LastLine)).Content.ReadAsStringAsync(Ct);
        Assert.Contains("{\"creditType\":\"email\",\"available\":7,", balances, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Teams_set_plan_puts_a_team_on_a_plan_that_plan_grants_then_allocates()
    {
        var team = AzuriteFixture.NewName("team");
        Assert.Equal(0, (await RunAsync("teams", "create", "--team", team, "--admin", "ada")).ExitCode);

        var set = await RunAsync("teams", "set-plan", "--team", team, "--plan", "demo");
        var unknownPlan = await RunAsync("teams", "set-plan", "--team", team, "--plan", "platinum");
        var noTeam = await RunAsync("teams", "set-plan", "--team", AzuriteFixture.NewName("nosuch"), "--plan", "demo");

        Assert.Equal((0, 2, 1), (set.ExitCode, unknownPlan.ExitCode, noTeam.ExitCode));
        await using var app = await TestApp.StartAsync(azurite, tableName: _table, ledgerTable: _ledgerTable);
        Assert.Contains((team, "demo"), await app.Teams.ListPlansAsync(Ct));
    }

    [Fact]
    public async Task Teams_create_prints_an_admin_key_alone_on_the_last_line_and_that_key_authenticates()
    {
        var team = AzuriteFixture.NewName("team");

        var run = await RunAsync("teams", "create", "--team", team, "--admin", "ada");

        Assert.Equal(0, run.ExitCode);
        await using var app = await TestApp.StartAsync(azurite, tableName: _table);
        using var me = await app.GetAsync("/api/v1/me", run.LastLine);
        Assert.Equal(HttpStatusCode.OK, me.StatusCode);
        Assert.Contains($"\"teamId\":\"{team}\",\"userId\":\"ada\",\"role\":\"admin\"", await me.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Keys_create_prints_a_member_key_that_authenticates_and_keys_revoke_stops_it()
    {
        var team = AzuriteFixture.NewName("team");
        Assert.Equal(0, (await RunAsync("teams", "create", "--team", team, "--admin", "ada")).ExitCode);

        var created = await RunAsync("keys", "create", "--team", team, "--user", "bob", "--role", "member");

        Assert.Equal(0, created.ExitCode);
        Assert.True(ApiKeyToken.TryParse(created.LastLine, out var keyId));
        await using var app = await TestApp.StartAsync(azurite, tableName: _table);
        using (var me = await app.GetAsync("/api/v1/me", created.LastLine))
        {
            Assert.Contains("\"userId\":\"bob\",\"role\":\"member\"", await me.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        }

        var listed = await RunAsync("keys", "list", "--team", team);
        Assert.Contains(listed.Output.Split('\n'), line => line.StartsWith(keyId + "\tbob\tmember\t", StringComparison.Ordinal) && line.TrimEnd().EndsWith("active", StringComparison.Ordinal));
        Assert.DoesNotContain(created.LastLine, listed.Output, StringComparison.Ordinal);

        Assert.Equal(0, (await RunAsync("keys", "revoke", "--team", team, "--key-id", keyId)).ExitCode);
        // A fresh server: no cached copy of the key, so the revocation shows at once.
        await using var fresh = await TestApp.StartAsync(azurite, tableName: _table);
        using var after = await fresh.GetAsync("/api/v1/me", created.LastLine);
        Assert.Equal(HttpStatusCode.Unauthorized, after.StatusCode);
    }

    [Fact]
    public async Task Creating_a_team_that_exists_is_refused_and_writes_nothing()
    {
        var team = AzuriteFixture.NewName("team");
        Assert.Equal(0, (await RunAsync("teams", "create", "--team", team, "--admin", "ada")).ExitCode);
        var keys = new ApiKeyStore(new Azure.Data.Tables.TableServiceClient(azurite.ConnectionString).GetTableClient(_table));
        var before = await keys.ListAsync(team, Ct);

        var again = await RunAsync("teams", "create", "--team", team, "--admin", "mallory");

        Assert.Equal(1, again.ExitCode);
        Assert.Contains("already exists", again.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("cfk_", again.Output, StringComparison.Ordinal);
        Assert.Equal(before, await keys.ListAsync(team, Ct));
    }

    [Theory]
    [InlineData("--team", new[] { "teams", "create", "--team", "Bad_Team", "--admin", "ada" })]
    [InlineData("--admin", new[] { "teams", "create", "--team", "{team}", "--admin", "Ada Lovelace" })]
    [InlineData("--admin", new[] { "teams", "create", "--team", "{team}" })]
    [InlineData("--role", new[] { "keys", "create", "--team", "{team}", "--user", "bob", "--role", "owner" })]
    [InlineData("--user", new[] { "keys", "create", "--team", "{team}", "--user", "", "--role", "member" })]
    [InlineData("--colour", new[] { "keys", "create", "--team", "{team}", "--user", "bob", "--role", "member", "--colour", "red" })]
    [InlineData("--key-id", new[] { "keys", "revoke", "--team", "{team}", "--key-id", "not-a-key-id" })]
    [InlineData("teams delete", new[] { "teams", "delete", "--team", "{team}" })]
    public async Task A_usage_error_exits_2_naming_the_problem_on_stderr_and_writes_nothing(string named, string[] args)
    {
        var team = AzuriteFixture.NewName("team");

        var run = await RunAsync(args.Select(a => a.Replace("{team}", team, StringComparison.Ordinal)).ToArray());

        Assert.Equal(2, run.ExitCode);
        Assert.Contains(named, run.Error, StringComparison.Ordinal);
        Assert.Contains("Usage", run.Error + run.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("cfk_", run.Output, StringComparison.Ordinal);
        var table = new Azure.Data.Tables.TableServiceClient(azurite.ConnectionString).GetTableClient(_table);
        await table.CreateIfNotExistsAsync(Ct);
        Assert.Empty(table.Query<Azure.Data.Tables.TableEntity>(cancellationToken: Ct).ToList());
    }

    [Fact]
    public async Task A_key_for_a_missing_team_is_refused()
    {
        var run = await RunAsync("keys", "create", "--team", AzuriteFixture.NewName("nosuch"), "--user", "bob", "--role", "member");

        Assert.Equal(1, run.ExitCode);
        Assert.Contains("no team", run.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("cfk_", run.Output, StringComparison.Ordinal);
    }

    private sealed record Run(int ExitCode, string Output, string Error)
    {
        public string LastLine => Output.TrimEnd('\r', '\n').Split('\n')[^1].TrimEnd('\r');
    }

    private async Task<Run> RunAsync(params string[] args)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(LocalRunExecutable.Dll);
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }
        start.Environment["AzureWebJobsStorage"] = azurite.ConnectionString;
        start.Environment[AuthOptions.TableSetting] = _table;
        start.Environment["CREDITFUNCTIONS_LEDGER_TABLE"] = _ledgerTable;
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync(Ct);
        var error = process.StandardError.ReadToEndAsync(Ct);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"'{string.Join(' ', args)}' did not finish within 60 s.");
        }
        return new Run(process.ExitCode, await output, await error);
    }
}
