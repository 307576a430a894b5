namespace CreditFunctions.Durable;

/// <summary>Settings of a task hub: its name (which prefixes every table, queue and container it uses) and the
/// timings of its workers.</summary>
public sealed record DurableTaskHubOptions
{
    /// <summary>3 to 40 letters and digits, starting with a letter; "creditfunctions" by default. Apps and tests that
    /// share a storage account but not a hub name do not see each other's instances.</summary>
    public string HubName { get; init; } = "creditfunctions";

    /// <summary>How long a worker owns an instance after its last step; another worker may take the instance over
    /// once the lease has expired. 30 seconds by default.</summary>
    public TimeSpan LeaseDuration { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How long a received work item stays hidden from other workers (renewed while it runs); after a crash
    /// it is delivered again this long after it was received. 60 seconds by default.</summary>
    public TimeSpan WorkItemVisibilityTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Deliveries of one message before it is given up: an activity work item then fails its call with the
    /// last error; any other message moves to the poison queue. 5 by default, as the Functions host.</summary>
    public int MaxDeliveryAttempts { get; init; } = 5;

    /// <summary>Messages a worker process handles at once (in-process pump); 32 by default. A message of a large
    /// fan-out carries up to 16 of its activity calls, which run together.</summary>
    public int MaxConcurrentWorkItems { get; init; } = 32;

    /// <summary>The longest wait between polls of an empty work queue; 1 second by default.</summary>
    public TimeSpan MaxPollingInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>The clock (tests replace it).</summary>
    public TimeProvider Clock { get; init; } = TimeProvider.System;

    /// <summary>The longest delay of one timer message: a queue hides a message for at most 7 days, so a timer further
    /// away is chained through several messages. Tests shorten it.</summary>
    internal TimeSpan MaxTimerHop { get; init; } = TimeSpan.FromDays(7) - TimeSpan.FromMinutes(5);

    internal void Validate()
    {
        if (HubName is not { Length: >= 3 and <= 40 } || !char.IsAsciiLetter(HubName[0]) || !HubName.All(char.IsAsciiLetterOrDigit))
        {
            throw new ArgumentException("HubName must be 3 to 40 letters and digits, starting with a letter.", nameof(HubName));
        }
        if (LeaseDuration < TimeSpan.FromSeconds(1) || WorkItemVisibilityTimeout < TimeSpan.FromSeconds(1))
        {
            throw new ArgumentException("LeaseDuration and WorkItemVisibilityTimeout must be at least 1 second.");
        }
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxDeliveryAttempts, 1, nameof(MaxDeliveryAttempts));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxConcurrentWorkItems, 1, nameof(MaxConcurrentWorkItems));
    }
}
