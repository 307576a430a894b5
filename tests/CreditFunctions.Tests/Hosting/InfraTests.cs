using System.Diagnostics;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using CreditFunctions.Hosting;

namespace CreditFunctions.Tests.Hosting;

/// <summary><c>infra/main.bicep</c> compiled and linted by the Bicep CLI pinned in Directory.Packages.props, and the
/// rules of its ARM template that keep the app on identity-based access. Nothing is deployed: what Azure does with the
/// template is not tested here.</summary>
public sealed partial class InfraTests(CompiledInfrastructure infra) : IClassFixture<CompiledInfrastructure>
{
    // Built-in role definitions, by the name the Azure documentation gives them.
    private const string StorageBlobDataOwner = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b";
    private const string StorageQueueDataContributor = "974c5e8b-45b9-4653-ba55-5f855dd0fb88";
    private const string StorageTableDataContributor = "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3";
    private const string MonitoringMetricsPublisher = "3913510d-42f4-4e42-8a64-420c390055eb";
    private const string KeyVaultSecretsUser = "4633458b-17de-408a-b874-0445c86b69e6";

    private const string IdentityType = "Microsoft.ManagedIdentity/userAssignedIdentities";

    [Fact]
    public void The_infrastructure_compiles_and_lints_without_a_warning()
    {
        CompiledInfrastructure.RequireCompiler();

        Assert.True(infra.Build.Exit == 0, "bicep build failed:\n" + infra.Build.Errors);
        Assert.True(infra.Build.Diagnostics.Count == 0, "bicep build reported:\n" + string.Join('\n', infra.Build.Diagnostics));
        Assert.True(infra.Lint.Exit == 0, "bicep lint failed:\n" + infra.Lint.Errors);
        Assert.True(infra.Lint.Diagnostics.Count == 0, "bicep lint reported:\n" + string.Join('\n', infra.Lint.Diagnostics));
    }

    [Fact]
    public void The_app_runs_the_dotnet_isolated_worker_on_Flex_Consumption_and_fetches_its_package_by_identity()
    {
        var template = infra.Template();
        var app = Single(template, "Microsoft.Web/sites");
        var plan = Single(template, "Microsoft.Web/serverfarms");
        var config = app["properties"]!["functionAppConfig"]!;

        Assert.Equal("functionapp,linux", (string?)app["kind"]);
        Assert.Equal("FlexConsumption", (string?)plan["sku"]!["tier"]);
        Assert.Equal("FC1", (string?)plan["sku"]!["name"]);
        Assert.Equal("dotnet-isolated", (string?)config["runtime"]!["name"]);
        Assert.Equal("10.0", (string?)config["runtime"]!["version"]);
        Assert.Equal("[parameters('maximumInstanceCount')]", (string?)config["scaleAndConcurrency"]!["maximumInstanceCount"]);
        Assert.Equal("[parameters('instanceMemoryMB')]", (string?)config["scaleAndConcurrency"]!["instanceMemoryMB"]);

        var storage = config["deployment"]!["storage"]!;
        Assert.Equal("blobContainer", (string?)storage["type"]);
        Assert.Equal("UserAssignedIdentity", (string?)storage["authentication"]!["type"]);
        Assert.Equal(AppIdentity(app), ResourceIdOf(IdentityType, (string)storage["authentication"]!["userAssignedIdentityResourceId"]!));
        Assert.Null(storage["authentication"]!["storageAccountConnectionStringName"]);
        // The package container is the account's, and the template creates it.
        Assert.Matches(
            @"^\[format\('\{0\}\{1\}', reference\(resourceId\('Microsoft\.Storage/storageAccounts', variables\('storageName'\)\), '[0-9a-z-]+'\)\.primaryEndpoints\.blob, variables\('deploymentContainerName'\)\)\]$",
            (string)storage["value"]!);
        var containers = template["resources"]!.AsArray().Where(r => (string?)r!["type"] == "Microsoft.Storage/storageAccounts/blobServices/containers").ToList();
        Assert.Single(containers, c => ((string)c!["name"]!).EndsWith("variables('deploymentContainerName'))]", StringComparison.Ordinal));
        // The CSV jobs' containers are created by the template too (one copy loop).
        Assert.Single(containers, c => c!["copy"] is not null);

        // Flex Consumption refuses the settings it replaces with functionAppConfig.
        var names = AppSettings(app).Keys;
        Assert.DoesNotContain("FUNCTIONS_WORKER_RUNTIME", names);
        Assert.DoesNotContain("FUNCTIONS_EXTENSION_VERSION", names);
        Assert.DoesNotContain("WEBSITE_RUN_FROM_PACKAGE", names);
        Assert.DoesNotContain("WEBSITE_CONTENTAZUREFILECONNECTIONSTRING", names);
    }

