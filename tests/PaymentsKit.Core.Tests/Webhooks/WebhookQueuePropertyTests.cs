using FsCheck;
using FsCheck.Fluent;
using NodaTime;
using PaymentsKit.Testing;
using PaymentsKit.Webhooks;

namespace PaymentsKit.Core.Tests.Webhooks;

/// <summary>FsCheck properties of the webhook delivery queue, run against any store (subclass per store).</summary>
public abstract class WebhookQueuePropertyTests
{
    /// <summary>How many cases each property runs (fewer on slower stores).</summary>
    protected virtual int PropertyIterations => 60;

    /// <summary>The largest generated size (the length of the outcome and failure lists).</summary>
    protected virtual int PropertyEndSize => 20;

    /// <summary>A kit over an empty store and its queue, one per case: claims are global to a store.</summary>
    protected abstract Task<WebhookTestKit> CreateKitAsync();

    /// <summary>Releases what <see cref="CreateKitAsync"/> opened for a case.</summary>
    protected virtual ValueTask ReleaseKitAsync(WebhookTestKit kit) => ValueTask.CompletedTask;

    [Fact]
    public void Ordered_Deliveries_Go_Out_One_At_A_Time_Per_Resource_In_Write_Order_Meets_Specification()
    {
        var gen =
            from resources in Gen.ListOf(Gen.Choose(0, 2)).Where(l => l.Count > 0)
            from failures in Gen.ListOf(Gen.Elements(true, false)).Where(l => l.Count > 0)
            select (resources, failures);
        Prop.ForAll(Arb.From(gen), input => Task.Run(() => WithKitAsync(kit => RunAsync(kit, input.resources, input.failures))).GetAwaiter().GetResult())
            .Check(Config.QuickThrowOnFailure.WithMaxTest(PropertyIterations).WithEndSize(PropertyEndSize));
    }

    public enum Outcome
    {
        Deliver,
        Fail,

        /// <summary>The claimer dies holding the claim and completes it (as delivered) long after its lease ended.</summary>
        Crash,
    }

    [Fact]
    public void Every_Event_Reaches_Every_Endpoint_Once_Delivered_Or_Dead_Lettered_With_One_Claimer_At_A_Time_Meets_Specification()
    {
        var gen =
            from endpoints in Gen.Choose(1, 3)
            from events in Gen.Choose(1, 8)
            from claimers in Gen.Choose(1, 3)
            from outcomes in Gen.ListOf(Gen.Frequency((5, Gen.Constant(Outcome.Deliver)), (3, Gen.Constant(Outcome.Fail)), (1, Gen.Constant(Outcome.Crash)))).Where(l => l.Count > 0)
            select (endpoints, events, claimers, outcomes);
        Prop.ForAll(Arb.From(gen), c => Task.Run(() => WithKitAsync(kit => RunUnorderedAsync(kit, c.endpoints, c.events, c.claimers, c.outcomes))).GetAwaiter().GetResult())
            .Check(Config.QuickThrowOnFailure.WithMaxTest(PropertyIterations).WithEndSize(PropertyEndSize));
    }

    private async Task WithKitAsync(Func<WebhookTestKit, Task> run)
    {
        var kit = await CreateKitAsync();
        try
        {
            await run(kit);
        }
        finally
        {
            await ReleaseKitAsync(kit);
        }
    }

