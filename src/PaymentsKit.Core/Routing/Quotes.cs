using System.Text.Json.Serialization;
using Microsoft.Extensions.Options;
using NodaTime;
using PaymentsKit.Chains;
using PaymentsKit.Storage;

namespace PaymentsKit.Routing;

/// <summary>Where a payment would go on one chain.</summary>
/// <param name="Chain">The chain.</param>
/// <param name="Address">The recipient, in the chain adapter's canonical form.</param>
public sealed record QuoteDestination(
    [property: JsonConverter(typeof(ChainIdJsonConverter))] ChainId Chain,
    string Address);

/// <summary>One scored chain of a quote (seed 001 <c>quotes.candidate_routes</c>).</summary>
/// <param name="Chain">The chain.</param>
/// <param name="Rank">1 for the best eligible chain, counting on through the excluded ones.</param>
/// <param name="Score">0–1, higher is better; 0 when excluded.</param>
/// <param name="Exclusion">Why the chain cannot be used, or <see cref="RouteExclusion.None"/>.</param>
/// <param name="EstimatedFee">The fee reserved for it (estimate × headroom) in the settlement asset.</param>
/// <param name="EstimatedFeeNative">That fee in the chain's fee asset; null when no health is known.</param>
/// <param name="FeePrice">The fee asset's price in the settlement asset when quoted.</param>
/// <param name="TreasuryAvailable">The wallet's available balance when quoted.</param>
/// <param name="HealthStatus">The chain's latest health verdict; null when none is known.</param>
/// <param name="HealthSnapshotId">The health snapshot scored.</param>
public sealed record QuoteCandidate(
    [property: JsonConverter(typeof(ChainIdJsonConverter))] ChainId Chain,
    int Rank,
    decimal Score,
    RouteExclusion Exclusion,
    Money EstimatedFee,
    Money? EstimatedFeeNative,
    decimal FeePrice,
    Money TreasuryAvailable,
    ChainHealthStatus? HealthStatus,
    ChainHealthSnapshotId? HealthSnapshotId)
{
    /// <summary>Whether the chain can be used.</summary>
    [JsonIgnore]
    public bool IsEligible => Exclusion == RouteExclusion.None;
}

/// <summary>
/// A priced, scored offer to route a payment (seed 001 <c>quotes</c>), valid until <see cref="ExpiresAt"/>.
/// </summary>
/// <param name="Id">The quote id.</param>
/// <param name="MerchantId">The merchant that asked.</param>
/// <param name="Amount">The payment, in the settlement asset.</param>
/// <param name="Priority">What the scoring optimised for.</param>
/// <param name="Destinations">The recipient on each candidate chain.</param>
/// <param name="CandidateRoutes">Every candidate, eligible ones first, best first.</param>
/// <param name="RecommendedChain">The best eligible chain.</param>
/// <param name="ExpiresAt">After this instant the quote cannot be used (<c>expired</c>).</param>
/// <param name="CreatedAt">When it was quoted.</param>
public sealed record Quote(
    QuoteId Id,
    MerchantId MerchantId,
    Money Amount,
    RoutePriority Priority,
    IReadOnlyList<QuoteDestination> Destinations,
    IReadOnlyList<QuoteCandidate> CandidateRoutes,
    [property: JsonPropertyOrder(1)] [property: JsonConverter(typeof(ChainIdJsonConverter))] ChainId RecommendedChain,
    [property: JsonPropertyOrder(1)] Instant ExpiresAt,
    [property: JsonPropertyOrder(1)] Instant CreatedAt)
{
    // The generated equality compares fields: these compare by content where the properties' types would not.
    // Declared here, these properties would serialize after the positional ones: JsonPropertyOrder keeps the parameter order.
    private readonly ValueList<QuoteDestination> _destinations = ValueList<QuoteDestination>.Of(Destinations);

    private readonly ValueList<QuoteCandidate> _candidateRoutes = ValueList<QuoteCandidate>.Of(CandidateRoutes);

    /// <summary>The recipient on each candidate chain. Kept as an immutable copy that compares by content.</summary>
    public IReadOnlyList<QuoteDestination> Destinations
    {
        get => _destinations;
        init => _destinations = ValueList<QuoteDestination>.Of(value);
    }

    /// <summary>Every candidate, eligible ones first, best first. Kept as an immutable copy that compares by content.</summary>
    public IReadOnlyList<QuoteCandidate> CandidateRoutes
    {
        get => _candidateRoutes;
        init => _candidateRoutes = ValueList<QuoteCandidate>.Of(value);
    }

    /// <summary>Whether the quote can no longer be used at <paramref name="now"/>.</summary>
    public bool IsExpiredAt(Instant now) => now >= ExpiresAt;
}

