using System.Runtime.CompilerServices;
using System.Globalization;
using Microsoft.Extensions.Options;
using NodaTime;
using PaymentsKit.Chains;
using PaymentsKit.DependencyInjection;
using PaymentsKit.Json;
using PaymentsKit.Storage;

namespace PaymentsKit.Invoicing;

/// <summary>What every invoicing service shares: its dependencies and the rules they apply alike.</summary>
internal sealed class InvoicingContext(
    IPaymentsStore store,
    IClock clock,
    AssetRegistry assets,
    IChainAdapterRegistry chains,
    IOptions<InvoicingOptions> options,
    IOptions<PaymentsKitOptions> kitOptions,
    PaymentsKitJsonOptions json)
{
    public IPaymentsStore Store { get; } = store;

    public IClock Clock { get; } = clock;

    public AssetRegistry Assets { get; } = assets;

    public IChainAdapterRegistry Chains { get; } = chains;

    public InvoicingOptions Options { get; } = options.Value;

    public PaymentsKitJsonOptions Json { get; } = json;

    public int PageSize(int? limit) => InvoicingValidation.Limit(limit, kitOptions.Value.DefaultPageSize, BufferedUnitOfWork.MaxPageSize);

    public static async ValueTask<Merchant> RequireMerchantAsync(IUnitOfWork unit, MerchantId merchant, CancellationToken cancellationToken) =>
        (await unit.GetAsync(InvoicingCollections.Merchants, Guid.Empty, merchant.Value, cancellationToken).ConfigureAwait(false))?.Value
        ?? throw InvoicingValidation.NotFound("merchant", merchant);

    public async ValueTask<Merchant> RequireMerchantAsync(MerchantId merchant, CancellationToken cancellationToken)
    {
        var unit = await Store.BeginAsync(cancellationToken).ConfigureAwait(false);
        await using (unit.ConfigureAwait(false))
        {
            return await RequireMerchantAsync(unit, merchant, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Resolves an asset code and requires it to be payable on the merchant's chain.</summary>
    public Asset PayableAsset(Merchant merchant, string? code)
    {
        var asset = Assets.Get(code);
        return asset.Chain is null || asset.Chain == merchant.Chain
            ? asset
            : throw new PaymentsKitException(
                PaymentsKitErrorCodes.UnsupportedAsset,
                $"Asset '{asset.Code}' lives on {asset.Chain}, but merchant {merchant.Id} is paid on {merchant.Chain}.",
                new Dictionary<string, object?> { ["asset"] = asset.Code, ["assetChain"] = asset.Chain?.Value, ["chain"] = merchant.Chain.Value });
    }

    /// <summary>
    /// The least that settles <paramref name="amount"/> under the underpayment tolerance. Truncated, so a
    /// fraction of a minor unit never counts against the payer.
    /// </summary>
    public Money Required(Money amount) =>
        Options.UnderpaymentTolerancePercent == 0m
            ? amount
            : Money.Truncate(amount.Amount * (100m - Options.UnderpaymentTolerancePercent) / 100m, amount.Asset);

    /// <summary>A default expiry or a checked requested one: after now, within the maximum lifetime.</summary>
    public Instant InvoiceExpiry(Instant? requested, Instant now)
    {
        // Measured from now rather than added to it: a longest lifetime past the last instant (Duration.MaxValue: no limit)
        // would overflow.
        var expires = requested ?? Later(now, Options.DefaultInvoiceLifetime);
        if (expires <= now || expires - now > Options.MaxInvoiceLifetime)
        {
            throw PaymentsKitException.InvalidArgument(
                "expiresAt",
                expires,
                string.Create(CultureInfo.InvariantCulture, $"must be after now ({now}) and at most {Options.MaxInvoiceLifetime} later"));
        }

        return expires;
    }

    /// <summary><paramref name="at"/> plus <paramref name="by"/>, or the last instant when that is later.</summary>
    public static Instant Later(Instant at, Duration by) => by >= Instant.MaxValue - at ? Instant.MaxValue : at + by;

    /// <summary>
    /// Runs a creating operation once per idempotency key when the request carries one. The request is fingerprinted with
    /// its <paramref name="metadata"/> in ordinal key order (<paramref name="withMetadata"/> puts the ordered copy in it),
    /// so the same pairs in another order replay.
    /// </summary>
    public async ValueTask<T> CreateAsync<T, TRequest>(
        RecordCollection<T> collection,
        MerchantId merchant,
        TRequest request,
        IReadOnlyDictionary<string, string>? metadata,
        Func<TRequest, IReadOnlyDictionary<string, string>, TRequest> withMetadata,
        string? idempotencyKey,
        Func<T, string?> fingerprintOf,
        Func<IUnitOfWork, string?, string?, CancellationToken, ValueTask<T>> create,
        CancellationToken cancellationToken,
        [CallerMemberName] string operationName = "")
        where T : class
    {
        if (idempotencyKey is null)
        {
            return await Store.ExecuteAsync((unit, ct) => create(unit, null, null, ct), cancellationToken, operationName).ConfigureAwait(false);
        }

        var fingerprints = Idempotency.FingerprintWithOrderedMetadata(request, metadata, withMetadata, Json.Options);
        var fingerprint = fingerprints.Value;
        var scoped = Idempotency.ScopedKey(merchant.Value, idempotencyKey);
        var (record, _) = await Idempotency.CreateOnceAsync(
            Store,
            collection,
            InvoicingCollections.IdempotencyKey,
            merchant.Value,
            idempotencyKey,
            fingerprint,
            r => fingerprints.Matching(fingerprintOf(r)) ?? string.Empty,
            (unit, ct) => create(unit, scoped, fingerprint, ct),
            cancellationToken,
            operationName).ConfigureAwait(false);
        return record;
    }

    /// <summary>Reads one page of a merchant's records in creation order.</summary>
    public async ValueTask<Page<T>> ListAsync<T>(RecordCollection<T> collection, MerchantId merchant, string? cursor, int? limit, CancellationToken cancellationToken)
        where T : class
    {
        var size = PageSize(limit);
        var unit = await Store.BeginAsync(cancellationToken).ConfigureAwait(false);
        await using (unit.ConfigureAwait(false))
        {
            var page = await unit.ListAsync(collection, merchant.Value, cursor, size, cancellationToken).ConfigureAwait(false);
            return new Page<T>([.. page.Items.Select(v => v.Value)], page.NextCursor);
        }
    }

    /// <summary>Reads one record of a merchant by id, or fails with <c>not_found</c>.</summary>
    public async ValueTask<T> GetAsync<T>(RecordCollection<T> collection, MerchantId merchant, Guid id, string what, object shownId, CancellationToken cancellationToken)
        where T : class
    {
        var unit = await Store.BeginAsync(cancellationToken).ConfigureAwait(false);
        await using (unit.ConfigureAwait(false))
        {
            return (await unit.GetAsync(collection, merchant.Value, id, cancellationToken).ConfigureAwait(false))?.Value
                ?? throw InvoicingValidation.NotFound(what, shownId);
        }
    }

    /// <summary>The unique key a <c>duplicate_key</c> failure names, if it is one.</summary>
    public static string? DuplicateKeyOf(PaymentsKitException ex) =>
        ex.Code == PaymentsKitErrorCodes.DuplicateKey && ex.Context.TryGetValue("key", out var key) ? key as string : null;
}
