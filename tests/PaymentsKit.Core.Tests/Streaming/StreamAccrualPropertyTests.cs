using System.Numerics;
using FsCheck;
using FsCheck.Fluent;
using NodaTime;
using PaymentsKit.Streaming;

namespace PaymentsKit.Core.Tests.Streaming;

public class StreamAccrualPropertyTests
{
    private static readonly Instant T0 = Instant.FromUtc(2026, 1, 1, 0, 0);
    private static readonly Duration Micro = Duration.FromTicks(10);

    public sealed record Scenario(StreamTerms Terms, PauseInterval[] Pauses, Instant[] Times)
    {
        public override string ToString() =>
            $"rate={Terms.RatePerSecond} total={Terms.Total} scale={Terms.AmountScale} start={Terms.Start} end={Terms.End} " +
            $"pauses=[{string.Join("; ", Pauses.Select(p => $"{p.PausedAt}..{p.ResumedAt}"))}] times=[{string.Join("; ", Times)}]";
    }

    private static Gen<Duration> Offset =>
        from seconds in Gen.Choose(0, 3_000_000)
        from micros in Gen.Choose(0, 999_999)
        select Duration.FromSeconds(seconds) + Duration.FromTicks(micros * 10L);

    private static Gen<Scenario> Scenarios =>
        from scale in Gen.Elements(0, 2, 6, 7, 9, 18)
        from rateMantissa in Gen.Choose(1, 999_999)
        from rateExponent in Gen.Choose(0, 9)
        from totalMantissa in Gen.Choose(1, 1_000_000_000)
        from startOffset in Offset
        from hasEnd in Gen.Elements(true, false)
        from length in Offset
        from extraMinor in Gen.Choose(0, 1_000)
        from pauseCount in Gen.Choose(0, 4)
        from pauseOffsets in Gen.ArrayOf(Offset, pauseCount * 2)
        from lastOpen in Gen.Elements(true, false)
        from times in Gen.ArrayOf(Offset, 6)
        select Build(scale, new decimal(rateMantissa, 0, 0, false, (byte)rateExponent), totalMantissa, startOffset, hasEnd, length, extraMinor, pauseOffsets, lastOpen, times);

    private static Scenario Build(
        int scale, decimal rate, int totalMantissa, Duration startOffset, bool hasEnd, Duration length, int extraMinor,
        Duration[] pauseOffsets, bool lastOpen, Duration[] times)
    {
        var asset = Asset.Create("S" + scale.ToString(System.Globalization.CultureInfo.InvariantCulture), scale);
        var amountScale = Math.Min(scale, StreamTerms.MaxScale);
        var start = T0 + startOffset;
        var minor = new decimal(1, 0, 0, false, (byte)amountScale);
        StreamTerms terms;
        var duration = length + Micro;
        var needed = RoundUp(rate * (decimal)(duration.BclCompatibleTicks / 10) / 1_000_000m, amountScale) + (extraMinor * minor);
        if (hasEnd && needed <= StreamTerms.MaxValue)
        {
            terms = StreamTerms.Create(asset, rate, needed, start, start + duration);
        }
        else
        {
            terms = StreamTerms.Create(asset, rate, totalMantissa * minor, start, null);
        }

        var sorted = pauseOffsets.Order().ToArray();
        var pauses = new PauseInterval[sorted.Length / 2];
        for (var i = 0; i < pauses.Length; i++)
        {
            var open = lastOpen && i == pauses.Length - 1;
            pauses[i] = new PauseInterval(T0 + sorted[2 * i], open ? null : T0 + sorted[(2 * i) + 1]);
        }

        return new Scenario(terms, pauses, [.. times.Order().Select(t => T0 + t)]);
    }

    private static decimal RoundUp(decimal value, int scale) => decimal.Round(value, scale, MidpointRounding.ToPositiveInfinity);

    private static void Check(Action<Scenario> property) =>
        Prop.ForAll(Arb.From(Scenarios), property).QuickCheckThrowOnFailure();

    // Active time by the definition, with BigInteger microseconds: [start, min(t, end)] minus the pauses inside it.
    private static BigInteger ActiveMicros(Scenario s, Instant at)
    {
        var from = s.Terms.Start;
        var to = s.Terms.End is { } end && end < at ? end : at;
        if (to <= from)
        {
            return 0;
        }

        var active = Micros(to - from);
        foreach (var pause in s.Pauses)
        {
            var pausedAt = pause.PausedAt < from ? from : pause.PausedAt;
            var resumedAt = pause.ResumedAt is { } r && r < to ? r : to;
            if (resumedAt > pausedAt)
            {
                active -= Micros(resumedAt - pausedAt);
            }
        }

        return active;
    }

