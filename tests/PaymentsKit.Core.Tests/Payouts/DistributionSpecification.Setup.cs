using NodaTime;
using PaymentsKit.Ledger;
using PaymentsKit.Payouts;

namespace PaymentsKit.Tests.Payouts;

public abstract partial class DistributionSpecification
{
    [Fact]
    public async Task An_Asset_Is_Imported_Found_By_Token_Synced_And_Hidden_From_Other_Tenants()
    {
        var service = Service();
        var asset = await AssetAsync(service, supply: 5_000, decimals: 4);

        Assert.Equal("ACME", asset.Symbol);
        Assert.Equal(5_000, asset.TotalSupply);
        Assert.Equal(4, asset.Decimals);
        Assert.Equal("USDC", asset.PaymentAsset);
        Assert.Null(asset.SyncStatus);
        Assert.Equal(asset, await service.GetAssetAsync(Tenant, asset.Id));
        Assert.Equal(asset, await service.FindAssetByTokenIdAsync(Tenant, asset.TokenId));
        Assert.Null(await service.FindAssetByTokenIdAsync(OtherTenant, asset.TokenId));
        await FailsAsync(PaymentsKitErrorCodes.NotFound, () => service.GetAssetAsync(OtherTenant, asset.Id).AsTask());

        Clock.Advance(Duration.FromMinutes(5));
        var syncing = await service.RecordAssetSyncAsync(Tenant, asset.Id, TokenSyncStatus.Syncing);
        Assert.Equal(TokenSyncStatus.Syncing, syncing.SyncStatus);
        Assert.Null(syncing.LastSyncedAt);
        var synced = await service.RecordAssetSyncAsync(Tenant, asset.Id, TokenSyncStatus.Synced, totalSupply: 6_000);
        Assert.Equal(Clock.GetCurrentInstant(), synced.LastSyncedAt);
        Assert.Equal(6_000, synced.TotalSupply);
        Assert.Equal(synced, await service.GetAssetAsync(Tenant, asset.Id));
    }

    [Fact]
    public async Task Bad_Assets_Are_Refused_With_Their_Codes()
    {
        var service = Service();
        var good = new CreateTokenAssetRequest("0.0.789012", "Acme", "ACME", 100, 2, Usdc);
        await FailsAsync(PaymentsKitErrorCodes.InvalidArgument, () => service.CreateAssetAsync(Tenant, good with { TokenId = " " }).AsTask());
        await FailsAsync(PaymentsKitErrorCodes.InvalidArgument, () => service.CreateAssetAsync(Tenant, good with { TokenId = "0.0.78 9" }).AsTask());
        await FailsAsync(PaymentsKitErrorCodes.InvalidArgument, () => service.CreateAssetAsync(Tenant, good with { Name = "" }).AsTask());
        await FailsAsync(PaymentsKitErrorCodes.InvalidArgument, () => service.CreateAssetAsync(Tenant, good with { TotalSupply = -1 }).AsTask());
        await FailsAsync(PaymentsKitErrorCodes.InvalidArgument, () => service.CreateAssetAsync(Tenant, good with { Decimals = 19 }).AsTask());
        await FailsAsync(PaymentsKitErrorCodes.InvalidArgument, () => service.CreateAssetAsync(Tenant, good with { LifecycleContractId = "" }).AsTask());
        await FailsAsync(PaymentsKitErrorCodes.UnknownAsset, () => service.CreateAssetAsync(Tenant, good with { PaymentAsset = Asset.Create("DOGE", 8) }).AsTask());
        await FailsAsync(PaymentsKitErrorCodes.AssetConflict, () => service.CreateAssetAsync(Tenant, good with { PaymentAsset = Asset.Create("USDC", 2) }).AsTask());
        await FailsAsync(PaymentsKitErrorCodes.InvalidArgument, () => service.CreateAssetAsync(default, good).AsTask());

        var first = await service.CreateAssetAsync(Tenant, good with { TokenId = "0.0." + Guid.NewGuid().ToString("N")[..12] });
        var ex = await FailsAsync(PaymentsKitErrorCodes.DuplicateKey, () => service.CreateAssetAsync(Tenant, good with { TokenId = first.TokenId }).AsTask());
        Assert.Contains(first.TokenId, ex.Message, StringComparison.Ordinal);

        // Token ids are unique per tenant only.
        Assert.NotEqual(first.Id, (await service.CreateAssetAsync(OtherTenant, good with { TokenId = first.TokenId })).Id);
        await FailsAsync(PaymentsKitErrorCodes.InvalidArgument, () => service.RecordAssetSyncAsync(Tenant, first.Id, TokenSyncStatus.Syncing, totalSupply: 5).AsTask());
        await FailsAsync(PaymentsKitErrorCodes.InvalidArgument, () => service.RecordAssetSyncAsync(Tenant, first.Id, (TokenSyncStatus)9).AsTask());
    }

