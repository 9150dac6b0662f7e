using NodaTime;
using PaymentsKit.Orchestration;
using PaymentsKit.Storage;

namespace PaymentsKit.Tests.Orchestration;

/// <summary>
/// The sync of due transactions across partners (<see cref="ITransactionService.SyncDueAsync"/>), written once: each store
/// derives a class that supplies a fresh store per test (the pass reads across all partners) and its due queue.
/// </summary>
public abstract class TransactionSyncSpecification : OrchestrationStoreTests
{
    private static readonly TransactionSyncResult Nothing = new(0, 0, 0);

    /// <summary>The due queue on <paramref name="store"/> (the store the harness's store writes to).</summary>
    protected abstract IDueTransactionQueue CreateDueQueue(IPaymentsStore store);

    /// <summary>The ids of the transactions whose lease <paramref name="queue"/> still keeps (entries or rows), in order.</summary>
    protected abstract Task<IReadOnlyList<Guid>> HeldLeasesAsync(IPaymentsStore store, IDueTransactionQueue queue);

    [Fact]
    public async Task Leases_Of_Transactions_Resolved_Outside_The_Queue_Are_Dropped_By_Later_Claims()
    {
        var store = await CreateStoreAsync();
        using var h = OrchestrationHarness.Create(store, due: CreateDueQueue(store));
        var partner = await h.NewPartnerAsync();
        var timedOut = new List<PaymentTransaction>();
        for (var i = 0; i < 3; i++)
        {
            timedOut.Add(await h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request($"timeout-{i}", email: "bob+timeout@example.com"), Context));
        }

        // A pass claims all three, defers two (one stays unresolved, one is settled while deferred) and dies holding the third.
        var queue = CreateDueQueue(store);
        var now = h.Clock.GetCurrentInstant();
        var claims = await queue.ClaimDueAsync(now, now, now, NodaTime.Duration.FromMinutes(1), 100);
        Assert.Equal(3, claims.Count);
        var (stillDue, settledWhileDeferred, settledWhileLeased) = (timedOut[0].Id.Value, timedOut[1].Id.Value, timedOut[2].Id.Value);
        await queue.DeferAsync(claims.Where(c => c.Id.Value != settledWhileLeased).ToList(), now + NodaTime.Duration.FromMinutes(10));
        foreach (var settled in timedOut.Skip(1))
        {
            Assert.Equal(TransactionStatus.Completed, (await h.Transactions.SyncAsync(partner.Id, settled.Id, Context)).Status);
        }

        // Once its lease ran out, the next claim lets go of the settled transaction's lease; the deferrals still hold.
        Assert.Empty(await queue.ClaimDueAsync(now + NodaTime.Duration.FromMinutes(2), now, now, NodaTime.Duration.FromMinutes(1), 100));
        Assert.Equal(new[] { stillDue, settledWhileDeferred }.Order(), await HeldLeasesAsync(store, queue));

