using CreditFunctions.TestSupport;

[assembly: AssemblyFixture(typeof(AzuriteFixture))]
