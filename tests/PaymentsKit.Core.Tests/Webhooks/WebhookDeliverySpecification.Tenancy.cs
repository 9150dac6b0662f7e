using NodaTime;
using PaymentsKit.Testing;
using PaymentsKit.Tests;
using PaymentsKit.Webhooks;

namespace PaymentsKit.Core.Tests.Webhooks;

public abstract partial class WebhookDeliverySpecification
{
    /// <summary>How many random histories the tenancy property runs (fewer on slower stores).</summary>
    protected virtual int TenancyPropertyIterations => 25;

    /// <summary>A step of the tenancy property: a tenant's own work, or an attempt on another tenant's records.</summary>
    public enum WebhookTenancyStep
    {
        Register,
        Enqueue,
        Dispatch,
        ManageEndpoint,
        Replay,
        TouchForeignEndpoint,
        TouchForeignDelivery,
        ReadForeignEvent,
    }

    /// <summary>
    /// Three tenants register endpoints (answering 200, 500 or 410), write events (with the same resource ids),
    /// dispatch, disable, enable, rotate and replay, while each keeps trying another tenant's: every call naming another
    /// tenant's endpoint, delivery or event — get, rotate, disable, enable, attempts, replay, replay its dead letters,
    /// list by it — answers exactly as for one that does not exist (<c>not_found</c> with the same message and context,
    /// or the same empty answer for a filter) and changes nothing; each tenant's endpoints, events, deliveries and dead
    /// letters are exactly its own, and every request a receiver got carried an event of the endpoint's own tenant.
    /// </summary>
    [Fact]
    public void Tenants_See_And_Change_Only_Their_Own_Endpoints_And_Deliveries_Meets_Specification()
    {
        TenancyProperty.Check(
            TenancyPropertyIterations,
            RunWebhookTenancyAsync,
            (2, WebhookTenancyStep.Register),
            (3, WebhookTenancyStep.Enqueue),
            (2, WebhookTenancyStep.Dispatch),
            (1, WebhookTenancyStep.ManageEndpoint),
            (2, WebhookTenancyStep.Replay),
            (3, WebhookTenancyStep.TouchForeignEndpoint),
            (3, WebhookTenancyStep.TouchForeignDelivery),
            (1, WebhookTenancyStep.ReadForeignEvent));
    }

    private static readonly string[] Answers = ["ok", "fail", "gone"];

    /// <summary>What one tenant made: its endpoints and events.</summary>
    private sealed record WebhookTenant(Guid Id, int Index, List<WebhookEndpointId> Endpoints, List<WebhookEventId> Events);

