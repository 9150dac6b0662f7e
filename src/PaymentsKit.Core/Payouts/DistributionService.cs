using System.Globalization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using NodaTime;
using PaymentsKit.Ledger;
using PaymentsKit.Storage;

namespace PaymentsKit.Payouts;

/// <summary>
/// The <see cref="IDistributionService"/>: assets, distributions and batch records in an <see cref="IPaymentsStore"/>,
/// holder snapshots in an <see cref="IHolderSnapshotStore"/>, payouts through an <see cref="IPayoutExecutor"/>
/// and posted to the <see cref="ILedger"/>.
/// </summary>
public sealed partial class DistributionService : IDistributionService
{
    private const int MaxNameLength = 200;
    private const int MaxSymbolLength = 32;
    private const int MaxChainIdLength = 64;
    private const int MaxConceptLength = 200;
    private const int MaxTriggerLength = 500;

    private readonly IPaymentsStore _store;
    private readonly IHolderSnapshotStore _holders;
    private readonly IDueDistributionIndex _due;
    private readonly IPayoutExecutor _executor;
    private readonly ILedger _ledger;
    private readonly IClock _clock;
    private readonly AssetRegistry _assets;
    private readonly PayoutOptions _options;
    private readonly IHolderSnapshotSource? _source;
    private readonly ILogger _logger;

    /// <summary>Creates the service.</summary>
    /// <param name="store">Where assets, distributions, batch records and ledger postings are kept.</param>
    /// <param name="holders">Where holder snapshots and per-holder payment records are kept.</param>
    /// <param name="due">Finds due distributions.</param>
    /// <param name="executor">Pays batches.</param>
    /// <param name="ledger">Receives each batch's payouts.</param>
    /// <param name="clock">Stamps changes and decides what is due.</param>
    /// <param name="assets">Resolves payment assets.</param>
    /// <param name="options">Batch size, attempts and default time zone; defaults when null.</param>
    /// <param name="source">Supplies a snapshot for a due distribution that has none; optional.</param>
    /// <param name="logger">Logs batch outcomes; optional.</param>
    /// <exception cref="PaymentsKitException"><c>invalid_argument</c> for bad options or an executor limit below 1.</exception>
    public DistributionService(
        IPaymentsStore store,
        IHolderSnapshotStore holders,
        IDueDistributionIndex due,
        IPayoutExecutor executor,
        ILedger ledger,
        IClock clock,
        AssetRegistry assets,
        PayoutOptions? options = null,
        IHolderSnapshotSource? source = null,
        ILogger<DistributionService>? logger = null)
    {
        _store = store ?? throw new ArgumentNullException(nameof(store));
        _holders = holders ?? throw new ArgumentNullException(nameof(holders));
        _due = due ?? throw new ArgumentNullException(nameof(due));
        _executor = executor ?? throw new ArgumentNullException(nameof(executor));
        _ledger = ledger ?? throw new ArgumentNullException(nameof(ledger));
        _clock = clock ?? throw new ArgumentNullException(nameof(clock));
        _assets = assets ?? throw new ArgumentNullException(nameof(assets));
        _options = options ?? new PayoutOptions();
        _options.Validate();
        _source = source;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        if (executor.MaxTransfersPerBatch < 1)
        {
            throw PaymentsKitException.InvalidArgument("executor.max_transfers_per_batch", executor.MaxTransfersPerBatch, "must be at least 1");
        }

        MaxHoldersPerBatch = Math.Min(executor.MaxTransfersPerBatch, _options.MaxHoldersPerBatch ?? int.MaxValue);
    }

    /// <inheritdoc />
    public int MaxHoldersPerBatch { get; }

