using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Engines;
using NodaTime;
using PaymentsKit.Ledger;
using PaymentsKit.Storage;
using PaymentsKit.Streaming;

namespace PaymentsKit.Benchmarks;

/// <summary>
/// The pure accrual math on a 10 USDC/day stream, evaluated half a day in. Every case must allocate
/// nothing (the memory column reads 0 B).
/// </summary>
[MemoryDiagnoser]
[SimpleJob(RunStrategy.Throughput, launchCount: 1, warmupCount: 3, iterationCount: 10)]
public class StreamAccrualBenchmarks
{
    private static readonly Instant Start = Instant.FromUtc(2026, 1, 1, 0, 0);
    private readonly StreamTerms _terms = StreamTerms.Create(AssetRegistry.Usdc, 0.000115740m, 10m, Start, Start + Duration.FromDays(1));
    private readonly Instant _at = Start + Duration.FromHours(12) + Duration.FromTicks(1_234_560);
    private readonly PauseInterval[] _onePause = [new(Start + Duration.FromHours(6), Start + Duration.FromHours(7))];
    private readonly PauseInterval[] _eightPauses = [.. Enumerable.Range(0, 8).Select(i => new PauseInterval(Start + Duration.FromHours(i + 1), Start + Duration.FromHours(i + 1) + Duration.FromMinutes(20)))];
    private readonly decimal _settled = 1.5m;

    /// <summary>Accrued amount with no pause.</summary>
    [Benchmark(Baseline = true)]
    public decimal AccruedNoPause() => StreamAccrual.Accrued(_terms, [], _at);

    /// <summary>Accrued amount with one (closed) pause: the load harness's case.</summary>
    [Benchmark]
    public decimal AccruedOnePause() => StreamAccrual.Accrued(_terms, _onePause, _at);

    /// <summary>Accrued amount with eight pauses: the cost grows with the pauses, one pass over them.</summary>
    [Benchmark]
    public decimal AccruedEightPauses() => StreamAccrual.Accrued(_terms, _eightPauses, _at);

    /// <summary>A settlement: accrued − settled, with the settled amount checked against the accrual.</summary>
    [Benchmark]
    public StreamSettlement SettleOnePause() => StreamAccrual.Settle(_terms, _onePause, _at, _settled);

    /// <summary>Every balance at once (accrued, unsettled, withdrawable, refundable, complete).</summary>
    [Benchmark]
    public StreamBalance EvaluateOnePause() => StreamAccrual.Evaluate(_terms, _onePause, _at, _settled, 1m);

    /// <summary>When the stream completes, laid out around the pauses.</summary>
    [Benchmark]
    public Instant? CompletesAtOnePause() => StreamAccrual.CompletesAt(_terms, _onePause);
}

/// <summary>
/// One completion sweep over 100,000 due streams on the in-memory store: each stream's final settlement
/// (escrow → recipient), its remainder refund, its completed event and its closed deadline, one unit of
/// work per stream. The streams are created afresh before every iteration (not measured).
/// </summary>
[MemoryDiagnoser]
[SimpleJob(RunStrategy.Monitoring, launchCount: 1, warmupCount: 1, iterationCount: 3, invocationCount: 1)]
public class StreamSweepBenchmarks
{
    /// <summary>How many streams one sweep settles.</summary>
    public const int StreamCount = 100_000;

    private SteppingClock _clock = null!;
    private StreamService _streams = null!;

    [IterationSetup]
    public void SetUp() => SetUpAsync().AsTask().GetAwaiter().GetResult();

    /// <summary>Completes (settles in full) all 100,000 streams in one sweep.</summary>
    [Benchmark]
    public async Task<int> SettleOneHundredThousandStreamsInOneSweep()
    {
        var completed = await _streams.CompleteDueAsync(_clock.GetCurrentInstant(), StreamService.MaxSweepLimit);
        return completed.Count == StreamCount ? completed.Count : throw new InvalidOperationException($"The sweep completed {completed.Count} streams, not {StreamCount}.");
    }

    private async ValueTask SetUpAsync()
    {
        _clock = new SteppingClock(Instant.FromUtc(2026, 1, 1, 0, 0));
        var store = new InMemoryStore();
        var assets = new AssetRegistry();
        var ledger = new LedgerService(store, _clock, assets);
        _streams = new StreamService(store, ledger, _clock, assets);
        var tenant = MerchantId.New(_clock);
        var funding = await ledger.CreateAccountAsync(tenant, new CreateLedgerAccountRequest("treasury", "Treasury", AssetRegistry.Usdc, LedgerSide.Debit));
        var payout = await ledger.CreateAccountAsync(tenant, new CreateLedgerAccountRequest("payout", "Payout", AssetRegistry.Usdc, LedgerSide.Credit));
        var total = Money.Of(1m, AssetRegistry.Usdc);
        for (var i = 0; i < StreamCount; i++)
        {
            // 1 USDC at 0.3 USDC/s with a 3 s end: 0.9 settles to the recipient, 0.1 goes back, both posted.
            var start = _clock.GetCurrentInstant();
            await _streams.CreateAsync(tenant, new CreateStreamRequest(funding.Id, payout.Id, "payer", "recipient", total, 0.3m) { StartTime = start, EndTime = start + Duration.FromSeconds(3) });
            _clock.Advance(Duration.FromTicks(10));
        }

        _clock.Advance(Duration.FromMinutes(10));
    }

    /// <summary>A clock that moves only when told to.</summary>
    private sealed class SteppingClock(Instant start) : IClock
    {
        private Instant _now = start;

        public Instant GetCurrentInstant() => _now;

        public void Advance(Duration by) => _now += by;
    }
}
