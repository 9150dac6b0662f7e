using System.Globalization;
using NodaTime;
using PaymentsKit.Chains;
using PaymentsKit.Storage;

namespace PaymentsKit.Routing;

public sealed partial class PaymentIntentService
{
    /// <summary>
    /// Starts an attempt: signs (or reuses <paramref name="resend"/>'s signed transaction), records the attempt and
    /// <c>broadcasting</c>, then broadcasts and records the chain's answer.
    /// </summary>
    private async ValueTask<PaymentIntent> BroadcastAsync(Versioned<PaymentIntent> current, PaymentAttempt? resend, CancellationToken cancellationToken)
    {
        var intent = current.Value;
        var reservation = intent.Reservation
            ?? throw new PaymentsKitException(PaymentsKitErrorCodes.StorageFailure, $"Payment intent {intent.Id} is {intent.Status.ToWireName()} without a reservation.");
        var providers = _providers.For(intent.SelectedChain);
        var provider = providers[intent.AttemptIds.Count % providers.Count];
        SignedTransaction signed;
        var sentBefore = false;
        if (resend is not null && resend.Chain == intent.SelectedChain)
        {
            // The last try may have reached the chain before the RPC failed: resending the same transaction cannot pay twice.
            signed = new SignedTransaction(resend.Chain, Convert.FromBase64String(resend.SignedTransaction), resend.TxId);
            sentBefore = true;
        }
        else
        {
            var signer = _signer ?? throw new PaymentsKitException(
                PaymentsKitErrorCodes.InvalidArgument,
                "No ITransactionSigner is registered: register the host's custody signer to broadcast payment intents.",
                new Dictionary<string, object?> { ["field"] = "ITransactionSigner" });
            var from = await _treasury.WalletAddressAsync(intent.SelectedChain, cancellationToken).ConfigureAwait(false);
            signed = await signer.SignAsync(
                new TransferRequest(intent.SelectedChain, from, intent.DestinationAddress, intent.Amount, intent.Id.ToString(), reservation.MaxFeeNative),
                cancellationToken).ConfigureAwait(false);
        }

        signed = WithHash(signed, provider.Adapter);
        var now = _clock.GetCurrentInstant();
        var attempt = new PaymentAttempt(
            PaymentAttemptId.New(_clock),
            intent.MerchantId,
            intent.Id,
            intent.AttemptIds.Count + 1,
            intent.SelectedChain,
            provider.Name,
            reservation.ReservedFee,
            reservation.MaxFeeNative,
            signed.Hash,
            Convert.ToBase64String(signed.Payload.Span),
            ActualFeeNative: null,
            ActualFee: null,
            Confirmations: 0,
            PaymentAttemptStatus.Pending,
            Failure: null,
            FailureReason: null,
            CreatedAt: now,
            BroadcastAt: null,
            ConfirmedAt: null,
            UpdatedAt: now);
        var started = await CommitAsync(
            current,
            (unit, v, _) =>
            {
                unit.Insert(RoutingCollections.Attempts, attempt);
                return ValueTask.FromResult(Move(unit, v, PaymentIntentStatus.Broadcasting, i => i with { AttemptIds = [.. i.AttemptIds, attempt.Id], NextAttemptAt = null }, null));
            },
            cancellationToken).ConfigureAwait(false);
        if (started.Status != PaymentIntentStatus.Broadcasting || started.AttemptIds.Count == 0 || started.AttemptIds[^1] != attempt.Id)
        {
            // Another worker advanced the intent first; the transaction signed here was never sent.
            return started;
        }

        // That commit wrote the intent once and inserted the attempt, so their versions are known.
        return await SendAsync(new Versioned<PaymentIntent>(started, current.Version + 1), new Versioned<PaymentAttempt>(attempt, 1), provider, signed, sentBefore, cancellationToken)
            .ConfigureAwait(false);
    }

