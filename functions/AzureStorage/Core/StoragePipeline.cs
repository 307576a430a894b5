using Azure;
using Azure.Core;
using Azure.Core.Pipeline;

namespace CreditFunctions.AzureStorage;

/// <summary>The storage service a pipeline talks to.</summary>
internal enum StorageService
{
    Blob,
    Queue,
    Table,
}

/// <summary>How a client authenticates: a Shared Key or a Microsoft Entra ID token credential.</summary>
internal readonly record struct StorageAuth(StorageSharedKeyCredential? SharedKey, TokenCredential? Token)
{
    public const string StorageScope = "https://storage.azure.com/.default";

    public static StorageAuth From(StorageConnectionString connection, TokenCredential? fallback)
    {
        if (connection.SharedKey is not null)
        {
            return new(connection.SharedKey, null);
        }
        return new(null, fallback ?? throw new ArgumentException(
            "The connection string has no AccountKey: pass a TokenCredential (e.g. DefaultAzureCredential) for identity-based access.",
            nameof(fallback)));
    }
}

/// <summary>Builds the Azure.Core pipeline shared by the clients of one service and sends requests through it.</summary>
internal sealed class StoragePipeline
{
    private readonly HttpPipeline _pipeline;

    public StoragePipeline(StorageClientOptions? options, StorageAuth auth, StorageService service)
    {
        options ??= new StorageClientOptions();
        HttpPipelinePolicy authPolicy = auth.SharedKey is not null
            ? new SharedKeyPolicy(auth.SharedKey, service == StorageService.Table, options.Clock)
            : new BearerTokenAuthenticationPolicy(auth.Token!, StorageAuth.StorageScope);
        var pipelineOptions = new HttpPipelineOptions(options)
        {
            RequestFailedDetailsParser = StorageRequestFailedDetailsParser.Instance,
        };
        pipelineOptions.PerCallPolicies.Add(new VersionPolicy(options.ServiceVersion));
        pipelineOptions.PerRetryPolicies.Add(authPolicy);
        // Last per-try policy: it measures each attempt on the wire, retries counted one by one.
        pipelineOptions.PerRetryPolicies.Add(new StorageMetricsPolicy(service));
        _pipeline = HttpPipelineBuilder.Build(pipelineOptions);
    }

    public HttpMessage CreateMessage(RequestMethod method, RequestUriBuilder uri)
    {
        var message = _pipeline.CreateMessage();
        message.Request.Method = method;
        message.Request.Uri = uri;
        return message;
    }

    /// <summary>Sends the message and returns its response; a status outside <paramref name="expected"/> throws.</summary>
    /// <exception cref="RequestFailedException">The service answered with an unexpected status; carries its
    /// <see cref="RequestFailedException.ErrorCode"/>.</exception>
    public async ValueTask<Response> SendAsync(HttpMessage message, CancellationToken cancellationToken, params int[] expected)
    {
        await _pipeline.SendAsync(message, cancellationToken).ConfigureAwait(false);
        var response = message.Response;
        if (Array.IndexOf(expected, response.Status) < 0)
        {
            if (!message.BufferResponse && response.ContentStream is not null)
            {
                // Error bodies are small; buffer them so the exception can carry the service's code and message.
                var buffered = new MemoryStream();
                await response.ContentStream.CopyToAsync(buffered, cancellationToken).ConfigureAwait(false);
                buffered.Position = 0;
                response.ContentStream = buffered;
            }
            throw new RequestFailedException(response, null, StorageRequestFailedDetailsParser.Instance);
        }
        return response;
    }

    private sealed class VersionPolicy(string version) : HttpPipelineSynchronousPolicy
    {
        public override void OnSendingRequest(HttpMessage message) =>
            message.Request.Headers.SetValue("x-ms-version", version);
    }
}
