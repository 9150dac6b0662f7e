using System.Text.Json.Serialization;
using NodaTime;
using PaymentsKit.Ledger;

namespace PaymentsKit.Streaming;

/// <summary>
/// A payment stream (seed 002 <c>streams</c>): <see cref="TotalAmount"/> of an asset flowing from a payer to a
/// recipient at <see cref="RatePerSecond"/> from <see cref="StartTime"/> until the total is paid or
/// <see cref="EndTime"/> passes. The funds sit in the stream's escrow account from creation; settlements
/// move what has accrued to the recipient's balance, withdrawals take it out to the payout account.
/// </summary>
/// <remarks>
/// Balances always satisfy <c>total ≥ settled + refunded</c>, <c>settled ≥ withdrawn</c>, and in the ledger
/// <c>escrow = total − settled − refunded</c>, <c>recipient balance = settled − withdrawn</c>.
/// </remarks>
/// <param name="Id">The stream id.</param>
/// <param name="TenantId">The merchant that owns the stream.</param>
/// <param name="Payer">The paying address, canonical for the chain when an adapter validated it.</param>
/// <param name="Recipient">The receiving address, canonical for the chain when an adapter validated it.</param>
/// <param name="Status">Where the stream stands.</param>
/// <param name="RatePerSecond">Units of the asset streamed per second of active time (up to 9 decimals).</param>
/// <param name="StartTime">When streaming begins.</param>
/// <param name="EndTime">When streaming stops, or null for an open-ended stream that runs until the total is paid.</param>
/// <param name="TotalAmount">The most the stream can pay; held in escrow at creation.</param>
/// <param name="SettledAmount">Moved to the recipient's balance so far (= accrued at <see cref="LastSettledAt"/>).</param>
/// <param name="WithdrawnAmount">Taken out of the recipient's balance to the payout account so far.</param>
/// <param name="RefundedAmount">Returned to the payer when the stream was cancelled or completed short of its total.</param>
/// <param name="LastSettledAt">The instant accrual is settled up to: the last settlement's; before the first, the creation (or the start, if that was earlier), so <see cref="SettledAmount"/> is always exactly the amount accrued at it. Never moves back.</param>
/// <param name="Pauses">Every pause, oldest first; only the last may be open (while paused).</param>
/// <param name="ChainId">The network the stream lives on (seed <c>chain_id</c>, e.g. <c>stellar-testnet</c>).</param>
/// <param name="ContractAddress">The on-chain streaming contract, if any.</param>
/// <param name="TransactionHash">The on-chain transaction that opened the stream, if any; unique per tenant and chain.</param>
/// <param name="Metadata">Host-defined key/value pairs.</param>
/// <param name="FundingAccountId">The payer's ledger account the total was taken from and refunds return to.</param>
/// <param name="EscrowAccountId">The stream's own ledger account holding the unsettled funds.</param>
/// <param name="RecipientAccountId">The stream's own ledger account holding what was settled but not withdrawn.</param>
/// <param name="PayoutAccountId">The ledger account withdrawals are credited to.</param>
/// <param name="CompletesAt">When the stream will complete if nothing changes; null while paused, when closed, or when unknowable.</param>
/// <param name="ClosedAt">When it was cancelled or completed; null while active or paused.</param>
/// <param name="EventCount">How many <see cref="StreamEvent"/>s it has; the last one's <see cref="StreamEvent.Sequence"/>.</param>
/// <param name="IdempotencyKey">The key it was created with, if any.</param>
/// <param name="CreatedAt">When it was created.</param>
/// <param name="UpdatedAt">When it last changed.</param>
public sealed record PaymentStream(
    StreamId Id,
    MerchantId TenantId,
    string Payer,
    string Recipient,
    StreamState Status,
    decimal RatePerSecond,
    Instant StartTime,
    Instant? EndTime,
    Money TotalAmount,
    Money SettledAmount,
    Money WithdrawnAmount,
    Money RefundedAmount,
    Instant LastSettledAt,
    IReadOnlyList<PauseInterval> Pauses,
    [property: JsonPropertyOrder(2)] string ChainId,
    [property: JsonPropertyOrder(2)] string? ContractAddress,
    [property: JsonPropertyOrder(2)] string? TransactionHash,
    IReadOnlyDictionary<string, string> Metadata,
    [property: JsonPropertyOrder(4)] LedgerAccountId FundingAccountId,
    [property: JsonPropertyOrder(4)] LedgerAccountId EscrowAccountId,
    [property: JsonPropertyOrder(4)] LedgerAccountId RecipientAccountId,
    [property: JsonPropertyOrder(4)] LedgerAccountId PayoutAccountId,
    [property: JsonPropertyOrder(4)] Instant? CompletesAt,
    [property: JsonPropertyOrder(4)] Instant? ClosedAt,
    [property: JsonPropertyOrder(4)] long EventCount,
    [property: JsonPropertyOrder(4)] string? IdempotencyKey,
    [property: JsonPropertyOrder(4)] Instant CreatedAt,
    [property: JsonPropertyOrder(4)] Instant UpdatedAt)
{
    // The generated equality compares fields: these compare by content where the properties' types would not.
    // Declared here, these properties would serialize after the positional ones: JsonPropertyOrder keeps the parameter order.
    private readonly ValueList<PauseInterval> _pauses = ValueList<PauseInterval>.Of(Pauses);

    private readonly ValueDictionary<string, string> _metadata = ValueDictionary<string, string>.Of(Metadata);

    /// <summary>Every pause, oldest first; only the last may be open (while paused). Kept as an immutable copy that compares by content.</summary>
    [JsonPropertyOrder(1)]
    public IReadOnlyList<PauseInterval> Pauses
    {
        get => _pauses;
        init => _pauses = ValueList<PauseInterval>.Of(value);
    }

    /// <summary>Host-defined key/value pairs. Kept as an immutable copy that compares by content.</summary>
    [JsonPropertyOrder(3)]
    public IReadOnlyDictionary<string, string> Metadata
    {
        get => _metadata;
        init => _metadata = ValueDictionary<string, string>.Of(value);
    }

    /// <summary>The asset streamed.</summary>
    [JsonIgnore]
    public Asset Asset => TotalAmount.Asset;

    /// <summary>The stored version this value was read at (optimistic concurrency); 0 on a value not read from the store.</summary>
    [JsonIgnore]
    public long Version { get; init; }

    /// <summary>What the recipient's balance holds now: settled − withdrawn.</summary>
    [JsonIgnore]
    public Money Withdrawable => SettledAmount - WithdrawnAmount;

    /// <summary>Whether the stream is cancelled or completed.</summary>
    [JsonIgnore]
    public bool IsClosed => Status is StreamState.Cancelled or StreamState.Completed;

    /// <summary>The fingerprint of the creating request, compared when its idempotency key is repeated.</summary>
    [JsonPropertyOrder(4)]
    [JsonInclude]
    internal string? RequestFingerprint { get; init; }

    /// <summary>The validated accrual terms of the stream.</summary>
    public StreamTerms ToTerms() => StreamTerms.Create(Asset, RatePerSecond, TotalAmount.Amount, StartTime, EndTime);
}

