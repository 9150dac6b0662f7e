using System.Text.Json;
using System.Text.Json.Nodes;
using NodaTime;
using PaymentsKit.Chains;
using PaymentsKit.Invoicing;
using PaymentsKit.Json;
using PaymentsKit.Testing;

namespace PaymentsKit.Tests.Invoicing;

/// <summary><see cref="Payment"/> as a value: equality by content, including its <see cref="Payment.Unapplied"/> amounts.</summary>
public sealed class PaymentRecordTests
{
    private static readonly JsonSerializerOptions Json = PaymentsKitJson.CreateOptions(new AssetRegistry());

    private static readonly ManualClock Clock = new();

    private static readonly Payment Base = new(
        PaymentId.New(Clock),
        MerchantId.New(Clock),
        ChainId.Stellar,
        "hash-1",
        InvoiceId: null,
        LinkId: null,
        ClientId: null,
        Money.Of(100m, AssetRegistry.Xlm),
        "payer",
        "merchant",
        Memo: null,
        Confirmations: 3,
        ChainTimestamp: null,
        PaymentStatus.Confirmed,
        ReviewCode: null,
        ReviewReason: null,
        Excess: null,
        Instant.FromUtc(2026, 3, 1, 0, 0));

    [Fact]
    public void Payments_With_The_Same_Unapplied_Amounts_In_Separate_Lists_Are_Equal()
    {
        var left = Base with { Unapplied = new List<Money> { Money.Of(25m, AssetRegistry.Usdc) } };
        var right = Base with { Unapplied = new List<Money> { Money.Of(25m, AssetRegistry.Usdc) } };

        Assert.Equal(left, right);
        Assert.Equal(left.GetHashCode(), right.GetHashCode());
        Assert.NotEqual(left, Base with { Unapplied = new List<Money> { Money.Of(26m, AssetRegistry.Usdc) } });
        Assert.NotEqual(left, Base);
    }

    [Fact]
    public void A_Payment_Keeps_Its_Unapplied_Amounts_When_The_Callers_List_Changes()
    {
        var amounts = new List<Money> { Money.Of(25m, AssetRegistry.Usdc) };
        var payment = Base with { Unapplied = amounts };
        amounts.Add(Money.Of(1m, AssetRegistry.Usdc));

        Assert.Equal([Money.Of(25m, AssetRegistry.Usdc)], payment.Unapplied!);
    }

    [Fact]
    public void A_Stored_Payment_Reads_Back_Equal_And_Keeps_Its_Json_Shape()
    {
        var payment = Base with { Unapplied = new List<Money> { Money.Of(25m, AssetRegistry.Usdc), Money.Of(1m, AssetRegistry.Eurc) } };
        var json = JsonSerializer.Serialize(payment, Json);

        Assert.Equal(payment, JsonSerializer.Deserialize<Payment>(json, Json));
        Assert.Equal(
            """[{"amount":"25.000000","asset":"USDC"},{"amount":"1.000000","asset":"EURC"}]""",
            JsonNode.Parse(json)!["unapplied"]!.ToJsonString());
        Assert.Equal(Base, JsonSerializer.Deserialize<Payment>(JsonSerializer.Serialize(Base, Json), Json));
    }

    [Fact]
    public void Only_The_Unapplied_Amounts_Booked_At_Receipt_Are_Held_And_A_Payment_Stored_Without_That_Record_Holds_None_Of_Them()
    {
        var usdc = Money.Of(25m, AssetRegistry.Usdc);
        var payment = Base with { Unapplied = new List<Money> { usdc, Money.Of(1m, AssetRegistry.Eurc) }, BookedUnapplied = new List<Money> { usdc } };
        var json = JsonSerializer.Serialize(payment, Json);

        Assert.Equal([usdc], payment.HeldUnapplied);
        Assert.Equal(payment, JsonSerializer.Deserialize<Payment>(json, Json));
        Assert.Equal("""[{"amount":"25.000000","asset":"USDC"}]""", JsonNode.Parse(json)!["booked_unapplied"]!.ToJsonString());
        Assert.NotEqual(payment, payment with { BookedUnapplied = null });

        // Stored before BookedUnapplied existed: still readable, but whether its other assets were booked is unknown, so none is held.
        var stored = JsonNode.Parse(json)!.AsObject();
        stored.Remove("booked_unapplied");
        var legacy = JsonSerializer.Deserialize<Payment>(stored.ToJsonString(), Json)!;
        Assert.Equal(payment.Unapplied, legacy.Unapplied);
        Assert.Null(legacy.BookedUnapplied);
        Assert.Empty(legacy.HeldUnapplied);
    }
}
