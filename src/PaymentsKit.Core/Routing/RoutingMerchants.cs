using System.Net;
using NodaTime;
using PaymentsKit.Security;
using PaymentsKit.Storage;
using PaymentsKit.Webhooks;

namespace PaymentsKit.Routing;

/// <summary>
/// A merchant of the router (seed 001 <c>merchants</c>): an API client that creates quotes and payment
/// intents. Its API key is kept only as a keyed hash; webhooks go to its HTTPS URL.
/// </summary>
/// <param name="Id">The merchant id, also the tenant of its quotes, intents, attempts and events.</param>
/// <param name="Name">The display name.</param>
/// <param name="ApiKeyHash">HMAC-SHA256 of the API key (<see cref="ApiKeyHasher"/>), unique.</param>
/// <param name="ApiKeyPrefix">The key's visible, non-secret prefix, to tell keys apart.</param>
/// <param name="WebhookUrl">The HTTPS endpoint for webhook delivery, if any.</param>
/// <param name="CreatedAt">When it was registered.</param>
/// <param name="UpdatedAt">When it last changed.</param>
public sealed record RoutingMerchant(
    MerchantId Id,
    string Name,
    string ApiKeyHash,
    string ApiKeyPrefix,
    Uri? WebhookUrl,
    Instant CreatedAt,
    Instant UpdatedAt);

/// <summary>A newly registered merchant with its API key, which is shown once and never stored.</summary>
/// <param name="Merchant">The merchant.</param>
/// <param name="ApiKey">The full API key.</param>
public sealed record CreatedRoutingMerchant(RoutingMerchant Merchant, string ApiKey)
{
    /// <summary>Never prints the key.</summary>
    public override string ToString() => $"{Merchant.Id} ({Merchant.ApiKeyPrefix}…)";
}

/// <summary>Registers a merchant.</summary>
/// <param name="Name">1–200 characters.</param>
/// <param name="WebhookUrl">An absolute HTTPS URL without credentials, or null.</param>
public sealed record CreateRoutingMerchantRequest(string Name, Uri? WebhookUrl = null);

/// <summary>Merchants of the router: registration, API key authentication and rotation, webhook URL.</summary>
public interface IRoutingMerchantService
{
    /// <summary>Registers a merchant and issues its first API key (kind <c>sk</c>).</summary>
    /// <exception cref="PaymentsKitException"><c>invalid_argument</c> for a bad name or URL; <c>webhook_endpoint_rejected</c> for a URL at a non-public address.</exception>
    ValueTask<CreatedRoutingMerchant> CreateAsync(CreateRoutingMerchantRequest request, CancellationToken cancellationToken = default);

    /// <summary>Reads a merchant.</summary>
    /// <exception cref="PaymentsKitException"><c>not_found</c>.</exception>
    ValueTask<RoutingMerchant> GetAsync(MerchantId merchantId, CancellationToken cancellationToken = default);

    /// <summary>The merchant an API key belongs to; null for an unknown or malformed key (never an exception, never logged).</summary>
    ValueTask<RoutingMerchant?> AuthenticateAsync(string? apiKey, CancellationToken cancellationToken = default);

    /// <summary>Issues a new API key; the old one stops working at once.</summary>
    /// <exception cref="PaymentsKitException"><c>not_found</c>.</exception>
    ValueTask<CreatedRoutingMerchant> RotateApiKeyAsync(MerchantId merchantId, CancellationToken cancellationToken = default);

    /// <summary>Sets or (with null) removes the webhook URL.</summary>
    /// <exception cref="PaymentsKitException"><c>not_found</c>, <c>invalid_argument</c>, <c>webhook_endpoint_rejected</c>.</exception>
    ValueTask<RoutingMerchant> SetWebhookUrlAsync(MerchantId merchantId, Uri? webhookUrl, CancellationToken cancellationToken = default);
}

/// <summary>The <see cref="IRoutingMerchantService"/> over the <see cref="IPaymentsStore"/>.</summary>
public sealed class RoutingMerchantService : IRoutingMerchantService
{
    /// <summary>The API key kind the router issues.</summary>
    public const string ApiKeyKind = "sk";

    private const int MaxNameLength = 200;
    private const int MaxUrlLength = 2048;

    private readonly IPaymentsStore _store;
    private readonly IClock _clock;
    private readonly ApiKeyHasher _hasher;

    /// <summary>Creates the service.</summary>
    public RoutingMerchantService(IPaymentsStore store, IClock clock, ApiKeyHasher hasher)
    {
        _store = store ?? throw new ArgumentNullException(nameof(store));
        _clock = clock ?? throw new ArgumentNullException(nameof(clock));
        _hasher = hasher ?? throw new ArgumentNullException(nameof(hasher));
    }

    /// <inheritdoc />
    public async ValueTask<CreatedRoutingMerchant> CreateAsync(CreateRoutingMerchantRequest request, CancellationToken cancellationToken = default)
    {
        Guard.NotNull(request, "request");
        var name = Guard.Text(request.Name?.Trim(), "name", MaxNameLength);
        var url = CheckWebhookUrl(request.WebhookUrl);
        var key = _hasher.Generate(ApiKeyKind);
        var now = _clock.GetCurrentInstant();
        var merchant = new RoutingMerchant(MerchantId.New(_clock), name, key.Hash, key.Prefix, url, now, now);
        await _store.ExecuteAsync(
            (unit, _) =>
            {
                unit.Insert(RoutingCollections.Merchants, merchant);
                return ValueTask.FromResult(merchant);
            },
            cancellationToken).ConfigureAwait(false);
        return new CreatedRoutingMerchant(merchant, key.Key);
    }