    private async Task<bool> RunWebhookTenancyAsync(List<(int Actor, WebhookTenancyStep Step, int Pick)> steps)
    {
        // The receiver answers by the path, which also names the tenant that registered it.
        await using var receiver = new TestReceiver((request, _) => request.Path.Split('/')[^1] switch
        {
            "ok" => LoopbackResponse.Json("{}"),
            "gone" => LoopbackResponse.WithStatus(410),
            _ => LoopbackResponse.WithStatus(500),
        });
        var dispatcher = Kit.Dispatcher();
        var tenants = Enumerable.Range(0, 3).Select(i => new WebhookTenant(Guid.CreateVersion7(), i, [], [])).ToList();

        // Each starts with an endpoint and an event delivered to it, so the others have something to try from the first step.
        foreach (var tenant in tenants)
        {
            tenant.Endpoints.Add((await Kit.RegisterAsync(tenant.Id, new Uri(receiver.Server.BaseAddress, $"t{tenant.Index}/start/ok"))).Endpoint.Id);
            tenant.Events.Add((await Kit.EnqueueAsync(tenant.Id, "inv_start")).Id);
        }

        await dispatcher.DispatchAsync();
        foreach (var (actor, step, pick) in steps)
        {
            var me = tenants[actor];
            var other = tenants[(actor + 1 + (pick % 2)) % 3];
            switch (step)
            {
                case WebhookTenancyStep.Register when me.Endpoints.Count < 4:
                {
                    var url = new Uri(receiver.Server.BaseAddress, $"t{me.Index}/{me.Endpoints.Count}/{Answers[pick % Answers.Length]}");
                    var registered = await Kit.RegisterAsync(me.Id, url);
                    Assert.Equal(me.Id, registered.Endpoint.TenantId);
                    me.Endpoints.Add(registered.Endpoint.Id);
                    break;
                }

                case WebhookTenancyStep.Enqueue:
                    // Every tenant numbers its resources alike.
                    me.Events.Add((await Kit.EnqueueAsync(me.Id, $"inv_{me.Events.Count}")).Id);
                    break;
                case WebhookTenancyStep.Dispatch:
                    await dispatcher.DispatchAsync();
                    Kit.Clock.Advance(Duration.FromSeconds(10));
                    break;
                case WebhookTenancyStep.ManageEndpoint when me.Endpoints.Count > 0:
                {
                    var endpoint = me.Endpoints[pick % me.Endpoints.Count];
                    _ = (pick / 3 % 3) switch
                    {
                        0 => await Kit.Endpoints.DisableAsync(me.Id, endpoint, "maintenance"),
                        1 => await Kit.Endpoints.EnableAsync(me.Id, endpoint),
                        _ => (await Kit.Endpoints.RotateSecretAsync(me.Id, endpoint, Duration.FromHours(1)), await Kit.Endpoints.GetAsync(me.Id, endpoint)).Item2,
                    };
                    break;
                }

                case WebhookTenancyStep.Replay:
                {
                    // Replaying its own deliveries, one or all its dead letters, leaves the other tenants' as they were.
                    var deliveries = await DeliveriesAsync(me.Id, new WebhookDeliveryFilter());
                    var others = tenants.Where(t => t != me).ToList();
                    await UnchangedAsync(others[0], () => UnchangedAsync(others[1], async () =>
                    {
                        if (pick % 2 == 0 && deliveries.Count > 0)
                        {
                            try
                            {
                                await Kit.Deliveries.ReplayAsync(me.Id, deliveries[pick % deliveries.Count].Id);
                            }
                            catch (PaymentsKitException ex) when (ex.Code == PaymentsKitErrorCodes.InvalidTransition)
                            {
                                // Still pending: the tenant's own mistake, not what this property checks.
                            }
                        }
                        else
                        {
                            await Kit.Deliveries.ReplayDeadLettersAsync(me.Id, me.Endpoints.Count > 0 && pick % 3 == 0 ? me.Endpoints[pick % me.Endpoints.Count] : null);
                        }
                    }));
                    break;
                }

                case WebhookTenancyStep.TouchForeignEndpoint when other.Endpoints.Count > 0:
                {
                    var target = other.Endpoints[pick % other.Endpoints.Count];
                    var absent = new WebhookEndpointId(Guid.CreateVersion7());
                    await UnchangedAsync(other, async () =>
                    {
                        switch (pick / 3 % 7)
                        {
                            case 0:
                                await TenancyAssert.HiddenAsync(() => Kit.Endpoints.GetAsync(me.Id, target).AsTask(), target.ToString(), () => Kit.Endpoints.GetAsync(me.Id, absent).AsTask(), absent.ToString());
                                break;
                            case 1:
                                await TenancyAssert.HiddenAsync(
                                    () => Kit.Endpoints.RotateSecretAsync(me.Id, target, Duration.Zero).AsTask(), target.ToString(),
                                    () => Kit.Endpoints.RotateSecretAsync(me.Id, absent, Duration.Zero).AsTask(), absent.ToString());
                                break;
                            case 2:
                                await TenancyAssert.HiddenAsync(
                                    () => Kit.Endpoints.DisableAsync(me.Id, target, "x").AsTask(), target.ToString(), () => Kit.Endpoints.DisableAsync(me.Id, absent, "x").AsTask(), absent.ToString());
                                break;
                            case 3:
                                await TenancyAssert.HiddenAsync(() => Kit.Endpoints.EnableAsync(me.Id, target).AsTask(), target.ToString(), () => Kit.Endpoints.EnableAsync(me.Id, absent).AsTask(), absent.ToString());
                                break;
                            case 6:
                                // An overlap only checked against the endpoint, or before it is looked up: either way the same answer.
                                await TenancyAssert.SameAsAbsentAsync(
                                    () => Kit.Endpoints.RotateSecretAsync(me.Id, target, Duration.FromDays(8)).AsTask(), target.ToString(),
                                    () => Kit.Endpoints.RotateSecretAsync(me.Id, absent, Duration.FromDays(8)).AsTask(), absent.ToString());
                                break;
                            case 4:
                                await TenancyAssert.SameAsAbsentAsync(
                                    () => Kit.Deliveries.ReplayDeadLettersAsync(me.Id, target).AsTask(), target.ToString(),
                                    () => Kit.Deliveries.ReplayDeadLettersAsync(me.Id, absent).AsTask(), absent.ToString());
                                break;
                            default:
                                await TenancyAssert.SameAsAbsentAsync(
                                    () => DeliveriesAsync(me.Id, new WebhookDeliveryFilter(EndpointId: target)), target.ToString(),
                                    () => DeliveriesAsync(me.Id, new WebhookDeliveryFilter(EndpointId: absent)), absent.ToString());
                                break;
                        }
                    });
                    break;
                }

                case WebhookTenancyStep.TouchForeignDelivery:
                {
                    var theirs = await DeliveriesAsync(other.Id, new WebhookDeliveryFilter());
                    if (theirs.Count == 0)
                    {
                        break;
                    }

                    var target = theirs[pick % theirs.Count];
                    var absent = new WebhookDeliveryId(Guid.CreateVersion7());
                    var absentEvent = new WebhookEventId(Guid.CreateVersion7());
                    await UnchangedAsync(other, () => (pick / 3 % 4) switch
                    {
                        0 => TenancyAssert.HiddenAsync(() => Kit.Deliveries.GetAsync(me.Id, target.Id).AsTask(), target.Id.ToString(), () => Kit.Deliveries.GetAsync(me.Id, absent).AsTask(), absent.ToString()),
                        1 => TenancyAssert.HiddenAsync(
                            () => Kit.Deliveries.ListAttemptsAsync(me.Id, target.Id).AsTask(), target.Id.ToString(), () => Kit.Deliveries.ListAttemptsAsync(me.Id, absent).AsTask(), absent.ToString()),
                        2 => TenancyAssert.HiddenAsync(() => Kit.Deliveries.ReplayAsync(me.Id, target.Id).AsTask(), target.Id.ToString(), () => Kit.Deliveries.ReplayAsync(me.Id, absent).AsTask(), absent.ToString()),
                        _ => TenancyAssert.SameAsAbsentAsync(
                            () => DeliveriesAsync(me.Id, new WebhookDeliveryFilter(EventId: target.EventId)), target.EventId.ToString(),
                            () => DeliveriesAsync(me.Id, new WebhookDeliveryFilter(EventId: absentEvent)), absentEvent.ToString()),
                    });
                    break;
                }

                case WebhookTenancyStep.ReadForeignEvent when other.Events.Count > 0:
                {
                    var target = other.Events[pick % other.Events.Count];
                    var absent = new WebhookEventId(Guid.CreateVersion7());
                    await TenancyAssert.HiddenAsync(() => Kit.Outbox.GetAsync(me.Id, target).AsTask(), target.ToString(), () => Kit.Outbox.GetAsync(me.Id, absent).AsTask(), absent.ToString());
                    break;
                }
            }
        }

        // One last pass, so every tenant's events reach (or fail at) its endpoints.
        await dispatcher.DispatchAsync();
        foreach (var tenant in tenants)
        {
            await AssertOnlyOwnAsync(tenant);
        }

        // Every request carried an event of the tenant whose endpoint it reached.
        var owners = tenants.SelectMany(t => t.Events.Select(e => (Event: e.ToString(), t.Index))).ToDictionary(e => e.Event, e => e.Index);
        Assert.All(receiver.Received, r => Assert.Equal($"t{owners[r.Headers["webhook-id"]]}", r.Path.Split('/')[1]));
        return true;
    }

