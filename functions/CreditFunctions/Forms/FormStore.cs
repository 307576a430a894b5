using System.Collections.Concurrent;
using System.Text.Json;
using Azure;
using Azure.Data.Tables;
using CreditFunctions.Hosting;

namespace CreditFunctions.Forms;

/// <summary>A registered form (row <c>def</c> of the form's partition). Its signing secret is stored protected for the team.</summary>
public sealed class FormRow : ITableEntity
{
    /// <inheritdoc />
    public string PartitionKey { get; set; } = string.Empty;

    /// <inheritdoc />
    public string RowKey { get; set; } = FormStore.DefinitionRow;

    /// <inheritdoc />
    public DateTimeOffset? Timestamp { get; set; }

    /// <inheritdoc />
    public ETag ETag { get; set; }

    /// <summary>The team that owns the form.</summary>
    public string TeamId { get; set; } = string.Empty;

    /// <summary>The form's id.</summary>
    public string FormId { get; set; } = string.Empty;

    /// <summary>Display name.</summary>
    public string Name { get; set; } = string.Empty;

    /// <summary><see cref="FormSources"/>.</summary>
    public string Source { get; set; } = FormSources.Generic;

    /// <summary>The field map as JSON (field → path).</summary>
    public string FieldMapJson { get; set; } = "{}";

    /// <summary>Enrich a net-new contact's email.</summary>
    public bool EnrichEmail { get; set; }

    /// <summary>Enrich a net-new contact's mobile number.</summary>
    public bool EnrichPhone { get; set; }

    /// <summary>Where processed submissions are posted.</summary>
    public string? WebhookUrl { get; set; }

    /// <summary>The signing secret, protected for the team.</summary>
    public string ProtectedSecret { get; set; } = string.Empty;

    /// <summary>Who registered the form.</summary>
    public string CreatedBy { get; set; } = string.Empty;

    /// <summary>When.</summary>
    public DateTimeOffset CreatedAt { get; set; }

    /// <summary>A hash of the registration request (the same Idempotency-Key with another request is refused).</summary>
    public string? RequestFingerprint { get; set; }

    /// <summary>The field map.</summary>
    public IReadOnlyDictionary<string, string> FieldMap() =>
        JsonSerializer.Deserialize<Dictionary<string, string>>(FieldMapJson) ?? [];
}

/// <summary>One submission of a form (row <c>s|&lt;dedupe hash&gt;</c> of the form's partition): the mapped fields as
/// received, then the outcome of its processing.</summary>
public sealed class SubmissionRow : ITableEntity
{
    /// <inheritdoc />
    public string PartitionKey { get; set; } = string.Empty;

    /// <inheritdoc />
    public string RowKey { get; set; } = string.Empty;

    /// <inheritdoc />
    public DateTimeOffset? Timestamp { get; set; }

    /// <inheritdoc />
    public ETag ETag { get; set; }

    /// <summary>The submission id the form tool gave, when it gave one.</summary>
    public string? ToolSubmissionId { get; set; }

    /// <summary>The mapped fields as JSON.</summary>
    public string FieldsJson { get; set; } = "{}";

    /// <summary><see cref="SubmissionStatus"/>.</summary>
    public string Status { get; set; } = SubmissionStatus.Received;

    /// <summary>Why it is <c>not_enriched</c> or <c>rejected</c>.</summary>
    public string? Reason { get; set; }

    /// <summary>The team's contact it was matched to or created as.</summary>
    public string? ContactId { get; set; }

    /// <summary>The contact's email (known or found).</summary>
    public string? Email { get; set; }

    /// <summary>The contact's mobile number (known or found).</summary>
    public string? Mobile { get; set; }

    /// <summary>Credits charged for it.</summary>
    public string Credits { get; set; } = "0";

    /// <summary>When it was accepted.</summary>
    public DateTimeOffset ReceivedAt { get; set; }

    /// <summary>When its outcome was decided.</summary>
    public DateTimeOffset? ProcessedAt { get; set; }

    /// <summary>The webhook's state: <c>none</c>, <c>pending</c>, <c>delivered</c> or <c>refused</c>.</summary>
    public string Webhook { get; set; } = "none";

    /// <summary>The submission's id in our API (its row's hash).</summary>
    [System.Runtime.Serialization.IgnoreDataMember]
    public string SubmissionId => RowKey[FormStore.SubmissionPrefix.Length..];

    /// <summary>The mapped fields.</summary>
    public IReadOnlyDictionary<string, string> Fields() =>
        JsonSerializer.Deserialize<Dictionary<string, string>>(FieldsJson) ?? [];
}

/// <summary>What became of a submission.</summary>
public static class SubmissionStatus
{
    /// <summary>Accepted, waiting on the queue.</summary>
    public const string Received = "received";

    /// <summary>Claimed by a queue function, outcome not decided yet.</summary>
    public const string Processing = "processing";

    /// <summary>Net-new: being enriched (a crash here re-runs the enrichment with the same charge keys).</summary>
    public const string Enriching = "enriching";

    /// <summary>A contact the team knows: linked, no charge.</summary>
    public const string Matched = "matched";

    /// <summary>Net-new, data found and charged.</summary>
    public const string Enriched = "enriched";

