using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Azure.Data.Tables;
using CreditFunctions.Auth;
using CreditFunctions.Tests.Providers;
using CreditFunctions.TestSupport;
using CreditFunctions.Waterfall;
using Microsoft.Extensions.Configuration;
using static CreditFunctions.Tests.Waterfall.WaterfallTestContext;

namespace CreditFunctions.Tests.Waterfall;

/// <summary>The secrets key can be rotated: values name their key, old keys still decrypt, `secrets reencrypt` moves everything.</summary>
[Collection(nameof(WaterfallTests))]
public sealed class SecretsKeyRotationTests(AzuriteFixture azurite, SandboxVendors sandbox) : IClassFixture<SandboxVendors>
{
    private static readonly byte[] s_old = RandomNumberGenerator.GetBytes(32);
    private static readonly byte[] s_new = RandomNumberGenerator.GetBytes(32);

    [Fact]
    public void A_value_protected_under_a_previous_key_still_decrypts_and_names_its_key()
    {
        var before = new SecretProtector(s_old).Protect("acme", "vendor-key-1234");
        var legacy = LegacyProtect(s_old, "acme", "legacy-key-5678");
        var rotated = new SecretProtector(s_new, [s_old]);

        Assert.StartsWith($"v2.{SecretProtector.KeyIdOf(s_old)}.", before, StringComparison.Ordinal);
        Assert.Equal("vendor-key-1234", rotated.Unprotect("acme", before));
        Assert.Equal("legacy-key-5678", rotated.Unprotect("acme", legacy));
        Assert.StartsWith($"v2.{rotated.CurrentKeyId}.", rotated.Protect("acme", "x"), StringComparison.Ordinal);
        Assert.ThrowsAny<CryptographicException>(() => new SecretProtector(s_new).Unprotect("acme", before));
        Assert.ThrowsAny<CryptographicException>(() => rotated.Unprotect("acme-x", before));
    }

