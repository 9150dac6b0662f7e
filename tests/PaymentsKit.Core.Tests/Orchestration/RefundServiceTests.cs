using NodaTime;
using PaymentsKit.Orchestration;
using PaymentsKit.Storage;
using PaymentsKit.Testing;

namespace PaymentsKit.Tests.Orchestration;

public abstract class RefundServiceTests : OrchestrationStoreTests
{
    /// <summary>A refund's reason picks the simulated provider's answer, so tests can script each refund.</summary>
    internal static SimulatedProviderOptions ScriptedRefundsForProperties => ScriptedRefunds;

    protected static SimulatedProviderOptions ScriptedRefunds => new()
    {
        Refunds = request => request.Reason switch
        {
            "decline" => SimulatedBehavior.Decline,
            "timeout" => new SimulatedBehavior(true, TimesOut: true),
            "timeout_decline" => new SimulatedBehavior(false, TimesOut: true),
            _ => SimulatedBehavior.Succeed,
        },
    };

    [Fact]
    public async Task PartialThenFinalRefunds_MoveTheStatus_WriteEvents_AndPostToTheLedger()
    {
        using var h = await HarnessAsync();
        var partner = await h.NewPartnerAsync();
        var tx = await h.CompletedAsync(partner);

        var first = await h.Refunds.RefundAsync(partner.Id, tx.Id, new CreateRefundRequest(30m, "damaged"), Context);
        Assert.Equal(RefundStatus.Completed, first.Status);
        Assert.StartsWith("re_sim_", first.ProviderRefundId, StringComparison.Ordinal);
        var afterFirst = await h.Transactions.GetAsync(partner.Id, tx.Id);
        Assert.Equal((TransactionStatus.PartiallyRefunded, 30m, 0m), (afterFirst.Status, afterFirst.RefundedAmount.Amount, afterFirst.ReservedRefundAmount.Amount));

        await h.Refunds.RefundAsync(partner.Id, tx.Id, new CreateRefundRequest(30m, "again"), Context);
        Assert.Equal(TransactionStatus.PartiallyRefunded, (await h.Transactions.GetAsync(partner.Id, tx.Id)).Status);
        await h.Refunds.RefundAsync(partner.Id, tx.Id, new CreateRefundRequest(40m, "rest"), Context);
        var final = await h.Transactions.GetAsync(partner.Id, tx.Id);
        Assert.Equal((TransactionStatus.Refunded, 100m), (final.Status, final.RefundedAmount.Amount));

        var events = await h.Transactions.GetEventsAsync(partner.Id, tx.Id);
        Assert.Equal(
            [TransactionStatus.Refunded, TransactionStatus.PartiallyRefunded, TransactionStatus.Completed, TransactionStatus.Processing, TransactionStatus.Pending],
            events.Select(e => e.Status).Distinct());
        Assert.Equal(TransactionEventType.RefundCompleted, events[0].EventType);
        Assert.Equal([40m, 30m, 30m], (await h.Refunds.ListRefundsAsync(partner.Id, tx.Id)).Select(r => r.Amount.Amount));
        Assert.Equal(100m, await h.BalanceAsync(partner.Id, "orch:refunds:USD"));
        Assert.Equal(0m, await h.BalanceAsync(partner.Id, "orch:stripe:clearing:USD"));
        Assert.Equal(3, (await h.AuditAsync(partner.Id)).Count(a => a.Action == "refund.create" && a.Outcome == AuditOutcome.Succeeded));

        await AssertRejectedAsync(h, partner.Id, PaymentsKitErrorCodes.NotRefundable,
            () => h.Refunds.RefundAsync(partner.Id, tx.Id, new CreateRefundRequest(1m, "more"), Context).AsTask());
    }

