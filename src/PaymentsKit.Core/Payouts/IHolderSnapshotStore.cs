using NodaTime;
using PaymentsKit.Storage;

namespace PaymentsKit.Payouts;

/// <summary>Names one distribution's holder snapshot in an <see cref="IHolderSnapshotStore"/>.</summary>
/// <param name="TenantId">The issuer.</param>
/// <param name="AssetId">The token asset.</param>
/// <param name="DistributionId">The distribution.</param>
public readonly record struct HolderSnapshotKey(MerchantId TenantId, TokenAssetId AssetId, DistributionId DistributionId);

/// <summary>One holder's row: the snapshot balance, the allocated amount and where its payment stands (seed 004 <c>holder</c>).</summary>
/// <param name="AccountId">The holder's account.</param>
/// <param name="Balance">The snapshot balance, in the asset token's smallest unit.</param>
/// <param name="Amount">The allocated payment, in the payment asset's smallest unit; 0 means nothing is due.</param>
/// <param name="State">Where the payment stands.</param>
/// <param name="BatchNumber">The last batch that included the holder; null before the first.</param>
/// <param name="Attempts">How many batches included the holder.</param>
/// <param name="TransactionId">The transaction that paid it (or, failed, the last one tried), if reported.</param>
/// <param name="Error">Why the last attempt failed.</param>
public sealed record HolderPayment(
    string AccountId,
    long Balance,
    long Amount,
    HolderPaymentState State,
    int? BatchNumber,
    int Attempts,
    string? TransactionId,
    string? Error)
{
    /// <summary>Whether the holder has been paid (seed 004 <c>holder.paid</c>).</summary>
    public bool Paid => State == HolderPaymentState.Paid;
}

/// <summary>One holder handed to a batch: who, and how much in the payment asset's smallest unit.</summary>
/// <param name="AccountId">The holder's account.</param>
/// <param name="Amount">A positive amount.</param>
public readonly record struct PayoutTransfer(string AccountId, long Amount);

/// <summary>Holders claimed for one batch.</summary>
/// <param name="BatchNumber">The batch's number within the distribution, from 1, without gaps.</param>
/// <param name="Transfers">The claimed holders in account order (ordinal).</param>
public sealed record ClaimedBatch(int BatchNumber, IReadOnlyList<PayoutTransfer> Transfers)
{
    // The generated equality compares fields: these compare by content where the properties' types would not.
    private readonly ValueList<PayoutTransfer> _transfers = ValueList<PayoutTransfer>.Of(Transfers);

    /// <summary>The claimed holders in account order (ordinal). Kept as an immutable copy that compares by content.</summary>
    public IReadOnlyList<PayoutTransfer> Transfers
    {
        get => _transfers;
        init => _transfers = ValueList<PayoutTransfer>.Of(value);
    }
}

/// <summary>The executor's verdict on one holder of a batch.</summary>
/// <param name="AccountId">The holder.</param>
/// <param name="Error">Null when paid; otherwise why not.</param>
public readonly record struct HolderOutcome(string AccountId, string? Error);

