using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using NodaTime;
using PaymentsKit.Invoicing;
using PaymentsKit.Ledger;
using PaymentsKit.Orchestration;
using PaymentsKit.Payouts;
using PaymentsKit.Routing;
using PaymentsKit.Storage;
using PaymentsKit.Streaming;
using PaymentsKit.Webhooks;

namespace PaymentsKit.Hosting.Jobs;

/// <summary>
/// Delivers due webhooks: each run drains the queue (<see cref="IWebhookDispatcher.DrainAsync(TimeSpan, CancellationToken, CancellationToken)"/>) for at most
/// <see cref="PaymentsKitHostingOptions.WebhookDispatchBudget"/>, then reports more work if some was left. Claimed
/// deliveries put back unsent (<see cref="WebhookDispatchResult.NotSent"/>) are not counted as processed, and a run that
/// processed nothing else does not report more work. When the host starts stopping, the drain claims nothing more, puts the
/// deliveries it claimed but has not sent back at once (no attempt counted, free for another host), and lets the POSTs in
/// flight finish until the host's shutdown timeout.
/// </summary>
/// <param name="dispatcher">The dispatcher.</param>
/// <param name="options">Supplies the interval and the budget.</param>
public sealed class WebhookDispatchJob(IWebhookDispatcher dispatcher, IOptions<PaymentsKitHostingOptions> options) : IPaymentsKitJob
{
    /// <summary>The job's name.</summary>
    public const string JobName = "webhooks.dispatch";

    /// <inheritdoc />
    public string Name => JobName;

    /// <inheritdoc />
    public TimeSpan DefaultInterval => options.Value.WebhookDispatchInterval;

    /// <inheritdoc />
    public ValueTask<PaymentsKitJobResult> RunAsync(CancellationToken cancellationToken) => RunAsync(CancellationToken.None, cancellationToken);

    /// <inheritdoc />
    public async ValueTask<PaymentsKitJobResult> RunAsync(CancellationToken stoppingToken, CancellationToken cancellationToken)
    {
        var result = await dispatcher.DrainAsync(options.Value.WebhookDispatchBudget, stoppingToken, cancellationToken).ConfigureAwait(false);
        var processed = result.Claimed - result.NotSent;

        // Unsent deliveries are due again at once: a run that only put deliveries back would, reporting more work, claim
        // them straight back and, with the same wait behind MaxConcurrency, put them back again without ever pausing.
        return new PaymentsKitJobResult(processed, result.MoreWork && processed > 0);
    }
}

/// <summary>Expires pending invoices past their expiry (<see cref="IInvoiceService.ExpireDueAsync"/>).</summary>
/// <param name="invoices">The invoice service.</param>
/// <param name="options">Supplies the interval.</param>
public sealed class InvoiceExpiryJob(IInvoiceService invoices, IOptions<PaymentsKitHostingOptions> options) : IPaymentsKitJob
{
    /// <summary>The job's name.</summary>
    public const string JobName = "invoices.expire";

    /// <inheritdoc />
    public string Name => JobName;

    /// <inheritdoc />
    public TimeSpan DefaultInterval => options.Value.InvoiceExpiryInterval;

    /// <inheritdoc />
    public async ValueTask<PaymentsKitJobResult> RunAsync(CancellationToken cancellationToken) =>
        new(await invoices.ExpireDueAsync(cancellationToken).ConfigureAwait(false));
}

/// <summary>Expires pending two-phase ledger transfers past their deadline (<see cref="ILedger.ExpireDueAsync"/>).</summary>
/// <param name="ledger">The ledger.</param>
/// <param name="clock">Supplies now.</param>
/// <param name="options">Supplies the interval.</param>
public sealed class LedgerTransferExpiryJob(ILedger ledger, IClock clock, IOptions<PaymentsKitHostingOptions> options) : IPaymentsKitJob
{
    /// <summary>The job's name.</summary>
    public const string JobName = "ledger.expire_transfers";

    /// <summary>The most transfers one run expires before reporting more work.</summary>
    public const int BatchSize = 1000;

    /// <inheritdoc />
    public string Name => JobName;

