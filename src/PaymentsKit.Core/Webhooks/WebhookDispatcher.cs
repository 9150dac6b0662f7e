using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using NodaTime;
using PaymentsKit.Diagnostics;
using PaymentsKit.Storage;

namespace PaymentsKit.Webhooks;

/// <summary>What one dispatch pass did.</summary>
/// <param name="Scheduled">Outbox events turned into deliveries.</param>
/// <param name="Claimed">Deliveries attempted.</param>
/// <param name="Delivered">Attempts answered 2xx.</param>
/// <param name="Retrying">Failed attempts scheduled again.</param>
/// <param name="DeadLettered">Deliveries given up (last attempt failed, endpoint gone or disabled).</param>
/// <param name="LostLeases">Attempts whose lease expired before they finished (another dispatcher owns the delivery now).</param>
public sealed record WebhookDispatchResult(int Scheduled, int Claimed, int Delivered, int Retrying, int DeadLettered, int LostLeases)
{
    /// <summary>Whether the pass was full, so more work is probably waiting.</summary>
    public bool MoreWork { get; init; }
}

/// <summary>Delivers the outbox's webhooks.</summary>
public interface IWebhookDispatcher
{
    /// <summary>
    /// One pass: schedules new outbox events to their endpoints, claims due deliveries and attempts them
    /// concurrently, recording each outcome. Safe to run on many hosts at once.
    /// </summary>
    ValueTask<WebhookDispatchResult> DispatchAsync(CancellationToken cancellationToken = default);
}

/// <summary>
/// The webhook dispatcher: signs each attempt per Standard Webhooks (<c>webhook-id</c> = event id, a fresh
/// <c>webhook-timestamp</c>, one <c>v1</c> signature per active secret), POSTs the event's JSON with a timeout,
/// treats 2xx as delivered, retries on the <see cref="WebhookRetryPolicy"/> (honouring <c>Retry-After</c> on
/// 429/503), disables the endpoint on 410 and dead-letters after the last attempt. The SSRF guard checks the
/// endpoint (resolving its host) before every attempt.
/// </summary>
public sealed partial class WebhookDispatcher : IWebhookDispatcher
{
    /// <summary>How much of a response body an attempt log keeps.</summary>
    public const int ResponseExcerptBytes = 1024;

    private readonly IWebhookDeliveryQueue _queue;
    private readonly IPaymentsStore _store;
    private readonly IWebhookEndpointService _endpoints;
    private readonly WebhookEndpointValidator _validator;
    private readonly HttpClient _http;
    private readonly IClock _clock;
    private readonly WebhookDeliveryOptions _options;
    private readonly ILogger _logger;
    private readonly Random _random;

    /// <summary>Creates a dispatcher.</summary>
    /// <param name="queue">The delivery queue.</param>
    /// <param name="store">Where endpoints are read from.</param>
    /// <param name="endpoints">Disables endpoints that answer 410.</param>
    /// <param name="validator">The SSRF guard with the host's resolver.</param>
    /// <param name="http">Sends the POSTs; its own timeout is not used (<see cref="WebhookDeliveryOptions.Timeout"/> is).</param>
    /// <param name="clock">The clock.</param>
    /// <param name="options">Timeouts, batch sizes, retry policy (the host validates them at start).</param>
    /// <param name="logger">Logs failures; optional.</param>
    /// <param name="random">The jitter source; <see cref="Random.Shared"/> when null.</param>
    public WebhookDispatcher(
        IWebhookDeliveryQueue queue,
        IPaymentsStore store,
        IWebhookEndpointService endpoints,
        WebhookEndpointValidator validator,
        HttpClient http,
        IClock clock,
        WebhookDeliveryOptions options,
        ILogger<WebhookDispatcher>? logger = null,
        Random? random = null)
    {
        _queue = queue ?? throw new ArgumentNullException(nameof(queue));
        _store = store ?? throw new ArgumentNullException(nameof(store));
        _endpoints = endpoints ?? throw new ArgumentNullException(nameof(endpoints));
        _validator = validator ?? throw new ArgumentNullException(nameof(validator));
        _http = http ?? throw new ArgumentNullException(nameof(http));
        _clock = clock ?? throw new ArgumentNullException(nameof(clock));
        _options = options ?? throw new ArgumentNullException(nameof(options));
        if (options.Timeout <= TimeSpan.Zero || options.LeaseDuration <= options.Timeout || options.RetryPolicy is null)
        {
            throw PaymentsKitException.InvalidArgument("options", options.Timeout, "need a positive timeout, a lease longer than it and a retry policy");
        }

        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _random = random ?? Random.Shared;
    }

