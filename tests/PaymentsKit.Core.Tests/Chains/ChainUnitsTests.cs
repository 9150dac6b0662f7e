using System.Numerics;
using FsCheck;
using FsCheck.Fluent;
using PaymentsKit.Chains;

namespace PaymentsKit.Core.Tests.Chains;

public sealed class ChainUnitsTests
{
    private static readonly ChainId Sim = ChainId.Of("sim");
    private static readonly BigInteger MaxUnits = (BigInteger.One << 96) - 1;

    [Theory]
    [InlineData("1.5", 7, "15000000")]
    [InlineData("0.0000001", 7, "1")]
    [InlineData("-2.25", 2, "-225")]
    [InlineData("1500", 0, "1500")]
    [InlineData("1", 18, "1000000000000000000")]
    [InlineData("0", 18, "0")]
    [InlineData("79228162514.264337593543950335", 18, "79228162514264337593543950335")]
    public void Converts_Exactly_Both_Ways(string amount, int scale, string units)
    {
        var asset = Asset.Create("T", scale, Sim);
        var money = Money.Of(decimal.Parse(amount, System.Globalization.CultureInfo.InvariantCulture), asset);
        Assert.Equal(BigInteger.Parse(units, System.Globalization.CultureInfo.InvariantCulture), ChainUnits.ToBaseUnits(money, Sim));
        Assert.Equal(money, ChainUnits.FromBaseUnits(BigInteger.Parse(units, System.Globalization.CultureInfo.InvariantCulture), asset, Sim));
    }

    [Fact]
    public void Too_Many_Base_Units_Overflow_With_A_Clear_Error()
    {
        var asset = Asset.Create("T", 18, Sim);
        Assert.Equal(Money.Of(79228162514.264337593543950335m, asset), ChainUnits.FromBaseUnits(MaxUnits, asset, Sim));
        var error = Assert.Throws<PaymentsKitException>(() => ChainUnits.FromBaseUnits(MaxUnits + 1, asset, Sim));
        Assert.Equal(PaymentsKitErrorCodes.ArithmeticOverflow, error.Code);
        Assert.Contains("79228162514264337593543950336", error.Message, StringComparison.Ordinal);
        Assert.Equal(PaymentsKitErrorCodes.ArithmeticOverflow, Assert.Throws<PaymentsKitException>(() => ChainUnits.FromBaseUnits(-(MaxUnits + 1), asset, Sim)).Code);
    }

    [Fact]
    public void Try_From_Base_Units_Converts_Exactly_Or_Says_The_Value_Does_Not_Fit()
    {
        var asset = Asset.Create("T", 18, Sim);
        Assert.True(ChainUnits.TryFromBaseUnits(MaxUnits, asset, Sim, out var largest));
        Assert.Equal(Money.Of(79228162514.264337593543950335m, asset), largest);
        Assert.True(ChainUnits.TryFromBaseUnits(-MaxUnits, asset, Sim, out var smallest));
        Assert.Equal(Money.Of(-79228162514.264337593543950335m, asset), smallest);
        Assert.False(ChainUnits.TryFromBaseUnits(MaxUnits + 1, asset, Sim, out _));
        Assert.False(ChainUnits.TryFromBaseUnits(-(MaxUnits + 1), asset, Sim, out _));
        Assert.Equal(PaymentsKitErrorCodes.InvalidArgument, Assert.Throws<PaymentsKitException>(() => ChainUnits.TryFromBaseUnits(1, AssetRegistry.Sol, Sim, out _)).Code);
    }

    [Fact]
    public void Assets_Of_Other_Chains_Are_Rejected_And_Off_Chain_Assets_Accepted()
    {
        var error = Assert.Throws<PaymentsKitException>(() => ChainUnits.ToBaseUnits(Money.Of(1m, AssetRegistry.Eth), Sim));
        Assert.Equal(PaymentsKitErrorCodes.InvalidArgument, error.Code);
        Assert.Contains("ethereum", error.Message, StringComparison.Ordinal);
        Assert.Equal(PaymentsKitErrorCodes.InvalidArgument, Assert.Throws<PaymentsKitException>(() => ChainUnits.FromBaseUnits(1, AssetRegistry.Sol, Sim)).Code);
        Assert.Equal(new BigInteger(1234), ChainUnits.ToBaseUnits(Money.Of(12.34m, AssetRegistry.Usd), Sim));
        Assert.Equal(new BigInteger(10_000_000), ChainUnits.ToBaseUnits(Money.Of(1m, AssetRegistry.Xlm), ChainId.Stellar));
    }

    [Theory]
    [InlineData("12", 12)]
    [InlineData("-7", -7)]
    [InlineData("0", 0)]
    public void Parses_Integer_Base_Units(string text, long expected) =>
        Assert.Equal(new BigInteger(expected), ChainUnits.ParseInteger(text, "value"));

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("1.5")]
    [InlineData("1e5")]
    [InlineData(" 1")]
    [InlineData("0x10")]
    public void Rejects_Malformed_Integers(string? text) =>
        Assert.Equal(PaymentsKitErrorCodes.InvalidArgument, Assert.Throws<PaymentsKitException>(() => ChainUnits.ParseInteger(text, "value")).Code);

    private static Gen<BigInteger> UnitsGen() =>
        from lo in Gen.Choose(int.MinValue, int.MaxValue)
        from mid in Gen.Choose(int.MinValue, int.MaxValue)
        from hi in Gen.Choose(int.MinValue, int.MaxValue)
        from width in Gen.Choose(0, 3)
        from negative in Gen.Elements(true, false)
        let magnitude = width switch
        {
            0 => new BigInteger(unchecked((uint)lo) % 1000),
            1 => new BigInteger(unchecked((uint)lo)),
            2 => new BigInteger(unchecked((uint)lo)) | (new BigInteger(unchecked((uint)mid)) << 32),
            _ => new BigInteger(unchecked((uint)lo)) | (new BigInteger(unchecked((uint)mid)) << 32) | (new BigInteger(unchecked((uint)hi)) << 64),
        }
        select negative ? -magnitude : magnitude;

    [Fact]
    public void Base_Units_Round_Trip_Meets_Specification()
    {
        var arbitrary = Arb.From(from units in UnitsGen() from scale in Gen.Choose(0, 18) select (units, scale));
        Prop.ForAll(arbitrary, pair =>
        {
            var asset = Asset.Create("T", pair.scale, Sim);
            var money = ChainUnits.FromBaseUnits(pair.units, asset, Sim);
            return ChainUnits.ToBaseUnits(money, Sim) == pair.units
                && money.Asset == asset
                && money.Amount * Pow10(pair.scale) == (decimal)pair.units;
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void Money_Round_Trip_Meets_Specification()
    {
        var arbitrary = Arb.From(
            from whole in Gen.Choose(-1_000_000_000, 1_000_000_000)
            from fraction in Gen.Choose(0, 999_999_999)
            from scale in Gen.Choose(0, 18)
            select (whole, fraction, scale));
        Prop.ForAll(arbitrary, t =>
        {
            var asset = Asset.Create("T", t.scale, Sim);
            var amount = Money.Truncate(t.whole + (t.fraction / 1_000_000_000m), asset);
            var units = ChainUnits.ToBaseUnits(amount, Sim);
            return ChainUnits.FromBaseUnits(units, asset, Sim) == amount && units == amount.MinorUnits;
        }).QuickCheckThrowOnFailure();
    }

    private static decimal Pow10(int exponent)
    {
        var result = 1m;
        for (var i = 0; i < exponent; i++)
        {
            result *= 10m;
        }

        return result;
    }
}
