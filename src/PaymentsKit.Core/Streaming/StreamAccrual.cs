using System.Globalization;
using NodaTime;

namespace PaymentsKit.Streaming;

/// <summary>One pause of a stream: from <see cref="PausedAt"/> until <see cref="ResumedAt"/> (null while still paused).</summary>
/// <param name="PausedAt">When the stream was paused.</param>
/// <param name="ResumedAt">When it was resumed, or null if it is still paused.</param>
public readonly record struct PauseInterval(Instant PausedAt, Instant? ResumedAt);

/// <summary>A settlement: what moves to the recipient now, and the settled total afterwards.</summary>
/// <param name="Amount">accrued − settled before: what this settlement moves.</param>
/// <param name="SettledTotal">The settled total afterwards (= accrued at the settlement instant).</param>
public readonly record struct StreamSettlement(decimal Amount, decimal SettledTotal);

/// <summary>How a cancelled stream's total splits: the recipient keeps what accrued, the payer gets the rest.</summary>
/// <param name="ToRecipient">Everything accrued up to the cancellation instant.</param>
/// <param name="ToPayer">total − accrued; <c>ToRecipient + ToPayer = total</c> exactly.</param>
public readonly record struct StreamCancellation(decimal ToRecipient, decimal ToPayer);

/// <summary>A stream's balances at one instant.</summary>
/// <param name="Accrued">Streamed so far (truncated to the amount scale, capped at the total).</param>
/// <param name="Unsettled">accrued − settled: what the next settlement would move.</param>
/// <param name="Withdrawable">accrued − withdrawn: what the recipient can take out now.</param>
/// <param name="Refundable">total − accrued: what the payer would get back on cancellation now.</param>
/// <param name="IsComplete">Whether nothing more can accrue (the total is reached or the end has passed).</param>
public readonly record struct StreamBalance(decimal Accrued, decimal Unsettled, decimal Withdrawable, decimal Refundable, bool IsComplete);

/// <summary>
/// Exact, allocation-free accrual math for payment streams (seed 002). Pure: needs no store or clock,
/// the caller passes the instant.
/// </summary>
/// <remarks>
/// <para>accrued(t) = min(total, ⌊rate × active(t)⌋) where active(t) is the time between the start and
/// min(t, end) minus every paused interval, counted in whole microseconds, and ⌊·⌋ truncates to the
/// amount scale — so the payer is never charged a unit that has not streamed.</para>
/// <para>Accrual is always computed from the cumulative active time, never from increments since the last
/// settlement, so the sub-unit remainder of one settlement is carried into the next: the settlements of a
/// stream always add up to the accrued amount at the last one, exactly.</para>
/// <para>Pauses must be ordered, non-overlapping, each resumed no earlier than it was paused; only the last
/// may be open. Pauses before the start or after the end simply overlap nothing.</para>
/// </remarks>
public static class StreamAccrual
{
    private static readonly long MaxMicros = StreamTerms.ToMicros(Instant.MaxValue);

    /// <summary>The amount accrued at <paramref name="at"/>.</summary>
    /// <exception cref="PaymentsKitException"><c>invalid_argument</c> for malformed pauses.</exception>
    public static decimal Accrued(StreamTerms terms, ReadOnlySpan<PauseInterval> pauses, Instant at)
    {
        ArgumentNullException.ThrowIfNull(terms);
        return terms.FromMinor(AccruedMinor(terms, pauses, at));
    }

    /// <summary>The active (streaming, unpaused) time between the start and <paramref name="at"/>, in whole microseconds.</summary>
    /// <exception cref="PaymentsKitException"><c>invalid_argument</c> for malformed pauses.</exception>
    public static Duration ActiveDuration(StreamTerms terms, ReadOnlySpan<PauseInterval> pauses, Instant at)
    {
        ArgumentNullException.ThrowIfNull(terms);
        return Duration.FromTicks(ActiveMicros(terms, pauses, StreamTerms.ToMicros(at)) * 10L);
    }

    /// <summary>What the payer would get back if the stream were cancelled at <paramref name="at"/>: total − accrued.</summary>
    public static decimal Refundable(StreamTerms terms, ReadOnlySpan<PauseInterval> pauses, Instant at)
    {
        ArgumentNullException.ThrowIfNull(terms);
        return terms.FromMinor(terms.TotalMinor - AccruedMinor(terms, pauses, at));
    }

