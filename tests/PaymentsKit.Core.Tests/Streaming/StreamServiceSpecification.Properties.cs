using System.Globalization;
using System.Numerics;
using FsCheck;
using FsCheck.Fluent;
using NodaTime;
using PaymentsKit.Streaming;

namespace PaymentsKit.Tests.Streaming;

public abstract partial class StreamServiceSpecification
{
    private static readonly Asset[] ScaleAssets = [AssetRegistry.Jpy, AssetRegistry.Usd, AssetRegistry.Usdc, AssetRegistry.Xlm, AssetRegistry.Sol, AssetRegistry.Eth];

    public enum StepKind
    {
        Wait,
        Pause,
        Resume,
        Settle,
        Withdraw,
        WithdrawAll,
        Cancel,
        Sweep,
    }

    private static Gen<Step> StepGen { get; } =
        from kind in Gen.Frequency(
            (3, Gen.Constant(StepKind.Wait)),
            (3, Gen.Constant(StepKind.Pause)),
            (3, Gen.Constant(StepKind.Resume)),
            (5, Gen.Constant(StepKind.Settle)),
            (2, Gen.Constant(StepKind.Withdraw)),
            (2, Gen.Constant(StepKind.WithdrawAll)),
            (1, Gen.Constant(StepKind.Cancel)),
            (1, Gen.Constant(StepKind.Sweep)))
        from seconds in Gen.Frequency((3, Gen.Choose(0, 5)), (3, Gen.Choose(0, 400)), (1, Gen.Choose(0, 20_000)))
        from micros in Gen.Choose(0, 999_999)
        from share in Gen.Choose(1, 100)
        select new Step(kind, seconds, micros, share);

    private static Gen<Schedule> ScheduleGen { get; } =
        from asset in Gen.Elements(ScaleAssets)
        from mantissa in Gen.Choose(1, 999_999)
        from exponent in Gen.Choose(0, 9)
        from totalMantissa in Gen.Choose(1, 50_000_000)
        from hasEnd in Gen.Elements(true, false)
        from length in Gen.Choose(1, 20_000)
        from extraMinor in Gen.Choose(0, 1_000)
        from startOffset in Gen.Choose(-300, 600)
        from steps in Gen.ListOf(StepGen)
        select new Schedule(asset, new decimal(mantissa, 0, 0, false, (byte)exponent), totalMantissa, hasEnd, length, extraMinor, startOffset, [.. steps]);

    [Fact]
    public void Any_Rate_And_Schedule_Keeps_Every_Stream_Invariant_Meets_Specification()
    {
        Prop.ForAll(Arb.From(ScheduleGen), schedule => Blocking(() => RunScheduleAsync(schedule)))
            .Check(Config.QuickThrowOnFailure.WithMaxTest(PropertyIterations).WithEndSize(25));
    }

    private static bool Blocking(Func<Task> run)
    {
        run().GetAwaiter().GetResult();
        return true;
    }

