namespace DevHost;

/// <summary>One function the dev host runs, for banners and tests.</summary>
/// <param name="Name">The function's name.</param>
/// <param name="TriggerType">The trigger binding type from the metadata, e.g. <c>httpTrigger</c>, <c>queueTrigger</c>.</param>
/// <param name="Target">What triggers it, resolved: <c>GET,POST api/route</c>, the queue name, the blob path, the
/// schedule; empty for orchestrators and activities.</param>
/// <param name="Url">For HTTP functions, the address to call (route parameters left as placeholders); otherwise null.</param>
public sealed record DevHostFunction(string Name, string TriggerType, string Target, Uri? Url);
