using System.Numerics;

namespace PaymentsKit.Chains;

/// <summary>
/// Turns per-account balance changes of one asset (as Hedera's Mirror Node and Solana's pre/post balances
/// report them) into sender → recipient transfers: debits and credits are paired in list order, splitting
/// amounts where needed, so every transfer is real money that moved and the transfers of a balanced set sum
/// to its credits. Amounts that find no counterpart are not reported.
/// </summary>
public static class NetChanges
{
    /// <summary>Pairs the changes.</summary>
    /// <param name="changes">Account and signed change in base units, in the chain's order; zero changes are ignored.</param>
    /// <param name="toMoney">Converts base units to the asset's amount.</param>
    public static List<ChainTransfer> Pair(IReadOnlyList<(string Account, BigInteger Change)> changes, Func<BigInteger, Money> toMoney)
    {
        ArgumentNullException.ThrowIfNull(changes);
        ArgumentNullException.ThrowIfNull(toMoney);
        var senders = changes.Where(c => c.Change < 0).Select(c => (c.Account, Left: -c.Change)).ToList();
        var transfers = new List<ChainTransfer>();
        var next = 0;
        foreach (var (recipient, credit) in changes.Where(c => c.Change > 0))
        {
            var left = credit;
            while (left > 0 && next < senders.Count)
            {
                var moved = BigInteger.Min(left, senders[next].Left);
                transfers.Add(new ChainTransfer(toMoney(moved), senders[next].Account, recipient));
                left -= moved;
                senders[next] = (senders[next].Account, senders[next].Left - moved);
                if (senders[next].Left.IsZero)
                {
                    next++;
                }
            }
        }

        return transfers;
    }
}
