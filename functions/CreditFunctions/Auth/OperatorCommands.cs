using System.Globalization;
using CreditFunctions.Hosting;

namespace CreditFunctions.Auth;

/// <summary>
/// The operators' commands, run by the local run's executable instead of the dev host when the first argument is
/// <c>teams</c>, <c>keys</c>, <c>credits</c> or <c>secrets</c>. They use the storage and tables the given configuration names (the
/// local run passes environment variables, then <c>local.settings.json</c>, and starts Azurite when the development
/// storage is configured and nothing listens). A new key is printed alone on the last line of standard output, once.
/// Exit codes: 0 done; 1 refused (the team exists, no such team, no such key); 2 usage error, nothing written.
/// </summary>
public static class OperatorCommands
{
    /// <summary>The operator an operator command records as a key's issuer.</summary>
    public const string IssuedBy = "operator";

    private const int Done = 0;
    private const int Refused = 1;
    private const int UsageError = 2;

    private const string Usage = """
        Usage: dotnet run --project functions/LocalRun -- <command> [options]

          teams create --team <teamId> --admin <userId>
              Create a team and issue its first admin's key.
          teams set-plan --team <teamId> --plan <planId>
              Put a team on a plan (Ledger/plans.json); the daily plan-grants timer grants its monthly allocation.
          keys create --team <teamId> --user <userId> --role admin|member
              Issue a key.
          keys list --team <teamId>
              List the team's keys: id, user, role, created, issuer, state (never the keys themselves).
          keys revoke --team <teamId> --key-id <keyId>
              Revoke a key. A server that accepted it recently may accept it up to 30 s more.
          operators create --name <name>
              Issue an operator key: the platform's key that grants credits and refunds charges for any team (naming
              the team), and reaches nothing else of a team's data.
          credits allocate --team <teamId> --period <yyyy-MM> --credit-type <type> --amount <credits>
              Grant a plan's allocation for a month (UTC), expiring when the month ends. Once per team, period and
              credit type: running it again grants nothing more.
          secrets reencrypt
              After a secrets key rotation (new key in CREDITFUNCTIONS_SECRETS_KEY, old ones in
              CREDITFUNCTIONS_SECRETS_KEY_PREVIOUS): re-encrypt every team's stored provider keys and webhook secrets
              under the current key. Running it again changes nothing. Exit 1 when some value no key decrypts.

        Team ids: 1-63 lower-case letters, digits and '-'. User ids: 1-64 lower-case letters, digits, '.', '_' and '-'.
        A new key is printed alone on the last line of standard output, once: store it then.
        Exit codes: 0 done; 1 refused (the team exists, no such team or key); 2 usage error (nothing was written).
        """;

    // The store's field names as the commands' options.
    private static readonly Dictionary<string, string> s_optionOfField = new(StringComparer.Ordinal)
    {
        ["teamId"] = "--team", ["adminUserId"] = "--admin", ["userId"] = "--user", ["role"] = "--role", ["name"] = "--name",
    };

    /// <summary>True when <paramref name="args"/> ask for an operator command rather than the server.</summary>
    public static bool Handles(IReadOnlyList<string> args) => args is [ "teams" or "keys" or "credits" or "operators" or "secrets", ..];

