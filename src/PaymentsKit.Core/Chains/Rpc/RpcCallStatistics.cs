using NodaTime;

namespace PaymentsKit.Chains.Rpc;

/// <summary>
/// The outcome and latency of the most recent RPC calls of one adapter, for health probes: a fixed-size
/// window so old incidents age out. Thread-safe.
/// </summary>
public sealed class RpcCallStatistics
{
    private readonly Lock _lock = new();
    private readonly bool[] _succeeded;
    private readonly Duration[] _latencies;
    private int _next;
    private int _count;

    /// <summary>Creates a window of the last <paramref name="window"/> calls.</summary>
    /// <exception cref="ArgumentOutOfRangeException">When <paramref name="window"/> is below 1.</exception>
    public RpcCallStatistics(int window)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(window, 1);
        _succeeded = new bool[window];
        _latencies = new Duration[window];
    }

    /// <summary>Records one call.</summary>
    public void Record(bool succeeded, Duration latency)
    {
        lock (_lock)
        {
            _succeeded[_next] = succeeded;
            _latencies[_next] = latency;
            _next = (_next + 1) % _succeeded.Length;
            _count = Math.Min(_count + 1, _succeeded.Length);
        }
    }

    /// <summary>The calls in the window so far.</summary>
    public RpcCallSummary Summarize()
    {
        lock (_lock)
        {
            if (_count == 0)
            {
                return new RpcCallSummary(0, 0m, Duration.Zero);
            }

            var failures = 0;
            var latencies = new Duration[_count];
            for (var i = 0; i < _count; i++)
            {
                failures += _succeeded[i] ? 0 : 1;
                latencies[i] = _latencies[i];
            }

            Array.Sort(latencies);

            // Nearest-rank percentile: the smallest latency at or above 95 % of the calls.
            var rank = (int)Math.Ceiling(_count * 95m / 100m);
            return new RpcCallSummary(_count, (decimal)failures / _count, latencies[Math.Max(rank, 1) - 1]);
        }
    }
}

/// <summary>A summary of recent RPC calls.</summary>
/// <param name="Calls">How many calls the window holds.</param>
/// <param name="ErrorRate">The share that failed, 0–1.</param>
/// <param name="P95Latency">The 95th percentile latency (nearest rank).</param>
public readonly record struct RpcCallSummary(int Calls, decimal ErrorRate, Duration P95Latency);
