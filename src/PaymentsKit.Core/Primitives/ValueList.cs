using System.Collections;
using System.Diagnostics.CodeAnalysis;

namespace PaymentsKit;

/// <summary>
/// An immutable copy of a list that equals another with the same items in the same order, so a record holding one
/// compares (and hashes) by content, as records do for their other members; a <see cref="List{T}"/> compares by reference.
/// </summary>
/// <typeparam name="T">The item type; its own equality compares the items.</typeparam>
internal sealed class ValueList<T> : IReadOnlyList<T>, IEquatable<ValueList<T>>
{
    private readonly T[] _items;

    private ValueList(T[] items) => _items = items;

    public int Count => _items.Length;

    public T this[int index] => _items[index];

    /// <summary>A copy of <paramref name="items"/>, or null for null.</summary>
    [return: NotNullIfNotNull(nameof(items))]
    public static ValueList<T>? Of(IEnumerable<T>? items) => items switch
    {
        null => null,
        ValueList<T> copy => copy,
        _ => new([.. items]),
    };

    public bool Equals(ValueList<T>? other) =>
        other is not null && (ReferenceEquals(this, other) || _items.AsSpan().SequenceEqual(other._items));

    public override bool Equals(object? obj) => Equals(obj as ValueList<T>);

    public override int GetHashCode()
    {
        var hash = default(HashCode);
        foreach (var item in _items)
        {
            hash.Add(item);
        }

        return hash.ToHashCode();
    }

    public IEnumerator<T> GetEnumerator() => ((IEnumerable<T>)_items).GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => _items.GetEnumerator();
}
