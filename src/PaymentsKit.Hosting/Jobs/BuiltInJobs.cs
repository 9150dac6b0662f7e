using Microsoft.Extensions.Options;
using NodaTime;
using PaymentsKit.Invoicing;
using PaymentsKit.Ledger;
using PaymentsKit.Routing;
using PaymentsKit.Webhooks;

namespace PaymentsKit.Hosting.Jobs;

/// <summary>Delivers due webhooks: one <see cref="IWebhookDispatcher.DispatchAsync"/> pass per run.</summary>
/// <param name="dispatcher">The dispatcher.</param>
/// <param name="options">Supplies the interval.</param>
public sealed class WebhookDispatchJob(IWebhookDispatcher dispatcher, IOptions<PaymentsKitHostingOptions> options) : IPaymentsKitJob
{
    /// <summary>The job's name.</summary>
    public const string JobName = "webhooks.dispatch";

    /// <inheritdoc />
    public string Name => JobName;

    /// <inheritdoc />
    public TimeSpan DefaultInterval => options.Value.WebhookDispatchInterval;

    /// <inheritdoc />
    public async ValueTask<PaymentsKitJobResult> RunAsync(CancellationToken cancellationToken)
    {
        var result = await dispatcher.DispatchAsync(cancellationToken).ConfigureAwait(false);
        return new PaymentsKitJobResult(result.Claimed, result.MoreWork);
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