    /// <inheritdoc />
    public ValueTask<TokenAsset> CreateAssetAsync(MerchantId tenantId, CreateTokenAssetRequest request, CancellationToken cancellationToken = default)
    {
        PayoutValidation.Tenant(tenantId);
        Guard.NotNull(request, "request");
        var tokenId = PayoutValidation.ChainText(request!.TokenId, "token_id", MaxChainIdLength);
        var name = Guard.Text(request.Name, "name", MaxNameLength);
        var symbol = Guard.Text(request.Symbol, "symbol", MaxSymbolLength);
        if (request.TotalSupply < 0)
        {
            throw PaymentsKitException.InvalidArgument("total_supply", request.TotalSupply, "must not be negative");
        }

        if (request.Decimals is < 0 or > Asset.MaxScale)
        {
            throw PaymentsKitException.InvalidArgument(
                "decimals", request.Decimals, string.Create(CultureInfo.InvariantCulture, $"must be between 0 and {Asset.MaxScale}"));
        }

        var lifecycle = request.LifecycleContractId is null ? null : PayoutValidation.ChainText(request.LifecycleContractId, "lifecycle_contract_id", MaxChainIdLength);
        var paymentToken = request.PaymentTokenId is null ? null : PayoutValidation.ChainText(request.PaymentTokenId, "payment_token_id", MaxChainIdLength);
        var paymentAsset = RegisteredAsset(Guard.NotNull(request.PaymentAsset, "payment_asset"));
        return RunAsync(
            async (unit, ct) =>
            {
                var taken = await unit.FindAsync(PayoutCollections.Assets, tenantId.Value, PayoutCollections.TokenKey, PayoutCollections.TokenIdKey(tenantId, tokenId), ct)
                    .ConfigureAwait(false);
                if (taken is not null)
                {
                    throw new PaymentsKitException(
                        PaymentsKitErrorCodes.DuplicateKey,
                        $"Token '{tokenId}' is already imported as {taken.Value.Id}; token ids are unique per tenant.",
                        new Dictionary<string, object?> { ["field"] = "token_id", ["value"] = tokenId, ["asset"] = taken.Value.Id.ToString() });
                }

                var now = _clock.GetCurrentInstant();
                var asset = new TokenAsset(
                    TokenAssetId.New(_clock), tenantId, tokenId, name, symbol, request.TotalSupply, request.Decimals, lifecycle, paymentToken, paymentAsset.Code, null, null, now, now);
                unit.Insert(PayoutCollections.Assets, asset);
                return asset;
            },
            cancellationToken);
    }

    /// <inheritdoc />
    public async ValueTask<TokenAsset> GetAssetAsync(MerchantId tenantId, TokenAssetId assetId, CancellationToken cancellationToken = default)
    {
        PayoutValidation.Tenant(tenantId);
        var unit = await _store.BeginAsync(cancellationToken).ConfigureAwait(false);
        await using (unit.ConfigureAwait(false))
        {
            return (await RequireAssetAsync(unit, tenantId, assetId, cancellationToken).ConfigureAwait(false)).Value;
        }
    }

    /// <inheritdoc />
    public async ValueTask<TokenAsset?> FindAssetByTokenIdAsync(MerchantId tenantId, string tokenId, CancellationToken cancellationToken = default)
    {
        PayoutValidation.Tenant(tenantId);
        PayoutValidation.ChainText(tokenId, "token_id", MaxChainIdLength);
        var unit = await _store.BeginAsync(cancellationToken).ConfigureAwait(false);
        await using (unit.ConfigureAwait(false))
        {
            var found = await unit.FindAsync(PayoutCollections.Assets, tenantId.Value, PayoutCollections.TokenKey, PayoutCollections.TokenIdKey(tenantId, tokenId), cancellationToken)
                .ConfigureAwait(false);
            return found?.Value;
        }
    }

