using System.Diagnostics;
using PaymentsKit.Payouts;
using Xunit.Abstractions;

namespace PaymentsKit.Core.Tests.Payouts;

public class AllocationTests(ITestOutputHelper output)
{
    private static PaymentsKitException Fails(string code, Action action)
    {
        var ex = Assert.Throws<PaymentsKitException>(action);
        Assert.Equal(code, ex.Code);
        return ex;
    }

    [Fact]
    public void One_hundred_over_holdings_1_2_3_is_17_33_50()
    {
        HolderBalance[] holders = [new("0.0.1", 1), new("0.0.2", 2), new("0.0.3", 3)];

        Assert.Equal([17L, 33L, 50L], Allocation.ProRata(100, holders));
    }

    [Fact]
    public void One_thousand_and_three_over_50_50_is_502_501_by_account_id_whatever_the_input_order()
    {
        Assert.Equal([502L, 501L], Allocation.ProRata(1_003, [new("0.0.1001", 50), new("0.0.1002", 50)]));
        Assert.Equal([501L, 502L], Allocation.ProRata(1_003, [new("0.0.1002", 50), new("0.0.1001", 50)]));
    }

    [Fact]
    public void Equal_remainders_go_to_the_larger_holding_first()
    {
        // Exact shares 0.5 and 1.5: one unit is left over and both remainders are 2/4.
        Assert.Equal([0L, 2L], Allocation.ProRata(2, [new("a", 1), new("b", 3)]));
        Assert.Equal([2L, 0L], Allocation.ProRata(2, [new("b", 3), new("a", 1)]));
    }

    [Fact]
    public void Holders_with_zero_balance_get_nothing()
    {
        Assert.Equal([0L, 10L, 0L], Allocation.ProRata(10, [new("a", 0), new("b", 7), new("c", 0)]));
    }

    [Fact]
    public void A_zero_total_allocates_zeros_and_an_empty_snapshot_allocates_nothing()
    {
        Assert.Equal([0L, 0L], Allocation.ProRata(0, [new("a", 0), new("b", 5)]));
        Assert.Empty(Allocation.ProRata(0, []));
    }

    [Fact]
    public void The_largest_values_are_exact()
    {
        HolderBalance[] holders = [new("a", long.MaxValue), new("b", long.MaxValue), new("c", 1)];
        var amounts = Allocation.ProRata(long.MaxValue, holders);

        Assert.Equal(long.MaxValue, amounts.Sum(a => (decimal)a));
        Assert.Equal([4_611_686_018_427_387_903L, 4_611_686_018_427_387_903L, 1L], amounts);
    }

    [Fact]
    public void Bad_input_is_rejected_with_its_code()
    {
        Fails(PaymentsKitErrorCodes.AmountOutOfRange, () => Allocation.ProRata(-1, [new("a", 1)]));
        Fails(PaymentsKitErrorCodes.InvalidArgument, () => Allocation.ProRata(5, [new("a", 0), new("b", 0)]));
        Fails(PaymentsKitErrorCodes.InvalidArgument, () => Allocation.ProRata(5, []));
        var negative = Fails(PaymentsKitErrorCodes.InvalidArgument, () => Allocation.ProRata(5, [new("a", 1), new("b", -1)]));
        Assert.Equal("holders[1].balance", negative.Context["field"]);
        var duplicate = Fails(PaymentsKitErrorCodes.InvalidArgument, () => Allocation.ProRata(5, [new("a", 1), new("a", 2)]));
        Assert.Equal("holders[1].account_id", duplicate.Context["field"]);
        Fails(PaymentsKitErrorCodes.InvalidArgument, () => Allocation.ProRata(5, [new(" ", 1)]));
        Fails(PaymentsKitErrorCodes.InvalidArgument, () => Allocation.ProRata(5, [new("a", 1)], new long[0]));
    }

    [Fact]
    public void Percentage_pays_a_truncated_percentage_of_the_pool_pro_rata()
    {
        Assert.Equal(125_000L, Allocation.PercentageOfPool(1_000_000, 12.5m));
        Assert.Equal(33L, Allocation.PercentageOfPool(100, 33.333333333333m));
        Assert.Equal(100L, Allocation.PercentageOfPool(100, 100m));
        Assert.Equal(long.MaxValue, Allocation.PercentageOfPool(long.MaxValue, 100.000000000000m));
        Assert.Equal([17L, 33L, 50L], Allocation.Percentage(200, 50m, [new("0.0.1", 1), new("0.0.2", 2), new("0.0.3", 3)]));
    }