    private static async Task RunUnorderedAsync(WebhookTestKit kit, int endpointCount, int eventCount, int claimers, IReadOnlyList<Outcome> outcomes)
    {
        const int MaxAttempts = 3;
        var lease = Duration.FromSeconds(3);
        var tenant = Guid.CreateVersion7();
        var endpoints = new List<WebhookEndpointId>();
        for (var i = 0; i < endpointCount; i++)
        {
            endpoints.Add((await kit.RegisterAsync(tenant, new Uri($"http://127.0.0.1:9/hooks/{i}"))).Endpoint.Id);
        }

        var written = new List<WebhookEvent>();
        for (var i = 0; i < eventCount; i++)
        {
            written.Add(await kit.EnqueueAsync(tenant, $"inv_{i}"));
        }

        WebhookDeliveryPlanner planner = (events, _) => ValueTask.FromResult<IReadOnlyList<WebhookDeliveryPlan>>(
            [.. events.SelectMany(e => endpoints.Select(endpoint => new WebhookDeliveryPlan(e.Id, e.TenantId, endpoint, e.EventType, null)))]);
        var scheduled = 0;
        var latestToken = new Dictionary<WebhookDeliveryId, Guid>();
        var heldUntil = new Dictionary<WebhookDeliveryId, Instant>();
        var delivered = new Dictionary<WebhookDeliveryId, int>();
        var crashed = new List<(WebhookClaim Claim, int Round)>();
        var draw = 0;
        for (var round = 0; round < 300; round++)
        {
            var now = kit.Clock.GetCurrentInstant();

            // Scheduling again (as every dispatcher pass does) never schedules an event twice.
            scheduled += await kit.Queue.ScheduleAsync(planner, now, 1000);
            var claimed = await Task.WhenAll(Enumerable.Range(0, claimers).Select(_ => Task.Run(() => kit.Queue.ClaimAsync(now, lease, 3).AsTask())));
            var claims = claimed.SelectMany(c => c).ToList();
            Assert.Equal(claims.Count, claims.Select(c => c.Delivery.Id).Distinct().Count());
            foreach (var claim in claims)
            {
                Assert.True(!heldUntil.TryGetValue(claim.Delivery.Id, out var until) || until <= now, $"{claim.Delivery.Id} claimed again while leased until {until}");
                latestToken[claim.Delivery.Id] = claim.LeaseToken;
            }

            // Each claimer completes its own claims, all at once, as dispatchers on several hosts do: deliveries of one
            // event completed concurrently must still leave its delivered flag right.
            var batches = claimed.Select(_ => new List<WebhookDeliveryCompletion>()).Append([]).ToList();
            for (var claimer = 0; claimer < claimed.Length; claimer++)
            {
                foreach (var claim in claimed[claimer])
                {
                    // Claimers stop dying after a while, so that every delivery can end.
                    var outcome = outcomes[draw++ % outcomes.Count];
                    if (outcome == Outcome.Crash && round < 100)
                    {
                        heldUntil[claim.Delivery.Id] = claim.LeaseExpiresAt;
                        crashed.Add((claim, round));
                        continue;
                    }

                    heldUntil.Remove(claim.Delivery.Id);
                    var fail = outcome == Outcome.Fail;
                    var status = !fail ? WebhookDeliveryStatus.Delivered : claim.Delivery.Attempts >= MaxAttempts ? WebhookDeliveryStatus.DeadLettered : WebhookDeliveryStatus.Pending;
                    batches[claimer].Add(Completion(tenant, claim, now, status));
                }
            }

            // A crashed claimer's late completion counts only if nobody claimed the delivery after it.
            foreach (var late in crashed.Where(c => c.Round == round - 5).ToList())
            {
                batches[^1].Add(Completion(tenant, late.Claim, now, WebhookDeliveryStatus.Delivered));
                crashed.Remove(late);
            }

            // Checked per batch: a late completion and the current claimer's may be of one delivery.
            var applied = await Task.WhenAll(batches.Select(b => Task.Run(() => kit.Queue.CompleteAsync(b).AsTask())));
            foreach (var (completion, appliedInBatch) in batches.Zip(applied).SelectMany(b => b.First.Select(c => (c, b.Second))))
            {
                var id = completion.Claim.Delivery.Id;
                if (latestToken[id] != completion.Claim.LeaseToken)
                {
                    Assert.DoesNotContain(id, appliedInBatch);
                }

                if (appliedInBatch.Contains(id) && completion.Status == WebhookDeliveryStatus.Delivered)
                {
                    delivered[id] = delivered.GetValueOrDefault(id) + 1;
                }
            }

            kit.Clock.Advance(Duration.FromSeconds(1));
            if (crashed.Count == 0 && (await kit.Queue.ListAsync(tenant, new WebhookDeliveryFilter(WebhookDeliveryStatus.Pending), null, 1000)).Items.Count == 0 && scheduled > 0)
            {
                break;
            }
        }

        var deliveries = (await kit.Queue.ListAsync(tenant, new WebhookDeliveryFilter(), null, 1000)).Items;
        Assert.Equal(eventCount, scheduled);
        Assert.Equal(
            written.SelectMany(e => endpoints.Select(endpoint => $"{e.Id}/{endpoint}")).Order(StringComparer.Ordinal),
            deliveries.Select(d => $"{d.EventId}/{d.EndpointId}").Order(StringComparer.Ordinal));
        foreach (var delivery in deliveries)
        {
            Assert.True(delivery.Status is WebhookDeliveryStatus.Delivered or WebhookDeliveryStatus.DeadLettered, $"{delivery.Id} ended {delivery.Status}");
            Assert.Equal(delivery.Status == WebhookDeliveryStatus.Delivered ? 1 : 0, delivered.GetValueOrDefault(delivery.Id));
        }

        foreach (var e in written)
        {
            Assert.Equal(deliveries.Where(d => d.EventId == e.Id).All(d => d.Status == WebhookDeliveryStatus.Delivered), (await kit.Outbox.GetAsync(tenant, e.Id)).Delivered);
        }
    }

    private static WebhookDeliveryCompletion Completion(Guid tenant, WebhookClaim claim, Instant now, WebhookDeliveryStatus status)
    {
        var ok = status == WebhookDeliveryStatus.Delivered;
        var attempt = new WebhookDeliveryAttempt(
            Guid.CreateVersion7(), tenant, claim.Delivery.Id, claim.Delivery.EventId, claim.Delivery.EndpointId, claim.Delivery.Attempts, now, Duration.Zero,
            ok ? WebhookAttemptOutcome.Delivered : WebhookAttemptOutcome.Failed, ok ? 200 : 500, null, null);
        return new WebhookDeliveryCompletion(claim, status, status == WebhookDeliveryStatus.Pending ? now + Duration.FromSeconds(1) : null, attempt);
    }

    private static async Task RunAsync(WebhookTestKit kit, IReadOnlyList<int> resources, IReadOnlyList<bool> failures)
    {
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