    /// <inheritdoc />
    public TimeSpan DefaultInterval => options.Value.LedgerTransferExpiryInterval;

    /// <inheritdoc />
    public async ValueTask<PaymentsKitJobResult> RunAsync(CancellationToken cancellationToken)
    {
        var expired = await ledger.ExpireDueAsync(clock.GetCurrentInstant(), BatchSize, cancellationToken).ConfigureAwait(false);
        return new PaymentsKitJobResult(expired.Count, expired.Count == BatchSize);
    }
}

/// <summary>Probes every routable chain and stores a health snapshot (<see cref="IChainHealthService.SampleHealthAsync"/>).</summary>
/// <param name="health">The chain health service.</param>
/// <param name="options">Supplies the interval.</param>
public sealed class ChainHealthSamplingJob(IChainHealthService health, IOptions<PaymentsKitHostingOptions> options) : IPaymentsKitJob
{
    /// <summary>The job's name.</summary>
    public const string JobName = "chains.sample_health";

    /// <inheritdoc />
    public string Name => JobName;

    /// <inheritdoc />
    public TimeSpan DefaultInterval => options.Value.ChainHealthSamplingInterval;

    /// <inheritdoc />
    public async ValueTask<PaymentsKitJobResult> RunAsync(CancellationToken cancellationToken) =>
        new((await health.SampleHealthAsync(cancellationToken).ConfigureAwait(false)).Count);
}

/// <summary>Deactivates payment links past their expiry (<see cref="IPaymentLinkService.ExpireDueAsync"/>).</summary>
/// <param name="links">The payment link service.</param>
/// <param name="clock">Supplies now.</param>
/// <param name="options">Supplies the interval.</param>
public sealed class PaymentLinkExpiryJob(IPaymentLinkService links, IClock clock, IOptions<PaymentsKitHostingOptions> options) : IPaymentsKitJob
{
    /// <summary>The job's name.</summary>
    public const string JobName = "payment_links.expire";

    /// <summary>The most links one run deactivates before reporting more work.</summary>
    public const int BatchSize = 1000;

    /// <inheritdoc />
    public string Name => JobName;

    /// <inheritdoc />
    public TimeSpan DefaultInterval => options.Value.PaymentLinkExpiryInterval;

    /// <inheritdoc />
    public async ValueTask<PaymentsKitJobResult> RunAsync(CancellationToken cancellationToken)
    {
        var expired = await links.ExpireDueAsync(clock.GetCurrentInstant(), BatchSize, cancellationToken).ConfigureAwait(false);
        return new PaymentsKitJobResult(expired.Count, expired.Count == BatchSize);
    }
}

/// <summary>
/// Completes active streams whose end has passed — their final settlement and the refund of any remainder
/// (<see cref="IStreamService.CompleteDueAsync"/>).
/// </summary>
/// <param name="streams">The stream service.</param>
/// <param name="clock">Supplies now.</param>
/// <param name="options">Supplies the interval.</param>
public sealed class StreamCompletionJob(IStreamService streams, IClock clock, IOptions<PaymentsKitHostingOptions> options) : IPaymentsKitJob
{
    /// <summary>The job's name.</summary>
    public const string JobName = "streams.complete";

    /// <summary>The most streams one run completes before reporting more work.</summary>
    public const int BatchSize = 1000;

    /// <inheritdoc />
    public string Name => JobName;

    /// <inheritdoc />
    public TimeSpan DefaultInterval => options.Value.StreamCompletionInterval;

    /// <inheritdoc />
    public async ValueTask<PaymentsKitJobResult> RunAsync(CancellationToken cancellationToken)
    {
        var completed = await streams.CompleteDueAsync(clock.GetCurrentInstant(), BatchSize, cancellationToken).ConfigureAwait(false);
        return new PaymentsKitJobResult(completed.Count, completed.Count == BatchSize);
    }
}