/// <summary>What happened to a stream in one <see cref="StreamEvent"/>.</summary>
public enum StreamEventKind
{
    /// <summary>The stream was created and its total moved into escrow.</summary>
    Created = 1,

    /// <summary>The stream was paused (after settling what had accrued).</summary>
    Paused = 2,

    /// <summary>The stream was resumed.</summary>
    Resumed = 3,

    /// <summary>What accrued since the last settlement moved to the recipient's balance.</summary>
    Settled = 4,

    /// <summary>The recipient took funds out to the payout account.</summary>
    Withdrawn = 5,

    /// <summary>The stream was cancelled: the recipient kept what accrued, the payer got the rest back.</summary>
    Cancelled = 6,

    /// <summary>Everything that could stream had streamed; the final amount was settled and any remainder refunded.</summary>
    Completed = 7,
}

/// <summary>
/// One accepted change of a stream, in order: who did what, when, the state before and after, and the
/// ledger transactions it posted. Immutable; a stream's events are its audit trail.
/// </summary>
/// <param name="Id">Derived from the stream and the sequence.</param>
/// <param name="TenantId">The stream's tenant.</param>
/// <param name="StreamId">The stream.</param>
/// <param name="Sequence">1 for the creation, then consecutive.</param>
/// <param name="Kind">What happened.</param>
/// <param name="From">The state before; null for the creation.</param>
/// <param name="To">The state after (equal to <paramref name="From"/> for settlements and withdrawals).</param>
/// <param name="Actor">Who asked for it (an API caller, a user, or <see cref="StreamService.SystemActor"/>).</param>
/// <param name="Reason">Why, if the caller said.</param>
/// <param name="At">When it was recorded.</param>
/// <param name="EffectiveAt">The stream instant it applies at: the settlement or transition instant (a completion's is when the stream ran out).</param>
/// <param name="Amount">What it moved: the total into escrow, a settlement into the recipient's balance, a withdrawal out of it; zero for pause and resume.</param>
/// <param name="Refunded">What went back to the payer (cancellation and completion short of the total).</param>
/// <param name="LedgerTransactionIds">The ledger transactions it posted, in order.</param>
public sealed record StreamEvent(
    Guid Id,
    MerchantId TenantId,
    StreamId StreamId,
    long Sequence,
    StreamEventKind Kind,
    StreamState? From,
    StreamState To,
    string Actor,
    string? Reason,
    Instant At,
    Instant EffectiveAt,
    Money Amount,
    Money Refunded,
    IReadOnlyList<LedgerTransactionId> LedgerTransactionIds)
{
    // The generated equality compares fields: these compare by content where the properties' types would not.
    private readonly ValueList<LedgerTransactionId> _ledgerTransactionIds = ValueList<LedgerTransactionId>.Of(LedgerTransactionIds);

    /// <summary>The ledger transactions it posted, in order. Kept as an immutable copy that compares by content.</summary>
    public IReadOnlyList<LedgerTransactionId> LedgerTransactionIds
    {
        get => _ledgerTransactionIds;
        init => _ledgerTransactionIds = ValueList<LedgerTransactionId>.Of(value);
    }

    /// <summary>
    /// The idempotency key of the withdrawal that recorded this event (its settlement, if it settled first, and the
    /// withdrawal itself; a completion that came due just before it too); null otherwise, and on events stored before
    /// withdrawals took keys.
    /// </summary>
    public string? IdempotencyKey { get; init; }

    /// <summary>The fingerprint of the keyed withdrawal that recorded this event, compared when its key is repeated.</summary>
    [JsonInclude]
    internal string? RequestFingerprint { get; init; }
}

