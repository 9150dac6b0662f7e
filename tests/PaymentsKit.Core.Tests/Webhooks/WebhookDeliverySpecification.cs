using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json;
using NodaTime;
using PaymentsKit.Testing;
using PaymentsKit.Webhooks;

namespace PaymentsKit.Core.Tests.Webhooks;

/// <summary>A loopback webhook receiver whose answers a test scripts per request.</summary>
public sealed class TestReceiver : IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, int> _inFlight = new();
    private readonly ConcurrentQueue<LoopbackRequest> _received = new();
    private int _overlaps;

    public TestReceiver(Func<LoopbackRequest, int, LoopbackResponse>? answer = null, TimeSpan hold = default)
    {
        Answer = answer ?? ((_, _) => LoopbackResponse.Json("{\"ok\":true}"));
        Server = new LoopbackHttpServer(request =>
        {
            var id = request.Headers.GetValueOrDefault("webhook-id") ?? "";
            if (_inFlight.AddOrUpdate(id, 1, (_, n) => n + 1) > 1)
            {
                Interlocked.Increment(ref _overlaps);
            }

            try
            {
                if (hold > TimeSpan.Zero)
                {
                    Thread.Sleep(hold);
                }

                _received.Enqueue(request);
                return Answer(request, _received.Count(r => r.Headers.GetValueOrDefault("webhook-id") == id));
            }
            finally
            {
                _inFlight.AddOrUpdate(id, 0, (_, n) => n - 1);
            }
        });
    }

    public Func<LoopbackRequest, int, LoopbackResponse> Answer { get; set; }

    public LoopbackHttpServer Server { get; }

    public Uri Url => new(Server.BaseAddress, "hooks");

    /// <summary>Requests in the order they were answered.</summary>
    public IReadOnlyList<LoopbackRequest> Received => [.. _received];

    /// <summary>How often one webhook-id was being handled twice at the same moment.</summary>
    public int Overlaps => Volatile.Read(ref _overlaps);

    /// <summary>The <c>data.sequence</c> of a delivered event (bodies are compared parsed: PostgreSQL's jsonb reformats them).</summary>
    public static int Sequence(LoopbackRequest request)
    {
        using var body = JsonDocument.Parse(request.Body);
        return body.RootElement.GetProperty("data").GetProperty("sequence").GetInt32();
    }

    public IReadOnlyList<LoopbackRequest> For(WebhookEvent e) => [.. Received.Where(r => r.Headers.GetValueOrDefault("webhook-id") == e.Id.ToString())];

    public ValueTask DisposeAsync() => Server.DisposeAsync();
}

/// <summary>
/// Webhook delivery end to end (outbox → queue → dispatcher → loopback receiver), written once and run on every
/// store: the in-memory one here, PostgreSQL in its test project.
/// </summary>
public abstract partial class WebhookDeliverySpecification : IAsyncLifetime
{
    protected static readonly Guid Tenant = Guid.CreateVersion7();

    private WebhookTestKit? _kit;

    protected WebhookTestKit Kit => _kit ?? throw new InvalidOperationException("Not initialized.");

    public async Task InitializeAsync() => _kit = await CreateKitAsync();

    public virtual Task DisposeAsync() => Task.CompletedTask;

    protected abstract Task<WebhookTestKit> CreateKitAsync();

    [Fact]
    public async Task A_stored_endpoint_equals_the_registered_one()
    {
        var registration = await Kit.RegisterAsync(Tenant, new Uri("http://127.0.0.1:9/hooks"), ordered: true, eventTypes: ["invoice.*", "payment.confirmed"]);

        var stored = await Kit.Endpoints.GetAsync(Tenant, registration.Endpoint.Id);
        Assert.Equal(registration.Endpoint, stored);
        Assert.Equal(registration.Endpoint.GetHashCode(), stored.GetHashCode());
    }

    /// <summary>
    /// One event of the tenant scheduled to two endpoints by a planner of its own and both deliveries claimed now (the
    /// tenant has an endpoint registered so the in-memory queue looks at its outbox).
    /// </summary>
    private async Task<(WebhookEvent Event, Instant Now, IReadOnlyList<WebhookClaim> Claims)> ClaimedForTwoEndpointsAsync()
    {
        await Kit.RegisterAsync(Tenant, new Uri("http://127.0.0.1:9/hooks"));
        var e = await Kit.EnqueueAsync(Tenant, "inv_1");
        var endpoints = new[] { new WebhookEndpointId(Guid.CreateVersion7()), new WebhookEndpointId(Guid.CreateVersion7()) };
        var now = Kit.Clock.GetCurrentInstant();
        await Kit.Queue.ScheduleAsync(
            (events, _) => ValueTask.FromResult<IReadOnlyList<WebhookDeliveryPlan>>(
                [.. events.SelectMany(x => endpoints.Select(endpoint => new WebhookDeliveryPlan(x.Id, x.TenantId, endpoint, x.EventType, null)))]),
            now,
            10);
        var claims = await Kit.Queue.ClaimAsync(now, Duration.FromMinutes(1), 10);
        Assert.Equal(2, claims.Count);
        return (e, now, claims);
    }

    /// <summary>The claimed delivery of <paramref name="e"/> delivered (200) by a first attempt started at <paramref name="startedAt"/>.</summary>
    private WebhookDeliveryCompletion Delivered(WebhookClaim claim, WebhookEvent e, Instant startedAt) => new(
        claim,
        WebhookDeliveryStatus.Delivered,
        null,
        new WebhookDeliveryAttempt(
            Guid.CreateVersion7(), Tenant, claim.Delivery.Id, e.Id, claim.Delivery.EndpointId, 1, startedAt, Duration.FromSeconds(10), WebhookAttemptOutcome.Delivered, 200, null, null));

    [Fact]
    public async Task The_event_summary_counts_every_deliverys_attempt_and_keeps_the_latest_attempt_time()
    {
        var (e, now, claims) = await ClaimedForTwoEndpointsAsync();

        // Half a second apart: as text, "…00Z" sorts after "…00.5Z", so only a comparison of instants finds the latest.
        Assert.Equal(2, (await Kit.Queue.CompleteAsync([.. claims.Select((claim, i) => Delivered(claim, e, now + Duration.FromMilliseconds(500 * i)))])).Count);

        var stored = await Kit.Outbox.GetAsync(Tenant, e.Id);
        Assert.Equal((true, 2, now + Duration.FromMilliseconds(500)), (stored.Delivered, stored.Attempts, stored.LastAttemptAt));
    }

    [Fact]
    public async Task The_event_summary_keeps_the_latest_attempt_time_when_an_earlier_attempt_is_recorded_later()
    {
        // Two endpoints of one event: the attempt to the slow one started first and is recorded last (another dispatcher,
        // or a later batch of one drain's recorder).
        var (e, now, claims) = await ClaimedForTwoEndpointsAsync();
        var later = now + Duration.FromMilliseconds(500);
        Assert.Single(await Kit.Queue.CompleteAsync([Delivered(claims[1], e, later)]));
        Assert.Single(await Kit.Queue.CompleteAsync([Delivered(claims[0], e, now)]));

        var stored = await Kit.Outbox.GetAsync(Tenant, e.Id);
        Assert.Equal((true, 2, later), (stored.Delivered, stored.Attempts, stored.LastAttemptAt));
    }

    [Fact]
    public async Task An_event_is_delivered_signed_with_its_id_and_logged()
    {
        await using var receiver = new TestReceiver();
        var registration = await Kit.RegisterAsync(Tenant, receiver.Url);
        var e = await Kit.EnqueueAsync(Tenant, "inv_1");

        var pass = await Kit.Dispatcher().DispatchAsync();

        Assert.Equal((1, 1, 1), (pass.Scheduled, pass.Claimed, pass.Delivered));
        var request = Assert.Single(receiver.Received);
        Assert.Equal("POST", request.Method);
        Assert.Equal("/hooks", request.Path);
        Assert.Equal(e.Id.ToString(), request.Headers["webhook-id"]);
        Assert.Equal(Kit.Clock.GetCurrentInstant().ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture), request.Headers["webhook-timestamp"]);
        Assert.StartsWith("application/json", request.Headers["content-type"], StringComparison.Ordinal);
        var verifier = new WebhookVerifier(Kit.Clock, [registration.Secret]);
        Assert.Equal(WebhookVerificationResult.Valid, verifier.Check(request.Headers["webhook-id"], request.Headers["webhook-timestamp"], request.Headers["webhook-signature"], System.Text.Encoding.UTF8.GetBytes(request.Body)));
        using (var body = JsonDocument.Parse(request.Body))
        {
            Assert.Equal("invoice.paid", body.RootElement.GetProperty("type").GetString());
            Assert.Equal("inv_1", body.RootElement.GetProperty("data").GetProperty("id").GetString());
        }

