using FsCheck;
using FsCheck.Fluent;
using NodaTime;
using PaymentsKit.Payouts;

namespace PaymentsKit.Core.Tests.Payouts;

public class DistributionScheduleTests
{
    private static readonly DateTimeZone London = DateTimeZoneProviders.Tzdb["Europe/London"];
    private static readonly DateTimeZone NewYork = DateTimeZoneProviders.Tzdb["America/New_York"];

    private static LocalDateTime Local(DateTimeZone zone, Instant? instant) => instant!.Value.InZone(zone).LocalDateTime;

    [Fact]
    public void Monthly_from_January_31_stays_anchored_to_the_31st()
    {
        var schedule = DistributionSchedule.Recurring(new LocalDateTime(2027, 1, 31, 10, 0), DistributionFrequency.Monthly, London);

        var dates = Enumerable.Range(0, 14).Select(i => schedule.Occurrence(i).InZone(London).Date).ToArray();
        Assert.Equal(
            [
                new LocalDate(2027, 1, 31), new LocalDate(2027, 2, 28), new LocalDate(2027, 3, 31), new LocalDate(2027, 4, 30),
                new LocalDate(2027, 5, 31), new LocalDate(2027, 6, 30), new LocalDate(2027, 7, 31), new LocalDate(2027, 8, 31),
                new LocalDate(2027, 9, 30), new LocalDate(2027, 10, 31), new LocalDate(2027, 11, 30), new LocalDate(2027, 12, 31),
                new LocalDate(2028, 1, 31), new LocalDate(2028, 2, 29),
            ],
            dates);
        Assert.All(Enumerable.Range(0, 14), i => Assert.Equal(new LocalTime(10, 0), schedule.Occurrence(i).InZone(London).TimeOfDay));

        var afterJanuary = schedule.NextAfter(schedule.AnchorInstant);
        Assert.Equal(new LocalDateTime(2027, 2, 28, 10, 0), Local(London, afterJanuary));
        Assert.Equal(new LocalDateTime(2027, 3, 31, 10, 0), Local(London, schedule.NextAfter(afterJanuary!.Value)));
    }

    [Fact]
    public void An_anchor_in_another_calendar_recurs_in_that_calendar()
    {
        // Julian 2026-01-31 is ISO 2026-02-13; its months are Julian months, so it recurs on the Julian 28th, 31st, 30th.
        var julian = DistributionSchedule.Recurring(new LocalDateTime(2026, 1, 31, 9, 0, CalendarSystem.Julian), DistributionFrequency.Monthly, London);
        var daily = DistributionSchedule.Recurring(new LocalDateTime(2026, 1, 31, 9, 0, CalendarSystem.Julian), DistributionFrequency.Daily, London);
        var iso = DistributionSchedule.Recurring(new LocalDateTime(2026, 2, 13, 9, 0), DistributionFrequency.Daily, London);

        var next = julian.NextAfter(julian.AnchorInstant + Duration.FromDays(40));
        Assert.Equal(new LocalDateTime(2026, 3, 31, 9, 0, CalendarSystem.Julian), next!.Value.InZone(London, CalendarSystem.Julian).LocalDateTime);
        var later = iso.AnchorInstant + Duration.FromDays(100);
        Assert.Equal(iso.NextAfter(later), daily.NextAfter(later));
    }

    [Fact]
    public void A_local_time_in_the_spring_gap_moves_forward_by_the_gap()
    {
        // New York skips 02:00–03:00 on 2026-03-08.
        var schedule = DistributionSchedule.Recurring(new LocalDateTime(2026, 3, 7, 2, 30), DistributionFrequency.Daily, NewYork);

        Assert.Equal(Instant.FromUtc(2026, 3, 7, 7, 30), schedule.Occurrence(0));
        Assert.Equal(Instant.FromUtc(2026, 3, 8, 7, 30), schedule.Occurrence(1)); // 03:30 EDT
        Assert.Equal(new LocalDateTime(2026, 3, 8, 3, 30), Local(NewYork, schedule.Occurrence(1)));
        Assert.Equal(Instant.FromUtc(2026, 3, 9, 6, 30), schedule.Occurrence(2)); // 02:30 EDT again
    }

    [Fact]
    public void A_local_time_that_occurs_twice_is_the_earlier_instant()
    {
        // New York repeats 01:00–02:00 on 2026-11-01; the first 01:30 is EDT (UTC−4).
        var schedule = DistributionSchedule.Once(new LocalDateTime(2026, 11, 1, 1, 30), NewYork);

        Assert.Equal(Instant.FromUtc(2026, 11, 1, 5, 30), schedule.AnchorInstant);
        Assert.Equal(
            Instant.FromUtc(2026, 11, 1, 5, 30),
            DistributionSchedule.Resolve(new LocalDateTime(2026, 11, 1, 1, 30), NewYork));
    }

    [Fact]
    public void Hourly_counts_elapsed_hours_through_a_dst_change()
    {
        var schedule = DistributionSchedule.Recurring(new LocalDateTime(2026, 3, 8, 0, 30), DistributionFrequency.Hourly, NewYork);

        Assert.Equal(new LocalDateTime(2026, 3, 8, 1, 30), Local(NewYork, schedule.Occurrence(1)));
        Assert.Equal(new LocalDateTime(2026, 3, 8, 3, 30), Local(NewYork, schedule.Occurrence(2)));
        Assert.Equal(schedule.AnchorInstant + Duration.FromHours(2), schedule.Occurrence(2));
        Assert.Equal(schedule.Occurrence(3), schedule.NextAfter(schedule.Occurrence(2)));
        Assert.Equal(schedule.Occurrence(3), schedule.NextAfter(schedule.Occurrence(2) + Duration.FromMinutes(59)));
    }

