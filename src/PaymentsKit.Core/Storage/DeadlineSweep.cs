using System.Runtime.CompilerServices;
using NodaTime;

namespace PaymentsKit.Storage;

/// <summary>
/// Walks a collection of deadline records (ids time-ordered like their due instants, tenant
/// <see cref="Guid.Empty"/>) and acts on each one that is due and not yet closed, each in its own unit of
/// work. It remembers where the deadlines behind it are all closed, so later sweeps skip them. A deadline whose unit
/// of work fails is reported to <c>failed</c> (the deadline, the exception, its error code or exception type) and
/// left due: the sweep goes on with the others and the next sweep tries it again.
/// Shared by the ledger's reservation expiry, the streams' completion sweep and the payment links' expiry.
/// </summary>
/// <typeparam name="TDeadline">The deadline record.</typeparam>
internal sealed class DeadlineSweep<TDeadline>(
    IPaymentsStore store,
    IClock clock,
    RecordCollection<TDeadline> collection,
    Func<TDeadline, Instant> dueAt,
    Func<TDeadline, bool> closed,
    Action<TDeadline, Exception, string> failed)
    where TDeadline : class
{
    private const int PageSize = 256;

    // Deadlines at least this far behind the clock that were all closed are skipped next time; one written
    // by a host whose clock lags by more than this could land behind the skip.
    private static readonly Duration SkipMargin = Duration.FromMinutes(1);

    private readonly Lock _cursorLock = new();
    private string? _skipCursor;

    /// <summary>Acts on up to <paramref name="limit"/> deadlines due at <paramref name="now"/>.</summary>
    /// <param name="now">The instant deadlines are due by.</param>
    /// <param name="limit">The most deadlines to act on.</param>
    /// <param name="act">Handles one deadline in a unit of work (re-reading it); null when it needed nothing.</param>
    /// <param name="cancellationToken">Cancels the sweep between deadlines.</param>
    /// <param name="operationName">Names each deadline's span: the sweep operation calling.</param>
    public async ValueTask<IReadOnlyList<TResult>> RunAsync<TResult>(
        Instant now,
        int limit,
        Func<IUnitOfWork, TDeadline, CancellationToken, ValueTask<TResult?>> act,
        CancellationToken cancellationToken,
        [CallerMemberName] string operationName = "")
        where TResult : class
    {
        var clockNow = clock.GetCurrentInstant();
        var skipBefore = (now < clockNow ? now : clockNow) - SkipMargin;
        var nowMilliseconds = now.ToUnixTimeMilliseconds();
        var results = new List<TResult>();
        string? cursor;
        lock (_cursorLock)
        {
            cursor = _skipCursor;
        }

        string? skipTo = null;
        var skipping = true;
        for (var done = false; !done;)
        {
            Page<Versioned<TDeadline>> page;
            var unit = await store.BeginAsync(cancellationToken).ConfigureAwait(false);
            await using (unit.ConfigureAwait(false))
            {
                page = await unit.ListAsync(collection, Guid.Empty, cursor, PageSize, cancellationToken).ConfigureAwait(false);
            }

            // Whether every deadline of this page is handled and old enough that none can appear before it.
            var handled = true;
            foreach (var item in page.Items)
            {
                var deadline = item.Value;
                var due = dueAt(deadline);
                handled &= due < skipBefore;
                if (closed(deadline))
                {
                    continue;
                }

                if (due > now)
                {
                    handled = false;

                    // Ids order deadlines to the millisecond: past now's millisecond nothing more is due.
                    done = due.ToUnixTimeMilliseconds() > nowMilliseconds;
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

                cancellationToken.ThrowIfCancellationRequested();
                TResult? result;
                try
                {
                    result = await store.ExecuteAsync((u, ct) => act(u, deadline, ct), cancellationToken, operationName).ConfigureAwait(false);
                }
                catch (Exception ex) when (!(ex is OperationCanceledException && cancellationToken.IsCancellationRequested))
                {
                    // One deadline that cannot be handled (a record the code refuses, a conflict that outlasted the retries)
                    // must not stop the deadlines of every tenant behind it, which it would on every sweep since it stays
                    // first. It is left due and its page unskipped, so the next sweep tries it again.
                    handled = false;
                    failed(deadline, ex, (ex as PaymentsKitException)?.Code ?? ex.GetType().Name);
                    continue;
                }

                if (result is not null)
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
                _skipCursor = skipTo;
            }
        }

        return results;
    }
}
