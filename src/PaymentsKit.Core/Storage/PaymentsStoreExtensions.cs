namespace PaymentsKit.Storage;

/// <summary>Runs business operations as units of work with bounded optimistic-concurrency retries.</summary>
public static class PaymentsStoreExtensions
{
    /// <summary>How many times an operation runs at most when it keeps losing races.</summary>
    public const int MaxAttempts = 8;

    /// <summary>
    /// Runs <paramref name="operation"/> in a fresh unit of work and commits it; on
    /// <c>concurrency_conflict</c> the whole operation runs again (re-reading what it needs), up to
    /// <see cref="MaxAttempts"/> times, then the conflict is thrown.
    /// </summary>
    /// <remarks>The operation must be free of side effects outside the unit of work, as it may run more than once.</remarks>
    public static async ValueTask<TResult> ExecuteAsync<TResult>(
        this IPaymentsStore store,
        Func<IUnitOfWork, CancellationToken, ValueTask<TResult>> operation,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(operation);
        for (var attempt = 1; ; attempt++)
        {
            var unit = await store.BeginAsync(cancellationToken).ConfigureAwait(false);
            await using (unit.ConfigureAwait(false))
            {
                try
                {
                    var result = await operation(unit, cancellationToken).ConfigureAwait(false);
                    await unit.CommitAsync(cancellationToken).ConfigureAwait(false);
                    return result;
                }
                catch (PaymentsKitException ex) when (ex.Code == PaymentsKitErrorCodes.ConcurrencyConflict && attempt < MaxAttempts)
                {
                    // Someone else won the race; back off a little (jittered) and redo the operation on fresh reads.
                    await Task.Delay(Random.Shared.Next(0, 2 << Math.Min(attempt, 6)), cancellationToken).ConfigureAwait(false);
                }
            }
        }
    }
}
