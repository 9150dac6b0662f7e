using System.Diagnostics;
using System.Text.RegularExpressions;
using NodaTime;
using PaymentsKit.Diagnostics;
using PaymentsKit.Storage;
using static PaymentsKit.Webhooks.WebhookDeliveryCollections;

namespace PaymentsKit.Webhooks;

/// <summary>Registers and manages a tenant's webhook endpoints.</summary>
public interface IWebhookEndpointService
{
    /// <summary>Registers an endpoint after checking its URL with the SSRF guard (resolving its host).</summary>
    /// <exception cref="PaymentsKitException">
    /// <c>webhook_endpoint_rejected</c> for a URL that is not allowed; <c>invalid_argument</c> for a malformed field.
    /// </exception>
    ValueTask<WebhookEndpointRegistration> RegisterAsync(Guid tenantId, RegisterWebhookEndpoint request, CancellationToken cancellationToken = default);

    /// <summary>Reads an endpoint.</summary>
    /// <exception cref="PaymentsKitException"><c>not_found</c> when absent or another tenant's.</exception>
    ValueTask<WebhookEndpoint> GetAsync(Guid tenantId, WebhookEndpointId endpointId, CancellationToken cancellationToken = default);

    /// <summary>
    /// All of a tenant's endpoints in id order: registration order, except that endpoints registered within one millisecond
    /// by different threads or hosts come in either order (ids are UUIDv7, monotonic per thread only).
    /// </summary>
    ValueTask<IReadOnlyList<WebhookEndpoint>> ListAsync(Guid tenantId, CancellationToken cancellationToken = default);

    /// <summary>
    /// Makes a new current secret. The previous ones keep signing deliveries (beside the new one, in the same
    /// <c>webhook-signature</c> header) for <paramref name="overlap"/>, so receivers can switch without losing
    /// a delivery.
    /// </summary>
    /// <param name="tenantId">The tenant.</param>
    /// <param name="endpointId">The endpoint.</param>
    /// <param name="overlap">How long the old secrets stay in use: zero to seven days.</param>
    /// <param name="newSecret">The new secret; null to generate one.</param>
    /// <param name="cancellationToken">Cancels the operation.</param>
    /// <returns>The new secret.</returns>
    ValueTask<WebhookSecret> RotateSecretAsync(Guid tenantId, WebhookEndpointId endpointId, Duration overlap, WebhookSecret? newSecret = null, CancellationToken cancellationToken = default);

    /// <summary>Stops deliveries to an endpoint.</summary>
    ValueTask<WebhookEndpoint> DisableAsync(Guid tenantId, WebhookEndpointId endpointId, string reason, CancellationToken cancellationToken = default);

    /// <summary>Resumes deliveries to an endpoint, checking its URL with the SSRF guard again.</summary>
    /// <exception cref="PaymentsKitException"><c>webhook_endpoint_rejected</c> when its URL is no longer allowed.</exception>
    ValueTask<WebhookEndpoint> EnableAsync(Guid tenantId, WebhookEndpointId endpointId, CancellationToken cancellationToken = default);
}

/// <summary>The <see cref="IWebhookEndpointService"/> over the <see cref="IPaymentsStore"/>.</summary>
public sealed partial class WebhookEndpointService : IWebhookEndpointService
{
    /// <summary>The most endpoints a tenant may have.</summary>
    public const int MaxEndpointsPerTenant = 16;

    /// <summary>The longest overlap of a secret rotation.</summary>
    public static readonly Duration MaxRotationOverlap = Duration.FromDays(7);

    private const int MaxUrlLength = 2048;
    private const int MaxDescriptionLength = 256;
    private const int MaxSecrets = 5;

    private readonly IPaymentsStore _store;
    private readonly IClock _clock;
    private readonly WebhookEndpointValidator _validator;

    /// <summary>Creates the service.</summary>
    public WebhookEndpointService(IPaymentsStore store, IClock clock, WebhookEndpointValidator validator)
    {
        _store = store ?? throw new ArgumentNullException(nameof(store));
        _clock = clock ?? throw new ArgumentNullException(nameof(clock));
        _validator = validator ?? throw new ArgumentNullException(nameof(validator));
    }

