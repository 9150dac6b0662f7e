using System.Text.Json;
using FsCheck;
using FsCheck.Fluent;
using NodaTime;
using NodaTime.Text;
using PaymentsKit.Json;

namespace PaymentsKit.Core.Tests.Primitives;

public sealed class IsoInstantTests
{
    private static readonly JsonSerializerOptions Json = new() { Converters = { new InstantJsonConverter() } };

    private static readonly int FirstDay = (int)(Instant.FromUtc(-9998, 1, 1, 0, 0).ToUnixTimeSeconds() / 86_400);
    private static readonly int LastDay = (int)(Instant.FromUtc(9999, 12, 31, 0, 0).ToUnixTimeSeconds() / 86_400);
    private static readonly int Day2000 = (int)(Instant.FromUtc(2000, 1, 1, 0, 0).ToUnixTimeSeconds() / 86_400);

    /// <summary>Instants across NodaTime's whole range (mostly this century), with every fraction length.</summary>
    private static Arbitrary<Instant> Instants() =>
        Arb.From(
            from day in Gen.Frequency((1, Gen.Choose(FirstDay, LastDay)), (3, Gen.Choose(Day2000, Day2000 + 36_500)))
            from second in Gen.Choose(0, 86_399)
            from nanoseconds in Gen.OneOf(
                Gen.Constant(0),
                Gen.Choose(0, 999).Select(ms => ms * 1_000_000),
                Gen.Choose(0, 9_999_999).Select(ticks => ticks * 100),
                Gen.Choose(0, 999_999_999))
            select Instant.FromUnixTimeSeconds((day * 86_400L) + second).PlusNanoseconds(nanoseconds));

    [Fact]
    public void Format_Equals_The_Extended_Iso_Pattern_Meets_Specification() =>
        Prop.ForAll(Instants(), instant => IsoInstant.Format(instant) == InstantPattern.ExtendedIso.Format(instant)).QuickCheckThrowOnFailure();

    [Fact]
    public void Parse_Reads_What_The_Pattern_Writes_Meets_Specification() =>
        Prop.ForAll(Instants(), instant =>
        {
            var text = InstantPattern.ExtendedIso.Format(instant);
            return IsoInstant.Parse(text) == instant
                && JsonSerializer.Deserialize<Instant>(JsonSerializer.Serialize(instant, Json), Json) == instant
                && JsonSerializer.Serialize(instant, Json) == "\"" + text + "\"";
        }).QuickCheckThrowOnFailure();

    [Theory]
    [InlineData("2026-12-05T08:13:57Z")]
    [InlineData("2026-12-05T08:13:57.1Z")]
    [InlineData("2026-12-05T08:13:57.123456789Z")]
    [InlineData("2024-02-29T23:59:59.000000001Z")]
    [InlineData("0001-01-01T00:00:00Z")]
    [InlineData("9999-12-31T23:59:59.999999999Z")]
    [InlineData("2026-12-05T08:13:57,5Z")] // the pattern's other separator: left to the pattern
    [InlineData("-0001-01-01T00:00:00Z")] // a year the common shape does not cover: left to the pattern
    [InlineData("2026-12-05T24:00:00Z")] // the end of the day, which the pattern reads as the next midnight: left to it
    public void Parse_Equals_The_Pattern_On_Valid_Text(string text)
    {
        Assert.Equal(InstantPattern.ExtendedIso.Parse(text).Value, IsoInstant.Parse(text));
        Assert.Equal(InstantPattern.ExtendedIso.Parse(text).Value, JsonSerializer.Deserialize<Instant>("\"" + text + "\"", Json));
        Assert.True(IsoInstant.TryParse(text, out var parsed));
        Assert.Equal(InstantPattern.ExtendedIso.Parse(text).Value, parsed);
    }

    [Theory]
    [InlineData("2026-12-05T08:13:57")]
    [InlineData("2026-12-05T08:13:57.Z")]
    [InlineData("2026-12-05T08:13:57.1234567890Z")]
    [InlineData("2026-02-29T08:13:57Z")]
    [InlineData("2026-13-05T08:13:57Z")]
    [InlineData("2026-12-05T08:60:57Z")]
    [InlineData("2026-12-05 08:13:57Z")]
    [InlineData("2026-12-05T08:13:5xZ")]
    [InlineData("")]
    public void Parse_Fails_As_The_Pattern_Does_On_Bad_Text(string text)
    {
        Assert.False(InstantPattern.ExtendedIso.Parse(text).Success);
        var expected = Assert.Throws<UnparsableValueException>(() => InstantPattern.ExtendedIso.Parse(text).Value);
        var actual = Assert.Throws<UnparsableValueException>(() => IsoInstant.Parse(text));
        Assert.Equal(expected.Message, actual.Message);
        Assert.False(IsoInstant.TryParse(text, out _));
        Assert.Throws<JsonException>(() => JsonSerializer.Deserialize<Instant>("\"" + text + "\"", Json));
    }
}
