using System.Numerics;
using System.Text.Json;
using FsCheck;
using FsCheck.Fluent;
using PaymentsKit.Json;
using static PaymentsKit.Tests.Primitives.Assertions;

namespace PaymentsKit.Tests.Primitives;

public sealed class MoneyTests
{
    private static readonly AssetRegistry Registry = new();
    private static readonly Asset Usd = AssetRegistry.Usd;

    private static Gen<Asset> Assets => Gen.Elements(AssetRegistry.BuiltIn.ToArray());

    private static Gen<Money> Amounts =>
        from asset in Assets
        from units in Gen.Choose(int.MinValue, int.MaxValue)
        from scaleUp in Gen.Choose(0, 3)
        select Money.FromMinorUnits(new BigInteger(units) * BigInteger.Pow(10, scaleUp), asset);

    [Fact]
    public void Sign_Predicates_Meets_Specification()
    {
        Prop.ForAll(Amounts.ToArbitrary(), money =>
            money.IsZero == (money.Amount == 0m)
            && money.IsPositive == (money.Amount > 0m)
            && money.IsNegative == (money.Amount < 0m)).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void Zero_Is_Neither_Positive_Nor_Negative_At_Any_Scale_Or_Sign()
    {
        foreach (var asset in AssetRegistry.BuiltIn)
        {
            foreach (var zero in new[] { Money.Zero(asset), Money.Of(-0.0m, asset), Money.Of(1m, asset) - Money.Of(1m, asset) })
            {
                Assert.Equal((true, false, false), (zero.IsZero, zero.IsPositive, zero.IsNegative));
                Assert.Equal(asset.Scale, zero.Amount.Scale);
                Assert.Equal(Money.Of(0m, asset), zero);
            }
        }
    }

    [Theory]
    [InlineData("1.23", "1.23 USD")]
    [InlineData("1.230", "1.23 USD")]
    [InlineData("12.5", "12.50 USD")]
    [InlineData("-0.01", "-0.01 USD")]
    [InlineData("0", "0.00 USD")]
    public void Of_AcceptsAmountsWithinScale_AndFormatsAtExactScale(string amount, string expected)
    {
        Assert.Equal(expected, Money.Of(decimal.Parse(amount, System.Globalization.CultureInfo.InvariantCulture), Usd).ToString());
    }

    [Fact]
    public void Of_RejectsMoreDecimalsThanTheAssetScale()
    {
        var ex = ThrowsCode(PaymentsKitErrorCodes.AmountPrecision, () => Money.Of(1.234m, Usd));
        Assert.Equal(1.234m, ex.Context["amount"]);
        Assert.Equal("USD", ex.Context["asset"]);
        Assert.Contains("1.234", ex.Message, StringComparison.Ordinal);
        ThrowsCode(PaymentsKitErrorCodes.AmountPrecision, () => Money.Of(0.5m, AssetRegistry.Jpy));
        ThrowsCode(PaymentsKitErrorCodes.AmountPrecision, () => Money.Of(0.00000001m, AssetRegistry.Xlm));
    }

    [Fact]
    public void Formats_EveryScale_InvariantCulture()
    {
        Assert.Equal("1500 JPY", Money.Of(1500m, AssetRegistry.Jpy).ToString());
        Assert.Equal("-0.0000001 XLM", Money.Of(-0.0000001m, AssetRegistry.Xlm).ToString());
        Assert.Equal("1.000000000000000001 ETH", Money.Of(1.000000000000000001m, AssetRegistry.Eth).ToString());
        Assert.Equal("0.00000000 HBAR", Money.Zero(AssetRegistry.Hbar).ToString());
    }

    [Fact]
    public void Parse_ReadsTheTextForm()
    {
        var money = Money.Parse("12.50 USD", Registry);
        Assert.Equal(12.5m, money.Amount);
        Assert.Same(Usd, money.Asset);
    }

    [Theory]
    [InlineData(null, PaymentsKitErrorCodes.InvalidArgument)]
    [InlineData("", PaymentsKitErrorCodes.InvalidArgument)]
    [InlineData("   ", PaymentsKitErrorCodes.InvalidArgument)]
    [InlineData("12.50", PaymentsKitErrorCodes.InvalidArgument)]
    [InlineData("12.50  USD", PaymentsKitErrorCodes.InvalidArgument)]
    [InlineData("12,50 USD", PaymentsKitErrorCodes.InvalidArgument)]
    [InlineData("1e5 USD", PaymentsKitErrorCodes.InvalidArgument)]
    [InlineData("1,000.00 USD", PaymentsKitErrorCodes.InvalidArgument)]
    [InlineData("ten USD", PaymentsKitErrorCodes.InvalidArgument)]
    [InlineData("12.50 XXX", PaymentsKitErrorCodes.UnknownAsset)]
    [InlineData("12.505 USD", PaymentsKitErrorCodes.AmountPrecision)]
    public void Parse_RejectsBadText(string? text, string code)
    {
        ThrowsCode(code, () => Money.Parse(text, Registry));
    }

    [Fact]
    public void Parse_RejectsOversizedText()
    {
        var ex = ThrowsCode(PaymentsKitErrorCodes.InvalidArgument, () => Money.Parse(new string('1', 500) + " USD", Registry));
        Assert.Equal("money", ex.Context["field"]);
    }

    [Fact]
    public void Arithmetic_RejectsMixedAssets()
    {
        var usd = Money.Of(1m, Usd);
        var eur = Money.Of(1m, AssetRegistry.Eur);
        ThrowsCode(PaymentsKitErrorCodes.AssetMismatch, () => _ = usd + eur);
        ThrowsCode(PaymentsKitErrorCodes.AssetMismatch, () => _ = usd - eur);
        ThrowsCode(PaymentsKitErrorCodes.AssetMismatch, () => _ = usd < eur);
        Assert.NotEqual(usd, eur);
    }

    [Fact]
    public void Arithmetic_ReportsOverflow()
    {
        var max = Money.Of(decimal.MaxValue, AssetRegistry.Jpy);
        ThrowsCode(PaymentsKitErrorCodes.ArithmeticOverflow, () => _ = max + Money.Of(1m, AssetRegistry.Jpy));
        ThrowsCode(PaymentsKitErrorCodes.ArithmeticOverflow, () => _ = -max - Money.Of(1m, AssetRegistry.Jpy));
        ThrowsCode(PaymentsKitErrorCodes.ArithmeticOverflow, () => max.Multiply(2m, MidpointRounding.ToEven));
        ThrowsCode(PaymentsKitErrorCodes.ArithmeticOverflow, () => Money.FromMinorUnits(BigInteger.Pow(10, 40), Usd));
    }

    [Fact]
    public void Arithmetic_Reports_A_Result_A_Decimal_Cannot_Hold_Exactly_As_Overflow()
    {
        var eth = AssetRegistry.Eth;
        var large = Money.Of(60_000_000_000.000000000000000001m, eth);
        var wei = Money.Of(0.000000000000000001m, eth);

        // 120,000,000,000.000000000000000002 ETH needs 30 digits; a decimal keeps 28 or 29 and would drop the wei.
        ThrowsCode(PaymentsKitErrorCodes.ArithmeticOverflow, () => _ = large + large);
        ThrowsCode(PaymentsKitErrorCodes.ArithmeticOverflow, () => _ = -large - large);
        ThrowsCode(PaymentsKitErrorCodes.ArithmeticOverflow, () => _ = Money.Of(79_228_162_515m, eth) + wei);
        ThrowsCode(PaymentsKitErrorCodes.ArithmeticOverflow, () => large.Multiply(2m, MidpointRounding.ToZero));

        // Large results that a decimal does hold exactly are still answered.
        Assert.Equal(Money.Of(120_000_000_000m, eth), Money.Of(60_000_000_000m, eth) + Money.Of(60_000_000_000m, eth));
        Assert.Equal(Money.Of(100_000_000_000.5m, eth), Money.Of(100_000_000_000m, eth) + Money.Of(0.5m, eth));
        Assert.Equal(Money.Of(79_000_000_000.000000000000000001m, eth), Money.Of(79_000_000_000m, eth) + wei);
        Assert.Equal(large, large + wei - wei);
    }

    [Fact]
    public void Multiply_Rounds_The_Exact_Product_Once()
    {
        var eth = AssetRegistry.Eth;
        var threeWei = Money.Of(0.000000000000000003m, eth);
        var third = 0.3333333333333333333333333333m;
        var zero = Money.Zero(eth);
        var wei = Money.Of(0.000000000000000001m, eth);

        // 3 wei × third is 0.999…9 wei (46 places); decimal first rounds it to 28 places, up to exactly 1 wei, and
        // truncating that would round up what is owed.
        Assert.Equal(zero, threeWei.Multiply(third, MidpointRounding.ToZero));
        Assert.Equal(zero, (-threeWei).Multiply(third, MidpointRounding.ToZero));
        Assert.Equal(zero, threeWei.Multiply(third, MidpointRounding.ToNegativeInfinity));
        Assert.Equal(zero, (-threeWei).Multiply(third, MidpointRounding.ToPositiveInfinity));
        Assert.Equal(wei, threeWei.Multiply(third, MidpointRounding.ToEven));
        Assert.Equal(wei, threeWei.Multiply(third, MidpointRounding.ToPositiveInfinity));
        Assert.Equal(-wei, (-threeWei).Multiply(third, MidpointRounding.AwayFromZero));
        Assert.Equal(-wei, (-threeWei).Multiply(third, MidpointRounding.ToNegativeInfinity));
    }

    [Fact]
    public void Round_And_Truncate_AreExplicit()
    {
        Assert.Equal(Money.Of(1.23m, Usd), Money.Truncate(1.239m, Usd));
        Assert.Equal(Money.Of(-1.23m, Usd), Money.Truncate(-1.239m, Usd));
        Assert.Equal(Money.Of(1.24m, Usd), Money.Round(1.235m, Usd, MidpointRounding.AwayFromZero));
        Assert.Equal(Money.Of(1.24m, Usd), Money.Round(1.235m, Usd, MidpointRounding.ToEven));
        Assert.Equal(Money.Of(1.22m, Usd), Money.Round(1.225m, Usd, MidpointRounding.ToEven));
        Assert.Equal(Money.Of(0.33m, Usd), Money.Of(1m, Usd).Multiply(1m / 3m, MidpointRounding.ToZero));
    }

    [Fact]
    public void MinorUnits_RoundTrip()
    {
        Assert.Equal(new BigInteger(1250), Money.Of(12.5m, Usd).MinorUnits);
        Assert.Equal(BigInteger.One, Money.Of(0.000000000000000001m, AssetRegistry.Eth).MinorUnits);
        Assert.Equal(Money.Of(12.5m, Usd), Money.FromMinorUnits(1250, Usd));

        // Amounts whose smallest units a decimal cannot hold: exact all the same.
        Assert.Equal(BigInteger.Parse("100000000000000000000000000000", System.Globalization.CultureInfo.InvariantCulture), Money.Of(100_000_000_000m, AssetRegistry.Eth).MinorUnits);
        Assert.Equal(-BigInteger.Pow(10, 28) - 5, Money.Of(-10_000_000_000.000000000000000005m, AssetRegistry.Eth).MinorUnits);
    }

    [Fact]
    public void Default_HasNoAsset()
    {
        // Every operation reads the asset, so a default amount handed to any service fails with the stable code.
        var error = Assert.Throws<PaymentsKitException>(() => default(Money).Asset);
        Assert.Equal(PaymentsKitErrorCodes.InvalidArgument, error.Code);
        Assert.Equal(PaymentsKitErrorCodes.InvalidArgument, Assert.Throws<PaymentsKitException>(() => default(Money) + default(Money)).Code);
        Assert.Equal(PaymentsKitErrorCodes.InvalidArgument, Assert.Throws<PaymentsKitException>(() => default(Money).MinorUnits).Code);
        Assert.Equal("(no asset)", default(Money).ToString());
    }

    [Fact]
    public void Json_RoundTripsAsStringAmountAndAssetCode()
    {
        var options = PaymentsKitJson.CreateOptions(Registry);
        var json = JsonSerializer.Serialize(Money.Of(12.5m, Usd), options);
        Assert.Equal("""{"amount":"12.50","asset":"USD"}""", json);
        Assert.Equal(Money.Of(12.5m, Usd), JsonSerializer.Deserialize<Money>(json, options));
        ThrowsCode(PaymentsKitErrorCodes.AmountPrecision, () => JsonSerializer.Deserialize<Money>("""{"amount":"1.001","asset":"USD"}""", options));
        ThrowsCode(PaymentsKitErrorCodes.UnknownAsset, () => JsonSerializer.Deserialize<Money>("""{"amount":"1","asset":"NOPE"}""", options));
        Assert.Throws<JsonException>(() => JsonSerializer.Deserialize<Money>("12.5", options));
    }

    [Fact]
    public void FormatThenParse_Meets_Specification()
    {
        Prop.ForAll(Amounts.ToArbitrary(), money =>
            Money.Parse(money.ToString(), Registry) == money).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void AdditionLaws_Meets_Specification()
    {
        var sameAssetTriples =
            from asset in Assets
            from a in Gen.Choose(-1_000_000, 1_000_000)
            from b in Gen.Choose(-1_000_000, 1_000_000)
            from c in Gen.Choose(-1_000_000, 1_000_000)
            select (Money.FromMinorUnits(a, asset), Money.FromMinorUnits(b, asset), Money.FromMinorUnits(c, asset));
        Prop.ForAll(sameAssetTriples.ToArbitrary(), t =>
        {
            var (a, b, c) = t;
            return a + b == b + a
                && (a + b) + c == a + (b + c)
                && a + b - b == a
                && a + Money.Zero(a.Asset) == a
                && a + -a == Money.Zero(a.Asset)
                && (a + b).MinorUnits == a.MinorUnits + b.MinorUnits;
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void Large_Amounts_Add_Exactly_Or_Overflow_Meets_Specification()
    {
        // Up to about 7.9e10 ETH (what FromMinorUnits takes), so that sums cross the 28-29 significant digits a decimal keeps at 18 places.
        var wei =
            from high in Gen.Choose(-79_000, 79_000)
            from middle in Gen.Choose(0, 999_999_999)
            from low in Gen.Choose(0, 999_999_999)
            from tail in Gen.Choose(0, 999_999)
            select ((new BigInteger(high) * 1_000_000_000 + middle) * 1_000_000_000 + low) * 1_000_000 + (high < 0 ? -tail : tail);
        var pairs = from a in wei from b in wei select (a, b);
        Prop.ForAll(pairs.ToArbitrary(), t =>
        {
            var (a, b) = (Money.FromMinorUnits(t.a, AssetRegistry.Eth), Money.FromMinorUnits(t.b, AssetRegistry.Eth));
            Assert.Equal(t.a, a.MinorUnits);
            foreach (var operation in new Func<Money>[] { () => a + b - b, () => a - b + b })
            {
                Money result;
                try
                {
                    result = operation();
                }
                catch (PaymentsKitException ex) when (ex.Code == PaymentsKitErrorCodes.ArithmeticOverflow)
                {
                    continue;
                }

                if (result != a || result.MinorUnits != t.a)
                {
                    return false;
                }
            }

            return true;
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void PrecisionRejection_Meets_Specification()
    {
        var excess =
            from asset in Gen.Elements(AssetRegistry.BuiltIn.Where(a => a.Scale < 18).ToArray())
            from units in Gen.Choose(-1_000_000, 1_000_000)
            from extra in Gen.Choose(1, 9)
            select (asset, value: (units * 10m + extra) / (decimal)Math.Pow(10, asset.Scale + 1));
        Prop.ForAll(excess.ToArbitrary(), t =>
        {
            var ex = Assert.Throws<PaymentsKitException>(() => Money.Of(t.value, t.asset));
            return ex.Code == PaymentsKitErrorCodes.AmountPrecision;
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void Truncation_Meets_Specification()
    {
        var raw =
            from asset in Assets.Where(a => a.Scale <= 9)
            from whole in Gen.Choose(-1_000_000, 1_000_000)
            from fraction in Gen.Choose(0, int.MaxValue)
            select (asset, value: whole + fraction / 2147483648m);
        Prop.ForAll(raw.ToArbitrary(), t =>
        {
            var truncated = Money.Truncate(t.value, t.asset).Amount;
            return Math.Abs(truncated) <= Math.Abs(t.value)
                && Math.Abs(t.value - truncated) < t.asset.MinorUnit
                && Math.Sign(truncated) * Math.Sign(t.value) >= 0;
        }).QuickCheckThrowOnFailure();
    }
}
