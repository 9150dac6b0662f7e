using FsCheck;
using FsCheck.Fluent;
using NodaTime;
using PaymentsKit.Chains;
using PaymentsKit.Routing;

namespace PaymentsKit.Core.Tests.Routing;

public class RouteScorerTests
{
    private static readonly Asset Usd = AssetRegistry.UsdValuation;
    private static readonly Instant Now = Instant.FromUtc(2026, 1, 1, 0, 0);

    private static Money M(decimal amount) => Money.Of(amount, Usd);

    private static ChainHealthSample Health(
        string chain,
        decimal fee = 0.5m,
        double confirmationSeconds = 12,
        decimal errorRate = 0.01m,
        double latencyMs = 200,
        decimal congestion = 0.1m,
        ChainHealthStatus status = ChainHealthStatus.Healthy) =>
        new(ChainId.Of(chain), Now, Duration.FromSeconds(confirmationSeconds), errorRate, Duration.FromMilliseconds(latencyMs), congestion, M(fee), 1, status);

    private static RouteScore[] Run(RoutePriority priority, decimal amount, params RouteCandidate[] candidates)
    {
        var results = new RouteScore[candidates.Length];
        var eligible = RouteScorer.Score(priority, M(amount), candidates, results);
        Assert.Equal(results.Count(r => r.IsEligible), eligible);
        return results;
    }

    [Fact]
    public void Each_priority_prefers_the_chain_that_is_best_at_it()
    {
        var cheapSlow = new RouteCandidate(Health("ethereum-l2", fee: 0.01m, confirmationSeconds: 600, errorRate: 0.05m), M(1_000));
        var fastPricey = new RouteCandidate(Health("solana", fee: 2m, confirmationSeconds: 1, errorRate: 0.05m, latencyMs: 50), M(1_000));
        var steady = new RouteCandidate(Health("ethereum", fee: 2m, confirmationSeconds: 600, errorRate: 0m), M(1_000));

        Assert.Equal("ethereum-l2", Run(RoutePriority.LowFee, 10, cheapSlow, fastPricey, steady)[0].Chain.Value);
        Assert.Equal("solana", Run(RoutePriority.Fast, 10, cheapSlow, fastPricey, steady)[0].Chain.Value);
        Assert.Equal("ethereum", Run(RoutePriority.Reliable, 10, cheapSlow, fastPricey, steady)[0].Chain.Value);
    }

    [Fact]
    public void The_formula_matches_the_documented_example()
    {
        // fee 1 → 0.5; confirmation 60 s → 0.5, latency 1 s → 0.5, congestion 0 → speed 0.5; error rate 0 → 1.
        var health = Health("ethereum", fee: 1m, confirmationSeconds: 60, errorRate: 0m, latencyMs: 1_000, congestion: 0m);

        Assert.Equal(0.6m, RouteScorer.ScoreHealth(RoutePriority.LowFee, health, 1m));
        Assert.Equal(0.6m, RouteScorer.ScoreHealth(RoutePriority.Fast, health, 1m));
        Assert.Equal(0.8m, RouteScorer.ScoreHealth(RoutePriority.Reliable, health, 1m));
        Assert.Equal(0.6m, RouteScorer.ScoreHealth(RoutePriority.Reliable, health with { Status = ChainHealthStatus.Degraded }, 1m));

        // Congestion 0.5 takes a quarter off speed; an error rate of 5 % halves reliability.
        Assert.Equal(0.425m, RouteScorer.ScoreHealth(RoutePriority.Fast, health with { Congestion = 0.5m, RpcErrorRate = 0.05m }, 1m));
    }

    [Fact]
    public void Unhealthy_and_uncovered_chains_are_excluded_with_their_reason()
    {
        var results = Run(
            RoutePriority.LowFee,
            100,
            new RouteCandidate(Health("ethereum", status: ChainHealthStatus.Unhealthy), M(1_000)),
            new RouteCandidate(Health("solana", fee: 0.5m), M(100.49m)),
            new RouteCandidate(Health("stellar", fee: 0.5m), M(100.50m)));

        Assert.Equal(
            [
                new RouteScore(ChainId.Stellar, results[0].Score, RouteExclusion.None, 0.5m),
                new RouteScore(ChainId.Ethereum, 0m, RouteExclusion.Unhealthy, 0.5m),
                new RouteScore(ChainId.Solana, 0m, RouteExclusion.InsufficientTreasury, 0.5m),
            ],
            results);
        Assert.True(results[0].Score > 0m);
    }

