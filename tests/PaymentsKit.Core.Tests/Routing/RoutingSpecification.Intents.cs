using System.Text.Json;
using NodaTime;
using PaymentsKit.Chains;
using PaymentsKit.Ledger;
using PaymentsKit.Routing;

namespace PaymentsKit.Tests.Routing;

public abstract partial class RoutingSpecification
{
    [Fact]
    public async Task An_Intent_Goes_From_Quote_To_Settlement_Posting_The_Payment_And_The_Actual_Fee()
    {
        var merchant = await Router.MerchantAsync();
        var intent = await Router.IntentAsync(merchant, 100m, Ethereum);
        Assert.Equal(PaymentIntentStatus.Created, intent.Status);
        Assert.Equal("payee-ethereum", intent.DestinationAddress);

        intent = await Router.Intents.SelectRouteAsync(merchant, intent.Id);
        Assert.Equal(PaymentIntentStatus.RouteSelected, intent.Status);
        var reservation = Assert.IsType<TreasuryReservation>(intent.Reservation);
        Assert.Equal(Usdc(0.03m), reservation.ReservedFee);
        var held = await BalancedBookAsync(Router, Ethereum);
        Assert.Equal(Usdc(100.03m), held.Reserved);
        Assert.Equal(Usdc(899.97m), held.Available);

        intent = await Router.Intents.AdvanceAsync(intent.Id);
        Assert.Equal(PaymentIntentStatus.Broadcasted, intent.Status);
        AssertUnchanged(intent, await Router.Intents.AdvanceAsync(intent.Id));

        Clock.Advance(Duration.FromSeconds(12));
        intent = await Router.Intents.AdvanceAsync(intent.Id);
        Assert.Equal(PaymentIntentStatus.PendingConfirmation, intent.Status);

        Clock.Advance(Duration.FromSeconds(24));
        intent = await Router.Intents.AdvanceAsync(intent.Id);
        Assert.Equal(PaymentIntentStatus.Settled, intent.Status);
        Assert.Null(intent.Reservation);
        Assert.Equal(Usdc(0.02m), intent.ActualFee);

        var book = await BalancedBookAsync(Router, Ethereum);
        Assert.Equal(Usdc(100m), book.Spent);
        Assert.Equal(Usdc(0.02m), book.Fees);
        Assert.Equal(Usdc(0m), book.Reserved);
        Assert.Equal(Usdc(899.98m), book.Available);
        Assert.Equal(Usdc(100m), Router.OnChain(Ethereum, "payee-ethereum", AssetRegistry.Usdc));

        var attempt = Assert.Single(await Router.Intents.ListAttemptsAsync(merchant, intent.Id));
        Assert.Equal(PaymentAttemptStatus.Confirmed, attempt.Status);
        Assert.Equal(intent.TxId, attempt.TxId);
        Assert.Equal(RoutingRpcProviders.PrimaryName, attempt.RpcProvider);
        Assert.Equal(Money.Of(0.00001m, AssetRegistry.Eth), attempt.ActualFeeNative);
        Assert.Equal(Usdc(0.03m), attempt.EstimatedFee);
        Assert.True(attempt.Confirmations >= 3);
        Assert.NotNull(attempt.BroadcastAt);
        Assert.NotNull(attempt.ConfirmedAt);

        var transactions = await Router.Ledger.ListTransactionsByReferenceAsync(Router.Treasury.Tenant, intent.Id.ToString(), null, 100);
        Assert.Equal(
            [LedgerTransactionKind.Pending, LedgerTransactionKind.PostPending, LedgerTransactionKind.Posted],
            transactions.Items.Select(t => t.Kind));
        Assert.True((await Router.Ledger.ReconcileAsync(Router.Treasury.Tenant)).IsClean);
    }

    [Fact]
    public async Task Every_Status_Change_Writes_One_Outbox_Event_With_The_Intent()
    {
        var merchant = await Router.MerchantAsync();
        var intent = await Router.RunToEndAsync(await Router.IntentAsync(merchant, 5m, Ethereum));

        var events = await Router.EventsAsync(merchant, intent.Id);
        Assert.Equal(
            ["created", "route_selected", "broadcasting", "broadcasted", "pending_confirmation", "settled"],
            events.Select(e => e.EventType["payment_intent.".Length..]));
        Assert.All(events, e =>
        {
            Assert.Equal(merchant.Value, e.TenantId);
            Assert.Equal("payment_intent", e.ResourceType);
            Assert.False(e.Delivered);
            Assert.Equal(0, e.Attempts);
            Assert.Null(e.LastAttemptAt);
            Assert.Equal(e.EventType, e.Payload.GetProperty("type").GetString());
        });
        var settled = events[^1].Payload.GetProperty("data");
        Assert.Equal(intent.Id.ToString(), settled.GetProperty("id").GetString());
        Assert.Equal("settled", settled.GetProperty("status").GetString());
        Assert.Equal("pending_confirmation", settled.GetProperty("previous_status").GetString());
        Assert.Equal(intent.TxId, settled.GetProperty("tx_id").GetString());
        Assert.Equal("5.000000", settled.GetProperty("amount").GetProperty("amount").GetString());
        Assert.Equal(JsonValueKind.Null, events[0].Payload.GetProperty("data").GetProperty("previous_status").ValueKind);
        Assert.Equal(events[^1].EventType, (await Router.Outbox.GetAsync(merchant.Value, events[^1].Id)).EventType);
        await FailsAsync(PaymentsKitErrorCodes.NotFound, () => Router.Outbox.GetAsync(Guid.CreateVersion7(), events[^1].Id).AsTask());
    }

    [Fact]
    public async Task The_Same_Key_Returns_The_Same_Intent_And_Another_Request_Conflicts()
    {
        var merchant = await Router.MerchantAsync();
        var quote = await Router.QuoteAsync(merchant, 10m);
        var first = await Router.Intents.CreateAsync(merchant, new CreatePaymentIntentRequest(quote.Id, "order-17"));

        Assert.Equal(first.Id, (await Router.Intents.CreateAsync(merchant, new CreatePaymentIntentRequest(quote.Id, "order-17"))).Id);
        await FailsAsync(
            PaymentsKitErrorCodes.IdempotencyConflict,
            () => Router.Intents.CreateAsync(merchant, new CreatePaymentIntentRequest(quote.Id, "order-17") { Chain = Ethereum }).AsTask());
        var other = await Router.QuoteAsync(merchant, 10m);
        await FailsAsync(PaymentsKitErrorCodes.IdempotencyConflict, () => Router.Intents.CreateAsync(merchant, new CreatePaymentIntentRequest(other.Id, "order-17")).AsTask());

        // Keys are per merchant: another merchant's "order-17" is its own.
        var stranger = await Router.MerchantAsync();
        var theirs = await Router.Intents.CreateAsync(stranger, new CreatePaymentIntentRequest((await Router.QuoteAsync(stranger, 10m)).Id, "order-17"));
        Assert.NotEqual(first.Id, theirs.Id);
        Assert.Single(await Router.EventsAsync(merchant, first.Id));

        // Another merchant's quote or intent is invisible.
        await FailsAsync(PaymentsKitErrorCodes.NotFound, () => Router.Intents.CreateAsync(stranger, new CreatePaymentIntentRequest(quote.Id, "k")).AsTask());
        await FailsAsync(PaymentsKitErrorCodes.NotFound, () => Router.Intents.GetAsync(stranger, first.Id).AsTask());
        await FailsAsync(PaymentsKitErrorCodes.NotFound, () => Router.Intents.CancelAsync(stranger, first.Id).AsTask());
        await FailsAsync(PaymentsKitErrorCodes.NotFound, () => Router.Intents.SelectRouteAsync(stranger, first.Id).AsTask());
        await FailsAsync(PaymentsKitErrorCodes.NotFound, () => Router.Intents.AdvanceAsync(PaymentIntentId.New(Clock)).AsTask());
        await FailsAsync(PaymentsKitErrorCodes.InvalidArgument, () => Router.Intents.CreateAsync(merchant, new CreatePaymentIntentRequest(quote.Id, " ")).AsTask());
        await FailsAsync(PaymentsKitErrorCodes.InvalidArgument, () => Router.Intents.CreateAsync(merchant, new CreatePaymentIntentRequest(quote.Id, new string('k', 256))).AsTask());
        await FailsAsync(PaymentsKitErrorCodes.InvalidArgument, () => Router.Intents.CreateAsync(merchant, new CreatePaymentIntentRequest(quote.Id, "k2") { Chain = ChainId.Of("hedera") }).AsTask());
    }

    [Fact]
    public async Task Using_An_Expired_Quote_Is_Expired()
    {
        var merchant = await Router.MerchantAsync();
        var quote = await Router.QuoteAsync(merchant, 10m);
        var waiting = await Router.Intents.CreateAsync(merchant, new CreatePaymentIntentRequest(quote.Id, "a"));
        var advanced = await Router.Intents.CreateAsync(merchant, new CreatePaymentIntentRequest(quote.Id, "b"));

        Clock.Advance(Duration.FromMinutes(5));
        await FailsAsync(PaymentsKitErrorCodes.Expired, () => Router.Intents.CreateAsync(merchant, new CreatePaymentIntentRequest(quote.Id, "c")).AsTask());
        Assert.Equal(waiting.Id, (await Router.Intents.CreateAsync(merchant, new CreatePaymentIntentRequest(quote.Id, "a"))).Id);

        await FailsAsync(PaymentsKitErrorCodes.Expired, () => Router.Intents.SelectRouteAsync(merchant, waiting.Id).AsTask());
        Assert.Equal(PaymentIntentStatus.Expired, (await Router.Intents.GetAsync(merchant, waiting.Id)).Status);
        Assert.Equal(PaymentIntentStatus.Expired, (await Router.Intents.AdvanceAsync(advanced.Id)).Status);
        Assert.Equal("expired", (await Router.EventsAsync(merchant, advanced.Id))[^1].EventType["payment_intent.".Length..]);
        await FailsAsync(PaymentsKitErrorCodes.InvalidTransition, () => Router.Intents.SelectRouteAsync(merchant, waiting.Id).AsTask());
        Assert.Equal(Usdc(0m), (await BalancedBookAsync(Router, Solana)).Reserved);

        var fresh = await Router.QuoteAsync(merchant, 10m);
        await FailsAsync(PaymentsKitErrorCodes.InvalidTransition, () => Router.Intents.RequoteAsync(merchant, waiting.Id, fresh.Id).AsTask());
        await FailsAsync(PaymentsKitErrorCodes.Expired, () => Router.Intents.RequoteAsync(merchant, waiting.Id, quote.Id).AsTask());
    }

    [Fact]
    public async Task An_Intent_Not_Yet_Routed_Can_Be_Requoted_With_A_Fresh_Quote_Of_The_Same_Amount()
    {
        var merchant = await Router.MerchantAsync();
        var intent = await Router.IntentAsync(merchant, 10m, Ethereum);
        Clock.Advance(Duration.FromMinutes(4));
        await Router.SampleAsync();
        var fresh = await Router.QuoteAsync(merchant, 10m);

        var requoted = await Router.Intents.RequoteAsync(merchant, intent.Id, fresh.Id);
        Assert.Equal(PaymentIntentStatus.Quoted, requoted.Status);
        Assert.Equal(fresh.Id, requoted.QuoteId);
        Assert.Equal(Solana, requoted.SelectedChain);
        var other = await Router.QuoteAsync(merchant, 11m);
        await FailsAsync(PaymentsKitErrorCodes.InvalidArgument, () => Router.Intents.RequoteAsync(merchant, intent.Id, other.Id).AsTask());

        Clock.Advance(Duration.FromMinutes(2));
        var selected = await Router.Intents.SelectRouteAsync(merchant, intent.Id);
        Assert.Equal(PaymentIntentStatus.RouteSelected, selected.Status);
        await FailsAsync(PaymentsKitErrorCodes.InvalidTransition, () => Router.Intents.RequoteAsync(merchant, intent.Id, fresh.Id).AsTask());
    }

