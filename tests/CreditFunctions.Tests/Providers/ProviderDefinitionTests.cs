using CreditFunctions.Providers;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using SandboxProviders;

namespace CreditFunctions.Tests.Providers;

/// <summary>Provider definitions as data: loading, validation with clear errors, and the person input's rules.</summary>
public sealed class ProviderDefinitionTests
{
    private static IConfiguration Settings(params (string Name, string Value)[] values) =>
        new ConfigurationBuilder().AddInMemoryCollection(values.Select(v => KeyValuePair.Create(v.Name, (string?)v.Value))).Build();

    private static readonly IConfiguration SandboxSettings = Settings(
        [(ProviderCatalog.SandboxUrlSetting, "http://127.0.0.1:7099"), .. SandboxProcess.DefaultKeySettings.Select(k => (k.Key, k.Value))]);

    private const string Valid = """
        {
          "name": "acme",
          "baseUrl": "https://api.acme.example",
          "auth": { "kind": "header", "headerName": "X-Key", "keySetting": "ACME_KEY" },
          "endpoints": {
            "email": {
              "path": "/v1/find",
              "query": { "first": "{first_name}", "domain": "{company_domain}" },
              "response": { "email": "data.email" },
              "notFound": { "nullPath": "data" }
            }
          }
        }
        """;

    private static string Document(params string[] providers) => $$"""{ "providers": [ {{string.Join(",", providers)}} ] }""";

    [Fact]
    public void Embedded_definitions_point_at_the_sandbox_vendors()
    {
        var catalog = ProviderCatalog.Load(SandboxSettings);

        Assert.Equal(["leadmine", "mailscout", "dialbase", "verifly", "sagewise", "ipscope", "jobpulse"], catalog.Definitions.Select(d => d.Name));
        Assert.Equal(["leadmine", "mailscout"], catalog.WithCapability(ProviderCapabilities.Email).Select(d => d.Name));
        Assert.Equal(["dialbase"], catalog.WithCapability(ProviderCapabilities.Mobile).Select(d => d.Name));
        Assert.Equal(["dialbase", "jobpulse"], catalog.WithCapability(ProviderCapabilities.Job).Select(d => d.Name));
        Assert.Equal(["verifly"], catalog.WithCapability(ProviderCapabilities.EmailVerification).Select(d => d.Name));
        Assert.Equal(["sagewise"], catalog.WithCapability(ProviderCapabilities.Research).Select(d => d.Name));
        Assert.Equal(["ipscope"], catalog.WithCapability(ProviderCapabilities.ReverseIp).Select(d => d.Name));
        Assert.All(catalog.Definitions, d => Assert.True(catalog.HasDefaultKey(d.Name)));
        Assert.All(catalog.Definitions, d => Assert.All(d.Endpoints.Values, e => Assert.True(e.CostPerCall > 0)));
    }

    [Fact]
    public async Task AddProviders_registers_the_caller_over_the_configured_definitions()
    {
        var services = new ServiceCollection().AddLogging().AddProviders(SandboxSettings);
        await using var provider = services.BuildServiceProvider();

        var caller = provider.GetRequiredService<ProviderCaller>();

        Assert.Same(provider.GetRequiredService<ProviderCatalog>(), caller.Catalog);
        Assert.Same(provider.GetRequiredService<ProviderStatistics>(), caller.Statistics);
        Assert.Equal(7, caller.Catalog.Definitions.Count);
    }

    [Fact]
    public void Sandbox_default_keys_are_the_keys_the_sandbox_vendors_demand()
    {
        var catalog = ProviderCatalog.Load(SandboxSettings);

        foreach (var definition in catalog.Definitions)
        {
            var demanded = SandboxConfig.Default.Vendors[definition.Name].ApiKey!;
            var key = SandboxProcess.DefaultKeySettings[definition.Auth!.KeySetting!];
            var sent = definition.Auth.Kind == ProviderAuthKind.Bearer ? ("Authorization", $"Bearer {key}") : (definition.Auth.HeaderName, key);
            Assert.Equal((demanded.Header, demanded.Value), sent);
        }
    }