    [Fact]
    public void A_fee_override_in_the_payment_asset_replaces_the_health_estimate()
    {
        var candidate = new RouteCandidate(Health("solana", fee: 0.5m), M(101m), M(2m));

        Assert.Equal(RouteExclusion.InsufficientTreasury, Run(RoutePriority.Fast, 100, candidate)[0].Exclusion);
        Assert.Equal(2m, candidate.EffectiveFee.Amount);
    }

    [Fact]
    public void Ties_break_by_fee_then_chain_id()
    {
        var a = new RouteCandidate(Health("bbb"), M(1_000));
        var b = new RouteCandidate(Health("aaa"), M(1_000));

        Assert.Equal(["aaa", "bbb"], Run(RoutePriority.Fast, 1, a, b).Select(r => r.Chain.Value));
        Assert.Equal(["aaa", "bbb"], Run(RoutePriority.Fast, 1, b, a).Select(r => r.Chain.Value));
    }

    [Fact]
    public void Scoring_allocates_nothing()
    {
        RouteCandidate[] candidates =
        [
            new(Health("ethereum", status: ChainHealthStatus.Degraded), M(1_000)),
            new(Health("solana", fee: 0.01m), M(1_000)),
            new(Health("stellar", status: ChainHealthStatus.Unhealthy), M(1_000)),
            new(Health("hedera"), M(1m)),
        ];
        var results = new RouteScore[candidates.Length];
        var amount = M(10);
        RouteScorer.Score(RoutePriority.Reliable, amount, candidates, results);

        // The runtime itself may allocate on this thread now and then (tiered JIT promotion while other tests run),
        // so some round of 100 calls must allocate nothing; an allocating scorer would allocate in every round.
        var rounds = new List<long>();
        for (var round = 0; round < 10; round++)
        {
            var before = GC.GetAllocatedBytesForCurrentThread();
            for (var i = 0; i < 100; i++)
            {
                RouteScorer.Score((RoutePriority)(i % 3), amount, candidates, results);
            }

            rounds.Add(GC.GetAllocatedBytesForCurrentThread() - before);
        }

        Assert.Contains(0L, rounds);
    }

    [Fact]
    public void Bad_input_is_rejected_with_its_code()
    {
        var good = new RouteCandidate(Health("ethereum"), M(1_000));
        var results = new RouteScore[4];

        Assert.Equal(PaymentsKitErrorCodes.AssetMismatch, Code(() => RouteScorer.Score(RoutePriority.Fast, Money.Of(1, AssetRegistry.Usdc), [good], results)));
        Assert.Equal(PaymentsKitErrorCodes.AssetMismatch, Code(() => RouteScorer.Score(RoutePriority.Fast, M(1), [good with { Fee = Money.Of(1, AssetRegistry.Eth) }], results)));
        Assert.Equal(PaymentsKitErrorCodes.AmountOutOfRange, Code(() => RouteScorer.Score(RoutePriority.Fast, M(0), [good], results)));
        Assert.Equal(PaymentsKitErrorCodes.InvalidArgument, Code(() => RouteScorer.Score(RoutePriority.Fast, M(1), [good, good], results)));
        Assert.Equal(PaymentsKitErrorCodes.InvalidArgument, Code(() => RouteScorer.Score(RoutePriority.Fast, M(1), [good], [])));
        Assert.Equal(PaymentsKitErrorCodes.InvalidArgument, Code(() => RouteScorer.Score((RoutePriority)7, M(1), [good], results)));
        Assert.Equal(PaymentsKitErrorCodes.InvalidArgument, Code(() => RouteScorer.Score(RoutePriority.Fast, M(1), [new(Health("ethereum", errorRate: 1.5m), M(1))], results)));
        Assert.Equal(PaymentsKitErrorCodes.InvalidArgument, Code(() => RouteScorer.Score(RoutePriority.Fast, M(1), [new(Health("ethereum", congestion: -0.1m), M(1))], results)));
        Assert.Equal(PaymentsKitErrorCodes.InvalidArgument, Code(() => RouteScorer.Score(RoutePriority.Fast, M(1), [new(Health("ethereum", confirmationSeconds: -1), M(1))], results)));
        Assert.Equal(PaymentsKitErrorCodes.InvalidArgument, Code(() => RouteScorer.ScoreHealth(RoutePriority.Fast, Health("ethereum"), -1m)));
        Assert.Equal(PaymentsKitErrorCodes.InvalidArgument, Code(() => RouteScorer.Score(RoutePriority.Fast, M(1), [good], results, new RouteScoringOptions { ReferenceFee = 0m })));
        Assert.Equal(PaymentsKitErrorCodes.InvalidArgument, Code(() => RouteScorer.Score(RoutePriority.Fast, M(1), [good], results, new RouteScoringOptions { DegradedFactor = 1.5m })));
        Assert.Equal(PaymentsKitErrorCodes.InvalidArgument, Code(() => RouteScorer.Score(RoutePriority.Fast, M(1), [good], results, new RouteScoringOptions { ReferenceErrorRate = 0m })));
    }

