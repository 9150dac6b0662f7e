using PaymentsKit.Storage;
using static PaymentsKit.Orchestration.OrchestrationCollections;

namespace PaymentsKit.Orchestration;

internal sealed partial class TransactionService
{
    /// <summary>Moves a pending transaction to processing, calls the provider, and applies its answer.</summary>
    private async ValueTask<PaymentTransaction> ConfirmPendingAsync(PartnerId partnerId, TransactionId transactionId, RequestContext context, AuditCall call, CancellationToken cancellationToken)
    {
        var tx = await MutateAsync(call, partnerId, transactionId, (unit, current) => StartPayment(unit, current, context), cancellationToken).ConfigureAwait(false);
        return await SendPaymentAsync(tx, context, call, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Drives a confirmed create forward, on its first call and on every replay: a pending transaction (never sent, also
    /// when an earlier call died before sending it) is claimed and sent; one whose payment is in flight (its outcome
    /// unknown: an answer lost, a call that died after claiming it, or a concurrent call sending it now) is polled and,
    /// when the provider does not know it, sent again under the same idempotency key. Anything else is returned as it is.
    /// With <paramref name="confirm"/> (a create's first call) the payment it sends is audited as the create's confirmation,
    /// initiated when claimed and then as the provider answered it; a replay or a sync audits what it did in its own entry.
    /// </summary>
    private async ValueTask<PaymentTransaction> DrivePaymentAsync(
        PartnerId partnerId, TransactionId transactionId, RequestContext context, AuditCall? confirm, CancellationToken cancellationToken)
    {
        var (tx, claimed) = await ExecuteAsync(
            async (unit, ct) =>
            {
                var current = await LoadAsync(unit, partnerId, transactionId, ct).ConfigureAwait(false);
                if (current.Value.Status != TransactionStatus.Pending)
                {
                    return (current.Value, false);
                }

                var started = StartPayment(unit, current, context);
                if (confirm is not null)
                {
                    audit.Write(unit, confirm.Initiated(), transactionId.ToString(), current.Value, started);
                }

                return (started, true);
            },
            cancellationToken).ConfigureAwait(false);
        if (claimed)
        {
            return await SendPaymentAsync(tx, context, confirm, cancellationToken).ConfigureAwait(false);
        }

        return tx is { Status: TransactionStatus.Processing, InFlightAction: ProviderAction.Payment }
            ? await PollPaymentAsync(tx, providers.Get(tx.Provider), context, true, null, null, cancellationToken).ConfigureAwait(false)
            : tx;
    }

    /// <summary>
    /// Claims a pending transaction for its payment call (processing, the payment in flight). Like every claim of a provider
    /// call (a capture, a cancel, a refund's reservation), it is refused when this host has not registered the provider,
    /// so nothing is left in flight that only another host could send.
    /// </summary>
    private PaymentTransaction StartPayment(IUnitOfWork unit, Versioned<PaymentTransaction> current, RequestContext context)
    {
        // Checked here, not only by Write (which checks changes of status): confirming a transaction already processing
        // would send the payment to the provider again.
        TransactionLifecycle.Machine.Transition(current.Value.Status, TransactionStatus.Processing);
        providers.Get(current.Value.Provider);
        return Write(unit, current, current.Value with { Status = TransactionStatus.Processing, InFlightAction = ProviderAction.Payment }, Actor(current.Value.PartnerId, context), context, null);
    }

    /// <summary>Sends a claimed transaction's payment to its provider and applies the answer, auditing it as <paramref name="call"/>'s outcome when given.</summary>
    private async ValueTask<PaymentTransaction> SendPaymentAsync(PaymentTransaction tx, RequestContext context, AuditCall? call, CancellationToken cancellationToken)
    {
        var provider = providers.Get(tx.Provider);
        var result = await CallProviderAsync(ct => Pay(provider, tx, ct), cancellationToken).ConfigureAwait(false);
        return await ApplyPaymentResultAsync(
            tx.PartnerId, tx.Id, result, Actor(tx.PartnerId, context), context, call is null ? null : CallOutcome(call, ProviderAction.Payment), false, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Polls the provider about a processing transaction and applies the answer; when the provider has not acted on the
    /// call in flight (see <see cref="Resend"/>) and <paramref name="resend"/> allows it, sends that call again and
    /// applies its answer. With <paramref name="dropped"/> (its partner deleted past <see cref="OrchestrationOptions.DropTimeout"/>),
    /// a call the provider answers it has not acted on is given up instead (see <see cref="Dropped"/>): a payment it does not
    /// know fails; a capture or cancel of an authorization it still reports is refused, and the authorization stands. With
    /// <paramref name="held"/> (its partner suspended past the drop timeout) such a call is held instead (see <see cref="Held"/>).
    /// </summary>
    private async ValueTask<PaymentTransaction> PollPaymentAsync(
        PaymentTransaction tx, IPaymentProvider provider, RequestContext context, bool resend, Partner? dropped, Partner? held, CancellationToken cancellationToken)
    {
        var (result, answered) = await PollAsync(ct => provider.GetPaymentAsync(PaymentReference(tx), ct), cancellationToken).ConfigureAwait(false);
        var polled = await ApplyPaymentResultAsync(tx.PartnerId, tx.Id, result, Actor(tx.PartnerId, context), context, null, true, cancellationToken).ConfigureAwait(false);
        if (dropped is not null && answered && polled.InFlightAction is { } action && Resend(result.Outcome, polled) is not null)
        {
            // Applied as the provider's refusal, so the state it settles to and the checks of the unit are the refusal's.
            var refusal = Dropped(dropped, action.ToString().ToLowerInvariant());
            return await ApplyPaymentResultAsync(tx.PartnerId, tx.Id, refusal, Actor(tx.PartnerId, context), context, null, false, cancellationToken).ConfigureAwait(false);
        }

        if (held is not null && answered && polled.InFlightAction is { } waiting && Resend(result.Outcome, polled) is not null)
        {
            var hold = Held(held, waiting.ToString().ToLowerInvariant());
            return await ApplyPaymentResultAsync(tx.PartnerId, tx.Id, hold, Actor(tx.PartnerId, context), context, null, false, cancellationToken).ConfigureAwait(false);
        }

        if (!resend || Resend(result.Outcome, polled) is not { } again)
        {
            return polled;
        }

        var resent = await CallProviderAsync(ct => again(provider, ct), cancellationToken).ConfigureAwait(false);
        return await ApplyPaymentResultAsync(tx.PartnerId, tx.Id, resent, Actor(tx.PartnerId, context), context, null, false, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Applies a provider's answer about a payment (call response, webhook or poll) in one unit of
    /// work. Only a processing transaction changes, so whichever delivery commits first wins and the
    /// others find nothing left to do; a completed charge posts to the ledger in the same unit, and so does
    /// <paramref name="audited"/>'s entry (given the transaction before and after, and the answer).
    /// </summary>
    private ValueTask<PaymentTransaction> ApplyPaymentResultAsync(
        PartnerId partnerId,
        TransactionId transactionId,
        ProviderResult result,
        string actor,
        RequestContext context,
        Action<IUnitOfWork, PaymentTransaction, PaymentTransaction, ProviderResult>? audited,
        bool isPoll,
        CancellationToken cancellationToken)
    {
        // Once, not on every retry of the unit.
        var answer = result.Storable();
        return ExecuteAsync(
            async (unit, ct) =>
            {
                var current = await LoadAsync(unit, partnerId, transactionId, ct).ConfigureAwait(false);
                var next = Resolve(current.Value, answer, isPoll);
                var written = next is null ? current.Value : Write(unit, current, next, actor, context, answer);
                if (written.Status == TransactionStatus.Completed && current.Value.Status != TransactionStatus.Completed)
                {
                    await ledger.PostChargeAsync(unit, written, ct).ConfigureAwait(false);
                }

                audited?.Invoke(unit, current.Value, written, answer);
                return written;
            },
            cancellationToken);
    }

    /// <summary>The transaction after a provider answer, or null when the answer changes nothing.</summary>
    private PaymentTransaction? Resolve(PaymentTransaction tx, ProviderResult result, bool isPoll)
    {
        if (tx.Status != TransactionStatus.Processing)
        {
            return null;
        }

        var now = clock.GetCurrentInstant();
        var retries = isPoll ? tx.RetryCount + 1 : tx.RetryCount;
        var providerId = tx.ProviderTransactionId ?? result.ProviderReference;
        switch (result.Outcome)
        {
            case ProviderOutcome.Succeeded:
                return tx with
                {
                    Status = TransactionStatus.Completed,
                    ProcessedAt = now,
                    ProviderTransactionId = providerId,
                    InFlightAction = null,
                    ErrorCode = null,
                    ErrorMessage = null,
                    RetryCount = retries,
                };
            case ProviderOutcome.Authorized when tx.CaptureMethod == CaptureMethod.Automatic:
                // An automatic charge the provider has authorized but not yet captured is still the charge in flight: marked
                // authorized it would become capturable (and cancellable) by the partner while the provider captures it itself.
                return isPoll ? tx with { RetryCount = retries } : null;
            case ProviderOutcome.Authorized when tx.AuthorizedAt is null:
                return tx with
                {
                    AuthorizedAt = now,
                    ProviderTransactionId = providerId,
                    InFlightAction = null,
                    ErrorCode = null,
                    ErrorMessage = null,
                    RetryCount = retries,
                };
            case ProviderOutcome.Authorized:
                // "Still authorized" may have been answered before an in-flight capture or cancel reached the provider, so it
                // never clears that call: SyncAsync resends it instead.
                return isPoll ? tx with { RetryCount = retries } : null;
            case ProviderOutcome.Cancelled:
                return tx with { Status = TransactionStatus.Cancelled, ProviderTransactionId = providerId, InFlightAction = null, RetryCount = retries };
            case ProviderOutcome.Declined when tx.InFlightAction is ProviderAction.Capture or ProviderAction.Cancel:
                // The capture or cancel was refused; the authorization stands.
                return tx with { InFlightAction = null, ErrorCode = result.ErrorCode, ErrorMessage = result.ErrorMessage, RetryCount = retries };
            case ProviderOutcome.Declined when tx.AuthorizedAt is not null:
                // A granted authorization is not declined afterwards: this repeats the refusal of a capture or cancel already applied.
                return isPoll ? tx with { RetryCount = retries } : null;
            case ProviderOutcome.Declined:
                return tx with
                {
                    Status = TransactionStatus.Failed,
                    FailedAt = now,
                    ProviderTransactionId = providerId,
                    InFlightAction = null,
                    ErrorCode = result.ErrorCode ?? "provider_declined",
                    ErrorMessage = result.ErrorMessage ?? "The provider declined the payment.",
                    RetryCount = retries,
                };
            default:
                return tx with
                {
                    ErrorCode = result.ErrorCode ?? OutcomeUnknownCode,
                    ErrorMessage = result.ErrorMessage ?? "The provider has not reported an outcome yet.",
                    RetryCount = retries,
                };
        }
    }

    public ValueTask<PaymentTransaction> SyncAsync(PartnerId partnerId, TransactionId transactionId, RequestContext context, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(context);
        return SyncOneAsync(partnerId, transactionId, context, false, cancellationToken);
    }

    /// <summary>
    /// Syncs one transaction. A partner's own call requires it active. The system's sync (<see cref="SyncDueAsync"/>) also
    /// runs for a partner that is not (suspended or deleted), because a call already sent may have moved money: it polls
    /// and records those outcomes, but sends nothing the provider may not have yet (an unsent create or refund, a resend
    /// of a call the provider does not know). For a suspended partner that waits until it is active again; for a deleted
    /// one, which never will be, the pending refunds are polled too, and a payment or refund the provider still does not
    /// know <see cref="OrchestrationOptions.DropTimeout"/> after the deletion fails (a capture or cancel it never received is
    /// given up, the authorization standing), and a transaction left pending, never sent (a confirmed create, or one made
    /// with <c>Confirm = false</c> that can no longer be confirmed), is cancelled.
    /// </summary>
    private async ValueTask<PaymentTransaction> SyncOneAsync(PartnerId partnerId, TransactionId transactionId, RequestContext context, bool bySystem, CancellationToken cancellationToken)
    {
        var call = new AuditCall(partnerId, "transaction.sync", ResourceType, context);
        PaymentTransaction? before = null;
        var refundChanged = false;
        try
        {
            var partner = bySystem
                ? await PartnerGate.GetAsync(store, partnerId, cancellationToken).ConfigureAwait(false)
                : await PartnerGate.RequireActiveAsync(store, partnerId, cancellationToken).ConfigureAwait(false);
            var sends = PartnerGate.MayCall(partner);
            var dropped = partner.DeletedAt is { } deletedAt && clock.GetCurrentInstant() - deletedAt >= options.Value.DropTimeout ? partner : null;

            // A suspension has no time of its own; the partner's last change is at or after it, so this never holds early.
            var held = partner is { IsActive: false, DeletedAt: null } && clock.GetCurrentInstant() - partner.UpdatedAt >= options.Value.DropTimeout ? partner : null;
            before = await GetAsync(partnerId, transactionId, cancellationToken).ConfigureAwait(false);
            var provider = providers.Get(before.Provider);
            if (dropped is not null && TransactionSyncRule.VoidsStanding(before, dropped, dropped.DeletedAt!.Value, options.Value.DropTimeout))
            {
                await VoidAbandonedAsync(before, provider, context, cancellationToken).ConfigureAwait(false);
            }
            else if (before.Status == TransactionStatus.Processing)
            {
                await PollPaymentAsync(before, provider, context, sends, dropped, held, cancellationToken).ConfigureAwait(false);
            }
            else if (sends && IsAbandonedCreate(before))
            {
                await DrivePaymentAsync(partnerId, transactionId, context, null, cancellationToken).ConfigureAwait(false);
            }
            else if (dropped is not null && before.Status == TransactionStatus.Pending)
            {
                await CancelUnsentAsync(before, dropped, context, cancellationToken).ConfigureAwait(false);
            }

            foreach (var refund in await ListRefundsAsync(partnerId, transactionId, cancellationToken).ConfigureAwait(false))
            {
                if (refund.Status == RefundStatus.Processing || (refund.Status == RefundStatus.Pending && (sends || partner.DeletedAt is not null)))
                {
                    var driven = await DriveRefundAsync(before, refund, provider, context, sends, dropped, held, cancellationToken).ConfigureAwait(false);
                    refundChanged |= driven != refund;
                }
            }
        }
        catch (PaymentsKitException ex)
        {
            if (bySystem && before is not null)
            {
                await AuditSystemSyncRejectedAsync(call, before, refundChanged, ex, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                await audit.WriteRejectedAsync(call, transactionId.ToString(), ex, cancellationToken).ConfigureAwait(false);
            }

            throw;
        }

        var after = await GetAsync(partnerId, transactionId, cancellationToken).ConfigureAwait(false);

        // The system's pass comes back every retry interval while a transaction stays unresolved: an entry for a pass that
        // changed nothing (a poll only counts itself in RetryCount) would record no change, only that it ran. A partner's
        // own sync is its call, audited whatever it did, as every call of a partner is.
        if (bySystem && !refundChanged && WithoutPolls(after) == WithoutPolls(before))
        {
            return after;
        }

        await store.ExecuteAsync(
            (unit, _) =>
            {
                audit.Write(unit, call, transactionId.ToString(), before, after);
                return ValueTask.FromResult(after);
            },
            cancellationToken).ConfigureAwait(false);
        return after;
    }

    /// <summary>
    /// Audits a refusal of the system's sync of <paramref name="before"/>. The pass comes back every retry interval, so a
    /// refusal that repeats the last one audited for the transaction (same code) while nothing changed (the transaction as
    /// it was then, its poll count aside, and this sync changed nothing before it was refused) writes no entry, as a pass
    /// that changed nothing writes none. Another refusal, or the same one after the transaction changed, is audited, and
    /// becomes the one later refusals are compared with, unless the transaction has come to rest meanwhile
    /// (<see cref="TransactionSyncRule.IsAtRest"/>): the pass will not meet it as it is now, so nothing is kept for it.
    /// </summary>
    private async ValueTask AuditSystemSyncRejectedAsync(AuditCall call, PaymentTransaction before, bool refundChanged, PaymentsKitException error, CancellationToken cancellationToken)
    {
        var resourceId = before.Id.ToString();
        try
        {
            await store.ExecuteAsync(
                async (unit, ct) =>
                {
                    var current = await unit.GetAsync(Transactions, before.PartnerId.Value, before.Id.Value, ct).ConfigureAwait(false);
                    var last = await unit.GetAsync(SyncRejections, before.PartnerId.Value, before.Id.Value, ct).ConfigureAwait(false);
                    if (current is null || TransactionSyncRule.IsAtRest(current.Value))
                    {
                        if (last is not null)
                        {
                            unit.Remove(SyncRejections, before.PartnerId.Value, before.Id.Value);
                        }
                    }
                    else
                    {
                        var now = WithoutPolls(current.Value);
                        var mark = new SyncRejection(before.Id, before.PartnerId, error.Code, Idempotency.Fingerprint(now, json.Options));
                        if (!refundChanged && now == WithoutPolls(before) && last?.Value == mark)
                        {
                            return false;
                        }

                        if (last is null)
                        {
                            unit.Insert(SyncRejections, mark);
                        }
                        else
                        {
                            unit.Update(SyncRejections, mark, last);
                        }

                        // Rewriting the transaction as it is orders this unit with one bringing it to rest, which removes the
                        // record: whichever commits second runs again and sees the other's write, so no record outlives it.
                        unit.Update(Transactions, current.Value, current);
                    }

                    audit.WriteRejected(unit, call, resourceId, error);
                    return true;
                },
                cancellationToken).ConfigureAwait(false);
        }
        catch (PaymentsKitException)
        {
            // The store refused the lookup or the write: the refusal is still recorded as any rejected call's.
            await audit.WriteRejectedAsync(call, resourceId, error, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>A transaction as a sync that changed nothing leaves it: a poll only counts itself and touches the update time.</summary>
    private static PaymentTransaction WithoutPolls(PaymentTransaction tx) => tx with { RetryCount = 0, UpdatedAt = tx.CreatedAt };

    /// <summary>
    /// Cancels a deleted partner's transaction left pending <see cref="OrchestrationOptions.DropTimeout"/> after the deletion
    /// (with <see cref="Dropped"/>'s code and message), whether its create asked to confirm it or not: it was never sent,
    /// nothing is sent for a deleted partner, and a deleted partner can no longer confirm it.
    /// Pending → cancelled is the only way the lifecycle ends a payment never sent (failed is for one the provider refused).
    /// A create that claimed it meanwhile wins the versioned write, and its payment, now processing, is polled like any other.
    /// </summary>
    private ValueTask<PaymentTransaction> CancelUnsentAsync(PaymentTransaction tx, Partner dropped, RequestContext context, CancellationToken cancellationToken)
    {
        var reason = Dropped(dropped, "payment");
        return ExecuteAsync(
            async (unit, ct) =>
            {
                var current = await LoadAsync(unit, tx.PartnerId, tx.Id, ct).ConfigureAwait(false);
                return current.Value.Status == TransactionStatus.Pending
                    ? Write(
                        unit,
                        current,
                        current.Value with { Status = TransactionStatus.Cancelled, ErrorCode = reason.ErrorCode, ErrorMessage = reason.ErrorMessage },
                        Actor(tx.PartnerId, context),
                        context,
                        null)
                    : current.Value;
            },
            cancellationToken);
    }

    /// <summary>
    /// Voids a deleted partner's authorization left standing <see cref="OrchestrationOptions.DropTimeout"/> after the deletion
    /// (<see cref="TransactionSyncRule.VoidsStanding"/>), as the partner's cancel would: claimed (the cancel in flight, a
    /// versioned write, so one of concurrent syncs sends it), sent keyed by the transaction id, and its answer applied. It is
    /// the one call sent for a deleted partner, since it moves no money and only releases what the customer has held. A
    /// refusal leaves the authorization standing, not due again; an unknown answer leaves the cancel in flight, polled and,
    /// the provider still not showing it, given up as any call of a deleted partner.
    /// </summary>
    private async ValueTask<PaymentTransaction> VoidAbandonedAsync(PaymentTransaction tx, IPaymentProvider provider, RequestContext context, CancellationToken cancellationToken)
    {
        var (claimed, voiding) = await ExecuteAsync(
            async (unit, ct) =>
            {
                var current = await LoadAsync(unit, tx.PartnerId, tx.Id, ct).ConfigureAwait(false);
                return current.Value is { Status: TransactionStatus.Processing, InFlightAction: null, AuthorizedAt: not null }
                    ? (Write(unit, current, current.Value with { InFlightAction = ProviderAction.Cancel }, Actor(tx.PartnerId, context), context, null), true)
                    : (current.Value, false);
            },
            cancellationToken).ConfigureAwait(false);
        if (!voiding)
        {
            return claimed;
        }

        var result = await CallProviderAsync(ct => provider.CancelAsync(PaymentReference(claimed), ct), cancellationToken).ConfigureAwait(false);
        return await ApplyPaymentResultAsync(tx.PartnerId, tx.Id, result, Actor(tx.PartnerId, context), context, null, false, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Whether a pending transaction is one whose confirmed create died before sending it (the client may never replay
    /// it): its create asked to confirm it and has had the grace period to send it. One created with <c>Confirm = false</c>
    /// (or stored before that choice was kept) waits for <see cref="ConfirmAsync"/> instead.
    /// </summary>
    private bool IsAbandonedCreate(PaymentTransaction tx) =>
        tx is { Status: TransactionStatus.Pending, ConfirmOnCreate: true }
        && clock.GetCurrentInstant() - tx.CreatedAt >= options.Value.UnsentPaymentGracePeriod;

    /// <summary>
    /// The in-flight call to send again when a poll shows the provider has not acted on it (it may never have reached the
    /// provider: a connection that failed, an answer "still authorized" given before a capture or cancel arrived, a call
    /// that died after claiming it); null when there is none. A capture or cancel is sent again on an "unknown" answer too:
    /// a provider that keeps no state (the manual provider) can only answer so, and nothing else would ever resolve the
    /// call. Resending is safe because the transaction id is every such call's idempotency key.
    /// </summary>
    private static Func<IPaymentProvider, CancellationToken, ValueTask<ProviderResult>>? Resend(ProviderOutcome polled, PaymentTransaction tx) =>
        (polled, tx.InFlightAction) switch
        {
            (ProviderOutcome.Unknown, ProviderAction.Payment) => (provider, ct) => Pay(provider, tx, ct),
            (ProviderOutcome.Authorized or ProviderOutcome.Unknown, ProviderAction.Capture) => (provider, ct) => provider.CaptureAsync(PaymentReference(tx), ct),
            (ProviderOutcome.Authorized or ProviderOutcome.Unknown, ProviderAction.Cancel) => (provider, ct) => provider.CancelAsync(PaymentReference(tx), ct),
            _ => null,
        };

    /// <summary>Charges the transaction, or authorizes it when it is captured later.</summary>
    private static ValueTask<ProviderResult> Pay(IPaymentProvider provider, PaymentTransaction tx, CancellationToken cancellationToken)
    {
        var request = new ProviderPaymentRequest(tx.Id.ToString(), tx.Amount, tx.PaymentMethod, tx.CustomerEmail, tx.ProviderCustomerId, tx.Description);
        return tx.CaptureMethod == CaptureMethod.Automatic ? provider.ChargeAsync(request, cancellationToken) : provider.AuthorizeAsync(request, cancellationToken);
    }

    public async ValueTask<ProviderWebhookResult> HandleProviderWebhookAsync(
        PaymentProvider provider, string payload, IReadOnlyDictionary<string, string> headers, RequestContext context, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(context);
        var call = new AuditCall(null, "provider.webhook", ResourceType, context);
        string? resourceId = null;
        try
        {
            var webhook = providers.Get(provider).ParseWebhook(Guard.NotNull(payload, "payload"), Guard.NotNull(headers, "headers"));
            resourceId = webhook.Reference;
            var id = webhook.Subject == ProviderWebhookSubject.Payment
                ? (TypedId.TryParse<TransactionId>(webhook.Reference, out var txId) ? txId.Value : (Guid?)null)
                : (TypedId.TryParse<RefundId>(webhook.Reference, out var refundId) ? refundId.Value : null);
            var route = id is null ? null : await FindReferenceAsync(id.Value, cancellationToken).ConfigureAwait(false);
            if (route is null)
            {
                throw OrchestrationRules.NotFound(webhook.Subject == ProviderWebhookSubject.Payment ? ResourceType : "refund", webhook.Reference);
            }

            call = call with
            {
                PartnerId = route.PartnerId,
                Action = webhook.Subject == ProviderWebhookSubject.Payment ? "transaction.provider_webhook" : "refund.provider_webhook",
                ResourceType = webhook.Subject == ProviderWebhookSubject.Payment ? ResourceType : "refund",
            };
            var owner = await GetAsync(route.PartnerId, route.TransactionId, cancellationToken).ConfigureAwait(false);
            if (owner.Provider != provider)
            {
                // Only the provider that holds the payment may report on it.
                throw OrchestrationRules.NotFound(call.ResourceType, webhook.Reference);
            }

            if (webhook.Subject == ProviderWebhookSubject.Payment)
            {
                var tx = await ApplyPaymentResultAsync(
                    route.PartnerId, route.TransactionId, webhook.Result, Actor(provider), context, (unit, before, after, _) => audit.Write(unit, call, route.TransactionId.ToString(), before, after), false, cancellationToken)
                    .ConfigureAwait(false);
                return new ProviderWebhookResult(webhook, tx, null);
            }

            var reported = RefundId.FromGuid(id!.Value);
            var refund = await ApplyRefundResultAsync(
                route.PartnerId, reported, webhook.Result, Actor(provider), context, (unit, before, after) => audit.Write(unit, call, reported.ToString(), before, after), cancellationToken)
                .ConfigureAwait(false);
            return new ProviderWebhookResult(webhook, await GetAsync(route.PartnerId, route.TransactionId, cancellationToken).ConfigureAwait(false), refund);
        }
        catch (PaymentsKitException ex)
        {
            await audit.WriteRejectedAsync(call, resourceId, ex, cancellationToken).ConfigureAwait(false);
            throw;
        }
    }

    private async ValueTask<ProviderReference?> FindReferenceAsync(Guid id, CancellationToken cancellationToken)
    {
        var unit = await store.BeginAsync(cancellationToken).ConfigureAwait(false);
        await using (unit.ConfigureAwait(false))
        {
            return (await unit.GetAsync(References, Guid.Empty, id, cancellationToken).ConfigureAwait(false))?.Value;
        }
    }
}
