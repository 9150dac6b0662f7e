using FsCheck;
using FsCheck.Fluent;
using PaymentsKit.Orchestration;
using PaymentsKit.Storage;

namespace PaymentsKit.Tests.Orchestration;

public abstract partial class OrchestrationPropertyTests : OrchestrationStoreTests
{
    private static readonly string[] RefundBehaviors = ["succeed", "decline", "timeout", "timeout_decline"];
    private static readonly string[] EmailKinds = ["", "+decline", "+timeout", "+timeout_decline"];

    /// <summary>A refund step (kind 0) or a settling step (1: deliver webhooks, 2: poll) with its refund amount in cents and behaviour.</summary>
    private static Gen<(int Kind, int Cents, string Behavior)> RefundStep(int totalCents) =>
        from kind in Gen.Frequency((6, Gen.Constant(0)), (1, Gen.Constant(1)), (1, Gen.Constant(2)))
        from cents in Gen.Choose(1, totalCents + totalCents / 4)
        from behavior in Gen.Elements(RefundBehaviors)
        select (kind, cents, behavior);

    private static Gen<(int TotalCents, (int Kind, int Cents, string Behavior)[][] Batches)> RefundScenarios =>
        from total in Gen.Choose(1, 20_000)
        from batches in Gen.Choose(1, 4).SelectMany(size => RefundStep(total).ArrayOf().Select(a => a.Take(size).ToArray())).ArrayOf()
        select (total, batches.Take(6).ToArray());

    [Fact]
    public void RefundsNeverExceedTheAmount_UnderAnyInterleaving_Meets_Specification()
    {
        Prop.ForAll(RefundScenarios.ToArbitrary(), scenario => Task.Run(() => RunRefundScenarioAsync(scenario.TotalCents, scenario.Batches)).GetAwaiter().GetResult())
            .Check(Config.QuickThrowOnFailure.WithMaxTest(PropertyIterations));
    }

    private async Task<bool> RunRefundScenarioAsync(int totalCents, (int Kind, int Cents, string Behavior)[][] batches)
    {
        using var h = await HarnessAsync(stripe: RefundServiceTests.ScriptedRefundsForProperties);
        var partner = await h.NewPartnerAsync();
        var tx = await h.CompletedAsync(partner, totalCents / 100m);
        var seen = new Dictionary<RefundId, RefundStatus>();
        foreach (var batch in batches)
        {
            // Every step of a batch runs at once, so refunds, webhooks and polls interleave freely.
            await Task.WhenAll(batch.Select(step => Task.Run(async () =>
            {
                try
                {
                    switch (step.Kind)
                    {
                        case 0:
                            await h.Refunds.RefundAsync(partner.Id, tx.Id, new CreateRefundRequest(step.Cents / 100m, step.Behavior), Context);
                            break;
                        case 1:
                            await h.DeliverWebhooksAsync(h.Stripe);
                            break;
                        default:
                            await h.Transactions.SyncAsync(partner.Id, tx.Id, Context);
                            break;
                    }
                }
                catch (PaymentsKitException ex) when (ex.Code is PaymentsKitErrorCodes.RefundExceedsRemaining or PaymentsKitErrorCodes.NotRefundable or PaymentsKitErrorCodes.ConcurrencyConflict)
                {
                    // Refused refunds are part of the scenario.
                }
            })));
            await AssertRefundBooksAsync(h, partner.Id, tx.Id, seen, settled: false);
        }

        await h.DeliverWebhooksAsync(h.Stripe);
        await h.Transactions.SyncAsync(partner.Id, tx.Id, Context);
        await AssertRefundBooksAsync(h, partner.Id, tx.Id, seen, settled: true);
        return true;
    }

