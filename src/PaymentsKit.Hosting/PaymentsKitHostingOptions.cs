using System.Globalization;
using Microsoft.Extensions.Options;

namespace PaymentsKit.Hosting;

/// <summary>
/// Options for <c>AddPaymentsKitHosting</c>: how often each job runs. Validated when the host starts; every problem is
/// reported at once.
/// </summary>
public sealed class PaymentsKitHostingOptions
{
    /// <summary>The shortest allowed interval.</summary>
    public static readonly TimeSpan MinInterval = TimeSpan.FromMilliseconds(10);

    /// <summary>The longest allowed interval.</summary>
    public static readonly TimeSpan MaxInterval = TimeSpan.FromDays(1);

    /// <summary>The shortest allowed <see cref="DistributionLease"/>.</summary>
    public static readonly TimeSpan MinDistributionLease = TimeSpan.FromMinutes(1);

    /// <summary>How often the webhook dispatcher looks for due deliveries. Default 1 s.</summary>
    public TimeSpan WebhookDispatchInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How often pending invoices past their expiry are expired. Default 30 s.</summary>
    public TimeSpan InvoiceExpiryInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How often pending ledger transfers past their deadline are expired. Default 30 s.</summary>
    public TimeSpan LedgerTransferExpiryInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How often every routable chain's health is sampled. Default 30 s.</summary>
    public TimeSpan ChainHealthSamplingInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How often due payment intents are advanced (confirmation polling, retries, expiry). Default 2 s.</summary>
    public TimeSpan PaymentIntentSweepInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// How often orchestration transactions due a sync are synced (unknown outcomes polled, confirmed creates left unsent
    /// sent). Default 10 s.
    /// </summary>
    public TimeSpan TransactionSyncInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// How long one webhook dispatch run keeps claiming new work before it lets the worker start another run (it then
    /// starts at once if work was left). Bounds how long a graceful shutdown waits for the dispatcher. Default 10 s.
    /// </summary>
    public TimeSpan WebhookDispatchBudget { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How often payment links past their expiry are deactivated. Default 30 s.</summary>
    public TimeSpan PaymentLinkExpiryInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How often active streams past their end are completed (final settlement, remainder refunded). Default 10 s.</summary>
    public TimeSpan StreamCompletionInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How often due distributions (scheduled, recurring, and interrupted runs to resume) are looked for and run. Default 30 s.</summary>
    public TimeSpan DueDistributionsInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How long a host's job holds a distribution it runs before another host's job may try it (when the first died).
    /// 1 minute to 1 day; default 2 minutes.
    /// </summary>
    /// <remarks>
    /// It keeps hosts from starting a distribution at the same moment; it is not renewed during the run. What keeps a second
    /// run off a live one is the distribution's own run lease (<see cref="Payouts.PayoutOptions.RunLease"/>), which the run
    /// renews: a host whose job lease lapsed during a long run gets the distribution back from <c>ExecuteAsync</c> without
    /// executing anything. A host that dies keeps the other hosts' jobs off its distribution until this lapses, so it bounds
    /// how soon the run is resumed: kept short, since a live run is kept by its run lease, and a job that takes the
    /// distribution while another host runs it only reads it.
    /// </remarks>
    public TimeSpan DistributionLease { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>
    /// Interval overrides by job name, for any job (including other modules' jobs). A name no registered job has is
    /// logged as a warning when the host starts and otherwise ignored.
    /// </summary>
    public IDictionary<string, TimeSpan> Intervals { get; } = new Dictionary<string, TimeSpan>(StringComparer.Ordinal);

    /// <summary>
    /// Names of jobs not to run on this host. A name no registered job has is logged as a warning when the host starts and
    /// otherwise ignored, so one list can serve hosts running different modules.
    /// </summary>
    public ISet<string> DisabledJobs { get; } = new HashSet<string>(StringComparer.Ordinal);

    /// <summary>
    /// The longest wait after failed runs: a failing job waits its interval doubled per consecutive failure, up to
    /// this. Default 1 minute.
    /// </summary>
    public TimeSpan MaxFailureBackoff { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>Every problem with these options, as sentences naming the setting and its value.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        CheckInterval(errors, "PaymentsKitHosting:WebhookDispatchInterval", WebhookDispatchInterval);
        CheckInterval(errors, "PaymentsKitHosting:InvoiceExpiryInterval", InvoiceExpiryInterval);
        CheckInterval(errors, "PaymentsKitHosting:LedgerTransferExpiryInterval", LedgerTransferExpiryInterval);
        CheckInterval(errors, "PaymentsKitHosting:ChainHealthSamplingInterval", ChainHealthSamplingInterval);
        CheckInterval(errors, "PaymentsKitHosting:PaymentIntentSweepInterval", PaymentIntentSweepInterval);
        CheckInterval(errors, "PaymentsKitHosting:TransactionSyncInterval", TransactionSyncInterval);
        CheckInterval(errors, "PaymentsKitHosting:WebhookDispatchBudget", WebhookDispatchBudget);
        CheckInterval(errors, "PaymentsKitHosting:PaymentLinkExpiryInterval", PaymentLinkExpiryInterval);
        CheckInterval(errors, "PaymentsKitHosting:StreamCompletionInterval", StreamCompletionInterval);
        CheckInterval(errors, "PaymentsKitHosting:DueDistributionsInterval", DueDistributionsInterval);
        if (DistributionLease < MinDistributionLease || DistributionLease > MaxInterval)
        {
            errors.Add(string.Create(CultureInfo.InvariantCulture, $"PaymentsKitHosting:DistributionLease must be between 1 minute and 1 day (value: {DistributionLease})."));
        }

        CheckInterval(errors, "PaymentsKitHosting:MaxFailureBackoff", MaxFailureBackoff);
        foreach (var (name, interval) in Intervals)
        {
            CheckInterval(errors, $"PaymentsKitHosting:Intervals[{name}]", interval);
        }

        return errors;
    }

    /// <summary>The interval of a job: an override, else its default.</summary>
    internal TimeSpan IntervalOf(IPaymentsKitJob job) => Intervals.TryGetValue(job.Name, out var interval) ? interval : job.DefaultInterval;

    /// <summary>Whether a job may run at this interval: between <see cref="MinInterval"/> and <see cref="MaxInterval"/>.</summary>
    internal static bool IsAllowedInterval(TimeSpan value) => value >= MinInterval && value <= MaxInterval;

    private static void CheckInterval(List<string> errors, string setting, TimeSpan value)
    {
        if (!IsAllowedInterval(value))
        {
            errors.Add(string.Create(CultureInfo.InvariantCulture, $"{setting} must be between 10 ms and 1 day (value: {value})."));
        }
    }
}

/// <summary>Runs <see cref="PaymentsKitHostingOptions.Validate"/> when the host starts.</summary>
internal sealed class PaymentsKitHostingOptionsValidator : IValidateOptions<PaymentsKitHostingOptions>
{
    public ValidateOptionsResult Validate(string? name, PaymentsKitHostingOptions options)
    {
        var errors = options.Validate();
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
