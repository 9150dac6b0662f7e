using NodaTime;
using PaymentsKit.Storage;

namespace PaymentsKit.Payouts;

/// <summary>
/// Mass payouts (seed 004): token assets, distributions, holder snapshots with their exact allocation,
/// batched execution through an <see cref="IPayoutExecutor"/>, and the due query for the hosting worker.
/// Every operation is scoped to a tenant (the issuer); another tenant's records behave as if absent.
/// </summary>
/// <remarks>
/// <para>A run is resumable at any point: each batch is claimed in the <see cref="IHolderSnapshotStore"/>
/// (holders marked submitted) before it is executed under an idempotency key, and its outcome is recorded
/// after; a run that died in between re-executes that batch under the same key, which the executor must
/// answer without paying again. A holder is therefore paid at most once.</para>
/// <para>Errors (<see cref="PaymentsKitException.Code"/>): <c>invalid_argument</c>, <c>amount_out_of_range</c>,
/// <c>amount_precision</c>, <c>asset_mismatch</c>, <c>unknown_asset</c>, <c>arithmetic_overflow</c>,
/// <c>not_found</c>, <c>duplicate_key</c>, <c>invalid_transition</c>, <c>not_due</c>, <c>snapshot_required</c>,
/// <c>insufficient_funds</c>, <c>payout_result_invalid</c>.</para>
/// </remarks>
public interface IDistributionService
{
    /// <summary>Imports a token asset.</summary>
    ValueTask<TokenAsset> CreateAssetAsync(MerchantId tenantId, CreateTokenAssetRequest request, CancellationToken cancellationToken = default);

    /// <summary>Reads a token asset.</summary>
    ValueTask<TokenAsset> GetAssetAsync(MerchantId tenantId, TokenAssetId assetId, CancellationToken cancellationToken = default);

    /// <summary>Finds a token asset by its chain token id; null if the tenant has none.</summary>
    ValueTask<TokenAsset?> FindAssetByTokenIdAsync(MerchantId tenantId, string tokenId, CancellationToken cancellationToken = default);

    /// <summary>Records the asset's sync status; SYNCED also stamps <see cref="TokenAsset.LastSyncedAt"/> (and may correct the total supply).</summary>
    ValueTask<TokenAsset> RecordAssetSyncAsync(MerchantId tenantId, TokenAssetId assetId, TokenSyncStatus status, long? totalSupply = null, CancellationToken cancellationToken = default);

    /// <summary>Creates a PENDING distribution.</summary>
    ValueTask<Distribution> CreateDistributionAsync(MerchantId tenantId, CreateDistributionRequest request, CancellationToken cancellationToken = default);

    /// <summary>Creates a PENDING distribution within the caller's unit of work (e.g. an event handler's).</summary>
    ValueTask<Distribution> CreateDistributionAsync(IUnitOfWork unit, MerchantId tenantId, CreateDistributionRequest request, CancellationToken cancellationToken = default);

    /// <summary>Reads a distribution.</summary>
    ValueTask<Distribution> GetDistributionAsync(MerchantId tenantId, DistributionId distributionId, CancellationToken cancellationToken = default);

    /// <summary>Lists the tenant's distributions in creation order.</summary>
    ValueTask<Page<Distribution>> ListDistributionsAsync(MerchantId tenantId, string? cursor, int limit, CancellationToken cancellationToken = default);

    /// <summary>
    /// Imports the distribution's one holder snapshot and fixes its allocation from it: every holder's amount is
    /// computed (<see cref="Allocation"/>) and written with the snapshot, all rows or none, before any batch can
    /// run. Only a PENDING distribution without a snapshot takes one.
    /// </summary>
    /// <param name="tenantId">The issuer.</param>
    /// <param name="distributionId">The distribution.</param>
    /// <param name="holders">Account ids unique and printable ASCII (1–128), balances zero or more, summing to at most the asset's total supply.</param>
    /// <param name="progress">Told how many rows are written as the import goes.</param>
    /// <param name="cancellationToken">Cancels the import; nothing is written then.</param>
    ValueTask<HolderSnapshotInfo> ImportHolderSnapshotAsync(
        MerchantId tenantId, DistributionId distributionId, IEnumerable<HolderBalance> holders, IProgress<HolderImportProgress>? progress = null, CancellationToken cancellationToken = default);

