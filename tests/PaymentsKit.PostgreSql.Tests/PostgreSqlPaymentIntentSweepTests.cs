using NodaTime;
using PaymentsKit.Routing;
using PaymentsKit.Storage;
using PaymentsKit.Testing;
using PaymentsKit.Tests.Routing;

namespace PaymentsKit.PostgreSql.Tests;

/// <summary>
/// The due-intent sweep (tests/PaymentsKit.Core.Tests/Routing) on PostgreSQL: a database per test, and every sweeper a
/// queue of its own, as separate hosts would have, coordinating through the database only.
/// </summary>
[Collection(PostgresServerFixture.CollectionName)]
public sealed class PostgreSqlPaymentIntentSweepTests(PostgresServerFixture postgres) : PaymentIntentSweepSpecification
{
    protected override async Task<IPaymentsStore> CreateStoreAsync() => TestStores.Create(await postgres.CreateDatabaseAsync("sweep"));

    protected override IDuePaymentIntentQueue CreateDueQueue(IPaymentsStore store) => new PostgreSqlDuePaymentIntentQueue((PostgreSqlStore)store);

    [Fact]
    public async Task Lease_Rows_Of_Intents_Resolved_Outside_The_Queue_Are_Deleted_By_Later_Claims()
    {
        var merchant = await Router.MerchantAsync();
        var routed = new List<PaymentIntent>();
        for (var i = 0; i < 3; i++)
        {
            routed.Add(await Router.Intents.SelectRouteAsync(merchant, (await Router.IntentAsync(merchant, 2m + i, RoutingHarness.Ethereum)).Id));
        }

        // A sweeper claims all three, defers two (one stays due, one is cancelled while deferred) and dies holding the third.
        var queue = CreateDueQueue(Router.Store);
        var now = Clock.GetCurrentInstant();
        var claims = await queue.ClaimDueAsync(now, Duration.FromMinutes(1), 100);
        Assert.Equal(3, claims.Count);
        var (stillDue, cancelledWhileDeferred, cancelledWhileLeased) = (routed[0].Id.Value, routed[1].Id.Value, routed[2].Id.Value);
        await queue.DeferAsync(claims.Where(c => c.Id.Value != cancelledWhileLeased).ToList(), now + Duration.FromMinutes(10));
        await Router.Intents.CancelAsync(merchant, routed[1].Id);
        await Router.Intents.CancelAsync(merchant, routed[2].Id);

        // Once its lease ran out, the next claim deletes the cancelled intent's row; the deferrals still hold.
        Assert.Empty(await queue.ClaimDueAsync(now + Duration.FromMinutes(2), Duration.FromMinutes(1), 100));
        Assert.Equal(new[] { stillDue, cancelledWhileDeferred }.Order(), await LeaseRowsAsync());

        // Once the deferral is over, the intent still due is claimed and the cancelled one's row goes.
        var later = await queue.ClaimDueAsync(now + Duration.FromMinutes(10), Duration.FromMinutes(1), 100);
        Assert.Equal(stillDue, Assert.Single(later).Id.Value);
        Assert.Equal([stillDue], await LeaseRowsAsync());
    }

    private async Task<List<Guid>> LeaseRowsAsync()
    {
        await using var command = ((PostgreSqlStore)Router.Store).DataSource.CreateCommand("SELECT intent_id FROM payment_intent_leases");
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<Guid>();
        while (await reader.ReadAsync())
        {
            rows.Add(reader.GetGuid(0));
        }

        return rows.Order().ToList();
    }
}
