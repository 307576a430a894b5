using Azure;

namespace CreditFunctions.AzureStorage.Blobs;

/// <summary>
/// Conditions a blob request is made under: <see cref="MatchConditions.IfMatch"/> (only if the blob's ETag still
/// equals this one), <see cref="MatchConditions.IfNoneMatch"/> (<see cref="ETag.All"/>: only if the blob does not
/// exist), <see cref="RequestConditions.IfModifiedSince"/> and <see cref="RequestConditions.IfUnmodifiedSince"/>.
/// </summary>
/// <remarks>
/// A write whose condition fails throws <see cref="RequestFailedException"/> with status 412 and
/// <see cref="RequestFailedException.ErrorCode"/> <c>ConditionNotMet</c>; a write with <c>If-None-Match: *</c> on an
/// existing blob fails with 409 <c>BlobAlreadyExists</c> (or 412 <c>ConditionNotMet</c>, depending on the operation).
/// A read whose <c>If-None-Match</c> matches fails with 304.
/// </remarks>
public class BlobRequestConditions : RequestConditions
{
}
