namespace PaymentsKit.Invoicing;

/// <summary>
/// The invoice transition table: <c>PENDING → PAID | EXPIRED | CANCELLED</c>; the three outcomes are
/// terminal. A payment to a paid invoice adds to it without a transition; a payment to an expired or
/// cancelled one is kept for review.
/// </summary>
public static class InvoiceLifecycle
{
    /// <summary>The machine every invoice status change goes through.</summary>
    public static StateMachine<InvoiceStatus> Machine { get; } = new(
        "invoice",
        [
            new(InvoiceStatus.Pending, InvoiceStatus.Paid),
            new(InvoiceStatus.Pending, InvoiceStatus.Expired),
            new(InvoiceStatus.Pending, InvoiceStatus.Cancelled),
        ]);
}
