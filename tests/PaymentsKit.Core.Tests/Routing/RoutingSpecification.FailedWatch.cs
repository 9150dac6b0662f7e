using NodaTime;
using PaymentsKit.Chains;
using PaymentsKit.Routing;

namespace PaymentsKit.Tests.Routing;

/// <summary>
/// A failed intent's transactions that were not known to be off the chain when it failed, on its own chain as on the
/// chains it left: one landing later is booked on the wallet that paid, and the merchant is told.
/// </summary>
public abstract partial class RoutingSpecification
{
    [Fact]
    public async Task A_Dropped_Transaction_Landing_After_Its_Replacement_Was_Rejected_And_The_Intent_Failed_Is_Booked_On_Its_Own_Chain()
    {
        var merchant = await Router.MerchantAsync();
        var intent = await Router.Intents.SelectRouteAsync(merchant, (await Router.IntentAsync(merchant, 10m, Solana)).Id);

        // Attempt 1 is dropped; its replacement, a new transaction, is rejected on its first send (a node refusing it, say,
        // because the dropped one it was meant to replace took its nonce): the intent fails, its hold released.
        Router.SolanaChain.DropNextBroadcast();
        intent = await Router.Intents.AdvanceAsync(intent.Id);
        Clock.Advance(Duration.FromMinutes(1));
        intent = await Router.Intents.AdvanceAsync(intent.Id);
        Clock.Advance(Duration.FromMinutes(1));
        intent = await Router.Intents.AdvanceAsync(intent.Id);
        Assert.Equal(PaymentIntentStatus.Retrying, intent.Status);
        Clock.Advance(Router.Options.RetryDelay(intent.AttemptIds.Count));
        Router.SolanaBackup.RejectBroadcasts(1);
        intent = await Router.Intents.AdvanceAsync(intent.Id);
        Assert.Equal((PaymentIntentStatus.Failed, Solana), (intent.Status, intent.SelectedChain));
        Assert.Equal(Usdc(0m), (await BalancedBookAsync(Router, Solana)).Reserved);

        // The dropped transaction was kept by some node, which relays it: it lands on Solana, paid from the Solana wallet.
        var dropped = (await Router.Intents.ListAttemptsAsync(merchant, intent.Id))[0];
        Assert.Equal(AttemptFailure.Dropped, dropped.Failure);
        await Router.SolanaChain.BroadcastAsync(new SignedTransaction(Solana, Convert.FromBase64String(dropped.SignedTransaction), dropped.TxId));
        Clock.Advance(Duration.FromMinutes(1));

        var failed = await Router.Intents.AdvanceAsync(intent.Id);

        Assert.Equal((PaymentIntentStatus.Failed, Solana), (failed.Status, failed.SelectedChain));
        Assert.Null(failed.DueAt);
        var landed = (await Router.Intents.ListAttemptsAsync(merchant, intent.Id))[0];
        Assert.Equal(PaymentAttemptStatus.Confirmed, landed.Status);
        Assert.Equal(landed.ActualFee, failed.ActualFee);
        var solana = await BalancedBookAsync(Router, Solana);
        Assert.Equal((Usdc(10m), landed.ActualFee!.Value, Usdc(0m)), (solana.Spent, solana.Fees, solana.Reserved));
        Assert.Equal(Usdc(10m), Router.OnChain(Solana, "payee-solana", AssetRegistry.Usdc));
    }

    [Fact]
    public async Task A_Transaction_Landing_After_An_Operator_Failed_Its_Only_Attempt_Is_Booked_On_Its_Own_Chain()
    {
        var (router, merchant, intent) = await FailedAfterOneUnknownAttemptAsync();

        // Unknown to Solana for the drop timeout, it was failed; a node kept it and relays it now, and it lands.
        var attempt = Assert.Single(await router.Intents.ListAttemptsAsync(merchant, intent.Id));
        await router.SolanaChain.BroadcastAsync(new SignedTransaction(Solana, Convert.FromBase64String(attempt.SignedTransaction), attempt.TxId));
        Clock.Advance(Duration.FromMinutes(1));

        var failed = await router.Intents.AdvanceAsync(intent.Id);

        Assert.Equal(PaymentIntentStatus.Failed, failed.Status);
        Assert.Null(failed.DueAt);
        var landed = Assert.Single(await router.Intents.ListAttemptsAsync(merchant, intent.Id));
        Assert.Equal(PaymentAttemptStatus.Confirmed, landed.Status);
        var solana = await BalancedBookAsync(router, Solana);
        Assert.Equal((Usdc(10m), landed.ActualFee!.Value, Usdc(0m)), (solana.Spent, solana.Fees, solana.Reserved));
        Assert.Equal(Usdc(10m), router.OnChain(Solana, "payee-solana", AssetRegistry.Usdc));
    }

