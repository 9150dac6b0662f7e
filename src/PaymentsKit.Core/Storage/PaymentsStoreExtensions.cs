using System.Runtime.CompilerServices;
using PaymentsKit.Diagnostics;

namespace PaymentsKit.Storage;

/// <summary>Runs business operations as units of work with bounded optimistic-concurrency retries.</summary>
public static class PaymentsStoreExtensions
{
    /// <summary>How many times an operation runs at most when it keeps losing races.</summary>
    public const int MaxAttempts = 8;

    // One turnstile per store: operations that lost a race on it retry one at a time.
    private static readonly ConditionalWeakTable<IPaymentsStore, SemaphoreSlim> Turnstiles = [];

    // Set while this flow holds its store's turnstile, so an operation nested in another never waits for itself.
    private static readonly AsyncLocal<IPaymentsStore?> Holding = new();

    /// <summary>
    /// Runs <paramref name="operation"/> in a fresh unit of work and commits it; on
    /// <c>concurrency_conflict</c>, or when the operation or its commit refuses (a <see cref="PaymentsKitException"/> that is
    /// not transient, <c>duplicate_key</c> included) with records read or updated that have changed since
    /// (<see cref="IUnitOfWork.HasStaleReadsAsync"/>), the whole operation runs again (re-reading what it needs), up to
    /// <see cref="MaxAttempts"/> times, then the last error is thrown. A refusal on reads still current is thrown at once.
    /// </summary>
    /// <remarks>
    /// <para>The operation must be free of side effects outside the unit of work, as it may run more than once.</para>
    /// <para>
    /// A conflict means other operations want the same records. Racing them again lets one of n
    /// contenders through per round, so n operations on one hot record (a link's use count, a ledger
    /// account's balance) would need n rounds and most would run out of attempts. Instead an operation
    /// that lost waits for its store's turnstile and retries holding it until it commits: retries on a
    /// store run one at a time, each against only the first attempts still in flight, so contended
    /// operations complete in turn. Across processes the bounded retries with jittered pauses remain.
    /// </para>
    /// </remarks>
    /// <param name="store">The store.</param>
    /// <param name="operation">The operation: reads and buffered writes on the unit it is given.</param>
    /// <param name="cancellationToken">Cancels the operation.</param>
    /// <param name="operationName">Names the operation's span; the calling method by default.</param>
    public static async ValueTask<TResult> ExecuteAsync<TResult>(
        this IPaymentsStore store,
        Func<IUnitOfWork, CancellationToken, ValueTask<TResult>> operation,
        CancellationToken cancellationToken = default,
        [CallerMemberName] string operationName = "")
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(operation);

        // One span per business operation, named after the service method that runs it (CreateInvoice, SettleAsync → Settle …).
        using var activity = PaymentsKitTelemetry.StartActivity(
            operationName.EndsWith("Async", StringComparison.Ordinal) ? operationName[..^5] : operationName);
        SemaphoreSlim? turnstile = null;
        try
        {
            for (var attempt = 1; ; attempt++)
            {
                activity?.SetTag("paymentskit.attempts", attempt);
                var unit = await store.BeginAsync(cancellationToken).ConfigureAwait(false);
                await using (unit.ConfigureAwait(false))
                {
                    try
                    {
                        var result = await operation(unit, cancellationToken).ConfigureAwait(false);
                        await unit.CommitAsync(cancellationToken).ConfigureAwait(false);
                        return result;
                    }
                    catch (PaymentsKitException ex) when (attempt < MaxAttempts
                                                          && (ex.Code == PaymentsKitErrorCodes.ConcurrencyConflict
                                                              || (!ex.IsTransient && ex.Code != PaymentsKitErrorCodes.StorageFailure)))
                    {
                        // Reads are not a snapshot: a refusal decided on records another commit changed between them (an
                        // intent read holding a hold the next read finds released), or a taken key the store judged before
                        // an update's stale version, answers a state that never existed. It lost a race as a conflict does,
                        // and is decided again on fresh reads.
                        if (ex.Code != PaymentsKitErrorCodes.ConcurrencyConflict && !await HasStaleReadsAsync(unit, cancellationToken).ConfigureAwait(false))
                        {
                            throw;
                        }

                        if (turnstile is null && !ReferenceEquals(Holding.Value, store))
                        {
                            var gate = Turnstiles.GetValue(store, static _ => new SemaphoreSlim(1, 1));
                            await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
                            turnstile = gate;
                            Holding.Value = store;
                        }
                        else
                        {
                            // Our turn, yet a first attempt won again: back off a little (jittered) and redo the operation on fresh reads.
                            await Task.Delay(Random.Shared.Next(0, 2 << Math.Min(attempt, 6)), cancellationToken).ConfigureAwait(false);
                        }
                    }
                }
            }
        }
        finally
        {
            if (turnstile is not null)
            {
                Holding.Value = null;
                turnstile.Release();
            }
        }
    }

    private static async ValueTask<bool> HasStaleReadsAsync(IUnitOfWork unit, CancellationToken cancellationToken)
    {
        try
        {
            return await unit.HasStaleReadsAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (PaymentsKitException)
        {
            // The store cannot be asked now (it is failing): the refusal stands as decided rather than being replaced by that failure.
            return false;
        }
    }
}
