using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using NodaTime;
using PaymentsKit.Chains;
using PaymentsKit.Storage;
using PaymentsKit.Webhooks;

namespace PaymentsKit.Routing;

/// <summary>
/// The <see cref="IPaymentIntentService"/> over the <see cref="IPaymentsStore"/>, the treasury's ledger and the
/// chains' RPC providers. Every status change commits in one unit of work with its attempt, its ledger postings
/// and its <c>payment_intent.&lt;status&gt;</c> outbox event. Chain I/O (signing, broadcasting, polling) happens
/// between units of work, never inside one, and each commit re-checks that the intent is still as read, so
/// concurrent workers advancing one intent apply each step once.
/// </summary>
public sealed partial class PaymentIntentService : IPaymentIntentService
{
    private const string ResourceType = "payment_intent";

    // The event actions of a finished intent's transaction that landed after all, paying the recipient (the status stays).
    private const string PaidAfterFailure = "paid_after_failure";
    private const string PaidAfterSettlement = "paid_after_settlement";

    private static readonly JsonSerializerOptions FingerprintJson = new(JsonSerializerDefaults.Web);

    // An intent never changes merchant, so its locator can be remembered.
    private readonly BoundedMemory<Guid, MerchantId> _locators = new(65_536);

    // The last attempt of an intent as of the intent version this process wrote with it. An attempt only ever changes
    // together with its intent, so while the intent is still at that version the attempt is as remembered. Attempts
    // carry their signed transaction, so fewer are kept; only intents between broadcast and settlement use them.
    private readonly BoundedMemory<Guid, (long IntentVersion, Versioned<PaymentAttempt> Attempt)> _attempts = new(4_096);

    private readonly IPaymentsStore _store;
    private readonly IClock _clock;
    private readonly TreasuryService _treasury;
    private readonly IRoutingRpcProviders _providers;
    private readonly IWebhookOutbox _outbox;
    private readonly ITransactionSigner? _signer;
    private readonly IDuePaymentIntentQueue _due;
    private readonly WalletTurns _turns;
    private readonly RoutingOptions _options;
    private readonly ILogger _logger;

    // The transitions each unit of work made, logged once it committed: until then it may be run again or dropped.
    private readonly ConditionalWeakTable<IUnitOfWork, List<Transition>> _transitions = [];

    /// <summary>Creates the service.</summary>
    /// <param name="store">Where intents, attempts and events are kept.</param>
    /// <param name="clock">Stamps changes and decides expiry and retry times.</param>
    /// <param name="treasury">Holds, settles and releases funds.</param>
    /// <param name="providers">The chains' RPC providers.</param>
    /// <param name="outbox">Receives a webhook event per status change.</param>
    /// <param name="options">Routing settings.</param>
    /// <param name="signer">The host's custody; needed once an intent broadcasts.</param>
    /// <param name="logger">Logs transitions and anomalies.</param>
    /// <param name="due">Finds and claims due intents for <see cref="AdvanceDueAsync"/>; by default a scan of <paramref name="store"/>.</param>
    public PaymentIntentService(
        IPaymentsStore store,
        IClock clock,
        TreasuryService treasury,
        IRoutingRpcProviders providers,
        IWebhookOutbox outbox,
        IOptions<RoutingOptions> options,
        ITransactionSigner? signer = null,
        ILogger<PaymentIntentService>? logger = null,
        IDuePaymentIntentQueue? due = null)
    {
        _store = store ?? throw new ArgumentNullException(nameof(store));
        _clock = clock ?? throw new ArgumentNullException(nameof(clock));
        _treasury = treasury ?? throw new ArgumentNullException(nameof(treasury));
        _providers = providers ?? throw new ArgumentNullException(nameof(providers));
        _outbox = outbox ?? throw new ArgumentNullException(nameof(outbox));
        _options = (options ?? throw new ArgumentNullException(nameof(options))).Value;
        _signer = signer;
        _due = due ?? new StoreScanDuePaymentIntentQueue(store);
        _turns = new WalletTurns(store, LogTransitions);
        _logger = (ILogger?)logger ?? NullLogger.Instance;
    }

    /// <summary>A status change buffered in a unit of work, to log once it committed.</summary>
    private readonly record struct Transition(PaymentIntentId IntentId, PaymentIntentStatus From, PaymentIntentStatus To, string? Reason);

    private enum Selection
    {
        Unchanged,
        Selected,
        Expired,
        NoFunds,
    }

    /// <inheritdoc />
    public async ValueTask<PaymentIntent> CreateAsync(MerchantId merchantId, CreatePaymentIntentRequest request, CancellationToken cancellationToken = default)
    {
        Guard.NotNull(request, "request");
        var key = Guard.Text(request.IdempotencyKey, "idempotency_key", Idempotency.MaxKeyLength);
        if (merchantId.Value == Guid.Empty)
        {
            throw NotFound("merchant_id", merchantId.ToString());
        }

        var fingerprint = Idempotency.Fingerprint(new CreateFingerprint(request.QuoteId.ToString(), request.Chain?.Value), FingerprintJson);
        var (intent, _) = await Idempotency.CreateOnceAsync(
            _store,
            RoutingCollections.Intents,
            RoutingCollections.IdempotencyKey,
            merchantId.Value,
            key,
            fingerprint,
            i => i.RequestFingerprint,
            async (unit, ct) =>
            {
                // The merchant's quote proves the merchant: a quote is only ever made for an existing merchant.
                var quote = await QuoteAsync(unit, merchantId, request.QuoteId, ct).ConfigureAwait(false);
                var now = _clock.GetCurrentInstant();
                ThrowIfExpired(quote, now);
                var (chain, destination) = Route(quote, request.Chain ?? quote.RecommendedChain);
                var intent = new PaymentIntent(
                    PaymentIntentId.New(_clock),
                    merchantId,
                    quote.Id,
                    key,
                    fingerprint,
                    quote.Amount,
                    chain,
                    destination,
                    PaymentIntentStatus.Created,
                    Reservation: null,
                    AttemptIds: [],
                    AttemptBudget: _options.MaxAttempts,
                    NextAttemptAt: null,
                    LastError: null,
                    TxId: null,
                    ActualFee: null,
                    CreatedAt: now,
                    UpdatedAt: now)
                {
                    DueAt = quote.ExpiresAt,
                };
                unit.Insert(RoutingCollections.Intents, intent);
                unit.Insert(RoutingCollections.Locators, new PaymentIntentLocator(intent.Id.Value, merchantId));
                Emit(unit, intent, null, null);
                return intent;
            },
            cancellationToken).ConfigureAwait(false);
        Remember(intent.Id, merchantId);
        return intent;
    }

    /// <inheritdoc />
    public async ValueTask<PaymentIntent> GetAsync(MerchantId merchantId, PaymentIntentId intentId, CancellationToken cancellationToken = default) =>
        (await ReadAsync(merchantId, intentId, cancellationToken).ConfigureAwait(false)).Value;

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<PaymentAttempt>> ListAttemptsAsync(MerchantId merchantId, PaymentIntentId intentId, CancellationToken cancellationToken = default)
    {
        var unit = await _store.BeginAsync(cancellationToken).ConfigureAwait(false);
        await using (unit.ConfigureAwait(false))
        {
            var intent = (await LoadAsync(unit, merchantId, intentId, cancellationToken).ConfigureAwait(false)).Value;
            var attempts = new List<PaymentAttempt>(intent.AttemptIds.Count);
            foreach (var id in intent.AttemptIds)
            {
                attempts.Add((await LoadAttemptAsync(unit, intent, id, cancellationToken).ConfigureAwait(false)).Value);
            }

            return attempts;
        }
    }

