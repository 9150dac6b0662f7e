using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Security.Cryptography;
using Microsoft.Extensions.DependencyInjection;
using NodaTime;
using PaymentsKit.Chains;
using PaymentsKit.Diagnostics;
using PaymentsKit.Hosting.Jobs;
using PaymentsKit.Invoicing;
using PaymentsKit.Storage;
using PaymentsKit.Testing;
using PaymentsKit.Webhooks;

namespace PaymentsKit.Hosting.Tests;

/// <summary>All PostgreSQL tests share one throwaway server.</summary>
[CollectionDefinition(PostgresServerFixture.CollectionName)]
public sealed class PostgresCollection : ICollectionFixture<PostgresServerFixture>;

/// <summary>One PaymentsKit host's services (in-memory, or PostgreSQL when a connection string is given).</summary>
internal sealed class TestHost : IAsyncDisposable
{
    private readonly ServiceProvider _provider;

    public TestHost(ManualClock clock, string? connectionString = null)
    {
        Clock = clock;
        var services = new ServiceCollection();
        services.AddLogging();
        var kit = services.AddPaymentsKit(o => o.ApiKeyHashingSecret = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)))
            .UseClock(clock)
            .AddSimulatedChain(ChainId.Stellar)
            .AddWebhookDelivery(o => o.AllowLoopback = true);
        if (connectionString is not null)
        {
            kit.UsePostgreSql(connectionString);
        }

        kit.AddPaymentsKitHosting(o => o.WebhookDispatchBudget = TimeSpan.FromSeconds(30));
        _provider = services.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true });
    }

    public ManualClock Clock { get; }

    public IServiceProvider Services => _provider;

    public IPaymentLinkService Links => _provider.GetRequiredService<IPaymentLinkService>();

    public TJob Job<TJob>()
        where TJob : IPaymentsKitJob =>
        _provider.GetServices<IPaymentsKitJob>().OfType<TJob>().Single();

    public async Task<Merchant> MerchantAsync() =>
        await _provider.GetRequiredService<IMerchantService>().RegisterMerchantAsync(new RegisterMerchantRequest("stellar", "merchant-" + Guid.NewGuid().ToString("N")));

    public ValueTask DisposeAsync() => _provider.DisposeAsync();
}

public sealed class HostingJobsTests
{
    [Fact]
    public async Task Expired_payment_links_are_deactivated_once_by_the_job()
    {
        await using var host = new TestHost(new ManualClock());
        var merchant = await host.MerchantAsync();
        var now = host.Clock.GetCurrentInstant();
        var soon = await host.Links.CreatePaymentLinkAsync(merchant.Id, new CreatePaymentLinkRequest("soon", 5m, "XLM") { ExpiresAt = now + Duration.FromMinutes(1) });
        var alsoSoon = await host.Links.CreatePaymentLinkAsync(merchant.Id, new CreatePaymentLinkRequest("also soon", 5m, "XLM") { ExpiresAt = now + Duration.FromMinutes(2) });
        var later = await host.Links.CreatePaymentLinkAsync(merchant.Id, new CreatePaymentLinkRequest("later", 5m, "XLM") { ExpiresAt = now + Duration.FromHours(1) });
        var never = await host.Links.CreatePaymentLinkAsync(merchant.Id, new CreatePaymentLinkRequest("never", 5m, "XLM"));
        var job = host.Job<PaymentLinkExpiryJob>();

        Assert.Equal(new PaymentsKitJobResult(0), await job.RunAsync(CancellationToken.None));
        host.Clock.Advance(Duration.FromMinutes(2));
        Assert.Equal(new PaymentsKitJobResult(2), await job.RunAsync(CancellationToken.None));
        Assert.Equal(new PaymentsKitJobResult(0), await job.RunAsync(CancellationToken.None));

        Assert.False((await host.Links.GetPaymentLinkAsync(merchant.Id, soon.Id)).Active);
        Assert.False((await host.Links.GetPaymentLinkAsync(merchant.Id, alsoSoon.Id)).Active);
        Assert.True((await host.Links.GetPaymentLinkAsync(merchant.Id, later.Id)).Active);
        Assert.True((await host.Links.GetPaymentLinkAsync(merchant.Id, never.Id)).Active);
    }