    [Fact]
    public void Percentage_bad_input_is_rejected_with_its_code()
    {
        Fails(PaymentsKitErrorCodes.AmountOutOfRange, () => Allocation.PercentageOfPool(100, 0m));
        Fails(PaymentsKitErrorCodes.AmountOutOfRange, () => Allocation.PercentageOfPool(100, -5m));
        Fails(PaymentsKitErrorCodes.AmountOutOfRange, () => Allocation.PercentageOfPool(100, 100.000000000001m));
        Fails(PaymentsKitErrorCodes.AmountOutOfRange, () => Allocation.PercentageOfPool(-1, 5m));
        Fails(PaymentsKitErrorCodes.AmountPrecision, () => Allocation.PercentageOfPool(100, 1.0000000000001m));
    }

    [Fact]
    public void Per_share_pays_each_holder_its_truncated_shares_times_the_rate()
    {
        // 0.05 USDC (6 decimals) per share of a 2-decimal token: 1.50 shares → 0.075 USDC, 0.01 share → 0.0005 USDC.
        Assert.Equal([75_000L, 500L, 0L], Allocation.PerShare(0.05m, 6, 2, [new("a", 150), new("b", 1), new("c", 0)]));

        // 0.0000001 USDC per share truncates to nothing below ten shares: toward the payer.
        Assert.Equal([0L, 1L], Allocation.PerShare(0.0000001m, 6, 0, [new("a", 9), new("b", 10)]));

        // The widest scale gap (36 digits) truncates to nothing rather than failing.
        Assert.Equal([0L], Allocation.PerShare(0.000000000000000001m, 0, 18, [new("a", long.MaxValue)]));
        Assert.Equal([20_000_000_000L], Allocation.PerShare(2m, 9, 0, [new("a", 10)]));
    }

    [Fact]
    public void Per_share_bad_input_is_rejected_with_its_code()
    {
        Fails(PaymentsKitErrorCodes.AmountOutOfRange, () => Allocation.PerShare(0m, 6, 0, [new("a", 1)]));
        Fails(PaymentsKitErrorCodes.InvalidArgument, () => Allocation.PerShare(1m, 19, 0, [new("a", 1)]));
        Fails(PaymentsKitErrorCodes.InvalidArgument, () => Allocation.PerShare(1m, 6, -1, [new("a", 1)]));
        Fails(PaymentsKitErrorCodes.AmountPrecision, () => Allocation.PerShare(0.0000000000000000001m, 6, 0, [new("a", 1)]));
        Fails(PaymentsKitErrorCodes.ArithmeticOverflow, () => Allocation.PerShare(10_000_000_000m, 6, 0, [new("a", long.MaxValue)]));
        Fails(PaymentsKitErrorCodes.ArithmeticOverflow, () => Allocation.PerShare(1m, 0, 0, [new("a", long.MaxValue), new("b", 1)]));
        Fails(PaymentsKitErrorCodes.ArithmeticOverflow, () => Allocation.PerShare(79_228_162_514_264_337_593_543_950_335m, 0, 0, [new("a", 1)]));
        Fails(PaymentsKitErrorCodes.InvalidArgument, () => Allocation.PerShare(1m, 6, 0, [new("a", 1), new("a", 1)]));
    }

    [Fact]
    public void One_million_holders_allocate_exactly_and_report_the_time()
    {
        var random = new Random(20260101);
        var holders = new HolderBalance[1_000_000];
        for (var i = 0; i < holders.Length; i++)
        {
            holders[i] = new HolderBalance("0.0." + (100_000 + i).ToString(System.Globalization.CultureInfo.InvariantCulture), random.NextInt64(0, 10_000_000_000));
        }

        const long total = 123_456_789_012_345;
        Allocation.ProRata(total, holders.AsSpan(0, 1_000)); // warm-up
        // CPU time as well as wall time: the shared CI machine's load inflates the wall clock.
        var thread = Process.GetCurrentProcess().TotalProcessorTime;
        var stopwatch = Stopwatch.StartNew();
        var amounts = Allocation.ProRata(total, holders);
        stopwatch.Stop();
        var cpu = Process.GetCurrentProcess().TotalProcessorTime - thread;

        output.WriteLine($"Allocation of {total} over {holders.Length:N0} holders: {stopwatch.Elapsed.TotalMilliseconds:F1} ms wall, {cpu.TotalMilliseconds:F1} ms CPU");
        Assert.Equal(total, amounts.Sum());
    }
}