    /// <inheritdoc />
    public async ValueTask<WebhookDispatchResult> DispatchAsync(CancellationToken cancellationToken = default)
    {
        using var activity = PaymentsKitTelemetry.StartActivity("webhooks.dispatch");
        var scheduled = await _queue.ScheduleAsync(PlanAsync, _clock.GetCurrentInstant(), _options.BatchSize, cancellationToken).ConfigureAwait(false);
        var claims = await _queue.ClaimAsync(_clock.GetCurrentInstant(), _options.Lease, _options.BatchSize, cancellationToken).ConfigureAwait(false);
        var endpoints = await LoadEndpointsAsync(claims, cancellationToken).ConfigureAwait(false);
        var attempts = new WebhookDeliveryCompletion[claims.Count];
        await Parallel.ForEachAsync(
            Enumerable.Range(0, claims.Count),
            new ParallelOptions { MaxDegreeOfParallelism = _options.MaxConcurrency, CancellationToken = cancellationToken },
            async (i, ct) => attempts[i] = await AttemptAsync(claims[i], endpoints.GetValueOrDefault(claims[i].Delivery.EndpointId), ct).ConfigureAwait(false)).ConfigureAwait(false);

        // One round trip records the whole pass.
        var recorded = claims.Count == 0 ? new HashSet<WebhookDeliveryId>() : await _queue.CompleteAsync(attempts, cancellationToken).ConfigureAwait(false);
        foreach (var attempt in attempts)
        {
            Report(attempt, recorded.Contains(attempt.Claim.Delivery.Id));
        }

        var result = new WebhookDispatchResult(
            scheduled,
            claims.Count,
            attempts.Count(a => recorded.Contains(a.Claim.Delivery.Id) && a.Status == WebhookDeliveryStatus.Delivered),
            attempts.Count(a => recorded.Contains(a.Claim.Delivery.Id) && a.Status == WebhookDeliveryStatus.Pending),
            attempts.Count(a => recorded.Contains(a.Claim.Delivery.Id) && a.Status == WebhookDeliveryStatus.DeadLettered),
            attempts.Count(a => !recorded.Contains(a.Claim.Delivery.Id)))
        {
            MoreWork = scheduled == _options.BatchSize || claims.Count == _options.BatchSize,
        };
        activity?.SetTag("paymentskit.webhooks.scheduled", scheduled);
        activity?.SetTag("paymentskit.webhooks.claimed", claims.Count);
        return result;
    }

    /// <summary>Parses a <c>Retry-After</c> header: delta seconds or an HTTP date.</summary>
    internal static Duration? RetryAfter(RetryConditionHeaderValue? header, Instant now)
    {
        if (header?.Delta is { } delta)
        {
            return delta > TimeSpan.Zero ? Duration.FromTimeSpan(delta) : null;
        }

        if (header?.Date is { } date)
        {
            var wait = Instant.FromDateTimeOffset(date) - now;
            return wait > Duration.Zero ? wait : null;
        }

        return null;
    }

