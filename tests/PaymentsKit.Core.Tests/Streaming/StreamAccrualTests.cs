using NodaTime;
using PaymentsKit.Streaming;

namespace PaymentsKit.Core.Tests.Streaming;

public class StreamAccrualTests
{
    private static readonly Instant T0 = Instant.FromUtc(2026, 3, 1, 0, 0);
    private static readonly Asset Units = Asset.Create("UNIT", 9);

    private static StreamTerms Terms(decimal rate, decimal total, Instant start, Instant? end = null, Asset? asset = null) =>
        StreamTerms.Create(asset ?? Units, rate, total, start, end);

    private static PaymentsKitException Fails(string code, Action action)
    {
        var ex = Assert.Throws<PaymentsKitException>(action);
        Assert.Equal(code, ex.Code);
        return ex;
    }

    [Fact]
    public void Ten_units_per_day_over_one_day_with_an_end_accrues_the_truncated_rate_times_a_day()
    {
        // 10/86,400 is not representable in 9 decimals; the largest rate that does not overrun the total is 0.000115740.
        var terms = Terms(0.000115740m, 10m, T0, T0 + Duration.FromDays(1));

        Assert.Equal(0m, StreamAccrual.Accrued(terms, [], T0));
        Assert.Equal(4.999968m, StreamAccrual.Accrued(terms, [], T0 + Duration.FromHours(12)));
        Assert.Equal(9.999936m, StreamAccrual.Accrued(terms, [], T0 + Duration.FromDays(1)));
        Assert.Equal(9.999936m, StreamAccrual.Accrued(terms, [], T0 + Duration.FromDays(30)));
        Assert.Equal(0.000064m, StreamAccrual.Refundable(terms, [], T0 + Duration.FromDays(1)));
        Assert.Equal(T0 + Duration.FromDays(1), StreamAccrual.CompletesAt(terms, []));
        Assert.False(StreamAccrual.IsComplete(terms, [], T0 + Duration.FromDays(1) - Duration.FromTicks(10)));
        Assert.True(StreamAccrual.IsComplete(terms, [], T0 + Duration.FromDays(1)));
    }

    [Fact]
    public void Ten_units_per_day_open_ended_depletes_at_the_total_just_before_a_day()
    {
        var terms = Terms(0.000115741m, 10m, T0);
        var depletion = T0 + Duration.FromTicks(86_399_806_465L * 10);

        Assert.Equal(depletion, StreamAccrual.CompletesAt(terms, []));
        Assert.Equal(10m, StreamAccrual.Accrued(terms, [], depletion));
        Assert.Equal(9.999999999m, StreamAccrual.Accrued(terms, [], depletion - Duration.FromTicks(10)));
        Assert.Equal(10m, StreamAccrual.Accrued(terms, [], T0 + Duration.FromDays(1)));
        Assert.Equal(0m, StreamAccrual.Refundable(terms, [], T0 + Duration.FromDays(1)));
        Assert.True(StreamAccrual.IsComplete(terms, [], depletion));
        Assert.False(StreamAccrual.IsComplete(terms, [], depletion - Duration.FromTicks(10)));
    }

    [Fact]
    public void A_stream_starting_in_the_future_accrues_nothing_before_its_start()
    {
        var now = T0;
        var terms = Terms(2m, 1_000m, now + Duration.FromHours(1));

        Assert.Equal(0m, StreamAccrual.Accrued(terms, [], now));
        Assert.Equal(0m, StreamAccrual.Accrued(terms, [], now + Duration.FromMinutes(59)));
        Assert.Equal(0m, StreamAccrual.Accrued(terms, [], now + Duration.FromHours(1)));
        Assert.Equal(2m, StreamAccrual.Accrued(terms, [], now + Duration.FromHours(1) + Duration.FromSeconds(1)));
        Assert.Equal(1_000m, StreamAccrual.Refundable(terms, [], now));
        Assert.False(StreamAccrual.IsComplete(terms, [], now));
    }

    [Fact]
    public void A_stream_whose_end_is_in_the_past_is_complete_with_rate_times_duration_accrued()
    {
        var now = T0 + Duration.FromDays(10);
        var terms = Terms(0.5m, 100m, T0, T0 + Duration.FromSeconds(120));

        Assert.True(StreamAccrual.IsComplete(terms, [], now));
        Assert.Equal(60m, StreamAccrual.Accrued(terms, [], now));
        Assert.Equal(new StreamCancellation(60m, 40m), StreamAccrual.Cancel(terms, [], now));
        Assert.Equal(T0 + Duration.FromSeconds(120), StreamAccrual.CompletesAt(terms, []));
        var balance = StreamAccrual.Evaluate(terms, [], now, 10m, 5m);
        Assert.Equal(new StreamBalance(60m, 50m, 55m, 40m, true), balance);
    }

