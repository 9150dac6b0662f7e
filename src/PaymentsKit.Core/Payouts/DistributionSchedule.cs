using System.Globalization;
using NodaTime;
using NodaTime.TimeZones;

namespace PaymentsKit.Payouts;

/// <summary>
/// When a SCHEDULED or RECURRING distribution runs, computed with NodaTime in a configured time zone.
/// Immutable and pure: the caller passes the instant to compute from.
/// </summary>
/// <remarks>
/// <para>Occurrence n of a recurring schedule is computed from the anchor, never from the previous
/// occurrence, so nothing drifts: DAILY is the anchor date + n days, WEEKLY + 7n days, MONTHLY + n months
/// (a Jan 31 anchor gives Feb 28/29, Mar 31, Apr 30, …), each at the anchor's local time of day. HOURLY is
/// the anchor instant + n hours of elapsed time, unaffected by DST.</para>
/// <para>DST rule (<see cref="Resolve"/>): a local time that falls in a gap is moved forward by the gap's
/// length (02:30 on a spring-forward night becomes 03:30); a local time that occurs twice is the earlier
/// instant. This is NodaTime's lenient resolver.</para>
/// </remarks>
public sealed class DistributionSchedule
{
    private DistributionSchedule(DistributionExecution execution, LocalDateTime anchor, DistributionFrequency? frequency, DateTimeZone zone)
    {
        Execution = execution;
        Anchor = anchor;
        Frequency = frequency;
        Zone = zone;
        AnchorInstant = Resolve(anchor, zone);
    }

    /// <summary><see cref="DistributionExecution.Scheduled"/> or <see cref="DistributionExecution.Recurring"/>.</summary>
    public DistributionExecution Execution { get; }

    /// <summary>The scheduled time (SCHEDULED) or the start time that anchors the recurrence (RECURRING), local to <see cref="Zone"/>.</summary>
    public LocalDateTime Anchor { get; }

    /// <summary>The recurrence, for RECURRING schedules.</summary>
    public DistributionFrequency? Frequency { get; }

    /// <summary>The time zone local times are read in.</summary>
    public DateTimeZone Zone { get; }

    /// <summary>The instant of the first occurrence.</summary>
    public Instant AnchorInstant { get; }

    /// <summary>A one-off schedule (SCHEDULED) at a local time in a zone.</summary>
    /// <exception cref="PaymentsKitException"><c>invalid_argument</c> when <paramref name="zone"/> is null.</exception>
    public static DistributionSchedule Once(LocalDateTime at, DateTimeZone zone) =>
        new(DistributionExecution.Scheduled, at, null, Guard.NotNull(zone, "time_zone"));

    /// <summary>A recurring schedule (RECURRING) anchored at a local start time in a zone.</summary>
    /// <exception cref="PaymentsKitException"><c>invalid_argument</c> for a null zone or an undefined frequency.</exception>
    public static DistributionSchedule Recurring(LocalDateTime start, DistributionFrequency frequency, DateTimeZone zone)
    {
        if (!Enum.IsDefined(frequency))
        {
            throw PaymentsKitException.InvalidArgument("frequency", frequency, "must be HOURLY, DAILY, WEEKLY or MONTHLY");
        }

        return new(DistributionExecution.Recurring, start, frequency, Guard.NotNull(zone, "time_zone"));
    }

    /// <summary>Maps a local time to an instant with the schedule's single DST rule (see remarks on the type).</summary>
    public static Instant Resolve(LocalDateTime local, DateTimeZone zone)
    {
        ArgumentNullException.ThrowIfNull(zone);
        return zone.ResolveLocal(local, Resolvers.LenientResolver).ToInstant();
    }

    /// <summary>The instant of occurrence <paramref name="index"/> (0 is the anchor).</summary>
    /// <exception cref="PaymentsKitException"><c>invalid_argument</c> for a negative index, or an index above 0 on a one-off schedule.</exception>
    public Instant Occurrence(long index)
    {
        if (index < 0 || (Frequency is null && index > 0))
        {
            throw PaymentsKitException.InvalidArgument(
                "index", index, Frequency is null ? "must be 0 for a one-off schedule" : "must not be negative");
        }

        return Frequency switch
        {
            null => AnchorInstant,
            DistributionFrequency.Hourly => AnchorInstant + Duration.FromHours(index),
            DistributionFrequency.Daily => Resolve(Anchor.PlusDays(checked((int)index)), Zone),
            DistributionFrequency.Weekly => Resolve(Anchor.PlusWeeks(checked((int)index)), Zone),
            _ => Resolve(Anchor.Date.PlusMonths(checked((int)index)) + Anchor.TimeOfDay, Zone),
        };
    }

    /// <summary>
    /// The first occurrence strictly after <paramref name="after"/>, or null when there is none (a one-off schedule
    /// already past, or beyond the calendar's range). A worker that was down for several occurrences runs once:
    /// it executes when <c>NextAfter(lastRun) ≤ now</c> and then waits for <c>NextAfter(now)</c>.
    /// </summary>
    public Instant? NextAfter(Instant after)
    {
        if (after < AnchorInstant)
        {
            return AnchorInstant;
        }

        if (Frequency is not { } frequency)
        {
            return null;
        }

        try
        {
            var estimate = Estimate(frequency, after);

            // Occurrences strictly increase with the index, so step from the estimate to the first one after `after`.
            var index = Math.Max(0, estimate - 1);
            while (index > 0 && Occurrence(index - 1) > after)
            {
                index--;
            }

            while (Occurrence(index) <= after)
            {
                index++;
            }

            return Occurrence(index);
        }
        catch (Exception ex) when (ex is OverflowException or ArgumentOutOfRangeException)
        {
            return null;
        }
    }

    private long Estimate(DistributionFrequency frequency, Instant after)
    {
        if (frequency == DistributionFrequency.Hourly)
        {
            return (after - AnchorInstant).BclCompatibleTicks / NodaConstants.TicksPerHour;
        }

        // In the anchor's calendar: NodaTime measures a period only between dates of one calendar.
        var local = after.InZone(Zone, Anchor.Calendar).Date;
        var units = frequency == DistributionFrequency.Monthly ? PeriodUnits.Months : PeriodUnits.Days;
        var period = Period.Between(Anchor.Date, local, units);
        return frequency switch
        {
            DistributionFrequency.Daily => period.Days,
            DistributionFrequency.Weekly => period.Days / 7,
            _ => period.Months,
        };
    }

    /// <inheritdoc />
    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"{Execution} {Frequency} from {Anchor:uuuu-MM-dd'T'HH:mm:ss} {Zone.Id}");
}