    [Fact]
    public async Task Every_Refund_Writes_Its_Initiated_And_Completed_Events_Even_When_The_Status_Stays()
    {
        using var h = await HarnessAsync();
        var partner = await h.NewPartnerAsync();
        var tx = await h.CompletedAsync(partner);

        // The seed logs every change of a transaction; a refund changes it when it reserves its amount and when it
        // completes, also the second partial refund, which leaves it partially_refunded.
        foreach (var amount in new[] { 30m, 30m, 40m })
        {
            await h.Refunds.RefundAsync(partner.Id, tx.Id, new CreateRefundRequest(amount, "r"), Context);
        }

        var events = await h.Transactions.GetEventsAsync(partner.Id, tx.Id);
        Assert.Equal(
            [
                (TransactionEventType.RefundCompleted, TransactionStatus.PartiallyRefunded, TransactionStatus.Refunded),
                (TransactionEventType.RefundInitiated, TransactionStatus.PartiallyRefunded, TransactionStatus.PartiallyRefunded),
                (TransactionEventType.RefundCompleted, TransactionStatus.PartiallyRefunded, TransactionStatus.PartiallyRefunded),
                (TransactionEventType.RefundInitiated, TransactionStatus.PartiallyRefunded, TransactionStatus.PartiallyRefunded),
                (TransactionEventType.RefundCompleted, TransactionStatus.Completed, TransactionStatus.PartiallyRefunded),
                (TransactionEventType.RefundInitiated, TransactionStatus.Completed, TransactionStatus.Completed),
                (TransactionEventType.PaymentCompleted, TransactionStatus.Processing, TransactionStatus.Completed),
                (TransactionEventType.PaymentProcessing, TransactionStatus.Pending, TransactionStatus.Processing),
                (TransactionEventType.Created, (TransactionStatus?)null, TransactionStatus.Pending),
            ],
            events.Select(e => (e.EventType, e.FromStatus, e.Status)));
        Assert.Equal(Enumerable.Range(1, 9).Reverse().Select(i => (long)i), events.Select(e => e.Sequence));
        Assert.Equal(9, (await h.Transactions.GetAsync(partner.Id, tx.Id)).EventCount);
        Assert.All(events.Take(6), e => Assert.Equal("partner:" + partner.Id, e.CreatedBy));
    }

    [Fact]
    public async Task A_Refund_Initiated_Event_Commits_With_The_Reservation_And_Its_Outcome_With_The_Settlement()
    {
        var (h, partner, tx, request) = await RefundCrashedBeforeSendingAsync();
        using (h)
        {
            // The call died right after the unit that reserved the refund: its event is there, and nothing after it.
            var initiated = (await h.Transactions.GetEventsAsync(partner.Id, tx.Id))[0];
            Assert.Equal(
                (TransactionEventType.RefundInitiated, (TransactionStatus?)TransactionStatus.Completed, TransactionStatus.Completed, 4L),
                (initiated.EventType, initiated.FromStatus, initiated.Status, initiated.Sequence));
            Assert.Equal(30m, (await h.Transactions.GetAsync(partner.Id, tx.Id)).ReservedRefundAmount.Amount);

            await h.Refunds.RefundAsync(partner.Id, tx.Id, request, Context);
            var events = await h.Transactions.GetEventsAsync(partner.Id, tx.Id);
            Assert.Equal(
                [TransactionEventType.RefundCompleted, TransactionEventType.RefundInitiated],
                events.Take(2).Select(e => e.EventType));
            Assert.Equal(5, events.Count);
        }
    }

    [Fact]
    public async Task AFullRefund_GoesStraightToRefunded()
    {
        using var h = await HarnessAsync();
        var partner = await h.NewPartnerAsync();
        var tx = await h.CompletedAsync(partner, 5000m, "JPY");
        await h.Refunds.RefundAsync(partner.Id, tx.Id, new CreateRefundRequest(5000m, "cancelled order"), Context);
        var events = await h.Transactions.GetEventsAsync(partner.Id, tx.Id);
        Assert.Equal((TransactionStatus.Completed, TransactionStatus.Refunded), (events[0].FromStatus, events[0].Status));
        Assert.Equal(5000m, await h.BalanceAsync(partner.Id, "orch:refunds:JPY"));
    }

