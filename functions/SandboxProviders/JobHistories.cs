using System.Text.Json.Nodes;

namespace SandboxProviders;

/// <summary>
/// The sandbox's own clock, which the job-history vendor answers by: real time until a test sets it
/// (<c>PUT /_admin/clock</c> with <c>{"now":"…"}</c>), back to real time with <c>DELETE /_admin/clock</c> or a reset.
/// </summary>
public sealed class SandboxClock : TimeProvider
{
    private readonly TimeProvider _real;
    private long _fixedTicks;

    /// <summary>A clock on <paramref name="real"/> time until it is set.</summary>
    public SandboxClock(TimeProvider real) => _real = real;

    /// <summary>The set time, or null while the clock follows real time.</summary>
    public DateTimeOffset? Fixed
    {
        get => Interlocked.Read(ref _fixedTicks) is var t && t == 0 ? null : new DateTimeOffset(t, TimeSpan.Zero);
        set => Interlocked.Exchange(ref _fixedTicks, value?.UtcTicks ?? 0);
    }

    /// <inheritdoc />
    public override DateTimeOffset GetUtcNow() => Fixed ?? _real.GetUtcNow();
}

/// <summary>One job of a person's history: from <paramref name="Since"/> until the next job starts.</summary>
public sealed record Job(string Title, string CompanyName, string CompanyDomain, DateOnly Since);

/// <summary>
/// Every person's job history, deterministic from the data set: their seeded job since a day of 2020–2025, then a
/// first change on a day of 2027 (at another company of the data set, with another title) and a second one 60–360 days
/// later. So at real time (2026) nobody has changed yet, and a test that moves the sandbox clock past a person's change
/// date sees that change. A job vendor answers bulk look-ups of up to <see cref="BulkMax"/> people.
/// </summary>
public static class JobHistories
{
    /// <summary>Most people one bulk request may ask about.</summary>
    public const int BulkMax = 100;

    private static readonly DateOnly s_firstChangeYear = new(2027, 1, 1);

    /// <summary>The person's jobs, oldest first.</summary>
    public static IReadOnlyList<Job> Of(PeopleDataSet people, Person person)
    {
        ArgumentNullException.ThrowIfNull(people);
        ArgumentNullException.ThrowIfNull(person);
        var started = new DateOnly(2020, 1, 1).AddDays((int)(StableHash.Unit("jobs", "since", person.Id) * 2000));
        var first = s_firstChangeYear.AddDays((int)(StableHash.Unit("jobs", "change1", person.Id) * 365));
        var second = first.AddDays(60 + (int)(StableHash.Unit("jobs", "change2", person.Id) * 300));
        return [new Job(person.JobTitle, person.CompanyName, person.CompanyDomain, started), Move(people, person, 1, first), Move(people, person, 2, second)];
    }

    /// <summary>The job the person holds on <paramref name="day"/>.</summary>
    public static Job At(PeopleDataSet people, Person person, DateOnly day)
    {
        var jobs = Of(people, person);
        return jobs.Skip(1).LastOrDefault(j => j.Since <= day) ?? jobs[0];
    }

    private static Job Move(PeopleDataSet people, Person person, int change, DateOnly since)
    {
        var companies = CompanyRanges.Companies(people);
        var index = (int)(StableHash.Unit("jobs", "company" + change, person.Id) * companies.Count);
        if (companies[index].Domain == person.CompanyDomain)
        {
            index = (index + 1) % companies.Count;
        }
        var title = people.People[(int)(StableHash.Unit("jobs", "title" + change, person.Id) * people.People.Count)].JobTitle;
        return new Job(title, companies[index].Name, companies[index].Domain, since);
    }

    /// <summary>The answer to a bulk look-up: one result per asked person, in order, each <c>ok</c> with the current job and
    /// when it started, or <c>no_match</c> (a person not in the data set, or one the vendor does not know).</summary>
    internal static JsonObject Answer(string vendor, VendorSettings settings, PeopleDataSet people, IReadOnlyList<JsonObject> asked, DateOnly today)
    {
        var results = new JsonArray();
        foreach (var item in asked)
        {
            string? Get(string name) => item[name]?.GetValueKind() == System.Text.Json.JsonValueKind.String ? item[name]!.GetValue<string>() : null;
            var person = people.FindByLinkedIn(Get("linkedin_url"))
                ?? people.FindByName(Get("first_name"), Get("last_name"), Get("company_domain"))
                ?? people.FindByEmail(Get("email"));
            var result = new JsonObject { ["ref"] = Get("ref") };
            if (person is null || !VendorKnowledge.Knows(vendor, settings, person))
            {
                result["status"] = "no_match";
            }
            else
            {
                var job = At(people, person, today);
                result["status"] = "ok";
                result["title"] = job.Title;
                result["company"] = new JsonObject { ["name"] = job.CompanyName, ["domain"] = job.CompanyDomain };
                result["since"] = job.Since.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture);
            }
            results.Add(result);
        }
        return new JsonObject { ["results"] = results };
    }
}
