namespace PaymentsKit.Payouts;

/// <summary>What a distribution pays (seed 004 <c>distribution.type</c>).</summary>
public enum DistributionType
{
    /// <summary>A dividend on an equity.</summary>
    Dividend,

    /// <summary>A coupon on a bond.</summary>
    Coupon,

    /// <summary>A snapshot of holders without a payment schedule of its own.</summary>
    Snapshot,
}

/// <summary>How a distribution is triggered (seed 004 <c>distribution.execution_type</c>).</summary>
public enum DistributionExecution
{
    /// <summary>Executed when an operator asks.</summary>
    Manual,

    /// <summary>Executed once at a scheduled time.</summary>
    Scheduled,

    /// <summary>Executed on a recurring schedule.</summary>
    Recurring,

    /// <summary>Executed when its trigger condition is met.</summary>
    Automatic,
}

/// <summary>How a pro-rata distribution's total is stated (seed 004 <c>distribution.payout_type</c>).</summary>
public enum DistributionPayout
{
    /// <summary>A fixed total split pro rata to holdings.</summary>
    Fixed,

    /// <summary>A percentage of a stated pool split pro rata to holdings.</summary>
    Percentage,

    /// <summary>A stated amount per whole share (dividends declared per share), truncated toward the payer.</summary>
    PerShare,
}

/// <summary>How often a recurring distribution runs (seed 004 <c>distribution.frequency</c>).</summary>
public enum DistributionFrequency
{
    /// <summary>Every hour of elapsed time.</summary>
    Hourly,

    /// <summary>Every day at the anchor's local time.</summary>
    Daily,

    /// <summary>Every seven days at the anchor's local time.</summary>
    Weekly,

    /// <summary>Every month on the anchor's day (or the month's last day when shorter).</summary>
    Monthly,
}

/// <summary>Where a distribution (or a payout batch) stands (seed 004 <c>status</c>).</summary>
public enum DistributionStatus
{
    /// <summary>Created, not started.</summary>
    Pending,

    /// <summary>Batches are executing.</summary>
    Processing,

    /// <summary>Every holder was paid.</summary>
    Completed,

    /// <summary>Execution stopped with holders unpaid.</summary>
    Failed,
}

/// <summary>The distribution lifecycle: PENDING → PROCESSING → COMPLETED | FAILED.</summary>
public static class DistributionLifecycle
{
    /// <summary>The transition table; COMPLETED and FAILED are terminal.</summary>
    public static StateMachine<DistributionStatus> Machine { get; } = new(
        "distribution",
        [
            new(DistributionStatus.Pending, DistributionStatus.Processing),
            new(DistributionStatus.Processing, DistributionStatus.Completed),
            new(DistributionStatus.Processing, DistributionStatus.Failed),
        ]);
}

/// <summary>Where a token asset's on-chain sync stands (seed 004 <c>asset.sync_status</c>).</summary>
public enum TokenSyncStatus
{
    /// <summary>In step with the chain as of <see cref="TokenAsset.LastSyncedAt"/>.</summary>
    Synced,

    /// <summary>A sync is running.</summary>
    Syncing,

    /// <summary>The last sync failed.</summary>
    Failed,
}

/// <summary>Where one holder's payment of one distribution stands.</summary>
public enum HolderPaymentState
{
    /// <summary>Not yet in a batch (or nothing is due: an amount of zero is never paid).</summary>
    Pending,

    /// <summary>
    /// Claimed by a batch that was handed, or is about to be handed, to the payout executor; the outcome is not
    /// recorded yet. A resumed run re-executes the batch under the same idempotency key, never in a new batch.
    /// </summary>
    Submitted,

    /// <summary>Paid; never paid again.</summary>
    Paid,

    /// <summary>The executor reported the payment as not made; retried in a later batch until the attempts run out.</summary>
    Failed,
}