    [Fact]
    public async Task A_Refund_Of_A_Deleted_Transaction_Is_Gone_With_It()
    {
        using var h = await HarnessAsync();
        var partner = await h.NewPartnerAsync();
        var tx = await h.CompletedAsync(partner);
        var refund = await h.Refunds.RefundAsync(partner.Id, tx.Id, new CreateRefundRequest(10m, "damaged"), Context);
        Assert.Equal(refund.Id, (await h.Refunds.GetRefundAsync(partner.Id, refund.Id)).Id);

        await h.Transactions.DeleteAsync(partner.Id, tx.Id, Context);

        // Read by its own id it answers as listing the transaction's refunds does: as a refund that never was.
        await ThrowsCodeAsync(PaymentsKitErrorCodes.NotFound, () => h.Refunds.ListRefundsAsync(partner.Id, tx.Id).AsTask());
        var gone = await ThrowsCodeAsync(PaymentsKitErrorCodes.NotFound, () => h.Refunds.GetRefundAsync(partner.Id, refund.Id).AsTask());
        Assert.Equal(("refund", refund.Id.ToString()), (gone.Context["resource"], gone.Context["id"]));
    }

    [Fact]
    public async Task RefundIdempotency_ReplaysTheRefund_AndConflictsOnADifferentRequest()
    {
        using var h = await HarnessAsync();
        var partner = await h.NewPartnerAsync();
        var tx = await h.CompletedAsync(partner);
        var request = new CreateRefundRequest(10m, "r") { IdempotencyKey = "refund-1" };
        var first = await h.Refunds.RefundAsync(partner.Id, tx.Id, request, Context);
        var replay = await h.Refunds.RefundAsync(partner.Id, tx.Id, request, Context);
        Assert.Equal(first, replay);
        Assert.Equal(10m, (await h.Transactions.GetAsync(partner.Id, tx.Id)).RefundedAmount.Amount);
        await AssertRejectedAsync(h, partner.Id, PaymentsKitErrorCodes.IdempotencyConflict,
            () => h.Refunds.RefundAsync(partner.Id, tx.Id, request with { Amount = 11m }, Context).AsTask());
    }

