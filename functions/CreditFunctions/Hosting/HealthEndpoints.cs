using CreditFunctions.AzureStorage.Tables;

namespace CreditFunctions.Hosting;

/// <summary><c>GET /api/health</c>: whether storage answers. 200 when it does, 503 when it does not.</summary>
internal static class HealthEndpoints
{
    public static void MapHealth(this IEndpointRouteBuilder app) => app.MapGet("/api/health", async (TableServiceClient tables, CancellationToken ct) =>
    {
        try
        {
            await tables.QueryTablesAsync(maxPerPage: 1, cancellationToken: ct).AsPages().FirstAsync(ct);
            return Results.Ok(new { status = "healthy", storage = new { tables = "reachable" } });
        }
        catch (Exception ex) when (ex is Azure.RequestFailedException or HttpRequestException or TaskCanceledException)
        {
            return Results.Json(new { status = "unhealthy", storage = new { tables = "unreachable" } }, statusCode: StatusCodes.Status503ServiceUnavailable);
        }
    });
}
