using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Azure.Storage.Queues;
using CreditFunctions.Ledger;
using CreditFunctions.Providers;
using CreditFunctions.Waterfall;

namespace CreditFunctions.Forms;

/// <summary>Where forms live and wait: settings <c>CREDITFUNCTIONS_INBOUND_TABLE</c> and <c>CREDITFUNCTIONS_FORMS_QUEUE</c>.</summary>
public sealed record FormOptions
{
    /// <summary>The setting naming the inbound table (forms, submissions, sites, visitors).</summary>
    public const string TableSetting = "CREDITFUNCTIONS_INBOUND_TABLE";

    /// <summary>The setting naming the submissions queue (the queue trigger reads it as <c>%CREDITFUNCTIONS_FORMS_QUEUE%</c>).</summary>
    public const string QueueSetting = "CREDITFUNCTIONS_FORMS_QUEUE";

    /// <summary>The table's name when the setting is not given.</summary>
    public const string DefaultTable = "inbound";

    /// <summary>The queue's name when the setting is not given.</summary>
    public const string DefaultQueue = "form-submissions";

    /// <summary>The inbound table.</summary>
    public string TableName { get; init; } = DefaultTable;

    /// <summary>The submissions queue.</summary>
    public string QueueName { get; init; } = DefaultQueue;

    /// <summary>From configuration.</summary>
    public static FormOptions From(IConfiguration configuration) => new()
    {
        TableName = configuration[TableSetting] is { Length: > 0 } table ? table : DefaultTable,
        QueueName = configuration[QueueSetting] is { Length: > 0 } queue ? queue : DefaultQueue,
    };
}

/// <summary>A submission on the queue: which row to process.</summary>
public sealed record FormSubmissionMessage(string FormId, string SubmissionId);

/// <summary>A form registration as the API receives it.</summary>
public sealed record FormRegistration(string Name, string Source, IReadOnlyDictionary<string, string> FieldMap, bool EnrichEmail, bool EnrichPhone, string? WebhookUrl);

/// <summary>What accepting a submission did.</summary>
public enum AcceptStatus
{
    /// <summary>New: stored and queued.</summary>
    Accepted,

    /// <summary>The same submission was received before: nothing new stored (queued again while it is still unprocessed).</summary>
    Duplicate,

    /// <summary>No form with this id.</summary>
    NoSuchForm,

    /// <summary>The signature is missing, wrong or stale.</summary>
    BadSignature,

    /// <summary>The body is not JSON.</summary>
    NotJson,

    /// <summary>Neither an email nor first name, last name and company domain could be read.</summary>
    NoContact,
}