    [Fact]
    public async Task Cancelling_Before_Broadcast_Releases_The_Reservation_And_After_Is_An_Invalid_Transition()
    {
        var merchant = await Router.MerchantAsync();
        var intent = await Router.Intents.SelectRouteAsync(merchant, (await Router.IntentAsync(merchant, 40m, Ethereum)).Id);
        Assert.Equal(Usdc(40.03m), (await BalancedBookAsync(Router, Ethereum)).Reserved);

        var cancelled = await Router.Intents.CancelAsync(merchant, intent.Id);
        Assert.Equal(PaymentIntentStatus.Cancelled, cancelled.Status);
        Assert.Null(cancelled.Reservation);
        var book = await BalancedBookAsync(Router, Ethereum);
        Assert.Equal(Usdc(0m), book.Reserved);
        Assert.Equal(Usdc(1000m), book.Available);
        await FailsAsync(PaymentsKitErrorCodes.InvalidTransition, () => Router.Intents.CancelAsync(merchant, intent.Id).AsTask());

        var created = await Router.IntentAsync(merchant, 1m);
        Assert.Equal(PaymentIntentStatus.Cancelled, (await Router.Intents.CancelAsync(merchant, created.Id)).Status);

        var sent = await Router.Intents.AdvanceAsync((await Router.Intents.SelectRouteAsync(merchant, (await Router.IntentAsync(merchant, 1m)).Id)).Id);
        Assert.Equal(PaymentIntentStatus.Broadcasted, sent.Status);
        await FailsAsync(PaymentsKitErrorCodes.InvalidTransition, () => Router.Intents.CancelAsync(merchant, sent.Id).AsTask());
        Assert.Equal(PaymentIntentStatus.Settled, (await Router.RunToEndAsync(sent)).Status);
    }

    [Fact]
    public async Task An_Rpc_Error_Retries_The_Same_Transaction_Through_The_Next_Provider()
    {
        var merchant = await Router.MerchantAsync();
        var intent = await Router.Intents.SelectRouteAsync(merchant, (await Router.IntentAsync(merchant, 10m, Ethereum)).Id);

        Router.EthereumChain.FailNextRpcCalls(1);
        intent = await Router.Intents.AdvanceAsync(intent.Id);
        Assert.Equal(PaymentIntentStatus.Retrying, intent.Status);
        Assert.StartsWith("rpc_error", intent.LastError, StringComparison.Ordinal);
        Assert.Equal(Clock.GetCurrentInstant() + Duration.FromSeconds(2), intent.NextAttemptAt);
        AssertUnchanged(intent, await Router.Intents.AdvanceAsync(intent.Id));

        Clock.Advance(Duration.FromSeconds(2));
        intent = await Router.RunToEndAsync(intent);
        Assert.Equal(PaymentIntentStatus.Settled, intent.Status);

        var attempts = await Router.Intents.ListAttemptsAsync(merchant, intent.Id);
        Assert.Equal([RoutingRpcProviders.PrimaryName, "backup"], attempts.Select(a => a.RpcProvider));
        Assert.Equal([PaymentAttemptStatus.Failed, PaymentAttemptStatus.Confirmed], attempts.Select(a => a.Status));
        Assert.Equal(AttemptFailure.RpcError, attempts[0].Failure);
        Assert.Equal(attempts[0].TxId, attempts[1].TxId);
        Assert.Equal(attempts[0].SignedTransaction, attempts[1].SignedTransaction);
        Assert.Equal(Usdc(10m), (await BalancedBookAsync(Router, Ethereum)).Spent);
        Assert.Equal(Usdc(10m), Router.OnChain(Ethereum, "payee-ethereum", AssetRegistry.Usdc));
    }

    [Fact]
    public async Task A_Dropped_Transaction_Is_Replaced_After_The_Drop_Timeout()
    {
        var merchant = await Router.MerchantAsync();
        var intent = await Router.Intents.SelectRouteAsync(merchant, (await Router.IntentAsync(merchant, 10m, Solana)).Id);

        Router.SolanaChain.DropNextBroadcast();
        intent = await Router.Intents.AdvanceAsync(intent.Id);
        Assert.Equal(PaymentIntentStatus.Broadcasted, intent.Status);
        Clock.Advance(Duration.FromMinutes(1));
        Assert.Equal(PaymentIntentStatus.Broadcasted, (await Router.Intents.AdvanceAsync(intent.Id)).Status);
        Clock.Advance(Duration.FromMinutes(1));
        intent = await Router.Intents.AdvanceAsync(intent.Id);
        Assert.Equal(PaymentIntentStatus.Retrying, intent.Status);
        Assert.StartsWith("dropped", intent.LastError, StringComparison.Ordinal);

        intent = await Router.RunToEndAsync(intent);
        Assert.Equal(PaymentIntentStatus.Settled, intent.Status);
        var attempts = await Router.Intents.ListAttemptsAsync(merchant, intent.Id);
        Assert.Equal(2, attempts.Count);
        Assert.Equal(AttemptFailure.Dropped, attempts[0].Failure);
        Assert.NotEqual(attempts[0].TxId, attempts[1].TxId);
        Assert.Equal(Usdc(10m), Router.OnChain(Solana, "payee-solana", AssetRegistry.Usdc));
        Assert.Equal(Usdc(10m), (await BalancedBookAsync(Router, Solana)).Spent);
    }

    [Fact]
    public async Task A_Transaction_Still_Pending_Past_The_Drop_Timeout_Is_Not_Replaced_So_The_Payment_Is_Made_Once()
    {
        var (merchant, intent) = await BroadcastHeldAsync();
        Assert.Equal(PaymentIntentStatus.Broadcasted, intent.Status);

        // The chain still knows the transaction (in its mempool): it may yet be included, so nothing replaces it.
        for (var i = 0; i < 3; i++)
        {
            Clock.Advance(Router.Options.DropTimeout);
            intent = await Router.Intents.AdvanceAsync(intent.Id);
        }

        // Then it is included after all.
        await Router.SolanaPrimary.ReleaseHeldAsync();
        intent = await Router.RunToEndAsync(intent);
        Clock.Advance(Duration.FromSeconds(10));

        Assert.Equal(Usdc(10m), Router.OnChain(Solana, "payee-solana", AssetRegistry.Usdc));
        Assert.Equal(PaymentIntentStatus.Settled, intent.Status);
        Assert.Single(await Router.Intents.ListAttemptsAsync(merchant, intent.Id));
        var book = await BalancedBookAsync(Router, Solana);
        Assert.Equal(Usdc(10m), book.Spent);
        Assert.Equal(Usdc(0m), book.Reserved);
    }

    [Fact]
    public async Task A_Lagging_Node_Not_Finding_A_Transaction_Seen_Pending_Does_Not_Replace_It_So_The_Payment_Is_Made_Once()
    {
        var (merchant, intent) = await BroadcastHeldAsync();
        Clock.Advance(Router.Options.DropTimeout - Duration.FromSeconds(30));
        intent = await Router.Intents.AdvanceAsync(intent.Id);
        Assert.Equal(PaymentIntentStatus.Broadcasted, intent.Status);
        var seenAt = Clock.GetCurrentInstant();
        Assert.Equal(seenAt, Assert.Single(await Router.Intents.ListAttemptsAsync(merchant, intent.Id)).LastSeenAt);

        // Seen again soon after: nothing is written.
        Clock.Advance(Duration.FromSeconds(5));
        AssertUnchanged(intent, await Router.Intents.AdvanceAsync(intent.Id));
        Assert.Equal(seenAt, Assert.Single(await Router.Intents.ListAttemptsAsync(merchant, intent.Id)).LastSeenAt);

        // Past the drop timeout since the broadcast, but not since the chain last knew it, a lagging node answers not found.
        Clock.Advance(Duration.FromSeconds(55));
        Router.SolanaPrimary.MissReads(1);
        intent = await Router.Intents.AdvanceAsync(intent.Id);
        Assert.Equal(PaymentIntentStatus.Broadcasted, intent.Status);

        await Router.SolanaPrimary.ReleaseHeldAsync();
        intent = await Router.RunToEndAsync(intent);
        Clock.Advance(Duration.FromSeconds(10));

        Assert.Equal(PaymentIntentStatus.Settled, intent.Status);
        Assert.Single(await Router.Intents.ListAttemptsAsync(merchant, intent.Id));
        Assert.Equal(Usdc(10m), Router.OnChain(Solana, "payee-solana", AssetRegistry.Usdc));
        Assert.Equal(Usdc(10m), (await BalancedBookAsync(Router, Solana)).Spent);
    }

    [Fact]
    public async Task A_Lagging_Node_Not_Finding_A_Transaction_Seen_Included_Does_Not_Replace_It_So_The_Payment_Is_Made_Once()
    {
        var (router, merchant, intent) = await IncludedNeverFinalAsync();
        Assert.Equal(PaymentIntentStatus.PendingConfirmation, (await router.Intents.AdvanceAsync(intent.Id)).Status);
        Clock.Advance(router.Options.DropTimeout - Duration.FromSeconds(30));
        Assert.Equal(PaymentIntentStatus.PendingConfirmation, (await router.Intents.AdvanceAsync(intent.Id)).Status);

        // Included, and past the drop timeout since the broadcast but not since last seen, a lagging node answers not found.
        Clock.Advance(Duration.FromSeconds(60));
        router.SolanaPrimary.MissReads(1);
        intent = await router.Intents.AdvanceAsync(intent.Id);
        Clock.Advance(Duration.FromSeconds(10));
        intent = await router.Intents.AdvanceAsync(intent.Id);

        Assert.Equal(PaymentIntentStatus.PendingConfirmation, intent.Status);
        Assert.Single(await router.Intents.ListAttemptsAsync(merchant, intent.Id));
        Assert.Equal(Usdc(10m), router.OnChain(Solana, "payee-solana", AssetRegistry.Usdc));
    }

    [Fact]
    public async Task A_Node_Not_Finding_An_Included_Transaction_For_Longer_Than_The_Drop_Timeout_Does_Not_Replace_It_While_Another_Provider_Finds_It()
    {
        var (router, merchant, intent) = await IncludedNeverFinalAsync();
        Assert.Equal(PaymentIntentStatus.PendingConfirmation, (await router.Intents.AdvanceAsync(intent.Id)).Status);

        // The provider that sent it falls behind the chain and answers "not found" from now on, well past the drop
        // timeout since the chain was last seen knowing the transaction; the chain's other provider still finds it.
        router.SolanaPrimary.MissReads(1_000);
        for (var i = 0; i < 3; i++)
        {
            Clock.Advance(router.Options.DropTimeout);
            intent = await router.Intents.AdvanceAsync(intent.Id);
        }

        Clock.Advance(Duration.FromSeconds(10));
        intent = await router.Intents.AdvanceAsync(intent.Id);
        Assert.NotEqual(PaymentIntentStatus.Retrying, intent.Status);
        Assert.NotEqual(PaymentIntentStatus.Broadcasted, intent.Status);
        Assert.Single(await router.Intents.ListAttemptsAsync(merchant, intent.Id));
        Assert.Equal(Usdc(10m), router.OnChain(Solana, "payee-solana", AssetRegistry.Usdc));

        // Nor may an operator fail it: the money has moved.
        if (intent.Status == PaymentIntentStatus.ManualReview)
        {
            await FailsAsync(PaymentsKitErrorCodes.InvalidArgument, () => router.Intents.ResolveManualReviewAsync(intent.Id, ManualReviewResolution.Fail).AsTask());
            Assert.Equal(intent.Reservation!.Held, (await BalancedBookAsync(router, Solana)).Reserved);
        }
    }

    [Fact]
    public async Task A_Transaction_Seen_Pending_Until_Review_Is_Not_Left_For_Another_Chain_After_An_Rpc_Error_So_The_Payment_Is_Made_Once()
    {
        var (merchant, intent) = await SelectedOnSolanaAsync();
        Router.SolanaPrimary.HoldBroadcasts(1);
        intent = await Router.Intents.AdvanceAsync(intent.Id);
        Clock.Advance(Router.Options.FinalityTimeout);
        Assert.Equal(PaymentIntentStatus.ManualReview, (await Router.Intents.AdvanceAsync(intent.Id)).Status);

        // An operator retries at once: the resend's RPC call fails, Solana turns unhealthy, and neither node answers that it
        // has the transaction the chain still holds in its mempool (the node the resend went through never heard of it, and
        // the one holding it lags).
        intent = await Router.Intents.ResolveManualReviewAsync(intent.Id, ManualReviewResolution.Retry);
        Router.SolanaBackup.FailBroadcasts(1);
        intent = await Router.Intents.AdvanceAsync(intent.Id);
        Assert.Equal(PaymentIntentStatus.Retrying, intent.Status);
        await Router.SampleAsync();
        await MarkUnhealthyAsync(Router, Solana);
        Clock.Advance(Router.Options.RetryDelay(intent.AttemptIds.Count));
        Router.SolanaPrimary.MissReads(1);
        intent = await Router.Intents.AdvanceAsync(intent.Id);
        Assert.Equal((PaymentIntentStatus.Retrying, Solana), (intent.Status, intent.SelectedChain));

        await Router.SolanaPrimary.ReleaseHeldAsync();
        Clock.Advance(Duration.FromSeconds(10));
        Assert.Equal(Usdc(0m), Router.OnChain(Ethereum, "payee-ethereum", AssetRegistry.Usdc));
        Assert.Equal(Usdc(10m), Router.OnChain(Solana, "payee-solana", AssetRegistry.Usdc));
        Assert.Equal(Usdc(0m), (await BalancedBookAsync(Router, Ethereum)).Reserved);
    }

