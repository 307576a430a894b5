using CreditFunctions;
using CreditFunctions.Auth;
using CreditFunctions.Triggers;

if (OperatorCommands.Handles(args))
{
    return await OperatorCommands.RunAsync(args, Console.Out, Console.Error);
}
if (FunctionsCommand.Handles(args))
{
    return await FunctionsCommand.RunAsync(args, CreditFunctionsApp.DeclaredFunctions(), Console.Out, Console.Error);
}

await using var app = await CreditFunctionsApp.BuildAsync(args);
await app.RunAsync();
return 0;
