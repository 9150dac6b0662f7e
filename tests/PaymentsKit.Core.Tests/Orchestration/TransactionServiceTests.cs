using Microsoft.Extensions.DependencyInjection;
using NodaTime;
using PaymentsKit.Json;
using PaymentsKit.Orchestration;
using PaymentsKit.Storage;
using PaymentsKit.Testing;

namespace PaymentsKit.Tests.Orchestration;

public abstract class TransactionServiceTests : OrchestrationStoreTests
{
    [Fact]
    public async Task A_Stored_Transaction_And_Partner_With_Metadata_Equal_The_Returned_Ones()
    {
        using var h = await HarnessAsync();
        var metadata = new Dictionary<string, string> { ["order"] = "42", ["cart"] = "7" };
        var partner = (await h.Partners.CreateAsync(new CreatePartnerRequest("Acme", UniqueEmail()) { Metadata = metadata }, Context)).Partner;
        var tx = await h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request("meta-equality") with { Metadata = metadata }, Context);

        var storedPartner = await h.Partners.GetAsync(partner.Id);
        var storedTx = await h.Transactions.GetAsync(partner.Id, tx.Id);
        Assert.Equal(partner, storedPartner);
        Assert.Equal(partner.GetHashCode(), storedPartner.GetHashCode());
        Assert.Equal(tx, storedTx);
        Assert.Equal(tx.GetHashCode(), storedTx.GetHashCode());
    }

    [Fact]
    public async Task Create_ChargesThroughTheProvider_WritesOneEventPerStatus_AndPostsToTheLedger()
    {
        using var h = await HarnessAsync();
        var partner = await h.NewPartnerAsync();
        var tx = await h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request("order-1", 100m), Context);

        Assert.Equal(TransactionStatus.Completed, tx.Status);
        Assert.Equal(Money.Of(100m, AssetRegistry.Usd), tx.Amount);
        Assert.StartsWith("pi_sim_", tx.ProviderTransactionId, StringComparison.Ordinal);
        Assert.Equal((Context.IpAddress, Context.UserAgent, Context.RequestId), (tx.IpAddress, tx.UserAgent, tx.RequestId));
        Assert.NotNull(tx.ProcessedAt);
        Assert.Equal(tx, await h.Transactions.GetAsync(partner.Id, tx.Id));

        var events = await h.Transactions.GetEventsAsync(partner.Id, tx.Id);
        Assert.Equal([TransactionStatus.Completed, TransactionStatus.Processing, TransactionStatus.Pending], events.Select(e => e.Status));
        Assert.Equal([TransactionEventType.PaymentCompleted, TransactionEventType.PaymentProcessing, TransactionEventType.Created], events.Select(e => e.EventType));
        Assert.Equal([3L, 2L, 1L], events.Select(e => e.Sequence));
        Assert.All(events, e => Assert.Equal("partner:" + partner.Id, e.CreatedBy));
        Assert.NotNull(events[0].ProviderResponse);

        Assert.Equal(100m, await h.BalanceAsync(partner.Id, "orch:stripe:clearing:USD"));
        Assert.Equal(100m, await h.BalanceAsync(partner.Id, "orch:sales:USD"));
        var audit = Assert.Single(await h.AuditAsync(partner.Id), a => a.Action == "transaction.create");
        Assert.Equal((AuditOutcome.Succeeded, tx.Id.ToString()), (audit.Outcome, audit.ResourceId));
        Assert.DoesNotContain("request_fingerprint", audit.Changes!.After!.Value.GetRawText(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task IdempotentReplays_ReturnTheSameTransaction_AndADifferentRequestConflicts()
    {
        using var h = await HarnessAsync();
        var partner = await h.NewPartnerAsync();
        var first = await h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request("order-1"), Context);
        var calls = h.Stripe.CallCount;
        var replay = await h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request("order-1"), Context);
        Assert.Equal(first, replay);
        Assert.Equal(calls, h.Stripe.CallCount);
        Assert.Contains(await h.AuditAsync(partner.Id), a => a.Outcome == AuditOutcome.Replayed && a.ResourceId == first.Id.ToString());

        await AssertRejectedAsync(h, partner.Id, PaymentsKitErrorCodes.IdempotencyConflict,
            () => h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request("order-1", 101m), Context).AsTask());

        var other = await h.NewPartnerAsync();
        var theirs = await h.Transactions.CreateAsync(other.Id, OrchestrationHarness.Request("order-1"), Context);
        Assert.NotEqual(first.Id, theirs.Id);
    }

    [Fact]
    public async Task ConcurrentFirstCalls_WithOneKey_CreateAndChargeExactlyOnce()
    {
        using var h = await HarnessAsync();
        var partner = await h.NewPartnerAsync();
        var results = await Task.WhenAll(Enumerable.Range(0, 16).Select(_ =>
            Task.Run(() => h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request("race"), Context).AsTask())));
        Assert.Single(results.Select(r => r.Id).Distinct());
        Assert.Equal(1, (await h.CountAsync(partner.Id)).Transactions);
        Assert.Equal(3, (await h.CountAsync(partner.Id)).Events);
        Assert.Equal(100m, await h.BalanceAsync(partner.Id, "orch:sales:USD"));
    }

    [Fact]
    public async Task Declines_FailTheTransaction_WithTheProvidersCode()
    {
        using var h = await HarnessAsync();
        var partner = await h.NewPartnerAsync();
        var tx = await h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request("d", email: "bob+decline@example.com"), Context);
        Assert.Equal(TransactionStatus.Failed, tx.Status);
        Assert.Equal("card_declined", tx.ErrorCode);
        Assert.NotNull(tx.FailedAt);
        var events = await h.Transactions.GetEventsAsync(partner.Id, tx.Id);
        Assert.Equal(TransactionEventType.PaymentFailed, events[0].EventType);
        Assert.Equal(tx.ErrorMessage, events[0].ErrorMessage);
        Assert.Equal(0m, await h.BalanceAsync(partner.Id, "orch:sales:USD"));
    }

    [Fact]
    public async Task ATimeout_LeavesProcessing_AndTheLateWebhookResolvesItExactlyOnce()
    {
        using var h = await HarnessAsync();
        var partner = await h.NewPartnerAsync();
        var tx = await h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request("t", email: "carol+timeout@example.com"), Context);
        Assert.Equal(TransactionStatus.Processing, tx.Status);
        Assert.Equal("provider_outcome_unknown", tx.ErrorCode);
        Assert.Equal(0m, await h.BalanceAsync(partner.Id, "orch:sales:USD"));

        h.Clock.Advance(Duration.FromMinutes(1));
        var webhook = Assert.Single(h.Stripe.TakeDueWebhooks());
        var handled = await h.Transactions.HandleProviderWebhookAsync(PaymentProvider.Stripe, webhook.Payload, webhook.Headers, Context);
        Assert.Equal(TransactionStatus.Completed, handled.Transaction.Status);
        Assert.Null(handled.Transaction.ErrorCode);

        // Redelivery, a poll and a second redelivery change nothing.
        await h.Transactions.HandleProviderWebhookAsync(PaymentProvider.Stripe, webhook.Payload, webhook.Headers, Context);
        var synced = await h.Transactions.SyncAsync(partner.Id, tx.Id, Context);
        Assert.Equal(TransactionStatus.Completed, synced.Status);
        var events = await h.Transactions.GetEventsAsync(partner.Id, tx.Id);
        Assert.Single(events, e => e.Status == TransactionStatus.Completed);
        Assert.Equal("provider:stripe", events[0].CreatedBy);
        Assert.Equal(100m, await h.BalanceAsync(partner.Id, "orch:sales:USD"));
        var webhookAudits = (await h.AuditAsync(partner.Id)).Where(a => a.Action == "transaction.provider_webhook").ToList();
        Assert.Equal(2, webhookAudits.Count);
    }

    [Fact]
    public async Task ATimeout_IsResolvedByAStatusPoll_AndTheLaterWebhookIsANoOp()
    {
        using var h = await HarnessAsync();
        var partner = await h.NewPartnerAsync();
        var tx = await h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request("t", email: "dave+timeout_decline@example.com"), Context);
        Assert.Equal(TransactionStatus.Processing, tx.Status);
        var synced = await h.Transactions.SyncAsync(partner.Id, tx.Id, RequestContext.Internal);
        Assert.Equal(TransactionStatus.Failed, synced.Status);
        Assert.Equal(1, synced.RetryCount);
        var sync = Assert.Single(await h.AuditAsync(partner.Id), a => a.Action == "transaction.sync");
        Assert.Equal(("127.0.0.1", "PaymentsKit"), (sync.IpAddress, sync.UserAgent));
        Assert.Equal("processing", sync.Changes!.Before!.Value.GetProperty("status").GetString());
        Assert.Equal("failed", sync.Changes.After!.Value.GetProperty("status").GetString());
        Assert.Equal(1, await h.DeliverWebhooksAsync(h.Stripe));
        Assert.Equal(synced with { UpdatedAt = synced.UpdatedAt }, await h.Transactions.GetAsync(partner.Id, tx.Id));
        Assert.Single(await h.Transactions.GetEventsAsync(partner.Id, tx.Id), e => e.Status == TransactionStatus.Failed);
    }

    [Fact]
    public async Task WebhookAndPollRacing_CompleteTheTransactionOnce()
    {
        using var h = await HarnessAsync();
        var partner = await h.NewPartnerAsync();
        var tx = await h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request("t", email: "erin+timeout@example.com"), Context);
        h.Clock.Advance(Duration.FromMinutes(1));
        var webhook = Assert.Single(h.Stripe.TakeDueWebhooks());
        var tasks = Enumerable.Range(0, 8).Select(i => Task.Run(async () =>
        {
            if (i % 2 == 0)
            {
                await h.Transactions.HandleProviderWebhookAsync(PaymentProvider.Stripe, webhook.Payload, webhook.Headers, Context);
            }
            else
            {
                await h.Transactions.SyncAsync(partner.Id, tx.Id, Context);
            }
        }));
        await Task.WhenAll(tasks);
        Assert.Single(await h.Transactions.GetEventsAsync(partner.Id, tx.Id), e => e.Status == TransactionStatus.Completed);
        Assert.Equal(100m, await h.BalanceAsync(partner.Id, "orch:sales:USD"));
    }

    [Fact]
    public async Task BadWebhooks_AreRejected_AndAudited()
    {
        using var h = await HarnessAsync();
        var partner = await h.NewPartnerAsync();
        await h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request("t", email: "erin+timeout@example.com"), Context);
        h.Clock.Advance(Duration.FromMinutes(1));
        var webhook = Assert.Single(h.Stripe.TakeDueWebhooks());
        await ThrowsCodeAsync(PaymentsKitErrorCodes.InvalidSignature,
            () => h.Transactions.HandleProviderWebhookAsync(PaymentProvider.Stripe, webhook.Payload + " ", webhook.Headers, Context).AsTask());

        // PayPal's signature over the same body is valid, but PayPal does not hold this payment.
        await AssertRejectedAsync(h, partner.Id, PaymentsKitErrorCodes.NotFound,
            () => h.Transactions.HandleProviderWebhookAsync(PaymentProvider.Paypal, webhook.Payload, h.Paypal.Sign(webhook.Payload), Context).AsTask());
        var unknown = webhook.Payload.Replace("txn_", "txn_0", StringComparison.Ordinal);
        await ThrowsCodeAsync(PaymentsKitErrorCodes.NotFound,
            () => h.Transactions.HandleProviderWebhookAsync(PaymentProvider.Stripe, unknown, h.Stripe.Sign(unknown), Context).AsTask());
        await ThrowsCodeAsync(PaymentsKitErrorCodes.UnknownProvider,
            () => h.Transactions.HandleProviderWebhookAsync(PaymentProvider.Adyen, webhook.Payload, webhook.Headers, Context).AsTask());
    }

    [Fact]
    public async Task AuthorizeOnly_ThenCapture_OrCancel()
    {
        using var h = await HarnessAsync();
        var partner = await h.NewPartnerAsync();
        var authorized = await h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request("a") with { CaptureMethod = CaptureMethod.Manual }, Context);
        Assert.Equal(TransactionStatus.Processing, authorized.Status);
        Assert.NotNull(authorized.AuthorizedAt);
        Assert.Equal(0m, await h.BalanceAsync(partner.Id, "orch:sales:USD"));
        var captured = await h.Transactions.CaptureAsync(partner.Id, authorized.Id, Context);
        Assert.Equal(TransactionStatus.Completed, captured.Status);
        Assert.Equal(100m, await h.BalanceAsync(partner.Id, "orch:sales:USD"));
        await AssertRejectedAsync(h, partner.Id, PaymentsKitErrorCodes.InvalidTransition, () => h.Transactions.CaptureAsync(partner.Id, authorized.Id, Context).AsTask());

        var second = await h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request("b") with { CaptureMethod = CaptureMethod.Manual }, Context);
        var cancelled = await h.Transactions.CancelAsync(partner.Id, second.Id, Context);
        Assert.Equal(TransactionStatus.Cancelled, cancelled.Status);
        Assert.Equal(
            [TransactionStatus.Cancelled, TransactionStatus.Processing, TransactionStatus.Pending],
            (await h.Transactions.GetEventsAsync(partner.Id, second.Id)).Select(e => e.Status));
        await AssertRejectedAsync(h, partner.Id, PaymentsKitErrorCodes.InvalidTransition, () => h.Transactions.CaptureAsync(partner.Id, second.Id, Context).AsTask());
    }

    [Fact]
    public async Task PaymentsInFlight_CannotBeCapturedCancelledOrDeleted()
    {
        using var h = await HarnessAsync();
        var partner = await h.NewPartnerAsync();
        var tx = await h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request("t", email: "f+timeout@example.com") with { CaptureMethod = CaptureMethod.Manual }, Context);
        await AssertRejectedAsync(h, partner.Id, PaymentsKitErrorCodes.TransactionInFlight, () => h.Transactions.CaptureAsync(partner.Id, tx.Id, Context).AsTask());
        await AssertRejectedAsync(h, partner.Id, PaymentsKitErrorCodes.TransactionInFlight, () => h.Transactions.CancelAsync(partner.Id, tx.Id, Context).AsTask());
        await AssertRejectedAsync(h, partner.Id, PaymentsKitErrorCodes.TransactionInFlight, () => h.Transactions.DeleteAsync(partner.Id, tx.Id, Context).AsTask());
    }

    [Fact]
    public async Task Deleting_A_Standing_Authorization_Is_Invalid_Transition_Until_It_Is_Cancelled_Or_Captured()
    {
        using var h = await HarnessAsync();
        var partner = await h.NewPartnerAsync();
        var authorized = await h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request("a") with { CaptureMethod = CaptureMethod.Manual }, Context);
        Assert.Equal((TransactionStatus.Processing, (ProviderAction?)null), (authorized.Status, authorized.InFlightAction));

        // No provider call awaits an outcome, so waiting (what transaction_in_flight asks for) would never make the delete
        // possible; deleting it would hide an authorization still holding the customer's funds, which could then never be
        // cancelled or captured.
        await AssertRejectedAsync(h, partner.Id, PaymentsKitErrorCodes.InvalidTransition, () => h.Transactions.DeleteAsync(partner.Id, authorized.Id, Context).AsTask());
        Assert.Equal(authorized, await h.Transactions.GetAsync(partner.Id, authorized.Id));

        await h.Transactions.CancelAsync(partner.Id, authorized.Id, Context);
        Assert.NotNull((await h.Transactions.DeleteAsync(partner.Id, authorized.Id, Context)).DeletedAt);
    }

    [Fact]
    public async Task Unconfirmed_StaysPending_UntilConfirmedOrCancelled()
    {
        using var h = await HarnessAsync();
        var partner = await h.NewPartnerAsync();
        var pending = await h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request("p") with { Confirm = false }, Context);
        Assert.Equal(TransactionStatus.Pending, pending.Status);
        Assert.Equal(0, h.Stripe.CallCount);
        var confirmed = await h.Transactions.ConfirmAsync(partner.Id, pending.Id, Context);
        Assert.Equal(TransactionStatus.Completed, confirmed.Status);
        await AssertRejectedAsync(h, partner.Id, PaymentsKitErrorCodes.InvalidTransition, () => h.Transactions.ConfirmAsync(partner.Id, pending.Id, Context).AsTask());

        var other = await h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request("q") with { Confirm = false }, Context);
        Assert.Equal(TransactionStatus.Cancelled, (await h.Transactions.CancelAsync(partner.Id, other.Id, Context)).Status);
        await AssertRejectedAsync(h, partner.Id, PaymentsKitErrorCodes.InvalidTransition, () => h.Transactions.ConfirmAsync(partner.Id, other.Id, Context).AsTask());
        Assert.Contains(await h.AuditAsync(partner.Id), a => a.Action == "transaction.cancel" && a.Outcome == AuditOutcome.Succeeded);
    }

    [Fact]
    public async Task TheManualProvider_CompletesAtOnce()
    {
        using var h = await HarnessAsync();
        var partner = await h.NewPartnerAsync();
        var tx = await h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request("m", provider: "manual") with { }, Context);
        Assert.Equal(TransactionStatus.Completed, tx.Status);
        Assert.Equal(PaymentProvider.Manual, tx.Provider);
        Assert.Equal(100m, await h.BalanceAsync(partner.Id, "orch:manual:clearing:USD"));
    }

    [Fact]
    public async Task SoftDeleted_TransactionsBehaveAsAbsent()
    {
        using var h = await HarnessAsync();
        var partner = await h.NewPartnerAsync();
        var tx = await h.CompletedAsync(partner);
        var deleted = await h.Transactions.DeleteAsync(partner.Id, tx.Id, Context);
        Assert.NotNull(deleted.DeletedAt);
        await ThrowsCodeAsync(PaymentsKitErrorCodes.NotFound, () => h.Transactions.GetAsync(partner.Id, tx.Id).AsTask());
        Assert.Empty((await h.Transactions.ListAsync(partner.Id, null, 10)).Items);
        await AssertRejectedAsync(h, partner.Id, PaymentsKitErrorCodes.NotFound,
            () => h.Refunds.RefundAsync(partner.Id, tx.Id, new CreateRefundRequest(1m, "late"), Context).AsTask());
    }

    [Fact]
    public async Task Partners_CannotSeeOrTouchEachOthersTransactions()
    {
        using var h = await HarnessAsync();
        var a = await h.NewPartnerAsync();
        var b = await h.NewPartnerAsync();
        var tx = await h.CompletedAsync(a);
        await ThrowsCodeAsync(PaymentsKitErrorCodes.NotFound, () => h.Transactions.GetAsync(b.Id, tx.Id).AsTask());
        await ThrowsCodeAsync(PaymentsKitErrorCodes.NotFound, () => h.Transactions.GetEventsAsync(b.Id, tx.Id).AsTask());
        await ThrowsCodeAsync(PaymentsKitErrorCodes.NotFound, () => h.Refunds.ListRefundsAsync(b.Id, tx.Id).AsTask());
        await AssertRejectedAsync(h, b.Id, PaymentsKitErrorCodes.NotFound, () => h.Refunds.RefundAsync(b.Id, tx.Id, new CreateRefundRequest(10m, "steal"), Context).AsTask());
        await AssertRejectedAsync(h, b.Id, PaymentsKitErrorCodes.NotFound, () => h.Transactions.CancelAsync(b.Id, tx.Id, Context).AsTask());
        await AssertRejectedAsync(h, b.Id, PaymentsKitErrorCodes.NotFound, () => h.Transactions.SyncAsync(b.Id, tx.Id, Context).AsTask());
        await AssertRejectedAsync(h, b.Id, PaymentsKitErrorCodes.NotFound, () => h.Transactions.DeleteAsync(b.Id, tx.Id, Context).AsTask());
        Assert.Empty((await h.Transactions.ListAsync(b.Id, null, 10)).Items);
        Assert.Equal([tx.Id], (await h.Transactions.ListAsync(a.Id, null, 10)).Items.Select(t => t.Id));
        var refund = await h.Refunds.RefundAsync(a.Id, tx.Id, new CreateRefundRequest(10m, "ok"), Context);
        await ThrowsCodeAsync(PaymentsKitErrorCodes.NotFound, () => h.Refunds.GetRefundAsync(b.Id, refund.Id).AsTask());
        Assert.Equal(0m, await h.BalanceAsync(b.Id, "orch:sales:USD"));
        Assert.Equal(100m, (await h.Transactions.GetAsync(a.Id, tx.Id)).Amount.Amount);
    }

    public static TheoryData<string, CreateTransactionRequest> BadRequests() => new()
    {
        { PaymentsKitErrorCodes.AmountOutOfRange, OrchestrationHarness.Request("k", 0m) },
        { PaymentsKitErrorCodes.AmountOutOfRange, OrchestrationHarness.Request("k", -5m) },
        { PaymentsKitErrorCodes.AmountOutOfRange, OrchestrationHarness.Request("k", 100_000.01m) },
        { PaymentsKitErrorCodes.AmountOutOfRange, OrchestrationHarness.Request("k", 100_001m, "JPY") },
        { PaymentsKitErrorCodes.AmountPrecision, OrchestrationHarness.Request("k", 0.001m) },
        { PaymentsKitErrorCodes.AmountPrecision, OrchestrationHarness.Request("k", 10.5m, "JPY") },
        { PaymentsKitErrorCodes.UnknownCurrency, OrchestrationHarness.Request("k", 10m, "XYZ") },
        { PaymentsKitErrorCodes.UnknownCurrency, OrchestrationHarness.Request("k", 10m, "usd") },
        { PaymentsKitErrorCodes.UnknownPaymentMethod, OrchestrationHarness.Request("k") with { PaymentMethod = "cheque" } },
        { PaymentsKitErrorCodes.UnknownProvider, OrchestrationHarness.Request("k", provider: "square") },
        { PaymentsKitErrorCodes.UnknownProvider, OrchestrationHarness.Request("k", provider: "adyen") },
        { PaymentsKitErrorCodes.InvalidArgument, OrchestrationHarness.Request("k", email: "not-an-email") },
        { PaymentsKitErrorCodes.InvalidArgument, OrchestrationHarness.Request("") },
        { PaymentsKitErrorCodes.InvalidArgument, OrchestrationHarness.Request(new string('k', 256)) },
        { PaymentsKitErrorCodes.InvalidArgument, OrchestrationHarness.Request("k") with { CustomerPhone = new string('1', 51) } },
        { PaymentsKitErrorCodes.InvalidArgument, OrchestrationHarness.Request("k") with { Metadata = Enumerable.Range(0, 51).ToDictionary(i => $"k{i}", i => "v") } },
    };

    [Theory]
    [MemberData(nameof(BadRequests))]
    public async Task BadInput_IsRejectedWithAClearCode_NothingIsWritten_AndTheRejectionIsAudited(string code, CreateTransactionRequest request)
    {
        using var h = await HarnessAsync();
        var partner = await h.NewPartnerAsync();
        await AssertRejectedAsync(h, partner.Id, code, () => h.Transactions.CreateAsync(partner.Id, request, Context).AsTask());
        Assert.Equal(0, h.Stripe.CallCount);
        var entry = Assert.Single(await h.AuditAsync(partner.Id), a => a.Outcome == AuditOutcome.Rejected);
        Assert.Equal(("transaction.create", "transaction"), (entry.Action, entry.ResourceType));
    }

    [Fact]
    public async Task InactiveDeletedAndUnknownPartners_CannotCreateTransactions()
    {
        using var h = await HarnessAsync();
        var inactive = await h.NewPartnerAsync();
        await h.Partners.UpdateAsync(inactive.Id, new UpdatePartnerRequest { IsActive = false }, Context);
        await AssertRejectedAsync(h, inactive.Id, PaymentsKitErrorCodes.PartnerInactive,
            () => h.Transactions.CreateAsync(inactive.Id, OrchestrationHarness.Request("k"), Context).AsTask());

        var deleted = await h.NewPartnerAsync();
        var tx = await h.CompletedAsync(deleted);
        await h.Partners.DeleteAsync(deleted.Id, Context);
        await AssertRejectedAsync(h, deleted.Id, PaymentsKitErrorCodes.PartnerDeleted,
            () => h.Transactions.CreateAsync(deleted.Id, OrchestrationHarness.Request("k"), Context).AsTask());
        await AssertRejectedAsync(h, deleted.Id, PaymentsKitErrorCodes.PartnerDeleted,
            () => h.Refunds.RefundAsync(deleted.Id, tx.Id, new CreateRefundRequest(1m, "r"), Context).AsTask());

        var ghost = PartnerId.New(h.Clock);
        await AssertRejectedAsync(h, ghost, PaymentsKitErrorCodes.NotFound,
            () => h.Transactions.CreateAsync(ghost, OrchestrationHarness.Request("k"), Context).AsTask());
    }

    [Fact]
    public async Task AmountBounds_AreConfigurable()
    {
        using var h = await HarnessAsync(o => (o.MinAmount, o.MaxAmount) = (5m, 500m));
        var partner = await h.NewPartnerAsync();
        await AssertRejectedAsync(h, partner.Id, PaymentsKitErrorCodes.AmountOutOfRange,
            () => h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request("a", 4.99m), Context).AsTask());
        await AssertRejectedAsync(h, partner.Id, PaymentsKitErrorCodes.AmountOutOfRange,
            () => h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request("b", 500.01m), Context).AsTask());
        Assert.Equal(TransactionStatus.Completed, (await h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request("c", 500m), Context)).Status);
    }

    [Fact]
    public async Task Confirming_A_Transaction_Already_Sent_Is_Invalid_Transition_And_Sends_Nothing()
    {
        using var h = await HarnessAsync();
        var partner = await h.NewPartnerAsync();
        var authorized = await h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request("auth") with { CaptureMethod = CaptureMethod.Manual }, Context);
        Assert.Equal(TransactionStatus.Processing, authorized.Status);
        var calls = h.Stripe.CallCount;

        await AssertRejectedAsync(h, partner.Id, PaymentsKitErrorCodes.InvalidTransition, () => h.Transactions.ConfirmAsync(partner.Id, authorized.Id, Context).AsTask());

        Assert.Equal(calls, h.Stripe.CallCount);
        Assert.Null((await h.Transactions.GetAsync(partner.Id, authorized.Id)).InFlightAction);
        Assert.Equal(TransactionStatus.Completed, (await h.Transactions.CaptureAsync(partner.Id, authorized.Id, Context)).Status);
    }

    [Fact]
    public async Task Text_A_Store_Cannot_Keep_Is_Refused_And_Rejections_Echoing_It_Are_Still_Audited()
    {
        using var h = await HarnessAsync();
        var partner = await h.NewPartnerAsync();
        var metadata = new Dictionary<string, string> { ["order"] = "a\0b" };
        await AssertRejectedAsync(
            h, partner.Id, PaymentsKitErrorCodes.InvalidArgument, () => h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request("nul") with { Metadata = metadata }, Context).AsTask());
        await ThrowsCodeAsync(
            PaymentsKitErrorCodes.InvalidArgument, () => h.Partners.CreateAsync(new CreatePartnerRequest("Acme", UniqueEmail()) { Metadata = metadata }, Context).AsTask());

        // The messages of these rejections repeat the bad input; AssertRejectedAsync checks each is audited.
        await AssertRejectedAsync(
            h, partner.Id, PaymentsKitErrorCodes.UnknownCurrency, () => h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request("c1", 10m, "US\0"), Context).AsTask());
        await AssertRejectedAsync(
            h, partner.Id, PaymentsKitErrorCodes.UnknownPaymentMethod, () => h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request("c2") with { PaymentMethod = "ca\0rd" }, Context).AsTask());
        await AssertRejectedAsync(
            h, partner.Id, PaymentsKitErrorCodes.UnknownProvider, () => h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request("c3", provider: "str\0ipe"), Context).AsTask());
    }

    [Fact]
    public async Task A_Provider_Answer_With_Text_A_Store_Cannot_Keep_Is_Applied_On_Every_Store()
    {
        using var h = await HarnessAsync();
        var partner = await h.NewPartnerAsync();
        var tx = await h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request("t", email: "dave+timeout@example.com"), Context);
        Assert.Equal(TransactionStatus.Processing, tx.Status);
        var payload = "{\"id\":\"evt_1\",\"type\":\"payment.failed\",\"data\":{\"id\":\"pi_x\",\"reference\":\"" + tx.Id
            + "\",\"status\":\"failed\",\"error_code\":\"card_declined\",\"error_message\":\"bad\\u0000byte\"}}";

        var handled = await h.Transactions.HandleProviderWebhookAsync(PaymentProvider.Stripe, payload, h.Stripe.Sign(payload), Context);

        Assert.Equal(TransactionStatus.Failed, handled.Transaction.Status);
        Assert.Equal("bad\uFFFDbyte", (await h.Transactions.GetAsync(partner.Id, tx.Id)).ErrorMessage);
    }

    [Fact]
    public async Task A_Webhook_For_A_Provider_Value_Outside_The_Enum_Is_Unknown_Provider()
    {
        using var h = await HarnessAsync();
        var error = await ThrowsCodeAsync(
            PaymentsKitErrorCodes.UnknownProvider, () => h.Transactions.HandleProviderWebhookAsync((PaymentProvider)7, "{}", new Dictionary<string, string>(), Context).AsTask());
        Assert.Equal("7", error.Context["value"]);
    }

    [Fact]
    public async Task The_Same_Amount_Written_With_More_Decimals_Is_A_Replay_Not_A_Conflict()
    {
        using var h = await HarnessAsync();
        var partner = await h.NewPartnerAsync();
        var first = await h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request("same", 10m), Context);
        Assert.Equal(first.Id, (await h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request("same", 10.00m), Context)).Id);
        await ThrowsCodeAsync(PaymentsKitErrorCodes.IdempotencyConflict, () => h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request("same", 10.01m), Context).AsTask());

        var refund = await h.Refunds.RefundAsync(partner.Id, first.Id, new CreateRefundRequest(4m, "damaged") { IdempotencyKey = "r1" }, Context);
        Assert.Equal(refund.Id, (await h.Refunds.RefundAsync(partner.Id, first.Id, new CreateRefundRequest(4.000m, "damaged") { IdempotencyKey = "r1" }, Context)).Id);
    }

    [Fact]
    public async Task The_Same_Metadata_In_Another_Key_Order_Is_A_Replay_Not_A_Conflict()
    {
        using var h = await HarnessAsync();
        var partner = await h.NewPartnerAsync();
        var first = await h.Transactions.CreateAsync(partner.Id, WithMetadata("meta", ("a", "1"), ("b", "2")), Context);
        var calls = h.Stripe.CallCount;

        Assert.Equal(first.Id, (await h.Transactions.CreateAsync(partner.Id, WithMetadata("meta", ("b", "2"), ("a", "1")), Context)).Id);
        Assert.Equal(calls, h.Stripe.CallCount);
        await ThrowsCodeAsync(PaymentsKitErrorCodes.IdempotencyConflict,
            () => h.Transactions.CreateAsync(partner.Id, WithMetadata("meta", ("b", "3"), ("a", "1")), Context).AsTask());
        await ThrowsCodeAsync(PaymentsKitErrorCodes.IdempotencyConflict,
            () => h.Transactions.CreateAsync(partner.Id, WithMetadata("meta", ("B", "2"), ("a", "1")), Context).AsTask());
    }

    [Fact]
    public async Task A_Transaction_Fingerprinted_With_Metadata_In_The_Callers_Order_Still_Replays_In_That_Order()
    {
        using var h = await HarnessAsync();
        var partner = await h.NewPartnerAsync();
        var request = WithMetadata("legacy", ("b", "2"), ("a", "1"));
        var first = await h.Transactions.CreateAsync(partner.Id, request, Context);

        // What versions that hashed the metadata in the caller's order stored.
        var legacy = Idempotency.Fingerprint(request with { Amount = Money.Of(request.Amount, AssetRegistry.Usd).Amount }, PaymentsKitJson.CreateOptions(new AssetRegistry()));
        await RewriteAsync(h, partner.Id, first.Id, tx => tx with { RequestFingerprint = legacy });

        Assert.Equal(first.Id, (await h.Transactions.CreateAsync(partner.Id, request, Context)).Id);
        await ThrowsCodeAsync(PaymentsKitErrorCodes.IdempotencyConflict,
            () => h.Transactions.CreateAsync(partner.Id, WithMetadata("legacy", ("b", "3"), ("a", "1")), Context).AsTask());
    }

    [Fact]
    public async Task A_Stale_Authorized_Poll_Does_Not_Undo_An_In_Flight_Capture()
    {
        GatedPaymentProvider? stripe = null;
        using var h = await HarnessAsync(wrapStripe: inner => stripe = new GatedPaymentProvider(inner));
        var partner = await h.NewPartnerAsync();
        var authorized = await h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request("cap") with { CaptureMethod = CaptureMethod.Manual }, Context);

        // The poll is answered "authorized" before the capture is sent, and applied after it.
        var answered = stripe!.HoldNextPoll();
        var poll = Task.Run(() => h.Transactions.SyncAsync(partner.Id, authorized.Id, Context).AsTask());
        await answered;
        stripe.NextCapture = CaptureLoss.AnswerLost;
        var capturing = await h.Transactions.CaptureAsync(partner.Id, authorized.Id, Context);
        Assert.Equal((TransactionStatus.Processing, ProviderAction.Capture), (capturing.Status, capturing.InFlightAction));
        stripe.ReleasePoll();
        await poll;

        // The capture the SDK sent stands: the stale answer reopened nothing, and the sync finished the capture.
        var after = await h.Transactions.GetAsync(partner.Id, authorized.Id);
        Assert.Equal((TransactionStatus.Completed, (ProviderAction?)null), (after.Status, after.InFlightAction));
        Assert.Single(await h.Transactions.GetEventsAsync(partner.Id, authorized.Id), e => e.Status == TransactionStatus.Completed);
        Assert.Equal(100m, await h.BalanceAsync(partner.Id, "orch:sales:USD"));
    }

    [Fact]
    public async Task A_Poll_Answering_Authorized_Keeps_An_In_Flight_Capture_And_Resends_It()
    {
        GatedPaymentProvider? stripe = null;
        using var h = await HarnessAsync(wrapStripe: inner => stripe = new GatedPaymentProvider(inner));
        var partner = await h.NewPartnerAsync();
        var authorized = await h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request("cap") with { CaptureMethod = CaptureMethod.Manual }, Context);
        stripe!.NextCapture = CaptureLoss.BeforeReachingProvider;
        var capturing = await h.Transactions.CaptureAsync(partner.Id, authorized.Id, Context);
        Assert.Equal((TransactionStatus.Processing, ProviderAction.Capture), (capturing.Status, capturing.InFlightAction));
        await AssertRejectedAsync(h, partner.Id, PaymentsKitErrorCodes.TransactionInFlight, () => h.Transactions.CancelAsync(partner.Id, authorized.Id, Context).AsTask());

        // The provider still reports the authorization: the sync resends the capture (the transaction id is its idempotency key).
        var synced = await h.Transactions.SyncAsync(partner.Id, authorized.Id, Context);
        Assert.Equal((TransactionStatus.Completed, (ProviderAction?)null), (synced.Status, synced.InFlightAction));
        Assert.Equal(1, synced.RetryCount);
        Assert.Equal(100m, await h.BalanceAsync(partner.Id, "orch:sales:USD"));
        Assert.Equal(TransactionStatus.Completed, (await h.Transactions.SyncAsync(partner.Id, authorized.Id, Context)).Status);
    }

    [Fact]
    public async Task A_Host_That_Has_Not_Registered_The_Provider_Refuses_Its_Calls_Before_Writing_Anything()
    {
        using var h = await HarnessAsync();
        var partner = await h.NewPartnerAsync();
        var completed = await h.CompletedAsync(partner);
        var pending = await h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request("pending") with { Confirm = false }, Context);
        var authorized = await h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request("authorized") with { CaptureMethod = CaptureMethod.Manual }, Context);

        // Another host of the same store that registers only the manual provider (a worker, a host part-way through a rollout).
        var services = new ServiceCollection();
        services.AddSingleton(h.Store);
        services.AddPaymentsKit().UseClock(h.Clock);
        await using var other = services.BuildServiceProvider();
        var transactions = other.GetRequiredService<ITransactionService>();
        var refunds = other.GetRequiredService<IRefundService>();

        // Refused as the call it is, with nothing reserved, claimed or put in flight that only a host with the provider could
        // ever send (and would, after the caller was told no).
        await AssertRejectedAsync(h, partner.Id, PaymentsKitErrorCodes.UnknownProvider,
            () => refunds.RefundAsync(partner.Id, completed.Id, new CreateRefundRequest(30m, "damaged"), Context).AsTask());
        await AssertRejectedAsync(h, partner.Id, PaymentsKitErrorCodes.UnknownProvider, () => transactions.ConfirmAsync(partner.Id, pending.Id, Context).AsTask());
        await AssertRejectedAsync(h, partner.Id, PaymentsKitErrorCodes.UnknownProvider, () => transactions.CaptureAsync(partner.Id, authorized.Id, Context).AsTask());
        await AssertRejectedAsync(h, partner.Id, PaymentsKitErrorCodes.UnknownProvider, () => transactions.CancelAsync(partner.Id, authorized.Id, Context).AsTask());

        Assert.Equal(completed, await h.Transactions.GetAsync(partner.Id, completed.Id));
        Assert.Equal(pending, await h.Transactions.GetAsync(partner.Id, pending.Id));
        Assert.Equal(authorized, await h.Transactions.GetAsync(partner.Id, authorized.Id));

        // A pending transaction, which needs no provider call to cancel, is still cancelled there.
        Assert.Equal(TransactionStatus.Cancelled, (await transactions.CancelAsync(partner.Id, pending.Id, Context)).Status);
    }

    [Theory]
    [InlineData(ProviderAction.Capture, TransactionStatus.Completed, 100)]
    [InlineData(ProviderAction.Cancel, TransactionStatus.Cancelled, 0)]
    public async Task A_Capture_Or_Cancel_The_Providers_Poll_Does_Not_Know_Is_Sent_Again_By_Sync(ProviderAction action, TransactionStatus expected, int sales)
    {
        var store = new CrashingStore(await CreateStoreAsync());
        using var h = OrchestrationHarness.Create(store);
        var partner = await h.NewPartnerAsync();
        var authorized = await h.Transactions.CreateAsync(
            partner.Id, OrchestrationHarness.Request("manual", provider: "manual") with { CaptureMethod = CaptureMethod.Manual }, Context);
        Assert.Equal(TransactionStatus.Processing, authorized.Status);
        Assert.NotNull(authorized.AuthorizedAt);

        // The call dies (a crash, an aborted request) once the capture or cancel is claimed, before the provider is asked.
        (store.CrashOn, store.AfterCommit) = (r => r is PaymentTransaction { InFlightAction: not null }, true);
        await Assert.ThrowsAsync<InvalidOperationException>(() => (action == ProviderAction.Capture
            ? h.Transactions.CaptureAsync(partner.Id, authorized.Id, Context)
            : h.Transactions.CancelAsync(partner.Id, authorized.Id, Context)).AsTask());
        var stuck = await h.Transactions.GetAsync(partner.Id, authorized.Id);
        Assert.Equal((TransactionStatus.Processing, (ProviderAction?)action), (stuck.Status, stuck.InFlightAction));

        // The manual provider keeps no state, so its status poll answers "unknown": the sync sends the call again (keyed by
        // the transaction id) instead of polling it for ever while the partner can neither capture, cancel nor delete it.
        var synced = await h.Transactions.SyncAsync(partner.Id, authorized.Id, Context);
        Assert.Equal((expected, (ProviderAction?)null), (synced.Status, synced.InFlightAction));
        Assert.Equal(sales, await h.BalanceAsync(partner.Id, "orch:sales:USD"));
        Assert.Equal(synced, await h.Transactions.SyncAsync(partner.Id, authorized.Id, Context));
    }

    [Theory]
    [InlineData(CaptureMethod.Automatic, TransactionStatus.Completed)]
    [InlineData(CaptureMethod.Manual, TransactionStatus.Processing)]
    public async Task A_Payment_That_Never_Reached_The_Provider_Is_Sent_Again_By_Sync(CaptureMethod method, TransactionStatus expected)
    {
        GatedPaymentProvider? stripe = null;
        using var h = await HarnessAsync(wrapStripe: inner => stripe = new GatedPaymentProvider(inner));
        var partner = await h.NewPartnerAsync();
        stripe!.LoseNextPayment = true;
        var sent = await h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request("lost") with { CaptureMethod = method }, Context);
        Assert.Equal((TransactionStatus.Processing, ProviderAction.Payment), (sent.Status, sent.InFlightAction));

        // The provider knows nothing of it: the sync sends it again (the transaction id is its idempotency key) instead of polling for ever.
        var synced = await h.Transactions.SyncAsync(partner.Id, sent.Id, Context);
        Assert.Equal((expected, (ProviderAction?)null), (synced.Status, synced.InFlightAction));
        Assert.Equal(method == CaptureMethod.Automatic ? 100m : 0m, await h.BalanceAsync(partner.Id, "orch:sales:USD"));
        if (method == CaptureMethod.Manual)
        {
            Assert.NotNull(synced.AuthorizedAt);
            Assert.Equal(TransactionStatus.Completed, (await h.Transactions.CaptureAsync(partner.Id, sent.Id, Context)).Status);
        }
    }

    [Fact]
    public async Task A_Redelivered_Capture_Failure_Webhook_Does_Not_Fail_A_Standing_Authorization()
    {
        GatedPaymentProvider? stripe = null;
        using var h = await HarnessAsync(wrapStripe: inner => stripe = new GatedPaymentProvider(inner));
        var partner = await h.NewPartnerAsync();
        var authorized = await h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request("cap") with { CaptureMethod = CaptureMethod.Manual }, Context);
        stripe!.NextCapture = CaptureLoss.BeforeReachingProvider;
        await h.Transactions.CaptureAsync(partner.Id, authorized.Id, Context);
        var payload = "{\"id\":\"evt_capture_failed\",\"type\":\"payment.failed\",\"data\":{\"id\":\"pi_x\",\"reference\":\"" + authorized.Id
            + "\",\"status\":\"failed\",\"error_code\":\"capture_failed\",\"error_message\":\"try again\"}}";

        // Webhooks arrive at least once: the redelivery of the capture's failure must not fail the payment.
        for (var delivery = 0; delivery < 2; delivery++)
        {
            var handled = await h.Transactions.HandleProviderWebhookAsync(PaymentProvider.Stripe, payload, h.Stripe.Sign(payload), Context);
            Assert.Equal((TransactionStatus.Processing, (ProviderAction?)null, "capture_failed"), (handled.Transaction.Status, handled.Transaction.InFlightAction, handled.Transaction.ErrorCode));
        }

        Assert.Equal(TransactionStatus.Completed, (await h.Transactions.CaptureAsync(partner.Id, authorized.Id, Context)).Status);
    }

    [Fact]
    public async Task An_Automatic_Charge_Stored_As_Authorized_Can_Be_Neither_Captured_Nor_Cancelled()
    {
        using var h = await HarnessAsync();
        var partner = await h.NewPartnerAsync();
        var authorized = await h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request("auto-authorized") with { CaptureMethod = CaptureMethod.Manual }, Context);

        // Older code marked an automatic charge the provider had authorized as authorized, and such records may still be stored.
        await RewriteAsync(h, partner.Id, authorized.Id, tx => tx with { CaptureMethod = CaptureMethod.Automatic });
        var calls = h.Stripe.CallCount;
        await AssertRejectedAsync(h, partner.Id, PaymentsKitErrorCodes.InvalidTransition, () => h.Transactions.CaptureAsync(partner.Id, authorized.Id, Context).AsTask());
        await AssertRejectedAsync(h, partner.Id, PaymentsKitErrorCodes.InvalidTransition, () => h.Transactions.CancelAsync(partner.Id, authorized.Id, Context).AsTask());

        Assert.Equal(calls, h.Stripe.CallCount);
        var after = await h.Transactions.GetAsync(partner.Id, authorized.Id);
        Assert.Equal((TransactionStatus.Processing, (ProviderAction?)null), (after.Status, after.InFlightAction));
        Assert.Equal(0m, await h.BalanceAsync(partner.Id, "orch:sales:USD"));
    }

    [Fact]
    public async Task A_Poll_Answering_Authorized_For_An_Automatic_Charge_In_Flight_Does_Not_Make_It_Capturable()
    {
        GatedPaymentProvider? stripe = null;
        using var h = await HarnessAsync(wrapStripe: inner => stripe = new GatedPaymentProvider(inner));
        var partner = await h.NewPartnerAsync();
        stripe!.LoseNextPayment = true;
        var charging = await h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request("auto") with { CaptureMethod = CaptureMethod.Automatic }, Context);
        Assert.Equal((TransactionStatus.Processing, ProviderAction.Payment), (charging.Status, charging.InFlightAction));

        // The provider has authorized the charge and has yet to capture it itself: the charge is still in flight.
        stripe.NextPollAnswer = new ProviderResult(ProviderOutcome.Authorized, "pi_auto");
        var polled = await h.Transactions.SyncAsync(partner.Id, charging.Id, Context);
        Assert.Equal((TransactionStatus.Processing, ProviderAction.Payment, (Instant?)null), (polled.Status, polled.InFlightAction, polled.AuthorizedAt));
        Assert.Equal(1, polled.RetryCount);

        // Not "in flight, try again": an automatic charge is never an authorization to capture or void.
        await AssertRejectedAsync(h, partner.Id, PaymentsKitErrorCodes.InvalidTransition, () => h.Transactions.CaptureAsync(partner.Id, charging.Id, Context).AsTask());
        await AssertRejectedAsync(h, partner.Id, PaymentsKitErrorCodes.InvalidTransition, () => h.Transactions.CancelAsync(partner.Id, charging.Id, Context).AsTask());

        // The charge still resolves: the next poll finds the provider never got it and sends it again, once.
        var synced = await h.Transactions.SyncAsync(partner.Id, charging.Id, Context);
        Assert.Equal((TransactionStatus.Completed, (ProviderAction?)null), (synced.Status, synced.InFlightAction));
        Assert.Single(await h.Transactions.GetEventsAsync(partner.Id, charging.Id), e => e.Status == TransactionStatus.Completed);
        Assert.Equal(100m, await h.BalanceAsync(partner.Id, "orch:sales:USD"));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_Replayed_Create_Sends_A_Payment_The_Crashed_First_Call_Never_Sent(bool crashAfterClaim)
    {
        var store = new CrashingStore(await CreateStoreAsync());
        using var h = OrchestrationHarness.Create(store);
        var partner = await h.NewPartnerAsync();

        // The process dies before sending the payment: stored pending (or processing, claimed for the send) and never sent.
        (store.CrashOn, store.AfterCommit) = (r => r is PaymentTransaction { Status: TransactionStatus.Processing }, crashAfterClaim);
        await Assert.ThrowsAsync<InvalidOperationException>(() => h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request("crash"), Context).AsTask());
        var stored = Assert.Single((await h.Transactions.ListAsync(partner.Id, null, 10)).Items);
        Assert.Equal(crashAfterClaim ? TransactionStatus.Processing : TransactionStatus.Pending, stored.Status);
        Assert.Equal(0, h.Stripe.CallCount);

        var replay = await h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request("crash"), Context);

        Assert.Equal((stored.Id, TransactionStatus.Completed, (ProviderAction?)null), (replay.Id, replay.Status, replay.InFlightAction));
        Assert.Equal(replay, await h.Transactions.GetAsync(partner.Id, stored.Id));
        Assert.Single(await h.Transactions.GetEventsAsync(partner.Id, stored.Id), e => e.Status == TransactionStatus.Completed);
        Assert.Equal(100m, await h.BalanceAsync(partner.Id, "orch:sales:USD"));
        var audit = Assert.Single(await h.AuditAsync(partner.Id), a => a.Outcome == AuditOutcome.Replayed);
        Assert.Equal("completed", audit.Changes!.Before!.Value.GetProperty("status").GetString());

        // Once sent, a replay only returns it.
        var calls = h.Stripe.CallCount;
        Assert.Equal(replay, await h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request("crash"), Context));
        Assert.Equal(calls, h.Stripe.CallCount);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Concurrent_Replays_Of_A_Create_That_Crashed_Before_Sending_Charge_Once(bool crashAfterClaim)
    {
        var store = new CrashingStore(await CreateStoreAsync());
        using var h = OrchestrationHarness.Create(store);
        var partner = await h.NewPartnerAsync();
        (store.CrashOn, store.AfterCommit) = (r => r is PaymentTransaction { Status: TransactionStatus.Processing }, crashAfterClaim);
        await Assert.ThrowsAsync<InvalidOperationException>(() => h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request("crash"), Context).AsTask());

        var replays = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ =>
            Task.Run(() => h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request("crash"), Context).AsTask())));

        Assert.Single(replays.Select(r => r.Id).Distinct());
        Assert.All(replays, r => Assert.Equal(TransactionStatus.Completed, r.Status));
        Assert.Equal(1, (await h.CountAsync(partner.Id)).Transactions);
        Assert.Single(await h.Transactions.GetEventsAsync(partner.Id, replays[0].Id), e => e.Status == TransactionStatus.Processing);
        Assert.Single(await h.Transactions.GetEventsAsync(partner.Id, replays[0].Id), e => e.Status == TransactionStatus.Completed);
        Assert.Equal(100m, await h.BalanceAsync(partner.Id, "orch:sales:USD"));

        // The provider settled one charge (one webhook per settled operation), however many calls reached it.
        h.Clock.Advance(Duration.FromMinutes(1));
        Assert.Single(h.Stripe.TakeDueWebhooks());
    }

    [Fact]
    public async Task Sync_Sends_A_Confirmed_Create_That_Crashed_Before_Sending_Once_Its_Grace_Period_Has_Passed()
    {
        var store = new CrashingStore(await CreateStoreAsync());
        using var h = OrchestrationHarness.Create(store, o => o.UnsentPaymentGracePeriod = Duration.FromSeconds(30));
        var partner = await h.NewPartnerAsync();
        (store.CrashOn, store.AfterCommit) = (r => r is PaymentTransaction { Status: TransactionStatus.Processing }, false);
        await Assert.ThrowsAsync<InvalidOperationException>(() => h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request("crash"), Context).AsTask());
        var stored = Assert.Single((await h.Transactions.ListAsync(partner.Id, null, 10)).Items);
        Assert.Equal((TransactionStatus.Pending, true), (stored.Status, stored.ConfirmOnCreate));

        // Within the grace period the create may still be on its way to sending it: the sync leaves it alone.
        h.Clock.Advance(Duration.FromSeconds(29));
        Assert.Equal(TransactionStatus.Pending, (await h.Transactions.SyncAsync(partner.Id, stored.Id, Context)).Status);
        Assert.Equal(0, h.Stripe.CallCount);

        // The client never replays: once the grace period is over the sync sends it, as a replay would.
        h.Clock.Advance(Duration.FromSeconds(1));
        var synced = await h.Transactions.SyncAsync(partner.Id, stored.Id, Context);
        Assert.Equal((TransactionStatus.Completed, (ProviderAction?)null), (synced.Status, synced.InFlightAction));
        Assert.Single(await h.Transactions.GetEventsAsync(partner.Id, stored.Id), e => e.Status == TransactionStatus.Processing);
        Assert.Single(await h.Transactions.GetEventsAsync(partner.Id, stored.Id), e => e.Status == TransactionStatus.Completed);
        Assert.Equal(100m, await h.BalanceAsync(partner.Id, "orch:sales:USD"));

        var calls = h.Stripe.CallCount;
        Assert.Equal(synced, await h.Transactions.SyncAsync(partner.Id, stored.Id, Context));
        Assert.Equal(calls, h.Stripe.CallCount);
    }

    [Fact]
    public async Task Concurrent_Syncs_Of_A_Create_That_Crashed_Before_Sending_Charge_Once()
    {
        var store = new CrashingStore(await CreateStoreAsync());
        using var h = OrchestrationHarness.Create(store);
        var partner = await h.NewPartnerAsync();
        (store.CrashOn, store.AfterCommit) = (r => r is PaymentTransaction { Status: TransactionStatus.Processing }, false);
        await Assert.ThrowsAsync<InvalidOperationException>(() => h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request("crash"), Context).AsTask());
        var stored = Assert.Single((await h.Transactions.ListAsync(partner.Id, null, 10)).Items);
        h.Clock.Advance(Duration.FromMinutes(1));

        var syncs = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ =>
            Task.Run(() => h.Transactions.SyncAsync(partner.Id, stored.Id, Context).AsTask())));

        Assert.All(syncs, s => Assert.Equal(TransactionStatus.Completed, s.Status));
        Assert.Single(await h.Transactions.GetEventsAsync(partner.Id, stored.Id), e => e.Status == TransactionStatus.Processing);
        Assert.Single(await h.Transactions.GetEventsAsync(partner.Id, stored.Id), e => e.Status == TransactionStatus.Completed);
        Assert.Equal(100m, await h.BalanceAsync(partner.Id, "orch:sales:USD"));

        // The provider settled one charge (one webhook per settled operation), however many calls reached it.
        h.Clock.Advance(Duration.FromMinutes(1));
        Assert.Single(h.Stripe.TakeDueWebhooks());
    }

    [Fact]
    public async Task Sync_Never_Sends_An_Unconfirmed_Create_Nor_One_Stored_Before_Confirm_Was_Kept()
    {
        var store = new CrashingStore(await CreateStoreAsync());
        using var h = OrchestrationHarness.Create(store);
        var partner = await h.NewPartnerAsync();
        var unconfirmed = await h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request("later") with { Confirm = false }, Context);
        Assert.False(unconfirmed.ConfirmOnCreate);

        // A record stored before the flag existed reads as not confirmed: whether its create asked to send it is unknown.
        (store.CrashOn, store.AfterCommit) = (r => r is PaymentTransaction { Status: TransactionStatus.Processing }, false);
        await Assert.ThrowsAsync<InvalidOperationException>(() => h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request("old"), Context).AsTask());
        var old = Assert.Single((await h.Transactions.ListAsync(partner.Id, null, 10)).Items, t => t.IdempotencyKey == "old");
        await RewriteAsync(h, partner.Id, old.Id, tx => tx with { ConfirmOnCreate = false });

        h.Clock.Advance(Duration.FromDays(1));
        Assert.Equal(TransactionStatus.Pending, (await h.Transactions.SyncAsync(partner.Id, unconfirmed.Id, Context)).Status);
        Assert.Equal(TransactionStatus.Pending, (await h.Transactions.SyncAsync(partner.Id, old.Id, Context)).Status);
        Assert.Equal(0, h.Stripe.CallCount);

        // It waits for its confirmation, which still sends it.
        Assert.Equal(TransactionStatus.Completed, (await h.Transactions.ConfirmAsync(partner.Id, unconfirmed.Id, Context)).Status);
    }

    /// <summary>Changes a stored transaction behind the services' back, as older code or a migration may have left it.</summary>
    private static async Task RewriteAsync(OrchestrationHarness h, PartnerId partner, TransactionId id, Func<PaymentTransaction, PaymentTransaction> change)
    {
        var unit = await h.Store.BeginAsync();
        await using (unit)
        {
            var stored = await unit.GetAsync(OrchestrationCollections.Transactions, partner.Value, id.Value);
            unit.Update(OrchestrationCollections.Transactions, change(stored!.Value), stored.Version);
            await unit.CommitAsync();
        }
    }

    private static CreateTransactionRequest WithMetadata(string key, params (string Key, string Value)[] pairs)
    {
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (name, value) in pairs)
        {
            metadata.Add(name, value);
        }

        return OrchestrationHarness.Request(key) with { Metadata = metadata };
    }

    [Fact]
    public async Task Captures_Cancels_And_Refunds_Racing_On_An_Authorized_Transaction_Settle_It_One_Way_And_Never_Refund_More_Than_Captured()
    {
        using var h = await HarnessAsync();
        var partner = await h.NewPartnerAsync();
        var tx = await h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request("race") with { CaptureMethod = CaptureMethod.Manual }, Context);

        var outcomes = await Race.RunAsync(
            Race.Times(4, "capture", async () => (await h.Transactions.CaptureAsync(partner.Id, tx.Id, Context)).Status.ToString())
                .Concat(Race.Times(4, "cancel", async () => (await h.Transactions.CancelAsync(partner.Id, tx.Id, Context)).Status.ToString()))
                .Concat(Race.Times(4, "refund", async () => (await h.Refunds.RefundAsync(partner.Id, tx.Id, new CreateRefundRequest(40m, "race"), Context)).Status.ToString())));

        string[] refusals =
        [
            PaymentsKitErrorCodes.InvalidTransition, PaymentsKitErrorCodes.TransactionInFlight, PaymentsKitErrorCodes.NotRefundable,
            PaymentsKitErrorCodes.RefundExceedsRemaining, PaymentsKitErrorCodes.ConcurrencyConflict,
        ];
        Assert.All(outcomes.Where(o => !o.Won), o => Assert.Contains(o.Code, refusals));
        Assert.Equal(1, outcomes.Count(o => o.Won && (o.Caller is "capture" or "cancel")));
        var final = await h.Transactions.GetAsync(partner.Id, tx.Id);
        var events = await h.Transactions.GetEventsAsync(partner.Id, tx.Id);
        Assert.All(outcomes.Where(o => o.Won && o.Caller == "refund"), o => Assert.Equal(nameof(RefundStatus.Completed), o.Value));
        var refunded = outcomes.Count(o => o.Won && o.Caller == "refund") * 40m;
        if (outcomes.Any(o => o.Won && o.Caller == "cancel"))
        {
            Assert.Equal((TransactionStatus.Cancelled, 0m), (final.Status, refunded));
            Assert.Equal(0m, await h.BalanceAsync(partner.Id, "orch:sales:USD"));
            Assert.DoesNotContain(events, e => e.Status == TransactionStatus.Completed);
        }
        else
        {
            Assert.True(refunded <= 80m, $"refunded {refunded} of 100");
            Assert.Equal(100m, await h.BalanceAsync(partner.Id, "orch:sales:USD"));
            // Captured once; a refund's initiated event also shows the completed status it left as it was.
            Assert.Single(events, e => e.EventType == TransactionEventType.PaymentCompleted);
            Assert.DoesNotContain(events, e => e.Status == TransactionStatus.Cancelled);
            Assert.Equal(refunded, final.RefundedAmount.Amount + final.ReservedRefundAmount.Amount);
        }

        Assert.Equal(refunded, (await h.Refunds.ListRefundsAsync(partner.Id, tx.Id)).Sum(r => r.Amount.Amount));
        Assert.Equal(final.RefundedAmount.Amount, await h.BalanceAsync(partner.Id, "orch:refunds:USD"));
        Assert.True((await h.Ledger.ReconcileAsync(MerchantId.FromGuid(partner.Id.Value))).IsClean);
    }

    [Fact]
    public async Task Confirmations_And_Cancellations_Racing_On_A_Pending_Transaction_Charge_It_Once_Or_Never()
    {
        using var h = await HarnessAsync();
        var partner = await h.NewPartnerAsync();
        var tx = await h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request("race") with { Confirm = false }, Context);

        var outcomes = await Race.RunAsync(
            Race.Times(6, "confirm", async () => (await h.Transactions.ConfirmAsync(partner.Id, tx.Id, Context)).Status)
                .Concat(Race.Times(6, "cancel", async () => (await h.Transactions.CancelAsync(partner.Id, tx.Id, Context)).Status)));

        Assert.All(outcomes.Where(o => !o.Won), o => Assert.Contains(o.Code, new[] { PaymentsKitErrorCodes.InvalidTransition, PaymentsKitErrorCodes.TransactionInFlight }));
        var winner = Assert.Single(outcomes, o => o.Won);
        var final = await h.Transactions.GetAsync(partner.Id, tx.Id);
        Assert.Equal(winner.Value, final.Status);
        var events = await h.Transactions.GetEventsAsync(partner.Id, tx.Id);
        if (winner.Caller == "cancel")
        {
            // Cancelled before it was confirmed: the provider was never asked to charge.
            Assert.Equal((TransactionStatus.Cancelled, 0, 0m), (final.Status, h.Stripe.CallCount, await h.BalanceAsync(partner.Id, "orch:sales:USD")));
        }
        else
        {
            Assert.Equal((TransactionStatus.Completed, 100m), (final.Status, await h.BalanceAsync(partner.Id, "orch:sales:USD")));
            Assert.Single(events, e => e.Status == TransactionStatus.Completed);
        }

        Assert.Equal(events.Count, events.Select(e => e.Sequence).Distinct().Count());
    }

    [Fact]
    public async Task Captures_Deletes_And_Refunds_Racing_On_An_Authorized_Transaction_Book_Every_Refund_And_Leave_None_In_Flight()
    {
        using var h = await HarnessAsync();
        var partner = await h.NewPartnerAsync();
        var tx = await h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request("race") with { CaptureMethod = CaptureMethod.Manual }, Context);

        var outcomes = await Race.RunAsync(
            Race.Times(4, "capture", async () => (await h.Transactions.CaptureAsync(partner.Id, tx.Id, Context)).Status.ToString())
                .Concat(Race.Times(4, "delete", async () => (await h.Transactions.DeleteAsync(partner.Id, tx.Id, Context)).Status.ToString()))
                .Concat(Race.Times(4, "refund", async () => (await h.Refunds.RefundAsync(partner.Id, tx.Id, new CreateRefundRequest(30m, "race"), Context)).Status.ToString())));

        string[] refusals =
        [
            PaymentsKitErrorCodes.InvalidTransition, PaymentsKitErrorCodes.TransactionInFlight, PaymentsKitErrorCodes.NotRefundable,
            PaymentsKitErrorCodes.RefundExceedsRemaining, PaymentsKitErrorCodes.NotFound, PaymentsKitErrorCodes.ConcurrencyConflict,
        ];
        Assert.All(outcomes.Where(o => !o.Won), o => Assert.Contains(o.Code, refusals));
        Assert.True(outcomes.Count(o => o.Won && o.Caller == "capture") <= 1);
        Assert.True(outcomes.Count(o => o.Won && o.Caller == "delete") <= 1);
        Assert.All(outcomes.Where(o => o.Won && o.Caller == "refund"), o => Assert.Equal(nameof(RefundStatus.Completed), o.Value));
        var captured = outcomes.Any(o => o.Won && o.Caller == "capture");
        var refunded = outcomes.Count(o => o.Won && o.Caller == "refund") * 30m;
        Assert.True(captured || refunded == 0m, "a refund of an uncaptured authorization");
        Assert.True(refunded <= 90m);
        Assert.Equal(captured ? 100m : 0m, await h.BalanceAsync(partner.Id, "orch:sales:USD"));
        Assert.Equal(refunded, await h.BalanceAsync(partner.Id, "orch:refunds:USD"));
        var stored = await h.Store.ExecuteAsync(async (unit, ct) => await unit.GetAsync(OrchestrationCollections.Transactions, partner.Id.Value, tx.Id.Value, ct));
        Assert.Equal((refunded, 0m), (stored!.Value.RefundedAmount.Amount, stored.Value.ReservedRefundAmount.Amount));
        Assert.Null(stored.Value.InFlightAction);
        Assert.True((await h.Ledger.ReconcileAsync(MerchantId.FromGuid(partner.Id.Value))).IsClean);
    }

    [Fact]
    public async Task Transactions_Created_While_Their_Partner_Is_Deleted_Are_Either_Refused_Or_Fully_Booked()
    {
        using var h = await HarnessAsync();
        var partner = await h.NewPartnerAsync();

        var outcomes = await Race.RunAsync(
            Enumerable.Range(0, 10).Select(i => ("create", (Func<Task<string>>)(async () => (await h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request($"order-{i}"), Context)).Id.ToString())))
                .Concat(Race.Times(2, "delete", async () => (await h.Partners.DeleteAsync(partner.Id, Context)).Id.ToString())));

        Assert.Single(outcomes, o => o.Won && o.Caller == "delete");
        Assert.All(outcomes.Where(o => !o.Won), o => Assert.Contains(o.Code, new[] { PaymentsKitErrorCodes.PartnerDeleted, PaymentsKitErrorCodes.NotFound }));
        var created = outcomes.Where(o => o.Won && o.Caller == "create").ToList();
        Assert.Equal(100m * created.Count, await h.BalanceAsync(partner.Id, "orch:sales:USD"));
        Assert.Equal(created.Count, (await h.CountAsync(partner.Id)).Transactions);
        Assert.Equal(created.Count, h.Stripe.CallCount);
        Assert.True((await h.Ledger.ReconcileAsync(MerchantId.FromGuid(partner.Id.Value))).IsClean);
    }

    [Fact]
    public async Task A_Call_The_Provider_Refuses_Is_Audited_As_Rejected_With_The_Providers_Code_Not_As_Succeeded()
    {
        GatedPaymentProvider? stripe = null;
        using var h = await HarnessAsync(wrapStripe: inner => stripe = new GatedPaymentProvider(inner));
        var partner = await h.NewPartnerAsync();

        var capture = await h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request("cap") with { CaptureMethod = CaptureMethod.Manual }, Context);
        stripe!.MoveAnswer = new ProviderResult(ProviderOutcome.Declined, ErrorCode: "capture_refused", ErrorMessage: "Capture refused.");
        Assert.Null((await h.Transactions.CaptureAsync(partner.Id, capture.Id, Context)).InFlightAction);
        var cancel = await h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request("void") with { CaptureMethod = CaptureMethod.Manual }, Context);
        stripe.MoveAnswer = new ProviderResult(ProviderOutcome.Declined, ErrorCode: "void_refused", ErrorMessage: "Void refused.");
        Assert.Null((await h.Transactions.CancelAsync(partner.Id, cancel.Id, Context)).InFlightAction);
        stripe.MoveAnswer = null;

        var unconfirmed = await h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request("confirm", email: "bob+decline@example.com") with { Confirm = false }, Context);
        Assert.Equal(TransactionStatus.Failed, (await h.Transactions.ConfirmAsync(partner.Id, unconfirmed.Id, Context)).Status);
        var confirmedCreate = await h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request("create", email: "carol+decline@example.com"), Context);
        Assert.Equal(TransactionStatus.Failed, confirmedCreate.Status);

        var paid = await h.CompletedAsync(partner);
        stripe.RefundAnswer = new ProviderResult(ProviderOutcome.Declined, ErrorCode: "refund_refused", ErrorMessage: "Refund refused.");
        var refund = await h.Refunds.RefundAsync(partner.Id, paid.Id, new CreateRefundRequest(10m, "damaged"), Context);
        Assert.Equal(RefundStatus.Failed, refund.Status);

        var audit = await h.AuditAsync(partner.Id);
        AuditLogEntry Outcome(string action, string id) => Assert.Single(audit, a => a.Action == action && a.ResourceId == id);
        AssertRefused(Outcome("transaction.capture", capture.Id.ToString()), "capture_refused", "Capture refused.");
        AssertRefused(Outcome("transaction.cancel", cancel.Id.ToString()), "void_refused", "Void refused.");
        AssertRefused(Outcome("transaction.confirm", unconfirmed.Id.ToString()), "card_declined", null);
        AssertRefused(Outcome("transaction.confirm", confirmedCreate.Id.ToString()), "card_declined", null);
        AssertRefused(Outcome("refund.create", refund.Id.ToString()), "refund_refused", "Refund refused.");

        // What was sent, and when, is in the initiation's entry: accepted and put in flight, claiming no outcome.
        foreach (var (action, id) in new[]
        {
            ("transaction.capture", capture.Id.ToString()), ("transaction.cancel", cancel.Id.ToString()), ("transaction.confirm", unconfirmed.Id.ToString()),
            ("transaction.confirm", confirmedCreate.Id.ToString()), ("refund.create", refund.Id.ToString()),
        })
        {
            Assert.Equal(AuditOutcome.Succeeded, Outcome(action + ".initiated", id).Outcome);
        }

        // The creation itself happened: a transaction exists, pending.
        Assert.Equal(AuditOutcome.Succeeded, Outcome("transaction.create", confirmedCreate.Id.ToString()).Outcome);
        Assert.Equal(
            "failed",
            Outcome("transaction.confirm", confirmedCreate.Id.ToString()).Changes!.After!.Value.GetProperty("status").GetString(),
            StringComparer.OrdinalIgnoreCase);

        static void AssertRefused(AuditLogEntry entry, string code, string? message)
        {
            Assert.Equal((AuditOutcome.Rejected, code), (entry.Outcome, entry.ErrorCode));
            if (message is not null)
            {
                Assert.Equal(message, entry.ErrorMessage);
            }

            Assert.NotNull(entry.Changes?.After);
        }
    }

    [Fact]
    public async Task A_Call_Whose_Outcome_Is_Unknown_Is_Audited_As_Initiated_And_Its_Outcome_When_Learned()
    {
        GatedPaymentProvider? stripe = null;
        using var h = await HarnessAsync(wrapStripe: inner => stripe = new GatedPaymentProvider(inner));
        var partner = await h.NewPartnerAsync();
        var authorized = await h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request("cap") with { CaptureMethod = CaptureMethod.Manual }, Context);
        stripe!.NextCapture = CaptureLoss.BeforeReachingProvider;
        Assert.Equal(ProviderAction.Capture, (await h.Transactions.CaptureAsync(partner.Id, authorized.Id, Context)).InFlightAction);

        var audit = await h.AuditAsync(partner.Id);
        Assert.DoesNotContain(audit, a => a.Action == "transaction.capture");
        var initiated = Assert.Single(audit, a => a.Action == "transaction.capture.initiated");
        Assert.Equal("capture", initiated.Changes!.After!.Value.GetProperty("in_flight_action").GetString(), StringComparer.OrdinalIgnoreCase);

        // The sync that learns the outcome audits it.
        Assert.Equal(TransactionStatus.Completed, (await h.Transactions.SyncAsync(partner.Id, authorized.Id, Context)).Status);
        var sync = Assert.Single(await h.AuditAsync(partner.Id), a => a.Action == "transaction.sync");
        Assert.Equal("completed", sync.Changes!.After!.Value.GetProperty("status").GetString(), StringComparer.OrdinalIgnoreCase);

        // A capture the provider answers at once is audited once initiated and once as it ended.
        var second = await h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request("cap2") with { CaptureMethod = CaptureMethod.Manual }, Context);
        Assert.Equal(TransactionStatus.Completed, (await h.Transactions.CaptureAsync(partner.Id, second.Id, Context)).Status);
        var captured = Assert.Single(await h.AuditAsync(partner.Id), a => a.Action == "transaction.capture" && a.ResourceId == second.Id.ToString());
        Assert.Equal((AuditOutcome.Succeeded, (string?)null), (captured.Outcome, captured.ErrorCode));
        Assert.Equal("completed", captured.Changes!.After!.Value.GetProperty("status").GetString(), StringComparer.OrdinalIgnoreCase);
    }
}