    /// <inheritdoc />
    public async ValueTask<WebhookEndpointRegistration> RegisterAsync(Guid tenantId, RegisterWebhookEndpoint request, CancellationToken cancellationToken = default)
    {
        using var activity = PaymentsKitTelemetry.StartActivity("webhooks.endpoint.register");
        CheckTenant(tenantId);
        Guard.NotNull(request, "request");
        var url = Guard.NotNull(request.Url, "webhook_url");
        if (!url.IsAbsoluteUri || url.OriginalString.Length > MaxUrlLength || !string.IsNullOrEmpty(url.Fragment))
        {
            throw PaymentsKitException.InvalidArgument("webhook_url", url.OriginalString, $"must be an absolute URL of at most {MaxUrlLength} characters without a fragment");
        }

        Guard.OptionalProse(request.Description, "description", MaxDescriptionLength);
        var eventTypes = CheckEventTypes(request.EventTypes);
        await _validator.EnsureAllowedAsync(url, cancellationToken).ConfigureAwait(false);
        var secret = request.Secret ?? WebhookSecret.Generate();
        WebhookEndpoint endpoint;
        try
        {
            endpoint = await InsertAsync(tenantId, request, url, eventTypes, secret, cancellationToken).ConfigureAwait(false);
        }
        catch (PaymentsKitException ex) when (ex.Code == PaymentsKitErrorCodes.DuplicateKey)
        {
            // The tenant's first two endpoints raced to register the tenant; the retry finds it registered.
            endpoint = await InsertAsync(tenantId, request, url, eventTypes, secret, cancellationToken).ConfigureAwait(false);
        }

        activity?.SetTag("paymentskit.webhook_endpoint", endpoint.Id.ToString());
        return new WebhookEndpointRegistration(endpoint, secret);
    }

    private ValueTask<WebhookEndpoint> InsertAsync(
        Guid tenantId, RegisterWebhookEndpoint request, Uri url, string[] eventTypes, WebhookSecret secret, CancellationToken cancellationToken) =>
        _store.ExecuteAsync(
            async (unit, ct) =>
            {
                // The tenant's record is read before its endpoints are counted and written by every registration: two that
                // counted the same endpoints conflict on it, and the loser counts again, so the limit holds under concurrency
                // on every store.
                var tenant = await unit.GetAsync(WebhookTenant.Collection, Guid.Empty, tenantId, ct).ConfigureAwait(false);
                var existing = await unit.ListAsync(Endpoints, tenantId, null, MaxEndpointsPerTenant, ct).ConfigureAwait(false);
                if (existing.Items.Count >= MaxEndpointsPerTenant)
                {
                    throw PaymentsKitException.InvalidArgument("webhook_url", url.ToString(), $"cannot be added: the tenant already has {MaxEndpointsPerTenant} endpoints");
                }

                var now = _clock.GetCurrentInstant();
                var created = new WebhookEndpoint(
                    WebhookEndpointId.New(_clock),
                    tenantId,
                    url.ToString(),
                    request.Description,
                    eventTypes,
                    request.Ordered,
                    WebhookEndpointStatus.Enabled,
                    null,
                    [new WebhookEndpointSecret(secret.Reveal(), now, null)],
                    now,
                    now);
                unit.Insert(Endpoints, created);
                if (tenant is not null)
                {
                    unit.Update(WebhookTenant.Collection, tenant.Value, tenant.Version);
                }
                else
                {
                    unit.Insert(WebhookTenant.Collection, new WebhookTenant(tenantId, now));
                }

                return created;
            },
            cancellationToken);

    /// <inheritdoc />
    public async ValueTask<WebhookEndpoint> GetAsync(Guid tenantId, WebhookEndpointId endpointId, CancellationToken cancellationToken = default)
    {
        var unit = await _store.BeginAsync(cancellationToken).ConfigureAwait(false);
        await using (unit.ConfigureAwait(false))
        {
            return (await LoadAsync(unit, tenantId, endpointId, cancellationToken).ConfigureAwait(false)).Value;
        }
    }

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<WebhookEndpoint>> ListAsync(Guid tenantId, CancellationToken cancellationToken = default)
    {
        var unit = await _store.BeginAsync(cancellationToken).ConfigureAwait(false);
        await using (unit.ConfigureAwait(false))
        {
            var page = await unit.ListAsync(Endpoints, tenantId, null, BufferedUnitOfWork.MaxPageSize, cancellationToken).ConfigureAwait(false);
            return [.. page.Items.Select(i => i.Value)];
        }
    }

