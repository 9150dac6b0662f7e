using FsCheck;
using FsCheck.Fluent;
using PaymentsKit.Payouts;

namespace PaymentsKit.Tests.Payouts;

public abstract partial class DistributionSpecification
{
    /// <summary>One random payout run: the snapshot, the chain's behaviour and where the process dies.</summary>
    public sealed record RunCase(
        long[] Balances,
        int TotalUnits,
        int BatchLimit,
        int MaxAttempts,
        int[] AlwaysFailing,
        int TransientPercent,
        bool Atomic,
        int[] CrashBeforeExecute,
        int[] CrashAfterExecute,
        int[] CrashAfterClaim,
        int[] CrashBeforeRecord,
        int[] CrashAfterRecord)
    {
        public override string ToString() =>
            $"balances=[{string.Join(",", Balances)}] total={TotalUnits} limit={BatchLimit} attempts={MaxAttempts} failing=[{string.Join(",", AlwaysFailing)}] "
            + $"transient={TransientPercent}% atomic={Atomic} crash: exec<[{string.Join(",", CrashBeforeExecute)}] exec>[{string.Join(",", CrashAfterExecute)}] "
            + $"claim>[{string.Join(",", CrashAfterClaim)}] record<[{string.Join(",", CrashBeforeRecord)}] record>[{string.Join(",", CrashAfterRecord)}]";
    }

    private static Gen<int[]> CrashPoints =>
        from count in Gen.Frequency((2, Gen.Constant(0)), (3, Gen.Choose(1, 4)))
        from points in Gen.ArrayOf(Gen.Choose(1, 12), count)
        select points;

    private static Gen<RunCase> RunCases =>
        from count in Gen.Choose(1, 30)
        from balances in Gen.ArrayOf(Gen.Frequency((1, Gen.Constant(0L)), (6, Gen.Choose(1, 1_000).Select(b => (long)b))), count)
        from total in Gen.Choose(1, 100_000)
        from limit in Gen.Choose(1, 7)
        from attempts in Gen.Choose(1, 3)
        from failingCount in Gen.Frequency((3, Gen.Constant(0)), (1, Gen.Choose(1, 3)))
        from failing in Gen.ArrayOf(Gen.Choose(0, count - 1), failingCount)
        from transient in Gen.Elements(0, 0, 25, 60)
        from atomic in Gen.Elements(false, true)
        from execBefore in CrashPoints
        from execAfter in CrashPoints
        from claimAfter in CrashPoints
        from recordBefore in CrashPoints
        from recordAfter in CrashPoints
        where balances.Any(b => b > 0)
        select new RunCase(balances, total, limit, attempts, failing, transient, atomic, execBefore, execAfter, claimAfter, recordBefore, recordAfter);

    [Fact]
    public void A_Run_Killed_And_Resumed_At_Any_Point_Pays_Each_Holder_Exactly_Once_Meets_Specification() =>
        Prop.ForAll(Arb.From(RunCases), c => Blocking(() => KilledAndResumedAsync(c)))
            .Check(Config.QuickThrowOnFailure.WithMaxTest(PropertyIterations));

    [Fact]
    public void Batches_Cover_Every_Holder_Exactly_Once_Within_The_Limit_As_Planned_Meets_Specification()
    {
        var gen =
            from count in Gen.Choose(0, 60)
            from balances in Gen.ArrayOf(Gen.Choose(0, 50).Select(b => (long)b), count)
            from limit in Gen.Choose(1, 12)
            where balances.Any(b => b > 0)
            select (Balances: balances, Limit: limit);
        Prop.ForAll(Arb.From(gen), c => Blocking(async () =>
        {
            var executor = new SimulatedPayoutExecutor(Clock, new SimulatedPayoutExecutorOptions { MaxTransfersPerBatch = c.Limit });
            var service = Service(executor);
            var asset = await AssetAsync(service);
            var distribution = await service.CreateDistributionAsync(Tenant, Fixed(asset, 1m));
            await service.ImportHolderSnapshotAsync(Tenant, distribution.Id, Holders(c.Balances));
            var allocated = (await AllHoldersAsync(service, Tenant, distribution.Id)).Where(h => h.Amount > 0).ToList();
            var plan = await service.PlanBatchesAsync(Tenant, distribution.Id);

            await service.ExecuteAsync(Tenant, distribution.Id);

            var batches = executor.Payments.GroupBy(p => p.IdempotencyKey).Select(g => g.ToList()).ToList();
            Assert.All(batches, b => Assert.InRange(b.Count, 1, c.Limit));
            Assert.Equal(plan.Select(b => b.Count), batches.Select(b => b.Count));
            Assert.Equal(allocated.Select(h => (h.AccountId, h.Amount)), executor.Payments.Select(p => (p.AccountId, p.Amount)));
            Assert.Equal(1_000_000L, executor.Payments.Sum(p => p.Amount));
        })).Check(Config.QuickThrowOnFailure.WithMaxTest(PropertyIterations));
    }

