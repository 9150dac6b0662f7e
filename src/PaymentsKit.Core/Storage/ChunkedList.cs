namespace PaymentsKit.Storage;

/// <summary>
/// An append-only list of reference-free structs in fixed chunks of <see cref="ChunkSize"/> elements: growing never
/// copies what is stored, and the garbage collector never traces the elements (they hold no references), so
/// millions of rows cost it nothing. Not thread-safe: the owner serialises access.
/// </summary>
/// <typeparam name="T">The row type; <c>unmanaged</c> guarantees it holds no object reference.</typeparam>
internal sealed class ChunkedList<T>
    where T : unmanaged
{
    /// <summary>Elements per chunk.</summary>
    public const int ChunkSize = 1 << ChunkShift;

    private const int ChunkShift = 16;
    private const int ChunkMask = ChunkSize - 1;

    private T[][] _chunks = new T[4][];

    /// <summary>How many elements were appended.</summary>
    public int Count { get; private set; }

    /// <summary>The element at <paramref name="index"/> (0 ≤ index &lt; <see cref="Count"/>), by reference.</summary>
    public ref T this[int index]
    {
        get
        {
            ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)index, (uint)Count, nameof(index));
            return ref _chunks[index >> ChunkShift][index & ChunkMask];
        }
    }

    /// <summary>Appends a default element and returns it by reference, with its index.</summary>
    public ref T Add(out int index)
    {
        index = Count;
        var chunk = index >> ChunkShift;
        if ((index & ChunkMask) == 0)
        {
            if (chunk == _chunks.Length)
            {
                Array.Resize(ref _chunks, _chunks.Length * 2);
            }

            // Uninitialised: each element is cleared when appended, so a chunk's memory is touched once, not zeroed first.
            _chunks[chunk] = GC.AllocateUninitializedArray<T>(ChunkSize);
        }

        Count = index + 1;
        ref var element = ref _chunks[chunk][index & ChunkMask];
        element = default;
        return ref element;
    }
}