    [Fact]
    public async Task A_Transaction_Resent_Through_Failed_Rpc_Calls_Is_Left_For_Another_Chain_Only_A_Drop_Timeout_After_The_Last_Send()
    {
        var (merchant, intent) = await SelectedOnSolanaAsync();
        Router.SolanaPrimary.FailBroadcasts(1);
        intent = await Router.Intents.AdvanceAsync(intent.Id);
        Assert.Equal(PaymentIntentStatus.Retrying, intent.Status);

        // The same transaction is sent again later, through the other provider, and that call fails too: it may have
        // reached the chain at any moment until it returned.
        var resentAfter = Router.Options.RetryDelay(intent.AttemptIds.Count);
        Clock.Advance(resentAfter);
        Router.SolanaBackup.FailBroadcasts(1);
        intent = await Router.Intents.AdvanceAsync(intent.Id);
        Assert.Equal(PaymentIntentStatus.Retrying, intent.Status);
        var attempts = await Router.Intents.ListAttemptsAsync(merchant, intent.Id);
        Assert.Equal(2, attempts.Count);
        Assert.Equal(attempts[0].TxId, attempts[1].TxId);

        // Solana turns unhealthy. A drop timeout after the first send, but not after the last, it is too soon to leave it.
        await Router.SampleAsync();
        await MarkUnhealthyAsync(Router, Solana);
        Clock.Advance(Router.Options.DropTimeout - resentAfter);
        intent = await Router.Intents.AdvanceAsync(intent.Id);
        Assert.Equal((PaymentIntentStatus.Retrying, Solana), (intent.Status, intent.SelectedChain));
        Assert.Equal(2, (await Router.Intents.ListAttemptsAsync(merchant, intent.Id)).Count);

        Clock.Advance(resentAfter);
        await MarkUnhealthyAsync(Router, Solana);
        intent = await Router.Intents.AdvanceAsync(intent.Id);
        Assert.Equal(Ethereum, intent.SelectedChain);
        Assert.Equal(Usdc(0m), (await BalancedBookAsync(Router, Solana)).Reserved);
    }

    [Fact]
    public async Task A_Node_Not_Finding_An_Included_Transaction_While_The_Other_Provider_Is_Down_Does_Not_Replace_It_And_Goes_To_Review_At_The_Finality_Timeout()
    {
        var (router, merchant, intent) = await IncludedNeverFinalAsync();
        Assert.Equal(PaymentIntentStatus.PendingConfirmation, (await router.Intents.AdvanceAsync(intent.Id)).Status);

        // The provider that sent it falls behind the chain and answers "not found"; the only other one is down, so nothing
        // says the transaction is gone: the lagging node's answer alone would replace a payment the chain has made.
        router.SolanaPrimary.MissReads(1_000);
        router.SolanaBackup.FailReads(1_000);
        for (var i = 0; i < 3; i++)
        {
            Clock.Advance(router.Options.DropTimeout);
            intent = await router.Intents.AdvanceAsync(intent.Id);
            Assert.Equal(PaymentIntentStatus.PendingConfirmation, intent.Status);
        }

        var sentAt = Assert.Single(await router.Intents.ListAttemptsAsync(merchant, intent.Id)).BroadcastAt!.Value;
        Clock.Advance(router.Options.FinalityTimeout - (Clock.GetCurrentInstant() - sentAt));
        intent = await router.Intents.AdvanceAsync(intent.Id);
        Assert.Equal(PaymentIntentStatus.ManualReview, intent.Status);
        Assert.NotNull(intent.Reservation);
        Assert.Equal(intent.Reservation.Held, (await BalancedBookAsync(router, Solana)).Reserved);
        Assert.Single(await router.Intents.ListAttemptsAsync(merchant, intent.Id));
        Assert.Equal(Usdc(10m), router.OnChain(Solana, "payee-solana", AssetRegistry.Usdc));
    }

    [Fact]
    public async Task A_Transaction_No_Provider_Can_Be_Asked_About_Until_The_Finality_Timeout_Goes_To_Manual_Review_Keeping_Its_Hold()
    {
        var (merchant, intent) = await BroadcastHeldAsync();

        // Every RPC provider of the chain stops answering: nothing is known, so nothing changes until the finality timeout.
        Router.CutOffSolanaReads();
        Clock.Advance(Router.Options.FinalityTimeout - Duration.FromSeconds(1));
        AssertUnchanged(intent, await Router.Intents.AdvanceAsync(intent.Id));
        Clock.Advance(Duration.FromSeconds(1));
        intent = await Router.Intents.AdvanceAsync(intent.Id);

        Assert.Equal(PaymentIntentStatus.ManualReview, intent.Status);
        Assert.Contains("no RPC provider", intent.LastError, StringComparison.Ordinal);
        Assert.NotNull(intent.Reservation);
        Assert.Equal(intent.Reservation.Held, (await BalancedBookAsync(Router, Solana)).Reserved);
        Assert.Single(await Router.Intents.ListAttemptsAsync(merchant, intent.Id));
    }

    [Fact]
    public async Task A_Transaction_Still_Pending_Past_The_Finality_Timeout_Goes_To_Manual_Review_Keeping_Its_Hold()
    {
        var (merchant, intent) = await BroadcastHeldAsync();

        Clock.Advance(Router.Options.FinalityTimeout - Duration.FromSeconds(1));
        Assert.Equal(PaymentIntentStatus.Broadcasted, (await Router.Intents.AdvanceAsync(intent.Id)).Status);
        Clock.Advance(Duration.FromSeconds(1));
        intent = await Router.Intents.AdvanceAsync(intent.Id);

        Assert.Equal(PaymentIntentStatus.ManualReview, intent.Status);
        Assert.Contains("still pending", intent.LastError, StringComparison.Ordinal);
        Assert.NotNull(intent.Reservation);
        Assert.Null(intent.DueAt);
        Assert.Equal(intent.Reservation.Held, (await BalancedBookAsync(Router, Solana)).Reserved);
        Assert.Single(await Router.Intents.ListAttemptsAsync(merchant, intent.Id));

        // It is included after all: the operator settles from it.
        await Router.SolanaPrimary.ReleaseHeldAsync();
        Clock.Advance(Duration.FromSeconds(5));
        intent = await Router.Intents.ResolveManualReviewAsync(intent.Id, ManualReviewResolution.Settle);
        Assert.Equal(PaymentIntentStatus.Settled, intent.Status);
        Assert.Equal(Usdc(10m), Router.OnChain(Solana, "payee-solana", AssetRegistry.Usdc));
        Assert.Equal(Usdc(10m), (await BalancedBookAsync(Router, Solana)).Spent);
    }

    [Fact]
    public async Task An_Operator_Retry_Of_A_Transaction_Still_Pending_Resends_It_So_The_Payment_Is_Made_Once()
    {
        var (merchant, intent) = await HeldInManualReviewAsync();

        intent = await Router.Intents.ResolveManualReviewAsync(intent.Id, ManualReviewResolution.Retry);
        intent = await Router.Intents.AdvanceAsync(intent.Id);
        Assert.Equal(PaymentIntentStatus.Broadcasted, intent.Status);

        // The first broadcast is included after all.
        await Router.SolanaPrimary.ReleaseHeldAsync();
        intent = await Router.RunToEndAsync(intent);
        Clock.Advance(Duration.FromSeconds(10));

        Assert.Equal(Usdc(10m), Router.OnChain(Solana, "payee-solana", AssetRegistry.Usdc));
        Assert.Equal(PaymentIntentStatus.Settled, intent.Status);
        var attempts = await Router.Intents.ListAttemptsAsync(merchant, intent.Id);
        Assert.Equal(2, attempts.Count);
        Assert.Equal(attempts[0].SignedTransaction, attempts[1].SignedTransaction);
        Assert.Equal(Usdc(10m), (await BalancedBookAsync(Router, Solana)).Spent);
    }

    [Fact]
    public async Task An_Operator_Cannot_Fail_An_Intent_Whose_Transaction_The_Chain_Still_Has()
    {
        var (merchant, intent) = await HeldInManualReviewAsync();

        // Failing releases the hold as if nothing moved; a pending transaction may still move the money.
        var refused = await FailsAsync(
            PaymentsKitErrorCodes.InvalidArgument, () => Router.Intents.ResolveManualReviewAsync(intent.Id, ManualReviewResolution.Fail).AsTask());
        Assert.Contains("pending", refused.Message, StringComparison.Ordinal);
        Assert.Equal(PaymentIntentStatus.ManualReview, (await Router.Intents.GetAsync(merchant, intent.Id)).Status);
        Assert.Equal(intent.Reservation!.Held, (await BalancedBookAsync(Router, Solana)).Reserved);

        // Included (not yet final): still refused.
        await Router.SolanaPrimary.ReleaseHeldAsync();
        Clock.Advance(Duration.FromSeconds(1));
        await FailsAsync(PaymentsKitErrorCodes.InvalidArgument, () => Router.Intents.ResolveManualReviewAsync(intent.Id, ManualReviewResolution.Fail).AsTask());
        Clock.Advance(Duration.FromSeconds(5));
        Assert.Equal(PaymentIntentStatus.Settled, (await Router.Intents.ResolveManualReviewAsync(intent.Id, ManualReviewResolution.Settle)).Status);
        Assert.Equal(Usdc(10m), (await BalancedBookAsync(Router, Solana)).Spent);
    }

    [Fact]
    public async Task An_Operator_Cannot_Fail_An_Intent_On_A_Lagging_Nodes_Not_Found_Within_The_Drop_Timeout_Of_Its_Last_Sighting()
    {
        var (merchant, intent) = await HeldInManualReviewAsync();

        // Seen pending when it went to review; a lagging node now answers not found: the chain may still have it.
        Clock.Advance(Router.Options.DropTimeout - Duration.FromSeconds(1));
        Router.SolanaPrimary.MissReads(1);
        var refused = await FailsAsync(
            PaymentsKitErrorCodes.InvalidArgument, () => Router.Intents.ResolveManualReviewAsync(intent.Id, ManualReviewResolution.Fail).AsTask());
        Assert.Contains("last seen", refused.Message, StringComparison.Ordinal);
        Assert.Equal(PaymentIntentStatus.ManualReview, (await Router.Intents.GetAsync(merchant, intent.Id)).Status);
        Assert.Equal(intent.Reservation!.Held, (await BalancedBookAsync(Router, Solana)).Reserved);

        // Unknown for the whole drop timeout since the chain last knew it: taken for dropped, the operator may fail it.
        Clock.Advance(Duration.FromSeconds(1));
        Router.SolanaPrimary.MissReads(1);
        var failed = await Router.Intents.ResolveManualReviewAsync(intent.Id, ManualReviewResolution.Fail);
        Assert.Equal(PaymentIntentStatus.Failed, failed.Status);
        Assert.Equal(Usdc(0m), (await BalancedBookAsync(Router, Solana)).Reserved);
    }

    [Fact]
    public async Task An_Operator_Cannot_Fail_An_Intent_While_No_Node_Of_Its_Chain_Answers()
    {
        var (merchant, intent) = await HeldInManualReviewAsync();

        // Every provider errors: the chain cannot say its pending transaction is gone, however long since it was seen.
        Clock.Advance(Router.Options.DropTimeout);
        Router.CutOffSolanaReads(1);
        var refused = await FailsAsync(
            PaymentsKitErrorCodes.ChainUnavailable, () => Router.Intents.ResolveManualReviewAsync(intent.Id, ManualReviewResolution.Fail).AsTask());
        Assert.True(refused.IsTransient);
        Assert.Contains(intent.Id.ToString(), refused.Message, StringComparison.Ordinal);
        Assert.Equal(PaymentIntentStatus.ManualReview, (await Router.Intents.GetAsync(merchant, intent.Id)).Status);
        Assert.Equal(intent.Reservation!.Held, (await BalancedBookAsync(Router, Solana)).Reserved);

        // It was still there, and lands: the kept hold pays it.
        await Router.SolanaPrimary.ReleaseHeldAsync();
        Clock.Advance(Duration.FromSeconds(6));
        Assert.Equal(PaymentIntentStatus.Settled, (await Router.Intents.ResolveManualReviewAsync(intent.Id, ManualReviewResolution.Settle)).Status);
        Assert.Equal(Usdc(10m), Router.OnChain(Solana, "payee-solana", AssetRegistry.Usdc));
        Assert.Equal(Usdc(10m), (await BalancedBookAsync(Router, Solana)).Spent);
    }