    [Fact]
    public void Priorities_round_trip_through_their_wire_names()
    {
        foreach (var priority in Enum.GetValues<RoutePriority>())
        {
            Assert.Equal(priority, RouteScorer.ParsePriority(priority.ToWireName()));
        }

        Assert.Equal(PaymentsKitErrorCodes.InvalidArgument, Code(() => RouteScorer.ParsePriority("cheap")));
    }

    private static string Code(Action action) => Assert.Throws<PaymentsKitException>(action).Code;

    // ---- properties ----

    private static Gen<decimal> Unit => Gen.Choose(0, 10_000).Select(i => i / 10_000m);

    private static Gen<ChainHealthSample> Samples(string chain) =>
        from fee in Gen.Choose(0, 1_000_000)
        from confirmation in Gen.Choose(0, 3_600_000)
        from errorRate in Unit
        from latency in Gen.Choose(0, 30_000)
        from congestion in Unit
        from status in Gen.Elements(ChainHealthStatus.Healthy, ChainHealthStatus.Degraded, ChainHealthStatus.Unhealthy)
        select new ChainHealthSample(
            ChainId.Of(chain), Now, Duration.FromMilliseconds(confirmation), errorRate, Duration.FromMilliseconds(latency),
            congestion, M(fee / 10_000m), 1, status);

    private static void Monotone(Func<ChainHealthSample, decimal, ChainHealthSample> better, RoutePriority priority) =>
        Prop.ForAll(
            Arb.From(from s in Samples("ethereum") from step in Gen.Choose(0, 1_000_000) select (s, step / 1_000m)),
            t =>
            {
                var (sample, step) = t;
                var improved = better(sample, step);
                Assert.True(
                    RouteScorer.ScoreHealth(priority, improved, improved.FeeEstimate.Amount) >= RouteScorer.ScoreHealth(priority, sample, sample.FeeEstimate.Amount),
                    $"{improved} scored below {sample}");
            }).QuickCheckThrowOnFailure();

    [Fact]
    public void A_cheaper_fee_never_lowers_a_low_fee_score_Meets_Specification() =>
        Monotone((s, step) => s with { FeeEstimate = M(Math.Max(0m, s.FeeEstimate.Amount - step)) }, RoutePriority.LowFee);

    [Fact]
    public void A_higher_error_rate_never_raises_a_reliable_score_Meets_Specification() =>
        Monotone((s, step) => s with { RpcErrorRate = Math.Max(0m, s.RpcErrorRate - (step / 1_000m)) }, RoutePriority.Reliable);

    [Fact]
    public void Lower_latency_never_lowers_a_fast_score_Meets_Specification() =>
        Monotone((s, step) => s with { P95Latency = Duration.Max(Duration.Zero, s.P95Latency - Duration.FromMilliseconds((double)step)) }, RoutePriority.Fast);

    [Fact]
    public void Lower_confirmation_time_never_lowers_a_fast_score_Meets_Specification() =>
        Monotone((s, step) => s with { ConfirmationTime = Duration.Max(Duration.Zero, s.ConfirmationTime - Duration.FromSeconds((double)step)) }, RoutePriority.Fast);