    private static async Task AssertRefundBooksAsync(OrchestrationHarness h, PartnerId partner, TransactionId id, Dictionary<RefundId, RefundStatus> seen, bool settled)
    {
        var tx = await h.Transactions.GetAsync(partner, id);
        var refunds = await h.Refunds.ListRefundsAsync(partner, id);

        // Between two looks a refund only moved along RefundLifecycle: a completed or failed one never changes again.
        foreach (var refund in refunds)
        {
            if (seen.TryGetValue(refund.Id, out var before))
            {
                Assert.True(before == refund.Status || Reachable(before).Contains(refund.Status), $"refund {refund.Id} went from {before} to {refund.Status}");
            }

            seen[refund.Id] = refund.Status;
        }

        var completed = refunds.Where(r => r.Status == RefundStatus.Completed).Sum(r => r.Amount.Amount);
        var inFlight = refunds.Where(r => r.Status is RefundStatus.Pending or RefundStatus.Processing).Sum(r => r.Amount.Amount);
        Assert.True(completed + inFlight <= tx.Amount.Amount, $"refunds {completed} + {inFlight} exceed {tx.Amount}");
        Assert.Equal(completed, tx.RefundedAmount.Amount);
        Assert.Equal(inFlight, tx.ReservedRefundAmount.Amount);
        Assert.Equal(completed, await h.BalanceAsync(partner, "orch:refunds:USD"));
        var expected = completed == 0m ? TransactionStatus.Completed : completed == tx.Amount.Amount ? TransactionStatus.Refunded : TransactionStatus.PartiallyRefunded;
        Assert.Equal(expected, tx.Status);
        if (settled)
        {
            Assert.Equal(0m, inFlight);
        }
    }

    private static HashSet<RefundStatus> Reachable(RefundStatus from)
    {
        var reached = new HashSet<RefundStatus>();
        var next = new Queue<RefundStatus>([from]);
        while (next.TryDequeue(out var state))
        {
            foreach (var t in RefundLifecycle.Machine.Transitions.Where(t => t.From == state && reached.Add(t.To)))
            {
                next.Enqueue(t.To);
            }
        }

        return reached;
    }

    private static Gen<(int Email, bool Manual, bool Confirm)> TransactionSetups =>
        from email in Gen.Choose(0, EmailKinds.Length - 1)
        from manual in Gen.Frequency((3, Gen.Constant(false)), (1, Gen.Constant(true)))
        from confirm in Gen.Frequency((4, Gen.Constant(true)), (1, Gen.Constant(false)))
        select (email, manual, confirm);

    private static Gen<((int Email, bool Manual, bool Confirm)[] Setups, (int Kind, int Target, int Cents)[] Steps)> LifecycleScenarios =>
        from setups in Gen.Choose(1, 5).SelectMany(n => TransactionSetups.ArrayOf().Select(a => a.Take(n).Append((0, false, true)).ToArray()))
        from steps in (from kind in Gen.Choose(0, 5) from target in Gen.Choose(0, 5) from cents in Gen.Choose(1, 12_000) select (kind, target, cents)).ArrayOf()
        select (setups, steps.Take(12).ToArray());

    /// <summary>
    /// Creates racing over two partners with keys from a small pool: each (partner, key) creates exactly one
    /// transaction, every request equal to the one that created it (10 and 10.00 are equal) gets that transaction
    /// back, every other request with the key is <c>idempotency_conflict</c>, and another partner's equal key is
    /// a transaction of its own.
    /// </summary>
    [Fact]
    public void One_Idempotency_Key_Per_Partner_Creates_At_Most_One_Transaction_Meets_Specification()
    {
        var calls = (from partner in Gen.Choose(0, 1) from key in Gen.Choose(0, 1) from variant in Gen.Choose(0, 4) select (partner, key, variant)).ListOf();
        Prop.ForAll(Arb.From(calls.Where(c => c.Count > 0)), requests => Task.Run(() => RunIdempotentCreatesAsync(requests)).GetAwaiter().GetResult())
            .Check(Config.QuickThrowOnFailure.WithMaxTest(PropertyIterations).WithStartSize(4).WithEndSize(12));
    }

    /// <summary>Five requests; the first two differ only in how the amount is written, so they are one request.</summary>
    private static (int Request, CreateTransactionRequest Create) CreateVariant(int variant, string key) => variant switch
    {
        0 => (0, OrchestrationHarness.Request(key, 10m)),
        1 => (0, OrchestrationHarness.Request(key, 10.00m)),
        2 => (2, OrchestrationHarness.Request(key, 12m)),
        3 => (3, OrchestrationHarness.Request(key, 10m, currency: "EUR")),
        _ => (4, OrchestrationHarness.Request(key, 10m, email: "bob@example.com")),
    };

