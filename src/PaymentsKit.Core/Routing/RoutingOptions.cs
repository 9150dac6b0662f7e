using System.Globalization;
using NodaTime;

namespace PaymentsKit.Routing;

/// <summary>
/// Settings of the multi-chain router (quotes, payment intents, treasury). Validated when the host
/// starts; every problem is reported at once.
/// </summary>
public sealed class RoutingOptions
{
    /// <summary>The treasury's ledger tenant when none is set: a fixed id, so every process of a host finds the same books.</summary>
    public static MerchantId DefaultTreasuryTenant { get; } = MerchantId.FromGuid(new Guid("01900000-0000-7000-8000-7472656173ff"));

    /// <summary>
    /// The asset payments are quoted, reserved and settled in; every treasury wallet holds it. An
    /// off-chain asset (same on every chain) such as <c>USDC</c> (default) or <c>USD.6</c>.
    /// </summary>
    public string SettlementAsset { get; set; } = "USDC";

    /// <summary>How long a quote can be used (1 s – 1 day). Default 5 minutes.</summary>
    public Duration QuoteTtl { get; set; } = Duration.FromMinutes(5);

    /// <summary>The oldest health snapshot a quote or a re-route still trusts (1 s – 1 day). Default 5 minutes.</summary>
    public Duration HealthMaxAge { get; set; } = Duration.FromMinutes(5);

    /// <summary>
    /// The price of one unit of each chain's native (fee) asset in <see cref="SettlementAsset"/>, by asset code,
    /// e.g. <c>["ETH"] = 3000</c>. Fees are converted with it; a chain whose fee asset has no price cannot be routed.
    /// </summary>
    public IDictionary<string, decimal> NativeAssetPrices { get; } = new Dictionary<string, decimal>(StringComparer.Ordinal);

    /// <summary>
    /// The most a transaction may pay in fees, as a multiple of the health estimate (1–10); reserved in the
    /// treasury and given to the signer as the max fee. Default 1.5.
    /// </summary>
    public decimal FeeHeadroom { get; set; } = 1.5m;

    /// <summary>Broadcast attempts per payment intent before it goes to manual review (1–100). Default 5.</summary>
    public int MaxAttempts { get; set; } = 5;

    /// <summary>The wait before the first retry, doubled for each further one (0 – 1 hour). Default 2 s.</summary>
    public Duration RetryBaseDelay { get; set; } = Duration.FromSeconds(2);

    /// <summary>The longest wait between retries (0 – 1 day, not below <see cref="RetryBaseDelay"/>). Default 1 minute.</summary>
    public Duration RetryMaxDelay { get; set; } = Duration.FromMinutes(1);

    /// <summary>
    /// How long an attempt may stay in <c>broadcasting</c> before another worker takes it over and
    /// rebroadcasts the same signed transaction (1 s – 1 hour). Default 1 minute.
    /// </summary>
    public Duration BroadcastTimeout { get; set; } = Duration.FromMinutes(1);

    /// <summary>
    /// How long after its broadcast a transaction the chain does not know (not found) is considered dropped and
    /// replaced by a new one (1 s – 1 day). One the chain reports as pending is never replaced: it may still be
    /// included (see <see cref="FinalityTimeout"/>). Default 2 minutes.
    /// </summary>
    public Duration DropTimeout { get; set; } = Duration.FromMinutes(2);

    /// <summary>
    /// How long after its broadcast a transaction the chain knows may stay short of final — pending in its mempool, or
    /// included but not final — or no RPC provider of the chain finds it while not every one can be asked (one that says
    /// "not found" may lag behind one that is down), before the intent goes to
    /// <c>manual_review</c>, keeping its hold, instead of being polled for ever (a congested, halted or unreachable chain,
    /// say) (1 minute – 7 days).
    /// Default 1 hour.
    /// </summary>
    public Duration FinalityTimeout { get; set; } = Duration.FromHours(1);

    /// <summary>
    /// How long a sweeper holds the intents it claimed (<see cref="IPaymentIntentService.AdvanceDueAsync"/>) before
    /// another may claim them (1 s – 1 hour). Default 1 minute. Every claim of a pass is leased from the pass's start and
    /// the intents are stepped a few at a time, so it must outlast a whole pass, not one step: a lease that runs out first
    /// lets another host step intents this pass has not reached (every write checks the intent's version, but the chain
    /// work is done twice).
    /// </summary>
    public Duration SweepLease { get; set; } = Duration.FromMinutes(1);

    /// <summary>
    /// How long a sweep leaves an intent it found nothing to do for (an unconfirmed transaction, a retry not yet
    /// due by this host's clock) before polling it again. It counts from the end of the pass (a pass that outlasted it still
    /// leaves them this long). 100 ms – 1 hour; default 5 s.
    /// </summary>
    public Duration SweepPollInterval { get; set; } = Duration.FromSeconds(5);

    /// <summary>How many claimed intents one sweep steps at once (1–64). Default 8.</summary>
    public int SweepParallelism { get; set; } = 8;