    private async ValueTask<IReadOnlyList<WebhookDeliveryPlan>> PlanAsync(IReadOnlyList<WebhookEvent> events, CancellationToken cancellationToken)
    {
        var plans = new List<WebhookDeliveryPlan>();
        foreach (var tenant in events.GroupBy(e => e.TenantId))
        {
            var endpoints = await _endpoints.ListAsync(tenant.Key, cancellationToken).ConfigureAwait(false);
            foreach (var e in tenant)
            {
                foreach (var endpoint in endpoints)
                {
                    if (endpoint.Status == WebhookEndpointStatus.Enabled && endpoint.Accepts(e.EventType))
                    {
                        plans.Add(new WebhookDeliveryPlan(e.Id, e.TenantId, endpoint.Id, e.EventType, endpoint.Ordered ? $"{e.ResourceType}:{e.ResourceId}" : null));
                    }
                }
            }
        }

        return plans;
    }

    private async ValueTask<Dictionary<WebhookEndpointId, WebhookEndpoint>> LoadEndpointsAsync(IReadOnlyList<WebhookClaim> claims, CancellationToken cancellationToken)
    {
        var endpoints = new Dictionary<WebhookEndpointId, WebhookEndpoint>();
        if (claims.Count == 0)
        {
            return endpoints;
        }

        var unit = await _store.BeginAsync(cancellationToken).ConfigureAwait(false);
        await using (unit.ConfigureAwait(false))
        {
            foreach (var claim in claims.DistinctBy(c => c.Delivery.EndpointId))
            {
                var found = await unit.GetAsync(WebhookDeliveryCollections.Endpoints, claim.Delivery.TenantId, claim.Delivery.EndpointId.Value, cancellationToken).ConfigureAwait(false);
                if (found is not null)
                {
                    endpoints[claim.Delivery.EndpointId] = found.Value;
                }
            }
        }

        return endpoints;
    }

    private async ValueTask<WebhookDeliveryCompletion> AttemptAsync(WebhookClaim claim, WebhookEndpoint? endpoint, CancellationToken cancellationToken)
    {
        var delivery = claim.Delivery;
        using var activity = PaymentsKitTelemetry.StartActivity("webhooks.deliver", ActivityKind.Client);
        activity?.SetTag("paymentskit.webhook_event", delivery.EventId.ToString());
        activity?.SetTag("paymentskit.webhook_endpoint", delivery.EndpointId.ToString());
        activity?.SetTag("paymentskit.webhooks.attempt", delivery.Attempts);
        var startedAt = _clock.GetCurrentInstant();
        var attempt = endpoint is null || endpoint.Status != WebhookEndpointStatus.Enabled
            ? Attempt(delivery, startedAt, TimeSpan.Zero, WebhookAttemptOutcome.EndpointDisabled, null, null, endpoint is null ? "the endpoint no longer exists" : $"the endpoint is disabled: {endpoint.DisabledReason}")
            : await SendAsync(claim, endpoint, startedAt, cancellationToken).ConfigureAwait(false);
        if (attempt.Outcome == WebhookAttemptOutcome.Gone)
        {
            await DisableGoneAsync(delivery, cancellationToken).ConfigureAwait(false);
        }

        var (status, next) = Decide(delivery, attempt.Outcome, attempt.RetryAfter);
        activity?.SetTag("paymentskit.webhooks.outcome", attempt.Outcome.ToString());
        return new WebhookDeliveryCompletion(claim, status, next, attempt.Log);
    }

    private void Report(WebhookDeliveryCompletion completion, bool recorded)
    {
        var delivery = completion.Claim.Delivery;
        var attempt = completion.Attempt;
        var outcomeTag = !recorded ? "lost_lease"
            : completion.Status switch
            {
                WebhookDeliveryStatus.Delivered => "delivered",
                WebhookDeliveryStatus.Pending => "retry",
                _ => attempt.Outcome == WebhookAttemptOutcome.Gone ? "endpoint_gone" : "dead_lettered",
            };
        PaymentsKitTelemetry.WebhookDeliveries.Add(1, new KeyValuePair<string, object?>("outcome", outcomeTag));
        PaymentsKitTelemetry.WebhookAttemptDuration.Record(attempt.Duration.TotalSeconds, new KeyValuePair<string, object?>("outcome", attempt.Outcome.ToString()));
        if (!recorded)
        {
            LogLostLease(_logger, delivery.Id, delivery.EventId);
            return;
        }

        switch (completion.Status)
        {
            case WebhookDeliveryStatus.Pending:
                PaymentsKitTelemetry.WebhookRetries.Add(1);
                LogRetry(_logger, delivery.Id, delivery.EventId, delivery.Attempts, attempt.Outcome, attempt.StatusCode, completion.NextAttemptAt);
                break;
            case WebhookDeliveryStatus.DeadLettered:
                PaymentsKitTelemetry.WebhookDeadLetters.Add(1);
                LogDeadLettered(_logger, delivery.Id, delivery.EventId, delivery.Attempts, attempt.Outcome, attempt.StatusCode);
                break;
        }
    }

