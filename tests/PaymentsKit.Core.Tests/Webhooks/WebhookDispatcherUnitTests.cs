using System.Net.Http.Headers;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using NodaTime;
using PaymentsKit.DependencyInjection;
using PaymentsKit.Storage;
using PaymentsKit.Testing;
using PaymentsKit.Webhooks;

namespace PaymentsKit.Core.Tests.Webhooks;

public class WebhookDispatcherUnitTests
{
    private static readonly Instant Now = Instant.FromUtc(2026, 1, 1, 0, 0);

    [Fact]
    public void Retry_after_reads_seconds_and_http_dates_and_ignores_the_past()
    {
        Assert.Equal(Duration.FromSeconds(120), WebhookDispatcher.RetryAfter(new RetryConditionHeaderValue(TimeSpan.FromSeconds(120)), Now));
        Assert.Equal(Duration.FromMinutes(5), WebhookDispatcher.RetryAfter(new RetryConditionHeaderValue(Now.Plus(Duration.FromMinutes(5)).ToDateTimeOffset()), Now));
        Assert.Null(WebhookDispatcher.RetryAfter(new RetryConditionHeaderValue(Now.Minus(Duration.FromMinutes(5)).ToDateTimeOffset()), Now));
        Assert.Null(WebhookDispatcher.RetryAfter(new RetryConditionHeaderValue(TimeSpan.Zero), Now));
        Assert.Null(WebhookDispatcher.RetryAfter(null, Now));
    }

    [Theory]
    [InlineData("4294967296")]
    [InlineData("99999999999999999999999")]
    public async Task A_retry_after_too_large_for_an_int_still_defers_the_retry_as_long_as_the_policy_allows(string retryAfter)
    {
        // A receiver asking for more seconds than fit an int must not be retried on the short schedule as if it had
        // said nothing: the wait is capped at the policy's longest delay, like any other long Retry-After.
        await using var receiver = new TestReceiver((_, n) => n == 1
            ? new LoopbackResponse(503, "{}", Headers: new Dictionary<string, string> { ["Retry-After"] = retryAfter })
            : LoopbackResponse.Json("{}"));
        var kit = new WebhookTestKit(new InMemoryStore());
        var tenant = Guid.CreateVersion7();
        await kit.RegisterAsync(tenant, receiver.Url);
        await kit.EnqueueAsync(tenant, "inv_1");

        await kit.Dispatcher().DispatchAsync();

        var delivery = Assert.Single((await kit.Deliveries.ListAsync(tenant, new WebhookDeliveryFilter(), null, 10)).Items);
        Assert.Equal(kit.Clock.GetCurrentInstant() + WebhookTestKit.ShortPolicy.LongestDelay, delivery.NextAttemptAt);
    }

    [Theory]
    [InlineData(14, 120, 100, 16, "Timeout")]
    [InlineData(31, 120, 100, 16, "Timeout")]
    [InlineData(15, 20, 100, 16, "LeaseDuration")]
    [InlineData(15, 86_401, 100, 16, "LeaseDuration")]
    [InlineData(15, 120, 0, 16, "BatchSize")]
    [InlineData(15, 120, 1001, 16, "BatchSize")]
    [InlineData(15, 120, 100, 0, "MaxConcurrency")]
    [InlineData(15, 120, 100, 257, "MaxConcurrency")]
    public void Options_outside_their_ranges_are_reported(int timeoutSeconds, int leaseSeconds, int batch, int concurrency, string setting)
    {
        var options = new WebhookDeliveryOptions
        {
            Timeout = TimeSpan.FromSeconds(timeoutSeconds),
            LeaseDuration = TimeSpan.FromSeconds(leaseSeconds),
            BatchSize = batch,
            MaxConcurrency = concurrency,
        };
        Assert.Contains(options.Validate(), e => e.Contains("Webhooks:" + setting, StringComparison.Ordinal));
        Assert.Empty(new WebhookDeliveryOptions { Timeout = TimeSpan.FromSeconds(30), LeaseDuration = TimeSpan.FromSeconds(40) }.Validate());
    }

