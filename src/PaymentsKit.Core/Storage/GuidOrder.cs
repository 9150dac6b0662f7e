namespace PaymentsKit.Storage;

/// <summary>
/// Orders UUIDs the way PostgreSQL orders <c>uuid</c> (bytes compared in network order), so the
/// in-memory store pages records in the same order as PostgreSQL. <see cref="Guid.CompareTo(Guid)"/>
/// does not: it compares the mixed-endian fields.
/// </summary>
public sealed class GuidOrder : IComparer<Guid>
{
    /// <summary>The single instance.</summary>
    public static GuidOrder Instance { get; } = new();

    private GuidOrder()
    {
    }

    /// <inheritdoc />
    public int Compare(Guid x, Guid y)
    {
        var (xHigh, xLow) = Key(x);
        var (yHigh, yLow) = Key(y);
        return xHigh != yHigh ? xHigh.CompareTo(yHigh) : xLow.CompareTo(yLow);
    }

    /// <summary>The UUID's 16 bytes in network order as two unsigned numbers, which compare as the bytes do.</summary>
    private static (ulong High, ulong Low) Key(Guid value)
    {
        // A Guid holds its first three fields as native integers and its last eight bytes in order.
        var bytes = System.Runtime.InteropServices.MemoryMarshal.AsBytes(new ReadOnlySpan<Guid>(in value));
        var high = ((ulong)System.Runtime.InteropServices.MemoryMarshal.Read<uint>(bytes) << 32)
            | ((ulong)System.Runtime.InteropServices.MemoryMarshal.Read<ushort>(bytes[4..]) << 16)
            | System.Runtime.InteropServices.MemoryMarshal.Read<ushort>(bytes[6..]);
        return (high, System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(bytes[8..]));
    }
}
