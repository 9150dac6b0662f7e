using System.Text.Json.Serialization;
using NodaTime;
using PaymentsKit.Ledger;

namespace PaymentsKit.Payouts;

/// <summary>
/// A dividend, coupon or snapshot distribution of one token asset (seed 004 <c>distribution</c>). Immutable;
/// every change is a new instance written with the store's version check, and every status change is
/// appended to <see cref="Transitions"/>.
/// </summary>
/// <param name="Id">The distribution's id.</param>
/// <param name="TenantId">The issuer (merchant) it belongs to.</param>
/// <param name="AssetId">The token asset whose holders are paid.</param>
/// <param name="Type">DIVIDEND, COUPON or SNAPSHOT.</param>
/// <param name="Execution">MANUAL, SCHEDULED, RECURRING or AUTOMATIC.</param>
/// <param name="Payout">How the amount is stated; null for SNAPSHOT.</param>
/// <param name="Amount">FIXED: the total paid; PERCENTAGE: the pool a percentage of which is paid; otherwise null.</param>
/// <param name="Percentage">PERCENTAGE: the percentage of <paramref name="Amount"/> paid, in (0, 100].</param>
/// <param name="AmountPerShare">PER_SHARE: payment asset units per whole share.</param>
/// <param name="Concept">A label, e.g. "Q3 dividend".</param>
/// <param name="ScheduledTime">SCHEDULED: the local time it runs, in <paramref name="TimeZone"/>.</param>
/// <param name="Frequency">RECURRING: how often it runs.</param>
/// <param name="StartTime">RECURRING: the local time anchoring the recurrence, in <paramref name="TimeZone"/>.</param>
/// <param name="TimeZone">The IANA time zone local times are read in (SCHEDULED, RECURRING).</param>
/// <param name="TriggerCondition">AUTOMATIC: the condition the host evaluates before executing it.</param>
/// <param name="Status">PENDING → PROCESSING → COMPLETED | FAILED (<see cref="DistributionLifecycle.Machine"/>).</param>
/// <param name="DueAt">When it is due (SCHEDULED: the scheduled time; RECURRING: this occurrence); null otherwise.</param>
/// <param name="Occurrence">RECURRING: 0 for the first run of the series, then 1, 2, …; 0 otherwise.</param>
/// <param name="SeriesId">RECURRING: the first distribution of the series, on every occurrence including the first; null otherwise.</param>
/// <param name="FundingAccountId">The ledger account payouts are credited to (the treasury that pays), if payouts are posted.</param>
/// <param name="PayoutAccountId">The ledger account payouts are debited to (e.g. dividends payable), if payouts are posted.</param>
/// <param name="Snapshot">The holder snapshot the allocation was fixed from; null until one is imported.</param>
/// <param name="Result">What the run paid, once it finished.</param>
/// <param name="Transitions">Every status change, oldest first.</param>
/// <param name="ExecutedAt">When the run finished.</param>
/// <param name="CreatedAt">When it was created.</param>
/// <param name="UpdatedAt">When it last changed.</param>
public sealed record Distribution(
    DistributionId Id,
    MerchantId TenantId,
    TokenAssetId AssetId,
    DistributionType Type,
    DistributionExecution Execution,
    DistributionPayout? Payout,
    Money? Amount,
    decimal? Percentage,
    decimal? AmountPerShare,
    string? Concept,
    LocalDateTime? ScheduledTime,
    DistributionFrequency? Frequency,
    LocalDateTime? StartTime,
    string? TimeZone,
    string? TriggerCondition,
    DistributionStatus Status,
    Instant? DueAt,
    int Occurrence,
    DistributionId? SeriesId,
    LedgerAccountId? FundingAccountId,
    LedgerAccountId? PayoutAccountId,
    HolderSnapshotInfo? Snapshot,
    DistributionResult? Result,
    IReadOnlyList<DistributionTransition> Transitions,
    [property: JsonPropertyOrder(1)] Instant? ExecutedAt,
    [property: JsonPropertyOrder(1)] Instant CreatedAt,
    [property: JsonPropertyOrder(1)] Instant UpdatedAt)
{
    // The generated equality compares fields: these compare by content where the properties' types would not.
    // Declared here, these properties would serialize after the positional ones: JsonPropertyOrder keeps the parameter order.
    private readonly ValueList<DistributionTransition> _transitions = ValueList<DistributionTransition>.Of(Transitions);

    /// <summary>Every status change, oldest first. Kept as an immutable copy that compares by content.</summary>
    public IReadOnlyList<DistributionTransition> Transitions
    {
        get => _transitions;
        init => _transitions = ValueList<DistributionTransition>.Of(value);
    }

    /// <summary>
    /// Paid batches whose ledger posting the ledger refused (see <see cref="PayoutBatchRecord.PostingError"/>). While it is above
    /// 0 the distribution does not finish, and a run posts them before it pays anyone else.
    /// </summary>
    [JsonPropertyOrder(1)]
    public int UnpostedBatches { get; init; }

    /// <summary>
    /// Until when the run executing it holds it (<see cref="PayoutOptions.RunLease"/>, renewed while the run goes on); when
    /// the run ended, the instant it ended; null before any run took it. No other run executes the distribution before then.
    /// A PROCESSING MANUAL or AUTOMATIC distribution is due for the worker from this instant: its run stopped, or its host died.
    /// </summary>
    [JsonPropertyOrder(1)]
    public Instant? RunLeaseExpiresAt { get; init; }

    /// <summary>The token of the run holding <see cref="RunLeaseExpiresAt"/>, each run's own; null when no run holds it.</summary>
    [JsonPropertyOrder(1)]
    public Guid? RunLeaseHolder { get; init; }

    /// <summary>
    /// When the worker should run it, if ever: its <see cref="DueAt"/>; for a PROCESSING one without (MANUAL, AUTOMATIC), when
    /// its run's lease lapsed or was released, so a run whose host died is resumed. A run from before run leases has none.
    /// </summary>
    internal Instant? WorkerDueAt => DueAt ?? (Status == DistributionStatus.Processing ? RunLeaseExpiresAt : null);

    /// <summary>
    /// Whether the worker should run it at <paramref name="now"/>: due (<see cref="WorkerDueAt"/>), and not finished (pending,
    /// or processing after a run that was interrupted).
    /// </summary>
    internal bool IsDueAt(Instant now) => Status is DistributionStatus.Pending or DistributionStatus.Processing && WorkerDueAt is { } due && due <= now;
}

