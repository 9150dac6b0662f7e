using System.Globalization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using NodaTime;
using PaymentsKit.Json;
using PaymentsKit.Storage;
using static PaymentsKit.Orchestration.OrchestrationCollections;

namespace PaymentsKit.Orchestration;

/// <summary>
/// Transactions and refunds. Each state change is one unit of work holding the transaction record
/// (version bumped), its event, any refund record, the ledger posting and the audit entry; provider
/// calls happen between units, never inside one, and their outcomes are applied by a unit that
/// first re-checks the state, so a result delivered twice (response, webhook, poll) applies once.
/// </summary>
internal sealed partial class TransactionService(
    IPaymentsStore store,
    IClock clock,
    OrchestrationCatalog catalog,
    IOptions<OrchestrationOptions> options,
    PaymentProviderRegistry providers,
    IOrchestrationLedger ledger,
    AuditTrail audit,
    PaymentsKitJsonOptions json,
    IDueTransactionQueue due,
    ILogger<TransactionService>? logger = null) : ITransactionService, IRefundService
{
    private const string ResourceType = "transaction";
    private const string OutcomeUnknownCode = "provider_outcome_unknown";

    /// <summary>The actor of changes PaymentsKit makes on its own (see <see cref="TransactionEvent.CreatedBy"/>).</summary>
    private const string SystemActor = "system";

    public async ValueTask<PaymentTransaction> CreateAsync(PartnerId partnerId, CreateTransactionRequest request, RequestContext context, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(context);
        var call = new AuditCall(partnerId, "transaction.create", ResourceType, context);
        PaymentTransaction transaction;
        try
        {
            Guard.NotNull(request, "request");
            await PartnerGate.RequireActiveAsync(store, partnerId, cancellationToken).ConfigureAwait(false);
            var amount = ValidateAmount(request.Amount, request.Currency);
            var method = catalog.GetPaymentMethod(request.PaymentMethod);
            var provider = OrchestrationRules.Provider(request.Provider);
            providers.Get(provider);
            var email = OrchestrationRules.Email(request.CustomerEmail, "customer_email");
            var name = Guard.OptionalText(request.CustomerName, "customer_name", 255);
            var phone = Guard.OptionalText(request.CustomerPhone, "customer_phone", 50);
            var customerId = Guard.OptionalText(request.ProviderCustomerId, "provider_customer_id", 255);
            var description = Guard.OptionalProse(request.Description, "description", 5000);
            var metadata = OrchestrationRules.Metadata(request.Metadata, "metadata");
            if (!Enum.IsDefined(request.CaptureMethod))
            {
                throw PaymentsKitException.InvalidArgument("capture_method", request.CaptureMethod, "is not automatic or manual");
            }

            // The amount as the currency keeps it, so 10 and 10.00 are the same request, and the metadata in ordinal key
            // order, so the same pairs sent in another order are too.
            var fingerprints = Idempotency.FingerprintWithOrderedMetadata(
                request with { Amount = amount.Amount }, metadata, (r, ordered) => r with { Metadata = ordered }, json.Options);
            var fingerprint = fingerprints.Value;
            var (record, created) = await Idempotency.CreateOnceAsync(
                store,
                Transactions,
                IdempotencyKey,
                partnerId.Value,
                request.IdempotencyKey,
                fingerprint,
                t => fingerprints.Matching(t.RequestFingerprint),
                (unit, _) =>
                {
                    var now = clock.GetCurrentInstant();
                    var zero = Money.Zero(amount.Asset);
                    var created = new PaymentTransaction
                    {
                        Id = TransactionId.New(clock),
                        PartnerId = partnerId,
                        IdempotencyKey = request.IdempotencyKey,
                        RequestFingerprint = fingerprint,
                        Amount = amount,
                        PaymentMethod = method.Code,
                        Provider = provider,
                        CaptureMethod = request.CaptureMethod,
                        ConfirmOnCreate = request.Confirm,
                        ProviderCustomerId = customerId,
                        Status = TransactionStatus.Pending,
                        CustomerEmail = email,
                        CustomerName = name,
                        CustomerPhone = phone,
                        Description = description,
                        Metadata = metadata,
                        IpAddress = context.IpAddress,
                        UserAgent = context.UserAgent,
                        RequestId = context.RequestId,
                        RefundedAmount = zero,
                        ReservedRefundAmount = zero,
                        EventCount = 1,
                        RefundCount = 0,
                        CreatedAt = now,
                        UpdatedAt = now,
                    };
                    unit.Insert(Transactions, created);
                    unit.Insert(Events, NewEvent(created, 1, null, null, Actor(partnerId, context), context, null));
                    unit.Insert(References, new ProviderReference(created.Id.Value, partnerId, created.Id));
                    audit.Write(unit, call, created.Id.ToString(), null, created);
                    return ValueTask.FromResult(created);
                },
                cancellationToken).ConfigureAwait(false);
            if (!created)
            {
                // A replay returns the transaction as it is now, so one the first call left unsent (it died before sending,
                // or the send's outcome is unknown) is driven forward first rather than returned stale.
                if (request.Confirm && record.DeletedAt is null)
                {
                    record = await DrivePaymentAsync(partnerId, record.Id, context, null, cancellationToken).ConfigureAwait(false);
                }

                await audit.WriteReplayedAsync(call, record.Id.ToString(), record, cancellationToken).ConfigureAwait(false);
                return record;
            }

            transaction = record;
        }
        catch (PaymentsKitException ex)
        {
            await audit.WriteRejectedAsync(call, null, ex, cancellationToken).ConfigureAwait(false);
            throw;
        }

        // The creation is audited as done: the transaction exists. Its payment is the create's confirmation, audited as one.
        return request.Confirm
            ? await DrivePaymentAsync(partnerId, transaction.Id, context, new AuditCall(partnerId, "transaction.confirm", ResourceType, context), cancellationToken).ConfigureAwait(false)
            : transaction;
    }

    public ValueTask<PaymentTransaction> ConfirmAsync(PartnerId partnerId, TransactionId transactionId, RequestContext context, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(context);
        return ConfirmPendingAsync(partnerId, transactionId, context, new AuditCall(partnerId, "transaction.confirm", ResourceType, context), cancellationToken);
    }

    public async ValueTask<PaymentTransaction> CaptureAsync(PartnerId partnerId, TransactionId transactionId, RequestContext context, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(context);
        var call = new AuditCall(partnerId, "transaction.capture", ResourceType, context);
        var transaction = await MutateAsync(call, partnerId, transactionId, (unit, current) =>
        {
            var tx = current.Value;
            TransactionLifecycle.Machine.Transition(tx.Status, TransactionStatus.Completed);
            RequireManualCapture(tx, "capture");
            RequireAuthorized(tx, "capture");
            providers.Get(tx.Provider);
            return Write(unit, current, tx with { InFlightAction = ProviderAction.Capture }, Actor(partnerId, context), context, null);
        }, cancellationToken).ConfigureAwait(false);

        var provider = providers.Get(transaction.Provider);
        var result = await CallProviderAsync(ct => provider.CaptureAsync(PaymentReference(transaction), ct), cancellationToken).ConfigureAwait(false);
        return await ApplyPaymentResultAsync(
            partnerId, transactionId, result, Actor(partnerId, context), context, CallOutcome(call, ProviderAction.Capture), false, cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask<PaymentTransaction> CancelAsync(PartnerId partnerId, TransactionId transactionId, RequestContext context, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(context);
        var call = new AuditCall(partnerId, "transaction.cancel", ResourceType, context);
        var transaction = await MutateAsync(call, partnerId, transactionId, (unit, current) =>
        {
            var tx = current.Value;
            TransactionLifecycle.Machine.Transition(tx.Status, TransactionStatus.Cancelled);
            if (tx.Status == TransactionStatus.Pending)
            {
                return Write(unit, current, tx with { Status = TransactionStatus.Cancelled }, Actor(partnerId, context), context, null);
            }

            RequireManualCapture(tx, "cancel");
            RequireAuthorized(tx, "cancel");
            providers.Get(tx.Provider);
            return Write(unit, current, tx with { InFlightAction = ProviderAction.Cancel }, Actor(partnerId, context), context, null);
        }, cancellationToken).ConfigureAwait(false);
        if (transaction.Status == TransactionStatus.Cancelled)
        {
            return transaction;
        }

        var provider = providers.Get(transaction.Provider);
        var result = await CallProviderAsync(ct => provider.CancelAsync(PaymentReference(transaction), ct), cancellationToken).ConfigureAwait(false);
        return await ApplyPaymentResultAsync(
            partnerId, transactionId, result, Actor(partnerId, context), context, CallOutcome(call, ProviderAction.Cancel), false, cancellationToken).ConfigureAwait(false);
    }

    public ValueTask<PaymentTransaction> DeleteAsync(PartnerId partnerId, TransactionId transactionId, RequestContext context, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(context);
        var call = new AuditCall(partnerId, "transaction.delete", ResourceType, context);
        return MutateAsync(call, partnerId, transactionId, (unit, current) =>
        {
            var tx = current.Value;
            if (tx is { Status: TransactionStatus.Processing, InFlightAction: null, AuthorizedAt: not null })
            {
                // Nothing is in flight, so waiting would never allow it; deleted, the authorization could never be released.
                throw new PaymentsKitException(
                    PaymentsKitErrorCodes.InvalidTransition,
                    $"Cannot delete transaction {tx.Id}: its authorization still stands; cancel or capture it first.",
                    new Dictionary<string, object?> { ["transaction"] = tx.Id.ToString(), ["status"] = tx.Status.ToString() });
            }

            if (tx.Status == TransactionStatus.Processing || !tx.ReservedRefundAmount.IsZero)
            {
                throw InFlight(tx, "delete");
            }

            return Write(unit, current, tx with { DeletedAt = clock.GetCurrentInstant() }, Actor(partnerId, context), context, null);
        }, cancellationToken);
    }

    public async ValueTask<PaymentTransaction> GetAsync(PartnerId partnerId, TransactionId transactionId, CancellationToken cancellationToken = default)
    {
        var unit = await store.BeginAsync(cancellationToken).ConfigureAwait(false);
        await using (unit.ConfigureAwait(false))
        {
            return (await LoadAsync(unit, partnerId, transactionId, cancellationToken).ConfigureAwait(false)).Value;
        }
    }

    public async ValueTask<Page<PaymentTransaction>> ListAsync(PartnerId partnerId, string? cursor, int limit, CancellationToken cancellationToken = default)
    {
        var unit = await store.BeginAsync(cancellationToken).ConfigureAwait(false);
        await using (unit.ConfigureAwait(false))
        {
            var page = await unit.ListAsync(Transactions, partnerId.Value, cursor, limit, cancellationToken).ConfigureAwait(false);
            return new Page<PaymentTransaction>([.. page.Items.Select(v => v.Value).Where(t => t.DeletedAt is null)], page.NextCursor);
        }
    }

    public async ValueTask<IReadOnlyList<TransactionEvent>> GetEventsAsync(PartnerId partnerId, TransactionId transactionId, CancellationToken cancellationToken = default)
    {
        var unit = await store.BeginAsync(cancellationToken).ConfigureAwait(false);
        await using (unit.ConfigureAwait(false))
        {
            var tx = (await LoadAsync(unit, partnerId, transactionId, cancellationToken).ConfigureAwait(false)).Value;
            var events = new List<TransactionEvent>((int)tx.EventCount);
            for (var sequence = tx.EventCount; sequence >= 1; sequence--)
            {
                // Events commit with the transaction record that counts them, so every number up to the count exists.
                var found = await unit.FindAsync(Events, partnerId.Value, SequenceKey, SequenceValue(transactionId, sequence), cancellationToken).ConfigureAwait(false)
                    ?? throw new PaymentsKitException(
                        PaymentsKitErrorCodes.StorageFailure,
                        string.Create(CultureInfo.InvariantCulture, $"Event {sequence} of transaction {transactionId} is missing."));
                events.Add(found.Value);
            }

            return events;
        }
    }

    /// <summary>
    /// Who a call's changes are recorded as made by: the system for PaymentsKit's own calls (<see cref="RequestContext.Internal"/>,
    /// e.g. <see cref="SyncDueAsync"/>), otherwise the partner.
    /// </summary>
    /// <remarks>
    /// Compared by reference: a partner's request from 127.0.0.1 with the user agent "PaymentsKit" has an equal context,
    /// and is still the partner's call.
    /// </remarks>
    private static string Actor(PartnerId partnerId, RequestContext context) =>
        ReferenceEquals(context, RequestContext.Internal) ? SystemActor : "partner:" + partnerId;

    private static string Actor(PaymentProvider provider) => "provider:" + OrchestrationRules.Name(provider);

    private static ProviderPaymentReference PaymentReference(PaymentTransaction tx) =>
        new(tx.Id.ToString(), tx.ProviderTransactionId, tx.Amount);

    private static PaymentsKitException InFlight(PaymentTransaction tx, string operation) =>
        new(PaymentsKitErrorCodes.TransactionInFlight,
            $"Cannot {operation} transaction {tx.Id}: a provider call for it ({tx.InFlightAction?.ToString() ?? (tx.Status == TransactionStatus.Processing ? "payment" : "refund")}) is still awaiting its outcome.",
            new Dictionary<string, object?> { ["transaction"] = tx.Id.ToString(), ["status"] = tx.Status.ToString() });

    /// <summary>
    /// Only a manual-capture payment is ever an authorization to capture or void. Checked on the capture method itself,
    /// not only through AuthorizedAt, because older code marked automatic charges authorized, and before the in-flight
    /// check, because waiting would never make the operation valid.
    /// </summary>
    private static void RequireManualCapture(PaymentTransaction tx, string operation)
    {
        if (tx.CaptureMethod != CaptureMethod.Manual)
        {
            throw new PaymentsKitException(
                PaymentsKitErrorCodes.InvalidTransition,
                $"Cannot {operation} transaction {tx.Id}: it is an automatic charge ({tx.Status}), not an authorization.",
                new Dictionary<string, object?> { ["transaction"] = tx.Id.ToString(), ["status"] = tx.Status.ToString(), ["capture_method"] = tx.CaptureMethod.ToString() });
        }
    }

    private static void RequireAuthorized(PaymentTransaction tx, string operation)
    {
        if (tx.AuthorizedAt is null || tx.InFlightAction is not null)
        {
            throw InFlight(tx, operation);
        }
    }

    private static async ValueTask<Versioned<PaymentTransaction>> LoadAsync(IUnitOfWork unit, PartnerId partnerId, TransactionId transactionId, CancellationToken cancellationToken) =>
        await unit.GetAsync(Transactions, partnerId.Value, transactionId.Value, cancellationToken).ConfigureAwait(false) is { Value.DeletedAt: null } found
            ? found
            : throw OrchestrationRules.NotFound(ResourceType, transactionId.ToString());

    private static async ValueTask<ProviderResult> CallProviderAsync(Func<CancellationToken, ValueTask<ProviderResult>> call, CancellationToken cancellationToken)
    {
        try
        {
            return await call(cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException ex)
        {
            return Unknown(ex);
        }
        catch (HttpRequestException ex)
        {
            return Unknown(ex);
        }
        catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested)
        {
            return Unknown(ex);
        }

        static ProviderResult Unknown(Exception ex) => new(ProviderOutcome.Unknown, ErrorCode: OutcomeUnknownCode, ErrorMessage: ex.Message);
    }

    /// <summary>
    /// A status poll's answer, and whether the provider gave it: a poll that timed out or failed to connect also reads as
    /// <see cref="ProviderOutcome.Unknown"/>, but says nothing about what the provider received.
    /// </summary>
    private static async ValueTask<(ProviderResult Result, bool Answered)> PollAsync(Func<CancellationToken, ValueTask<ProviderResult>> poll, CancellationToken cancellationToken)
    {
        var answered = false;
        var result = await CallProviderAsync(
            async ct =>
            {
                var answer = await poll(ct).ConfigureAwait(false);
                answered = true;
                return answer;
            },
            cancellationToken).ConfigureAwait(false);
        return (result, answered);
    }

    /// <summary>
    /// The refusal applied to a call for a deleted partner (a payment, capture, cancel or refund) that the provider still
    /// shows it has not received <see cref="OrchestrationOptions.DropTimeout"/> after the deletion: nothing is sent for a
    /// deleted partner, so it never will.
    /// </summary>
    private ProviderResult Dropped(Partner partner, string what) =>
        new(
            ProviderOutcome.Declined,
            ErrorCode: TransactionSyncRule.NotReceivedByProvider,
            ErrorMessage: string.Create(
                CultureInfo.InvariantCulture,
                $"The provider has not received the {what} {(clock.GetCurrentInstant() - partner.DeletedAt!.Value).TotalSeconds:0} s after partner {partner.Id} was deleted (drop timeout {options.Value.DropTimeout.TotalSeconds:0} s), and nothing is sent for a deleted partner."));

    /// <summary>
    /// The answer applied to a suspended partner's call already sent (a payment, capture, cancel or refund) that the provider
    /// still shows it has not received <see cref="OrchestrationOptions.DropTimeout"/> after the suspension: nothing is sent
    /// for a suspended partner, so polling it again can only get the same answer. It is not given up as a deleted partner's
    /// is (<see cref="Dropped"/>), because the partner may be active again and the first pass then sends it (keyed by its
    /// id): it stays processing with its call in flight, and <see cref="TransactionSyncRule.NotReceivedByProvider"/> as its
    /// error code leaves it out of what is due meanwhile. A provider's webhook still resolves it.
    /// </summary>
    private ProviderResult Held(Partner suspended, string what) =>
        new(
            ProviderOutcome.Unknown,
            ErrorCode: TransactionSyncRule.NotReceivedByProvider,
            ErrorMessage: string.Create(
                CultureInfo.InvariantCulture,
                $"The provider has not received the {what} {(clock.GetCurrentInstant() - suspended.UpdatedAt).TotalSeconds:0} s after partner {suspended.Id} was suspended (drop timeout {options.Value.DropTimeout.TotalSeconds:0} s); it is sent again once the partner is active again."));

    private Money ValidateAmount(decimal value, string? currency)
    {
        var amount = Money.Of(value, catalog.GetCurrencyAsset(currency));
        var settings = options.Value;
        if (value < settings.MinAmount || value > settings.MaxAmount)
        {
            throw new PaymentsKitException(
                PaymentsKitErrorCodes.AmountOutOfRange,
                string.Create(CultureInfo.InvariantCulture, $"amount {value} {currency} is outside {settings.MinAmount}–{settings.MaxAmount}."),
                new Dictionary<string, object?> { ["field"] = "amount", ["value"] = value, ["min"] = settings.MinAmount, ["max"] = settings.MaxAmount });
        }

        return amount;
    }

    /// <summary>Runs a partner's mutating call on one transaction, auditing it in the same unit or, if rejected, alone.</summary>
    private async ValueTask<PaymentTransaction> MutateAsync(
        AuditCall call,
        PartnerId partnerId,
        TransactionId transactionId,
        Func<IUnitOfWork, Versioned<PaymentTransaction>, PaymentTransaction> change,
        CancellationToken cancellationToken)
    {
        try
        {
            await PartnerGate.RequireActiveAsync(store, partnerId, cancellationToken).ConfigureAwait(false);
            return await ExecuteAsync(
                async (unit, ct) =>
                {
                    var current = await LoadAsync(unit, partnerId, transactionId, ct).ConfigureAwait(false);
                    var next = change(unit, current);

                    // A call that puts a provider call in flight has done only that so far: its outcome is audited when the
                    // provider's answer is applied (CallOutcome), or by the sync or webhook that learns it.
                    audit.Write(unit, next.InFlightAction is not null && current.Value.InFlightAction is null ? call.Initiated() : call, transactionId.ToString(), current.Value, next);
                    return next;
                },
                cancellationToken).ConfigureAwait(false);
        }
        catch (PaymentsKitException ex)
        {
            await audit.WriteRejectedAsync(call, transactionId.ToString(), ex, cancellationToken).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Audits a partner's call (a confirm, capture or cancel, or a create's confirmation) in the unit that applies the
    /// provider's answer to the <paramref name="action"/> it sent, once that answer settles it: succeeded when the provider
    /// did it (charged or authorized, captured, voided), otherwise rejected with the provider's code and message, as a call
    /// refused before anything was written is. An answer that leaves the call in flight (unknown, a timeout) writes nothing:
    /// the call's initiation is audited already and claims no outcome, and the sync or webhook that learns it audits it.
    /// </summary>
    private Action<IUnitOfWork, PaymentTransaction, PaymentTransaction, ProviderResult> CallOutcome(AuditCall call, ProviderAction action) =>
        (unit, before, after, answer) =>
        {
            if (after.InFlightAction == action)
            {
                return;
            }

            var done = action switch
            {
                ProviderAction.Payment => after.Status is TransactionStatus.Completed or TransactionStatus.PartiallyRefunded or TransactionStatus.Refunded
                    || after is { Status: TransactionStatus.Processing, AuthorizedAt: not null },
                ProviderAction.Capture => after.Status is TransactionStatus.Completed or TransactionStatus.PartiallyRefunded or TransactionStatus.Refunded,
                _ => after.Status == TransactionStatus.Cancelled,
            };
            if (done)
            {
                audit.Write(unit, call, after.Id.ToString(), before, after);
                return;
            }

            audit.WriteRefused(
                unit,
                call,
                after.Id.ToString(),
                before,
                after,
                answer.ErrorCode ?? after.ErrorCode ?? (after.Status == TransactionStatus.Cancelled ? "provider_cancelled" : "provider_declined"),
                answer.ErrorMessage ?? after.ErrorMessage);
        };

    /// <summary>
    /// Buffers the new state of a transaction; a status change is checked against the lifecycle and
    /// gets exactly one event, numbered after the transaction's last. An <paramref name="eventType"/> names the
    /// change's event, and writes it also when the status stays (a refund initiated, a further partial refund completed).
    /// </summary>
    private PaymentTransaction Write(
        IUnitOfWork unit, Versioned<PaymentTransaction> current, PaymentTransaction next, string actor, RequestContext context, ProviderResult? provider,
        TransactionEventType? eventType = null)
    {
        next = next with { UpdatedAt = clock.GetCurrentInstant() };
        var changed = next.Status != current.Value.Status;
        if (changed)
        {
            TransactionLifecycle.Machine.Transition(current.Value.Status, next.Status);
        }

        var logged = changed || eventType is not null;
        if (logged)
        {
            next = next with { EventCount = current.Value.EventCount + 1 };
        }

        // The versioned update goes first so a lost race reports as a conflict (and is retried) rather than as a taken event number.
        unit.Update(Transactions, next, current.Version);
        if (logged)
        {
            unit.Insert(Events, NewEvent(next, next.EventCount, current.Value.Status, eventType, actor, context, provider));
        }

        // A refusal the sync pass kept is compared with the transaction as it was when refused, which a transaction coming to
        // rest has left for good; none is kept while it rests (the refusal's audit writes the transaction too, so the two
        // units are ordered), so only this write can find one to remove.
        if (TransactionSyncRule.IsAtRest(next) && !TransactionSyncRule.IsAtRest(current.Value))
        {
            unit.Remove(SyncRejections, next.PartnerId.Value, next.Id.Value);
        }

        return next;
    }

    /// <summary>Runs one unit of work with <see cref="PaymentsStoreExtensions.ExecuteAsync"/>'s conflict retries and <see cref="RetryOnSequenceRaceAsync"/>.</summary>
    private ValueTask<T> ExecuteAsync<T>(Func<IUnitOfWork, CancellationToken, ValueTask<T>> operation, CancellationToken cancellationToken) =>
        RetryOnSequenceRaceAsync(() => store.ExecuteAsync(operation, cancellationToken));

    /// <summary>
    /// Reruns an operation that lost the race for a transaction's next event or refund number. The
    /// transaction's version check normally reports that race first, but a store may find the taken
    /// number before the stale version.
    /// </summary>
    private static async ValueTask<T> RetryOnSequenceRaceAsync<T>(Func<ValueTask<T>> run)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await run().ConfigureAwait(false);
            }
            catch (PaymentsKitException ex) when (ex.Code == PaymentsKitErrorCodes.DuplicateKey && attempt < PaymentsStoreExtensions.MaxAttempts
                && ex.Context.TryGetValue("key", out var key) && Equals(key, SequenceKey))
            {
                // The winner's commit is visible now; the rerun reads it.
            }
        }
    }

    private TransactionEvent NewEvent(
        PaymentTransaction tx, long sequence, TransactionStatus? from, TransactionEventType? eventType, string actor, RequestContext context, ProviderResult? provider) => new()
    {
        Id = TransactionEventId.New(clock),
        PartnerId = tx.PartnerId,
        TransactionId = tx.Id,
        Sequence = sequence,
        EventType = eventType ?? (from is null ? TransactionEventType.Created : tx.Status switch
        {
            TransactionStatus.Processing => TransactionEventType.PaymentProcessing,
            TransactionStatus.Completed => TransactionEventType.PaymentCompleted,
            TransactionStatus.Failed => TransactionEventType.PaymentFailed,
            TransactionStatus.PartiallyRefunded or TransactionStatus.Refunded => TransactionEventType.RefundCompleted,
            _ => TransactionEventType.StatusChanged,
        }),
        FromStatus = from,
        Status = tx.Status,
        ProviderResponse = provider?.Response,
        ErrorMessage = tx.Status == TransactionStatus.Failed ? tx.ErrorMessage : null,
        CreatedBy = actor,
        IpAddress = context.IpAddress,
        CreatedAt = clock.GetCurrentInstant(),
    };
}
