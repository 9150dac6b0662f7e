using NodaTime;

namespace PaymentsKit.Chains;

/// <summary>
/// Where a chain's measured error rate, latency and congestion turn it from healthy to degraded to
/// unhealthy. Every adapter classifies with the same rules so route scoring compares like with like.
/// </summary>
public sealed record ChainHealthThresholds
{
    /// <summary>The defaults: degraded at 5 % errors, 2 s p95 or 80 % congestion; unhealthy at 50 % errors or 10 s p95.</summary>
    public static ChainHealthThresholds Default { get; } = new();

    /// <summary>Error rate (0–1) from which the chain is degraded.</summary>
    public decimal DegradedErrorRate { get; init; } = 0.05m;

    /// <summary>Error rate (0–1) from which the chain is unhealthy.</summary>
    public decimal UnhealthyErrorRate { get; init; } = 0.5m;

    /// <summary>p95 latency from which the chain is degraded.</summary>
    public Duration DegradedLatency { get; init; } = Duration.FromSeconds(2);

    /// <summary>p95 latency from which the chain is unhealthy.</summary>
    public Duration UnhealthyLatency { get; init; } = Duration.FromSeconds(10);

    /// <summary>Congestion (0–1) from which the chain is degraded.</summary>
    public decimal DegradedCongestion { get; init; } = 0.8m;

    /// <summary>The verdict for one measurement.</summary>
    public ChainHealthStatus Classify(decimal errorRate, Duration p95Latency, decimal congestion)
    {
        if (errorRate >= UnhealthyErrorRate || p95Latency >= UnhealthyLatency)
        {
            return ChainHealthStatus.Unhealthy;
        }

        return errorRate >= DegradedErrorRate || p95Latency >= DegradedLatency || congestion >= DegradedCongestion
            ? ChainHealthStatus.Degraded
            : ChainHealthStatus.Healthy;
    }
}