    private async Task<bool> RunIdempotentCreatesAsync(IReadOnlyList<(int Partner, int Key, int Variant)> requests)
    {
        using var h = await HarnessAsync();
        Partner[] partners = [await h.NewPartnerAsync(), await h.NewPartnerAsync()];
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        async Task<(TransactionId? Id, string? Code)> Create(int partner, int key, int variant)
        {
            await gate.Task;
            while (true)
            {
                try
                {
                    return ((await h.Transactions.CreateAsync(partners[partner].Id, CreateVariant(variant, $"order-{key}").Create, Context)).Id, null);
                }
                catch (PaymentsKitException ex) when (ex.IsTransient)
                {
                    await Task.Yield();
                }
                catch (PaymentsKitException ex)
                {
                    return (null, ex.Code);
                }
            }
        }

        var running = requests.Select(r => Task.Run(() => Create(r.Partner, r.Key, r.Variant))).ToArray();
        gate.SetResult();
        var outcomes = await Task.WhenAll(running);

        var created = new HashSet<TransactionId>();
        foreach (var group in requests.Zip(outcomes).GroupBy(c => (c.First.Partner, c.First.Key)))
        {
            var winners = group.Where(c => c.Second.Id is not null).ToList();
            Assert.NotEmpty(winners);
            var winner = CreateVariant(winners[0].First.Variant, "").Request;
            var id = winners[0].Second.Id!.Value;
            Assert.True(created.Add(id), $"{id} was returned for two partners or keys");
            foreach (var (request, (returned, code)) in group)
            {
                if (CreateVariant(request.Variant, "").Request == winner)
                {
                    Assert.True(returned == id, $"partner {request.Partner} order-{request.Key} variant {request.Variant}: {code ?? returned.ToString()} instead of {id}");
                }
                else
                {
                    Assert.True(code == PaymentsKitErrorCodes.IdempotencyConflict, $"partner {request.Partner} order-{request.Key} variant {request.Variant} after request {winner}: {code ?? "accepted"}");
                }
            }
        }

        for (var partner = 0; partner < partners.Length; partner++)
        {
            var keys = requests.Where(r => r.Partner == partner).Select(r => r.Key).Distinct().Count();
            Assert.Equal(keys, (await h.CountAsync(partners[partner].Id)).Transactions);
        }

        return true;
    }

    /// <summary>
    /// Keyed refunds racing over two partners with two transactions each and keys from a small pool: each (partner, key)
    /// makes exactly one refund, whichever of the partner's transactions it names, every request equal to the one that
    /// made it (10 and 10.00 alike) gets that refund back, every other request with the key (another amount, reason or
    /// transaction) is <c>idempotency_conflict</c>, and the transactions and the refunds account hold exactly the
    /// winning refunds.
    /// </summary>
    [Fact]
    public void One_Refund_Idempotency_Key_Per_Partner_Refunds_At_Most_Once_Meets_Specification()
    {
        var calls = (from partner in Gen.Choose(0, 1) from tx in Gen.Choose(0, 1) from key in Gen.Choose(0, 1) from variant in Gen.Choose(0, 3)
                     select (partner, tx, key, variant)).ListOf();
        Prop.ForAll(Arb.From(calls.Where(c => c.Count > 0)), requests => Task.Run(() => RunIdempotentRefundsAsync(requests)).GetAwaiter().GetResult())
            .Check(Config.QuickThrowOnFailure.WithMaxTest(PropertyIterations).WithStartSize(4).WithEndSize(12));
    }

    /// <summary>Four refund requests; the first two differ only in how the amount is written, so they are one request.</summary>
    private static (int Request, decimal Amount, string Reason) RefundVariant(int variant) => variant switch
    {
        0 => (0, 10m, "r"),
        1 => (0, 10.00m, "r"),
        2 => (2, 12m, "r"),
        _ => (3, 10m, "damaged"),
    };

