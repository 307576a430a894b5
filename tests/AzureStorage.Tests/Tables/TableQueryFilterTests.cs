using CreditFunctions.AzureStorage.Tables;

namespace CreditFunctions.AzureStorage.Tests.Tables;

public sealed class TableQueryFilterTests
{
    [Fact]
    public void Every_value_becomes_a_typed_literal_and_quotes_are_doubled()
    {
        var at = new DateTimeOffset(2026, 11, 21, 10, 0, 0, TimeSpan.FromHours(2));
        var id = Guid.Parse("0f8fad5b-d9cb-469f-a165-70867728950e");
        var filter = TableQueryFilter.Create($"A eq {"O'Brien"} and B eq {5} and C eq {5L} and D eq {true} and E ge {at} and F eq {id} and G eq {new byte[] { 1, 255 }} and H eq {1.5}");
        Assert.Equal(
            "A eq 'O''Brien' and B eq 5 and C eq 5L and D eq true and E ge datetime'2026-11-21T08:00:00.0000000Z' " +
            "and F eq guid'0f8fad5b-d9cb-469f-a165-70867728950e' and G eq X'01ff' and H eq 1.5",
            filter);
    }

    [Fact]
    public void An_injection_attempt_stays_inside_its_string_literal()
    {
        Assert.Equal("Name eq ''' or ''1'' eq ''1'", TableQueryFilter.Create($"Name eq {"' or '1' eq '1"}"));
    }

    [Fact]
    public void A_value_without_an_odata_literal_is_refused()
    {
        Assert.Throws<ArgumentException>(() => TableQueryFilter.Create($"A eq {new object()}"));
    }
}