    /// <summary>What the recipient can withdraw at <paramref name="at"/>: accrued − withdrawn.</summary>
    /// <param name="terms">The stream terms.</param>
    /// <param name="pauses">The stream's pauses.</param>
    /// <param name="at">The instant.</param>
    /// <param name="withdrawn">Withdrawn so far; at most the amount accrued at <paramref name="at"/>.</param>
    /// <exception cref="PaymentsKitException"><c>invalid_argument</c> when <paramref name="withdrawn"/> is negative, has excess decimals or exceeds the accrued amount.</exception>
    public static decimal Withdrawable(StreamTerms terms, ReadOnlySpan<PauseInterval> pauses, Instant at, decimal withdrawn)
    {
        ArgumentNullException.ThrowIfNull(terms);
        var accrued = AccruedMinor(terms, pauses, at);
        return terms.FromMinor(accrued - NotAbove(terms, withdrawn, "withdrawn", accrued));
    }

    /// <summary>
    /// Settles at <paramref name="at"/>: the amount to move is accrued − settled, and the settled total becomes
    /// the accrued amount. Because accrual is cumulative, no dust is ever lost between settlements.
    /// </summary>
    /// <param name="terms">The stream terms.</param>
    /// <param name="pauses">The stream's pauses.</param>
    /// <param name="at">The settlement instant (not before the previous one).</param>
    /// <param name="settled">The settled total so far; at most the amount accrued at <paramref name="at"/>.</param>
    /// <exception cref="PaymentsKitException"><c>invalid_argument</c> when <paramref name="settled"/> is negative, has excess decimals or exceeds the accrued amount.</exception>
    public static StreamSettlement Settle(StreamTerms terms, ReadOnlySpan<PauseInterval> pauses, Instant at, decimal settled)
    {
        ArgumentNullException.ThrowIfNull(terms);
        var accrued = AccruedMinor(terms, pauses, at);
        var before = NotAbove(terms, settled, "settled", accrued);
        return new StreamSettlement(terms.FromMinor(accrued - before), terms.FromMinor(accrued));
    }

    /// <summary>Splits the total on cancellation at <paramref name="at"/> (Sablier's rule).</summary>
    public static StreamCancellation Cancel(StreamTerms terms, ReadOnlySpan<PauseInterval> pauses, Instant at)
    {
        ArgumentNullException.ThrowIfNull(terms);
        var accrued = AccruedMinor(terms, pauses, at);
        return new StreamCancellation(terms.FromMinor(accrued), terms.FromMinor(terms.TotalMinor - accrued));
    }

    /// <summary>All balances at <paramref name="at"/> in one pass.</summary>
    /// <exception cref="PaymentsKitException"><c>invalid_argument</c> for malformed pauses or settled/withdrawn amounts above the accrued amount.</exception>
    public static StreamBalance Evaluate(StreamTerms terms, ReadOnlySpan<PauseInterval> pauses, Instant at, decimal settled, decimal withdrawn)
    {
        ArgumentNullException.ThrowIfNull(terms);
        var atMicros = StreamTerms.ToMicros(at);
        var accrued = AccruedMinor(terms, pauses, at);
        var settledMinor = NotAbove(terms, settled, "settled", accrued);
        var withdrawnMinor = NotAbove(terms, withdrawn, "withdrawn", accrued);
        var complete = accrued == terms.TotalMinor || atMicros >= terms.EndMicros;
        return new StreamBalance(
            terms.FromMinor(accrued),
            terms.FromMinor(accrued - settledMinor),
            terms.FromMinor(accrued - withdrawnMinor),
            terms.FromMinor(terms.TotalMinor - accrued),
            complete);
    }

    /// <summary>Whether nothing more can accrue at <paramref name="at"/>: the total is reached or the end has passed.</summary>
    public static bool IsComplete(StreamTerms terms, ReadOnlySpan<PauseInterval> pauses, Instant at)
    {
        ArgumentNullException.ThrowIfNull(terms);
        return StreamTerms.ToMicros(at) >= terms.EndMicros || AccruedMinor(terms, pauses, at) == terms.TotalMinor;
    }

    /// <summary>
    /// The first instant at which the stream is complete: when accrual reaches the total (depletion) or the
    /// end time, whichever comes first, given the pauses so far. Null when it cannot be known: an open-ended
    /// stream that is paused now, or one that would not deplete within the representable time range.
    /// </summary>
    /// <exception cref="PaymentsKitException"><c>invalid_argument</c> for malformed pauses.</exception>
    public static Instant? CompletesAt(StreamTerms terms, ReadOnlySpan<PauseInterval> pauses)
    {
        ArgumentNullException.ThrowIfNull(terms);
        ValidatePauses(pauses);

        // The least active time whose accrual reaches the total: ⌈total × 10^15 / rate⌉ microseconds.
        var remaining = (terms.CapProduct + terms.RateNanos - 1) / terms.RateNanos;
        var cursor = terms.StartMicros;
        long? depletion = null;
        var depletes = true;
        foreach (var pause in pauses)
        {
            var pausedAt = Math.Max(StreamTerms.ToMicros(pause.PausedAt), cursor);
            var resumedAt = pause.ResumedAt is { } r ? StreamTerms.ToMicros(r) : long.MaxValue;
            if (resumedAt <= cursor)
            {
                continue;
            }

            if ((UInt128)(pausedAt - cursor) >= remaining)
            {
                break;
            }

            remaining -= (UInt128)(pausedAt - cursor);
            if (pause.ResumedAt is null)
            {
                depletes = false;
                break;
            }

            cursor = resumedAt;
        }

        if (depletes && remaining <= (UInt128)(MaxMicros - cursor))
        {
            depletion = cursor + (long)remaining;
        }

        long? end = terms.End is null ? null : terms.EndMicros;
        long? completion = (depletion, end) switch
        {
            ({ } d, { } e) => Math.Min(d, e),
            ({ } d, null) => d,
            (null, { } e) => e,
            _ => null,
        };
        return completion is { } c ? StreamTerms.FromMicros(c) : null;
    }