    [Fact]
    public void Nothing_accrues_while_paused_and_nothing_owed_before_a_pause_is_lost()
    {
        // JPY has no decimals: 0.6 s before the pause and 0.6 s after it must add up to one whole yen.
        var terms = Terms(1m, 100m, T0, asset: AssetRegistry.Jpy);
        PauseInterval[] pauses = [new(T0 + Duration.FromMilliseconds(600), T0 + Duration.FromSeconds(10))];

        Assert.Equal(0m, StreamAccrual.Accrued(terms, pauses, T0 + Duration.FromMilliseconds(600)));
        Assert.Equal(0m, StreamAccrual.Accrued(terms, pauses, T0 + Duration.FromSeconds(10)));
        Assert.Equal(1m, StreamAccrual.Accrued(terms, pauses, T0 + Duration.FromMilliseconds(10_600)));
        Assert.Equal(Duration.FromMilliseconds(1_200), StreamAccrual.ActiveDuration(terms, pauses, T0 + Duration.FromMilliseconds(10_600)));
    }

    [Fact]
    public void An_open_pause_freezes_accrual_and_completion_is_unknown_for_an_open_ended_stream()
    {
        var terms = Terms(1m, 100m, T0);
        PauseInterval[] pauses = [new(T0 + Duration.FromSeconds(10), T0 + Duration.FromSeconds(20)), new(T0 + Duration.FromSeconds(30), null)];

        Assert.Equal(20m, StreamAccrual.Accrued(terms, pauses, T0 + Duration.FromSeconds(30)));
        Assert.Equal(20m, StreamAccrual.Accrued(terms, pauses, T0 + Duration.FromDays(365)));
        Assert.Null(StreamAccrual.CompletesAt(terms, pauses));

        PauseInterval[] resumed = [pauses[0], new(T0 + Duration.FromSeconds(30), T0 + Duration.FromSeconds(50))];
        Assert.Equal(T0 + Duration.FromSeconds(130), StreamAccrual.CompletesAt(terms, resumed));
    }

    [Fact]
    public void An_open_pause_on_a_stream_with_an_end_completes_at_the_end()
    {
        var terms = Terms(1m, 100m, T0, T0 + Duration.FromSeconds(50));
        PauseInterval[] pauses = [new(T0 + Duration.FromSeconds(30), null)];

        Assert.Equal(T0 + Duration.FromSeconds(50), StreamAccrual.CompletesAt(terms, pauses));
        Assert.Equal(new StreamCancellation(30m, 70m), StreamAccrual.Cancel(terms, pauses, T0 + Duration.FromSeconds(60)));
    }

    [Fact]
    public void Sub_unit_remainders_are_carried_across_settlements()
    {
        // XLM has 7 decimals: one nano-lumen per second needs 100 s for the first stroop.
        var terms = Terms(0.000000001m, 1m, T0, asset: AssetRegistry.Xlm);

        var first = StreamAccrual.Settle(terms, [], T0 + Duration.FromSeconds(99), 0m);
        Assert.Equal(new StreamSettlement(0m, 0m), first);
        var second = StreamAccrual.Settle(terms, [], T0 + Duration.FromSeconds(150), first.SettledTotal);
        Assert.Equal(new StreamSettlement(0.0000001m, 0.0000001m), second);
        var third = StreamAccrual.Settle(terms, [], T0 + Duration.FromSeconds(200), second.SettledTotal);
        Assert.Equal(new StreamSettlement(0.0000001m, 0.0000002m), third);
    }

    [Fact]
    public void Amounts_are_truncated_never_rounded_up()
    {
        var terms = Terms(0.009m, 10m, T0, asset: AssetRegistry.Usd);

        Assert.Equal(0.00m, StreamAccrual.Accrued(terms, [], T0 + Duration.FromSeconds(1)));
        Assert.Equal(0.01m, StreamAccrual.Accrued(terms, [], T0 + Duration.FromSeconds(2)));
        Assert.Equal(0.09m, StreamAccrual.Accrued(terms, [], T0 + Duration.FromSeconds(11)));
        Assert.Equal(2, StreamAccrual.Accrued(terms, [], T0 + Duration.FromSeconds(11)).Scale);
    }

    [Fact]
    public void Assets_with_more_than_nine_decimals_stream_in_nine()
    {
        var terms = Terms(0.000000001m, 1m, T0, asset: AssetRegistry.Eth);

        Assert.Equal(9, terms.AmountScale);
        Assert.Equal(0.000000003m, StreamAccrual.Accrued(terms, [], T0 + Duration.FromMilliseconds(3_999)));
        Fails(PaymentsKitErrorCodes.AmountPrecision, () => Terms(1m, 1.0000000001m, T0, asset: AssetRegistry.Eth));
    }

    [Fact]
    public void The_largest_rate_over_the_longest_time_neither_overflows_nor_exceeds_the_total()
    {
        var terms = Terms(StreamTerms.MaxValue, StreamTerms.MaxValue, Instant.MinValue);

        Assert.Equal(StreamTerms.MaxValue, StreamAccrual.Accrued(terms, [], Instant.MaxValue));
        Assert.Equal(Instant.MinValue + Duration.FromSeconds(1), StreamAccrual.CompletesAt(terms, []));

        var slow = Terms(0.000000001m, StreamTerms.MaxValue, Instant.MinValue);
        Assert.Null(StreamAccrual.CompletesAt(slow, []));
        Assert.True(StreamAccrual.Accrued(slow, [], Instant.MaxValue) < StreamTerms.MaxValue);
    }