    /// <inheritdoc />
    public ValueTask<TokenAsset> RecordAssetSyncAsync(
        MerchantId tenantId, TokenAssetId assetId, TokenSyncStatus status, long? totalSupply = null, CancellationToken cancellationToken = default)
    {
        PayoutValidation.Tenant(tenantId);
        if (!Enum.IsDefined(status))
        {
            throw PaymentsKitException.InvalidArgument("sync_status", status, "must be SYNCED, SYNCING or FAILED");
        }

        if (totalSupply is < 0)
        {
            throw PaymentsKitException.InvalidArgument("total_supply", totalSupply, "must not be negative");
        }

        if (totalSupply is not null && status != TokenSyncStatus.Synced)
        {
            throw PaymentsKitException.InvalidArgument("total_supply", totalSupply, "may only be corrected by a SYNCED result");
        }

        return RunAsync(
            async (unit, ct) =>
            {
                var current = await RequireAssetAsync(unit, tenantId, assetId, ct).ConfigureAwait(false);
                var now = _clock.GetCurrentInstant();
                var updated = current.Value with
                {
                    SyncStatus = status,
                    LastSyncedAt = status == TokenSyncStatus.Synced ? now : current.Value.LastSyncedAt,
                    TotalSupply = totalSupply ?? current.Value.TotalSupply,
                    UpdatedAt = now,
                };
                unit.Update(PayoutCollections.Assets, updated, current.Version);
                return updated;
            },
            cancellationToken);
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<Distribution>> GetDueAsync(Instant now, int limit = 100, CancellationToken cancellationToken = default) =>
        GetDueAsync(now, limit, null, cancellationToken);

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<Distribution>> GetDueAsync(Instant now, int limit, DueDistribution? after, CancellationToken cancellationToken = default) =>
        (await GetDuePageAsync(now, limit, after, cancellationToken).ConfigureAwait(false)).Distributions;

    /// <inheritdoc />
    public async ValueTask<DueDistributionPage> GetDuePageAsync(Instant now, int limit, DueDistribution? after, CancellationToken cancellationToken = default)
    {
        PayoutValidation.Limit(limit);
        var due = await _due.ListDueAsync(now, limit, after, cancellationToken).ConfigureAwait(false);
        var result = new List<Distribution>(due.Count);
        var unit = await _store.BeginAsync(cancellationToken).ConfigureAwait(false);
        await using (unit.ConfigureAwait(false))
        {
            foreach (var entry in due)
            {
                // The index may lag a commit by a moment (or scan one in flight): the record decides.
                var found = await unit.GetAsync(PayoutCollections.Distributions, entry.TenantId.Value, entry.Id.Value, cancellationToken).ConfigureAwait(false);
                if (found?.Value is { } distribution && distribution.IsDueAt(now))
                {
                    result.Add(distribution);
                }
            }
        }

        return new DueDistributionPage(result, due.Count == 0 ? after : due[^1], due.Count < limit);
    }

    /// <summary>
    /// Runs an operation in its own unit of work. Lost version races are retried by
    /// <see cref="PaymentsStoreExtensions.ExecuteAsync"/>; a lost unique-key race is rerun once so its
    /// checks see the winner.
    /// </summary>
    private async ValueTask<T> RunAsync<T>(Func<IUnitOfWork, CancellationToken, ValueTask<T>> operation, CancellationToken cancellationToken)
    {
        try
        {
            return await _store.ExecuteAsync(operation, cancellationToken).ConfigureAwait(false);
        }
        catch (PaymentsKitException ex) when (ex.Code == PaymentsKitErrorCodes.DuplicateKey)
        {
            return await _store.ExecuteAsync(operation, cancellationToken).ConfigureAwait(false);
        }
    }

    private Asset RegisteredAsset(Asset asset)
    {
        if (!_assets.TryGet(asset.Code, out var registered))
        {
            throw new PaymentsKitException(
                PaymentsKitErrorCodes.UnknownAsset,
                $"Asset '{asset.Code}' is not registered; add it to PaymentsKitOptions.Assets before paying in it.",
                new Dictionary<string, object?> { ["field"] = "payment_asset", ["asset"] = asset.Code });
        }

        if (!registered.Equals(asset))
        {
            throw new PaymentsKitException(
                PaymentsKitErrorCodes.AssetConflict,
                string.Create(CultureInfo.InvariantCulture, $"Asset '{asset.Code}' (scale {asset.Scale}) differs from the registered definition (scale {registered.Scale})."),
                new Dictionary<string, object?> { ["field"] = "payment_asset", ["asset"] = asset.Code });
        }

        return registered;
    }

    private static async ValueTask<Versioned<TokenAsset>> RequireAssetAsync(IUnitOfWork unit, MerchantId tenantId, TokenAssetId assetId, CancellationToken cancellationToken)
    {
        if (assetId.Value == Guid.Empty)
        {
            throw PaymentsKitException.InvalidArgument("asset_id", assetId, "must not be empty");
        }

        return await unit.GetAsync(PayoutCollections.Assets, tenantId.Value, assetId.Value, cancellationToken).ConfigureAwait(false)
            ?? throw PayoutValidation.NotFound("token asset", assetId);
    }

    private static async ValueTask<Versioned<Distribution>> RequireDistributionAsync(
        IUnitOfWork unit, MerchantId tenantId, DistributionId distributionId, CancellationToken cancellationToken)
    {
        if (distributionId.Value == Guid.Empty)
        {
            throw PaymentsKitException.InvalidArgument("distribution_id", distributionId, "must not be empty");
        }

        return await unit.GetAsync(PayoutCollections.Distributions, tenantId.Value, distributionId.Value, cancellationToken).ConfigureAwait(false)
            ?? throw PayoutValidation.NotFound("distribution", distributionId);
    }

    /// <summary>Reads a distribution with its asset.</summary>
    private async ValueTask<(Distribution Distribution, TokenAsset Asset)> LoadAsync(MerchantId tenantId, DistributionId distributionId, CancellationToken cancellationToken)
    {
        PayoutValidation.Tenant(tenantId);
        var unit = await _store.BeginAsync(cancellationToken).ConfigureAwait(false);
        await using (unit.ConfigureAwait(false))
        {
            var distribution = (await RequireDistributionAsync(unit, tenantId, distributionId, cancellationToken).ConfigureAwait(false)).Value;
            var asset = (await RequireAssetAsync(unit, tenantId, distribution.AssetId, cancellationToken).ConfigureAwait(false)).Value;
            return (distribution, asset);
        }
    }

    private static HolderSnapshotKey KeyOf(Distribution distribution) => new(distribution.TenantId, distribution.AssetId, distribution.Id);

    private static Distribution Transition(Distribution distribution, DistributionStatus to, string reason, Instant now) =>
        distribution with
        {
            Status = DistributionLifecycle.Machine.Transition(distribution.Status, to),
            Transitions = [.. distribution.Transitions, new DistributionTransition(distribution.Status, to, now, reason)],
            UpdatedAt = now,
        };

    [LoggerMessage(EventId = 801, Level = LogLevel.Information, Message = "Payout batch {BatchNumber} of {DistributionId}: {Paid} paid, {Failed} failed, transaction {TransactionId}")]
    private static partial void LogBatch(ILogger logger, int batchNumber, string distributionId, int paid, int failed, string? transactionId);

    [LoggerMessage(EventId = 802, Level = LogLevel.Warning, Message = "Payout batch {BatchNumber} of {DistributionId} has an unknown outcome; it is re-executed under the same key when the distribution runs again")]
    private static partial void LogUnknownOutcome(ILogger logger, Exception exception, int batchNumber, string distributionId);

    [LoggerMessage(EventId = 803, Level = LogLevel.Information, Message = "Distribution {DistributionId} finished {Status}: {Paid} holders paid, {Failed} unpaid")]
    private static partial void LogFinished(ILogger logger, string distributionId, DistributionStatus status, int paid, int failed);

    [LoggerMessage(EventId = 804, Level = LogLevel.Warning, Message = "Payout batch {BatchNumber} of {DistributionId}: {Strangers}; its own holders are recorded as the executor reported them")]
    private static partial void LogStrangers(ILogger logger, int batchNumber, string distributionId, string strangers);

    [LoggerMessage(EventId = 805, Level = LogLevel.Error, Message = "Payout batch {BatchNumber} of {DistributionId} was paid but the ledger refused its posting ({Code}); the payment is recorded with the posting outstanding and the run stops")]
    private static partial void LogPostingRefused(ILogger logger, Exception exception, int batchNumber, string distributionId, string code);
}
