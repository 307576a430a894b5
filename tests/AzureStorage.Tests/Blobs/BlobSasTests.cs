using System.Net;
using System.Text;
using Azure.Core;
using Azure.Core.Pipeline;
using CreditFunctions.AzureStorage.Blobs;
using CreditFunctions.TestSupport;

namespace CreditFunctions.AzureStorage.Tests.Blobs;

public sealed class BlobSasTests(AzuriteFixture azurite)
{
    private static readonly DateTimeOffset Start = new(2025, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private static readonly DateTimeOffset Expiry = new(2025, 1, 2, 13, 30, 0, TimeSpan.FromHours(1));

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static StorageSharedKeyCredential DevKey =>
        new(StorageConnectionString.DevelopmentAccountName, StorageConnectionString.DevelopmentAccountKey);

    private static UserDelegationKey Key => new()
    {
        SignedObjectId = "11111111-2222-3333-4444-555555555555",
        SignedTenantId = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
        SignedStartsOn = new DateTimeOffset(2025, 1, 1, 0, 0, 0, TimeSpan.Zero),
        SignedExpiresOn = new DateTimeOffset(2025, 1, 8, 0, 0, 0, TimeSpan.Zero),
        SignedService = "b",
        SignedVersion = "2025-11-05",
        Value = Convert.ToBase64String(Encoding.ASCII.GetBytes("0123456789abcdef0123456789abcdef")),
    };

    [Fact]
    public void Service_sas_string_to_sign_lists_the_sixteen_fields_in_the_documented_order()
    {
        var builder = new BlobSasBuilder(BlobSasPermissions.Write | BlobSasPermissions.Read, Start, Expiry,
            "devstoreaccount1", "reports", "2024/credit report.csv", "2025-11-05");

        var expected =
            "rw\n" +                                                    // sp
            "2025-01-01T00:00:00Z\n" +                                  // st
            "2025-01-02T12:30:00Z\n" +                                  // se, in UTC
            "/blob/devstoreaccount1/reports/2024/credit report.csv\n" + // canonicalized resource, unescaped
            "\n" +                                                      // si
            "\n" +                                                      // sip
            "\n" +                                                      // spr
            "2025-11-05\n" +                                            // sv
            "b\n" +                                                     // sr
            "\n" +                                                      // snapshot time
            "\n" +                                                      // ses
            "\n" +                                                      // rscc
            "\n" +                                                      // rscd
            "\n" +                                                      // rsce
            "\n" +                                                      // rscl
            "";                                                         // rsct
        Assert.Equal(expected, builder.ServiceStringToSign());
    }

    [Fact]
    public void Service_sas_signature_is_hmac_sha256_of_the_string_to_sign_under_the_account_key()
    {
        // Expected values computed independently: python3 hmac.new(base64.b64decode(key), string_to_sign, sha256).
        var withStart = new BlobSasBuilder(BlobSasPermissions.Read | BlobSasPermissions.Write, Start, Expiry,
            "devstoreaccount1", "reports", "2024/credit report.csv", "2025-11-05");
        var withoutStart = withStart with { Permissions = BlobSasPermissions.Read, StartsOn = null };

        var query = Parse(withStart.ToServiceSasQuery(DevKey));
        var queryWithoutStart = Parse(withoutStart.ToServiceSasQuery(DevKey));

        Assert.Equal("P6ds0aPHELQ6Tw5jubyYIGzShFhApIlyM8gBk++4W3w=", query["sig"]);
        Assert.Equal("2S3juKjHWCnAbt0qJerLAJWxHjmTe+U9kebQrw1KuvI=", queryWithoutStart["sig"]);
        Assert.Equal("2025-11-05", query["sv"]);
        Assert.Equal("2025-01-01T00:00:00Z", query["st"]);
        Assert.Equal("2025-01-02T12:30:00Z", query["se"]);
        Assert.Equal("b", query["sr"]);
        Assert.Equal("rw", query["sp"]);
        Assert.False(queryWithoutStart.ContainsKey("st"));
    }

    [Fact]
    public void Generated_sas_uri_is_the_blob_uri_with_the_signed_query()
    {
        var service = new BlobServiceClient(new Uri("http://127.0.0.1:10000/devstoreaccount1"), DevKey);
        var blob = service.GetBlobContainerClient("reports").GetBlobClient("2024/credit report.csv");

        var sas = blob.GenerateSasUri(BlobSasPermissions.Read, Expiry);

        Assert.True(blob.CanGenerateSasUri);
        Assert.Equal("http://127.0.0.1:10000/devstoreaccount1/reports/2024/credit%20report.csv", sas.GetLeftPart(UriPartial.Path));
        Assert.Equal("2S3juKjHWCnAbt0qJerLAJWxHjmTe+U9kebQrw1KuvI=", Parse(sas.Query)["sig"]);
        Assert.Contains("sig=2S3juKjHWCnAbt0qJerLAJWxHjmTe%2BU9kebQrw1KuvI%3D", sas.AbsoluteUri, StringComparison.Ordinal);
    }

    [Fact]
    public void Permission_letters_follow_the_service_order_and_none_is_refused()
    {
        string Letters(BlobSasPermissions p) =>
            new BlobSasBuilder(p, null, Expiry, "a", "c", "b", "2025-11-05").PermissionsString;

        Assert.Equal("rcwd", Letters(BlobSasPermissions.Delete | BlobSasPermissions.Write | BlobSasPermissions.Create | BlobSasPermissions.Read));
        Assert.Equal("cw", Letters(BlobSasPermissions.Write | BlobSasPermissions.Create));
        Assert.Throws<ArgumentOutOfRangeException>(() => Letters(BlobSasPermissions.None));
    }

    [Fact]
    public void User_delegation_sas_string_to_sign_lists_the_key_fields_and_the_2025_07_05_fields_in_order()
    {
        var builder = new BlobSasBuilder(BlobSasPermissions.Read | BlobSasPermissions.Create | BlobSasPermissions.Write | BlobSasPermissions.Delete,
            null, Expiry, "credits", "reports", "2024/credit report.csv", "2025-11-05");

        var expected =
            "rcwd\n" +                                          // sp
            "\n" +                                              // st
            "2025-01-02T12:30:00Z\n" +                          // se
            "/blob/credits/reports/2024/credit report.csv\n" +  // canonicalized resource
            "11111111-2222-3333-4444-555555555555\n" +          // skoid
            "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee\n" +          // sktid
            "2025-01-01T00:00:00Z\n" +                          // skt
            "2025-01-08T00:00:00Z\n" +                          // ske
            "b\n" +                                             // sks
            "2025-11-05\n" +                                    // skv
            "\n" +                                              // saoid
            "\n" +                                              // suoid
            "\n" +                                              // scid
            "\n" +                                              // skdutid
            "\n" +                                              // sduoid
            "\n" +                                              // sip
            "\n" +                                              // spr
            "2025-11-05\n" +                                    // sv
            "b\n" +                                             // sr
            "\n" +                                              // snapshot time
            "\n" +                                              // ses
            "\n" +                                              // rscc
            "\n" +                                              // rscd
            "\n" +                                              // rsce
            "\n" +                                              // rscl
            "";                                                 // rsct
        Assert.Equal(expected, builder.UserDelegationStringToSign(Key));
    }

    [Fact]
    public void User_delegation_sas_is_signed_with_the_delegation_key_and_carries_its_fields()
    {
        var service = new BlobServiceClient(new Uri("https://credits.blob.core.windows.net"), new FixedTokenCredential());
        var blob = service.GetBlobContainerClient("reports").GetBlobClient("2024/credit report.csv");

        var sas = blob.GenerateUserDelegationSasUri(
            BlobSasPermissions.Read | BlobSasPermissions.Create | BlobSasPermissions.Write | BlobSasPermissions.Delete, Expiry, Key);
        var query = Parse(sas.Query);

        // Expected signature computed independently with python3 hmac over the string in the test above.
        Assert.Equal("M0Uv22J+OK4tP0mPwqLCQ2Wm+AVUCk+Q6tgSjAL5JO4=", query["sig"]);
        Assert.Equal("https://credits.blob.core.windows.net/reports/2024/credit%20report.csv", sas.GetLeftPart(UriPartial.Path));
        Assert.Equal("11111111-2222-3333-4444-555555555555", query["skoid"]);
        Assert.Equal("aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", query["sktid"]);
        Assert.Equal("2025-01-01T00:00:00Z", query["skt"]);
        Assert.Equal("2025-01-08T00:00:00Z", query["ske"]);
        Assert.Equal("b", query["sks"]);
        Assert.Equal("2025-11-05", query["skv"]);
        Assert.Equal("rcwd", query["sp"]);
        Assert.False(blob.CanGenerateSasUri);
        Assert.Throws<InvalidOperationException>(() => blob.GenerateSasUri(BlobSasPermissions.Read, Expiry));
        Assert.Throws<ArgumentOutOfRangeException>(() => blob.GenerateUserDelegationSasUri(BlobSasPermissions.Read, Key.SignedExpiresOn.AddDays(1), Key));
    }

    [Fact]
    public async Task User_delegation_key_is_requested_with_a_bearer_token_and_parsed_from_the_response()
    {
        var handler = new RecordingHandler(HttpStatusCode.OK,
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><UserDelegationKey>" +
            "<SignedOid>11111111-2222-3333-4444-555555555555</SignedOid><SignedTid>aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee</SignedTid>" +
            "<SignedStart>2025-01-01T00:00:00Z</SignedStart><SignedExpiry>2025-01-08T00:00:00Z</SignedExpiry>" +
            "<SignedService>b</SignedService><SignedVersion>2025-11-05</SignedVersion>" +
            "<Value>MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=</Value></UserDelegationKey>");
        var options = new StorageClientOptions { Transport = new HttpClientTransport(new HttpClient(handler)) };
        var service = new BlobServiceClient(new Uri("https://credits.blob.core.windows.net/"), new FixedTokenCredential(), options);

        var key = (await service.GetUserDelegationKeyAsync(Start, Key.SignedExpiresOn, Ct)).Value;

        Assert.Equal(HttpMethod.Post, handler.Method);
        Assert.Equal("https://credits.blob.core.windows.net/?restype=service&comp=userdelegationkey", handler.Uri!.AbsoluteUri);
        Assert.Equal("Bearer test-token", handler.Authorization);
        Assert.Equal("2025-11-05", handler.Version);
        Assert.Equal("<?xml version=\"1.0\" encoding=\"utf-8\"?><KeyInfo><Start>2025-01-01T00:00:00Z</Start><Expiry>2025-01-08T00:00:00Z</Expiry></KeyInfo>",
            handler.Body);
        Assert.Equal(Key.SignedObjectId, key.SignedObjectId);
        Assert.Equal(Key.SignedTenantId, key.SignedTenantId);
        Assert.Equal(Key.SignedStartsOn, key.SignedStartsOn);
        Assert.Equal(Key.SignedExpiresOn, key.SignedExpiresOn);
        Assert.Equal("b", key.SignedService);
        Assert.Equal("2025-11-05", key.SignedVersion);
        Assert.Equal(Key.Value, key.Value);
    }

    [Fact]
    public async Task User_delegation_key_needs_a_token_credential()
    {
        var service = new BlobServiceClient(azurite.ConnectionString);

        await Assert.ThrowsAsync<InvalidOperationException>(() => service.GetUserDelegationKeyAsync(null, DateTimeOffset.UtcNow.AddHours(1), Ct));
    }

    [Fact]
    public async Task Read_sas_lets_a_plain_http_client_download_but_not_upload()
    {
        var container = await BlobTestSupport.NewContainerAsync(azurite, "sasread");
        var blob = container.GetBlobClient("shared/report.csv");
        await blob.UploadAsync(BinaryData.FromString("id,amount\n1,10\n"), cancellationToken: Ct);
        var sas = blob.GenerateSasUri(BlobSasPermissions.Read, DateTimeOffset.UtcNow.AddMinutes(10));
        using var http = new HttpClient();

        var body = await http.GetStringAsync(sas, Ct);
        using var put = await http.SendAsync(PutBlob(sas, "overwritten"), Ct);

        Assert.Equal("id,amount\n1,10\n", body);
        Assert.Equal(HttpStatusCode.Forbidden, put.StatusCode);
    }

    [Fact]
    public async Task Write_sas_lets_a_plain_http_client_upload()
    {
        var container = await BlobTestSupport.NewContainerAsync(azurite, "saswrite");
        var blob = container.GetBlobClient("inbox/upload.json");
        var sas = blob.GenerateSasUri(BlobSasPermissions.Write | BlobSasPermissions.Create, DateTimeOffset.UtcNow.AddMinutes(10));
        using var http = new HttpClient();

        using var put = await http.SendAsync(PutBlob(sas, "{\"ok\":true}"), Ct);

        Assert.Equal(HttpStatusCode.Created, put.StatusCode);
        Assert.Equal("{\"ok\":true}", (await blob.DownloadContentAsync(cancellationToken: Ct)).Value.Content.ToString());
    }

    [Fact]
    public async Task Expired_sas_is_refused_with_403()
    {
        var container = await BlobTestSupport.NewContainerAsync(azurite, "sasexpired");
        var blob = container.GetBlobClient("old.txt");
        await blob.UploadAsync(BinaryData.FromString("x"), cancellationToken: Ct);
        var expired = blob.GenerateSasUri(BlobSasPermissions.Read, DateTimeOffset.UtcNow.AddMinutes(-1));
        using var http = new HttpClient();

        using var response = await http.GetAsync(expired, Ct);

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
    }

    [Fact]
    public async Task Sas_for_one_blob_is_refused_with_403_for_another_blob()
    {
        var container = await BlobTestSupport.NewContainerAsync(azurite, "sasother");
        var granted = container.GetBlobClient("granted.txt");
        var other = container.GetBlobClient("other.txt");
        await granted.UploadAsync(BinaryData.FromString("yes"), cancellationToken: Ct);
        await other.UploadAsync(BinaryData.FromString("no"), cancellationToken: Ct);
        var sas = granted.GenerateSasUri(BlobSasPermissions.Read, DateTimeOffset.UtcNow.AddMinutes(10));
        using var http = new HttpClient();

        using var forGranted = await http.GetAsync(sas, Ct);
        using var forOther = await http.GetAsync(new Uri(other.Uri.AbsoluteUri + sas.Query), Ct);

        Assert.Equal(HttpStatusCode.OK, forGranted.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, forOther.StatusCode);
    }

    private static HttpRequestMessage PutBlob(Uri sas, string content)
    {
        var request = new HttpRequestMessage(HttpMethod.Put, sas) { Content = new StringContent(content) };
        request.Headers.Add("x-ms-blob-type", "BlockBlob");
        return request;
    }

    private static Dictionary<string, string> Parse(string query) =>
        query.TrimStart('?').Split('&').Select(p => p.Split('=', 2))
            .ToDictionary(p => p[0], p => Uri.UnescapeDataString(p[1]));

    private sealed class FixedTokenCredential : TokenCredential
    {
        public override AccessToken GetToken(TokenRequestContext requestContext, CancellationToken cancellationToken) =>
            new("test-token", DateTimeOffset.UtcNow.AddHours(1));

        public override ValueTask<AccessToken> GetTokenAsync(TokenRequestContext requestContext, CancellationToken cancellationToken) =>
            ValueTask.FromResult(GetToken(requestContext, cancellationToken));
    }

    private sealed class RecordingHandler(HttpStatusCode status, string responseBody) : HttpMessageHandler
    {
        public HttpMethod? Method { get; private set; }

        public Uri? Uri { get; private set; }

        public string? Authorization { get; private set; }

        public string? Version { get; private set; }

        public string? Body { get; private set; }

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Method = request.Method;
            Uri = request.RequestUri;
            Authorization = request.Headers.Authorization?.ToString();
            Version = request.Headers.TryGetValues("x-ms-version", out var v) ? v.Single() : null;
            Body = request.Content is null ? null : await request.Content.ReadAsStringAsync(cancellationToken);
            return new HttpResponseMessage(status) { Content = new StringContent(responseBody, Encoding.UTF8, "application/xml") };
        }
    }
}