    /// <summary>The ledger tenant holding the treasury's books. Default <see cref="DefaultTreasuryTenant"/>.</summary>
    public MerchantId TreasuryTenant { get; set; } = DefaultTreasuryTenant;

    /// <summary>The route scoring scales. Default <see cref="RouteScoringOptions.Default"/>.</summary>
    public RouteScoringOptions Scoring { get; set; } = RouteScoringOptions.Default;

    /// <summary>Every problem with these options, each naming the option and its value; empty when valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        void Add(FormattableString message) => errors.Add(message.ToString(CultureInfo.InvariantCulture));
        static bool Within(Duration value, Duration min, Duration max) => value >= min && value <= max;

        if (string.IsNullOrWhiteSpace(SettlementAsset))
        {
            Add($"Routing:SettlementAsset is required.");
        }

        if (!Within(QuoteTtl, Duration.FromSeconds(1), Duration.FromDays(1)))
        {
            Add($"Routing:QuoteTtl must be between 1 second and 1 day (value: {QuoteTtl}).");
        }

        if (!Within(HealthMaxAge, Duration.FromSeconds(1), Duration.FromDays(1)))
        {
            Add($"Routing:HealthMaxAge must be between 1 second and 1 day (value: {HealthMaxAge}).");
        }

        foreach (var (code, price) in NativeAssetPrices)
        {
            if (price <= 0m)
            {
                Add($"Routing:NativeAssetPrices[{code}] must be positive (value: {price}).");
            }
        }

        if (FeeHeadroom is < 1m or > 10m)
        {
            Add($"Routing:FeeHeadroom must be between 1 and 10 (value: {FeeHeadroom}).");
        }

        if (MaxAttempts is < 1 or > 100)
        {
            Add($"Routing:MaxAttempts must be between 1 and 100 (value: {MaxAttempts}).");
        }

        if (!Within(RetryBaseDelay, Duration.Zero, Duration.FromHours(1)))
        {
            Add($"Routing:RetryBaseDelay must be between 0 and 1 hour (value: {RetryBaseDelay}).");
        }

        if (!Within(RetryMaxDelay, RetryBaseDelay, Duration.FromDays(1)))
        {
            Add($"Routing:RetryMaxDelay must be between RetryBaseDelay and 1 day (value: {RetryMaxDelay}).");
        }

        if (!Within(BroadcastTimeout, Duration.FromSeconds(1), Duration.FromHours(1)))
        {
            Add($"Routing:BroadcastTimeout must be between 1 second and 1 hour (value: {BroadcastTimeout}).");
        }

        if (!Within(DropTimeout, Duration.FromSeconds(1), Duration.FromDays(1)))
        {
            Add($"Routing:DropTimeout must be between 1 second and 1 day (value: {DropTimeout}).");
        }

        if (!Within(FinalityTimeout, Duration.FromMinutes(1), Duration.FromDays(7)))
        {
            Add($"Routing:FinalityTimeout must be between 1 minute and 7 days (value: {FinalityTimeout}).");
        }

        if (!Within(SweepLease, Duration.FromSeconds(1), Duration.FromHours(1)))
        {
            Add($"Routing:SweepLease must be between 1 second and 1 hour (value: {SweepLease}).");
        }

        if (!Within(SweepPollInterval, Duration.FromMilliseconds(100), Duration.FromHours(1)))
        {
            Add($"Routing:SweepPollInterval must be between 100 ms and 1 hour (value: {SweepPollInterval}).");
        }

        if (SweepParallelism is < 1 or > 64)
        {
            Add($"Routing:SweepParallelism must be between 1 and 64 (value: {SweepParallelism}).");
        }

        if (TreasuryTenant.Value == Guid.Empty)
        {
            Add($"Routing:TreasuryTenant must not be empty.");
        }

        if (Scoring is null)
        {
            Add($"Routing:Scoring is required.");
        }
        else
        {
            // Checked here too, so a bad scale stops the host at start-up instead of failing every quote.
            if (!Scoring.ScalesArePositive)
            {
                Add($"Routing:Scoring reference scales must all be positive (fee {Scoring.ReferenceFee}, confirmation {Scoring.ReferenceConfirmationSeconds} s, latency {Scoring.ReferenceLatencySeconds} s, error rate {Scoring.ReferenceErrorRate}).");
            }

            if (!Scoring.DegradedFactorIsValid)
            {
                Add($"Routing:Scoring:DegradedFactor must be in (0, 1] (value: {Scoring.DegradedFactor}).");
            }
        }

        return errors;
    }

    /// <summary>The wait before retry number <paramref name="retry"/> (1 for the first): base × 2^(retry − 1), capped.</summary>
    public Duration RetryDelay(int retry)
    {
        var delay = RetryBaseDelay;
        for (var i = 1; i < retry && delay < RetryMaxDelay; i++)
        {
            delay += delay;
        }

        return delay < RetryMaxDelay ? delay : RetryMaxDelay;
    }
}