    private (WebhookDeliveryStatus Status, Instant? Next) Decide(WebhookDelivery delivery, WebhookAttemptOutcome outcome, Duration? retryAfter)
    {
        switch (outcome)
        {
            case WebhookAttemptOutcome.Delivered:
                return (WebhookDeliveryStatus.Delivered, null);
            case WebhookAttemptOutcome.Gone or WebhookAttemptOutcome.EndpointDisabled:
                return (WebhookDeliveryStatus.DeadLettered, null);
            default:
                var delay = _options.RetryPolicy.DelayAfter(Math.Max(delivery.Attempts, 1), _random, retryAfter);
                return delay is { } wait
                    ? (WebhookDeliveryStatus.Pending, _clock.GetCurrentInstant() + wait)
                    : (WebhookDeliveryStatus.DeadLettered, null);
        }
    }

    private async ValueTask DisableGoneAsync(WebhookDelivery delivery, CancellationToken cancellationToken)
    {
        try
        {
            await _endpoints.DisableAsync(delivery.TenantId, delivery.EndpointId, "the endpoint answered 410 Gone", cancellationToken).ConfigureAwait(false);
            LogEndpointGone(_logger, delivery.EndpointId);
        }
        catch (PaymentsKitException ex) when (ex.Code == PaymentsKitErrorCodes.NotFound)
        {
            // Removed meanwhile: nothing left to disable.
        }
    }

