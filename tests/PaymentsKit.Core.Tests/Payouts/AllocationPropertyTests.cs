using System.Numerics;
using FsCheck;
using FsCheck.Fluent;
using PaymentsKit.Payouts;

namespace PaymentsKit.Core.Tests.Payouts;

public class AllocationPropertyTests
{
    public sealed record Case(long Total, HolderBalance[] Holders, int Seed)
    {
        public override string ToString() => $"total={Total} holders=[{string.Join(", ", Holders.Select(h => $"{h.AccountId}:{h.Balance}"))}]";
    }

    private static Gen<long> Long(long max) =>
        from hi in Gen.Choose(0, int.MaxValue)
        from lo in Gen.Choose(0, int.MaxValue)
        select (long)((((ulong)hi << 32) | (uint)lo) % ((ulong)max + 1));

    private static Gen<long> Balances =>
        Gen.OneOf(Gen.Constant(0L), Gen.Choose(0, 10).Select(i => (long)i), Long(1_000_000), Long(long.MaxValue / 64), Long(long.MaxValue));

    private static Gen<Case> Cases =>
        from count in Gen.Choose(1, 40)
        from balances in Gen.ArrayOf(Balances, count)
        from equal in Gen.Elements(false, false, true)
        from total in Gen.OneOf(Gen.Choose(0, 1_000).Select(i => (long)i), Long(1_000_000_000), Long(long.MaxValue))
        from seed in Gen.Choose(0, int.MaxValue)
        let holders = balances
            .Select((b, i) => new HolderBalance("0.0." + ((i * 7919) % 1000).ToString("D4", System.Globalization.CultureInfo.InvariantCulture), equal ? balances[0] : b))
            .ToArray()
        where holders.Any(h => h.Balance > 0)
        select new Case(total, holders, seed);

    [Fact]
    public void Allocation_sums_exactly_and_follows_largest_remainder_with_the_tie_break_Meets_Specification() =>
        Prop.ForAll(Arb.From(Cases), c =>
        {
            var amounts = Allocation.ProRata(c.Total, c.Holders);
            var sum = c.Holders.Aggregate(BigInteger.Zero, (s, h) => s + h.Balance);

            Assert.Equal(new BigInteger(c.Total), amounts.Aggregate(BigInteger.Zero, (s, a) => s + a));

            // Independent model: floors, then the leftover units to the best (remainder, holding, id) keys.
            var exact = c.Holders.Select(h => (Floor: BigInteger.DivRem(c.Total * (BigInteger)h.Balance, sum, out var r), Remainder: r)).ToArray();
            var leftover = (int)(c.Total - exact.Aggregate(BigInteger.Zero, (s, e) => s + e.Floor));
            var winners = Enumerable.Range(0, c.Holders.Length)
                .OrderByDescending(i => exact[i].Remainder)
                .ThenByDescending(i => c.Holders[i].Balance)
                .ThenBy(i => c.Holders[i].AccountId, StringComparer.Ordinal)
                .Take(leftover)
                .ToHashSet();
            for (var i = 0; i < amounts.Length; i++)
            {
                var expected = exact[i].Floor + (winners.Contains(i) ? 1 : 0);
                Assert.Equal(expected, new BigInteger(amounts[i]));
                Assert.True(exact[i].Remainder != 0 || !winners.Contains(i), "a holder with an exact share received a rounding unit");
                if (c.Holders[i].Balance == 0)
                {
                    Assert.Equal(0L, amounts[i]);
                }
            }
        }).QuickCheckThrowOnFailure();

    [Fact]
    public void Allocation_is_independent_of_input_order_Meets_Specification() =>
        Prop.ForAll(Arb.From(Cases), c =>
        {
            var shuffled = c.Holders.ToArray();
            new Random(c.Seed).Shuffle(shuffled);

            var original = Allocation.ProRata(c.Total, c.Holders)
                .Select((a, i) => (c.Holders[i].AccountId, a)).ToDictionary();
            var reordered = Allocation.ProRata(c.Total, shuffled)
                .Select((a, i) => (shuffled[i].AccountId, a)).ToDictionary();
            Assert.Equal(original, reordered);
        }).QuickCheckThrowOnFailure();