    [Fact]
    public async Task Secrets_reencrypt_twice_moves_every_stored_value_to_the_current_key_once()
    {
        var table = AzuriteFixture.NewName("enrich");
        await using var ctx = await StartAsync(azurite, sandbox, settings: new Dictionary<string, string?>
        {
            [SecretProtector.KeySetting] = Convert.ToBase64String(s_old), [WaterfallSetup.TableSetting] = table,
        });
        Assert.Equal(System.Net.HttpStatusCode.OK, (await ctx.SendAsync(HttpMethod.Put, "/api/v1/enrichment/settings",
            new { keys = new { leadmine = new { apiKey = "team-own-key-1234" } } })).StatusCode);
        await ctx.PostAsync("/api/v1/enrichment/settings/webhook-secret", new { });
        var secret = (await JsonAsync(await ctx.PostAsync("/api/v1/enrichment/settings/webhook-secret", new { }))).GetProperty("webhookSecret").GetString();
        var rows = new TableClient(azurite.ConnectionString, table);
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["AzureWebJobsStorage"] = azurite.ConnectionString, [WaterfallSetup.TableSetting] = table,
            [SecretProtector.KeySetting] = Convert.ToBase64String(s_new), [SecretProtector.PreviousKeysSetting] = "  " + Convert.ToBase64String(s_old) + " ,",
        }).Build();

        var (firstExit, firstOutput) = await ReencryptAsync(configuration);
        var afterFirst = (await rows.GetEntityAsync<TableEntity>(ctx.TeamId, "settings", cancellationToken: Ct)).Value;
        var (secondExit, secondOutput) = await ReencryptAsync(configuration);
        var afterSecond = (await rows.GetEntityAsync<TableEntity>(ctx.TeamId, "settings", cancellationToken: Ct)).Value;

        var stored = JsonSerializer.Deserialize<EnrichmentSettings>(afterFirst.GetString("Json"), JsonSerializerOptions.Web)!;
        var onlyNew = new SecretProtector(s_new);
        Assert.Equal((0, 0), (firstExit, secondExit));
        Assert.Contains("Re-encrypted 3 values of 1 of 1 teams", firstOutput, StringComparison.Ordinal);
        Assert.Contains("Re-encrypted 0 values of 0 of 1 teams", secondOutput, StringComparison.Ordinal);
        Assert.All(new[] { stored.Keys["leadmine"].Protected!, stored.WebhookSecret!, stored.PreviousWebhookSecret! },
            v => Assert.StartsWith($"v2.{onlyNew.CurrentKeyId}.", v, StringComparison.Ordinal));
        Assert.Equal("team-own-key-1234", onlyNew.Unprotect(ctx.TeamId, stored.Keys["leadmine"].Protected!));
        Assert.Equal(secret, onlyNew.Unprotect(ctx.TeamId, stored.WebhookSecret!));
        Assert.Equal(afterFirst.ETag, afterSecond.ETag);
    }

    [Fact]
    public async Task Secrets_reencrypt_moves_the_forms_signing_secrets_to_the_current_key_too()
    {
        var inbound = AzuriteFixture.NewName("inbound");
        await using var ctx = await StartAsync(azurite, sandbox, settings: new Dictionary<string, string?>
        {
            [SecretProtector.KeySetting] = Convert.ToBase64String(s_old), ["CREDITFUNCTIONS_INBOUND_TABLE"] = inbound,
        });
        var created = await JsonAsync(await ctx.PostAsync("/api/v1/forms", new { name = "Demo request", source = "generic", fieldMap = new { email = "email" } }));
        var (formId, secret) = (created.GetProperty("id").GetString()!, created.GetProperty("signingSecret").GetString()!);
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["AzureWebJobsStorage"] = azurite.ConnectionString, [WaterfallSetup.TableSetting] = AzuriteFixture.NewName("enrich"),
            ["CREDITFUNCTIONS_INBOUND_TABLE"] = inbound,
            [SecretProtector.KeySetting] = Convert.ToBase64String(s_new), [SecretProtector.PreviousKeysSetting] = Convert.ToBase64String(s_old),
        }).Build();

        var (firstExit, firstOutput) = await ReencryptAsync(configuration);
        var (secondExit, secondOutput) = await ReencryptAsync(configuration);

        var stored = (await new TableClient(azurite.ConnectionString, inbound).GetEntityAsync<TableEntity>("form|" + formId, "def", cancellationToken: Ct)).Value.GetString("ProtectedSecret");
        var onlyNew = new SecretProtector(s_new);
        Assert.Equal((0, 0), (firstExit, secondExit));
        Assert.Contains("signing secrets of 1 of 1 forms", firstOutput, StringComparison.Ordinal);
        Assert.Contains("signing secrets of 0 of 1 forms", secondOutput, StringComparison.Ordinal);
        Assert.StartsWith($"v2.{onlyNew.CurrentKeyId}.", stored, StringComparison.Ordinal);
        Assert.Equal(secret, onlyNew.Unprotect(ctx.TeamId, stored!));
    }

    private static async Task<(int Exit, string Output)> ReencryptAsync(IConfiguration configuration)
    {
        var output = new StringWriter();
        var exit = await OperatorCommands.RunAsync(["secrets", "reencrypt"], configuration, output, new StringWriter(), Ct);
        return (exit, output.ToString());
    }

    // The first format: "v1." + base64(nonce | tag | cipher), no key id.
    private static string LegacyProtect(byte[] key, string teamId, string secret)
    {
        var nonce = RandomNumberGenerator.GetBytes(12);
        var plain = Encoding.UTF8.GetBytes(secret);
        var cipher = new byte[plain.Length];
        var tag = new byte[16];
        using var aes = new AesGcm(key, 16);
        aes.Encrypt(nonce, plain, cipher, tag, Encoding.UTF8.GetBytes(teamId));
        return "v1." + Convert.ToBase64String([.. nonce, .. tag, .. cipher]);
    }
}