/// <summary>Creates a stream.</summary>
/// <param name="FundingAccountId">The payer's ledger account in the stream's asset; it is debited by the total at once (its flags decide whether it may go short).</param>
/// <param name="PayoutAccountId">The ledger account in the stream's asset that the recipient's withdrawals are credited to.</param>
/// <param name="Payer">The paying address (validated and canonicalised by the chain adapter of the asset's chain when one is registered; otherwise 1–255 characters).</param>
/// <param name="Recipient">The receiving address, validated like <paramref name="Payer"/>; must differ from it.</param>
/// <param name="TotalAmount">The total to stream: positive, in a registered asset, at most min(asset scale, 9) decimals.</param>
/// <param name="RatePerSecond">Units per second: positive, at most 9 decimals.</param>
public sealed record CreateStreamRequest(
    LedgerAccountId FundingAccountId,
    LedgerAccountId PayoutAccountId,
    string Payer,
    string Recipient,
    Money TotalAmount,
    decimal RatePerSecond)
{
    /// <summary>When streaming begins; now when null. May be in the past or the future.</summary>
    public Instant? StartTime { get; init; }

    /// <summary>When streaming stops; null for open-ended. Must be after the start, and rate × duration must not exceed the total.</summary>
    public Instant? EndTime { get; init; }

    /// <summary>The network (seed <c>chain_id</c>); defaults to the asset's chain, else <see cref="StreamService.DefaultChainId"/>.</summary>
    public string? ChainId { get; init; }

    /// <summary>The on-chain streaming contract, up to 255 characters.</summary>
    public string? ContractAddress { get; init; }

    /// <summary>The on-chain transaction that opened the stream, up to 66 characters; unique per tenant and chain.</summary>
    public string? TransactionHash { get; init; }

    private readonly ValueDictionary<string, string>? _metadata;

    /// <summary>Up to 50 key/value pairs (keys 1–40 characters, values up to 500). Kept as an immutable copy that compares by content.</summary>
    public IReadOnlyDictionary<string, string>? Metadata
    {
        get => _metadata;
        init => _metadata = ValueDictionary<string, string>.Of(value);
    }

    /// <summary>A tenant-unique key (1–255 characters): repeating the request returns the original stream; reusing it for another request is <c>idempotency_conflict</c>.</summary>
    public string? IdempotencyKey { get; init; }

    /// <summary>Who creates the stream, for the audit trail (1–128 characters); the payer's address when null.</summary>
    public string? Actor { get; init; }
}

