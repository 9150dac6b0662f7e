using System.Reflection;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using NodaTime;
using PaymentsKit.Hosting.Jobs;
using PaymentsKit.Payouts;
using PaymentsKit.Storage;
using PaymentsKit.Testing;

namespace PaymentsKit.Hosting.Tests;

public sealed class DueDistributionsJobTests
{
    [Fact]
    public async Task A_Due_Distribution_That_Fails_Stays_Due_And_Does_Not_Keep_The_Others_From_Running()
    {
        var clock = new ManualClock();
        var stuck = Due(clock);
        var healthy = Due(clock);
        var service = DispatchProxy.Create<IDistributionService, FakeDistributions>();
        var fake = (FakeDistributions)(object)service;
        fake.Due = [stuck, healthy];
        fake.Failing = stuck.Id;
        var job = new DueDistributionsJob(service, new JobLeases(new InMemoryStore(), clock), clock, Options.Create(new PaymentsKitHostingOptions()));

        Assert.Equal(new PaymentsKitJobResult(1), await job.RunAsync(CancellationToken.None));
        Assert.Equal([stuck.Id, healthy.Id], fake.Attempted);
        Assert.Equal([healthy.Id], fake.Executed);

        // The failed one waits out a backoff (its lease was released); the healthy one runs again while it is due.
        Assert.Equal(new PaymentsKitJobResult(1), await job.RunAsync(CancellationToken.None));
        Assert.Equal([stuck.Id, healthy.Id, healthy.Id], fake.Attempted);
        fake.Attempted.Clear();

        // 1 minute after its first failure, then 2 after its second, and so on up to an hour.
        var waits = new List<int>();
        for (var minutes = 1; minutes <= 200 && waits.Count < 8; minutes++)
        {
            clock.Advance(Duration.FromMinutes(1));
            await job.RunAsync(CancellationToken.None);
            if (fake.Attempted.Remove(stuck.Id))
            {
                waits.Add(minutes);
                minutes = 0;
            }
        }

        Assert.Equal([1, 2, 4, 8, 16, 32, 60, 60], waits);

        // Once it runs it is forgotten: a later failure waits a minute again.
        fake.Failing = null;
        clock.Advance(Duration.FromHours(1));
        await job.RunAsync(CancellationToken.None);
        Assert.Contains(stuck.Id, fake.Executed);
        fake.Failing = stuck.Id;
        fake.Attempted.Clear();
        await job.RunAsync(CancellationToken.None);
        clock.Advance(Duration.FromMinutes(1));
        await job.RunAsync(CancellationToken.None);
        Assert.Equal(2, fake.Attempted.Count(id => id == stuck.Id));
    }

    [Fact]
    public async Task A_Run_Pages_Past_The_Distributions_Backing_Off_And_Reports_More_Work_Only_When_It_Stopped_At_Its_Batch()
    {
        var clock = new ManualClock();
        var service = DispatchProxy.Create<IDistributionService, FakeDistributions>();
        var fake = (FakeDistributions)(object)service;
        fake.Due = [.. Enumerable.Range(0, (2 * DueDistributionsJob.BatchSize) + 1).Select(_ => Due(clock))];
        fake.FailAll = true;
        var job = new DueDistributionsJob(service, new JobLeases(new InMemoryStore(), clock), clock, Options.Create(new PaymentsKitHostingOptions()));

        Assert.Equal(new PaymentsKitJobResult(0, MoreWork: true), await job.RunAsync(CancellationToken.None));
        Assert.Equal(fake.Due.Take(DueDistributionsJob.BatchSize).Select(d => d.Id), fake.Attempted);
        Assert.Equal(new PaymentsKitJobResult(0, MoreWork: true), await job.RunAsync(CancellationToken.None));
        Assert.Equal(fake.Due.Take(2 * DueDistributionsJob.BatchSize).Select(d => d.Id), fake.Attempted);
        fake.FailAll = false;
        Assert.Equal(new PaymentsKitJobResult(1), await job.RunAsync(CancellationToken.None));
        Assert.Equal(fake.Due.Select(d => d.Id), fake.Attempted);

        // Every one left due is backing off: the run reads past them all and has nothing to do.
        fake.Due = [.. fake.Due.SkipLast(1)];
        Assert.Equal(new PaymentsKitJobResult(0), await job.RunAsync(CancellationToken.None));
        Assert.Equal((2 * DueDistributionsJob.BatchSize) + 1, fake.Attempted.Count);
    }

