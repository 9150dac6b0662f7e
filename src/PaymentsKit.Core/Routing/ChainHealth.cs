using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using NodaTime;
using PaymentsKit.Chains;
using PaymentsKit.Storage;

namespace PaymentsKit.Routing;

/// <summary>
/// One stored health measurement of a chain (seed 001 <c>chain_health_snapshots</c>), in the seed's units.
/// Figures are rounded to the seed's column precision toward "worse" (slower, more errors, more
/// congestion), so a snapshot never looks healthier than its measurement.
/// </summary>
/// <param name="Id">The snapshot id.</param>
/// <param name="Chain">The chain.</param>
/// <param name="Timestamp">When it was measured.</param>
/// <param name="AvgConfirmationSeconds">Typical time to confirmation, seconds (2 decimals).</param>
/// <param name="RpcErrorRate">Share of failed RPC calls, 0–1 (4 decimals).</param>
/// <param name="P95LatencyMs">95th percentile RPC latency, whole milliseconds.</param>
/// <param name="CongestionScore">0–1 (4 decimals).</param>
/// <param name="HealthStatus">Healthy, degraded or unhealthy.</param>
/// <param name="EstimatedFee">The fee of a simple transfer in the chain's fee asset.</param>
/// <param name="EstimatedFeeValue">That fee in the settlement asset (seed <c>estimated_fee_usd</c>).</param>
/// <param name="LatestBlock">The latest block, ledger or slot.</param>
public sealed record ChainHealthSnapshot(
    ChainHealthSnapshotId Id,
    [property: JsonConverter(typeof(ChainIdJsonConverter))] ChainId Chain,
    Instant Timestamp,
    decimal AvgConfirmationSeconds,
    decimal RpcErrorRate,
    int P95LatencyMs,
    decimal CongestionScore,
    ChainHealthStatus HealthStatus,
    Money EstimatedFee,
    Money EstimatedFeeValue,
    long LatestBlock)
{
    /// <summary>The snapshot as the route scorer reads it.</summary>
    public ChainHealthSample ToSample() => new(
        Chain,
        Timestamp,
        Duration.FromTicks((long)(AvgConfirmationSeconds * NodaConstants.TicksPerSecond)),
        RpcErrorRate,
        Duration.FromMilliseconds(P95LatencyMs),
        CongestionScore,
        EstimatedFee,
        LatestBlock,
        HealthStatus);
}

/// <summary>Collects, stores and reads chain health for routing.</summary>
public interface IChainHealthService
{
    /// <summary>
    /// Probes every routable chain through its primary provider and stores one snapshot each (for the
    /// Hosting worker). A probe that throws counts as an unhealthy measurement of a chain that was
    /// sampled before; a chain never sampled successfully is skipped (and logged). A chain whose sample
    /// cannot be recorded (no price for its fee asset, figures out of range) is logged and skipped too, so
    /// one misconfigured chain never stops the others from being sampled.
    /// </summary>
    /// <returns>The snapshots stored, in chain name order.</returns>
    ValueTask<IReadOnlyList<ChainHealthSnapshot>> SampleHealthAsync(CancellationToken cancellationToken = default);

    /// <summary>Stores a measurement taken elsewhere. A chain's latest is the one measured last, whenever it is recorded.</summary>
    /// <exception cref="PaymentsKitException">
    /// <c>invalid_argument</c> for figures out of range, an undefined status, or a measurement stamped more than a minute
    /// ahead of this host's clock; <c>unknown_asset</c> when the fee asset has no price.
    /// </exception>
    ValueTask<ChainHealthSnapshot> RecordAsync(ChainHealthSample sample, CancellationToken cancellationToken = default);

    /// <summary>The latest snapshot of every chain ever sampled, in chain name order.</summary>
    ValueTask<IReadOnlyList<ChainHealthSnapshot>> GetLatestAsync(CancellationToken cancellationToken = default);

