using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using FsCheck;
using FsCheck.Fluent;
using NodaTime;
using PaymentsKit.Ledger;

namespace PaymentsKit.PostgreSql.Tests;

/// <summary>The resolved-transfer answer's reader (decision 0022) reads what the serializer reads, or leaves the document to it.</summary>
public sealed class LedgerTransferDocumentTests
{
    private static readonly JsonSerializerOptions Json = RecordJson.For(TestStores.Json.Options);

    private static Arbitrary<LedgerTransfer> Transfers() =>
        Arb.From(
            from seed in Gen.Choose(0, int.MaxValue)
            from cents in Gen.Choose(1, int.MaxValue)
            from postedShare in Gen.Choose(0, 100)
            from state in Gen.Elements(Enum.GetValues<LedgerTransferState>())
            from timeoutSeconds in Gen.OneOf(Gen.Constant<int?>(null), Gen.Choose(1, 3_000_000).Select(s => (int?)s))
            from entryType in Gen.OneOf(Gen.Constant<LedgerEntryType?>(null), Gen.Elements(Enum.GetValues<LedgerEntryType>()).Select(t => (LedgerEntryType?)t))
            from reference in Gen.OneOf(Gen.Constant<string?>(null), Gen.Elements("pi_1", "ünïcode \"quoted\" \\ ref", "x").Select(r => (string?)r))
            from resolved in Gen.Elements(true, false)
            from nanoseconds in Gen.Choose(0, 999_999_999)
            select Transfer(seed, cents, postedShare, state, timeoutSeconds, entryType, reference, resolved, nanoseconds));

    [Fact]
    public void Reads_What_The_Serializer_Reads_Meets_Specification() =>
        Prop.ForAll(Transfers(), transfer =>
        {
            var document = JsonSerializer.Serialize(transfer, Json);
            Assert.True(LedgerTransferDocument.TryRead(Encoding.UTF8.GetBytes(document), Json, out var read));
            Assert.Equal(JsonSerializer.Deserialize<LedgerTransfer>(document, Json), read);
            Assert.Equal(transfer, LedgerTransferDocument.Read(document, Json));
            return true;
        }).QuickCheckThrowOnFailure();

    [Fact]
    public void Properties_In_Another_Order_Read_The_Same()
    {
        var transfer = Transfer(7, 12_345, 40, LedgerTransferState.Posted, 60, LedgerEntryType.Reserve, "pi_7", true, 5);
        var node = JsonSerializer.SerializeToNode(transfer, Json)!.AsObject();
        var reversed = new JsonObject(node.Reverse().Select(p => KeyValuePair.Create(p.Key, p.Value?.DeepClone())));
        Assert.True(LedgerTransferDocument.TryRead(Encoding.UTF8.GetBytes(reversed.ToJsonString()), Json, out var read));
        Assert.Equal(transfer, read);
    }

    [Theory]
    [InlineData("extra")] // a name it does not know
    [InlineData("missing")] // a property left out
    [InlineData("repeated")] // a property twice
    [InlineData("null")] // null where the record has no null
    [InlineData("bad")] // a value its converter refuses
    public void Any_Other_Shape_Is_Left_To_The_Serializer(string change)
    {
        var transfer = Transfer(3, 500, 100, LedgerTransferState.Posted, null, null, null, true, 0);
        var node = JsonSerializer.SerializeToNode(transfer, Json)!.AsObject();
        var document = node.ToJsonString();
        switch (change)
        {
            case "extra": node["later_field"] = 1; document = node.ToJsonString(); break;
            case "missing": node.Remove("reference"); document = node.ToJsonString(); break;
            case "repeated": document = document[..^1] + ",\"state\":\"voided\"}"; break;
            case "null": node["created_at"] = null; document = node.ToJsonString(); break;
            default: node["created_at"] = "yesterday"; document = node.ToJsonString(); break;
        }

        Assert.False(Try(document));
        if (change is "null" or "bad")
        {
            var expected = Assert.ThrowsAny<JsonException>(() => JsonSerializer.Deserialize<LedgerTransfer>(document, Json));
            var actual = Assert.ThrowsAny<JsonException>(() => LedgerTransferDocument.Read(document, Json));
            Assert.Equal(expected.Message, actual.Message);
        }
        else
        {
            Assert.Equal(JsonSerializer.Deserialize<LedgerTransfer>(document, Json), LedgerTransferDocument.Read(document, Json));
        }
    }

    private static bool Try(string document)
    {
        try
        {
            return LedgerTransferDocument.TryRead(Encoding.UTF8.GetBytes(document), Json, out _);
        }
        catch (JsonException)
        {
            return false;
        }
    }

    private static LedgerTransfer Transfer(
        int seed, int cents, int postedShare, LedgerTransferState state, int? timeoutSeconds, LedgerEntryType? entryType, string? reference, bool resolved, int nanoseconds)
    {
        var random = new Random(seed);
        Guid NextGuid()
        {
            var bytes = new byte[16];
            random.NextBytes(bytes);
            return new Guid(bytes);
        }

        var amount = Money.Of(cents / 100m, AssetRegistry.Usd);
        var posted = Money.Of(cents / 100 * postedShare / 100 / 100m, AssetRegistry.Usd);
        var created = Instant.FromUnixTimeSeconds(1_700_000_000L + random.Next()).PlusNanoseconds(nanoseconds);
        var timeout = timeoutSeconds is { } seconds ? Duration.FromSeconds(seconds) : (Duration?)null;
        return new LedgerTransfer(
            LedgerTransferId.FromGuid(NextGuid()), MerchantId.FromGuid(NextGuid()), LedgerAccountId.FromGuid(NextGuid()), LedgerAccountId.FromGuid(NextGuid()),
            amount, state, posted, amount - posted, timeout, created + timeout, entryType, reference, LedgerTransactionId.FromGuid(NextGuid()),
            resolved ? LedgerTransactionId.FromGuid(NextGuid()) : null, created, resolved ? created + Duration.FromMilliseconds(random.Next(1, 1000)) : null);
    }
}
