using System.Text.Json;
using NodaTime;

namespace PaymentsKit.Orchestration;

/// <summary>The seed's <c>event_type</c>.</summary>
public enum TransactionEventType
{
    /// <summary>The transaction was created.</summary>
    Created,

    /// <summary>The payment was sent to the provider.</summary>
    PaymentProcessing,

    /// <summary>The payment completed.</summary>
    PaymentCompleted,

    /// <summary>The payment failed.</summary>
    PaymentFailed,

    /// <summary>
    /// A refund completed: the transaction moved to partially refunded or refunded, or, for a further partial refund,
    /// stayed partially refunded with more of its amount refunded.
    /// </summary>
    RefundCompleted,

    /// <summary>Any other status change (a cancellation).</summary>
    StatusChanged,

    /// <summary>
    /// A refund was created and its amount reserved on the transaction, whose status does not change. Last, not beside
    /// <see cref="RefundCompleted"/> as in the seed's enum, so the numeric values of the earlier members stay as released.
    /// </summary>
    RefundInitiated,
}

/// <summary>
/// One entry of a transaction's history: written exactly once for its creation, for each status
/// change and for each refund initiated or completed (also when the status stays), in the same unit of work
/// as the change.
/// </summary>
public sealed record TransactionEvent
{
    /// <summary>The event id.</summary>
    public required TransactionEventId Id { get; init; }

    /// <summary>The owning partner (the tenant).</summary>
    public required PartnerId PartnerId { get; init; }

    /// <summary>The transaction.</summary>
    public required TransactionId TransactionId { get; init; }

    /// <summary>The event's number within its transaction, from 1; unique per transaction.</summary>
    public required long Sequence { get; init; }

    /// <summary>What happened.</summary>
    public required TransactionEventType EventType { get; init; }

    /// <summary>The status before (null for the creation; the same as <see cref="Status"/> for a refund event that left it).</summary>
    public TransactionStatus? FromStatus { get; init; }

    /// <summary>The status after.</summary>
    public required TransactionStatus Status { get; init; }

    /// <summary>What the provider said, when a provider answer caused the change.</summary>
    public JsonElement? ProviderResponse { get; init; }

    /// <summary>The failure message, for a failure.</summary>
    public string? ErrorMessage { get; init; }

    /// <summary>Who caused it: <c>partner:ptn_…</c>, <c>provider:stripe</c> or <c>system</c>.</summary>
    public required string CreatedBy { get; init; }

    /// <summary>The IP address of the call that caused it.</summary>
    public string? IpAddress { get; init; }

    /// <summary>When it happened.</summary>
    public required Instant CreatedAt { get; init; }
}

/// <summary>Whether an audited call changed anything.</summary>
public enum AuditOutcome
{
    /// <summary>The call succeeded and its changes were committed with this entry.</summary>
    Succeeded,

    /// <summary>
    /// The call was rejected: refused before anything was written (nothing but this entry was), or refused by the provider
    /// after it was sent, in the unit that applied the refusal (its changes show what the refusal left: a failed payment or
    /// refund, an authorization still standing). <see cref="AuditLogEntry.ErrorCode"/> has the code, the provider's for a
    /// provider's refusal.
    /// </summary>
    Rejected,

    /// <summary>An idempotent replay: the original result was returned and nothing changed.</summary>
    Replayed,
}

/// <summary>Before/after snapshots of the resource an audited call touched (secrets removed).</summary>
/// <param name="Before">The resource before, if it existed.</param>
/// <param name="After">The resource after, if it changed.</param>
public sealed record AuditChanges(JsonElement? Before, JsonElement? After);

/// <summary>One entry of the audit log (the seed's <c>audit_logs</c> row), written for every mutating call.</summary>
public sealed record AuditLogEntry
{
    /// <summary>The entry id.</summary>
    public required AuditLogId Id { get; init; }

    /// <summary>The partner the call was made by or for; null when none could be identified.</summary>
    public PartnerId? PartnerId { get; init; }

    /// <summary>What was done, e.g. <c>transaction.create</c>.</summary>
    public required string Action { get; init; }

    /// <summary>What kind of resource: <c>partner</c>, <c>transaction</c>, <c>refund</c>.</summary>
    public required string ResourceType { get; init; }

    /// <summary>The resource's id (in its typed text form), when known.</summary>
    public string? ResourceId { get; init; }

    /// <summary>Whether the call changed anything.</summary>
    public required AuditOutcome Outcome { get; init; }

    /// <summary>The error code of a rejected call (the provider's, when the provider refused it).</summary>
    public string? ErrorCode { get; init; }

    /// <summary>The error message of a rejected call.</summary>
    public string? ErrorMessage { get; init; }

    /// <summary>The caller's IP address.</summary>
    public required string IpAddress { get; init; }

    /// <summary>The caller's user agent.</summary>
    public string? UserAgent { get; init; }

    /// <summary>The host's request id.</summary>
    public Guid? RequestId { get; init; }

    /// <summary>Before/after snapshots.</summary>
    public AuditChanges? Changes { get; init; }

    /// <summary>When the call was made.</summary>
    public required Instant CreatedAt { get; init; }
}
