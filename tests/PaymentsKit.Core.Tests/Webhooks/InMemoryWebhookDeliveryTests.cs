using NodaTime;
using PaymentsKit.Storage;
using PaymentsKit.Testing;
using PaymentsKit.Webhooks;

namespace PaymentsKit.Core.Tests.Webhooks;

public sealed class InMemoryWebhookDeliveryTests : WebhookDeliverySpecification
{
    protected override Task<WebhookTestKit> CreateKitAsync() => Task.FromResult(new WebhookTestKit(new InMemoryStore()));
}

public sealed class InMemoryWebhookQueuePropertyTests : WebhookQueuePropertyTests
{
    protected override Task<WebhookTestKit> CreateKitAsync() => Task.FromResult(new WebhookTestKit(new InMemoryStore()));
}

/// <summary>
/// The in-memory queue's claim looks only at pending deliveries: a long-running embedded host keeps every completed
/// delivery (for listing and replay), and claiming must not get slower with each of them.
/// </summary>
public sealed class InMemoryWebhookClaimCostTests
{
    private static readonly Guid Tenant = Guid.CreateVersion7();

    [Fact]
    public async Task A_claim_visits_no_completed_delivery()
    {
        var kit = new WebhookTestKit(new InMemoryStore());
        var queue = (InMemoryWebhookDeliveryQueue)kit.Queue;
        await kit.RegisterAsync(Tenant, new Uri("http://127.0.0.1:9/hooks"));
        var endpoint = new WebhookEndpointId(Guid.CreateVersion7());
        WebhookDeliveryPlanner planner = (events, _) => ValueTask.FromResult<IReadOnlyList<WebhookDeliveryPlan>>(
            [.. events.Select(x => new WebhookDeliveryPlan(x.Id, x.TenantId, endpoint, x.EventType, null))]);
        var now = kit.Clock.GetCurrentInstant();
        for (var i = 0; i < 50; i++)
        {
            await kit.EnqueueAsync(Tenant, $"inv_{i}");
        }

        await queue.ScheduleAsync(planner, now, 100);
        var claims = await queue.ClaimAsync(now, Duration.FromMinutes(1), 100);
        Assert.Equal(50, claims.Count);
        await queue.CompleteAsync([.. claims.Select(claim => new WebhookDeliveryCompletion(
            claim,
            WebhookDeliveryStatus.Delivered,
            null,
            new WebhookDeliveryAttempt(
                Guid.CreateVersion7(), Tenant, claim.Delivery.Id, claim.Delivery.EventId, endpoint, 1, now, Duration.Zero,
                WebhookAttemptOutcome.Delivered, 200, null, null)))]);
        await kit.EnqueueAsync(Tenant, "inv_new");
        await queue.ScheduleAsync(planner, now, 100);
        var before = queue.ClaimVisits;

        var fresh = Assert.Single(await queue.ClaimAsync(now, Duration.FromMinutes(1), 100));

        Assert.Equal(1, queue.ClaimVisits - before);
        Assert.Equal(51, (await queue.ListAsync(Tenant, new WebhookDeliveryFilter(), null, 100)).Items.Count);
        Assert.Equal(WebhookDeliveryStatus.Pending, fresh.Delivery.Status);
    }
}
