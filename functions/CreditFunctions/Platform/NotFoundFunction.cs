using CreditFunctions.Api;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;

namespace CreditFunctions.Platform;

/// <summary>
/// Every path under <c>/api/v1</c> that no function serves (or a method a route does not take) answers the documented
/// <c>not-found</c> problem rather than an empty body. Routing prefers every literal route over this catch-all, so it
/// never shadows a function.
/// </summary>
public static class NotFoundFunction
{
    [Function("not-found")]
    public static IActionResult Run(
        [HttpTrigger(AuthorizationLevel.Anonymous, "get", "post", "put", "patch", "delete", Route = "v1/{*path}")] HttpRequest request, string path)
    {
        ArgumentNullException.ThrowIfNull(request);
        return new HttpResultAction(Problems.NotFound($"There is no {request.Method} /api/v1/{path}."));
    }
}