    /// <summary>
    /// Every cost the docs name (fee, confirmation time, latency, congestion, error rate) and a degraded status:
    /// making any of them better never lowers the score of any priority, not only of the priority weighting it most.
    /// </summary>
    [Fact]
    public void Any_better_cost_never_lowers_any_prioritys_score_Meets_Specification()
    {
        Func<ChainHealthSample, decimal, ChainHealthSample>[] improvements =
        [
            (s, step) => s with { FeeEstimate = M(Math.Max(0m, s.FeeEstimate.Amount - step)) },
            (s, step) => s with { ConfirmationTime = Duration.Max(Duration.Zero, s.ConfirmationTime - Duration.FromSeconds((double)step)) },
            (s, step) => s with { P95Latency = Duration.Max(Duration.Zero, s.P95Latency - Duration.FromMilliseconds((double)step)) },
            (s, step) => s with { Congestion = Math.Max(0m, s.Congestion - (step / 1_000m)) },
            (s, step) => s with { RpcErrorRate = Math.Max(0m, s.RpcErrorRate - (step / 1_000m)) },
            (s, _) => s.Status == ChainHealthStatus.Degraded ? s with { Status = ChainHealthStatus.Healthy } : s,
        ];
        Prop.ForAll(
            Arb.From(
                from s in Samples("ethereum")
                from step in Gen.Choose(0, 1_000_000)
                from cost in Gen.Choose(0, improvements.Length - 1)
                from priority in Gen.Elements(Enum.GetValues<RoutePriority>())
                select (s, step: step / 1_000m, cost, priority)),
            t =>
            {
                var improved = improvements[t.cost](t.s, t.step);
                Assert.True(
                    RouteScorer.ScoreHealth(t.priority, improved, improved.FeeEstimate.Amount) >= RouteScorer.ScoreHealth(t.priority, t.s, t.s.FeeEstimate.Amount),
                    $"{t.priority}: {improved} scored below {t.s}");
            }).Check(Config.QuickThrowOnFailure.WithMaxTest(1_000));
    }

    [Fact]
    public void Exclusions_are_exactly_the_unhealthy_and_uncovered_chains_and_ranking_is_order_independent_Meets_Specification() =>
        Prop.ForAll(
            Arb.From(
                from count in Gen.Choose(0, 6)
                from samples in Gen.CollectToArray(Enumerable.Range(0, count).Select(i => Samples("chain-" + i.ToString(System.Globalization.CultureInfo.InvariantCulture))))
                from balances in Gen.ArrayOf(Gen.Choose(0, 2_000_000), count)
                from amount in Gen.Choose(1, 1_000_000)
                from priority in Gen.Elements(Enum.GetValues<RoutePriority>())
                from seed in Gen.Choose(0, int.MaxValue)
                select (samples, balances, amount: amount / 10_000m, priority, seed)),
            t =>
            {
                var candidates = t.samples.Select((s, i) => new RouteCandidate(s, M(t.balances[i] / 10_000m))).ToArray();
                var results = Run(t.priority, t.amount, candidates);

                foreach (var c in candidates)
                {
                    var result = Assert.Single(results, r => r.Chain == c.Health.Chain);
                    var expected = c.Health.Status == ChainHealthStatus.Unhealthy ? RouteExclusion.Unhealthy
                        : c.TreasuryAvailable.Amount < t.amount + c.Health.FeeEstimate.Amount ? RouteExclusion.InsufficientTreasury
                        : RouteExclusion.None;
                    Assert.Equal(expected, result.Exclusion);
                    Assert.InRange(result.Score, 0m, 1m);
                }

                var eligible = results.TakeWhile(r => r.IsEligible).ToArray();
                Assert.All(results.Skip(eligible.Length), r => Assert.False(r.IsEligible));
                for (var i = 1; i < eligible.Length; i++)
                {
                    Assert.True(eligible[i - 1].Score >= eligible[i].Score);
                }

                var shuffled = candidates.ToArray();
                new Random(t.seed).Shuffle(shuffled);
                Assert.Equal(results, Run(t.priority, t.amount, shuffled));
            }).QuickCheckThrowOnFailure();
}