        var delivery = Assert.Single((await Kit.Deliveries.ListAsync(Tenant, new WebhookDeliveryFilter(EventId: e.Id), null, 10)).Items);
        Assert.Equal(WebhookDeliveryStatus.Delivered, delivery.Status);
        Assert.Equal(1, delivery.Attempts);
        Assert.Equal(200, delivery.LastStatusCode);
        var attempt = Assert.Single(await Kit.Deliveries.ListAttemptsAsync(Tenant, delivery.Id));
        Assert.Equal((WebhookAttemptOutcome.Delivered, 200, 1), (attempt.Outcome, attempt.StatusCode, attempt.Number));
        Assert.Equal("{\"ok\":true}", attempt.ResponseExcerpt);

        var stored = await Kit.Outbox.GetAsync(Tenant, e.Id);
        Assert.True(stored.Delivered);
        Assert.Equal(1, stored.Attempts);
        Assert.Equal(Kit.Clock.GetCurrentInstant(), stored.LastAttemptAt);

        Assert.Equal(0, (await Kit.Dispatcher().DispatchAsync()).Claimed);
    }

    [Fact]
    public async Task A_500_is_retried_on_the_schedule_then_delivered()
    {
        await using var receiver = new TestReceiver((_, n) => n == 1 ? LoopbackResponse.WithStatus(500, "{\"error\":\"boom\"}") : LoopbackResponse.Json("{}"));
        await Kit.RegisterAsync(Tenant, receiver.Url);
        var e = await Kit.EnqueueAsync(Tenant, "inv_1");
        var dispatcher = Kit.Dispatcher();

        var first = await dispatcher.DispatchAsync();
        Assert.Equal(1, first.Retrying);
        var delivery = Assert.Single((await Kit.Deliveries.ListAsync(Tenant, new WebhookDeliveryFilter(), null, 10)).Items);
        Assert.Equal(WebhookDeliveryStatus.Pending, delivery.Status);
        Assert.Equal(Kit.Clock.GetCurrentInstant() + Duration.FromSeconds(1), delivery.NextAttemptAt);
        Assert.Equal((500, "HTTP 500"), (delivery.LastStatusCode, delivery.LastError));

        Assert.Equal(0, (await dispatcher.DispatchAsync()).Claimed);
        Kit.Clock.Advance(Duration.FromSeconds(1));
        Assert.Equal(1, (await dispatcher.DispatchAsync()).Delivered);

        var attempts = await Kit.Deliveries.ListAttemptsAsync(Tenant, delivery.Id);
        Assert.Equal([500, 200], attempts.Select(a => a.StatusCode ?? 0));
        Assert.Equal([1, 2], attempts.Select(a => a.Number));
        Assert.Equal("{\"error\":\"boom\"}", attempts[0].ResponseExcerpt);
        Assert.Equal(2, receiver.For(e).Count);
        Assert.Equal(2, (await Kit.Outbox.GetAsync(Tenant, e.Id)).Attempts);
    }

    [Theory]
    [InlineData(200)]
    [InlineData(500)]
    public async Task A_binary_response_body_with_nul_bytes_is_excerpted_and_its_outcome_recorded(int status)
    {
        // PostgreSQL text cannot hold U+0000: the excerpt drops it, on every store alike.
        await using var receiver = new TestReceiver((_, _) => new LoopbackResponse(status, "\u0089PNG\0\u0001bin\0", "application/octet-stream"));
        await Kit.RegisterAsync(Tenant, receiver.Url);
        var e = await Kit.EnqueueAsync(Tenant, "inv_1");

        var pass = await Kit.Dispatcher().DispatchAsync();

        Assert.Equal(status == 200 ? (1, 0) : (0, 1), (pass.Delivered, pass.Retrying));
        var delivery = Assert.Single((await Kit.Deliveries.ListAsync(Tenant, new WebhookDeliveryFilter(EventId: e.Id), null, 10)).Items);
        Assert.Equal(status == 200 ? WebhookDeliveryStatus.Delivered : WebhookDeliveryStatus.Pending, delivery.Status);
        var attempt = Assert.Single(await Kit.Deliveries.ListAttemptsAsync(Tenant, delivery.Id));
        Assert.Equal("\u0089PNG\u0001bin", attempt.ResponseExcerpt);
    }

    [Fact]
    public async Task A_malformed_answer_with_nul_bytes_is_a_failed_attempt_recorded_with_its_error()
    {
        // HttpClient quotes a malformed status line in its error. PostgreSQL text cannot hold U+0000: kept in the attempt's
        // error, it failed the completion of the whole batch, and a receiver that answers so every time had the event sent
        // again after every lease, never recorded.
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var answered = Task.Run(async () =>
        {
            using var client = await listener.AcceptTcpClientAsync();
            var stream = client.GetStream();
            var buffer = new byte[65536];
            _ = await stream.ReadAsync(buffer);
            await stream.WriteAsync("HTTP/1.1 2\0\0 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"u8.ToArray());
            await stream.FlushAsync();
        });
        var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        await Kit.RegisterAsync(Tenant, new Uri($"http://127.0.0.1:{port}/hooks"));
        var e = await Kit.EnqueueAsync(Tenant, "inv_1");

        var pass = await Kit.Dispatcher().DispatchAsync();
        await answered;

        Assert.Equal((1, 0), (pass.Retrying, pass.LostLeases));
        var delivery = Assert.Single((await Kit.Deliveries.ListAsync(Tenant, new WebhookDeliveryFilter(EventId: e.Id), null, 10)).Items);
        Assert.Equal((WebhookDeliveryStatus.Pending, 1), (delivery.Status, delivery.Attempts));
        var attempt = Assert.Single(await Kit.Deliveries.ListAttemptsAsync(Tenant, delivery.Id));
        Assert.Equal(WebhookAttemptOutcome.Failed, attempt.Outcome);
        Assert.DoesNotContain("\0", attempt.Error, StringComparison.Ordinal);
        Assert.Equal(attempt.Error, delivery.LastError);
    }

    [Fact]
    public async Task A_host_whose_look_up_never_answers_costs_its_delivery_an_attempt_not_the_whole_pass()
    {
        // The SSRF guard's look-up before a batch's attempts had no timeout: one tenant's endpoint on a name server that
        // never answers held the pass, every tenant's deliveries in it and the dispatcher with them.
        await using var receiver = new TestReceiver();
        await Kit.RegisterAsync(Tenant, receiver.Url);
        var e = await Kit.EnqueueAsync(Tenant, "inv_1");
        Kit.Resolver.Hang(receiver.Url.Host);

        var pass = await Kit.Dispatcher().DispatchAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(20));

        Assert.Equal((1, 0), (pass.Retrying, pass.Delivered));
        var delivery = Assert.Single((await Kit.Deliveries.ListAsync(Tenant, new WebhookDeliveryFilter(EventId: e.Id), null, 10)).Items);
        Assert.Equal(WebhookDeliveryStatus.Pending, delivery.Status);
        Assert.Equal(WebhookAttemptOutcome.Rejected, Assert.Single(await Kit.Deliveries.ListAttemptsAsync(Tenant, delivery.Id)).Outcome);
        Assert.Empty(receiver.Received);
    }

    [Fact]
    public async Task A_host_whose_look_up_fails_costs_its_delivery_an_attempt_not_every_tenants_pass()
    {
        // A resolver that throws (its own transport down, or anything unforeseen) for one endpoint failed the SSRF guard's
        // check of the whole batch: every tenant's claimed deliveries were left to their leases, pass after pass.
        await using var receiver = new TestReceiver();
        var other = Guid.CreateVersion7();
        Kit.Resolver.Set("broken.example", "127.0.0.1");
        await Kit.RegisterAsync(Tenant, new UriBuilder(receiver.Url) { Host = "broken.example" }.Uri);
        await Kit.RegisterAsync(other, receiver.Url);
        var broken = await Kit.EnqueueAsync(Tenant, "inv_1");
        var healthy = await Kit.EnqueueAsync(other, "inv_2");
        Kit.Resolver.Fail("broken.example");

        var pass = await Kit.Dispatcher().DispatchAsync();

        Assert.Equal((1, 1), (pass.Retrying, pass.Delivered));
        Assert.Single(receiver.For(healthy));
        Assert.Empty(receiver.For(broken));
        var delivery = Assert.Single((await Kit.Deliveries.ListAsync(Tenant, new WebhookDeliveryFilter(EventId: broken.Id), null, 10)).Items);
        Assert.Equal((WebhookDeliveryStatus.Pending, 1), (delivery.Status, delivery.Attempts));
        var attempt = Assert.Single(await Kit.Deliveries.ListAttemptsAsync(Tenant, delivery.Id));
        Assert.Equal(WebhookAttemptOutcome.Rejected, attempt.Outcome);
        Assert.Contains("broken.example", attempt.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_timeout_is_retried()
    {
        await using var receiver = new TestReceiver((_, n) => n == 1 ? new LoopbackResponse(200, "{}", Delay: TimeSpan.FromSeconds(3)) : LoopbackResponse.Json("{}"));
        await Kit.RegisterAsync(Tenant, receiver.Url);
        var e = await Kit.EnqueueAsync(Tenant, "inv_1");
        var dispatcher = Kit.Dispatcher();

        Assert.Equal(1, (await dispatcher.DispatchAsync()).Retrying);
        Kit.Clock.Advance(Duration.FromSeconds(1));
        Assert.Equal(1, (await dispatcher.DispatchAsync()).Delivered);

        var delivery = Assert.Single((await Kit.Deliveries.ListAsync(Tenant, new WebhookDeliveryFilter(EventId: e.Id), null, 10)).Items);
        var attempts = await Kit.Deliveries.ListAttemptsAsync(Tenant, delivery.Id);
        Assert.Equal([WebhookAttemptOutcome.TimedOut, WebhookAttemptOutcome.Delivered], attempts.Select(a => a.Outcome));
        Assert.Null(attempts[0].StatusCode);
    }

    [Theory]
    [InlineData(429)]
    [InlineData(503)]
    public async Task Retry_after_on_429_and_503_defers_the_next_attempt(int status)
    {
        await using var receiver = new TestReceiver((_, n) => n == 1
            ? new LoopbackResponse(status, "{}", Headers: new Dictionary<string, string> { ["Retry-After"] = "3" })
            : LoopbackResponse.Json("{}"));
        await Kit.RegisterAsync(Tenant, receiver.Url);
        await Kit.EnqueueAsync(Tenant, "inv_1");
        var dispatcher = Kit.Dispatcher();

        await dispatcher.DispatchAsync();
        var delivery = Assert.Single((await Kit.Deliveries.ListAsync(Tenant, new WebhookDeliveryFilter(), null, 10)).Items);
        Assert.Equal(Kit.Clock.GetCurrentInstant() + Duration.FromSeconds(3), delivery.NextAttemptAt);

        Kit.Clock.Advance(Duration.FromSeconds(2));
        Assert.Equal(0, (await dispatcher.DispatchAsync()).Claimed);
        Kit.Clock.Advance(Duration.FromSeconds(1));
        Assert.Equal(1, (await dispatcher.DispatchAsync()).Delivered);
    }

    [Fact]
    public async Task A_410_disables_the_endpoint_and_dead_letters_until_replayed()
    {
        await using var receiver = new TestReceiver((_, _) => LoopbackResponse.WithStatus(410));
        var endpoint = (await Kit.RegisterAsync(Tenant, receiver.Url)).Endpoint;
        await Kit.EnqueueAsync(Tenant, "inv_1");
        var dispatcher = Kit.Dispatcher();

        Assert.Equal(1, (await dispatcher.DispatchAsync()).DeadLettered);
        var disabled = await Kit.Endpoints.GetAsync(Tenant, endpoint.Id);
        Assert.Equal(WebhookEndpointStatus.Disabled, disabled.Status);
        var dead = Assert.Single((await Kit.Deliveries.ListAsync(Tenant, new WebhookDeliveryFilter(WebhookDeliveryStatus.DeadLettered), null, 10)).Items);
        Assert.Equal(WebhookAttemptOutcome.Gone, Assert.Single(await Kit.Deliveries.ListAttemptsAsync(Tenant, dead.Id)).Outcome);

        // Events written while it is disabled are not scheduled to it.
        await Kit.EnqueueAsync(Tenant, "inv_2");
        Kit.Clock.Advance(Duration.FromMinutes(1));
        await WebhookTestKit.DrainAsync(dispatcher);
        Assert.Single(receiver.Received);

        receiver.Answer = (_, _) => LoopbackResponse.Json("{}");
        await Kit.Endpoints.EnableAsync(Tenant, endpoint.Id);
        Assert.Equal(1, await Kit.Deliveries.ReplayDeadLettersAsync(Tenant, endpoint.Id));
        Assert.Equal(1, (await dispatcher.DispatchAsync()).Delivered);
        Assert.Equal(WebhookDeliveryStatus.Delivered, (await Kit.Deliveries.GetAsync(Tenant, dead.Id)).Status);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)] // A queue written before the status-checked overload: the interface's default checks, then replays.
    public async Task Replaying_dead_letters_skips_one_replayed_and_delivered_since_it_was_listed(bool queueChecksTheStatus)
    {
        await using var receiver = new TestReceiver((_, _) => LoopbackResponse.WithStatus(410));
        var endpoint = (await Kit.RegisterAsync(Tenant, receiver.Url)).Endpoint;
        var e = await Kit.EnqueueAsync(Tenant, "inv_1");
        var dispatcher = Kit.Dispatcher();
        Assert.Equal(1, (await dispatcher.DispatchAsync()).DeadLettered);
        receiver.Answer = (_, _) => LoopbackResponse.Json("{}");
        await Kit.Endpoints.EnableAsync(Tenant, endpoint.Id);

        // Between the bulk replay's listing and its replay, another operator replays the dead letter and it is delivered.
        Func<Task> hook = async () =>
        {
            var dead = Assert.Single((await Kit.Deliveries.ListAsync(Tenant, new WebhookDeliveryFilter(WebhookDeliveryStatus.DeadLettered), null, 10)).Items);
            await Kit.Deliveries.ReplayAsync(Tenant, dead.Id);
            Assert.Equal(1, (await dispatcher.DispatchAsync()).Delivered);
        };
        var interleaved = queueChecksTheStatus ? new CheckedReplayListHookQueue(Kit.Queue, hook) : new ListHookQueue(Kit.Queue, hook);
        var bulk = new WebhookDeliveryService(interleaved, Kit.Clock);

        Assert.Equal(0, await bulk.ReplayDeadLettersAsync(Tenant, endpoint.Id));
        var delivery = Assert.Single((await Kit.Deliveries.ListAsync(Tenant, new WebhookDeliveryFilter(EventId: e.Id), null, 10)).Items);
        Assert.Equal(WebhookDeliveryStatus.Delivered, delivery.Status);
        Assert.Equal(0, (await dispatcher.DispatchAsync()).Claimed);
        Assert.Equal(2, receiver.For(e).Count);
    }

    /// <summary>
    /// A queue that runs <c>hook</c> once, after the first listing it answers, and leaves the status-checked replay to the
    /// interface's default.
    /// </summary>
    private class ListHookQueue(IWebhookDeliveryQueue inner, Func<Task> hook) : ForwardingQueue(inner)
    {
        private int _hooked;

        public override async ValueTask<PaymentsKit.Storage.Page<WebhookDelivery>> ListAsync(Guid tenantId, WebhookDeliveryFilter filter, string? cursor, int limit, CancellationToken cancellationToken = default)
        {
            var page = await Inner.ListAsync(tenantId, filter, cursor, limit, cancellationToken);
            if (Interlocked.Exchange(ref _hooked, 1) == 0)
            {
                await hook();
            }

            return page;
        }
    }

    /// <summary>A <see cref="ListHookQueue"/> whose status-checked replay is the inner queue's.</summary>
    private sealed class CheckedReplayListHookQueue(IWebhookDeliveryQueue inner, Func<Task> hook) : ListHookQueue(inner, hook), IWebhookDeliveryQueue
    {
        public ValueTask<WebhookDelivery?> ReplayAsync(Guid tenantId, WebhookDeliveryId deliveryId, Instant now, WebhookDeliveryStatus from, CancellationToken cancellationToken = default) =>
            Inner.ReplayAsync(tenantId, deliveryId, now, from, cancellationToken);
    }

    [Fact]
    public async Task A_disabled_endpoint_dead_letters_what_it_had_pending_without_sending()
    {
        await using var receiver = new TestReceiver((_, _) => LoopbackResponse.WithStatus(500));
        var endpoint = (await Kit.RegisterAsync(Tenant, receiver.Url)).Endpoint;
        await Kit.EnqueueAsync(Tenant, "inv_1");
        var dispatcher = Kit.Dispatcher();
        await dispatcher.DispatchAsync();
        await Kit.Endpoints.DisableAsync(Tenant, endpoint.Id, "operator");
        Kit.Clock.Advance(Duration.FromSeconds(1));

        Assert.Equal(1, (await dispatcher.DispatchAsync()).DeadLettered);
        Assert.Single(receiver.Received);
        var dead = Assert.Single((await Kit.Deliveries.ListAsync(Tenant, new WebhookDeliveryFilter(WebhookDeliveryStatus.DeadLettered), null, 10)).Items);
        Assert.Equal(WebhookAttemptOutcome.EndpointDisabled, (await Kit.Deliveries.ListAttemptsAsync(Tenant, dead.Id))[^1].Outcome);
    }

    [Fact]
    public async Task The_last_failed_attempt_dead_letters_and_an_operator_replays_it()
    {
        await using var receiver = new TestReceiver((_, _) => LoopbackResponse.WithStatus(500));
        await Kit.RegisterAsync(Tenant, receiver.Url);
        var e = await Kit.EnqueueAsync(Tenant, "inv_1");
        var dispatcher = Kit.Dispatcher();

        foreach (var wait in new[] { 0, 1, 2, 4 })
        {
            Kit.Clock.Advance(Duration.FromSeconds(wait));
            Assert.Equal(1, (await dispatcher.DispatchAsync()).Claimed);
        }

        var dead = Assert.Single((await Kit.Deliveries.ListAsync(Tenant, new WebhookDeliveryFilter(WebhookDeliveryStatus.DeadLettered), null, 10)).Items);
        Assert.Equal(WebhookTestKit.ShortPolicy.MaxAttempts, dead.Attempts);
        Assert.NotNull(dead.CompletedAt);
        Kit.Clock.Advance(Duration.FromHours(1));
        Assert.Equal(0, (await dispatcher.DispatchAsync()).Claimed);
        Assert.Equal(4, receiver.For(e).Count);
        Assert.False((await Kit.Outbox.GetAsync(Tenant, e.Id)).Delivered);

        receiver.Answer = (_, _) => LoopbackResponse.Json("{}");
        var replayed = await Kit.Deliveries.ReplayAsync(Tenant, dead.Id);
        Assert.Equal((WebhookDeliveryStatus.Pending, 0), (replayed.Status, replayed.Attempts));
        var pending = await Assert.ThrowsAsync<PaymentsKitException>(() => Kit.Deliveries.ReplayAsync(Tenant, dead.Id).AsTask());
        Assert.Equal(PaymentsKitErrorCodes.InvalidTransition, pending.Code);

        Assert.Equal(1, (await dispatcher.DispatchAsync()).Delivered);
        Assert.Equal(5, (await Kit.Deliveries.ListAttemptsAsync(Tenant, dead.Id)).Count);
        Assert.True((await Kit.Outbox.GetAsync(Tenant, e.Id)).Delivered);

        var missing = await Assert.ThrowsAsync<PaymentsKitException>(() => Kit.Deliveries.ReplayAsync(Guid.CreateVersion7(), dead.Id).AsTask());
        Assert.Equal(PaymentsKitErrorCodes.NotFound, missing.Code);
        await Assert.ThrowsAsync<PaymentsKitException>(() => Kit.Deliveries.ListAttemptsAsync(Guid.CreateVersion7(), dead.Id).AsTask());
    }

    [Fact]
    public async Task An_ordered_endpoint_gets_each_resources_events_in_order()
    {
        var failedOnce = new ConcurrentDictionary<string, bool>();
        await using var receiver = new TestReceiver((r, _) =>
            TestReceiver.Sequence(r) == 1 && failedOnce.TryAdd(r.Headers["webhook-id"], true)
                ? LoopbackResponse.WithStatus(500)
                : LoopbackResponse.Json("{}"));
        await Kit.RegisterAsync(Tenant, receiver.Url, ordered: true);
        var a = new List<WebhookEvent>();
        for (var i = 1; i <= 3; i++)
        {
            a.Add(await Kit.EnqueueAsync(Tenant, "inv_a", sequence: i));
            Kit.Clock.Advance(Duration.FromMilliseconds(1));
        }

        var b = await Kit.EnqueueAsync(Tenant, "inv_b", sequence: 7);
        var dispatcher = Kit.Dispatcher();

        var first = await dispatcher.DispatchAsync();
        Assert.Equal(2, first.Claimed);
        Assert.Single(receiver.For(b));
        Assert.Empty(receiver.For(a[1]));

        // Head-of-line: a[1] waits while a[0] waits for its retry.
        Assert.Equal(0, (await dispatcher.DispatchAsync()).Claimed);
        Kit.Clock.Advance(Duration.FromSeconds(1));
        await WebhookTestKit.DrainAsync(dispatcher);

        var delivered = receiver.Received
            .Where(r => r.Body.Contains("inv_a", StringComparison.Ordinal))
            .Select(r => r.Headers["webhook-id"])
            .ToList();
        Assert.Equal([a[0].Id.ToString(), a[0].Id.ToString(), a[1].Id.ToString(), a[2].Id.ToString()], delivered);
    }

    [Fact]
    public async Task An_unordered_endpoint_is_not_held_up_by_a_failing_event()
    {
        await using var receiver = new TestReceiver((r, _) => TestReceiver.Sequence(r) == 1 ? LoopbackResponse.WithStatus(500) : LoopbackResponse.Json("{}"));
        await Kit.RegisterAsync(Tenant, receiver.Url);
        await Kit.EnqueueAsync(Tenant, "inv_a", sequence: 1);
        Kit.Clock.Advance(Duration.FromMilliseconds(1));
        var second = await Kit.EnqueueAsync(Tenant, "inv_a", sequence: 2);

        var pass = await Kit.Dispatcher().DispatchAsync();
        Assert.Equal((2, 1, 1), (pass.Claimed, pass.Delivered, pass.Retrying));
        Assert.Single(receiver.For(second));
    }

    [Fact]
    public async Task A_receiver_down_for_a_while_gets_everything_after_it_returns()
    {
        var down = true;
        await using var receiver = new TestReceiver((_, _) => Volatile.Read(ref down) ? LoopbackResponse.Drop() : LoopbackResponse.Json("{}"));
        await Kit.RegisterAsync(Tenant, receiver.Url);
        var events = new List<WebhookEvent>();
        for (var i = 0; i < 12; i++)
        {
            events.Add(await Kit.EnqueueAsync(Tenant, $"inv_{i % 3}", sequence: i));
        }

        var dispatcher = Kit.Dispatcher();
        await dispatcher.DispatchAsync();
        Kit.Clock.Advance(Duration.FromSeconds(1));
        await dispatcher.DispatchAsync();
        Assert.Empty((await Kit.Deliveries.ListAsync(Tenant, new WebhookDeliveryFilter(WebhookDeliveryStatus.Delivered), null, 100)).Items);

        Volatile.Write(ref down, false);
        Kit.Clock.Advance(Duration.FromSeconds(2));
        await WebhookTestKit.DrainAsync(dispatcher);

        Assert.All(events, e => Assert.True(receiver.For(e).Count >= 3));
        Assert.Equal(12, (await Kit.Deliveries.ListAsync(Tenant, new WebhookDeliveryFilter(WebhookDeliveryStatus.Delivered), null, 100)).Items.Count);
        foreach (var e in events)
        {
            Assert.True((await Kit.Outbox.GetAsync(Tenant, e.Id)).Delivered);
        }
    }

    [Fact]
    public async Task A_dispatcher_killed_mid_delivery_loses_no_event()
    {
        await using var receiver = new TestReceiver((_, n) => n == 1 ? new LoopbackResponse(200, "{}", Delay: TimeSpan.FromSeconds(10)) : LoopbackResponse.Json("{}"));
        await Kit.RegisterAsync(Tenant, receiver.Url);
        var e = await Kit.EnqueueAsync(Tenant, "inv_1");

        await KillDispatcherMidDeliveryAsync(receiver);

        // Its lease still holds the delivery: nobody sends it twice at once.
        var survivor = Kit.Dispatcher();
        Assert.Equal(0, (await survivor.DispatchAsync()).Claimed);

        Kit.Clock.Advance(Duration.FromSeconds(31));
        Assert.Equal(1, (await survivor.DispatchAsync()).Delivered);
        Assert.Equal(2, receiver.For(e).Count);
        var delivery = Assert.Single((await Kit.Deliveries.ListAsync(Tenant, new WebhookDeliveryFilter(EventId: e.Id), null, 10)).Items);
        Assert.Equal((WebhookDeliveryStatus.Delivered, 2), (delivery.Status, delivery.Attempts));
    }

    [Fact]
    public async Task An_attempt_lost_with_its_dispatcher_is_dead_lettered_and_replayable_when_its_endpoint_was_disabled_meanwhile()
    {
        await using var receiver = new TestReceiver((_, n) => n == 1 ? new LoopbackResponse(200, "{}", Delay: TimeSpan.FromSeconds(10)) : LoopbackResponse.Json("{}"));
        var endpoint = (await Kit.RegisterAsync(Tenant, receiver.Url)).Endpoint;
        var e = await Kit.EnqueueAsync(Tenant, "inv_1");
        await KillDispatcherMidDeliveryAsync(receiver);

        // The operator pauses the endpoint before the lease runs out, meaning to replay what it missed once it is fixed.
        await Kit.Endpoints.DisableAsync(Tenant, endpoint.Id, "receiver is down");
        Kit.Clock.Advance(Duration.FromSeconds(31));
        await WebhookTestKit.DrainAsync(Kit.Dispatcher());

        var dead = Assert.Single((await Kit.Deliveries.ListAsync(Tenant, new WebhookDeliveryFilter(EventId: e.Id), null, 10)).Items);
        Assert.Equal((WebhookDeliveryStatus.DeadLettered, 2), (dead.Status, dead.Attempts));
        await Kit.Endpoints.EnableAsync(Tenant, endpoint.Id);
        Assert.Equal(1, await Kit.Deliveries.ReplayDeadLettersAsync(Tenant, endpoint.Id));
        await WebhookTestKit.DrainAsync(Kit.Dispatcher());
        Assert.Equal(2, receiver.For(e).Count);
        Assert.Equal(WebhookDeliveryStatus.Delivered, Assert.Single((await Kit.Deliveries.ListAsync(Tenant, new WebhookDeliveryFilter(EventId: e.Id), null, 10)).Items).Status);
    }

    [Fact]
    public async Task An_attempt_that_could_outlive_its_lease_is_not_sent_but_put_back_due_at_once()
    {
        // Each POST takes 20 s of the 20 s timeout; the second claimed delivery waits its turn behind the first (one at a
        // time), so sending it would run past its 30 s lease, when another host's dispatcher may send it too.
        await using var receiver = new TestReceiver((_, _) =>
        {
            Kit.Clock.Advance(Duration.FromSeconds(20));
            return LoopbackResponse.Json("{}");
        });
        await Kit.RegisterAsync(Tenant, receiver.Url);
        var first = await Kit.EnqueueAsync(Tenant, "inv_0");
        var next = await Kit.EnqueueAsync(Tenant, "inv_1");
        void Options(WebhookDeliveryOptions o)
        {
            o.Timeout = TimeSpan.FromSeconds(20);
            o.LeaseDuration = TimeSpan.FromSeconds(30);
            o.MaxConcurrency = 1;
            o.BatchSize = 2;
        }

        var pass = await Kit.Dispatcher(Options).DispatchAsync();

        // Created in the same instant, the two may be claimed in either order. The one put back unsent is no failed attempt
        // scheduled again: the pass reports it as not sent.
        Assert.Equal((2, 1, 0, 1), (pass.Claimed, pass.Delivered, pass.Retrying, pass.NotSent));
        var (sent, second) = receiver.For(first).Count == 1 ? (first, next) : (next, first);
        Assert.Single(receiver.For(sent));
        Assert.Empty(receiver.For(second));
        // Never sent, it costs no attempt of its budget: nothing is logged or counted for it, only why it waits.
        var waiting = Assert.Single((await Kit.Deliveries.ListAsync(Tenant, new WebhookDeliveryFilter(EventId: second.Id), null, 10)).Items);
        Assert.Equal((WebhookDeliveryStatus.Pending, 0), (waiting.Status, waiting.Attempts));
        Assert.True(waiting.NextAttemptAt <= Kit.Clock.GetCurrentInstant());
        Assert.StartsWith("not sent", waiting.LastError, StringComparison.Ordinal);
        Assert.Empty(await Kit.Deliveries.ListAttemptsAsync(Tenant, waiting.Id));
        Assert.Equal(0, (await Kit.Outbox.GetAsync(Tenant, second.Id)).Attempts);

        // The next pass claims it with a fresh lease and sends it, once: its first attempt.
        Assert.Equal(1, (await Kit.Dispatcher(Options).DispatchAsync()).Delivered);
        Assert.Single(receiver.For(second));
        Assert.Equal(0, receiver.Overlaps);
        var delivered = Assert.Single((await Kit.Deliveries.ListAsync(Tenant, new WebhookDeliveryFilter(EventId: second.Id), null, 10)).Items);
        Assert.Equal((WebhookDeliveryStatus.Delivered, 1), (delivered.Status, delivered.Attempts));
        Assert.Equal(1, Assert.Single(await Kit.Deliveries.ListAttemptsAsync(Tenant, waiting.Id)).Number);
        Assert.Equal(1, (await Kit.Outbox.GetAsync(Tenant, second.Id)).Attempts);
    }

    [Fact]
    public async Task Attempts_put_back_unsent_again_and_again_never_dead_letter_a_delivery()
    {
        // A receiver slower than the lease allows for a queue: every pass sends the first claimed delivery and puts the
        // second back unsent. With two attempts allowed, the second must still get both of its own.
        var failing = true;
        await using var receiver = new TestReceiver((_, _) =>
        {
            Kit.Clock.Advance(Duration.FromSeconds(20));
            return failing ? LoopbackResponse.WithStatus(500) : LoopbackResponse.Json("{}");
        });
        await Kit.RegisterAsync(Tenant, receiver.Url);
        await Kit.EnqueueAsync(Tenant, "inv_0");
        await Kit.EnqueueAsync(Tenant, "inv_1");
        void Options(WebhookDeliveryOptions o)
        {
            o.Timeout = TimeSpan.FromSeconds(20);
            o.LeaseDuration = TimeSpan.FromSeconds(30);
            o.MaxConcurrency = 1;
            o.BatchSize = 2;
            o.RetryPolicy = new WebhookRetryPolicy([Duration.FromSeconds(1)], 0);
        }

        for (var pass = 0; pass < 3; pass++)
        {
            await Kit.Dispatcher(Options).DispatchAsync();
            Kit.Clock.Advance(Duration.FromSeconds(1));
        }

        // Three passes sent three attempts in all (two to one delivery, one to the other): none counts more than it was sent.
        Assert.Equal(3, receiver.Received.Count);
        var deliveries = (await Kit.Deliveries.ListAsync(Tenant, new WebhookDeliveryFilter(), null, 10)).Items;
        Assert.Equal(2, deliveries.Count);
        foreach (var delivery in deliveries)
        {
            var sent = receiver.Received.Count(r => r.Headers.GetValueOrDefault("webhook-id") == delivery.EventId.ToString());
            Assert.Equal(sent, delivery.Attempts);
            Assert.Equal(sent, (await Kit.Deliveries.ListAttemptsAsync(Tenant, delivery.Id)).Count);
            Assert.Equal(delivery.Attempts < 2 ? WebhookDeliveryStatus.Pending : WebhookDeliveryStatus.DeadLettered, delivery.Status);
        }

        failing = false;
        await WebhookTestKit.DrainAsync(Kit.Dispatcher(Options));
        Assert.Contains(WebhookDeliveryStatus.Delivered, (await Kit.Deliveries.ListAsync(Tenant, new WebhookDeliveryFilter(), null, 10)).Items.Select(d => d.Status));
    }

    [Fact]
    public async Task After_a_410_the_other_deliveries_to_that_endpoint_claimed_in_the_same_batch_are_not_sent()
    {
        await using var receiver = new TestReceiver((_, _) => LoopbackResponse.WithStatus(410));
        var endpoint = (await Kit.RegisterAsync(Tenant, receiver.Url)).Endpoint;
        for (var i = 0; i < 3; i++)
        {
            await Kit.EnqueueAsync(Tenant, "inv_" + i.ToString(CultureInfo.InvariantCulture));
        }

        var pass = await Kit.Dispatcher(o => o.MaxConcurrency = 1).DispatchAsync();

        // One POST answered 410; the endpoint is disabled, and the batch's other deliveries to it are dead-lettered unsent,
        // as a disabled endpoint's are.
        Assert.Equal((3, 3), (pass.Claimed, pass.DeadLettered));
        Assert.Single(receiver.Received);
        Assert.Equal(WebhookEndpointStatus.Disabled, (await Kit.Endpoints.GetAsync(Tenant, endpoint.Id)).Status);
        var dead = (await Kit.Deliveries.ListAsync(Tenant, new WebhookDeliveryFilter(WebhookDeliveryStatus.DeadLettered, EndpointId: endpoint.Id), null, 10)).Items;
        Assert.Equal(3, dead.Count);
        var outcomes = new List<WebhookAttemptOutcome>();
        foreach (var delivery in dead)
        {
            outcomes.Add(Assert.Single(await Kit.Deliveries.ListAttemptsAsync(Tenant, delivery.Id)).Outcome);
        }

        Assert.Equal([WebhookAttemptOutcome.Gone, WebhookAttemptOutcome.EndpointDisabled, WebhookAttemptOutcome.EndpointDisabled], outcomes.Order());

        // Enabled and replayed, all three go out.
        receiver.Answer = (_, _) => LoopbackResponse.Json("{}");
        await Kit.Endpoints.EnableAsync(Tenant, endpoint.Id);
        Assert.Equal(3, await Kit.Deliveries.ReplayDeadLettersAsync(Tenant, endpoint.Id));
        await WebhookTestKit.DrainAsync(Kit.Dispatcher());
        Assert.Equal(4, receiver.Received.Count);
    }

    [Fact]
    public async Task Concurrent_rotations_disables_and_enables_of_one_endpoint_keep_every_new_secret_and_a_legal_status()
    {
        var tenant = Guid.CreateVersion7();
        var registered = await Kit.RegisterAsync(tenant, new Uri("http://127.0.0.1:9/rotating"));

        var outcomes = await Race.RunAsync(
            Race.Times(4, "rotate", async () => (await Kit.Endpoints.RotateSecretAsync(tenant, registered.Endpoint.Id, Duration.FromHours(1))).Reveal())
                .Concat(Race.Times(3, "disable", async () => (await Kit.Endpoints.DisableAsync(tenant, registered.Endpoint.Id, "operator")).Status.ToString()))
                .Concat(Race.Times(3, "enable", async () => (await Kit.Endpoints.EnableAsync(tenant, registered.Endpoint.Id)).Status.ToString())));

        Assert.All(outcomes, o => Assert.True(o.Won, o.ToString()));
        var endpoint = await Kit.Endpoints.GetAsync(tenant, registered.Endpoint.Id);
        var signing = endpoint.SigningSecrets(Kit.Clock.GetCurrentInstant()).Select(s => s.Reveal()).ToList();
        Assert.Equal(outcomes.Where(o => o.Caller == "rotate").Select(o => o.Value!).Append(registered.Secret.Reveal()).Order(StringComparer.Ordinal), signing.Order(StringComparer.Ordinal));
        Assert.Contains(endpoint.Status, new[] { WebhookEndpointStatus.Enabled, WebhookEndpointStatus.Disabled });
        Assert.Equal(endpoint.Status == WebhookEndpointStatus.Disabled ? "operator" : null, endpoint.DisabledReason);
    }

    [Fact]
    public async Task Concurrent_registrations_never_take_a_tenant_past_its_endpoint_limit()
    {
        var tenant = Guid.CreateVersion7();
        for (var i = 0; i < WebhookEndpointService.MaxEndpointsPerTenant - 4; i++)
        {
            await Kit.RegisterAsync(tenant, new Uri(string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:9/h{i}")));
        }

        var barrier = new AsyncBarrier(8);
        var refused = 0;
        await Task.WhenAll(Enumerable.Range(0, 8).Select(async i =>
        {
            await barrier.SignalAndWaitAsync(TimeSpan.FromSeconds(10));
            try
            {
                await Kit.RegisterAsync(tenant, new Uri(string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:9/c{i}")));
            }
            catch (PaymentsKitException ex) when (ex.Code == PaymentsKitErrorCodes.InvalidArgument)
            {
                Interlocked.Increment(ref refused);
            }
        }));

        Assert.Equal(4, refused);
        Assert.Equal(WebhookEndpointService.MaxEndpointsPerTenant, (await Kit.Endpoints.ListAsync(tenant)).Count);
    }

    [Fact]
    public async Task An_endpoint_receives_the_events_written_since_it_was_registered_whenever_they_are_scheduled()
    {
        await using var early = new TestReceiver();
        await using var late = new TestReceiver();
        var tenant = Guid.CreateVersion7();
        var history = await Kit.EnqueueAsync(tenant, "inv_history");

        // A pass before any endpoint exists, and then none between the next event and the second endpoint.
        await WebhookTestKit.DrainAsync(Kit.Dispatcher());
        Kit.Clock.Advance(Duration.FromDays(30));
        await Kit.RegisterAsync(tenant, early.Url);
        Kit.Clock.Advance(Duration.FromSeconds(1));
        var beforeLate = await Kit.EnqueueAsync(tenant, "inv_before_late");
        Kit.Clock.Advance(Duration.FromSeconds(1));
        await Kit.RegisterAsync(tenant, late.Url);
        var after = await Kit.EnqueueAsync(tenant, "inv_after");
        await WebhookTestKit.DrainAsync(Kit.Dispatcher());

        Assert.Empty(early.For(history));
        Assert.Equal((1, 1), (early.For(beforeLate).Count, early.For(after).Count));
        Assert.Equal((0, 1), (late.For(beforeLate).Count, late.For(after).Count));
        Assert.Empty(late.For(history));
    }

    [Fact]
    public async Task The_ssrf_guard_runs_again_before_every_delivery()
    {
        Kit.Resolver.Set("hooks.example.com", "93.184.216.34");
        var registered = await Kit.RegisterAsync(Tenant, new Uri("https://hooks.example.com/in"));

        // DNS now points the name at the cloud metadata service: nothing is sent.
        Kit.Resolver.Set("hooks.example.com", "169.254.169.254");
        await Kit.EnqueueAsync(Tenant, "inv_1");
        var pass = await Kit.Dispatcher().DispatchAsync();

        Assert.Equal(1, pass.Retrying);
        var delivery = Assert.Single((await Kit.Deliveries.ListAsync(Tenant, new WebhookDeliveryFilter(EndpointId: registered.Endpoint.Id), null, 10)).Items);
        var attempt = Assert.Single(await Kit.Deliveries.ListAttemptsAsync(Tenant, delivery.Id));
        Assert.Equal(WebhookAttemptOutcome.Rejected, attempt.Outcome);
        Assert.Contains("169.254.169.254", attempt.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Endpoints_get_only_the_types_they_asked_for_and_only_their_tenants_events()
    {
        await using var receiver = new TestReceiver();
        await Kit.RegisterAsync(Tenant, receiver.Url, eventTypes: ["invoice.paid"]);
        var other = Guid.CreateVersion7();
        await Kit.EnqueueAsync(Tenant, "inv_1", "paid");
        await Kit.EnqueueAsync(Tenant, "inv_1", "expired");
        await Kit.EnqueueAsync(other, "inv_9", "paid");

        await WebhookTestKit.DrainAsync(Kit.Dispatcher());

        var request = Assert.Single(receiver.Received);
        Assert.Contains("invoice.paid", request.Body, StringComparison.Ordinal);
        Assert.Empty((await Kit.Deliveries.ListAsync(other, new WebhookDeliveryFilter(), null, 10)).Items);
    }

    [Fact]
    public async Task Four_dispatchers_deliver_everything_and_never_one_event_twice_at_once()
    {
        await using var receiver = new TestReceiver(
            (r, n) => n == 1 && TestReceiver.Sequence(r) == 3 ? LoopbackResponse.WithStatus(500) : LoopbackResponse.Json("{}"),
            hold: TimeSpan.FromMilliseconds(5));
        await Kit.RegisterAsync(Tenant, receiver.Url);
        var events = new List<WebhookEvent>();
        for (var i = 0; i < 40; i++)
        {
            events.Add(await Kit.EnqueueAsync(Tenant, $"inv_{i % 8}", sequence: i % 5));
        }

        var dispatchers = Enumerable.Range(0, 4).Select(_ => Kit.Dispatcher(o => o.BatchSize = 5)).ToList();
        for (var round = 0; round < 3; round++)
        {
            var barrier = new AsyncBarrier(dispatchers.Count);
            await Task.WhenAll(dispatchers.Select(async d =>
            {
                await barrier.SignalAndWaitAsync(TimeSpan.FromSeconds(10));
                for (var i = 0; i < 20; i++)
                {
                    await d.DispatchAsync();
                }
            }));
            Kit.Clock.Advance(Duration.FromSeconds(1));
        }

        Assert.Equal(0, receiver.Overlaps);
        Assert.All(events, e => Assert.NotEmpty(receiver.For(e)));
        Assert.Equal(40, (await Kit.Deliveries.ListAsync(Tenant, new WebhookDeliveryFilter(WebhookDeliveryStatus.Delivered), null, 100)).Items.Count);
        Assert.Equal(48, receiver.Received.Count);
    }

    [Fact]
    public async Task Four_draining_dispatchers_deliver_everything_once_at_a_time_and_in_order_where_asked()
    {
        await using var unordered = new TestReceiver(
            (r, n) => n == 1 && TestReceiver.Sequence(r) % 7 == 3 ? LoopbackResponse.WithStatus(500) : LoopbackResponse.Json("{}"),
            hold: TimeSpan.FromMilliseconds(2));
        await using var ordered = new TestReceiver(hold: TimeSpan.FromMilliseconds(2));
        await Kit.RegisterAsync(Tenant, unordered.Url);
        await Kit.RegisterAsync(Tenant, ordered.Url, ordered: true);
        var events = new List<WebhookEvent>();
        for (var i = 0; i < 60; i++)
        {
            events.Add(await Kit.EnqueueAsync(Tenant, $"inv_{i % 6}", sequence: i));
        }

        var dispatchers = Enumerable.Range(0, 4).Select(_ => Kit.Dispatcher(o => o.BatchSize = 7)).ToList();
        var first = await Task.WhenAll(dispatchers.Select(d => d.DrainAsync(TimeSpan.FromSeconds(60)).AsTask()));
        Assert.Equal(60, first.Sum(r => r.Scheduled));
        Assert.Equal(9, first.Sum(r => r.Retrying));
        Assert.All(first, r => Assert.False(r.MoreWork));
        Kit.Clock.Advance(Duration.FromSeconds(1));
        var second = await Task.WhenAll(dispatchers.Select(d => d.DrainAsync(TimeSpan.FromSeconds(60)).AsTask()));
        Assert.Equal(9, second.Sum(r => r.Delivered));

        Assert.Equal((0, 0), (unordered.Overlaps, ordered.Overlaps));
        Assert.Equal(120, (await Kit.Deliveries.ListAsync(Tenant, new WebhookDeliveryFilter(WebhookDeliveryStatus.Delivered), null, 200)).Items.Count);
        Assert.Equal(69, unordered.Received.Count);
        Assert.All(events, e => Assert.Single(ordered.For(e)));
        foreach (var resource in ordered.Received.GroupBy(r => TestReceiver.Sequence(r) % 6))
        {
            var sequences = resource.Select(TestReceiver.Sequence).ToList();
            Assert.Equal(sequences.Order(), sequences);
        }

        foreach (var e in events)
        {
            Assert.True((await Kit.Outbox.GetAsync(Tenant, e.Id)).Delivered);
        }
    }

    [Fact]
    public async Task A_draining_dispatcher_killed_mid_delivery_loses_no_event()
    {
        await using var receiver = new TestReceiver((_, n) => n == 1 ? new LoopbackResponse(200, "{}", Delay: TimeSpan.FromSeconds(10)) : LoopbackResponse.Json("{}"));
        await Kit.RegisterAsync(Tenant, receiver.Url);
        var e = await Kit.EnqueueAsync(Tenant, "inv_1");

        using (var kill = new CancellationTokenSource())
        {
            var doomed = Kit.Dispatcher().DrainAsync(TimeSpan.FromMinutes(1), kill.Token).AsTask();
            await WaitUntilAsync(() => receiver.Received.Count == 1);
            await kill.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => doomed);
        }

        var survivor = Kit.Dispatcher();
        Assert.Equal(0, (await survivor.DrainAsync(TimeSpan.FromMinutes(1))).Claimed);
        Kit.Clock.Advance(Duration.FromSeconds(31));
        Assert.Equal(1, (await survivor.DrainAsync(TimeSpan.FromMinutes(1))).Delivered);
        Assert.Equal(2, receiver.For(e).Count);
        Assert.True((await Kit.Outbox.GetAsync(Tenant, e.Id)).Delivered);
    }

    /// <summary>A receiver answering 200 at once, except its <paramref name="held"/>-th request, which it answers after 10 s.</summary>
    private static TestReceiver HoldingReceiver(int held)
    {
        var requests = 0;
        return new TestReceiver((_, _) => Interlocked.Increment(ref requests) == held
            ? new LoopbackResponse(200, "{}", Delay: TimeSpan.FromSeconds(10))
            : LoopbackResponse.Json("{}"));
    }

    /// <summary>Registers <paramref name="receiver"/> for the tenant and enqueues three events, <c>inv_0</c> to <c>inv_2</c>.</summary>
    private async Task<List<WebhookEvent>> ThreeEventsForAsync(TestReceiver receiver)
    {
        await Kit.RegisterAsync(Tenant, receiver.Url);
        var events = new List<WebhookEvent>();
        for (var i = 0; i < 3; i++)
        {
            events.Add(await Kit.EnqueueAsync(Tenant, $"inv_{i}"));
        }

        return events;
    }

    [Fact]
    public async Task A_cancelled_drain_puts_back_the_claims_it_had_not_sent_at_once_without_counting_an_attempt()
    {
        // One POST at a time: while the receiver holds the first, the other two wait in the drain's buffer, claimed.
        await using var receiver = HoldingReceiver(held: 1);
        var events = await ThreeEventsForAsync(receiver);

        using (var kill = new CancellationTokenSource())
        {
            var doomed = Kit.Dispatcher(o => o.MaxConcurrency = 1).DrainAsync(TimeSpan.FromMinutes(1), kill.Token).AsTask();
            await WaitUntilAsync(() => receiver.Received.Count == 1);
            await kill.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => doomed);
        }

        // The two never sent are pending with no attempt counted or logged, and another dispatcher takes them at once, not
        // after their leases would have run out; the one abandoned in flight stays leased, so it is never sent twice at once.
        var sent = Assert.Single(events, e => receiver.For(e).Count == 1);
        var unsent = events.Where(e => e != sent).ToList();
        foreach (var e in unsent)
        {
            var waiting = Assert.Single((await Kit.Deliveries.ListAsync(Tenant, new WebhookDeliveryFilter(EventId: e.Id), null, 10)).Items);
            Assert.Equal((WebhookDeliveryStatus.Pending, 0), (waiting.Status, waiting.Attempts));
            Assert.Empty(await Kit.Deliveries.ListAttemptsAsync(Tenant, waiting.Id));
            Assert.Equal(0, (await Kit.Outbox.GetAsync(Tenant, e.Id)).Attempts);
        }

        var survivor = await Kit.Dispatcher().DrainAsync(TimeSpan.FromMinutes(1));
        Assert.Equal((2, 2), (survivor.Claimed, survivor.Delivered));
        Assert.All(unsent, e => Assert.Single(receiver.For(e)));
        Assert.Single(receiver.For(sent));
        foreach (var e in unsent)
        {
            var delivered = Assert.Single((await Kit.Deliveries.ListAsync(Tenant, new WebhookDeliveryFilter(EventId: e.Id), null, 10)).Items);
            Assert.Equal((WebhookDeliveryStatus.Delivered, 1), (delivered.Status, delivered.Attempts));
        }

        Kit.Clock.Advance(Duration.FromSeconds(31));
        Assert.Equal(1, (await Kit.Dispatcher().DrainAsync(TimeSpan.FromMinutes(1))).Delivered);
        Assert.Equal(2, receiver.For(sent).Count);
        Assert.Equal(0, receiver.Overlaps);
    }

    [Fact]
    public async Task A_stopping_drain_lets_the_post_in_flight_finish_and_puts_back_at_once_what_it_had_not_sent()
    {
        // One POST at a time; the first is answered only after the drain was told to stop.
        var answerFirst = new TaskCompletionSource();
        var requests = 0;
        await using var receiver = new TestReceiver((_, _) =>
        {
            if (Interlocked.Increment(ref requests) == 1)
            {
                answerFirst.Task.Wait(TimeSpan.FromSeconds(10));
            }

            return LoopbackResponse.Json("{}");
        });
        var events = await ThreeEventsForAsync(receiver);

        using var stopping = new CancellationTokenSource();
        var drain = Kit.Dispatcher(o => o.MaxConcurrency = 1).DrainAsync(TimeSpan.FromMinutes(1), stopping.Token, CancellationToken.None).AsTask();
        await WaitUntilAsync(() => receiver.Received.Count == 1);
        await stopping.CancelAsync();
        answerFirst.SetResult();
        var result = await drain;

        Assert.Equal((3, 1, 2), (result.Claimed, result.Delivered, result.NotSent));
        var sent = Assert.Single(events, e => receiver.For(e).Count == 1);
        var done = Assert.Single((await Kit.Deliveries.ListAsync(Tenant, new WebhookDeliveryFilter(EventId: sent.Id), null, 10)).Items);
        Assert.Equal((WebhookDeliveryStatus.Delivered, 1), (done.Status, done.Attempts));
        Assert.True((await Kit.Outbox.GetAsync(Tenant, sent.Id)).Delivered);
        foreach (var e in events.Where(e => e != sent))
        {
            var waiting = Assert.Single((await Kit.Deliveries.ListAsync(Tenant, new WebhookDeliveryFilter(EventId: e.Id), null, 10)).Items);
            Assert.Equal((WebhookDeliveryStatus.Pending, 0), (waiting.Status, waiting.Attempts));
            Assert.True(waiting.NextAttemptAt <= Kit.Clock.GetCurrentInstant());
            Assert.StartsWith("not sent", waiting.LastError, StringComparison.Ordinal);
            Assert.Empty(await Kit.Deliveries.ListAttemptsAsync(Tenant, waiting.Id));
        }

        // Another dispatcher sends them at once, each once.
        var next = await Kit.Dispatcher().DrainAsync(TimeSpan.FromMinutes(1));
        Assert.Equal((2, 2), (next.Claimed, next.Delivered));
        Assert.All(events, e => Assert.Single(receiver.For(e)));
        Assert.Equal(0, receiver.Overlaps);
    }

    [Fact]
    public async Task A_cancelled_drain_still_records_the_outcomes_it_received()
    {
        // The receiver answered 200, and the cancellation arrives while the drain is writing that outcome.
        await using var receiver = new TestReceiver();
        await Kit.RegisterAsync(Tenant, receiver.Url);
        var e = await Kit.EnqueueAsync(Tenant, "inv_1");
        var queue = new HeldCompletionQueue(Kit.Queue);

        using (var kill = new CancellationTokenSource())
        {
            var cancelled = Kit.Dispatcher(queue).DrainAsync(TimeSpan.FromMinutes(1), kill.Token).AsTask();
            await queue.Entered.Task.WaitAsync(TimeSpan.FromSeconds(10));
            await kill.CancelAsync();
            queue.Release();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled);
        }

        var delivery = Assert.Single((await Kit.Deliveries.ListAsync(Tenant, new WebhookDeliveryFilter(EventId: e.Id), null, 10)).Items);
        Assert.Equal((WebhookDeliveryStatus.Delivered, 1), (delivery.Status, delivery.Attempts));
        Assert.True((await Kit.Outbox.GetAsync(Tenant, e.Id)).Delivered);

        // Recorded, it is not sent again once the lease it had would have run out.
        Kit.Clock.Advance(Duration.FromSeconds(31));
        Assert.Equal(0, (await Kit.Dispatcher().DrainAsync(TimeSpan.FromMinutes(1))).Claimed);
        Assert.Single(receiver.For(e));
    }

    [Fact]
    public async Task A_cancelled_drain_waits_a_bounded_time_for_a_store_that_does_not_answer()
    {
        await using var receiver = new TestReceiver();
        await Kit.RegisterAsync(Tenant, receiver.Url);
        await Kit.EnqueueAsync(Tenant, "inv_1");
        var queue = new HeldCompletionQueue(Kit.Queue);

        using var kill = new CancellationTokenSource();
        var cancelled = Kit.Dispatcher(queue).DrainAsync(TimeSpan.FromMinutes(1), kill.Token).AsTask();
        await queue.Entered.Task.WaitAsync(TimeSpan.FromSeconds(10));
        await kill.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled.WaitAsync(TimeSpan.FromSeconds(30)));
    }

    [Fact]
    public async Task A_cancelled_pass_records_the_2xx_it_received_and_puts_back_at_once_what_it_had_not_sent()
    {
        // One POST at a time: the first is answered 200 at once, the receiver holds the second, the third waits its turn.
        await using var receiver = HoldingReceiver(held: 2);
        var events = await ThreeEventsForAsync(receiver);

        using (var kill = new CancellationTokenSource())
        {
            var doomed = Kit.Dispatcher(o => o.MaxConcurrency = 1).DispatchAsync(kill.Token).AsTask();
            await WaitUntilAsync(() => receiver.Received.Count == 2);
            await kill.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => doomed);
        }

        // The answered one is recorded as delivered, so it is never sent again.
        var answered = events.Single(e => e.Id.ToString() == receiver.Received[0].Headers["webhook-id"]);
        var done = Assert.Single((await Kit.Deliveries.ListAsync(Tenant, new WebhookDeliveryFilter(EventId: answered.Id), null, 10)).Items);
        Assert.Equal((WebhookDeliveryStatus.Delivered, 1), (done.Status, done.Attempts));
        Assert.True((await Kit.Outbox.GetAsync(Tenant, answered.Id)).Delivered);

        // The one never sent is pending, due at once, with no attempt counted or logged.
        var unsent = Assert.Single(events, e => receiver.For(e).Count == 0);
        var waiting = Assert.Single((await Kit.Deliveries.ListAsync(Tenant, new WebhookDeliveryFilter(EventId: unsent.Id), null, 10)).Items);
        Assert.Equal((WebhookDeliveryStatus.Pending, 0), (waiting.Status, waiting.Attempts));
        Assert.True(waiting.NextAttemptAt <= Kit.Clock.GetCurrentInstant());
        Assert.StartsWith("not sent", waiting.LastError, StringComparison.Ordinal);
        Assert.Empty(await Kit.Deliveries.ListAttemptsAsync(Tenant, waiting.Id));
        Assert.Equal(0, (await Kit.Outbox.GetAsync(Tenant, unsent.Id)).Attempts);

        // Another dispatcher sends it at once; the one abandoned in flight keeps its lease, so it is never sent twice at once.
        var next = await Kit.Dispatcher().DispatchAsync();
        Assert.Equal((1, 1), (next.Claimed, next.Delivered));
        Assert.Single(receiver.For(unsent));
        var held = events.Single(e => e.Id.ToString() == receiver.Received[1].Headers["webhook-id"]);
        Assert.Single(receiver.For(held));

        Kit.Clock.Advance(Duration.FromSeconds(31));
        Assert.Equal(1, (await Kit.Dispatcher().DispatchAsync()).Delivered);
        Assert.Equal(2, receiver.For(held).Count);
        Assert.Single(receiver.For(answered));
        Assert.Equal(0, receiver.Overlaps);
    }

    [Fact]
    public async Task A_cancelled_pass_still_records_the_outcomes_it_received()
    {
        // The receiver answered 200, and the cancellation arrives while the pass is writing that outcome.
        await using var receiver = new TestReceiver();
        await Kit.RegisterAsync(Tenant, receiver.Url);
        var e = await Kit.EnqueueAsync(Tenant, "inv_1");
        var queue = new HeldCompletionQueue(Kit.Queue);

        using (var kill = new CancellationTokenSource())
        {
            var cancelled = Kit.Dispatcher(queue).DispatchAsync(kill.Token).AsTask();
            await queue.Entered.Task.WaitAsync(TimeSpan.FromSeconds(10));
            await kill.CancelAsync();
            queue.Release();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled);
        }

        var delivery = Assert.Single((await Kit.Deliveries.ListAsync(Tenant, new WebhookDeliveryFilter(EventId: e.Id), null, 10)).Items);
        Assert.Equal((WebhookDeliveryStatus.Delivered, 1), (delivery.Status, delivery.Attempts));
        Assert.True((await Kit.Outbox.GetAsync(Tenant, e.Id)).Delivered);

        Kit.Clock.Advance(Duration.FromSeconds(31));
        Assert.Equal(0, (await Kit.Dispatcher().DispatchAsync()).Claimed);
        Assert.Single(receiver.For(e));
    }

    [Fact]
    public async Task A_cancelled_pass_waits_a_bounded_time_for_a_store_that_does_not_answer()
    {
        await using var receiver = new TestReceiver();
        await Kit.RegisterAsync(Tenant, receiver.Url);
        await Kit.EnqueueAsync(Tenant, "inv_1");
        var queue = new HeldCompletionQueue(Kit.Queue);

        using var kill = new CancellationTokenSource();
        var cancelled = Kit.Dispatcher(queue).DispatchAsync(kill.Token).AsTask();
        await queue.Entered.Task.WaitAsync(TimeSpan.FromSeconds(10));
        await kill.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled.WaitAsync(TimeSpan.FromSeconds(30)));
    }

    /// <summary>Starts a pass and kills it while the receiver holds its first request: the delivery's lease is left behind.</summary>
    private async Task KillDispatcherMidDeliveryAsync(TestReceiver receiver)
    {
        using var kill = new CancellationTokenSource();
        var doomed = Kit.Dispatcher().DispatchAsync(kill.Token).AsTask();
        await WaitUntilAsync(() => receiver.Received.Count == 1);
        await kill.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => doomed);
    }

    /// <summary>
    /// A queue whose outcome writes wait until <see cref="Release"/> (or their token is cancelled), like a store write that
    /// is slow to answer.
    /// </summary>
    private sealed class HeldCompletionQueue(IWebhookDeliveryQueue inner) : ForwardingQueue(inner)
    {
        private readonly TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>Completes when the first outcome write starts.</summary>
        public TaskCompletionSource Entered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Release() => _released.TrySetResult();

        public override async ValueTask<IReadOnlySet<WebhookDeliveryId>> CompleteAsync(IReadOnlyList<WebhookDeliveryCompletion> completions, CancellationToken cancellationToken = default)
        {
            Entered.TrySetResult();
            await _released.Task.WaitAsync(cancellationToken);
            return await Inner.CompleteAsync(completions, cancellationToken);
        }
    }

    /// <summary>A queue that hands every call to <c>inner</c>, for tests to change one; the status-checked replay is the interface's default.</summary>
    private abstract class ForwardingQueue(IWebhookDeliveryQueue inner) : IWebhookDeliveryQueue
    {
        protected IWebhookDeliveryQueue Inner => inner;

        public virtual ValueTask<int> ScheduleAsync(WebhookDeliveryPlanner planner, Instant now, int limit, CancellationToken cancellationToken = default) =>
            inner.ScheduleAsync(planner, now, limit, cancellationToken);

        public virtual ValueTask<IReadOnlyList<WebhookClaim>> ClaimAsync(Instant now, Duration lease, int limit, CancellationToken cancellationToken = default) =>
            inner.ClaimAsync(now, lease, limit, cancellationToken);

        public virtual ValueTask<IReadOnlySet<WebhookDeliveryId>> CompleteAsync(IReadOnlyList<WebhookDeliveryCompletion> completions, CancellationToken cancellationToken = default) =>
            inner.CompleteAsync(completions, cancellationToken);

        public virtual ValueTask<WebhookDelivery?> GetAsync(Guid tenantId, WebhookDeliveryId deliveryId, CancellationToken cancellationToken = default) =>
            inner.GetAsync(tenantId, deliveryId, cancellationToken);

        public virtual ValueTask<PaymentsKit.Storage.Page<WebhookDelivery>> ListAsync(Guid tenantId, WebhookDeliveryFilter filter, string? cursor, int limit, CancellationToken cancellationToken = default) =>
            inner.ListAsync(tenantId, filter, cursor, limit, cancellationToken);

        public virtual ValueTask<IReadOnlyList<WebhookDeliveryAttempt>> ListAttemptsAsync(Guid tenantId, WebhookDeliveryId deliveryId, CancellationToken cancellationToken = default) =>
            inner.ListAttemptsAsync(tenantId, deliveryId, cancellationToken);

        public virtual ValueTask<WebhookDelivery?> ReplayAsync(Guid tenantId, WebhookDeliveryId deliveryId, Instant now, CancellationToken cancellationToken = default) =>
            inner.ReplayAsync(tenantId, deliveryId, now, cancellationToken);
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        for (var i = 0; i < 500 && !condition(); i++)
        {
            await Task.Delay(10);
        }

        Assert.True(condition());
    }
}