    /// <inheritdoc />
    public ValueTask<PaymentIntent> RequoteAsync(MerchantId merchantId, PaymentIntentId intentId, QuoteId quoteId, CancellationToken cancellationToken = default) =>
        ExecuteAsync(
            async (unit, ct) =>
            {
                var current = await LoadAsync(unit, merchantId, intentId, ct).ConfigureAwait(false);
                var quote = await QuoteAsync(unit, merchantId, quoteId, ct).ConfigureAwait(false);
                ThrowIfExpired(quote, _clock.GetCurrentInstant());
                if (quote.Amount != current.Value.Amount)
                {
                    throw PaymentsKitException.InvalidArgument("quote_id", quoteId.ToString(), $"prices {quote.Amount}, not the intent's {current.Value.Amount}");
                }

                var (chain, destination) = Route(quote, quote.RecommendedChain);
                PaymentIntent Repriced(PaymentIntent i) => i with { QuoteId = quote.Id, SelectedChain = chain, DestinationAddress = destination, DueAt = quote.ExpiresAt };
                if (current.Value.Status == PaymentIntentStatus.Quoted)
                {
                    // Already quoted: a new price is not a status change, so no event.
                    var repriced = Repriced(current.Value) with { UpdatedAt = _clock.GetCurrentInstant() };
                    unit.Update(RoutingCollections.Intents, repriced, current);
                    return repriced;
                }

                return Move(unit, current, PaymentIntentStatus.Quoted, Repriced, null);
            },
            cancellationToken);

    /// <inheritdoc />
    public async ValueTask<PaymentIntent> SelectRouteAsync(MerchantId merchantId, PaymentIntentId intentId, CancellationToken cancellationToken = default)
    {
        var read = await ReadAsync(merchantId, intentId, cancellationToken).ConfigureAwait(false);
        var (intent, outcome) = await SelectAsync(merchantId, intentId, read, explicitly: true, cancellationToken).ConfigureAwait(false);
        return outcome switch
        {
            Selection.Expired => throw new PaymentsKitException(
                PaymentsKitErrorCodes.Expired,
                $"Quote {intent.QuoteId} of payment intent {intent.Id} expired; the intent is now expired.",
                new Dictionary<string, object?> { ["field"] = "quote_id", ["value"] = intent.QuoteId.ToString() }),
            Selection.NoFunds => throw new PaymentsKitException(
                PaymentsKitErrorCodes.InsufficientFunds,
                $"No treasury wallet of a usable chain can cover {intent.Amount} plus its fee for payment intent {intent.Id}.",
                new Dictionary<string, object?> { ["field"] = "amount", ["value"] = intent.Amount.ToString() }),
            _ => intent,
        };
    }

