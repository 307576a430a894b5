using DevHost.SampleApp;
using Microsoft.Azure.Functions.Worker.Builder;
using Microsoft.Extensions.Hosting;

// How the app runs on the real Functions host; the dev host does not run this, it calls SampleServices.Add.
var builder = FunctionsApplication.CreateBuilder(args);
builder.ConfigureFunctionsWebApplication();
SampleServices.Add(builder.Configuration, builder.Services);
builder.Build().Run();