    private async ValueTask<AttemptResult> SendAsync(WebhookClaim claim, WebhookEndpoint endpoint, Instant startedAt, CancellationToken cancellationToken)
    {
        var delivery = claim.Delivery;
        var url = new Uri(endpoint.Url);
        var (_, rejected) = await _validator.CheckAsync(url, cancellationToken).ConfigureAwait(false);
        if (rejected is not null)
        {
            return Attempt(delivery, startedAt, TimeSpan.Zero, WebhookAttemptOutcome.Rejected, null, null, $"SSRF guard: {rejected}");
        }

        var headers = WebhookSigner.CreateHeaders(endpoint.SigningSecrets(startedAt), delivery.EventId.ToString(), startedAt, claim.Payload.Span);
        using var request = new HttpRequestMessage(HttpMethod.Post, url)
        {
            Content = new ReadOnlyMemoryContent(claim.Payload),
            Version = HttpVersion.Version11,
        };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        request.Headers.TryAddWithoutValidation("User-Agent", _options.UserAgent);
        foreach (var (name, value) in headers.ToList())
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.Timeout);
        var watch = Stopwatch.StartNew();
        try
        {
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token).ConfigureAwait(false);
            var excerpt = await ExcerptAsync(response, timeout.Token).ConfigureAwait(false);
            var code = (int)response.StatusCode;
            var outcome = code is >= 200 and < 300 ? WebhookAttemptOutcome.Delivered
                : response.StatusCode == HttpStatusCode.Gone ? WebhookAttemptOutcome.Gone
                : WebhookAttemptOutcome.Failed;
            var retryAfter = response.StatusCode is HttpStatusCode.TooManyRequests or HttpStatusCode.ServiceUnavailable
                ? RetryAfter(response.Headers.RetryAfter, _clock.GetCurrentInstant())
                : null;
            var error = outcome == WebhookAttemptOutcome.Delivered ? null : string.Create(CultureInfo.InvariantCulture, $"HTTP {code}");
            return Attempt(delivery, startedAt, watch.Elapsed, outcome, code, excerpt, error) with { RetryAfter = retryAfter };
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return Attempt(delivery, startedAt, watch.Elapsed, WebhookAttemptOutcome.TimedOut, null, null, $"no answer within {_options.Timeout.TotalSeconds:0.###} s");
        }
        catch (HttpRequestException ex) when (Find<PaymentsKitException>(ex) is { Code: PaymentsKitErrorCodes.WebhookEndpointRejected } guard)
        {
            return Attempt(delivery, startedAt, watch.Elapsed, WebhookAttemptOutcome.Rejected, null, null, $"SSRF guard: {guard.Context.GetValueOrDefault("reason")}");
        }
        catch (HttpRequestException ex)
        {
            return Attempt(delivery, startedAt, watch.Elapsed, WebhookAttemptOutcome.Failed, null, null, Truncate(ex.Message, 256));
        }
    }

    private static async ValueTask<string?> ExcerptAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        await using (stream.ConfigureAwait(false))
        {
            var buffer = new byte[ResponseExcerptBytes];
            var read = 0;
            int n;
            while (read < buffer.Length && (n = await stream.ReadAsync(buffer.AsMemory(read), cancellationToken).ConfigureAwait(false)) > 0)
            {
                read += n;
            }

            return read == 0 ? null : Encoding.UTF8.GetString(buffer, 0, read);
        }
    }

    private static T? Find<T>(Exception? ex)
        where T : Exception
    {
        for (; ex is not null; ex = ex.InnerException)
        {
            if (ex is T found)
            {
                return found;
            }
        }

        return null;
    }

    private static string Truncate(string text, int max) => text.Length <= max ? text : text[..max] + "…";

    private static AttemptResult Attempt(
        WebhookDelivery delivery, Instant startedAt, TimeSpan elapsed, WebhookAttemptOutcome outcome, int? statusCode, string? excerpt, string? error) =>
        new(new WebhookDeliveryAttempt(
            Guid.CreateVersion7(startedAt.ToDateTimeOffset()),
            delivery.TenantId,
            delivery.Id,
            delivery.EventId,
            delivery.EndpointId,
            delivery.Attempts,
            startedAt,
            Duration.FromTimeSpan(elapsed),
            outcome,
            statusCode,
            excerpt,
            error));

    [LoggerMessage(EventId = 401, Level = LogLevel.Information, Message = "Webhook delivery {DeliveryId} of {EventId} attempt {Attempt} failed ({Outcome}, HTTP {StatusCode}); next attempt at {NextAttemptAt}")]
    private static partial void LogRetry(ILogger logger, WebhookDeliveryId deliveryId, WebhookEventId eventId, int attempt, WebhookAttemptOutcome outcome, int? statusCode, Instant? nextAttemptAt);

    [LoggerMessage(EventId = 402, Level = LogLevel.Warning, Message = "Webhook delivery {DeliveryId} of {EventId} dead-lettered after {Attempts} attempt(s) ({Outcome}, HTTP {StatusCode})")]
    private static partial void LogDeadLettered(ILogger logger, WebhookDeliveryId deliveryId, WebhookEventId eventId, int attempts, WebhookAttemptOutcome outcome, int? statusCode);

    [LoggerMessage(EventId = 403, Level = LogLevel.Warning, Message = "Webhook endpoint {EndpointId} answered 410 Gone and was disabled")]
    private static partial void LogEndpointGone(ILogger logger, WebhookEndpointId endpointId);

    [LoggerMessage(EventId = 404, Level = LogLevel.Warning, Message = "Webhook delivery {DeliveryId} of {EventId} finished after its lease expired; the result was discarded")]
    private static partial void LogLostLease(ILogger logger, WebhookDeliveryId deliveryId, WebhookEventId eventId);

    private sealed record AttemptResult(WebhookDeliveryAttempt Log)
    {
        public WebhookAttemptOutcome Outcome => Log.Outcome;

        public Duration? RetryAfter { get; init; }
    }
}
