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
        ArgumentNullException.ThrowIfNull(toMoney);
        return Pair(changes, (units, from, to) => new ChainTransfer(toMoney(units), from, to));
    }

    /// <summary>
    /// Pairs the changes, letting <paramref name="toTransfer"/> leave a pair out (one whose base units no amount can hold):
    /// the value it stands for is still paired off, so the other transfers are the same as with it.
    /// </summary>
    /// <param name="changes">Account and signed change in base units, in the chain's order; zero changes are ignored.</param>
    /// <param name="toTransfer">Makes the transfer of the base units from the sender to the recipient, or null to leave it out.</param>
    public static List<ChainTransfer> Pair(IReadOnlyList<(string Account, BigInteger Change)> changes, Func<BigInteger, string, string, ChainTransfer?> toTransfer)
    {
        ArgumentNullException.ThrowIfNull(changes);
        ArgumentNullException.ThrowIfNull(toTransfer);
        var senders = changes.Where(c => c.Change < 0).Select(c => (c.Account, Left: -c.Change)).ToList();
        var transfers = new List<ChainTransfer>();
        var next = 0;
        foreach (var (recipient, credit) in changes.Where(c => c.Change > 0))
        {
            var left = credit;
            while (left > 0 && next < senders.Count)
            {
                var moved = BigInteger.Min(left, senders[next].Left);
                if (toTransfer(moved, senders[next].Account, recipient) is { } transfer)
                {
                    transfers.Add(transfer);
                }

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
