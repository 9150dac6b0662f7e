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
    [InlineData(14, 120, 100, 16, "Timeout")]
    [InlineData(31, 120, 100, 16, "Timeout")]
    [InlineData(15, 20, 100, 16, "LeaseDuration")]
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
}
