using System.Security.Cryptography;
using System.Text;
using FsCheck;
using FsCheck.Fluent;
using PaymentsKit.Chains.Ethereum;

namespace PaymentsKit.Chains.Ethereum.Tests;

public sealed class KeccakAndAddressTests
{
    [Theory]
    [InlineData("", "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470")]
    [InlineData("abc", "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45")]
    [InlineData("hello world", "47173285a8d7341e5e972fc677286384f802f8ef42a5ec5f03bbfa254cb01fad")]
    [InlineData("123456789", "2a359feeb8e488a1af2c03b908b3ed7990400555db73e1421181d97cac004d48")]
    [InlineData("123456789123456789123456789123456789", "6539bf72f42c41bbae3a56b35130202a3c769163a776349bf54af833b6450d35")]
    [InlineData("There once was a man from nantucket", "97d16385165d64fe024ea3e453192bcbdd655fa667e2f2d8a3f27dbcc57daa72")]
    [InlineData("Transfer(address,address,uint256)", "ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef")]
    [InlineData("keccak256", "b7845733ba102a68c6eb21c3cd2feafafd1130de581d7e73be60b76d775b6704")]
    public void Keccak256_Published_Vectors(string input, string digest) =>
        Assert.Equal(digest, Convert.ToHexStringLower(Keccak256.Hash(Encoding.UTF8.GetBytes(input))));

    [Fact]
    public void Keccak256_Is_Not_Sha3_256() =>
        Assert.Equal("a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a", Convert.ToHexStringLower(SHA3_256.HashData([])));

    [Fact]
    public void Keccak256_Of_Bytes_Vector() =>
        Assert.Equal("7d87c5ea75f7378bb701e404c50639161af3eff66293e9f375b5f17eb50476f4", Convert.ToHexStringLower(Keccak256.Hash([1, 2, 3, 4, 5])));

    [Fact]
    public void Sponge_With_Sha3_Padding_Matches_The_Platform_Sha3_Meets_Specification()
    {
        // The sponge and permutation are shared by Keccak and SHA3; only the padding byte differs. Checking against the
        // platform's SHA3-256 covers multi-block inputs and every length around the 136-byte rate boundary.
        Assert.True(SHA3_256.IsSupported);
        var inputs = Gen.Choose(0, 700).SelectMany(n => Gen.ArrayOf(Gen.Choose(0, 255).Select(b => (byte)b), n));
        Prop.ForAll(Arb.From(inputs), data =>
        {
            Span<byte> digest = stackalloc byte[32];
            Keccak256.Hash(data, digest, 0x06);
            return digest.SequenceEqual(SHA3_256.HashData(data));
        }).QuickCheckThrowOnFailure();

        var digest = new byte[32];
        for (var length = 130; length <= 280; length++)
        {
            var data = Enumerable.Range(0, length).Select(i => unchecked((byte)(i * 7))).ToArray();
            Keccak256.Hash(data, digest, 0x06);
            Assert.True(digest.SequenceEqual(SHA3_256.HashData(data)), $"length {length}");
        }
    }

    // EIP-55's own examples.
    [Theory]
    [InlineData("0x52908400098527886E0F7030069857D2E4169EE7")]
    [InlineData("0x8617E340B3D01FA5F11F306F4090FD50E238070D")]
    [InlineData("0xde709f2102306220921060314715629080e2fb77")]
    [InlineData("0x27b1fdb04752bbc536007a920d24acb045561c26")]
    [InlineData("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed")]
    [InlineData("0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359")]
    [InlineData("0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB")]
    [InlineData("0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb")]
    public void Eip55_Examples_Are_Their_Own_Checksum_Form(string address)
    {
        Assert.True(EthereumAddressCodec.Strict.TryNormalize(address, out var canonical, out _));
        Assert.Equal(address, canonical);
        Assert.Equal(address, EthereumAddressCodec.Encode(Convert.FromHexString(address[2..])));
    }

