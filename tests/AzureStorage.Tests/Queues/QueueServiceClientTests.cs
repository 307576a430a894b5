using Azure.Core;
using CreditFunctions.AzureStorage.Queues;
using CreditFunctions.TestSupport;
using static CreditFunctions.AzureStorage.Tests.Queues.QueueTestSupport;

namespace CreditFunctions.AzureStorage.Tests.Queues;

public sealed class QueueServiceClientTests(AzuriteFixture azurite)
{
    [Fact]
    public async Task Queue_clients_from_a_shared_key_service_client_work_against_the_service()
    {
        var service = new QueueServiceClient(azurite.Connection.QueueEndpoint, azurite.Connection.SharedKey!);
        var name = AzuriteFixture.NewName("svc");

        var queue = service.GetQueueClient(name);
        await queue.CreateIfNotExistsAsync(cancellationToken: Ct);
        await queue.SendMessageAsync("via service", cancellationToken: Ct);

        Assert.Equal(StorageConnectionString.DevelopmentAccountName, service.AccountName);
        Assert.Equal(name, queue.Name);
        Assert.Equal(new Uri(service.Uri + "/" + name), queue.Uri);
        Assert.Equal("via service", (await service.GetQueueClient(name).ReceiveMessageAsync(Ct)).Value!.MessageText);
    }

    [Fact]
    public async Task Queue_clients_inherit_the_service_client_message_encoding()
    {
        var plain = new QueueServiceClient(azurite.ConnectionString, new QueueClientOptions { MessageEncoding = QueueMessageEncoding.None });
        var encoded = new QueueServiceClient(azurite.ConnectionString);
        var name = AzuriteFixture.NewName("svc");
        await encoded.GetQueueClient(name).CreateIfNotExistsAsync(cancellationToken: Ct);

        await encoded.GetQueueClient(name).SendMessageAsync("hello", cancellationToken: Ct);

        Assert.Equal(QueueMessageEncoding.Base64, encoded.GetQueueClient(name).MessageEncoding);
        Assert.Equal(QueueMessageEncoding.None, plain.GetQueueClient(name).MessageEncoding);
        Assert.Equal("aGVsbG8=", (await plain.GetQueueClient(name).ReceiveMessageAsync(Ct)).Value!.MessageText);
    }

    [Fact]
    public void A_token_credential_client_derives_account_and_queue_urls_without_sending()
    {
        var service = new QueueServiceClient(new Uri("https://creditacct.queue.core.windows.net/"), new NoToken());

        var queue = service.GetQueueClient("loan-events");

        Assert.Equal("creditacct", service.AccountName);
        Assert.Equal(new Uri("https://creditacct.queue.core.windows.net/loan-events"), queue.Uri);
        Assert.Equal("creditacct", queue.AccountName);
    }

    [Theory]
    [InlineData("ab")]
    [InlineData("Upper")]
    [InlineData("-leading")]
    [InlineData("trailing-")]
    [InlineData("double--hyphen")]
    [InlineData("under_score")]
    [InlineData("a234567890123456789012345678901234567890123456789012345678901234")]
    public void Invalid_queue_names_are_rejected_before_sending(string name)
    {
        var service = new QueueServiceClient(azurite.ConnectionString);

        Assert.Equal("queueName", Assert.Throws<ArgumentException>(() => service.GetQueueClient(name)).ParamName);
        Assert.Equal("queueName", Assert.Throws<ArgumentException>(() => new QueueClient(azurite.ConnectionString, name)).ParamName);
    }

    [Fact]
    public void A_connection_string_without_a_key_needs_a_token_credential()
    {
        const string keyless = "QueueEndpoint=https://creditacct.queue.core.windows.net;BlobEndpoint=https://creditacct.blob.core.windows.net;TableEndpoint=https://creditacct.table.core.windows.net";

        var error = Assert.Throws<ArgumentException>(() => new QueueServiceClient(keyless));

        Assert.Contains("TokenCredential", error.Message, StringComparison.Ordinal);
    }

    private sealed class NoToken : TokenCredential
    {
        public override AccessToken GetToken(TokenRequestContext requestContext, CancellationToken cancellationToken) =>
            throw new InvalidOperationException("No request is expected.");

        public override ValueTask<AccessToken> GetTokenAsync(TokenRequestContext requestContext, CancellationToken cancellationToken) =>
            throw new InvalidOperationException("No request is expected.");
    }
}