    [Fact]
    public async Task A_Page_Cut_Short_Because_Another_Host_Ran_One_Neither_Ends_The_Run_Nor_Forgets_The_Backoffs_After_It()
    {
        var clock = new ManualClock();
        var service = DispatchProxy.Create<IDistributionService, FakeDistributions>();
        var fake = (FakeDistributions)(object)service;
        fake.Due = [.. Enumerable.Range(0, DueDistributionsJob.BatchSize + 1).Select(_ => Due(clock))];
        var last = fake.Due[^1].Id;
        fake.FailAll = true;
        var job = new DueDistributionsJob(service, new JobLeases(new InMemoryStore(), clock), clock, Options.Create(new PaymentsKitHostingOptions()));

        // The first run stops at its batch; the second tries the last one, which fails too and backs off.
        Assert.Equal(new PaymentsKitJobResult(0, MoreWork: true), await job.RunAsync(CancellationToken.None));
        Assert.Equal(new PaymentsKitJobResult(0), await job.RunAsync(CancellationToken.None));
        Assert.Equal(1, fake.Attempted.Count(id => id == last));

        // Another host finishes the oldest: the index still lists it, the record is no longer due, so the first page comes
        // back one short although the last one follows. A run before the backoff has passed must still pass over it.
        fake.Gone.Add(fake.Due[0].Id);
        Assert.Equal(new PaymentsKitJobResult(0), await job.RunAsync(CancellationToken.None));

        // Then the index catches up: the page is full again, and the last one is still backing off.
        fake.Due = [.. fake.Due.Skip(1)];
        Assert.Equal(new PaymentsKitJobResult(0), await job.RunAsync(CancellationToken.None));
        Assert.Equal(1, fake.Attempted.Count(id => id == last));

        // Once it has passed, the run reaches it behind the short page.
        clock.Advance(Duration.FromMinutes(1));
        fake.Attempted.Clear();
        await job.RunAsync(CancellationToken.None);
        Assert.Contains(last, fake.Attempted);
    }

