using System.Globalization;
using System.Runtime.CompilerServices;
using PaymentsKit.Storage;

namespace PaymentsKit.Orchestration;

/// <summary>
/// The record collections of the orchestration module and their unique keys. On PostgreSQL each seed
/// collection lives in the seed's table (partners, transactions, refunds, transaction_events,
/// audit_logs; see docs/decisions/0003-seed-tables-on-the-record-store.md).
/// </summary>
internal static class OrchestrationCollections
{
    public const string EmailKey = "email";
    public const string ApiKeyPrefixKey = "api_key_prefix";
    public const string ApiKeyHashKey = "api_key_hash";
    public const string IdempotencyKey = "idempotency";
    public const string SequenceKey = "sequence";

    /// <summary>Partners are looked up before their tenant is known (by API key prefix), so they share the empty tenant.</summary>
    public static readonly RecordCollection<Partner> Partners = new(
        "orch_partner",
        p => p.Id.Value,
        _ => Guid.Empty,
        [
            new UniqueKey<Partner>(EmailKey, p => p.Email.ToUpperInvariant()),
            new UniqueKey<Partner>(ApiKeyPrefixKey, p => p.ApiKeyPrefix),
            new UniqueKey<Partner>(ApiKeyHashKey, p => p.ApiKeyHash),
        ],
        table: "partners");

    public static readonly RecordCollection<PaymentTransaction> Transactions = new(
        "orch_transaction",
        t => t.Id.Value,
        t => t.PartnerId.Value,
        [new UniqueKey<PaymentTransaction>(IdempotencyKey, t => Idempotency.ScopedKey(t.PartnerId.Value, t.IdempotencyKey))],
        table: "transactions");

    public static readonly RecordCollection<Refund> Refunds = new(
        "orch_refund",
        r => r.Id.Value,
        r => r.PartnerId.Value,
        [
            new UniqueKey<Refund>(IdempotencyKey, r => r.IdempotencyKey is null ? null : Idempotency.ScopedKey(r.PartnerId.Value, r.IdempotencyKey)),
            new UniqueKey<Refund>(SequenceKey, r => SequenceValue(r.TransactionId, r.Sequence)),
        ],
        table: "refunds");

    public static readonly RecordCollection<TransactionEvent> Events = new(
        "orch_transaction_event",
        e => e.Id.Value,
        e => e.PartnerId.Value,
        [new UniqueKey<TransactionEvent>(SequenceKey, e => SequenceValue(e.TransactionId, e.Sequence))],
        table: "transaction_events");

    /// <summary>Audit entries without an identified partner share the empty tenant.</summary>
    public static readonly RecordCollection<AuditLogEntry> AuditLogs = new(
        "orch_audit_log",
        a => a.Id.Value,
        a => a.PartnerId?.Value ?? Guid.Empty,
        table: "audit_logs");

    /// <summary>
    /// Maps the references providers echo back (transaction and refund ids) to their partner, so a
    /// provider webhook — which names no partner — can be routed to the right tenant.
    /// </summary>
    public static readonly RecordCollection<ProviderReference> References = new(
        "orch_provider_reference",
        r => r.Id,
        _ => Guid.Empty);

    /// <summary>
    /// The refusal the sync pass last audited for a transaction, one record per transaction (its id), so a refusal repeated
    /// pass after pass is audited once (see <see cref="SyncRejection"/>). Not in the seeds: kept in <c>paymentskit_records</c>.
    /// </summary>
    public static readonly RecordCollection<SyncRejection> SyncRejections = new(
        "orch_sync_rejection",
        r => r.TransactionId.Value,
        r => r.PartnerId.Value);

    public static string SequenceValue(TransactionId transaction, long sequence) =>
        FormattableString.Invariant($"{transaction.Value:N}:{sequence}");

    /// <summary>The refunds of <paramref name="transaction"/>, newest first.</summary>
    public static async IAsyncEnumerable<Refund> RefundsNewestFirstAsync(
        IUnitOfWork unit, PaymentTransaction transaction, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        for (var sequence = transaction.RefundCount; sequence >= 1; sequence--)
        {
            // Refunds commit with the transaction record that counts them, so every number up to the count exists.
            var found = await unit.FindAsync(Refunds, transaction.PartnerId.Value, SequenceKey, SequenceValue(transaction.Id, sequence), cancellationToken).ConfigureAwait(false)
                ?? throw new PaymentsKitException(
                    PaymentsKitErrorCodes.StorageFailure,
                    string.Create(CultureInfo.InvariantCulture, $"Refund {sequence} of transaction {transaction.Id} is missing."));
            yield return found.Value;
        }
    }
}

/// <summary>Routes a provider reference (a transaction or refund id) to its partner.</summary>
/// <param name="Id">The transaction's or refund's UUID.</param>
/// <param name="PartnerId">The owning partner.</param>
/// <param name="TransactionId">The transaction (for a refund, the refunded one).</param>
internal sealed record ProviderReference(Guid Id, PartnerId PartnerId, TransactionId TransactionId);

/// <summary>The last refusal of a transaction's sync by the sync pass that was audited.</summary>
/// <param name="TransactionId">The transaction.</param>
/// <param name="PartnerId">Its partner.</param>
/// <param name="ErrorCode">The refusal's error code.</param>
/// <param name="State">The fingerprint of the transaction when it was refused, its poll count and update time left out.</param>
internal sealed record SyncRejection(TransactionId TransactionId, PartnerId PartnerId, string ErrorCode, string State);
