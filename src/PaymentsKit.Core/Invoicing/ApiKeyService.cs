using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using PaymentsKit.Security;
using PaymentsKit.Storage;
using static PaymentsKit.Invoicing.InvoicingCollections;

namespace PaymentsKit.Invoicing;

/// <summary>The store-backed <see cref="IApiKeyService"/>. Logs prefixes only, never keys.</summary>
internal sealed partial class ApiKeyService(InvoicingContext context, ApiKeyHasher hasher, ILogger<ApiKeyService>? logger = null) : IApiKeyService
{
    /// <summary>The kind every merchant key starts with: a secret key.</summary>
    public const string Kind = "sk";

    // Prefixes carry 48 random bits, so a collision is rare; a few fresh draws settle it.
    private const int PrefixAttempts = 3;

    private readonly ILogger _logger = logger ?? NullLogger<ApiKeyService>.Instance;

    public async ValueTask<CreatedApiKey> CreateApiKeyAsync(MerchantId merchant, CreateApiKeyRequest request, CancellationToken cancellationToken = default)
    {
        Guard.NotNull(request, "request");
        var name = Guard.Text(request.Name, "name", 100);
        var now = context.Clock.GetCurrentInstant();
        var expiresAt = InvoicingValidation.Future(request.ExpiresAt, now, "expiresAt");
        for (var attempt = 1; ; attempt++)
        {
            var generated = hasher.Generate(Kind);
            var key = new ApiKey(ApiKeyId.New(context.Clock), merchant, name, generated.Prefix, generated.Hash, expiresAt, null, null, now);
            try
            {
                await context.Store.ExecuteAsync(
                    async (unit, ct) =>
                    {
                        await InvoicingContext.RequireMerchantAsync(unit, merchant, ct).ConfigureAwait(false);
                        unit.Insert(ApiKeys, key);
                        unit.Insert(ApiKeyPrefixes, new ApiKeyPrefix(key.Id, key.Prefix, merchant));
                        return key;
                    },
                    cancellationToken).ConfigureAwait(false);
                LogCreated(merchant, key.Id, key.Prefix);
                return new CreatedApiKey(key, generated.Key);
            }
            catch (PaymentsKitException ex) when (InvoicingContext.DuplicateKeyOf(ex) == PrefixKey && attempt < PrefixAttempts)
            {
                // Another key already shows this prefix; draw a new key.
            }
        }
    }

    public async ValueTask<ApiKey> AuthenticateAsync(string? presentedKey, CancellationToken cancellationToken = default)
    {
        string prefix;
        try
        {
            prefix = ApiKeyHasher.PrefixOf(presentedKey);
        }
        catch (PaymentsKitException ex) when (ex.Code == PaymentsKitErrorCodes.InvalidArgument)
        {
            throw Invalid("is not a PaymentsKit API key", null);
        }

        return await context.Store.ExecuteAsync(
            async (unit, ct) =>
            {
                var lookup = await unit.FindAsync(ApiKeyPrefixes, Guid.Empty, PrefixKey, prefix, ct).ConfigureAwait(false)
                    ?? throw Invalid("is unknown", prefix);
                var stored = await unit.GetAsync(ApiKeys, lookup.Value.MerchantId.Value, lookup.Value.Id.Value, ct).ConfigureAwait(false)
                    ?? throw Invalid("is unknown", prefix);
                var key = stored.Value;
                if (!hasher.Verify(presentedKey, key.Hash))
                {
                    throw Invalid("does not match", prefix);
                }

                if (key.RevokedAt is not null)
                {
                    throw Invalid("was revoked", prefix);
                }

                var now = context.Clock.GetCurrentInstant();
                if (key.ExpiresAt is { } expiresAt && now >= expiresAt)
                {
                    throw new PaymentsKitException(
                        PaymentsKitErrorCodes.Expired,
                        $"API key {prefix}… expired at {expiresAt}.",
                        new Dictionary<string, object?> { ["prefix"] = prefix, ["expiresAt"] = expiresAt });
                }

                if (key.LastUsedAt is null || now - key.LastUsedAt.Value >= context.Options.ApiKeyLastUsedResolution)
                {
                    key = key with { LastUsedAt = now };
                    unit.Update(ApiKeys, key, stored.Version);
                }

                return key;
            },
            cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask<ApiKey> RevokeApiKeyAsync(MerchantId merchant, ApiKeyId apiKey, CancellationToken cancellationToken = default)
    {
        var (key, revoked) = await context.Store.ExecuteAsync(
            async (unit, ct) =>
            {
                var stored = await unit.GetAsync(ApiKeys, merchant.Value, apiKey.Value, ct).ConfigureAwait(false)
                    ?? throw InvoicingValidation.NotFound("API key", apiKey);
                if (stored.Value.RevokedAt is not null)
                {
                    return (stored.Value, false);
                }

                var updated = stored.Value with { RevokedAt = context.Clock.GetCurrentInstant() };
                unit.Update(ApiKeys, updated, stored.Version);
                return (updated, true);
            },
            cancellationToken).ConfigureAwait(false);
        if (revoked)
        {
            LogRevoked(merchant, apiKey, key.Prefix);
        }

        return key;
    }

    public ValueTask<Page<ApiKey>> ListApiKeysAsync(MerchantId merchant, string? cursor = null, int? limit = null, CancellationToken cancellationToken = default) =>
        context.ListAsync(ApiKeys, merchant, cursor, limit, cancellationToken);

    private static PaymentsKitException Invalid(string problem, string? prefix) =>
        new(PaymentsKitErrorCodes.InvalidApiKey,
            prefix is null ? $"The API key {problem}." : $"The API key {prefix}… {problem}.",
            new Dictionary<string, object?> { ["prefix"] = prefix });

    [LoggerMessage(EventId = 4101, Level = LogLevel.Information, Message = "API key {ApiKeyId} ({Prefix}…) created for merchant {MerchantId}")]
    private partial void LogCreated(MerchantId merchantId, ApiKeyId apiKeyId, string prefix);

    [LoggerMessage(EventId = 4102, Level = LogLevel.Information, Message = "API key {ApiKeyId} ({Prefix}…) of merchant {MerchantId} revoked")]
    private partial void LogRevoked(MerchantId merchantId, ApiKeyId apiKeyId, string prefix);
}