    /// <inheritdoc />
    public async ValueTask<WebhookSecret> RotateSecretAsync(Guid tenantId, WebhookEndpointId endpointId, Duration overlap, WebhookSecret? newSecret = null, CancellationToken cancellationToken = default)
    {
        using var activity = PaymentsKitTelemetry.StartActivity("webhooks.endpoint.rotate_secret");
        if (overlap < Duration.Zero || overlap > MaxRotationOverlap)
        {
            throw PaymentsKitException.InvalidArgument("overlap", overlap, "must be between zero and seven days");
        }

        var secret = newSecret ?? WebhookSecret.Generate();
        await UpdateAsync(
            tenantId,
            endpointId,
            (endpoint, now) =>
            {
                var until = now + overlap;
                var kept = endpoint.Secrets
                    .Where(s => s.IsActiveAt(now))
                    .Select(s => s.ExpiresAt is { } at && at <= until ? s : s with { ExpiresAt = until })
                    .Take(MaxSecrets - 1);
                return endpoint with { Secrets = [new WebhookEndpointSecret(secret.Reveal(), now, null), .. kept] };
            },
            cancellationToken).ConfigureAwait(false);
        return secret;
    }

    /// <inheritdoc />
    public ValueTask<WebhookEndpoint> DisableAsync(Guid tenantId, WebhookEndpointId endpointId, string reason, CancellationToken cancellationToken = default)
    {
        Guard.Prose(reason, "reason", MaxDescriptionLength);
        return UpdateAsync(
            tenantId,
            endpointId,
            (endpoint, _) => endpoint with { Status = WebhookEndpointStatus.Disabled, DisabledReason = reason },
            cancellationToken);
    }

    /// <inheritdoc />
    public async ValueTask<WebhookEndpoint> EnableAsync(Guid tenantId, WebhookEndpointId endpointId, CancellationToken cancellationToken = default)
    {
        var current = await GetAsync(tenantId, endpointId, cancellationToken).ConfigureAwait(false);
        await _validator.EnsureAllowedAsync(new Uri(current.Url), cancellationToken).ConfigureAwait(false);
        return await UpdateAsync(
            tenantId,
            endpointId,
            (endpoint, _) => endpoint with { Status = WebhookEndpointStatus.Enabled, DisabledReason = null },
            cancellationToken).ConfigureAwait(false);
    }

    internal static string[] CheckEventTypes(IReadOnlyList<string>? eventTypes)
    {
        if (eventTypes is null)
        {
            return [];
        }

        foreach (var type in eventTypes)
        {
            if (type is null || !EventTypeFilter().IsMatch(type))
            {
                throw PaymentsKitException.InvalidArgument("event_types", type, "must each be 'resource.action' or 'resource.*' in lower-case snake_case");
            }
        }

        return [.. eventTypes.Distinct(StringComparer.Ordinal)];
    }

    private static void CheckTenant(Guid tenantId)
    {
        if (tenantId == Guid.Empty)
        {
            throw PaymentsKitException.InvalidArgument("tenant_id", tenantId, "must not be empty");
        }
    }

    private static async ValueTask<Versioned<WebhookEndpoint>> LoadAsync(IUnitOfWork unit, Guid tenantId, WebhookEndpointId endpointId, CancellationToken cancellationToken) =>
        await unit.GetAsync(Endpoints, tenantId, endpointId.Value, cancellationToken).ConfigureAwait(false)
        ?? throw new PaymentsKitException(
            PaymentsKitErrorCodes.NotFound,
            $"Webhook endpoint {endpointId} does not exist.",
            new Dictionary<string, object?> { ["field"] = "endpoint_id", ["value"] = endpointId.ToString() });

    private ValueTask<WebhookEndpoint> UpdateAsync(Guid tenantId, WebhookEndpointId endpointId, Func<WebhookEndpoint, Instant, WebhookEndpoint> change, CancellationToken cancellationToken) =>
        _store.ExecuteAsync(
            async (unit, ct) =>
            {
                var stored = await LoadAsync(unit, tenantId, endpointId, ct).ConfigureAwait(false);
                var now = _clock.GetCurrentInstant();
                var updated = change(stored.Value, now) with { UpdatedAt = now };
                unit.Update(Endpoints, updated, stored.Version);
                Activity.Current?.SetTag("paymentskit.webhook_endpoint", endpointId.ToString());
                return updated;
            },
            cancellationToken);

    [GeneratedRegex(@"^[a-z][a-z0-9_]{0,63}\.([a-z][a-z0-9_]{0,63}|\*)$", RegexOptions.CultureInvariant)]
    private static partial Regex EventTypeFilter();
}