    /// <summary>Runs the command in <paramref name="args"/>; returns the process exit code.</summary>
    public static async Task<int> RunAsync(IReadOnlyList<string> args, IConfiguration configuration, TextWriter output, TextWriter error,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(error);
        if (args.Any(a => a is "--help" or "-h"))
        {
            await output.WriteLineAsync(Usage).ConfigureAwait(false);
            return Done;
        }
        var command = args.Count >= 2 ? $"{args[0]} {args[1]}" : (args.Count == 1 ? args[0] : string.Empty);
        string[]? allowed = command switch
        {
            "secrets reencrypt" => [],
            "teams create" => ["--team", "--admin"],
            "teams set-plan" => ["--team", "--plan"],
            "keys create" => ["--team", "--user", "--role"],
            "keys list" => ["--team"],
            "keys revoke" => ["--team", "--key-id"],
            "credits allocate" => ["--team", "--period", "--credit-type", "--amount"],
            "operators create" => ["--name"],
            _ => null,
        };
        if (allowed is null)
        {
            return await UsageAsync(error, $"Unknown command '{string.Join(' ', args.Take(2))}'.").ConfigureAwait(false);
        }
        if (!TryParseOptions(args.Skip(2).ToList(), allowed, out var options, out var problem))
        {
            return await UsageAsync(error, problem).ConfigureAwait(false);
        }
        if (allowed.FirstOrDefault(o => !options.ContainsKey(o)) is { } missing)
        {
            return await UsageAsync(error, $"{missing} is required for '{command}'.").ConfigureAwait(false);
        }
        // The create commands leave validation to the stores, which report every bad field at once; list and revoke
        // would only answer "no such team" or "no such key" to a malformed id.
        if (command is "keys list" or "keys revoke" or "credits allocate" or "teams set-plan" && !AuthInput.IsTeamId(options["--team"]))
        {
            return await UsageAsync(error, $"--team: Must be {AuthInput.TeamIdRule}.").ConfigureAwait(false);
        }
        if (options.TryGetValue("--plan", out var planOption) && Ledger.PlanCatalog.Default.Find(planOption) is null)
        {
            return await UsageAsync(error, $"--plan: Must be one of the plans in plans.json: {string.Join(", ", Ledger.PlanCatalog.Default.Plans.Select(p => p.Id))}.").ConfigureAwait(false);
        }
        if (options.TryGetValue("--key-id", out var keyIdOption) && !ApiKeyToken.IsKeyId(keyIdOption))
        {
            return await UsageAsync(error, "--key-id: Must be a key id as 'keys create' printed it: <teamId>.<16 hex digits>.").ConfigureAwait(false);
        }

        ArgumentNullException.ThrowIfNull(configuration);
        var settings = AppSettings.From(configuration);
        var auth = AuthOptions.From(configuration, settings);
        var service = StorageAccount.From(configuration).CreateTables();
        var table = service.GetTableClient(auth.TableName);
        if (command == "secrets reencrypt")
        {
            return await ReencryptSecretsAsync(configuration, settings, service, output, error, cancellationToken).ConfigureAwait(false);
        }
        var teamId = options.GetValueOrDefault("--team") ?? string.Empty;
        return command switch
        {
            "operators create" => await CreateOperatorAsync(new ApiKeyStore(table), options["--name"], output, error, cancellationToken).ConfigureAwait(false),
            "teams create" => await CreateTeamAsync(new TeamStore(table), teamId, options["--admin"], output, error, cancellationToken).ConfigureAwait(false),
            "keys create" => await CreateKeyAsync(new ApiKeyStore(table), teamId, options["--user"], options["--role"], output, error, cancellationToken).ConfigureAwait(false),
            "teams set-plan" => await SetPlanAsync(new TeamStore(table), teamId, options["--plan"], output, error, cancellationToken).ConfigureAwait(false),
            "keys list" => await ListKeysAsync(new TeamStore(table), new ApiKeyStore(table), teamId, output, error, cancellationToken).ConfigureAwait(false),
            "credits allocate" => await Ledger.PlanAllocation.RunAsync(new TeamStore(table),
                new Ledger.LedgerService(service, Ledger.Catalog.Default, Ledger.LedgerSetup.Options(configuration), TimeProvider.System,
                    Microsoft.Extensions.Logging.Abstractions.NullLogger<Ledger.LedgerService>.Instance),
                teamId, options["--period"], options["--credit-type"], options["--amount"], output, error, cancellationToken).ConfigureAwait(false),
            _ => await RevokeKeyAsync(new ApiKeyStore(table), teamId, options["--key-id"], output, error, cancellationToken).ConfigureAwait(false),
        };
    }

