using System.Globalization;
using PaymentsKit.Chains;

namespace PaymentsKit.Routing;

/// <summary>What a quote optimises for (seed 001 <c>quotes.priority</c>).</summary>
public enum RoutePriority
{
    /// <summary>Cheapest fee first (<c>low_fee</c>).</summary>
    LowFee,

    /// <summary>Fastest confirmation first (<c>fast</c>).</summary>
    Fast,

    /// <summary>Fewest RPC errors first (<c>reliable</c>).</summary>
    Reliable,
}

/// <summary>Why a candidate chain was not eligible.</summary>
public enum RouteExclusion
{
    /// <summary>Eligible.</summary>
    None,

    /// <summary>The chain's latest health sample says <see cref="ChainHealthStatus.Unhealthy"/>.</summary>
    Unhealthy,

    /// <summary>The treasury's available balance on the chain cannot cover amount + fee.</summary>
    InsufficientTreasury,

    /// <summary>
    /// The chain has no health snapshot recent enough to score (<see cref="RoutingOptions.HealthMaxAge"/>); set by
    /// the quote service, never by the scorer, which only sees chains with health.
    /// </summary>
    NoRecentHealth,
}

/// <summary>One chain to consider for a payment.</summary>
/// <param name="Health">The chain's latest health sample.</param>
/// <param name="TreasuryAvailable">The treasury's available (unreserved) balance on the chain, in the payment's asset.</param>
/// <param name="Fee">The fee in the payment's asset; null to use <see cref="ChainHealthSample.FeeEstimate"/>.</param>
public readonly record struct RouteCandidate(ChainHealthSample Health, Money TreasuryAvailable, Money? Fee = null)
{
    /// <summary>The fee the scorer uses: <see cref="Fee"/> or the health sample's estimate.</summary>
    public Money EffectiveFee => Fee ?? Health.FeeEstimate;
}

/// <summary>A scored (or excluded) candidate.</summary>
/// <param name="Chain">The chain.</param>
/// <param name="Score">0–1, higher is better; 0 for excluded candidates.</param>
/// <param name="Exclusion">Why it is not eligible, or <see cref="RouteExclusion.None"/>.</param>
/// <param name="Fee">The fee used for scoring and coverage.</param>
public readonly record struct RouteScore(ChainId Chain, decimal Score, RouteExclusion Exclusion, decimal Fee)
{
    /// <summary>Whether the chain can be used.</summary>
    public bool IsEligible => Exclusion == RouteExclusion.None;
}

/// <summary>The reference scales of the scoring formula (see docs/routing-scoring.md).</summary>
public sealed record RouteScoringOptions
{
    /// <summary>The defaults: fee 1.00, confirmation 60 s, latency 1 s, error rate 5 %, degraded × 0.75.</summary>
    public static RouteScoringOptions Default { get; } = new();

    /// <summary>The fee (in the payment's asset) that scores 0.5 on the fee component.</summary>
    public decimal ReferenceFee { get; init; } = 1m;

    /// <summary>The confirmation time in seconds that scores 0.5 on the confirmation part of speed.</summary>
    public decimal ReferenceConfirmationSeconds { get; init; } = 60m;

    /// <summary>The p95 RPC latency in seconds that scores 0.5 on the latency part of speed.</summary>
    public decimal ReferenceLatencySeconds { get; init; } = 1m;

    /// <summary>The RPC error rate (0–1) that scores 0.5 on the reliability component.</summary>
    public decimal ReferenceErrorRate { get; init; } = 0.05m;

    /// <summary>The factor applied to a degraded chain's score, in (0, 1].</summary>
    public decimal DegradedFactor { get; init; } = 0.75m;

    /// <summary>Whether every reference scale is positive.</summary>
    internal bool ScalesArePositive =>
        ReferenceFee > 0m && ReferenceConfirmationSeconds > 0m && ReferenceLatencySeconds > 0m && ReferenceErrorRate > 0m;

