using System.Security.Cryptography;
using FsCheck;
using FsCheck.Fluent;
using NodaTime;

namespace PaymentsKit.Tests.Primitives;

/// <summary>The managed short SHA-256 behind the ledger's entry ids, and the buffered UUIDv7 behind every typed id.</summary>
public sealed class IdDerivationTests
{
    [Fact]
    public void Short_Sha256_Equals_The_Platform_Sha256_Meets_Specification()
    {
        var message = Gen.Choose(0, ShortSha256.MaxLength).SelectMany(length => Gen.ArrayOf(Gen.Choose(0, 255).Select(b => (byte)b), length));
        Prop.ForAll(Arb.From(message), bytes =>
        {
            Span<byte> digest = stackalloc byte[32];
            ShortSha256.Hash(bytes, digest);
            Assert.Equal(SHA256.HashData(bytes), digest.ToArray());
            return true;
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(2_000));
        Assert.Throws<ArgumentException>(() => ShortSha256.Hash(new byte[ShortSha256.MaxLength + 1], new byte[32]));
    }

    [Fact]
    public void Version7_Ids_Carry_The_Instant_Version_And_Variant_And_Do_Not_Repeat_Meets_Specification()
    {
        var instant = Gen.Choose(0, int.MaxValue).Select(s => Instant.FromUnixTimeMilliseconds(s * 1_000L + (s % 997)));
        Prop.ForAll(Arb.From(instant), at =>
        {
            // More ids than one refill of the per-thread random buffer holds.
            var ids = Enumerable.Range(0, 600).Select(_ => TypedId.Version7(at)).ToList();
            Assert.Equal(ids.Count, ids.Distinct().Count());
            var bytes = new byte[16];
            foreach (var id in ids)
            {
                Assert.Equal(7, id.Version);
                Assert.Equal(0b10, id.Variant >> 2);
                id.TryWriteBytes(bytes, bigEndian: true, out _);
                var milliseconds = 0L;
                for (var i = 0; i < 6; i++)
                {
                    milliseconds = (milliseconds << 8) | bytes[i];
                }

                Assert.Equal(at.ToUnixTimeMilliseconds(), milliseconds);
            }

            return true;
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(50));
    }
}