    /// <summary>Net-new, no provider found anything: no charge.</summary>
    public const string NotFound = "not_found";

    /// <summary>Net-new, not enriched (<see cref="SubmissionRow.Reason"/>: <c>insufficient_credits</c>, <c>spend_limit_reached</c>, <c>enrichment_off</c>).</summary>
    public const string NotEnriched = "not_enriched";

    /// <summary>Kept but not processed (<see cref="SubmissionRow.Reason"/> says why).</summary>
    public const string Rejected = "rejected";

    /// <summary>Whether an outcome is final.</summary>
    public static bool IsFinal(string status) => status is Matched or Enriched or NotFound or NotEnriched or Rejected;
}

/// <summary>
/// Forms and their submissions in the inbound table: one partition per form (<c>form|&lt;id&gt;</c>) holding its
/// definition and its submissions, so the public submission URL reaches its form with one point read and a form's
/// outcomes are one partition query. Definitions are read through a short cache (they change only at registration).
/// </summary>
public sealed class FormStore(TableClient table, TimeProvider clock)
{
    internal const string DefinitionRow = "def";
    internal const string SubmissionPrefix = "s|";
    private static readonly TimeSpan s_cacheDuration = TimeSpan.FromSeconds(30);
    private readonly ConcurrentDictionary<string, (FormRow? Form, DateTimeOffset ReadAt)> _cache = new(StringComparer.Ordinal);

    /// <summary>The table.</summary>
    public TableClient Table { get; } = table;

    /// <summary>The partition of a form.</summary>
    public static string PartitionOf(string formId) => "form|" + formId;

    /// <summary>Adds a new form; false when a form with its id exists already.</summary>
    public async Task<bool> AddAsync(FormRow form, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(form);
        form.PartitionKey = PartitionOf(form.FormId);
        form.RowKey = DefinitionRow;
        try
        {
            await Table.AddEntityAsync(form, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (RequestFailedException ex) when (ex.Status == 409)
        {
            return false;
        }
    }

    /// <summary>The form, or null (read fresh).</summary>
    public Task<FormRow?> GetAsync(string formId, CancellationToken cancellationToken) =>
        IsFormId(formId) ? Table.GetEntityOrNullAsync<FormRow>(PartitionOf(formId), DefinitionRow, cancellationToken) : Task.FromResult<FormRow?>(null);

    /// <summary>The form as read at most 30 seconds ago, or null.</summary>
    public async Task<FormRow?> GetCachedAsync(string formId, CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        if (_cache.TryGetValue(formId, out var cached) && now - cached.ReadAt < s_cacheDuration)
        {
            return cached.Form;
        }
        var form = await GetAsync(formId, cancellationToken).ConfigureAwait(false);
        if (form is not null)
        {
            _cache[formId] = (form, now);
        }
        return form;
    }

    /// <summary>Adds a received submission; false when the same submission was received before (the row is left as it is).</summary>
    public async Task<bool> AddSubmissionAsync(SubmissionRow submission, CancellationToken cancellationToken)
    {
        try
        {
            await Table.AddEntityAsync(submission, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (RequestFailedException ex) when (ex.Status == 409)
        {
            return false;
        }
    }

    /// <summary>The submission, or null.</summary>
    public Task<SubmissionRow?> GetSubmissionAsync(string formId, string submissionId, CancellationToken cancellationToken) =>
        Table.GetEntityOrNullAsync<SubmissionRow>(PartitionOf(formId), SubmissionPrefix + submissionId, cancellationToken);

    /// <summary>Writes <paramref name="submission"/> only if its row is unchanged since it was read (its ETag, which is
    /// moved on to the new version); false when another writer changed it first. Every write of a submission goes through
    /// here: a delivery that lost a race never writes its view over the winner's.</summary>
    public async Task<bool> TryUpdateSubmissionAsync(SubmissionRow submission, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(submission);
        try
        {
            var response = await Table.UpdateEntityAsync(submission, submission.ETag, TableUpdateMode.Replace, cancellationToken).ConfigureAwait(false);
            submission.ETag = response.Headers.ETag ?? submission.ETag;
            return true;
        }
        catch (RequestFailedException ex) when (ex.Status == 412)
        {
            return false;
        }
    }

    /// <summary>The form's submissions, newest first, at most <paramref name="limit"/>.</summary>
    public async Task<IReadOnlyList<SubmissionRow>> ListSubmissionsAsync(string formId, int limit, CancellationToken cancellationToken)
    {
        var partition = PartitionOf(formId);
        var rows = new List<SubmissionRow>();
        await foreach (var row in Table.QueryAsync<SubmissionRow>(r => r.PartitionKey == partition && r.RowKey.CompareTo("s|") >= 0 && r.RowKey.CompareTo("s}") < 0,
            cancellationToken: cancellationToken).ConfigureAwait(false))
        {
            rows.Add(row);
        }
        return rows.OrderByDescending(r => r.ReceivedAt).Take(limit).ToList();
    }

    /// <summary>Whether <paramref name="formId"/> has the shape of a form id (<c>frm_</c> and 24 hex digits).</summary>
    public static bool IsFormId(string? formId) =>
        formId is { Length: 28 } && formId.StartsWith("frm_", StringComparison.Ordinal) && formId[4..].All(char.IsAsciiHexDigitLower);
}
