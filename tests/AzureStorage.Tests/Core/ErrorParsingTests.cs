using System.Net;
using Azure;
using Azure.Core.Pipeline;
using CreditFunctions.AzureStorage.Tables;

namespace CreditFunctions.AzureStorage.Tests.Core;

public sealed class ErrorParsingTests
{
    private static async Task<RequestFailedException> FailWithAsync(RecordingHandler handler)
    {
        var options = new StorageClientOptions { Transport = new HttpClientTransport(new HttpClient(handler)) };
        options.Retry.MaxRetries = 0;
        var table = new TableServiceClient(new Uri("https://acct.table.core.windows.net"),
            new StorageSharedKeyCredential("acct", StorageConnectionString.DevelopmentAccountKey), options).GetTableClient("t123");
        return await Assert.ThrowsAsync<RequestFailedException>(() => table.GetEntityAsync<TableEntity>("p", "r", cancellationToken: TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task Table_json_error_body_gives_the_error_code()
    {
        var ex = await FailWithAsync(new RecordingHandler(HttpStatusCode.Conflict,
            """{"odata.error":{"code":"EntityAlreadyExists","message":{"lang":"en-US","value":"The specified entity already exists."}}}"""));
        Assert.Equal(409, ex.Status);
        Assert.Equal("EntityAlreadyExists", ex.ErrorCode);
    }

    [Fact]
    public async Task Blob_and_queue_xml_error_body_gives_the_error_code()
    {
        var ex = await FailWithAsync(new RecordingHandler(HttpStatusCode.PreconditionFailed,
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>ConditionNotMet</Code><Message>The condition specified was not met.</Message></Error>",
            "application/xml"));
        Assert.Equal(412, ex.Status);
        Assert.Equal("ConditionNotMet", ex.ErrorCode);
    }

    [Fact]
    public async Task The_error_code_header_wins_and_a_body_of_another_shape_does_not_hide_it()
    {
        var handler = new RecordingHandler(HttpStatusCode.Forbidden, "<html>not xml", "text/html");
        handler.ResponseHeaders["x-ms-error-code"] = "AuthorizationFailure";
        var ex = await FailWithAsync(handler);
        Assert.Equal("AuthorizationFailure", ex.ErrorCode);
    }
}
