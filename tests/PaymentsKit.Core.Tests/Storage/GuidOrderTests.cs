using FsCheck;
using FsCheck.Fluent;
using PaymentsKit.Storage;

namespace PaymentsKit.Tests.Storage;

public sealed class GuidOrderTests
{
    [Fact]
    public void Compare_Orders_As_PostgreSql_Orders_Uuid_Bytes_Meets_Specification()
    {
        // Pairs that often share a prefix, so every field decides some comparisons.
        var pairs = ArbMap.Default.GeneratorFor<Guid>()
            .SelectMany(x => Gen.Choose(0, 16).SelectMany(shared => ArbMap.Default.GeneratorFor<Guid>().Select(y => (x, Share(x, y, shared)))))
            .ToArbitrary();
        Prop.ForAll(pairs, pair =>
        {
            var (x, y) = pair;
            return Math.Sign(GuidOrder.Instance.Compare(x, y)) == Math.Sign(NetworkBytes(x).AsSpan().SequenceCompareTo(NetworkBytes(y)))
                && Math.Sign(GuidOrder.Instance.Compare(y, x)) == -Math.Sign(GuidOrder.Instance.Compare(x, y));
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void Compare_Orders_Each_Byte_Above_The_Ones_After_It()
    {
        for (var i = 0; i < 16; i++)
        {
            var low = new byte[16];
            var high = new byte[16];
            high[i] = 1;
            Array.Fill(low, (byte)0xFF, i + 1, 15 - i);
            Assert.True(GuidOrder.Instance.Compare(new Guid(low, bigEndian: true), new Guid(high, bigEndian: true)) < 0, $"byte {i}");
        }

        Assert.Equal(0, GuidOrder.Instance.Compare(Guid.Parse("0193a1f0-0000-7000-8000-000000000001"), Guid.Parse("0193a1f0-0000-7000-8000-000000000001")));
    }

    private static Guid Share(Guid x, Guid y, int sharedBytes)
    {
        var bytes = NetworkBytes(y);
        NetworkBytes(x).AsSpan(0, sharedBytes).CopyTo(bytes);
        return new Guid(bytes, bigEndian: true);
    }

    private static byte[] NetworkBytes(Guid value)
    {
        var bytes = new byte[16];
        value.TryWriteBytes(bytes, bigEndian: true, out _);
        return bytes;
    }
}
