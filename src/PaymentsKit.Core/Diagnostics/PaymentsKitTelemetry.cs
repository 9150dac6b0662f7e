using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace PaymentsKit.Diagnostics;

/// <summary>
/// The one <see cref="System.Diagnostics.Metrics.Meter"/> and <see cref="System.Diagnostics.ActivitySource"/> PaymentsKit reports through,
/// both named <see cref="Name"/>: subscribe with OpenTelemetry's <c>AddMeter("PaymentsKit")</c> and
/// <c>AddSource("PaymentsKit")</c>. Instruments are created once here so every module shares them.
/// </summary>
public static class PaymentsKitTelemetry
{
    /// <summary>The meter and activity source name.</summary>
    public const string Name = "PaymentsKit";

    /// <summary>The meter every PaymentsKit instrument belongs to.</summary>
    public static Meter Meter { get; } = new(Name, typeof(PaymentsKitTelemetry).Assembly.GetName().Version?.ToString());

    /// <summary>The source of PaymentsKit's spans, one per business operation.</summary>
    public static ActivitySource ActivitySource { get; } = new(Name, typeof(PaymentsKitTelemetry).Assembly.GetName().Version?.ToString());

    /// <summary>Webhook delivery attempts, tagged <c>outcome</c> (delivered, retry, dead_lettered, endpoint_gone, lost_lease; not_sent for a claim put back unsent).</summary>
    public static Counter<long> WebhookDeliveries { get; } = Meter.CreateCounter<long>(
        "paymentskit.webhooks.deliveries", "{attempt}", "Webhook delivery attempts by outcome.");

    /// <summary>Webhook deliveries scheduled for another attempt after a failure.</summary>
    public static Counter<long> WebhookRetries { get; } = Meter.CreateCounter<long>(
        "paymentskit.webhooks.retries", "{delivery}", "Webhook deliveries rescheduled after a failed attempt.");

    /// <summary>Webhook deliveries given up after the last attempt.</summary>
    public static Counter<long> WebhookDeadLetters { get; } = Meter.CreateCounter<long>(
        "paymentskit.webhooks.dead_letters", "{delivery}", "Webhook deliveries dead-lettered after the last attempt.");

    /// <summary>How long one delivery attempt (the HTTP exchange) took, tagged <c>outcome</c>.</summary>
    public static Histogram<double> WebhookAttemptDuration { get; } = Meter.CreateHistogram<double>(
        "paymentskit.webhooks.attempt.duration", "s", "Duration of webhook delivery HTTP attempts.");

    /// <summary>Runs of periodic jobs (sweeps), tagged <c>job</c> and <c>outcome</c> (ok, failed).</summary>
    public static Counter<long> JobRuns { get; } = Meter.CreateCounter<long>(
        "paymentskit.jobs.runs", "{run}", "Runs of PaymentsKit periodic jobs.");

    /// <summary>Items a periodic job processed (expired invoices, delivered webhooks …), tagged <c>job</c>.</summary>
    public static Counter<long> JobItems { get; } = Meter.CreateCounter<long>(
        "paymentskit.jobs.items", "{item}", "Items processed by PaymentsKit periodic jobs.");

    /// <summary>How long one run of a periodic job took, tagged <c>job</c>.</summary>
    public static Histogram<double> JobDuration { get; } = Meter.CreateHistogram<double>(
        "paymentskit.jobs.duration", "s", "Duration of PaymentsKit periodic job runs.");

    /// <summary>Starts an internal span for a business operation, or null when nobody listens.</summary>
    /// <param name="operation">The operation's name, e.g. <c>webhooks.dispatch</c>.</param>
    /// <param name="kind">The span kind.</param>
    public static Activity? StartActivity(string operation, ActivityKind kind = ActivityKind.Internal) =>
        ActivitySource.StartActivity(operation, kind);
}
