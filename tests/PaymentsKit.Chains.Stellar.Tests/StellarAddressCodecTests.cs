using FsCheck;
using FsCheck.Fluent;
using PaymentsKit.Chains.Stellar;

namespace PaymentsKit.Chains.Stellar.Tests;

public sealed class StellarAddressCodecTests
{
    private const string Account = "GA7QYNF7SOWQ3GLR2BGMZEHXAVIRZA4KVWLTJJFC7MGXUA74P7UJVSGZ";
    private static readonly byte[] AccountKey = Convert.FromHexString("3f0c34bf93ad0d9971d04ccc90f705511c838aad9734a4a2fb0d7a03fc7fe89a");

    [Fact]
    public void Sep23_Valid_Account()
    {
        Assert.True(StellarAddressCodec.TryDecode(Account, out var address, out _));
        Assert.Equal(AccountKey, address.PublicKey.ToArray());
        Assert.Null(address.MuxedId);
        Assert.Equal(Account, address.Address);
        Assert.Equal(Account, StellarAddressCodec.EncodeAccount(AccountKey));
    }

    [Theory]
    [InlineData("MA7QYNF7SOWQ3GLR2BGMZEHXAVIRZA4KVWLTJJFC7MGXUA74P7UJUAAAAAAAAAAAACJUQ", 0UL)]
    [InlineData("MA7QYNF7SOWQ3GLR2BGMZEHXAVIRZA4KVWLTJJFC7MGXUA74P7UJVAAAAAAAAAAAAAJLK", 9223372036854775808UL)]
    public void Sep23_Valid_Muxed_Accounts(string muxed, ulong id)
    {
        Assert.True(StellarAddressCodec.TryDecode(muxed, out var address, out _));
        Assert.Equal(id, address.MuxedId);
        Assert.Equal(AccountKey, address.PublicKey.ToArray());
        Assert.Equal(Account, address.AccountId);
        Assert.Equal(muxed, address.Address);
        Assert.Equal(muxed, StellarAddressCodec.EncodeMuxed(AccountKey, id));
    }

    // Public keys and addresses as published in SDK test vectors.
    [Theory]
    [InlineData("7b07983499c93f4eb256d7f6a42acf13ef098b20022e904f6c82f13805166c9f", "GB5QPGBUTHET6TVSK3L7NJBKZ4J66CMLEABC5ECPNSBPCOAFCZWJ6KSN")]
    [InlineData("40de01bb8215216a18f08ea068a1c2adaf41d11b7c5558de355c8c3a7f6841ed", "GBAN4AN3QIKSC2QY6CHKA2FBYKW26QORDN6FKWG6GVOIYOT7NBA633GO")]
    [InlineData("3248f7acd7b13fdfc8271e4af486300cdabfa8d0d406eb1485a9b93858f73836", "GAZER55M26YT7X6IE4PEV5EGGAGNVP5I2DKAN2YUQWU3SOCY644DM6NS")]
    [InlineData("faa34f613bfce260627acd14cd173e58cd3af0fb081375000602abcf7b065397", "GD5KGT3BHP6OEYDCPLGRJTIXHZMM2OXQ7MEBG5IAAYBKXT33AZJZOOKJ")]
    public void Encodes_Published_Keys(string publicKeyHex, string address)
    {
        Assert.Equal(address, StellarAddressCodec.EncodeAccount(Convert.FromHexString(publicKeyHex)));
        Assert.True(StellarAddressCodec.TryDecode(address, out var decoded, out _));
        Assert.Equal(publicKeyHex, Convert.ToHexStringLower(decoded.PublicKey.Span));
    }

    // The SEP-23 invalid test cases, plus strkeys of other types that are not payment addresses.
    [Theory]
    [InlineData("GAAAAAAAACGC6")]
    [InlineData("MA7QYNF7SOWQ3GLR2BGMZEHXAVIRZA4KVWLTJJFC7MGXUA74P7UJUAAAAAAAAAAAACJUR")]
    [InlineData("GA7QYNF7SOWQ3GLR2BGMZEHXAVIRZA4KVWLTJJFC7MGXUA74P7UJVSGZA")]
    [InlineData("GA7QYNF7SOWQ3GLR2BGMZEHXAVIRZA4KVWLTJJFC7MGXUA74P7UJUACUSI")]
    [InlineData("G47QYNF7SOWQ3GLR2BGMZEHXAVIRZA4KVWLTJJFC7MGXUA74P7UJVP2I")]
    [InlineData("MA7QYNF7SOWQ3GLR2BGMZEHXAVIRZA4KVWLTJJFC7MGXUA74P7UJVAAAAAAAAAAAAAJLKA")]
    [InlineData("MA7QYNF7SOWQ3GLR2BGMZEHXAVIRZA4KVWLTJJFC7MGXUA74P7UJVAAAAAAAAAAAAAAV75I")]
    [InlineData("M47QYNF7SOWQ3GLR2BGMZEHXAVIRZA4KVWLTJJFC7MGXUA74P7UJUAAAAAAAAAAAACJUQ")]
    [InlineData("MA7QYNF7SOWQ3GLR2BGMZEHXAVIRZA4KVWLTJJFC7MGXUA74P7UJUAAAAAAAAAAAACJUK===")]
    [InlineData("MA7QYNF7SOWQ3GLR2BGMZEHXAVIRZA4KVWLTJJFC7MGXUA74P7UJUAAAAAAAAAAAACJUO")]
    [InlineData("PA7QYNF7SOWQ3GLR2BGMZEHXAVIRZA4KVWLTJJFC7MGXUA74P7UJUAAAAAQACAQDAQCQMBYIBEFAWDANBYHRAEISCMKBKFQXDAMRUGY4DUPB6IBZGM")]
    [InlineData("CA7QYNF7SOWQ3GLR2BGMZEHXAVIRZA4KVWLTJJFC7MGXUA74P7UJUWDA")]
    [InlineData("LA7QYNF7SOWQ3GLR2BGMZEHXAVIRZA4KVWLTJJFC7MGXUA74P7UJUPJN")]
    [InlineData("BAAD6DBUX6J22DMZOHIEZTEQ64CVCHEDRKWZONFEUL5Q26QD7R76RGR4TU")]
    [InlineData("ga7qynf7sowq3glr2bgmzehxavirza4kvwltjjfc7mgxua74p7ujvsgz")]
    [InlineData(" GA7QYNF7SOWQ3GLR2BGMZEHXAVIRZA4KVWLTJJFC7MGXUA74P7UJVSGZ")]
    [InlineData("GA7QYNF7SOWQ3GLR2BGMZEHXAVIRZA4KVWLTJJFC7MGXUA74P7UJVSG1")]
    [InlineData("")]
    [InlineData(null)]
    public void Rejects_Invalid_Strkeys(string? text)
    {
        Assert.False(StellarAddressCodec.TryDecode(text, out _, out var problem));
        Assert.False(string.IsNullOrEmpty(problem));
        var error = Assert.Throws<PaymentsKitException>(() => StellarAddressCodec.Instance.Parse(ChainId.Stellar, text));
        Assert.Equal(PaymentsKitErrorCodes.InvalidAddress, error.Code);
        Assert.Equal("stellar", error.Context["chain"]);
    }