    private static UInt128 AccruedMinor(StreamTerms terms, ReadOnlySpan<PauseInterval> pauses, Instant at)
    {
        var active = ActiveMicros(terms, pauses, StreamTerms.ToMicros(at));
        if (active == 0)
        {
            return 0;
        }

        // rate ≤ 10^20 (< 2^67) and active time ≤ the NodaTime range (< 2^59 µs): the product stays below 2^126,
        // so the overflow check the project's checked arithmetic would add can never fire.
        var product = unchecked(terms.RateNanos * (UInt128)active);
        if (product >= terms.CapProduct)
        {
            return terms.TotalMinor;
        }

        // Most evaluations fit 64 bits, where division is a single instruction.
        return product <= ulong.MaxValue
            ? (ulong)product / (ulong)terms.Divisor
            : product / terms.Divisor;
    }

    /// <summary>Active time up to <paramref name="atMicros"/>; validates the pauses in the same pass that subtracts them.</summary>
    private static long ActiveMicros(StreamTerms terms, ReadOnlySpan<PauseInterval> pauses, long atMicros)
    {
        var from = terms.StartMicros;
        var to = Math.Min(atMicros, terms.EndMicros);
        if (to <= from)
        {
            ValidatePauses(pauses);
            return 0;
        }

        var active = to - from;
        for (var i = 0; i < pauses.Length; i++)
        {
            ref readonly var pause = ref pauses[i];
            long resumedAt;
            if (pause.ResumedAt is { } resumed)
            {
                if (resumed < pause.PausedAt)
                {
                    throw PauseError(i, pause, "is resumed before it was paused");
                }

                resumedAt = Math.Min(StreamTerms.ToMicros(resumed), to);
            }
            else
            {
                resumedAt = to;
            }

            if (i > 0)
            {
                CheckOrder(pauses, i);
            }

            var pausedAt = Math.Max(StreamTerms.ToMicros(pause.PausedAt), from);
            if (resumedAt > pausedAt)
            {
                active -= resumedAt - pausedAt;
            }
        }

        return active;
    }

    private static void ValidatePauses(ReadOnlySpan<PauseInterval> pauses)
    {
        for (var i = 0; i < pauses.Length; i++)
        {
            ref readonly var pause = ref pauses[i];
            if (pause.ResumedAt is { } resumed && resumed < pause.PausedAt)
            {
                throw PauseError(i, pause, "is resumed before it was paused");
            }

            if (i > 0)
            {
                CheckOrder(pauses, i);
            }
        }
    }

    /// <summary>Pause <paramref name="index"/> must follow a closed pause, no earlier than it ended.</summary>
    private static void CheckOrder(ReadOnlySpan<PauseInterval> pauses, int index)
    {
        ref readonly var previous = ref pauses[index - 1];
        if (previous.ResumedAt is not { } previousResumed)
        {
            throw PauseError(index - 1, previous, "is still open but is not the last pause");
        }

        if (pauses[index].PausedAt < previousResumed)
        {
            throw PauseError(index, pauses[index], "starts before the previous pause ended (pauses must be ordered and must not overlap)");
        }
    }

    private static PaymentsKitException PauseError(int index, PauseInterval pause, string problem) =>
        PaymentsKitException.InvalidArgument(
            string.Create(CultureInfo.InvariantCulture, $"pauses[{index}]"),
            pause,
            problem);

    private static UInt128 NotAbove(StreamTerms terms, decimal amount, string field, UInt128 accrued)
    {
        var minor = terms.ToMinor(amount, field);
        if (minor > accrued)
        {
            throw PaymentsKitException.InvalidArgument(
                field,
                amount,
                string.Create(CultureInfo.InvariantCulture, $"exceeds the amount accrued at that instant ({terms.FromMinor(accrued)})"));
        }

        return minor;
    }
}
