using System.Net;
using System.Text.Json;

namespace CreditFunctions.Tests;

/// <summary>An RFC 7807 response as a client reads it.</summary>
internal sealed record Problem(HttpStatusCode Status, string Type, string Title, string? Detail, IReadOnlyDictionary<string, string[]> Errors)
{
    public static async Task<Problem> ReadAsync(HttpResponseMessage response)
    {
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        var root = json.RootElement;
        Assert.Equal((int)response.StatusCode, root.GetProperty("status").GetInt32());
        var errors = new Dictionary<string, string[]>(StringComparer.Ordinal);
        if (root.TryGetProperty("errors", out var e))
        {
            foreach (var field in e.EnumerateObject())
            {
                errors[field.Name] = field.Value.EnumerateArray().Select(m => m.GetString()!).ToArray();
            }
        }
        return new Problem(response.StatusCode, root.GetProperty("type").GetString()!, root.GetProperty("title").GetString()!,
            root.TryGetProperty("detail", out var d) ? d.GetString() : null, errors);
    }
}
