using System.Globalization;
using System.Text.Json;
using NodaTime;
using PaymentsKit.Ledger;
using PaymentsKit.Storage;

namespace PaymentsKit.Streaming;

public sealed partial class StreamService
{
    private const string StreamIdMetadataKey = "stream_id";

    private const string EscrowCodeSuffix = ":escrow";

    private const string RecipientCodeSuffix = ":recipient";

    private static readonly JsonSerializerOptions FingerprintJson = new(JsonSerializerDefaults.Web);

    /// <inheritdoc />
    public async ValueTask<StreamOperationResult> CreateAsync(MerchantId tenantId, CreateStreamRequest request, CancellationToken cancellationToken = default)
    {
        var draft = ValidateCreate(tenantId, request);
        if (draft.IdempotencyKey is null)
        {
            return Logged(await _store.ExecuteAsync((unit, ct) => CreateCoreAsync(unit, draft, ct), cancellationToken).ConfigureAwait(false));
        }

        StreamOperationResult? created = null;
        var (stream, isNew) = await Idempotency.CreateOnceAsync(
            _store,
            StreamCollections.Streams,
            StreamCollections.IdempotencyKey,
            tenantId.Value,
            draft.IdempotencyKey,
            draft.Fingerprint!,
            s => s.RequestFingerprint ?? string.Empty,
            async (unit, ct) =>
            {
                created = await CreateCoreAsync(unit, draft, ct).ConfigureAwait(false);
                return created.Stream;
            },
            cancellationToken).ConfigureAwait(false);

        // A repeat returns the stream as it stands now; its creation events are in ListEventsAsync.
        return isNew ? Logged(created!) : new StreamOperationResult(await GetAsync(tenantId, stream.Id, cancellationToken).ConfigureAwait(false), []);
    }

    /// <inheritdoc />
    public ValueTask<StreamOperationResult> PauseAsync(MerchantId tenantId, StreamId streamId, StreamAction action, CancellationToken cancellationToken = default)
    {
        var (actor, reason) = ValidateAction(tenantId, action);
        return MutateAsync(
            tenantId,
            streamId,
            async (unit, change, ct) =>
            {
                await CatchUpAsync(unit, change, "pause", orLeaveDue: false, ct).ConfigureAwait(false);
                var from = change.Stream.Status;
                var to = Transition(change, StreamState.Paused, "paused");

                // Settling first keeps the recipient's balance current for as long as the stream stays stopped.
                var (amount, transaction) = await SettleStepAsync(unit, change, change.At, ct).ConfigureAwait(false);
                var stream = change.Stream;
                change.Stream = stream with { Status = to, Pauses = [.. stream.Pauses, new PauseInterval(change.At, null)], CompletesAt = null };
                change.Record(StreamEventKind.Paused, from, to, actor, reason, change.At, amount, Zero(stream), Transactions(transaction));
                return Finish(unit, change);
            },
            cancellationToken);
    }

    /// <inheritdoc />
    public ValueTask<StreamOperationResult> ResumeAsync(MerchantId tenantId, StreamId streamId, StreamAction action, CancellationToken cancellationToken = default)
    {
        var (actor, reason) = ValidateAction(tenantId, action);
        return MutateAsync(
            tenantId,
            streamId,
            async (unit, change, ct) =>
            {
                await CatchUpAsync(unit, change, "resumption", orLeaveDue: false, ct).ConfigureAwait(false);
                var stream = change.Stream;
                var from = stream.Status;
                var to = Transition(change, StreamState.Active, "resumed");
                var pauses = stream.Pauses.ToArray();
                if (pauses.Length > 0 && pauses[^1].ResumedAt is null)
                {
                    pauses[^1] = pauses[^1] with { ResumedAt = change.At };
                }

                var completesAt = StreamAccrual.CompletesAt(change.Terms, pauses);
                change.Stream = stream with { Status = to, Pauses = pauses, CompletesAt = completesAt };
                change.Record(StreamEventKind.Resumed, from, to, actor, reason, change.At, Zero(stream), Zero(stream), []);
                if (completesAt <= change.At)
                {
                    await CompleteStepAsync(unit, change, SystemActor, "its end passed while it was paused", ct).ConfigureAwait(false);
                }
                else
                {
                    change.ScheduleCompletion = true;
                }

                return Finish(unit, change);
            },
            cancellationToken);
    }

