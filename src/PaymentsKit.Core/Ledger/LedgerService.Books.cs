using System.Globalization;
using System.Numerics;
using PaymentsKit.Storage;

namespace PaymentsKit.Ledger;

public sealed partial class LedgerService
{
    /// <summary>Reads the accounts an operation touches (each once), failing on any unknown or foreign one.</summary>
    private static async ValueTask<TouchedAccount[]> LoadAccountsAsync(
        IUnitOfWork unit, MerchantId tenantId, IReadOnlyList<LedgerPosting> postings, CancellationToken cancellationToken)
    {
        var accounts = new List<TouchedAccount>(Math.Min(postings.Count, 16));
        for (var i = 0; i < postings.Count; i++)
        {
            var accountId = postings[i].AccountId;
            var index = LedgerBooks.IndexOf(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(accounts), accountId);
            if (index < 0)
            {
                var read = await GetAccountAsync(unit, tenantId, accountId, "account_id", cancellationToken).ConfigureAwait(false);
                index = accounts.Count;
                accounts.Add(new TouchedAccount(read.Value, read.Version));
            }

            var account = accounts[index].Account;
            if (!postings[i].Amount.Asset.Equals(account.Asset))
            {
                LedgerValidation.SameAsset(postings[i].Amount, account.Asset, $"postings[{i}].amount", accountId);
            }
        }

        return [.. accounts];
    }

    /// <summary>Applies balance changes to the touched accounts (see <see cref="LedgerBooks.Apply"/>), throwing what the operation fails with.</summary>
    private static LedgerEntry[] Apply(TouchedAccount[] accounts, ReadOnlySpan<BalanceChange> changes, LedgerTransaction transaction)
    {
        var after = new RunningBalances[changes.Length];
        if (LedgerBooks.Apply(accounts, changes, transaction.CreatedAt, after) is { } failure)
        {
            throw failure;
        }

        var entries = new LedgerEntry[changes.Length];
        for (var i = 0; i < entries.Length; i++)
        {
            var account = accounts[LedgerBooks.IndexOf(accounts, changes[i].AccountId)].Account;
            entries[i] = LedgerBooks.Entry(transaction, account, after[i], changes[i]);
        }

        return entries;
    }

    /// <summary>Buffers an operation's account updates, transaction and entries (all validation is done by now).</summary>
    private static void Write(IUnitOfWork unit, TouchedAccount[] accounts, LedgerEntry[] entries, LedgerTransaction transaction, ReferenceSlot? reference)
    {
        foreach (var touched in accounts)
        {
            unit.Update(LedgerCollections.Accounts, touched.Updated(), touched.Version);
        }

        unit.Insert(LedgerCollections.Transactions, transaction);
        foreach (var entry in entries)
        {
            unit.Insert(LedgerCollections.Entries, entry);
        }

        if (reference is { } slot)
        {
            if (slot.Counter is null)
            {
                unit.Insert(LedgerCollections.ReferenceCounters, new LedgerReferenceCounter(slot.Id, transaction.TenantId, transaction.Reference!, slot.Sequence));
            }
            else
            {
                unit.Update(LedgerCollections.ReferenceCounters, slot.Counter.Value with { Count = slot.Sequence }, slot.Counter.Version);
            }
        }
    }

    /// <summary>Reserves the next place in a reference's sequence of transactions.</summary>
    private static async ValueTask<ReferenceSlot?> ReserveReferenceAsync(IUnitOfWork unit, MerchantId tenantId, string? reference, CancellationToken cancellationToken)
    {
        if (reference is null)
        {
            return null;
        }

        var id = LedgerCollections.ReferenceCounterId(tenantId, reference);
        var counter = await unit.GetAsync(LedgerCollections.ReferenceCounters, tenantId.Value, id, cancellationToken).ConfigureAwait(false);
        return new ReferenceSlot(id, counter, (counter?.Value.Count ?? 0) + 1);
    }

    /// <summary>Requires that, per asset, the debits equal the credits; answers whether the postings are all in one asset.</summary>
    private static bool EnsureBalanced(IReadOnlyList<LedgerPosting> postings)
    {
        if (BalancedInOneAsset(postings))
        {
            return true;
        }

        // Summed in minor units: a decimal total of large amounts can need more digits than a decimal keeps and would be
        // rounded, so totals that differ by a few minor units could compare equal and the transaction create money.
        var totals = new List<(Asset Asset, BigInteger Debits, BigInteger Credits)>(1);
        foreach (var posting in postings)
        {
            var asset = posting.Amount.Asset;
            var index = 0;
            while (index < totals.Count && !totals[index].Asset.Equals(asset))
            {
                index++;
            }

            if (index == totals.Count)
            {
                totals.Add((asset, BigInteger.Zero, BigInteger.Zero));
            }

            var (_, debits, credits) = totals[index];
            totals[index] = posting.Side == LedgerSide.Debit
                ? (asset, debits + posting.Amount.MinorUnits, credits)
                : (asset, debits, credits + posting.Amount.MinorUnits);
        }

        foreach (var (asset, debits, credits) in totals)
        {
            if (debits != credits)
            {
                var debitsText = FormatMinorUnits(debits, asset);
                var creditsText = FormatMinorUnits(credits, asset);
                throw new PaymentsKitException(
                    PaymentsKitErrorCodes.UnbalancedTransaction,
                    $"The postings debit {debitsText} but credit {creditsText}; per asset the debits must equal the credits.",
                    new Dictionary<string, object?> { ["asset"] = asset.Code, ["debits"] = debitsText, ["credits"] = creditsText });
            }
        }

        return totals.Count == 1;
    }

    /// <summary>
    /// Whether the postings are all in one asset and balance, summed without building an amount per step (the common case).
    /// False also when a total may have been rounded, which leaves the answer to the exact check.
    /// </summary>
    private static bool BalancedInOneAsset(IReadOnlyList<LedgerPosting> postings)
    {
        var asset = postings[0].Amount.Asset;
        decimal debits = 0m, credits = 0m;
        try
        {
            // Indexed, not foreach: enumerating the interface would allocate an enumerator per call.
            for (var i = 0; i < postings.Count; i++)
            {
                var posting = postings[i];
                if (!ReferenceEquals(posting.Amount.Asset, asset) && !posting.Amount.Asset.Equals(asset))
                {
                    return false;
                }

                if (posting.Side == LedgerSide.Debit)
                {
                    debits += posting.Amount.Amount;
                }
                else
                {
                    credits += posting.Amount.Amount;
                }
            }
        }
        catch (OverflowException)
        {
            return false;
        }

        // Amounts carry exactly the asset's scale; a sum with fewer decimals was rounded to fit a decimal.
        return debits == credits && debits.Scale == asset.Scale && credits.Scale == asset.Scale;
    }

    /// <summary>A total in minor units in the text form of <see cref="Money"/> (it may be too large for one).</summary>
    private static string FormatMinorUnits(BigInteger units, Asset asset)
    {
        var digits = BigInteger.Abs(units).ToString(CultureInfo.InvariantCulture).PadLeft(asset.Scale + 1, '0');
        var amount = asset.Scale == 0 ? digits : digits[..^asset.Scale] + "." + digits[^asset.Scale..];
        return (units.Sign < 0 ? "-" : string.Empty) + amount + " " + asset.Code;
    }

    /// <summary>A transaction's place among those with its reference, and the counter to advance.</summary>
    private readonly record struct ReferenceSlot(Guid Id, Versioned<LedgerReferenceCounter>? Counter, long Sequence);
}