    /// <summary>The latest snapshot of a chain; null if it was never sampled.</summary>
    ValueTask<ChainHealthSnapshot?> GetLatestAsync(ChainId chain, CancellationToken cancellationToken = default);

    /// <summary>A chain's snapshots, oldest measurement first (to the millisecond), a page at a time.</summary>
    ValueTask<Page<ChainHealthSnapshot>> ListAsync(ChainId chain, string? cursor, int limit, CancellationToken cancellationToken = default);
}

/// <summary>The <see cref="IChainHealthService"/> over the <see cref="IPaymentsStore"/>.</summary>
/// <remarks>
/// Snapshots are a time series partitioned by chain (the store's tenant column holds a value derived from
/// the chain name, so a chain's snapshots list in time order); one pointer record per chain names the
/// latest, so the latest-per-chain query reads one short list instead of scanning the series.
/// </remarks>
public sealed partial class ChainHealthService : IChainHealthService
{
    private const int ErrorRateDecimals = 4;
    private const int SecondsDecimals = 2;

    /// <summary>How far ahead of this host's clock a measurement may be stamped (another host's clock may run a little fast).</summary>
    private static readonly Duration MaxClockSkew = Duration.FromMinutes(1);

    private readonly IPaymentsStore _store;
    private readonly IClock _clock;
    private readonly IRoutingRpcProviders _providers;
    private readonly IFeePriceSource _prices;
    private readonly Asset _settlement;
    private readonly ILogger _logger;

