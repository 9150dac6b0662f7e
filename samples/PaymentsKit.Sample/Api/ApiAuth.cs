using Microsoft.AspNetCore.Authorization;
using PaymentsKit.Invoicing;
using PaymentsKit.Orchestration;
using PaymentsKit.Routing;

namespace PaymentsKit.Sample.Api;

/// <summary>Which module's principal an API key belongs to: each module keeps its own keys, hashed with <see cref="Security.ApiKeyHasher"/>.</summary>
internal enum PrincipalKind
{
    /// <summary>An invoicing merchant (invoices, links, payments, streams, distributions).</summary>
    Merchant,

    /// <summary>A routing merchant (quotes and payment intents).</summary>
    RoutingMerchant,

    /// <summary>An orchestration partner (provider transactions and refunds).</summary>
    Partner,
}

/// <summary>The authenticated caller.</summary>
internal sealed record ApiPrincipal(PrincipalKind Kind, Guid TenantId)
{
    public MerchantId MerchantId => MerchantId.FromGuid(TenantId);

    public PartnerId PartnerId => PartnerId.FromGuid(TenantId);
}

/// <summary>
/// Bearer API key authentication: no key or a key that verifies nowhere is 401 <c>invalid_api_key</c>; a valid key
/// of another module's principal is 403 <c>forbidden</c>; an inactive or deleted partner is 403 with its own code; a partner
/// beyond its calls per minute is 429 <c>rate_limited</c>.
/// </summary>
internal static class ApiAuth
{
    private const string Scheme = "Bearer ";

    // The request's principal once authenticated: the key is verified (and a partner's call counted) once per request.
    private static readonly object PrincipalItem = new();

    /// <summary>The caller of this request, authenticated from its <c>Authorization</c> header on first use.</summary>
    public static async ValueTask<ApiPrincipal> AuthenticateAsync(HttpContext http, CancellationToken cancellationToken)
    {
        if (http.Items.TryGetValue(PrincipalItem, out var known) && known is ApiPrincipal principal)
        {
            return principal;
        }

        principal = await VerifyKeyAsync(http, cancellationToken).ConfigureAwait(false);
        http.Items[PrincipalItem] = principal;
        return principal;
    }

    private static async ValueTask<ApiPrincipal> VerifyKeyAsync(HttpContext http, CancellationToken cancellationToken)
    {
        var header = http.Request.Headers.Authorization.ToString();
        if (!header.StartsWith(Scheme, StringComparison.OrdinalIgnoreCase) || header.Length == Scheme.Length)
        {
            throw new PaymentsKitException(PaymentsKitErrorCodes.InvalidApiKey, "Send an API key as 'Authorization: Bearer <key>'.");
        }

        var key = header[Scheme.Length..].Trim();
        var services = http.RequestServices;
        if (key.StartsWith("ptn_", StringComparison.Ordinal))
        {
            var partner = await services.GetRequiredService<IPartnerService>().AuthenticateAsync(key, cancellationToken).ConfigureAwait(false);

            // Each partner's RateLimitPerMinute holds only where the host counts its calls, once per request.
            services.GetRequiredService<IPartnerRateLimiter>().TryAcquire(partner).ThrowIfRejected();
            return new ApiPrincipal(PrincipalKind.Partner, partner.Id.Value);
        }

        try
        {
            var apiKey = await services.GetRequiredService<IApiKeyService>().AuthenticateAsync(key, cancellationToken).ConfigureAwait(false);
            return new ApiPrincipal(PrincipalKind.Merchant, apiKey.MerchantId.Value);
        }
        catch (PaymentsKitException ex) when (ex.Code is PaymentsKitErrorCodes.InvalidApiKey or PaymentsKitErrorCodes.InvalidArgument)
        {
            // Invoicing and routing merchants both use `sk_` keys; a key unknown to one may be the other's.
        }
        catch (PaymentsKitException ex) when (ex.Code == PaymentsKitErrorCodes.Expired)
        {
            throw new PaymentsKitException(PaymentsKitErrorCodes.InvalidApiKey, "The API key has expired.", innerException: ex);
        }

        var routing = await services.GetRequiredService<IRoutingMerchantService>().AuthenticateAsync(key, cancellationToken).ConfigureAwait(false);
        return routing is null
            ? throw new PaymentsKitException(PaymentsKitErrorCodes.InvalidApiKey, "The API key is not valid.")
            : new ApiPrincipal(PrincipalKind.RoutingMerchant, routing.Id.Value);
    }

    public static async ValueTask<ApiPrincipal> RequireAsync(HttpContext http, PrincipalKind kind, string what, CancellationToken cancellationToken)
    {
        var principal = await AuthenticateAsync(http, cancellationToken).ConfigureAwait(false);
        return principal.Kind == kind ? principal : throw ApiErrors.ForbiddenFor(what);
    }

    public static async ValueTask<MerchantId> MerchantAsync(HttpContext http, string what, CancellationToken cancellationToken) =>
        (await RequireAsync(http, PrincipalKind.Merchant, what, cancellationToken).ConfigureAwait(false)).MerchantId;

    /// <summary>The <c>Idempotency-Key</c> header, or null.</summary>
    public static string? IdempotencyKey(HttpContext http) =>
        http.Request.Headers.TryGetValue("Idempotency-Key", out var values) && !string.IsNullOrEmpty(values.ToString()) ? values.ToString() : null;

    /// <summary>Who is calling, for the orchestration audit trail.</summary>
    public static RequestContext RequestContextOf(HttpContext http) =>
        new(http.Connection.RemoteIpAddress?.ToString() ?? "127.0.0.1", Truncate(http.Request.Headers.UserAgent.ToString()), Guid.CreateVersion7());

    private static string? Truncate(string userAgent) =>
        userAgent.Length == 0 ? null : userAgent.Length > RequestContext.MaxUserAgentLength ? userAgent[..RequestContext.MaxUserAgentLength] : userAgent;
}

/// <summary>
/// Authenticates every <c>/v1</c> call but the open sign-ups (marked <c>AllowAnonymous</c>) before its endpoint binds the
/// body: a caller without a valid key gets 401 whatever it sent, never a 400 or 415 that describes the endpoint's input.
/// </summary>
internal sealed class ApiKeyMiddleware(RequestDelegate next)
{
    public async Task InvokeAsync(HttpContext context)
    {
        // Routing matches paths ignoring case (/V1/invoices reaches /v1/invoices), so this check must as well.
        if (context.Request.Path.StartsWithSegments("/v1", StringComparison.OrdinalIgnoreCase)
            && context.GetEndpoint() is { } endpoint
            && endpoint.Metadata.GetMetadata<IAllowAnonymous>() is null)
        {
            await ApiAuth.AuthenticateAsync(context, context.RequestAborted).ConfigureAwait(false);
        }

        await next(context).ConfigureAwait(false);
    }
}
