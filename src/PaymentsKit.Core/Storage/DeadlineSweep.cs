using System.Runtime.CompilerServices;
using NodaTime;

namespace PaymentsKit.Storage;

/// <summary>
/// The collections of deadline records a <see cref="DeadlineSweep{TDeadline}"/> walks: shared (tenant
/// <see cref="Guid.Empty"/>), with an index of the deadlines still open, so a sweep reads those and none of the closed
/// ones, which are kept: a sweep's cost follows the open deadlines, not every deadline ever written (decision 0029).
/// </summary>
internal static class DeadlineRecords
{
    /// <summary>The PostgreSQL table of every deadline collection (migration 0032).</summary>
    public const string Table = "paymentskit_deadlines";

    /// <summary>
    /// The index of open deadlines: a deadline holds <see cref="Open"/> in it until it is closed, then leaves it. On
    /// PostgreSQL, the table's column generated from the record's <c>closed</c> flag, under a partial index.
    /// </summary>
    public const string OpenIndex = "open_key";

    /// <summary>What every open deadline holds in <see cref="OpenIndex"/>.</summary>
    public static readonly Guid Open = Guid.Empty;

    /// <summary>Declares a collection of deadline records.</summary>
    /// <param name="name">The collection's name.</param>
    /// <param name="id">Reads a deadline's id, a UUIDv7 stamped with its due instant.</param>
    /// <param name="closed">Whether a deadline is closed: handled, so no sweep need read it again.</param>
    public static RecordCollection<TDeadline> Collection<TDeadline>(string name, Func<TDeadline, Guid> id, Func<TDeadline, bool> closed)
        where TDeadline : class =>
        new(name, id, _ => Guid.Empty, table: Table, indexes: [new RecordIndex<TDeadline>(OpenIndex, d => closed(d) ? null : Open)]);
}