    [Fact]
    public async Task A_lease_has_one_holder_until_released_or_expired()
    {
        await using var host = new TestHost(new ManualClock());
        var leases = host.Services.GetRequiredService<JobLeases>();

        var first = await leases.TryAcquireAsync("work", TimeSpan.FromMinutes(1));
        Assert.NotNull(first);
        Assert.Null(await leases.TryAcquireAsync("work", TimeSpan.FromMinutes(1)));
        await using (var other = await leases.TryAcquireAsync("other work", TimeSpan.FromMinutes(1)))
        {
            Assert.NotNull(other);
        }

        await first!.DisposeAsync();
        var second = await leases.TryAcquireAsync("work", TimeSpan.FromMinutes(1));
        Assert.NotNull(second);

        // The holder died: the lease lapses.
        host.Clock.Advance(Duration.FromMinutes(1));
        Assert.NotNull(await leases.TryAcquireAsync("work", TimeSpan.FromMinutes(1)));
        await second!.DisposeAsync();
        Assert.Null(await leases.TryAcquireAsync("work", TimeSpan.FromMinutes(1)));
    }

    [Fact]
    public async Task Jobs_report_spans_and_metrics_for_operations_deliveries_and_runs()
    {
        var spans = new ConcurrentBag<string>();
        using var activities = new ActivityListener
        {
            ShouldListenTo = source => source.Name == PaymentsKitTelemetry.Name,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllData,
            ActivityStopped = activity => spans.Add(activity.OperationName),
        };
        ActivitySource.AddActivityListener(activities);
        var measurements = new ConcurrentBag<(string Instrument, string Tags)>();
        using var meters = new MeterListener
        {
            InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Name == PaymentsKitTelemetry.Name)
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            },
        };
        meters.SetMeasurementEventCallback<long>((instrument, _, tags, _) => measurements.Add((instrument.Name, Tags(tags))));
        meters.SetMeasurementEventCallback<double>((instrument, _, tags, _) => measurements.Add((instrument.Name, Tags(tags))));
        meters.Start();

        var answers = 0;
        await using var receiver = new LoopbackHttpServer(_ => Interlocked.Increment(ref answers) == 1 ? LoopbackResponse.WithStatus(500) : LoopbackResponse.Json("{}"));
        await using var host = new TestHost(new ManualClock());
        var merchant = await host.MerchantAsync();
        var tenant = merchant.Id.Value;
        await host.Services.GetRequiredService<IWebhookEndpointService>().RegisterAsync(tenant, new RegisterWebhookEndpoint { Url = new Uri(receiver.BaseAddress, "in") });
        var outbox = host.Services.GetRequiredService<IWebhookOutbox>();
        await host.Services.GetRequiredService<IPaymentsStore>().ExecuteAsync(
            (unit, _) => ValueTask.FromResult(outbox.Enqueue(unit, tenant, "invoice", "inv_1", "invoice.paid", new { id = "inv_1" })));
        await host.Links.CreatePaymentLinkAsync(merchant.Id, new CreatePaymentLinkRequest("soon", 5m, "XLM") { ExpiresAt = host.Clock.GetCurrentInstant() + Duration.FromMinutes(1) });
        var worker = new PaymentsKitJobWorker(host.Job<WebhookDispatchJob>(), TimeSpan.FromHours(1), TimeSpan.FromHours(1), Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);

        await worker.StartAsync(CancellationToken.None);
        await WaitUntilAsync(() => worker.Runs >= 1);
        host.Clock.Advance(Duration.FromMinutes(1));
        await host.Job<WebhookDispatchJob>().RunAsync(CancellationToken.None);
        await host.Job<PaymentLinkExpiryJob>().RunAsync(CancellationToken.None);
        await worker.StopAsync(CancellationToken.None);
        worker.Dispose();
        meters.RecordObservableInstruments();

        Assert.Contains("jobs.webhooks.dispatch", spans);
        Assert.Contains("webhooks.drain", spans);
        Assert.Contains("webhooks.deliver", spans);
        Assert.Contains("webhooks.endpoint.register", spans);
        Assert.Contains("RegisterMerchant", spans);
        Assert.Contains("CreatePaymentLink", spans);
        Assert.Contains("ExpireDue", spans);
        Assert.Contains(("paymentskit.webhooks.deliveries", "outcome=retry"), measurements);
        Assert.Contains(("paymentskit.webhooks.deliveries", "outcome=delivered"), measurements);
        Assert.Contains(measurements, m => m.Instrument == "paymentskit.webhooks.retries");
        Assert.Contains(measurements, m => m.Instrument == "paymentskit.webhooks.attempt.duration" && m.Tags == "outcome=Failed");
        Assert.Contains(("paymentskit.jobs.runs", "job=webhooks.dispatch,outcome=ok"), measurements);
        Assert.Contains(measurements, m => m.Instrument == "paymentskit.jobs.duration" && m.Tags == "job=webhooks.dispatch");
    }

    private static string Tags(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var parts = new List<string>();
        foreach (var tag in tags)
        {
            parts.Add($"{tag.Key}={tag.Value}");
        }

        return string.Join(',', parts);
    }

    internal static async Task WaitUntilAsync(Func<bool> condition, int timeoutMs = 10_000)
    {
        for (var waited = 0; waited < timeoutMs && !condition(); waited += 10)
        {
            await Task.Delay(10);
        }

        Assert.True(condition());
    }
}

