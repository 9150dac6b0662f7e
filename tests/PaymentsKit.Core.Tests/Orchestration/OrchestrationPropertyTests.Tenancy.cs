using PaymentsKit.Orchestration;
using PaymentsKit.Testing;

namespace PaymentsKit.Tests.Orchestration;

public abstract partial class OrchestrationPropertyTests
{
    /// <summary>A step of the tenancy property: a partner's own work, or an attempt on another partner's transaction or refund.</summary>
    public enum PartnerTenancyStep
    {
        Create,
        Operate,
        DeliverWebhooks,
        TouchForeign,
    }

    /// <summary>
    /// Three partners create and work their transactions (with the same idempotency keys, which are per partner) while
    /// each keeps trying another partner's: every such call — get, events, refunds list, confirm, capture, cancel, delete,
    /// sync, refund, get refund — answers exactly as for a transaction or refund that does not exist (<c>not_found</c>,
    /// same message and context, the same rejected entry in the caller's audit trail) and changes nothing of the owner's
    /// (transaction, events, refunds, audit trail); each partner's list, audit trail and books hold exactly its own.
    /// </summary>
    [Fact]
    public void Partners_See_And_Change_Only_Their_Own_Transactions_Meets_Specification()
    {
        TenancyProperty.Check(
            PropertyIterations,
            RunPartnerTenancyAsync,
            (3, PartnerTenancyStep.Create),
            (3, PartnerTenancyStep.Operate),
            (1, PartnerTenancyStep.DeliverWebhooks),
            (5, PartnerTenancyStep.TouchForeign));
    }

    private async Task<bool> RunPartnerTenancyAsync(List<(int Actor, PartnerTenancyStep Step, int Pick)> steps)
    {
        using var h = await HarnessAsync();
        var partners = new List<Partner>();
        var transactions = new List<List<TransactionId>>();
        var refundKeys = new int[3];
        for (var i = 0; i < 3; i++)
        {
            // Each starts with a completed transaction and a refund of it, so the others have something to try from the first step.
            var partner = await h.NewPartnerAsync();
            var completed = await h.CompletedAsync(partner, 50m);
            await h.Refunds.RefundAsync(partner.Id, completed.Id, new CreateRefundRequest(5m, "requested"), Context);
            partners.Add(partner);
            transactions.Add([completed.Id]);
        }

        foreach (var (actor, step, pick) in steps)
        {
            var me = partners[actor].Id;
            var mine = transactions[actor];
            var owner = (actor + 1 + (pick % 2)) % 3;
            switch (step)
            {
                case PartnerTenancyStep.Create:
                {
                    // Every partner numbers its keys alike: they are unique per partner only.
                    var request = OrchestrationHarness.Request($"k-{mine.Count}", 10 + (pick % 90)) with
                    {
                        Confirm = pick % 4 != 0,
                        CaptureMethod = pick % 5 == 0 ? CaptureMethod.Manual : CaptureMethod.Automatic,
                    };
                    var created = await h.Transactions.CreateAsync(me, request, Context);
                    Assert.Equal(me, created.PartnerId);
                    Assert.DoesNotContain(created.Id, transactions.SelectMany(t => t));
                    mine.Add(created.Id);
                    break;
                }

                case PartnerTenancyStep.Operate when mine.Count > 0:
                    try
                    {
                        // Every partner numbers its refund keys alike too.
                        await OperateAsync(h, me, mine[pick % mine.Count], pick / 3, $"r-{refundKeys[actor]++}");
                    }
                    catch (PaymentsKitException ex) when (ex.Code is PaymentsKitErrorCodes.InvalidTransition or PaymentsKitErrorCodes.TransactionInFlight
                        or PaymentsKitErrorCodes.NotRefundable or PaymentsKitErrorCodes.RefundExceedsRemaining)
                    {
                        // The partner's own call may be refused by the transaction's state; that is not what this property checks.
                    }

                    break;
                case PartnerTenancyStep.DeliverWebhooks:
                    await h.DeliverWebhooksAsync(h.Stripe);
                    break;
                case PartnerTenancyStep.TouchForeign when transactions[owner].Count > 0:
                    await TouchForeignAsync(h, me, partners[owner].Id, transactions[owner][pick % transactions[owner].Count], pick / 3);
                    break;
            }
        }

        for (var i = 0; i < 3; i++)
        {
            await AssertOnlyOwnAsync(h, partners[i].Id, transactions[i]);
        }

        return true;
    }

