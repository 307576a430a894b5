using Azure.Core;
using Azure.Core.Pipeline;

namespace CreditFunctions.Tests;

/// <summary>Counts the point reads a storage client sends for rows whose key starts with a prefix (a pipeline policy
/// to add to the client's options), so a test can assert how often a row was read.</summary>
internal sealed class PointReadCounter(string rowKeyPrefix) : HttpPipelinePolicy
{
    private long _count;

    public long Count => Interlocked.Read(ref _count);

    public override void Process(HttpMessage message, ReadOnlyMemory<HttpPipelinePolicy> pipeline)
    {
        CountOne(message);
        ProcessNext(message, pipeline);
    }

    public override ValueTask ProcessAsync(HttpMessage message, ReadOnlyMemory<HttpPipelinePolicy> pipeline)
    {
        CountOne(message);
        return ProcessNextAsync(message, pipeline);
    }

    private void CountOne(HttpMessage message)
    {
        if (message.Request.Method == RequestMethod.Get
            && Uri.UnescapeDataString(message.Request.Uri.Path).Contains($"RowKey='{rowKeyPrefix}", StringComparison.Ordinal))
        {
            Interlocked.Increment(ref _count);
        }
    }
}