/// <summary>
/// Walks a collection of deadline records declared by <see cref="DeadlineRecords.Collection{TDeadline}"/> (ids time-ordered
/// like their due instants) and acts on each one that is due and still open, each in its own unit of work. It reads only
/// the open deadlines, through the collection's index. A deadline is due once it has passed by both the sweep's now and
/// the clock: a now later than the clock's counts as the clock's, since acting before a deadline has really passed
/// (expiring a hold that still stands, completing a stream that has not streamed, deactivating a link still payable)
/// cannot be undone. It remembers where the deadlines behind it are all closed, so later sweeps skip them; at least every
/// <see cref="FullPassInterval"/> (by the clock) a sweep starts from the first open deadline again, so one committed
/// behind the skip (by a unit of work that committed long after its due instant, or a host whose clock lags) is acted on
/// then. A deadline whose unit of work fails is reported to <c>failed</c> (the deadline, the exception, its error code or
/// exception type) and left due: the sweep goes on with the others, and a sweep tries it again once a backoff has passed
/// (<see cref="FailureBackoff"/>: 1 minute, doubling with each further failure up to an hour, by the clock).
/// Until then it counts as handled for the skip, so it holds neither later sweeps' start nor their time. The backoff is
/// this instance's (this host's) memory, as the skip is: a restarted host tries every such deadline at once.
/// Shared by the ledger's reservation expiry, the streams' completion sweep and the payment links' expiry.
/// </summary>
/// <typeparam name="TDeadline">The deadline record.</typeparam>
internal sealed class DeadlineSweep<TDeadline>(
    IPaymentsStore store,
    IClock clock,
    RecordCollection<TDeadline> collection,
    Func<TDeadline, Instant> dueAt,
    Action<TDeadline, Exception, string> failed)
    where TDeadline : class
{
    private const int PageSize = 256;

    // Deadlines at least this far behind the clock that were all closed are skipped until the next full pass. One that
    // lands behind them (written by a host whose clock lags by more than this, or by a unit of work that commits more
    // than this after its due instant) waits for that pass.
    private static readonly Duration SkipMargin = Duration.FromMinutes(1);

    /// <summary>
    /// How often a sweep ignores the skip and starts from the first deadline. A deadline's id is stamped with its due
    /// instant when its unit of work is built, and that unit may commit any time later (a slow caller), so no margin
    /// keeps every deadline ahead of the skip: a full pass is what finds those that land behind it. The cost is one
    /// read of every open deadline this often, instead of on every sweep; closed ones are not in the index read.
    /// </summary>
    private static readonly Duration FullPassInterval = Duration.FromMinutes(10);

    private readonly Lock _cursorLock = new();
    private string? _skipCursor;

    // When the next sweep starts from the first deadline (null: the first sweep does), and how many have. A sweep moves
    // the skip only if no full pass started after it did: it began past deadlines that the full pass has still to reach.
    private Instant? _nextFullPass;
    private long _fullPasses;

    // Deadlines whose unit of work failed: tried from here once their backoff has passed, and passed over by the walk,
    // which may then skip their pages. A deadline leaves when it is handled.
    private readonly FailingItems<Guid, TDeadline> _failing = new();

    /// <summary>Acts on up to <paramref name="limit"/> deadlines due at <paramref name="now"/> and the clock.</summary>
    /// <param name="now">The instant deadlines are due by; a later one than the clock's counts as the clock's.</param>
    /// <param name="limit">The most deadlines to act on.</param>
    /// <param name="act">
    /// Handles one deadline in a unit of work (re-reading it), given the instant deadlines are due by (the earlier of
    /// <paramref name="now"/> and the clock's); null when it needed nothing.
    /// </param>
    /// <param name="cancellationToken">Cancels the sweep between deadlines.</param>
    /// <param name="operationName">Names each deadline's span: the sweep operation calling.</param>
    public async ValueTask<IReadOnlyList<TResult>> RunAsync<TResult>(
        Instant now,
        int limit,
        Func<IUnitOfWork, TDeadline, Instant, CancellationToken, ValueTask<TResult?>> act,
        CancellationToken cancellationToken,
        [CallerMemberName] string operationName = "")
        where TResult : class
    {
        var clockNow = clock.GetCurrentInstant();
        var dueBy = now < clockNow ? now : clockNow;
        var skipBefore = dueBy - SkipMargin;
        var dueByMilliseconds = dueBy.ToUnixTimeMilliseconds();
        var results = new List<TResult>();
        string? cursor;
        long fullPasses;
        lock (_cursorLock)
        {
            if (_nextFullPass is not { } next || clockNow >= next)
            {
                _skipCursor = null;
                _fullPasses++;
                _nextFullPass = clockNow + FullPassInterval;
            }

            cursor = _skipCursor;
            fullPasses = _fullPasses;
        }

        var failing = _failing.Snapshot();
        var retries = _failing.TakeRetries(clockNow, deadline => dueAt(deadline) <= dueBy, GuidOrder.Instance, limit);

        foreach (var deadline in retries)
        {
            if (await TryActAsync(deadline, clockNow, dueBy, act, cancellationToken, operationName).ConfigureAwait(false) is { } result)
            {
                results.Add(result);
            }
        }

        string? skipTo = null;
        var skipping = true;
        for (var done = false; !done;)
        {
            Page<Versioned<TDeadline>> page;
            var unit = await store.BeginAsync(cancellationToken).ConfigureAwait(false);
            await using (unit.ConfigureAwait(false))
            {
                page = await unit.ListByAsync(collection, Guid.Empty, DeadlineRecords.OpenIndex, DeadlineRecords.Open, cursor, PageSize, cancellationToken)
                    .ConfigureAwait(false);
            }

            // Whether every deadline of this page is handled and old enough that none can appear before it.
            var handled = true;
            foreach (var item in page.Items)
            {
                var deadline = item.Value;
                var due = dueAt(deadline);
                handled &= due < skipBefore;
                if (failing?.Contains(collection.IdOf(deadline)) == true)
                {
                    continue;
                }

                if (due > dueBy)
                {
                    handled = false;

                    // Ids order deadlines to the millisecond: past dueBy's millisecond nothing more is due.
                    done = due.ToUnixTimeMilliseconds() > dueByMilliseconds;
                    if (done)
                    {
                        break;
                    }

                    continue;
                }

                if (results.Count == limit)
                {
                    handled = false;
                    done = true;
                    break;
                }

                if (await TryActAsync(deadline, clockNow, dueBy, act, cancellationToken, operationName).ConfigureAwait(false) is { } result)
                {
                    results.Add(result);
                }
            }

            skipping &= handled && page.NextCursor is not null;
            if (skipping)
            {
                skipTo = page.NextCursor;
            }

            done |= page.NextCursor is null;
            cursor = page.NextCursor;
        }

        if (skipTo is not null)
        {
            lock (_cursorLock)
            {
                if (fullPasses == _fullPasses)
                {
                    _skipCursor = skipTo;
                }
            }
        }

        return results;
    }

    /// <summary>
    /// Acts on one deadline in its own unit of work: the result, or null when it needed nothing or failed. A failure is
    /// reported and the deadline waits out its backoff.
    /// </summary>
    private async ValueTask<TResult?> TryActAsync<TResult>(
        TDeadline deadline,
        Instant clockNow,
        Instant dueBy,
        Func<IUnitOfWork, TDeadline, Instant, CancellationToken, ValueTask<TResult?>> act,
        CancellationToken cancellationToken,
        string operationName)
        where TResult : class
    {
        cancellationToken.ThrowIfCancellationRequested();
        var id = collection.IdOf(deadline);
        TResult? result;
        try
        {
            result = await store.ExecuteAsync((u, ct) => act(u, deadline, dueBy, ct), cancellationToken, operationName).ConfigureAwait(false);
        }
        catch (Exception ex) when (!(ex is OperationCanceledException && cancellationToken.IsCancellationRequested))
        {
            // One deadline that cannot be handled (a record the code refuses, a conflict that outlasted the retries) must
            // not stop the deadlines of every tenant behind it, nor be tried (and logged) on every sweep: it stays due
            // and is tried again after a backoff that grows while it keeps failing.
            _failing.Failed(id, deadline, clockNow);
            failed(deadline, ex, (ex as PaymentsKitException)?.Code ?? ex.GetType().Name);
            return null;
        }

        _failing.Forget(id);
        return result;
    }
}
