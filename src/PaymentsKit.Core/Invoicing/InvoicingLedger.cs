using System.Collections.Concurrent;
using PaymentsKit.Ledger;
using PaymentsKit.Storage;

namespace PaymentsKit.Invoicing;

/// <summary>
/// The ledger accounts invoicing posts received payments to, per merchant and asset. A confirmed
/// payment debits <see cref="Wallet"/> and credits <see cref="Revenue"/> (the part that was due) and
/// <see cref="Overpayments"/> (any excess); a payment kept for review debits <see cref="Wallet"/> and
/// credits <see cref="Unapplied"/> until the merchant resolves it. When a partly paid invoice is cancelled or
/// expires, what it applied moves from <see cref="Revenue"/> to <see cref="Overpayments"/> (<see cref="Invoice.Refundable"/>).
/// A refund the merchant records of an invoice, or of a payment link payment's excess, debits <see cref="Overpayments"/> and
/// credits <see cref="Wallet"/>; a refund of a payment's money kept for review debits <see cref="Unapplied"/> and credits <see cref="Wallet"/>.
/// </summary>
public static class InvoicingLedgerAccounts
{
    /// <summary>The merchant's receiving wallet (debit-normal): everything that arrived, less the refunds recorded as sent from it.</summary>
    public static string Wallet(Asset asset) => Code("wallet", asset);

    /// <summary>Payments applied to invoices and payment links (credit-normal).</summary>
    public static string Revenue(Asset asset) => Code("revenue", asset);

    /// <summary>
    /// What payers paid beyond what was due, and what partly paid invoices that were cancelled or expired had applied
    /// (credit-normal): owed back or kept by the merchant's policy, less the refunds recorded.
    /// </summary>
    public static string Overpayments(Asset asset) => Code("overpayments", asset);

    /// <summary>Payments kept for review, not applied to anything yet (credit-normal), less the refunds recorded of them.</summary>
    public static string Unapplied(Asset asset) => Code("unapplied", asset);

    private static string Code(string kind, Asset asset)
    {
        ArgumentNullException.ThrowIfNull(asset);
        return $"invoicing:{kind}:{asset.Code}";
    }
}

/// <summary>Posts every received payment to the merchant's ledger in the payment's own unit of work.</summary>
internal sealed class InvoicingLedger(ILedger ledger)
{
    private readonly ConcurrentDictionary<(MerchantId Merchant, string Code), LedgerAccountId> _accounts = new();

    /// <summary>Opens (once) the accounts a payment in <paramref name="asset"/> may post to.</summary>
    /// <remarks>Runs before the payment's unit of work: empty accounts are harmless if the payment then fails.</remarks>
    public async ValueTask<ReceiptAccounts> EnsureAccountsAsync(MerchantId merchant, Asset asset, CancellationToken cancellationToken) =>
        new(
            await EnsureAsync(merchant, InvoicingLedgerAccounts.Wallet(asset), "Invoicing wallet", asset, LedgerSide.Debit, cancellationToken).ConfigureAwait(false),
            await EnsureAsync(merchant, InvoicingLedgerAccounts.Revenue(asset), "Invoicing revenue", asset, LedgerSide.Credit, cancellationToken).ConfigureAwait(false),
            await EnsureAsync(merchant, InvoicingLedgerAccounts.Overpayments(asset), "Invoicing overpayments", asset, LedgerSide.Credit, cancellationToken).ConfigureAwait(false),
            await EnsureAsync(merchant, InvoicingLedgerAccounts.Unapplied(asset), "Invoicing unapplied payments", asset, LedgerSide.Credit, cancellationToken).ConfigureAwait(false));

