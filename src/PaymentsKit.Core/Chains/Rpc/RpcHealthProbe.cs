using System.Runtime.CompilerServices;
using NodaTime;

namespace PaymentsKit.Chains.Rpc;

/// <summary>What a chain's status call reports for a health sample.</summary>
/// <param name="LatestBlock">The latest block, ledger, slot or consensus sequence.</param>
/// <param name="Fee">The current fee of a simple transfer.</param>
/// <param name="Congestion">0 (idle) to 1 (full); 0 where the chain does not expose it.</param>
public readonly record struct ChainStatus(long LatestBlock, Money Fee, decimal Congestion);

/// <summary>
/// Turns a chain-specific status call plus the transport's recent-call statistics into a
/// <see cref="ChainHealthSample"/>. A status call that fails is itself the measurement: the sample is
/// unhealthy and carries the last status that was seen, rather than throwing.
/// </summary>
public sealed class RpcHealthProbe
{
    private readonly ChainId _chain;
    private readonly IClock _clock;
    private readonly RpcTransport _transport;
    private readonly ChainHealthThresholds _thresholds;
    private StrongBox<ChainStatus>? _lastStatus;

    /// <summary>Creates a probe.</summary>
    public RpcHealthProbe(ChainId chain, IClock clock, RpcTransport transport, ChainHealthThresholds thresholds)
    {
        _chain = chain;
        _clock = clock ?? throw new ArgumentNullException(nameof(clock));
        _transport = transport ?? throw new ArgumentNullException(nameof(transport));
        _thresholds = thresholds ?? throw new ArgumentNullException(nameof(thresholds));
    }

    /// <summary>Measures health now.</summary>
    /// <param name="measure">The chain's status call.</param>
    /// <param name="confirmationTime">Typical time to finality on this chain.</param>
    /// <param name="fallbackFee">The fee to report when no status was ever seen.</param>
    /// <param name="cancellationToken">Cancels the measurement.</param>
    public async ValueTask<ChainHealthSample> ProbeAsync(
        Func<CancellationToken, Task<ChainStatus>> measure,
        Duration confirmationTime,
        Money fallbackFee,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(measure);
        ChainStatus status;
        var reachable = true;
        try
        {
            status = await measure(cancellationToken).ConfigureAwait(false);
            Volatile.Write(ref _lastStatus, new StrongBox<ChainStatus>(status));
        }
        catch (PaymentsKitException ex) when (ex.Code == PaymentsKitErrorCodes.ChainUnavailable)
        {
            reachable = false;
            status = Volatile.Read(ref _lastStatus)?.Value ?? new ChainStatus(0, fallbackFee, 0m);
        }

        var summary = _transport.Statistics.Summarize();
        var congestion = Math.Clamp(status.Congestion, 0m, 1m);
        return new ChainHealthSample(
            _chain,
            _clock.GetCurrentInstant(),
            confirmationTime,
            summary.ErrorRate,
            summary.P95Latency,
            congestion,
            status.Fee,
            status.LatestBlock,
            reachable ? _thresholds.Classify(summary.ErrorRate, summary.P95Latency, congestion) : ChainHealthStatus.Unhealthy);
    }
}