    [Fact]
    public async Task A_Run_Cancelled_By_The_Host_Stops_At_Once()
    {
        var clock = new ManualClock();
        var service = DispatchProxy.Create<IDistributionService, FakeDistributions>();
        var fake = (FakeDistributions)(object)service;
        fake.Due = [Due(clock), Due(clock)];
        using var stop = new CancellationTokenSource();
        fake.OnExecute = stop.Cancel;
        var job = new DueDistributionsJob(service, new JobLeases(new InMemoryStore(), clock), clock, Options.Create(new PaymentsKitHostingOptions()));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => job.RunAsync(stop.Token).AsTask());
        Assert.Single(fake.Attempted);
    }

    [Fact]
    public void The_Constructor_Code_Compiled_Against_0_1_0_Binds_To_Is_Still_There()
    {
        var constructor = typeof(DueDistributionsJob).GetConstructor(
            [typeof(IDistributionService), typeof(JobLeases), typeof(IClock), typeof(IOptions<PaymentsKitHostingOptions>)]);

        Assert.NotNull(constructor);
    }

    [Fact]
    public async Task A_Distribution_Whose_Host_Died_Is_Run_By_Another_Host_Two_Minutes_After_The_Dead_Host_Took_It()
    {
        var clock = new ManualClock();
        var due = Due(clock);
        var service = DispatchProxy.Create<IDistributionService, FakeDistributions>();
        var fake = (FakeDistributions)(object)service;
        fake.Due = [due];
        var leases = new JobLeases(new InMemoryStore(), clock);
        var defaults = new PaymentsKitHostingOptions();

        // The dead host took the distribution with the default job lease and never gave it back.
        Assert.NotNull(await leases.TryAcquireAsync(DueDistributionsJob.JobName + ":" + due.Id, defaults.DistributionLease, CancellationToken.None));
        var job = new DueDistributionsJob(service, leases, clock, Options.Create(defaults));

        clock.Advance(Duration.FromMinutes(2) - Duration.FromSeconds(1));
        await job.RunAsync(CancellationToken.None);
        Assert.Empty(fake.Attempted);

        // The run lease (PayoutOptions.RunLease, 1 minute by default) has lapsed too, so the run resumes at once.
        clock.Advance(Duration.FromSeconds(1));
        await job.RunAsync(CancellationToken.None);
        Assert.Equal([due.Id], fake.Executed);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void The_Container_Builds_The_Job_With_Or_Without_Logging(bool logging)
    {
        var services = new ServiceCollection();
        services.AddPaymentsKit().UseClock(new ManualClock()).AddWebhookDelivery().AddPaymentsKitHosting();
        var loggerAsked = false;
        if (logging)
        {
            services.AddSingleton<ILogger<DueDistributionsJob>>(_ =>
            {
                loggerAsked = true;
                return NullLogger<DueDistributionsJob>.Instance;
            });
        }

        using var provider = services.BuildServiceProvider();

        Assert.Single(provider.GetServices<IPaymentsKitJob>().OfType<DueDistributionsJob>());

        // With logging the container takes the constructor that reports the distributions that fail.
        Assert.Equal(logging, loggerAsked);
    }

    private static Distribution Due(ManualClock clock) => new(
        new DistributionId(Guid.CreateVersion7()), new MerchantId(Guid.CreateVersion7()), new TokenAssetId(Guid.CreateVersion7()),
        DistributionType.Dividend, DistributionExecution.Scheduled, null, null, null, null, null, null, null, null, null, null,
        DistributionStatus.Pending, clock.GetCurrentInstant(), 1, null, null, null, null, null, [], null, clock.GetCurrentInstant(), clock.GetCurrentInstant());

    /// <summary>An <see cref="IDistributionService"/> listing fixed due distributions, one of which fails to execute.</summary>
    public class FakeDistributions : DispatchProxy
    {
        public IReadOnlyList<Distribution> Due { get; set; } = [];

        public DistributionId? Failing { get; set; }

        public bool FailAll { get; set; }

        /// <summary>Distributions the index still lists (in <see cref="Due"/>) whose records are no longer due: another host ran them.</summary>
        public HashSet<DistributionId> Gone { get; } = [];

        public Action? OnExecute { get; set; }

        public List<DistributionId> Attempted { get; } = [];

        public List<DistributionId> Executed { get; } = [];

        protected override object? Invoke(MethodInfo? targetMethod, object?[]? args)
        {
            switch (targetMethod!.Name)
            {
                case nameof(IDistributionService.GetDueAsync):
                    // Due is the index, in due order; a cursor (the four-argument overload) starts after the entry it names. The
                    // records of those gone are dropped from the page, as the service drops records no longer due.
                    return ValueTask.FromResult<IReadOnlyList<Distribution>>([.. Scan(args!).Where(d => !Gone.Contains(d.Id))]);
                case nameof(IDistributionService.GetDuePageAsync):
                    var scanned = Scan(args!);
                    return ValueTask.FromResult(new DueDistributionPage(
                        [.. scanned.Where(d => !Gone.Contains(d.Id))],
                        scanned.Count == 0 ? (DueDistribution?)args![2] : new DueDistribution(scanned[^1].TenantId, scanned[^1].Id, scanned[^1].DueAt!.Value),
                        scanned.Count < (int)args![1]!));
                case nameof(IDistributionService.ExecuteAsync):
                    var id = (DistributionId)args![1]!;
                    var cancellationToken = (CancellationToken)args[3]!;
                    Attempted.Add(id);
                    OnExecute?.Invoke();
                    cancellationToken.ThrowIfCancellationRequested();
                    if (id == Failing || FailAll)
                    {
                        throw new PaymentsKitException(PaymentsKitErrorCodes.InsufficientFunds, "The funding account is short.", new Dictionary<string, object?>());
                    }

                    Executed.Add(id);
                    return ValueTask.FromResult(Due.Single(d => d.Id == id));
                default:
                    throw new NotSupportedException(targetMethod.Name);
            }
        }

        /// <summary>The index entries a due read with these arguments (now, limit, cursor …) scans.</summary>
        private List<Distribution> Scan(object?[] args)
        {
            var limit = (int)args[1]!;
            var start = args.Length == 4 && args[2] is DueDistribution after ? Due.ToList().FindIndex(d => d.Id == after.Id) + 1 : 0;
            return [.. Due.Skip(start).Take(limit)];
        }
    }
}