    /// <summary>As the other overload, reading the holders from an asynchronous stream.</summary>
    ValueTask<HolderSnapshotInfo> ImportHolderSnapshotAsync(
        MerchantId tenantId, DistributionId distributionId, IAsyncEnumerable<HolderBalance> holders, IProgress<HolderImportProgress>? progress = null, CancellationToken cancellationToken = default);

    /// <summary>Pages through the distribution's holders in account order, with amounts and payment states.</summary>
    /// <param name="tenantId">The issuer.</param>
    /// <param name="distributionId">The distribution.</param>
    /// <param name="afterAccount">
    /// The last account of the previous page, or null for the first; anything an account id cannot be (1–128 printable
    /// ASCII characters without spaces) is <c>invalid_argument</c>.
    /// </param>
    /// <param name="limit">1–1000 rows.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    ValueTask<IReadOnlyList<HolderPayment>> ListHoldersAsync(
        MerchantId tenantId, DistributionId distributionId, string? afterAccount, int limit, CancellationToken cancellationToken = default);

    /// <summary>Counts and sums the distribution's holders by payment state.</summary>
    ValueTask<HolderSnapshotTotals> GetHolderTotalsAsync(MerchantId tenantId, DistributionId distributionId, CancellationToken cancellationToken = default);

    /// <summary>
    /// The batches a run pays the holders still to pay in: batches left with an unknown outcome again (their own numbers),
    /// the pending holders in account order within the batch limit, then each failed holder with attempts left alone (a
    /// retry that fails again is retried in a later batch the plan cannot foresee). A fresh distribution's plan is exactly
    /// what its first pass executes.
    /// </summary>
    ValueTask<IReadOnlyList<PayoutBatch>> PlanBatchesAsync(MerchantId tenantId, DistributionId distributionId, CancellationToken cancellationToken = default);

    /// <summary>The most holders one batch pays: the executor's chain limit, capped by <see cref="PayoutOptions.MaxHoldersPerBatch"/>.</summary>
    int MaxHoldersPerBatch { get; }

    /// <summary>
    /// Runs (or resumes) the distribution: PENDING → PROCESSING, re-executes batches a previous run left
    /// unresolved, pays the remaining holders in batches, retries failed holders (one per batch) up to
    /// <see cref="PayoutOptions.MaxAttemptsPerHolder"/> attempts, posts each batch's payouts to the ledger, and
    /// finishes COMPLETED (everyone paid) or FAILED (someone left unpaid). A finished RECURRING distribution
    /// schedules its next occurrence as a new PENDING distribution. Running a finished distribution returns it. One run
    /// executes a distribution at a time: the run holds its run lease (<see cref="PayoutOptions.RunLease"/>, renewed while it
    /// runs, released when it ends), and a call while another run holds it executes nothing and returns the distribution as
    /// it is.
    /// </summary>
    /// <param name="tenantId">The issuer.</param>
    /// <param name="distributionId">The distribution.</param>
    /// <param name="progress">Told after each batch.</param>
    /// <param name="cancellationToken">Cancels between steps; a cancelled run is resumed by running again.</param>
    /// <returns>The distribution afterwards.</returns>
    /// <exception cref="PaymentsKitException">
    /// <c>insufficient_funds</c> (or another ledger refusal) when the ledger cannot take what is left to pay, or refused to
    /// post a batch after it was paid: that batch is recorded paid with <see cref="PayoutBatchRecord.PostingError"/>, counted in
    /// <see cref="Distribution.UnpostedBatches"/>, and the next run posts it before paying anyone else.
    /// <c>concurrency_conflict</c> when the run could not renew its lease in time and another run took the distribution over:
    /// it stopped before executing another batch.
    /// </exception>
    ValueTask<Distribution> ExecuteAsync(
        MerchantId tenantId, DistributionId distributionId, IProgress<PayoutProgress>? progress = null, CancellationToken cancellationToken = default);

    /// <summary>Lists the distribution's batch records by batch number.</summary>
    ValueTask<IReadOnlyList<PayoutBatchRecord>> ListBatchesAsync(MerchantId tenantId, DistributionId distributionId, CancellationToken cancellationToken = default);

    /// <summary>
    /// SCHEDULED and RECURRING distributions, of every tenant, due at or before <paramref name="now"/> and not finished
    /// (PENDING, or PROCESSING after a run that was interrupted), oldest due first: what the hosting worker runs, so an
    /// interrupted run is resumed by the next.
    /// </summary>
    /// <param name="now">The worker's now.</param>
    /// <param name="limit">1–1000.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    ValueTask<IReadOnlyList<Distribution>> GetDueAsync(Instant now, int limit = 100, CancellationToken cancellationToken = default);

    /// <summary>
    /// As <see cref="GetDueAsync(Instant, int, CancellationToken)"/>, but only the distributions that come after
    /// <paramref name="after"/> in due order (due time, then id; the tenant plays no part): a keyset cursor, so a worker
    /// that cannot run the oldest due distributions (they keep failing) pages past them to the others instead of reading
    /// the same oldest page again.
    /// </summary>
    /// <param name="now">The worker's now.</param>
    /// <param name="limit">1–1000.</param>
    /// <param name="after">
    /// The last distribution of the previous page (its tenant, id and <see cref="Distribution.DueAt"/>); null for the first page.
    /// </param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <remarks>
    /// <see cref="DistributionService"/> reads only the page asked for. This default, for an implementation written before
    /// the cursor existed, filters the 1000 oldest due distributions, so it cannot page past them; such an
    /// implementation should override it.
    /// </remarks>
    async ValueTask<IReadOnlyList<Distribution>> GetDueAsync(Instant now, int limit, DueDistribution? after, CancellationToken cancellationToken = default)
    {
        if (after is null)
        {
            return await GetDueAsync(now, limit, cancellationToken).ConfigureAwait(false);
        }

        PayoutValidation.Limit(limit);
        var due = await GetDueAsync(now, BufferedUnitOfWork.MaxPageSize, cancellationToken).ConfigureAwait(false);
        return [.. DueDistribution.After(due, d => new DueDistribution(d.TenantId, d.Id, d.DueAt ?? now), after).Take(limit)];
    }

    /// <summary>
    /// One page of <see cref="GetDueAsync(Instant, int, DueDistribution?, CancellationToken)"/> with where to go on from: the
    /// due index's entries after <paramref name="after"/> are read, up to <paramref name="limit"/>, and the distributions
    /// among them still due are returned. Those no longer due (another host just ran them) leave the page short, so a short
    /// page does not mean the end: page on from <see cref="DueDistributionPage.Next"/> until
    /// <see cref="DueDistributionPage.Exhausted"/>.
    /// </summary>
    /// <param name="now">The worker's now.</param>
    /// <param name="limit">1–1000: the most index entries read.</param>
    /// <param name="after">The previous page's <see cref="DueDistributionPage.Next"/>; null for the first page.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <remarks>
    /// <see cref="DistributionService"/> reports the index's own entries. This default, for an implementation written before
    /// pages existed, can only see the distributions it returns: it takes the last of them as the cursor and a short page as
    /// the end, as callers did before; such an implementation should override it.
    /// </remarks>
    async ValueTask<DueDistributionPage> GetDuePageAsync(Instant now, int limit, DueDistribution? after, CancellationToken cancellationToken = default)
    {
        var due = await GetDueAsync(now, limit, after, cancellationToken).ConfigureAwait(false);
        var next = due.Count == 0 ? after : new DueDistribution(due[^1].TenantId, due[^1].Id, due[^1].DueAt ?? now);
        return new DueDistributionPage(due, next, due.Count < limit);
    }
}

/// <summary>A page of due distributions (<see cref="IDistributionService.GetDuePageAsync"/>).</summary>
/// <param name="Distributions">The distributions of the page still due, oldest first; fewer than the index entries read when some are no longer due.</param>
/// <param name="Next">
/// The cursor for the next page: the last index entry read (whether or not its distribution was still due), or the cursor
/// given when there was none.
/// </param>
/// <param name="Exhausted">Whether the index had no more entries after this page: the due list was read to its end.</param>
public sealed record DueDistributionPage(IReadOnlyList<Distribution> Distributions, DueDistribution? Next, bool Exhausted);
