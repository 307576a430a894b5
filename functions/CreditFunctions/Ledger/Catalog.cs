using System.Collections.Frozen;
using System.Text.Json;

namespace CreditFunctions.Ledger;

/// <summary>One priced action of the catalog.</summary>
/// <param name="Feature">The feature (group) id, e.g. <c>waterfall_enrichment</c>.</param>
/// <param name="FeatureName">The feature's display name.</param>
/// <param name="Action">The action id, e.g. <c>waterfall_email</c>.</param>
/// <param name="ActionName">The action's display name.</param>
/// <param name="CreditType">The balance it spends.</param>
/// <param name="Price">What one use costs.</param>
/// <param name="DataType">The data it buys (<c>email</c>, <c>phone</c>, <c>job_change</c>, …); once a team owns a
/// subject's data of this type, this action costs nothing for it. Null when the action buys no reusable data.</param>
public sealed record CatalogAction(string Feature, string FeatureName, string Action, string ActionName, string CreditType, Credits Price, string? DataType);

/// <summary>
/// The price list: feature → action → credit type and price. Data, not code: it is read from <c>catalog.json</c>
/// (embedded), or from a file an operator supplies.
/// </summary>
public sealed class Catalog
{
    private readonly FrozenDictionary<(string Feature, string Action), CatalogAction> _actions;

    private Catalog(IReadOnlyList<string> creditTypes, IReadOnlyList<CatalogAction> actions)
    {
        CreditTypes = creditTypes;
        Actions = actions;
        _actions = actions.ToFrozenDictionary(a => (a.Feature, a.Action));
    }

    /// <summary>The credit types a team holds balances of.</summary>
    public IReadOnlyList<string> CreditTypes { get; }

    /// <summary>Every action, in catalog order.</summary>
    public IReadOnlyList<CatalogAction> Actions { get; }

    /// <summary>The action, or null when the catalog has no such feature and action.</summary>
    public CatalogAction? Find(string feature, string action) => _actions.GetValueOrDefault((feature, action));

    /// <summary>True when <paramref name="creditType"/> is configured.</summary>
    public bool HasCreditType(string creditType) => CreditTypes.Contains(creditType, StringComparer.Ordinal);

    /// <summary>The catalog shipped with the app.</summary>
    public static Catalog Default { get; } = LoadEmbedded();

    /// <summary>Parses a catalog document.</summary>
    /// <exception cref="FormatException">The document is malformed: the message says where.</exception>
    public static Catalog Parse(string json)
    {
        using var doc = JsonDocument.Parse(json);
        var root = doc.RootElement;
        var creditTypes = root.GetProperty("creditTypes").EnumerateArray().Select(e => e.GetString()!).ToList();
        var actions = new List<CatalogAction>();
        foreach (var feature in root.GetProperty("features").EnumerateArray())
        {
            var featureId = feature.GetProperty("id").GetString()!;
            foreach (var action in feature.GetProperty("actions").EnumerateArray())
            {
                var actionId = action.GetProperty("id").GetString()!;
                var creditType = action.GetProperty("creditType").GetString()!;
                if (!creditTypes.Contains(creditType, StringComparer.Ordinal))
                {
                    throw new FormatException($"Catalog action {featureId}/{actionId} uses unknown credit type '{creditType}'.");
                }
                if (!Credits.TryFromDecimal(action.GetProperty("price").GetDecimal(), out var price) || price < Credits.Zero)
                {
                    throw new FormatException($"Catalog action {featureId}/{actionId} has an invalid price.");
                }
                actions.Add(new CatalogAction(featureId, feature.GetProperty("name").GetString()!, actionId,
                    action.GetProperty("name").GetString()!, creditType, price,
                    action.TryGetProperty("dataType", out var dt) ? dt.GetString() : null));
            }
        }
        var duplicate = actions.GroupBy(a => (a.Feature, a.Action)).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
        {
            throw new FormatException($"Catalog action {duplicate.Key.Feature}/{duplicate.Key.Action} appears twice.");
        }
        return new Catalog(creditTypes, actions);
    }

    private static Catalog LoadEmbedded()
    {
        using var stream = typeof(Catalog).Assembly.GetManifestResourceStream("CreditFunctions.Ledger.catalog.json")
            ?? throw new InvalidOperationException("The embedded catalog is missing.");
        using var reader = new StreamReader(stream);
        return Parse(reader.ReadToEnd());
    }
}
