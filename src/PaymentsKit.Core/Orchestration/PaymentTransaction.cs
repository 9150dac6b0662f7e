using System.Text.Json.Serialization;
using NodaTime;

namespace PaymentsKit.Orchestration;

/// <summary>The seed's <c>transaction_status</c>.</summary>
public enum TransactionStatus
{
    /// <summary>Created, not yet sent to the provider.</summary>
    Pending,

    /// <summary>Sent to the provider; the outcome is not known yet, or the payment is authorized and awaits capture.</summary>
    Processing,

    /// <summary>The provider took the money.</summary>
    Completed,

    /// <summary>The provider declined or the payment failed.</summary>
    Failed,

    /// <summary>Cancelled before money moved.</summary>
    Cancelled,

    /// <summary>Some of the amount was refunded.</summary>
    PartiallyRefunded,

    /// <summary>All of the amount was refunded.</summary>
    Refunded,
}

/// <summary>The seed's <c>payment_provider</c>.</summary>
public enum PaymentProvider
{
    /// <summary>Stripe.</summary>
    Stripe,

    /// <summary>PayPal.</summary>
    Paypal,

    /// <summary>Adyen.</summary>
    Adyen,

    /// <summary>Payments recorded by hand (cash, bank transfers reconciled by an operator).</summary>
    Manual,
}

/// <summary>When the money is taken.</summary>
public enum CaptureMethod
{
    /// <summary>Authorize and capture in one provider call (a charge).</summary>
    Automatic,

    /// <summary>Authorize now; capture later with <see cref="ITransactionService.CaptureAsync"/>, or cancel.</summary>
    Manual,
}

/// <summary>A provider call that was started for a transaction and whose outcome is still awaited.</summary>
public enum ProviderAction
{
    /// <summary>A charge or authorization.</summary>
    Payment,

    /// <summary>A capture of an authorization.</summary>
    Capture,

    /// <summary>A cancellation of an authorization.</summary>
    Cancel,
}

/// <summary>The transaction lifecycle as an explicit transition table.</summary>
public static class TransactionLifecycle
{
    /// <summary>
    /// pending → processing → completed | failed | cancelled; pending → cancelled;
    /// completed → partially_refunded → refunded; completed → refunded (a full refund).
    /// </summary>
    public static StateMachine<TransactionStatus> Machine { get; } = new(
        "transaction",
        [
            new(TransactionStatus.Pending, TransactionStatus.Processing),
            new(TransactionStatus.Pending, TransactionStatus.Cancelled),
            new(TransactionStatus.Processing, TransactionStatus.Completed),
            new(TransactionStatus.Processing, TransactionStatus.Failed),
            new(TransactionStatus.Processing, TransactionStatus.Cancelled),
            new(TransactionStatus.Completed, TransactionStatus.PartiallyRefunded),
            new(TransactionStatus.Completed, TransactionStatus.Refunded),
            new(TransactionStatus.PartiallyRefunded, TransactionStatus.Refunded),
        ]);
}

/// <summary>
/// An orchestrated payment (the seed's <c>transactions</c> row) plus the bookkeeping that keeps it
/// consistent: refunded and reserved (in-flight refund) totals, and the event and refund counters
/// that number its history. Every change bumps the record's version, so concurrent refunds and
/// provider callbacks serialize on it.
/// </summary>
public sealed record PaymentTransaction
{
    /// <summary>The transaction id; also the reference the provider sees.</summary>
    public required TransactionId Id { get; init; }

    /// <summary>The owning partner (the tenant).</summary>
    public required PartnerId PartnerId { get; init; }

    /// <summary>The partner's idempotency key, unique per partner.</summary>
    public required string IdempotencyKey { get; init; }

    /// <summary>The fingerprint of the creating request; a replay with another request is <c>idempotency_conflict</c>.</summary>
    public required string RequestFingerprint { get; init; }

    /// <summary>The amount, in the currency's asset (its decimal places enforced).</summary>
    public required Money Amount { get; init; }

    /// <summary>The payment method code.</summary>
    public required string PaymentMethod { get; init; }

    /// <summary>The provider.</summary>
    public required PaymentProvider Provider { get; init; }

    /// <summary>Authorize-and-capture or authorize-only.</summary>
    public required CaptureMethod CaptureMethod { get; init; }

    /// <summary>
    /// Whether the creating request asked to send the payment at once (<see cref="CreateTransactionRequest.Confirm"/>), so a
    /// transaction its create left pending is sent by <see cref="ITransactionService.SyncAsync"/> rather than waiting for
    /// <see cref="ITransactionService.ConfirmAsync"/>. False for records stored before it was kept: their create's choice is
    /// unknown, and sending one that awaits its confirmation would charge a payment the partner has not confirmed.
    /// </summary>
    public bool ConfirmOnCreate { get; init; }

    /// <summary>The provider's id of the payment, once known.</summary>
    public string? ProviderTransactionId { get; init; }

