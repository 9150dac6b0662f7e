using PaymentsKit.Payouts;
using PaymentsKit.Testing;

namespace PaymentsKit.Tests.Payouts;

/// <summary>Many callers importing and running one distribution at once: one snapshot, each holder paid once, books balanced.</summary>
public abstract partial class DistributionSpecification
{
    [Fact]
    public async Task Racing_Imports_Then_Racing_Runs_Of_One_Distribution_Take_One_Snapshot_And_Pay_Each_Holder_Once()
    {
        var executor = new SimulatedPayoutExecutor(Clock, new SimulatedPayoutExecutorOptions { MaxTransfersPerBatch = 4 });
        var service = Service(executor);
        var asset = await AssetAsync(service);
        var (treasury, payouts) = await LedgerAccountsAsync(100m);
        var distribution = await service.CreateDistributionAsync(Tenant, Fixed(asset, 60m) with { FundingAccountId = treasury.Id, PayoutAccountId = payouts.Id });
        var holders = Holders([.. Enumerable.Range(1, 24).Select(i => (long)i)]);

        var imports = await Race.RunAsync(Race.Times(8, "import", async () => (await Service(executor).ImportHolderSnapshotAsync(Tenant, distribution.Id, holders)).Holders));

        Assert.Single(imports, o => o.Won);
        Assert.All(imports.Where(o => !o.Won), o => Assert.Equal(PaymentsKitErrorCodes.DuplicateKey, o.Code));
        Assert.Equal(24, (await AllHoldersAsync(service, Tenant, distribution.Id)).Count);

        var runs = await Race.RunAsync(Race.Times(8, "run", async () => (await Service(executor).ExecuteAsync(Tenant, distribution.Id)).Status));

        Assert.All(runs, o => Assert.True(o.Won || o.Code == PaymentsKitErrorCodes.InvalidTransition, o.ToString()));
        var done = await service.GetDistributionAsync(Tenant, distribution.Id);
        Assert.Equal(DistributionStatus.Completed, done.Status);
        Assert.Equal(24, executor.Payments.Count);
        Assert.Equal(24, executor.Payments.Select(p => p.AccountId).Distinct().Count());
        Assert.All(await AllHoldersAsync(service, Tenant, distribution.Id), h => Assert.True(h.Paid));
        Assert.Equal(Usd6(60m), done.Result!.Paid);
        Assert.Equal(Usd6(60m), (await Ledger.GetAccountAsync(Tenant, payouts.Id)).Balance.Posted);
        Assert.Equal(Usd6(40m), (await Ledger.GetAccountAsync(Tenant, treasury.Id)).Balance.Posted);
        Assert.True((await Ledger.ReconcileAsync(Tenant)).IsClean);
    }

    [Fact]
    public async Task Runs_Racing_The_Snapshot_Import_Pay_Nothing_Before_It_And_Each_Holder_Once_After_It()
    {
        var executor = new SimulatedPayoutExecutor(Clock, new SimulatedPayoutExecutorOptions { MaxTransfersPerBatch = 4 });
        var asset = await AssetAsync(Service(executor));
        var (treasury, payouts) = await LedgerAccountsAsync(100m);
        var distribution = await Service(executor).CreateDistributionAsync(Tenant, Fixed(asset, 30m) with { FundingAccountId = treasury.Id, PayoutAccountId = payouts.Id });
        var holders = Holders([.. Enumerable.Range(1, 12).Select(i => (long)i)]);

        var outcomes = await Race.RunAsync(
            Race.Times(2, "import", async () => (object)(await Service(executor).ImportHolderSnapshotAsync(Tenant, distribution.Id, holders)).Holders)
                .Concat(Race.Times(8, "run", async () => (object)(await Service(executor).ExecuteAsync(Tenant, distribution.Id)).Status)));

        Assert.Single(outcomes, o => o.Caller == "import" && o.Won);
        // The losing import finds the snapshot there (duplicate_key) or, when a run already started on it, the distribution
        // past taking one (invalid_transition).
        Assert.All(outcomes.Where(o => o.Caller == "import" && !o.Won), o => Assert.Contains(o.Code, new[] { PaymentsKitErrorCodes.DuplicateKey, PaymentsKitErrorCodes.InvalidTransition }));
        Assert.All(outcomes.Where(o => o.Caller == "run" && !o.Won), o => Assert.Contains(o.Code, new[] { PaymentsKitErrorCodes.SnapshotRequired, PaymentsKitErrorCodes.InvalidTransition }));
        var done = await Service(executor).ExecuteAsync(Tenant, distribution.Id);
        Assert.Equal(DistributionStatus.Completed, done.Status);
        Assert.Equal(12, executor.Payments.Count);
        Assert.Equal(12, executor.Payments.Select(p => p.AccountId).Distinct().Count());
        Assert.Equal(Usd6(30m), (await Ledger.GetAccountAsync(Tenant, payouts.Id)).Balance.Posted);
        Assert.True((await Ledger.ReconcileAsync(Tenant)).IsClean);
    }

