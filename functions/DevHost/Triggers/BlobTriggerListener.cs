using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Azure.Storage.Blobs.Specialized;
using Azure.Storage.Queues;
using DevHost.Discovery;
using DevHost.Invocation;
using Microsoft.Extensions.Logging;

namespace DevHost.Triggers;

/// <summary>
/// Delivers each blob version (ETag) under a <c>container/pattern</c> path once, by scanning the container. A
/// receipt blob in <c>azure-webjobs-hosts</c> (the host's layout) records a delivered version, so a re-scan or a
/// restart never delivers it again, while a rewrite (new ETag) is delivered anew. A receipt is leased while its
/// version is processed, so two hosts on one storage account do not both deliver it. A version that fails
/// <c>maxDequeueCount</c> times is reported on the <c>webjobs-blobtrigger-poison</c> queue and not tried again.
/// </summary>
internal sealed partial class BlobTriggerListener : ITriggerListener
{
    public const string PoisonQueueName = "webjobs-blobtrigger-poison";
    private static readonly TimeSpan LeaseDuration = TimeSpan.FromSeconds(60);

    private readonly FunctionDescriptor _function;
    private readonly BlobContainerClient _container;
    private readonly HostStateStore _store;
    private readonly QueueClient _poison;
    private readonly FunctionInvoker _invoker;
    private readonly int _maxDequeueCount;
    private readonly TimeSpan _scanInterval;
    private readonly ILogger _logger;
    private readonly string _prefix;
    private readonly Regex _pattern;
    private readonly string _functionId;
    private readonly HashSet<string> _done = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stopping = new();
    private Task? _loop;

    public BlobTriggerListener(FunctionDescriptor function, string path, string connectionString, HostStateStore store,
        FunctionInvoker invoker, int maxDequeueCount, TimeSpan scanInterval, bool base64Queues, ILogger logger)
    {
        _function = function;
        _store = store;
        _invoker = invoker;
        _maxDequeueCount = maxDequeueCount;
        _scanInterval = scanInterval;
        _logger = logger;
        _functionId = function.Metadata.EntryPoint ?? function.Name;
        var slash = path.IndexOf('/', StringComparison.Ordinal);
        if (slash <= 0 || path[..slash].Contains('{', StringComparison.Ordinal))
        {
            throw new UnsupportedFunctionException(function.Name, $"its blob path '{path}' does not start with a literal container name");
        }
        var blobPattern = path[(slash + 1)..];
        var brace = blobPattern.IndexOf('{', StringComparison.Ordinal);
        _prefix = brace < 0 ? blobPattern : blobPattern[..brace];
        _pattern = ToRegex(blobPattern);
        _container = new BlobContainerClient(connectionString, path[..slash]);
        _poison = new QueueClient(connectionString, PoisonQueueName,
            new QueueClientOptions { MessageEncoding = base64Queues ? QueueMessageEncoding.Base64 : QueueMessageEncoding.None });
    }