    /// <summary>
    /// Runs one random life of a stream and checks, after every step, the stream against an independent
    /// model of accrual (integer arithmetic over the model's own pause list) and the ledger against the stream.
    /// </summary>
    private async Task RunScheduleAsync(Schedule schedule)
    {
        var tenant = MerchantId.FromGuid(Guid.CreateVersion7());
        var scale = Math.Min(schedule.Asset.Scale, StreamTerms.MaxScale);
        var minor = new decimal(1, 0, 0, false, (byte)scale);
        var start = FloorMicros(Now + Duration.FromSeconds(schedule.StartOffset));
        Instant? end = null;
        var total = schedule.TotalMantissa * minor;
        if (schedule.HasEnd)
        {
            var needed = CeilingTo(schedule.Rate * schedule.Length, scale) + (schedule.ExtraMinor * minor);
            if (needed <= StreamTerms.MaxValue)
            {
                end = start + Duration.FromSeconds(schedule.Length);
                total = needed;
            }
        }

        var parties = await PartiesAsync(total, schedule.Asset, tenant);
        var model = new Model(schedule.Rate, total, scale, start, end);
        var created = await Streams.CreateAsync(tenant, Request(parties, total, schedule.Rate, start, end));
        model.Created(FloorMicros(Now));
        var stream = created.Stream;
        Assert.Equal(model.Status, stream.Status);
        var previousAccrued = 0m;
        var previousSettledAt = stream.LastSettledAt;

        foreach (var step in schedule.Steps)
        {
            Clock.Advance(Duration.FromSeconds(step.Seconds) + Duration.FromTicks(step.Micros * 10L));
            var at = FloorMicros(Now);
            var expected = model.Expect(step.Kind, at, step.Share);
            var refusal = await ApplyAsync(stream, step, expected.Withdrawal, tenant);
            Assert.True(expected.Refusal == refusal, $"{step} at {at}: expected {expected.Refusal ?? "success"}, got {refusal ?? "success"} ({model})");
            if (refusal is null)
            {
                model.Apply(step.Kind, at, expected.Withdrawal);
            }

            stream = await Streams.GetAsync(tenant, stream.Id);
            var statement = await Streams.GetStatementAsync(tenant, stream.Id);
            var accrued = statement.Accrued.Amount;

            Assert.Equal(model.Status, stream.Status);
            Assert.Equal(model.Pauses, stream.Pauses);
            Assert.Equal(model.Accrued(at), accrued);
            Assert.True(total >= accrued && accrued >= stream.SettledAmount.Amount && stream.SettledAmount >= stream.WithdrawnAmount, $"total {total} ≥ accrued {accrued} ≥ settled {stream.SettledAmount} ≥ withdrawn {stream.WithdrawnAmount}");
            Assert.True(accrued >= previousAccrued, $"accrued went back from {previousAccrued} to {accrued}");
            previousAccrued = accrued;
            Assert.True(stream.LastSettledAt >= previousSettledAt, $"last_settled_at went back from {previousSettledAt} to {stream.LastSettledAt}");
            previousSettledAt = stream.LastSettledAt;
            if (stream.Status == StreamState.Paused)
            {
                Assert.Equal(model.AccruedAt(stream.Pauses[^1].PausedAt), accrued);
            }

            // Σ settlements = accrued at the last settlement, exactly: no dust lost however small the steps.
            Assert.Equal(model.AccruedAt(stream.LastSettledAt), stream.SettledAmount.Amount);
            Assert.Equal(model.Settled, stream.SettledAmount.Amount);
            Assert.Equal(model.Withdrawn, stream.WithdrawnAmount.Amount);
            if (stream.IsClosed)
            {
                Assert.Equal(total, stream.SettledAmount.Amount + stream.RefundedAmount.Amount);
            }
        }

        var events = await EventsAsync(stream);
        Assert.Equal(stream.EventCount, events.Count);
        Assert.Equal(stream.SettledAmount.Amount, events.Where(e => e.Kind is not (StreamEventKind.Created or StreamEventKind.Withdrawn)).Sum(e => e.Amount.Amount));
        Assert.Equal(stream.WithdrawnAmount.Amount, events.Where(e => e.Kind == StreamEventKind.Withdrawn).Sum(e => e.Amount.Amount));
        Assert.Equal(stream.RefundedAmount.Amount, events.Sum(e => e.Refunded.Amount));
        await AssertBooksAsync(stream);
        Assert.Equal(stream.RefundedAmount, (await Ledger.GetAccountAsync(tenant, parties.Funding.Id)).Balance.Posted);
    }

    /// <summary>Applies a step; returns the error code of an expected refusal, null on success.</summary>
    private async Task<string?> ApplyAsync(PaymentStream stream, Step step, decimal withdrawal, MerchantId tenant)
    {
        try
        {
            switch (step.Kind)
            {
                case StepKind.Pause:
                    await Streams.PauseAsync(tenant, stream.Id, By);
                    break;
                case StepKind.Resume:
                    await Streams.ResumeAsync(tenant, stream.Id, By);
                    break;
                case StepKind.Settle:
                    await Streams.SettleAsync(tenant, stream.Id, By);
                    break;
                case StepKind.Withdraw:
                    await Streams.WithdrawAsync(tenant, stream.Id, new WithdrawStreamRequest("recipient") { Amount = Money.Of(withdrawal, stream.Asset) });
                    break;
                case StepKind.WithdrawAll:
                    await Streams.WithdrawAsync(tenant, stream.Id, new WithdrawStreamRequest("recipient"));
                    break;
                case StepKind.Cancel:
                    await Streams.CancelAsync(tenant, stream.Id, By);
                    break;
                case StepKind.Sweep:
                    await SweepAsync(Now, tenant);
                    break;
            }

            return null;
        }
        catch (PaymentsKitException ex) when (ex.Code is PaymentsKitErrorCodes.InvalidTransition or PaymentsKitErrorCodes.InsufficientFunds)
        {
            return ex.Code;
        }
    }