    private static Task OperateAsync(OrchestrationHarness h, PartnerId me, TransactionId id, int pick, string refundKey) => (pick % 5) switch
    {
        0 => h.Transactions.ConfirmAsync(me, id, Context).AsTask(),
        1 => h.Transactions.CaptureAsync(me, id, Context).AsTask(),
        2 => h.Transactions.CancelAsync(me, id, Context).AsTask(),
        3 => h.Transactions.SyncAsync(me, id, Context).AsTask(),
        _ => h.Refunds.RefundAsync(me, id, new CreateRefundRequest(1 + (pick % 20), "requested") { IdempotencyKey = refundKey }, Context).AsTask(),
    };

    /// <summary>One call by <paramref name="me"/> naming another partner's transaction <paramref name="id"/> or one of its refunds.</summary>
    private static async Task TouchForeignAsync(OrchestrationHarness h, PartnerId me, PartnerId owner, TransactionId id, int pick)
    {
        var refunds = await h.Refunds.ListRefundsAsync(owner, id);
        var before = await OwnerViewAsync(h, owner, id);
        var audited = (await h.AuditAsync(me)).Select(a => a.Id).ToHashSet();
        var absent = TransactionId.FromGuid(Guid.CreateVersion7());
        if (pick % 12 is 8 or 9 && refunds.Count > 0)
        {
            var refund = refunds[pick % refunds.Count].Id;
            var absentRefund = RefundId.FromGuid(Guid.CreateVersion7());
            await TenancyAssert.HiddenAsync(
                () => h.Refunds.GetRefundAsync(me, refund).AsTask(), refund.ToString(),
                () => h.Refunds.GetRefundAsync(me, absentRefund).AsTask(), absentRefund.ToString());
        }
        else if (pick % 12 < 10)
        {
            await TenancyAssert.HiddenAsync(() => TouchAsync(h, me, id, pick), id.ToString(), () => TouchAsync(h, me, absent, pick), absent.ToString());
        }
        else
        {
            // A refund only the transaction could refuse (more than it has left, a cent too fine): it must not look at another partner's.
            var amount = pick % 2 == 0 ? 1_000_000m : 0.001m;
            await TenancyAssert.SameAsAbsentAsync(
                () => h.Refunds.RefundAsync(me, id, new CreateRefundRequest(amount, "requested"), Context).AsTask(), id.ToString(),
                () => h.Refunds.RefundAsync(me, absent, new CreateRefundRequest(amount, "requested"), Context).AsTask(), absent.ToString());
        }

        // The owner's transaction, its history, its refunds and its audit trail are as they were.
        Assert.Equal(before, await OwnerViewAsync(h, owner, id));

        // The caller's audit trail took the same rejection for the foreign id as for the absent one (or none for a read).
        var added = (await h.AuditAsync(me)).Where(a => !audited.Contains(a.Id)).ToList();
        Assert.True(added.Count is 0 or 2, $"{added.Count} audit entries for one foreign and one absent call");
        if (added.Count == 2)
        {
            // Entries written in one instant have no order between them: the foreign one is the one that names the foreign id.
            var foreign = added.FirstOrDefault(a => Names(a, id.ToString())) ?? added[0];
            var missing = added.Single(a => a != foreign);
            Assert.Equal(Rejection(missing, absent.ToString()), Rejection(foreign, id.ToString()));
            Assert.Equal((AuditOutcome.Rejected, me), (foreign.Outcome, foreign.PartnerId));
        }
    }

