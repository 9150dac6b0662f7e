using System.Security.Cryptography;
using Microsoft.Extensions.Options;
using NodaTime;
using PaymentsKit.Security;
using PaymentsKit.Storage;
using static PaymentsKit.Orchestration.OrchestrationCollections;

namespace PaymentsKit.Orchestration;

/// <summary>Checks that a partner may make calls.</summary>
internal static class PartnerGate
{
    public static async ValueTask<Partner> RequireActiveAsync(IPaymentsStore store, PartnerId partnerId, CancellationToken cancellationToken) =>
        RequireActive(await GetAsync(store, partnerId, cancellationToken).ConfigureAwait(false));

    /// <summary>The partner whether active or not, deleted included; <c>not_found</c> only when it never existed.</summary>
    public static async ValueTask<Partner> GetAsync(IPaymentsStore store, PartnerId partnerId, CancellationToken cancellationToken)
    {
        var unit = await store.BeginAsync(cancellationToken).ConfigureAwait(false);
        await using (unit.ConfigureAwait(false))
        {
            return (await unit.GetAsync(Partners, Guid.Empty, partnerId.Value, cancellationToken).ConfigureAwait(false))?.Value
                ?? throw OrchestrationRules.NotFound("partner", partnerId.ToString());
        }
    }

    /// <summary>Whether calls may be made for the partner: it is active and not deleted.</summary>
    public static bool MayCall(Partner partner) => partner is { IsActive: true, DeletedAt: null };

    public static Partner RequireActive(Partner partner)
    {
        RequireNotDeleted(partner);
        return partner.IsActive
            ? partner
            : throw new PaymentsKitException(
                PaymentsKitErrorCodes.PartnerInactive,
                $"Partner {partner.Id} is inactive and may not make calls.",
                new Dictionary<string, object?> { ["partner"] = partner.Id.ToString() });
    }

    public static Partner RequireNotDeleted(Partner partner) =>
        partner.DeletedAt is null
            ? partner
            : throw new PaymentsKitException(
                PaymentsKitErrorCodes.PartnerDeleted,
                $"Partner {partner.Id} was deleted.",
                new Dictionary<string, object?> { ["partner"] = partner.Id.ToString() });
}