    private static Instant FloorMicros(Instant instant)
    {
        var ticks = instant.ToUnixTimeTicks();
        return Instant.FromUnixTimeTicks(ticks - (((ticks % 10) + 10) % 10));
    }

    private static decimal ShareOf(decimal amount, int percent, int scale) =>
        decimal.Round(amount * percent / 100m, scale, MidpointRounding.ToZero);

    private static decimal CeilingTo(decimal value, int scale) => decimal.Round(value, scale, MidpointRounding.ToPositiveInfinity);

    /// <param name="Kind">What to do.</param>
    /// <param name="Seconds">How long to wait before it.</param>
    /// <param name="Micros">Plus this many microseconds.</param>
    /// <param name="Share">For a partial withdrawal: the percentage of what is withdrawable (a minor unit if that rounds to 0).</param>
    public sealed record Step(StepKind Kind, int Seconds, int Micros, int Share);

    public sealed record Schedule(Asset Asset, decimal Rate, int TotalMantissa, bool HasEnd, int Length, int ExtraMinor, int StartOffset, Step[] Steps)
    {
        public override string ToString() =>
            string.Create(CultureInfo.InvariantCulture, $"{Asset.Code} rate={Rate} total={TotalMantissa} end={HasEnd}/{Length}s+{ExtraMinor} start={StartOffset}s steps=[{string.Join(", ", Steps.Select(s => $"{s.Kind}@+{s.Seconds}.{s.Micros:D6}s/{s.Share}%"))}]");
    }

    /// <summary>What the stream must be: its own pause list and balances, and accrual in plain integers.</summary>
    private sealed class Model(decimal rate, decimal total, int scale, Instant start, Instant? end)
    {
        private readonly BigInteger _rateNanos = (BigInteger)(rate * 1_000_000_000m);
        private readonly BigInteger _totalMinor = (BigInteger)(total * Pow10(scale));
        private readonly long _start = Micros(start);
        private readonly long _end = end is { } e ? Micros(e) : long.MaxValue;

        public StreamState Status { get; private set; } = StreamState.Active;

        public List<PauseInterval> Pauses { get; } = [];

        public decimal Settled { get; private set; }

        public decimal Withdrawn { get; private set; }

        /// <summary>What the stream shows as accrued at <paramref name="at"/>: frozen at the settled amount once closed.</summary>
        public decimal Accrued(Instant at) => IsClosed ? Settled : AccruedAt(at);

        /// <summary>Creation at <paramref name="at"/>: a stream with nothing left to accrue completes at once.</summary>
        public void Created(Instant at)
        {
            if (Due(at))
            {
                Close(StreamState.Completed, CompletionInstant(at));
            }
        }

        public decimal AccruedAt(Instant at)
        {
            var to = Math.Min(Micros(at), _end);
            if (to <= _start)
            {
                return 0m;
            }

            var active = to - _start;
            foreach (var pause in Pauses)
            {
                var from = Math.Max(Micros(pause.PausedAt), _start);
                var until = Math.Min(pause.ResumedAt is { } r ? Micros(r) : to, to);
                active -= Math.Max(0, until - from);
            }

            var minor = BigInteger.Min(_rateNanos * active / BigInteger.Pow(10, 15 - scale), _totalMinor);
            return (decimal)minor / Pow10(scale);
        }