    [Fact]
    public async Task An_Operator_Failing_An_Intent_Whose_Transaction_Reverted_While_The_Chain_Could_Not_Be_Asked_Books_The_Fee_It_Paid()
    {
        var merchant = await Router.MerchantAsync();
        var intent = await Router.Intents.SelectRouteAsync(merchant, (await Router.IntentAsync(merchant, 10m, Ethereum)).Id);
        Router.EthereumChain.FailNextBroadcast();
        intent = await Router.Intents.AdvanceAsync(intent.Id);
        Assert.Equal(PaymentIntentStatus.Broadcasted, intent.Status);

        // No provider answers until the finality timeout; meanwhile the transaction reverted on chain, paying its fee.
        Clock.Advance(Router.Options.FinalityTimeout);
        Router.EthereumPrimary.FailReads(1);
        Router.EthereumBackup.FailReads(1);
        intent = await Router.Intents.AdvanceAsync(intent.Id);
        Assert.Equal(PaymentIntentStatus.ManualReview, intent.Status);

        intent = await Router.Intents.ResolveManualReviewAsync(intent.Id, ManualReviewResolution.Fail);

        Assert.Equal(PaymentIntentStatus.Failed, intent.Status);
        Assert.Equal(Usdc(0.02m), intent.ActualFee);
        var book = await BalancedBookAsync(Router, Ethereum);
        Assert.Equal(Usdc(0m), book.Reserved);
        Assert.Equal(Usdc(0m), book.Spent);
        Assert.Equal(Usdc(0.02m), book.Fees);
        Assert.Equal(Usdc(999.98m), book.Available);
        var attempt = Assert.Single(await Router.Intents.ListAttemptsAsync(merchant, intent.Id));
        Assert.Equal(AttemptFailure.Reverted, attempt.Failure);
        Assert.Equal(Money.Of(0.00001m, AssetRegistry.Eth), attempt.ActualFeeNative);
    }

    [Fact]
    public async Task An_Operator_Who_Verified_Off_Chain_Can_Fail_An_Intent_Whose_Chain_Cannot_Be_Asked_Releasing_Its_Hold()
    {
        var (_, intent) = await HeldInManualReviewAsync();

        // The chain stays unreachable: Fail is refused for as long as it does, so the hold would be locked for good.
        Router.CutOffSolanaReads();
        Clock.Advance(Router.Options.DropTimeout);
        await FailsAsync(PaymentsKitErrorCodes.ChainUnavailable, () => Router.Intents.ResolveManualReviewAsync(intent.Id, ManualReviewResolution.Fail).AsTask());

        // The operator checked elsewhere that nothing moved, and says so.
        var failed = await Router.Intents.ResolveManualReviewAsync(intent.Id, ManualReviewResolution.FailUnverified);

        Assert.Equal(PaymentIntentStatus.Failed, failed.Status);
        Assert.Null(failed.Reservation);
        Assert.Contains("without the chain", failed.LastError, StringComparison.Ordinal);
        var book = await BalancedBookAsync(Router, Solana);
        Assert.Equal(Usdc(0m), book.Reserved);
        Assert.Equal(Usdc(0m), book.Spent);
        Assert.Equal(Usdc(0m), Router.OnChain(Solana, "payee-solana", AssetRegistry.Usdc));
        await FailsAsync(PaymentsKitErrorCodes.InvalidTransition, () => Router.Intents.ResolveManualReviewAsync(intent.Id, ManualReviewResolution.FailUnverified).AsTask());
    }

    [Fact]
    public async Task An_Operator_Cannot_Fail_An_Intent_Whose_Broadcasts_Failed_Until_The_Drop_Timeout_After_The_Last_Send()
    {
        var (router, merchant, intent) = await RpcErrorsInManualReviewAsync();
        var sent = (await router.Intents.ListAttemptsAsync(merchant, intent.Id))[^1];
        Assert.Null(sent.BroadcastAt);

        // The failed RPC call may have delivered it, and a node not finding it yet may only lag behind the chain.
        Clock.Advance(sent.UpdatedAt + router.Options.DropTimeout - Duration.FromSeconds(1) - Clock.GetCurrentInstant());
        var refused = await FailsAsync(
            PaymentsKitErrorCodes.InvalidArgument, () => router.Intents.ResolveManualReviewAsync(intent.Id, ManualReviewResolution.Fail).AsTask());
        Assert.Contains("sent", refused.Message, StringComparison.Ordinal);
        Assert.Equal(PaymentIntentStatus.ManualReview, (await router.Intents.GetAsync(merchant, intent.Id)).Status);
        Assert.Equal(Usdc(10.03m), (await BalancedBookAsync(router, Ethereum)).Reserved);

        Clock.Advance(Duration.FromSeconds(1));
        var failed = await router.Intents.ResolveManualReviewAsync(intent.Id, ManualReviewResolution.Fail);
        Assert.Equal(PaymentIntentStatus.Failed, failed.Status);
        Assert.Equal(Usdc(0m), (await BalancedBookAsync(router, Ethereum)).Reserved);
    }

    [Fact]
    public async Task An_Operator_Cannot_Fail_An_Intent_Whose_Taken_Over_Broadcast_Failed_Until_The_Drop_Timeout_After_That_Send()
    {
        var router = await NewRouterAsync(configure: o =>
        {
            o.MaxAttempts = 1;
            o.BroadcastTimeout = o.DropTimeout;
        });
        var merchant = await router.MerchantAsync();
        var intent = await router.Intents.SelectRouteAsync(merchant, (await router.IntentAsync(merchant, 10m, Ethereum)).Id);

        // The worker dies inside the broadcast; the one taking it over a broadcast timeout later gets an RPC error.
        router.EthereumPrimary.CrashBroadcasts(1);
        await Assert.ThrowsAsync<InvalidOperationException>(() => router.Intents.AdvanceAsync(intent.Id).AsTask());
        Clock.Advance(router.Options.BroadcastTimeout);
        router.EthereumChain.FailNextRpcCalls(1);
        intent = await router.RunToEndAsync(await router.Intents.GetAsync(merchant, intent.Id));
        Assert.Equal(PaymentIntentStatus.ManualReview, intent.Status);

        // A drop timeout after the attempt was made, but not after the send that failed.
        var sent = Assert.Single(await router.Intents.ListAttemptsAsync(merchant, intent.Id));
        Assert.Equal(AttemptFailure.RpcError, sent.Failure);
        Clock.Advance(sent.UpdatedAt + router.Options.DropTimeout - Duration.FromSeconds(1) - Clock.GetCurrentInstant());
        Assert.True(Clock.GetCurrentInstant() - sent.CreatedAt >= router.Options.DropTimeout);
        await FailsAsync(PaymentsKitErrorCodes.InvalidArgument, () => router.Intents.ResolveManualReviewAsync(intent.Id, ManualReviewResolution.Fail).AsTask());
        Assert.Equal(Usdc(10.03m), (await BalancedBookAsync(router, Ethereum)).Reserved);

        Clock.Advance(Duration.FromSeconds(1));
        Assert.Equal(PaymentIntentStatus.Failed, (await router.Intents.ResolveManualReviewAsync(intent.Id, ManualReviewResolution.Fail)).Status);
        Assert.Equal(Usdc(0m), (await BalancedBookAsync(router, Ethereum)).Reserved);
    }

    [Fact]
    public async Task An_Operator_Retry_After_A_Taken_Over_Resend_Was_Rejected_Waits_The_Drop_Timeout_After_That_Resend_So_The_Payment_Is_Made_Once()
    {
        var (router, _, merchant, intent) = await TakenOverResendRejectedAsync();
        var refused = Assert.Single(await router.Intents.ListAttemptsAsync(merchant, intent.Id));

        // The attempt is a drop timeout old, but the refused resend is a send: a new transaction is signed only once the
        // chain has not known the refused one for the drop timeout after it, as after a drop.
        intent = await router.Intents.ResolveManualReviewAsync(intent.Id, ManualReviewResolution.Retry);
        intent = await router.Intents.AdvanceAsync(intent.Id);
        Assert.Equal((PaymentIntentStatus.Retrying, 1, refused.UpdatedAt + router.Options.DropTimeout), (intent.Status, intent.AttemptIds.Count, intent.NextAttemptAt));

        // Meanwhile the node the dead worker reached relays its transaction: the retry finds it and follows it.
        await router.SolanaChain.BroadcastAsync(new SignedTransaction(Solana, Convert.FromBase64String(refused.SignedTransaction), refused.TxId));
        Clock.Advance(router.Options.DropTimeout);
        intent = await router.RunToEndAsync(intent);

        Assert.Equal(PaymentIntentStatus.Settled, intent.Status);
        Assert.All(await router.Intents.ListAttemptsAsync(merchant, intent.Id), a => Assert.Equal(refused.TxId, a.TxId));
        Assert.Equal(Usdc(10m), router.OnChain(Solana, "payee-solana", AssetRegistry.Usdc));
        var book = await BalancedBookAsync(router, Solana);
        Assert.Equal((Usdc(10m), Usdc(0m)), (book.Spent, book.Reserved));
    }

    [Fact]
    public async Task An_Operator_Cannot_Fail_An_Intent_Whose_Hashless_Taken_Over_Resend_Was_Rejected_Until_The_Drop_Timeout_After_That_Resend()
    {
        // Neither the signer nor the adapter can tell the hash: the chain cannot be asked whether the dead worker's send landed.
        var (router, intents, merchant, intent) = await TakenOverResendRejectedAsync(hashless: true);
        var refused = Assert.Single(await intents.ListAttemptsAsync(merchant, intent.Id));
        Assert.Null(refused.TxId);

        await FailsAsync(PaymentsKitErrorCodes.InvalidArgument, () => intents.ResolveManualReviewAsync(intent.Id, ManualReviewResolution.Fail).AsTask());
        Clock.Advance(refused.UpdatedAt + router.Options.DropTimeout - Duration.FromSeconds(1) - Clock.GetCurrentInstant());
        var notYet = await FailsAsync(
            PaymentsKitErrorCodes.InvalidArgument, () => intents.ResolveManualReviewAsync(intent.Id, ManualReviewResolution.Fail).AsTask());
        Assert.Contains("may still move the money", notYet.Message, StringComparison.Ordinal);
        Assert.True((await BalancedBookAsync(router, Solana)).Reserved > Usdc(10m));

        Clock.Advance(Duration.FromSeconds(1));
        Assert.Equal(PaymentIntentStatus.Failed, (await intents.ResolveManualReviewAsync(intent.Id, ManualReviewResolution.Fail)).Status);
        Assert.Equal(Usdc(0m), (await BalancedBookAsync(router, Solana)).Reserved);
    }

    [Fact]
    public async Task A_Broadcast_Whose_Rpc_Call_Failed_Records_The_Hash_Its_Signed_Bytes_Determine_So_Fail_Is_Refused_While_It_Lands()
    {
        // The host's signer gives no hash; the chain's adapter tells it from the signed bytes before anything is sent.
        var router = await NewRouterAsync(configure: o => o.MaxAttempts = 1);
        var intents = WithSigner(router, new HashlessSigner(router.Signer));
        var merchant = await router.MerchantAsync();
        var intent = await intents.SelectRouteAsync(merchant, (await router.IntentAsync(merchant, 10m, Ethereum)).Id);

        // The node took the transaction, then the RPC call timed out.
        router.EthereumPrimary.DeliverThenFailBroadcasts(1);
        intent = await intents.AdvanceAsync(intent.Id);
        Assert.Equal(PaymentIntentStatus.Retrying, intent.Status);
        var sent = Assert.Single(await intents.ListAttemptsAsync(merchant, intent.Id));
        Assert.Equal(AttemptFailure.RpcError, sent.Failure);
        Assert.Equal(SimulatedTransferPayload.Hash(Convert.FromBase64String(sent.SignedTransaction)), sent.TxId);

        Clock.Advance(router.Options.RetryMaxDelay);
        intent = await intents.AdvanceAsync(intent.Id);
        Assert.Equal(PaymentIntentStatus.ManualReview, intent.Status);

        // Long after the failed send, the chain has it: failing would release the hold of a payment made.
        Clock.Advance(router.Options.DropTimeout);
        var refused = await FailsAsync(
            PaymentsKitErrorCodes.InvalidArgument, () => intents.ResolveManualReviewAsync(intent.Id, ManualReviewResolution.Fail).AsTask());
        Assert.Contains(sent.TxId!, refused.Message, StringComparison.Ordinal);
        Assert.Equal(PaymentIntentStatus.Settled, (await intents.ResolveManualReviewAsync(intent.Id, ManualReviewResolution.Settle)).Status);
        Assert.Equal(Usdc(10m), router.OnChain(Ethereum, "payee-ethereum", AssetRegistry.Usdc));
        Assert.Equal(Usdc(10m), (await BalancedBookAsync(router, Ethereum)).Spent);
    }