/// <summary>Partners: API keys as keyed hashes with a unique lookup prefix, soft deletion, audited changes.</summary>
internal sealed class PartnerService(
    IPaymentsStore store,
    IClock clock,
    ApiKeyHasher hasher,
    IOptions<OrchestrationOptions> options,
    AuditTrail audit) : IPartnerService
{
    private const string ResourceType = "partner";
    private const string KeyKind = "ptn";

    /// <summary>Prefix collisions are possible (48 random bits), so a taken prefix draws a new key a few times.</summary>
    private const int KeyAttempts = 4;

    public async ValueTask<PartnerWithApiKey> CreateAsync(CreatePartnerRequest request, RequestContext context, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(context);
        var call = new AuditCall(null, "partner.create", ResourceType, context);
        try
        {
            Guard.NotNull(request, "request");
            var name = Guard.Text(request.Name, "name", 255);
            var email = OrchestrationRules.Email(request.Email, "email");
            var rateLimit = OrchestrationRules.RateLimit(request.RateLimitPerMinute ?? options.Value.DefaultRateLimitPerMinute, "rate_limit_per_minute");
            var webhookUrl = OrchestrationRules.WebhookUrl(request.WebhookUrl, "webhook_url");
            var metadata = OrchestrationRules.Metadata(request.Metadata, "metadata");
            return await WithFreshKeyAsync(
                key =>
                {
                    var now = clock.GetCurrentInstant();
                    var partner = new Partner
                    {
                        Id = PartnerId.New(clock),
                        Name = name,
                        Email = email,
                        ApiKeyHash = key.Hash,
                        ApiKeyPrefix = key.Prefix,
                        IsActive = request.IsActive,
                        RateLimitPerMinute = rateLimit,
                        WebhookUrl = webhookUrl,
                        WebhookSecret = webhookUrl is null ? null : NewWebhookSecret(),
                        Metadata = metadata,
                        CreatedAt = now,
                        UpdatedAt = now,
                    };
                    return store.ExecuteAsync(
                        (unit, _) =>
                        {
                            unit.Insert(Partners, partner);
                            audit.Write(unit, call with { PartnerId = partner.Id }, partner.Id.ToString(), null, partner);
                            return ValueTask.FromResult(new PartnerWithApiKey(partner, key.Key));
                        },
                        cancellationToken);
                }).ConfigureAwait(false);
        }
        catch (PaymentsKitException ex)
        {
            await audit.WriteRejectedAsync(call, null, ex, cancellationToken).ConfigureAwait(false);
            throw;
        }
    }

    public async ValueTask<Partner> AuthenticateAsync(string? apiKey, CancellationToken cancellationToken = default)
    {
        string prefix;
        try
        {
            prefix = ApiKeyHasher.PrefixOf(apiKey);
        }
        catch (PaymentsKitException ex)
        {
            throw InvalidKey(ex);
        }

        var unit = await store.BeginAsync(cancellationToken).ConfigureAwait(false);
        await using (unit.ConfigureAwait(false))
        {
            var found = await unit.FindAsync(Partners, Guid.Empty, ApiKeyPrefixKey, prefix, cancellationToken).ConfigureAwait(false);

            // Hash even when no partner has the prefix, so a miss takes as long as a wrong key.
            var verified = hasher.Verify(apiKey, found?.Value.ApiKeyHash ?? new string('0', 64));
            if (found is null || !verified)
            {
                throw InvalidKey(null);
            }

            return PartnerGate.RequireActive(found.Value);
        }
    }

    public async ValueTask<Partner> GetAsync(PartnerId partnerId, CancellationToken cancellationToken = default)
    {
        var unit = await store.BeginAsync(cancellationToken).ConfigureAwait(false);
        await using (unit.ConfigureAwait(false))
        {
            return (await LoadAsync(unit, partnerId, cancellationToken).ConfigureAwait(false)).Value;
        }
    }

    public ValueTask<Partner> UpdateAsync(PartnerId partnerId, UpdatePartnerRequest request, RequestContext context, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(context);
        return MutateAsync(new AuditCall(partnerId, "partner.update", ResourceType, context), partnerId, partner =>
        {
            Guard.NotNull(request, "request");
            var webhookUrl = OrchestrationRules.WebhookUrl(request.WebhookUrl, "webhook_url") ?? partner.WebhookUrl;
            return partner with
            {
                Name = request.Name is null ? partner.Name : Guard.Text(request.Name, "name", 255),
                IsActive = request.IsActive ?? partner.IsActive,
                RateLimitPerMinute = request.RateLimitPerMinute is { } limit ? OrchestrationRules.RateLimit(limit, "rate_limit_per_minute") : partner.RateLimitPerMinute,
                WebhookUrl = webhookUrl,
                WebhookSecret = partner.WebhookSecret ?? (webhookUrl is null ? null : NewWebhookSecret()),
                Metadata = request.Metadata is null ? partner.Metadata : OrchestrationRules.Metadata(request.Metadata, "metadata"),
            };
        }, cancellationToken);
    }

    public async ValueTask<PartnerWithApiKey> RotateApiKeyAsync(PartnerId partnerId, RequestContext context, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(context);
        var call = new AuditCall(partnerId, "partner.rotate_api_key", ResourceType, context);
        try
        {
            return await WithFreshKeyAsync(
                async key =>
                {
                    var partner = await MutateCoreAsync(call, partnerId, p => p with { ApiKeyHash = key.Hash, ApiKeyPrefix = key.Prefix }, cancellationToken).ConfigureAwait(false);
                    return new PartnerWithApiKey(partner, key.Key);
                }).ConfigureAwait(false);
        }
        catch (PaymentsKitException ex)
        {
            await audit.WriteRejectedAsync(call, partnerId.ToString(), ex, cancellationToken).ConfigureAwait(false);
            throw;
        }
    }

    public ValueTask<Partner> DeleteAsync(PartnerId partnerId, RequestContext context, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(context);
        return MutateAsync(
            new AuditCall(partnerId, "partner.delete", ResourceType, context),
            partnerId,
            partner => partner with { IsActive = false, DeletedAt = clock.GetCurrentInstant() },
            cancellationToken);
    }

    public async ValueTask<Page<AuditLogEntry>> ListAuditLogAsync(PartnerId partnerId, string? cursor, int limit, CancellationToken cancellationToken = default)
    {
        var unit = await store.BeginAsync(cancellationToken).ConfigureAwait(false);
        await using (unit.ConfigureAwait(false))
        {
            var page = await unit.ListAsync(AuditLogs, partnerId.Value, cursor, limit, cancellationToken).ConfigureAwait(false);
            return new Page<AuditLogEntry>([.. page.Items.Select(v => v.Value)], page.NextCursor);
        }
    }

    private static PaymentsKitException InvalidKey(Exception? inner) =>
        new(PaymentsKitErrorCodes.InvalidApiKey, "The API key is not valid.", innerException: inner);

    private static string NewWebhookSecret() => "whsec_" + Convert.ToBase64String(RandomNumberGenerator.GetBytes(24));

    private static async ValueTask<Versioned<Partner>> LoadAsync(IUnitOfWork unit, PartnerId partnerId, CancellationToken cancellationToken) =>
        await unit.GetAsync(Partners, Guid.Empty, partnerId.Value, cancellationToken).ConfigureAwait(false)
            ?? throw OrchestrationRules.NotFound(ResourceType, partnerId.ToString());

    private async ValueTask<T> WithFreshKeyAsync<T>(Func<GeneratedApiKey, ValueTask<T>> use)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await use(hasher.Generate(KeyKind)).ConfigureAwait(false);
            }
            catch (PaymentsKitException ex) when (ex.Code == PaymentsKitErrorCodes.DuplicateKey && attempt < KeyAttempts
                && ex.Context.TryGetValue("key", out var key) && key is ApiKeyPrefixKey or ApiKeyHashKey)
            {
                // Another partner holds this prefix; draw another key.
            }
        }
    }

    private async ValueTask<Partner> MutateAsync(AuditCall call, PartnerId partnerId, Func<Partner, Partner> change, CancellationToken cancellationToken)
    {
        try
        {
            return await MutateCoreAsync(call, partnerId, change, cancellationToken).ConfigureAwait(false);
        }
        catch (PaymentsKitException ex)
        {
            await audit.WriteRejectedAsync(call, partnerId.ToString(), ex, cancellationToken).ConfigureAwait(false);
            throw;
        }
    }

    private ValueTask<Partner> MutateCoreAsync(AuditCall call, PartnerId partnerId, Func<Partner, Partner> change, CancellationToken cancellationToken) =>
        store.ExecuteAsync(
            async (unit, ct) =>
            {
                var current = await LoadAsync(unit, partnerId, ct).ConfigureAwait(false);
                PartnerGate.RequireNotDeleted(current.Value);
                var next = change(current.Value) with { UpdatedAt = clock.GetCurrentInstant() };
                unit.Update(Partners, next, current.Version);
                audit.Write(unit, call, partnerId.ToString(), current.Value, next);
                return next;
            },
            cancellationToken);
}
