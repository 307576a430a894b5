using System.Security.Cryptography;
using System.Text.Json;
using Azure;
using Azure.Data.Tables;

namespace CreditFunctions.Waterfall;

/// <summary>What <see cref="SecretsReencryption.RunAsync"/> did.</summary>
/// <param name="Teams">Teams with settings.</param>
/// <param name="TeamsChanged">Teams whose row was rewritten.</param>
/// <param name="ValuesReencrypted">Protected values moved to the current key.</param>
/// <param name="Failures">Values no configured key decrypts, as "team: field" (left as they are).</param>
public sealed record ReencryptionReport(int Teams, int TeamsChanged, int ValuesReencrypted, IReadOnlyList<string> Failures);

/// <summary>
/// Moves every team's protected values (own provider keys, webhook secrets) to the current secrets key, after a
/// rotation (<see cref="SecretProtector"/>). Each team's row is rewritten under its ETag (a concurrent change is read
/// again and re-encrypted again) and only when a value is not under the current key yet, so a second run writes
/// nothing. Values no configured key decrypts are reported and left as they are.
/// </summary>
public static class SecretsReencryption
{
    private const string SettingsRow = "settings";
    private const int AttemptsMax = 16;

    /// <summary>Re-encrypts every team's settings in <paramref name="table"/> under <paramref name="protector"/>'s current key.</summary>
    public static async Task<ReencryptionReport> RunAsync(TableClient table, SecretProtector protector, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(table);
        ArgumentNullException.ThrowIfNull(protector);
        int teams = 0, changedTeams = 0, values = 0;
        var failures = new List<string>();
        await foreach (var listed in table.QueryAsync<TableEntity>(e => e.RowKey == SettingsRow, select: ["PartitionKey"], cancellationToken: cancellationToken)
            .ConfigureAwait(false))
        {
            teams++;
            var teamId = listed.PartitionKey;
            for (var attempt = 1; ; attempt++)
            {
                var row = (await table.GetEntityIfExistsAsync<TableEntity>(teamId, SettingsRow, cancellationToken: cancellationToken).ConfigureAwait(false));
                if (!row.HasValue || row.Value?.GetString("Json") is not { } json)
                {
                    break;
                }
                var settings = JsonSerializer.Deserialize<EnrichmentSettings>(json, JsonSerializerOptions.Web)!;
                var (updated, count, failed) = Reencrypt(teamId, settings, protector);
                if (count == 0)
                {
                    failures.AddRange(failed);
                    break;
                }
                var entity = new TableEntity(teamId, SettingsRow) { ["Json"] = JsonSerializer.Serialize(updated, JsonSerializerOptions.Web) };
                try
                {
                    await table.UpdateEntityAsync(entity, row.Value.ETag, TableUpdateMode.Replace, cancellationToken).ConfigureAwait(false);
                    changedTeams++;
                    values += count;
                    failures.AddRange(failed);
                    break;
                }
                catch (RequestFailedException ex) when (ex.Status == 412 && attempt < AttemptsMax)
                {
                    // An admin changed the settings meanwhile: re-encrypt their version.
                }
            }
        }
        return new ReencryptionReport(teams, changedTeams, values, failures);
    }

    /// <summary>Re-encrypts every form's signing secret in <paramref name="table"/> (the inbound table: row <c>def</c> of
    /// each form's partition, protected for the form's team) under <paramref name="protector"/>'s current key, each row
    /// under its ETag and only when not under the current key yet.</summary>
    public static async Task<ReencryptionReport> RunFormsAsync(TableClient table, SecretProtector protector, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(table);
        ArgumentNullException.ThrowIfNull(protector);
        int forms = 0, changed = 0;
        var failures = new List<string>();
        await foreach (var listed in table.QueryAsync<TableEntity>(e => e.RowKey == FormRowKey, select: ["PartitionKey"], cancellationToken: cancellationToken)
            .ConfigureAwait(false))
        {
            forms++;
            for (var attempt = 1; ; attempt++)
            {
                var row = await table.GetEntityIfExistsAsync<TableEntity>(listed.PartitionKey, FormRowKey, cancellationToken: cancellationToken).ConfigureAwait(false);
                if (!row.HasValue || row.Value!.GetString("ProtectedSecret") is not { Length: > 0 } value || protector.IsCurrent(value))
                {
                    break;
                }
                var teamId = row.Value.GetString("TeamId") ?? string.Empty;
                string moved;
                try
                {
                    moved = protector.Reprotect(teamId, value);
                }
                catch (CryptographicException)
                {
                    failures.Add($"{teamId}: form {listed.PartitionKey} secret");
                    break;
                }
                try
                {
                    await table.UpdateEntityAsync(new TableEntity(listed.PartitionKey, FormRowKey) { ["ProtectedSecret"] = moved }, row.Value.ETag,
                        TableUpdateMode.Merge, cancellationToken).ConfigureAwait(false);
                    changed++;
                    break;
                }
                catch (RequestFailedException ex) when (ex.Status == 412 && attempt < AttemptsMax)
                {
                    // The form changed meanwhile: read it again.
                }
            }
        }
        return new ReencryptionReport(forms, changed, changed, failures);
    }

    /// <summary>The row of a form's definition in the inbound table.</summary>
    private const string FormRowKey = "def";

    private static (EnrichmentSettings Settings, int Count, List<string> Failures) Reencrypt(string teamId, EnrichmentSettings settings, SecretProtector protector)
    {
        var count = 0;
        var failures = new List<string>();
        string? Move(string? value, string field)
        {
            if (value is null || protector.IsCurrent(value))
            {
                return value;
            }
            try
            {
                var moved = protector.Reprotect(teamId, value);
                count++;
                return moved;
            }
            catch (CryptographicException)
            {
                failures.Add($"{teamId}: {field}");
                return value;
            }
        }
        var keys = settings.Keys.ToDictionary(k => k.Key, k => k.Value with { Protected = Move(k.Value.Protected, $"keys.{k.Key}") }, StringComparer.Ordinal);
        var updated = settings with
        {
            Keys = keys,
            WebhookSecret = Move(settings.WebhookSecret, "webhookSecret"),
            PreviousWebhookSecret = Move(settings.PreviousWebhookSecret, "previousWebhookSecret"),
        };
        return (updated, count, failures);
    }
}
