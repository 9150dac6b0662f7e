using FsCheck;
using FsCheck.Fluent;
using Npgsql;
using NodaTime;
using PaymentsKit.Core.Tests.Webhooks;
using PaymentsKit.Testing;
using PaymentsKit.Webhooks;

namespace PaymentsKit.PostgreSql.Tests;

/// <summary>The webhook delivery specification on PostgreSQL, a fresh database per test (claims are global to a database).</summary>
[Collection(PostgresServerFixture.CollectionName)]
public sealed class PostgreSqlWebhookDeliveryTests(PostgresServerFixture postgres) : WebhookDeliverySpecification
{
    private PostgreSqlStore? _store;
    private string? _connectionString;

    protected override int TenancyPropertyIterations => 8;

    public override async Task DisposeAsync()
    {
        if (_store is not null)
        {
            await _store.DisposeAsync();
        }
    }

    [Fact]
    public async Task Concurrent_claims_take_disjoint_deliveries_and_a_lease_blocks_until_it_expires()
    {
        var tenant = Guid.CreateVersion7();
        await Kit.RegisterAsync(tenant, new Uri("http://127.0.0.1:9/hooks"));
        for (var i = 0; i < 30; i++)
        {
            await Kit.EnqueueAsync(tenant, $"inv_{i}");
        }

        var now = Kit.Clock.GetCurrentInstant();
        await Kit.Queue.ScheduleAsync(
            (events, _) => ValueTask.FromResult<IReadOnlyList<WebhookDeliveryPlan>>(
                [.. events.Select(e => new WebhookDeliveryPlan(e.Id, e.TenantId, new WebhookEndpointId(Guid.CreateVersion7()), e.EventType, null))]),
            now,
            100);

        var barrier = new AsyncBarrier(4);
        var claims = await Task.WhenAll(Enumerable.Range(0, 4).Select(async _ =>
        {
            await barrier.SignalAndWaitAsync(TimeSpan.FromSeconds(10));
            return await Kit.Queue.ClaimAsync(now, Duration.FromMinutes(1), 10);
        }));
        var all = claims.SelectMany(c => c).Select(c => c.Delivery.Id).ToList();
        Assert.Equal(30, all.Count);
        Assert.Equal(30, all.Distinct().Count());
        Assert.All(claims.SelectMany(c => c), c => Assert.Equal(1, c.Delivery.Attempts));

        Assert.Empty(await Kit.Queue.ClaimAsync(now + Duration.FromSeconds(59), Duration.FromMinutes(1), 100));
        var reclaimed = await Kit.Queue.ClaimAsync(now + Duration.FromMinutes(1), Duration.FromMinutes(1), 100);
        Assert.Equal(30, reclaimed.Count);
        Assert.All(reclaimed, c => Assert.Equal(2, c.Delivery.Attempts));

        // The first leases are gone: completing under them writes nothing.
        var stale = claims.SelectMany(c => c).First();
        var attempt = new WebhookDeliveryAttempt(Guid.CreateVersion7(), tenant, stale.Delivery.Id, stale.Delivery.EventId, stale.Delivery.EndpointId, 1, now, Duration.Zero, WebhookAttemptOutcome.Delivered, 200, null, null);
        Assert.Empty(await Kit.Queue.CompleteAsync([new WebhookDeliveryCompletion(stale, WebhookDeliveryStatus.Delivered, null, attempt)]));
        Assert.Empty(await Kit.Queue.ListAttemptsAsync(tenant, stale.Delivery.Id));
    }

