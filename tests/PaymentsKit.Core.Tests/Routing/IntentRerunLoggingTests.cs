using Microsoft.Extensions.Logging;
using PaymentsKit.Routing;
using PaymentsKit.Storage;
using PaymentsKit.Testing;
using PaymentsKit.Tests.Storage;

namespace PaymentsKit.Tests.Routing;

/// <summary>
/// An intent's operation may run more than once (decision 0027 reruns a refusal on stale reads, a lost race reruns it too):
/// the status change it logs is logged once, by the run that committed.
/// </summary>
public sealed class IntentRerunLoggingTests
{
    private const int Transition = 510;

    [Fact]
    public async Task A_Cancellation_Whose_First_Commit_Is_Refused_On_Stale_Reads_Logs_Its_Transition_Once()
    {
        var store = new RerunningStore(new InMemoryStore());
        var router = new RoutingHarness(store, new ManualClock());
        await router.SampleAsync();
        await router.OpenAndFundAsync(1000, 1000);
        var logs = new RecordingLoggerFactory();
        var intents = new PaymentIntentService(
            store, router.Clock, router.Treasury, router.Providers, router.Outbox, Microsoft.Extensions.Options.Options.Create(router.Options), router.Signer,
            logs.CreateLogger<PaymentIntentService>());
        var merchant = await router.MerchantAsync();
        var intent = await router.IntentAsync(merchant, 25);
        Assert.Equal(PaymentIntentStatus.RouteSelected, (await intents.SelectRouteAsync(merchant, intent.Id)).Status);

        store.RefuseNextCommit = true;
        store.StaleReadsToReport = 1;
        var cancelled = await intents.CancelAsync(merchant, intent.Id);

        Assert.Equal(PaymentIntentStatus.Cancelled, cancelled.Status);
        Assert.False(store.RefuseNextCommit);
        var transitions = logs.Entries.Where(e => e.EventId.Id == Transition).Select(e => (string)e.Fields["To"]!).ToList();
        Assert.Equal(["route_selected", "cancelled"], transitions);
    }
}
