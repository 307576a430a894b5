using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace CreditFunctions.Ledger;

/// <summary>
/// An exact amount of credits, stored as an integer number of thousandths (so 0.5 is 500). Never floating point.
/// In JSON it is a decimal number; more than three decimals is an error, never a rounding.
/// </summary>
[JsonConverter(typeof(CreditsJsonConverter))]
public readonly record struct Credits(long Thousandths) : IComparable<Credits>
{
    /// <summary>Thousandths in one credit.</summary>
    public const long Scale = 1000;

    /// <summary>The largest amount one operation may move: one billion credits.</summary>
    public static readonly Credits MaxAmount = new(1_000_000_000L * Scale);

    /// <summary>No credits.</summary>
    public static readonly Credits Zero = new(0);

    /// <summary>The amount as a decimal number of credits.</summary>
    public decimal Value => (decimal)Thousandths / Scale;

    /// <summary>Converts a decimal amount; more than three decimal places is not representable and throws.</summary>
    /// <exception cref="ArgumentException">The amount has more than three decimal places or is out of range.</exception>
    public static Credits FromDecimal(decimal value)
    {
        var scaled = value * Scale;
        if (scaled != decimal.Truncate(scaled))
        {
            throw new ArgumentException("Credit amounts have at most three decimal places.", nameof(value));
        }
        if (scaled > MaxAmount.Thousandths || scaled < -MaxAmount.Thousandths)
        {
            throw new ArgumentException("Credit amounts are at most one billion.", nameof(value));
        }
        return new Credits((long)scaled);
    }

    /// <summary>Parses a decimal amount if it is exact to three places and in range.</summary>
    public static bool TryFromDecimal(decimal value, out Credits credits)
    {
        var scaled = value * Scale;
        if (scaled != decimal.Truncate(scaled) || scaled > MaxAmount.Thousandths || scaled < -MaxAmount.Thousandths)
        {
            credits = Zero;
            return false;
        }
        credits = new Credits((long)scaled);
        return true;
    }

    /// <summary>Sum.</summary>
    public static Credits operator +(Credits a, Credits b) => new(checked(a.Thousandths + b.Thousandths));

    /// <summary>Difference.</summary>
    public static Credits operator -(Credits a, Credits b) => new(checked(a.Thousandths - b.Thousandths));

    /// <summary>Negation.</summary>
    public static Credits operator -(Credits a) => new(-a.Thousandths);

    /// <summary>Multiplication by a count (rows × price).</summary>
    public static Credits operator *(Credits a, long count) => new(checked(a.Thousandths * count));

    /// <summary>Ordering.</summary>
    public static bool operator <(Credits a, Credits b) => a.Thousandths < b.Thousandths;

    /// <summary>Ordering.</summary>
    public static bool operator >(Credits a, Credits b) => a.Thousandths > b.Thousandths;

    /// <summary>Ordering.</summary>
    public static bool operator <=(Credits a, Credits b) => a.Thousandths <= b.Thousandths;

    /// <summary>Ordering.</summary>
    public static bool operator >=(Credits a, Credits b) => a.Thousandths >= b.Thousandths;

    /// <summary>The smaller of two amounts.</summary>
    public static Credits Min(Credits a, Credits b) => a <= b ? a : b;

    /// <inheritdoc />
    public int CompareTo(Credits other) => Thousandths.CompareTo(other.Thousandths);

    /// <inheritdoc />
    public override string ToString() => Value.ToString("0.###", CultureInfo.InvariantCulture);
}

/// <summary>Writes credits as a JSON decimal number and reads one, refusing more than three decimals.</summary>
public sealed class CreditsJsonConverter : JsonConverter<Credits>
{
    /// <inheritdoc />
    public override Credits Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType != JsonTokenType.Number || !reader.TryGetDecimal(out var value) || !Credits.TryFromDecimal(value, out var credits))
        {
            throw new JsonException("must be a number with at most three decimal places");
        }
        return credits;
    }

    /// <inheritdoc />
    public override void Write(Utf8JsonWriter writer, Credits value, JsonSerializerOptions options) =>
        writer.WriteNumberValue(value.Value);
}