/// <summary>One accepted status change of a distribution.</summary>
/// <param name="From">The status before.</param>
/// <param name="To">The status after.</param>
/// <param name="At">When it happened.</param>
/// <param name="Reason">Why, in a few words.</param>
public sealed record DistributionTransition(DistributionStatus From, DistributionStatus To, Instant At, string Reason);

/// <summary>The holder snapshot a distribution's allocation was fixed from.</summary>
/// <param name="Holders">Rows in the snapshot, including holders with nothing due.</param>
/// <param name="PayableHolders">Holders with a positive amount: the ones batches pay.</param>
/// <param name="TotalBalance">The snapshot's balances summed, in the asset token's smallest unit.</param>
/// <param name="Allocated">The amounts summed: exactly the distribution total (FIXED, PERCENTAGE) or the per-share sum.</param>
/// <param name="ImportedAt">When the snapshot was imported and the allocation fixed.</param>
public sealed record HolderSnapshotInfo(int Holders, int PayableHolders, long TotalBalance, Money Allocated, Instant ImportedAt);

/// <summary>What a finished distribution run paid.</summary>
/// <param name="PaidHolders">Holders paid.</param>
/// <param name="FailedHolders">Holders left unpaid after their last attempt.</param>
/// <param name="Paid">The amount paid.</param>
/// <param name="Unpaid">The amount allocated to holders left unpaid.</param>
/// <param name="Batches">Batches run (retries included).</param>
public sealed record DistributionResult(int PaidHolders, int FailedHolders, Money Paid, Money Unpaid, int Batches);

/// <summary>Creates a distribution.</summary>
/// <param name="AssetId">The token asset whose holders are paid.</param>
/// <param name="Type">DIVIDEND, COUPON or SNAPSHOT.</param>
/// <param name="Execution">MANUAL, SCHEDULED, RECURRING or AUTOMATIC.</param>
public sealed record CreateDistributionRequest(TokenAssetId AssetId, DistributionType Type, DistributionExecution Execution)
{
    /// <summary>FIXED, PERCENTAGE or PER_SHARE; required for DIVIDEND and COUPON, absent for SNAPSHOT.</summary>
    public DistributionPayout? Payout { get; init; }

    /// <summary>FIXED: the positive total; PERCENTAGE: the positive pool. In the asset's payment asset.</summary>
    public Money? Amount { get; init; }

    /// <summary>PERCENTAGE: greater than 0, at most 100, at most 12 decimals, and coming to at least one smallest unit of the pool.</summary>
    public decimal? Percentage { get; init; }

    /// <summary>PER_SHARE: a positive amount of the payment asset per whole share, at most 18 decimals.</summary>
    public decimal? AmountPerShare { get; init; }

    /// <summary>A label, up to 200 characters.</summary>
    public string? Concept { get; init; }

    /// <summary>SCHEDULED: the local time to run at, ISO calendar, years 1–9998 (required for SCHEDULED, absent otherwise).</summary>
    public LocalDateTime? ScheduledTime { get; init; }

    /// <summary>RECURRING: the frequency (required for RECURRING, absent otherwise).</summary>
    public DistributionFrequency? Frequency { get; init; }

    /// <summary>RECURRING: the local start time anchoring the recurrence, ISO calendar, years 1–9998 (required for RECURRING, absent otherwise).</summary>
    public LocalDateTime? StartTime { get; init; }

    /// <summary>The IANA time zone of <see cref="ScheduledTime"/> and <see cref="StartTime"/>; defaults to <see cref="PayoutOptions.DefaultTimeZone"/>.</summary>
    public string? TimeZone { get; init; }

    /// <summary>AUTOMATIC: the trigger condition, 1–500 characters (required for AUTOMATIC, absent otherwise).</summary>
    public string? TriggerCondition { get; init; }

    /// <summary>The ledger account credited with every batch's payouts (the paying treasury); set together with <see cref="PayoutAccountId"/>.</summary>
    public LedgerAccountId? FundingAccountId { get; init; }

    /// <summary>The ledger account debited with every batch's payouts (e.g. dividends payable); set together with <see cref="FundingAccountId"/>.</summary>
    public LedgerAccountId? PayoutAccountId { get; init; }
}