/// <summary>Asks for a quote.</summary>
/// <param name="Amount">A positive amount in the settlement asset.</param>
/// <param name="Priority">What to optimise for.</param>
/// <param name="Destinations">The recipient on each chain the payment may take (1 per chain, at least one).</param>
public sealed record CreateQuoteRequest(Money Amount, RoutePriority Priority, IReadOnlyList<QuoteDestination> Destinations)
{
    // The generated equality compares fields: these compare by content where the properties' types would not.
    private readonly ValueList<QuoteDestination> _destinations = ValueList<QuoteDestination>.Of(Destinations);

    /// <summary>The recipient on each chain the payment may take (1 per chain, at least one). Kept as an immutable copy that compares by content.</summary>
    public IReadOnlyList<QuoteDestination> Destinations
    {
        get => _destinations;
        init => _destinations = ValueList<QuoteDestination>.Of(value);
    }
}

/// <summary>Prices and scores payments across chains.</summary>
public interface IQuoteService
{
    /// <summary>
    /// Scores every destination chain from its latest health and the treasury's available balance and stores
    /// the quote with the recommendation.
    /// </summary>
    /// <exception cref="PaymentsKitException">
    /// <c>not_found</c> (merchant), <c>asset_mismatch</c>, <c>amount_out_of_range</c>, <c>invalid_argument</c>
    /// (no destinations, a chain twice), <c>unknown_chain</c>, <c>invalid_address</c>, <c>unknown_asset</c> (no fee price),
    /// <c>no_route</c> when every chain is excluded (the context lists why).
    /// </exception>
    ValueTask<Quote> CreateAsync(MerchantId merchantId, CreateQuoteRequest request, CancellationToken cancellationToken = default);

    /// <summary>Reads a quote of the merchant.</summary>
    /// <exception cref="PaymentsKitException"><c>not_found</c>.</exception>
    ValueTask<Quote> GetAsync(MerchantId merchantId, QuoteId quoteId, CancellationToken cancellationToken = default);
}

/// <summary>The <see cref="IQuoteService"/> over the <see cref="IPaymentsStore"/>.</summary>
public sealed class QuoteService : IQuoteService
{
    /// <summary>The most destinations a quote takes.</summary>
    public const int MaxDestinations = 16;

    /// <summary>
    /// The largest amount (and fee value) in the settlement asset the router takes, <see cref="AmountLimit.Max"/>: the
    /// seed's <c>numeric(18,6)</c> columns (<c>amount_usd</c>, <c>estimated_fee_usd</c>) hold no more, so every store
    /// refuses the same amounts.
    /// </summary>
    public const decimal MaxAmount = AmountLimit.Max;

    // Merchants are never deleted, so one that exists is remembered.
    private readonly BoundedMemory<Guid, bool> _merchants = new(65_536);
    private readonly IPaymentsStore _store;
    private readonly IClock _clock;
    private readonly IRoutingRpcProviders _providers;
    private readonly IFeePriceSource _prices;
    private readonly TreasuryService _treasury;
    private readonly RoutingOptions _options;
    private readonly Asset _asset;

    /// <summary>Creates the service.</summary>
    public QuoteService(
        IPaymentsStore store,
        IClock clock,
        IRoutingRpcProviders providers,
        IFeePriceSource prices,
        TreasuryService treasury,
        IOptions<RoutingOptions> options)
    {
        _store = store ?? throw new ArgumentNullException(nameof(store));
        _clock = clock ?? throw new ArgumentNullException(nameof(clock));
        _providers = providers ?? throw new ArgumentNullException(nameof(providers));
        _prices = prices ?? throw new ArgumentNullException(nameof(prices));
        _treasury = treasury ?? throw new ArgumentNullException(nameof(treasury));
        _options = (options ?? throw new ArgumentNullException(nameof(options))).Value;
        _asset = treasury.Asset;
    }