    [Fact]
    public async Task A_Stored_Distribution_Equals_The_Returned_One()
    {
        var service = Service();
        var asset = await AssetAsync(service);
        var (treasury, payouts) = await LedgerAccountsAsync(0);
        var created = await service.CreateDistributionAsync(Tenant, Fixed(asset, 1_000m) with { FundingAccountId = treasury.Id, PayoutAccountId = payouts.Id });

        var stored = await service.GetDistributionAsync(Tenant, created.Id);
        Assert.Equal(created, stored);
        Assert.Equal(created.GetHashCode(), stored.GetHashCode());
    }

    [Fact]
    public async Task A_Distribution_Is_Created_Pending_With_Its_Terms_And_A_Schedule_In_Its_Time_Zone()
    {
        var service = Service();
        var asset = await AssetAsync(service);
        var (treasury, payouts) = await LedgerAccountsAsync(0);
        var manual = await service.CreateDistributionAsync(Tenant, Fixed(asset, 1_000m) with { FundingAccountId = treasury.Id, PayoutAccountId = payouts.Id });
        Assert.Equal(DistributionStatus.Pending, manual.Status);
        Assert.Equal(Usd6(1_000m), manual.Amount);
        Assert.Null(manual.DueAt);
        Assert.Null(manual.TimeZone);
        Assert.Equal(manual, await service.GetDistributionAsync(Tenant, manual.Id));
        await FailsAsync(PaymentsKitErrorCodes.NotFound, () => service.GetDistributionAsync(OtherTenant, manual.Id).AsTask());

        var scheduled = await service.CreateDistributionAsync(
            Tenant,
            new CreateDistributionRequest(asset.Id, DistributionType.Coupon, DistributionExecution.Scheduled)
            {
                Payout = DistributionPayout.Percentage,
                Amount = Usd6(200m),
                Percentage = 2.5m,
                ScheduledTime = new LocalDateTime(2026, 3, 8, 2, 30),
                TimeZone = "America/New_York",
            });

        // 02:30 does not exist on the spring-forward night: the schedule's rule moves it to 03:30 EDT.
        Assert.Equal(Instant.FromUtc(2026, 3, 8, 7, 30), scheduled.DueAt);
        Assert.Equal("America/New_York", scheduled.TimeZone);

        var recurring = await service.CreateDistributionAsync(
            Tenant,
            new CreateDistributionRequest(asset.Id, DistributionType.Dividend, DistributionExecution.Recurring)
            {
                Payout = DistributionPayout.PerShare,
                AmountPerShare = 0.0125m,
                Frequency = DistributionFrequency.Monthly,
                StartTime = new LocalDateTime(2026, 1, 31, 9, 0),
            });
        Assert.Equal(Instant.FromUtc(2026, 1, 31, 9, 0), recurring.DueAt);
        Assert.Equal("UTC", recurring.TimeZone);
        Assert.Equal(0, recurring.Occurrence);

        var automatic = await service.CreateDistributionAsync(
            Tenant, new CreateDistributionRequest(asset.Id, DistributionType.Snapshot, DistributionExecution.Automatic) { TriggerCondition = "on CouponDue event" });
        Assert.Equal("on CouponDue event", automatic.TriggerCondition);
        Assert.Null(automatic.Payout);

        var page = await service.ListDistributionsAsync(Tenant, null, 10);
        Assert.Equal(4, page.Items.Count);
        Assert.Empty((await service.ListDistributionsAsync(OtherTenant, null, 10)).Items);
    }