    /// <summary>Takes over an attempt stuck in <c>broadcasting</c> (its worker died or stalled) by resending its transaction.</summary>
    private async ValueTask<PaymentIntent> RecoverBroadcastAsync(Versioned<PaymentIntent> current, CancellationToken cancellationToken)
    {
        var last = await LastAttemptAsync(current, cancellationToken).ConfigureAwait(false);
        var attempt = last.Value;
        if (_clock.GetCurrentInstant() - attempt.CreatedAt < _options.BroadcastTimeout)
        {
            return current.Value;
        }

        var providers = _providers.For(attempt.Chain);
        var provider = providers.FirstOrDefault(p => p.Name == attempt.RpcProvider) ?? providers[0];
        var signed = WithHash(new SignedTransaction(attempt.Chain, Convert.FromBase64String(attempt.SignedTransaction), attempt.TxId), provider.Adapter);
        // The dead worker may have sent it before it died.
        return await SendAsync(current, last, provider, signed, sentBefore: true, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// The signed transaction with its hash: the signer's, else what the chain's rules derive from the signed bytes. Known
    /// before the broadcast, it is recorded even when the broadcast call fails, so the chain can be asked whether that call
    /// delivered it; without it nothing on chain can tell, and the operator's Fail waits out the drop timeout instead.
    /// </summary>
    private static SignedTransaction WithHash(SignedTransaction signed, IChainAdapter adapter) =>
        signed.Hash is null && adapter.TransactionHashOf(signed.Payload.Span) is { } hash ? signed with { Hash = hash } : signed;

    /// <summary>
    /// Broadcasts the attempt's transaction and records the chain's answer. A rejection fails the intent only for a transaction
    /// never sent before (<paramref name="sentBefore"/> false): an earlier send may have reached the chain, and a node refuses
    /// a transaction that landed once its nonce or blockhash is used up, so a rejected resend is asked of the chain — known,
    /// it is followed as broadcast; else the intent goes to manual review keeping its hold, where Fail asks the chain again.
    /// </summary>
    private async ValueTask<PaymentIntent> SendAsync(
        Versioned<PaymentIntent> intent,
        Versioned<PaymentAttempt> sent,
        RoutingRpcProvider provider,
        SignedTransaction signed,
        bool sentBefore,
        CancellationToken cancellationToken)
    {
        var attempt = sent.Value;
        string? hash = null;
        string? error = null;
        var transient = false;
        try
        {
            hash = (await provider.Adapter.BroadcastAsync(signed, cancellationToken).ConfigureAwait(false)).Hash;
        }
        catch (PaymentsKitException ex) when (ex.Code is PaymentsKitErrorCodes.ChainUnavailable or PaymentsKitErrorCodes.TransactionRejected)
        {
            error = ex.Message;
            transient = ex.Code == PaymentsKitErrorCodes.ChainUnavailable || ex.IsTransient;
        }

        var unsure = false;
        if (error is not null && !transient && sentBefore)
        {
            var landed = signed.Hash is { } known ? (await QueryAsync(attempt.Chain, provider.Name, known, cancellationToken).ConfigureAwait(false)).Transaction : null;
            if (landed is not null)
            {
                hash = landed.Hash;
            }
            else
            {
                unsure = true;
            }
        }

        var first = true;
        (long IntentVersion, Versioned<PaymentAttempt> Attempt)? written = null;
        var recorded = await ExecuteAsync(
            async (unit, ct) =>
            {
                written = null;
                if (first)
                {
                    first = false;
                    return await TrustingReadAsync(() => RecordBroadcastAsync(unit, intent), intent).ConfigureAwait(false);
                }

                // Another worker may have recorded this attempt's outcome already: re-read on every rerun.
                return await RecordBroadcastAsync(unit, await LoadAsync(unit, intent.Value.MerchantId, intent.Value.Id, ct).ConfigureAwait(false)).ConfigureAwait(false);
            },
            cancellationToken).ConfigureAwait(false);
        if (written is { } committed)
        {
            _attempts.Remember(recorded.Id.Value, committed);
        }

        return recorded;

        async ValueTask<PaymentIntent> RecordBroadcastAsync(IUnitOfWork unit, Versioned<PaymentIntent> current)
        {
            if (current.Value.Status != PaymentIntentStatus.Broadcasting || current.Value.AttemptIds[^1] != attempt.Id)
            {
                return current.Value;
            }

            var stored = await AttemptAsync(unit, current, sent, intent.Version, cancellationToken).ConfigureAwait(false);
            var now = _clock.GetCurrentInstant();
            var failure = transient ? AttemptFailure.RpcError : AttemptFailure.Rejected;
            var outcome = hash is not null
                ? stored.Value with { Status = PaymentAttemptStatus.Broadcasted, TxId = hash, BroadcastAt = now, UpdatedAt = now }
                : Failed(stored.Value with { TxId = stored.Value.TxId ?? signed.Hash, ResendRefusedAt = unsure ? now : null }, failure, error!, now);
            unit.Update(RoutingCollections.Attempts, outcome, stored.Version);

            // Both are written once in this unit, so their versions after the commit are known.
            written = (current.Version + 1, new Versioned<PaymentAttempt>(outcome, stored.Version + 1));
            if (hash is not null)
            {
                return Move(unit, current, PaymentIntentStatus.Broadcasted, null, null);
            }

            if (transient)
            {
                return Move(unit, current, PaymentIntentStatus.Retrying, i => i with { NextAttemptAt = now + _options.RetryDelay(i.AttemptIds.Count) }, Reason(failure, error!));
            }

            if (unsure)
            {
                return Move(unit, current, PaymentIntentStatus.ManualReview, null, Reason(failure, error! + "; an earlier send of this transaction may have reached the chain"));
            }

            await _treasury.VoidAsync(unit, current.Value.Reservation!, cancellationToken).ConfigureAwait(false);
            return Move(unit, current, PaymentIntentStatus.Failed, i => i with { Reservation = null }, Reason(failure, error!));
        }
    }

    /// <summary>Polls the chain for the current attempt and records what it says.</summary>
    private async ValueTask<PaymentIntent> PollAsync(Versioned<PaymentIntent> current, CancellationToken cancellationToken)
    {
        var read = await LastAttemptAsync(current, cancellationToken).ConfigureAwait(false);
        var attempt = read.Value;
        var (transaction, answered) = await QueryAsync(attempt.Chain, attempt.RpcProvider, attempt.TxId!, cancellationToken).ConfigureAwait(false);
        var now = _clock.GetCurrentInstant();
        if (!answered)
        {
            // Nothing is known (a provider that found nothing may lag behind one that cannot be asked), so nothing changes,
            // until the chain has been given as long as a transaction may take to be final: then an operator decides (an
            // outage that long is theirs to know of), the hold kept.
            if (attempt.BroadcastAt is not { } sentAt || now - sentAt < _options.FinalityTimeout)
            {
                return current.Value;
            }

            var unanswered = string.Create(
                CultureInfo.InvariantCulture,
                $"no RPC provider of {attempt.Chain} found transaction {attempt.TxId}, and not every one answered, {(now - sentAt).TotalMinutes:0} min after broadcast");
            return await CommitAsync(current, (unit, v, _) => ValueTask.FromResult(Move(unit, v, PaymentIntentStatus.ManualReview, null, unanswered)), cancellationToken)
                .ConfigureAwait(false);
        }

        if (transaction is null)
        {
            // Unknown to the chain: not yet propagated, evicted from the mempool, lost in a reorg, or asked of a node lagging
            // behind the chain. Unknown for the drop timeout since the broadcast and since the chain was last seen knowing it,
            // it is treated as dropped and replaced by a new attempt; counted from the broadcast alone, one lagging node's
            // answer would replace a transaction the chain still has, paying twice on the one hold.
            if (attempt.BroadcastAt is not { } broadcastAt || LastKnownAt(attempt) is not { } since || now - since < _options.DropTimeout)
            {
                return current.Value;
            }

            return await CommitAsync(
                current,
                async (unit, v, ct) =>
                {
                    var stored = await AttemptAsync(unit, v, read, current.Version, ct).ConfigureAwait(false);
                    var reason = string.Create(
                        CultureInfo.InvariantCulture,
                        $"transaction {attempt.TxId} unknown to {attempt.Chain} {(now - since).TotalSeconds:0} s after {(since == broadcastAt ? "broadcast" : "it was last seen")}");
                    unit.Update(RoutingCollections.Attempts, Failed(stored.Value, AttemptFailure.Dropped, reason, now), stored.Version);
                    return Move(unit, v, PaymentIntentStatus.Retrying, i => i with { NextAttemptAt = now + _options.RetryDelay(i.AttemptIds.Count) }, Reason(AttemptFailure.Dropped, reason));
                },
                cancellationToken).ConfigureAwait(false);
        }

        if (transaction.Status == ChainTransactionStatus.Pending)
        {
            // Known to the chain (in its mempool) but not included: it may still be, however long it has waited, so it is
            // never replaced — a second transaction would pay twice on the one hold. Long after the broadcast an operator
            // decides, the hold kept (a settle from review succeeds once it is included and final).
            if (attempt.BroadcastAt is not { } sent || now - sent < _options.FinalityTimeout)
            {
                return await SeenAsync(current, read, now, cancellationToken).ConfigureAwait(false);
            }

            var pending = string.Create(
                CultureInfo.InvariantCulture, $"transaction {attempt.TxId} still pending on {attempt.Chain} {(now - sent).TotalMinutes:0} min after broadcast");
            return await ReviewSeenAsync(current, read, now, pending, cancellationToken).ConfigureAwait(false);
        }

        switch (transaction.Status)
        {
            case ChainTransactionStatus.Failed:
                return await CommitAsync(
                    current,
                    async (unit, v, ct) =>
                    {
                        var reservation = v.Value.Reservation!;
                        var (fee, reason) = await RecordRevertedAsync(unit, v, read, current.Version, reservation, transaction, now, ct).ConfigureAwait(false);
                        await _treasury.ChargeFeeOnlyAsync(unit, reservation, fee, v.Value.Id.ToString(), ct).ConfigureAwait(false);
                        return Move(unit, v, PaymentIntentStatus.Failed, i => i with { Reservation = null, ActualFee = fee }, Reason(AttemptFailure.Reverted, reason));
                    },
                    cancellationToken).ConfigureAwait(false);
            case ChainTransactionStatus.Succeeded when transaction.IsFinal:
                return await _turns.RunAsync(
                    current.Value.Reservation!.Chain,
                    new WalletTurns.Step<PaymentIntent>(
                        async (_, ct) => await _treasury.ResolutionReadsAsync(current.Value.Reservation, current.Value.Id.ToString(), ct).ConfigureAwait(false),
                        (unit, ct) => SettleAsync(unit, current, read, current.Version, transaction, null, ct),
                        ct => CommitAsync(current, (unit, v, ct) => SettleAsync(unit, v, read, current.Version, transaction, null, ct), ct),
                        cancellationToken),
                    cancellationToken).ConfigureAwait(false);
            case ChainTransactionStatus.Succeeded when current.Value.Status == PaymentIntentStatus.Broadcasted:
                return await CommitAsync(
                    current,
                    async (unit, v, ct) =>
                    {
                        var stored = await AttemptAsync(unit, v, read, current.Version, ct).ConfigureAwait(false);
                        unit.Update(
                            RoutingCollections.Attempts, stored.Value with { Confirmations = transaction.Confirmations, LastSeenAt = now, UpdatedAt = now }, stored.Version);
                        return Move(unit, v, PaymentIntentStatus.PendingConfirmation, null, null);
                    },
                    cancellationToken).ConfigureAwait(false);
            case ChainTransactionStatus.Succeeded when attempt.BroadcastAt is { } sent && now - sent >= _options.FinalityTimeout:
                // Included but still not final long after the broadcast: an operator decides (the hold stays, and a settle
                // from review succeeds once the chain makes it final).
                var stuck = string.Create(
                    CultureInfo.InvariantCulture,
                    $"transaction {transaction.Hash} included on {attempt.Chain} but not final {(now - sent).TotalMinutes:0} min after broadcast ({transaction.Confirmations} confirmation(s))");
                return await ReviewSeenAsync(current, read, now, stuck, cancellationToken).ConfigureAwait(false);
            case ChainTransactionStatus.Succeeded:
                return await SeenAsync(current, read, now, cancellationToken).ConfigureAwait(false);
            default:
                return current.Value;
        }
    }

    /// <summary>
    /// Records that the chain knows the attempt's transaction, so that a lagging node's "not found" later cannot pass it for
    /// dropped. A poll that finds it known changes nothing else, so this writes at most once per half the drop timeout:
    /// the record then trails the last sighting by less than that, and a transaction is taken for dropped only once
    /// unknown for at least half the drop timeout after the chain was last seen knowing it (the whole of it after the
    /// last recorded sighting).
    /// </summary>
    private async ValueTask<PaymentIntent> SeenAsync(Versioned<PaymentIntent> current, Versioned<PaymentAttempt> read, Instant now, CancellationToken cancellationToken)
    {
        var attempt = read.Value;
        if (LastKnownAt(attempt) is { } since && now - since < _options.DropTimeout / 2)
        {
            return current.Value;
        }

        (PaymentIntent Intent, Versioned<PaymentAttempt> Attempt)? written = null;
        var result = await CommitAsync(
            current,
            async (unit, v, ct) =>
            {
                written = null;
                var recorded = await RecordSeenAsync(unit, v, read, current.Version, now, ct).ConfigureAwait(false);

                // An attempt only ever changes together with its intent (a remembered attempt is trusted while its intent
                // keeps its version), so the intent is written too: same status, no event.
                var touched = v.Value with { UpdatedAt = now };
                unit.Update(RoutingCollections.Intents, touched, v);
                written = (touched, recorded);
                return touched;
            },
            cancellationToken).ConfigureAwait(false);
        if (written is { } committed && ReferenceEquals(committed.Intent, result))
        {
            // The commit wrote the intent once, from the version read.
            _attempts.Remember(result.Id.Value, (current.Version + 1, committed.Attempt));
        }

        return result;
    }

    /// <summary>Moves the intent to manual review for <paramref name="reason"/>, its hold kept, recording its transaction as seen.</summary>
    private ValueTask<PaymentIntent> ReviewSeenAsync(
        Versioned<PaymentIntent> current, Versioned<PaymentAttempt> read, Instant now, string reason, CancellationToken cancellationToken) =>
        CommitAsync(
            current,
            async (unit, v, ct) =>
            {
                await RecordSeenAsync(unit, v, read, current.Version, now, ct).ConfigureAwait(false);
                return Move(unit, v, PaymentIntentStatus.ManualReview, null, reason);
            },
            cancellationToken);

    /// <summary>
    /// The last instant the attempt's transaction is known to have been with the chain, or may have reached it: the later
    /// of its last sighting and its broadcast or, for a broadcast whose RPC call failed, when that failure was recorded —
    /// the call may have delivered it at any moment until then, and a broadcast taken over from a dead worker is sent long
    /// after the attempt was made — or, for a resend the chain refused, when it refused it (an earlier send, such as the
    /// dead worker's, may be on its way to the chain all the same). Null when it was never sent nor seen, or refused on its
    /// first send. Drop and fail decisions, and the watch of a failed intent, count from it.
    /// </summary>
    private static Instant? LastKnownAt(PaymentAttempt attempt)
    {
        var sent = attempt.BroadcastAt ?? attempt.ResendRefusedAt ?? (attempt.Failure == AttemptFailure.RpcError ? attempt.UpdatedAt : null);
        return attempt.LastSeenAt is { } seen && (sent is not { } at || seen > at) ? seen : sent;
    }

    /// <summary>Writes the attempt as last seen known to the chain at <paramref name="now"/> in the unit; returns it as it will be stored.</summary>
    private static async ValueTask<Versioned<PaymentAttempt>> RecordSeenAsync(
        IUnitOfWork unit, Versioned<PaymentIntent> intent, Versioned<PaymentAttempt> read, long readAt, Instant now, CancellationToken cancellationToken)
    {
        var stored = await AttemptAsync(unit, intent, read, readAt, cancellationToken).ConfigureAwait(false);
        var seen = stored.Value with { LastSeenAt = now, UpdatedAt = now };
        unit.Update(RoutingCollections.Attempts, seen, stored.Version);
        return new Versioned<PaymentAttempt>(seen, stored.Version + 1);
    }

    /// <summary>
    /// Settles on a final transaction: posts the payment and the actual fee, releases the rest of the fee hold (the
    /// intent's, or <paramref name="paidElsewhere"/>'s when the transaction landed on another chain).
    /// </summary>
    private async ValueTask<PaymentIntent> SettleAsync(
        IUnitOfWork unit,
        Versioned<PaymentIntent> current,
        Versioned<PaymentAttempt> attempt,
        long attemptReadAt,
        ChainTransaction transaction,
        PaidElsewhere? paidElsewhere,
        CancellationToken cancellationToken)
    {
        var reservation = paidElsewhere?.Held ?? current.Value.Reservation!;
        await unit.PrefetchAsync(await _treasury.ResolutionReadsAsync(reservation, current.Value.Id.ToString(), cancellationToken).ConfigureAwait(false), cancellationToken)
            .ConfigureAwait(false);
        var fee = await RecordPaidAsync(unit, current, attempt, attemptReadAt, reservation, transaction, cancellationToken).ConfigureAwait(false);
        return Move(
            unit,
            current,
            PaymentIntentStatus.Settled,
            i => (paidElsewhere is null ? i : i with { SelectedChain = reservation.Chain, DestinationAddress = paidElsewhere.Destination })
                with { Reservation = null, TxId = transaction.Hash, ActualFee = fee },
            null);
    }

    /// <summary>
    /// Records in the unit that the attempt's transaction is final and successful on chain, and posts the payment and the fee
    /// it paid from <paramref name="reservation"/> (the rest of the fee released); returns that fee.
    /// </summary>
    private async ValueTask<Money> RecordPaidAsync(
        IUnitOfWork unit,
        Versioned<PaymentIntent> current,
        Versioned<PaymentAttempt> attempt,
        long attemptReadAt,
        TreasuryReservation reservation,
        ChainTransaction transaction,
        CancellationToken cancellationToken)
    {
        var stored = await AttemptAsync(unit, current, attempt, attemptReadAt, cancellationToken).ConfigureAwait(false);
        var (native, fee) = ActualFee(current.Value, reservation, transaction.Fee);
        var now = _clock.GetCurrentInstant();
        unit.Update(
            RoutingCollections.Attempts,
            stored.Value with
            {
                Status = PaymentAttemptStatus.Confirmed,

                // An attempt whose RPC call failed may still have landed (found in review): it is confirmed, not failed.
                Failure = null,
                FailureReason = null,
                TxId = transaction.Hash,
                ActualFeeNative = native,
                ActualFee = fee,
                Confirmations = transaction.Confirmations,
                BroadcastAt = stored.Value.BroadcastAt ?? now,
                ConfirmedAt = now,
                UpdatedAt = now,
            },
            stored.Version);
        await _treasury.SettleAsync(unit, reservation, fee, current.Value.Id.ToString(), cancellationToken).ConfigureAwait(false);
        return fee;
    }

    /// <summary>A hold taken on the wallet that paid, and the destination it paid, for a transaction that landed on another chain.</summary>
    private sealed record PaidElsewhere(TreasuryReservation Held, string Destination);

    /// <summary>
    /// A due retry: manual review once the budget is spent; otherwise the next-best chain when this one is unhealthy
    /// and the last transaction is known not to have landed, else the chain's next provider.
    /// </summary>
    private async ValueTask<PaymentIntent> RetryAsync(Versioned<PaymentIntent> current, CancellationToken cancellationToken)
    {
        var intent = current.Value;
        var now = _clock.GetCurrentInstant();
        if (intent.NextAttemptAt is { } due && now < due)
        {
            return intent;
        }

        if (intent.AttemptIds.Count >= intent.AttemptBudget)
        {
            var reason = string.Create(CultureInfo.InvariantCulture, $"retry budget of {intent.AttemptBudget} attempt(s) spent; last error: {intent.LastError}");
            return await CommitAsync(current, (unit, v, _) => ValueTask.FromResult(Move(unit, v, PaymentIntentStatus.ManualReview, null, reason)), cancellationToken)
                .ConfigureAwait(false);
        }

        var last = (await LastAttemptAsync(current, cancellationToken).ConfigureAwait(false)).Value;
        var unit = await _store.BeginAsync(cancellationToken).ConfigureAwait(false);
        ChainHealthSnapshot? health;
        Quote quote;
        await using (unit.ConfigureAwait(false))
        {
            health = await ChainHealthService.LatestAsync(unit, intent.SelectedChain, cancellationToken).ConfigureAwait(false);
            quote = await QuoteAsync(unit, intent.MerchantId, intent.QuoteId, cancellationToken).ConfigureAwait(false);
        }

        // A transaction the chain refused (a resend rejected while unknown to the chain, retried by an operator) is refused
        // again if sent again: it is replaced by a new one once known not to be on the chain, as a dropped one is.
        var unhealthy = health?.HealthStatus == ChainHealthStatus.Unhealthy;
        var refused = last.Failure == AttemptFailure.Rejected;
        var (nowhere, knownBy, onChain) = unhealthy || refused
            ? await LandedNowhereAsync(intent, last, now, cancellationToken).ConfigureAwait(false)
            : default;
        if (unhealthy && nowhere && await RerouteAsync(current, quote, cancellationToken).ConfigureAwait(false) is { } rerouted)
        {
            return rerouted;
        }

        // Not found yet, but too soon to tell it never reached the chain: leaving the chain or replacing the transaction now
        // could pay twice. A refused transaction the chain cannot be asked about waits for a chain that answers.
        var wait = knownBy ?? (refused && !nowhere && !onChain ? now + _options.RetryDelay(intent.AttemptIds.Count) : null);
        if (wait is { } until)
        {
            return await CommitAsync(
                current,
                (unit, v, _) =>
                {
                    var later = v.Value with { NextAttemptAt = until, UpdatedAt = now };
                    later = later with { DueAt = DueAt(later, now, v.Value.Status) };
                    unit.Update(RoutingCollections.Intents, later, v);
                    return ValueTask.FromResult(later);
                },
                cancellationToken).ConfigureAwait(false);
        }

        // Only a transaction the chain let go (dropped) or refused is replaced by a new one; any other (an RPC error, or one an
        // operator retries while it is still pending or not final) may yet land, so the same transaction is sent again, as is a
        // refused one the chain turns out to have (the send then finds it and follows it).
        return await BroadcastAsync(current, last.Failure == AttemptFailure.Dropped || (refused && nowhere) ? null : last, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Moves the intent to the quote's best other usable chain, swapping the reservation; null when none can take it.</summary>
    private async ValueTask<PaymentIntent?> RerouteAsync(Versioned<PaymentIntent> current, Quote quote, CancellationToken cancellationToken)
    {
        var now = _clock.GetCurrentInstant();
        var result = await CommitAsync(
            current,
            async (unit, v, ct) =>
            {
                foreach (var candidate in quote.CandidateRoutes.Where(c => c.IsEligible && c.Chain != v.Value.SelectedChain).OrderBy(c => c.Rank))
                {
                    var health = await ChainHealthService.LatestAsync(unit, candidate.Chain, ct).ConfigureAwait(false);
                    if (health is null || health.HealthStatus == ChainHealthStatus.Unhealthy || now - health.Timestamp > _options.HealthMaxAge
                        || await TryReserveAsync(unit, v.Value, candidate, ct).ConfigureAwait(false) is not { } reservation)
                    {
                        continue;
                    }

                    await _treasury.VoidAsync(unit, v.Value.Reservation!, ct).ConfigureAwait(false);
                    var destination = quote.Destinations.First(d => d.Chain == candidate.Chain).Address;
                    return Move(
                        unit,
                        v,
                        PaymentIntentStatus.RouteSelected,
                        i => i with { SelectedChain = candidate.Chain, DestinationAddress = destination, Reservation = reservation, NextAttemptAt = null },
                        $"{v.Value.SelectedChain} is unhealthy; re-routed to {candidate.Chain}");
                }

                return v.Value;
            },
            cancellationToken).ConfigureAwait(false);

        // Anything but a re-route (no chain could take it, or another worker moved the intent) falls back to a same-chain
        // attempt, whose own version check stops it if the intent moved.
        return result.Status == PaymentIntentStatus.RouteSelected ? result : null;
    }

    /// <summary>
    /// Whether the attempt's transaction is known not to be on its chain, so leaving the chain or replacing the transaction
    /// cannot pay twice: dropped, or sent only through failed RPC calls or refused (a rejected resend) and still unknown to
    /// the chain <see cref="RoutingOptions.DropTimeout"/> after it was last sent or seen. When it is unknown but that time
    /// has not passed, <c>KnownBy</c> is when it will have; <c>OnChain</c> is whether the chain has it. A refused transaction
    /// with no known hash cannot be asked about: only an operator's Retry sends the intent on from there, and, as their Fail
    /// does, it vouches for it once the drop timeout has passed since its last send.
    /// </summary>
    private async ValueTask<(bool Nowhere, Instant? KnownBy, bool OnChain)> LandedNowhereAsync(
        PaymentIntent intent, PaymentAttempt attempt, Instant now, CancellationToken cancellationToken)
    {
        if (attempt.Failure == AttemptFailure.Dropped)
        {
            return (true, null, false);
        }

        if (attempt.Failure is not (AttemptFailure.RpcError or AttemptFailure.Rejected) || (attempt.TxId is null && attempt.Failure != AttemptFailure.Rejected))
        {
            return (false, null, false);
        }

        if (attempt.TxId is not null)
        {
            var (transaction, answered) = await QueryAsync(attempt.Chain, attempt.RpcProvider, attempt.TxId, cancellationToken).ConfigureAwait(false);
            if (!answered || transaction is not null)
            {
                return (false, null, transaction is not null);
            }
        }

        var knownBy = await LastKnownAsync(intent, attempt, cancellationToken).ConfigureAwait(false) + _options.DropTimeout;
        return now >= knownBy ? (true, null, false) : (false, knownBy, false);
    }

    /// <summary>
    /// When the attempt's transaction was last possibly on its way to the chain or with it: the latest of every send of it
    /// (through any of the intent's attempts that carried it; see <see cref="LastKnownAt"/>) and every sighting. Counted
    /// from the first send, a later send that may have delivered it would be left for another chain too soon.
    /// </summary>
    private async ValueTask<Instant> LastKnownAsync(PaymentIntent intent, PaymentAttempt attempt, CancellationToken cancellationToken) =>
        (await AttemptsNewestFirstAsync(intent, cancellationToken).ConfigureAwait(false))
            .Select(a => a.Value)
            .Where(a => a.TxId == attempt.TxId)
            .Append(attempt)
            .Max(a => LastKnownAt(a) ?? a.CreatedAt);

    /// <summary>
    /// Reads a transaction through the named provider, then the chain's others: the first that knows it answers. Not found
    /// (<c>Answered</c> true, no transaction) only when every provider of the chain answered and said so; when any could
    /// not be asked and none found it, <c>Answered</c> is false and nothing is known.
    /// </summary>
    /// <remarks>
    /// One node's "not found" is the weakest answer a chain gives: a node lagging behind the chain, or cut off from it,
    /// says it of transactions long included. Every drop, re-route and operator's Fail rests on "not found", and taking it
    /// from one node while another knows the transaction — or may know it, but cannot be asked — would replace a payment
    /// the chain has made. A transaction a node knows is answered by the first node asked, so the others are asked only
    /// while it is unknown.
    /// </remarks>
    private async ValueTask<(ChainTransaction? Transaction, bool Answered)> QueryAsync(ChainId chain, string providerName, string hash, CancellationToken cancellationToken)
    {
        var answered = true;
        foreach (var provider in _providers.For(chain).OrderBy(p => p.Name == providerName ? 0 : 1))
        {
            try
            {
                if (await provider.Adapter.GetTransactionAsync(hash, cancellationToken).ConfigureAwait(false) is { } transaction)
                {
                    return (transaction, true);
                }
            }
            catch (PaymentsKitException ex) when (ex.Code == PaymentsKitErrorCodes.ChainUnavailable)
            {
                // Try the next provider; one that found nothing proves nothing while this one cannot be asked.
                answered = false;
            }
        }

        return (null, answered);
    }

    /// <summary>The intent's last attempt: from memory while the intent is at the version it was remembered with, else read.</summary>
    private async ValueTask<Versioned<PaymentAttempt>> LastAttemptAsync(Versioned<PaymentIntent> current, CancellationToken cancellationToken)
    {
        var intent = current.Value;
        if (_attempts.TryGet(intent.Id.Value, out var known) && known.IntentVersion == current.Version && known.Attempt.Value.Id == intent.AttemptIds[^1])
        {
            return known.Attempt;
        }

        var unit = await _store.BeginAsync(cancellationToken).ConfigureAwait(false);
        await using (unit.ConfigureAwait(false))
        {
            return await LoadAttemptAsync(unit, intent, intent.AttemptIds[^1], cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// The fee the chain charged, in its asset and (valued at the reservation's price, rounded up) in the settlement
    /// asset. It cannot exceed the hold, as the signer caps the fee at it; were a chain to report more, only the hold is
    /// booked and the difference is logged for reconciliation.
    /// </summary>
    private (Money Native, Money Settlement) ActualFee(PaymentIntent intent, TreasuryReservation reservation, Money? reported)
    {
        var native = reported is { } fee && fee.Asset == reservation.MaxFeeNative.Asset ? fee : reservation.MaxFeeNative;
        var value = FeeMath.ToSettlement(native, reservation.FeePrice, reservation.ReservedFee.Asset);
        if (value > reservation.ReservedFee)
        {
            LogFeeAboveHold(_logger, intent.Id.ToString(), native.ToString(), reservation.MaxFeeNative.ToString());
            value = reservation.ReservedFee;
        }

        return (native, value);
    }

    /// <summary>
    /// Records in the unit that the attempt's transaction reverted on chain; returns the fee it paid (valued against
    /// <paramref name="reservation"/>, see <see cref="ActualFee"/>) and why it failed.
    /// </summary>
    private async ValueTask<(Money Fee, string Reason)> RecordRevertedAsync(
        IUnitOfWork unit,
        Versioned<PaymentIntent> intent,
        Versioned<PaymentAttempt> attempt,
        long attemptReadAt,
        TreasuryReservation reservation,
        ChainTransaction transaction,
        Instant now,
        CancellationToken cancellationToken)
    {
        var stored = await AttemptAsync(unit, intent, attempt, attemptReadAt, cancellationToken).ConfigureAwait(false);
        var (native, fee) = ActualFee(intent.Value, reservation, transaction.Fee);
        var reason = $"transaction {transaction.Hash} failed on {stored.Value.Chain}";
        unit.Update(
            RoutingCollections.Attempts,
            Failed(stored.Value, AttemptFailure.Reverted, reason, now) with { ActualFeeNative = native, ActualFee = fee, Confirmations = transaction.Confirmations },
            stored.Version);
        return (fee, reason);
    }

    private static PaymentAttempt Failed(PaymentAttempt attempt, AttemptFailure failure, string reason, Instant now) =>
        attempt with { Status = PaymentAttemptStatus.Failed, Failure = failure, FailureReason = reason, UpdatedAt = now };

    private static string Reason(AttemptFailure failure, string detail) => failure switch
    {
        AttemptFailure.RpcError => "rpc_error: " + detail,
        AttemptFailure.Rejected => "rejected: " + detail,
        AttemptFailure.Dropped => "dropped: " + detail,
        _ => "reverted: " + detail,
    };
}
