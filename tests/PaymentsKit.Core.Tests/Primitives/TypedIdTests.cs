using System.Text.Json;
using FsCheck;
using FsCheck.Fluent;
using NodaTime;
using PaymentsKit.Storage;
using PaymentsKit.Testing;
using static PaymentsKit.Tests.Primitives.Assertions;

namespace PaymentsKit.Tests.Primitives;

public sealed class TypedIdTests
{
    [Fact]
    public void New_IsPrefixedUuidV7_StampedWithTheClock()
    {
        var clock = new ManualClock(Instant.FromUtc(2026, 11, 22, 10, 0));
        var id = MerchantId.New(clock);
        Assert.Equal(7, id.Value.Version);
        var text = id.ToString();
        Assert.StartsWith("mer_", text, StringComparison.Ordinal);
        Assert.Equal(30, text.Length);
        Assert.Matches("^mer_[0-7][0-9a-hjkmnp-tv-z]{25}$", text);

        Assert.Equal(clock.GetCurrentInstant().ToUnixTimeMilliseconds(), MillisecondsOf(id.Value));
    }

    [Fact]
    public void Ids_SortByCreationTime_AsText()
    {
        var clock = new ManualClock();
        var ids = new List<MerchantId>();
        for (var i = 0; i < 50; i++)
        {
            ids.Add(MerchantId.New(clock));
            clock.Advance(Duration.FromMilliseconds(1));
        }

        Assert.Equal(ids.Select(i => i.ToString()), ids.Select(i => i.ToString()).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Version7_Ids_Of_One_Thread_Sort_As_Created_Meets_Specification()
    {
        // Steps of 0–2 ms, mostly 0: many ids share a millisecond, as at a million ledger transfers a second.
        var steps = Gen.Frequency((6, Gen.Constant(0L)), (1, Gen.Choose(1, 2).Select(step => (long)step))).ArrayOf().ToArbitrary();
        Prop.ForAll(steps, steps =>
        {
            var at = Instant.FromUtc(2026, 12, 5, 0, 0) + Duration.FromTicks(Random.Shared.Next(10_000));
            var ids = new List<Guid>();
            foreach (var step in steps.Prepend(0))
            {
                at += Duration.FromMilliseconds(step);
                var id = TypedId.Version7(at);
                Assert.Equal(at.ToUnixTimeMilliseconds(), MillisecondsOf(id));
                Assert.Equal(7, id.Version);
                Assert.Equal(0b10, id.Variant >> 2);
                ids.Add(id);
            }

            return ids.Zip(ids.Skip(1)).All(pair => GuidOrder.Instance.Compare(pair.First, pair.Second) < 0);
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void Version7_Stamps_Each_Id_With_Its_Instant_When_The_Clock_Goes_Back()
    {
        var later = Instant.FromUtc(2026, 12, 5, 0, 0, 1);
        var earlier = later - Duration.FromMilliseconds(1);
        var first = TypedId.Version7(later);
        var second = TypedId.Version7(earlier);
        var third = TypedId.Version7(earlier);

        Assert.Equal([later.ToUnixTimeMilliseconds(), earlier.ToUnixTimeMilliseconds(), earlier.ToUnixTimeMilliseconds()], new[] { first, second, third }.Select(MillisecondsOf));
        Assert.True(GuidOrder.Instance.Compare(second, first) < 0);
        Assert.True(GuidOrder.Instance.Compare(second, third) < 0);
    }

    [Fact]
    public void FormatThenParse_Meets_Specification()
    {
        Prop.ForAll(ArbMap.Default.ArbFor<Guid>(), guid =>
        {
            var id = new MerchantId(guid);
            return MerchantId.Parse(id.ToString()) == id;
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void Every_Id_Type_Round_Trips_Its_Text_And_Json_And_Refuses_Every_Other_Types_Text_Meets_Specification()
    {
        // Each id type is written by hand; this catches a copied prefix, ToString, Parse or JSON converter.
        var types = typeof(MerchantId).Assembly.GetTypes()
            .Where(t => t.IsValueType && t.GetInterfaces().Any(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(ITypedId<>) && i.GenericTypeArguments[0] == t))
            .OrderBy(t => t.FullName, StringComparer.Ordinal)
            .ToArray();
        Assert.True(types.Length > 20, $"found only {types.Length} id types");
        var checks = types.ToDictionary(t => t, t => typeof(TypedIdTests).GetMethod(nameof(Check), System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static)!.MakeGenericMethod(t));
        var prefixes = types.Select(t => (string)t.GetProperty("Prefix")!.GetValue(null)!).ToArray();
        Assert.Equal(prefixes.Length, prefixes.Distinct(StringComparer.Ordinal).Count());

        Prop.ForAll(ArbMap.Default.ArbFor<Guid>(), guid =>
        {
            var texts = types.ToDictionary(t => t, t => (string)checks[t].Invoke(null, [guid, null])!);
            foreach (var type in types)
            {
                foreach (var (other, text) in texts)
                {
                    Assert.Equal(other == type, (bool)checks[type].Invoke(null, [guid, text])!);
                }
            }
        }).QuickCheckThrowOnFailure();
    }

    // Without text: checks TId's own forms for the guid and returns its text. With text: whether TId accepts it.
    private static object Check<TId>(Guid guid, string? text)
        where TId : struct, ITypedId<TId>
    {
        var id = TId.FromGuid(guid);
        if (text is not null)
        {
            var accepted = TypedId.TryParse<TId>(text, out var parsed);
            Assert.True(!accepted || parsed.Equals(id), $"{typeof(TId).Name} read {text} as {parsed}");
            return accepted;
        }

        var formatted = id.ToString()!;
        Assert.Equal(TypedId.Format(id), formatted);
        Assert.StartsWith(TId.Prefix + "_", formatted, StringComparison.Ordinal);
        Assert.Equal(id, TypedId.Parse<TId>(formatted));
        if (typeof(TId).GetMethod("Parse", [typeof(string)]) is { } parse)
        {
            Assert.Equal(id, parse.Invoke(null, [formatted]));
        }

        var json = JsonSerializer.Serialize(id);
        Assert.Equal("\"" + formatted + "\"", json);
        Assert.Equal(id, JsonSerializer.Deserialize<TId>(json));
        return formatted;
    }

    [Fact]
    public void KnownEncoding_MatchesTypeIdLayout()
    {
        // The all-ones UUID is the largest value: '7' then 25 'z' in TypeID's base32.
        Assert.Equal("mer_7zzzzzzzzzzzzzzzzzzzzzzzzz", new MerchantId(Guid.AllBitsSet).ToString());
        Assert.Equal("mer_00000000000000000000000000", new MerchantId(Guid.Empty).ToString());
        Assert.Equal(new MerchantId(Guid.AllBitsSet), MerchantId.Parse("mer_7zzzzzzzzzzzzzzzzzzzzzzzzz"));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("mer_")]
    [InlineData("inv_00000000000000000000000000")]
    [InlineData("mer-00000000000000000000000000")]
    [InlineData("MER_00000000000000000000000000")]
    [InlineData("mer_0000000000000000000000000")]
    [InlineData("mer_000000000000000000000000000")]
    [InlineData("mer_80000000000000000000000000")]
    [InlineData("mer_0000000000000000000000000u")]
    [InlineData("mer_0000000000000000000000000I")]
    [InlineData("mer_000000000000000000000000é0")]
    public void Parse_RejectsMalformedText(string? text)
    {
        var ex = ThrowsCode(PaymentsKitErrorCodes.MalformedId, () => MerchantId.Parse(text));
        Assert.Equal(nameof(MerchantId), ex.Context["type"]);
        Assert.False(TypedId.TryParse<MerchantId>(text, out _));
    }

    [Fact]
    public void Json_WritesTheTextForm_AndRejectsBadIds()
    {
        var id = MerchantId.New(new ManualClock());
        var json = JsonSerializer.Serialize(new { merchant = id, byId = new Dictionary<MerchantId, int> { [id] = 1 } });
        Assert.Equal("{\"merchant\":\"" + id + "\",\"byId\":{\"" + id + "\":1}}", json);
        Assert.Equal(id, JsonSerializer.Deserialize<MerchantId>($"\"{id}\""));
        ThrowsCode(PaymentsKitErrorCodes.MalformedId, () => JsonSerializer.Deserialize<MerchantId>("\"inv_00000000000000000000000000\""));
        Assert.Throws<JsonException>(() => JsonSerializer.Deserialize<MerchantId>("42"));
    }

    private static long MillisecondsOf(Guid id)
    {
        Span<byte> bytes = stackalloc byte[16];
        id.TryWriteBytes(bytes, bigEndian: true, out _);
        var millis = 0L;
        for (var i = 0; i < 6; i++)
        {
            millis = (millis << 8) | bytes[i];
        }

        return millis;
    }
}