    /// <summary>Creates the service.</summary>
    public ChainHealthService(
        IPaymentsStore store,
        IClock clock,
        IRoutingRpcProviders providers,
        IFeePriceSource prices,
        AssetRegistry assets,
        IOptions<RoutingOptions> options,
        ILogger<ChainHealthService>? logger = null)
    {
        _store = store ?? throw new ArgumentNullException(nameof(store));
        _clock = clock ?? throw new ArgumentNullException(nameof(clock));
        _providers = providers ?? throw new ArgumentNullException(nameof(providers));
        _prices = prices ?? throw new ArgumentNullException(nameof(prices));
        ArgumentNullException.ThrowIfNull(assets);
        ArgumentNullException.ThrowIfNull(options);
        _settlement = assets.Get(options.Value.SettlementAsset);
        _logger = (ILogger?)logger ?? NullLogger.Instance;
    }

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<ChainHealthSnapshot>> SampleHealthAsync(CancellationToken cancellationToken = default)
    {
        var stored = new List<ChainHealthSnapshot>();
        foreach (var chain in _providers.Chains)
        {
            var adapter = _providers.For(chain)[0].Adapter;
            ChainHealthSample sample;
            try
            {
                sample = await adapter.ProbeHealthAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (PaymentsKitException ex) when (ex.Code is PaymentsKitErrorCodes.ChainUnavailable or PaymentsKitErrorCodes.TransactionRejected)
            {
                var previous = await GetLatestAsync(chain, cancellationToken).ConfigureAwait(false);
                if (previous is null)
                {
                    LogUnsampled(_logger, chain.Value, ex.Code);
                    continue;
                }

                sample = previous.ToSample() with { MeasuredAt = _clock.GetCurrentInstant(), RpcErrorRate = 1m, Status = ChainHealthStatus.Unhealthy };
            }

            try
            {
                stored.Add(await RecordAsync(sample, cancellationToken).ConfigureAwait(false));
            }
            catch (PaymentsKitException ex) when (ex.Code != PaymentsKitErrorCodes.StorageFailure)
            {
                // A chain the host cannot price or whose probe reported nonsense keeps its last snapshot (and goes stale, so
                // routing stops trusting it); the other chains are still sampled.
                LogUnrecorded(_logger, chain.Value, ex.Code, ex.Message);
            }
        }

        return stored;
    }

    /// <inheritdoc />
    public async ValueTask<ChainHealthSnapshot> RecordAsync(ChainHealthSample sample, CancellationToken cancellationToken = default)
    {
        Guard.NotNull(sample, "sample");
        if (sample.Chain.Value is null)
        {
            throw PaymentsKitException.InvalidArgument("sample.chain", null, "is required");
        }

        if (!Enum.IsDefined(sample.Status))
        {
            throw PaymentsKitException.InvalidArgument("sample.status", (int)sample.Status, "is not a health status");
        }

        // A sample from the future would stay the chain's latest until the clock caught up, hiding every real measurement.
        var now = _clock.GetCurrentInstant();
        if (sample.MeasuredAt > now + MaxClockSkew)
        {
            throw PaymentsKitException.InvalidArgument("sample.measured_at", sample.MeasuredAt, $"is more than {MaxClockSkew.TotalSeconds:0} s ahead of this host's clock ({now})");
        }

        Unit(sample.RpcErrorRate, "sample.rpc_error_rate");
        Unit(sample.Congestion, "sample.congestion");
        if (sample.ConfirmationTime < Duration.Zero || sample.P95Latency < Duration.Zero || sample.P95Latency > Duration.FromDays(1)
            || sample.ConfirmationTime > Duration.FromDays(365))
        {
            throw PaymentsKitException.InvalidArgument("sample", sample.Chain.Value, "durations must be non-negative (latency at most a day, confirmation at most a year)");
        }

        if (sample.FeeEstimate.IsNegative)
        {
            throw PaymentsKitException.InvalidArgument("sample.fee_estimate", sample.FeeEstimate, "must not be negative");
        }

        var price = await _prices.GetPriceAsync(sample.FeeEstimate.Asset, _settlement, cancellationToken).ConfigureAwait(false);
        var feeValue = FeeMath.ToSettlement(sample.FeeEstimate, price, _settlement);
        if (feeValue.Amount > QuoteService.MaxAmount)
        {
            throw PaymentsKitException.InvalidArgument("sample.fee_estimate", sample.FeeEstimate, $"is worth {feeValue}, more than the {QuoteService.MaxAmount} a fee may be");
        }

        var snapshot = new ChainHealthSnapshot(
            // Stamped with the measurement's instant, not the recording's, so a chain's series lists in measurement order
            // even when a measurement is recorded late.
            ChainHealthSnapshotId.FromGuid(TypedId.Version7(sample.MeasuredAt)),
            sample.Chain,
            sample.MeasuredAt,
            decimal.Round(sample.ConfirmationTime.BclCompatibleTicks / (decimal)NodaConstants.TicksPerSecond, SecondsDecimals, MidpointRounding.ToPositiveInfinity),
            decimal.Round(sample.RpcErrorRate, ErrorRateDecimals, MidpointRounding.ToPositiveInfinity),
            (int)decimal.Ceiling(sample.P95Latency.BclCompatibleTicks / (decimal)NodaConstants.TicksPerMillisecond),
            decimal.Round(sample.Congestion, ErrorRateDecimals, MidpointRounding.ToPositiveInfinity),
            sample.Status,
            sample.FeeEstimate,
            feeValue,
            sample.LatestBlock);
        return await _store.ExecuteAsync(
            async (unit, ct) =>
            {
                unit.Insert(RoutingCollections.HealthSnapshots, snapshot);
                var pointerId = RoutingCollections.Partition(snapshot.Chain);
                var latest = await unit.GetAsync(RoutingCollections.LatestHealth, Guid.Empty, pointerId, ct).ConfigureAwait(false);
                if (latest is null)
                {
                    unit.Insert(RoutingCollections.LatestHealth, new ChainHealthLatest(pointerId, snapshot));
                }
                else if (latest.Value.Snapshot.Timestamp <= snapshot.Timestamp)
                {
                    unit.Update(RoutingCollections.LatestHealth, new ChainHealthLatest(pointerId, snapshot), latest.Version);
                }

                return snapshot;
            },
            cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<ChainHealthSnapshot>> GetLatestAsync(CancellationToken cancellationToken = default)
    {
        var latest = new List<ChainHealthSnapshot>();
        var unit = await _store.BeginAsync(cancellationToken).ConfigureAwait(false);
        await using (unit.ConfigureAwait(false))
        {
            string? cursor = null;
            do
            {
                var page = await unit.ListAsync(RoutingCollections.LatestHealth, Guid.Empty, cursor, BufferedUnitOfWork.MaxPageSize, cancellationToken).ConfigureAwait(false);
                latest.AddRange(page.Items.Select(i => i.Value.Snapshot));
                cursor = page.NextCursor;
            }
            while (cursor is not null);
        }

        return [.. latest.OrderBy(s => s.Chain.Value, StringComparer.Ordinal)];
    }

    /// <inheritdoc />
    public async ValueTask<ChainHealthSnapshot?> GetLatestAsync(ChainId chain, CancellationToken cancellationToken = default)
    {
        var unit = await _store.BeginAsync(cancellationToken).ConfigureAwait(false);
        await using (unit.ConfigureAwait(false))
        {
            return await LatestAsync(unit, chain, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <inheritdoc />
    public async ValueTask<Page<ChainHealthSnapshot>> ListAsync(ChainId chain, string? cursor, int limit, CancellationToken cancellationToken = default)
    {
        if (chain.Value is null)
        {
            throw PaymentsKitException.InvalidArgument("chain", null, "is required");
        }

        var unit = await _store.BeginAsync(cancellationToken).ConfigureAwait(false);
        await using (unit.ConfigureAwait(false))
        {
            var page = await unit.ListAsync(RoutingCollections.HealthSnapshots, RoutingCollections.Partition(chain), cursor, limit, cancellationToken).ConfigureAwait(false);
            return new Page<ChainHealthSnapshot>([.. page.Items.Select(i => i.Value)], page.NextCursor);
        }
    }

    /// <summary>The latest snapshot of a chain, read in a unit of work.</summary>
    internal static async ValueTask<ChainHealthSnapshot?> LatestAsync(IUnitOfWork unit, ChainId chain, CancellationToken cancellationToken) =>
        chain.Value is null
            ? null
            : (await unit.GetAsync(RoutingCollections.LatestHealth, Guid.Empty, RoutingCollections.Partition(chain), cancellationToken).ConfigureAwait(false))?.Value.Snapshot;

    private static void Unit(decimal value, string field)
    {
        if (value is < 0m or > 1m)
        {
            throw PaymentsKitException.InvalidArgument(field, value, "must be between 0 and 1");
        }
    }

    [LoggerMessage(EventId = 503, Level = LogLevel.Error, Message = "Chain {Chain}'s health sample was not recorded ({Code}): {Reason}")]
    private static partial void LogUnrecorded(ILogger logger, string chain, string code, string reason);

    [LoggerMessage(EventId = 501, Level = LogLevel.Warning, Message = "Chain {Chain} was not sampled: its probe failed ({Code}) and it has no earlier snapshot")]
    private static partial void LogUnsampled(ILogger logger, string chain, string code);
}

/// <summary>The pointer to a chain's latest snapshot.</summary>
/// <param name="Id">Derived from the chain name.</param>
/// <param name="Snapshot">The latest snapshot.</param>
internal sealed record ChainHealthLatest(Guid Id, ChainHealthSnapshot Snapshot);

/// <summary>Writes a <see cref="ChainId"/> as its name.</summary>
internal sealed class ChainIdJsonConverter : JsonConverter<ChainId>
{
    public override ChainId Read(ref System.Text.Json.Utf8JsonReader reader, Type typeToConvert, System.Text.Json.JsonSerializerOptions options) =>
        reader.TokenType == System.Text.Json.JsonTokenType.String
            ? ChainId.Of(reader.GetString())
            : throw new System.Text.Json.JsonException("Expected a string for ChainId.");

    public override void Write(System.Text.Json.Utf8JsonWriter writer, ChainId value, System.Text.Json.JsonSerializerOptions options) =>
        writer.WriteStringValue(value.Value);
}