    /// <summary>Whether <see cref="DegradedFactor"/> is in (0, 1].</summary>
    internal bool DegradedFactorIsValid => DegradedFactor is > 0m and <= 1m;
}

/// <summary>
/// Scores candidate chains for a payment (seed 001 route scoring). Pure and allocation-free: it reads spans
/// and writes into a caller-provided span.
/// </summary>
/// <remarks>
/// <para>Components, each in (0, 1]: fee = Rf / (Rf + fee); speed = (¾·Rc / (Rc + confirmation) + ¼·Rl /
/// (Rl + p95 latency)) × (1 − congestion / 2); reliability = Re / (Re + RPC error rate). The score is the weighted sum
/// for the priority (0.6 on the priority's own component, 0.2 on each of the others), times
/// <see cref="RouteScoringOptions.DegradedFactor"/> for a degraded chain, truncated to 6 decimals.</para>
/// <para>Excluded: unhealthy chains, and chains whose treasury's available balance is below amount + fee.
/// Eligible candidates are ranked by score (higher first), then fee (lower first), then chain id (ordinal).</para>
/// </remarks>
public static class RouteScorer
{
    private const int ScoreDecimals = 6;
    private const decimal MainWeight = 0.6m;
    private const decimal OtherWeight = 0.2m;
    private const decimal ConfirmationShare = 0.75m;
    private const decimal LatencyShare = 0.25m;

    /// <summary>
    /// Scores every candidate into <paramref name="results"/>: eligible ones first, best first, then excluded ones
    /// ordered by chain id.
    /// </summary>
    /// <param name="priority">What to optimise for.</param>
    /// <param name="amount">The payment amount; candidates' balances and fees must be in its asset.</param>
    /// <param name="candidates">One per chain.</param>
    /// <param name="results">Receives one score per candidate; at least as long as <paramref name="candidates"/>.</param>
    /// <param name="options">Reference scales; <see cref="RouteScoringOptions.Default"/> when null.</param>
    /// <returns>How many candidates are eligible (they occupy the front of <paramref name="results"/>).</returns>
    /// <exception cref="PaymentsKitException">
    /// <c>asset_mismatch</c> when a balance or fee is not in the amount's asset; <c>amount_out_of_range</c> for a
    /// non-positive amount; <c>invalid_argument</c> for a duplicate chain, out-of-range health figures, bad options
    /// or a short <paramref name="results"/> span.
    /// </exception>
    public static int Score(
        RoutePriority priority,
        Money amount,
        ReadOnlySpan<RouteCandidate> candidates,
        Span<RouteScore> results,
        RouteScoringOptions? options = null)
    {
        options ??= RouteScoringOptions.Default;
        ValidateOptions(options);
        CheckPriority(priority);
        if (!amount.IsPositive)
        {
            throw new PaymentsKitException(
                PaymentsKitErrorCodes.AmountOutOfRange,
                $"The payment amount must be positive (value: '{amount}').",
                new Dictionary<string, object?> { ["field"] = "amount", ["value"] = amount.ToString() });
        }

        if (results.Length < candidates.Length)
        {
            throw PaymentsKitException.InvalidArgument("results", results.Length, "must be at least as long as candidates");
        }

        for (var i = 0; i < candidates.Length; i++)
        {
            var candidate = candidates[i];
            var health = Guard.NotNull(candidate.Health, "candidates.health");
            for (var j = 0; j < i; j++)
            {
                if (candidates[j].Health.Chain == health.Chain)
                {
                    throw PaymentsKitException.InvalidArgument("candidates", health.Chain.Value, "lists the same chain twice");
                }
            }

            var fee = candidate.EffectiveFee;
            SameAsset(amount, candidate.TreasuryAvailable, health.Chain, "treasury_available");
            SameAsset(amount, fee, health.Chain, "fee");
            var score = ScoreHealth(priority, health, fee.Amount, options);
            var exclusion = health.Status == ChainHealthStatus.Unhealthy
                ? RouteExclusion.Unhealthy
                : candidate.TreasuryAvailable.Amount < amount.Amount + fee.Amount
                    ? RouteExclusion.InsufficientTreasury
                    : RouteExclusion.None;
            results[i] = new RouteScore(health.Chain, exclusion == RouteExclusion.None ? score : 0m, exclusion, fee.Amount);
        }

        var scored = results[..candidates.Length];
        InsertionSort(scored);
        var eligible = 0;
        while (eligible < scored.Length && scored[eligible].IsEligible)
        {
            eligible++;
        }

        return eligible;
    }