        /// <summary>The refusal a step must meet at <paramref name="at"/>, and a partial withdrawal's amount.</summary>
        public (string? Refusal, decimal Withdrawal) Expect(StepKind kind, Instant at, int share)
        {
            var status = Due(at) ? StreamState.Completed : Status;
            var closed = status is StreamState.Cancelled or StreamState.Completed;
            var withdrawable = (closed ? SettledAfterClosing(at) : AccruedAt(at)) - Withdrawn;
            var partial = ShareOf(withdrawable, share, scale);
            partial = partial == 0 ? new decimal(1, 0, 0, false, (byte)scale) : partial;
            return kind switch
            {
                StepKind.Pause when !StreamLifecycle.Machine.CanTransition(status, StreamState.Paused) => (PaymentsKitErrorCodes.InvalidTransition, partial),
                StepKind.Resume when !StreamLifecycle.Machine.CanTransition(status, StreamState.Active) => (PaymentsKitErrorCodes.InvalidTransition, partial),
                StepKind.Cancel when !StreamLifecycle.Machine.CanTransition(status, StreamState.Cancelled) => (PaymentsKitErrorCodes.InvalidTransition, partial),
                StepKind.Settle when closed && !Due(at) => (PaymentsKitErrorCodes.InvalidTransition, partial),
                StepKind.WithdrawAll when withdrawable == 0 => (PaymentsKitErrorCodes.InsufficientFunds, partial),
                StepKind.Withdraw when partial > withdrawable => (PaymentsKitErrorCodes.InsufficientFunds, partial),
                _ => (null, partial),
            };
        }

        /// <summary>Applies a step the service accepted; a wait changes nothing (only an operation or a sweep completes a due stream).</summary>
        public void Apply(StepKind kind, Instant at, decimal withdrawal = 0)
        {
            var resumed = kind == StepKind.Resume;
            if (resumed)
            {
                Pauses[^1] = Pauses[^1] with { ResumedAt = at };
                Status = StreamState.Active;
            }

            if (Due(at) && kind != StepKind.Wait)
            {
                Close(StreamState.Completed, CompletionInstant(at));
            }

            switch (kind)
            {
                case StepKind.Pause:
                    Settled = AccruedAt(at);
                    Pauses.Add(new PauseInterval(at, null));
                    Status = StreamState.Paused;
                    break;
                case StepKind.Settle when !IsClosed:
                    Settled = AccruedAt(at);
                    break;
                case StepKind.Withdraw or StepKind.WithdrawAll:
                    if (!IsClosed)
                    {
                        Settled = AccruedAt(at);
                    }

                    Withdrawn += kind == StepKind.WithdrawAll ? Settled - Withdrawn : withdrawal;
                    break;
                case StepKind.Cancel:
                    if (Status == StreamState.Paused)
                    {
                        Pauses[^1] = Pauses[^1] with { ResumedAt = at };
                    }

                    Close(StreamState.Cancelled, at);
                    break;
            }
        }

        public override string ToString() =>
            string.Create(CultureInfo.InvariantCulture, $"model {Status} settled={Settled} withdrawn={Withdrawn} pauses={Pauses.Count}");

        private bool IsClosed => Status is StreamState.Cancelled or StreamState.Completed;

        /// <summary>Whether an active stream has nothing more to accrue at <paramref name="at"/>.</summary>
        private bool Due(Instant at) =>
            Status == StreamState.Active && (Micros(at) >= _end || (BigInteger)(AccruedAt(at) * Pow10(scale)) == _totalMinor);

        /// <summary>The first microsecond at which the stream was complete (the end, or when the total ran out).</summary>
        private Instant CompletionInstant(Instant at)
        {
            long low = _start, high = Math.Min(Micros(at), _end);
            while (low < high)
            {
                var middle = low + ((high - low) / 2);
                if (middle >= _end || (BigInteger)(AccruedAt(FromMicros(middle)) * Pow10(scale)) == _totalMinor)
                {
                    high = middle;
                }
                else
                {
                    low = middle + 1;
                }
            }

            return FromMicros(low);
        }

        private decimal SettledAfterClosing(Instant at) => IsClosed ? Settled : AccruedAt(CompletionInstant(at));

        private void Close(StreamState state, Instant at)
        {
            Settled = AccruedAt(at);
            Status = state;
        }

        private static long Micros(Instant instant) => (long)Math.Floor(instant.ToUnixTimeTicks() / 10m);

        private static Instant FromMicros(long micros) => Instant.FromUnixTimeTicks(micros * 10);

        private static decimal Pow10(int exponent) => (decimal)BigInteger.Pow(10, exponent);
    }
}
