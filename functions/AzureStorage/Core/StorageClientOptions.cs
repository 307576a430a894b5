using Azure.Core;

namespace CreditFunctions.AzureStorage;

/// <summary>
/// Options for the storage clients. Retries (exponential back-off with jitter on 408, 429, 5xx and network errors),
/// per-try timeouts, logging and distributed tracing come from Azure.Core's pipeline and are configured through the
/// inherited <see cref="ClientOptions.Retry"/> and <see cref="ClientOptions.Diagnostics"/>.
/// </summary>
public class StorageClientOptions : ClientOptions
{
    /// <summary>The REST API version sent as <c>x-ms-version</c> on every request.</summary>
    public const string DefaultServiceVersion = "2025-11-05";

    /// <summary>Creates options with the storage defaults: 5 retries from 0.2 s up to 10 s, 30 s per try.</summary>
    public StorageClientOptions()
    {
        Retry.MaxRetries = 5;
        Retry.Mode = RetryMode.Exponential;
        Retry.Delay = TimeSpan.FromMilliseconds(200);
        Retry.MaxDelay = TimeSpan.FromSeconds(10);
        Retry.NetworkTimeout = TimeSpan.FromSeconds(30);
        Diagnostics.ApplicationId = "CreditFunctions";
    }

    /// <summary>The REST API version; defaults to <see cref="DefaultServiceVersion"/>.</summary>
    public string ServiceVersion { get; init; } = DefaultServiceVersion;

    /// <summary>The clock used to date signed requests; tests replace it to check signatures.</summary>
    public TimeProvider Clock { get; init; } = TimeProvider.System;
}
