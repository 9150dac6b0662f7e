using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using PaymentsKit.Diagnostics;
using PaymentsKit.Hosting;
using PaymentsKit.Chains;
using PaymentsKit.Hosting.Jobs;
using PaymentsKit.Orchestration;
using PaymentsKit.Routing;
using PaymentsKit.Storage;
using PaymentsKit.Testing;
using PaymentsKit.Webhooks;

namespace PaymentsKit.Hosting.Tests;

public class PaymentsKitHostingTests
{
    private static IHost BuildHost(Action<IServiceCollection>? services = null, Action<PaymentsKitHostingOptions>? options = null, TimeSpan? shutdown = null)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = shutdown ?? TimeSpan.FromSeconds(5));
        builder.Services.AddPaymentsKit()
            .UseClock(new ManualClock())
            .AddWebhookDelivery(o => o.AllowLoopback = true)
            .AddPaymentsKitHosting(o =>
            {
                o.WebhookDispatchInterval = TimeSpan.FromMilliseconds(20);
                options?.Invoke(o);
            });
        services?.Invoke(builder.Services);
        return builder.Build();
    }

    private static async Task WaitUntilAsync(Func<bool> condition, int timeoutMs = 5000)
    {
        for (var waited = 0; waited < timeoutMs && !condition(); waited += 10)
        {
            await Task.Delay(10);
        }

        Assert.True(condition());
    }

    [Fact]
    public void The_builtin_jobs_and_the_job_host_are_registered()
    {
        using var host = BuildHost();
        var jobs = host.Services.GetServices<IPaymentsKitJob>().Select(j => j.Name).ToList();
        Assert.Equal(
            [
                WebhookDispatchJob.JobName, InvoiceExpiryJob.JobName, LedgerTransferExpiryJob.JobName, ChainHealthSamplingJob.JobName,
                PaymentIntentSweepJob.JobName, PaymentLinkExpiryJob.JobName, StreamCompletionJob.JobName, DueDistributionsJob.JobName,
                TransactionSyncJob.JobName,
            ],
            jobs);
        Assert.Single(host.Services.GetServices<IHostedService>().OfType<PaymentsKitJobHost>());
        var options = host.Services.GetRequiredService<IOptions<PaymentsKitHostingOptions>>().Value;
        Assert.Equal(TimeSpan.FromMilliseconds(20), host.Services.GetServices<IPaymentsKitJob>().First().DefaultInterval);
        Assert.Equal(TimeSpan.FromSeconds(30), options.InvoiceExpiryInterval);
    }

    [Fact]
    public async Task Invalid_intervals_stop_the_host_from_starting_with_every_problem_listed()
    {
        using var host = BuildHost(options: o =>
        {
            o.InvoiceExpiryInterval = TimeSpan.Zero;
            o.TransactionSyncInterval = TimeSpan.FromDays(2);
            o.Intervals["custom.job"] = TimeSpan.FromDays(2);
        });
        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
        Assert.Contains(error.Failures, f => f.Contains("PaymentsKitHosting:InvoiceExpiryInterval", StringComparison.Ordinal));
        Assert.Contains(error.Failures, f => f.Contains("PaymentsKitHosting:TransactionSyncInterval", StringComparison.Ordinal));
        Assert.Contains(error.Failures, f => f.Contains("PaymentsKitHosting:Intervals[custom.job]", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(10)]
    [InlineData(59_999)]
    public async Task A_distribution_lease_under_a_minute_stops_the_host_from_starting_with_the_other_problems(int leaseMs)
    {
        // The lease is not renewed while a distribution runs: once it lapses, another host's runner may start the same
        // distribution beside the live run.
        using var host = BuildHost(options: o =>
        {
            o.DistributionLease = TimeSpan.FromMilliseconds(leaseMs);
            o.InvoiceExpiryInterval = TimeSpan.Zero;
        });
        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
        Assert.Contains(error.Failures, f => f.Contains("PaymentsKitHosting:DistributionLease must be between 1 minute and 1 day", StringComparison.Ordinal));
        Assert.Contains(error.Failures, f => f.Contains("PaymentsKitHosting:InvoiceExpiryInterval", StringComparison.Ordinal));
    }

    [Fact]
    public void A_distribution_lease_from_one_minute_to_one_day_is_accepted()
    {
        Assert.Empty(new PaymentsKitHostingOptions { DistributionLease = TimeSpan.FromMinutes(1) }.Validate());
        Assert.Empty(new PaymentsKitHostingOptions { DistributionLease = TimeSpan.FromDays(1) }.Validate());
        Assert.Single(new PaymentsKitHostingOptions { DistributionLease = TimeSpan.FromDays(1) + TimeSpan.FromTicks(1) }.Validate());
    }

    [Fact]
    public async Task The_dispatch_worker_delivers_outbox_events_through_the_http_client_factory()
    {
        var received = new ConcurrentQueue<LoopbackRequest>();
        await using var receiver = new LoopbackHttpServer(r =>
        {
            received.Enqueue(r);
            return LoopbackResponse.Json("{}");
        });
        using var host = BuildHost();
        await host.StartAsync();
        var tenant = Guid.CreateVersion7();
        await host.Services.GetRequiredService<IWebhookEndpointService>().RegisterAsync(tenant, new RegisterWebhookEndpoint { Url = new Uri(receiver.BaseAddress, "in") });
        var outbox = host.Services.GetRequiredService<IWebhookOutbox>();
        var store = host.Services.GetRequiredService<IPaymentsStore>();
        var e = await store.ExecuteAsync((unit, _) => ValueTask.FromResult(outbox.Enqueue(unit, tenant, "invoice", "inv_1", "invoice.paid", new { id = "inv_1" })));

        await WaitUntilAsync(() => !received.IsEmpty);
        await host.StopAsync();

        Assert.Equal(e.Id.ToString(), Assert.Single(received).Headers["webhook-id"]);
        await WaitUntilAsync(() => outbox.GetAsync(tenant, e.Id).AsTask().Result.Delivered);
    }

    [Fact]
    public async Task Shutdown_lets_the_webhook_post_in_flight_finish_and_puts_back_at_once_the_claimed_deliveries_not_yet_sent()
    {
        // One POST at a time, so one drain claims the three deliveries and sends them in turn. The first is answered only
        // after shutdown began; any later POST would hang past the shutdown timeout.
        var answerFirst = new TaskCompletionSource();
        var received = new ConcurrentQueue<LoopbackRequest>();
        await using var receiver = new LoopbackHttpServer(r =>
        {
            received.Enqueue(r);
            if (received.Count > 1)
            {
                return new LoopbackResponse(200, "{}", Delay: TimeSpan.FromSeconds(30));
            }

            answerFirst.Task.Wait(TimeSpan.FromSeconds(10));
            return LoopbackResponse.Json("{}");
        });
        using var host = BuildHost(s => s.Configure<WebhookDeliveryOptions>(o => o.MaxConcurrency = 1), shutdown: TimeSpan.FromSeconds(3));
        var tenant = Guid.CreateVersion7();
        await host.Services.GetRequiredService<IWebhookEndpointService>().RegisterAsync(tenant, new RegisterWebhookEndpoint { Url = new Uri(receiver.BaseAddress, "in") });
        var outbox = host.Services.GetRequiredService<IWebhookOutbox>();
        var store = host.Services.GetRequiredService<IPaymentsStore>();
        var events = new List<WebhookEvent>();
        for (var i = 0; i < 3; i++)
        {
            var id = $"inv_{i}";
            events.Add(await store.ExecuteAsync((unit, _) => ValueTask.FromResult(outbox.Enqueue(unit, tenant, "invoice", id, "invoice.paid", new { id }))));
        }

        await host.StartAsync();
        await WaitUntilAsync(() => received.Count == 1);
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var stopped = host.StopAsync();
        await Task.Delay(300);
        answerFirst.SetResult();
        try
        {
            await stopped;
        }
        catch (OperationCanceledException)
        {
            // The host may report that its shutdown timed out; the assertions below say what that cost.
        }

        // The drain stopped without waiting for the timeout: the POST in flight was answered and recorded, and the two
        // deliveries still waiting were put back due at once, with no attempt counted, for another host to send now.
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(2.5), $"shutdown took {watch.Elapsed}");
        var first = Assert.Single(received);
        var deliveries = host.Services.GetRequiredService<IWebhookDeliveryService>();
        foreach (var e in events)
        {
            var delivery = Assert.Single((await deliveries.ListAsync(tenant, new WebhookDeliveryFilter(EventId: e.Id), null, 10)).Items);
            Assert.Equal(
                e.Id.ToString() == first.Headers["webhook-id"] ? (WebhookDeliveryStatus.Delivered, 1) : (WebhookDeliveryStatus.Pending, 0),
                (delivery.Status, delivery.Attempts));
        }

        var queue = host.Services.GetRequiredService<IWebhookDeliveryQueue>();
        var clock = host.Services.GetRequiredService<NodaTime.IClock>();
        Assert.Equal(2, (await queue.ClaimAsync(clock.GetCurrentInstant(), NodaTime.Duration.FromMinutes(1), 10)).Count);
    }

    [Fact]
    public async Task Shutdown_lets_the_running_job_finish_and_starts_no_new_run()
    {
        var job = new ProbeJob("probe.slow", TimeSpan.FromMilliseconds(300));
        using var host = BuildHost(s => s.AddSingleton<IPaymentsKitJob>(job), o => o.DisabledJobs.Add(WebhookDispatchJob.JobName));
        await host.StartAsync();
        await WaitUntilAsync(() => job.Started == 1);
        await host.StopAsync();

        Assert.Equal(1, job.Completed);
        Assert.Equal(0, job.Cancelled);
        await Task.Delay(100);
        Assert.Equal(1, job.Started);
    }

    [Fact]
    public async Task The_shutdown_timeout_cancels_a_run_that_would_not_finish()
    {
        var job = new ProbeJob("probe.stuck", TimeSpan.FromSeconds(30));
        using var host = BuildHost(s => s.AddSingleton<IPaymentsKitJob>(job), shutdown: TimeSpan.FromMilliseconds(200));
        await host.StartAsync();
        await WaitUntilAsync(() => job.Started == 1);
        try
        {
            await host.StopAsync();
        }
        catch (OperationCanceledException)
        {
            // The host may report that its shutdown timed out.
        }

        await WaitUntilAsync(() => job.Cancelled == 1);
        Assert.Equal(0, job.Completed);
    }

    [Fact]
    public async Task A_failing_job_keeps_running_and_more_work_runs_again_at_once()
    {
        var failing = new ProbeJob("probe.failing", TimeSpan.Zero) { Fail = true };
        var busy = new ProbeJob("probe.busy", TimeSpan.Zero) { MoreWorkRuns = 5 };
        var runs = new ConcurrentBag<string>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == PaymentsKitTelemetry.Name && instrument.Name == "paymentskit.jobs.runs")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, _, tags, _) =>
        {
            foreach (var tag in tags)
            {
                if (tag.Key == "outcome")
                {
                    runs.Add((string)tag.Value!);
                }
            }
        });
        listener.Start();
        using var host = BuildHost(
            s => s.AddSingleton<IPaymentsKitJob>(failing).AddSingleton<IPaymentsKitJob>(busy),
            o =>
            {
                o.Intervals["probe.failing"] = TimeSpan.FromMilliseconds(10);
                o.Intervals["probe.busy"] = TimeSpan.FromHours(1);
                o.MaxFailureBackoff = TimeSpan.FromMilliseconds(40);
                o.DisabledJobs.Add(WebhookDispatchJob.JobName);
            });
        await host.StartAsync();
        await WaitUntilAsync(() => failing.Started >= 3 && busy.Started >= 6);
        await host.StopAsync();

        Assert.Equal(6, busy.Started);
        Assert.Contains("failed", runs);
        Assert.Contains("ok", runs);
        var worker = host.Services.GetServices<IHostedService>().OfType<PaymentsKitJobHost>().Single().Workers.Single(w => w.Name == "probe.busy");
        Assert.Equal(TimeSpan.FromHours(1), worker.Interval);
    }

    [Fact]
    public async Task Disabled_jobs_do_not_run_and_duplicate_names_are_refused()
    {
        var job = new ProbeJob("probe.off", TimeSpan.Zero);
        using var host = BuildHost(s => s.AddSingleton<IPaymentsKitJob>(job), o => o.DisabledJobs.Add("probe.off"));
        await host.StartAsync();
        await Task.Delay(100);
        await host.StopAsync();
        Assert.Equal(0, job.Started);

        var twice = new[] { new ProbeJob("same", TimeSpan.Zero), new ProbeJob("same", TimeSpan.Zero) };
        var error = Assert.Throws<InvalidOperationException>(() =>
            new PaymentsKitJobHost(twice, Options.Create(new PaymentsKitHostingOptions()), NullLoggerFactory.Instance));
        Assert.Contains("'same'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Unknown_job_names_in_the_options_are_warned_about_once_at_start_and_known_ones_are_not()
    {
        // Hosts running different modules may share one DisabledJobs list, so an unknown name does not stop the host; but
        // a typo would silently change nothing, so the host says which names match no job here.
        var known = new ProbeJob("probe.known", TimeSpan.Zero);
        var off = new ProbeJob("probe.off", TimeSpan.Zero);
        var options = new PaymentsKitHostingOptions();
        options.Intervals["probe.known"] = TimeSpan.FromSeconds(5);
        options.Intervals["probe.knwon"] = TimeSpan.FromSeconds(5);
        options.DisabledJobs.Add("probe.off");
        options.DisabledJobs.Add("probe.of");
        var logs = new RecordingLoggerFactory();
        using var host = new PaymentsKitJobHost([known, off], Options.Create(options), logs);

        await host.StartAsync(CancellationToken.None);
        await host.StopAsync(CancellationToken.None);

        var warning = Assert.Single(logs.Entries, e => e.Level >= LogLevel.Warning);
        Assert.Equal((LogLevel.Warning, 504), (warning.Level, warning.EventId.Id));
        Assert.Equal("Intervals[probe.knwon], DisabledJobs[probe.of]", warning.Fields["UnknownJobs"]);
        Assert.Contains("probe.knwon", warning.Message, StringComparison.Ordinal);
        Assert.Contains("probe.of]", warning.Message, StringComparison.Ordinal);
        Assert.Single(host.Workers);

        var quiet = new RecordingLoggerFactory();
        using var clean = new PaymentsKitJobHost([known, off], Options.Create(new PaymentsKitHostingOptions { DisabledJobs = { "probe.off" }, Intervals = { ["probe.known"] = TimeSpan.FromSeconds(5) } }), quiet);
        await clean.StartAsync(CancellationToken.None);
        await clean.StopAsync(CancellationToken.None);
        Assert.DoesNotContain(quiet.Entries, e => e.Level >= LogLevel.Warning);
    }

    [Fact]
    public async Task The_sweep_jobs_run_against_the_real_services()
    {
        using var host = BuildHost();
        foreach (var job in host.Services.GetServices<IPaymentsKitJob>().Where(j => j.Name != WebhookDispatchJob.JobName))
        {
            Assert.Equal(new PaymentsKitJobResult(0), await job.RunAsync(CancellationToken.None));
        }
    }

    [Fact]
    public async Task The_payment_intent_sweep_job_settles_routed_intents_in_the_background_and_leaves_nothing_due()
    {
        var clock = new ManualClock();
        var builder = Host.CreateApplicationBuilder();
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(5));
        builder.Services.AddPaymentsKit()
            .UseClock(clock)
            .AddSimulatedChain(ChainId.Solana)
            .ConfigureRouting(o => o.NativeAssetPrices["SOL"] = 100m)
            .AddPaymentsKitHosting(o => o.PaymentIntentSweepInterval = TimeSpan.FromMilliseconds(20));
        using var host = builder.Build();
        var services = host.Services;
        var job = services.GetServices<IPaymentsKitJob>().OfType<PaymentIntentSweepJob>().Single();
        Assert.Equal(TimeSpan.FromMilliseconds(20), job.DefaultInterval);

        var merchant = (await services.GetRequiredService<IRoutingMerchantService>().CreateAsync(new CreateRoutingMerchantRequest("Shop"))).Merchant.Id;
        await services.GetRequiredService<IChainHealthService>().SampleHealthAsync();
        var treasury = services.GetRequiredService<ITreasury>();
        await treasury.OpenWalletAsync(ChainId.Solana, "hot");
        await treasury.FundAsync(ChainId.Solana, Money.Of(100m, AssetRegistry.Usdc));
        var chain = services.GetRequiredKeyedService<SimulatedChain>("solana");
        chain.Fund("hot", Money.Of(100m, AssetRegistry.Usdc));
        chain.Fund("hot", Money.Of(1m, AssetRegistry.Sol));
        var intents = services.GetRequiredService<IPaymentIntentService>();
        var quote = await services.GetRequiredService<IQuoteService>().CreateAsync(
            merchant, new CreateQuoteRequest(Money.Of(5m, AssetRegistry.Usdc), RoutePriority.Fast, [new QuoteDestination(ChainId.Solana, "payee")]));
        var routed = await intents.SelectRouteAsync(merchant, (await intents.CreateAsync(merchant, new CreatePaymentIntentRequest(quote.Id, "k"))).Id);

        await host.StartAsync();
        for (var waited = 0; waited < 10_000 && (await intents.GetAsync(merchant, routed.Id)).Status != PaymentIntentStatus.Settled; waited += 20)
        {
            // The chain confirms as its (manual) clock moves.
            clock.Advance(NodaTime.Duration.FromSeconds(1));
            await Task.Delay(20);
        }

        Assert.Equal(PaymentIntentStatus.Settled, (await intents.GetAsync(merchant, routed.Id)).Status);
        await host.StopAsync();
        Assert.Equal(new PaymentsKitJobResult(0), await job.RunAsync(CancellationToken.None));
    }

    [Fact]
    public async Task The_transaction_sync_job_resolves_a_payment_whose_outcome_was_unknown_in_the_background_and_leaves_nothing_due()
    {
        var clock = new ManualClock();
        var stripe = new SimulatedPaymentProvider(PaymentProvider.Stripe, clock);
        var builder = Host.CreateApplicationBuilder();
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(5));
        builder.Services.AddPaymentsKit()
            .UseClock(clock)
            .AddPaymentProvider(stripe)
            .AddPaymentsKitHosting(o => o.TransactionSyncInterval = TimeSpan.FromMilliseconds(20));
        using var host = builder.Build();
        var services = host.Services;
        var job = services.GetServices<IPaymentsKitJob>().OfType<TransactionSyncJob>().Single();
        Assert.Equal(TimeSpan.FromMilliseconds(20), job.DefaultInterval);

        var partner = (await services.GetRequiredService<IPartnerService>().CreateAsync(new CreatePartnerRequest("Acme", "ops@acme.example"), RequestContext.Internal)).Partner;
        var transactions = services.GetRequiredService<ITransactionService>();
        var timedOut = await transactions.CreateAsync(
            partner.Id, new CreateTransactionRequest("order-1", 10m, "USD", "card", "stripe", "bob+timeout@example.com"), RequestContext.Internal);
        Assert.Equal(TransactionStatus.Processing, timedOut.Status);

        await host.StartAsync();
        for (var waited = 0; waited < 10_000 && (await transactions.GetAsync(partner.Id, timedOut.Id)).Status != TransactionStatus.Completed; waited += 20)
        {
            await Task.Delay(20);
        }

        Assert.Equal(TransactionStatus.Completed, (await transactions.GetAsync(partner.Id, timedOut.Id)).Status);
        await host.StopAsync();
        Assert.Equal(new PaymentsKitJobResult(0), await job.RunAsync(CancellationToken.None));
    }

    [Fact]
    public async Task A_jobs_own_interval_out_of_range_stops_the_host_from_starting_with_every_problem_listed()
    {
        // A default interval Task.Delay cannot wait (over 49 days) would kill its worker after the first run, and the host
        // with it; one under the minimum would spin. Neither may start, as an override out of range may not.
        var never = new ProbeJob("probe.never", TimeSpan.Zero) { Interval = TimeSpan.FromDays(60) };
        var spinning = new ProbeJob("probe.spinning", TimeSpan.Zero) { Interval = TimeSpan.FromTicks(1) };
        var overridden = new ProbeJob("probe.overridden", TimeSpan.Zero) { Interval = TimeSpan.Zero };
        using var host = BuildHost(
            s => s.AddSingleton<IPaymentsKitJob>(never).AddSingleton<IPaymentsKitJob>(spinning).AddSingleton<IPaymentsKitJob>(overridden),
            o => o.Intervals["probe.overridden"] = TimeSpan.FromSeconds(1));

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());
        Assert.Contains(error.Failures, f => f.Contains("'probe.never'", StringComparison.Ordinal) && f.Contains("PaymentsKitHosting:Intervals[probe.never]", StringComparison.Ordinal));
        Assert.Contains(error.Failures, f => f.Contains("'probe.spinning'", StringComparison.Ordinal));
        Assert.DoesNotContain(error.Failures, f => f.Contains("probe.overridden", StringComparison.Ordinal));
        Assert.Equal(0, never.Started + spinning.Started + overridden.Started);
    }

    [Theory]
    [InlineData(60 * 24, 1)]
    [InlineData(1, 60 * 24)]
    public void A_worker_refuses_a_pause_it_could_not_wait(int intervalHours, int maxFailureBackoffHours)
    {
        // Task.Delay waits at most about 49.7 days: a longer interval, or a backoff growing past it, would throw in the loop
        // and end the worker for good after its first run or its first failures.
        var job = new ProbeJob("probe.long", TimeSpan.Zero);
        Assert.Throws<ArgumentOutOfRangeException>(() =>
            new PaymentsKitJobWorker(job, TimeSpan.FromHours(intervalHours), TimeSpan.FromHours(maxFailureBackoffHours), NullLogger.Instance));
    }

    [Fact]
    public async Task Calling_AddPaymentsKit_and_AddPaymentsKitHosting_twice_registers_everything_once()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddPaymentsKit().AddPaymentsKitHosting();
        builder.Services.AddPaymentsKit().AddPaymentsKitHosting(o => o.WebhookDispatchInterval = TimeSpan.FromMilliseconds(20));
        using var host = builder.Build();

        var jobs = host.Services.GetServices<IPaymentsKitJob>().Select(j => j.Name).ToList();
        Assert.Equal(jobs.Distinct(), jobs);
        Assert.Single(host.Services.GetServices<IHostedService>().OfType<PaymentsKitJobHost>());
        Assert.Equal(TimeSpan.FromMilliseconds(20), host.Services.GetRequiredService<IOptions<PaymentsKitHostingOptions>>().Value.WebhookDispatchInterval);
        Assert.Single(host.Services.GetServices<IPaymentProvider>(), p => p.Name == PaymentProvider.Manual);
        Assert.Single(host.Services.GetServices<IValidateOptions<PaymentsKitHostingOptions>>());
        await host.StartAsync();
        Assert.Equal(jobs.Count, host.Services.GetServices<IHostedService>().OfType<PaymentsKitJobHost>().Single().Workers.Count);
        await host.StopAsync();
    }

    private sealed class ProbeJob(string name, TimeSpan work) : IPaymentsKitJob
    {
        private int _started;
        private int _completed;
        private int _cancelled;

        public bool Fail { get; init; }

        public int MoreWorkRuns { get; init; }

        public int Started => Volatile.Read(ref _started);

        public int Completed => Volatile.Read(ref _completed);

        public int Cancelled => Volatile.Read(ref _cancelled);

        public string Name => name;

        public TimeSpan Interval { get; init; } = TimeSpan.FromSeconds(10);

        public TimeSpan DefaultInterval => Interval;

        public async ValueTask<PaymentsKitJobResult> RunAsync(CancellationToken cancellationToken)
        {
            var run = Interlocked.Increment(ref _started);
            try
            {
                await Task.Delay(work, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                Interlocked.Increment(ref _cancelled);
                throw;
            }

            Interlocked.Increment(ref _completed);
            if (Fail)
            {
                throw new InvalidOperationException("probe failure");
            }

            return new PaymentsKitJobResult(1, run <= MoreWorkRuns);
        }
    }
}