    [Fact]
    public void Providers_file_setting_replaces_the_embedded_definitions()
    {
        var path = Path.Combine(Path.GetTempPath(), $"providers-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, Document(Valid));
        try
        {
            var catalog = ProviderCatalog.Load(Settings((ProviderCatalog.FileSetting, path)));

            var acme = Assert.Single(catalog.Definitions);
            Assert.Equal("acme", acme.Name);
            Assert.False(catalog.HasDefaultKey("acme"));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Theory]
    [InlineData("\"endpoints\": {", "\"endpoints\": { \"fax\": { \"path\": \"/fax\", \"response\": {} },",
        "provider 'acme': endpoints.fax.capability: 'fax' is not one of email, mobile, email_verification, job, reverse_ip")]
    [InlineData("\"path\": \"/v1/find\"", "\"path\": \"v1/find\"", "provider 'acme': endpoints.email.path: must start with '/'")]
    [InlineData("{first_name}", "{middle_name}", "provider 'acme': endpoints.email.query.first: unknown field '{middle_name}'")]
    [InlineData("{first_name}", "{first_name", "provider 'acme': endpoints.email.query.first: unbalanced")]
    [InlineData("\"email\": \"data.email\"", "\"phone\": \"data.phone\"", "provider 'acme': endpoints.email.response.email: is required for capability 'email'")]
    [InlineData("\"email\": \"data.email\"", "\"email\": \"data..email\"", "provider 'acme': endpoints.email.response.email: 'data..email' is not a JSON path")]
    [InlineData("\"nullPath\": \"data\"", "\"equalsPath\": \"status\"", "provider 'acme': endpoints.email.notFound: equalsPath and equalsValue go together")]
    [InlineData("\"path\": \"/v1/find\",", "\"path\": \"/v1/find\", \"method\": \"PATCH\",", "provider 'acme': endpoints.email.method: 'PATCH' is not one of GET, POST, PUT")]
    [InlineData("\"name\": \"acme\",", "\"name\": \"acme\", \"retry\": { \"maxRetryAttempts\": 50 },", "provider 'acme': retry.maxRetryAttempts: 50 is outside 0..10")]
    [InlineData("\"name\": \"acme\",", "\"name\": \"acme\", \"circuitBreaker\": { \"minimumThroughput\": 1 },", "provider 'acme': circuitBreaker.minimumThroughput: 1 is outside 2..100000")]
    [InlineData("\"name\": \"acme\",", "\"name\": \"acme\", \"attemptTimeoutSeconds\": 20, \"totalTimeoutSeconds\": 10,", "provider 'acme': totalTimeoutSeconds: must not be shorter than attemptTimeoutSeconds")]
    [InlineData("\"name\": \"acme\",", "\"name\": \"acme\", \"retyr\": {},", "provider 'acme': The JSON property 'retyr' could not be mapped")]
    [InlineData("\"name\": \"acme\",", "\"name\": \"acme\", \"auth2\": 1,", "provider 'acme': The JSON property 'auth2'")]
    [InlineData("\"kind\": \"header\"", "\"kind\": \"basic\"", "provider 'acme': The JSON value could not be converted to CreditFunctions.Providers.ProviderAuthKind. Path: $.auth.kind")]
    [InlineData("\"baseUrl\": \"https://api.acme.example\"", "\"baseUrlSetting\": \"ACME_URL\"", "provider 'acme': baseUrlSetting: the setting 'ACME_URL' is not set")]
    [InlineData("\"baseUrl\": \"https://api.acme.example\"", "\"baseUrl\": \"ftp://acme.example\"", "provider 'acme': baseUrl: 'ftp://acme.example' is not an absolute http or https URL")]
    [InlineData("\"name\": \"acme\"", "\"name\": \"Acme Corp\"", "provider 'Acme Corp': name: 1-40 lower-case letters, digits, '-' or '_'")]
    public void Invalid_definition_is_rejected_naming_provider_field_and_reason(string replace, string with, string expected)
    {
        var json = Document(Valid.Replace(replace, with, StringComparison.Ordinal));

        var error = Assert.Throws<ProviderDefinitionException>(() => ProviderCatalog.Parse(json, Settings()));

        Assert.Contains(error.Errors, e => e.StartsWith(expected, StringComparison.Ordinal));
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Verification_endpoint_needs_a_status_map_of_known_verdicts()
    {
        var json = Document("""
            {
              "name": "checker",
              "baseUrl": "https://checker.example",
              "endpoints": {
                "email_verification": {
                  "method": "POST", "path": "/check", "body": { "address": "{email}" },
                  "response": { "verificationStatus": "result", "statusMap": { "ok": "yes" } }
                }
              }
            }
            """);

        var error = Assert.Throws<ProviderDefinitionException>(() => ProviderCatalog.Parse(json, Settings()));

        Assert.Equal(["provider 'checker': endpoints.email_verification.response.statusMap.ok: 'yes' is not one of valid, catch_all, invalid, unknown"], error.Errors);
    }

    [Fact]
    public void Every_problem_is_reported_at_once()
    {
        var broken = Valid.Replace("\"path\": \"/v1/find\"", "\"path\": \"v1\"", StringComparison.Ordinal)
            .Replace("\"email\": \"data.email\"", "\"email\": \"data..email\"", StringComparison.Ordinal);
        var json = Document(broken, Valid, Valid.Replace("acme", "other", StringComparison.Ordinal).Replace("{first_name}", "{nickname}", StringComparison.Ordinal));

        var error = Assert.Throws<ProviderDefinitionException>(() => ProviderCatalog.Parse(json, Settings()));

        Assert.Contains("provider 'acme': defined 2 times", error.Errors);
        Assert.Contains("provider 'acme': endpoints.email.path: must start with '/'", error.Errors);
        Assert.Contains(error.Errors, e => e.StartsWith("provider 'acme': endpoints.email.response.email:", StringComparison.Ordinal));
        Assert.Contains(error.Errors, e => e.StartsWith("provider 'other': endpoints.email.query.first: unknown field '{nickname}'", StringComparison.Ordinal));
    }

    [Fact]
    public void Document_without_a_providers_array_is_rejected()
    {
        Assert.Throws<ProviderDefinitionException>(() => ProviderCatalog.Parse("""{ "vendors": [] }""", Settings()));
        Assert.Throws<ProviderDefinitionException>(() => ProviderCatalog.Parse("not json", Settings()));
    }

    [Fact]
    public void Person_input_validation_names_each_malformed_field()
    {
        var person = new PersonInput
        {
            CompanyDomain = "not a domain",
            LinkedInUrl = "https://example.com/in/ada",
            Email = "ada@",
            IpAddress = "999.1.1.1",
            FirstName = new string('a', 300),
        };

        var errors = person.Validate();

        Assert.Equal(["companyDomain", "email", "firstName", "ipAddress", "linkedInUrl"], errors.Keys.Order(StringComparer.Ordinal));
        Assert.Contains("person", new PersonInput().Validate().Keys);
        Assert.Empty(new PersonInput
        {
            FirstName = "Ada",
            CompanyDomain = "https://www.Example.co.uk/about",
            LinkedInUrl = "https://www.linkedin.com/in/ada",
            Email = "Ada@Example.com",
            IpAddress = "2001:db8::1",
        }.Validate());
    }

    [Fact]
    public void Person_input_is_normalized_for_sending()
    {
        var person = new PersonInput { FirstName = " Ada ", LastName = "Lovelace", CompanyDomain = "https://www.Example.com/about", Email = " Ada@Example.COM", CompanyName = " " }
            .Normalize();

        Assert.Equal(new PersonInput { FirstName = "Ada", LastName = "Lovelace", FullName = "Ada Lovelace", CompanyDomain = "example.com", Email = "ada@example.com" }, person);
    }

    [Fact]
    public void Personal_data_and_keys_stay_out_of_text_representations()
    {
        var person = new PersonInput { FirstName = "Ada", Email = "ada@example.com" };
        var data = new ProviderData("ada@example.com", "+15550100", null, null, null);
        var key = new ProviderApiKey("acme", "secret-key-value");

        Assert.DoesNotContain("Ada", person.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("ada@", data.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("secret", key.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("ada@", new ProviderHit(new ProviderProvenance("p", "email", DateTimeOffset.UnixEpoch, TimeSpan.Zero, 1), data, null).ToString(),
            StringComparison.Ordinal);
    }
}
