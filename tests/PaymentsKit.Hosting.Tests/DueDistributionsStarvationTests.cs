using System.Globalization;
using System.Security.Cryptography;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using NodaTime;
using PaymentsKit.Hosting.Jobs;
using PaymentsKit.Payouts;
using PaymentsKit.Testing;

namespace PaymentsKit.Hosting.Tests;

/// <summary>The due distributions job on real services, in memory and on PostgreSQL: failing distributions cannot starve the others.</summary>
[Collection(PostgresServerFixture.CollectionName)]
public sealed class DueDistributionsStarvationTests(PostgresServerFixture postgres)
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task When_The_Oldest_Due_Distributions_Keep_Failing_A_Newer_One_Still_Runs(bool onPostgreSql)
    {
        var clock = new ManualClock();
        var services = await ServicesAsync(clock, onPostgreSql, "duepay");
        await using var provider = services.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true });
        var payouts = provider.GetRequiredService<IDistributionService>();
        var job = provider.GetServices<IPaymentsKitJob>().OfType<DueDistributionsJob>().Single();

        var tenant = MerchantId.FromGuid(Guid.CreateVersion7());
        var asset = await AssetAsync(payouts, tenant);
        var start = new LocalDateTime(2026, 1, 1, 0, 0);
        var failing = await FailingAsync(payouts, tenant, asset, start);

        var newest = await payouts.CreateDistributionAsync(tenant, Request(asset, start.PlusMinutes(DueDistributionsJob.BatchSize)));
        await payouts.ImportHolderSnapshotAsync(tenant, newest.Id, [new HolderBalance("0.0.100001", 10), new HolderBalance("0.0.100002", 30)]);
        clock.Set(Instant.FromUtc(2026, 1, 1, 3, 0));

        // The first run tries the 100 oldest (they fail) and says there is more; the next run gets past them.
        for (var run = 0; run < 3 && (await payouts.GetDistributionAsync(tenant, newest.Id)).Status != DistributionStatus.Completed; run++)
        {
            await job.RunAsync(CancellationToken.None);
        }

        Assert.Equal(DistributionStatus.Completed, (await payouts.GetDistributionAsync(tenant, newest.Id)).Status);
        foreach (var id in failing)
        {
            Assert.Equal(DistributionStatus.Pending, (await payouts.GetDistributionAsync(tenant, id)).Status);
        }

        // The failed ones wait out their backoff: a run before it passes tries none of them and reports no more work.
        Assert.Equal(new PaymentsKitJobResult(0), await job.RunAsync(CancellationToken.None));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_Page_Cut_Short_By_A_Distribution_Another_Host_Ran_Does_Not_Hide_The_Ones_After_It(bool onPostgreSql)
    {
        var clock = new ManualClock();
        var services = await ServicesAsync(clock, onPostgreSql, "duepage");

        // The store's index, lagging: it still lists distributions another host has run (its records say they are done).
        var ghosts = new List<DueDistribution>();
        var index = services.Last(d => d.ServiceType == typeof(IDueDistributionIndex));
        services.Replace(ServiceDescriptor.Singleton<IDueDistributionIndex>(p => new GhostIndex((IDueDistributionIndex)index.ImplementationFactory!(p), ghosts)));
        await using var provider = services.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true });
        var payouts = provider.GetRequiredService<IDistributionService>();
        var job = provider.GetServices<IPaymentsKitJob>().OfType<DueDistributionsJob>().Single();

        var tenant = MerchantId.FromGuid(Guid.CreateVersion7());
        var asset = await AssetAsync(payouts, tenant);
        var start = new LocalDateTime(2026, 1, 1, 0, 0);
        var ran = await payouts.CreateDistributionAsync(tenant, Request(asset, start.PlusMinutes(-1)));
        await payouts.ImportHolderSnapshotAsync(tenant, ran.Id, [new HolderBalance("0.0.100001", 10)]);
        var failing = await FailingAsync(payouts, tenant, asset, start);

        var newest = await payouts.CreateDistributionAsync(tenant, Request(asset, start.PlusMinutes(DueDistributionsJob.BatchSize)));
        await payouts.ImportHolderSnapshotAsync(tenant, newest.Id, [new HolderBalance("0.0.100001", 10), new HolderBalance("0.0.100002", 30)]);
        clock.Set(Instant.FromUtc(2026, 1, 1, 3, 0));
        Assert.Equal(DistributionStatus.Completed, (await payouts.ExecuteAsync(tenant, ran.Id)).Status);
        ghosts.Add(new DueDistribution(tenant, ran.Id, ran.DueAt!.Value));

        // Every first page holds the one that ran: 99 distributions for 100 entries, and still more due after them.
        Assert.Equal(new PaymentsKitJobResult(0, MoreWork: true), await job.RunAsync(CancellationToken.None));
        Assert.Equal(new PaymentsKitJobResult(1), await job.RunAsync(CancellationToken.None));
        Assert.Equal(DistributionStatus.Completed, (await payouts.GetDistributionAsync(tenant, newest.Id)).Status);
        foreach (var id in failing)
        {
            Assert.Equal(DistributionStatus.Pending, (await payouts.GetDistributionAsync(tenant, id)).Status);
        }

        // Every failed one is still backing off, the last of them included, though it lies behind a short page.
        Assert.Equal(new PaymentsKitJobResult(0), await job.RunAsync(CancellationToken.None));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task The_Job_Resumes_A_Manual_Run_That_Was_Interrupted_And_Leaves_Pending_Manual_Ones_Alone(bool onPostgreSql)
    {
        var clock = new ManualClock();
        var services = await ServicesAsync(clock, onPostgreSql, "dueresume");
        var simulated = new SimulatedPayoutExecutor(clock, new SimulatedPayoutExecutorOptions { MaxTransfersPerBatch = 1 });
        var interrupting = new InterruptingExecutor(simulated, interruptCall: 2);
        services.Replace(ServiceDescriptor.Singleton<IPayoutExecutor>(interrupting));
        await using var provider = services.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true });
        var payouts = provider.GetRequiredService<IDistributionService>();
        var job = provider.GetServices<IPaymentsKitJob>().OfType<DueDistributionsJob>().Single();

        var tenant = MerchantId.FromGuid(Guid.CreateVersion7());
        var asset = await AssetAsync(payouts, tenant);
        var holders = new[] { new HolderBalance("0.0.100001", 10), new HolderBalance("0.0.100002", 30), new HolderBalance("0.0.100003", 60) };
        var interrupted = await payouts.CreateDistributionAsync(tenant, Manual(asset));
        await payouts.ImportHolderSnapshotAsync(tenant, interrupted.Id, holders);
        var waiting = await payouts.CreateDistributionAsync(tenant, Manual(asset));
        await payouts.ImportHolderSnapshotAsync(tenant, waiting.Id, holders);

        // The operator's run stops at its second batch, whose outcome is unknown (the executor paid it, then failed to answer).
        await Assert.ThrowsAsync<TimeoutException>(() => payouts.ExecuteAsync(tenant, interrupted.Id).AsTask());
        Assert.Equal(DistributionStatus.Processing, (await payouts.GetDistributionAsync(tenant, interrupted.Id)).Status);

        Assert.Equal(new PaymentsKitJobResult(1), await job.RunAsync(CancellationToken.None));

        var done = await payouts.GetDistributionAsync(tenant, interrupted.Id);
        Assert.Equal(DistributionStatus.Completed, done.Status);
        Assert.Equal(3, done.Result!.PaidHolders);
        Assert.Equal(3, simulated.Payments.Count);
        Assert.Equal([1, 2, 2, 3], interrupting.Batches);
        Assert.Equal(DistributionStatus.Pending, (await payouts.GetDistributionAsync(tenant, waiting.Id)).Status);
        Assert.Equal(new PaymentsKitJobResult(0), await job.RunAsync(CancellationToken.None));
    }

    /// <summary>PaymentsKit with simulated payouts and the hosting jobs, on <paramref name="clock"/>, in memory or on a fresh database.</summary>
    private async Task<ServiceCollection> ServicesAsync(ManualClock clock, bool onPostgreSql, string database)
    {
        var services = new ServiceCollection();
        services.AddLogging();
        var kit = services.AddPaymentsKit(o => o.ApiKeyHashingSecret = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32))).UseClock(clock).AddSimulatedPayouts();
        if (onPostgreSql)
        {
            kit.UsePostgreSql(await postgres.CreateDatabaseAsync(database));
        }

        kit.AddPaymentsKitHosting();
        return services;
    }

    private static async Task<TokenAsset> AssetAsync(IDistributionService payouts, MerchantId tenant) =>
        await payouts.CreateAssetAsync(
            tenant,
            new CreateTokenAssetRequest("0.0.4242", "Acme Equity", "ACME", 1_000_000, 2, AssetRegistry.Usdc) { LifecycleContractId = "0.0.555", PaymentTokenId = "0.0.429274" });

    /// <summary>A batch of distributions due a minute apart from <paramref name="start"/>, each failing on every run.</summary>
    private static async Task<List<DistributionId>> FailingAsync(IDistributionService payouts, MerchantId tenant, TokenAsset asset, LocalDateTime start)
    {
        var failing = new List<DistributionId>();
        for (var i = 0; i < DueDistributionsJob.BatchSize; i++)
        {
            // No snapshot and no snapshot source: each of these fails with snapshot_required on every run.
            failing.Add((await payouts.CreateDistributionAsync(tenant, Request(asset, start.PlusMinutes(i)))).Id);
        }

        return failing;
    }

    private static CreateDistributionRequest Manual(TokenAsset asset) =>
        new(asset.Id, DistributionType.Dividend, DistributionExecution.Manual) { Payout = DistributionPayout.Fixed, Amount = Money.Of(4m, AssetRegistry.Usdc), Concept = "dividend" };

    /// <summary>Pays through <paramref name="inner"/>, but on call <paramref name="interruptCall"/> fails to answer after paying.</summary>
    private sealed class InterruptingExecutor(IPayoutExecutor inner, int interruptCall) : IPayoutExecutor
    {
        private readonly List<int> _batches = [];

        public int MaxTransfersPerBatch => inner.MaxTransfersPerBatch;

        public List<int> Batches
        {
            get
            {
                lock (_batches)
                {
                    return [.. _batches];
                }
            }
        }

        public async ValueTask<PayoutBatchResult> ExecuteAsync(PayoutBatchRequest request, CancellationToken cancellationToken = default)
        {
            int call;
            lock (_batches)
            {
                _batches.Add(request.BatchNumber);
                call = _batches.Count;
            }

            var result = await inner.ExecuteAsync(request, cancellationToken);
            return call == interruptCall ? throw new TimeoutException("the chain did not answer") : result;
        }
    }

    private static CreateDistributionRequest Request(TokenAsset asset, LocalDateTime at) =>
        new(asset.Id, DistributionType.Dividend, DistributionExecution.Scheduled)
        {
            Payout = DistributionPayout.Fixed,
            Amount = Money.Of(4m, AssetRegistry.Usdc),
            Concept = "dividend " + at.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture),
            ScheduledTime = at,
            TimeZone = "UTC",
        };

    /// <summary>
    /// An index that lists <paramref name="ghosts"/> (due before anything else, in due order) ahead of what
    /// <paramref name="inner"/> lists: entries whose distributions have already run.
    /// </summary>
    private sealed class GhostIndex(IDueDistributionIndex inner, IReadOnlyList<DueDistribution> ghosts) : IDueDistributionIndex
    {
        public ValueTask<IReadOnlyList<DueDistribution>> ListDueAsync(Instant now, int limit, CancellationToken cancellationToken = default) =>
            ListDueAsync(now, limit, null, cancellationToken);

        public async ValueTask<IReadOnlyList<DueDistribution>> ListDueAsync(Instant now, int limit, DueDistribution? after, CancellationToken cancellationToken = default)
        {
            // A cursor on a ghost (or none) starts among the ghosts, and the inner index from its start.
            var ghost = after is { } cursor ? ghosts.ToList().FindIndex(g => g.Id == cursor.Id) : -1;
            var fromStart = after is null || ghost >= 0;
            var rest = await inner.ListDueAsync(now, limit, fromStart ? null : after, cancellationToken);
            return [.. (fromStart ? ghosts.Skip(ghost + 1) : []).Concat(rest).Take(limit)];
        }
    }
}