    [Fact]
    public async Task BadRefunds_AreRejectedWithAClearCode_AndWriteNothingButTheAudit()
    {
        using var h = await HarnessAsync();
        var partner = await h.NewPartnerAsync();
        var tx = await h.CompletedAsync(partner);
        var pending = await h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request("pending") with { Confirm = false }, Context);
        var failed = await h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request("failed", email: "x+decline@example.com"), Context);
        var processing = await h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request("processing", email: "x+timeout@example.com"), Context);

        Task Refund(TransactionId id, decimal amount, string reason = "r") => h.Refunds.RefundAsync(partner.Id, id, new CreateRefundRequest(amount, reason), Context).AsTask();
        await AssertRejectedAsync(h, partner.Id, PaymentsKitErrorCodes.NotRefundable, () => Refund(pending.Id, 1m));
        await AssertRejectedAsync(h, partner.Id, PaymentsKitErrorCodes.NotRefundable, () => Refund(failed.Id, 1m));
        await AssertRejectedAsync(h, partner.Id, PaymentsKitErrorCodes.NotRefundable, () => Refund(processing.Id, 1m));
        await AssertRejectedAsync(h, partner.Id, PaymentsKitErrorCodes.RefundExceedsRemaining, () => Refund(tx.Id, 100.01m));
        await AssertRejectedAsync(h, partner.Id, PaymentsKitErrorCodes.AmountPrecision, () => Refund(tx.Id, 0.005m));
        await AssertRejectedAsync(h, partner.Id, PaymentsKitErrorCodes.AmountOutOfRange, () => Refund(tx.Id, 0m));
        await AssertRejectedAsync(h, partner.Id, PaymentsKitErrorCodes.AmountOutOfRange, () => Refund(tx.Id, -1m));
        await AssertRejectedAsync(h, partner.Id, PaymentsKitErrorCodes.InvalidArgument, () => Refund(tx.Id, 1m, " "));
        await AssertRejectedAsync(h, partner.Id, PaymentsKitErrorCodes.NotFound, () => Refund(TransactionId.New(h.Clock), 1m));

        await Refund(tx.Id, 70m);
        var ex = await Assert.ThrowsAsync<PaymentsKitException>(() => Refund(tx.Id, 30.01m));
        Assert.Equal(PaymentsKitErrorCodes.RefundExceedsRemaining, ex.Code);
        Assert.Equal(30m, ex.Context["remaining"]);
    }

    [Fact]
    public async Task ThirtyTwoConcurrentRefundsOf60_OnA100Transaction_SucceedAtMostOnce()
    {
        using var h = await HarnessAsync();
        var partner = await h.NewPartnerAsync();
        var tx = await h.CompletedAsync(partner);
        var outcomes = await Task.WhenAll(Enumerable.Range(0, 32).Select(i => Task.Run(async () =>
        {
            try
            {
                await h.Refunds.RefundAsync(partner.Id, tx.Id, new CreateRefundRequest(60m, "race " + i), Context);
                return "ok";
            }
            catch (PaymentsKitException ex)
            {
                return ex.Code;
            }
        })));
        Assert.Equal(1, outcomes.Count(o => o == "ok"));
        Assert.All(outcomes.Where(o => o != "ok"), o => Assert.Contains(o, new[] { PaymentsKitErrorCodes.RefundExceedsRemaining, PaymentsKitErrorCodes.ConcurrencyConflict }));
        var after = await h.Transactions.GetAsync(partner.Id, tx.Id);
        Assert.Equal((60m, 0m, TransactionStatus.PartiallyRefunded), (after.RefundedAmount.Amount, after.ReservedRefundAmount.Amount, after.Status));
        Assert.Single(await h.Refunds.ListRefundsAsync(partner.Id, tx.Id));
        Assert.Equal(60m, await h.BalanceAsync(partner.Id, "orch:refunds:USD"));
        Assert.Equal(31, (await h.AuditAsync(partner.Id)).Count(a => a.Action == "refund.create" && a.Outcome == AuditOutcome.Rejected));
    }

    [Fact]
    public async Task Refunds_From_Two_Hosts_Summing_Past_The_Capture_Refund_At_Most_It_In_Flight_And_Once_Settled()
    {
        using var h = await HarnessAsync(stripe: ScriptedRefunds);
        using var other = OrchestrationHarness.Create(await CreateOtherHostStoreAsync(h.Store), wrapStripe: _ => h.Stripe);
        var partner = await h.NewPartnerAsync();
        var tx = await h.CompletedAsync(partner);

        // 24 refunds of 9 against 100: eleven fit (99), half of them stay in flight at the provider until its webhooks.
        var outcomes = await Race.RunAsync(Enumerable.Range(0, 24).Select(i => (
            i % 2 == 0 ? "here" : "other",
            (Func<Task<Refund>>)(() => (i % 2 == 0 ? h : other).Refunds.RefundAsync(partner.Id, tx.Id, new CreateRefundRequest(9m, i % 4 < 2 ? "timeout" : "race " + i), Context).AsTask()))));

        var won = outcomes.Where(o => o.Won).Select(o => o.Value!).ToList();
        Assert.Equal(11, won.Count);
        Assert.All(outcomes.Where(o => !o.Won), o => Assert.Equal(PaymentsKitErrorCodes.RefundExceedsRemaining, o.Code));
        Assert.Equal(won.Select(r => r.Id.ToString()).Order(StringComparer.Ordinal), (await h.Refunds.ListRefundsAsync(partner.Id, tx.Id)).Select(r => r.Id.ToString()).Order(StringComparer.Ordinal));
        Assert.Equal(won.Count, won.Select(r => r.Sequence).Distinct().Count());
        var completed = won.Where(r => r.Status == RefundStatus.Completed).Sum(r => r.Amount.Amount);
        var held = await h.Transactions.GetAsync(partner.Id, tx.Id);
        Assert.Equal((completed, 99m - completed), (held.RefundedAmount.Amount, held.ReservedRefundAmount.Amount));
        Assert.Equal(completed, await h.BalanceAsync(partner.Id, "orch:refunds:USD"));

        await h.DeliverWebhooksAsync(h.Stripe);
        var settled = await h.Transactions.GetAsync(partner.Id, tx.Id);
        Assert.Equal((99m, 0m, TransactionStatus.PartiallyRefunded), (settled.RefundedAmount.Amount, settled.ReservedRefundAmount.Amount, settled.Status));
        Assert.Equal(99m, await h.BalanceAsync(partner.Id, "orch:refunds:USD"));
        Assert.All(await h.Refunds.ListRefundsAsync(partner.Id, tx.Id), r => Assert.Equal(RefundStatus.Completed, r.Status));
    }

    [Fact]
    public async Task A_Settled_Refund_Is_Returned_And_Audited_As_It_Was_Stored()
    {
        using var h = await HarnessAsync(stripe: ScriptedRefunds);
        var partner = await h.NewPartnerAsync();
        var tx = await h.CompletedAsync(partner);
        var slow = await h.Refunds.RefundAsync(partner.Id, tx.Id, new CreateRefundRequest(60m, "timeout"), Context);
        Assert.Equal(RefundStatus.Processing, slow.Status);
        h.Clock.Advance(Duration.FromMinutes(1));
        Refund? returned = null;
        foreach (var webhook in h.Stripe.TakeDueWebhooks())
        {
            returned = (await h.Transactions.HandleProviderWebhookAsync(h.Stripe.Name, webhook.Payload, webhook.Headers, Context)).Refund ?? returned;
        }

        // Settled a minute after it was sent: the webhook's answer and its audit entry carry the refund as stored.
        var stored = await h.Refunds.GetRefundAsync(partner.Id, slow.Id);
        Assert.Equal(RefundStatus.Completed, stored.Status);
        Assert.Equal(h.Clock.GetCurrentInstant(), stored.UpdatedAt);
        Assert.Equal(stored, returned);
        var entry = Assert.Single(await h.AuditAsync(partner.Id), a => a.Action == "refund.provider_webhook");
        Assert.Equal(stored.UpdatedAt, NodaTime.Text.InstantPattern.ExtendedIso.Parse(entry.Changes!.After!.Value.GetProperty("updated_at").GetString()!).Value);
    }

    [Fact]
    public async Task InFlightRefunds_HoldTheirAmount_UntilAWebhookSettlesThem()
    {
        using var h = await HarnessAsync(stripe: ScriptedRefunds);
        var partner = await h.NewPartnerAsync();
        var tx = await h.CompletedAsync(partner);
        var slow = await h.Refunds.RefundAsync(partner.Id, tx.Id, new CreateRefundRequest(60m, "timeout"), Context);
        Assert.Equal(RefundStatus.Processing, slow.Status);
        var held = await h.Transactions.GetAsync(partner.Id, tx.Id);
        Assert.Equal((TransactionStatus.Completed, 0m, 60m), (held.Status, held.RefundedAmount.Amount, held.ReservedRefundAmount.Amount));
        await AssertRejectedAsync(h, partner.Id, PaymentsKitErrorCodes.RefundExceedsRemaining,
            () => h.Refunds.RefundAsync(partner.Id, tx.Id, new CreateRefundRequest(41m, "r"), Context).AsTask());
        await AssertRejectedAsync(h, partner.Id, PaymentsKitErrorCodes.TransactionInFlight,
            () => h.Transactions.DeleteAsync(partner.Id, tx.Id, Context).AsTask());

        // The charge's own webhook arrives too, and changes nothing.
        Assert.Equal(2, await h.DeliverWebhooksAsync(h.Stripe));
        Assert.Equal(RefundStatus.Completed, (await h.Refunds.GetRefundAsync(partner.Id, slow.Id)).Status);
        var settled = await h.Transactions.GetAsync(partner.Id, tx.Id);
        Assert.Equal((TransactionStatus.PartiallyRefunded, 60m, 0m), (settled.Status, settled.RefundedAmount.Amount, settled.ReservedRefundAmount.Amount));
        Assert.Equal("provider:stripe", (await h.Transactions.GetEventsAsync(partner.Id, tx.Id))[0].CreatedBy);
    }

    [Fact]
    public async Task DeclinedRefunds_ReleaseTheirReservation_AndPollsSettleTimedOutOnes()
    {
        using var h = await HarnessAsync(stripe: ScriptedRefunds);
        var partner = await h.NewPartnerAsync();
        var tx = await h.CompletedAsync(partner);
        var declined = await h.Refunds.RefundAsync(partner.Id, tx.Id, new CreateRefundRequest(100m, "decline"), Context);
        Assert.Equal((RefundStatus.Failed, "card_declined"), (declined.Status, declined.ErrorCode));
        var afterDecline = await h.Transactions.GetAsync(partner.Id, tx.Id);
        Assert.Equal((TransactionStatus.Completed, 0m, 0m), (afterDecline.Status, afterDecline.RefundedAmount.Amount, afterDecline.ReservedRefundAmount.Amount));

        var slow = await h.Refunds.RefundAsync(partner.Id, tx.Id, new CreateRefundRequest(100m, "timeout_decline"), Context);
        Assert.Equal(RefundStatus.Processing, slow.Status);
        await h.Transactions.SyncAsync(partner.Id, tx.Id, Context);
        Assert.Equal(RefundStatus.Failed, (await h.Refunds.GetRefundAsync(partner.Id, slow.Id)).Status);
        Assert.Equal(0m, (await h.Transactions.GetAsync(partner.Id, tx.Id)).ReservedRefundAmount.Amount);
        await h.DeliverWebhooksAsync(h.Stripe);
        Assert.Equal(TransactionStatus.Completed, (await h.Transactions.GetAsync(partner.Id, tx.Id)).Status);
        Assert.Equal(0m, await h.BalanceAsync(partner.Id, "orch:refunds:USD"));
        // Each refund's initiated event; a declined refund only releases its reservation, which writes none.
        Assert.Equal(
            [TransactionEventType.RefundInitiated, TransactionEventType.RefundInitiated, TransactionEventType.PaymentCompleted],
            (await h.Transactions.GetEventsAsync(partner.Id, tx.Id)).Take(3).Select(e => e.EventType));
        Assert.Equal(5, (await h.Transactions.GetEventsAsync(partner.Id, tx.Id)).Count);
    }

    [Fact]
    public async Task A_Refund_That_Never_Reached_The_Provider_Is_Sent_Again_By_Sync()
    {
        GatedPaymentProvider? stripe = null;
        using var h = await HarnessAsync(wrapStripe: inner => stripe = new GatedPaymentProvider(inner));
        var partner = await h.NewPartnerAsync();
        var tx = await h.CompletedAsync(partner);
        stripe!.LoseNextRefund = true;
        var lost = await h.Refunds.RefundAsync(partner.Id, tx.Id, new CreateRefundRequest(30m, "damaged"), Context);
        Assert.Equal(RefundStatus.Processing, lost.Status);

        // The provider knows nothing of it: the sync sends it again (the refund id is its idempotency key) instead of polling for ever.
        var synced = await h.Transactions.SyncAsync(partner.Id, tx.Id, Context);
        Assert.Equal(RefundStatus.Completed, (await h.Refunds.GetRefundAsync(partner.Id, lost.Id)).Status);
        Assert.Equal((TransactionStatus.PartiallyRefunded, 30m, 0m), (synced.Status, synced.RefundedAmount.Amount, synced.ReservedRefundAmount.Amount));
        Assert.Equal(30m, await h.BalanceAsync(partner.Id, "orch:refunds:USD"));
    }

    [Fact]
    public async Task A_Refund_The_Provider_Reports_Cancelled_Fails_And_Releases_Its_Reservation()
    {
        GatedPaymentProvider? stripe = null;
        using var h = await HarnessAsync(wrapStripe: inner => stripe = new GatedPaymentProvider(inner));
        var partner = await h.NewPartnerAsync();
        var tx = await h.CompletedAsync(partner);
        stripe!.LoseNextRefund = true;
        var polled = await h.Refunds.RefundAsync(partner.Id, tx.Id, new CreateRefundRequest(30m, "damaged"), Context);
        Assert.Equal(RefundStatus.Processing, polled.Status);

        // Cancelled at the provider, as a poll or the call itself may answer: no money moved and none ever will, so it
        // fails and gives its amount back rather than staying processing, reserved and polled for ever.
        stripe.RefundAnswer = new ProviderResult(ProviderOutcome.Cancelled, "re_cancelled");
        await h.Transactions.SyncAsync(partner.Id, tx.Id, Context);
        var answered = await h.Refunds.RefundAsync(partner.Id, tx.Id, new CreateRefundRequest(40m, "damaged"), Context);
        foreach (var refund in new[] { await h.Refunds.GetRefundAsync(partner.Id, polled.Id), answered })
        {
            Assert.Equal((RefundStatus.Failed, "re_cancelled"), (refund.Status, refund.ProviderRefundId));
            Assert.NotNull(refund.ErrorCode);
        }

        var after = await h.Transactions.GetAsync(partner.Id, tx.Id);
        Assert.Equal((TransactionStatus.Completed, 0m, 0m), (after.Status, after.RefundedAmount.Amount, after.ReservedRefundAmount.Amount));
        Assert.Equal(0m, await h.BalanceAsync(partner.Id, "orch:refunds:USD"));

        stripe.RefundAnswer = null;
        Assert.Equal(RefundStatus.Completed, (await h.Refunds.RefundAsync(partner.Id, tx.Id, new CreateRefundRequest(100m, "whole"), Context)).Status);
        Assert.Equal(TransactionStatus.Refunded, (await h.Transactions.GetAsync(partner.Id, tx.Id)).Status);
    }

    [Fact]
    public async Task A_Replayed_Refund_Sends_A_Refund_The_Crashed_First_Call_Never_Sent()
    {
        var (h, partner, tx, request) = await RefundCrashedBeforeSendingAsync();
        using (h)
        {
            var replay = await h.Refunds.RefundAsync(partner.Id, tx.Id, request, Context);

            Assert.Equal(RefundStatus.Completed, replay.Status);
            Assert.Equal(replay, await h.Refunds.GetRefundAsync(partner.Id, replay.Id));
            var after = await h.Transactions.GetAsync(partner.Id, tx.Id);
            Assert.Equal((TransactionStatus.PartiallyRefunded, 30m, 0m), (after.Status, after.RefundedAmount.Amount, after.ReservedRefundAmount.Amount));
            Assert.Equal(30m, await h.BalanceAsync(partner.Id, "orch:refunds:USD"));
            var audit = Assert.Single(await h.AuditAsync(partner.Id), a => a.Action == "refund.create" && a.Outcome == AuditOutcome.Replayed);
            Assert.Equal("completed", audit.Changes!.Before!.Value.GetProperty("status").GetString());
        }
    }

    [Fact]
    public async Task Concurrent_Replays_Of_A_Refund_That_Crashed_Before_Sending_Refund_Once()
    {
        var (h, partner, tx, request) = await RefundCrashedBeforeSendingAsync();
        using (h)
        {
            var replays = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ =>
                Task.Run(() => h.Refunds.RefundAsync(partner.Id, tx.Id, request, Context).AsTask())));

            Assert.Single(replays.Select(r => r.Id).Distinct());
            Assert.All(replays, r => Assert.Equal(RefundStatus.Completed, r.Status));
            var after = await h.Transactions.GetAsync(partner.Id, tx.Id);
            Assert.Equal((TransactionStatus.PartiallyRefunded, 30m, 0m), (after.Status, after.RefundedAmount.Amount, after.ReservedRefundAmount.Amount));
            Assert.Single(await h.Transactions.GetEventsAsync(partner.Id, tx.Id), e => e.Status == TransactionStatus.PartiallyRefunded);
            Assert.Equal(30m, await h.BalanceAsync(partner.Id, "orch:refunds:USD"));

            // The provider settled one refund (one webhook per settled operation), however many calls reached it.
            h.Clock.Advance(Duration.FromMinutes(1));
            Assert.Single(h.Stripe.TakeDueWebhooks());
        }
    }

    /// <summary>A completed charge and a keyed refund of 30 whose first call died after reserving it, before sending it.</summary>
    private async Task<(OrchestrationHarness Harness, Partner Partner, PaymentTransaction Transaction, CreateRefundRequest Request)> RefundCrashedBeforeSendingAsync()
    {
        var store = new CrashingStore(await CreateStoreAsync());
        var h = OrchestrationHarness.Create(store);
        var partner = await h.NewPartnerAsync();
        var tx = await h.CompletedAsync(partner);
        h.Clock.Advance(Duration.FromMinutes(1));
        h.Stripe.TakeDueWebhooks();
        var request = new CreateRefundRequest(30m, "damaged") { IdempotencyKey = "refund-crash" };
        (store.CrashOn, store.AfterCommit) = (r => r is Refund { Status: RefundStatus.Pending }, true);
        await Assert.ThrowsAsync<InvalidOperationException>(() => h.Refunds.RefundAsync(partner.Id, tx.Id, request, Context).AsTask());
        Assert.Equal(RefundStatus.Pending, Assert.Single(await h.Refunds.ListRefundsAsync(partner.Id, tx.Id)).Status);
        return (h, partner, tx, request);
    }
}