    private async Task<bool> RunIdempotentRefundsAsync(IReadOnlyList<(int Partner, int Tx, int Key, int Variant)> requests)
    {
        using var h = await HarnessAsync();
        Partner[] partners = [await h.NewPartnerAsync(), await h.NewPartnerAsync()];
        var transactions = new PaymentTransaction[2][];
        for (var p = 0; p < partners.Length; p++)
        {
            transactions[p] = [await h.CompletedAsync(partners[p]), await h.CompletedAsync(partners[p])];
        }

        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        async Task<(Refund? Refund, string? Code)> Refund(int partner, int tx, int key, int variant)
        {
            await gate.Task;
            var (_, amount, reason) = RefundVariant(variant);
            var request = new CreateRefundRequest(amount, reason) { IdempotencyKey = $"refund-{key}" };
            while (true)
            {
                try
                {
                    return (await h.Refunds.RefundAsync(partners[partner].Id, transactions[partner][tx].Id, request, Context), null);
                }
                catch (PaymentsKitException ex) when (ex.IsTransient)
                {
                    // A client retries with the same key; the retry finds the refund the failed call may have made.
                    await Task.Yield();
                }
                catch (PaymentsKitException ex)
                {
                    return (null, ex.Code);
                }
            }
        }

        var running = requests.Select(r => Task.Run(() => Refund(r.Partner, r.Tx, r.Key, r.Variant))).ToArray();
        gate.SetResult();
        var outcomes = await Task.WhenAll(running);

        var made = new HashSet<RefundId>();
        var expectedRefunded = new decimal[2, 2];
        foreach (var group in requests.Zip(outcomes).GroupBy(c => (c.First.Partner, c.First.Key)))
        {
            var winners = group.Where(c => c.Second.Refund is not null).ToList();
            Assert.NotEmpty(winners);
            var (winnerTx, winner) = (winners[0].First.Tx, RefundVariant(winners[0].First.Variant).Request);
            var refund = winners[0].Second.Refund!;
            Assert.True(made.Add(refund.Id), $"{refund.Id} was returned for two partners or keys");
            Assert.Equal(transactions[group.Key.Partner][winnerTx].Id, refund.TransactionId);
            Assert.Equal(RefundVariant(winner).Amount, refund.Amount.Amount);
            expectedRefunded[group.Key.Partner, winnerTx] += refund.Amount.Amount;
            foreach (var (request, (returned, code)) in group)
            {
                if (request.Tx == winnerTx && RefundVariant(request.Variant).Request == winner)
                {
                    Assert.True(returned?.Id == refund.Id, $"partner {request.Partner} tx {request.Tx} refund-{request.Key} variant {request.Variant}: {code ?? returned?.Id.ToString()} instead of {refund.Id}");
                }
                else
                {
                    Assert.True(code == PaymentsKitErrorCodes.IdempotencyConflict,
                        $"partner {request.Partner} tx {request.Tx} refund-{request.Key} variant {request.Variant} after tx {winnerTx} request {winner}: {code ?? "accepted"}");
                }
            }
        }

        for (var p = 0; p < partners.Length; p++)
        {
            var keys = requests.Where(r => r.Partner == p).Select(r => r.Key).Distinct().Count();
            Assert.Equal(keys, (await h.CountAsync(partners[p].Id)).Refunds);
            for (var t = 0; t < 2; t++)
            {
                var tx = await h.Transactions.GetAsync(partners[p].Id, transactions[p][t].Id);
                Assert.Equal(expectedRefunded[p, t], tx.RefundedAmount.Amount);
                Assert.Equal(0m, tx.ReservedRefundAmount.Amount);
            }

            Assert.Equal(expectedRefunded[p, 0] + expectedRefunded[p, 1], await h.BalanceAsync(partners[p].Id, "orch:refunds:USD"));
        }

        return true;
    }

    [Fact]
    public void EveryStatusChange_HasExactlyOneEvent_Meets_Specification()
    {
        Prop.ForAll(LifecycleScenarios.ToArbitrary(), scenario => Task.Run(() => RunLifecycleScenarioAsync(scenario.Setups, scenario.Steps)).GetAwaiter().GetResult())
            .Check(Config.QuickThrowOnFailure.WithMaxTest(PropertyIterations));
    }