    private async Task KilledAndResumedAsync(RunCase c)
    {
        var chainOptions = new SimulatedPayoutExecutorOptions { MaxTransfersPerBatch = c.BatchLimit, TransientFailurePercent = c.TransientPercent, AtomicBatches = c.Atomic };
        foreach (var index in c.AlwaysFailing)
        {
            chainOptions.FailingAccounts.Add(Account(index));
        }

        var chain = new SimulatedPayoutExecutor(Clock, chainOptions);
        var executor = new CrashingExecutor(chain, c.CrashBeforeExecute.ToHashSet(), c.CrashAfterExecute.ToHashSet());
        var holders = new CrashingHolderStore(HolderStore, c.CrashAfterClaim.ToHashSet(), c.CrashBeforeRecord.ToHashSet(), c.CrashAfterRecord.ToHashSet());
        var service = Service(executor, new PayoutOptions { MaxAttemptsPerHolder = c.MaxAttempts }, holders: holders);

        // A tenant per run: the ledger's account codes are unique per tenant.
        var tenant = MerchantId.FromGuid(Guid.CreateVersion7());
        var asset = await AssetAsync(service, tenant: tenant);
        var total = c.TotalUnits / 1_000_000m;
        var (treasury, payouts) = await LedgerAccountsAsync(1m, tenant);
        var distribution = await service.CreateDistributionAsync(tenant, Fixed(asset, total) with { FundingAccountId = treasury.Id, PayoutAccountId = payouts.Id });
        await service.ImportHolderSnapshotAsync(tenant, distribution.Id, Holders(c.Balances));
        var allocated = (await AllHoldersAsync(service, tenant, distribution.Id)).ToDictionary(h => h.AccountId, h => h.Amount);

        Distribution? finished = null;
        for (var run = 0; finished is null; run++)
        {
            Assert.True(run < 80, "the distribution never finished");
            try
            {
                var result = await service.ExecuteAsync(tenant, distribution.Id);
                finished = DistributionLifecycle.Machine.IsTerminal(result.Status) ? result : null;
            }
            catch (SimulatedCrashException)
            {
                // The process died; the next run resumes.
            }
        }

        // On the chain: each holder paid at most once, and exactly its allocation.
        var paid = chain.Payments.GroupBy(p => p.AccountId).ToDictionary(g => g.Key, g => g.ToList());
        Assert.All(paid, p => Assert.Single(p.Value));
        Assert.All(paid, p => Assert.Equal(allocated[p.Key], p.Value[0].Amount));

        // In the store: paid exactly when paid on the chain; unpaid ones failed their last attempt.
        var rows = await AllHoldersAsync(service, tenant, distribution.Id);
        foreach (var row in rows)
        {
            if (row.Amount == 0)
            {
                Assert.Equal(HolderPaymentState.Pending, row.State);
                Assert.False(paid.ContainsKey(row.AccountId));
                continue;
            }

            Assert.Equal(paid.ContainsKey(row.AccountId) ? HolderPaymentState.Paid : HolderPaymentState.Failed, row.State);
            Assert.InRange(row.Attempts, 1, c.MaxAttempts);
            if (c.AlwaysFailing.Select(Account).Contains(row.AccountId))
            {
                Assert.Equal(HolderPaymentState.Failed, row.State);
            }
        }

        var paidUnits = chain.Payments.Sum(p => p.Amount);
        Assert.Equal(rows.Any(r => r.State == HolderPaymentState.Failed) ? DistributionStatus.Failed : DistributionStatus.Completed, finished.Status);
        Assert.Equal(Money.FromMinorUnits(paidUnits, Usdc), finished.Result!.Paid);
        Assert.Equal(Money.FromMinorUnits(paidUnits, Usdc), (await Ledger.GetAccountAsync(tenant, payouts.Id)).Balance.Posted);
        Assert.True((await Ledger.ReconcileAsync(tenant)).IsClean);

        // However often it was killed, only the table's moves were recorded, each from the state the one before it left.
        var status = DistributionStatus.Pending;
        foreach (var transition in finished.Transitions)
        {
            Assert.Equal(status, transition.From);
            Assert.True(DistributionLifecycle.Machine.CanTransition(transition.From, transition.To), $"{transition.From} -> {transition.To}");
            status = transition.To;
        }

        Assert.Equal(finished.Status, status);

        // Every batch record is closed, within the limit, and agrees with the chain.
        var records = await service.ListBatchesAsync(tenant, distribution.Id);
        Assert.All(records, r => Assert.NotEqual(DistributionStatus.Processing, r.Status));
        Assert.All(records, r => Assert.InRange(r.TotalHolders, 1, c.BatchLimit));
        Assert.Equal(paid.Count, records.Sum(r => r.SuccessfulPayments));
        Assert.Equal(paidUnits, records.Sum(r => (long)r.Paid.MinorUnits));
        Assert.Equal(records.Count, finished.Result.Batches);
    }
}
