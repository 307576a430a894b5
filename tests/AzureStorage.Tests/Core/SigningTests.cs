using System.Net;
using Azure.Core;
using Azure.Core.Pipeline;
using CreditFunctions.AzureStorage.Tables;

namespace CreditFunctions.AzureStorage.Tests.Core;

/// <summary>
/// Shared Key signing against known vectors: each expected string-to-sign is written out by hand from the REST
/// reference, and each expected signature was computed independently (HMAC-SHA256 outside .NET) under the public
/// development key.
/// </summary>
public sealed class SigningTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 21, 8, 0, 0, TimeSpan.Zero);
    private static readonly StorageSharedKeyCredential MyAccount = new("myaccount", StorageConnectionString.DevelopmentAccountKey);

    private static Request NewRequest(RequestMethod method, string uri)
    {
        var request = new HttpClientTransport().CreateRequest();
        request.Method = method;
        request.Uri.Reset(new Uri(uri));
        return request;
    }

    [Fact]
    public void Blob_string_to_sign_canonicalizes_headers_and_query_and_matches_the_known_signature()
    {
        var request = NewRequest(RequestMethod.Put, "https://myaccount.blob.core.windows.net/mycontainer/myblob?comp=block&blockid=YmxvY2s%3D&Timeout=30");
        request.Headers.SetValue("x-ms-version", "2025-11-05");
        request.Headers.SetValue("x-ms-date", "Sat, 21 Nov 2026 08:00:00 GMT");
        request.Headers.SetValue("x-ms-meta-Owner", "Ada");
        request.Headers.SetValue("x-ms-client-request-id", "11111111-2222-3333-4444-555555555555");
        request.Headers.SetValue("Content-Type", "application/octet-stream");
        request.Content = RequestContent.Create("hello world"u8.ToArray());

        var stringToSign = SharedKeyPolicy.BuildStringToSign(request, "myaccount");

        Assert.Equal(
            "PUT\n\n\n11\n\napplication/octet-stream\n\n\n\n\n\n\n" +
            "x-ms-client-request-id:11111111-2222-3333-4444-555555555555\n" +
            "x-ms-date:Sat, 21 Nov 2026 08:00:00 GMT\n" +
            "x-ms-meta-owner:Ada\n" +
            "x-ms-version:2025-11-05\n" +
            "/myaccount/mycontainer/myblob\nblockid:YmxvY2s=\ncomp:block\ntimeout:30",
            stringToSign);
        Assert.Equal("dLTB03Fe3tbUDgrUQxNgBXijga/LS2qVmlrHD27Sa9g=", MyAccount.ComputeHmacSha256(stringToSign));
    }

    [Fact]
    public void Path_style_queue_request_signs_the_account_twice_in_the_resource()
    {
        var request = NewRequest(RequestMethod.Get, "http://127.0.0.1:10001/devstoreaccount1/myqueue/messages?visibilitytimeout=30&numofmessages=32");
        request.Headers.SetValue("x-ms-date", "Sat, 21 Nov 2026 08:00:00 GMT");
        request.Headers.SetValue("x-ms-version", "2025-11-05");

        var stringToSign = SharedKeyPolicy.BuildStringToSign(request, "devstoreaccount1");

        Assert.Equal(
            "GET\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:Sat, 21 Nov 2026 08:00:00 GMT\nx-ms-version:2025-11-05\n" +
            "/devstoreaccount1/devstoreaccount1/myqueue/messages\nnumofmessages:32\nvisibilitytimeout:30",
            stringToSign);
        var dev = new StorageSharedKeyCredential("devstoreaccount1", StorageConnectionString.DevelopmentAccountKey);
        Assert.Equal("GedbS6Kj0OOJ5WSwayK27ZuxKI4Eo1GuSF8GGCfuC9o=", dev.ComputeHmacSha256(stringToSign));
    }

    [Fact]
    public void Table_string_to_sign_keeps_only_comp_from_the_query()
    {
        var request = NewRequest(RequestMethod.Get, "https://myaccount.table.core.windows.net/mytable?comp=acl&timeout=5");
        request.Headers.SetValue("x-ms-date", "Sat, 21 Nov 2026 08:00:00 GMT");
        Assert.Equal("GET\n\n\nSat, 21 Nov 2026 08:00:00 GMT\n/myaccount/mytable?comp=acl",
            SharedKeyPolicy.BuildTableStringToSign(request, "myaccount"));
    }

    [Fact]
    public async Task Table_client_sends_the_known_shared_key_signature_with_a_fresh_date()
    {
        var handler = new RecordingHandler(HttpStatusCode.NotFound, """{"odata.error":{"code":"ResourceNotFound","message":{"lang":"en-US","value":"The specified resource does not exist."}}}""");
        var options = new StorageClientOptions { Clock = new FixedClock(Now), Transport = new HttpClientTransport(new HttpClient(handler)) };
        var table = new TableServiceClient(new Uri("https://myaccount.table.core.windows.net"), MyAccount, options).GetTableClient("mytable");

        Assert.Null(await table.GetEntityIfExistsAsync<TableEntity>("p", "r", TestContext.Current.CancellationToken));

        var request = Assert.Single(handler.Requests);
        Assert.Equal("https://myaccount.table.core.windows.net/mytable(PartitionKey='p',RowKey='r')", request.RequestUri!.AbsoluteUri);
        Assert.Equal("Sat, 21 Nov 2026 08:00:00 GMT", request.Headers.GetValues("x-ms-date").Single());
        Assert.Equal("SharedKey myaccount:id2gXtkLcC70xq5fBWGbxIM15d0Y5WELnkWE/GSwalc=", request.Headers.Authorization!.ToString());
        Assert.Equal(StorageClientOptions.DefaultServiceVersion, request.Headers.GetValues("x-ms-version").Single());
    }

    [Fact]
    public async Task Token_credential_sends_a_bearer_token_for_the_storage_scope_and_no_shared_key()
    {
        var handler = new RecordingHandler(HttpStatusCode.NotFound, "");
        var credential = new RecordingTokenCredential("token-for-tests");
        var options = new StorageClientOptions { Transport = new HttpClientTransport(new HttpClient(handler)) };
        var table = new TableServiceClient(new Uri("https://myaccount.table.core.windows.net"), credential, options).GetTableClient("mytable");

        await table.GetEntityIfExistsAsync<TableEntity>("p", "r", TestContext.Current.CancellationToken);

        var request = Assert.Single(handler.Requests);
        Assert.Equal("Bearer token-for-tests", request.Headers.Authorization!.ToString());
        Assert.Equal(["https://storage.azure.com/.default"], credential.Scopes.Distinct());
    }

    [Fact]
    public void A_connection_string_without_a_key_requires_a_token_credential()
    {
        var connection = StorageConnectionString.Parse("BlobEndpoint=https://a.blob.core.windows.net;QueueEndpoint=https://a.queue.core.windows.net;TableEndpoint=https://a.table.core.windows.net");
        var ex = Assert.Throws<ArgumentException>(() => new TableServiceClient(connection, credential: null));
        Assert.Contains("TokenCredential", ex.Message, StringComparison.Ordinal);
        Assert.NotNull(new TableServiceClient(connection, new RecordingTokenCredential("t")));
    }

    private sealed class RecordingTokenCredential(string token) : TokenCredential
    {
        public List<string> Scopes { get; } = [];

        public override AccessToken GetToken(TokenRequestContext requestContext, CancellationToken cancellationToken)
        {
            Scopes.AddRange(requestContext.Scopes);
            return new AccessToken(token, DateTimeOffset.UtcNow.AddHours(1));
        }

        public override ValueTask<AccessToken> GetTokenAsync(TokenRequestContext requestContext, CancellationToken cancellationToken) =>
            new(GetToken(requestContext, cancellationToken));
    }
}