    /// <inheritdoc />
    public async ValueTask<PaymentIntent> AdvanceAsync(PaymentIntentId intentId, CancellationToken cancellationToken = default)
    {
        var merchantId = await LocateAsync(intentId, cancellationToken).ConfigureAwait(false);
        var current = await ReadAsync(merchantId, intentId, cancellationToken).ConfigureAwait(false);
        return await StepAsync(current, sweeping: false, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask<PaymentIntentSweepResult> AdvanceDueAsync(Instant now, int limit = 100, CancellationToken cancellationToken = default)
    {
        var claims = await _due.ClaimDueAsync(now, _options.SweepLease, limit, cancellationToken).ConfigureAwait(false);
        var advanced = 0;
        var failed = 0;
        var waiting = new System.Collections.Concurrent.ConcurrentBag<DuePaymentIntent>();
        try
        {
            // Chain I/O dominates a step, so several intents are stepped at once.
            await Parallel.ForEachAsync(
                claims,
                new ParallelOptions { MaxDegreeOfParallelism = _options.SweepParallelism, CancellationToken = cancellationToken },
                async (claim, ct) =>
                {
                    try
                    {
                        var current = await ReadAsync(claim.MerchantId, claim.Id, ct).ConfigureAwait(false);
                        var next = await StepAsync(current, sweeping: true, ct).ConfigureAwait(false);
                        // A step that advances the intent changes its status or starts an attempt; any other write (a retry put
                        // off, a transaction seen still on chain) leaves it waiting like a step that wrote nothing.
                        if (next.Status != current.Value.Status || next.AttemptIds.Count != current.Value.AttemptIds.Count)
                        {
                            Interlocked.Increment(ref advanced);
                        }
                        else
                        {
                            waiting.Add(claim);
                        }
                    }
                    catch (Exception ex) when (!(ex is OperationCanceledException && ct.IsCancellationRequested))
                    {
                        // Anything one intent's step throws (a signer or RPC client's own exceptions included) stays with that
                        // intent: the pass goes on with the others, and it waits the poll interval, so intents that keep failing
                        // (the oldest due, each released at once) cannot take every pass.
                        Interlocked.Increment(ref failed);
                        waiting.Add(claim);
                        LogSweepFailure(_logger, ex, claim.Id.ToString(), (ex as PaymentsKitException)?.Code ?? ex.GetType().Name);
                    }
                }).ConfigureAwait(false);
        }
        finally
        {
            // Intents with nothing to do yet, or whose step failed, wait the poll interval, so a pass never spins on them.
            await DuePass.EndAsync(claims, waiting, now, _clock, _options.SweepPollInterval, _due.DeferAsync, _due.ReleaseAsync).ConfigureAwait(false);
        }

        return new PaymentIntentSweepResult(claims.Count, advanced, failed);
    }

    /// <summary>
    /// Moves an intent one step from <paramref name="current"/>. A sweeper only expires an intent waiting for route
    /// selection (selecting is the merchant's call); an explicit advance selects its route.
    /// </summary>
    private async ValueTask<PaymentIntent> StepAsync(Versioned<PaymentIntent> current, bool sweeping, CancellationToken cancellationToken)
    {
        var merchantId = current.Value.MerchantId;
        var intentId = current.Value.Id;
        return current.Value.Status switch
        {
            PaymentIntentStatus.Created or PaymentIntentStatus.Quoted when sweeping => await ExpireIfDueAsync(current, cancellationToken).ConfigureAwait(false),
            PaymentIntentStatus.Created or PaymentIntentStatus.Quoted =>
                (await SelectAsync(merchantId, intentId, current, explicitly: false, cancellationToken).ConfigureAwait(false)).Intent,
            PaymentIntentStatus.RouteSelected => await BroadcastAsync(current, null, cancellationToken).ConfigureAwait(false),
            PaymentIntentStatus.Broadcasting => await RecoverBroadcastAsync(current, cancellationToken).ConfigureAwait(false),
            PaymentIntentStatus.Broadcasted or PaymentIntentStatus.PendingConfirmation => await PollAsync(current, cancellationToken).ConfigureAwait(false),
            PaymentIntentStatus.Retrying => await RetryAsync(current, cancellationToken).ConfigureAwait(false),
            PaymentIntentStatus.Settled or PaymentIntentStatus.Failed => await WatchFinishedAsync(current, cancellationToken).ConfigureAwait(false),
            _ => current.Value,
        };
    }

    /// <summary>Expires an intent not yet routed whose quote expired; unchanged otherwise.</summary>
    private ValueTask<PaymentIntent> ExpireIfDueAsync(Versioned<PaymentIntent> current, CancellationToken cancellationToken) =>
        CommitAsync(
            current,
            async (unit, v, ct) =>
            {
                var quote = await QuoteAsync(unit, v.Value.MerchantId, v.Value.QuoteId, ct).ConfigureAwait(false);
                return v.Value.Status is PaymentIntentStatus.Created or PaymentIntentStatus.Quoted && quote.IsExpiredAt(_clock.GetCurrentInstant())
                    ? Move(unit, v, PaymentIntentStatus.Expired, null, string.Create(CultureInfo.InvariantCulture, $"quote {quote.Id} expired at {quote.ExpiresAt}"))
                    : v.Value;
            },
            cancellationToken);

    /// <inheritdoc />
    public ValueTask<PaymentIntent> CancelAsync(MerchantId merchantId, PaymentIntentId intentId, CancellationToken cancellationToken = default) =>
        ExecuteAsync(
            async (unit, ct) =>
            {
                var current = await LoadAsync(unit, merchantId, intentId, ct).ConfigureAwait(false);
                PaymentIntentLifecycle.Machine.Transition(current.Value.Status, PaymentIntentStatus.Cancelled);
                if (current.Value.AttemptIds.Count > 0)
                {
                    // Re-routed after a broadcast: should that transaction land after all, only manual review can book it.
                    throw new PaymentsKitException(
                        PaymentsKitErrorCodes.InvalidTransition,
                        $"Payment intent {intentId} cannot be cancelled: {current.Value.AttemptIds.Count} attempt(s) were already broadcast.",
                        new Dictionary<string, object?> { ["lifecycle"] = "payment intent", ["from"] = current.Value.Status.ToString(), ["to"] = nameof(PaymentIntentStatus.Cancelled) });
                }

                if (current.Value.Reservation is { } reservation)
                {
                    await _treasury.VoidAsync(unit, reservation, ct).ConfigureAwait(false);
                }

                return Move(unit, current, PaymentIntentStatus.Cancelled, i => i with { Reservation = null }, "cancelled by the merchant");
            },
            cancellationToken);

    /// <inheritdoc />
    public async ValueTask<PaymentIntent> ResolveManualReviewAsync(PaymentIntentId intentId, ManualReviewResolution resolution, CancellationToken cancellationToken = default)
    {
        var merchantId = await LocateAsync(intentId, cancellationToken).ConfigureAwait(false);
        var current = await ReadAsync(merchantId, intentId, cancellationToken).ConfigureAwait(false);
        if (current.Value.Status != PaymentIntentStatus.ManualReview)
        {
            throw NotInReview(current.Value, resolution);
        }

        // A resolution is decided on the review as read: if another operator (or worker) moved the intent before it
        // committed, it is refused as it would have been had it come second, never reported as applied.
        var moved = (PaymentIntent now) => now.Status == PaymentIntentStatus.ManualReview
            ? BufferedUnitOfWork.Conflict(RoutingCollections.Intents.Name, intentId.Value, current.Version)
            : NotInReview(now, resolution);
        switch (resolution)
        {
            case ManualReviewResolution.Retry:
                return await CommitAsync(
                    current,
                    (unit, v, _) => ValueTask.FromResult(Move(
                        unit,
                        v,
                        PaymentIntentStatus.Retrying,
                        i => i with { AttemptBudget = i.AttemptIds.Count + _options.MaxAttempts, NextAttemptAt = _clock.GetCurrentInstant() },
                        "an operator asked for another attempt")),
                    cancellationToken,
                    moved).ConfigureAwait(false);
            case ManualReviewResolution.Fail:
                var reverted = await ThrowIfStillOnChainAsync(current.Value, cancellationToken).ConfigureAwait(false);
                return await FailReviewedAsync(current, "an operator confirmed nothing moved", moved, reverted, cancellationToken).ConfigureAwait(false);
            case ManualReviewResolution.FailUnverified:
                // Logged once committed: a resolution refused at its commit (another operator came first) failed nothing.
                var failed = await FailReviewedAsync(current, "an operator confirmed nothing moved, without the chain's confirmation", moved, [], cancellationToken)
                    .ConfigureAwait(false);
                LogFailedUnverified(_logger, intentId.ToString(), current.Value.SelectedChain.ToString());
                return failed;
            case ManualReviewResolution.Settle:
                return await SettleFromReviewAsync(current, moved, cancellationToken).ConfigureAwait(false);
            default:
                throw PaymentsKitException.InvalidArgument("resolution", (int)resolution, "is not a manual review resolution");
        }
    }

    private static PaymentsKitException NotInReview(PaymentIntent intent, ManualReviewResolution resolution) =>
        new(
            PaymentsKitErrorCodes.InvalidTransition,
            $"Payment intent {intent.Id} is {intent.Status.ToWireName()}, not in manual_review.",
            new Dictionary<string, object?> { ["lifecycle"] = "payment intent", ["from"] = intent.Status.ToString(), ["to"] = resolution.ToString() });

    /// <summary>
    /// Fails an intent in review in one unit: the fees its <paramref name="reverted"/> transactions on the held wallet's chain
    /// paid are booked (at most the fee held, as in polling) and their attempts marked reverted; the rest of the hold is released.
    /// Those on a chain the intent was re-routed away from are booked on that chain's wallet (see <see cref="ChargeRevertedElsewhereAsync"/>).
    /// </summary>
    private ValueTask<PaymentIntent> FailReviewedAsync(
        Versioned<PaymentIntent> current,
        string reason,
        Func<PaymentIntent, PaymentsKitException> moved,
        IReadOnlyList<RevertedOnChain> reverted,
        CancellationToken cancellationToken) =>
        CommitAsync(
            current,
            async (unit, v, ct) =>
            {
                Money? charged = null;
                var now = _clock.GetCurrentInstant();
                if (v.Value.Reservation is { } reservation)
                {
                    foreach (var (attempt, transaction) in reverted.Where(r => r.Attempt.Value.Chain == reservation.Chain))
                    {
                        var (fee, _) = await RecordRevertedAsync(unit, v, attempt, current.Version, reservation, transaction, now, ct).ConfigureAwait(false);
                        charged = charged is { } sum ? sum + fee : fee;
                    }

                    if (charged is { } total && total > reservation.ReservedFee)
                    {
                        LogFeeAboveHold(_logger, v.Value.Id.ToString(), total.ToString(), reservation.ReservedFee.ToString());
                        charged = reservation.ReservedFee;
                    }

                    if (charged is { } fees)
                    {
                        await _treasury.ChargeFeeOnlyAsync(unit, reservation, fees, v.Value.Id.ToString(), ct).ConfigureAwait(false);
                    }
                    else
                    {
                        await _treasury.VoidAsync(unit, reservation, ct).ConfigureAwait(false);
                    }
                }

                var elsewhere = reverted.Where(r => r.Attempt.Value.Chain != v.Value.Reservation?.Chain);
                if (await ChargeRevertedElsewhereAsync(unit, v, current.Version, elsewhere, now, ct).ConfigureAwait(false) is { } paidElsewhere)
                {
                    charged = charged is { } sum ? sum + paidElsewhere : paidElsewhere;
                }

                return Move(unit, v, PaymentIntentStatus.Failed, i => i with { Reservation = null, ActualFee = charged ?? i.ActualFee }, reason);
            },
            cancellationToken,
            moved);

    /// <summary>An attempt whose transaction the chain reports failed (reverted), having charged its fee.</summary>
    private sealed record RevertedOnChain(Versioned<PaymentAttempt> Attempt, ChainTransaction Transaction);

    /// <summary>
    /// Settles an intent in review on its newest transaction the chain reports final and successful. Every other transaction
    /// of it the chain reports reverted paid its fee too (one sent before a re-route may have landed after it), so each is
    /// booked in the same unit on the wallet that paid it.
    /// </summary>
    private async ValueTask<PaymentIntent> SettleFromReviewAsync(Versioned<PaymentIntent> current, Func<PaymentIntent, PaymentsKitException> moved, CancellationToken cancellationToken)
    {
        var intent = current.Value;
        var attempts = await AttemptsNewestFirstAsync(intent, cancellationToken).ConfigureAwait(false);
        (Versioned<PaymentAttempt> Attempt, ChainTransaction Transaction)? final = null;
        List<RevertedOnChain> reverted = [];
        foreach (var carriers in attempts.Where(a => a.Value.TxId is not null).GroupBy(a => (a.Value.Chain, a.Value.TxId)))
        {
            var attempt = carriers.First();
            var (transaction, _) = await QueryAsync(attempt.Value.Chain, attempt.Value.RpcProvider, attempt.Value.TxId!, cancellationToken).ConfigureAwait(false);
            if (transaction is { Status: ChainTransactionStatus.Succeeded, IsFinal: true })
            {
                final ??= (attempt, transaction);
            }
            else if (transaction is { Status: ChainTransactionStatus.Failed })
            {
                reverted.Add(new RevertedOnChain(attempt, transaction));
            }
        }

        var (paid, landed) = final ?? throw PaymentsKitException.InvalidArgument(
            "resolution", "settle", $"needs a final, successful transaction on chain, and none of payment intent {intent.Id}'s {attempts.Count} attempt(s) has one");

        return await CommitAsync(
            current,
            async (u, v, ct) =>
            {
                var settled = v.Value.Reservation?.Chain == paid.Value.Chain
                    ? await SettleAsync(u, v, paid, current.Version, landed, null, ct).ConfigureAwait(false)
                    : await SettleElsewhereAsync(u, v, paid, current.Version, landed, ct).ConfigureAwait(false);
                await ChargeRevertedElsewhereAsync(u, v, current.Version, reverted, _clock.GetCurrentInstant(), ct).ConfigureAwait(false);
                return settled;
            },
            cancellationToken,
            moved).ConfigureAwait(false);
    }

    /// <summary>
    /// Watches a finished intent's transactions that may still land: those on chains it left (sent before a re-route, or on
    /// the chain a settle from review moved it away from), and a failed intent's sent transactions on its own chain too — its
    /// hold was released while they were unknown to the chain (dropped and replaced by one that was then refused, failed by an
    /// operator after the drop timeout) or, failed unverified, even pending. A settled intent's own chain is not watched: its
    /// settling transaction excludes the earlier ones there (the signer reuses their nonce). Each may reach its chain after the
    /// intent finished, paid from that chain's wallet. One the chain reports reverted has its fee booked on the wallet that
    /// paid it, and one final and successful its payment and fee, so the books keep matching the chains; the intent keeps its
    /// status (a failed intent's <c>actual_fee</c> grows by the fees booked), and each payment that landed after it finished writes
    /// <c>payment_intent.paid_after_failure</c> or <c>payment_intent.paid_after_settlement</c> in the same unit, for the merchant. A transaction is watched while its chain knows
    /// it (pending or not final) and, unknown, until <see cref="RoutingOptions.FinalityTimeout"/> after it was last sent or
    /// seen; once every one is booked or outwaited the intent is no longer due.
    /// </summary>
    private async ValueTask<PaymentIntent> WatchFinishedAsync(Versioned<PaymentIntent> current, CancellationToken cancellationToken)
    {
        var intent = current.Value;
        if (intent.DueAt is null)
        {
            return intent;
        }

        var now = _clock.GetCurrentInstant();
        var attempts = await AttemptsNewestFirstAsync(intent, cancellationToken).ConfigureAwait(false);
        List<RevertedOnChain> reverted = [];
        List<(Versioned<PaymentAttempt> Attempt, ChainTransaction Transaction)> landed = [];
        var watching = false;
        var failed = intent.Status == PaymentIntentStatus.Failed;
        foreach (var carriers in attempts
            .Where(a => a.Value.TxId is not null)
            .GroupBy(a => (a.Value.Chain, a.Value.TxId))
            .Where(g => g.Key.Chain != intent.SelectedChain || (failed && g.Any(a => LastKnownAt(a.Value) is not null)))
            .Where(g => !g.Any(a => a.Value.Status == PaymentAttemptStatus.Confirmed || a.Value.Failure == AttemptFailure.Reverted)))
        {
            var attempt = carriers.First();
            var (transaction, _) = await QueryAsync(attempt.Value.Chain, attempt.Value.RpcProvider, attempt.Value.TxId!, cancellationToken).ConfigureAwait(false);
            switch (transaction)
            {
                case { Status: ChainTransactionStatus.Failed }:
                    reverted.Add(new RevertedOnChain(attempt, transaction));
                    break;
                case { Status: ChainTransactionStatus.Succeeded, IsFinal: true }:
                    landed.Add((attempt, transaction));
                    break;
                case not null:
                    // Pending or not final: it may still move the money, however long it takes.
                    watching = true;
                    break;
                default:
                    watching |= now - carriers.Max(a => LastKnownAt(a.Value) ?? a.Value.CreatedAt) < _options.FinalityTimeout;
                    break;
            }
        }

        if (watching && reverted.Count == 0 && landed.Count == 0)
        {
            return intent;
        }

        PaymentIntent? written = null;
        var result = await CommitAsync(
            current,
            async (unit, v, ct) =>
            {
                var booked = await ChargeRevertedElsewhereAsync(unit, v, current.Version, reverted, now, ct).ConfigureAwait(false);
                foreach (var (attempt, transaction) in landed)
                {
                    var held = await HoldOnPayingWalletAsync(unit, v.Value, attempt.Value, v.Value.Amount, ct).ConfigureAwait(false);
                    var fee = await RecordPaidAsync(unit, v, attempt, current.Version, held, transaction, ct).ConfigureAwait(false);
                    booked = booked is { } sum ? sum + fee : fee;
                }

                // v is at the version read, so its status is the intent's.
                var failedFee = failed && booked is { } more ? (v.Value.ActualFee is { } paid ? paid + more : more) : v.Value.ActualFee;
                written = v.Value with { ActualFee = failedFee, DueAt = watching ? now : null, UpdatedAt = now };
                unit.Update(RoutingCollections.Intents, written, v);

                // The merchant was told the payment failed, and may pay again, or that it settled, and the recipient has now
                // been paid twice: either way it must learn of the payment. Both statuses are terminal, so this is no status
                // change: the event names what happened, and its data says which transaction paid where.
                foreach (var (attempt, transaction) in landed)
                {
                    var destination = await DestinationOnAsync(unit, v.Value, attempt.Value.Chain, ct).ConfigureAwait(false);
                    var paidBy = written with { SelectedChain = attempt.Value.Chain, DestinationAddress = destination, TxId = transaction.Hash };
                    Emit(
                        unit,
                        paidBy,
                        v.Value.Status,
                        $"transaction {transaction.Hash} landed on {attempt.Value.Chain} after the intent {v.Value.Status.ToWireName()}, paying {v.Value.Amount} to {destination}",
                        failed ? PaidAfterFailure : PaidAfterSettlement);
                }

                return written;
            },
            cancellationToken).ConfigureAwait(false);
        if (ReferenceEquals(result, written))
        {
            foreach (var (attempt, transaction) in reverted)
            {
                LogRevertedAfterFinish(_logger, intent.Id.ToString(), result.Status.ToWireName(), transaction.Hash, attempt.Value.Chain.ToString());
            }

            foreach (var (attempt, transaction) in landed)
            {
                LogPaidAfterFinish(_logger, intent.Id.ToString(), result.Status.ToWireName(), transaction.Hash, attempt.Value.Chain.ToString(), intent.Amount.ToString());
            }
        }

        return result;
    }

    /// <summary>
    /// Books the fee each of <paramref name="reverted"/> paid on the wallet of the chain it was sent on, which the intent no
    /// longer holds funds on (or whose hold pays another transaction): a fee-only hold, priced as the quote priced that
    /// chain, is taken and charged in the unit, at most the fee the attempt was sent with, as in polling; each attempt is
    /// marked reverted. Returns the fees booked, or null when none reverted.
    /// </summary>
    /// <exception cref="PaymentsKitException"><c>insufficient_funds</c> when a paying wallet's books cannot cover its fee.</exception>
    private async ValueTask<Money?> ChargeRevertedElsewhereAsync(
        IUnitOfWork unit, Versioned<PaymentIntent> current, long attemptsReadAt, IEnumerable<RevertedOnChain> reverted, Instant now, CancellationToken cancellationToken)
    {
        Money? charged = null;
        foreach (var (attempt, transaction) in reverted)
        {
            var held = await HoldOnPayingWalletAsync(unit, current.Value, attempt.Value, Money.Zero(current.Value.Amount.Asset), cancellationToken).ConfigureAwait(false);
            var (fee, _) = await RecordRevertedAsync(unit, current, attempt, attemptsReadAt, held, transaction, now, cancellationToken).ConfigureAwait(false);
            await _treasury.ChargeFeeOnlyAsync(unit, held, fee, current.Value.Id.ToString(), cancellationToken).ConfigureAwait(false);
            charged = charged is { } sum ? sum + fee : fee;
        }

        return charged;
    }

    /// <summary>
    /// Holds <paramref name="amount"/> and <paramref name="paid"/>'s fee on the wallet of the chain it was sent on, the fee
    /// priced as the intent's quote priced that chain (as the hold it was sent under was).
    /// </summary>
    private async ValueTask<TreasuryReservation> HoldOnPayingWalletAsync(IUnitOfWork unit, PaymentIntent intent, PaymentAttempt paid, Money amount, CancellationToken cancellationToken)
    {
        var quote = await QuoteAsync(unit, intent.MerchantId, intent.QuoteId, cancellationToken).ConfigureAwait(false);
        return await _treasury.ReserveAsync(
            unit,
            paid.Chain,
            amount,
            paid.EstimatedFee,
            paid.MaxFeeNative,
            quote.CandidateRoutes.First(c => c.Chain == paid.Chain).FeePrice,
            intent.Id.ToString(),
            cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Refuses to fail an intent one of whose transactions the chain still has, pending or included: failing releases the
    /// hold as if nothing moved, and that transaction may still move (or has moved) the money. A transaction the chain
    /// does not know counts as still there until it has been unknown for the drop timeout since it was broadcast, sent
    /// through an RPC call that failed, resent and refused (an earlier send, such as a dead worker's, may have reached the
    /// chain), or last seen, as in polling: one lagging node's "not found" must not release the hold. A chain none of whose
    /// providers answers cannot tell either, so it refuses too. A transaction so sent with no known hash cannot be asked
    /// about at all, so it is refused for the drop timeout after that send, and after it the operator alone vouches that it
    /// never landed.
    /// </summary>
    /// <returns>The intent's transactions the chain reports reverted: each paid its fee, which failing must book.</returns>
    /// <exception cref="PaymentsKitException">
    /// <c>invalid_argument</c> while a transaction may still be on chain; <c>chain_unavailable</c> (transient) when no
    /// provider of a transaction's chain answers.
    /// </exception>
    private async ValueTask<List<RevertedOnChain>> ThrowIfStillOnChainAsync(PaymentIntent intent, CancellationToken cancellationToken)
    {
        var attempts = await AttemptsNewestFirstAsync(intent, cancellationToken).ConfigureAwait(false);
        var now = _clock.GetCurrentInstant();

        // A transaction whose hash neither the signer nor the adapter could tell, sent only through failed RPC calls or refused
        // resends, cannot be looked up: like one unknown to the chain, it counts as possibly there for the drop timeout after
        // its last send.
        if (attempts.Select(a => a.Value).Where(a => a.TxId is null).Max(LastKnownAt) is { } unhashed
            && now - unhashed < _options.DropTimeout)
        {
            throw PaymentsKitException.InvalidArgument(
                "resolution",
                "fail",
                string.Create(
                    CultureInfo.InvariantCulture,
                    $"cannot fail payment intent {intent.Id}: a transaction of it with no known hash was sent to a chain {(now - unhashed).TotalSeconds:0} s ago, through an RPC call that failed or as a resend the chain refused while an earlier send may have reached it, and may still move the money; the chain cannot be asked about it, so verify on chain that it never landed and fail once {_options.DropTimeout.TotalSeconds:0} s have passed since that send"));
        }

        List<RevertedOnChain> reverted = [];
        foreach (var carriers in attempts.Where(a => a.Value.TxId is not null).GroupBy(a => (a.Value.Chain, a.Value.TxId)))
        {
            var attempt = carriers.First().Value;
            var (transaction, answered) = await QueryAsync(attempt.Chain, attempt.RpcProvider, attempt.TxId!, cancellationToken).ConfigureAwait(false);
            if (!answered)
            {
                throw ChainErrors.Unavailable(
                    attempt.Chain,
                    "getTransaction",
                    $"no RPC provider found transaction {attempt.TxId} and not every one answered, so payment intent {intent.Id} cannot be failed: it may still move the money; fail once every provider of the chain can be asked",
                    transient: true);
            }

            if (transaction is { Status: ChainTransactionStatus.Pending or ChainTransactionStatus.Succeeded })
            {
                var state = transaction.Status == ChainTransactionStatus.Pending ? "still pending" : "included";
                throw PaymentsKitException.InvalidArgument(
                    "resolution",
                    "fail",
                    $"cannot fail payment intent {intent.Id}: its transaction {attempt.TxId} is {state} on {attempt.Chain}, so it may move the money; settle once it is final, or fail once the chain no longer has it");
            }

            if (transaction is not null)
            {
                reverted.Add(new RevertedOnChain(carriers.First(), transaction));
                continue;
            }

            var known = carriers.Max(a => LastKnownAt(a.Value));
            if (known is { } since && now - since < _options.DropTimeout)
            {
                throw PaymentsKitException.InvalidArgument(
                    "resolution",
                    "fail",
                    string.Create(
                        CultureInfo.InvariantCulture,
                        $"cannot fail payment intent {intent.Id}: its transaction {attempt.TxId} was last seen on or sent to {attempt.Chain} {(now - since).TotalSeconds:0} s ago, and a node answering not found now may lag behind the chain; fail once it has been unknown for {_options.DropTimeout.TotalSeconds:0} s"));
            }
        }

        return reverted;
    }

    private async ValueTask<List<Versioned<PaymentAttempt>>> AttemptsNewestFirstAsync(PaymentIntent intent, CancellationToken cancellationToken)
    {
        var unit = await _store.BeginAsync(cancellationToken).ConfigureAwait(false);
        List<Versioned<PaymentAttempt>> attempts = [];
        await using (unit.ConfigureAwait(false))
        {
            foreach (var id in intent.AttemptIds.Reverse())
            {
                attempts.Add(await LoadAttemptAsync(unit, intent, id, cancellationToken).ConfigureAwait(false));
            }
        }

        return attempts;
    }

    /// <summary>
    /// Settles on a transaction that landed on a chain the intent no longer holds funds on: sent before a re-route, whose
    /// hold was released when the chain looked unreachable, it was paid from that chain's wallet after all. The current
    /// hold is released, and the payment and its fee are held and posted on the paying wallet in the same unit, so the
    /// books say which wallet paid.
    /// </summary>
    /// <exception cref="PaymentsKitException"><c>insufficient_funds</c> when the paying wallet's books cannot cover the payment.</exception>
    private async ValueTask<PaymentIntent> SettleElsewhereAsync(
        IUnitOfWork unit, Versioned<PaymentIntent> current, Versioned<PaymentAttempt> attempt, long attemptReadAt, ChainTransaction transaction, CancellationToken cancellationToken)
    {
        var intent = current.Value;
        var paid = attempt.Value;
        if (intent.Reservation is { } released)
        {
            await _treasury.VoidAsync(unit, released, cancellationToken).ConfigureAwait(false);
        }

        var held = await HoldOnPayingWalletAsync(unit, intent, paid, intent.Amount, cancellationToken).ConfigureAwait(false);
        var destination = await DestinationOnAsync(unit, intent, paid.Chain, cancellationToken).ConfigureAwait(false);
        return await SettleAsync(unit, current, attempt, attemptReadAt, transaction, new PaidElsewhere(held, destination), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The recipient's address on <paramref name="chain"/>, as the intent's quote names it.</summary>
    private async ValueTask<string> DestinationOnAsync(IUnitOfWork unit, PaymentIntent intent, ChainId chain, CancellationToken cancellationToken)
    {
        var quote = await QuoteAsync(unit, intent.MerchantId, intent.QuoteId, cancellationToken).ConfigureAwait(false);
        return quote.Destinations.First(d => d.Chain == chain).Address;
    }

    /// <summary>
    /// Selects a route for the intent, starting from <paramref name="read"/>, which the caller has just read, in its
    /// chain's wallet turn (grouped with the other steps on that wallet).
    /// </summary>
    private ValueTask<(PaymentIntent Intent, Selection Outcome)> SelectAsync(
        MerchantId merchantId, PaymentIntentId intentId, Versioned<PaymentIntent> read, bool explicitly, CancellationToken cancellationToken)
    {
        var first = true;
        return _turns.RunAsync(
            read.Value.SelectedChain,
            new WalletTurns.Step<(PaymentIntent, Selection)>(
                (unit, ct) => SelectionReadsAsync(unit, read.Value, ct),
                (unit, ct) => SelectOnAsync(unit, read, ct),
                ct => ExecuteAsync(
                    async (unit, ct) =>
                    {
                        if (first)
                        {
                            // The first run trusts the read: the commit's version check rejects it if the intent moved meanwhile.
                            first = false;
                            return await TrustingReadAsync(() => SelectOnAsync(unit, read, ct), read).ConfigureAwait(false);
                        }

                        return await SelectOnAsync(unit, await LoadAsync(unit, merchantId, intentId, ct).ConfigureAwait(false), ct).ConfigureAwait(false);
                    },
                    ct),
                cancellationToken),
            cancellationToken);

        async ValueTask<(PaymentIntent Intent, Selection Outcome)> SelectOnAsync(IUnitOfWork unit, Versioned<PaymentIntent> current, CancellationToken ct)
        {
            if (current.Value.Status is not (PaymentIntentStatus.Created or PaymentIntentStatus.Quoted))
            {
                if (explicitly)
                {
                    PaymentIntentLifecycle.Machine.Transition(current.Value.Status, PaymentIntentStatus.RouteSelected);
                }

                return (current.Value, Selection.Unchanged);
            }

            var quote = await QuoteAsync(unit, merchantId, current.Value.QuoteId, ct).ConfigureAwait(false);
            if (quote.IsExpiredAt(_clock.GetCurrentInstant()))
            {
                var reason = string.Create(CultureInfo.InvariantCulture, $"quote {quote.Id} expired at {quote.ExpiresAt}");
                return (Move(unit, current, PaymentIntentStatus.Expired, null, reason), Selection.Expired);
            }

            var order = CandidateOrder(quote, current.Value);
            var first = order[0];

            // Everything the candidates' checks and reservations read, in one round trip (none when a group prefetched it).
            await unit.PrefetchAsync(await CandidateReadsAsync(order, current.Value, ct).ConfigureAwait(false), ct).ConfigureAwait(false);
            foreach (var candidate in order)
            {
                // Unlike a re-route, no HealthMaxAge check: every candidate tried is eligible in the unexpired quote, so its
                // latest reading was fresh when the quote was made at most QuoteTtl ago, and nothing has been sent yet, so a
                // chain that went down since only delays the payment (retries, then review with the hold kept).
                var health = await ChainHealthService.LatestAsync(unit, candidate.Chain, ct).ConfigureAwait(false);
                if (health?.HealthStatus == ChainHealthStatus.Unhealthy
                    || await TryReserveAsync(unit, current.Value, candidate, ct).ConfigureAwait(false) is not { } reservation)
                {
                    continue;
                }

                var destination = quote.Destinations.First(d => d.Chain == candidate.Chain).Address;
                var selected = Move(
                    unit,
                    current,
                    PaymentIntentStatus.RouteSelected,
                    i => i with { SelectedChain = candidate.Chain, DestinationAddress = destination, Reservation = reservation },
                    candidate.Chain == first.Chain ? null : $"{first.Chain} could not take it; routed to {candidate.Chain}");
                return (selected, Selection.Selected);
            }

            return (current.Value, Selection.NoFunds);
        }
    }

    /// <summary>The intent's chain first, then the quote's other eligible chains in rank order: where selection tries to hold it.</summary>
    private static List<QuoteCandidate> CandidateOrder(Quote quote, PaymentIntent intent)
    {
        var first = quote.CandidateRoutes.First(c => c.Chain == intent.SelectedChain);
        return [.. quote.CandidateRoutes.Where(c => c.IsEligible && c.Chain != first.Chain).OrderBy(c => c.Rank).Prepend(first)];
    }

    /// <summary>What selecting a route for the intent on any of <paramref name="order"/> reads: the wallets, the ledger's reference counter, the latest health.</summary>
    private async ValueTask<IReadOnlyList<RecordRef>> CandidateReadsAsync(List<QuoteCandidate> order, PaymentIntent intent, CancellationToken cancellationToken)
    {
        var reads = await _treasury.ReservationReadsAsync(order.Select(c => c.Chain), intent.Id.ToString(), cancellationToken).ConfigureAwait(false);
        reads.AddRange(order.Select(c => RoutingCollections.LatestHealth.Ref(RoutingCollections.Partition(c.Chain))));
        return reads;
    }

    /// <summary>What selecting a route for the intent as read will read; nothing when it will not reserve (not waiting for a route, or its quote expired).</summary>
    private async ValueTask<IReadOnlyList<RecordRef>> SelectionReadsAsync(IUnitOfWork unit, PaymentIntent intent, CancellationToken cancellationToken)
    {
        if (intent.Status is not (PaymentIntentStatus.Created or PaymentIntentStatus.Quoted))
        {
            return [];
        }

        var quote = await QuoteAsync(unit, intent.MerchantId, intent.QuoteId, cancellationToken).ConfigureAwait(false);
        return quote.IsExpiredAt(_clock.GetCurrentInstant()) ? [] : await CandidateReadsAsync(CandidateOrder(quote, intent), intent, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Holds amount + the candidate's fee on its wallet; null, with the unit untouched, when the wallet cannot cover it or does not exist.</summary>
    private async ValueTask<TreasuryReservation?> TryReserveAsync(IUnitOfWork unit, PaymentIntent intent, QuoteCandidate candidate, CancellationToken cancellationToken)
    {
        if (!candidate.IsEligible || candidate.EstimatedFeeNative is not { } maxFeeNative)
        {
            return null;
        }

        try
        {
            return await _treasury.ReserveAsync(
                unit, candidate.Chain, intent.Amount, candidate.EstimatedFee, maxFeeNative, candidate.FeePrice, intent.Id.ToString(), cancellationToken).ConfigureAwait(false);
        }
        catch (PaymentsKitException ex) when (ex.Code is PaymentsKitErrorCodes.InsufficientFunds or PaymentsKitErrorCodes.NotFound)
        {
            // The ledger checks everything before buffering anything, so the unit is as it was.
            return null;
        }
    }

    private (ChainId Chain, string Destination) Route(Quote quote, ChainId chain)
    {
        var candidate = quote.CandidateRoutes.FirstOrDefault(c => c.Chain == chain);
        if (candidate is null || !candidate.IsEligible)
        {
            throw PaymentsKitException.InvalidArgument(
                "chain",
                chain.Value,
                candidate is null ? $"is not a destination of quote {quote.Id}" : $"was excluded from quote {quote.Id} ({candidate.Exclusion.ToWireName()})");
        }

        return (chain, quote.Destinations.First(d => d.Chain == chain).Address);
    }

    private static void ThrowIfExpired(Quote quote, Instant now)
    {
        if (quote.IsExpiredAt(now))
        {
            throw new PaymentsKitException(
                PaymentsKitErrorCodes.Expired,
                string.Create(CultureInfo.InvariantCulture, $"Quote {quote.Id} expired at {quote.ExpiresAt}; request a new quote."),
                new Dictionary<string, object?> { ["field"] = "quote_id", ["value"] = quote.Id.ToString(), ["expiresAt"] = quote.ExpiresAt.ToString() });
        }
    }

    /// <summary>Applies a status change: checks the table, writes the intent and its outbox event.</summary>
    private PaymentIntent Move(IUnitOfWork unit, Versioned<PaymentIntent> current, PaymentIntentStatus to, Func<PaymentIntent, PaymentIntent>? change, string? reason)
    {
        var from = current.Value.Status;
        PaymentIntentLifecycle.Machine.Transition(from, to);
        var changed = change is null ? current.Value : change(current.Value);
        var now = _clock.GetCurrentInstant();
        var next = changed with { Status = to, UpdatedAt = now, LastError = reason ?? changed.LastError };
        next = next with { DueAt = DueAt(next, now, from) };
        unit.Update(RoutingCollections.Intents, next, current);
        Emit(unit, next, from, reason);
        _transitions.GetOrCreateValue(unit).Add(new Transition(next.Id, from, to, reason));
        return next;
    }

    /// <summary>When a sweeper should next move the intent, moved from <paramref name="from"/> (see <see cref="PaymentIntent.DueAt"/>).</summary>
    private Instant? DueAt(PaymentIntent intent, Instant now, PaymentIntentStatus from) => intent.Status switch
    {
        // Only a quote's expiry makes a waiting intent due, and only creation and requoting set it.
        PaymentIntentStatus.Created or PaymentIntentStatus.Quoted => intent.DueAt,
        PaymentIntentStatus.RouteSelected or PaymentIntentStatus.Broadcasted or PaymentIntentStatus.PendingConfirmation => now,
        PaymentIntentStatus.Broadcasting => now + _options.BroadcastTimeout,
        PaymentIntentStatus.Retrying => intent.NextAttemptAt ?? now,

        // More than one attempt may have left a transaction on a chain the intent was re-routed away from, or, on a failed
        // intent's own chain, one its rejected replacement did not exclude; and an operator fails an intent while its one
        // transaction is merely unknown to the chain (or, unverified, still pending). Any of them can still land after the
        // intent finished: it stays due until WatchFinishedAsync booked or outwaited each. A single transaction that reverted
        // was booked as it failed the intent, and one refused on its first send never reached the chain.
        PaymentIntentStatus.Settled when intent.AttemptIds.Count > 1 => now,
        PaymentIntentStatus.Failed when intent.AttemptIds.Count > 1 || from == PaymentIntentStatus.ManualReview => now,
        _ => null,
    };

    /// <summary>Writes the intent's outbox event: <c>payment_intent.&lt;status&gt;</c>, or <c>payment_intent.&lt;action&gt;</c> for what is no status change.</summary>
    private void Emit(IUnitOfWork unit, PaymentIntent intent, PaymentIntentStatus? from, string? reason, string? action = null) =>
        _outbox.Enqueue(
            unit,
            intent.MerchantId.Value,
            ResourceType,
            intent.Id.ToString(),
            ResourceType + "." + (action ?? intent.Status.ToWireName()),
            new PaymentIntentEventData(
                intent.Id,
                intent.QuoteId,
                intent.Amount,
                intent.SelectedChain,
                intent.DestinationAddress,
                intent.Status.ToWireName(),
                from?.ToWireName(),
                reason,
                intent.TxId,
                intent.ActualFee,
                intent.AttemptIds.Count,
                intent.UpdatedAt));

    /// <summary>
    /// Runs a change on the intent as read; the commit fails if the intent changed since, and the rerun re-reads
    /// it and changes nothing unless it is still at the version read (then it returns the intent as it now is, which
    /// suits a worker's step; an operation that must not be reported as done passes <paramref name="moved"/>, whose
    /// exception is thrown instead).
    /// </summary>
    private ValueTask<PaymentIntent> CommitAsync(
        Versioned<PaymentIntent> read,
        Func<IUnitOfWork, Versioned<PaymentIntent>, CancellationToken, ValueTask<PaymentIntent>> change,
        CancellationToken cancellationToken,
        Func<PaymentIntent, PaymentsKitException>? moved = null)
    {
        var first = true;
        return ExecuteAsync(
            async (unit, ct) =>
            {
                if (first)
                {
                    // The first run trusts the read: the commit's version check rejects it if the intent moved meanwhile.
                    first = false;
                    return await TrustingReadAsync(() => change(unit, read, ct), read).ConfigureAwait(false);
                }

                var current = await LoadAsync(unit, read.Value.MerchantId, read.Value.Id, ct).ConfigureAwait(false);
                if (current.Version == read.Version)
                {
                    return await change(unit, current, ct).ConfigureAwait(false);
                }

                return moved is null ? current.Value : throw moved(current.Value);
            },
            cancellationToken);
    }

    /// <summary>
    /// Runs an operation as <see cref="PaymentsStoreExtensions.ExecuteAsync{TResult}"/> does, then logs the transitions of
    /// the unit that committed: the operation's earlier runs, and a run whose commit failed, changed nothing.
    /// </summary>
    private async ValueTask<T> ExecuteAsync<T>(
        Func<IUnitOfWork, CancellationToken, ValueTask<T>> operation, CancellationToken cancellationToken, [CallerMemberName] string operationName = "")
    {
        IUnitOfWork? last = null;
        var result = await _store.ExecuteAsync(
            (unit, ct) =>
            {
                last = unit;
                return operation(unit, ct);
            },
            cancellationToken,
            operationName).ConfigureAwait(false);
        LogTransitions(last!);
        return result;
    }

    /// <summary>Logs the transitions a committed unit of work made.</summary>
    private void LogTransitions(IUnitOfWork committed)
    {
        if (_transitions.TryGetValue(committed, out var made))
        {
            _transitions.Remove(committed);
            foreach (var (intentId, from, to, reason) in made)
            {
                LogTransition(_logger, intentId.ToString(), from.ToWireName(), to.ToWireName(), reason);
            }
        }
    }

    /// <summary>
    /// Runs a change on an intent as read earlier. If the read is stale, the change's own reads of other records
    /// may refuse it (a transfer the step that moved the intent already resolved): any refusal is turned into a
    /// lost race, so the operation reruns on fresh reads, which tell a stale read from a real refusal.
    /// </summary>
    private static async ValueTask<T> TrustingReadAsync<T>(Func<ValueTask<T>> change, Versioned<PaymentIntent> read)
    {
        try
        {
            return await change().ConfigureAwait(false);
        }
        catch (PaymentsKitException ex) when (!ex.IsTransient)
        {
            throw BufferedUnitOfWork.Conflict(RoutingCollections.Intents.Name, read.Value.Id.Value, read.Version);
        }
    }

    private async ValueTask<MerchantId> LocateAsync(PaymentIntentId intentId, CancellationToken cancellationToken)
    {
        if (_locators.TryGet(intentId.Value, out var known))
        {
            return known;
        }

        var unit = await _store.BeginAsync(cancellationToken).ConfigureAwait(false);
        await using (unit.ConfigureAwait(false))
        {
            var locator = await unit.GetAsync(RoutingCollections.Locators, Guid.Empty, intentId.Value, cancellationToken).ConfigureAwait(false);
            var merchantId = locator?.Value.MerchantId ?? throw NotFound("payment_intent_id", intentId.ToString());
            Remember(intentId, merchantId);
            return merchantId;
        }
    }

    private void Remember(PaymentIntentId intentId, MerchantId merchantId) => _locators.Remember(intentId.Value, merchantId);

    /// <summary>A quote of the merchant, from memory once made or read in this process.</summary>
    private async ValueTask<Quote> QuoteAsync(IUnitOfWork unit, MerchantId merchantId, QuoteId quoteId, CancellationToken cancellationToken)
    {
        var memory = QuoteMemory.Of(_store);
        if (memory.Find(merchantId, quoteId) is { } known)
        {
            return known;
        }

        var quote = await QuoteService.LoadAsync(unit, merchantId, quoteId, cancellationToken).ConfigureAwait(false);
        memory.Remember(quote);
        return quote;
    }

    private async ValueTask<Versioned<PaymentIntent>> ReadAsync(MerchantId merchantId, PaymentIntentId intentId, CancellationToken cancellationToken)
    {
        var unit = await _store.BeginAsync(cancellationToken).ConfigureAwait(false);
        await using (unit.ConfigureAwait(false))
        {
            return await LoadAsync(unit, merchantId, intentId, cancellationToken).ConfigureAwait(false);
        }
    }

    private static async ValueTask<Versioned<PaymentIntent>> LoadAsync(IUnitOfWork unit, MerchantId merchantId, PaymentIntentId intentId, CancellationToken cancellationToken) =>
        (merchantId.Value == Guid.Empty
            ? null
            : await unit.GetAsync(RoutingCollections.Intents, merchantId.Value, intentId.Value, cancellationToken).ConfigureAwait(false))
        ?? throw NotFound("payment_intent_id", intentId.ToString());

    /// <summary>
    /// The attempt as <paramref name="intent"/> sees it: <paramref name="known"/> when the intent is still at
    /// <paramref name="knownAt"/> (an attempt only ever changes together with its intent), else re-read.
    /// </summary>
    private static async ValueTask<Versioned<PaymentAttempt>> AttemptAsync(
        IUnitOfWork unit, Versioned<PaymentIntent> intent, Versioned<PaymentAttempt> known, long knownAt, CancellationToken cancellationToken) =>
        intent.Version == knownAt ? known : await LoadAttemptAsync(unit, intent.Value, known.Value.Id, cancellationToken).ConfigureAwait(false);

    private static async ValueTask<Versioned<PaymentAttempt>> LoadAttemptAsync(IUnitOfWork unit, PaymentIntent intent, PaymentAttemptId attemptId, CancellationToken cancellationToken) =>
        await unit.GetAsync(RoutingCollections.Attempts, intent.MerchantId.Value, attemptId.Value, cancellationToken).ConfigureAwait(false)
        ?? throw new PaymentsKitException(
            PaymentsKitErrorCodes.StorageFailure,
            $"Attempt {attemptId} of payment intent {intent.Id} is missing from the store.",
            new Dictionary<string, object?> { ["attempt_id"] = attemptId.ToString() });

    private static PaymentsKitException NotFound(string field, string value) =>
        new(PaymentsKitErrorCodes.NotFound, $"{field} '{value}' does not exist.", new Dictionary<string, object?> { ["field"] = field, ["value"] = value });

    [LoggerMessage(EventId = 510, Level = LogLevel.Information, Message = "Payment intent {IntentId} moved from {From} to {To} ({Reason})")]
    private static partial void LogTransition(ILogger logger, string intentId, string from, string to, string? reason);

    [LoggerMessage(EventId = 512, Level = LogLevel.Warning, Message = "Payment intent {IntentId} could not be advanced by the sweep ({Code}); it stays due")]
    private static partial void LogSweepFailure(ILogger logger, Exception exception, string intentId, string code);

    [LoggerMessage(EventId = 513, Level = LogLevel.Warning, Message = "Payment intent {IntentId} failed by an operator without {Chain}'s confirmation; its hold is released")]
    private static partial void LogFailedUnverified(ILogger logger, string intentId, string chain);

    [LoggerMessage(EventId = 514, Level = LogLevel.Warning, Message = "Payment intent {IntentId} ({Status}): its transaction {TxId} on {Chain} reverted after the intent finished; its fee is booked on that chain's wallet")]
    private static partial void LogRevertedAfterFinish(ILogger logger, string intentId, string status, string txId, string chain);

    [LoggerMessage(EventId = 515, Level = LogLevel.Error, Message = "Payment intent {IntentId} ({Status}): its transaction {TxId} on {Chain} paid {Amount} after the intent finished; booked on that chain's wallet, to be reconciled with the recipient")]
    private static partial void LogPaidAfterFinish(ILogger logger, string intentId, string status, string txId, string chain, string amount);

    [LoggerMessage(EventId = 511, Level = LogLevel.Warning, Message = "Payment intent {IntentId}: the chain reports a fee of {Fee}, above the {Reserved} held; only the held amount is booked")]
    private static partial void LogFeeAboveHold(ILogger logger, string intentId, string fee, string reserved);

    /// <summary>What an intent's creating request is fingerprinted by.</summary>
    private sealed record CreateFingerprint(string QuoteId, string? Chain);
}