        // Once the deferral is over, the transaction still due is claimed and the settled one's lease goes.
        var later = await queue.ClaimDueAsync(now + NodaTime.Duration.FromMinutes(10), now, now, NodaTime.Duration.FromMinutes(1), 100);
        Assert.Equal(stillDue, Assert.Single(later).Id.Value);
        Assert.Equal([stillDue], await HeldLeasesAsync(store, queue));
    }

    [Fact]
    public async Task A_Crashed_Create_Is_Sent_By_The_Sync_Pass_Once_Its_Grace_Period_Has_Passed_And_Not_Before()
    {
        var inner = await CreateStoreAsync();
        var store = new CrashingStore(inner);
        using var h = OrchestrationHarness.Create(store, o => o.UnsentPaymentGracePeriod = Duration.FromSeconds(30), due: CreateDueQueue(inner));
        var partner = await h.NewPartnerAsync();
        var unconfirmed = await h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request("later") with { Confirm = false }, Context);
        (store.CrashOn, store.AfterCommit) = (r => r is PaymentTransaction { Status: TransactionStatus.Processing }, false);
        await Assert.ThrowsAsync<InvalidOperationException>(() => h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request("crash"), Context).AsTask());
        var stored = Assert.Single((await h.Transactions.ListAsync(partner.Id, null, 10)).Items, t => t.IdempotencyKey == "crash");
        Assert.Equal((TransactionStatus.Pending, true), (stored.Status, stored.ConfirmOnCreate));

        // Within the grace period the create may still be on its way to sending it: the pass does not even claim it.
        h.Clock.Advance(Duration.FromSeconds(29));
        Assert.Equal(Nothing, await h.Transactions.SyncDueAsync(h.Clock.GetCurrentInstant()));
        Assert.Equal(TransactionStatus.Pending, (await h.Transactions.GetAsync(partner.Id, stored.Id)).Status);
        Assert.Equal(0, h.Stripe.CallCount);

        // The client never replays: once the grace period is over the pass sends it, once.
        h.Clock.Advance(Duration.FromSeconds(1));
        Assert.Equal(new TransactionSyncResult(1, 1, 0), await h.Transactions.SyncDueAsync(h.Clock.GetCurrentInstant()));
        var sent = await h.Transactions.GetAsync(partner.Id, stored.Id);
        Assert.Equal((TransactionStatus.Completed, (ProviderAction?)null), (sent.Status, sent.InFlightAction));
        Assert.Equal(1, h.Stripe.CallCount);
        Assert.Equal(100m, await h.BalanceAsync(partner.Id, "orch:sales:USD"));
        var audit = Assert.Single(await h.AuditAsync(partner.Id), a => a.Action == "transaction.sync");
        Assert.Equal((RequestContext.Internal.IpAddress, RequestContext.Internal.UserAgent), (audit.IpAddress, audit.UserAgent));

        // Nothing is left due; a create that did not ask to confirm waits for its confirmation however old it gets.
        h.Clock.Advance(Duration.FromDays(1));
        Assert.Equal(Nothing, await h.Transactions.SyncDueAsync(h.Clock.GetCurrentInstant()));
        Assert.Equal(TransactionStatus.Pending, (await h.Transactions.GetAsync(partner.Id, unconfirmed.Id)).Status);
        Assert.Equal(1, h.Stripe.CallCount);
    }

    [Fact]
    public async Task Payments_And_Refunds_Whose_Outcome_Is_Unknown_Are_Polled_And_Resolved_But_A_Standing_Authorization_Is_Not_Due()
    {
        var store = await CreateStoreAsync();
        using var h = OrchestrationHarness.Create(
            store, stripe: new SimulatedProviderOptions { Refunds = _ => new SimulatedBehavior(true, TimesOut: true) }, due: CreateDueQueue(store));
        var partner = await h.NewPartnerAsync();
        var timedOut = await h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request("timeout", email: "bob+timeout@example.com"), Context);
        Assert.Equal((TransactionStatus.Processing, ProviderAction.Payment), (timedOut.Status, timedOut.InFlightAction));
        var refunded = await h.CompletedAsync(partner);
        var refund = await h.Refunds.RefundAsync(partner.Id, refunded.Id, new CreateRefundRequest(100m, "damaged"), Context);
        Assert.Equal(RefundStatus.Processing, refund.Status);
        var authorized = await h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request("auth") with { CaptureMethod = CaptureMethod.Manual }, Context);
        Assert.Equal((TransactionStatus.Processing, (ProviderAction?)null), (authorized.Status, authorized.InFlightAction));
        var calls = h.Stripe.CallCount;

        Assert.Equal(new TransactionSyncResult(2, 2, 0), await h.Transactions.SyncDueAsync(h.Clock.GetCurrentInstant()));

        Assert.Equal(TransactionStatus.Completed, (await h.Transactions.GetAsync(partner.Id, timedOut.Id)).Status);
        Assert.Equal(RefundStatus.Completed, (await h.Refunds.GetRefundAsync(partner.Id, refund.Id)).Status);
        Assert.Equal(TransactionStatus.Refunded, (await h.Transactions.GetAsync(partner.Id, refunded.Id)).Status);
        Assert.Equal(calls + 2, h.Stripe.CallCount); // One poll each: the provider had settled both.
        Assert.Equal(authorized, await h.Transactions.GetAsync(partner.Id, authorized.Id));
        Assert.Equal(Nothing, await h.Transactions.SyncDueAsync(h.Clock.GetCurrentInstant()));
    }

    [Fact]
    public async Task What_The_Sync_Pass_Resolves_Is_Recorded_As_The_Systems_Doing_And_What_A_Partners_Own_Sync_Resolves_As_The_Partners()
    {
        var store = await CreateStoreAsync();
        using var h = OrchestrationHarness.Create(store, due: CreateDueQueue(store));
        var partner = await h.NewPartnerAsync();

        // The provider settles both payments but its answers time out, so both stay processing until a poll.
        var byPass = await h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request("by-pass", email: "bob+timeout@example.com"), Context);
        var byPartner = await h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request("by-partner", email: "bob+timeout@example.com"), Context);
        Assert.Equal((TransactionStatus.Processing, TransactionStatus.Processing), (byPass.Status, byPartner.Status));

        Assert.Equal(TransactionStatus.Completed, (await h.Transactions.SyncAsync(partner.Id, byPartner.Id, Context)).Status);
        Assert.Equal(new TransactionSyncResult(1, 1, 0), await h.Transactions.SyncDueAsync(h.Clock.GetCurrentInstant()));

        var systems = (await h.Transactions.GetEventsAsync(partner.Id, byPass.Id))[0];
        Assert.Equal((TransactionStatus.Completed, "system", RequestContext.Internal.IpAddress), (systems.Status, systems.CreatedBy, systems.IpAddress));
        var partners = (await h.Transactions.GetEventsAsync(partner.Id, byPartner.Id))[0];
        Assert.Equal((TransactionStatus.Completed, "partner:" + partner.Id, Context.IpAddress), (partners.Status, partners.CreatedBy, partners.IpAddress));

        // Each sync's audit entry carries the context it ran with: the pass's is PaymentsKit's own, the partner's its request.
        var audits = (await h.AuditAsync(partner.Id)).Where(a => a.Action == "transaction.sync").ToDictionary(a => a.ResourceId!);
        Assert.Equal((RequestContext.Internal.IpAddress, RequestContext.Internal.UserAgent), (audits[byPass.Id.ToString()].IpAddress, audits[byPass.Id.ToString()].UserAgent));
        Assert.Equal((Context.IpAddress, Context.UserAgent), (audits[byPartner.Id.ToString()].IpAddress, audits[byPartner.Id.ToString()].UserAgent));
    }

    [Fact]
    public async Task A_Transaction_Whose_Sync_Fails_Does_Not_Stop_The_Others_And_Is_Tried_Again_After_The_Retry_Interval()
    {
        GatedPaymentProvider? stripe = null;
        var store = await CreateStoreAsync();
        using var h = OrchestrationHarness.Create(
            store, o => o.SyncRetryInterval = Duration.FromMinutes(2), wrapStripe: inner => stripe = new GatedPaymentProvider(inner), due: CreateDueQueue(store));
        var partner = await h.NewPartnerAsync();
        var blocked = await h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request("a", email: "bob+timeout@example.com"), Context);
        var fine = await h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request("b", provider: "paypal", email: "carol+timeout@example.com"), Context);
        stripe!.PollsFail = true;

        Assert.Equal(new TransactionSyncResult(2, 1, 1), await h.Transactions.SyncDueAsync(h.Clock.GetCurrentInstant()));
        Assert.Equal(TransactionStatus.Processing, (await h.Transactions.GetAsync(partner.Id, blocked.Id)).Status);
        Assert.Equal(TransactionStatus.Completed, (await h.Transactions.GetAsync(partner.Id, fine.Id)).Status);

        // The failed one waits out the retry interval instead of being taken again by every pass.
        h.Clock.Advance(Duration.FromMinutes(2) - Duration.FromSeconds(1));
        Assert.Equal(Nothing, await h.Transactions.SyncDueAsync(h.Clock.GetCurrentInstant()));
        h.Clock.Advance(Duration.FromSeconds(1));
        Assert.Equal(new TransactionSyncResult(1, 0, 1), await h.Transactions.SyncDueAsync(h.Clock.GetCurrentInstant()));

        stripe.PollsFail = false;
        h.Clock.Advance(Duration.FromMinutes(2));
        Assert.Equal(new TransactionSyncResult(1, 1, 0), await h.Transactions.SyncDueAsync(h.Clock.GetCurrentInstant()));
        Assert.Equal(TransactionStatus.Completed, (await h.Transactions.GetAsync(partner.Id, blocked.Id)).Status);
    }

    [Fact]
    public async Task The_Retry_Interval_Of_A_Transaction_Left_Unresolved_Counts_From_The_End_Of_A_Pass_That_Outlasted_It()
    {
        GatedPaymentProvider? stripe = null;
        var store = await CreateStoreAsync();
        using var h = OrchestrationHarness.Create(
            store, o => o.SyncRetryInterval = Duration.FromMinutes(1), wrapStripe: inner => stripe = new GatedPaymentProvider(inner), due: CreateDueQueue(store));
        var partner = await h.NewPartnerAsync();
        var slow = await h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request("slow", email: "bob+timeout@example.com"), Context);
        Assert.Equal(TransactionStatus.Processing, slow.Status);

        // The provider is slow and then fails: the pass ends two minutes after it started, past its start plus the interval.
        (stripe!.PollsFail, stripe.OnPoll) = (true, () => h.Clock.Advance(Duration.FromMinutes(2)));
        Assert.Equal(new TransactionSyncResult(1, 0, 1), await h.Transactions.SyncDueAsync(h.Clock.GetCurrentInstant()));
        stripe.OnPoll = null;

        Assert.Equal(Nothing, await h.Transactions.SyncDueAsync(h.Clock.GetCurrentInstant()));
        h.Clock.Advance(Duration.FromMinutes(1) - Duration.FromSeconds(1));
        Assert.Equal(Nothing, await h.Transactions.SyncDueAsync(h.Clock.GetCurrentInstant()));
        h.Clock.Advance(Duration.FromSeconds(1));
        Assert.Equal(new TransactionSyncResult(1, 0, 1), await h.Transactions.SyncDueAsync(h.Clock.GetCurrentInstant()));
    }

    [Fact]
    public async Task A_Suspended_Partners_Calls_Already_Sent_Are_Resolved_But_Nothing_New_Is_Sent_Until_It_Is_Active_Again()
    {
        var inner = await CreateStoreAsync();
        var store = new CrashingStore(inner);
        using var h = OrchestrationHarness.Create(
            store,
            o => o.SyncRetryInterval = Duration.FromMinutes(2),
            stripe: new SimulatedProviderOptions { Refunds = r => r.Reason == "timeout" ? new SimulatedBehavior(true, TimesOut: true) : SimulatedBehavior.Succeed },
            due: CreateDueQueue(inner));
        var partner = await h.NewPartnerAsync();
        var timedOut = await h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request("timeout", email: "bob+timeout@example.com"), Context);
        var refunded = await h.CompletedAsync(partner);
        var sentRefund = await h.Refunds.RefundAsync(partner.Id, refunded.Id, new CreateRefundRequest(40m, "timeout"), Context);
        Assert.Equal(RefundStatus.Processing, sentRefund.Status);
        (store.CrashOn, store.AfterCommit) = (r => r is Refund { Status: RefundStatus.Pending }, true);
        await Assert.ThrowsAsync<InvalidOperationException>(() => h.Refunds.RefundAsync(partner.Id, refunded.Id, new CreateRefundRequest(60m, "damaged"), Context).AsTask());
        var unsentRefund = Assert.Single(await h.Refunds.ListRefundsAsync(partner.Id, refunded.Id), r => r.Status == RefundStatus.Pending);
        (store.CrashOn, store.AfterCommit) = (r => r is PaymentTransaction { Status: TransactionStatus.Processing }, false);
        await Assert.ThrowsAsync<InvalidOperationException>(() => h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request("crash"), Context).AsTask());
        var unsent = Assert.Single((await h.Transactions.ListAsync(partner.Id, null, 10)).Items, t => t.IdempotencyKey == "crash");
        await h.Partners.UpdateAsync(partner.Id, new UpdatePartnerRequest { IsActive = false }, Context);
        h.Clock.Advance(Duration.FromMinutes(1));
        var calls = h.Stripe.CallCount;

        // What the provider was already asked is polled and its outcome recorded, so the money is right while suspended;
        // the unsent create is not even due, and the unsent refund waits without counting as a failure.
        Assert.Equal(new TransactionSyncResult(2, 2, 0), await h.Transactions.SyncDueAsync(h.Clock.GetCurrentInstant()));
        Assert.Equal(TransactionStatus.Completed, (await h.Transactions.GetAsync(partner.Id, timedOut.Id)).Status);
        Assert.Equal(RefundStatus.Completed, (await h.Refunds.GetRefundAsync(partner.Id, sentRefund.Id)).Status);
        Assert.Equal(RefundStatus.Pending, (await h.Refunds.GetRefundAsync(partner.Id, unsentRefund.Id)).Status);
        Assert.Equal(TransactionStatus.PartiallyRefunded, (await h.Transactions.GetAsync(partner.Id, refunded.Id)).Status);
        Assert.Equal(TransactionStatus.Pending, (await h.Transactions.GetAsync(partner.Id, unsent.Id)).Status);
        Assert.Equal(calls + 2, h.Stripe.CallCount);

        // The partner's own sync still requires it to be active.
        var refused = await Assert.ThrowsAsync<PaymentsKitException>(() => h.Transactions.SyncAsync(partner.Id, unsent.Id, Context).AsTask());
        Assert.Equal(PaymentsKitErrorCodes.PartnerInactive, refused.Code);

        // With nothing left to poll, the transaction whose refund waits is not claimed again while its partner is suspended.
        for (var pass = 0; pass < 3; pass++)
        {
            h.Clock.Advance(Duration.FromMinutes(2));
            Assert.Equal(Nothing, await h.Transactions.SyncDueAsync(h.Clock.GetCurrentInstant()));
        }

        Assert.Equal(RefundStatus.Pending, (await h.Refunds.GetRefundAsync(partner.Id, unsentRefund.Id)).Status);
        Assert.Equal(calls + 2, h.Stripe.CallCount);

        // Active again: the next pass sends both, once.
        await h.Partners.UpdateAsync(partner.Id, new UpdatePartnerRequest { IsActive = true }, Context);
        h.Clock.Advance(Duration.FromMinutes(2));
        Assert.Equal(new TransactionSyncResult(2, 2, 0), await h.Transactions.SyncDueAsync(h.Clock.GetCurrentInstant()));
        Assert.Equal(TransactionStatus.Completed, (await h.Transactions.GetAsync(partner.Id, unsent.Id)).Status);
        Assert.Equal(RefundStatus.Completed, (await h.Refunds.GetRefundAsync(partner.Id, unsentRefund.Id)).Status);
        Assert.Equal(TransactionStatus.Refunded, (await h.Transactions.GetAsync(partner.Id, refunded.Id)).Status);
        Assert.Equal(calls + 4, h.Stripe.CallCount);
        Assert.Equal(Nothing, await h.Transactions.SyncDueAsync(h.Clock.GetCurrentInstant()));
    }

    [Fact]
    public async Task A_Suspended_Partners_Payment_The_Provider_Does_Not_Know_Is_Held_After_The_Drop_Timeout_And_Sent_Once_It_Is_Active_Again()
    {
        GatedPaymentProvider? stripe = null;
        var store = await CreateStoreAsync();
        using var h = OrchestrationHarness.Create(
            store,
            o => (o.SyncRetryInterval, o.DropTimeout) = (Duration.FromMinutes(1), Duration.FromMinutes(10)),
            wrapStripe: s => stripe = new GatedPaymentProvider(s),
            due: CreateDueQueue(store));
        var partner = await h.NewPartnerAsync();
        stripe!.LoseNextPayment = true;
        var lost = await h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request("lost"), Context);
        Assert.Equal((TransactionStatus.Processing, ProviderAction.Payment), (lost.Status, lost.InFlightAction));
        await h.Partners.UpdateAsync(partner.Id, new UpdatePartnerRequest { IsActive = false }, Context);
        var calls = h.Stripe.CallCount;

        // Until the drop timeout has passed since the suspension the payment may still reach the provider: polled, not sent.
        for (var minute = 0; minute < 10; minute++)
        {
            Assert.Equal(new TransactionSyncResult(1, 1, 0), await h.Transactions.SyncDueAsync(h.Clock.GetCurrentInstant()));
            h.Clock.Advance(Duration.FromMinutes(1));
        }

        Assert.Equal(calls + 10, h.Stripe.CallCount);

        // Past it the provider's "unknown" is final while nothing is sent: the payment is not failed (the partner may come
        // back), but held, and no longer claimed.
        Assert.Equal(new TransactionSyncResult(1, 1, 0), await h.Transactions.SyncDueAsync(h.Clock.GetCurrentInstant()));
        var held = await h.Transactions.GetAsync(partner.Id, lost.Id);
        Assert.Equal((TransactionStatus.Processing, (ProviderAction?)ProviderAction.Payment, "not_received_by_provider"), (held.Status, held.InFlightAction, held.ErrorCode));
        Assert.Contains("suspended", held.ErrorMessage, StringComparison.Ordinal);
        for (var pass = 0; pass < 3; pass++)
        {
            h.Clock.Advance(Duration.FromHours(1));
            Assert.Equal(Nothing, await h.Transactions.SyncDueAsync(h.Clock.GetCurrentInstant()));
        }

        Assert.Equal(calls + 11, h.Stripe.CallCount);

        // Active again: the next pass polls it and sends it, once.
        await h.Partners.UpdateAsync(partner.Id, new UpdatePartnerRequest { IsActive = true }, Context);
        Assert.Equal(new TransactionSyncResult(1, 1, 0), await h.Transactions.SyncDueAsync(h.Clock.GetCurrentInstant()));
        var completed = await h.Transactions.GetAsync(partner.Id, lost.Id);
        Assert.Equal((TransactionStatus.Completed, (string?)null), (completed.Status, completed.ErrorCode));
        Assert.Equal(calls + 13, h.Stripe.CallCount);
        Assert.Equal(Nothing, await h.Transactions.SyncDueAsync(h.Clock.GetCurrentInstant()));
    }

    [Fact]
    public async Task A_Suspended_Partners_Refund_The_Provider_Does_Not_Know_Is_Held_After_The_Drop_Timeout_And_Sent_Once_It_Is_Active_Again()
    {
        GatedPaymentProvider? stripe = null;
        var store = await CreateStoreAsync();
        using var h = OrchestrationHarness.Create(
            store,
            o => (o.SyncRetryInterval, o.DropTimeout) = (Duration.FromMinutes(1), Duration.FromMinutes(10)),
            wrapStripe: s => stripe = new GatedPaymentProvider(s),
            due: CreateDueQueue(store));
        var partner = await h.NewPartnerAsync();
        var tx = await h.CompletedAsync(partner);
        stripe!.LoseNextRefund = true;
        var lost = await h.Refunds.RefundAsync(partner.Id, tx.Id, new CreateRefundRequest(40m, "lost"), Context);
        Assert.Equal(RefundStatus.Processing, lost.Status);
        await h.Partners.UpdateAsync(partner.Id, new UpdatePartnerRequest { IsActive = false }, Context);
        var calls = h.Stripe.CallCount;

        for (var minute = 0; minute < 10; minute++)
        {
            Assert.Equal(new TransactionSyncResult(1, 1, 0), await h.Transactions.SyncDueAsync(h.Clock.GetCurrentInstant()));
            h.Clock.Advance(Duration.FromMinutes(1));
        }

        // Past the drop timeout since the suspension the refund is held (not failed: the partner may come back), no longer claimed.
        Assert.Equal(new TransactionSyncResult(1, 1, 0), await h.Transactions.SyncDueAsync(h.Clock.GetCurrentInstant()));
        var held = await h.Refunds.GetRefundAsync(partner.Id, lost.Id);
        Assert.Equal((RefundStatus.Processing, "not_received_by_provider"), (held.Status, held.ErrorCode));
        Assert.Contains("suspended", held.ErrorMessage, StringComparison.Ordinal);
        for (var pass = 0; pass < 3; pass++)
        {
            h.Clock.Advance(Duration.FromHours(1));
            Assert.Equal(Nothing, await h.Transactions.SyncDueAsync(h.Clock.GetCurrentInstant()));
        }

        Assert.Equal(calls + 11, h.Stripe.CallCount);

        await h.Partners.UpdateAsync(partner.Id, new UpdatePartnerRequest { IsActive = true }, Context);
        Assert.Equal(new TransactionSyncResult(1, 1, 0), await h.Transactions.SyncDueAsync(h.Clock.GetCurrentInstant()));
        Assert.Equal(RefundStatus.Completed, (await h.Refunds.GetRefundAsync(partner.Id, lost.Id)).Status);
        Assert.Equal(TransactionStatus.PartiallyRefunded, (await h.Transactions.GetAsync(partner.Id, tx.Id)).Status);
        Assert.Equal(calls + 13, h.Stripe.CallCount);
        Assert.Equal(Nothing, await h.Transactions.SyncDueAsync(h.Clock.GetCurrentInstant()));
    }

    [Fact]
    public async Task A_Deleted_Partners_Payment_Already_Sent_Is_Still_Resolved_But_A_Provider_That_Does_Not_Know_It_Gets_It_Not_Again()
    {
        GatedPaymentProvider? stripe = null;
        var store = await CreateStoreAsync();
        using var h = OrchestrationHarness.Create(store, wrapStripe: inner => stripe = new GatedPaymentProvider(inner), due: CreateDueQueue(store));
        var partner = await h.NewPartnerAsync();
        var timedOut = await h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request("timeout", email: "bob+timeout@example.com"), Context);
        stripe!.LoseNextPayment = true;
        var lost = await h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request("lost"), Context);
        Assert.Equal((TransactionStatus.Processing, ProviderAction.Payment), (lost.Status, lost.InFlightAction));
        await h.Partners.DeleteAsync(partner.Id, Context);
        var calls = h.Stripe.CallCount;

        // The provider never got the lost charge: for a partner that may not make calls it is polled, never sent again.
        Assert.Equal(new TransactionSyncResult(2, 2, 0), await h.Transactions.SyncDueAsync(h.Clock.GetCurrentInstant()));
        Assert.Equal(TransactionStatus.Completed, (await h.Transactions.GetAsync(partner.Id, timedOut.Id)).Status);
        Assert.Equal((TransactionStatus.Processing, ProviderAction.Payment), ((await h.Transactions.GetAsync(partner.Id, lost.Id)).Status, (await h.Transactions.GetAsync(partner.Id, lost.Id)).InFlightAction));
        Assert.Equal(calls + 2, h.Stripe.CallCount);
    }

    [Fact]
    public async Task A_Deleted_Partners_Payment_And_Refunds_The_Provider_Never_Received_Fail_Once_The_Drop_Timeout_Has_Passed_Since_Its_Deletion()
    {
        GatedPaymentProvider? stripe = null;
        var inner = await CreateStoreAsync();
        var store = new CrashingStore(inner);
        using var h = OrchestrationHarness.Create(
            store,
            o => (o.SyncRetryInterval, o.DropTimeout) = (Duration.FromMinutes(1), Duration.FromMinutes(10)),
            wrapStripe: s => stripe = new GatedPaymentProvider(s),
            due: CreateDueQueue(inner));
        var partner = await h.NewPartnerAsync();
        stripe!.LoseNextPayment = true;
        var lost = await h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request("lost"), Context);
        Assert.Equal((TransactionStatus.Processing, ProviderAction.Payment), (lost.Status, lost.InFlightAction));
        var refunded = await h.CompletedAsync(partner);
        stripe.LoseNextRefund = true;
        var lostRefund = await h.Refunds.RefundAsync(partner.Id, refunded.Id, new CreateRefundRequest(40m, "lost"), Context);
        Assert.Equal(RefundStatus.Processing, lostRefund.Status);
        (store.CrashOn, store.AfterCommit) = (r => r is Refund { Status: RefundStatus.Pending }, true);
        await Assert.ThrowsAsync<InvalidOperationException>(() => h.Refunds.RefundAsync(partner.Id, refunded.Id, new CreateRefundRequest(60m, "unsent"), Context).AsTask());
        var unsentRefund = Assert.Single(await h.Refunds.ListRefundsAsync(partner.Id, refunded.Id), r => r.Status == RefundStatus.Pending);
        await h.Partners.DeleteAsync(partner.Id, Context);
        var calls = h.Stripe.CallCount;

        // Until the drop timeout has passed since the deletion a call may still have been on its way: each is only polled.
        for (var minute = 0; minute < 10; minute++)
        {
            Assert.Equal(new TransactionSyncResult(2, 2, 0), await h.Transactions.SyncDueAsync(h.Clock.GetCurrentInstant()));
            h.Clock.Advance(Duration.FromMinutes(1));
        }

        Assert.Equal((TransactionStatus.Processing, ProviderAction.Payment), ((await h.Transactions.GetAsync(partner.Id, lost.Id)).Status, (await h.Transactions.GetAsync(partner.Id, lost.Id)).InFlightAction));
        Assert.Equal(RefundStatus.Processing, (await h.Refunds.GetRefundAsync(partner.Id, lostRefund.Id)).Status);
        Assert.Equal(RefundStatus.Pending, (await h.Refunds.GetRefundAsync(partner.Id, unsentRefund.Id)).Status);
        Assert.Equal(calls + 30, h.Stripe.CallCount);

        // A poll that does not reach the provider says nothing about what it received.
        stripe.Down = true;
        Assert.Equal(new TransactionSyncResult(2, 2, 0), await h.Transactions.SyncDueAsync(h.Clock.GetCurrentInstant()));
        Assert.Equal(TransactionStatus.Processing, (await h.Transactions.GetAsync(partner.Id, lost.Id)).Status);
        Assert.Equal(RefundStatus.Processing, (await h.Refunds.GetRefundAsync(partner.Id, lostRefund.Id)).Status);
        Assert.Equal(RefundStatus.Pending, (await h.Refunds.GetRefundAsync(partner.Id, unsentRefund.Id)).Status);

        // The provider answers it does not know them, past the drop timeout: they failed, and nothing is due any more.
        stripe.Down = false;
        h.Clock.Advance(Duration.FromMinutes(1));
        Assert.Equal(new TransactionSyncResult(2, 2, 0), await h.Transactions.SyncDueAsync(h.Clock.GetCurrentInstant()));
        var failed = await h.Transactions.GetAsync(partner.Id, lost.Id);
        Assert.Equal((TransactionStatus.Failed, (ProviderAction?)null, "not_received_by_provider"), (failed.Status, failed.InFlightAction, failed.ErrorCode));
        Assert.Contains("deleted", failed.ErrorMessage, StringComparison.Ordinal);
        var failedEvent = (await h.Transactions.GetEventsAsync(partner.Id, lost.Id))[0];
        Assert.Equal((TransactionEventType.PaymentFailed, "system", failed.ErrorMessage), (failedEvent.EventType, failedEvent.CreatedBy, failedEvent.ErrorMessage));
        foreach (var refund in new[] { lostRefund, unsentRefund })
        {
            var settled = await h.Refunds.GetRefundAsync(partner.Id, refund.Id);
            Assert.Equal((RefundStatus.Failed, "not_received_by_provider"), (settled.Status, settled.ErrorCode));
        }

        var released = await h.Transactions.GetAsync(partner.Id, refunded.Id);
        Assert.Equal((TransactionStatus.Completed, 0m, 0m), (released.Status, released.RefundedAmount.Amount, released.ReservedRefundAmount.Amount));
        Assert.Equal(0m, await h.BalanceAsync(partner.Id, "orch:refunds:USD"));
        Assert.Equal(calls + 33, h.Stripe.CallCount); // Polls only: nothing was sent for the deleted partner.
        h.Clock.Advance(Duration.FromDays(1));
        Assert.Equal(Nothing, await h.Transactions.SyncDueAsync(h.Clock.GetCurrentInstant()));
    }

    [Fact]
    public async Task A_Deleted_Partners_Confirmed_Create_Never_Sent_Is_Cancelled_Once_The_Drop_Timeout_Has_Passed_Since_Its_Deletion()
    {
        var inner = await CreateStoreAsync();
        var store = new CrashingStore(inner);
        using var h = OrchestrationHarness.Create(
            store,
            o => (o.SyncRetryInterval, o.DropTimeout) = (Duration.FromMinutes(1), Duration.FromMinutes(10)),
            due: CreateDueQueue(inner));
        var partner = await h.NewPartnerAsync();
        (store.CrashOn, store.AfterCommit) = (r => r is PaymentTransaction { Status: TransactionStatus.Processing }, false);
        await Assert.ThrowsAsync<InvalidOperationException>(() => h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request("crash"), Context).AsTask());
        var unsent = Assert.Single((await h.Transactions.ListAsync(partner.Id, null, 10)).Items);
        h.Clock.Advance(Duration.FromMinutes(5));
        await h.Partners.DeleteAsync(partner.Id, Context);

        // Nothing is sent for a deleted partner, and until the drop timeout has passed since the deletion the create may
        // still be on its way: it is not even claimed.
        for (var minute = 0; minute < 10; minute++)
        {
            Assert.Equal(Nothing, await h.Transactions.SyncDueAsync(h.Clock.GetCurrentInstant()));
            h.Clock.Advance(Duration.FromMinutes(1));
        }

        Assert.Equal(TransactionStatus.Pending, (await h.Transactions.GetAsync(partner.Id, unsent.Id)).Status);

        // Past it, the payment the provider never received is cancelled by the system, and nothing is due any more.
        Assert.Equal(new TransactionSyncResult(1, 1, 0), await h.Transactions.SyncDueAsync(h.Clock.GetCurrentInstant()));
        var cancelled = await h.Transactions.GetAsync(partner.Id, unsent.Id);
        Assert.Equal((TransactionStatus.Cancelled, (ProviderAction?)null, "not_received_by_provider"), (cancelled.Status, cancelled.InFlightAction, cancelled.ErrorCode));
        Assert.Contains("deleted", cancelled.ErrorMessage, StringComparison.Ordinal);
        var cancelledEvent = (await h.Transactions.GetEventsAsync(partner.Id, unsent.Id))[0];
        Assert.Equal(
            (TransactionEventType.StatusChanged, (TransactionStatus?)TransactionStatus.Pending, TransactionStatus.Cancelled, "system"),
            (cancelledEvent.EventType, cancelledEvent.FromStatus, cancelledEvent.Status, cancelledEvent.CreatedBy));
        var audit = Assert.Single(await h.AuditAsync(partner.Id), a => a.Action == "transaction.sync");
        Assert.Equal((RequestContext.Internal.IpAddress, RequestContext.Internal.UserAgent), (audit.IpAddress, audit.UserAgent));
        Assert.Equal(0, h.Stripe.CallCount);
        Assert.Equal(0m, await h.BalanceAsync(partner.Id, "orch:sales:USD"));
        h.Clock.Advance(Duration.FromDays(1));
        Assert.Equal(Nothing, await h.Transactions.SyncDueAsync(h.Clock.GetCurrentInstant()));
    }

    [Fact]
    public async Task A_Deleted_Partners_Create_Made_Without_Confirm_Is_Cancelled_Once_The_Drop_Timeout_Has_Passed_Since_Its_Deletion()
    {
        var store = await CreateStoreAsync();
        using var h = OrchestrationHarness.Create(
            store, o => (o.SyncRetryInterval, o.DropTimeout) = (Duration.FromMinutes(1), Duration.FromMinutes(10)), due: CreateDueQueue(store));
        var partner = await h.NewPartnerAsync();
        var unconfirmed = await h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request("later") with { Confirm = false }, Context);
        var other = await h.NewPartnerAsync();
        var waiting = await h.Transactions.CreateAsync(other.Id, OrchestrationHarness.Request("later") with { Confirm = false }, Context);
        h.Clock.Advance(Duration.FromMinutes(5));
        await h.Partners.DeleteAsync(partner.Id, Context);

        // Until the drop timeout has passed since the deletion a confirm may still be on its way: it is not even claimed.
        for (var minute = 0; minute < 10; minute++)
        {
            Assert.Equal(Nothing, await h.Transactions.SyncDueAsync(h.Clock.GetCurrentInstant()));
            h.Clock.Advance(Duration.FromMinutes(1));
        }

        Assert.Equal(TransactionStatus.Pending, (await h.Transactions.GetAsync(partner.Id, unconfirmed.Id)).Status);

        // Past it, it can never be confirmed: cancelled by the system like a confirmed create never sent. The active
        // partner's still waits for its ConfirmAsync.
        Assert.Equal(new TransactionSyncResult(1, 1, 0), await h.Transactions.SyncDueAsync(h.Clock.GetCurrentInstant()));
        var cancelled = await h.Transactions.GetAsync(partner.Id, unconfirmed.Id);
        Assert.Equal((TransactionStatus.Cancelled, "not_received_by_provider"), (cancelled.Status, cancelled.ErrorCode));
        var cancelledEvent = (await h.Transactions.GetEventsAsync(partner.Id, unconfirmed.Id))[0];
        Assert.Equal((TransactionStatus.Cancelled, "system"), (cancelledEvent.Status, cancelledEvent.CreatedBy));
        Assert.Single(await h.AuditAsync(partner.Id), a => a.Action == "transaction.sync");
        Assert.Equal(TransactionStatus.Pending, (await h.Transactions.GetAsync(other.Id, waiting.Id)).Status);
        Assert.Equal(0, h.Stripe.CallCount);
        h.Clock.Advance(Duration.FromDays(1));
        Assert.Equal(Nothing, await h.Transactions.SyncDueAsync(h.Clock.GetCurrentInstant()));
    }

    [Fact]
    public async Task A_Deleted_Partners_Capture_The_Provider_Never_Received_Is_Given_Up_After_The_Drop_Timeout_And_The_Authorization_Stands()
    {
        GatedPaymentProvider? stripe = null;
        var store = await CreateStoreAsync();
        using var h = OrchestrationHarness.Create(
            store, o => o.DropTimeout = Duration.FromMinutes(10), wrapStripe: s => stripe = new GatedPaymentProvider(s), due: CreateDueQueue(store));
        var partner = await h.NewPartnerAsync();
        var authorized = await h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request("cap") with { CaptureMethod = CaptureMethod.Manual }, Context);
        stripe!.NextCapture = CaptureLoss.BeforeReachingProvider;
        Assert.Equal(ProviderAction.Capture, (await h.Transactions.CaptureAsync(partner.Id, authorized.Id, Context)).InFlightAction);
        await h.Partners.DeleteAsync(partner.Id, Context);

        // The provider keeps answering "authorized": the capture never reached it, and is not sent for a deleted partner.
        Assert.Equal(new TransactionSyncResult(1, 1, 0), await h.Transactions.SyncDueAsync(h.Clock.GetCurrentInstant()));
        Assert.Equal(ProviderAction.Capture, (await h.Transactions.GetAsync(partner.Id, authorized.Id)).InFlightAction);

        // Past the drop timeout the capture is given up: nothing is in flight, the authorization stands, nothing is due.
        h.Clock.Advance(Duration.FromMinutes(10));
        Assert.Equal(new TransactionSyncResult(1, 1, 0), await h.Transactions.SyncDueAsync(h.Clock.GetCurrentInstant()));
        var standing = await h.Transactions.GetAsync(partner.Id, authorized.Id);
        Assert.Equal((TransactionStatus.Processing, (ProviderAction?)null, "not_received_by_provider"), (standing.Status, standing.InFlightAction, standing.ErrorCode));
        Assert.NotNull(standing.AuthorizedAt);
        h.Clock.Advance(Duration.FromDays(1));
        Assert.Equal(Nothing, await h.Transactions.SyncDueAsync(h.Clock.GetCurrentInstant()));
    }

    [Fact]
    public async Task A_Deleted_Partners_Standing_Authorization_Is_Voided_Once_The_Drop_Timeout_Has_Passed_Since_Its_Deletion()
    {
        var store = await CreateStoreAsync();
        using var h = OrchestrationHarness.Create(
            store, o => (o.SyncRetryInterval, o.DropTimeout) = (Duration.FromMinutes(1), Duration.FromMinutes(10)), due: CreateDueQueue(store));
        var partner = await h.NewPartnerAsync();
        var held = await h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request("hold") with { CaptureMethod = CaptureMethod.Manual }, Context);
        var other = await h.NewPartnerAsync();
        var standing = await h.Transactions.CreateAsync(other.Id, OrchestrationHarness.Request("hold") with { CaptureMethod = CaptureMethod.Manual }, Context);
        h.Clock.Advance(Duration.FromMinutes(5));
        await h.Partners.DeleteAsync(partner.Id, Context);
        var calls = h.Stripe.CallCount;

        // Until the drop timeout has passed since the deletion a capture or cancel may still be on its way: not claimed.
        for (var minute = 0; minute < 10; minute++)
        {
            Assert.Equal(Nothing, await h.Transactions.SyncDueAsync(h.Clock.GetCurrentInstant()));
            h.Clock.Advance(Duration.FromMinutes(1));
        }

        Assert.Equal(TransactionStatus.Processing, (await h.Transactions.GetAsync(partner.Id, held.Id)).Status);

        // Past it, nothing can capture it any more: the system voids it, releasing the customer's funds, and nothing is due.
        Assert.Equal(new TransactionSyncResult(1, 1, 0), await h.Transactions.SyncDueAsync(h.Clock.GetCurrentInstant()));
        var voided = await h.Transactions.GetAsync(partner.Id, held.Id);
        Assert.Equal((TransactionStatus.Cancelled, (ProviderAction?)null), (voided.Status, voided.InFlightAction));
        var voidedEvent = (await h.Transactions.GetEventsAsync(partner.Id, held.Id))[0];
        Assert.Equal(
            (TransactionEventType.StatusChanged, (TransactionStatus?)TransactionStatus.Processing, TransactionStatus.Cancelled, "system"),
            (voidedEvent.EventType, voidedEvent.FromStatus, voidedEvent.Status, voidedEvent.CreatedBy));
        var audit = Assert.Single(await h.AuditAsync(partner.Id), a => a.Action == "transaction.sync");
        Assert.Equal((RequestContext.Internal.IpAddress, AuditOutcome.Succeeded), (audit.IpAddress, audit.Outcome));
        Assert.Equal(calls + 1, h.Stripe.CallCount);
        h.Clock.Advance(Duration.FromDays(1));
        Assert.Equal(Nothing, await h.Transactions.SyncDueAsync(h.Clock.GetCurrentInstant()));

        // An active partner's authorization still waits for its capture or cancel.
        var waiting = await h.Transactions.GetAsync(other.Id, standing.Id);
        Assert.Equal((TransactionStatus.Processing, (ProviderAction?)null), (waiting.Status, waiting.InFlightAction));
        Assert.NotNull(waiting.AuthorizedAt);
    }

    [Fact]
    public async Task A_Deleted_Partners_Authorization_Whose_Void_The_Provider_Refuses_Stands_And_Is_Not_Due_Again()
    {
        GatedPaymentProvider? stripe = null;
        var store = await CreateStoreAsync();
        using var h = OrchestrationHarness.Create(
            store,
            o => (o.SyncRetryInterval, o.DropTimeout) = (Duration.FromMinutes(1), Duration.FromMinutes(10)),
            wrapStripe: s => stripe = new GatedPaymentProvider(s),
            due: CreateDueQueue(store));
        var partner = await h.NewPartnerAsync();
        var held = await h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request("hold") with { CaptureMethod = CaptureMethod.Manual }, Context);
        await h.Partners.DeleteAsync(partner.Id, Context);
        h.Clock.Advance(Duration.FromMinutes(10));
        stripe!.MoveAnswer = new ProviderResult(ProviderOutcome.Declined, ErrorCode: "void_refused", ErrorMessage: "Void refused.");

        // Sent once: a refusal is the provider's last word, and the authorization expires at the provider.
        Assert.Equal(new TransactionSyncResult(1, 1, 0), await h.Transactions.SyncDueAsync(h.Clock.GetCurrentInstant()));
        var refused = await h.Transactions.GetAsync(partner.Id, held.Id);
        Assert.Equal((TransactionStatus.Processing, (ProviderAction?)null, "void_refused"), (refused.Status, refused.InFlightAction, refused.ErrorCode));
        Assert.NotNull(refused.AuthorizedAt);
        h.Clock.Advance(Duration.FromDays(1));
        Assert.Equal(Nothing, await h.Transactions.SyncDueAsync(h.Clock.GetCurrentInstant()));
    }

    [Fact]
    public async Task The_Sync_Pass_Audits_A_Transaction_Only_When_Its_Sync_Changed_Something()
    {
        GatedPaymentProvider? stripe = null;
        var store = await CreateStoreAsync();
        using var h = OrchestrationHarness.Create(
            store, o => o.SyncRetryInterval = Duration.FromMinutes(1), wrapStripe: s => stripe = new GatedPaymentProvider(s), due: CreateDueQueue(store));
        var partner = await h.NewPartnerAsync();
        stripe!.Down = true;
        var stuck = await h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request("stuck"), Context);
        Assert.Equal(TransactionStatus.Processing, stuck.Status);

        // Each pass polls it (counted in its retry count) and learns nothing: no entry per retry interval.
        for (var pass = 0; pass < 3; pass++)
        {
            Assert.Equal(new TransactionSyncResult(1, 1, 0), await h.Transactions.SyncDueAsync(h.Clock.GetCurrentInstant()));
            h.Clock.Advance(Duration.FromMinutes(1));
        }

        Assert.Equal((TransactionStatus.Processing, 3), ((await h.Transactions.GetAsync(partner.Id, stuck.Id)).Status, (await h.Transactions.GetAsync(partner.Id, stuck.Id)).RetryCount));
        Assert.DoesNotContain(await h.AuditAsync(partner.Id), a => a.Action == "transaction.sync");

        // A partner's own sync is its call, audited whatever it did.
        Assert.Equal(TransactionStatus.Processing, (await h.Transactions.SyncAsync(partner.Id, stuck.Id, Context)).Status);
        var partners = Assert.Single(await h.AuditAsync(partner.Id), a => a.Action == "transaction.sync");
        Assert.Equal(Context.IpAddress, partners.IpAddress);

        // The provider is back: the pass that settles the payment records it.
        stripe.Down = false;
        Assert.Equal(new TransactionSyncResult(1, 1, 0), await h.Transactions.SyncDueAsync(h.Clock.GetCurrentInstant()));
        Assert.Equal(TransactionStatus.Completed, (await h.Transactions.GetAsync(partner.Id, stuck.Id)).Status);
        var systems = Assert.Single(await h.AuditAsync(partner.Id), a => a.Action == "transaction.sync" && a.Id != partners.Id);
        Assert.Equal((RequestContext.Internal.IpAddress, AuditOutcome.Succeeded), (systems.IpAddress, systems.Outcome));
        Assert.Equal("processing", systems.Changes!.Before!.Value.GetProperty("status").GetString());
        Assert.Equal("completed", systems.Changes.After!.Value.GetProperty("status").GetString());
    }

    [Fact]
    public async Task The_Sync_Pass_Audits_A_Rejection_Once_Until_It_Changes_Or_The_Transaction_Does()
    {
        GatedPaymentProvider? stripe = null;
        var store = await CreateStoreAsync();
        using var h = OrchestrationHarness.Create(
            store, o => o.SyncRetryInterval = Duration.FromMinutes(1), wrapStripe: s => stripe = new GatedPaymentProvider(s), due: CreateDueQueue(store));
        var partner = await h.NewPartnerAsync();
        stripe!.LoseNextPayment = true;
        var lost = await h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request("lost"), Context);
        Assert.Equal(TransactionStatus.Processing, lost.Status);
        var refused = new PaymentsKitException(PaymentsKitErrorCodes.InvalidArgument, "The provider refused the reference.");
        stripe.PollRejection = refused;
        async Task<IReadOnlyList<AuditLogEntry>> RejectedAsync() =>
            [.. (await h.AuditAsync(partner.Id)).Where(a => a is { Action: "transaction.sync", Outcome: AuditOutcome.Rejected }).OrderBy(a => a.CreatedAt)];
        async Task PassesAsync(int passes, TransactionSyncResult each)
        {
            for (var pass = 0; pass < passes; pass++)
            {
                Assert.Equal(each, await h.Transactions.SyncDueAsync(h.Clock.GetCurrentInstant()));
                h.Clock.Advance(Duration.FromMinutes(1));
            }
        }

        // The same refusal pass after pass, of a transaction nothing changed: one entry, as a sync that changed nothing
        // writes none.
        await PassesAsync(3, new TransactionSyncResult(1, 0, 1));
        var first = Assert.Single(await RejectedAsync());
        Assert.Equal((PaymentsKitErrorCodes.InvalidArgument, RequestContext.Internal.IpAddress), (first.ErrorCode, first.IpAddress));

        // Another refusal is another entry, once.
        stripe.PollRejection = new PaymentsKitException(PaymentsKitErrorCodes.StorageFailure, "The provider's store is read-only.");
        await PassesAsync(2, new TransactionSyncResult(1, 0, 1));
        Assert.Equal([PaymentsKitErrorCodes.InvalidArgument, PaymentsKitErrorCodes.StorageFailure], (await RejectedAsync()).Select(a => a.ErrorCode));

        // A partner's own sync is its call: audited whatever it did, each time.
        for (var call = 0; call < 2; call++)
        {
            await Assert.ThrowsAsync<PaymentsKitException>(() => h.Transactions.SyncAsync(partner.Id, lost.Id, Context).AsTask());
        }

        Assert.Equal(4, (await RejectedAsync()).Count);

        // The provider answers again and the payment completes (audited); a refund of it then meets the first refusal
        // again: the transaction changed since, so that is recorded once more, once.
        stripe.PollRejection = null;
        await PassesAsync(1, new TransactionSyncResult(1, 1, 0));
        Assert.Equal(TransactionStatus.Completed, (await h.Transactions.GetAsync(partner.Id, lost.Id)).Status);
        stripe.LoseNextRefund = true;
        Assert.Equal(RefundStatus.Processing, (await h.Refunds.RefundAsync(partner.Id, lost.Id, new CreateRefundRequest(40m, "damaged"), Context)).Status);
        stripe.PollRejection = refused;
        await PassesAsync(3, new TransactionSyncResult(1, 0, 1));
        Assert.Equal(5, (await RejectedAsync()).Count);
        Assert.Equal((PaymentsKitErrorCodes.InvalidArgument, RequestContext.Internal.IpAddress), ((await RejectedAsync())[4].ErrorCode, (await RejectedAsync())[4].IpAddress));
        Assert.Single(await h.AuditAsync(partner.Id), a => a is { Action: "transaction.sync", Outcome: AuditOutcome.Succeeded });
    }

    [Fact]
    public async Task The_Refusal_Kept_For_A_Transaction_Goes_When_It_Settles()
    {
        GatedPaymentProvider? stripe = null;
        var store = await CreateStoreAsync();
        using var h = OrchestrationHarness.Create(
            store, o => o.SyncRetryInterval = Duration.FromMinutes(1), wrapStripe: s => stripe = new GatedPaymentProvider(s), due: CreateDueQueue(store));
        var partner = await h.NewPartnerAsync();
        stripe!.LoseNextPayment = true;
        var charged = await h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request("charged"), Context);
        stripe.LoseNextPayment = true;
        var declined = await h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request("declined", email: "bob+decline@example.com"), Context);
        stripe.PollRejection = new PaymentsKitException(PaymentsKitErrorCodes.InvalidArgument, "The provider refused the reference.");
        Assert.Equal(new TransactionSyncResult(2, 0, 2), await h.Transactions.SyncDueAsync(h.Clock.GetCurrentInstant()));
        Assert.True(await RefusalKeptAsync(store, charged));
        Assert.True(await RefusalKeptAsync(store, declined));

        // One is charged by the next pass (settled: completed, nothing in flight), the other declined (terminal): neither
        // can be synced again as it was when refused, so its refusal record goes in the unit that settles it.
        stripe.PollRejection = null;
        h.Clock.Advance(Duration.FromMinutes(1));
        Assert.Equal(new TransactionSyncResult(2, 2, 0), await h.Transactions.SyncDueAsync(h.Clock.GetCurrentInstant()));
        Assert.Equal(TransactionStatus.Completed, (await h.Transactions.GetAsync(partner.Id, charged.Id)).Status);
        Assert.Equal(TransactionStatus.Failed, (await h.Transactions.GetAsync(partner.Id, declined.Id)).Status);
        Assert.False(await RefusalKeptAsync(store, charged));
        Assert.False(await RefusalKeptAsync(store, declined));
    }

    [Fact]
    public async Task A_Refusal_Met_Again_After_Its_Record_Went_Is_Audited_Once_As_A_Change_Of_The_Transaction()
    {
        GatedPaymentProvider? stripe = null;
        var store = await CreateStoreAsync();
        using var h = OrchestrationHarness.Create(
            store, o => o.SyncRetryInterval = Duration.FromMinutes(1), wrapStripe: s => stripe = new GatedPaymentProvider(s), due: CreateDueQueue(store));
        var partner = await h.NewPartnerAsync();
        stripe!.LoseNextPayment = true;
        var tx = await h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request("again"), Context);
        var refused = new PaymentsKitException(PaymentsKitErrorCodes.InvalidArgument, "The provider refused the reference.");
        stripe.PollRejection = refused;
        async Task<int> RejectedAsync() => (await h.AuditAsync(partner.Id)).Count(a => a is { Action: "transaction.sync", Outcome: AuditOutcome.Rejected });
        async Task PassesAsync(int passes, TransactionSyncResult each)
        {
            for (var pass = 0; pass < passes; pass++)
            {
                Assert.Equal(each, await h.Transactions.SyncDueAsync(h.Clock.GetCurrentInstant()));
                h.Clock.Advance(Duration.FromMinutes(1));
            }
        }

        await PassesAsync(2, new TransactionSyncResult(1, 0, 1));
        Assert.Equal(1, await RejectedAsync());
        stripe.PollRejection = null;
        await PassesAsync(1, new TransactionSyncResult(1, 1, 0));
        Assert.False(await RefusalKeptAsync(store, tx));

        // A refund puts it back in the pass, which meets the same refusal: the transaction changed since the refusal was
        // audited (as it must have for its record to go), so it is audited again, once, and kept until the refund settles.
        stripe.LoseNextRefund = true;
        Assert.Equal(RefundStatus.Processing, (await h.Refunds.RefundAsync(partner.Id, tx.Id, new CreateRefundRequest(40m, "damaged"), Context)).Status);
        stripe.PollRejection = refused;
        await PassesAsync(3, new TransactionSyncResult(1, 0, 1));
        Assert.Equal(2, await RejectedAsync());
        Assert.True(await RefusalKeptAsync(store, tx));
        stripe.PollRejection = null;
        await PassesAsync(1, new TransactionSyncResult(1, 1, 0));
        Assert.Equal(TransactionStatus.PartiallyRefunded, (await h.Transactions.GetAsync(partner.Id, tx.Id)).Status);
        Assert.False(await RefusalKeptAsync(store, tx));
        Assert.Equal(2, await RejectedAsync());
    }

    private static async Task<bool> RefusalKeptAsync(IPaymentsStore store, PaymentTransaction tx)
    {
        await using var unit = await store.BeginAsync();
        return await unit.GetAsync(OrchestrationCollections.SyncRejections, tx.PartnerId.Value, tx.Id.Value) is not null;
    }

    [Fact]
    public async Task A_Transaction_The_Provider_Keeps_Leaving_Unresolved_Does_Not_Starve_The_Others()
    {
        GatedPaymentProvider? stripe = null;
        var store = await CreateStoreAsync();
        using var h = OrchestrationHarness.Create(
            store, o => o.SyncRetryInterval = Duration.FromMinutes(1), wrapStripe: inner => stripe = new GatedPaymentProvider(inner), due: CreateDueQueue(store));
        var partner = await h.NewPartnerAsync();
        stripe!.Down = true;
        var stuck = await h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request("stuck"), Context);
        Assert.Equal((TransactionStatus.Processing, ProviderAction.Payment), (stuck.Status, stuck.InFlightAction));

        // One at a time: the provider is down, so the sync leaves it processing and it is put off for the retry interval.
        Assert.Equal(new TransactionSyncResult(1, 1, 0), await h.Transactions.SyncDueAsync(h.Clock.GetCurrentInstant(), limit: 1));
        Assert.Equal(TransactionStatus.Processing, (await h.Transactions.GetAsync(partner.Id, stuck.Id)).Status);
        var next = await h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request("next", provider: "paypal", email: "bob+timeout@example.com"), Context);
        Assert.Equal(new TransactionSyncResult(1, 1, 0), await h.Transactions.SyncDueAsync(h.Clock.GetCurrentInstant(), limit: 1));
        Assert.Equal(TransactionStatus.Completed, (await h.Transactions.GetAsync(partner.Id, next.Id)).Status);
        Assert.Equal(Nothing, await h.Transactions.SyncDueAsync(h.Clock.GetCurrentInstant(), limit: 1));

        // Once its wait is over it queues behind a transaction never synced, although that one is younger.
        h.Clock.Advance(Duration.FromMinutes(1));
        var newer = await h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request("newer", provider: "paypal", email: "carol+timeout@example.com"), Context);
        Assert.Equal(new TransactionSyncResult(1, 1, 0), await h.Transactions.SyncDueAsync(h.Clock.GetCurrentInstant(), limit: 1));
        Assert.Equal(TransactionStatus.Completed, (await h.Transactions.GetAsync(partner.Id, newer.Id)).Status);
        Assert.Equal(TransactionStatus.Processing, (await h.Transactions.GetAsync(partner.Id, stuck.Id)).Status);

        // The provider is back: the next pass finds it does not know the payment and sends it again.
        stripe.Down = false;
        Assert.Equal(new TransactionSyncResult(1, 1, 0), await h.Transactions.SyncDueAsync(h.Clock.GetCurrentInstant(), limit: 1));
        Assert.Equal(TransactionStatus.Completed, (await h.Transactions.GetAsync(partner.Id, stuck.Id)).Status);
        Assert.Equal(300m, await h.BalanceAsync(partner.Id, "orch:sales:USD"));
    }

    [Fact]
    public async Task Eight_Concurrent_Passes_Call_The_Provider_Once_Per_Due_Transaction()
    {
        const int Crashed = 4;
        const int TimedOut = 4;
        var inner = await CreateStoreAsync();
        var store = new CrashingStore(inner);
        using var h = OrchestrationHarness.Create(store, due: CreateDueQueue(inner));
        var partner = await h.NewPartnerAsync();
        for (var i = 0; i < Crashed; i++)
        {
            (store.CrashOn, store.AfterCommit) = (r => r is PaymentTransaction { Status: TransactionStatus.Processing }, false);
            await Assert.ThrowsAsync<InvalidOperationException>(() => h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request($"crash-{i}"), Context).AsTask());
        }

        for (var i = 0; i < TimedOut; i++)
        {
            await h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request($"timeout-{i}", email: "bob+timeout@example.com"), Context);
        }

        h.Clock.Advance(Duration.FromMinutes(1));
        var calls = h.Stripe.CallCount;
        var passes = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ =>
            Task.Run(() => h.Transactions.SyncDueAsync(h.Clock.GetCurrentInstant()).AsTask())));

        // Each transaction was claimed by one pass: one charge for each crashed create, one poll for each timed-out charge.
        Assert.Equal(Crashed + TimedOut, passes.Sum(p => p.Claimed));
        Assert.Equal(Crashed + TimedOut, passes.Sum(p => p.Synced));
        Assert.Equal(Crashed + TimedOut, h.Stripe.CallCount - calls);
        var all = (await h.Transactions.ListAsync(partner.Id, null, 100)).Items;
        Assert.Equal(Crashed + TimedOut, all.Count);
        Assert.All(all, t => Assert.Equal(TransactionStatus.Completed, t.Status));
        Assert.Equal((Crashed + TimedOut) * 100m, await h.BalanceAsync(partner.Id, "orch:sales:USD"));

        // The provider settled one charge per transaction (one webhook per settled operation).
        h.Clock.Advance(Duration.FromMinutes(1));
        Assert.Equal(Crashed + TimedOut, h.Stripe.TakeDueWebhooks().Count);
        Assert.Equal(Nothing, await h.Transactions.SyncDueAsync(h.Clock.GetCurrentInstant()));
    }
}