    private static bool Names(AuditLogEntry entry, string id) =>
        entry.ResourceId == id || entry.ErrorMessage?.Contains(id, StringComparison.Ordinal) == true;

    private static (string Action, string ResourceType, string? ResourceId, AuditOutcome Outcome, string? Code, string? Message, PartnerId? Partner, AuditChanges? Changes) Rejection(AuditLogEntry entry, string id) =>
        (entry.Action, entry.ResourceType, entry.ResourceId?.Replace(id, "<id>", StringComparison.Ordinal), entry.Outcome, entry.ErrorCode,
            entry.ErrorMessage?.Replace(id, "<id>", StringComparison.Ordinal), entry.PartnerId, entry.Changes);

    private static Task TouchAsync(OrchestrationHarness h, PartnerId me, TransactionId id, int pick) => (pick % 9) switch
    {
        0 => h.Transactions.GetAsync(me, id).AsTask(),
        1 => h.Transactions.GetEventsAsync(me, id).AsTask(),
        2 => h.Refunds.ListRefundsAsync(me, id).AsTask(),
        3 => h.Transactions.ConfirmAsync(me, id, Context).AsTask(),
        4 => h.Transactions.CaptureAsync(me, id, Context).AsTask(),
        5 => h.Transactions.CancelAsync(me, id, Context).AsTask(),
        6 => h.Transactions.DeleteAsync(me, id, Context).AsTask(),
        7 => h.Transactions.SyncAsync(me, id, Context).AsTask(),
        _ => h.Refunds.RefundAsync(me, id, new CreateRefundRequest(1, "requested") { IdempotencyKey = "foreign-" + (pick % 2) }, Context).AsTask(),
    };

    private static async Task AssertOnlyOwnAsync(OrchestrationHarness h, PartnerId me, List<TransactionId> mine)
    {
        var listed = new List<PaymentTransaction>();
        string? cursor = null;
        do
        {
            var page = await h.Transactions.ListAsync(me, cursor, 7);
            listed.AddRange(page.Items);
            cursor = page.NextCursor;
        }
        while (cursor is not null);
        Assert.Equal(mine.Select(t => t.Value).Order(), listed.Select(t => t.Id.Value).Order());
        Assert.All(listed, t => Assert.Equal(me, t.PartnerId));

        var refunded = 0m;
        var sold = 0m;
        foreach (var transaction in listed)
        {
            Assert.All(await h.Refunds.ListRefundsAsync(me, transaction.Id), r => Assert.Equal((me, transaction.Id), (r.PartnerId, r.TransactionId)));
            refunded += transaction.RefundedAmount.Amount;
            sold += transaction.Status is TransactionStatus.Completed or TransactionStatus.PartiallyRefunded or TransactionStatus.Refunded ? transaction.Amount.Amount : 0m;
        }

        Assert.All(await h.AuditAsync(me), a => Assert.Equal(me, a.PartnerId));
        Assert.Equal(refunded, await h.BalanceAsync(me, "orch:refunds:USD"));
        Assert.Equal(sold, await h.BalanceAsync(me, "orch:sales:USD"));
    }

    /// <summary>
    /// Everything the owner sees of a transaction, as text: the records hold JSON documents (provider responses, audit
    /// snapshots) that compare by reference, and a store that reads them back makes new ones.
    /// </summary>
    private static async Task<string> OwnerViewAsync(OrchestrationHarness h, PartnerId owner, TransactionId id) =>
        string.Join('\n', [
            (await h.Transactions.GetAsync(owner, id)).ToString(),
            .. (await h.Transactions.GetEventsAsync(owner, id)).Select(e => e.ToString()),
            .. (await h.Refunds.ListRefundsAsync(owner, id)).Select(r => r.ToString()),
            .. (await h.AuditAsync(owner)).Select(a => a.ToString())]);
}