    private static async Task<int> ReencryptSecretsAsync(IConfiguration configuration, AppSettings settings, Azure.Data.Tables.TableServiceClient service,
        TextWriter output, TextWriter error, CancellationToken ct)
    {
        if (Waterfall.SecretProtector.From(configuration, CreditFunctionsApp.LocalSecretsKeyFile(settings)) is not { } protector)
        {
            await error.WriteLineAsync($"No secrets key: set {Waterfall.SecretProtector.KeySetting}; nothing was written.").ConfigureAwait(false);
            return Refused;
        }
        var table = service.GetTableClient(Waterfall.WaterfallSetup.TableName(configuration));
        Waterfall.ReencryptionReport report;
        try
        {
            report = await Waterfall.SecretsReencryption.RunAsync(table, protector, ct).ConfigureAwait(false);
        }
        catch (Azure.RequestFailedException ex) when (ex.Status == 404)
        {
            report = new Waterfall.ReencryptionReport(0, 0, 0, []); // no team settings were ever stored here
        }
        await output.WriteLineAsync($"Re-encrypted {report.ValuesReencrypted} values of {report.TeamsChanged} of {report.Teams} teams under key {protector.CurrentKeyId}.")
            .ConfigureAwait(false);
        var formsTable = service.GetTableClient(Forms.FormOptions.From(configuration).TableName);
        Waterfall.ReencryptionReport forms;
        try
        {
            forms = await Waterfall.SecretsReencryption.RunFormsAsync(formsTable, protector, ct).ConfigureAwait(false);
        }
        catch (Azure.RequestFailedException ex) when (ex.Status == 404)
        {
            forms = new Waterfall.ReencryptionReport(0, 0, 0, []); // no form was ever registered here
        }
        await output.WriteLineAsync($"Re-encrypted the signing secrets of {forms.TeamsChanged} of {forms.Teams} forms.").ConfigureAwait(false);
        foreach (var failure in report.Failures.Concat(forms.Failures))
        {
            await error.WriteLineAsync($"No configured key decrypts {failure}; left as it is.").ConfigureAwait(false);
        }
        return report.Failures.Count + forms.Failures.Count == 0 ? Done : Refused;
    }

    private static async Task<int> CreateTeamAsync(TeamStore teams, string teamId, string admin, TextWriter output, TextWriter error, CancellationToken ct)
    {
        var created = await teams.CreateAsync(teamId, admin, IssuedBy, ct).ConfigureAwait(false);
        switch (created.Status)
        {
            case CreateTeamStatus.Created:
                await output.WriteLineAsync($"Created team '{teamId}' with admin '{admin}'.").ConfigureAwait(false);
                await PrintKeyAsync(created.AdminKey!, output).ConfigureAwait(false);
                return Done;
            case CreateTeamStatus.TeamAlreadyExists:
                await error.WriteLineAsync($"Team '{teamId}' already exists; nothing was written. Issue more keys with 'keys create'.").ConfigureAwait(false);
                return Refused;
            default:
                return await InvalidAsync(error, created.Errors).ConfigureAwait(false);
        }
    }

    private static async Task<int> SetPlanAsync(TeamStore teams, string teamId, string plan, TextWriter output, TextWriter error, CancellationToken ct)
    {
        if (!await teams.SetPlanAsync(teamId, plan, ct).ConfigureAwait(false))
        {
            await error.WriteLineAsync($"There is no team '{teamId}'; nothing was written.").ConfigureAwait(false);
            return Refused;
        }
        await output.WriteLineAsync($"Team '{teamId}' is on plan '{plan}'; the plan-grants timer grants its monthly allocation.").ConfigureAwait(false);
        return Done;
    }

    private static async Task<int> CreateKeyAsync(ApiKeyStore keys, string teamId, string user, string role, TextWriter output, TextWriter error, CancellationToken ct)
    {
        var created = await keys.CreateAsync(teamId, user, role, IssuedBy, ct).ConfigureAwait(false);
        switch (created.Status)
        {
            case CreateKeyStatus.Created:
                await output.WriteLineAsync($"Issued a {role} key for '{user}' of team '{teamId}'.").ConfigureAwait(false);
                await PrintKeyAsync(created.Key!, output).ConfigureAwait(false);
                return Done;
            case CreateKeyStatus.TeamNotFound:
                await error.WriteLineAsync($"There is no team '{teamId}'; nothing was written. Create it with 'teams create'.").ConfigureAwait(false);
                return Refused;
            default:
                return await InvalidAsync(error, created.Errors).ConfigureAwait(false);
        }
    }

    private static async Task<int> CreateOperatorAsync(ApiKeyStore keys, string name, TextWriter output, TextWriter error, CancellationToken ct)
    {
        var created = await keys.CreateOperatorAsync(name, IssuedBy, ct).ConfigureAwait(false);
        if (created.Status != CreateKeyStatus.Created)
        {
            return await InvalidAsync(error, created.Errors).ConfigureAwait(false);
        }
        await output.WriteLineAsync($"Issued an operator key for '{name}': it grants and refunds for any team, naming the team.").ConfigureAwait(false);
        await PrintKeyAsync(created.Key!, output).ConfigureAwait(false);
        return Done;
    }

