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
        Span<byte> left = stackalloc byte[16];
        Span<byte> right = stackalloc byte[16];
        x.TryWriteBytes(left, bigEndian: true, out _);
        y.TryWriteBytes(right, bigEndian: true, out _);
        return left.SequenceCompareTo(right);
    }
}
