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

        // The failed one is tried again on the next run (its lease was released), the healthy one too while it is due.
        Assert.Equal(new PaymentsKitJobResult(1), await job.RunAsync(CancellationToken.None));
        Assert.Equal([stuck.Id, healthy.Id, stuck.Id, healthy.Id], fake.Attempted);
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

        public Action? OnExecute { get; set; }

        public List<DistributionId> Attempted { get; } = [];

        public List<DistributionId> Executed { get; } = [];

        protected override object? Invoke(MethodInfo? targetMethod, object?[]? args)
        {
            switch (targetMethod!.Name)
            {
                case nameof(IDistributionService.GetDueAsync):
                    return ValueTask.FromResult(Due);
                case nameof(IDistributionService.ExecuteAsync):
                    var id = (DistributionId)args![1]!;
                    var cancellationToken = (CancellationToken)args[3]!;
                    Attempted.Add(id);
                    OnExecute?.Invoke();
                    cancellationToken.ThrowIfCancellationRequested();
                    if (id == Failing)
                    {
                        throw new PaymentsKitException(PaymentsKitErrorCodes.InsufficientFunds, "The funding account is short.", new Dictionary<string, object?>());
                    }

                    Executed.Add(id);
                    return ValueTask.FromResult(Due.Single(d => d.Id == id));
                default:
                    throw new NotSupportedException(targetMethod.Name);
            }
        }
    }
}