    public string FunctionName => _function.Name;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await _container.CreateIfNotExistsAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
        _loop = Task.Run(() => ScanLoopAsync(_stopping.Token), CancellationToken.None);
    }

    public void Dispose() => _stopping.Dispose();

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        if (_loop is not null)
        {
            await _loop.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task ScanLoopAsync(CancellationToken stopping)
    {
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                await ScanAsync(stopping).ConfigureAwait(false);
                await Task.Delay(_scanInterval, stopping).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is RequestFailedException or HttpRequestException or IOException)
            {
                Log.ListenerStorageError(_logger, _function.Name, ex);
                await Task.Delay(_scanInterval, CancellationToken.None).ConfigureAwait(false);
            }
        }
    }

    private async Task ScanAsync(CancellationToken stopping)
    {
        await foreach (var item in _container.GetBlobsAsync(new GetBlobsOptions { Prefix = _prefix.Length > 0 ? _prefix : null }, stopping)
            .ConfigureAwait(false))
        {
            if (item.Properties.ETag is not { } etag || _pattern.Match(item.Name) is not { Success: true } match)
            {
                continue;
            }
            var key = $"{item.Name}\n{etag}";
            if (_done.Contains(key))
            {
                continue;
            }
            // Between scans only: a stop lets the blob under way finish (its token is not the stopping one).
            stopping.ThrowIfCancellationRequested();
            if (await ProcessAsync(item.Name, etag.ToString(), match).ConfigureAwait(false))
            {
                _done.Add(key);
            }
        }
    }

    /// <summary>Returns true when this version needs nothing more from this host (delivered, poisoned, or gone).</summary>
    private async Task<bool> ProcessAsync(string blobName, string etag, Match match)
    {
        var receipt = _store.Receipt(_functionId, etag, _container.Name, blobName);
        var lease = receipt.GetBlobLeaseClient();
        IDictionary<string, string> metadata;
        try
        {
            metadata = (await receipt.GetPropertiesAsync().ConfigureAwait(false)).Value.Metadata;
        }
        catch (RequestFailedException ex) when (ex.Status == 404)
        {
            try
            {
                await receipt.UploadAsync(BinaryData.Empty, new BlobUploadOptions { Conditions = new BlobRequestConditions { IfNoneMatch = ETag.All } })
                    .ConfigureAwait(false);
            }
            catch (RequestFailedException conflict) when (conflict.Status is 409 or 412)
            {
                // Another host created it first.
            }
            metadata = new Dictionary<string, string>();
        }
        if (IsCompleted(metadata))
        {
            return true;
        }
        try
        {
            await lease.AcquireAsync(LeaseDuration).ConfigureAwait(false);
        }
        catch (RequestFailedException ex) when (ex.Status == 409)
        {
            return false; // Another host is delivering it.
        }
        using var renewal = new CancellationTokenSource();
        var renewing = RenewLeaseAsync(lease, renewal.Token);
        try
        {
            // Re-read under the lease: the version may have completed elsewhere since the first read.
            metadata = (await receipt.GetPropertiesAsync().ConfigureAwait(false)).Value.Metadata;
            if (IsCompleted(metadata))
            {
                return true;
            }
            var attempts = metadata.TryGetValue("FailedAttempts", out var text) ? int.Parse(text, CultureInfo.InvariantCulture) : 0;
            var blob = _container.GetBlobClient(blobName);
            BlobDownloadResult download;
            try
            {
                download = (await blob.DownloadContentAsync(new BlobDownloadOptions { Conditions = new BlobRequestConditions { IfMatch = new ETag(etag) } })
                    .ConfigureAwait(false)).Value;
            }
            catch (RequestFailedException ex) when (ex.Status is 404 or 412)
            {
                // Deleted, or replaced by a newer version (which has its own receipt): nothing to deliver.
                await CompleteAsync(receipt, lease.LeaseId, "Superseded").ConfigureAwait(false);
                return true;
            }
            var bindingData = new Dictionary<string, object?>(StringComparer.OrdinalIgnoreCase)
            {
                ["blobTrigger"] = $"{_container.Name}/{blobName}",
                ["uri"] = blob.Uri.ToString(),
            };
            foreach (var group in _pattern.GetGroupNames().Where(g => !int.TryParse(g, out _)))
            {
                bindingData[group] = match.Groups[group].Value;
            }
            try
            {
                await _invoker.InvokeAsync(_function, new InvocationInput(type => Convert(download.Content, blob, type), bindingData), CancellationToken.None)
                    .ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                attempts++;
                if (attempts < _maxDequeueCount)
                {
                    Log.BlobFailed(_logger, _function.Name, _container.Name, blobName, attempts);
                    await receipt.SetMetadataAsync(new Dictionary<string, string> { ["FailedAttempts"] = attempts.ToString(CultureInfo.InvariantCulture) },
                        new BlobRequestConditions { LeaseId = lease.LeaseId }).ConfigureAwait(false);
                    return false;
                }
                await _poison.CreateIfNotExistsAsync().ConfigureAwait(false);
                await _poison.SendMessageAsync(JsonSerializer.Serialize(new PoisonMessage("BlobTrigger", _functionId, "BlockBlob", _container.Name, blobName, etag)))
                    .ConfigureAwait(false);
                Log.BlobPoisoned(_logger, _function.Name, _container.Name, blobName, etag, attempts);
                await CompleteAsync(receipt, lease.LeaseId, "Poisoned").ConfigureAwait(false);
                return true;
            }
            await CompleteAsync(receipt, lease.LeaseId, "Delivered").ConfigureAwait(false);
            return true;
        }
        finally
        {
            await renewal.CancelAsync().ConfigureAwait(false);
            await renewing.ConfigureAwait(false);
            try
            {
                await lease.ReleaseAsync().ConfigureAwait(false);
            }
            catch (RequestFailedException)
            {
                // Expired or lost: the receipt's state is what counts.
            }
        }
    }

    private static bool IsCompleted(IDictionary<string, string> metadata) => metadata.ContainsKey("Outcome");

    private static Task<Azure.Response<BlobInfo>> CompleteAsync(BlobClient receipt, string leaseId, string outcome) =>
        receipt.SetMetadataAsync(new Dictionary<string, string> { ["Outcome"] = outcome }, new BlobRequestConditions { LeaseId = leaseId });

    private static async Task RenewLeaseAsync(BlobLeaseClient lease, CancellationToken done)
    {
        while (true)
        {
            try
            {
                await Task.Delay(LeaseDuration / 2, done).ConfigureAwait(false);
                await lease.RenewAsync(cancellationToken: done).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (RequestFailedException)
            {
                return;
            }
        }
    }

    private static object? Convert(BinaryData content, BlobClient blob, Type type) =>
        type == typeof(string) ? content.ToString()
        : type == typeof(byte[]) ? content.ToArray()
        : type == typeof(BinaryData) ? content
        : type == typeof(Stream) ? content.ToStream()
        : type == typeof(BlobClient) ? blob
        : throw new InvalidOperationException($"Blob trigger type {type.Name} is not supported.");

    private static Regex ToRegex(string blobPattern)
    {
        var regex = "^";
        var position = 0;
        foreach (Match m in Placeholder().Matches(blobPattern))
        {
            regex += Regex.Escape(blobPattern[position..m.Index]) + $"(?<{m.Groups["name"].Value}>.+?)";
            position = m.Index + m.Length;
        }
        regex += Regex.Escape(blobPattern[position..]) + "$";
        return new Regex(regex, RegexOptions.CultureInvariant);
    }

    [GeneratedRegex(@"\{(?<name>[A-Za-z_][A-Za-z0-9_]*)\}")]
    private static partial Regex Placeholder();

    private sealed record PoisonMessage(string Type, string FunctionId, string BlobType, string ContainerName, string BlobName, string ETag);
}