    /// <summary>Every delivery of a tenant matching <paramref name="filter"/>, a small page at a time.</summary>
    private async Task<List<WebhookDelivery>> DeliveriesAsync(Guid tenant, WebhookDeliveryFilter filter)
    {
        var all = new List<WebhookDelivery>();
        string? cursor = null;
        do
        {
            var page = await Kit.Deliveries.ListAsync(tenant, filter, cursor, 5);
            all.AddRange(page.Items);
            cursor = page.NextCursor;
        }
        while (cursor is not null);
        return all;
    }

    /// <summary>Runs a foreign call and asserts the owner's endpoints, deliveries, their attempts and its events are as they were.</summary>
    private async Task UnchangedAsync(WebhookTenant owner, Func<Task> foreign)
    {
        async Task<(List<WebhookEndpoint> Endpoints, List<WebhookDelivery> Deliveries, List<WebhookDeliveryAttempt> Attempts, List<(WebhookEventId, bool, int, Instant?)> Events)> ViewAsync()
        {
            var deliveries = await DeliveriesAsync(owner.Id, new WebhookDeliveryFilter());
            var attempts = new List<WebhookDeliveryAttempt>();
            foreach (var delivery in deliveries)
            {
                attempts.AddRange(await Kit.Deliveries.ListAttemptsAsync(owner.Id, delivery.Id));
            }

            var events = (await Kit.Outbox.ListAsync(owner.Id, null, 1000)).Items.Select(e => (e.Id, e.Delivered, e.Attempts, e.LastAttemptAt)).ToList();
            return ([.. await Kit.Endpoints.ListAsync(owner.Id)], deliveries, attempts, events);
        }

        var before = await ViewAsync();
        await foreign();
        var after = await ViewAsync();
        Assert.Equal(before.Endpoints, after.Endpoints);
        Assert.Equal(before.Deliveries, after.Deliveries);
        Assert.Equal(before.Attempts, after.Attempts);
        Assert.Equal(before.Events, after.Events);
    }

