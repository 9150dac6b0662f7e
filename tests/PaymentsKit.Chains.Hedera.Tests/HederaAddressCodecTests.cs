using FsCheck;
using FsCheck.Fluent;
using PaymentsKit.Chains.Hedera;

namespace PaymentsKit.Chains.Hedera.Tests;

public sealed class HederaAddressCodecTests
{
    private static readonly HederaAddressCodec OtherLedger = new([0xa1, 0xff, 0x01]);

    // HIP-15's reference examples for ledger id 0x00 (mainnet).
    [Theory]
    [InlineData("0.0.1-dfkxr")]
    [InlineData("0.0.4-cjcuq")]
    [InlineData("0.0.5-ktach")]
    [InlineData("0.0.6-tcxjy")]
    [InlineData("0.0.12-uuuup")]
    [InlineData("0.0.123-vfmkw")]
    [InlineData("0.0.1234567890-zbhlt")]
    [InlineData("12.345.6789-aoyyt")]
    [InlineData("1.23.456-adpbr")]
    public void Hip15_Mainnet_Examples(string withChecksum)
    {
        var plain = withChecksum[..withChecksum.LastIndexOf('-')];
        Assert.Equal(withChecksum[^5..], HederaAddressCodec.Mainnet.Checksum(plain));
        Assert.True(HederaAddressCodec.Mainnet.TryNormalize(plain, out var fromPlain, out _));
        Assert.Equal(withChecksum, fromPlain);
        Assert.True(HederaAddressCodec.Mainnet.TryNormalize(withChecksum, out var canonical, out _));
        Assert.Equal(withChecksum, canonical);
    }

    // HIP-15's reference examples for ledger id 0xa1ff01.
    [Theory]
    [InlineData("0.0.1-xzlgq")]
    [InlineData("0.0.4-xdddp")]
    [InlineData("0.0.5-fnalg")]
    [InlineData("0.0.6-nwxsx")]
    [InlineData("0.0.12-povdo")]
    [InlineData("0.0.123-pzmtv")]
    [InlineData("0.0.1234567890-tvhus")]
    [InlineData("12.345.6789-vizhs")]
    [InlineData("1.23.456-uxpkq")]
    public void Hip15_Multi_Byte_Ledger_Examples(string withChecksum)
    {
        Assert.True(OtherLedger.TryNormalize(withChecksum, out var canonical, out _));
        Assert.Equal(withChecksum, canonical);
        Assert.False(HederaAddressCodec.Mainnet.TryNormalize(withChecksum, out _, out _));
    }

    [Fact]
    public void Checksums_Differ_Between_Public_Ledgers()
    {
        var checksums = new[] { HederaAddressCodec.Mainnet, HederaAddressCodec.Testnet, HederaAddressCodec.Previewnet }
            .Select(c => c.Checksum("0.0.123"))
            .ToList();
        Assert.Equal(3, checksums.Distinct().Count());
        Assert.Same(HederaAddressCodec.Testnet, HederaAddressCodec.For(HederaNetwork.Testnet));
        var testnet = HederaAddressCodec.Testnet.Format(new HederaEntityId(0, 0, 123));
        Assert.True(HederaAddressCodec.Testnet.TryNormalize(testnet, out _, out _));
        Assert.False(HederaAddressCodec.Mainnet.TryNormalize(testnet, out _, out var problem));
        Assert.Contains("checksum", problem, StringComparison.Ordinal);
    }