    [Fact]
    public void The_infrastructure_compiles_and_gives_the_app_identity_based_storage_only()
    {
        var template = infra.Template();
        var app = Single(template, "Microsoft.Web/sites");
        var account = Single(template, "Microsoft.Storage/storageAccounts")["properties"]!;
        var settings = AppSettings(app);

        Assert.False((bool)account["allowSharedKeyAccess"]!);
        Assert.False((bool)account["allowBlobPublicAccess"]!);
        Assert.Equal("TLS1_2", (string?)account["minimumTlsVersion"]);

        // The host, the Durable task hub (host.json's connectionName) and the app read one identity-based connection.
        Assert.DoesNotContain("AzureWebJobsStorage", settings.Keys);
        Assert.All(settings.Keys.Where(name => name.StartsWith("AzureWebJobsStorage", StringComparison.OrdinalIgnoreCase)), name =>
            Assert.Contains(name, new[] { "AzureWebJobsStorage__accountName", "AzureWebJobsStorage__credential", "AzureWebJobsStorage__clientId" }));
        Assert.Equal("[variables('storageName')]", settings["AzureWebJobsStorage__accountName"]);
        Assert.Equal("managedidentity", settings["AzureWebJobsStorage__credential"]);
        Assert.Equal(AppIdentity(app), IdentityReferencedFor("clientId", settings["AzureWebJobsStorage__clientId"]));

        // No key is read from anything, nor written anywhere.
        var text = template.ToJsonString();
        foreach (var keyed in new[] { "listKeys", "listConnectionStrings", "AccountKey", "DefaultEndpointsProtocol", "SharedAccessSignature" })
        {
            Assert.DoesNotContain(keyed, text, StringComparison.OrdinalIgnoreCase);
        }
    }