    [Fact]
    public async Task Bad_Distributions_Are_Refused_With_Their_Codes()
    {
        var service = Service();
        var asset = await AssetAsync(service);
        var (treasury, payouts) = await LedgerAccountsAsync(0);
        var xlmAccount = await Ledger.CreateAccountAsync(Tenant, new CreateLedgerAccountRequest("xlm", "XLM", AssetRegistry.Xlm, LedgerSide.Debit));
        var fixedTerms = Fixed(asset, 100m);
        var dividend = new CreateDistributionRequest(asset.Id, DistributionType.Dividend, DistributionExecution.Manual);

        async Task Refused(string code, CreateDistributionRequest request) =>
            await FailsAsync(code, () => service.CreateDistributionAsync(Tenant, request).AsTask());

        await Refused(PaymentsKitErrorCodes.InvalidArgument, fixedTerms with { AssetId = default });
        await Refused(PaymentsKitErrorCodes.NotFound, fixedTerms with { AssetId = TokenAssetId.FromGuid(Guid.CreateVersion7()) });
        await Refused(PaymentsKitErrorCodes.InvalidArgument, fixedTerms with { Type = (DistributionType)7 });
        await Refused(PaymentsKitErrorCodes.InvalidArgument, fixedTerms with { Execution = (DistributionExecution)7 });
        await Refused(PaymentsKitErrorCodes.InvalidArgument, dividend);
        await Refused(PaymentsKitErrorCodes.InvalidArgument, fixedTerms with { Amount = null });
        await Refused(PaymentsKitErrorCodes.AmountOutOfRange, fixedTerms with { Amount = Usd6(0m) });
        await Refused(PaymentsKitErrorCodes.AmountOutOfRange, fixedTerms with { Amount = Usd6(-5m) });
        await Refused(PaymentsKitErrorCodes.AssetMismatch, fixedTerms with { Amount = Money.Of(5m, AssetRegistry.Usd) });
        await Refused(PaymentsKitErrorCodes.InvalidArgument, fixedTerms with { Percentage = 5m });
        await Refused(PaymentsKitErrorCodes.InvalidArgument, dividend with { Payout = DistributionPayout.Percentage, Amount = Usd6(10m) });
        await Refused(PaymentsKitErrorCodes.AmountOutOfRange, dividend with { Payout = DistributionPayout.Percentage, Amount = Usd6(10m), Percentage = 0m });
        await Refused(PaymentsKitErrorCodes.AmountOutOfRange, dividend with { Payout = DistributionPayout.Percentage, Amount = Usd6(10m), Percentage = 100.5m });
        await Refused(PaymentsKitErrorCodes.AmountPrecision, dividend with { Payout = DistributionPayout.Percentage, Amount = Usd6(10m), Percentage = 1.0000000000001m });
        await Refused(PaymentsKitErrorCodes.InvalidArgument, dividend with { Payout = DistributionPayout.PerShare });
        await Refused(PaymentsKitErrorCodes.AmountOutOfRange, dividend with { Payout = DistributionPayout.PerShare, AmountPerShare = -1m });
        await Refused(PaymentsKitErrorCodes.AmountPrecision, dividend with { Payout = DistributionPayout.PerShare, AmountPerShare = 0.0000000000000000001m });
        await Refused(PaymentsKitErrorCodes.InvalidArgument, dividend with { Payout = DistributionPayout.PerShare, AmountPerShare = 1m, Amount = Usd6(1m) });
        await Refused(PaymentsKitErrorCodes.InvalidArgument, new CreateDistributionRequest(asset.Id, DistributionType.Snapshot, DistributionExecution.Manual) { Amount = Usd6(1m) });
        await Refused(PaymentsKitErrorCodes.InvalidArgument, fixedTerms with { Concept = new string('x', 201) });

        await Refused(PaymentsKitErrorCodes.InvalidArgument, fixedTerms with { Execution = DistributionExecution.Scheduled });
        await Refused(PaymentsKitErrorCodes.InvalidArgument, fixedTerms with { ScheduledTime = new LocalDateTime(2026, 2, 1, 0, 0) });
        await Refused(PaymentsKitErrorCodes.InvalidArgument, fixedTerms with { Execution = DistributionExecution.Scheduled, ScheduledTime = new LocalDateTime(2026, 2, 1, 0, 0), TimeZone = "Mars/Olympus" });
        await Refused(PaymentsKitErrorCodes.InvalidArgument, fixedTerms with { TimeZone = "UTC" });
        await Refused(PaymentsKitErrorCodes.InvalidArgument, fixedTerms with { Execution = DistributionExecution.Recurring, StartTime = new LocalDateTime(2026, 2, 1, 0, 0) });
        await Refused(PaymentsKitErrorCodes.InvalidArgument, fixedTerms with { Execution = DistributionExecution.Recurring, Frequency = DistributionFrequency.Daily });
        await Refused(
            PaymentsKitErrorCodes.InvalidArgument,
            fixedTerms with { Execution = DistributionExecution.Recurring, Frequency = (DistributionFrequency)9, StartTime = new LocalDateTime(2026, 2, 1, 0, 0) });
        await Refused(PaymentsKitErrorCodes.InvalidArgument, fixedTerms with { Execution = DistributionExecution.Automatic });
        await Refused(PaymentsKitErrorCodes.InvalidArgument, fixedTerms with { TriggerCondition = "when" });

        await Refused(PaymentsKitErrorCodes.InvalidArgument, fixedTerms with { FundingAccountId = treasury.Id });
        await Refused(PaymentsKitErrorCodes.InvalidArgument, fixedTerms with { FundingAccountId = treasury.Id, PayoutAccountId = treasury.Id });
        await Refused(PaymentsKitErrorCodes.NotFound, fixedTerms with { FundingAccountId = treasury.Id, PayoutAccountId = LedgerAccountId.FromGuid(Guid.CreateVersion7()) });
        await Refused(PaymentsKitErrorCodes.AssetMismatch, fixedTerms with { FundingAccountId = treasury.Id, PayoutAccountId = xlmAccount.Id });
        await FailsAsync(PaymentsKitErrorCodes.NotFound, () => service.CreateDistributionAsync(OtherTenant, fixedTerms).AsTask());
        var otherAsset = await AssetAsync(service, tenant: OtherTenant);
        await FailsAsync(
            PaymentsKitErrorCodes.NotFound,
            () => service.CreateDistributionAsync(OtherTenant, Fixed(otherAsset, 100m) with { FundingAccountId = treasury.Id, PayoutAccountId = payouts.Id }).AsTask());

        Assert.Empty((await service.ListDistributionsAsync(Tenant, null, 100)).Items);
    }