    // HIP-15's invalid examples, and other malformed ids.
    [Theory]
    [InlineData("0.0.123-abcde")]
    [InlineData("0.00.123")]
    [InlineData("0.0.0123-vfmkw")]
    [InlineData("0.0.123-VFMKW")]
    [InlineData("0.0.123-vFmKw")]
    [InlineData("0.0.123#vfmkw")]
    [InlineData("0.0.123vfmkw")]
    [InlineData("0.0.123 - vfmkw")]
    [InlineData("0.123")]
    [InlineData("0.0.123.")]
    [InlineData("0.0.123-vf")]
    [InlineData("0.0.123-vfm-kw")]
    [InlineData("0.0.123-vfmkwxxxx")]
    [InlineData("0.0.123\n")]
    [InlineData(" 0.0.123")]
    [InlineData("0.0.-1")]
    [InlineData("0.0.9223372036854775808")]
    [InlineData("0x00000000000000000000000000000000000004d2")]
    [InlineData("")]
    [InlineData(null)]
    public void Rejects_Invalid_Addresses(string? text)
    {
        Assert.False(HederaAddressCodec.Mainnet.TryNormalize(text, out _, out var problem));
        Assert.False(string.IsNullOrEmpty(problem));
        Assert.Equal(PaymentsKitErrorCodes.InvalidAddress, Assert.Throws<PaymentsKitException>(() => HederaAddressCodec.Mainnet.Parse(ChainId.Hedera, text)).Code);
    }

    [Fact]
    public void Largest_Entity_Number_Is_Accepted()
    {
        Assert.True(HederaAddressCodec.Mainnet.TryParse("0.0.9223372036854775807", out var id, out _));
        Assert.Equal(long.MaxValue, id.Num);
    }

    private static Gen<HederaEntityId> IdGen() =>
        from shard in Gen.Choose(0, 3)
        from realm in Gen.Choose(0, 3)
        from num in Gen.OneOf(Gen.Choose(0, 1000), Gen.Choose(0, int.MaxValue))
        from scale in Gen.Choose(0, 8)
        select new HederaEntityId(shard, realm, num * (long)Math.Pow(10, scale));

    [Fact]
    public void Format_Of_Parse_Is_Identity_Meets_Specification()
    {
        foreach (var codec in new[] { HederaAddressCodec.Mainnet, HederaAddressCodec.Testnet, HederaAddressCodec.Previewnet })
        {
            Prop.ForAll(Arb.From(IdGen()), id =>
            {
                var text = codec.Format(id);
                return codec.TryParse(text, out var parsed, out _) && parsed == id
                    && codec.TryNormalize(text, out var canonical, out _) && canonical == text
                    && codec.TryNormalize(id.ToString(), out var fromPlain, out _) && fromPlain == text;
            }).QuickCheckThrowOnFailure();
        }
    }

    [Fact]
    public void Every_Single_Character_Corruption_Is_Rejected_Meets_Specification()
    {
        const string alphabet = "0123456789.-abcdefghijklmnopqrstuvwxyz";
        var corruption =
            from id in IdGen()
            let address = HederaAddressCodec.Mainnet.Format(id)
            from position in Gen.Choose(0, address.Length - 1)
            from replacement in Gen.Elements(alphabet.ToCharArray()).Where(c => c != address[position])
            select (address, position, replacement);
        Prop.ForAll(Arb.From(corruption), t =>
        {
            var corrupted = string.Concat(t.address.AsSpan(0, t.position), t.replacement.ToString(), t.address.AsSpan(t.position + 1));
            return !HederaAddressCodec.Mainnet.TryNormalize(corrupted, out _, out _);
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void Every_Corruption_Of_A_Known_Address_Is_Rejected()
    {
        const string alphabet = "0123456789.-abcdefghijklmnopqrstuvwxyz";
        foreach (var address in new[] { "0.0.1234567890-zbhlt", "12.345.6789-aoyyt" })
        {
            for (var i = 0; i < address.Length; i++)
            {
                foreach (var c in alphabet.Where(c => c != address[i]))
                {
                    var corrupted = string.Concat(address.AsSpan(0, i), c.ToString(), address.AsSpan(i + 1));
                    Assert.False(HederaAddressCodec.Mainnet.TryNormalize(corrupted, out _, out _), corrupted);
                }
            }
        }
    }
}