    /// <summary>
    /// The score of one chain's health for a priority (the formula alone, before exclusions): 0–1, higher is better.
    /// </summary>
    /// <param name="priority">What to optimise for.</param>
    /// <param name="health">The chain's health sample.</param>
    /// <param name="fee">The fee, in the payment's asset; zero or more.</param>
    /// <param name="options">Reference scales; <see cref="RouteScoringOptions.Default"/> when null.</param>
    /// <exception cref="PaymentsKitException"><c>invalid_argument</c> for out-of-range figures or options.</exception>
    public static decimal ScoreHealth(RoutePriority priority, ChainHealthSample health, decimal fee, RouteScoringOptions? options = null)
    {
        Guard.NotNull(health, "health");
        options ??= RouteScoringOptions.Default;
        ValidateOptions(options);
        CheckPriority(priority);
        CheckUnit(health.RpcErrorRate, health.Chain, "rpc_error_rate");
        CheckUnit(health.Congestion, health.Chain, "congestion");
        CheckNonNegative(fee, health.Chain, "fee");
        var confirmation = Seconds(health.ConfirmationTime, health.Chain, "confirmation_time");
        var latency = Seconds(health.P95Latency, health.Chain, "p95_latency");

        var feeScore = options.ReferenceFee / (options.ReferenceFee + fee);
        var speedScore = ((ConfirmationShare * options.ReferenceConfirmationSeconds / (options.ReferenceConfirmationSeconds + confirmation))
            + (LatencyShare * options.ReferenceLatencySeconds / (options.ReferenceLatencySeconds + latency)))
            * (1m - (health.Congestion / 2m));
        var reliabilityScore = options.ReferenceErrorRate / (options.ReferenceErrorRate + health.RpcErrorRate);

        var weighted = priority switch
        {
            RoutePriority.LowFee => (MainWeight * feeScore) + (OtherWeight * speedScore) + (OtherWeight * reliabilityScore),
            RoutePriority.Fast => (OtherWeight * feeScore) + (MainWeight * speedScore) + (OtherWeight * reliabilityScore),
            _ => (OtherWeight * feeScore) + (OtherWeight * speedScore) + (MainWeight * reliabilityScore),
        };
        if (health.Status == ChainHealthStatus.Degraded)
        {
            weighted *= options.DegradedFactor;
        }

        return decimal.Round(weighted, ScoreDecimals, MidpointRounding.ToZero);
    }

    /// <summary>The seed's text for a priority: <c>low_fee</c>, <c>fast</c> or <c>reliable</c>.</summary>
    public static string ToWireName(this RoutePriority priority) => priority switch
    {
        RoutePriority.LowFee => "low_fee",
        RoutePriority.Fast => "fast",
        RoutePriority.Reliable => "reliable",
        _ => throw PaymentsKitException.InvalidArgument("priority", (int)priority, "is not a route priority"),
    };

    /// <summary>The stored text of an exclusion: <c>none</c>, <c>unhealthy</c>, <c>insufficient_treasury</c>, <c>no_recent_health</c>.</summary>
    public static string ToWireName(this RouteExclusion exclusion) => exclusion switch
    {
        RouteExclusion.None => "none",
        RouteExclusion.Unhealthy => "unhealthy",
        RouteExclusion.InsufficientTreasury => "insufficient_treasury",
        RouteExclusion.NoRecentHealth => "no_recent_health",
        _ => throw PaymentsKitException.InvalidArgument("exclusion", (int)exclusion, "is not a route exclusion"),
    };