/// <summary>Several hosts against one PostgreSQL database: the work is shared, none of it done twice, none missed.</summary>
[Collection(PostgresServerFixture.CollectionName)]
public sealed class MultiHostTests(PostgresServerFixture postgres)
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Hosts_racing_the_dead_holders_release_for_its_expired_lease_give_it_to_exactly_one(bool onPostgreSql)
    {
        var connectionString = onPostgreSql ? await postgres.CreateDatabaseAsync("leases") : null;
        var start = new ManualClock().GetCurrentInstant();
        var hosts = new List<TestHost>();
        try
        {
            // In memory the hosts are one store's callers; on PostgreSQL each host has a store of its own over the database.
            for (var i = 0; i < (onPostgreSql ? 8 : 1); i++)
            {
                var clock = new ManualClock();
                clock.Advance(start - clock.GetCurrentInstant());
                hosts.Add(new TestHost(clock, connectionString));
            }

            var leases = Enumerable.Range(0, 8).Select(i => hosts[i % hosts.Count].Services.GetRequiredService<JobLeases>()).ToList();
            var dead = await leases[0].TryAcquireAsync("distribution run", TimeSpan.FromMinutes(1));
            Assert.NotNull(dead);
            foreach (var host in hosts)
            {
                host.Clock.Advance(Duration.FromMinutes(2));
            }

            // The holder that stalled past its lease releases it while every host tries to take it over.
            var outcomes = await Race.RunAsync(
                leases.Select((l, i) => ($"host {i}", (Func<Task<JobLease?>>)(() => l.TryAcquireAsync("distribution run", TimeSpan.FromMinutes(1)).AsTask())))
                    .Append(("dead holder", async () =>
                    {
                        await dead!.DisposeAsync();
                        return null;
                    })));

            Assert.All(outcomes, o => Assert.True(o.Won, o.ToString()));
            Assert.Single(outcomes, o => o.Value is not null);
            // The dead holder's late release did not end the new holder's lease.
            foreach (var lease in leases)
            {
                Assert.Null(await lease.TryAcquireAsync("distribution run", TimeSpan.FromMinutes(1)));
            }
        }
        finally
        {
            foreach (var host in hosts)
            {
                await host.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task Three_hosts_on_one_database_share_sweeps_deliveries_and_leases_without_duplicates()
    {
        var connectionString = await postgres.CreateDatabaseAsync("hosting");
        var start = new ManualClock().GetCurrentInstant();
        var hosts = new List<TestHost>();
        for (var i = 0; i < 3; i++)
        {
            var clock = new ManualClock();
            clock.Advance(start - clock.GetCurrentInstant());
            hosts.Add(new TestHost(clock, connectionString));
        }

        try
        {
            var received = new ConcurrentDictionary<string, int>();
            var overlaps = 0;
            var inFlight = new ConcurrentDictionary<string, int>();
            await using var receiver = new LoopbackHttpServer(r =>
            {
                var id = r.Headers["webhook-id"];
                if (inFlight.AddOrUpdate(id, 1, (_, n) => n + 1) > 1)
                {
                    Interlocked.Increment(ref overlaps);
                }

                Thread.Sleep(1);
                received.AddOrUpdate(id, 1, (_, n) => n + 1);
                inFlight.AddOrUpdate(id, 0, (_, n) => n - 1);
                return LoopbackResponse.Json("{}");
            });
            var merchant = await hosts[0].MerchantAsync();
            await hosts[1].Services.GetRequiredService<IWebhookEndpointService>().RegisterAsync(merchant.Id.Value, new RegisterWebhookEndpoint { Url = new Uri(receiver.BaseAddress, "in") });
            for (var i = 0; i < 24; i++)
            {
                await hosts[i % 3].Links.CreatePaymentLinkAsync(merchant.Id, new CreatePaymentLinkRequest($"link {i}", 5m, "XLM") { ExpiresAt = start + Duration.FromSeconds(10 + i) });
            }

            var outbox = hosts[2].Services.GetRequiredService<IWebhookOutbox>();
            var store = hosts[2].Services.GetRequiredService<IPaymentsStore>();
            var events = new List<WebhookEvent>();
            for (var i = 0; i < 60; i++)
            {
                events.Add(await store.ExecuteAsync((unit, _) => ValueTask.FromResult(outbox.Enqueue(unit, merchant.Id.Value, "invoice", $"inv_{i % 7}", "invoice.paid", new { i }))));
            }

            foreach (var host in hosts)
            {
                host.Clock.Advance(Duration.FromMinutes(1));
            }

            var barrier = new AsyncBarrier(hosts.Count);
            var results = await Task.WhenAll(hosts.Select(async host =>
            {
                await barrier.SignalAndWaitAsync(TimeSpan.FromSeconds(30));
                var expiry = host.Job<PaymentLinkExpiryJob>().RunAsync(CancellationToken.None).AsTask();
                var dispatch = host.Job<WebhookDispatchJob>().RunAsync(CancellationToken.None).AsTask();
                var lease = host.Services.GetRequiredService<JobLeases>().TryAcquireAsync("one at a time", TimeSpan.FromMinutes(5)).AsTask();
                return (Expired: (await expiry).Processed, Delivered: (await dispatch).Processed, Lease: await lease);
            }));

            Assert.Equal(24, results.Sum(r => r.Expired));
            Assert.Single(results, r => r.Lease is not null);
            Assert.Equal(60, results.Sum(r => r.Delivered));
            Assert.Equal(0, Volatile.Read(ref overlaps));
            Assert.Equal(60, received.Count);
            Assert.All(received.Values, n => Assert.Equal(1, n));
            foreach (var e in events)
            {
                Assert.True((await outbox.GetAsync(merchant.Id.Value, e.Id)).Delivered);
            }

            var links = await hosts[0].Links.ListPaymentLinksAsync(merchant.Id, limit: 100);
            Assert.All(links.Items, l => Assert.False(l.Active));
            foreach (var host in hosts)
            {
                Assert.Equal(new PaymentsKitJobResult(0), await host.Job<PaymentLinkExpiryJob>().RunAsync(CancellationToken.None));
            }
        }
        finally
        {
            foreach (var host in hosts)
            {
                await host.DisposeAsync();
            }
        }
    }
}