    [Fact]
    public void Secret_Seeds_Are_Not_Addresses()
    {
        // An S… strkey with a valid checksum: encode the same key with the seed version byte by hand.
        var seed = SimpleBase.Base32.Rfc4648.Encode(WithChecksum(18 << 3, AccountKey), padding: false);
        Assert.StartsWith("S", seed, StringComparison.Ordinal);
        Assert.False(StellarAddressCodec.TryDecode(seed, out _, out var problem));
        Assert.Contains("G (account) or M", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Crc16_XModem_Check_Value() =>
        Assert.Equal(0x31C3, StellarAddressCodec.Crc16XModem("123456789"u8));

    [Fact]
    public void Encode_Rejects_Wrong_Key_Length()
    {
        Assert.Throws<ArgumentException>(() => StellarAddressCodec.EncodeAccount(new byte[31]));
        Assert.Throws<ArgumentException>(() => StellarAddressCodec.EncodeMuxed(new byte[33], 1));
    }

    private static Gen<string> AddressGen() =>
        from key in Gen.ArrayOf(Gen.Choose(0, 255).Select(i => (byte)i), 32)
        from muxed in Gen.Elements(true, false)
        from hi in Gen.Choose(int.MinValue, int.MaxValue)
        from lo in Gen.Choose(int.MinValue, int.MaxValue)
        select muxed
            ? StellarAddressCodec.EncodeMuxed(key, unchecked(((ulong)(uint)hi << 32) | (uint)lo))
            : StellarAddressCodec.EncodeAccount(key);

    [Fact]
    public void Format_Of_Parse_Is_Identity_Meets_Specification() =>
        Prop.ForAll(Arb.From(AddressGen()), address =>
            StellarAddressCodec.Instance.TryNormalize(address, out var canonical, out _)
            && canonical == address
            && StellarAddressCodec.TryDecode(address, out var decoded, out _)
            && decoded.Address == address).QuickCheckThrowOnFailure();

    [Fact]
    public void Every_Single_Character_Corruption_Is_Rejected_Meets_Specification()
    {
        const string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        var corruption =
            from address in AddressGen()
            from position in Gen.Choose(0, address.Length - 1)
            from replacement in Gen.Elements(alphabet.ToCharArray()).Where(c => c != address[position])
            select (address, position, replacement);
        Prop.ForAll(Arb.From(corruption), t =>
        {
            var corrupted = string.Concat(t.address.AsSpan(0, t.position), t.replacement.ToString(), t.address.AsSpan(t.position + 1));
            return !StellarAddressCodec.Instance.TryNormalize(corrupted, out _, out _);
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void Every_Corruption_Of_A_Known_Address_Is_Rejected()
    {
        const string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        foreach (var address in new[] { Account, "MA7QYNF7SOWQ3GLR2BGMZEHXAVIRZA4KVWLTJJFC7MGXUA74P7UJVAAAAAAAAAAAAAJLK" })
        {
            for (var i = 0; i < address.Length; i++)
            {
                foreach (var c in alphabet.Where(c => c != address[i]))
                {
                    var corrupted = string.Concat(address.AsSpan(0, i), c.ToString(), address.AsSpan(i + 1));
                    Assert.False(StellarAddressCodec.Instance.TryNormalize(corrupted, out _, out _), corrupted);
                }
            }
        }
    }

    private static byte[] WithChecksum(byte version, byte[] key)
    {
        var buffer = new byte[1 + key.Length + 2];
        buffer[0] = version;
        key.CopyTo(buffer, 1);
        var crc = StellarAddressCodec.Crc16XModem(buffer.AsSpan(0, 1 + key.Length));
        buffer[^2] = (byte)(crc & 0xFF);
        buffer[^1] = (byte)(crc >> 8);
        return buffer;
    }
}