    /// <inheritdoc />
    public async ValueTask<Quote> CreateAsync(MerchantId merchantId, CreateQuoteRequest request, CancellationToken cancellationToken = default)
    {
        Guard.NotNull(request, "request");
        RouteScorer.ToWireName(request.Priority);
        RequireAmount(request.Amount);
        var destinations = NormalizeDestinations(request.Destinations);

        // Prices first: they are I/O for a real price source and must not run inside a retried unit of work.
        var prices = new Dictionary<ChainId, decimal>();
        var unit = await _store.BeginAsync(cancellationToken).ConfigureAwait(false);
        List<(ChainId Chain, ChainHealthSnapshot? Health, Money Available)> inputs = [];
        await using (unit.ConfigureAwait(false))
        {
            // Everything the quote reads, in one round trip.
            var chains = destinations.Select(d => d.Chain).ToList();
            var reads = await _treasury.WalletReadsAsync(chains, cancellationToken).ConfigureAwait(false);
            reads.AddRange(chains.Select(c => RoutingCollections.LatestHealth.Ref(RoutingCollections.Partition(c))));
            if (!_merchants.TryGet(merchantId.Value, out _))
            {
                reads.Add(RoutingCollections.Merchants.Ref(merchantId.Value));
            }

            await unit.PrefetchAsync(reads, cancellationToken).ConfigureAwait(false);
            if (!_merchants.TryGet(merchantId.Value, out _))
            {
                await RoutingMerchantService.LoadAsync(unit, merchantId, cancellationToken).ConfigureAwait(false);
                _merchants.Remember(merchantId.Value, true);
            }

            foreach (var destination in destinations)
            {
                var health = await ChainHealthService.LatestAsync(unit, destination.Chain, cancellationToken).ConfigureAwait(false);
                inputs.Add((destination.Chain, health, await _treasury.AvailableAsync(unit, destination.Chain, cancellationToken).ConfigureAwait(false)));
            }
        }

        var now = _clock.GetCurrentInstant();
        foreach (var (chain, health, _) in inputs)
        {
            if (IsFresh(health, now))
            {
                prices[chain] = await _prices.GetPriceAsync(health!.EstimatedFee.Asset, _asset, cancellationToken).ConfigureAwait(false);
            }
        }

        var candidates = Score(request.Amount, request.Priority, inputs, prices, now);
        if (!candidates[0].IsEligible)
        {
            throw new PaymentsKitException(
                PaymentsKitErrorCodes.NoRoute,
                $"No chain can carry {request.Amount}: " + string.Join(", ", candidates.Select(c => $"{c.Chain} is {c.Exclusion.ToWireName()}")) + ".",
                new Dictionary<string, object?>
                {
                    ["amount"] = request.Amount.ToString(),
                    ["exclusions"] = candidates.ToDictionary(c => c.Chain.Value, c => c.Exclusion.ToWireName()),
                });
        }

        var quote = new Quote(
            QuoteId.New(_clock),
            merchantId,
            request.Amount,
            request.Priority,
            destinations,
            candidates,
            candidates[0].Chain,
            now + _options.QuoteTtl,
            now);
        await _store.ExecuteAsync(
            (u, _) =>
            {
                u.Insert(RoutingCollections.Quotes, quote);
                return ValueTask.FromResult(quote);
            },
            cancellationToken).ConfigureAwait(false);

        // Stored now, so the intent made from it next need not read it back.
        QuoteMemory.Of(_store).Remember(quote);
        return quote;
    }