    [Fact]
    public async Task A_Taken_Over_Broadcast_Whose_Resend_Was_Rejected_Fails_Only_A_Drop_Timeout_After_That_Resend_And_Its_Late_Landing_Is_Booked()
    {
        var (router, _, merchant, intent) = await TakenOverResendRejectedAsync();
        var refused = Assert.Single(await router.Intents.ListAttemptsAsync(merchant, intent.Id));

        // The dead worker may have sent it to a node the chain has not heard from yet: the refused resend counts as a send,
        // so "not found" releases the hold only a drop timeout after it, however old the attempt.
        await FailsAsync(PaymentsKitErrorCodes.InvalidArgument, () => router.Intents.ResolveManualReviewAsync(intent.Id, ManualReviewResolution.Fail).AsTask());
        Clock.Advance(refused.UpdatedAt + router.Options.DropTimeout - Duration.FromSeconds(1) - Clock.GetCurrentInstant());
        var notYet = await FailsAsync(
            PaymentsKitErrorCodes.InvalidArgument, () => router.Intents.ResolveManualReviewAsync(intent.Id, ManualReviewResolution.Fail).AsTask());
        Assert.Contains(refused.TxId!, notYet.Message, StringComparison.Ordinal);
        Assert.True((await BalancedBookAsync(router, Solana)).Reserved > Usdc(10m));
        Clock.Advance(Duration.FromSeconds(1));
        intent = await router.Intents.ResolveManualReviewAsync(intent.Id, ManualReviewResolution.Fail);
        Assert.Equal(PaymentIntentStatus.Failed, intent.Status);
        Assert.NotNull(intent.DueAt);
        Assert.Equal(Usdc(0m), (await BalancedBookAsync(router, Solana)).Reserved);

        // That node relays it now: it lands, paid from the released hold, and the watch books it and tells the merchant.
        await router.SolanaChain.BroadcastAsync(new SignedTransaction(Solana, Convert.FromBase64String(refused.SignedTransaction), refused.TxId));
        Clock.Advance(Duration.FromMinutes(1));
        var failed = await router.Intents.AdvanceAsync(intent.Id);

        Assert.Equal(PaymentIntentStatus.Failed, failed.Status);
        Assert.Null(failed.DueAt);
        var landed = Assert.Single(await router.Intents.ListAttemptsAsync(merchant, intent.Id));
        Assert.Equal(PaymentAttemptStatus.Confirmed, landed.Status);
        Assert.Equal(landed.ActualFee, failed.ActualFee);
        var solana = await BalancedBookAsync(router, Solana);
        Assert.Equal((Usdc(10m), landed.ActualFee!.Value, Usdc(0m)), (solana.Spent, solana.Fees, solana.Reserved));
        Assert.Equal(Usdc(10m), router.OnChain(Solana, "payee-solana", AssetRegistry.Usdc));
        Assert.Contains(await router.EventsAsync(merchant, intent.Id), e => e.EventType == "payment_intent.paid_after_failure");
    }

    [Fact]
    public async Task A_Transaction_Reverting_After_An_Operator_Failed_Its_Only_Attempt_Has_Its_Fee_Booked_On_Its_Own_Chain()
    {
        var (router, merchant, intent) = await FailedAfterOneUnknownAttemptAsync();

        var attempt = Assert.Single(await router.Intents.ListAttemptsAsync(merchant, intent.Id));
        router.SolanaChain.FailNextBroadcast();
        await router.SolanaChain.BroadcastAsync(new SignedTransaction(Solana, Convert.FromBase64String(attempt.SignedTransaction), attempt.TxId));
        Clock.Advance(Duration.FromMinutes(1));

        var failed = await router.Intents.AdvanceAsync(intent.Id);

        Assert.Equal(PaymentIntentStatus.Failed, failed.Status);
        Assert.Null(failed.DueAt);
        var reverted = Assert.Single(await router.Intents.ListAttemptsAsync(merchant, intent.Id));
        Assert.Equal((PaymentAttemptStatus.Failed, AttemptFailure.Reverted), (reverted.Status, reverted.Failure));
        Assert.Equal(reverted.ActualFee, failed.ActualFee);
        var solana = await BalancedBookAsync(router, Solana);
        Assert.Equal((Usdc(0m), reverted.ActualFee!.Value, Usdc(0m)), (solana.Spent, solana.Fees, solana.Reserved));
    }