    /// <summary>The provider's id of the customer, if the partner gave one.</summary>
    public string? ProviderCustomerId { get; init; }

    /// <summary>The lifecycle state.</summary>
    public required TransactionStatus Status { get; init; }

    /// <summary>The customer's email.</summary>
    public required string CustomerEmail { get; init; }

    /// <summary>The customer's name.</summary>
    public string? CustomerName { get; init; }

    /// <summary>The customer's phone number.</summary>
    public string? CustomerPhone { get; init; }

    /// <summary>A free-text description.</summary>
    public string? Description { get; init; }

    private readonly ValueDictionary<string, string>? _metadata;

    /// <summary>The partner's key/value pairs. Kept as an immutable copy that compares by content.</summary>
    public IReadOnlyDictionary<string, string>? Metadata
    {
        get => _metadata;
        init => _metadata = ValueDictionary<string, string>.Of(value);
    }

    /// <summary>The creating request's IP address.</summary>
    public required string IpAddress { get; init; }

    /// <summary>The creating request's user agent.</summary>
    public string? UserAgent { get; init; }

    /// <summary>The creating request's id.</summary>
    public Guid? RequestId { get; init; }

    /// <summary>The provider's or PaymentsKit's code for the last problem (a decline, a timeout).</summary>
    public string? ErrorCode { get; init; }

    /// <summary>What the last problem was.</summary>
    public string? ErrorMessage { get; init; }

    /// <summary>How many times the provider was asked again about this payment after the first call.</summary>
    public int RetryCount { get; init; }

    /// <summary>When the provider authorized the payment (authorize-only transactions).</summary>
    public Instant? AuthorizedAt { get; init; }

    /// <summary>A capture or cancel sent to the provider whose outcome is awaited, if any.</summary>
    public ProviderAction? InFlightAction { get; init; }

    /// <summary>The sum of completed refunds.</summary>
    public required Money RefundedAmount { get; init; }

    /// <summary>The sum of refunds created but not yet completed or failed.</summary>
    public required Money ReservedRefundAmount { get; init; }

    /// <summary>How many events the transaction has (the last event's sequence number).</summary>
    public required long EventCount { get; init; }

    /// <summary>How many refunds the transaction has (the last refund's sequence number).</summary>
    public required int RefundCount { get; init; }

    /// <summary>When the transaction was created.</summary>
    public required Instant CreatedAt { get; init; }

    /// <summary>When the transaction last changed.</summary>
    public required Instant UpdatedAt { get; init; }

    /// <summary>When the payment completed.</summary>
    public Instant? ProcessedAt { get; init; }

    /// <summary>When the payment failed.</summary>
    public Instant? FailedAt { get; init; }

    /// <summary>When the transaction was soft-deleted.</summary>
    public Instant? DeletedAt { get; init; }

    /// <summary>What may still be refunded: the amount less completed and in-flight refunds.</summary>
    [JsonIgnore]
    public Money RefundableAmount => Amount - RefundedAmount - ReservedRefundAmount;
}

/// <summary>Creates (and by default confirms) a transaction.</summary>
/// <param name="IdempotencyKey">The partner's key (1–255 characters): a replay returns the same transaction.</param>
/// <param name="Amount">The amount, within the configured bounds and the currency's decimal places.</param>
/// <param name="Currency">An active currency code.</param>
/// <param name="PaymentMethod">An active payment method code.</param>
/// <param name="Provider">stripe, paypal, adyen or manual.</param>
/// <param name="CustomerEmail">The customer's email.</param>
public sealed record CreateTransactionRequest(
    string IdempotencyKey,
    decimal Amount,
    string Currency,
    string PaymentMethod,
    string Provider,
    string CustomerEmail)
{
    /// <summary>The customer's name (up to 255 characters).</summary>
    public string? CustomerName { get; init; }

    /// <summary>The customer's phone number (up to 50 characters).</summary>
    public string? CustomerPhone { get; init; }

    /// <summary>The provider's id of the customer (up to 255 characters).</summary>
    public string? ProviderCustomerId { get; init; }

    /// <summary>A free-text description (up to 5000 characters).</summary>
    public string? Description { get; init; }

    private readonly ValueDictionary<string, string>? _metadata;

    /// <summary>Up to 50 key/value pairs (keys 1–40 characters, values up to 500). Kept as an immutable copy that compares by content.</summary>
    public IReadOnlyDictionary<string, string>? Metadata
    {
        get => _metadata;
        init => _metadata = ValueDictionary<string, string>.Of(value);
    }

    /// <summary>Authorize-and-capture (default) or authorize-only.</summary>
    public CaptureMethod CaptureMethod { get; init; } = CaptureMethod.Automatic;

    /// <summary>Send the payment to the provider right away (default); when false it stays pending until confirmed.</summary>
    public bool Confirm { get; init; } = true;
}