    [Fact]
    public async Task Each_event_is_scheduled_once_however_many_schedulers_race()
    {
        var tenant = Guid.CreateVersion7();
        for (var i = 0; i < 50; i++)
        {
            await Kit.EnqueueAsync(tenant, $"inv_{i}");
        }

        var endpoint = new WebhookEndpointId(Guid.CreateVersion7());
        ValueTask<int> ScheduleAsync() => Kit.Queue.ScheduleAsync(
            (events, _) => ValueTask.FromResult<IReadOnlyList<WebhookDeliveryPlan>>(
                [.. events.Select(e => new WebhookDeliveryPlan(e.Id, e.TenantId, endpoint, e.EventType, null))]),
            Kit.Clock.GetCurrentInstant(),
            7);
        var barrier = new AsyncBarrier(4);
        var counts = await Task.WhenAll(Enumerable.Range(0, 4).Select(async _ =>
        {
            await barrier.SignalAndWaitAsync(TimeSpan.FromSeconds(10));
            var total = 0;
            for (var pass = 0; pass < 10; pass++)
            {
                total += await ScheduleAsync();
            }

            return total;
        }));

        // A scheduler that finds another one busy skips its turn; whatever is left goes in later passes.
        var rest = 0;
        for (int n; (n = await ScheduleAsync()) > 0;)
        {
            rest += n;
        }

        Assert.Equal(50, counts.Sum() + rest);
        var listed = await Kit.Queue.ListAsync(tenant, new WebhookDeliveryFilter(EndpointId: endpoint), null, 1000);
        Assert.Equal(50, listed.Items.Select(d => d.EventId).Distinct().Count());
    }

    [Fact]
    public async Task A_first_attempt_is_written_once_when_it_completes_and_a_lost_one_is_taken_again_with_its_attempt_counted()
    {
        var tenant = Guid.CreateVersion7();
        var endpoint = new WebhookEndpointId(Guid.CreateVersion7());
        var completed = await Kit.EnqueueAsync(tenant, "inv_1");
        var lost = await Kit.EnqueueAsync(tenant, "inv_2");
        WebhookDeliveryPlanner planner = (events, _) => ValueTask.FromResult<IReadOnlyList<WebhookDeliveryPlan>>(
            [.. events.Select(e => new WebhookDeliveryPlan(e.Id, e.TenantId, endpoint, e.EventType, null))]);
        var now = Kit.Clock.GetCurrentInstant();
        var lease = Duration.FromMinutes(1);
        var taken = await Kit.Queue.ScheduleAndClaimAsync(planner, now, lease, 10);
        Assert.Equal((2, 2), (taken.Scheduled, taken.Claims.Count));
        Assert.All(taken.Claims, c => Assert.Equal(1, c.Delivery.Attempts));

        // Claimed as they were scheduled, under a lease on the events' unscheduled rows: no delivery row yet, and nobody
        // else schedules or claims them while the lease holds.
        Assert.Empty((await Kit.Queue.ListAsync(tenant, new WebhookDeliveryFilter(), null, 10)).Items);
        Assert.Equal(0, (await Kit.Queue.ScheduleAndClaimAsync(planner, now + Duration.FromSeconds(59), lease, 10)).Scheduled);
        Assert.Empty(await Kit.Queue.ClaimAsync(now + Duration.FromSeconds(59), lease, 10));

        var first = taken.Claims.Single(c => c.Delivery.EventId == completed.Id);
        Assert.Equal([first.Delivery.Id], await Kit.Queue.CompleteAsync([Delivered(first, now)]));
        var written = await Kit.Queue.GetAsync(tenant, first.Delivery.Id);
        Assert.Equal(
            first.Delivery with { Status = WebhookDeliveryStatus.Delivered, LastStatusCode = 200, CompletedAt = now },
            written);
        Assert.Equal(WebhookAttemptOutcome.Delivered, Assert.Single(await Kit.Queue.ListAttemptsAsync(tenant, first.Delivery.Id)).Outcome);
        var summary = await Kit.Outbox.GetAsync(tenant, completed.Id);
        Assert.Equal((true, 1), (summary.Delivered, summary.Attempts));

        // The other one's dispatcher died: once its lease expires the event is scheduled again, its lost attempt counted,
        // and a late completion under the old lease writes nothing.
        var later = now + lease;
        var again = await Kit.Queue.ScheduleAndClaimAsync(planner, later, lease, 10);
        var retaken = Assert.Single(again.Claims);
        Assert.Equal((1, lost.Id, 2), (again.Scheduled, retaken.Delivery.EventId, retaken.Delivery.Attempts));
        var stale = taken.Claims.Single(c => c.Delivery.EventId == lost.Id);
        Assert.Empty(await Kit.Queue.CompleteAsync([Delivered(stale, later)]));
        Assert.Null(await Kit.Queue.GetAsync(tenant, stale.Delivery.Id));
        Assert.Equal([retaken.Delivery.Id], await Kit.Queue.CompleteAsync([Delivered(retaken, later)]));
        Assert.Equal((true, 1), ((await Kit.Outbox.GetAsync(tenant, lost.Id)).Delivered, (await Kit.Outbox.GetAsync(tenant, lost.Id)).Attempts));
        Assert.Equal(2, (await Kit.Queue.ListAsync(tenant, new WebhookDeliveryFilter(WebhookDeliveryStatus.Delivered), null, 10)).Items.Count);
    }