    [Fact]
    public async Task An_Operator_Cannot_Fail_An_Intent_Whose_Hashless_Broadcast_Failed_Until_The_Drop_Timeout_After_That_Send()
    {
        // Neither the signer nor the adapter can tell the hash: the chain cannot be asked about the transaction at all.
        var router = await NewRouterAsync(configure: o => o.MaxAttempts = 1);
        router.EthereumPrimary.HidesHashes = true;
        router.EthereumBackup.HidesHashes = true;
        var intents = WithSigner(router, new HashlessSigner(router.Signer));
        var merchant = await router.MerchantAsync();
        var intent = await intents.SelectRouteAsync(merchant, (await router.IntentAsync(merchant, 10m, Ethereum)).Id);
        router.EthereumPrimary.FailBroadcasts(1);
        intent = await intents.AdvanceAsync(intent.Id);
        Clock.Advance(router.Options.RetryMaxDelay);
        intent = await intents.AdvanceAsync(intent.Id);
        Assert.Equal(PaymentIntentStatus.ManualReview, intent.Status);
        var sent = Assert.Single(await intents.ListAttemptsAsync(merchant, intent.Id));
        Assert.Equal(AttemptFailure.RpcError, sent.Failure);
        Assert.Null(sent.TxId);

        // The failed call may have delivered it; only time since that send can tell a lagging delivery from none.
        Clock.Advance(sent.UpdatedAt + router.Options.DropTimeout - Duration.FromSeconds(1) - Clock.GetCurrentInstant());
        var refused = await FailsAsync(
            PaymentsKitErrorCodes.InvalidArgument, () => intents.ResolveManualReviewAsync(intent.Id, ManualReviewResolution.Fail).AsTask());
        Assert.Contains("may still move the money", refused.Message, StringComparison.Ordinal);
        Assert.Equal(PaymentIntentStatus.ManualReview, (await intents.GetAsync(merchant, intent.Id)).Status);
        Assert.Equal(Usdc(10.03m), (await BalancedBookAsync(router, Ethereum)).Reserved);

        Clock.Advance(Duration.FromSeconds(1));
        Assert.Equal(PaymentIntentStatus.Failed, (await intents.ResolveManualReviewAsync(intent.Id, ManualReviewResolution.Fail)).Status);
        Assert.Equal(Usdc(0m), (await BalancedBookAsync(router, Ethereum)).Reserved);
    }

    [Fact]
    public async Task An_Operator_Retry_Of_A_Transaction_Included_But_Not_Final_Resends_It_So_The_Payment_Is_Made_Once()
    {
        var (router, merchant, intent) = await IncludedNeverFinalAsync();
        intent = await router.Intents.AdvanceAsync(intent.Id);
        Clock.Advance(router.Options.FinalityTimeout);
        intent = await router.Intents.AdvanceAsync(intent.Id);
        Assert.Equal(PaymentIntentStatus.ManualReview, intent.Status);

        intent = await router.Intents.ResolveManualReviewAsync(intent.Id, ManualReviewResolution.Retry);
        intent = await router.Intents.AdvanceAsync(intent.Id);
        Clock.Advance(Duration.FromSeconds(10));

        Assert.Equal(Usdc(10m), router.OnChain(Solana, "payee-solana", AssetRegistry.Usdc));
        Assert.Equal(PaymentIntentStatus.Broadcasted, intent.Status);
        var attempts = await router.Intents.ListAttemptsAsync(merchant, intent.Id);
        Assert.Equal(attempts[0].SignedTransaction, attempts[^1].SignedTransaction);
    }

    [Fact]
    public async Task A_Rejected_Transaction_Fails_The_Intent_And_Releases_Everything()
    {
        var merchant = await Router.MerchantAsync();
        var intent = await Router.Intents.SelectRouteAsync(merchant, (await Router.IntentAsync(merchant, 10m, Solana)).Id);

        // Its first send: nothing of it was ever sent before, so the rejection proves nothing moved.
        Router.SolanaPrimary.RejectBroadcasts(1);
        intent = await Router.Intents.AdvanceAsync(intent.Id);

        Assert.Equal(PaymentIntentStatus.Failed, intent.Status);
        Assert.StartsWith("rejected", intent.LastError, StringComparison.Ordinal);
        var book = await BalancedBookAsync(Router, Solana);
        Assert.Equal(Usdc(0m), book.Reserved);
        Assert.Equal(Usdc(0m), book.Fees);
        Assert.Equal(Usdc(1000m), book.Available);
        Assert.Equal(AttemptFailure.Rejected, (await Router.Intents.ListAttemptsAsync(merchant, intent.Id))[^1].Failure);
    }

    [Fact]
    public async Task A_Resent_Transaction_Rejected_After_An_Earlier_Send_Reached_The_Chain_Is_Followed_To_Settlement_So_The_Hold_Is_Not_Released()
    {
        var merchant = await Router.MerchantAsync();
        var intent = await Router.Intents.SelectRouteAsync(merchant, (await Router.IntentAsync(merchant, 10m, Solana)).Id);

        // The node took the transaction, then the RPC call timed out; the resend is refused (a Solana node answers
        // "Blockhash not found" once the landed transaction's blockhash expired).
        Router.SolanaPrimary.DeliverThenFailBroadcasts(1);
        intent = await Router.Intents.AdvanceAsync(intent.Id);
        Assert.Equal(PaymentIntentStatus.Retrying, intent.Status);
        Clock.Advance(Duration.FromSeconds(2));
        Router.SolanaBackup.RejectBroadcasts(1);
        intent = await Router.Intents.AdvanceAsync(intent.Id);

        Assert.Equal(PaymentIntentStatus.Broadcasted, intent.Status);
        Assert.True((await BalancedBookAsync(Router, Solana)).Reserved > Usdc(10m));
        intent = await Router.RunToEndAsync(intent);
        Assert.Equal(PaymentIntentStatus.Settled, intent.Status);
        Assert.Equal(Usdc(10m), Router.OnChain(Solana, "payee-solana", AssetRegistry.Usdc));
        var book = await BalancedBookAsync(Router, Solana);
        Assert.Equal(Usdc(10m), book.Spent);
        Assert.Equal(Usdc(0m), book.Reserved);
        var attempts = await Router.Intents.ListAttemptsAsync(merchant, intent.Id);
        Assert.Equal(2, attempts.Count);
        Assert.Equal(attempts[0].TxId, attempts[1].TxId);
        Assert.Equal(PaymentAttemptStatus.Confirmed, attempts[1].Status);
        Assert.DoesNotContain(await Router.EventsAsync(merchant, intent.Id), e => e.EventType == "payment_intent.failed");
    }

    /// <summary>
    /// A 10 USDC intent on Solana whose first send failed at the RPC and whose resend, two seconds later, the backup provider
    /// rejected while the chain does not know the transaction: the failed first call may still have delivered it to a node
    /// the chain has not heard from yet.
    /// </summary>
    private async Task<(MerchantId Merchant, PaymentIntent Intent)> ResentAfterAnRpcErrorAndRejectedAsync()
    {
        var merchant = await Router.MerchantAsync();
        var intent = await Router.Intents.SelectRouteAsync(merchant, (await Router.IntentAsync(merchant, 10m, Solana)).Id);
        Router.SolanaChain.FailNextRpcCalls(1);
        intent = await Router.Intents.AdvanceAsync(intent.Id);
        Clock.Advance(Duration.FromSeconds(2));
        Router.SolanaBackup.RejectBroadcasts(1);
        return (merchant, await Router.Intents.AdvanceAsync(intent.Id));
    }

    [Fact]
    public async Task A_Resent_Transaction_Rejected_While_An_Earlier_Send_May_Have_Reached_The_Chain_Goes_To_Manual_Review_Keeping_Its_Hold()
    {
        var (merchant, intent) = await ResentAfterAnRpcErrorAndRejectedAsync();

        Assert.Equal(PaymentIntentStatus.ManualReview, intent.Status);
        Assert.StartsWith("rejected", intent.LastError, StringComparison.Ordinal);
        Assert.NotNull(intent.Reservation);
        Assert.True((await BalancedBookAsync(Router, Solana)).Reserved > Usdc(10m));
        Assert.Equal(AttemptFailure.Rejected, (await Router.Intents.ListAttemptsAsync(merchant, intent.Id))[^1].Failure);

        // The operator's Fail asks the chain as usual: once unknown for the drop timeout after the last send — the refused
        // resend, not the first send that failed — it releases the hold.
        Clock.Advance(Router.Options.DropTimeout - Duration.FromSeconds(1));
        await FailsAsync(PaymentsKitErrorCodes.InvalidArgument, () => Router.Intents.ResolveManualReviewAsync(intent.Id, ManualReviewResolution.Fail).AsTask());
        Clock.Advance(Duration.FromSeconds(1));
        Assert.Equal(PaymentIntentStatus.Failed, (await Router.Intents.ResolveManualReviewAsync(intent.Id, ManualReviewResolution.Fail)).Status);
        Assert.Equal(Usdc(0m), (await BalancedBookAsync(Router, Solana)).Reserved);
    }

    [Fact]
    public async Task An_Operator_Retry_After_A_Rejected_Resend_Signs_A_New_Transaction_Once_The_Refused_One_Is_Known_Nowhere()
    {
        var (merchant, intent) = await ResentAfterAnRpcErrorAndRejectedAsync();
        Assert.Equal(PaymentIntentStatus.ManualReview, intent.Status);
        var refused = (await Router.Intents.ListAttemptsAsync(merchant, intent.Id))[^1];

        // The chain refused that transaction, so sending it again is refused again; the operator's Retry waits until the
        // chain has not known it for the drop timeout, as a drop does, rather than resend it or pay with a second one early.
        intent = await Router.Intents.ResolveManualReviewAsync(intent.Id, ManualReviewResolution.Retry);
        intent = await Router.Intents.AdvanceAsync(intent.Id);
        Assert.Equal((PaymentIntentStatus.Retrying, 2), (intent.Status, intent.AttemptIds.Count));
        Assert.True(intent.NextAttemptAt > Clock.GetCurrentInstant());

        Clock.Advance(Router.Options.DropTimeout);
        intent = await Router.Intents.AdvanceAsync(intent.Id);

        Assert.Equal(PaymentIntentStatus.Broadcasted, intent.Status);
        var fresh = (await Router.Intents.ListAttemptsAsync(merchant, intent.Id))[^1];
        Assert.Equal(3, intent.AttemptIds.Count);
        Assert.NotEqual(refused.SignedTransaction, fresh.SignedTransaction);
        Assert.NotEqual(refused.TxId, fresh.TxId);
        intent = await Router.RunToEndAsync(intent);
        Assert.Equal(PaymentIntentStatus.Settled, intent.Status);
        Assert.Equal(Usdc(10m), Router.OnChain(Solana, "payee-solana", AssetRegistry.Usdc));
        var book = await BalancedBookAsync(Router, Solana);
        Assert.Equal((Usdc(10m), Usdc(0m)), (book.Spent, book.Reserved));
    }

