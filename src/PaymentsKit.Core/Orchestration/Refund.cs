using NodaTime;

namespace PaymentsKit.Orchestration;

/// <summary>The seed's <c>refund_status</c>.</summary>
public enum RefundStatus
{
    /// <summary>Created and reserved against the transaction; not yet answered by the provider.</summary>
    Pending,

    /// <summary>Sent to the provider, whose answer did not arrive (a timeout); a webhook or poll resolves it.</summary>
    Processing,

    /// <summary>The provider returned the money.</summary>
    Completed,

    /// <summary>The provider refused; the reservation was released.</summary>
    Failed,
}

/// <summary>The refund lifecycle as an explicit transition table.</summary>
public static class RefundLifecycle
{
    /// <summary>pending → processing; pending | processing → completed | failed.</summary>
    public static StateMachine<RefundStatus> Machine { get; } = new(
        "refund",
        [
            new(RefundStatus.Pending, RefundStatus.Processing),
            new(RefundStatus.Pending, RefundStatus.Completed),
            new(RefundStatus.Pending, RefundStatus.Failed),
            new(RefundStatus.Processing, RefundStatus.Completed),
            new(RefundStatus.Processing, RefundStatus.Failed),
        ]);
}

/// <summary>A refund of (part of) a transaction (the seed's <c>refunds</c> row).</summary>
public sealed record Refund
{
    /// <summary>The refund id; also the reference the provider sees.</summary>
    public required RefundId Id { get; init; }

    /// <summary>The owning partner (the tenant).</summary>
    public required PartnerId PartnerId { get; init; }

    /// <summary>The refunded transaction.</summary>
    public required TransactionId TransactionId { get; init; }

    /// <summary>The refund's number within its transaction, from 1.</summary>
    public required int Sequence { get; init; }

    /// <summary>The partner's idempotency key, if it gave one.</summary>
    public string? IdempotencyKey { get; init; }

    /// <summary>The fingerprint of the creating request.</summary>
    public required string RequestFingerprint { get; init; }

    /// <summary>The amount, in the transaction's currency.</summary>
    public required Money Amount { get; init; }

    /// <summary>Why the money is returned.</summary>
    public required string Reason { get; init; }

    /// <summary>The lifecycle state.</summary>
    public required RefundStatus Status { get; init; }

    /// <summary>The provider's id of the refund, once known.</summary>
    public string? ProviderRefundId { get; init; }

    /// <summary>The provider's code for a failure or PaymentsKit's for a timeout.</summary>
    public string? ErrorCode { get; init; }

    /// <summary>What went wrong.</summary>
    public string? ErrorMessage { get; init; }

    /// <summary>When the refund was created.</summary>
    public required Instant CreatedAt { get; init; }

    /// <summary>When the refund last changed.</summary>
    public required Instant UpdatedAt { get; init; }

    /// <summary>When the refund completed or failed.</summary>
    public Instant? ProcessedAt { get; init; }

    /// <summary>When the refund was soft-deleted.</summary>
    public Instant? DeletedAt { get; init; }
}

/// <summary>Refunds (part of) a transaction.</summary>
/// <param name="Amount">A positive amount within the currency's decimal places, at most what remains refundable.</param>
/// <param name="Reason">Why (1–255 characters).</param>
public sealed record CreateRefundRequest(decimal Amount, string Reason)
{
    /// <summary>The partner's key (1–255 characters): a replay returns the same refund.</summary>
    public string? IdempotencyKey { get; init; }
}
