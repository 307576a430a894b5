namespace CreditFunctions.AzureStorage.Tests.Core;

public sealed class ConnectionStringTests
{
    [Fact]
    public void Development_storage_means_azurite_on_its_default_ports_with_the_well_known_account()
    {
        var c = StorageConnectionString.Parse("UseDevelopmentStorage=true");
        Assert.Equal("http://127.0.0.1:10000/devstoreaccount1", c.BlobEndpoint.AbsoluteUri);
        Assert.Equal("http://127.0.0.1:10001/devstoreaccount1", c.QueueEndpoint.AbsoluteUri);
        Assert.Equal("http://127.0.0.1:10002/devstoreaccount1", c.TableEndpoint.AbsoluteUri);
        Assert.Equal("devstoreaccount1", c.SharedKey!.AccountName);
    }

    [Fact]
    public void Development_storage_proxy_changes_the_host()
    {
        var c = StorageConnectionString.Parse("UseDevelopmentStorage=true;DevelopmentStorageProxyUri=http://storage.local");
        Assert.Equal("http://storage.local:10002/devstoreaccount1", c.TableEndpoint.AbsoluteUri);
    }

    [Fact]
    public void Account_name_and_key_give_host_style_endpoints_with_the_suffix_and_protocol()
    {
        var c = StorageConnectionString.Parse($"DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={StorageConnectionString.DevelopmentAccountKey};EndpointSuffix=core.chinacloudapi.cn");
        Assert.Equal("https://acct.blob.core.chinacloudapi.cn/", c.BlobEndpoint.AbsoluteUri);
        Assert.Equal("https://acct.queue.core.chinacloudapi.cn/", c.QueueEndpoint.AbsoluteUri);
        Assert.Equal("https://acct.table.core.chinacloudapi.cn/", c.TableEndpoint.AbsoluteUri);
        Assert.Equal("acct", c.AccountName);
        Assert.Equal("acct", StorageConnectionString.AccountNameFromEndpoint(c.BlobEndpoint));
        Assert.False(StorageConnectionString.IsPathStyle(c.BlobEndpoint));
    }

    [Fact]
    public void Explicit_endpoints_override_the_defaults_and_path_style_names_the_account_in_the_path()
    {
        var c = StorageConnectionString.Parse($"AccountName=devstoreaccount1;AccountKey={StorageConnectionString.DevelopmentAccountKey};TableEndpoint=http://127.0.0.1:5555/devstoreaccount1/");
        Assert.Equal("http://127.0.0.1:5555/devstoreaccount1", c.TableEndpoint.AbsoluteUri);
        Assert.Equal("https://devstoreaccount1.blob.core.windows.net/", c.BlobEndpoint.AbsoluteUri);
        Assert.True(StorageConnectionString.IsPathStyle(c.TableEndpoint));
        Assert.Equal("devstoreaccount1", StorageConnectionString.AccountNameFromEndpoint(c.TableEndpoint));
    }

    [Fact]
    public void Endpoints_without_a_key_mean_identity_based_access()
    {
        var c = StorageConnectionString.Parse("BlobEndpoint=https://a.blob.core.windows.net;QueueEndpoint=https://a.queue.core.windows.net;TableEndpoint=https://a.table.core.windows.net");
        Assert.Null(c.SharedKey);
        Assert.Equal("a", c.AccountName);
    }

    [Theory]
    [InlineData("AccountName=a;AccountKey=not base64!", "AccountKey")]
    [InlineData("AccountKey=abcd", "AccountName")]
    [InlineData("DefaultEndpointsProtocol=ftp;AccountName=a", "DefaultEndpointsProtocol")]
    [InlineData("TableEndpoint=not a url;AccountName=a", "TableEndpoint")]
    [InlineData("UseDevelopmentStorage=false", "UseDevelopmentStorage")]
    [InlineData("AccountName=a;AccountName=b", "AccountName")]
    [InlineData("garbage", "Name=Value")]
    [InlineData("DefaultEndpointsProtocol=https", "AccountName")]
    public void A_bad_connection_string_is_rejected_naming_the_setting(string connectionString, string named)
    {
        var ex = Assert.Throws<FormatException>(() => StorageConnectionString.Parse(connectionString));
        Assert.Contains(named, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_account_key_never_appears_in_text()
    {
        var c = StorageConnectionString.Parse("UseDevelopmentStorage=true");
        Assert.DoesNotContain(StorageConnectionString.DevelopmentAccountKey, c.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain(StorageConnectionString.DevelopmentAccountKey, c.SharedKey!.ToString(), StringComparison.Ordinal);
        var ex = Assert.Throws<FormatException>(() => StorageConnectionString.Parse("AccountName=a;AccountKey=secret-not-base64"));
        Assert.DoesNotContain("secret-not-base64", ex.Message, StringComparison.Ordinal);
    }
}
