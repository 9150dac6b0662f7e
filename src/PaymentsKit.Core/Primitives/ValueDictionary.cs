using System.Collections;
using System.Collections.Concurrent;
using System.Collections.Frozen;
using System.Collections.Immutable;
using System.Diagnostics.CodeAnalysis;

namespace PaymentsKit;

/// <summary>
/// An immutable copy of a dictionary that equals another with the same keys mapped to equal values, in any order, so a
/// record holding one compares (and hashes) by content, as records do for their other members; a
/// <see cref="Dictionary{TKey, TValue}"/> compares by reference. Keys are matched with the source dictionary's comparer,
/// and the pairs enumerate in the source's order, so a record serializes exactly as it did with the source.
/// </summary>
/// <typeparam name="TKey">The key type.</typeparam>
/// <typeparam name="TValue">The value type; its own equality compares the values.</typeparam>
internal sealed class ValueDictionary<TKey, TValue> : IReadOnlyDictionary<TKey, TValue>, IEquatable<ValueDictionary<TKey, TValue>>
    where TKey : notnull
{
    private readonly KeyValuePair<TKey, TValue>[] _pairs;

    private readonly Dictionary<TKey, TValue> _lookup;

    private ValueDictionary(KeyValuePair<TKey, TValue>[] pairs, IEqualityComparer<TKey>? comparer)
    {
        _pairs = pairs;
        _lookup = new Dictionary<TKey, TValue>(pairs, comparer);
    }

    public int Count => _pairs.Length;

    public IEnumerable<TKey> Keys => _pairs.Select(pair => pair.Key);

    public IEnumerable<TValue> Values => _pairs.Select(pair => pair.Value);

    public TValue this[TKey key] => _lookup[key];

    /// <summary>A copy of <paramref name="items"/> keyed by the same comparer, or null for null.</summary>
    [return: NotNullIfNotNull(nameof(items))]
    public static ValueDictionary<TKey, TValue>? Of(IReadOnlyDictionary<TKey, TValue>? items) => items switch
    {
        null => null,
        ValueDictionary<TKey, TValue> copy => copy,
        _ => new([.. items], ComparerOf(items)),
    };

    public bool ContainsKey(TKey key) => _lookup.ContainsKey(key);

    public bool TryGetValue(TKey key, [MaybeNullWhen(false)] out TValue value) => _lookup.TryGetValue(key, out value);

    // Both directions, so dictionaries keyed by different comparers are equal only when each finds the other's pairs.
    public bool Equals(ValueDictionary<TKey, TValue>? other) =>
        other is not null && (ReferenceEquals(this, other) || (Count == other.Count && Contains(this, other) && Contains(other, this)));

    public override bool Equals(object? obj) => Equals(obj as ValueDictionary<TKey, TValue>);

    // Keys are left out: two equal dictionaries may hash their keys with different comparers. The sum ignores the order,
    // and wraps around (the project checks overflow).
    public override int GetHashCode()
    {
        var values = 0;
        foreach (var pair in _pairs)
        {
            values = unchecked(values + (pair.Value is null ? 0 : EqualityComparer<TValue>.Default.GetHashCode(pair.Value)));
        }

        return HashCode.Combine(Count, values);
    }

    public IEnumerator<KeyValuePair<TKey, TValue>> GetEnumerator() => ((IEnumerable<KeyValuePair<TKey, TValue>>)_pairs).GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => _pairs.GetEnumerator();

    private static bool Contains(ValueDictionary<TKey, TValue> items, ValueDictionary<TKey, TValue> within)
    {
        foreach (var pair in items._pairs)
        {
            if (!within._lookup.TryGetValue(pair.Key, out var value) || !EqualityComparer<TValue>.Default.Equals(pair.Value, value))
            {
                return false;
            }
        }

        return true;
    }

    private static IEqualityComparer<TKey>? ComparerOf(IReadOnlyDictionary<TKey, TValue> items) => items switch
    {
        Dictionary<TKey, TValue> dictionary => dictionary.Comparer,
        ImmutableDictionary<TKey, TValue> immutable => immutable.KeyComparer,
        FrozenDictionary<TKey, TValue> frozen => frozen.Comparer,
        ConcurrentDictionary<TKey, TValue> concurrent => concurrent.Comparer,
        _ => null,
    };
}
