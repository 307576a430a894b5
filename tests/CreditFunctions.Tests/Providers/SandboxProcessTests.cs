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
        var sandbox = await SandboxProcess.StartAsync(cancellationToken: Ct);
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(sandbox.AppSettings).Build();
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
    public async Task Sandbox_child_exits_when_its_parent_goes_away()
    {
        await using var sandbox = await SandboxProcess.StartAsync(cancellationToken: Ct);

        // What the death of this process does to the pipe the child watches.
        sandbox.CloseInput();

        await sandbox.WaitForExitAsync(Ct).WaitAsync(TimeSpan.FromSeconds(15), Ct);
        Assert.True(sandbox.HasExited);
    }
}
