using System.Collections.Concurrent;

namespace SandboxProviders;

/// <summary>
/// A stand-in webhook receiver for demos: <c>POST /_webhooks/{box}</c> keeps the last 100 deliveries of each box (body
/// and the headers that matter for verification), <c>GET /_webhooks/{box}</c> shows them, newest first. It answers
/// 200, or 500 for the next <c>failNext</c> deliveries set with <c>PUT /_webhooks/{box}?failNext=N</c>, to show retries.
/// </summary>
internal static class WebhookInbox
{
    private const int KeptMax = 100;
    private static readonly string[] s_headers = ["X-CreditFunctions-Signature", "X-CreditFunctions-Delivery", "Content-Type"];

    public static void MapWebhookInbox(this WebApplication app)
    {
        var boxes = new ConcurrentDictionary<string, Box>(StringComparer.Ordinal);
        app.MapPost("/_webhooks/{box}", async (string box, HttpRequest request) =>
        {
            using var reader = new StreamReader(request.Body);
            var body = await reader.ReadToEndAsync(request.HttpContext.RequestAborted);
            var inbox = boxes.GetOrAdd(box, _ => new Box());
            var fail = Interlocked.Decrement(ref inbox.FailNext) >= 0;
            inbox.Deliveries.Enqueue(new Delivery(DateTimeOffset.UtcNow, fail ? 500 : 200,
                s_headers.Where(h => request.Headers.ContainsKey(h)).ToDictionary(h => h, h => request.Headers[h].ToString(), StringComparer.Ordinal), body));
            while (inbox.Deliveries.Count > KeptMax && inbox.Deliveries.TryDequeue(out _))
            {
            }
            return Results.StatusCode(fail ? 500 : 200);
        });
        app.MapPut("/_webhooks/{box}", (string box, int? failNext) =>
        {
            Interlocked.Exchange(ref boxes.GetOrAdd(box, _ => new Box()).FailNext, Math.Clamp(failNext ?? 0, 0, 10));
            return Results.NoContent();
        });
        app.MapGet("/_webhooks/{box}", (string box) =>
            Results.Json(new { deliveries = boxes.TryGetValue(box, out var inbox) ? inbox.Deliveries.Reverse().ToArray() : Array.Empty<Delivery>() }, SandboxJson.Options));
    }

    private sealed class Box
    {
        public int FailNext;

        public ConcurrentQueue<Delivery> Deliveries { get; } = new();
    }

    private sealed record Delivery(DateTimeOffset ReceivedAt, int Answered, IReadOnlyDictionary<string, string> Headers, string Body);
}
