using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;

namespace PaymentsKit.Routing;

/// <summary>
/// What this process remembers of records that cannot go stale while remembered (a quote, the merchant an intent
/// belongs to, a merchant that exists), so that it need not read them again. Bounded by starting over: when full it
/// forgets everything, which costs reads, never correctness.
/// </summary>
/// <param name="capacity">How many entries it holds before it starts over.</param>
internal sealed class BoundedMemory<TKey, TValue>(int capacity)
    where TKey : notnull
{
    private readonly ConcurrentDictionary<TKey, TValue> _entries = new();

    /// <summary>The value remembered for <paramref name="key"/>, if any.</summary>
    public bool TryGet(TKey key, [MaybeNullWhen(false)] out TValue value) => _entries.TryGetValue(key, out value);

    /// <summary>Remembers <paramref name="value"/> for <paramref name="key"/>, replacing what was remembered.</summary>
    public void Remember(TKey key, TValue value)
    {
        if (_entries.Count >= capacity)
        {
            _entries.Clear();
        }

        _entries[key] = value;
    }
}