    [Fact]
    public void The_app_identity_holds_the_storage_data_roles_of_the_host_and_the_task_hub_and_publishes_telemetry_with_Entra_ID()
    {
        var template = infra.Template();
        var app = Single(template, "Microsoft.Web/sites");
        var identity = AppIdentity(app);
        var granted = RoleAssignments(template, identity);

        var storage = ResourceIdOf("Microsoft.Storage/storageAccounts", (string)Single(template, "Microsoft.Storage/storageAccounts")["name"]!);
        Assert.Contains((StorageBlobDataOwner, storage), granted);
        Assert.Contains((StorageQueueDataContributor, storage), granted);
        Assert.Contains((StorageTableDataContributor, storage), granted);

        var insights = Single(template, "Microsoft.Insights/components");
        Assert.Contains((MonitoringMetricsPublisher, ResourceIdOf("Microsoft.Insights/components", (string)insights["name"]!)), granted);
        Assert.True((bool)insights["properties"]!["DisableLocalAuth"]!);
        var settings = AppSettings(app);
        Assert.Equal(identity, IdentityReferencedFor("clientId", settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"]));
        Assert.StartsWith("[format('ClientId={0};Authorization=AAD'", settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"], StringComparison.Ordinal);
        Assert.Contains("Microsoft.Insights/components", settings["APPLICATIONINSIGHTS_CONNECTION_STRING"], StringComparison.Ordinal);

        // The roles exist before the app starts.
        var dependsOn = app["dependsOn"]!.AsArray().Select(d => (string)d!).ToList();
        Assert.Equal(5, dependsOn.Count(d => d.Contains("'Microsoft.Authorization/roleAssignments'", StringComparison.Ordinal)));
    }

    [Fact]
    public void The_secrets_key_is_a_Key_Vault_reference_the_app_identity_may_resolve()
    {
        var template = infra.Template();
        var app = Single(template, "Microsoft.Web/sites");
        var identity = AppIdentity(app);
        var vault = Single(template, "Microsoft.KeyVault/vaults");

        Assert.Equal(
            "[format('@Microsoft.KeyVault(VaultName={0};SecretName={1})', variables('vaultName'), variables('secretsKeyName'))]",
            AppSettings(app)["CREDITFUNCTIONS_SECRETS_KEY"]);
        Assert.Equal("[variables('vaultName')]", (string?)vault["name"]);
        Assert.True((bool)vault["properties"]!["enableRbacAuthorization"]!);
        Assert.Equal(identity, ResourceIdOf(IdentityType, (string)app["properties"]!["keyVaultReferenceIdentity"]!));
        Assert.Contains((KeyVaultSecretsUser, ResourceIdOf("Microsoft.KeyVault/vaults", "[variables('vaultName')]")), RoleAssignments(template, identity));

        // The secret is written only when a key is given, so a later deployment cannot replace it by accident.
        var secret = Single(template, "Microsoft.KeyVault/vaults/secrets");
        Assert.Equal("[not(empty(parameters('secretsKey')))]", (string?)secret["condition"]);
        Assert.Equal("securestring", (string?)template["parameters"]!["secretsKey"]!["type"]);
        Assert.Equal("", (string?)template["parameters"]!["secretsKey"]!["defaultValue"]);
    }

    private static JsonObject Single(JsonNode template, string type) =>
        Assert.Single(template["resources"]!.AsArray(), r => (string?)r!["type"] == type)!.AsObject();

    private static Dictionary<string, string> AppSettings(JsonNode app) =>
        app["properties"]!["siteConfig"]!["appSettings"]!.AsArray().ToDictionary(s => (string)s!["name"]!, s => (string)s!["value"]!);

    /// <summary>The one user-assigned identity the app carries, as the template's <c>resourceId(...)</c> expression.</summary>
    private static string AppIdentity(JsonNode app)
    {
        Assert.Equal("UserAssigned", (string?)app["identity"]!["type"]);
        var assigned = Assert.Single(app["identity"]!["userAssignedIdentities"]!.AsObject());
        return ResourceIdOf(IdentityType, assigned.Key);
    }

    /// <summary>The identity whose <paramref name="property"/> (principalId, clientId) <paramref name="expression"/> reads.</summary>
    private static string IdentityReferencedFor(string property, string expression)
    {
        var identity = ResourceIdOf(IdentityType, expression);
        Assert.Matches($@"reference\({Regex.Escape(identity)}, '[0-9a-z-]+'\)\.{property}\b", expression);
        return identity;
    }

    /// <summary>Every (role definition id, scope) assigned to <paramref name="identity"/>, with the role ids the template
    /// keeps in variables resolved.</summary>
    private static List<(string Role, string Scope)> RoleAssignments(JsonNode template, string identity)
    {
        var variables = template["variables"]!;
        return template["resources"]!.AsArray()
            .Where(r => (string?)r!["type"] == "Microsoft.Authorization/roleAssignments")
            .Where(r => ResourceIdOf(IdentityType, (string)r!["properties"]!["principalId"]!) == identity)
            .Select(r =>
            {
                var definition = (string)r!["properties"]!["roleDefinitionId"]!;
                IdentityReferencedFor("principalId", (string)r["properties"]!["principalId"]!);
                Assert.Equal("ServicePrincipal", (string?)r["properties"]!["principalType"]);
                var role = VariableMember().Match(definition) is { Success: true } member
                    ? (string)variables[member.Groups[1].Value]![member.Groups[2].Value]!
                    : RoleGuid().Match(definition).Value;
                var scope = (string)r["scope"]!;
                return (role, scope.StartsWith("[resourceId(", StringComparison.Ordinal) ? scope[1..^1] : scope);
            })
            .ToList();
    }

    /// <summary>The first <c>resourceId('type', ...)</c> call in an ARM expression, parentheses balanced; for a plain
    /// resource name (<c>[variables('x')]</c>) the call that names it.</summary>
    private static string ResourceIdOf(string type, string expression)
    {
        var start = expression.IndexOf($"resourceId('{type}', ", StringComparison.Ordinal);
        if (start < 0)
        {
            Assert.StartsWith("[", expression, StringComparison.Ordinal);
            return $"resourceId('{type}', {expression[1..^1]})";
        }
        var depth = 0;
        var quoted = false;
        for (var i = start; i < expression.Length; i++)
        {
            var c = expression[i];
            if (c == '\'')
            {
                quoted = !quoted;
            }
            else if (!quoted && c == '(')
            {
                depth++;
            }
            else if (!quoted && c == ')' && --depth == 0)
            {
                return expression[start..(i + 1)];
            }
        }
        throw new InvalidOperationException("Unbalanced expression: " + expression);
    }

    [GeneratedRegex(@"variables\('(\w+)'\)\.(\w+)")]
    private static partial Regex VariableMember();

    [GeneratedRegex("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")]
    private static partial Regex RoleGuid();
}

/// <summary><c>bicep build infra/main.bicep --stdout</c> and <c>bicep lint infra/main.bicep</c>, run once for the class
/// with the compiler from the NuGet package the test project references.</summary>
public sealed partial class CompiledInfrastructure : IAsyncLifetime
{
    private const string Source = "infra/main.bicep";

    public BicepRun Build { get; private set; } = BicepRun.NotRun;

    public BicepRun Lint { get; private set; } = BicepRun.NotRun;

    /// <summary>The package holds the linux-x64 compiler only: elsewhere the tests are skipped, never passed.</summary>
    public static bool CompilerRunsHere => RuntimeInformation.IsOSPlatform(OSPlatform.Linux) && RuntimeInformation.OSArchitecture == Architecture.X64;

    public async ValueTask InitializeAsync()
    {
        if (!CompilerRunsHere)
        {
            return;
        }
        var root = RepositoryRoot.Find() ?? throw new InvalidOperationException("Run from the repository.");
        var package = typeof(CompiledInfrastructure).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .SingleOrDefault(a => a.Key == "BicepPackageFolder")?.Value;
        if (string.IsNullOrEmpty(package))
        {
            throw new InvalidOperationException("The test project's build did not record the Azure.Bicep.CommandLine.linux-x64 package folder.");
        }
        var bicep = Path.Combine(package, "tools", "bicep");
        if (!File.Exists(bicep))
        {
            throw new InvalidOperationException($"No Bicep compiler at {bicep}: restore the test project.");
        }
        var build = RunAsync(bicep, root, "build", Source, "--stdout");
        var lint = RunAsync(bicep, root, "lint", Source);
        (Build, Lint) = (await build, await lint);
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    public static void RequireCompiler() => Assert.SkipUnless(CompilerRunsHere, "The pinned Bicep compiler package is the linux-x64 one.");

    /// <summary>The compiled ARM template; fails the test when the build did not succeed.</summary>
    public JsonNode Template()
    {
        RequireCompiler();
        Assert.True(Build.Exit == 0, "bicep build failed:\n" + Build.Errors);
        return JsonNode.Parse(Build.Output)!;
    }

    private static async Task<BicepRun> RunAsync(string file, string directory, params string[] args)
    {
        var start = new ProcessStartInfo(file) { WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"bicep {string.Join(' ', args)} did not finish in 2 minutes.");
        }
        var errors = await stderr;
        var diagnostics = errors.Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .Where(line => Diagnostic().IsMatch(line))
            .ToList();
        return new BicepRun(process.ExitCode, await stdout, errors, diagnostics);
    }

    // "path(line,col) : Warning rule-or-code: message"
    [GeneratedRegex(@"\(\d+,\d+\) : (Error|Warning|Info) ")]
    private static partial Regex Diagnostic();
}

/// <summary>One run of the Bicep CLI: exit code, standard output, standard error and the diagnostics found in it.</summary>
public sealed record BicepRun(int Exit, string Output, string Errors, IReadOnlyList<string> Diagnostics)
{
    public static BicepRun NotRun { get; } = new(-1, "", "not run", []);
}