    /// <inheritdoc />
    public async ValueTask<RoutingMerchant> GetAsync(MerchantId merchantId, CancellationToken cancellationToken = default)
    {
        var unit = await _store.BeginAsync(cancellationToken).ConfigureAwait(false);
        await using (unit.ConfigureAwait(false))
        {
            return (await LoadAsync(unit, merchantId, cancellationToken).ConfigureAwait(false)).Value;
        }
    }

    /// <inheritdoc />
    public async ValueTask<RoutingMerchant?> AuthenticateAsync(string? apiKey, CancellationToken cancellationToken = default)
    {
        if (apiKey is null || apiKey.Length > 128 || !apiKey.StartsWith(ApiKeyKind + "_", StringComparison.Ordinal))
        {
            return null;
        }

        var hash = _hasher.Hash(apiKey);
        var unit = await _store.BeginAsync(cancellationToken).ConfigureAwait(false);
        await using (unit.ConfigureAwait(false))
        {
            var found = await unit.FindAsync(RoutingCollections.Merchants, Guid.Empty, RoutingCollections.ApiKeyHashKey, hash, cancellationToken).ConfigureAwait(false);

            // The lookup is by hash; the constant-time comparison keeps verification uniform with the hasher's contract.
            return found is not null && _hasher.Verify(apiKey, found.Value.ApiKeyHash) ? found.Value : null;
        }
    }

    /// <inheritdoc />
    public async ValueTask<CreatedRoutingMerchant> RotateApiKeyAsync(MerchantId merchantId, CancellationToken cancellationToken = default)
    {
        var key = _hasher.Generate(ApiKeyKind);
        var merchant = await _store.ExecuteAsync(
            async (unit, ct) =>
            {
                var current = await LoadAsync(unit, merchantId, ct).ConfigureAwait(false);
                var updated = current.Value with { ApiKeyHash = key.Hash, ApiKeyPrefix = key.Prefix, UpdatedAt = _clock.GetCurrentInstant() };
                unit.Update(RoutingCollections.Merchants, updated, current.Version);
                return updated;
            },
            cancellationToken).ConfigureAwait(false);
        return new CreatedRoutingMerchant(merchant, key.Key);
    }

    /// <inheritdoc />
    public ValueTask<RoutingMerchant> SetWebhookUrlAsync(MerchantId merchantId, Uri? webhookUrl, CancellationToken cancellationToken = default)
    {
        var url = CheckWebhookUrl(webhookUrl);
        return _store.ExecuteAsync(
            async (unit, ct) =>
            {
                var current = await LoadAsync(unit, merchantId, ct).ConfigureAwait(false);
                var updated = current.Value with { WebhookUrl = url, UpdatedAt = _clock.GetCurrentInstant() };
                unit.Update(RoutingCollections.Merchants, updated, current.Version);
                return updated;
            },
            cancellationToken);
    }

    /// <summary>Reads a merchant in a unit of work.</summary>
    internal static async ValueTask<Versioned<RoutingMerchant>> LoadAsync(IUnitOfWork unit, MerchantId merchantId, CancellationToken cancellationToken) =>
        (merchantId.Value == Guid.Empty
            ? null
            : await unit.GetAsync(RoutingCollections.Merchants, Guid.Empty, merchantId.Value, cancellationToken).ConfigureAwait(false))
        ?? throw new PaymentsKitException(
            PaymentsKitErrorCodes.NotFound,
            $"Merchant {merchantId} does not exist.",
            new Dictionary<string, object?> { ["field"] = "merchant_id", ["value"] = merchantId.ToString() });

    /// <summary>
    /// Checks a webhook URL: absolute HTTPS, no credentials or fragment, no port 0 (the webhook endpoints' own URL rules),
    /// and an IP literal only if public. Returns it in
    /// canonical form (lower-case scheme and host, no default port).
    /// </summary>
    internal static Uri? CheckWebhookUrl(Uri? url)
    {
        if (url is null)
        {
            return null;
        }

        // Scheme and host are case-insensitive, but the text as given is what a store keeps: the canonical text makes
        // every store hold the same URL, and lets PostgreSQL's merchants_webhook_url_check accept an "HTTPS://" one.
        var canonical = url.IsAbsoluteUri && url.Scheme == Uri.UriSchemeHttps ? new Uri(url.AbsoluteUri) : null;
        if (canonical is null || canonical.OriginalString.Length > MaxUrlLength)
        {
            throw PaymentsKitException.InvalidArgument("webhook_url", url.OriginalString, "must be an absolute https URL of at most 2048 characters");
        }

        url = canonical;
        if (url.UserInfo.Length > 0 || url.Fragment.Length > 0)
        {
            throw PaymentsKitException.InvalidArgument("webhook_url", url.GetLeftPart(UriPartial.Authority), "must not carry credentials or a fragment");
        }

        WebhookEndpointGuard.EnsureUrlAllowed(url);

        // A trailing dot only makes the name fully qualified ("10.0.0.1." is still that address), and every name under
        // localhost is loopback (RFC 6761): without DNS, these are the hosts known to be non-public.
        var host = url.DnsSafeHost.TrimEnd('.');
        if (IPAddress.TryParse(host, out var address))
        {
            WebhookEndpointGuard.EnsureAllowed(url, [address]);
        }
        else if (host.Equals("localhost", StringComparison.OrdinalIgnoreCase) || host.EndsWith(".localhost", StringComparison.OrdinalIgnoreCase))
        {
            WebhookEndpointGuard.EnsureAllowed(url, [IPAddress.Loopback]);
        }

        return url;
    }
}
