using CreditFunctions;
using CreditFunctions.Auth;

if (OperatorCommands.Handles(args))
{
    return await OperatorCommands.RunAsync(args, Console.Out, Console.Error);
}

await using var app = await CreditFunctionsApp.BuildAsync(args);
await app.RunAsync();
return 0;