    [Fact]
    public async Task A_Reverted_Transaction_Fails_The_Intent_Charging_Only_The_Fee()
    {
        var merchant = await Router.MerchantAsync();
        var intent = await Router.Intents.SelectRouteAsync(merchant, (await Router.IntentAsync(merchant, 10m, Ethereum)).Id);
        Router.EthereumChain.FailNextBroadcast();

        intent = await Router.RunToEndAsync(intent);

        Assert.Equal(PaymentIntentStatus.Failed, intent.Status);
        Assert.Equal(Usdc(0.02m), intent.ActualFee);
        var book = await BalancedBookAsync(Router, Ethereum);
        Assert.Equal(Usdc(0m), book.Spent);
        Assert.Equal(Usdc(0.02m), book.Fees);
        Assert.Equal(Usdc(999.98m), book.Available);
        Assert.Equal(Usdc(0m), Router.OnChain(Ethereum, "payee-ethereum", AssetRegistry.Usdc));
        var attempt = Assert.Single(await Router.Intents.ListAttemptsAsync(merchant, intent.Id));
        Assert.Equal(AttemptFailure.Reverted, attempt.Failure);
        Assert.Equal(Money.Of(0.00001m, AssetRegistry.Eth), attempt.ActualFeeNative);
    }

    [Fact]
    public async Task When_The_Chain_Turns_Unhealthy_A_Retry_Moves_To_The_Next_Best_Chain()
    {
        var (merchant, intent) = await SelectedOnSolanaAsync();

        Router.SolanaChain.FailNextRpcCalls(1);
        var sentAt = Clock.GetCurrentInstant();
        intent = await Router.Intents.AdvanceAsync(intent.Id);
        Assert.Equal(PaymentIntentStatus.Retrying, intent.Status);
        await MarkUnhealthyAsync(Router, Solana);
        Clock.Advance(Duration.FromSeconds(2));

        // Unknown to Solana, but only just sent: it may still get there, so the retry waits until the drop timeout.
        intent = await Router.Intents.AdvanceAsync(intent.Id);
        Assert.Equal((PaymentIntentStatus.Retrying, sentAt + Router.Options.DropTimeout), (intent.Status, intent.NextAttemptAt));
        Assert.Single(intent.AttemptIds);
        Clock.Advance(Router.Options.DropTimeout);

        intent = await Router.Intents.AdvanceAsync(intent.Id);
        Assert.Equal(PaymentIntentStatus.RouteSelected, intent.Status);
        Assert.Equal(Ethereum, intent.SelectedChain);
        Assert.Equal("payee-ethereum", intent.DestinationAddress);
        Assert.Contains("re-routed to ethereum", intent.LastError, StringComparison.Ordinal);
        Assert.Equal(Usdc(0m), (await BalancedBookAsync(Router, Solana)).Reserved);
        Assert.Equal(Usdc(10.03m), (await BalancedBookAsync(Router, Ethereum)).Reserved);

        intent = await Router.RunToEndAsync(intent);
        Assert.Equal(PaymentIntentStatus.Settled, intent.Status);
        Assert.Equal(Usdc(10m), Router.OnChain(Ethereum, "payee-ethereum", AssetRegistry.Usdc));
        Assert.Equal(Usdc(0m), Router.OnChain(Solana, "payee-solana", AssetRegistry.Usdc));
        Assert.Equal(Usdc(1000m), (await BalancedBookAsync(Router, Solana)).Available);
        var attempts = await Router.Intents.ListAttemptsAsync(merchant, intent.Id);
        Assert.Equal([Solana, Ethereum], attempts.Select(a => a.Chain));
    }

    [Fact]
    public async Task A_Transaction_Unknown_Only_Briefly_After_An_Rpc_Error_Is_Not_Left_For_Another_Chain_So_The_Payment_Is_Made_Once()
    {
        var (merchant, intent) = await SelectedOnSolanaAsync();

        // The broadcast's RPC call fails and, two seconds later, no node knows the transaction yet; Solana turns unhealthy.
        Router.SolanaChain.FailNextRpcCalls(1);
        intent = await Router.Intents.AdvanceAsync(intent.Id);
        await MarkUnhealthyAsync(Router, Solana);
        Clock.Advance(Duration.FromSeconds(2));
        intent = await Router.Intents.AdvanceAsync(intent.Id);

        // Then the transaction reaches Solana after all (the node that timed out had it and relays it).
        var sent = Assert.Single(await Router.Intents.ListAttemptsAsync(merchant, intent.Id));
        await Router.SolanaChain.BroadcastAsync(new SignedTransaction(Solana, Convert.FromBase64String(sent.SignedTransaction), sent.TxId));
        intent = await Router.RunToEndAsync(intent);
        Clock.Advance(Duration.FromMinutes(1));

        Assert.Equal(
            Usdc(10m),
            Router.OnChain(Solana, "payee-solana", AssetRegistry.Usdc) + Router.OnChain(Ethereum, "payee-ethereum", AssetRegistry.Usdc));
        Assert.Equal((PaymentIntentStatus.Settled, Solana), (intent.Status, intent.SelectedChain));
        Assert.Equal(Usdc(10m), (await BalancedBookAsync(Router, Solana)).Spent);
        Assert.Equal(Usdc(0m), (await BalancedBookAsync(Router, Ethereum)).Spent);
    }

    [Fact]
    public async Task An_Intent_Re_Routed_After_A_Broadcast_Cannot_Be_Cancelled()
    {
        var merchant = await Router.MerchantAsync();
        var intent = await Router.Intents.SelectRouteAsync(merchant, (await Router.IntentAsync(merchant, 10m)).Id);
        Router.SolanaChain.FailNextRpcCalls(1);
        intent = await Router.Intents.AdvanceAsync(intent.Id);
        await MarkUnhealthyAsync(Router, Solana);
        Clock.Advance(Router.Options.DropTimeout);
        intent = await Router.Intents.AdvanceAsync(intent.Id);
        Assert.Equal((PaymentIntentStatus.RouteSelected, Ethereum), (intent.Status, intent.SelectedChain));

        // Its Solana transaction went out: were it to land after all, only manual review could book it, so the intent
        // must end settled or failed, never cancelled with its hold released.
        await FailsAsync(PaymentsKitErrorCodes.InvalidTransition, () => Router.Intents.CancelAsync(merchant, intent.Id).AsTask());

        var after = await Router.Intents.GetAsync(merchant, intent.Id);
        Assert.Equal(PaymentIntentStatus.RouteSelected, after.Status);
        Assert.Equal(Usdc(10.03m), (await BalancedBookAsync(Router, Ethereum)).Reserved);
        Assert.Equal(PaymentIntentStatus.Settled, (await Router.RunToEndAsync(after)).Status);
    }

    [Fact]
    public async Task After_The_Retry_Budget_An_Intent_Waits_In_Manual_Review_Holding_Its_Reservation()
    {
        var router = await NewRouterAsync(configure: o => o.MaxAttempts = 2);
        var merchant = await router.MerchantAsync();
        var intent = await router.Intents.SelectRouteAsync(merchant, (await router.IntentAsync(merchant, 10m, Ethereum)).Id);

        router.EthereumChain.FailNextRpcCalls(1);
        router.EthereumBackup.FailBroadcasts(1);
        intent = await router.RunToEndAsync(intent);

        Assert.Equal(PaymentIntentStatus.ManualReview, intent.Status);
        Assert.Contains("retry budget of 2", intent.LastError, StringComparison.Ordinal);
        Assert.Equal(Usdc(10.03m), (await BalancedBookAsync(router, Ethereum)).Reserved);
        AssertUnchanged(intent, await router.Intents.AdvanceAsync(intent.Id));
        await AssertEveryIntentAccountedAsync(router, [intent]);
        await FailsAsync(PaymentsKitErrorCodes.InvalidTransition, () => router.Intents.CancelAsync(merchant, intent.Id).AsTask());
        await FailsAsync(PaymentsKitErrorCodes.InvalidArgument, () => router.Intents.ResolveManualReviewAsync(intent.Id, ManualReviewResolution.Settle).AsTask());

        var retried = await router.Intents.ResolveManualReviewAsync(intent.Id, ManualReviewResolution.Retry);
        Assert.Equal(PaymentIntentStatus.Retrying, retried.Status);
        Assert.Equal(PaymentIntentStatus.Settled, (await router.RunToEndAsync(retried)).Status);
        await FailsAsync(PaymentsKitErrorCodes.InvalidTransition, () => router.Intents.ResolveManualReviewAsync(intent.Id, ManualReviewResolution.Fail).AsTask());

        var second = await router.Intents.SelectRouteAsync(merchant, (await router.IntentAsync(merchant, 5m, Ethereum)).Id);
        router.EthereumChain.FailNextRpcCalls(1);
        router.EthereumBackup.FailBroadcasts(1);
        second = await router.RunToEndAsync(second);

        // Its failed broadcasts may have delivered the transaction: failing waits until the chain has not known it for the drop timeout.
        Clock.Advance(router.Options.DropTimeout);
        var failed = await router.Intents.ResolveManualReviewAsync(second.Id, ManualReviewResolution.Fail);
        Assert.Equal(PaymentIntentStatus.Failed, failed.Status);
        var book = await BalancedBookAsync(router, Ethereum);
        Assert.Equal(Usdc(0m), book.Reserved);
        Assert.Equal(Usdc(10m), book.Spent);
    }

    [Fact]
    public async Task An_Operator_Can_Settle_A_Reviewed_Intent_Whose_Transaction_Is_Final_On_Chain()
    {
        var router = await NewRouterAsync(configure: o => o.MaxAttempts = 1);
        var merchant = await router.MerchantAsync();
        var intent = await router.Intents.SelectRouteAsync(merchant, (await router.IntentAsync(merchant, 10m, Ethereum)).Id);

        // The RPC failed, yet the transaction reached the chain by another route; the one allowed attempt is spent.
        router.EthereumChain.FailNextRpcCalls(1);
        intent = await router.Intents.AdvanceAsync(intent.Id);
        var attempt = Assert.Single(await router.Intents.ListAttemptsAsync(merchant, intent.Id));
        await router.EthereumChain.BroadcastAsync(new SignedTransaction(Ethereum, Convert.FromBase64String(attempt.SignedTransaction), attempt.TxId));
        Clock.Advance(Duration.FromMinutes(1));
        intent = await router.Intents.AdvanceAsync(intent.Id);
        Assert.Equal(PaymentIntentStatus.ManualReview, intent.Status);

        var settled = await router.Intents.ResolveManualReviewAsync(intent.Id, ManualReviewResolution.Settle);
        Assert.Equal(PaymentIntentStatus.Settled, settled.Status);
        Assert.Equal(attempt.TxId, settled.TxId);
        Assert.Equal(Usdc(10m), (await BalancedBookAsync(router, Ethereum)).Spent);
        Assert.Equal(Usdc(10m), router.OnChain(Ethereum, "payee-ethereum", AssetRegistry.Usdc));
        var confirmed = Assert.Single(await router.Intents.ListAttemptsAsync(merchant, intent.Id));
        Assert.Equal(PaymentAttemptStatus.Confirmed, confirmed.Status);
        Assert.Null(confirmed.Failure);
        Assert.Null(confirmed.FailureReason);
    }

    [Fact]
    public async Task A_Transaction_That_Landed_On_The_Chain_A_Reroute_Left_Settles_On_The_Wallet_That_Paid()
    {
        // Attempt 1 on Solana: the RPC fails and the node still does not know the transaction a drop timeout later; Solana
        // turns unhealthy, so the retry releases the Solana hold and re-routes to Ethereum, where attempt 2 fails too:
        // manual review.
        var (router, merchant, intent) = await ReroutedToEthereumAsync(deliverOnEthereum: false);

        // The Solana transaction reaches Solana after all (relayed by another node) and is final there.
        var solanaAttempt = Assert.Single(await router.Intents.ListAttemptsAsync(merchant, intent.Id), a => a.Chain == Solana);
        await router.SolanaChain.BroadcastAsync(new SignedTransaction(Solana, Convert.FromBase64String(solanaAttempt.SignedTransaction), solanaAttempt.TxId));
        Clock.Advance(Duration.FromMinutes(1));

        var settled = await router.Intents.ResolveManualReviewAsync(intent.Id, ManualReviewResolution.Settle);

        Assert.Equal((PaymentIntentStatus.Settled, Solana, "payee-solana", solanaAttempt.TxId), (settled.Status, settled.SelectedChain, settled.DestinationAddress, settled.TxId));
        Assert.Null(settled.Reservation);
        var solana = await BalancedBookAsync(router, Solana);
        var ethereum = await BalancedBookAsync(router, Ethereum);
        Assert.Equal((Usdc(10m), Usdc(0m)), (solana.Spent, solana.Reserved));
        Assert.True(solana.Fees.IsPositive);
        Assert.Equal((Usdc(0m), Usdc(0m), Usdc(0m)), (ethereum.Spent, ethereum.Fees, ethereum.Reserved));
        Assert.Equal(Usdc(10m), router.OnChain(Solana, "payee-solana", AssetRegistry.Usdc));
        Assert.Equal(Usdc(0m), router.OnChain(Ethereum, "payee-ethereum", AssetRegistry.Usdc));
        Assert.Equal(PaymentAttemptStatus.Confirmed, Assert.Single(await router.Intents.ListAttemptsAsync(merchant, intent.Id), a => a.Chain == Solana).Status);
    }

