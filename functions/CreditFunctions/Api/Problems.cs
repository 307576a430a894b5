namespace CreditFunctions.Api;

/// <summary>
/// RFC 7807 error responses (<c>application/problem+json</c>) with stable <c>type</c> URIs under
/// <see cref="TypeBase"/>. Clients branch on <c>type</c>; <c>title</c> is fixed per type; <c>detail</c> explains this
/// occurrence and never carries secrets, keys or another team's data.
/// </summary>
public static class Problems
{
    /// <summary>The prefix of every problem type this API returns.</summary>
    public const string TypeBase = "https://creditfunctions.dev/problems/";

    /// <summary>400: the request's input is invalid; <c>errors</c> names each bad field.</summary>
    public const string ValidationType = TypeBase + "validation";

    /// <summary>401: no credentials, or credentials that are not valid.</summary>
    public const string UnauthorizedType = TypeBase + "unauthorized";

    /// <summary>403: the caller is known but its role does not allow the action.</summary>
    public const string ForbiddenType = TypeBase + "forbidden";

    /// <summary>404: no such resource for this caller (also what another team's resources look like).</summary>
    public const string NotFoundType = TypeBase + "not-found";

    /// <summary>
    /// 400 with <c>errors</c>: an object keyed by field name (as the client sent it), each holding the field's
    /// messages.
    /// </summary>
    public static IResult Validation(IReadOnlyDictionary<string, string[]> errors, string? detail = null)
    {
        ArgumentNullException.ThrowIfNull(errors);
        return Results.ValidationProblem(
            errors.ToDictionary(e => e.Key, e => e.Value, StringComparer.Ordinal),
            detail: detail ?? "One or more fields are invalid: " + string.Join(", ", errors.Keys) + ".",
            type: ValidationType,
            title: "The request is invalid.");
    }

    /// <summary>400 naming a single bad field.</summary>
    public static IResult Validation(string field, string message) =>
        Validation(new Dictionary<string, string[]>(StringComparer.Ordinal) { [field] = [message] });

    /// <summary>401. The caller adds the <c>WWW-Authenticate</c> challenge header.</summary>
    public static IResult Unauthorized(string detail) =>
        Create(StatusCodes.Status401Unauthorized, "unauthorized", "Authentication is required.", detail);

    /// <summary>403.</summary>
    public static IResult Forbidden(string detail) =>
        Create(StatusCodes.Status403Forbidden, "forbidden", "The caller may not do this.", detail);

    /// <summary>409: the <c>Idempotency-Key</c> was used before with another request; nothing was changed.</summary>
    public static IResult IdempotencyKeyReused() =>
        Create(StatusCodes.Status409Conflict, "idempotency-key-reused", "The Idempotency-Key was used with other parameters.",
            "Use a new key for a new operation; nothing was changed.");

    /// <summary>404.</summary>
    public static IResult NotFound(string detail) =>
        Create(StatusCodes.Status404NotFound, "not-found", "Not found.", detail);

    /// <summary>
    /// Any other problem: <paramref name="typeName"/> becomes <c>type</c> = <see cref="TypeBase"/> + the name, e.g.
    /// <c>team-already-exists</c>. Keep one fixed <paramref name="title"/> per type.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="typeName"/> is not lower-case words joined by hyphens.</exception>
    public static IResult Create(int status, string typeName, string title, string? detail = null, IDictionary<string, object?>? extensions = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(typeName);
        if (!typeName.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '-'))
        {
            throw new ArgumentException("A problem type name is lower-case letters, digits and hyphens.", nameof(typeName));
        }
        return Results.Problem(detail: detail, statusCode: status, title: title, type: TypeBase + typeName, extensions: extensions);
    }
}
