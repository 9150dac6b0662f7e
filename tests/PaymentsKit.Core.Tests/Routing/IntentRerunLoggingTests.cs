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
    private const int FailedUnverified = 513;

    [Fact]
    public async Task A_Cancellation_Whose_First_Commit_Is_Refused_On_Stale_Reads_Logs_Its_Transition_Once()
    {
        var (store, router, logs, intents) = await LoggedRouterAsync();
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

    [Fact]
    public async Task An_Unverified_Failure_Is_Logged_Only_Once_It_Committed()
    {
        var (store, router, logs, intents) = await LoggedRouterAsync();
        var merchant = await router.MerchantAsync();
        var intent = await intents.SelectRouteAsync(merchant, (await router.IntentAsync(merchant, 10m, RoutingHarness.Solana)).Id);
        router.SolanaPrimary.HoldBroadcasts(1);
        intent = await intents.AdvanceAsync(intent.Id);
        router.Clock.Advance(router.Options.FinalityTimeout);
        Assert.Equal(PaymentIntentStatus.ManualReview, (await intents.AdvanceAsync(intent.Id)).Status);

        // Refused at its commit, the resolution failed nothing: an operator alerted by 513 would look for a failure that is not there.
        store.RefuseNextCommit = true;
        await Assert.ThrowsAsync<PaymentsKitException>(() => intents.ResolveManualReviewAsync(intent.Id, ManualReviewResolution.FailUnverified).AsTask());
        Assert.Equal(PaymentIntentStatus.ManualReview, (await intents.GetAsync(merchant, intent.Id)).Status);
        Assert.DoesNotContain(logs.Entries, e => e.EventId.Id == FailedUnverified);

        Assert.Equal(PaymentIntentStatus.Failed, (await intents.ResolveManualReviewAsync(intent.Id, ManualReviewResolution.FailUnverified)).Status);
        var entry = Assert.Single(logs.Entries, e => e.EventId.Id == FailedUnverified);
        Assert.Equal(intent.Id.ToString(), entry.Fields["IntentId"]);
    }

    /// <summary>A funded router on a store that can provoke reruns, and an intent service logging to a recording factory.</summary>
    private static async Task<(RerunningStore Store, RoutingHarness Router, RecordingLoggerFactory Logs, PaymentIntentService Intents)> LoggedRouterAsync()
    {
        var store = new RerunningStore(new InMemoryStore());
        var router = new RoutingHarness(store, new ManualClock());
        await router.SampleAsync();
        await router.OpenAndFundAsync(1000, 1000);
        var logs = new RecordingLoggerFactory();
        var intents = new PaymentIntentService(
            store, router.Clock, router.Treasury, router.Providers, router.Outbox, Microsoft.Extensions.Options.Options.Create(router.Options), router.Signer,
            logs.CreateLogger<PaymentIntentService>());
        return (store, router, logs, intents);
    }
}
