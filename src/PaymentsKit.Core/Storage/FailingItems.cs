using NodaTime;

namespace PaymentsKit.Storage;

/// <summary>
/// The items of a piece of background work (deadlines of a <see cref="DeadlineSweep{TDeadline}"/>, invoices of the
/// expiry sweep, due distributions of the hosting job) whose handling failed and that keep failing: how many times in a
/// row, and when each may be tried again (<see cref="FailureBackoff"/>). An item leaves when it is handled. This is the
/// instance's (the host's) memory: a restarted host tries every such item at once. Thread-safe.
/// </summary>
/// <typeparam name="TKey">The item's id.</typeparam>
/// <typeparam name="TItem">What a retry needs of the item (the item itself, or nothing).</typeparam>
internal sealed class FailingItems<TKey, TItem>
    where TKey : notnull
{
    private readonly Lock _lock = new();
    private readonly Dictionary<TKey, Failing> _failing = [];

    /// <summary>The ids of the items failing now, or null when none is.</summary>
    public HashSet<TKey>? Snapshot()
    {
        lock (_lock)
        {
            return _failing.Count == 0 ? null : [.. _failing.Keys];
        }
    }

    /// <summary>Whether <paramref name="id"/> failed and its backoff has not passed by <paramref name="now"/>.</summary>
    public bool IsWaiting(TKey id, Instant now)
    {
        lock (_lock)
        {
            return _failing.TryGetValue(id, out var failing) && failing.RetryAt > now;
        }
    }

    /// <summary>Records another failure of <paramref name="id"/> at <paramref name="now"/>; its backoff grows.</summary>
    public void Failed(TKey id, TItem item, Instant now)
    {
        lock (_lock)
        {
            var failures = _failing.TryGetValue(id, out var previous) ? previous.Failures + 1 : 1;
            _failing[id] = new Failing(item, failures, now + FailureBackoff.After(failures));
        }
    }

    /// <summary>Forgets <paramref name="id"/>: it was handled, or needs handling no more.</summary>
    public void Forget(TKey id)
    {
        lock (_lock)
        {
            _failing.Remove(id);
        }
    }

    /// <summary>Forgets every failing item for which <paramref name="keep"/> is false.</summary>
    public void ForgetUnless(Func<TKey, bool> keep)
    {
        lock (_lock)
        {
            foreach (var id in _failing.Keys.Where(id => !keep(id)).ToList())
            {
                _failing.Remove(id);
            }
        }
    }

    /// <summary>
    /// Takes up to <paramref name="limit"/> items whose backoff has passed by <paramref name="now"/> and that
    /// <paramref name="eligible"/> accepts, in <paramref name="order"/> of their ids. Each one's next try moves on by its
    /// backoff, so work running beside the caller does not try it too.
    /// </summary>
    public List<TItem> TakeRetries(Instant now, Func<TItem, bool> eligible, IComparer<TKey> order, int limit)
    {
        lock (_lock)
        {
            if (_failing.Count == 0)
            {
                return [];
            }

            var taken = _failing
                .Where(f => f.Value.RetryAt <= now && eligible(f.Value.Item))
                .OrderBy(f => f.Key, order)
                .Take(limit)
                .ToList();
            foreach (var (id, entry) in taken)
            {
                _failing[id] = entry with { RetryAt = now + FailureBackoff.After(entry.Failures) };
            }

            return [.. taken.Select(f => f.Value.Item)];
        }
    }

    /// <summary>An item that failed <paramref name="Failures"/> times in a row, next tried at <paramref name="RetryAt"/>.</summary>
    private sealed record Failing(TItem Item, int Failures, Instant RetryAt);
}
