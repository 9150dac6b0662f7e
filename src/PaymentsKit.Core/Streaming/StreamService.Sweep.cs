using NodaTime;
using PaymentsKit.Ledger;
using PaymentsKit.Storage;

namespace PaymentsKit.Streaming;

public sealed partial class StreamService
{
    private const int SweepPageSize = 256;

    // The sweep skips over deadlines at least this far behind the clock that were all handled; a deadline
    // written by a host whose clock lags by more than this could land behind the skip.
    private static readonly Duration SweepSkipMargin = Duration.FromMinutes(1);

    private readonly Lock _sweepLock = new();
    private string? _sweepCursor;

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<PaymentStream>> CompleteDueAsync(Instant now, int limit = 1000, CancellationToken cancellationToken = default)
    {
        LedgerValidation.Limit(limit, MaxSweepLimit);
        var clockNow = _clock.GetCurrentInstant();
        var skipBefore = (now < clockNow ? now : clockNow) - SweepSkipMargin;
        var nowMilliseconds = now.ToUnixTimeMilliseconds();
        var completed = new List<PaymentStream>();
        string? cursor;
        lock (_sweepLock)
        {
            cursor = _sweepCursor;
        }

        string? skipTo = null;
        var skipping = true;
        for (var done = false; !done;)
        {
            Page<Versioned<StreamDeadline>> page;
            var unit = await _store.BeginAsync(cancellationToken).ConfigureAwait(false);
            await using (unit.ConfigureAwait(false))
            {
                page = await unit.ListAsync(StreamCollections.Deadlines, Guid.Empty, cursor, SweepPageSize, cancellationToken).ConfigureAwait(false);
            }

            // Whether every deadline of this page is handled and old enough that none can appear before it.
            var handled = true;
            foreach (var item in page.Items)
            {
                var deadline = item.Value;
                handled &= deadline.DueAt < skipBefore;
                if (deadline.Closed)
                {
                    continue;
                }

                if (deadline.DueAt > now)
                {
                    handled = false;

                    // Ids order deadlines to the millisecond: past now's millisecond nothing more is due.
                    done = deadline.DueAt.ToUnixTimeMilliseconds() > nowMilliseconds;
                    if (done)
                    {
                        break;
                    }

                    continue;
                }

                if (completed.Count == limit)
                {
                    handled = false;
                    done = true;
                    break;
                }

                cancellationToken.ThrowIfCancellationRequested();
                var stream = await _store.ExecuteAsync((u, ct) => CompleteOneAsync(u, deadline, now, ct), cancellationToken).ConfigureAwait(false);
                if (stream is not null)
                {
                    completed.Add(stream);
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
            lock (_sweepLock)
            {
                _sweepCursor = skipTo;
            }
        }

        return completed;
    }

    /// <summary>Completes the deadline's stream if it is still due, and closes the deadline either way.</summary>
    private async ValueTask<PaymentStream?> CompleteOneAsync(IUnitOfWork unit, StreamDeadline deadline, Instant now, CancellationToken cancellationToken)
    {
        var current = await unit.GetAsync(StreamCollections.Deadlines, Guid.Empty, deadline.Id, cancellationToken).ConfigureAwait(false);
        if (current is null || current.Value.Closed)
        {
            return null;
        }

        unit.Update(StreamCollections.Deadlines, current.Value with { Closed = true }, current.Version);
        var stored = await unit.GetAsync(StreamCollections.Streams, deadline.TenantId.Value, deadline.StreamId.Value, cancellationToken).ConfigureAwait(false);

        // A paused stream, or one resumed since, is not due by this deadline: a later one was written on resume.
        if (stored is not { Value: { Status: StreamState.Active, CompletesAt: { } due } } || due > now)
        {
            return null;
        }

        var stream = stored.Value with { Version = stored.Version };
        var clockNow = Floor(_clock.GetCurrentInstant());
        var change = new Change(stream, stored.Version, clockNow > stream.UpdatedAt ? clockNow : stream.UpdatedAt, stream.ToTerms());
        return await GuardedAsync(
            unit,
            change,
            async c =>
            {
                await CompleteStepAsync(unit, c, SystemActor, "completion sweep", cancellationToken).ConfigureAwait(false);
                return Finish(unit, c).Stream;
            },
            cancellationToken).ConfigureAwait(false);
    }
}
