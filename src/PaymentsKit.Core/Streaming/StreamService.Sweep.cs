using NodaTime;
using PaymentsKit.Ledger;
using PaymentsKit.Storage;

namespace PaymentsKit.Streaming;

public sealed partial class StreamService
{
    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<PaymentStream>> CompleteDueAsync(Instant now, int limit = 1000, CancellationToken cancellationToken = default)
    {
        LedgerValidation.Limit(limit, MaxSweepLimit);
        var completed = await _completionSweep.RunAsync<StreamOperationResult>(now, limit, CompleteOneAsync, cancellationToken).ConfigureAwait(false);
        return [.. completed.Select(c => Logged(c).Stream)];
    }

    /// <summary>Completes the deadline's stream if it is still due, and closes the deadline either way.</summary>
    private async ValueTask<StreamOperationResult?> CompleteOneAsync(IUnitOfWork unit, StreamDeadline deadline, Instant now, CancellationToken cancellationToken)
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
                return Finish(unit, c);
            },
            cancellationToken).ConfigureAwait(false);
    }
}