    [Fact]
    public async Task A_batch_mixing_first_attempts_and_delivery_rows_marks_each_event_delivered_only_when_all_its_deliveries_are()
    {
        var tenant = Guid.CreateVersion7();
        var (one, other) = (new WebhookEndpointId(Guid.CreateVersion7()), new WebhookEndpointId(Guid.CreateVersion7()));
        var single = await Kit.EnqueueAsync(tenant, "inv_1");
        var fanned = await Kit.EnqueueAsync(tenant, "inv_2");
        WebhookDeliveryPlanner planner = (events, _) => ValueTask.FromResult<IReadOnlyList<WebhookDeliveryPlan>>(
            [.. events.SelectMany(e => (e.Id == fanned.Id ? new[] { one, other } : [one]).Select(endpoint => new WebhookDeliveryPlan(e.Id, e.TenantId, endpoint, e.EventType, null)))]);
        var now = Kit.Clock.GetCurrentInstant();
        var taken = await Kit.Queue.ScheduleAndClaimAsync(planner, now, Duration.FromMinutes(1), 10);
        Assert.Equal(3, taken.Claims.Count);

        // The event's only delivery is leased on its unscheduled row; the fanned-out event's deliveries are rows.
        var first = taken.Claims.Single(c => c.Delivery.EventId == single.Id);
        var rows = taken.Claims.Where(c => c.Delivery.EventId == fanned.Id).ToList();
        Assert.True(PostgreSqlWebhookDeliveryQueue.IsFirstAttemptToken(first.LeaseToken));
        Assert.All(rows, c => Assert.False(PostgreSqlWebhookDeliveryQueue.IsFirstAttemptToken(c.LeaseToken)));

        Assert.Equal(2, (await Kit.Queue.CompleteAsync([Delivered(first, now), Delivered(rows[0], now)])).Count);
        Assert.Equal((true, 1), Summary(await Kit.Outbox.GetAsync(tenant, single.Id)));
        Assert.Equal((false, 1), Summary(await Kit.Outbox.GetAsync(tenant, fanned.Id)));

        Assert.Single(await Kit.Queue.CompleteAsync([Delivered(rows[1], now + Duration.FromSeconds(1))]));
        var done = await Kit.Outbox.GetAsync(tenant, fanned.Id);
        Assert.Equal((true, 2, now + Duration.FromSeconds(1)), (done.Delivered, done.Attempts, done.LastAttemptAt));
        await using var dataSource = NpgsqlDataSource.Create(_connectionString!);
        await using var command = dataSource.CreateCommand("SELECT count(*) FROM webhook_events WHERE delivered");
        Assert.Equal(2L, await command.ExecuteScalarAsync());

        static (bool, int) Summary(WebhookEvent e) => (e.Delivered, e.Attempts);
    }

    /// <summary>A completion that records <paramref name="claim"/> delivered (200) at <paramref name="at"/>.</summary>
    private static WebhookDeliveryCompletion Delivered(WebhookClaim claim, Instant at) => new(
        claim,
        WebhookDeliveryStatus.Delivered,
        null,
        new WebhookDeliveryAttempt(
            Guid.CreateVersion7(), claim.Delivery.TenantId, claim.Delivery.Id, claim.Delivery.EventId, claim.Delivery.EndpointId,
            claim.Delivery.Attempts, at, Duration.Zero, WebhookAttemptOutcome.Delivered, 200, "{}", null));