    [Fact]
    public async Task Runs_Of_One_Distribution_From_Two_Hosts_Pay_Each_Holder_Once_And_Book_Exactly_What_Was_Paid()
    {
        var executor = new SimulatedPayoutExecutor(Clock, new SimulatedPayoutExecutorOptions { MaxTransfersPerBatch = 3, TransientFailurePercent = 20 });
        var here = Service(executor);
        var there = ServiceOn(await CreateOtherHostStoresAsync(), executor);
        var asset = await AssetAsync(here);
        var (treasury, payouts) = await LedgerAccountsAsync(100m);
        var distribution = await here.CreateDistributionAsync(Tenant, Fixed(asset, 50m) with { FundingAccountId = treasury.Id, PayoutAccountId = payouts.Id });
        await here.ImportHolderSnapshotAsync(Tenant, distribution.Id, Holders([.. Enumerable.Range(1, 30).Select(i => (long)i)]));

        var runs = await Race.RunAsync(
            Race.Times(4, "here", async () => (await here.ExecuteAsync(Tenant, distribution.Id)).Status)
                .Concat(Race.Times(4, "there", async () => (await there.ExecuteAsync(Tenant, distribution.Id)).Status)));

        Assert.All(runs, o => Assert.True(o.Won || o.Code == PaymentsKitErrorCodes.InvalidTransition, o.ToString()));
        var done = await there.GetDistributionAsync(Tenant, distribution.Id);
        for (var run = 0; run < 10 && !DistributionLifecycle.Machine.IsTerminal(done.Status); run++)
        {
            done = await here.ExecuteAsync(Tenant, distribution.Id);
        }

        Assert.True(DistributionLifecycle.Machine.IsTerminal(done.Status), done.Status.ToString());

        // Transient failures may leave holders unpaid (Failed), never paid twice, and the books hold exactly what was paid.
        Assert.Equal(executor.Payments.Count, executor.Payments.Select(p => p.AccountId).Distinct().Count());
        var rows = await AllHoldersAsync(there, Tenant, distribution.Id);
        Assert.Equal(rows.Where(r => r.Paid).Select(r => r.AccountId).Order(StringComparer.Ordinal), executor.Payments.Select(p => p.AccountId).Order(StringComparer.Ordinal));
        var paid = Money.FromMinorUnits(executor.Payments.Sum(p => p.Amount), Usdc);
        Assert.Equal(paid, done.Result!.Paid);
        Assert.Equal(paid, (await Ledger.GetAccountAsync(Tenant, payouts.Id)).Balance.Posted);
        Assert.Equal(Usd6(100m) - paid, (await Ledger.GetAccountAsync(Tenant, treasury.Id)).Balance.Posted);
        Assert.True((await Ledger.ReconcileAsync(Tenant)).IsClean);
    }
}
