using System.Net.Http.Json;
using System.Text.Json;
using CreditFunctions.Providers;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging.Abstractions;

namespace CreditFunctions.Tests.Providers;

/// <summary>The sandbox as a local run starts it: a child process, reached over HTTP, that dies with its parent.</summary>
public sealed class SandboxProcessTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Local_run_starts_the_sandbox_as_a_child_process_and_the_providers_reach_it()
    {
        var configuration = new ConfigurationManager();
        var sandbox = await configuration.StartSandboxWhenNeededAsync(isUnderFunctionsHost: false, Ct);
        Assert.NotNull(sandbox);
        await using (sandbox)
        {
            using var admin = new HttpClient { BaseAddress = sandbox.BaseAddress };
            var sample = await admin.GetFromJsonAsync<JsonElement>("_admin/people/sample?knownBy=leadmine&emailStatus=leadmine:valid&take=1", Ct);
            var person = sample.GetProperty("people")[0].GetProperty("person");
            await using var caller = new ProviderCaller(ProviderCatalog.Load(configuration), new ProviderStatistics(), TimeProvider.System,
                NullLogger<ProviderCaller>.Instance);

            var outcome = await caller.LookupAsync("leadmine", ProviderCapabilities.Email, new PersonInput
            {
                FirstName = person.GetProperty("firstName").GetString(),
                LastName = person.GetProperty("lastName").GetString(),
                CompanyDomain = person.GetProperty("companyDomain").GetString(),
            }, cancellationToken: Ct);

            Assert.Equal(person.GetProperty("workEmail").GetString(), Assert.IsType<ProviderHit>(outcome).Data.Email);
            Assert.Equal(sandbox.BaseAddress.GetLeftPart(UriPartial.Authority), configuration[ProviderCatalog.SandboxUrlSetting]);
        }
        Assert.True(sandbox.HasExited);
        Assert.Throws<ArgumentException>(() => System.Diagnostics.Process.GetProcessById(sandbox.ProcessId));
    }

    [Fact]
    public async Task Sandbox_is_not_started_when_its_url_is_configured_or_under_the_Functions_host()
    {
        var configured = new ConfigurationManager();
        configured[ProviderCatalog.SandboxUrlSetting] = "http://127.0.0.1:7099";

        Assert.Null(await configured.StartSandboxWhenNeededAsync(isUnderFunctionsHost: false, Ct));
        Assert.Null(await new ConfigurationManager().StartSandboxWhenNeededAsync(isUnderFunctionsHost: true, Ct));
    }

    [Fact]
    public async Task Sandbox_child_exits_when_its_parent_goes_away()
    {
        await using var sandbox = await SandboxProcess.StartAsync(cancellationToken: Ct);

        // What the death of this process does to the pipe the child watches.
        sandbox.CloseInput();

        await sandbox.WaitForExitAsync(Ct).WaitAsync(TimeSpan.FromSeconds(15), Ct);
        Assert.True(sandbox.HasExited);
    }
}