/// <summary>
/// Runs the distributions that are due (<see cref="IDistributionService.GetDuePageAsync"/>, page by page to the index's end,
/// then <see cref="IDistributionService.ExecuteAsync"/>): SCHEDULED and RECURRING ones by their time, and MANUAL or AUTOMATIC
/// ones whose run was interrupted (their run lease ended: the run stopped, or its host died), which it resumes. A distribution
/// runs on one host at a time: the job takes a <see cref="JobLease"/> on it first (another host skips it; a host that dies
/// leaves the lease to expire, and the next run resumes the distribution where it stopped), and the run itself holds the
/// distribution's run lease (<see cref="PayoutOptions.RunLease"/>), renewed while it runs, so a host whose job lease lapsed
/// during a long run executes nothing beside it. One that fails stays due and is tried again once a backoff has
/// passed (1 minute, doubling with each further failure up to an hour, by the clock, as deadline sweeps do);
/// until then runs page past it (a keyset cursor on due time and id), so distributions that keep failing cannot keep the
/// ones due after them from running. The backoff is this instance's (this host's) memory: a restarted host tries them all at once.
/// </summary>
/// <param name="distributions">The distribution service.</param>
/// <param name="leases">Keeps two hosts off one distribution.</param>
/// <param name="clock">Supplies now.</param>
/// <param name="options">Supplies the interval and the lease.</param>
/// <param name="logger">Where a distribution that fails is reported; the run goes on with the others.</param>
public sealed partial class DueDistributionsJob(
    IDistributionService distributions, JobLeases leases, IClock clock, IOptions<PaymentsKitHostingOptions> options, ILogger<DueDistributionsJob>? logger)
    : IPaymentsKitJob
{
    /// <summary>The job's name.</summary>
    public const string JobName = "payouts.run_due";

    /// <summary>The most due distributions one run tries before reporting more work.</summary>
    public const int BatchSize = 100;

    // Distributions whose run failed: passed over until their backoff has passed. One leaves when it runs, or when a run
    // that read every due distribution did not see it (it finished elsewhere, or was cancelled).
    private readonly FailingItems<DistributionId, DistributionId> _failing = new();

    /// <summary>Creates the job, logging nothing.</summary>
    /// <param name="distributions">The distribution service.</param>
    /// <param name="leases">Keeps two hosts off one distribution.</param>
    /// <param name="clock">Supplies now.</param>
    /// <param name="options">Supplies the interval and the lease.</param>
    public DueDistributionsJob(IDistributionService distributions, JobLeases leases, IClock clock, IOptions<PaymentsKitHostingOptions> options)
        : this(distributions, leases, clock, options, null)
    {
        // 0.1.0's constructor, kept so code compiled against it still binds. The other's logger is not optional, so a
        // four-argument call has this one candidate only.
    }

    /// <inheritdoc />
    public string Name => JobName;

    /// <inheritdoc />
    public TimeSpan DefaultInterval => options.Value.DueDistributionsInterval;

    /// <inheritdoc />
    public async ValueTask<PaymentsKitJobResult> RunAsync(CancellationToken cancellationToken)
    {
        var now = clock.GetCurrentInstant();
        var tried = 0;
        var ran = 0;
        var moreWork = false;
        var seen = new HashSet<DistributionId>();
        DueDistribution? after = null;
        while (!moreWork)
        {
            // A page can come back short while more follow (the index listed distributions another host has just run), so
            // the run pages on from where the index stopped until it reports the end.
            var page = await distributions.GetDuePageAsync(now, BatchSize, after, cancellationToken).ConfigureAwait(false);
            after = page.Next;
            foreach (var distribution in page.Distributions)
            {
                seen.Add(distribution.Id);
                if (_failing.IsWaiting(distribution.Id, now))
                {
                    continue;
                }

                if (tried == BatchSize)
                {
                    moreWork = true;
                    break;
                }

                var lease = await leases.TryAcquireAsync(JobName + ":" + distribution.Id, options.Value.DistributionLease, cancellationToken).ConfigureAwait(false);
                if (lease is null)
                {
                    continue;
                }

                tried++;
                await using (lease.ConfigureAwait(false))
                {
                    try
                    {
                        await distributions.ExecuteAsync(distribution.TenantId, distribution.Id, null, cancellationToken).ConfigureAwait(false);
                        ran++;
                        _failing.Forget(distribution.Id);
                    }
                    catch (Exception ex) when (!(ex is OperationCanceledException && cancellationToken.IsCancellationRequested))
                    {
                        // A distribution that cannot run (a short funding account, no snapshot) stays due; it waits out a growing
                        // backoff, and until then runs page past it, so it neither keeps the distributions due after it from
                        // running nor is tried (and logged) on every run.
                        _failing.Failed(distribution.Id, distribution.Id, now);
                        LogDistributionFailed(logger ?? (ILogger)NullLogger.Instance, ex, distribution.Id.ToString(), (ex as PaymentsKitException)?.Code ?? ex.GetType().Name);
                    }
                }
            }

            if (page.Exhausted)
            {
                _failing.ForgetUnless(seen.Contains);
                break;
            }
        }

        return new PaymentsKitJobResult(ran, moreWork);
    }

    [LoggerMessage(EventId = 520, Level = LogLevel.Error, Message = "Due distribution {DistributionId} failed ({Code}); it stays due, is tried again after a backoff, and the run goes on")]
    private static partial void LogDistributionFailed(ILogger logger, Exception exception, string distributionId, string code);
}

