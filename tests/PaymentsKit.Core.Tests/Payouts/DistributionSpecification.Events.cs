using System.Collections.Concurrent;
using System.Collections.ObjectModel;
using FsCheck;
using FsCheck.Fluent;
using PaymentsKit.Payouts;
using PaymentsKit.Storage;
using PaymentsKit.Testing;

namespace PaymentsKit.Tests.Payouts;

public abstract partial class DistributionSpecification
{
    /// <summary>A lifecycle contract event.</summary>
    public sealed record ContractEvent(string Id, long Timestamp);

    protected EventListenerService Listeners => new(Store, Clock);

    protected static string NewContract() => "0.0." + Random.Shared.NextInt64(1, long.MaxValue).ToString(System.Globalization.CultureInfo.InvariantCulture);

    [Fact]
    public async Task A_Listener_Is_Registered_Once_Per_Contract_And_Can_Be_Disabled()
    {
        var contract = NewContract();
        var registered = await Listeners.RegisterAsync(contract, startAfterTimestamp: 41);
        Assert.Equal((contract, 41L, true, 0L), (registered.ContractId, registered.LastProcessedTimestamp!.Value, registered.Enabled, registered.HandledEvents));
        Assert.Equal(registered, await Listeners.RegisterAsync(contract, startAfterTimestamp: 7));
        Assert.Equal(registered, await Listeners.GetAsync(contract));

        var disabled = await Listeners.SetEnabledAsync(contract, false);
        Assert.False(disabled.Enabled);
        await FailsAsync(
            PaymentsKitErrorCodes.InvalidArgument,
            () => Listeners.ProcessAsync(contract, [new ContractEvent("a", 50)], e => e.Timestamp, (_, _, _) => ValueTask.CompletedTask).AsTask());
        Assert.True((await Listeners.SetEnabledAsync(contract, true)).Enabled);

        await FailsAsync(PaymentsKitErrorCodes.NotFound, () => Listeners.GetAsync(NewContract()).AsTask());
        await FailsAsync(PaymentsKitErrorCodes.InvalidArgument, () => Listeners.RegisterAsync("0.0. 1").AsTask());
        await FailsAsync(PaymentsKitErrorCodes.InvalidArgument, () => Listeners.RegisterAsync(NewContract(), -1).AsTask());
        await FailsAsync(
            PaymentsKitErrorCodes.InvalidArgument,
            () => Listeners.ProcessAsync(contract, [new ContractEvent("a", -1)], e => e.Timestamp, (_, _, _) => ValueTask.CompletedTask).AsTask());
        await FailsAsync(
            PaymentsKitErrorCodes.InvalidArgument,
            () => Listeners.ProcessAsync(contract, [new ContractEvent("a", 1)], e => e.Timestamp, (_, _, _) => ValueTask.CompletedTask, chunkSize: 0).AsTask());
        await FailsAsync(
            PaymentsKitErrorCodes.NotFound,
            () => Listeners.ProcessAsync(NewContract(), [new ContractEvent("a", 1)], e => e.Timestamp, (_, _, _) => ValueTask.CompletedTask).AsTask());
        Assert.Contains(registered.Id, (await Listeners.ListAsync(null, 1000)).Items.Select(l => l.Id));
    }

    [Fact]
    public async Task Handled_Events_Commit_With_The_Cursor_So_A_Restart_Neither_Repeats_Nor_Skips_One()
    {
        var service = Service();
        var asset = await AssetAsync(service);
        var contract = NewContract();
        await Listeners.RegisterAsync(contract);
        ContractEvent[] events = [new("e5", 5), new("e3", 3), new("e9a", 9), new("e9b", 9), new("e12", 12)];
        var failOn = "e9b";
        var calls = new List<string>();

        // Each event creates an AUTOMATIC distribution in the listener's unit of work.
        async ValueTask Handle(IUnitOfWork unit, ContractEvent e, CancellationToken ct)
        {
            calls.Add(e.Id);
            if (e.Id == failOn)
            {
                throw new InvalidOperationException("handler crashed on " + e.Id);
            }

            await service.CreateDistributionAsync(
                unit, Tenant, new CreateDistributionRequest(asset.Id, DistributionType.Snapshot, DistributionExecution.Automatic) { TriggerCondition = e.Id }, ct);
        }

        async Task<List<string>> EffectsAsync() =>
            [.. (await service.ListDistributionsAsync(Tenant, null, 100)).Items.Select(d => d.TriggerCondition!).Order(StringComparer.Ordinal)];

        // Chunks of two that never split a timestamp: [3, 5], [9, 9], [12].
        await Assert.ThrowsAsync<InvalidOperationException>(() => Listeners.ProcessAsync(contract, events, e => e.Timestamp, Handle, chunkSize: 2).AsTask());
        Assert.Equal(5, (await Listeners.GetAsync(contract)).LastProcessedTimestamp);
        Assert.Equal(["e3", "e5"], await EffectsAsync());

        failOn = "none";
        calls.Clear();
        var result = await Listeners.ProcessAsync(contract, events, e => e.Timestamp, Handle, chunkSize: 2);
        Assert.Equal(new EventProcessingResult(3, 2, 12), result);
        Assert.Equal(["e9a", "e9b", "e12"], calls);
        Assert.Equal(["e12", "e3", "e5", "e9a", "e9b"], await EffectsAsync());

        // A later delivery overlapping the handled ones only handles what is new.
        calls.Clear();
        result = await Listeners.ProcessAsync(contract, [.. events, new ContractEvent("e15", 15)], e => e.Timestamp, Handle);
        Assert.Equal(new EventProcessingResult(1, 5, 15), result);
        Assert.Equal(["e15"], calls);
        var config = await Listeners.GetAsync(contract);
        Assert.Equal((15L, 6L), (config.LastProcessedTimestamp!.Value, config.HandledEvents));
    }