    /// <inheritdoc />
    public ValueTask<StreamOperationResult> SettleAsync(MerchantId tenantId, StreamId streamId, StreamAction action, CancellationToken cancellationToken = default)
    {
        var (actor, reason) = ValidateAction(tenantId, action);
        return MutateAsync(
            tenantId,
            streamId,
            async (unit, change, ct) =>
            {
                await CatchUpAsync(unit, change, "settlement", orLeaveDue: true, ct).ConfigureAwait(false);
                if (change.CompletedAutomatically)
                {
                    // The completion settled everything there was to settle.
                    return Finish(unit, change);
                }

                var stream = change.Stream;
                if (stream.IsClosed)
                {
                    throw new PaymentsKitException(
                        PaymentsKitErrorCodes.InvalidTransition,
                        $"Stream {stream.Id} is {Label(stream.Status)}: everything it accrued was settled when it closed at {stream.ClosedAt}, so there is nothing more to settle.",
                        TransitionContext(stream, stream.Status));
                }

                var (amount, transaction) = await SettleStepAsync(unit, change, change.At, ct).ConfigureAwait(false);
                change.Record(StreamEventKind.Settled, stream.Status, stream.Status, actor, reason, change.At, amount, Zero(stream), Transactions(transaction));
                return Finish(unit, change);
            },
            cancellationToken);
    }

    /// <inheritdoc />
    public async ValueTask<StreamOperationResult> WithdrawAsync(MerchantId tenantId, StreamId streamId, WithdrawStreamRequest request, CancellationToken cancellationToken = default)
    {
        LedgerValidation.Tenant(tenantId);
        Guard.NotNull(request, "request");
        var actor = Actor(request!.Actor);
        var reason = Reason(request.Reason);
        if (request.Amount is { } requested)
        {
            LedgerValidation.PositiveAmount(requested, "amount");
        }

        var key = Guard.OptionalText(request.IdempotencyKey, "idempotency_key", Idempotency.MaxKeyLength);
        if (key is null)
        {
            return await MutateAsync(tenantId, streamId, Withdraw, cancellationToken).ConfigureAwait(false);
        }

        // The amount by value (3 and 3.00 are one withdrawal); the actor is not compared, as for a create.
        var fingerprint = Idempotency.Fingerprint(
            new WithdrawFingerprint(streamId.ToString(), request.Amount?.Asset.Code, request.Amount is { } money ? Idempotency.CanonicalAmount(money.Amount) : null, reason),
            FingerprintJson);
        StreamOperationResult? withdrawn = null;
        var (keyed, isNew) = await Idempotency.CreateOnceAsync(
            _store,
            StreamCollections.Events,
            StreamCollections.IdempotencyKey,
            tenantId.Value,
            key,
            fingerprint,
            e => e.RequestFingerprint ?? string.Empty,
            async (unit, ct) =>
            {
                withdrawn = await ChangeAsync(
                    unit,
                    tenantId,
                    streamId,
                    (u, change, c) =>
                    {
                        change.Keyed = (key, fingerprint);
                        return Withdraw(u, change, c);
                    },
                    ct).ConfigureAwait(false);
                return withdrawn.Events[^1];
            },
            cancellationToken).ConfigureAwait(false);
        return isNew ? Logged(withdrawn!) : await ReplayAsync(tenantId, keyed, cancellationToken).ConfigureAwait(false);

        async ValueTask<StreamOperationResult> Withdraw(IUnitOfWork unit, Change change, CancellationToken ct)
        {
            await CatchUpAsync(unit, change, "withdrawal", orLeaveDue: true, ct).ConfigureAwait(false);
            var status = change.Stream.Status;
            if (request.Amount is { } amount)
            {
                CheckWithdrawalAmount(change, amount);
            }

            if (!change.Stream.IsClosed)
            {
                var (settled, settlement) = await SettleStepAsync(unit, change, change.At, ct).ConfigureAwait(false);
                if (settled.IsPositive)
                {
                    change.Record(StreamEventKind.Settled, status, status, actor, reason, change.At, settled, Zero(change.Stream), Transactions(settlement));
                }
            }

            var stream = change.Stream;
            var available = stream.Withdrawable;
            var take = request.Amount ?? available;
            if (!take.IsPositive || take > available)
            {
                throw new PaymentsKitException(
                    PaymentsKitErrorCodes.InsufficientFunds,
                    take.IsPositive
                        ? $"Cannot withdraw {take} from stream {stream.Id}: only {available} has accrued and not been withdrawn."
                        : $"Stream {stream.Id} has nothing to withdraw: everything accrued so far ({stream.SettledAmount}) was already withdrawn.",
                    new Dictionary<string, object?> { ["field"] = "amount", ["value"] = take.ToString(), ["withdrawable"] = available.ToString(), ["stream"] = stream.Id.ToString() });
            }

            var transaction = await PostCreditAsync(
                unit,
                stream,
                stream.RecipientAccountId,
                stream.PayoutAccountId,
                take,
                LedgerEntryType.Debit,
                "withdrawal",
                "payout_account_id",
                refusal => $"Cannot withdraw {take} from stream {stream.Id}: its payout account {stream.PayoutAccountId} refuses the credit. {refusal} Nothing was written; "
                    + "the amount stays withdrawable until the account can take it.",
                ct).ConfigureAwait(false);

            change.Stream = stream with { WithdrawnAmount = stream.WithdrawnAmount + take };
            change.Record(StreamEventKind.Withdrawn, status, status, actor, reason, change.At, take, Zero(stream), [transaction]);
            return Finish(unit, change);
        }
    }

