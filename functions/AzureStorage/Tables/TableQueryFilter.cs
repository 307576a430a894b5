using System.Globalization;
using System.Text;

namespace CreditFunctions.AzureStorage.Tables;

/// <summary>
/// Builds OData <c>$filter</c> expressions in which every interpolated value is a typed, escaped literal, so a value
/// (user input included) can never change the expression's meaning.
/// </summary>
public static class TableQueryFilter
{
    /// <summary>
    /// Formats <paramref name="filter"/> with each argument as an OData literal: strings quoted with <c>'</c> doubled,
    /// <c>long</c> as <c>123L</c>, dates as <c>datetime'…'</c>, GUIDs as <c>guid'…'</c>, bytes as <c>X'…'</c>.
    /// </summary>
    /// <example><c>TableQueryFilter.Create($"PartitionKey eq {team} and RowKey ge {from}")</c></example>
    /// <exception cref="ArgumentException">An argument has a type that has no OData literal.</exception>
    public static string Create(FormattableString filter)
    {
        ArgumentNullException.ThrowIfNull(filter);
        var args = new object[filter.ArgumentCount];
        for (var i = 0; i < args.Length; i++)
        {
            args[i] = Literal(filter.GetArgument(i));
        }
        return string.Format(CultureInfo.InvariantCulture, filter.Format, args);
    }

    /// <summary>The OData literal for one value.</summary>
    public static string Literal(object? value) => value switch
    {
        null => "null",
        string s => Quote(s),
        char c => Quote(c.ToString()),
        bool b => b ? "true" : "false",
        int i => i.ToString(CultureInfo.InvariantCulture),
        long l => l.ToString(CultureInfo.InvariantCulture) + "L",
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        DateTimeOffset dto => $"datetime'{dto.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffffffZ", CultureInfo.InvariantCulture)}'",
        DateTime dt => Literal(new DateTimeOffset(DateTime.SpecifyKind(dt, dt.Kind == DateTimeKind.Unspecified ? DateTimeKind.Utc : dt.Kind))),
        Guid g => $"guid'{g:D}'",
        byte[] bytes => $"X'{Convert.ToHexStringLower(bytes)}'",
        BinaryData data => $"X'{Convert.ToHexStringLower(data.ToArray())}'",
        _ => throw new ArgumentException($"A value of type {value.GetType().Name} has no OData literal.", nameof(value)),
    };

    private static string Quote(string s)
    {
        var sb = new StringBuilder(s.Length + 2).Append('\'');
        foreach (var ch in s)
        {
            sb.Append(ch);
            if (ch == '\'')
            {
                sb.Append('\'');
            }
        }
        return sb.Append('\'').ToString();
    }
}
