using System.Text.Json;
using System.Text.Json.Nodes;
using NodaTime;
using PaymentsKit.Json;
using PaymentsKit.Storage;

namespace PaymentsKit.Orchestration;

/// <summary>Who made a mutating call, and what it was, for its audit entry.</summary>
/// <param name="PartnerId">The partner, when known.</param>
/// <param name="Action">e.g. <c>transaction.create</c>.</param>
/// <param name="ResourceType">e.g. <c>transaction</c>.</param>
/// <param name="Context">Where the call came from.</param>
internal sealed record AuditCall(PartnerId? PartnerId, string Action, string ResourceType, RequestContext Context)
{
    /// <summary>
    /// The entry of the unit that puts the call's provider call in flight: it records that the call was accepted and sent,
    /// not that the provider did it, which the call's own action records once its answer is known.
    /// </summary>
    public AuditCall Initiated() => this with { Action = Action + ".initiated" };
}

/// <summary>
/// Writes audit entries: inside the operation's unit of work when it succeeds, in a unit of its
/// own when the operation was rejected or replayed. Snapshots never carry secrets.
/// </summary>
internal sealed class AuditTrail(IPaymentsStore store, IClock clock, PaymentsKitJsonOptions json)
{
    private static readonly string[] Redacted = ["api_key_hash", "webhook_secret", "request_fingerprint"];

    public void Write(IUnitOfWork unit, AuditCall call, string? resourceId, object? before, object? after) =>
        unit.Insert(OrchestrationCollections.AuditLogs, Entry(call, resourceId, AuditOutcome.Succeeded, new AuditChanges(Snapshot(before), Snapshot(after)), null, null));

    /// <summary>
    /// Writes, in the unit that applies it, the entry of a call the provider refused after it was sent: rejected with the
    /// provider's code and message, as a call refused before anything was written is, but with the changes the refusal made
    /// (a failed payment or refund, an authorization left standing).
    /// </summary>
    public void WriteRefused(IUnitOfWork unit, AuditCall call, string resourceId, object before, object after, string errorCode, string? errorMessage) =>
        unit.Insert(
            OrchestrationCollections.AuditLogs,
            Entry(call, resourceId, AuditOutcome.Rejected, new AuditChanges(Snapshot(before), Snapshot(after)), errorCode, errorMessage));

    public ValueTask WriteReplayedAsync(AuditCall call, string resourceId, object record, CancellationToken cancellationToken) =>
        WriteAloneAsync(Entry(call, resourceId, AuditOutcome.Replayed, new AuditChanges(Snapshot(record), null), null, null), cancellationToken);

    /// <summary>Writes a rejected call's entry in <paramref name="unit"/>, for a caller that writes more with it.</summary>
    public void WriteRejected(IUnitOfWork unit, AuditCall call, string? resourceId, PaymentsKitException error) =>
        unit.Insert(OrchestrationCollections.AuditLogs, Entry(call, resourceId, AuditOutcome.Rejected, null, error.Code, error.Message));

    public async ValueTask WriteRejectedAsync(AuditCall call, string? resourceId, PaymentsKitException error, CancellationToken cancellationToken)
    {
        try
        {
            await WriteAloneAsync(Entry(call, resourceId, AuditOutcome.Rejected, null, error.Code, error.Message), cancellationToken).ConfigureAwait(false);
        }
        catch (PaymentsKitException)
        {
            // The caller must see why its call failed, not that the audit write failed after it.
        }
    }

    private async ValueTask WriteAloneAsync(AuditLogEntry entry, CancellationToken cancellationToken) =>
        await store.ExecuteAsync(
            (unit, _) =>
            {
                unit.Insert(OrchestrationCollections.AuditLogs, entry);
                return ValueTask.FromResult(true);
            },
            cancellationToken).ConfigureAwait(false);

    private AuditLogEntry Entry(AuditCall call, string? resourceId, AuditOutcome outcome, AuditChanges? changes, string? errorCode, string? errorMessage) => new()
    {
        Id = AuditLogId.New(clock),
        PartnerId = call.PartnerId,
        Action = call.Action,
        ResourceType = call.ResourceType,
        // A rejected call's message may repeat the bad input, a provider's code and message anything: stored as every store
        // keeps it, so the entry is never lost.
        ResourceId = resourceId is null ? null : Guard.Storable(resourceId),
        Outcome = outcome,
        ErrorCode = errorCode is null ? null : Guard.Storable(errorCode),
        ErrorMessage = errorMessage is null ? null : Guard.Storable(errorMessage),
        IpAddress = call.Context.IpAddress,
        UserAgent = call.Context.UserAgent,
        RequestId = call.Context.RequestId,
        Changes = changes,
        CreatedAt = clock.GetCurrentInstant(),
    };

    private JsonElement? Snapshot(object? record)
    {
        if (record is null)
        {
            return null;
        }

        var node = JsonSerializer.SerializeToNode(record, record.GetType(), json.Options);
        if (node is JsonObject obj)
        {
            foreach (var name in Redacted)
            {
                obj.Remove(name);
            }
        }

        return JsonSerializer.SerializeToElement(node, json.Options);
    }
}