    /// <summary>
    /// Buffers the payment's ledger transaction into <paramref name="unit"/>: one transaction for its amount, if its asset has
    /// accounts (an unregistered asset has none and cannot be booked), and its <see cref="Payment.BookedUnapplied"/> amounts
    /// (<paramref name="accounts"/> holds theirs); nothing when neither has any.
    /// </summary>
    public async ValueTask PostReceiptAsync(IUnitOfWork unit, IReadOnlyDictionary<Asset, ReceiptAccounts> accounts, Payment payment, CancellationToken cancellationToken)
    {
        var postings = new List<LedgerPosting>(3);
        if (accounts.TryGetValue(payment.Asset, out var books))
        {
            postings.Add(LedgerPosting.Debit(books.Wallet, payment.Amount));
            if (payment.Status == PaymentStatus.Confirmed)
            {
                var excess = payment.Excess ?? Money.Zero(payment.Asset);
                var applied = payment.Amount - excess;
                if (applied.IsPositive)
                {
                    postings.Add(LedgerPosting.Credit(books.Revenue, applied));
                }

                if (excess.IsPositive)
                {
                    postings.Add(LedgerPosting.Credit(books.Overpayments, excess));
                }
            }
            else
            {
                postings.Add(LedgerPosting.Credit(books.Unapplied, payment.Amount));
            }
        }

        // The payment says which of its other assets it books, so what it holds (HeldUnapplied) is exactly what is posted here.
        foreach (var other in payment.BookedUnapplied ?? [])
        {
            var otherBooks = accounts[other.Asset];
            postings.Add(LedgerPosting.Debit(otherBooks.Wallet, other));
            postings.Add(LedgerPosting.Credit(otherBooks.Unapplied, other));
        }

        if (postings.Count == 0)
        {
            return;
        }

        var request = new PostLedgerTransactionRequest(postings)
        {
            EntryType = LedgerEntryType.Debit,
            Reference = payment.Id.ToString(),
            IdempotencyKey = $"invoicing:{payment.Id}",
            Description = $"Payment {payment.TransactionHash} on {payment.Chain.Value}",
        };
        await ledger.PostTransactionAsync(unit, payment.MerchantId, request, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Buffers into <paramref name="unit"/> the move of what <paramref name="closed"/> applied from revenue to overpayments
    /// as it is cancelled or expires unpaid, and returns it with that amount as <see cref="Invoice.Refundable"/>; an invoice
    /// that received nothing is returned as it is. Only a pending invoice closes this way, so none of what it applied was
    /// excess: its <see cref="Invoice.AmountPaid"/> is exactly what its payments credited to revenue.
    /// </summary>
    public async ValueTask<Invoice> PostRefundableAsync(IUnitOfWork unit, ReceiptAccounts books, Invoice closed, CancellationToken cancellationToken)
    {
        if (!closed.AmountPaid.IsPositive)
        {
            return closed;
        }

        var request = new PostLedgerTransactionRequest([LedgerPosting.Debit(books.Revenue, closed.AmountPaid), LedgerPosting.Credit(books.Overpayments, closed.AmountPaid)])
        {
            Reference = closed.Id.ToString(),
            IdempotencyKey = $"invoicing:{closed.Id}:refundable",
            Description = $"Invoice {closed.Number} {closed.Status.ToString().ToLowerInvariant()}: {closed.AmountPaid} received for it is owed back",
        };
        await ledger.PostTransactionAsync(unit, closed.MerchantId, request, cancellationToken).ConfigureAwait(false);
        return closed with { Refundable = closed.AmountPaid };
    }

    /// <summary>
    /// Buffers into <paramref name="unit"/> the ledger transaction of a refund the merchant sent from its wallet: out of the
    /// account where what it pays back is booked (<paramref name="from"/>: overpayments for what an invoice owes back,
    /// unapplied for a payment's money kept for review) and out of the wallet.
    /// </summary>
    public async ValueTask PostRefundAsync(
        IUnitOfWork unit, MerchantId merchant, LedgerAccountId from, LedgerAccountId wallet, string refundId, Money amount, string description, CancellationToken cancellationToken)
    {
        var request = new PostLedgerTransactionRequest([LedgerPosting.Debit(from, amount), LedgerPosting.Credit(wallet, amount)])
        {
            EntryType = LedgerEntryType.Refund,
            Reference = refundId,
            IdempotencyKey = $"invoicing:{refundId}",
            Description = description,
        };
        await ledger.PostTransactionAsync(unit, merchant, request, cancellationToken).ConfigureAwait(false);
    }

    private async ValueTask<LedgerAccountId> EnsureAsync(
        MerchantId merchant, string code, string name, Asset asset, LedgerSide side, CancellationToken cancellationToken)
    {
        if (_accounts.TryGetValue((merchant, code), out var cached))
        {
            return cached;
        }

        var account = await ledger.FindAccountByCodeAsync(merchant, code, cancellationToken).ConfigureAwait(false);
        if (account is null)
        {
            try
            {
                account = await ledger.CreateAccountAsync(merchant, new CreateLedgerAccountRequest(code, name, asset, side), cancellationToken).ConfigureAwait(false);
            }
            catch (PaymentsKitException ex) when (ex.Code == PaymentsKitErrorCodes.DuplicateKey)
            {
                // A concurrent first payment opened it.
                account = await ledger.FindAccountByCodeAsync(merchant, code, cancellationToken).ConfigureAwait(false);
                if (account is null)
                {
                    throw;
                }
            }
        }

        _accounts[(merchant, code)] = account.Id;
        return account.Id;
    }
}

/// <summary>The ledger accounts of one merchant and asset.</summary>
internal sealed record ReceiptAccounts(LedgerAccountId Wallet, LedgerAccountId Revenue, LedgerAccountId Overpayments, LedgerAccountId Unapplied);