/// <summary>
/// Form enrichment (DOMAIN "Form enrichment"): forms are registered with a signing secret; the public submission URL
/// checks the tool's signature, stores the mapped fields and queues the submission; the queue function decides its
/// outcome. A contact the team knows is matched and linked for free and no vendor is asked; a net-new contact is enriched
/// through the waterfall (the team's providers) and charged under <c>form_enrichment</c> only for the data found.
/// </summary>
/// <remarks>
/// Delivery is at least once at both ends. The tool's retries land on the same row (its submission id, else a hash of
/// the form and the body), so they are processed once. The queue function is idempotent: a crash after marking a
/// submission <c>enriching</c> re-runs the enrichment, whose charge keys (form and submission) answer the first charge; a
/// crash after the outcome and before the webhook sends the webhook again (receivers dedupe by the delivery id). Every
/// write of a submission is conditional on the version its writer read: of two deliveries racing, the one that claimed
/// last decides, and the other stops at its next write instead of putting its out-of-date outcome over the winner's.
/// </remarks>
public sealed class FormService(FormStore store, QueueServiceClient queues, FormOptions options, EnrichmentSettingsStore settings,
    WaterfallEngine engine, ContactStore contacts, ContactIdentity identity, LedgerService ledger, WebhookSender webhooks, TimeProvider clock)
{
    /// <summary>Largest submission body.</summary>
    public const int BodyBytesMax = 64 * 1024;

    /// <summary>How long a received submission waits for its first message before a redelivery by the tool queues it again.</summary>
    public static readonly TimeSpan RequeueAfter = TimeSpan.FromMinutes(2);

    /// <summary>The ledger user of a form's lines.</summary>
    public const string LedgerUser = "forms";

    /// <summary>How a form's enrichment is charged: <c>form_enrichment</c> / <c>enrich_new_contact</c> (email) and
    /// <c>enrich_new_contact_mobile</c> (phone).</summary>
    public static ChargePlan Plan { get; } = new("form_enrichment", "enrich_new_contact", "enrich_new_contact_mobile");

    /// <summary>Whether this deployment can keep signing secrets.</summary>
    public bool CanProtectSecrets => settings.CanProtectSecrets;

    /// <summary>Registers a form and returns it with its signing secret (never stored in the clear, never shown again).
    /// With the same <paramref name="idempotencyKey"/> again, returns the first form without its secret.</summary>
    /// <exception cref="IdempotencyKeyReusedException">The key was used with another registration.</exception>
    public async Task<(FormRow Form, string? Secret)> RegisterAsync(string teamId, string userId, FormRegistration registration, string? idempotencyKey,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(registration);
        var fingerprint = Convert.ToHexStringLower(SHA256.HashData(JsonSerializer.SerializeToUtf8Bytes(registration, JsonSerializerOptions.Web)));
        var formId = "frm_" + (idempotencyKey is null
            ? Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12))
            : Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes("form\n" + teamId + "\n" + idempotencyKey)))[..24]);
        var secret = WebhookSender.NewSecret();
        var form = new FormRow
        {
            TeamId = teamId, FormId = formId, Name = registration.Name, Source = registration.Source,
            FieldMapJson = JsonSerializer.Serialize(registration.FieldMap), EnrichEmail = registration.EnrichEmail, EnrichPhone = registration.EnrichPhone,
            WebhookUrl = registration.WebhookUrl, ProtectedSecret = settings.ProtectSecret(teamId, secret), CreatedBy = userId,
            CreatedAt = clock.GetUtcNow(), RequestFingerprint = fingerprint,
        };
        if (await store.AddAsync(form, cancellationToken).ConfigureAwait(false))
        {
            return (form, secret);
        }
        var existing = await store.GetAsync(formId, cancellationToken).ConfigureAwait(false);
        return existing is not null && existing.TeamId == teamId && existing.RequestFingerprint == fingerprint
            ? (existing, null)
            : throw new IdempotencyKeyReusedException();
    }

    /// <summary>The team's form, or null (another team's form is null too).</summary>
    public async Task<FormRow?> GetAsync(string teamId, string formId, CancellationToken cancellationToken) =>
        await store.GetAsync(formId, cancellationToken).ConfigureAwait(false) is { } form && form.TeamId == teamId ? form : null;

    /// <summary>The team's form's submissions, newest first (null when the team has no such form).</summary>
    public async Task<IReadOnlyList<SubmissionRow>?> ListAsync(string teamId, string formId, int limit, CancellationToken cancellationToken) =>
        await GetAsync(teamId, formId, cancellationToken).ConfigureAwait(false) is null
            ? null
            : await store.ListSubmissionsAsync(formId, limit, cancellationToken).ConfigureAwait(false);

    /// <summary>
    /// Accepts a submission posted to the public URL: the form's signature scheme over <paramref name="body"/>, the
    /// mapped fields read, the row stored and the submission queued. <paramref name="header"/> reads a request header;
    /// <paramref name="uri"/> is the URL as called (HubSpot signs it).
    /// </summary>
    public async Task<(AcceptStatus Status, string? SubmissionId, string? Field)> AcceptAsync(string formId, byte[] body, Func<string, string?> header,
        string method, string uri, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(body);
        ArgumentNullException.ThrowIfNull(header);
        var form = FormStore.IsFormId(formId) ? await store.GetCachedAsync(formId, cancellationToken).ConfigureAwait(false) : null;
        if (form is null)
        {
            return (AcceptStatus.NoSuchForm, null, null);
        }
        var secret = settings.UnprotectSecret(form.TeamId, form.ProtectedSecret);
        var now = clock.GetUtcNow();
        var check = form.Source switch
        {
            FormSources.Typeform => FormSignatures.VerifyTypeform(secret, header(FormSignatures.TypeformHeader), body),
            FormSources.HubSpot => FormSignatures.VerifyHubSpot(secret, header(FormSignatures.HubSpotHeader), header(FormSignatures.HubSpotTimestampHeader),
                method, uri, body, now),
            _ => FormSignatures.VerifyGeneric(secret, header(WebhookSender.SignatureHeader), Encoding.UTF8.GetString(body), now),
        };
        if (check != SignatureCheck.Valid)
        {
            return (AcceptStatus.BadSignature, null, check.ToString());
        }
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(body);
        }
        catch (JsonException)
        {
            return (AcceptStatus.NotJson, null, "body");
        }
        Dictionary<string, string> fields;
        using (document)
        {
            fields = ReadFields(form, document.RootElement);
        }
        if (ContactOf(fields) is null)
        {
            return (AcceptStatus.NoContact, null, "email");
        }
        fields.TryGetValue("submissionId", out var toolId);
        var dedupe = toolId is { Length: > 0 } ? "id\n" + toolId : "body\n" + Convert.ToHexStringLower(SHA256.HashData(body));
        var submissionId = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(formId + "\n" + dedupe)))[..32];
        fields.Remove("submissionId");
        var row = new SubmissionRow
        {
            PartitionKey = FormStore.PartitionOf(formId), RowKey = FormStore.SubmissionPrefix + submissionId, ToolSubmissionId = toolId,
            FieldsJson = JsonSerializer.Serialize(fields), ReceivedAt = now,
        };
        var added = await store.AddSubmissionAsync(row, cancellationToken).ConfigureAwait(false);
        if (!added && await store.GetSubmissionAsync(formId, submissionId, cancellationToken).ConfigureAwait(false) is { } seen
            && (SubmissionStatus.IsFinal(seen.Status) || now - seen.ReceivedAt < RequeueAfter))
        {
            return (AcceptStatus.Duplicate, submissionId, null);
        }
        // A duplicate of a submission left unprocessed for a while is queued again: the first message may never have been
        // sent (a crash between the row and the queue). Processing twice is harmless.
        await queues.GetQueueClient(options.QueueName).SendMessageAsync(JsonSerializer.Serialize(new FormSubmissionMessage(formId, submissionId), JsonSerializerOptions.Web),
            cancellationToken).ConfigureAwait(false);
        return (added ? AcceptStatus.Accepted : AcceptStatus.Duplicate, submissionId, null);
    }

    /// <summary>Tests set this to hold a delivery right after it claimed a submission, as a slow worker would.</summary>
    internal static Func<string, Task>? AfterClaimForTests { get; set; }

    /// <summary>Decides a queued submission's outcome (idempotent; see the class remarks) and delivers the form's webhook.</summary>
    /// <exception cref="HttpRequestException">The webhook's receiver failed (the queue retries; the outcome is kept).</exception>
    public async Task ProcessAsync(FormSubmissionMessage message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        var form = await store.GetCachedAsync(message.FormId, cancellationToken).ConfigureAwait(false);
        var row = form is null ? null : await store.GetSubmissionAsync(message.FormId, message.SubmissionId, cancellationToken).ConfigureAwait(false);
        if (form is null || row is null)
        {
            return;
        }
        if (!SubmissionStatus.IsFinal(row.Status))
        {
            // Claimed under the row's ETag, whatever unfinished state it is in: of two deliveries processing at the same
            // moment, the later claim wins and the earlier one's next write fails, so it stops and leaves the outcome to
            // the winner (whose own message comes back if it dies). A claim keeps the state it found (an "enriching" row
            // re-runs its enrichment, whose charges answer the first ones).
            if (row.Status == SubmissionStatus.Received)
            {
                row.Status = SubmissionStatus.Processing;
            }
            if (!await store.TryUpdateSubmissionAsync(row, cancellationToken).ConfigureAwait(false))
            {
                return;
            }
            if (AfterClaimForTests is { } pause)
            {
                await pause(row.SubmissionId).ConfigureAwait(false);
            }
            if (!await DecideAsync(form, row, cancellationToken).ConfigureAwait(false))
            {
                return;
            }
            row.ProcessedAt = clock.GetUtcNow();
            row.Webhook = form.WebhookUrl is null ? "none" : "pending";
            if (!await store.TryUpdateSubmissionAsync(row, cancellationToken).ConfigureAwait(false))
            {
                return;
            }
        }
        if (row.Webhook == "pending" && form.WebhookUrl is { } url)
        {
            var result = await webhooks.SendAsync(form.TeamId, url, JsonSerializer.Serialize(View(form.FormId, row), JsonSerializerOptions.Web),
                "form:" + form.FormId + ":" + row.SubmissionId, cancellationToken).ConfigureAwait(false);
            row.Webhook = result.Delivered ? "delivered" : "refused";
            // Lost only to another delivery of the same webhook, which records its own result.
            await store.TryUpdateSubmissionAsync(row, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Decides <paramref name="row"/>'s outcome in it; false when another delivery took the submission over
    /// meanwhile (then this one must write nothing more).</summary>
    private async Task<bool> DecideAsync(FormRow form, SubmissionRow row, CancellationToken ct)
    {
        var fields = row.Fields();
        var input = ContactOf(fields)!;
        var who = new WaterfallPerson(0, WaterfallPerson.IdFor(input), input.Normalize());
        var retrying = row.Status == SubmissionStatus.Enriching;
        var (person, known) = await engine.ResolveAsync(form.TeamId, who, ct).ConfigureAwait(false);
        fields.TryGetValue("phone", out var phone);
        if (known.Count > 0 && !retrying)
        {
            // A contact the team knows (rule 2): linked, no vendor asked, nothing charged.
            var learned = ContactIdentity.IdentifiersOf(person.Input, null, phone).Where(id => !known.Contains(id)).ToList();
            if (learned.Count > 0)
            {
                await identity.LinkAsync(form.TeamId, person.PersonId, learned, ct).ConfigureAwait(false);
            }
            var stored = await contacts.GetAsync(form.TeamId, person.PersonId, ct).ConfigureAwait(false);
            (row.Status, row.ContactId, row.Email, row.Mobile) = (SubmissionStatus.Matched, person.PersonId, stored?.Email ?? input.Email, stored?.Mobile ?? phone);
            return true;
        }
        row.ContactId = person.PersonId;
        var data = new List<string>(2);
        // The email waterfall runs even when the form gave an email: what a form brings is often a personal address,
        // and the providers find the work email (charged only when found).
        if (form.EnrichEmail)
        {
            data.Add(WaterfallData.Email);
        }
        if (form.EnrichPhone && phone is null)
        {
            data.Add(WaterfallData.Mobile);
        }
        if (data.Count == 0)
        {
            // Nothing to buy: the contact is learned as it came.
            await identity.LinkAsync(form.TeamId, person.PersonId, ContactIdentity.IdentifiersOf(person.Input, null, phone).Where(id => !known.Contains(id)).ToList(), ct)
                .ConfigureAwait(false);
            (row.Status, row.Reason, row.Email, row.Mobile) = (SubmissionStatus.NotEnriched, "nothing_to_enrich", input.Email, phone);
            return true;
        }
        var balances = await ledger.GetBalancesAsync(form.TeamId, ct).ConfigureAwait(false);
        var affordable = data.Where(d => (balances.FirstOrDefault(b => b.CreditType == WaterfallData.CreditType(d))?.Available ?? Credits.Zero) >= Price(d)).ToList();
        if (affordable.Count == 0 && !retrying)
        {
            // Rule 9: refused before anything is asked or spent; the submission is kept.
            (row.Status, row.Reason, row.Email, row.Mobile) = (SubmissionStatus.NotEnriched, "insufficient_credits", input.Email, phone);
            return true;
        }
        row.Status = SubmissionStatus.Enriching;
        if (!await store.TryUpdateSubmissionAsync(row, ct).ConfigureAwait(false))
        {
            return false;
        }
        var team = await settings.GetRecentAsync(form.TeamId, WaterfallEngine.SettingsMaxAge, ct).ConfigureAwait(false);
        var stored2 = retrying ? await contacts.GetAsync(form.TeamId, person.PersonId, ct).ConfigureAwait(false) : null;
        var run = new WaterfallRun
        {
            RunId = "form-" + row.SubmissionId, TeamId = form.TeamId, UserId = LedgerUser, Data = retrying ? data : affordable, People = [person], Plan = Plan,
            EmailProviders = team.EmailProviders, MobileProviders = team.MobileProviders, Verifier = team.Verifier, VerifyEmails = team.VerifyEmails,
        };
        var result = await engine.RunOneAsync(run, team, person, known, stored2, $"form:{form.FormId}:{row.SubmissionId}", ct).ConfigureAwait(false);
        var results = new[] { result.Email, result.Mobile }.Where(r => r is not null).Select(r => r!).ToList();
        var credits = results.Sum(r => r.Credits);
        row.Credits = credits.ToString(System.Globalization.CultureInfo.InvariantCulture);
        row.Email = result.Email?.Value ?? input.Email;
        row.Mobile = result.Mobile?.Value ?? phone;
        var shortOf = data.Count > affordable.Count && !retrying ? "insufficient_credits" : null;
        if (results.Any(r => r.Status == "found"))
        {
            (row.Status, row.Reason) = (SubmissionStatus.Enriched, shortOf);
        }
        else if (results.Any(r => r.Status == "already_owned"))
        {
            // The data found belongs to a contact the team already bought it for: matched, nothing charged.
            (row.Status, row.Reason) = (SubmissionStatus.Matched, null);
        }
        else if (results.FirstOrDefault(r => r.Status is "insufficient_credits" or "spend_limit_reached") is { } refused)
        {
            (row.Status, row.Reason) = (SubmissionStatus.NotEnriched, refused.Status);
        }
        else if (shortOf is not null)
        {
            (row.Status, row.Reason) = (SubmissionStatus.NotEnriched, shortOf);
        }
        else
        {
            (row.Status, row.Reason) = (SubmissionStatus.NotFound, null);
        }
        return true;
    }

    /// <summary>A submission as the API and the webhook show it.</summary>
    public static object View(string formId, SubmissionRow row)
    {
        ArgumentNullException.ThrowIfNull(row);
        var fields = row.Fields();
        return new
        {
            type = "form_submission",
            formId,
            submissionId = row.SubmissionId,
            toolSubmissionId = row.ToolSubmissionId,
            status = row.Status,
            reason = row.Reason,
            credits = decimal.Parse(row.Credits, System.Globalization.CultureInfo.InvariantCulture),
            receivedAt = row.ReceivedAt,
            processedAt = row.ProcessedAt,
            contact = new
            {
                id = row.ContactId,
                email = row.Email ?? fields.GetValueOrDefault("email"),
                mobile = row.Mobile ?? fields.GetValueOrDefault("phone"),
                firstName = fields.GetValueOrDefault("firstName"),
                lastName = fields.GetValueOrDefault("lastName"),
                fullName = fields.GetValueOrDefault("fullName"),
                companyName = fields.GetValueOrDefault("companyName"),
                companyDomain = fields.GetValueOrDefault("companyDomain"),
                linkedInUrl = fields.GetValueOrDefault("linkedInUrl"),
            },
        };
    }

    private static Dictionary<string, string> ReadFields(FormRow form, JsonElement root)
    {
        var map = form.FieldMap();
        var fields = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (field, path) in map)
        {
            if (FieldMap.Read(root, path) is { Length: > 0 and <= 500 } value)
            {
                fields[field] = value;
            }
        }
        if (!fields.ContainsKey("submissionId") && !map.ContainsKey("submissionId") && form.Source == FormSources.Typeform
            && FieldMap.Read(root, "form_response.token") is { } token)
        {
            fields["submissionId"] = token;
        }
        if (fields.TryGetValue("email", out var email) && !LooksLikeEmail(email))
        {
            fields.Remove("email");
        }
        return fields;
    }

    /// <summary>The person a submission names: an email, or first and last name (or a full name) with a company domain.</summary>
    private static PersonInput? ContactOf(IReadOnlyDictionary<string, string> fields)
    {
        var email = fields.GetValueOrDefault("email");
        var first = fields.GetValueOrDefault("firstName");
        var last = fields.GetValueOrDefault("lastName");
        if ((first is null || last is null) && fields.GetValueOrDefault("fullName") is { } full && full.Split(' ', 2, StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) is [var f, var l])
        {
            (first, last) = (first ?? f, last ?? l);
        }
        var domain = fields.GetValueOrDefault("companyDomain");
        if (email is null && (first is null || last is null || domain is null))
        {
            return null;
        }
        return new PersonInput
        {
            Email = email, FirstName = first, LastName = last, FullName = fields.GetValueOrDefault("fullName"), CompanyName = fields.GetValueOrDefault("companyName"),
            CompanyDomain = domain, LinkedInUrl = fields.GetValueOrDefault("linkedInUrl"),
        };
    }

    private static bool LooksLikeEmail(string value) =>
        value.IndexOf('@') is var at && at > 0 && at < value.Length - 3 && value.IndexOf('.', at) > at + 1 && !value.Any(char.IsWhiteSpace);

    private static Credits Price(string data)
    {
        var (feature, action) = Plan.For(data);
        return Catalog.Default.Find(feature, action)?.Price ?? throw new InvalidOperationException($"The catalog has no action {feature}/{action}.");
    }
}
