using NodaTime;

namespace PaymentsKit.Invoicing;

/// <summary>A client's name and email, as lists show them.</summary>
/// <param name="Id">The client.</param>
/// <param name="Name">The name.</param>
/// <param name="Email">The email, if any.</param>
public sealed record ClientSummary(ClientId Id, string Name, string? Email)
{
    internal static ClientSummary Of(Client client) => new(client.Id, client.Name, client.Email);
}

/// <summary>A merchant's public face, as invoice details and expiry notices show it.</summary>
/// <param name="Id">The merchant.</param>
/// <param name="WalletAddress">The receiving wallet.</param>
/// <param name="Name">The display name, if any.</param>
/// <param name="Email">The contact email, if any.</param>
public sealed record MerchantSummary(MerchantId Id, string WalletAddress, string? Name, string? Email)
{
    internal static MerchantSummary Of(Merchant merchant) => new(merchant.Id, merchant.WalletAddress, merchant.Name, merchant.Email);
}

/// <summary>A pending, unexpired invoice with its client and confirmed (partial) payments.</summary>
/// <param name="Invoice">The invoice.</param>
/// <param name="Client">Its client, if any.</param>
/// <param name="ConfirmedPayments">Its confirmed payments, newest first.</param>
public sealed record PendingInvoice(Invoice Invoice, ClientSummary? Client, IReadOnlyList<Payment> ConfirmedPayments)
{
    // The generated equality compares fields: these compare by content where the properties' types would not.
    private readonly ValueList<Payment> _confirmedPayments = ValueList<Payment>.Of(ConfirmedPayments);

    /// <summary>Its confirmed payments, newest first. Kept as an immutable copy that compares by content.</summary>
    public IReadOnlyList<Payment> ConfirmedPayments
    {
        get => _confirmedPayments;
        init => _confirmedPayments = ValueList<Payment>.Of(value);
    }
}

/// <summary>An invoice with its merchant, client and full payment history.</summary>
/// <param name="Invoice">The invoice.</param>
/// <param name="Merchant">The merchant it is payable to.</param>
/// <param name="Client">Its client, if any.</param>
/// <param name="Payments">Every payment attached to it (confirmed and kept for review), newest first.</param>
public sealed record InvoiceDetails(Invoice Invoice, MerchantSummary Merchant, Client? Client, IReadOnlyList<Payment> Payments)
{
    // The generated equality compares fields: these compare by content where the properties' types would not.
    private readonly ValueList<Payment> _payments = ValueList<Payment>.Of(Payments);

    /// <summary>Every payment attached to it (confirmed and kept for review), newest first. Kept as an immutable copy that compares by content.</summary>
    public IReadOnlyList<Payment> Payments
    {
        get => _payments;
        init => _payments = ValueList<Payment>.Of(value);
    }
}

/// <summary>A pending invoice about to expire, with the merchant to notify.</summary>
/// <param name="Invoice">The invoice.</param>
/// <param name="Merchant">Its merchant.</param>
public sealed record ExpiringInvoice(Invoice Invoice, MerchantSummary Merchant);

/// <summary>One confirmed payment of a merchant's history with what it paid for.</summary>
/// <param name="Payment">The payment.</param>
/// <param name="InvoiceNumber">The invoice's number, for an invoice payment.</param>
/// <param name="InvoiceDescription">The invoice's description, for an invoice payment.</param>
/// <param name="LinkTitle">The payment link's title, for a link payment.</param>
/// <param name="Client">The paying client, if known.</param>
public sealed record PaymentHistoryItem(Payment Payment, string? InvoiceNumber, string? InvoiceDescription, string? LinkTitle, ClientSummary? Client);

/// <summary>
/// Confirmed revenue in one asset, as the ledger books it: <paramref name="Total"/> equals what
/// <see cref="InvoicingLedgerAccounts.Revenue"/> received, <paramref name="Overpayments"/> what
/// <see cref="InvoicingLedgerAccounts.Overpayments"/> received and <paramref name="Refunded"/> what was paid out of it, so
/// <paramref name="Overpayments"/> − <paramref name="Refunded"/> is that account's balance.
/// </summary>
/// <param name="Total">
/// What confirmed payments applied to their invoices and links and kept (each payment's amount less its excess; nothing of a
/// payment to an invoice cancelled or expired with a <see cref="Invoice.Refundable"/>).
/// </param>
/// <param name="PaymentCount">How many confirmed payments.</param>
/// <param name="Overpayments">
/// What the same payments paid beyond what was due (their excess) or to invoices cancelled or expired since: not revenue.
/// Gross: refunds do not reduce it.
/// </param>
/// <param name="Refunded">
/// What the merchant recorded as sent back to payers out of overpayments (<see cref="InvoiceRefund"/>s, and the
/// <see cref="PaymentRefund"/>s of payment link payments' excess), whenever the refunded payments were received.
/// </param>
public sealed record AssetRevenue(Money Total, int PaymentCount, Money Overpayments, Money Refunded);

/// <summary>
/// Confirmed revenue in one asset in one calendar month, split as <see cref="AssetRevenue"/> is, as the ledger posted it in
/// that month (a month already reported does not change later). Payments count in the month they were recorded, refunds in
/// the month they were recorded, and what an invoice moved out of revenue as it was cancelled or expired
/// (<see cref="Invoice.Refundable"/>) in the month it closed, so a month may have refunds or closings and no payment, and a
/// negative <paramref name="Total"/>. Summed over every month, the figures are <see cref="AssetRevenue"/>'s, and
/// <paramref name="Overpayments"/> − <paramref name="Refunded"/> is the overpayments account's balance.
/// </summary>
/// <param name="Month">The month, in the time zone asked for.</param>
/// <param name="Total">
/// What confirmed payments recorded in the month applied (their amount less their excess), less what invoices cancelled or
/// expired in the month moved out of revenue: the revenue account's postings in the month.
/// </param>
/// <param name="PaymentCount">How many confirmed payments were recorded in the month.</param>
/// <param name="Overpayments">
/// What the same payments paid beyond what was due, plus what invoices cancelled or expired in the month moved out of
/// revenue: not revenue. Gross: refunds do not reduce it.
/// </param>
/// <param name="Refunded">What the refunds recorded in the month sent back, whenever the refunded payments were received.</param>
public sealed record MonthlyRevenue(YearMonth Month, Money Total, int PaymentCount, Money Overpayments, Money Refunded);

/// <summary>A client's confirmed payment volume in one asset.</summary>
/// <param name="Client">The client.</param>
/// <param name="Total">The sum of the client's confirmed payments in the asset.</param>
/// <param name="PaymentCount">How many payments.</param>
public sealed record ClientVolume(Client Client, Money Total, int PaymentCount);
