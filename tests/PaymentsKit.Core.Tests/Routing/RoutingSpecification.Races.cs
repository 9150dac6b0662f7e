using NodaTime;
using PaymentsKit.Ledger;
using PaymentsKit.Routing;
using PaymentsKit.Testing;

namespace PaymentsKit.Tests.Routing;

/// <summary>Conflicting operations on one intent, and on one wallet's funding, from many callers at once.</summary>
public abstract partial class RoutingSpecification
{
    [Fact]
    public async Task Selections_Advances_And_Cancellations_Racing_On_One_Intent_Either_Cancel_It_Before_Anything_Is_Sent_Or_Settle_It()
    {
        var merchant = await Router.MerchantAsync();
        var intent = await Router.IntentAsync(merchant, 40m, Ethereum);
        var before = await BalancedBookAsync(Router, Ethereum);

        var outcomes = await Race.RunAsync(
            Race.Times(4, "select", async () => (await Router.Intents.SelectRouteAsync(merchant, intent.Id)).Status)
                .Concat(Race.Times(4, "advance", async () => (await Router.Intents.AdvanceAsync(intent.Id)).Status))
                .Concat(Race.Times(4, "cancel", async () => (await Router.Intents.CancelAsync(merchant, intent.Id)).Status)));

        Assert.All(outcomes.Where(o => !o.Won), o => Assert.Equal(PaymentsKitErrorCodes.InvalidTransition, o.Code));
        Assert.True(outcomes.Count(o => o.Caller == "cancel" && o.Won) <= 1, string.Join("; ", outcomes.Select(o => o.ToString())));
        var raced = await Router.Intents.GetAsync(merchant, intent.Id);
        if (outcomes.Any(o => o.Caller == "cancel" && o.Won))
        {
            // Cancelled before any broadcast: the hold is released and nothing reached the chain.
            Assert.Equal(PaymentIntentStatus.Cancelled, raced.Status);
            Assert.Null(raced.Reservation);
            Assert.Empty(await Router.Intents.ListAttemptsAsync(merchant, intent.Id));
            Clock.Advance(Duration.FromMinutes(5));
            Assert.Equal(Usdc(0m), Router.OnChain(Ethereum, "payee-ethereum", AssetRegistry.Usdc) - before.Spent);
            var book = await BalancedBookAsync(Router, Ethereum);
            Assert.Equal((before.Reserved, before.Available, before.Spent), (book.Reserved, book.Available, book.Spent));
        }
        else
        {
            var settled = await Router.RunToEndAsync(raced);
            Assert.Equal(PaymentIntentStatus.Settled, settled.Status);
            Assert.Single(await Router.Intents.ListAttemptsAsync(merchant, intent.Id));
            var book = await BalancedBookAsync(Router, Ethereum);
            Assert.Equal((before.Reserved, before.Spent + Usdc(40m)), (book.Reserved, book.Spent));
        }

        var events = (await Router.EventsAsync(merchant, intent.Id)).Select(e => e.EventType).ToList();
        Assert.Equal(events.Distinct().Count(), events.Count);
        Assert.True((await Router.Ledger.ReconcileAsync(Router.Treasury.Tenant)).IsClean);
    }

    [Fact]
    public async Task Concurrent_Fundings_Of_One_Wallet_Post_Each_Key_Once_And_Every_Unkeyed_Funding()
    {
        var before = await BalancedBookAsync(Router, Solana);

        var outcomes = await Race.RunAsync(
            Race.Times(8, "keyed", async () => (await Router.Treasury.FundAsync(Solana, Usdc(5m), "top-up-" + before.Funded.Amount)).Chain)
                .Concat(Race.Times(8, "unkeyed", async () => (await Router.Treasury.FundAsync(Solana, Usdc(1m))).Chain)));

        Assert.All(outcomes, o => Assert.True(o.Won, o.ToString()));
        var book = await BalancedBookAsync(Router, Solana);
        Assert.Equal(before.Funded + Usdc(13m), book.Funded);
        Assert.Equal(before.Available + Usdc(13m), book.Available);
        Assert.True((await Router.Ledger.ReconcileAsync(Router.Treasury.Tenant)).IsClean);
    }

    [Fact]
    public async Task Operators_Racing_To_Resolve_One_Manual_Review_Pay_Once_And_Settle_It()
    {
        var (merchant, intent) = await HeldInManualReviewAsync();

        // The held transaction is final on chain: settling from it is right, retrying resends the same transaction, failing is refused.
        await Router.SolanaPrimary.ReleaseHeldAsync();
        Clock.Advance(Duration.FromSeconds(5));
        var outcomes = await Race.RunAsync(
            Race.Times(4, "settle", async () => (await Router.Intents.ResolveManualReviewAsync(intent.Id, ManualReviewResolution.Settle)).Status)
                .Concat(Race.Times(4, "retry", async () => (await Router.Intents.ResolveManualReviewAsync(intent.Id, ManualReviewResolution.Retry)).Status))
                .Concat(Race.Times(4, "fail", async () => (await Router.Intents.ResolveManualReviewAsync(intent.Id, ManualReviewResolution.Fail)).Status))
                .Concat(Race.Times(2, "cancel", async () => (await Router.Intents.CancelAsync(merchant, intent.Id)).Status))
                .Concat(Race.Times(2, "advance", async () => (await Router.Intents.AdvanceAsync(intent.Id)).Status)));

        Assert.All(outcomes.Where(o => o.Caller is "fail" or "cancel"), o => Assert.False(o.Won, o.ToString()));
        Assert.All(outcomes.Where(o => !o.Won), o => Assert.Contains(o.Code, new[] { PaymentsKitErrorCodes.InvalidTransition, PaymentsKitErrorCodes.InvalidArgument }));
        Assert.Equal(1, outcomes.Count(o => o.Won && (o.Caller is "settle" or "retry")));
        var settled = await Router.RunToEndAsync(await Router.Intents.GetAsync(merchant, intent.Id));
        Clock.Advance(Duration.FromSeconds(10));

        Assert.Equal(PaymentIntentStatus.Settled, settled.Status);
        Assert.Equal(Usdc(10m), Router.OnChain(Solana, "payee-solana", AssetRegistry.Usdc));
        var book = await BalancedBookAsync(Router, Solana);
        Assert.Equal((Usdc(10m), Usdc(0m)), (book.Spent, book.Reserved));
        var events = (await Router.EventsAsync(merchant, intent.Id)).Select(e => e.EventType).ToList();
        Assert.Single(events, e => e == "payment_intent.settled");
        Assert.True((await Router.Ledger.ReconcileAsync(Router.Treasury.Tenant)).IsClean);
    }

