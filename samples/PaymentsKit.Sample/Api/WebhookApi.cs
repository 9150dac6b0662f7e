using System.Text.Json;
using NodaTime;
using PaymentsKit.Storage;
using PaymentsKit.Webhooks;

namespace PaymentsKit.Sample.Api;

/// <summary>
/// Webhook endpoints of a merchant, and the sample's own receiver: it plays the merchant's server, verifying each
/// delivery's Standard Webhooks signature with the secrets of the merchant's enabled endpoints and processing each
/// <c>webhook-id</c> once.
/// </summary>
internal static class WebhookApi
{
    /// <summary>The sender name receipts are deduplicated under.</summary>
    public const string Source = "paymentskit";

    /// <summary>The receiver's path for a tenant's deliveries.</summary>
    public static string ReceiverPath(Guid tenantId) => $"/webhooks/receiver/{tenantId:N}";

    public static void Map(IEndpointRouteBuilder app)
    {
        app.MapPost("/v1/webhook-endpoints", async (HttpContext http, RegisterEndpointBody body, IWebhookEndpointService endpoints, CancellationToken ct) =>
        {
            var tenant = await TenantAsync(http, ct).ConfigureAwait(false);
            var url = Uri.TryCreate(body.Url, UriKind.Absolute, out var parsed)
                ? parsed
                : throw new PaymentsKitException(PaymentsKitErrorCodes.InvalidArgument, $"url must be an absolute URL (value: '{body.Url}').");
            var registration = await endpoints.RegisterAsync(tenant, new RegisterWebhookEndpoint { Url = url, Description = body.Description, EventTypes = body.EventTypes }, ct)
                .ConfigureAwait(false);
            return Results.Created($"/v1/webhook-endpoints/{registration.Endpoint.Id}", new EndpointCreated(EndpointView.Of(registration.Endpoint), registration.Secret.Reveal()));
        });
        app.MapGet("/v1/webhook-endpoints", async (HttpContext http, IWebhookEndpointService endpoints, CancellationToken ct) =>
            Results.Ok((await endpoints.ListAsync(await TenantAsync(http, ct).ConfigureAwait(false), ct).ConfigureAwait(false)).Select(EndpointView.Of)));
        app.MapGet("/v1/webhooks/received", async (HttpContext http, ReceivedWebhooks received, CancellationToken ct) =>
            Results.Ok(received.For(await TenantAsync(http, ct).ConfigureAwait(false))));

        app.MapPost("/webhooks/receiver/{tenantId}", async (HttpContext http, string tenantId, IWebhookEndpointService endpoints, IPaymentsStore store, IClock clock, ReceivedWebhooks received, CancellationToken ct) =>
        {
            var tenant = Guid.TryParseExact(tenantId, "N", out var parsed)
                ? parsed
                : throw new PaymentsKitException(PaymentsKitErrorCodes.MalformedId, $"'{tenantId}' is not a tenant id.");
            using var buffer = new MemoryStream();
            await http.Request.Body.CopyToAsync(buffer, ct).ConfigureAwait(false);
            var body = buffer.ToArray();

            var now = clock.GetCurrentInstant();
            // A disabled endpoint gets no deliveries, so its secret (perhaps disabled because it leaked) vouches for none.
            var secrets = (await endpoints.ListAsync(tenant, ct).ConfigureAwait(false))
                .Where(e => e.Status == WebhookEndpointStatus.Enabled)
                .SelectMany(e => e.SigningSecrets(now))
                .ToList();
            if (secrets.Count == 0)
            {
                throw new PaymentsKitException(PaymentsKitErrorCodes.WebhookVerificationFailed, "The tenant has no enabled webhook endpoint whose secret could verify this delivery.");
            }

            var headers = http.Request.Headers;
            var receiver = new WebhookReceiver(store, new WebhookVerifier(clock, secrets), clock, Source);
            var outcome = await receiver.ReceiveAsync(
                tenant, headers[WebhookSigner.IdHeader], headers[WebhookSigner.TimestampHeader], headers[WebhookSigner.SignatureHeader], body, ct).ConfigureAwait(false);
            received.Add(new ReceivedWebhook(tenant, headers[WebhookSigner.IdHeader].ToString(), EventType(body), outcome, now));
            return Results.Ok(new { outcome });
        });
    }

    private static async ValueTask<Guid> TenantAsync(HttpContext http, CancellationToken ct)
    {
        var principal = await ApiAuth.AuthenticateAsync(http, ct).ConfigureAwait(false);
        return principal.Kind == PrincipalKind.Partner ? throw ApiErrors.ForbiddenFor("manage merchant webhook endpoints") : principal.TenantId;
    }

    private static string? EventType(byte[] body)
    {
        try
        {
            using var document = JsonDocument.Parse(body);
            return document.RootElement.ValueKind == JsonValueKind.Object && document.RootElement.TryGetProperty("type", out var type) ? type.GetString() : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    internal sealed record RegisterEndpointBody(string? Url, string? Description, IReadOnlyList<string>? EventTypes);

    /// <summary>An endpoint without its secrets.</summary>
    internal sealed record EndpointView(WebhookEndpointId Id, string Url, string? Description, IReadOnlyList<string> EventTypes, WebhookEndpointStatus Status, Instant CreatedAt)
    {
        public static EndpointView Of(WebhookEndpoint endpoint) =>
            new(endpoint.Id, endpoint.Url, endpoint.Description, endpoint.EventTypes, endpoint.Status, endpoint.CreatedAt);
    }

    internal sealed record EndpointCreated(EndpointView Endpoint, string Secret);
}

/// <summary>One delivery the sample's receiver verified.</summary>
internal sealed record ReceivedWebhook(Guid TenantId, string WebhookId, string? Type, WebhookReceiveOutcome Outcome, Instant ReceivedAt);

/// <summary>
/// What the sample's receiver accepted, for the demo and the API to show (the receipts themselves are in the store): the
/// newest <c>capacity</c> deliveries across tenants, each tenant's <c>webhook-id</c> once, so neither a long run nor
/// replays of a valid delivery (within the timestamp tolerance) make it grow without bound.
/// </summary>
/// <param name="capacity">The most entries kept; the oldest go first.</param>
internal sealed class ReceivedWebhooks(int capacity = ReceivedWebhooks.DefaultCapacity)
{
    /// <summary>The most entries the sample keeps.</summary>
    public const int DefaultCapacity = 1000;

    private readonly Lock _lock = new();
    private readonly Queue<ReceivedWebhook> _received = new();
    private readonly HashSet<(Guid TenantId, string WebhookId)> _logged = [];

    /// <summary>Logs a delivery unless its id is already logged for its tenant.</summary>
    public void Add(ReceivedWebhook webhook)
    {
        lock (_lock)
        {
            if (!_logged.Add((webhook.TenantId, webhook.WebhookId)))
            {
                return;
            }

            _received.Enqueue(webhook);
            if (_received.Count > capacity)
            {
                var oldest = _received.Dequeue();
                _logged.Remove((oldest.TenantId, oldest.WebhookId));
            }
        }
    }

    public IReadOnlyList<ReceivedWebhook> For(Guid tenantId)
    {
        lock (_lock)
        {
            return [.. _received.Where(w => w.TenantId == tenantId)];
        }
    }
}