    /// <inheritdoc />
    public ValueTask<StreamOperationResult> CancelAsync(MerchantId tenantId, StreamId streamId, StreamAction action, CancellationToken cancellationToken = default)
    {
        var (actor, reason) = ValidateAction(tenantId, action);
        return MutateAsync(
            tenantId,
            streamId,
            async (unit, change, ct) =>
            {
                await CatchUpAsync(unit, change, "cancellation", orLeaveDue: false, ct).ConfigureAwait(false);
                var from = change.Stream.Status;
                var to = Transition(change, StreamState.Cancelled, "cancelled");
                if (from == StreamState.Paused)
                {
                    // A pause ends with the stream; its interval must be closed for the record to stay well formed.
                    var pauses = change.Stream.Pauses.ToArray();
                    pauses[^1] = pauses[^1] with { ResumedAt = change.At };
                    change.Stream = change.Stream with { Pauses = pauses };
                }

                // Sablier's rule: the recipient keeps everything accrued, the payer gets the rest back.
                var (amount, settlement) = await SettleStepAsync(unit, change, change.At, ct).ConfigureAwait(false);
                var refund = await RefundAsync(unit, change, change.Stream.TotalAmount - change.Stream.SettledAmount, ct).ConfigureAwait(false);
                var stream = change.Stream;
                change.Stream = stream with { Status = to, ClosedAt = change.At, CompletesAt = null };
                change.Record(StreamEventKind.Cancelled, from, to, actor, reason, change.At, amount, refund.Amount, Transactions(settlement, refund.Transaction));
                return Finish(unit, change);
            },
            cancellationToken);
    }