    [Fact]
    public void Withdrawable_is_accrued_minus_withdrawn()
    {
        var terms = Terms(1m, 100m, T0);

        Assert.Equal(25m, StreamAccrual.Withdrawable(terms, [], T0 + Duration.FromSeconds(40), 15m));
        Fails(PaymentsKitErrorCodes.InvalidArgument, () => StreamAccrual.Withdrawable(terms, [], T0 + Duration.FromSeconds(10), 15m));
    }

    [Theory]
    [InlineData("0")]
    [InlineData("-1")]
    [InlineData("100000000000")]
    public void Rate_out_of_range_is_rejected(string rate)
    {
        var ex = Fails(PaymentsKitErrorCodes.AmountOutOfRange, () => Terms(decimal.Parse(rate, System.Globalization.CultureInfo.InvariantCulture), 10m, T0));
        Assert.Equal("rate_per_second", ex.Context["field"]);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("-5")]
    public void Total_out_of_range_is_rejected(string total)
    {
        var ex = Fails(PaymentsKitErrorCodes.AmountOutOfRange, () => Terms(1m, decimal.Parse(total, System.Globalization.CultureInfo.InvariantCulture), T0));
        Assert.Equal("total_amount", ex.Context["field"]);
    }

    [Fact]
    public void Excess_precision_is_rejected()
    {
        var rate = Fails(PaymentsKitErrorCodes.AmountPrecision, () => Terms(0.0000000001m, 10m, T0));
        Assert.Equal("rate_per_second", rate.Context["field"]);
        var total = Fails(PaymentsKitErrorCodes.AmountPrecision, () => Terms(1m, 10.001m, T0, asset: AssetRegistry.Usd));
        Assert.Equal("total_amount", total.Context["field"]);
        Fails(PaymentsKitErrorCodes.AmountPrecision, () => Terms(1m, 1.0000001m, T0, asset: AssetRegistry.Usdc));
    }

    [Fact]
    public void End_not_after_start_is_rejected()
    {
        var before = Fails(PaymentsKitErrorCodes.InvalidArgument, () => Terms(1m, 10m, T0, T0 - Duration.FromSeconds(1)));
        Assert.Equal("end_time", before.Context["field"]);
        Fails(PaymentsKitErrorCodes.InvalidArgument, () => Terms(1m, 10m, T0, T0));
    }

    [Fact]
    public void Rate_times_duration_beyond_the_total_is_rejected_when_an_end_is_set()
    {
        var ex = Fails(PaymentsKitErrorCodes.AmountOutOfRange, () => Terms(0.000115741m, 10m, T0, T0 + Duration.FromDays(1)));
        Assert.Equal("rate_per_second", ex.Context["field"]);

        // Exactly the total is fine, and open-ended streams are simply capped.
        Assert.NotNull(Terms(1m, 10m, T0, T0 + Duration.FromSeconds(10)));
        Assert.NotNull(Terms(1m, 10m, T0));
    }

    [Fact]
    public void Malformed_pauses_are_rejected()
    {
        var terms = Terms(1m, 100m, T0);
        var at = T0 + Duration.FromSeconds(100);

        Fails(PaymentsKitErrorCodes.InvalidArgument, () => StreamAccrual.Accrued(terms, [new(T0 + Duration.FromSeconds(5), T0 + Duration.FromSeconds(4))], at));
        Fails(PaymentsKitErrorCodes.InvalidArgument, () => StreamAccrual.Accrued(terms, [new(T0, null), new(T0 + Duration.FromSeconds(5), T0 + Duration.FromSeconds(6))], at));
        Fails(PaymentsKitErrorCodes.InvalidArgument, () => StreamAccrual.Accrued(
            terms,
            [new(T0, T0 + Duration.FromSeconds(10)), new(T0 + Duration.FromSeconds(5), T0 + Duration.FromSeconds(20))],
            at));
        Fails(PaymentsKitErrorCodes.InvalidArgument, () => StreamAccrual.CompletesAt(terms, [new(T0 + Duration.FromSeconds(5), T0)]));
    }

    [Fact]
    public void Settled_or_withdrawn_amounts_that_cannot_be_right_are_rejected()
    {
        var terms = Terms(1m, 100m, T0);
        var at = T0 + Duration.FromSeconds(10);

        Fails(PaymentsKitErrorCodes.InvalidArgument, () => StreamAccrual.Settle(terms, [], at, 11m));
        Fails(PaymentsKitErrorCodes.InvalidArgument, () => StreamAccrual.Settle(terms, [], at, -1m));
        Fails(PaymentsKitErrorCodes.InvalidArgument, () => StreamAccrual.Settle(terms, [], at, 0.0000000001m));
        Fails(PaymentsKitErrorCodes.InvalidArgument, () => StreamAccrual.Evaluate(terms, [], at, 1m, 12m));
    }
}