    [Fact]
    public async Task A_Pending_Transaction_Of_An_Intent_Failed_Without_The_Chains_Confirmation_Is_Watched_Until_It_Lands_And_Booked()
    {
        var (merchant, intent) = await HeldInManualReviewAsync();
        intent = await Router.Intents.ResolveManualReviewAsync(intent.Id, ManualReviewResolution.FailUnverified);
        Assert.Equal(PaymentIntentStatus.Failed, intent.Status);
        Assert.NotNull(intent.DueAt);

        // Still in Solana's mempool: watched however long it waits.
        Clock.Advance(Router.Options.FinalityTimeout);
        AssertUnchanged(intent, await Router.Intents.AdvanceAsync(intent.Id));
        Assert.NotNull((await Router.Intents.GetAsync(merchant, intent.Id)).DueAt);

        await Router.SolanaPrimary.ReleaseHeldAsync();
        Clock.Advance(Duration.FromMinutes(1));
        var failed = await Router.Intents.AdvanceAsync(intent.Id);

        Assert.Equal(PaymentIntentStatus.Failed, failed.Status);
        Assert.Null(failed.DueAt);
        Assert.Equal(PaymentAttemptStatus.Confirmed, Assert.Single(await Router.Intents.ListAttemptsAsync(merchant, intent.Id)).Status);
        var solana = await BalancedBookAsync(Router, Solana);
        Assert.Equal((Usdc(10m), Usdc(0m)), (solana.Spent, solana.Reserved));
        Assert.True(solana.Fees.IsPositive);
        Assert.Equal(Usdc(10m), Router.OnChain(Solana, "payee-solana", AssetRegistry.Usdc));
    }

    [Fact]
    public async Task A_Failed_Intent_Stops_Watching_Its_Own_Chain_Once_Its_Transaction_Stayed_Unknown_For_The_Finality_Timeout()
    {
        var (router, merchant, intent) = await FailedAfterOneUnknownAttemptAsync();
        Assert.NotNull(intent.DueAt);

        Clock.Advance(Duration.FromMinutes(1));
        AssertUnchanged(intent, await router.Intents.AdvanceAsync(intent.Id));
        Assert.NotNull((await router.Intents.GetAsync(merchant, intent.Id)).DueAt);

        Clock.Advance(router.Options.FinalityTimeout);
        var failed = await router.Intents.AdvanceAsync(intent.Id);

        Assert.Equal(PaymentIntentStatus.Failed, failed.Status);
        Assert.Null(failed.DueAt);
        var solana = await BalancedBookAsync(router, Solana);
        Assert.Equal((Usdc(0m), Usdc(0m), Usdc(0m)), (solana.Spent, solana.Fees, solana.Reserved));
    }

    [Fact]
    public async Task An_Intent_Failed_On_The_First_Send_Of_Its_Only_Transaction_Is_Not_Watched()
    {
        // A transaction refused on its first send never reached the chain: nothing of the intent can land later.
        var merchant = await Router.MerchantAsync();
        var intent = await Router.Intents.SelectRouteAsync(merchant, (await Router.IntentAsync(merchant, 10m, Solana)).Id);
        Router.SolanaPrimary.RejectBroadcasts(1);
        intent = await Router.Intents.AdvanceAsync(intent.Id);

        Assert.Equal(PaymentIntentStatus.Failed, intent.Status);
        Assert.Null(intent.DueAt);
    }

