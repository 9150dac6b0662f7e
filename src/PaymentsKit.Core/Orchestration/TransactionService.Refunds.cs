using System.Globalization;
using PaymentsKit.Storage;
using static PaymentsKit.Orchestration.OrchestrationCollections;

namespace PaymentsKit.Orchestration;

internal sealed partial class TransactionService
{
    private const string RefundResource = "refund";

    public async ValueTask<Refund> RefundAsync(PartnerId partnerId, TransactionId transactionId, CreateRefundRequest request, RequestContext context, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(context);
        var call = new AuditCall(partnerId, "refund.create", RefundResource, context);
        Refund refund;
        PaymentTransaction transaction;
        try
        {
            Guard.NotNull(request, "request");
            await PartnerGate.RequireActiveAsync(store, partnerId, cancellationToken).ConfigureAwait(false);
            var reason = Guard.Prose(request.Reason, "reason", 255);
            // The amount without trailing zeros (the currency is read later), so 10 and 10.00 are the same request.
            var fingerprint = Idempotency.Fingerprint(new { transaction_id = transactionId, Amount = Idempotency.CanonicalAmount(request.Amount), reason }, json.Options);

            async ValueTask<Refund> Reserve(IUnitOfWork unit, CancellationToken ct)
            {
                var current = await LoadAsync(unit, partnerId, transactionId, ct).ConfigureAwait(false);
                var tx = current.Value;
                if (tx.Status is not (TransactionStatus.Completed or TransactionStatus.PartiallyRefunded))
                {
                    throw new PaymentsKitException(
                        PaymentsKitErrorCodes.NotRefundable,
                        $"Transaction {tx.Id} is {tx.Status}; only completed or partially refunded transactions can be refunded.",
                        new Dictionary<string, object?> { ["transaction"] = tx.Id.ToString(), ["status"] = tx.Status.ToString() });
                }

                var amount = Money.Of(request.Amount, tx.Amount.Asset);
                if (!amount.IsPositive)
                {
                    throw new PaymentsKitException(
                        PaymentsKitErrorCodes.AmountOutOfRange,
                        string.Create(CultureInfo.InvariantCulture, $"refund amount {request.Amount} must be positive."),
                        new Dictionary<string, object?> { ["field"] = "amount", ["value"] = request.Amount });
                }

                if (amount > tx.RefundableAmount)
                {
                    throw new PaymentsKitException(
                        PaymentsKitErrorCodes.RefundExceedsRemaining,
                        $"refund amount {amount} exceeds the {tx.RefundableAmount} that remains of transaction {tx.Id} ({tx.RefundedAmount} refunded, {tx.ReservedRefundAmount} in flight).",
                        new Dictionary<string, object?>
                        {
                            ["field"] = "amount", ["value"] = request.Amount, ["remaining"] = tx.RefundableAmount.Amount, ["transaction"] = tx.Id.ToString(),
                        });
                }

                // Refused here, not when the refund is sent: a refund reserved by a host without its provider would stay
                // pending, and a host with it would send it after this caller was told it failed.
                providers.Get(tx.Provider);
                var now = clock.GetCurrentInstant();
                var created = new Refund
                {
                    Id = RefundId.New(clock),
                    PartnerId = partnerId,
                    TransactionId = transactionId,
                    Sequence = tx.RefundCount + 1,
                    IdempotencyKey = request.IdempotencyKey,
                    RequestFingerprint = fingerprint,
                    Amount = amount,
                    Reason = reason,
                    Status = RefundStatus.Pending,
                    CreatedAt = now,
                    UpdatedAt = now,
                };

                // Writing the transaction (version bump) is what serializes concurrent refunds of it.
                Write(
                    unit, current, tx with { ReservedRefundAmount = tx.ReservedRefundAmount + amount, RefundCount = created.Sequence }, Actor(partnerId, context), context, null,
                    TransactionEventType.RefundInitiated);
                unit.Insert(Refunds, created);
                unit.Insert(References, new ProviderReference(created.Id.Value, partnerId, transactionId));
                // Reserved, not yet refunded: the refund's outcome is audited as refund.create when the provider's answer is applied.
                audit.Write(unit, call.Initiated(), created.Id.ToString(), null, created);
                return created;
            }

            bool isNew;
            if (request.IdempotencyKey is null)
            {
                (refund, isNew) = (await ExecuteAsync(Reserve, cancellationToken).ConfigureAwait(false), true);
            }
            else
            {
                (refund, isNew) = await RetryOnSequenceRaceAsync(() => Idempotency.CreateOnceAsync(
                    store, Refunds, IdempotencyKey, partnerId.Value, request.IdempotencyKey, fingerprint, r => r.RequestFingerprint, Reserve, cancellationToken)).ConfigureAwait(false);
            }

            if (!isNew)
            {
                // A replay returns the refund as it is now, so one whose outcome is unknown (the first call may have died
                // before sending it) is driven forward first rather than returned stale.
                if (refund.Status is RefundStatus.Pending or RefundStatus.Processing)
                {
                    var owner = await GetAsync(partnerId, refund.TransactionId, cancellationToken).ConfigureAwait(false);
                    refund = await DriveRefundAsync(owner, refund, providers.Get(owner.Provider), context, true, null, null, cancellationToken).ConfigureAwait(false);
                }

                await audit.WriteReplayedAsync(call, refund.Id.ToString(), refund, cancellationToken).ConfigureAwait(false);
                return refund;
            }

            transaction = await GetAsync(partnerId, transactionId, cancellationToken).ConfigureAwait(false);
        }
        catch (PaymentsKitException ex)
        {
            await audit.WriteRejectedAsync(call, null, ex, cancellationToken).ConfigureAwait(false);
            throw;
        }

        var provider = providers.Get(transaction.Provider);
        var result = await CallProviderAsync(ct => provider.RefundAsync(RefundRequest(transaction, refund), ct), cancellationToken).ConfigureAwait(false);
        return await ApplyRefundResultAsync(partnerId, refund.Id, result, Actor(partnerId, context), context, RefundOutcome(call), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Audits a refund call in the unit that applies the provider's answer, once that answer settles it: succeeded when the
    /// money was returned, otherwise rejected with the provider's code and message (see <see cref="CallOutcome"/>).
    /// </summary>
    private Action<IUnitOfWork, Refund, Refund> RefundOutcome(AuditCall call) =>
        (unit, before, after) =>
        {
            if (after.Status == RefundStatus.Completed)
            {
                audit.Write(unit, call, after.Id.ToString(), before, after);
            }
            else if (after.Status == RefundStatus.Failed)
            {
                audit.WriteRefused(unit, call, after.Id.ToString(), before, after, after.ErrorCode ?? "provider_declined", after.ErrorMessage);
            }
        };

    public async ValueTask<Refund> GetRefundAsync(PartnerId partnerId, RefundId refundId, CancellationToken cancellationToken = default)
    {
        var unit = await store.BeginAsync(cancellationToken).ConfigureAwait(false);
        await using (unit.ConfigureAwait(false))
        {
            var refund = (await LoadRefundAsync(unit, partnerId, refundId, cancellationToken).ConfigureAwait(false)).Value;

            // A deleted transaction is absent, and its refunds with it, as ListRefundsAsync answers for them.
            return await unit.GetAsync(Transactions, partnerId.Value, refund.TransactionId.Value, cancellationToken).ConfigureAwait(false) is { Value.DeletedAt: null }
                ? refund
                : throw OrchestrationRules.NotFound(RefundResource, refundId.ToString());
        }
    }

    public async ValueTask<IReadOnlyList<Refund>> ListRefundsAsync(PartnerId partnerId, TransactionId transactionId, CancellationToken cancellationToken = default)
    {
        var unit = await store.BeginAsync(cancellationToken).ConfigureAwait(false);
        await using (unit.ConfigureAwait(false))
        {
            var tx = (await LoadAsync(unit, partnerId, transactionId, cancellationToken).ConfigureAwait(false)).Value;
            var refunds = new List<Refund>(tx.RefundCount);
            await foreach (var refund in RefundsNewestFirstAsync(unit, tx, cancellationToken).ConfigureAwait(false))
            {
                refunds.Add(refund);
            }

            return refunds;
        }
    }

    /// <summary>
    /// Drives a refund whose outcome is unknown forward and applies the answer. A pending refund may never have reached
    /// the provider (the call that reserved it died before sending it, or is sending it now), nor a processing one the
    /// provider does not know (its call failed to connect): the first is sent again, the second polled and sent again when
    /// the provider does not know it. Resending is safe because the refund id is its idempotency key. Without
    /// <paramref name="send"/> (a partner that may not make calls) either is only polled, and a pending one stays pending
    /// unless the provider knows it; with <paramref name="dropped"/> (its partner deleted past
    /// <see cref="OrchestrationOptions.DropTimeout"/>) one the provider answers it does not know fails (see <see cref="Dropped"/>),
    /// and with <paramref name="held"/> (its partner suspended past it) a processing one is held (see <see cref="Held"/>).
    /// </summary>
    private async ValueTask<Refund> DriveRefundAsync(
        PaymentTransaction tx, Refund refund, IPaymentProvider provider, RequestContext context, bool send, Partner? dropped, Partner? held, CancellationToken cancellationToken)
    {
        ProviderResult? result = null;
        var answered = false;
        if (refund.Status == RefundStatus.Processing || !send)
        {
            (result, answered) = await PollAsync(ct => provider.GetRefundAsync(refund.Id.ToString(), ct), cancellationToken).ConfigureAwait(false);
        }

        if (result is null || (send && result.Outcome == ProviderOutcome.Unknown))
        {
            result = await CallProviderAsync(ct => provider.RefundAsync(RefundRequest(tx, refund), ct), cancellationToken).ConfigureAwait(false);
        }
        else if (result.Outcome == ProviderOutcome.Unknown && answered && dropped is not null)
        {
            result = Dropped(dropped, "refund");
        }
        else if (result.Outcome == ProviderOutcome.Unknown && answered && held is not null && refund.Status == RefundStatus.Processing)
        {
            result = Held(held, "refund");
        }
        else if (result.Outcome == ProviderOutcome.Unknown && refund.Status == RefundStatus.Pending)
        {
            // Processing means a call was sent whose answer was lost; nothing says this one was ever sent.
            return refund;
        }

        return await ApplyRefundResultAsync(tx.PartnerId, refund.Id, result, Actor(tx.PartnerId, context), context, null, cancellationToken).ConfigureAwait(false);
    }

    private static ProviderRefundRequest RefundRequest(PaymentTransaction tx, Refund refund) =>
        new(refund.Id.ToString(), PaymentReference(tx), refund.Amount, refund.Reason);

    private static async ValueTask<Versioned<Refund>> LoadRefundAsync(IUnitOfWork unit, PartnerId partnerId, RefundId refundId, CancellationToken cancellationToken) =>
        await unit.GetAsync(Refunds, partnerId.Value, refundId.Value, cancellationToken).ConfigureAwait(false) is { Value.DeletedAt: null } found
            ? found
            : throw OrchestrationRules.NotFound(RefundResource, refundId.ToString());

    /// <summary>
    /// Applies a provider's answer about a refund in one unit of work: the refund settles once, its
    /// reservation on the transaction is released or turned into a refunded amount, the transaction's
    /// status follows (with its event), and a completed refund posts to the ledger; <paramref name="audited"/>'s entry
    /// (given the refund before and after) is written in the same unit.
    /// </summary>
    private ValueTask<Refund> ApplyRefundResultAsync(
        PartnerId partnerId,
        RefundId refundId,
        ProviderResult result,
        string actor,
        RequestContext context,
        Action<IUnitOfWork, Refund, Refund>? audited,
        CancellationToken cancellationToken)
    {
        // Once, not on every retry of the unit.
        var answer = result.Storable();
        return ExecuteAsync(
            async (unit, ct) =>
            {
                var current = await LoadRefundAsync(unit, partnerId, refundId, ct).ConfigureAwait(false);
                var refund = current.Value;
                var settled = refund;
                if (refund.Status is RefundStatus.Pending or RefundStatus.Processing)
                {
                    var now = clock.GetCurrentInstant();
                    settled = answer.Outcome switch
                    {
                        ProviderOutcome.Succeeded => refund with
                        {
                            Status = RefundStatus.Completed, ProviderRefundId = answer.ProviderReference, ProcessedAt = now, ErrorCode = null, ErrorMessage = null,
                        },
                        // A refund the provider cancelled moved no money and never will: waiting for another answer would keep
                        // its amount reserved for ever.
                        ProviderOutcome.Declined or ProviderOutcome.Cancelled => refund with
                        {
                            Status = RefundStatus.Failed,
                            ProviderRefundId = answer.ProviderReference,
                            ProcessedAt = now,
                            ErrorCode = answer.ErrorCode ?? (answer.Outcome == ProviderOutcome.Cancelled ? "provider_cancelled" : "provider_declined"),
                            ErrorMessage = answer.ErrorMessage
                                ?? (answer.Outcome == ProviderOutcome.Cancelled ? "The provider cancelled the refund." : "The provider declined the refund."),
                        },
                        _ => refund with
                        {
                            Status = RefundStatus.Processing,
                            ErrorCode = answer.ErrorCode ?? OutcomeUnknownCode,
                            ErrorMessage = answer.ErrorMessage ?? "The provider has not reported an outcome yet.",
                        },
                    };
                }

                if (settled != refund)
                {
                    if (settled.Status != refund.Status)
                    {
                        RefundLifecycle.Machine.Transition(refund.Status, settled.Status);
                    }

                    // Stamped before it is written, so the caller and the audit entry get the refund as it is stored.
                    settled = settled with { UpdatedAt = clock.GetCurrentInstant() };
                    unit.Update(Refunds, settled, current.Version);
                    if (settled.Status is RefundStatus.Completed or RefundStatus.Failed)
                    {
                        var txCurrent = await unit.GetAsync(Transactions, partnerId.Value, refund.TransactionId.Value, ct).ConfigureAwait(false)
                            ?? throw OrchestrationRules.NotFound(ResourceType, refund.TransactionId.ToString());
                        var tx = txCurrent.Value;
                        var next = tx with { ReservedRefundAmount = tx.ReservedRefundAmount - refund.Amount };
                        if (settled.Status == RefundStatus.Completed)
                        {
                            var refunded = tx.RefundedAmount + refund.Amount;
                            next = next with
                            {
                                RefundedAmount = refunded,
                                Status = refunded == tx.Amount ? TransactionStatus.Refunded : TransactionStatus.PartiallyRefunded,
                            };
                        }

                        // A failed refund only releases its reservation: the seed has no event type for it.
                        var written = Write(
                            unit, txCurrent, next, actor, context, answer,
                            settled.Status == RefundStatus.Completed ? TransactionEventType.RefundCompleted : null);
                        if (settled.Status == RefundStatus.Completed)
                        {
                            await ledger.PostRefundAsync(unit, written, settled, ct).ConfigureAwait(false);
                        }
                    }
                }

                audited?.Invoke(unit, refund, settled);

                return settled;
            },
            cancellationToken);
    }
}