    private async Task<bool> RunLifecycleScenarioAsync((int Email, bool Manual, bool Confirm)[] setups, (int Kind, int Target, int Cents)[] steps)
    {
        using var h = await HarnessAsync();
        var partner = await h.NewPartnerAsync();
        var ids = new List<TransactionId>();
        var seen = new Dictionary<TransactionId, List<TransactionStatus>>();
        void Observe(PaymentTransaction tx)
        {
            if (!seen.TryGetValue(tx.Id, out var list))
            {
                seen[tx.Id] = list = [];
            }

            list.Add(tx.Status);
        }

        for (var i = 0; i < setups.Length; i++)
        {
            var (email, manual, confirm) = setups[i];
            var request = OrchestrationHarness.Request($"tx-{i}", email: $"c{EmailKinds[email]}@example.com") with
            {
                CaptureMethod = manual ? CaptureMethod.Manual : CaptureMethod.Automatic,
                Confirm = confirm,
            };
            var tx = await h.Transactions.CreateAsync(partner.Id, request, Context);
            ids.Add(tx.Id);
            Observe(tx);
        }

        foreach (var (kind, target, cents) in steps)
        {
            var id = ids[target % ids.Count];
            try
            {
                switch (kind)
                {
                    case 0:
                        Observe(await h.Transactions.SyncAsync(partner.Id, id, Context));
                        break;
                    case 1:
                        await h.DeliverWebhooksAsync(h.Stripe);
                        break;
                    case 2:
                        Observe(await h.Transactions.CaptureAsync(partner.Id, id, Context));
                        break;
                    case 3:
                        Observe(await h.Transactions.CancelAsync(partner.Id, id, Context));
                        break;
                    case 4:
                        Observe(await h.Transactions.ConfirmAsync(partner.Id, id, Context));
                        break;
                    default:
                        await h.Refunds.RefundAsync(partner.Id, id, new CreateRefundRequest(cents / 100m, "r"), Context);
                        Observe(await h.Transactions.GetAsync(partner.Id, id));
                        break;
                }
            }
            catch (PaymentsKitException ex) when (ex.Code is PaymentsKitErrorCodes.InvalidTransition or PaymentsKitErrorCodes.TransactionInFlight
                or PaymentsKitErrorCodes.NotRefundable or PaymentsKitErrorCodes.RefundExceedsRemaining)
            {
                // Operations the lifecycle refuses are part of the scenario.
            }
        }

        foreach (var id in ids)
        {
            var tx = await h.Transactions.GetAsync(partner.Id, id);
            var history = (await h.Transactions.GetEventsAsync(partner.Id, id)).Reverse().ToList();
            Assert.Equal(tx.EventCount, history.Count);
            Assert.Equal(Enumerable.Range(1, history.Count).Select(i => (long)i), history.Select(e => e.Sequence));
            Assert.Equal((TransactionEventType.Created, null, TransactionStatus.Pending), (history[0].EventType, history[0].FromStatus, history[0].Status));
            for (var i = 1; i < history.Count; i++)
            {
                Assert.Equal(history[i - 1].Status, history[i].FromStatus);
                if (history[i].FromStatus == history[i].Status)
                {
                    // Only a refund's events leave the status as it was (initiated, or a further partial one completed).
                    Assert.Contains(history[i].EventType, new[] { TransactionEventType.RefundInitiated, TransactionEventType.RefundCompleted });
                }
                else
                {
                    Assert.True(TransactionLifecycle.Machine.CanTransition(history[i].FromStatus!.Value, history[i].Status));
                }
            }

            Assert.Equal(tx.Status, history[^1].Status);
            Assert.All(seen[id], status => Assert.Contains(status, history.Select(e => e.Status)));
        }

        return true;
    }

    [Fact]
    public async Task EverySeededCurrency_KeepsItsPrecision_Meets_Specification()
    {
        using var h = await HarnessAsync();
        var partner = await h.NewPartnerAsync();
        var cases =
            from currency in Gen.Elements(Currency.Seeded.ToArray())
            let unit = Money.Of(1m, Asset.Create("X", currency.DecimalPlaces)).Asset.MinorUnit
            let minUnits = (int)Math.Ceiling(0.01m / unit)
            let maxUnits = (long)(100_000m / unit)
            from units in Gen.Choose(minUnits, (int)Math.Min(maxUnits, int.MaxValue))
            from extra in Gen.Choose(1, 9)
            select (currency, exact: units * unit, excess: (units * 10 + extra) * unit / 10);
        var run = 0;
        Prop.ForAll(cases.ToArbitrary(), c => Task.Run(async () =>
        {
            var key = $"precision-{Interlocked.Increment(ref run)}";
            var tx = await h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request(key, c.exact, c.currency.Code, provider: "manual"), Context);
            Assert.Equal(c.exact, tx.Amount.Amount);
            Assert.Equal(c.currency.DecimalPlaces, tx.Amount.Asset.Scale);
            Assert.Equal(c.currency.Code, tx.Amount.Asset.Code);
            var ex = await Assert.ThrowsAsync<PaymentsKitException>(() =>
                h.Transactions.CreateAsync(partner.Id, OrchestrationHarness.Request(key + "-x", c.excess, c.currency.Code, provider: "manual"), Context).AsTask());
            return ex.Code == PaymentsKitErrorCodes.AmountPrecision;
        }).GetAwaiter().GetResult()).Check(Config.QuickThrowOnFailure.WithMaxTest(PropertyIterations * 3 / 2));
    }
}
