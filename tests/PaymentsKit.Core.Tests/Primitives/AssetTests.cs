using static PaymentsKit.Tests.Primitives.Assertions;

namespace PaymentsKit.Tests.Primitives;

public sealed class AssetTests
{
    [Fact]
    public void Create_ValidatesEveryField()
    {
        Assert.Equal("invalid_argument", ThrowsCode(PaymentsKitErrorCodes.InvalidArgument, () => Asset.Create("", 2)).Code);
        Assert.Equal("asset.code", ThrowsCode(PaymentsKitErrorCodes.InvalidArgument, () => Asset.Create("US D", 2)).Context["field"]);
        Assert.Equal("asset.code", ThrowsCode(PaymentsKitErrorCodes.InvalidArgument, () => Asset.Create(new string('A', 33), 2)).Context["field"]);
        Assert.Equal("asset.scale", ThrowsCode(PaymentsKitErrorCodes.InvalidArgument, () => Asset.Create("ABC", -1)).Context["field"]);
        Assert.Equal("asset.scale", ThrowsCode(PaymentsKitErrorCodes.InvalidArgument, () => Asset.Create("ABC", 19)).Context["field"]);
        Assert.Equal("asset.identifier", ThrowsCode(PaymentsKitErrorCodes.InvalidArgument, () => Asset.Create("ABC", 2, identifier: "x")).Context["field"]);
        Assert.Equal("asset.identifier", ThrowsCode(PaymentsKitErrorCodes.InvalidArgument, () => Asset.Create("ABC", 2, ChainId.Stellar, "  ")).Context["field"]);
    }

    [Fact]
    public void Assets_AreEqualOnlyWhenEveryFieldIs()
    {
        Assert.Equal(Asset.Create("USDC", 6, ChainId.Stellar, "GA5Z"), Asset.Create("USDC", 6, ChainId.Stellar, "GA5Z"));
        Assert.NotEqual(Asset.Create("USDC", 6, ChainId.Stellar, "GA5Z"), Asset.Create("USDC", 6, ChainId.Ethereum, "GA5Z"));
        Assert.NotEqual(Asset.Create("USDC", 6), Asset.Create("USDC", 7));
    }

    [Fact]
    public void MinorUnit_IsTenToMinusScale()
    {
        Assert.Equal(0.01m, AssetRegistry.Usd.MinorUnit);
        Assert.Equal(1m, AssetRegistry.Jpy.MinorUnit);
        Assert.Equal(0.000000000000000001m, AssetRegistry.Eth.MinorUnit);
    }

    [Theory]
    [InlineData("XLM", 7)]
    [InlineData("USDC", 6)]
    [InlineData("EURC", 6)]
    [InlineData("ETH", 18)]
    [InlineData("SOL", 9)]
    [InlineData("HBAR", 8)]
    [InlineData("USD", 2)]
    [InlineData("USD.6", 6)]
    [InlineData("EUR", 2)]
    [InlineData("GBP", 2)]
    [InlineData("THB", 2)]
    [InlineData("JPY", 0)]
    public void Registry_HoldsTheSeedAssets(string code, int scale)
    {
        Assert.Equal(scale, new AssetRegistry().Get(code).Scale);
    }

    [Fact]
    public void Registry_AddsHostAssets_IdempotentlyAndRejectsConflicts()
    {
        var registry = new AssetRegistry();
        var gold = Asset.Create("GOLD", 4, ChainId.Stellar, "GISSUER");
        Assert.Same(gold, registry.Register(gold));
        Assert.Same(gold, registry.Register(Asset.Create("GOLD", 4, ChainId.Stellar, "GISSUER")));
        Assert.Same(gold, registry.Get("GOLD"));
        ThrowsCode(PaymentsKitErrorCodes.AssetConflict, () => registry.Register(Asset.Create("GOLD", 5)));
        ThrowsCode(PaymentsKitErrorCodes.AssetConflict, () => registry.Register(Asset.Create("USD", 6)));
        Assert.Contains(gold, registry.All);
    }

    [Fact]
    public void Registry_RejectsUnknownAndBlankCodes()
    {
        var registry = new AssetRegistry();
        Assert.Equal("NOPE", ThrowsCode(PaymentsKitErrorCodes.UnknownAsset, () => registry.Get("NOPE")).Context["asset"]);
        ThrowsCode(PaymentsKitErrorCodes.InvalidArgument, () => registry.Get(null));
        ThrowsCode(PaymentsKitErrorCodes.InvalidArgument, () => registry.Get(""));
        Assert.False(registry.TryGet("usd", out _));
    }

    [Fact]
    public void Registry_IsSafeUnderConcurrentRegistration()
    {
        var registry = new AssetRegistry();
        Parallel.For(0, 64, i => registry.Register(Asset.Create("TOK" + (i % 8), 6)));
        Assert.Equal(AssetRegistry.BuiltIn.Count + 8, registry.All.Count);
    }
}

public sealed class ChainIdTests
{
    [Fact]
    public void Of_AcceptsLowerCaseNames()
    {
        Assert.Equal(ChainId.Stellar, ChainId.Of("stellar"));
        Assert.Equal("polygon-pos", ChainId.Of("polygon-pos").Value);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("Stellar")]
    [InlineData("-eth")]
    [InlineData("eth mainnet")]
    [InlineData("abcdefghijklmnopqrstuvwxyz0123456789")]
    public void Of_RejectsMalformedNames(string? name)
    {
        ThrowsCode(PaymentsKitErrorCodes.InvalidArgument, () => ChainId.Of(name));
    }
}