    [Fact]
    public void Bad_Options_Are_Refused()
    {
        Assert.Equal(PaymentsKitErrorCodes.InvalidArgument, Assert.Throws<PaymentsKitException>(() => Service(options: new PayoutOptions { MaxHoldersPerBatch = 0 })).Code);
        Assert.Equal(PaymentsKitErrorCodes.InvalidArgument, Assert.Throws<PaymentsKitException>(() => Service(options: new PayoutOptions { MaxAttemptsPerHolder = 0 })).Code);
        Assert.Equal(PaymentsKitErrorCodes.InvalidArgument, Assert.Throws<PaymentsKitException>(() => Service(options: new PayoutOptions { DefaultTimeZone = "Nowhere/Else" })).Code);
        Assert.Contains("RunLease must be between 1 second and 1 day", Assert.Throws<PaymentsKitException>(() => Service(options: new PayoutOptions { RunLease = TimeSpan.FromMilliseconds(999) })).Message, StringComparison.Ordinal);
        Assert.Equal(PaymentsKitErrorCodes.InvalidArgument, Assert.Throws<PaymentsKitException>(() => Service(options: new PayoutOptions { RunLease = TimeSpan.FromDays(1) + TimeSpan.FromTicks(1) })).Code);
        Assert.Empty(new PayoutOptions { RunLease = TimeSpan.FromSeconds(1) }.Problems());
        Assert.Empty(new PayoutOptions { RunLease = TimeSpan.FromDays(1) }.Problems());
        Assert.Equal(
            PaymentsKitErrorCodes.InvalidArgument,
            Assert.Throws<PaymentsKitException>(() => new SimulatedPayoutExecutor(Clock, new SimulatedPayoutExecutorOptions { TransientFailurePercent = 101 })).Code);
        Assert.Equal(9, Service().MaxHoldersPerBatch);
        Assert.Equal(4, Service(options: new PayoutOptions { MaxHoldersPerBatch = 4 }).MaxHoldersPerBatch);
        Assert.Equal(100, Service(new SimulatedPayoutExecutor(Clock, new SimulatedPayoutExecutorOptions { Chain = ChainId.Ethereum })).MaxHoldersPerBatch);
    }
}