/// <summary>Who asks for a stream operation, and why.</summary>
/// <param name="Actor">Who (a user, an API key name, a service), 1–128 characters; recorded on the event.</param>
public sealed record StreamAction(string Actor)
{
    /// <summary>Why, up to 500 characters; recorded on the event.</summary>
    public string? Reason { get; init; }
}

/// <summary>Takes settled funds out of a stream's recipient balance to its payout account.</summary>
/// <param name="Actor">Who, 1–128 characters.</param>
public sealed record WithdrawStreamRequest(string Actor)
{
    /// <summary>How much; everything withdrawable when null. Positive, in the stream's asset.</summary>
    public Money? Amount { get; init; }

    /// <summary>Why, up to 500 characters.</summary>
    public string? Reason { get; init; }

    /// <summary>
    /// A tenant-unique key (1–255 characters) for retrying safely: repeating the withdrawal with the same key, stream,
    /// amount and reason returns the original result and moves nothing; reusing the key for another withdrawal is
    /// <c>idempotency_conflict</c>. The actor is not compared, as for a create.
    /// </summary>
    public string? IdempotencyKey { get; init; }
}

/// <summary>A stream after an operation, with the events the operation recorded (oldest first).</summary>
/// <param name="Stream">The stream as committed.</param>
/// <param name="Events">What the operation did: e.g. a completion that came due first, a settlement before a withdrawal.</param>
public sealed record StreamOperationResult(PaymentStream Stream, IReadOnlyList<StreamEvent> Events)
{
    // The generated equality compares fields: these compare by content where the properties' types would not.
    private readonly ValueList<StreamEvent> _events = ValueList<StreamEvent>.Of(Events);

    /// <summary>What the operation did: e.g. a completion that came due first, a settlement before a withdrawal. Kept as an immutable copy that compares by content.</summary>
    public IReadOnlyList<StreamEvent> Events
    {
        get => _events;
        init => _events = ValueList<StreamEvent>.Of(value);
    }
}

/// <summary>A stream's balances at one instant (closed streams are frozen at their closing instant).</summary>
/// <param name="Stream">The stream as stored.</param>
/// <param name="At">The instant evaluated.</param>
/// <param name="Accrued">Streamed so far.</param>
/// <param name="Unsettled">accrued − settled: what a settlement now would move.</param>
/// <param name="Withdrawable">accrued − withdrawn: what a withdrawal now could take (it settles first).</param>
/// <param name="Refundable">total − accrued: what a cancellation now would return to the payer; zero once closed (the refund happened).</param>
/// <param name="IsComplete">Whether nothing more can accrue.</param>
public sealed record StreamStatement(
    PaymentStream Stream,
    Instant At,
    Money Accrued,
    Money Unsettled,
    Money Withdrawable,
    Money Refundable,
    bool IsComplete);