    [Fact]
    public async Task An_Operator_Failing_An_Intent_Whose_Transaction_Reverted_On_The_Chain_A_Reroute_Left_Books_That_Fee_On_The_Wallet_That_Paid()
    {
        var (router, merchant, intent) = await ReroutedToEthereumAsync(deliverOnEthereum: false);

        // The Solana transaction reaches Solana after all and reverts there, paying its fee from the Solana wallet.
        await RevertOnSolanaAsync(router, merchant, intent);
        Clock.Advance(router.Options.DropTimeout);

        var failed = await router.Intents.ResolveManualReviewAsync(intent.Id, ManualReviewResolution.Fail);

        Assert.Equal((PaymentIntentStatus.Failed, (TreasuryReservation?)null), (failed.Status, failed.Reservation));
        var reverted = Assert.Single(await router.Intents.ListAttemptsAsync(merchant, intent.Id), a => a.Chain == Solana);
        Assert.Equal((PaymentAttemptStatus.Failed, AttemptFailure.Reverted), (reverted.Status, reverted.Failure));
        Assert.True(reverted.ActualFee!.Value.IsPositive);
        Assert.Equal(reverted.ActualFee, failed.ActualFee);
        var solana = await BalancedBookAsync(router, Solana);
        var ethereum = await BalancedBookAsync(router, Ethereum);
        Assert.Equal((reverted.ActualFee!.Value, Usdc(0m), Usdc(0m)), (solana.Fees, solana.Spent, solana.Reserved));
        Assert.Equal((Usdc(0m), Usdc(0m), Usdc(0m)), (ethereum.Fees, ethereum.Spent, ethereum.Reserved));
        Assert.Equal(Usdc(0m), router.OnChain(Solana, "payee-solana", AssetRegistry.Usdc));
    }

    [Fact]
    public async Task Settling_From_Review_An_Intent_Whose_Transaction_Reverted_On_The_Chain_A_Reroute_Left_Books_That_Fee_On_The_Wallet_That_Paid()
    {
        var (router, merchant, intent) = await ReroutedToEthereumAsync(deliverOnEthereum: true);
        await RevertOnSolanaAsync(router, merchant, intent);

        var settled = await router.Intents.ResolveManualReviewAsync(intent.Id, ManualReviewResolution.Settle);

        Assert.Equal((PaymentIntentStatus.Settled, Ethereum), (settled.Status, settled.SelectedChain));
        var reverted = Assert.Single(await router.Intents.ListAttemptsAsync(merchant, intent.Id), a => a.Chain == Solana);
        Assert.Equal((PaymentAttemptStatus.Failed, AttemptFailure.Reverted), (reverted.Status, reverted.Failure));
        Assert.True(reverted.ActualFee!.Value.IsPositive);
        var solana = await BalancedBookAsync(router, Solana);
        var ethereum = await BalancedBookAsync(router, Ethereum);
        Assert.Equal((reverted.ActualFee!.Value, Usdc(0m), Usdc(0m)), (solana.Fees, solana.Spent, solana.Reserved));
        Assert.Equal((settled.ActualFee!.Value, Usdc(10m), Usdc(0m)), (ethereum.Fees, ethereum.Spent, ethereum.Reserved));
        Assert.Equal(Usdc(10m), router.OnChain(Ethereum, "payee-ethereum", AssetRegistry.Usdc));
        Assert.Equal(Usdc(0m), router.OnChain(Solana, "payee-solana", AssetRegistry.Usdc));
    }

    [Fact]
    public async Task A_Revert_On_The_Chain_A_Reroute_Left_Seen_Only_After_The_Intent_Settled_Elsewhere_Is_Booked_On_The_Wallet_That_Paid()
    {
        var (router, merchant, intent) = await ReroutedToEthereumAndSettledAsync();

        // Still due for the sweep: the Solana transaction it left may yet reach Solana. It does, relayed by another node, and
        // reverts.
        Assert.Equal(intent.UpdatedAt, intent.DueAt);
        await RevertOnSolanaAsync(router, merchant, intent);
        var settled = await router.Intents.AdvanceAsync(intent.Id);

        Assert.Equal((PaymentIntentStatus.Settled, Ethereum, intent.ActualFee), (settled.Status, settled.SelectedChain, settled.ActualFee));
        Assert.Null(settled.DueAt);
        var reverted = Assert.Single(await router.Intents.ListAttemptsAsync(merchant, intent.Id), a => a.Chain == Solana);
        Assert.Equal((PaymentAttemptStatus.Failed, AttemptFailure.Reverted), (reverted.Status, reverted.Failure));
        Assert.True(reverted.ActualFee!.Value.IsPositive);
        var solana = await BalancedBookAsync(router, Solana);
        var ethereum = await BalancedBookAsync(router, Ethereum);
        Assert.Equal((reverted.ActualFee!.Value, Usdc(0m), Usdc(0m)), (solana.Fees, solana.Spent, solana.Reserved));
        Assert.Equal((settled.ActualFee!.Value, Usdc(10m), Usdc(0m)), (ethereum.Fees, ethereum.Spent, ethereum.Reserved));
        Assert.Equal(settled, await router.Intents.GetAsync(merchant, intent.Id));
        AssertUnchanged(settled, await router.Intents.AdvanceAsync(intent.Id));
    }