    /// <inheritdoc />
    public async ValueTask<Quote> GetAsync(MerchantId merchantId, QuoteId quoteId, CancellationToken cancellationToken = default)
    {
        var unit = await _store.BeginAsync(cancellationToken).ConfigureAwait(false);
        await using (unit.ConfigureAwait(false))
        {
            return await LoadAsync(unit, merchantId, quoteId, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Reads a quote of a merchant in a unit of work.</summary>
    internal static async ValueTask<Quote> LoadAsync(IUnitOfWork unit, MerchantId merchantId, QuoteId quoteId, CancellationToken cancellationToken) =>
        (merchantId.Value == Guid.Empty
            ? null
            : await unit.GetAsync(RoutingCollections.Quotes, merchantId.Value, quoteId.Value, cancellationToken).ConfigureAwait(false))?.Value
        ?? throw new PaymentsKitException(
            PaymentsKitErrorCodes.NotFound,
            $"Quote {quoteId} does not exist.",
            new Dictionary<string, object?> { ["field"] = "quote_id", ["value"] = quoteId.ToString() });

    /// <summary>Whether a snapshot is recent enough to route on.</summary>
    internal bool IsFresh(ChainHealthSnapshot? health, Instant now) => health is not null && now - health.Timestamp <= _options.HealthMaxAge;

    private List<QuoteCandidate> Score(
        Money amount,
        RoutePriority priority,
        List<(ChainId Chain, ChainHealthSnapshot? Health, Money Available)> inputs,
        Dictionary<ChainId, decimal> prices,
        Instant now)
    {
        var scorable = new List<(ChainId Chain, ChainHealthSnapshot Health, Money Available, Money Fee, Money FeeNative)>();
        var stale = new List<QuoteCandidate>();
        foreach (var (chain, health, available) in inputs)
        {
            if (!prices.TryGetValue(chain, out var price))
            {
                stale.Add(new QuoteCandidate(chain, 0, 0m, RouteExclusion.NoRecentHealth, Money.Zero(_asset), null, 0m, available, health?.HealthStatus, health?.Id));
                continue;
            }

            var maxFee = FeeMath.MaxFee(health!.EstimatedFee, _options.FeeHeadroom);
            scorable.Add((chain, health, available, FeeMath.ToSettlement(maxFee, price, _asset), maxFee));
        }

        var scored = new RouteScore[scorable.Count];
        var candidates = new RouteCandidate[scorable.Count];
        for (var i = 0; i < scorable.Count; i++)
        {
            candidates[i] = new RouteCandidate(scorable[i].Health.ToSample(), scorable[i].Available, scorable[i].Fee);
        }

        RouteScorer.Score(priority, amount, candidates, scored, _options.Scoring);
        var result = new List<QuoteCandidate>(inputs.Count);
        foreach (var score in scored)
        {
            var input = scorable.First(s => s.Chain == score.Chain);
            result.Add(new QuoteCandidate(
                score.Chain, result.Count + 1, score.Score, score.Exclusion, input.Fee, input.FeeNative, prices[score.Chain], input.Available,
                input.Health.HealthStatus, input.Health.Id));
        }

        // Chains without recent health rank after every scored one, by name like the scorer's excluded ones.
        foreach (var candidate in stale.OrderBy(c => c.Chain.Value, StringComparer.Ordinal))
        {
            result.Add(candidate with { Rank = result.Count + 1 });
        }

        return result;
    }

    private void RequireAmount(Money amount)
    {
        if (amount.Asset != _asset)
        {
            throw new PaymentsKitException(
                PaymentsKitErrorCodes.AssetMismatch,
                $"The amount is in {amount.Asset.Code} but payments settle in {_asset.Code}.",
                new Dictionary<string, object?> { ["field"] = "amount", ["left"] = amount.Asset.Code, ["right"] = _asset.Code });
        }

        AmountLimit.RequirePositive(amount, "amount");
    }

    private List<QuoteDestination> NormalizeDestinations(IReadOnlyList<QuoteDestination>? destinations)
    {
        if (destinations is null || destinations.Count == 0 || destinations.Count > MaxDestinations)
        {
            throw PaymentsKitException.InvalidArgument("destinations", destinations?.Count ?? 0, $"must list 1 to {MaxDestinations} chains");
        }

        var normalized = new List<QuoteDestination>(destinations.Count);
        foreach (var destination in destinations)
        {
            Guard.NotNull(destination, "destinations[]");
            if (destination.Chain.Value is null)
            {
                throw PaymentsKitException.InvalidArgument("destinations[].chain", null, "is required");
            }

            if (normalized.Any(d => d.Chain == destination.Chain))
            {
                throw PaymentsKitException.InvalidArgument("destinations", destination.Chain.Value, "lists the same chain twice");
            }

            var adapter = _providers.For(destination.Chain)[0].Adapter;
            normalized.Add(new QuoteDestination(destination.Chain, adapter.ParseAddress(destination.Address).Value));
        }

        return normalized;
    }
}
