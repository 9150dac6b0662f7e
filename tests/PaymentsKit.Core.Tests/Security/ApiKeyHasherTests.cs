using System.Security.Cryptography;
using PaymentsKit.Security;
using static PaymentsKit.Tests.Primitives.Assertions;

namespace PaymentsKit.Tests.Security;

public sealed class ApiKeyHasherTests
{
    private readonly ApiKeyHasher _hasher = new(RandomNumberGenerator.GetBytes(32));

    [Fact]
    public void Generate_ShowsThePrefix_AndStoresOnlyAHash()
    {
        var key = _hasher.Generate("pk");
        Assert.Matches("^pk_[A-Za-z0-9_-]{40}$", key.Key);
        Assert.Equal(key.Key[..11], key.Prefix);
        Assert.Equal(64, key.Hash.Length);
        Assert.DoesNotContain(key.Key, key.Hash, StringComparison.Ordinal);
        Assert.DoesNotContain(key.Key, key.ToString(), StringComparison.Ordinal);
        Assert.Equal(key.Prefix, ApiKeyHasher.PrefixOf(key.Key));
        Assert.NotEqual(key.Key, _hasher.Generate("pk").Key);
    }

    [Fact]
    public void Verify_AcceptsOnlyTheSameKey_UnderTheSameSecret()
    {
        var key = _hasher.Generate("sk");
        Assert.True(_hasher.Verify(key.Key, key.Hash));
        Assert.False(_hasher.Verify(key.Key[..^1] + (key.Key[^1] == 'a' ? 'b' : 'a'), key.Hash));
        Assert.False(_hasher.Verify(null, key.Hash));
        Assert.False(new ApiKeyHasher(RandomNumberGenerator.GetBytes(32)).Verify(key.Key, key.Hash));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("p")]
    [InlineData("PK")]
    [InlineData("toolongkind")]
    [InlineData("p1")]
    public void Generate_RejectsBadKinds(string? kind)
    {
        ThrowsCode(PaymentsKitErrorCodes.InvalidArgument, () => _hasher.Generate(kind!));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("pk_short")]
    [InlineData("nounderscoreatall0000000000000000000000000")]
    public void PrefixOf_RejectsMalformedKeys_WithoutEchoingThem(string? key)
    {
        var ex = ThrowsCode(PaymentsKitErrorCodes.InvalidArgument, () => ApiKeyHasher.PrefixOf(key));
        Assert.Equal("(redacted)", ex.Context["value"]);
    }

    [Fact]
    public void ShortSecrets_AreRejected()
    {
        ThrowsCode(PaymentsKitErrorCodes.InvalidArgument, () => new ApiKeyHasher(new byte[31]));
    }
}
