using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace SandboxProviders.Tests;

/// <summary>The stand-in CRM: it keeps what it receives, one record per external id, behind its key and the same failure
/// knobs as the vendors.</summary>
public sealed class CrmTests(SandboxFixture sandbox) : IClassFixture<SandboxFixture>, IAsyncLifetime
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync() => await sandbox.ResetAsync();

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private Task<HttpResponseMessage> PushAsync(object body, string? key = "sandbox-pipewell-key")
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "pipewell/v1/contacts/batch") { Content = JsonContent.Create(body) };
        if (key is not null)
        {
            request.Headers.Authorization = new("Bearer", key);
        }
        return sandbox.Client.SendAsync(request, Ct);
    }

    [Fact]
    public async Task A_lead_pushed_twice_is_one_record_updated_and_the_crm_shows_what_it_holds()
    {
        using var first = await PushAsync(new { contacts = new[] { new { externalId = "p_1", email = "ada@example.com" }, new { externalId = "p_2", email = "bo@example.com" } } });
        using var again = await PushAsync(new { contacts = new[] { new { externalId = "p_1", email = "ada@new.example" } } });

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        var created = JsonDocument.Parse(await first.Content.ReadAsStringAsync(Ct)).RootElement.GetProperty("results");
        var updated = JsonDocument.Parse(await again.Content.ReadAsStringAsync(Ct)).RootElement.GetProperty("results")[0];
        Assert.All(created.EnumerateArray(), r => Assert.True(r.GetProperty("created").GetBoolean()));
        Assert.False(updated.GetProperty("created").GetBoolean());
        Assert.Equal(created[0].GetProperty("id").GetInt64(), updated.GetProperty("id").GetInt64());
        var held = sandbox.Server.Vendors.CrmContacts("pipewell")!;
        Assert.Equal(2, held.Count);
        Assert.Equal("ada@new.example", held[0]["email"]!.GetValue<string>());
        using var list = new HttpRequestMessage(HttpMethod.Get, "pipewell/v1/contacts") { Headers = { Authorization = new("Bearer", "sandbox-pipewell-key") } };
        using var listing = await sandbox.Client.SendAsync(list, Ct);
        var listed = JsonDocument.Parse(await listing.Content.ReadAsStringAsync(Ct)).RootElement;
        Assert.Equal(2, listed.GetProperty("contacts").GetArrayLength());
    }

    [Fact]
    public async Task A_malformed_batch_is_400_a_missing_key_401_and_an_outage_503_and_none_of_them_is_kept()
    {
        using var noId = await PushAsync(new { contacts = new[] { new { email = "ada@example.com" } } });
        using var tooMany = await PushAsync(new { contacts = Enumerable.Range(0, 101).Select(i => new { externalId = $"p_{i}" }).ToArray() });
        using var noKey = await PushAsync(new { contacts = new[] { new { externalId = "p_1" } } }, key: null);
        sandbox.Server.Vendors.Update("pipewell", v => v with { Outage = true });
        using var down = await PushAsync(new { contacts = new[] { new { externalId = "p_1" } } });

        Assert.Equal((HttpStatusCode.BadRequest, HttpStatusCode.BadRequest), (noId.StatusCode, tooMany.StatusCode));
        Assert.Equal(HttpStatusCode.Unauthorized, noKey.StatusCode);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, down.StatusCode);
        Assert.Empty(sandbox.Server.Vendors.CrmContacts("pipewell")!);
    }
}
