using System.Numerics;
using FsCheck;
using FsCheck.Fluent;
using PaymentsKit.Chains;

namespace PaymentsKit.Core.Tests.Chains;

public sealed class NetChangesTests
{
    private static readonly Asset Unit = Asset.Create("U", 0);

    [Fact]
    public void Splits_And_Pairs_In_Order()
    {
        var transfers = NetChanges.Pair([("a", -10), ("b", 6), ("c", -5), ("d", 9), ("e", 0)], u => Money.FromMinorUnits(u, Unit));
        Assert.Equal(
            [
                new ChainTransfer(Money.Of(6m, Unit), "a", "b"),
                new ChainTransfer(Money.Of(4m, Unit), "a", "d"),
                new ChainTransfer(Money.Of(5m, Unit), "c", "d"),
            ],
            transfers);
    }

    [Fact]
    public void Unmatched_Amounts_Are_Not_Reported() =>
        Assert.Equal([new ChainTransfer(Money.Of(3m, Unit), "a", "b")], NetChanges.Pair([("a", -3), ("b", 5)], u => Money.FromMinorUnits(u, Unit)));

    [Fact]
    public void A_Pair_Left_Out_Is_Still_Paired_Off_So_The_Others_Are_Unchanged()
    {
        // b's 6 from a is left out; d is still owed only what a had left (4) before c's 5, as without the omission.
        var transfers = NetChanges.Pair(
            [("a", -10), ("b", 6), ("c", -5), ("d", 9)],
            (units, from, to) => to == "b" ? null : new ChainTransfer(Money.FromMinorUnits(units, Unit), from, to));
        Assert.Equal(
            [
                new ChainTransfer(Money.Of(4m, Unit), "a", "d"),
                new ChainTransfer(Money.Of(5m, Unit), "c", "d"),
            ],
            transfers);
    }

    [Fact]
    public void Pairing_Conserves_Value_Meets_Specification()
    {
        var changes = Gen.ListOf(Gen.Choose(-1000, 1000)).Select(list => list.Select((c, i) => ("acct" + i, (BigInteger)c)).ToList());
        Prop.ForAll(Arb.From(changes), list =>
        {
            var transfers = NetChanges.Pair(list, u => Money.FromMinorUnits(u, Unit));
            var debits = -list.Where(c => c.Item2 < 0).Sum(c => (long)c.Item2);
            var credits = list.Where(c => c.Item2 > 0).Sum(c => (long)c.Item2);
            var moved = transfers.Sum(t => t.Amount.Amount);
            var perSenderOk = list.Where(c => c.Item2 < 0).All(c => transfers.Where(t => t.From == c.Item1).Sum(t => t.Amount.Amount) <= -(decimal)c.Item2);
            var perRecipientOk = list.Where(c => c.Item2 > 0).All(c => transfers.Where(t => t.To == c.Item1).Sum(t => t.Amount.Amount) <= (decimal)c.Item2);
            return moved == Math.Min(debits, credits) && transfers.All(t => t.Amount.IsPositive) && perSenderOk && perRecipientOk;
        }).QuickCheckThrowOnFailure();
    }
}