    private static BigInteger Micros(Duration d) => d.BclCompatibleTicks / 10;

    private static BigInteger Scaled(decimal value, int scale)
    {
        for (var i = 0; i < scale; i++)
        {
            value *= 10m;
        }

        return new BigInteger(value);
    }

    [Fact]
    public void Accrual_is_bounded_monotone_and_exactly_truncated_Meets_Specification() => Check(s =>
    {
        var terms = s.Terms;
        var rateNanos = Scaled(terms.RatePerSecond, 9);
        var totalMinor = Scaled(terms.Total, terms.AmountScale);
        var divisor = BigInteger.Pow(10, 15 - terms.AmountScale);
        var previous = 0m;
        foreach (var t in s.Times)
        {
            var accrued = StreamAccrual.Accrued(terms, s.Pauses, t);
            var product = rateNanos * ActiveMicros(s, t);
            var expectedMinor = BigInteger.Min(totalMinor, product / divisor);
            Assert.Equal(expectedMinor, Scaled(accrued, terms.AmountScale));
            Assert.True(accrued.Scale <= terms.AmountScale, $"scale {accrued.Scale}");
            Assert.InRange(accrued, previous, terms.Total);
            previous = accrued;
        }
    });

    [Fact]
    public void Paused_intervals_accrue_nothing_Meets_Specification() => Check(s =>
    {
        foreach (var pause in s.Pauses)
        {
            var atPause = StreamAccrual.Accrued(s.Terms, s.Pauses, pause.PausedAt);
            var atResume = StreamAccrual.Accrued(s.Terms, s.Pauses, pause.ResumedAt ?? pause.PausedAt + Duration.FromDays(10_000));
            Assert.Equal(atPause, atResume);
        }
    });

    [Fact]
    public void Settlements_lose_no_dust_and_keep_total_accrued_settled_withdrawn_ordered_Meets_Specification() => Check(s =>
    {
        var settled = 0m;
        var withdrawn = 0m;
        var sum = 0m;
        var flip = false;
        foreach (var t in s.Times)
        {
            var settlement = StreamAccrual.Settle(s.Terms, s.Pauses, t, settled);
            Assert.True(settlement.Amount >= 0m);
            sum += settlement.Amount;
            settled = settlement.SettledTotal;

            // Withdraw everything settled on every other step.
            flip = !flip;
            if (flip)
            {
                withdrawn = settled;
            }

            var balance = StreamAccrual.Evaluate(s.Terms, s.Pauses, t, settled, withdrawn);
            Assert.True(s.Terms.Total >= balance.Accrued && balance.Accrued >= settled && settled >= withdrawn);
            Assert.Equal(balance.Accrued - withdrawn, balance.Withdrawable);
        }

        Assert.Equal(StreamAccrual.Accrued(s.Terms, s.Pauses, s.Times[^1]), sum);
        Assert.Equal(settled, sum);
    });

    [Fact]
    public void Cancellation_splits_the_total_exactly_Meets_Specification() => Check(s =>
    {
        foreach (var t in s.Times)
        {
            var split = StreamAccrual.Cancel(s.Terms, s.Pauses, t);
            Assert.Equal(s.Terms.Total, split.ToRecipient + split.ToPayer);
            Assert.Equal(StreamAccrual.Accrued(s.Terms, s.Pauses, t), split.ToRecipient);
            Assert.Equal(StreamAccrual.Refundable(s.Terms, s.Pauses, t), split.ToPayer);
        }
    });

    [Fact]
    public void Completion_instant_is_the_first_complete_instant_Meets_Specification() => Check(s =>
    {
        var completes = StreamAccrual.CompletesAt(s.Terms, s.Pauses);
        if (completes is { } c)
        {
            Assert.True(StreamAccrual.IsComplete(s.Terms, s.Pauses, c));
            Assert.False(StreamAccrual.IsComplete(s.Terms, s.Pauses, c - Micro));
            if (s.Terms.End is null)
            {
                Assert.Equal(s.Terms.Total, StreamAccrual.Accrued(s.Terms, s.Pauses, c));
            }
        }
        else
        {
            Assert.Null(s.Terms.End);
            Assert.False(StreamAccrual.IsComplete(s.Terms, s.Pauses, T0 + Duration.FromDays(100_000)));
        }
    });
}
