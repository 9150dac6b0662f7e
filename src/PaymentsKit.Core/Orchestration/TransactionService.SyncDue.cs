using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using NodaTime;
using PaymentsKit.Routing;

namespace PaymentsKit.Orchestration;

internal sealed partial class TransactionService
{
    public async ValueTask<TransactionSyncResult> SyncDueAsync(Instant now, int limit = 100, CancellationToken cancellationToken = default)
    {
        var settings = options.Value;
        var unsentCreatedBefore = now - settings.UnsentPaymentGracePeriod;
        var claims = await due.ClaimDueAsync(now, unsentCreatedBefore, now - settings.DropTimeout, settings.SyncLease, limit, cancellationToken).ConfigureAwait(false);
        var synced = 0;
        var failed = 0;
        var retry = new ConcurrentBag<DueTransaction>();
        try
        {
            // Provider calls dominate a sync, so several transactions are synced at once.
            await Parallel.ForEachAsync(
                claims,
                new ParallelOptions { MaxDegreeOfParallelism = settings.SyncParallelism, CancellationToken = cancellationToken },
                async (claim, ct) =>
                {
                    try
                    {
                        var after = await SyncOneAsync(claim.PartnerId, claim.Id, RequestContext.Internal, true, ct).ConfigureAwait(false);
                        Interlocked.Increment(ref synced);

                        // Read as if its partner may be sent calls: what a partner that may not was left (an unsent refund,
                        // a call the provider does not know) waits the retry interval like any unresolved transaction,
                        // without counting as a failure; the claims then leave out what only waits for a suspended partner
                        // (an unsent create, refunds all pending) or for a deleted partner's drop timeout (an unsent create),
                        // and the rest of a deleted partner's is dropped in time.
                        if (TransactionSyncRule.IsDue(after, unsentCreatedBefore, true))
                        {
                            retry.Add(claim);
                        }
                    }
                    catch (Exception ex) when (!(ex is OperationCanceledException && ct.IsCancellationRequested))
                    {
                        // Whatever one transaction's sync throws (a provider's own exceptions included) stays with it: the pass
                        // goes on with the others, and it waits the retry interval so it cannot take every pass.
                        Interlocked.Increment(ref failed);
                        retry.Add(claim);
                        LogSyncFailure(logger ?? (ILogger)NullLogger.Instance, ex, claim.Id.ToString(), claim.PartnerId.ToString(), (ex as PaymentsKitException)?.Code ?? ex.GetType().Name);
                    }
                }).ConfigureAwait(false);
        }
        finally
        {
            // Those resolved (or never reached, when the pass was cancelled) are released, so they are claimed as soon as they
            // are due again; the others wait the retry interval.
            await DuePass.EndAsync(claims, retry, now, clock, settings.SyncRetryInterval, due.DeferAsync, due.ReleaseAsync).ConfigureAwait(false);
        }

        return new TransactionSyncResult(claims.Count, synced, failed);
    }

    [LoggerMessage(EventId = 701, Level = LogLevel.Warning, Message = "Transaction {TransactionId} of partner {PartnerId} could not be synced ({Code}); it is tried again after the retry interval")]
    private static partial void LogSyncFailure(ILogger logger, Exception exception, string transactionId, string partnerId, string code);
}