    [Fact]
    public void Any_Crash_And_Redelivery_Handles_Every_Event_Exactly_Once_Meets_Specification()
    {
        var gen =
            from count in Gen.Choose(0, 25)
            from timestamps in Gen.ArrayOf(Gen.Choose(0, 15), count)
            from crashCount in Gen.Choose(0, 6)
            from crashes in Gen.ArrayOf(Gen.Choose(1, 30), crashCount)
            from chunk in Gen.Choose(1, 6)
            from start in Gen.Elements<long?>(null, null, 3L)
            select (Events: timestamps.Select((t, i) => new ContractEvent("ev" + i.ToString(System.Globalization.CultureInfo.InvariantCulture), t)).ToArray(),
                    Crashes: crashes.ToHashSet(), Chunk: chunk, Start: start);
        Prop.ForAll(Arb.From(gen), c => Blocking(async () =>
        {
            var contract = NewContract();
            await Listeners.RegisterAsync(contract, c.Start);
            var handled = new ConcurrentDictionary<string, int>();
            var calls = 0;
            var crashed = new HashSet<int>();

            async ValueTask Handle(IUnitOfWork unit, ContractEvent e, CancellationToken ct)
            {
                var call = Interlocked.Increment(ref calls);
                if (c.Crashes.Contains(call) && crashed.Add(call))
                {
                    throw new SimulatedCrashException("in handler call " + call);
                }

                // The effect is a record with a unique key: handling an event twice would fail the commit.
                var widget = await unit.FindAsync(ConformanceCollections.Widgets, Tenant.Value, "sku", contract + "/" + e.Id, ct);
                Assert.Null(widget);
                unit.Insert(ConformanceCollections.Widgets, new Widget(
                    WidgetId.FromGuid(Guid.CreateVersion7()), Tenant, e.Id, contract + "/" + e.Id, Money.Of(1m, AssetRegistry.Usd), null,
                    Clock.GetCurrentInstant(), null, WidgetStatus.Draft, ReadOnlyDictionary<string, string>.Empty, e.Timestamp));
                handled.AddOrUpdate(e.Id, 1, (_, n) => n + 1);
            }

            for (var attempt = 0; ; attempt++)
            {
                Assert.True(attempt < 40, "the listener never caught up");
                try
                {
                    await Listeners.ProcessAsync(contract, c.Events, e => e.Timestamp, Handle, c.Chunk);
                    break;
                }
                catch (SimulatedCrashException)
                {
                }
            }

            var expected = c.Events.Where(e => c.Start is not { } s || e.Timestamp > s).Select(e => e.Id).ToHashSet();
            var unit = await Store.BeginAsync();
            await using (unit)
            {
                foreach (var e in c.Events)
                {
                    var effect = await unit.FindAsync(ConformanceCollections.Widgets, Tenant.Value, "sku", contract + "/" + e.Id);
                    Assert.Equal(expected.Contains(e.Id), effect is not null);
                }
            }

            var config = await Listeners.GetAsync(contract);
            Assert.Equal(expected.Count == 0 ? c.Start : c.Events.Max(e => e.Timestamp), config.LastProcessedTimestamp);
            Assert.Equal(expected.Count, config.HandledEvents);
        })).Check(Config.QuickThrowOnFailure.WithMaxTest(PropertyIterations));
    }
}
