using FsCheck;
using FsCheck.Fluent;
using NodaTime;
using PaymentsKit.Storage;
using PaymentsKit.Testing;
using PaymentsKit.Webhooks;

namespace PaymentsKit.Core.Tests.Webhooks;

public class WebhookQueuePropertyTests
{
    [Fact]
    public void Ordered_Deliveries_Go_Out_One_At_A_Time_Per_Resource_In_Write_Order_Meets_Specification()
    {
        var gen =
            from resources in Gen.ListOf(Gen.Choose(0, 2)).Where(l => l.Count > 0)
            from failures in Gen.ListOf(Gen.Elements(true, false)).Where(l => l.Count > 0)
            select (resources, failures);
        Prop.ForAll(Arb.From(gen), input => Task.Run(() => RunAsync(input.resources, input.failures)).GetAwaiter().GetResult())
            .Check(Config.QuickThrowOnFailure.WithMaxTest(60).WithEndSize(20));
    }

    private static async Task RunAsync(IReadOnlyList<int> resources, IReadOnlyList<bool> failures)
    {
        var kit = new WebhookTestKit(new InMemoryStore());
        var tenant = Guid.CreateVersion7();
        var endpoint = (await kit.RegisterAsync(tenant, new Uri("http://127.0.0.1:9/hooks"), ordered: true)).Endpoint.Id;
        var written = new List<WebhookEvent>();
        foreach (var resource in resources)
        {
            written.Add(await kit.EnqueueAsync(tenant, $"inv_{resource}"));
            kit.Clock.Advance(Duration.FromMilliseconds(1));
        }

        await kit.Queue.ScheduleAsync(
            (events, _) => ValueTask.FromResult<IReadOnlyList<WebhookDeliveryPlan>>(
                [.. events.Select(e => new WebhookDeliveryPlan(e.Id, e.TenantId, endpoint, e.EventType, $"{e.ResourceType}:{e.ResourceId}"))]),
            kit.Clock.GetCurrentInstant(),
            1000);

        var delivered = new List<WebhookEventId>();
        var draw = 0;
        for (var round = 0; round < 10 * written.Count && delivered.Count < written.Count; round++)
        {
            var now = kit.Clock.GetCurrentInstant();
            var claims = await kit.Queue.ClaimAsync(now, Duration.FromMinutes(1), 1000);
            Assert.Equal(claims.Count, claims.Select(c => c.Delivery.OrderingKey).Distinct().Count());
            var completions = new List<WebhookDeliveryCompletion>();
            foreach (var claim in claims)
            {
                var fail = failures[draw++ % failures.Count] && claim.Delivery.Attempts < 4;
                var attempt = new WebhookDeliveryAttempt(
                    Guid.CreateVersion7(), tenant, claim.Delivery.Id, claim.Delivery.EventId, endpoint, claim.Delivery.Attempts, now, Duration.Zero,
                    fail ? WebhookAttemptOutcome.Failed : WebhookAttemptOutcome.Delivered, fail ? 500 : 200, null, null);
                completions.Add(new WebhookDeliveryCompletion(
                    claim, fail ? WebhookDeliveryStatus.Pending : WebhookDeliveryStatus.Delivered, fail ? now + Duration.FromSeconds(1) : null, attempt));
                if (!fail)
                {
                    delivered.Add(claim.Delivery.EventId);
                }
            }

            Assert.Equal(claims.Count, (await kit.Queue.CompleteAsync(completions)).Count);
            kit.Clock.Advance(Duration.FromSeconds(1));
        }

        Assert.Equal(written.Count, delivered.Count);
        foreach (var resource in written.GroupBy(e => e.ResourceId))
        {
            Assert.Equal(resource.Select(e => e.Id), delivered.Where(id => resource.Any(e => e.Id == id)));
        }
    }
}