    [Fact]
    public async Task A_Transaction_On_The_Chain_A_Reroute_Left_Landing_After_The_Intent_Settled_Elsewhere_Is_Booked_On_The_Wallet_That_Paid()
    {
        var (router, merchant, intent) = await ReroutedToEthereumAndSettledAsync();

        // The Solana transaction reaches Solana after all and pays the payee a second time, from the Solana wallet.
        var left = Assert.Single(await router.Intents.ListAttemptsAsync(merchant, intent.Id), a => a.Chain == Solana);
        await router.SolanaChain.BroadcastAsync(new SignedTransaction(Solana, Convert.FromBase64String(left.SignedTransaction), left.TxId));
        Clock.Advance(Duration.FromMinutes(1));
        var before = (await router.EventsAsync(merchant, intent.Id)).Count;

        var settled = await router.Intents.AdvanceAsync(intent.Id);
        Assert.Equal((PaymentIntentStatus.Settled, Ethereum, intent.TxId), (settled.Status, settled.SelectedChain, settled.TxId));
        Assert.Null(settled.DueAt);
        Assert.Equal(PaymentAttemptStatus.Confirmed, Assert.Single(await router.Intents.ListAttemptsAsync(merchant, intent.Id), a => a.Chain == Solana).Status);
        var solana = await BalancedBookAsync(router, Solana);
        Assert.Equal((Usdc(10m), Usdc(0m)), (solana.Spent, solana.Reserved));
        Assert.True(solana.Fees.IsPositive);
        Assert.Equal(Usdc(10m), router.OnChain(Solana, "payee-solana", AssetRegistry.Usdc));
        Assert.Equal(Usdc(10m), (await BalancedBookAsync(router, Ethereum)).Spent);

        // The payee was paid twice: the merchant learns it through the outbox, with the transaction that paid again and where.
        var late = Assert.Single((await router.EventsAsync(merchant, intent.Id)).Skip(before));
        Assert.Equal("payment_intent.paid_after_settlement", late.EventType);
        var data = late.Payload.GetProperty("data");
        Assert.Equal(("settled", "settled"), (data.GetProperty("status").GetString(), data.GetProperty("previous_status").GetString()));
        Assert.Equal(left.TxId, data.GetProperty("tx_id").GetString());
        Assert.Equal("solana", data.GetProperty("selected_chain").GetString());
        Assert.Equal("payee-solana", data.GetProperty("destination_address").GetString());
        Assert.Contains(left.TxId!, data.GetProperty("reason").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_Intent_Settled_After_A_Reroute_Stops_Watching_The_Chain_It_Left_Once_Its_Transaction_Stayed_Unknown_For_The_Finality_Timeout()
    {
        var (router, merchant, intent) = await ReroutedToEthereumAndSettledAsync();
        var left = Assert.Single(await router.Intents.ListAttemptsAsync(merchant, intent.Id), a => a.Chain == Solana);

        Clock.Advance(Duration.FromMinutes(1));
        AssertUnchanged(intent, await router.Intents.AdvanceAsync(intent.Id));
        Assert.Equal(intent.DueAt, (await router.Intents.GetAsync(merchant, intent.Id)).DueAt);

        Clock.Advance(router.Options.FinalityTimeout);
        var settled = await router.Intents.AdvanceAsync(intent.Id);

        Assert.Equal(PaymentIntentStatus.Settled, settled.Status);
        Assert.Null(settled.DueAt);
        Assert.Equal(left, Assert.Single(await router.Intents.ListAttemptsAsync(merchant, intent.Id), a => a.Chain == Solana));
        var solana = await BalancedBookAsync(router, Solana);
        Assert.Equal((Usdc(0m), Usdc(0m), Usdc(0m)), (solana.Fees, solana.Spent, solana.Reserved));
    }

    [Fact]
    public async Task A_Transaction_That_Reverted_Before_Its_Chain_Turned_Unhealthy_Fails_The_Intent_There_Instead_Of_Rerouting()
    {
        // A re-route needs the last transaction known not to be on its chain, so a revert seen before it fails the intent on
        // that chain, booking the fee there; a revert on a chain the intent left can only be seen after the switch.
        var (merchant, intent) = await SelectedOnSolanaAsync();
        Router.SolanaChain.FailNextBroadcast();
        intent = await Router.Intents.AdvanceAsync(intent.Id);
        await MarkUnhealthyAsync(Router, Solana);
        Clock.Advance(Router.Options.DropTimeout);

        intent = await Router.Intents.AdvanceAsync(intent.Id);

        Assert.Equal((PaymentIntentStatus.Failed, Solana), (intent.Status, intent.SelectedChain));
        var attempt = Assert.Single(await Router.Intents.ListAttemptsAsync(merchant, intent.Id));
        Assert.Equal(AttemptFailure.Reverted, attempt.Failure);
        var solana = await BalancedBookAsync(Router, Solana);
        Assert.Equal((attempt.ActualFee!.Value, Usdc(0m)), (solana.Fees, solana.Reserved));
        Assert.Equal(Usdc(0m), (await BalancedBookAsync(Router, Ethereum)).Reserved);
    }

    [Fact]
    public async Task A_Transaction_Included_But_Not_Final_Past_The_Finality_Timeout_Goes_To_Manual_Review_Keeping_Its_Hold()
    {
        var (router, merchant, intent) = await IncludedNeverFinalAsync();
        intent = await router.Intents.AdvanceAsync(intent.Id);
        Assert.Equal(PaymentIntentStatus.PendingConfirmation, intent.Status);

        Clock.Advance(router.Options.FinalityTimeout - Duration.FromSeconds(20));
        Assert.Equal(PaymentIntentStatus.PendingConfirmation, (await router.Intents.AdvanceAsync(intent.Id)).Status);
        Clock.Advance(Duration.FromSeconds(30));
        intent = await router.Intents.AdvanceAsync(intent.Id);

        Assert.Equal(PaymentIntentStatus.ManualReview, intent.Status);
        Assert.Contains("not final", intent.LastError, StringComparison.Ordinal);
        Assert.NotNull(intent.Reservation);
        var book = await BalancedBookAsync(router, Solana);
        Assert.Equal(Usdc(0m), book.Spent);
        Assert.True(book.Reserved.IsPositive);
        Assert.Null(intent.DueAt);
    }

    [Fact]
    public async Task A_Broadcast_Whose_Worker_Crashed_Is_Taken_Over_With_The_Same_Transaction()
    {
        var merchant = await Router.MerchantAsync();
        var intent = await Router.Intents.SelectRouteAsync(merchant, (await Router.IntentAsync(merchant, 10m, Solana)).Id);
        Router.SolanaChain.FailNextRpcCalls(1);
        intent = await Router.Intents.AdvanceAsync(intent.Id);
        Clock.Advance(Duration.FromSeconds(2));

        // The worker records the attempt, then dies inside the broadcast: the intent stays in broadcasting.
        Router.SolanaBackup.CrashBroadcasts(1);
        await Assert.ThrowsAsync<InvalidOperationException>(() => Router.Intents.AdvanceAsync(intent.Id).AsTask());
        intent = await Router.Intents.GetAsync(merchant, intent.Id);
        Assert.Equal(PaymentIntentStatus.Broadcasting, intent.Status);
        AssertUnchanged(intent, await Router.Intents.AdvanceAsync(intent.Id));

        Clock.Advance(Duration.FromMinutes(1));
        intent = await Router.Intents.AdvanceAsync(intent.Id);
        Assert.Equal(PaymentIntentStatus.Broadcasted, intent.Status);
        intent = await Router.RunToEndAsync(intent);
        Assert.Equal(PaymentIntentStatus.Settled, intent.Status);
        var attempts = await Router.Intents.ListAttemptsAsync(merchant, intent.Id);
        Assert.Equal(2, attempts.Count);
        Assert.Equal(attempts[0].TxId, attempts[1].TxId);
        Assert.Equal(Usdc(10m), Router.OnChain(Solana, "payee-solana", AssetRegistry.Usdc));
    }

    [Fact]
    public async Task Selection_Falls_Back_To_The_Next_Chain_And_Refuses_When_No_Wallet_Covers_The_Payment()
    {
        var router = await NewRouterAsync(ethereum: 1000m, solana: 30m);
        var merchant = await router.MerchantAsync();
        var first = await router.IntentAsync(merchant, 20m);
        var second = await router.IntentAsync(merchant, 20m);
        Assert.Equal(Solana, first.SelectedChain);
        Assert.Equal(Solana, second.SelectedChain);

        Assert.Equal(Solana, (await router.Intents.SelectRouteAsync(merchant, first.Id)).SelectedChain);
        var moved = await router.Intents.SelectRouteAsync(merchant, second.Id);
        Assert.Equal(Ethereum, moved.SelectedChain);
        Assert.Equal("payee-ethereum", moved.DestinationAddress);

        var only = await router.IntentAsync(merchant, 9m, Solana);
        var big = await router.IntentAsync(merchant, 9m, Solana);
        await router.Intents.SelectRouteAsync(merchant, only.Id);
        await FailsAsync(PaymentsKitErrorCodes.InsufficientFunds, () => router.Intents.SelectRouteAsync(merchant, big.Id).AsTask());
        Assert.Equal(PaymentIntentStatus.Created, (await router.Intents.AdvanceAsync(big.Id)).Status);
        await AssertEveryIntentAccountedAsync(router, [first, second, only, big]);
    }

    /// <summary>A 10 USDC intent on Solana whose broadcast the chain holds in its mempool (pending, not included).</summary>
    private async Task<(MerchantId Merchant, PaymentIntent Intent)> BroadcastHeldAsync()
    {
        var merchant = await Router.MerchantAsync();
        var intent = await Router.Intents.SelectRouteAsync(merchant, (await Router.IntentAsync(merchant, 10m, Solana)).Id);
        Router.SolanaPrimary.HoldBroadcasts(1);
        return (merchant, await Router.Intents.AdvanceAsync(intent.Id));
    }

    /// <summary>As <see cref="BroadcastHeldAsync"/>, then still pending <see cref="RoutingOptions.FinalityTimeout"/> later: in manual review.</summary>
    private async Task<(MerchantId Merchant, PaymentIntent Intent)> HeldInManualReviewAsync()
    {
        var (merchant, intent) = await BroadcastHeldAsync();
        Clock.Advance(Router.Options.FinalityTimeout);
        intent = await Router.Intents.AdvanceAsync(intent.Id);
        Assert.Equal(PaymentIntentStatus.ManualReview, intent.Status);
        return (merchant, intent);
    }

    /// <summary>A 10 USDC intent on Ethereum (a router of 2 attempts) in manual review after both broadcasts' RPC calls failed.</summary>
    private async Task<(RoutingHarness Router, MerchantId Merchant, PaymentIntent Intent)> RpcErrorsInManualReviewAsync()
    {
        var router = await NewRouterAsync(configure: o => o.MaxAttempts = 2);
        var merchant = await router.MerchantAsync();
        var intent = await router.Intents.SelectRouteAsync(merchant, (await router.IntentAsync(merchant, 10m, Ethereum)).Id);
        router.EthereumChain.FailNextRpcCalls(1);
        router.EthereumBackup.FailBroadcasts(1);
        intent = await router.RunToEndAsync(intent);
        Assert.Equal(PaymentIntentStatus.ManualReview, intent.Status);
        return (router, merchant, intent);
    }

    /// <summary>The router's intent service over <paramref name="router"/>, signing with <paramref name="signer"/>.</summary>
    /// <summary>
    /// A 10 USDC intent on Solana whose worker died inside its broadcast — perhaps after sending it — taken over a broadcast
    /// timeout (here as long as the drop timeout) later by a resend Solana refused while not knowing the transaction: in
    /// review, its hold kept. <paramref name="hashless"/>: neither the signer nor the adapters can tell its hash.
    /// </summary>
    private async Task<(RoutingHarness Router, PaymentIntentService Intents, MerchantId Merchant, PaymentIntent Intent)> TakenOverResendRejectedAsync(bool hashless = false)
    {
        var router = await NewRouterAsync(configure: o => o.BroadcastTimeout = o.DropTimeout);
        var intents = router.Intents;
        if (hashless)
        {
            router.SolanaPrimary.HidesHashes = true;
            router.SolanaBackup.HidesHashes = true;
            intents = WithSigner(router, new HashlessSigner(router.Signer));
        }

        var merchant = await router.MerchantAsync();
        var intent = await intents.SelectRouteAsync(merchant, (await router.IntentAsync(merchant, 10m, Solana)).Id);
        router.SolanaPrimary.CrashBroadcasts(1);
        await Assert.ThrowsAsync<InvalidOperationException>(() => intents.AdvanceAsync(intent.Id).AsTask());
        Clock.Advance(router.Options.BroadcastTimeout);
        router.SolanaPrimary.RejectBroadcasts(1);
        intent = await intents.AdvanceAsync(intent.Id);

        Assert.Equal(PaymentIntentStatus.ManualReview, intent.Status);
        var refused = Assert.Single(await intents.ListAttemptsAsync(merchant, intent.Id));
        Assert.Equal((AttemptFailure.Rejected, null), (refused.Failure, refused.BroadcastAt));
        Assert.True((await BalancedBookAsync(router, Solana)).Reserved > Usdc(10m));
        return (router, intents, merchant, intent);
    }

    private PaymentIntentService WithSigner(RoutingHarness router, ITransactionSigner signer) =>
        new(router.Store, Clock, router.Treasury, router.Providers, router.Outbox, Microsoft.Extensions.Options.Options.Create(router.Options), signer);

    /// <summary>A custody signer that, like many, learns the transaction's hash only from the broadcast's answer.</summary>
    private sealed class HashlessSigner(ITransactionSigner inner) : ITransactionSigner
    {
        public async ValueTask<SignedTransaction> SignAsync(TransferRequest request, CancellationToken cancellationToken = default) =>
            (await inner.SignAsync(request, cancellationToken)) with { Hash = null };
    }

    /// <summary>A 10 USDC intent on Solana broadcast 10 s ago on a chain that never reaches finality (included, not final).</summary>
    /// <summary>A new merchant's intent of 10 USDC, its route selected on Solana (the cheapest chain).</summary>
    private async Task<(MerchantId Merchant, PaymentIntent Intent)> SelectedOnSolanaAsync()
    {
        var merchant = await Router.MerchantAsync();
        var intent = await Router.Intents.SelectRouteAsync(merchant, (await Router.IntentAsync(merchant, 10m)).Id);
        Assert.Equal(Solana, intent.SelectedChain);
        return (merchant, intent);
    }

    private async Task<(RoutingHarness Router, MerchantId Merchant, PaymentIntent Intent)> IncludedNeverFinalAsync()
    {
        var router = await NewRouterAsync(chains: o => o.FinalityConfirmations = 1_000_000);
        var merchant = await router.MerchantAsync();
        var intent = await router.Intents.SelectRouteAsync(merchant, (await router.IntentAsync(merchant, 10m, Solana)).Id);
        intent = await router.Intents.AdvanceAsync(intent.Id);
        Clock.Advance(Duration.FromSeconds(10));
        return (router, merchant, intent);
    }

    /// <summary>
    /// A 10 USDC intent routed to Solana whose transaction's RPC call failed and which the chain did not know a drop timeout
    /// later, with Solana unhealthy by then: the retry released the Solana hold and routed it to Ethereum, not yet broadcast.
    /// </summary>
    private async Task<(RoutingHarness Router, MerchantId Merchant, PaymentIntent Intent)> RoutedFromSolanaToEthereumAsync(Action<RoutingOptions>? configure)
    {
        var router = await NewRouterAsync(configure: configure);
        var merchant = await router.MerchantAsync();
        var intent = await router.Intents.SelectRouteAsync(merchant, (await router.IntentAsync(merchant, 10m)).Id);
        Assert.Equal(Solana, intent.SelectedChain);
        router.SolanaChain.FailNextRpcCalls(1);
        intent = await router.Intents.AdvanceAsync(intent.Id);
        await MarkUnhealthyAsync(router, Solana);
        Clock.Advance(router.Options.DropTimeout);
        intent = await router.Intents.AdvanceAsync(intent.Id);
        Assert.Equal((PaymentIntentStatus.RouteSelected, Ethereum), (intent.Status, intent.SelectedChain));
        return (router, merchant, intent);
    }

    /// <summary>
    /// A 10 USDC intent (a router of 2 attempts) re-routed from Solana, whose transaction's RPC call failed and which the
    /// chain did not know a drop timeout later, to Ethereum, where the broadcast's RPC call fails too (having delivered
    /// the transaction when <paramref name="deliverOnEthereum"/>, final a minute later): manual review.
    /// </summary>
    private async Task<(RoutingHarness Router, MerchantId Merchant, PaymentIntent Intent)> ReroutedToEthereumAsync(bool deliverOnEthereum)
    {
        var (router, merchant, intent) = await RoutedFromSolanaToEthereumAsync(o => o.MaxAttempts = 2);
        if (deliverOnEthereum)
        {
            router.EthereumBackup.DeliverThenFailBroadcasts(1);
        }
        else
        {
            router.EthereumBackup.FailBroadcasts(1);
        }

        intent = await router.Intents.AdvanceAsync(intent.Id);
        Clock.Advance(Duration.FromMinutes(1));
        intent = await router.Intents.AdvanceAsync(intent.Id);
        Assert.Equal(PaymentIntentStatus.ManualReview, intent.Status);
        return (router, merchant, intent);
    }

    /// <summary>
    /// A 10 USDC intent re-routed from Solana, whose transaction's RPC call failed and which the chain did not know a drop
    /// timeout later, to Ethereum, where it settled as usual.
    /// </summary>
    private async Task<(RoutingHarness Router, MerchantId Merchant, PaymentIntent Intent)> ReroutedToEthereumAndSettledAsync()
    {
        var (router, merchant, intent) = await RoutedFromSolanaToEthereumAsync(null);
        intent = await router.RunToEndAsync(intent);
        Assert.Equal((PaymentIntentStatus.Settled, Ethereum), (intent.Status, intent.SelectedChain));
        Assert.Equal(Usdc(0m), (await BalancedBookAsync(router, Solana)).Fees);
        return (router, merchant, intent);
    }

    /// <summary>Relays the intent's Solana transaction to Solana, where it reverts (included a minute later).</summary>
    private async Task RevertOnSolanaAsync(RoutingHarness router, MerchantId merchant, PaymentIntent intent)
    {
        var attempt = Assert.Single(await router.Intents.ListAttemptsAsync(merchant, intent.Id), a => a.Chain == Solana);
        router.SolanaChain.FailNextBroadcast();
        await router.SolanaChain.BroadcastAsync(new SignedTransaction(Solana, Convert.FromBase64String(attempt.SignedTransaction), attempt.TxId));
        Clock.Advance(Duration.FromMinutes(1));
    }

    /// <summary>Records a health sample of <paramref name="chain"/>, measured now, that marks it unhealthy.</summary>
    private async Task MarkUnhealthyAsync(RoutingHarness router, ChainId chain) =>
        await router.Health.RecordAsync((await router.Health.GetLatestAsync(chain))!.ToSample() with { MeasuredAt = Clock.GetCurrentInstant(), Status = ChainHealthStatus.Unhealthy });
}
