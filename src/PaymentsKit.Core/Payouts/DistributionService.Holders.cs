using System.Globalization;

namespace PaymentsKit.Payouts;

public sealed partial class DistributionService
{
    /// <inheritdoc />
    public ValueTask<HolderSnapshotInfo> ImportHolderSnapshotAsync(
        MerchantId tenantId, DistributionId distributionId, IEnumerable<HolderBalance> holders, IProgress<HolderImportProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        PayoutValidation.Tenant(tenantId);
        Guard.NotNull(holders, "holders");
        return ImportCoreAsync(tenantId, distributionId, holders as HolderBalance[] ?? [.. holders], progress, cancellationToken);
    }

    /// <inheritdoc />
    public async ValueTask<HolderSnapshotInfo> ImportHolderSnapshotAsync(
        MerchantId tenantId, DistributionId distributionId, IAsyncEnumerable<HolderBalance> holders, IProgress<HolderImportProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        PayoutValidation.Tenant(tenantId);
        Guard.NotNull(holders, "holders");
        var buffered = new List<HolderBalance>();
        await foreach (var holder in holders.WithCancellation(cancellationToken).ConfigureAwait(false))
        {
            buffered.Add(holder);
        }

        return await ImportCoreAsync(tenantId, distributionId, [.. buffered], progress, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<HolderPayment>> ListHoldersAsync(
        MerchantId tenantId, DistributionId distributionId, string? afterAccount, int limit, CancellationToken cancellationToken = default)
    {
        PayoutValidation.Limit(limit);
        if (afterAccount is not null)
        {
            // Only an account id can be a page's last account; PostgreSQL cannot even compare text with a NUL in it.
            PayoutValidation.ChainText(afterAccount, "after_account", PayoutValidation.MaxAccountIdLength);
        }

        var (distribution, _) = await LoadAsync(tenantId, distributionId, cancellationToken).ConfigureAwait(false);
        return await _holders.ListAsync(KeyOf(distribution), afterAccount, limit, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask<HolderSnapshotTotals> GetHolderTotalsAsync(MerchantId tenantId, DistributionId distributionId, CancellationToken cancellationToken = default)
    {
        var (distribution, _) = await LoadAsync(tenantId, distributionId, cancellationToken).ConfigureAwait(false);
        return await _holders.GetTotalsAsync(KeyOf(distribution), _options.MaxAttemptsPerHolder, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<PayoutBatch>> PlanBatchesAsync(MerchantId tenantId, DistributionId distributionId, CancellationToken cancellationToken = default)
    {
        var (distribution, _) = await LoadAsync(tenantId, distributionId, cancellationToken).ConfigureAwait(false);
        if (distribution is { Status: DistributionStatus.Pending, Snapshot: { } snapshot })
        {
            // Nothing is claimed before the run starts, so the snapshot's count is the count to pay: no need to read a million rows.
            return PayoutBatchPlanner.Plan(snapshot.PayableHolders, MaxHoldersPerBatch);
        }

        if (DistributionLifecycle.Machine.IsTerminal(distribution.Status))
        {
            // A finished distribution is never run again, whatever attempts the options allow now.
            return [];
        }

        // As ExecuteAsync runs it: batches left with an unknown outcome again under their own numbers, then the pending holders
        // in full batches, then each failed holder with attempts left in a batch of its own.
        var key = KeyOf(distribution);
        var totals = await _holders.GetTotalsAsync(key, _options.MaxAttemptsPerHolder, cancellationToken).ConfigureAwait(false);
        var plan = new List<PayoutBatch>();
        var offset = 0;
        foreach (var resumed in await _holders.ListSubmittedAsync(key, cancellationToken).ConfigureAwait(false))
        {
            plan.Add(new PayoutBatch(resumed.BatchNumber, offset, resumed.Transfers.Count));
            offset += resumed.Transfers.Count;
        }

        var number = totals.LastBatchNumber;
        foreach (var batch in PayoutBatchPlanner.Plan(totals.Pending, MaxHoldersPerBatch))
        {
            plan.Add(new PayoutBatch(number = checked(number + 1), offset + batch.Offset, batch.Count));
        }

        offset += totals.Pending;
        for (var i = 0; i < totals.Retryable; i++)
        {
            plan.Add(new PayoutBatch(number = checked(number + 1), offset + i, 1));
        }

        return plan;
    }

    private async ValueTask<HolderSnapshotInfo> ImportCoreAsync(
        MerchantId tenantId, DistributionId distributionId, HolderBalance[] holders, IProgress<HolderImportProgress>? progress, CancellationToken cancellationToken)
    {
        var (distribution, asset) = await LoadAsync(tenantId, distributionId, cancellationToken).ConfigureAwait(false);
        if (distribution.Status != DistributionStatus.Pending)
        {
            throw new PaymentsKitException(
                PaymentsKitErrorCodes.InvalidTransition,
                $"Distribution {distribution.Id} is {distribution.Status}; only a PENDING distribution takes a holder snapshot.",
                new Dictionary<string, object?> { ["lifecycle"] = "distribution", ["from"] = distribution.Status.ToString(), ["to"] = "snapshot" });
        }

        if (distribution.Snapshot is not null)
        {
            throw SnapshotExists(distribution.Id);
        }

        var totalBalance = ValidateAccounts(holders, asset);
        var amounts = Allocate(distribution, asset, holders);
        var paymentAsset = _assets.Get(asset.PaymentAsset);
        var allocated = 0L;
        var payable = 0;
        foreach (var amount in amounts)
        {
            allocated = checked(allocated + amount);
            payable += amount > 0 ? 1 : 0;
        }

        var now = _clock.GetCurrentInstant();
        try
        {
            await _holders.ImportAsync(KeyOf(distribution), holders, amounts, now, progress, cancellationToken).ConfigureAwait(false);
        }
        catch (PaymentsKitException ex) when (ex.Code == PaymentsKitErrorCodes.DuplicateKey)
        {
            throw SnapshotExists(distribution.Id, ex);
        }

        var info = new HolderSnapshotInfo(holders.Length, payable, totalBalance, Money.FromMinorUnits(allocated, paymentAsset), now);
        return await RecordSnapshotAsync(distribution, info, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Notes the snapshot on the distribution; the holder store already holds it, so an earlier note wins.</summary>
    private async ValueTask<HolderSnapshotInfo> RecordSnapshotAsync(Distribution distribution, HolderSnapshotInfo info, CancellationToken cancellationToken) =>
        await RunAsync(
            async (unit, ct) =>
            {
                var current = await RequireDistributionAsync(unit, distribution.TenantId, distribution.Id, ct).ConfigureAwait(false);
                if (current.Value.Snapshot is { } recorded)
                {
                    return recorded;
                }

                unit.Update(PayoutCollections.Distributions, current.Value with { Snapshot = info, UpdatedAt = info.ImportedAt }, current.Version);
                return info;
            },
            cancellationToken).ConfigureAwait(false);

    /// <summary>Checks the account ids (Allocation checks blanks, duplicates and balances) and that the balances fit the supply.</summary>
    private static long ValidateAccounts(HolderBalance[] holders, TokenAsset asset)
    {
        UInt128 total = 0;
        for (var i = 0; i < holders.Length; i++)
        {
            var account = holders[i].AccountId;
            if (account is null || account.Length > PayoutValidation.MaxAccountIdLength || !PayoutValidation.IsChainText(account))
            {
                PayoutValidation.HolderAccount(account, i);
            }

            if (holders[i].Balance > 0)
            {
                total += (ulong)holders[i].Balance;
            }
        }

        if (total > (ulong)asset.TotalSupply)
        {
            throw PaymentsKitException.InvalidArgument(
                "holders",
                total.ToString(CultureInfo.InvariantCulture),
                string.Create(CultureInfo.InvariantCulture, $"sum to more than the asset's total supply {asset.TotalSupply}"));
        }

        return (long)total;
    }

    /// <summary>Fixes every holder's amount from the snapshot, in the payment asset's smallest unit.</summary>
    private long[] Allocate(Distribution distribution, TokenAsset asset, HolderBalance[] holders)
    {
        var paymentAsset = _assets.Get(asset.PaymentAsset);
        return distribution.Payout switch
        {
            DistributionPayout.Fixed => Allocation.ProRata(MinorUnits(distribution.Amount!.Value, "amount"), holders),
            DistributionPayout.Percentage => Allocation.Percentage(MinorUnits(distribution.Amount!.Value, "amount"), distribution.Percentage!.Value, holders),
            DistributionPayout.PerShare => Allocation.PerShare(distribution.AmountPerShare!.Value, paymentAsset.Scale, asset.Decimals, holders),

            // A SNAPSHOT records holdings only; a zero total still validates every row.
            _ => Allocation.ProRata(0, holders),
        };
    }

    private static PaymentsKitException SnapshotExists(DistributionId distributionId, Exception? cause = null) =>
        new(PaymentsKitErrorCodes.DuplicateKey,
            $"Distribution {distributionId} already has a holder snapshot; its allocation is fixed and a distribution takes exactly one.",
            new Dictionary<string, object?> { ["field"] = "holders", ["key"] = "holder_snapshot", ["value"] = distributionId.ToString() },
            innerException: cause);
}