    /// <summary>Parses <c>low_fee</c>, <c>fast</c> or <c>reliable</c>.</summary>
    /// <exception cref="PaymentsKitException"><c>invalid_argument</c> for anything else.</exception>
    public static RoutePriority ParsePriority(string? text) => text switch
    {
        "low_fee" => RoutePriority.LowFee,
        "fast" => RoutePriority.Fast,
        "reliable" => RoutePriority.Reliable,
        _ => throw PaymentsKitException.InvalidArgument("priority", text, "must be low_fee, fast or reliable"),
    };

    private static void InsertionSort(Span<RouteScore> items)
    {
        // A handful of chains: insertion sort is allocation-free and stable.
        for (var i = 1; i < items.Length; i++)
        {
            var item = items[i];
            var j = i - 1;
            while (j >= 0 && Compare(items[j], item) > 0)
            {
                items[j + 1] = items[j];
                j--;
            }

            items[j + 1] = item;
        }
    }

    private static int Compare(RouteScore x, RouteScore y)
    {
        if (x.IsEligible != y.IsEligible)
        {
            return x.IsEligible ? -1 : 1;
        }

        if (x.IsEligible)
        {
            var byScore = y.Score.CompareTo(x.Score);
            if (byScore != 0)
            {
                return byScore;
            }

            var byFee = x.Fee.CompareTo(y.Fee);
            if (byFee != 0)
            {
                return byFee;
            }
        }

        return string.CompareOrdinal(x.Chain.Value, y.Chain.Value);
    }

    private static decimal Seconds(NodaTime.Duration duration, ChainId chain, string field)
    {
        if (duration < NodaTime.Duration.Zero)
        {
            throw HealthError(chain, field, duration, "must not be negative");
        }

        return duration.BclCompatibleTicks / (decimal)NodaTime.NodaConstants.TicksPerSecond;
    }

    private static void CheckUnit(decimal value, ChainId chain, string field)
    {
        if (value is < 0m or > 1m)
        {
            throw HealthError(chain, field, value, "must be between 0 and 1");
        }
    }

    private static void CheckNonNegative(decimal value, ChainId chain, string field)
    {
        if (value < 0m)
        {
            throw HealthError(chain, field, value, "must not be negative");
        }
    }

    private static PaymentsKitException HealthError(ChainId chain, string field, object value, string problem) =>
        PaymentsKitException.InvalidArgument(string.Create(CultureInfo.InvariantCulture, $"{chain}.{field}"), value, problem);

    private static void CheckPriority(RoutePriority priority)
    {
        if (!Enum.IsDefined(priority))
        {
            throw PaymentsKitException.InvalidArgument("priority", (int)priority, "is not a route priority");
        }
    }

    private static void ValidateOptions(RouteScoringOptions options)
    {
        if (!options.ScalesArePositive)
        {
            throw PaymentsKitException.InvalidArgument("route_scoring_options", options, "reference scales must be positive");
        }

        if (!options.DegradedFactorIsValid)
        {
            throw PaymentsKitException.InvalidArgument("route_scoring_options.degraded_factor", options.DegradedFactor, "must be in (0, 1]");
        }
    }

    private static void SameAsset(Money amount, Money other, ChainId chain, string field)
    {
        if (!amount.Asset.Equals(other.Asset))
        {
            throw new PaymentsKitException(
                PaymentsKitErrorCodes.AssetMismatch,
                $"The {field} of {chain} is in {other.Asset.Code} but the payment is in {amount.Asset.Code}.",
                new Dictionary<string, object?> { ["field"] = field, ["chain"] = chain.Value, ["left"] = amount.Asset.Code, ["right"] = other.Asset.Code });
        }
    }
}