    private async Task AssertOnlyOwnAsync(WebhookTenant tenant)
    {
        var endpoints = await Kit.Endpoints.ListAsync(tenant.Id);
        Assert.Equal(tenant.Endpoints.Select(e => e.Value).Order(), endpoints.Select(e => e.Id.Value).Order());
        Assert.All(endpoints, e => Assert.Equal(tenant.Id, e.TenantId));

        var events = (await Kit.Outbox.ListAsync(tenant.Id, null, 1000)).Items;
        Assert.Equal(tenant.Events, events.Select(e => e.Id));

        var deliveries = await DeliveriesAsync(tenant.Id, new WebhookDeliveryFilter());
        Assert.All(deliveries, d =>
        {
            Assert.Equal(tenant.Id, d.TenantId);
            Assert.Contains(d.EndpointId, tenant.Endpoints);
            Assert.Contains(d.EventId, tenant.Events);
        });
        Assert.Equal(deliveries.Count, deliveries.Select(d => (d.EventId, d.EndpointId)).Distinct().Count());
        foreach (var delivery in deliveries)
        {
            Assert.All(await Kit.Deliveries.ListAttemptsAsync(tenant.Id, delivery.Id), a => Assert.Equal((tenant.Id, delivery.Id), (a.TenantId, a.DeliveryId)));
        }

        var deadLetters = await DeliveriesAsync(tenant.Id, new WebhookDeliveryFilter(WebhookDeliveryStatus.DeadLettered));
        Assert.Equal(deliveries.Where(d => d.Status == WebhookDeliveryStatus.DeadLettered).Select(d => d.Id), deadLetters.Select(d => d.Id));
    }
}