    [Fact]
    public async Task Requotes_Selections_And_Cancellations_Racing_On_One_Intent_Cancel_It_Once_And_Release_Every_Hold()
    {
        var merchant = await Router.MerchantAsync();
        var intent = await Router.IntentAsync(merchant, 10m, Ethereum);
        Clock.Advance(Duration.FromMinutes(4));
        await Router.SampleAsync();
        var fresh = await Router.QuoteAsync(merchant, 10m);
        var (ethereum, solana) = (await BalancedBookAsync(Router, Ethereum), await BalancedBookAsync(Router, Solana));

        var outcomes = await Race.RunAsync(
            Race.Times(4, "requote", async () => (await Router.Intents.RequoteAsync(merchant, intent.Id, fresh.Id)).Status)
                .Concat(Race.Times(4, "select", async () => (await Router.Intents.SelectRouteAsync(merchant, intent.Id)).Status))
                .Concat(Race.Times(4, "cancel", async () => (await Router.Intents.CancelAsync(merchant, intent.Id)).Status)));

        Assert.All(outcomes.Where(o => !o.Won), o => Assert.Contains(o.Code, new[] { PaymentsKitErrorCodes.InvalidTransition, PaymentsKitErrorCodes.Expired }));
        // Nothing was broadcast, so one cancellation always wins, and whatever hold a selection took on either chain is released.
        Assert.Single(outcomes, o => o.Caller == "cancel" && o.Won);
        var raced = await Router.Intents.GetAsync(merchant, intent.Id);
        Assert.Equal(PaymentIntentStatus.Cancelled, raced.Status);
        await AssertEveryIntentAccountedAsync(Router, [raced]);
        Assert.Equal((ethereum.Reserved, ethereum.Available), ((await BalancedBookAsync(Router, Ethereum)).Reserved, (await BalancedBookAsync(Router, Ethereum)).Available));
        Assert.Equal((solana.Reserved, solana.Available), ((await BalancedBookAsync(Router, Solana)).Reserved, (await BalancedBookAsync(Router, Solana)).Available));
        Assert.True((await Router.Ledger.ReconcileAsync(Router.Treasury.Tenant)).IsClean);
    }

    [Fact]
    public async Task Sweeps_Racing_Cancellations_Of_A_Selected_Intent_Either_Cancel_It_Before_Anything_Is_Sent_Or_Settle_It()
    {
        var merchant = await Router.MerchantAsync();
        var intent = await Router.Intents.SelectRouteAsync(merchant, (await Router.IntentAsync(merchant, 20m, Solana)).Id);
        var hold = intent.Reservation!.TransferId;

        // The sweeps span every merchant of the store, so this checks the intent's own hold and attempts, not the wallet's totals.
        var outcomes = await Race.RunAsync(
            Race.Times(4, "sweep", async () => (await Router.Intents.AdvanceDueAsync(Clock.GetCurrentInstant())).Advanced)
                .Concat(Race.Times(4, "cancel", async () => (await Router.Intents.CancelAsync(merchant, intent.Id)).AttemptIds.Count)));

        Assert.All(outcomes.Where(o => !o.Won), o => Assert.Equal(PaymentsKitErrorCodes.InvalidTransition, o.Code));
        Assert.All(outcomes.Where(o => o.Caller == "sweep"), o => Assert.True(o.Won, o.ToString()));
        Assert.True(outcomes.Count(o => o.Caller == "cancel" && o.Won) <= 1);
        var raced = await Router.Intents.GetAsync(merchant, intent.Id);
        if (outcomes.Any(o => o.Caller == "cancel" && o.Won))
        {
            Assert.Equal(PaymentIntentStatus.Cancelled, raced.Status);
            Assert.Empty(await Router.Intents.ListAttemptsAsync(merchant, intent.Id));
            Assert.Equal(LedgerTransferState.Voided, (await Router.Ledger.GetTransferAsync(Router.Treasury.Tenant, hold)).State);
        }
        else
        {
            Assert.Equal(PaymentIntentStatus.Settled, (await Router.RunToEndAsync(raced)).Status);
            Assert.Single(await Router.Intents.ListAttemptsAsync(merchant, intent.Id));
            Assert.Equal(LedgerTransferState.Posted, (await Router.Ledger.GetTransferAsync(Router.Treasury.Tenant, hold)).State);
        }

        await BalancedBookAsync(Router, Solana);
        Assert.True((await Router.Ledger.ReconcileAsync(Router.Treasury.Tenant)).IsClean);
    }
}