    [Fact]
    public void Weekly_keeps_the_weekday_and_local_time()
    {
        var schedule = DistributionSchedule.Recurring(new LocalDateTime(2026, 10, 20, 9, 0), DistributionFrequency.Weekly, London);

        var next = schedule.NextAfter(Instant.FromUtc(2026, 11, 1, 0, 0));
        Assert.Equal(new LocalDateTime(2026, 11, 3, 9, 0), Local(London, next));
        Assert.Equal(Instant.FromUtc(2026, 11, 3, 9, 0), next); // GMT after the clocks went back
    }

    [Fact]
    public void A_one_off_schedule_has_one_occurrence()
    {
        var schedule = DistributionSchedule.Once(new LocalDateTime(2026, 6, 1, 12, 0), London);

        Assert.Equal(DistributionExecution.Scheduled, schedule.Execution);
        Assert.Equal(Instant.FromUtc(2026, 6, 1, 11, 0), schedule.NextAfter(Instant.FromUtc(2026, 1, 1, 0, 0)));
        Assert.Null(schedule.NextAfter(schedule.AnchorInstant));
        Assert.Equal(PaymentsKitErrorCodes.InvalidArgument, Assert.Throws<PaymentsKitException>(() => schedule.Occurrence(1)).Code);
    }

    [Fact]
    public void A_start_in_the_future_is_the_next_occurrence()
    {
        var schedule = DistributionSchedule.Recurring(new LocalDateTime(2030, 1, 1, 0, 0), DistributionFrequency.Daily, London);

        Assert.Equal(schedule.AnchorInstant, schedule.NextAfter(Instant.FromUtc(2026, 1, 1, 0, 0)));
    }

    [Fact]
    public void Past_the_calendar_there_is_no_next_occurrence()
    {
        var schedule = DistributionSchedule.Recurring(new LocalDateTime(9999, 12, 1, 0, 0), DistributionFrequency.Monthly, DateTimeZone.Utc);

        Assert.Null(schedule.NextAfter(Instant.FromUtc(9999, 12, 2, 0, 0)));
    }

    [Fact]
    public void Bad_input_is_rejected()
    {
        var schedule = DistributionSchedule.Recurring(new LocalDateTime(2026, 1, 1, 0, 0), DistributionFrequency.Daily, London);

        Assert.Equal(PaymentsKitErrorCodes.InvalidArgument, Assert.Throws<PaymentsKitException>(() => schedule.Occurrence(-1)).Code);
        Assert.Equal(PaymentsKitErrorCodes.InvalidArgument, Assert.Throws<PaymentsKitException>(() => DistributionSchedule.Once(default, null!)).Code);
        Assert.Equal(
            PaymentsKitErrorCodes.InvalidArgument,
            Assert.Throws<PaymentsKitException>(() => DistributionSchedule.Recurring(default, (DistributionFrequency)42, London)).Code);
    }

    private static readonly string[] Zones =
        ["Europe/London", "America/New_York", "Australia/Sydney", "Australia/Lord_Howe", "Asia/Kolkata", "Pacific/Chatham", "UTC"];

    [Fact]
    public void Next_occurrence_is_the_first_one_strictly_after_Meets_Specification() =>
        Prop.ForAll(
            Arb.From(
                from zone in Gen.Elements(Zones)
                from frequency in Gen.Elements(Enum.GetValues<DistributionFrequency>())
                from days in Gen.Choose(0, 3_650)
                from minutes in Gen.Choose(0, 1_439)
                from afterHours in Gen.Choose(-100, 24 * 800)
                select (zone, frequency, days, minutes, afterHours)),
            t =>
            {
                var tz = DateTimeZoneProviders.Tzdb[t.zone];
                var anchor = new LocalDateTime(2024, 1, 1, 0, 0).PlusDays(t.days).PlusMinutes(t.minutes);
                var schedule = DistributionSchedule.Recurring(anchor, t.frequency, tz);
                var after = schedule.AnchorInstant + Duration.FromHours(t.afterHours) + Duration.FromSeconds(t.minutes);

                var next = schedule.NextAfter(after);
                Assert.NotNull(next);
                Assert.True(next > after);

                // It is an occurrence, and the one before it is not after `after`.
                var index = Enumerable.Range(0, 30_000).First(i => schedule.Occurrence(i) >= next);
                Assert.Equal(next, schedule.Occurrence(index));
                Assert.True(index == 0 || schedule.Occurrence(index - 1) <= after);
            }).QuickCheckThrowOnFailure();

    [Fact]
    public void Monthly_occurrences_land_on_the_anchor_day_or_the_month_end_Meets_Specification() =>
        Prop.ForAll(
            Arb.From(from zone in Gen.Elements(Zones) from day in Gen.Choose(1, 31) from month in Gen.Choose(1, 12) from n in Gen.Choose(0, 600) select (zone, day, month, n)),
            t =>
            {
                var tz = DateTimeZoneProviders.Tzdb[t.zone];
                var day = Math.Min(t.day, CalendarSystem.Iso.GetDaysInMonth(2025, t.month));
                var schedule = DistributionSchedule.Recurring(new LocalDateTime(2025, t.month, day, 12, 0), DistributionFrequency.Monthly, tz);

                var date = schedule.Occurrence(t.n).InZone(tz).Date;
                var expectedMonth = new LocalDate(2025, t.month, 1).PlusMonths(t.n);
                Assert.Equal(expectedMonth.Year, date.Year);
                Assert.Equal(expectedMonth.Month, date.Month);
                Assert.Equal(Math.Min(day, CalendarSystem.Iso.GetDaysInMonth(date.Year, date.Month)), date.Day);
            }).QuickCheckThrowOnFailure();
}