    [Fact]
    public async Task A_Transaction_Landing_After_Its_Intent_Failed_Tells_The_Merchant_Through_The_Outbox()
    {
        var (router, merchant, intent) = await FailedAfterOneUnknownAttemptAsync();
        var before = (await router.EventsAsync(merchant, intent.Id)).Count;
        var attempt = Assert.Single(await router.Intents.ListAttemptsAsync(merchant, intent.Id));
        await router.SolanaChain.BroadcastAsync(new SignedTransaction(Solana, Convert.FromBase64String(attempt.SignedTransaction), attempt.TxId));
        Clock.Advance(Duration.FromMinutes(1));

        var failed = await router.Intents.AdvanceAsync(intent.Id);

        var events = await router.EventsAsync(merchant, intent.Id);
        var late = Assert.Single(events.Skip(before));
        Assert.Equal("payment_intent.paid_after_failure", late.EventType);
        var data = late.Payload.GetProperty("data");
        Assert.Equal("failed", data.GetProperty("status").GetString());
        Assert.Equal("failed", data.GetProperty("previous_status").GetString());
        Assert.Equal(attempt.TxId, data.GetProperty("tx_id").GetString());
        Assert.Equal("solana", data.GetProperty("selected_chain").GetString());
        Assert.Equal("payee-solana", data.GetProperty("destination_address").GetString());
        Assert.Equal(failed.ActualFee!.Value.Amount.ToString("F6", System.Globalization.CultureInfo.InvariantCulture), data.GetProperty("actual_fee").GetProperty("amount").GetString());
        Assert.Contains(attempt.TxId!, data.GetProperty("reason").GetString(), StringComparison.Ordinal);

        // Nothing more to tell: the next step writes no event.
        await router.Intents.AdvanceAsync(intent.Id);
        Assert.Equal(events.Count, (await router.EventsAsync(merchant, intent.Id)).Count);
    }

    [Fact]
    public async Task A_Transaction_On_The_Chain_A_Reroute_Left_Landing_After_The_Intent_Failed_Tells_The_Merchant_Where_It_Paid()
    {
        var (router, merchant, intent) = await ReroutedToEthereumAsync(deliverOnEthereum: false);
        Clock.Advance(router.Options.DropTimeout);
        intent = await router.Intents.ResolveManualReviewAsync(intent.Id, ManualReviewResolution.Fail);
        Assert.Equal((PaymentIntentStatus.Failed, Ethereum), (intent.Status, intent.SelectedChain));
        var before = (await router.EventsAsync(merchant, intent.Id)).Count;

        var left = Assert.Single(await router.Intents.ListAttemptsAsync(merchant, intent.Id), a => a.Chain == Solana);
        await router.SolanaChain.BroadcastAsync(new SignedTransaction(Solana, Convert.FromBase64String(left.SignedTransaction), left.TxId));
        Clock.Advance(Duration.FromMinutes(1));
        var failed = await router.Intents.AdvanceAsync(intent.Id);

        Assert.Equal((PaymentIntentStatus.Failed, Ethereum), (failed.Status, failed.SelectedChain));
        Assert.Equal(Usdc(10m), (await BalancedBookAsync(router, Solana)).Spent);
        var late = Assert.Single((await router.EventsAsync(merchant, intent.Id)).Skip(before));
        Assert.Equal("payment_intent.paid_after_failure", late.EventType);
        var data = late.Payload.GetProperty("data");
        Assert.Equal(left.TxId, data.GetProperty("tx_id").GetString());
        Assert.Equal("solana", data.GetProperty("selected_chain").GetString());
        Assert.Equal("payee-solana", data.GetProperty("destination_address").GetString());
        Assert.Equal("failed", data.GetProperty("status").GetString());
    }

    /// <summary>
    /// A 10 USDC intent on Solana (a router of one attempt) whose only transaction's RPC call failed, unknown to Solana since:
    /// in review once its budget was spent, then failed by an operator a drop timeout after that send.
    /// </summary>
    private async Task<(RoutingHarness Router, MerchantId Merchant, PaymentIntent Intent)> FailedAfterOneUnknownAttemptAsync()
    {
        var router = await NewRouterAsync(configure: o => o.MaxAttempts = 1);
        var merchant = await router.MerchantAsync();
        var intent = await router.Intents.SelectRouteAsync(merchant, (await router.IntentAsync(merchant, 10m, Solana)).Id);
        router.SolanaChain.FailNextRpcCalls(1);
        intent = await router.Intents.AdvanceAsync(intent.Id);
        Clock.Advance(Duration.FromMinutes(1));
        intent = await router.Intents.AdvanceAsync(intent.Id);
        Assert.Equal(PaymentIntentStatus.ManualReview, intent.Status);
        Clock.Advance(router.Options.DropTimeout);
        intent = await router.Intents.ResolveManualReviewAsync(intent.Id, ManualReviewResolution.Fail);
        Assert.Equal(PaymentIntentStatus.Failed, intent.Status);
        Assert.Single(intent.AttemptIds);
        Assert.Equal(Usdc(0m), (await BalancedBookAsync(router, Solana)).Reserved);
        return (router, merchant, intent);
    }
}