    [Fact]
    public void Per_share_amounts_are_the_truncated_exact_products_Meets_Specification() =>
        Prop.ForAll(
            Arb.From(
                from c in Cases
                from mantissa in Gen.Choose(1, 1_000_000)
                from scale in Gen.Choose(0, 12)
                from paymentScale in Gen.Choose(0, 6)
                from shareDecimals in Gen.Choose(0, 18)
                select (c.Holders.Select(h => h with { Balance = h.Balance % 100_000 }).ToArray(), new decimal(mantissa, 0, 0, false, (byte)scale), paymentScale, shareDecimals)),
            t =>
            {
                var (holders, perShare, paymentScale, shareDecimals) = t;
                var amounts = Allocation.PerShare(perShare, paymentScale, shareDecimals, holders);
                for (var i = 0; i < holders.Length; i++)
                {
                    // amount ≤ exact < amount + 1 minor unit, checked with BigInteger rationals.
                    var numerator = holders[i].Balance * Scaled(perShare, 12) * BigInteger.Pow(10, paymentScale);
                    var denominator = BigInteger.Pow(10, 12 + shareDecimals);
                    Assert.Equal(BigInteger.Divide(numerator, denominator), new BigInteger(amounts[i]));
                }
            }).QuickCheckThrowOnFailure();

    [Fact]
    public void Batches_cover_every_holder_once_within_the_limit_Meets_Specification() =>
        Prop.ForAll(
            Arb.From(from count in Gen.Choose(0, 3_000) from max in Gen.Choose(1, 150) select (count, max)),
            t =>
            {
                var (count, max) = t;
                var batches = PayoutBatchPlanner.Plan(count, max);
                var covered = new int[count];
                for (var b = 0; b < batches.Length; b++)
                {
                    var batch = batches[b];
                    Assert.Equal(b + 1, batch.BatchNumber);
                    Assert.InRange(batch.Count, 1, max);
                    if (b < batches.Length - 1)
                    {
                        Assert.Equal(max, batch.Count);
                    }

                    var (offset, length) = batch.Range.GetOffsetAndLength(count);
                    for (var i = offset; i < offset + length; i++)
                    {
                        covered[i]++;
                    }
                }

                Assert.All(covered, c => Assert.Equal(1, c));
            }).QuickCheckThrowOnFailure();

    [Fact]
    public void Batches_cover_every_holder_once_whatever_the_limit_Meets_Specification() =>
        Prop.ForAll(
            Arb.From(
                from count in Gen.OneOf(Gen.Choose(0, 3_000), Gen.Choose(0, int.MaxValue))
                from max in Gen.OneOf(Gen.Choose(1, 150), Gen.Choose(int.MaxValue - 1_000, int.MaxValue), Gen.Choose(1, int.MaxValue))

                // An executor may declare any limit up to int.MaxValue ("unlimited"); a few thousand batches keep the check fast.
                where count / max <= 5_000
                select (count, max)),
            t =>
            {
                var (count, max) = t;
                var batches = PayoutBatchPlanner.Plan(count, max);
                Assert.Equal((count / max) + (count % max == 0 ? 0 : 1), batches.Length);
                var next = 0L;
                for (var b = 0; b < batches.Length; b++)
                {
                    Assert.Equal(new PayoutBatch(b + 1, (int)next, (int)Math.Min(max, count - next)), batches[b]);
                    next += batches[b].Count;
                }

                Assert.Equal(count, next);
            }).QuickCheckThrowOnFailure();

    [Fact]
    public void Wide_division_matches_UInt128_division_Meets_Specification() =>
        Prop.ForAll(
            Arb.From(
                from divisor in Gen.OneOf(Long(long.MaxValue), Gen.Choose(1, int.MaxValue).Select(i => (long)i))
                from shift in Gen.Choose(0, 63)
                from quotient in Long(long.MaxValue)
                from extra in Long(long.MaxValue)
                where divisor > 0
                select (Divisor: ((ulong)divisor << shift) | 1UL, Quotient: (ulong)quotient, Extra: (ulong)extra)),
            t =>
            {
                // dividend = quotient × divisor + (extra mod divisor): any dividend whose quotient fits 64 bits.
                var dividend = ((UInt128)t.Quotient * t.Divisor) + (t.Extra % t.Divisor);
                var expected = UInt128.DivRem(dividend, t.Divisor);
                var quotient = Allocation.DivRem128By64((ulong)(dividend >> 64), unchecked((ulong)dividend), t.Divisor, out var remainder);
                Assert.Equal(expected.Quotient, (UInt128)quotient);
                Assert.Equal(expected.Remainder, (UInt128)remainder);
            }).QuickCheckThrowOnFailure();

    private static BigInteger Scaled(decimal value, int scale)
    {
        for (var i = 0; i < scale; i++)
        {
            value *= 10m;
        }

        return new BigInteger(value);
    }
}
