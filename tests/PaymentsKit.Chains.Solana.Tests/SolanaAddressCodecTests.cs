using FsCheck;
using FsCheck.Fluent;
using PaymentsKit.Chains.Solana;

namespace PaymentsKit.Chains.Solana.Tests;

public sealed class SolanaAddressCodecTests
{
    // Public keys and addresses as published in SDK test vectors, plus well-known program ids.
    [Theory]
    [InlineData("f98bc0832e705e2ba354fb4df4e521e622480fa08663280d3992e57df21001db", "Ho87cuS3aSRgUMCeMrV7uNCCWx6Fj2ytnufYQ1W7KCLr")]
    [InlineData("a9ed356dbef8a0b4375b60269a60c257effd3131f2b96cf389761fce35f79a23", "CSKgzVRhq6PKFUtiEFtWdTYhQTd12ohN3fc6yjxYnwHL")]
    [InlineData("310558c12e34393a685337e38bed17240ea106415d2965ae9128ac4854ab160a", "4JMhwSEujEZEfMp4X8ZrqYcDNaYy7UFaCXvoSzWQJLQq")]
    [InlineData("7a52687d6600b8ce6fe392886d0931b51d9624a07da915dbb6839e4083943bfc", "9EVd38qiDV6UAmGjkSrdYJRiZNQt2WKVETqLRpGuuHhm")]
    [InlineData("0000000000000000000000000000000000000000000000000000000000000000", "11111111111111111111111111111111")]
    [InlineData("06ddf6e1d765a193d9cbe146ceeb79ac1cb485ed5f5b37913a8cf5857eff00a9", "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA")]
    public void Published_Keys(string hex, string address)
    {
        Assert.Equal(address, SolanaAddressCodec.Encode(Convert.FromHexString(hex)));
        Assert.True(SolanaAddressCodec.TryDecode(address, out var key, out _));
        Assert.Equal(hex, Convert.ToHexStringLower(key));
        Assert.True(SolanaAddressCodec.Instance.TryNormalize(address, out var canonical, out _));
        Assert.Equal(address, canonical);
    }

    [Theory]
    [InlineData("Ho87cuS3aSRgUMCeMrV7uNCCWx6Fj2ytnufYQ1W7KCLrr")] // 45 characters
    [InlineData("Ho87cuS3aSRgUMCeMrV7uNCCWx6Fj2ytnufYQ1W7KCL0")] // '0' is not base58
    [InlineData("Ho87cuS3aSRgUMCeMrV7uNCCWx6Fj2ytnufYQ1W7KCLl")] // 'l' is not base58
    [InlineData("Ho87cuS3aSRgUMCeMrV7uNCCWx6Fj2ytnufYQ1W7KCLI")] // 'I' is not base58
    [InlineData("Ho87cuS3aSRgUMCeMrV7uNCCWx6Fj2ytnufYQ1W7KCLO")] // 'O' is not base58
    [InlineData("1Ho87cuS3aSRgUMCeMrV7uNCCWx6Fj2ytnufYQ1W7KCLr")] // a leading zero byte: 33 bytes
    [InlineData("zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz")] // larger than 2^256
    [InlineData("1111111111111111111111111111111")] // 31 zero bytes
    [InlineData("111111111111111111111111111111111")] // 33 zero bytes
    [InlineData(" Ho87cuS3aSRgUMCeMrV7uNCCWx6Fj2ytnufYQ1W7KCLr")]
    [InlineData("0xf98bc0832e705e2ba354fb4df4e521e622480fa0")]
    [InlineData("")]
    [InlineData(null)]
    public void Rejects_Invalid_Addresses(string? text)
    {
        Assert.False(SolanaAddressCodec.Instance.TryNormalize(text, out _, out var problem));
        Assert.False(string.IsNullOrEmpty(problem));
        Assert.Equal(PaymentsKitErrorCodes.InvalidAddress, Assert.Throws<PaymentsKitException>(() => SolanaAddressCodec.Instance.Parse(ChainId.Solana, text)).Code);
    }

    [Fact]
    public void Encode_Requires_32_Bytes() => Assert.Throws<ArgumentException>(() => SolanaAddressCodec.Encode(new byte[33]));

    private static Gen<string> AddressGen() =>
        from zeros in Gen.Choose(0, 3)
        from rest in Gen.ArrayOf(Gen.Choose(0, 255).Select(b => (byte)b), 32)
        select SolanaAddressCodec.Encode([.. new byte[zeros], .. rest.Skip(zeros)]);

    [Fact]
    public void Format_Of_Parse_Is_Identity_Meets_Specification() =>
        Prop.ForAll(Arb.From(AddressGen()), address =>
            SolanaAddressCodec.Instance.TryNormalize(address, out var canonical, out _) && canonical == address
            && SolanaAddressCodec.TryDecode(address, out var key, out _) && SolanaAddressCodec.Encode(key) == address).QuickCheckThrowOnFailure();

    [Fact]
    public void Single_Character_Corruption_Never_Normalises_To_The_Original_Meets_Specification()
    {
        // Base58 keys have no checksum: a corrupted address is either rejected or a different key, never silently the
        // address the user meant.
        const string alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz0OIl+/";
        var corruption =
            from address in AddressGen()
            from position in Gen.Choose(0, address.Length - 1)
            from replacement in Gen.Elements(alphabet.ToCharArray()).Where(c => c != address[position])
            select (address, position, replacement);
        Prop.ForAll(Arb.From(corruption), t =>
        {
            var corrupted = string.Concat(t.address.AsSpan(0, t.position), t.replacement.ToString(), t.address.AsSpan(t.position + 1));
            return !SolanaAddressCodec.Instance.TryNormalize(corrupted, out var canonical, out _) || canonical != t.address;
        }).QuickCheckThrowOnFailure();
    }
}