/// <summary>Counts and sums over one distribution's holders.</summary>
/// <param name="Holders">All rows.</param>
/// <param name="NothingDue">Rows with an amount of zero.</param>
/// <param name="Pending">Payable rows not yet in a batch.</param>
/// <param name="Submitted">Rows in a batch whose outcome is not recorded.</param>
/// <param name="Paid">Paid rows.</param>
/// <param name="Failed">Rows whose last attempt failed.</param>
/// <param name="Retryable">Failed rows with attempts left under the limit asked for.</param>
/// <param name="TotalBalance">Balances summed.</param>
/// <param name="AllocatedUnits">Amounts summed.</param>
/// <param name="PaidUnits">Amounts of paid rows summed.</param>
/// <param name="LastBatchNumber">The highest batch number claimed; 0 before the first claim.</param>
public sealed record HolderSnapshotTotals(
    int Holders,
    int NothingDue,
    int Pending,
    int Submitted,
    int Paid,
    int Failed,
    int Retryable,
    long TotalBalance,
    long AllocatedUnits,
    long PaidUnits,
    int LastBatchNumber)
{
    /// <summary>Totals of a distribution without holders.</summary>
    public static HolderSnapshotTotals Empty { get; } = new(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
}

/// <summary>How far a holder snapshot import has come.</summary>
/// <param name="Written">Rows written so far.</param>
/// <param name="Total">Rows in the snapshot.</param>
public readonly record struct HolderImportProgress(long Written, long Total);

/// <summary>
/// Where holder snapshots and per-holder payment records live: a dedicated table on PostgreSQL (imported
/// with binary <c>COPY</c>), arrays in memory by default. It is the source of truth for which batch holds
/// which holder; a holder row is unique per (asset, distribution, account), and its state only moves
/// Pending/Failed → Submitted (by a claim) → Paid/Failed (by the claiming batch's outcome), so no holder
/// is ever in two unresolved batches.
/// </summary>
/// <remarks>
/// Every operation is atomic on its own. Reads and changes of another tenant's snapshot behave as if it
/// were absent. Account order is ordinal (PostgreSQL: <c>COLLATE "C"</c>), which is why account ids are
/// printable ASCII.
/// </remarks>
public interface IHolderSnapshotStore
{
    /// <summary>
    /// Writes a distribution's whole snapshot with its allocation, all rows or none, in state
    /// <see cref="HolderPaymentState.Pending"/>.
    /// </summary>
    /// <param name="key">The distribution.</param>
    /// <param name="holders">The rows; account ids unique.</param>
    /// <param name="amounts">Each row's allocated amount, in the same order.</param>
    /// <param name="now">Stamps the rows.</param>
    /// <param name="progress">Told about written rows now and then.</param>
    /// <param name="cancellationToken">Cancels the import; nothing is written then.</param>
    /// <exception cref="PaymentsKitException"><c>duplicate_key</c> when the distribution already has holders or an account repeats.</exception>
    ValueTask ImportAsync(
        HolderSnapshotKey key,
        ReadOnlyMemory<HolderBalance> holders,
        ReadOnlyMemory<long> amounts,
        Instant now,
        IProgress<HolderImportProgress>? progress,
        CancellationToken cancellationToken = default);

    /// <summary>Counts and sums the distribution's holders; <paramref name="maxAttempts"/> decides which failed rows are retryable.</summary>
    ValueTask<HolderSnapshotTotals> GetTotalsAsync(HolderSnapshotKey key, int maxAttempts, CancellationToken cancellationToken = default);

    /// <summary>Pages through the holders in account order.</summary>
    /// <param name="key">The distribution.</param>
    /// <param name="afterAccount">The last account of the previous page, or null for the first.</param>
    /// <param name="limit">1–1000 rows.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    ValueTask<IReadOnlyList<HolderPayment>> ListAsync(HolderSnapshotKey key, string? afterAccount, int limit, CancellationToken cancellationToken = default);

    /// <summary>
    /// Claims the next batch: up to <paramref name="limit"/> holders with a positive amount after
    /// <paramref name="afterAccount"/> in account order that are pending, or failed with fewer than
    /// <paramref name="maxAttempts"/> attempts; marks them submitted under the next batch number and counts
    /// the attempt. Concurrent claims never take the same holder or number.
    /// </summary>
    /// <returns>The batch, or null when no holder qualifies (no number is used up then).</returns>
    ValueTask<ClaimedBatch?> ClaimBatchAsync(
        HolderSnapshotKey key, string? afterAccount, int limit, int maxAttempts, Instant now, CancellationToken cancellationToken = default);

    /// <summary>The batches with submitted holders (outcome not recorded), by batch number: what a resumed run re-executes.</summary>
    ValueTask<IReadOnlyList<ClaimedBatch>> ListSubmittedAsync(HolderSnapshotKey key, CancellationToken cancellationToken = default);

    /// <summary>
    /// Records a batch's outcome on its holders that are still submitted under <paramref name="batchNumber"/>
    /// (so repeating it changes nothing): paid, or failed with the error.
    /// </summary>
    ValueTask RecordOutcomesAsync(
        HolderSnapshotKey key, int batchNumber, string? transactionId, IReadOnlyList<HolderOutcome> outcomes, Instant now, CancellationToken cancellationToken = default);
}

/// <summary>Supplies a holder snapshot when a due distribution has none (e.g. from a mirror node); optional.</summary>
public interface IHolderSnapshotSource
{
    /// <summary>
    /// The holders of <paramref name="asset"/> as of <paramref name="asOf"/>: a SCHEDULED or RECURRING distribution's due time
    /// (its record date, however late the run), otherwise the instant the run starts.
    /// </summary>
    IAsyncEnumerable<HolderBalance> ReadHoldersAsync(TokenAsset asset, Instant asOf, CancellationToken cancellationToken = default);
}

/// <summary>A distribution due to run, as the due index reports it.</summary>
/// <param name="TenantId">The issuer.</param>
/// <param name="Id">The distribution.</param>
/// <param name="DueAt">When it became due.</param>
public readonly record struct DueDistribution(MerchantId TenantId, DistributionId Id, Instant DueAt)
{
    /// <summary>
    /// Whether this distribution comes after <paramref name="cursor"/> in due order: later due, or due at the same time with a
    /// later id (ids in PostgreSQL's <c>uuid</c> order, <see cref="GuidOrder"/>). The tenant plays no part.
    /// </summary>
    internal bool IsAfter(DueDistribution? cursor) =>
        cursor is not { } c || DueAt > c.DueAt || (DueAt == c.DueAt && GuidOrder.Instance.Compare(Id.Value, c.Id.Value) > 0);

    /// <summary>
    /// The items of an oldest-first list that come after <paramref name="cursor"/>: those behind the cursor's own item when
    /// the list has it, since the list may keep due times coarser than the distribution's own (PostgreSQL keeps
    /// microseconds) and order by them; otherwise those after it in due order.
    /// </summary>
    internal static IEnumerable<T> After<T>(IReadOnlyList<T> oldestFirst, Func<T, DueDistribution> entry, DueDistribution? cursor)
    {
        if (cursor is not { } c)
        {
            return oldestFirst;
        }

        for (var i = 0; i < oldestFirst.Count; i++)
        {
            if (entry(oldestFirst[i]).Id == c.Id)
            {
                return oldestFirst.Skip(i + 1);
            }
        }

        return oldestFirst.Where(item => entry(item).IsAfter(c));
    }
}

/// <summary>
/// Finds unfinished distributions whose due time has come, across tenants, oldest first: PENDING and PROCESSING ones by their
/// <see cref="Distribution.DueAt"/>, and PROCESSING ones without one whose run's lease lapsed or was released, due at
/// <see cref="Distribution.RunLeaseExpiresAt"/>. On PostgreSQL it reads the <c>distribution</c> table through the
/// <c>idx_distribution_scheduled</c> partial index (and <c>idx_distribution_status</c> for PROCESSING ones); the default scans
/// the records of every tenant with distributions.
/// </summary>
public interface IDueDistributionIndex
{
    /// <summary>Up to <paramref name="limit"/> distributions due at or before <paramref name="now"/>, by due time.</summary>
    ValueTask<IReadOnlyList<DueDistribution>> ListDueAsync(Instant now, int limit, CancellationToken cancellationToken = default);

    /// <summary>
    /// Up to <paramref name="limit"/> distributions due at or before <paramref name="now"/> that come after
    /// <paramref name="after"/> (a keyset cursor: due time, then id), in that order; from the oldest when it is null. A caller
    /// that cannot run the oldest ones pages past them with the last entry it got, so they cannot hide the rest.
    /// </summary>
    /// <param name="now">The instant distributions are due by.</param>
    /// <param name="limit">The most entries to return.</param>
    /// <param name="after">The last entry of the previous page; null for the first page.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <remarks>
    /// The built-in indexes read only the page asked for. This default, for an index written before the cursor existed,
    /// reads ever longer runs of the oldest through <see cref="ListDueAsync(Instant, int, CancellationToken)"/> until it has the
    /// page: correct, but slower the further the cursor is; such an index should override it.
    /// </remarks>
    async ValueTask<IReadOnlyList<DueDistribution>> ListDueAsync(Instant now, int limit, DueDistribution? after, CancellationToken cancellationToken = default)
    {
        for (var read = limit; ; read = read > int.MaxValue / 2 ? int.MaxValue : read * 2)
        {
            var due = await ListDueAsync(now, read, cancellationToken).ConfigureAwait(false);
            var page = DueDistribution.After(due, d => d, after).Take(limit).ToList();
            if (page.Count == limit || due.Count < read || read == int.MaxValue)
            {
                return page;
            }
        }
    }
}

/// <summary>The default <see cref="IDueDistributionIndex"/>: reads every tenant's distributions through <see cref="IPaymentsStore"/>.</summary>
/// <param name="store">The store the distributions are kept in.</param>
public sealed class StoreScanDueDistributionIndex(IPaymentsStore store) : IDueDistributionIndex
{
    /// <inheritdoc />
    public ValueTask<IReadOnlyList<DueDistribution>> ListDueAsync(Instant now, int limit, CancellationToken cancellationToken = default) =>
        ListDueAsync(now, limit, null, cancellationToken);

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<DueDistribution>> ListDueAsync(Instant now, int limit, DueDistribution? after, CancellationToken cancellationToken = default)
    {
        var due = new List<DueDistribution>();
        var unit = await store.BeginAsync(cancellationToken).ConfigureAwait(false);
        await using (unit.ConfigureAwait(false))
        {
            await foreach (var (_, distribution) in TenantScan.AllAsync(unit, PayoutCollections.Tenants, t => t.Id, PayoutCollections.Distributions, cancellationToken)
                               .ConfigureAwait(false))
            {
                if (distribution is { WorkerDueAt: { } dueAt } && distribution.IsDueAt(now)
                    && new DueDistribution(distribution.TenantId, distribution.Id, dueAt) is var entry && entry.IsAfter(after))
                {
                    due.Add(entry);
                }
            }
        }

        return [.. due.OrderBy(d => d.DueAt).ThenBy(d => d.Id.Value, GuidOrder.Instance).Take(limit)];
    }
}