    [Fact]
    public void A_lease_is_at_most_a_day_so_a_dead_dispatcher_holds_its_deliveries_no_longer_and_leases_stay_in_range()
    {
        Assert.Empty(new WebhookDeliveryOptions { LeaseDuration = TimeSpan.FromDays(1) }.Validate());
        var error = Assert.Single(new WebhookDeliveryOptions { LeaseDuration = TimeSpan.MaxValue, BatchSize = 0 }.Validate(), e => e.Contains("LeaseDuration", StringComparison.Ordinal));
        Assert.Contains("at most 1 day", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Registration_wires_delivery_and_validates_options_at_start()
    {
        var services = new ServiceCollection();
        services.AddPaymentsKit().UseClock(new ManualClock()).AddWebhookDelivery(o => o.AllowLoopback = true);
        using var provider = services.BuildServiceProvider();
        Assert.IsType<WebhookDispatcher>(provider.GetRequiredService<IWebhookDispatcher>());
        Assert.IsType<InMemoryWebhookDeliveryQueue>(provider.GetRequiredService<IWebhookDeliveryQueue>());
        Assert.True(provider.GetRequiredService<WebhookEndpointValidator>().Policy.AllowLoopback);
        Assert.NotNull(provider.GetRequiredService<IWebhookDeliveryService>());

        var bad = new ServiceCollection();
        bad.AddPaymentsKit().AddWebhookDelivery(o => o.Timeout = TimeSpan.FromSeconds(5));
        using var badProvider = bad.BuildServiceProvider();
        var error = Assert.Throws<OptionsValidationException>(() => badProvider.GetRequiredService<IOptions<WebhookDeliveryOptions>>().Value);
        Assert.Contains("Webhooks:Timeout", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_queue_rejects_bad_limits_leases_and_cursors()
    {
        var queue = new InMemoryWebhookDeliveryQueue(new InMemoryStore(), new ManualClock());
        foreach (var limit in new[] { 0, 1001 })
        {
            var error = await Assert.ThrowsAsync<PaymentsKitException>(() => queue.ClaimAsync(Now, Duration.FromMinutes(1), limit).AsTask());
            Assert.Equal("limit", error.Context["field"]);
        }

        var lease = await Assert.ThrowsAsync<PaymentsKitException>(() => queue.ClaimAsync(Now, Duration.Zero, 10).AsTask());
        Assert.Equal("lease", lease.Context["field"]);
        var cursor = await Assert.ThrowsAsync<PaymentsKitException>(() => queue.ListAsync(Guid.CreateVersion7(), new WebhookDeliveryFilter(), "nope", 10).AsTask());
        Assert.Equal("cursor", cursor.Context["field"]);
    }

    [Fact]
    public async Task Listing_pages_through_deliveries_in_creation_order()
    {
        var kit = new WebhookTestKit(new InMemoryStore());
        var tenant = Guid.CreateVersion7();
        await kit.RegisterAsync(tenant, new Uri("http://127.0.0.1:9/hooks"));
        for (var i = 0; i < 5; i++)
        {
            await kit.EnqueueAsync(tenant, $"inv_{i}");
            kit.Clock.Advance(Duration.FromMilliseconds(1));
        }

        await kit.Queue.ScheduleAsync((events, _) => ValueTask.FromResult<IReadOnlyList<WebhookDeliveryPlan>>(
            [.. events.Select(e => new WebhookDeliveryPlan(e.Id, e.TenantId, new WebhookEndpointId(Guid.CreateVersion7()), e.EventType, null))]), Now, 100);
        var seen = new List<WebhookDeliveryId>();
        string? cursor = null;
        do
        {
            var page = await kit.Deliveries.ListAsync(tenant, new WebhookDeliveryFilter(WebhookDeliveryStatus.Pending), cursor, 2);
            Assert.True(page.Items.Count <= 2);
            seen.AddRange(page.Items.Select(d => d.Id));
            cursor = page.NextCursor;
        }
        while (cursor is not null);
        Assert.Equal(5, seen.Distinct().Count());
        Assert.Equal(seen.OrderBy(id => id.Value, GuidOrder.Instance), seen);
    }

    [Fact]
    public async Task A_drain_claims_no_further_than_two_batches_ahead_of_a_slow_recorder()
    {
        var store = new InMemoryStore();
        var clock = new ManualClock();
        var queue = new SlowRecordingQueue(new InMemoryWebhookDeliveryQueue(store, clock));
        var kit = new WebhookTestKit(store, queue, clock);
        await using var receiver = new TestReceiver();
        var tenant = Guid.CreateVersion7();
        await kit.RegisterAsync(tenant, receiver.Url);
        for (var i = 0; i < 60; i++)
        {
            await kit.EnqueueAsync(tenant, $"inv_{i}");
        }

        var result = await kit.Dispatcher(o => (o.BatchSize, o.MaxConcurrency) = (5, 2)).DrainAsync(TimeSpan.FromMinutes(1));

        Assert.Equal(60, result.Delivered);
        // Two batches outstanding, and one more claimed while just under that.
        Assert.InRange(queue.MaxOutstanding, 1, 3 * 5);
    }

    /// <summary>A queue whose recording is slow, counting the claims not yet recorded.</summary>
    private sealed class SlowRecordingQueue(IWebhookDeliveryQueue inner) : IWebhookDeliveryQueue
    {
        private readonly Lock _gate = new();
        private int _outstanding;

        public int MaxOutstanding { get; private set; }

        public ValueTask<int> ScheduleAsync(WebhookDeliveryPlanner planner, Instant now, int limit, CancellationToken cancellationToken = default) =>
            inner.ScheduleAsync(planner, now, limit, cancellationToken);

        public async ValueTask<WebhookScheduleResult> ScheduleAndClaimAsync(
            WebhookDeliveryPlanner planner, Instant now, Duration lease, int limit, CancellationToken cancellationToken = default)
        {
            var result = await inner.ScheduleAndClaimAsync(planner, now, lease, limit, cancellationToken);
            Count(result.Claims.Count);
            return result;
        }

        public async ValueTask<IReadOnlyList<WebhookClaim>> ClaimAsync(Instant now, Duration lease, int limit, CancellationToken cancellationToken = default)
        {
            var claims = await inner.ClaimAsync(now, lease, limit, cancellationToken);
            Count(claims.Count);
            return claims;
        }

        public async ValueTask<IReadOnlySet<WebhookDeliveryId>> CompleteAsync(IReadOnlyList<WebhookDeliveryCompletion> completions, CancellationToken cancellationToken = default)
        {
            await Task.Delay(50, cancellationToken);
            var recorded = await inner.CompleteAsync(completions, cancellationToken);
            Count(-completions.Count);
            return recorded;
        }

        public ValueTask<WebhookDelivery?> GetAsync(Guid tenantId, WebhookDeliveryId deliveryId, CancellationToken cancellationToken = default) =>
            inner.GetAsync(tenantId, deliveryId, cancellationToken);

        public ValueTask<Page<WebhookDelivery>> ListAsync(Guid tenantId, WebhookDeliveryFilter filter, string? cursor, int limit, CancellationToken cancellationToken = default) =>
            inner.ListAsync(tenantId, filter, cursor, limit, cancellationToken);

        public ValueTask<IReadOnlyList<WebhookDeliveryAttempt>> ListAttemptsAsync(Guid tenantId, WebhookDeliveryId deliveryId, CancellationToken cancellationToken = default) =>
            inner.ListAttemptsAsync(tenantId, deliveryId, cancellationToken);

        public ValueTask<WebhookDelivery?> ReplayAsync(Guid tenantId, WebhookDeliveryId deliveryId, Instant now, CancellationToken cancellationToken = default) =>
            inner.ReplayAsync(tenantId, deliveryId, now, cancellationToken);

        public ValueTask<WebhookDelivery?> ReplayAsync(Guid tenantId, WebhookDeliveryId deliveryId, Instant now, WebhookDeliveryStatus from, CancellationToken cancellationToken = default) =>
            inner.ReplayAsync(tenantId, deliveryId, now, from, cancellationToken);

        private void Count(int delta)
        {
            lock (_gate)
            {
                _outstanding += delta;
                MaxOutstanding = Math.Max(MaxOutstanding, _outstanding);
            }
        }
    }
}