    private async ValueTask<StreamOperationResult> CreateCoreAsync(IUnitOfWork unit, CreateDraft draft, CancellationToken cancellationToken)
    {
        var tenantId = draft.TenantId;
        var terms = draft.Terms;
        var asset = terms.Asset;
        var request = draft.Request;
        await AccountAsync(unit, tenantId, request.FundingAccountId, "funding_account_id", asset, cancellationToken).ConfigureAwait(false);
        await AccountAsync(unit, tenantId, request.PayoutAccountId, "payout_account_id", asset, cancellationToken).ConfigureAwait(false);
        if (draft.TransactionHash is { } hash)
        {
            var taken = await unit.FindAsync(
                StreamCollections.Streams,
                tenantId.Value,
                StreamCollections.TransactionHashKey,
                StreamCollections.TransactionHashValue(tenantId, draft.ChainId, hash),
                cancellationToken).ConfigureAwait(false);
            if (taken is not null)
            {
                throw new PaymentsKitException(
                    PaymentsKitErrorCodes.DuplicateKey,
                    $"transaction_hash '{hash}' on {draft.ChainId} already opened stream {taken.Value.Id}.",
                    new Dictionary<string, object?> { ["field"] = "transaction_hash", ["value"] = hash, ["stream"] = taken.Value.Id.ToString() });
            }
        }

        var at = Floor(_clock.GetCurrentInstant());
        var id = StreamId.New(_clock);
        var metadata = new Dictionary<string, string> { [StreamIdMetadataKey] = id.ToString() };
        var escrow = await _ledger.CreateAccountAsync(
            unit,
            tenantId,
            new CreateLedgerAccountRequest(id + EscrowCodeSuffix, "Stream " + id + " escrow", asset, LedgerSide.Credit)
            {
                Flags = LedgerAccountFlags.DebitsMustNotExceedCredits,
                Metadata = metadata,
            },
            cancellationToken).ConfigureAwait(false);
        var recipient = await _ledger.CreateAccountAsync(
            unit,
            tenantId,
            new CreateLedgerAccountRequest(id + RecipientCodeSuffix, "Stream " + id + " recipient balance", asset, LedgerSide.Credit)
            {
                Flags = LedgerAccountFlags.DebitsMustNotExceedCredits,
                Metadata = metadata,
            },
            cancellationToken).ConfigureAwait(false);
        var zero = Money.Zero(asset);
        var stream = new PaymentStream(
            id,
            tenantId,
            draft.Payer,
            draft.Recipient,
            StreamState.Active,
            terms.RatePerSecond,
            terms.Start,
            terms.End,
            request.TotalAmount,
            zero,
            zero,
            zero,
            terms.Start < at ? terms.Start : at,
            [],
            draft.ChainId,
            draft.ContractAddress,
            draft.TransactionHash,
            draft.Metadata,
            request.FundingAccountId,
            escrow.Id,
            recipient.Id,
            request.PayoutAccountId,
            StreamAccrual.CompletesAt(terms, []),
            null,
            0,
            draft.IdempotencyKey,
            at,
            at)
        {
            RequestFingerprint = draft.Fingerprint,
        };
        var funded = await PostAsync(unit, stream, request.FundingAccountId, escrow.Id, request.TotalAmount, LedgerEntryType.Reserve, "funding", cancellationToken).ConfigureAwait(false);
        var change = new Change(stream, 0, at, terms);
        change.Record(StreamEventKind.Created, null, StreamState.Active, draft.Actor, null, at, request.TotalAmount, zero, [funded]);
        await CatchUpAsync(unit, change, "creation", orLeaveDue: false, cancellationToken).ConfigureAwait(false);
        change.ScheduleCompletion = !change.CompletedAutomatically;
        return Finish(unit, change);
    }

    private (string Actor, string? Reason) ValidateAction(MerchantId tenantId, StreamAction? action)
    {
        LedgerValidation.Tenant(tenantId);
        Guard.NotNull(action, "action");
        return (Actor(action!.Actor), Reason(action.Reason));
    }

    /// <summary>
    /// Runs an operation on an existing stream in a unit of work, rerun on lost races. A unit's reads are not
    /// a snapshot: a stream read just before a concurrent commit can meet accounts read just after it, and a
    /// refusal decided on such a view (a ledger flag, a transition) is a lost race, retried on fresh reads.
    /// </summary>
    private async ValueTask<StreamOperationResult> MutateAsync(
        MerchantId tenantId, StreamId streamId, Func<IUnitOfWork, Change, CancellationToken, ValueTask<StreamOperationResult>> operation, CancellationToken cancellationToken) =>
        Logged(await _store.ExecuteAsync((unit, ct) => ChangeAsync(unit, tenantId, streamId, operation, ct), cancellationToken).ConfigureAwait(false));