    private static async Task<int> ListKeysAsync(TeamStore teams, ApiKeyStore keys, string teamId, TextWriter output, TextWriter error, CancellationToken ct)
    {
        if (await teams.GetAsync(teamId, ct).ConfigureAwait(false) is null)
        {
            await error.WriteLineAsync($"There is no team '{teamId}'.").ConfigureAwait(false);
            return Refused;
        }
        foreach (var key in await keys.ListAsync(teamId, ct).ConfigureAwait(false))
        {
            var state = key.RevokedAt is { } revoked ? "revoked " + revoked.ToString("u", CultureInfo.InvariantCulture) : "active";
            await output.WriteLineAsync(string.Join('\t', key.KeyId, key.UserId, key.Role.ToName(),
                key.CreatedAt.ToString("u", CultureInfo.InvariantCulture), key.IssuedBy, state)).ConfigureAwait(false);
        }
        return Done;
    }

    private static async Task<int> RevokeKeyAsync(ApiKeyStore keys, string teamId, string keyId, TextWriter output, TextWriter error, CancellationToken ct)
    {
        switch (await keys.RevokeAsync(teamId, keyId, ct).ConfigureAwait(false))
        {
            case RevokeKeyStatus.Revoked:
                await output.WriteLineAsync(
                    $"Revoked key {keyId}. A server that accepted it recently may accept it until its key cache expires (30 s by default).").ConfigureAwait(false);
                return Done;
            case RevokeKeyStatus.AlreadyRevoked:
                await output.WriteLineAsync($"Key {keyId} was already revoked.").ConfigureAwait(false);
                return Done;
            default:
                await error.WriteLineAsync($"Team '{teamId}' has no key {keyId}.").ConfigureAwait(false);
                return Refused;
        }
    }

    private static async Task PrintKeyAsync(IssuedApiKey key, TextWriter output)
    {
        await output.WriteLineAsync($"Key id {key.Record.KeyId}, role {key.Record.Role.ToName()}. The key is shown once, on the next line:").ConfigureAwait(false);
        await output.WriteLineAsync(key.Key).ConfigureAwait(false);
    }

    private static async Task<int> InvalidAsync(TextWriter error, IReadOnlyDictionary<string, string[]> errors)
    {
        foreach (var (field, messages) in errors)
        {
            await error.WriteLineAsync($"{s_optionOfField.GetValueOrDefault(field, field)}: {string.Join(' ', messages)}").ConfigureAwait(false);
        }
        await error.WriteLineAsync("Nothing was written.").ConfigureAwait(false);
        await error.WriteLineAsync().ConfigureAwait(false);
        await error.WriteLineAsync(Usage).ConfigureAwait(false);
        return UsageError;
    }

    private static async Task<int> UsageAsync(TextWriter error, string problem)
    {
        await error.WriteLineAsync(problem).ConfigureAwait(false);
        await error.WriteLineAsync().ConfigureAwait(false);
        await error.WriteLineAsync(Usage).ConfigureAwait(false);
        return UsageError;
    }

    private static bool TryParseOptions(List<string> args, string[] allowed, out Dictionary<string, string> options, out string problem)
    {
        options = new Dictionary<string, string>(StringComparer.Ordinal);
        problem = string.Empty;
        for (var i = 0; i < args.Count; i++)
        {
            var (name, value) = args[i].Split('=', 2) is [var n, var v] && n.StartsWith("--", StringComparison.Ordinal)
                ? (n, (string?)v)
                : (args[i], i + 1 < args.Count && !args[i + 1].StartsWith("--", StringComparison.Ordinal) ? args[++i] : null);
            if (!allowed.Contains(name))
            {
                problem = $"Unknown option '{name}'. Expected: {string.Join(", ", allowed)}.";
                return false;
            }
            if (value is null)
            {
                problem = $"{name} needs a value.";
                return false;
            }
            if (!options.TryAdd(name, value))
            {
                problem = $"{name} is given twice.";
                return false;
            }
        }
        return true;
    }
}
