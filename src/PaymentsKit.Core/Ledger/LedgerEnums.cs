namespace PaymentsKit.Ledger;

/// <summary>A side of the books: the direction of a posting, or the side an account's balance normally sits on.</summary>
public enum LedgerSide
{
    /// <summary>Debit: increases asset and expense accounts.</summary>
    Debit = 1,

    /// <summary>Credit: increases liability, equity and revenue accounts.</summary>
    Credit = 2,
}

/// <summary>Balance constraints of a ledger account, checked on every operation that touches it.</summary>
[Flags]
public enum LedgerAccountFlags
{
    /// <summary>No constraint: the account may go negative on either side.</summary>
    None = 0,

    /// <summary>
    /// Posted plus pending debits may never exceed posted credits: a credit-normal account (a customer
    /// balance, a treasury liability) that can never be overdrawn.
    /// </summary>
    DebitsMustNotExceedCredits = 1,

    /// <summary>
    /// Posted plus pending credits may never exceed posted debits: a debit-normal account (a wallet
    /// holding funds) that can never pay out more than it holds.
    /// </summary>
    CreditsMustNotExceedDebits = 2,
}

/// <summary>
/// What a ledger transaction means in business terms; the router's <c>ledger_entries.type</c>
/// values (reserve, debit, fee, release, refund).
/// </summary>
public enum LedgerEntryType
{
    /// <summary>Funds held for a pending payment.</summary>
    Reserve = 1,

    /// <summary>Funds moved for a payment.</summary>
    Debit = 2,

    /// <summary>A fee charged.</summary>
    Fee = 3,

    /// <summary>Held funds given back.</summary>
    Release = 4,

    /// <summary>Funds returned to the payer.</summary>
    Refund = 5,
}

/// <summary>How a ledger transaction moves balances.</summary>
public enum LedgerTransactionKind
{
    /// <summary>A balanced transaction whose postings move posted balances.</summary>
    Posted = 1,

    /// <summary>Reserves a two-phase transfer: its postings move pending balances.</summary>
    Pending = 2,

    /// <summary>Posts a pending transfer: releases all of its pending amount and posts the postings' amount.</summary>
    PostPending = 3,

    /// <summary>Voids a pending transfer: its postings are the released pending amounts.</summary>
    VoidPending = 4,

    /// <summary>Expires a pending transfer whose timeout passed: its postings are the released pending amounts.</summary>
    ExpirePending = 5,
}

/// <summary>The lifecycle of a two-phase transfer. Only <see cref="Pending"/> is open; the others are final.</summary>
public enum LedgerTransferState
{
    /// <summary>Reserved: the amount is held in the accounts' pending balances.</summary>
    Pending = 1,

    /// <summary>Posted, fully or partly; any remainder was released.</summary>
    Posted = 2,

    /// <summary>Voided: the whole amount was released.</summary>
    Voided = 3,

    /// <summary>Its timeout passed: the whole amount was released.</summary>
    Expired = 4,
}