    /// <summary>One run of <see cref="MutateAsync"/>'s operation in the unit of work it is given.</summary>
    private async ValueTask<StreamOperationResult> ChangeAsync(
        IUnitOfWork unit, MerchantId tenantId, StreamId streamId, Func<IUnitOfWork, Change, CancellationToken, ValueTask<StreamOperationResult>> operation, CancellationToken cancellationToken)
    {
        var change = await BeginChangeAsync(unit, tenantId, streamId, cancellationToken).ConfigureAwait(false);
        return await GuardedAsync(unit, change, c => operation(unit, c, cancellationToken), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// A repeated keyed withdrawal's answer: the events the original recorded (they carry its key and are consecutive,
    /// ending with <paramref name="withdrawn"/>) and the stream as it stands now.
    /// </summary>
    private async ValueTask<StreamOperationResult> ReplayAsync(MerchantId tenantId, StreamEvent withdrawn, CancellationToken cancellationToken)
    {
        var unit = await _store.BeginAsync(cancellationToken).ConfigureAwait(false);
        await using (unit.ConfigureAwait(false))
        {
            var stream = await LoadAsync(unit, tenantId, withdrawn.StreamId, cancellationToken).ConfigureAwait(false);
            var events = new List<StreamEvent> { withdrawn };
            for (var sequence = withdrawn.Sequence - 1; sequence >= 1; sequence--)
            {
                var found = await unit.GetAsync(StreamCollections.Events, tenantId.Value, StreamCollections.EventId(withdrawn.StreamId, sequence), cancellationToken).ConfigureAwait(false);
                if (found is null || !string.Equals(found.Value.IdempotencyKey, withdrawn.IdempotencyKey, StringComparison.Ordinal))
                {
                    break;
                }

                events.Add(found.Value);
            }

            events.Reverse();
            return new StreamOperationResult(stream, events);
        }
    }

    private static async ValueTask<T> GuardedAsync<T>(IUnitOfWork unit, Change change, Func<Change, ValueTask<T>> operation, CancellationToken cancellationToken)
    {
        try
        {
            return await operation(change).ConfigureAwait(false);
        }
        catch (PaymentsKitException ex) when (ex.Code is PaymentsKitErrorCodes.InsufficientFunds or PaymentsKitErrorCodes.InvalidTransition)
        {
            var stream = change.Original;
            var current = await unit.GetAsync(StreamCollections.Streams, stream.TenantId.Value, stream.Id.Value, cancellationToken).ConfigureAwait(false);
            if (current is null || current.Version != change.ReadVersion)
            {
                throw new PaymentsKitException(
                    PaymentsKitErrorCodes.ConcurrencyConflict,
                    $"Stream {stream.Id} changed while this operation read it (version {change.ReadVersion}); re-read and retry.",
                    new Dictionary<string, object?> { ["stream"] = stream.Id.ToString(), ["expectedVersion"] = change.ReadVersion },
                    isTransient: true,
                    innerException: ex);
            }

            throw;
        }
    }

    private async ValueTask<Change> BeginChangeAsync(IUnitOfWork unit, MerchantId tenantId, StreamId streamId, CancellationToken cancellationToken)
    {
        var stream = await LoadAsync(unit, tenantId, streamId, cancellationToken).ConfigureAwait(false);

        // Never before the stream's last change, so settlement instants and pauses stay ordered even if clocks disagree.
        var now = Floor(_clock.GetCurrentInstant());
        return new Change(stream, stream.Version, now > stream.UpdatedAt ? now : stream.UpdatedAt, stream.ToTerms());
    }

    /// <summary>Completes an active stream whose completion instant has passed before anything else happens to it.</summary>
    /// <param name="unit">The operation's unit of work.</param>
    /// <param name="change">The operation's working copy.</param>
    /// <param name="operation">What is being done, for the completion's reason.</param>
    /// <param name="orLeaveDue">
    /// For the recipient's operations (a withdrawal, a settlement): when the funding account refuses the refund, the stream
    /// is left active and due instead of the operation being refused, so the payer's account never holds back what
    /// streamed. The sweep keeps reporting it and completes it once the account can take the credit.
    /// </param>
    /// <param name="cancellationToken">Cancels the operation.</param>
    private async ValueTask CatchUpAsync(IUnitOfWork unit, Change change, string operation, bool orLeaveDue, CancellationToken cancellationToken)
    {
        if (change.Stream is { Status: StreamState.Active, CompletesAt: { } due } && due <= change.At)
        {
            try
            {
                await CompleteStepAsync(unit, change, SystemActor, "came due before a " + operation, cancellationToken).ConfigureAwait(false);
                change.CompletedAutomatically = true;
            }
            catch (PaymentsKitException ex) when (orLeaveDue && IsRefundRefusal(ex, change.Stream))
            {
                // The refund is the completion's first posting, so its refusal left the unit and the stream untouched.
            }
        }
    }

    /// <summary>Settles the last amount at the completion instant, returns any remainder, and moves active → completed.</summary>
    private async ValueTask CompleteStepAsync(IUnitOfWork unit, Change change, string actor, string reason, CancellationToken cancellationToken)
    {
        var completesAt = change.Stream.CompletesAt!.Value;
        if (change.At < completesAt)
        {
            // The clock stepped back since the sweep read it: the change cannot be recorded before the instant it applies at.
            change.At = completesAt;
        }

        var from = change.Stream.Status;
        var to = Transition(change, StreamState.Completed, "completed");

        // The refund is posted before the settlement: a funding account that refuses it then leaves nothing posted, and an
        // operation that may go on without completing (CatchUpAsync's orLeaveDue) goes on from a clean unit of work.
        var accrued = StreamAccrual.Settle(change.Terms, Span(change.Stream.Pauses), completesAt, change.Stream.SettledAmount.Amount).SettledTotal;
        var refund = await RefundAsync(unit, change, change.Stream.TotalAmount - Money.Of(accrued, change.Stream.Asset), cancellationToken).ConfigureAwait(false);
        var (amount, settlement) = await SettleStepAsync(unit, change, completesAt, cancellationToken).ConfigureAwait(false);
        var stream = change.Stream;
        change.Stream = stream with { Status = to, ClosedAt = completesAt, CompletesAt = null };
        change.Record(StreamEventKind.Completed, from, to, actor, reason, completesAt, amount, refund.Amount, Transactions(settlement, refund.Transaction));
    }

    /// <summary>Moves accrued − settled at <paramref name="at"/> from escrow to the recipient's balance.</summary>
    private async ValueTask<(Money Amount, LedgerTransactionId? Transaction)> SettleStepAsync(IUnitOfWork unit, Change change, Instant at, CancellationToken cancellationToken)
    {
        var stream = change.Stream;
        var settlement = StreamAccrual.Settle(change.Terms, Span(stream.Pauses), at, stream.SettledAmount.Amount);
        var amount = Money.Of(settlement.Amount, stream.Asset);
        LedgerTransactionId? transaction = amount.IsPositive
            ? await PostAsync(unit, stream, stream.EscrowAccountId, stream.RecipientAccountId, amount, LedgerEntryType.Debit, "settlement", cancellationToken).ConfigureAwait(false)
            : null;

        // A completion applies at its instant, which is earlier than a settlement made while the stream sat paused past its
        // end; nothing accrued in between, so that later settlement still marks how far accrual is settled.
        var settledAt = at > stream.LastSettledAt ? at : stream.LastSettledAt;
        change.Stream = stream with { SettledAmount = Money.Of(settlement.SettledTotal, stream.Asset), LastSettledAt = settledAt };
        return (amount, transaction);
    }

    /// <summary>Returns <paramref name="refund"/> (total − what accrued) from escrow to the funding account, as the stream closes.</summary>
    private async ValueTask<(Money Amount, LedgerTransactionId? Transaction)> RefundAsync(IUnitOfWork unit, Change change, Money refund, CancellationToken cancellationToken)
    {
        var stream = change.Stream;
        LedgerTransactionId? transaction = refund.IsPositive
            ? await PostCreditAsync(
                unit,
                stream,
                stream.EscrowAccountId,
                stream.FundingAccountId,
                refund,
                LedgerEntryType.Refund,
                "refund",
                "funding_account_id",
                refusal => $"Stream {stream.Id} cannot close: its funding account {stream.FundingAccountId} refuses the refund of {refund}. {refusal} Nothing was written; "
                    + "what streamed stays withdrawable. Retry once the account can take the credit; a stream that came due is completed then by the completion sweep, which keeps trying.",
                cancellationToken).ConfigureAwait(false)
            : null;

        change.Stream = stream with { RefundedAmount = refund };
        return (refund, transaction);
    }

    /// <summary>
    /// Posts <paramref name="amount"/> to <paramref name="credit"/>, an account outside the stream (its payout or funding
    /// account), telling that account's own refusal of the credit as the stream's: <paramref name="field"/> names it, and
    /// <paramref name="message"/> makes the message from the ledger's.
    /// </summary>
    private async ValueTask<LedgerTransactionId> PostCreditAsync(
        IUnitOfWork unit,
        PaymentStream stream,
        LedgerAccountId debit,
        LedgerAccountId credit,
        Money amount,
        LedgerEntryType type,
        string what,
        string field,
        Func<string, string> message,
        CancellationToken cancellationToken)
    {
        try
        {
            return await PostAsync(unit, stream, debit, credit, amount, type, what, cancellationToken).ConfigureAwait(false);
        }
        catch (PaymentsKitException ex) when (Refuses(ex, credit))
        {
            throw CreditRefused(ex, stream, field, credit, amount, message(ex.Message));
        }
    }

    /// <summary>Whether the ledger refused a posting because of <paramref name="account"/>'s own flag.</summary>
    private static bool Refuses(PaymentsKitException ex, LedgerAccountId account) =>
        ex.Code == PaymentsKitErrorCodes.InsufficientFunds
        && ex.Context.TryGetValue("account", out var refusing)
        && refusing is string id
        && string.Equals(id, account.ToString(), StringComparison.Ordinal);

    /// <summary>Whether <paramref name="ex"/> is <see cref="RefundAsync"/>'s report that the funding account refused the refund.</summary>
    private static bool IsRefundRefusal(PaymentsKitException ex, PaymentStream stream) =>
        ex.Code == PaymentsKitErrorCodes.InsufficientFunds
        && ex.Context.TryGetValue("field", out var field)
        && field is "funding_account_id"
        && ex.Context.TryGetValue("stream", out var refused)
        && refused is string id
        && string.Equals(id, stream.Id.ToString(), StringComparison.Ordinal);

    /// <summary>
    /// A funding or payout account's refusal of a credit (its flag credits_must_not_exceed_debits: a wallet that cannot give
    /// out more than it holds) told as the stream's: which account, for what, and that nothing was written.
    /// </summary>
    private static PaymentsKitException CreditRefused(PaymentsKitException ex, PaymentStream stream, string field, LedgerAccountId account, Money amount, string message) =>
        new(PaymentsKitErrorCodes.InsufficientFunds,
            message,
            new Dictionary<string, object?>
            {
                ["field"] = field,
                ["value"] = account.ToString(),
                ["stream"] = stream.Id.ToString(),
                ["amount"] = amount.ToString(),
                ["flag"] = ex.Context.GetValueOrDefault("flag"),
            },
            innerException: ex);

    private async ValueTask<LedgerTransactionId> PostAsync(
        IUnitOfWork unit, PaymentStream stream, LedgerAccountId debit, LedgerAccountId credit, Money amount, LedgerEntryType type, string what, CancellationToken cancellationToken)
    {
        var reference = stream.Id.ToString();
        var transaction = await _ledger.PostTransactionAsync(
            unit,
            stream.TenantId,
            new PostLedgerTransactionRequest([LedgerPosting.Debit(debit, amount), LedgerPosting.Credit(credit, amount)])
            {
                EntryType = type,
                Reference = reference,
                Description = "Stream " + reference + " " + what,
            },
            cancellationToken).ConfigureAwait(false);
        return transaction.Id;
    }

    private static async ValueTask AccountAsync(IUnitOfWork unit, MerchantId tenantId, LedgerAccountId accountId, string field, Asset asset, CancellationToken cancellationToken)
    {
        var account = await unit.GetAsync(LedgerCollections.Accounts, tenantId.Value, accountId.Value, cancellationToken).ConfigureAwait(false)
            ?? throw new PaymentsKitException(
                PaymentsKitErrorCodes.NotFound,
                $"{field} '{accountId}' names no ledger account of this tenant.",
                new Dictionary<string, object?> { ["field"] = field, ["value"] = accountId.ToString() });
        if (!account.Value.Asset.Equals(asset))
        {
            throw new PaymentsKitException(
                PaymentsKitErrorCodes.AssetMismatch,
                $"{field} '{accountId}' counts {account.Value.Asset.Code} but the stream is in {asset.Code}.",
                new Dictionary<string, object?> { ["field"] = field, ["value"] = accountId.ToString(), ["expected"] = asset.Code, ["actual"] = account.Value.Asset.Code });
        }

        // A stream's own accounts hold what its recipient and payer are owed: funding another stream from them would take
        // it, and withdrawals paid into them would leave more there than the stream counts (and could never move it on).
        if (account.Value.Metadata.TryGetValue(StreamIdMetadataKey, out var owner)
            && (account.Value.Code == owner + EscrowCodeSuffix || account.Value.Code == owner + RecipientCodeSuffix))
        {
            throw PaymentsKitException.InvalidArgument(
                field,
                accountId,
                $"is stream {owner}'s own ledger account ({account.Value.Code}); a stream cannot be funded from or pay out to another stream's escrow or recipient balance");
        }
    }

    private static void CheckWithdrawalAmount(Change change, Money amount)
    {
        var stream = change.Stream;
        LedgerValidation.SameAsset(amount, stream.Asset, "amount", stream.Id);
        var scale = change.Terms.AmountScale;
        if (decimal.Round(amount.Amount, scale, MidpointRounding.ToZero) != amount.Amount)
        {
            throw new PaymentsKitException(
                PaymentsKitErrorCodes.AmountPrecision,
                string.Create(CultureInfo.InvariantCulture, $"amount {amount.Amount} has more than the {scale} decimal places stream {stream.Id} counts in."),
                new Dictionary<string, object?> { ["field"] = "amount", ["value"] = amount.ToString(), ["scale"] = scale });
        }
    }

    private static StreamState Transition(Change change, StreamState to, string participle)
    {
        var stream = change.Stream;
        if (StreamLifecycle.Machine.CanTransition(stream.Status, to))
        {
            return to;
        }

        var why = change.CompletedAutomatically
            ? $" It completed at {stream.ClosedAt} (its total streamed or its end passed) just before this request."
            : string.Empty;
        throw new PaymentsKitException(
            PaymentsKitErrorCodes.InvalidTransition,
            $"Stream {stream.Id} is {Label(stream.Status)} and cannot be {participle}: streams move active → paused | cancelled | completed and paused → active | cancelled; cancelled and completed are terminal.{why}",
            TransitionContext(stream, to));
    }

    private static Dictionary<string, object?> TransitionContext(PaymentStream stream, StreamState to) =>
        new() { ["lifecycle"] = StreamLifecycle.Machine.Name, ["stream"] = stream.Id.ToString(), ["from"] = Label(stream.Status), ["to"] = Label(to) };

    private static string Label(StreamState state) => state switch
    {
        StreamState.Active => "active",
        StreamState.Paused => "paused",
        StreamState.Cancelled => "cancelled",
        _ => "completed",
    };

    private static Money Zero(PaymentStream stream) => Money.Zero(stream.Asset);

    private static LedgerTransactionId[] Transactions(LedgerTransactionId? first, LedgerTransactionId? second = null) =>
        (first, second) switch
        {
            ({ } a, { } b) => [a, b],
            ({ } a, null) => [a],
            (null, { } b) => [b],
            _ => [],
        };

    private static StreamOperationResult Finish(IUnitOfWork unit, Change change)
    {
        var stream = change.Stream;
        if (change.ReadVersion == 0)
        {
            stream = stream with { Version = 1 };
            unit.Insert(StreamCollections.Streams, stream);
        }
        else
        {
            stream = stream with { Version = change.ReadVersion + 1 };
            unit.Update(StreamCollections.Streams, stream, change.ReadVersion);
        }

        foreach (var recorded in change.Events)
        {
            unit.Insert(StreamCollections.Events, recorded);
        }

        if (change.ScheduleCompletion && stream is { Status: StreamState.Active, CompletesAt: { } due })
        {
            unit.Insert(
                StreamCollections.Deadlines,
                new StreamDeadline(Guid.CreateVersion7(due.ToDateTimeOffset()), stream.TenantId, stream.Id, due, false));
        }

        return new StreamOperationResult(stream, change.Events);
    }

    /// <summary>One operation's working copy of a stream and the events it records.</summary>
    private sealed class Change(PaymentStream stream, long readVersion, Instant at, StreamTerms terms)
    {
        /// <summary>The stream as read.</summary>
        public PaymentStream Original { get; } = stream;

        public PaymentStream Stream { get; set; } = stream;

        /// <summary>The version read; 0 for a stream this operation creates.</summary>
        public long ReadVersion { get; } = readVersion;

        /// <summary>The operation's instant (floored to the microsecond).</summary>
        public Instant At { get; set; } = at;

        public StreamTerms Terms { get; } = terms;

        public List<StreamEvent> Events { get; } = [];

        /// <summary>Whether the stream's completion came due and was applied before the requested operation.</summary>
        public bool CompletedAutomatically { get; set; }

        /// <summary>Whether the operation set a new completion instant the sweep must learn about.</summary>
        public bool ScheduleCompletion { get; set; }

        /// <summary>The idempotency key and request fingerprint of a keyed withdrawal, stamped on every event it records.</summary>
        public (string Key, string Fingerprint)? Keyed { get; set; }

        public void Record(
            StreamEventKind kind, StreamState? from, StreamState to, string actor, string? reason, Instant effectiveAt, Money amount, Money refunded, IReadOnlyList<LedgerTransactionId> transactions)
        {
            var sequence = Stream.EventCount + 1;
            Events.Add(new StreamEvent(
                StreamCollections.EventId(Stream.Id, sequence), Stream.TenantId, Stream.Id, sequence, kind, from, to, actor, reason, At, effectiveAt, amount, refunded, transactions)
            {
                IdempotencyKey = Keyed?.Key,
                RequestFingerprint = Keyed?.Fingerprint,
            });
            Stream = Stream with { EventCount = sequence, UpdatedAt = At };
        }
    }

    /// <summary>What a keyed withdrawal's fingerprint covers.</summary>
    private sealed record WithdrawFingerprint(string StreamId, string? Asset, decimal? Amount, string? Reason);
}