/// <summary>
/// Advances every due payment intent one step (<see cref="IPaymentIntentService.AdvanceDueAsync"/>): confirmation
/// polling, retries whose backoff has passed, stalled broadcasts, broadcasts of routed intents, expiry of intents whose
/// quote expired. Hosts running it at once each claim different intents.
/// </summary>
/// <param name="intents">The payment intent service.</param>
/// <param name="clock">Supplies now.</param>
/// <param name="options">Supplies the interval.</param>
public sealed class PaymentIntentSweepJob(IPaymentIntentService intents, IClock clock, IOptions<PaymentsKitHostingOptions> options) : IPaymentsKitJob
{
    /// <summary>The job's name.</summary>
    public const string JobName = "payment_intents.advance_due";

    /// <summary>The most intents one run claims before reporting more work.</summary>
    public const int BatchSize = 100;

    /// <inheritdoc />
    public string Name => JobName;

    /// <inheritdoc />
    public TimeSpan DefaultInterval => options.Value.PaymentIntentSweepInterval;

    /// <inheritdoc />
    public async ValueTask<PaymentsKitJobResult> RunAsync(CancellationToken cancellationToken)
    {
        var result = await intents.AdvanceDueAsync(clock.GetCurrentInstant(), BatchSize, cancellationToken).ConfigureAwait(false);
        return new PaymentsKitJobResult(result.Claimed, result.Claimed == BatchSize);
    }
}

/// <summary>
/// Syncs the orchestration transactions due a sync across partners (<see cref="ITransactionService.SyncDueAsync"/>):
/// payments and refunds whose outcome is unknown are polled (and sent again when the provider never got them), and a
/// confirmed create left pending past <see cref="OrchestrationOptions.UnsentPaymentGracePeriod"/> is sent. For a partner
/// that may not make calls nothing new is sent: a deleted partner's calls the provider never received are given up, and its
/// creates never sent cancelled, <see cref="OrchestrationOptions.DropTimeout"/> after the deletion; a suspended partner's
/// wait for it to be active again. Hosts running it at once each claim different transactions.
/// </summary>
/// <param name="transactions">The transaction service.</param>
/// <param name="clock">Supplies now.</param>
/// <param name="options">Supplies the interval.</param>
public sealed class TransactionSyncJob(ITransactionService transactions, IClock clock, IOptions<PaymentsKitHostingOptions> options) : IPaymentsKitJob
{
    /// <summary>The job's name.</summary>
    public const string JobName = "transactions.sync_due";

    /// <summary>The most transactions one run claims before reporting more work.</summary>
    public const int BatchSize = 100;

    /// <inheritdoc />
    public string Name => JobName;

    /// <inheritdoc />
    public TimeSpan DefaultInterval => options.Value.TransactionSyncInterval;

    /// <inheritdoc />
    public async ValueTask<PaymentsKitJobResult> RunAsync(CancellationToken cancellationToken)
    {
        var result = await transactions.SyncDueAsync(clock.GetCurrentInstant(), BatchSize, cancellationToken).ConfigureAwait(false);
        return new PaymentsKitJobResult(result.Claimed, result.Claimed == BatchSize);
    }
}