    [Fact]
    public void First_attempt_lease_tokens_carry_their_row_and_are_told_from_delivery_row_tokens_Meets_Specification()
    {
        Prop.ForAll(
                ArbMap.Default.ArbFor<long>(),
                ArbMap.Default.ArbFor<long>().Filter(seq => seq >= 0),
                (random, seq) =>
                {
                    seq &= long.MaxValue >> 1;
                    var token = PostgreSqlWebhookDeliveryQueue.LeaseToken(random, seq);
                    return PostgreSqlWebhookDeliveryQueue.IsFirstAttemptToken(token)
                        && PostgreSqlWebhookDeliveryQueue.LeasedSeq(token) == seq
                        && PostgreSqlWebhookDeliveryQueue.LeaseToken(random, seq) == token
                        && PostgreSqlWebhookDeliveryQueue.LeaseToken(random, seq + 1) != token;
                })
            .Check(Config.QuickThrowOnFailure.WithMaxTest(500));

        // A delivery row's token is gen_random_uuid()'s (version 4), never a first attempt's.
        for (var i = 0; i < 1000; i++)
        {
            Assert.False(PostgreSqlWebhookDeliveryQueue.IsFirstAttemptToken(Guid.NewGuid()));
        }
    }

    [Fact]
    public async Task The_schema_holds_the_delivery_tables()
    {
        await _store!.Migrator.MigrateAsync();
        var script = _store.Migrator.GetScript();
        Assert.Contains("CREATE TABLE webhook_deliveries", script, StringComparison.Ordinal);
        Assert.Contains("webhook_delivery_attempts", script, StringComparison.Ordinal);
        await using var dataSource = NpgsqlDataSource.Create(_connectionString!);
        await using var command = dataSource.CreateCommand("SELECT count(*) FROM information_schema.columns WHERE table_name = 'webhook_events' AND column_name IN ('dispatch_seq', 'scheduled_at')");
        Assert.Equal(1L, await command.ExecuteScalarAsync());

        // An event written to the outbox waits in the narrow unscheduled table until a scheduler takes it.
        var tenant = Guid.CreateVersion7();
        var written = await Kit.EnqueueAsync(tenant, "inv_1");
        await using var waiting = dataSource.CreateCommand("SELECT event_id FROM webhook_events_unscheduled");
        Assert.Equal(written.Id.Value, await waiting.ExecuteScalarAsync());
        Assert.Equal(1, await Kit.Queue.ScheduleAsync((_, _) => ValueTask.FromResult<IReadOnlyList<WebhookDeliveryPlan>>([]), Kit.Clock.GetCurrentInstant(), 10));
        Assert.Null(await waiting.ExecuteScalarAsync());
    }

    protected override async Task<WebhookTestKit> CreateKitAsync()
    {
        _connectionString = await postgres.CreateDatabaseAsync("webhooks");
        var clock = new ManualClock();
        _store = TestStores.Create(_connectionString, clock: clock);
        return new WebhookTestKit(_store, new PostgreSqlWebhookDeliveryQueue(_store), clock);
    }
}

/// <summary>
/// The webhook queue properties on PostgreSQL: each case on the class's database, emptied (claims are global to a
/// database), with fewer and smaller cases than in memory, where a case is a few hundred round trips.
/// </summary>
[Collection(PostgresServerFixture.CollectionName)]
public sealed class PostgreSqlWebhookQueuePropertyTests(PostgresServerFixture postgres) : WebhookQueuePropertyTests
{
    protected override int PropertyIterations => 12;

    protected override int PropertyEndSize => 10;

    protected override async Task<WebhookTestKit> CreateKitAsync()
    {
        var clock = new ManualClock();
        var store = TestStores.Create(await EmptyDatabase.ForAsync(postgres, GetType()), clock: clock);
        return new WebhookTestKit(store, new PostgreSqlWebhookDeliveryQueue(store), clock);
    }

    protected override ValueTask ReleaseKitAsync(WebhookTestKit kit) => ((PostgreSqlStore)kit.Store).DisposeAsync();
}