    [Theory]
    [InlineData("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed")]
    [InlineData("0x5AAEB6053F3E94C9B9A09F33669435E7EF1BEAED", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed")]
    [InlineData("0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48", "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48")]
    public void Lenient_Accepts_Single_Case_And_Returns_The_Checksum_Form(string input, string canonical)
    {
        Assert.True(EthereumAddressCodec.Lenient.TryNormalize(input, out var normalized, out _));
        Assert.Equal(canonical, normalized);
        Assert.False(EthereumAddressCodec.Strict.TryNormalize(input, out _, out var problem));
        Assert.Contains("no EIP-55 checksum", problem, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD")] // one letter's case flipped
    [InlineData("0x5AAeb6053F3E94C9b9A09f33669435E7Ef1BeAed")]
    [InlineData("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAe")] // 39 digits
    [InlineData("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed0")]
    [InlineData("5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed00")]
    [InlineData("0X5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed")]
    [InlineData("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeg")]
    [InlineData("0x 5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAe")]
    [InlineData("")]
    [InlineData(null)]
    public void Rejects_Invalid_Addresses(string? text)
    {
        Assert.False(EthereumAddressCodec.Lenient.TryNormalize(text, out _, out var problem));
        Assert.False(string.IsNullOrEmpty(problem));
        Assert.Equal(PaymentsKitErrorCodes.InvalidAddress, Assert.Throws<PaymentsKitException>(() => EthereumAddressCodec.Lenient.Parse(ChainId.Ethereum, text)).Code);
    }

    // Digits drawn with letters over-represented, so addresses rich in letters (strong checksums) are common.
    private static Gen<string> ChecksummedGen(int minimumLetters) =>
        Gen.ArrayOf(Gen.Elements("abcdefabcdefabcdef0123456789".ToCharArray()), 40)
            .Where(digits => digits.Count(char.IsAsciiLetter) >= minimumLetters)
            .Select(digits => EthereumAddressCodec.Encode(Convert.FromHexString(new string(digits))));

    [Fact]
    public void Format_Of_Parse_Is_Identity_Meets_Specification()
    {
        Prop.ForAll(Arb.From(ChecksummedGen(0)), address =>
            EthereumAddressCodec.Strict.TryNormalize(address, out var canonical, out _) && canonical == address
            && EthereumAddressCodec.Lenient.TryNormalize(address.ToLowerInvariant().Replace("0X", "0x", StringComparison.Ordinal), out var fromLower, out _)
            && fromLower == address).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void Every_Single_Character_Corruption_Is_Rejected_Meets_Specification()
    {
        // EIP-55's checksum is the letters' case, so its strength grows with the number of letters: a corruption of an
        // address with n letters slips through with probability about 2^-n. Addresses with at least 24 letters make a
        // false pass astronomically unlikely; a flipped letter case is always caught.
        const string hex = "0123456789abcdefABCDEF";
        var corruption =
            from address in ChecksummedGen(24)
            from position in Gen.Choose(2, 41)
            from replacement in Gen.Elements(hex.ToCharArray()).Where(c => c != address[position])
            select (address, position, replacement);
        Prop.ForAll(Arb.From(corruption), t =>
        {
            var corrupted = string.Concat(t.address.AsSpan(0, t.position), t.replacement.ToString(), t.address.AsSpan(t.position + 1));
            return !EthereumAddressCodec.Strict.TryNormalize(corrupted, out _, out _);
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void Every_Case_Flip_Of_A_Checksummed_Address_Is_Rejected()
    {
        const string address = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed";
        for (var i = 2; i < address.Length; i++)
        {
            if (char.IsAsciiLetter(address[i]))
            {
                var flipped = char.IsUpper(address[i]) ? char.ToLowerInvariant(address[i]) : char.ToUpperInvariant(address[i]);
                var corrupted = string.Concat(address.AsSpan(0, i), flipped.ToString(), address.AsSpan(i + 1));
                Assert.False(EthereumAddressCodec.Lenient.TryNormalize(corrupted, out _, out _), corrupted);
            }
        }
    }
}
