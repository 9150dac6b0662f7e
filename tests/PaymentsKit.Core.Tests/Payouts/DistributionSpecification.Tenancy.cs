using System.Globalization;
using PaymentsKit.Ledger;
using PaymentsKit.Payouts;
using PaymentsKit.Testing;

namespace PaymentsKit.Tests.Payouts;

public abstract partial class DistributionSpecification
{
    /// <summary>How many random histories the tenancy property runs; every case opens three issuers' books.</summary>
    protected virtual int TenancyPropertyIterations => 30;

    /// <summary>A step of the tenancy property: an issuer's own work, or an attempt on another issuer's records.</summary>
    public enum PayoutTenancyStep
    {
        CreateAsset,
        CreateDistribution,
        Import,
        Execute,
        TouchForeignAsset,
        TouchForeignDistribution,
        PayFromForeignAccount,
    }

    /// <summary>
    /// Three issuers register assets (with the same token ids, which are per tenant), create, snapshot and run
    /// distributions paid from their own books, while each keeps trying another issuer's: every such call — get or sync
    /// an asset, distribute on it, get a distribution, its holders, totals, plan or batches, import into it, run it, pay
    /// from or to another issuer's ledger account — answers exactly as for a record that does not exist (<c>not_found</c>,
    /// same message and context) and changes nothing; a token id finds only the issuer's own asset; each issuer's
    /// distributions list and ledger balances hold exactly its own.
    /// </summary>
    [Fact]
    public void Issuers_See_And_Change_Only_Their_Own_Assets_And_Distributions_Meets_Specification()
    {
        TenancyProperty.Check(
            TenancyPropertyIterations,
            RunPayoutTenancyAsync,
            (2, PayoutTenancyStep.CreateAsset),
            (3, PayoutTenancyStep.CreateDistribution),
            (2, PayoutTenancyStep.Import),
            (2, PayoutTenancyStep.Execute),
            (2, PayoutTenancyStep.TouchForeignAsset),
            (4, PayoutTenancyStep.TouchForeignDistribution),
            (1, PayoutTenancyStep.PayFromForeignAccount));
    }

    private const decimal IssuerFunds = 1000m;

    /// <summary>What one issuer made.</summary>
    private sealed record Issuer(MerchantId Id, LedgerAccount Treasury, LedgerAccount Payouts, List<TokenAsset> Assets, List<Distribution> Distributions);

    private async Task RunPayoutTenancyAsync(List<(int Actor, PayoutTenancyStep Step, int Pick)> steps)
    {
        var service = Service();
        var issuers = new List<Issuer>();
        for (var i = 0; i < 3; i++)
        {
            var id = MerchantId.FromGuid(Guid.CreateVersion7());
            var (treasury, payouts) = await LedgerAccountsAsync(IssuerFunds, id);
            issuers.Add(new Issuer(id, treasury, payouts, [], []));
        }

        // Token ids unique to this case but shared by its issuers: they are unique per tenant only.
        var tokenBase = Random.Shared.Next(1, 1_000_000) * 10;

        // Each starts with an asset and a distribution on it, so the others have something to try from the first step.
        foreach (var issuer in issuers)
        {
            var asset = await service.CreateAssetAsync(issuer.Id, new CreateTokenAssetRequest("0.0." + tokenBase.ToString(CultureInfo.InvariantCulture), "Acme Equity", "ACME", 1_000_000, 2, Usdc));
            issuer.Assets.Add(asset);
            issuer.Distributions.Add(await service.CreateDistributionAsync(issuer.Id, Paid(issuer, asset, 5)));
        }
        foreach (var (actor, step, pick) in steps)
        {
            var me = issuers[actor];
            var other = issuers[(actor + 1 + (pick % 2)) % 3];
            switch (step)
            {
                case PayoutTenancyStep.CreateAsset:
                {
                    var tokenId = "0.0." + (tokenBase + me.Assets.Count).ToString(CultureInfo.InvariantCulture);
                    var asset = await service.CreateAssetAsync(me.Id, new CreateTokenAssetRequest(tokenId, "Acme Equity", "ACME", 1_000_000, 2, Usdc));
                    Assert.Equal(me.Id, asset.TenantId);
                    me.Assets.Add(asset);
                    break;
                }

                case PayoutTenancyStep.CreateDistribution when me.Assets.Count > 0:
                    me.Distributions.Add(await service.CreateDistributionAsync(me.Id, Paid(me, me.Assets[pick % me.Assets.Count], 1 + (pick % 10))));
                    break;
                case PayoutTenancyStep.Import when me.Distributions.Count > 0:
                {
                    var at = pick % me.Distributions.Count;
                    if (me.Distributions[at].Snapshot is null)
                    {
                        await service.ImportHolderSnapshotAsync(me.Id, me.Distributions[at].Id, Holders([.. Enumerable.Range(1, 1 + (pick % 4)).Select(b => (long)b)]));
                        me.Distributions[at] = await service.GetDistributionAsync(me.Id, me.Distributions[at].Id);
                    }

                    break;
                }

                case PayoutTenancyStep.Execute when me.Distributions.Count > 0:
                {
                    var at = pick % me.Distributions.Count;
                    try
                    {
                        me.Distributions[at] = await service.ExecuteAsync(me.Id, me.Distributions[at].Id);
                    }
                    catch (PaymentsKitException ex) when (ex.Code is PaymentsKitErrorCodes.SnapshotRequired or PaymentsKitErrorCodes.InvalidTransition)
                    {
                        // Running before the snapshot is the issuer's own mistake; not what this property checks.
                    }

                    me.Distributions[at] = await service.GetDistributionAsync(me.Id, me.Distributions[at].Id);
                    break;
                }

                case PayoutTenancyStep.TouchForeignAsset when other.Assets.Count > 0:
                {
                    var asset = other.Assets[pick % other.Assets.Count];
                    var absent = TokenAssetId.FromGuid(Guid.CreateVersion7());
                    Func<TokenAssetId, Task> touch = (pick / 3 % 3) switch
                    {
                        0 => a => service.GetAssetAsync(me.Id, a).AsTask(),
                        1 => a => service.RecordAssetSyncAsync(me.Id, a, TokenSyncStatus.Synced, 5).AsTask(),
                        _ => a => service.CreateDistributionAsync(me.Id, Paid(me, asset with { Id = a }, 1)).AsTask(),
                    };
                    await TenancyAssert.HiddenAsync(() => touch(asset.Id), asset.Id.ToString(), () => touch(absent), absent.ToString());
                    Assert.Equal(asset, await service.GetAssetAsync(other.Id, asset.Id));

                    // The token id names the issuer's own asset of that id, if it has one, never the other's.
                    Assert.Equal(me.Assets.SingleOrDefault(a => a.TokenId == asset.TokenId), await service.FindAssetByTokenIdAsync(me.Id, asset.TokenId));
                    break;
                }

                case PayoutTenancyStep.TouchForeignDistribution when other.Distributions.Count > 0:
                {
                    var target = other.Distributions[pick % other.Distributions.Count];
                    var absent = DistributionId.FromGuid(Guid.CreateVersion7());
                    var before = await ViewAsync(service, other.Id, target.Id);
                    if (pick / 3 % 8 < 7)
                    {
                        await TenancyAssert.HiddenAsync(
                            () => TouchDistributionAsync(service, me.Id, target.Id, pick / 3), target.Id.ToString(),
                            () => TouchDistributionAsync(service, me.Id, absent, pick / 3), absent.ToString());
                    }
                    else
                    {
                        // A snapshot only the distribution's asset could refuse (more than its supply): it must not look at another issuer's.
                        await TenancyAssert.SameAsAbsentAsync(
                            () => service.ImportHolderSnapshotAsync(me.Id, target.Id, Holders(2_000_000)).AsTask(), target.Id.ToString(),
                            () => service.ImportHolderSnapshotAsync(me.Id, absent, Holders(2_000_000)).AsTask(), absent.ToString());
                    }

                    Assert.Equal(before, await ViewAsync(service, other.Id, target.Id));
                    break;
                }

                case PayoutTenancyStep.PayFromForeignAccount when me.Assets.Count > 0:
                {
                    var asset = me.Assets[pick % me.Assets.Count];
                    var absent = LedgerAccountId.FromGuid(Guid.CreateVersion7());
                    var fromTheirs = pick % 2 == 0;
                    var foreign = fromTheirs ? other.Treasury.Id : other.Payouts.Id;
                    CreateDistributionRequest Naming(LedgerAccountId account) =>
                        fromTheirs ? Paid(me, asset, 1) with { FundingAccountId = account } : Paid(me, asset, 1) with { PayoutAccountId = account };
                    await TenancyAssert.HiddenAsync(
                        () => service.CreateDistributionAsync(me.Id, Naming(foreign)).AsTask(), foreign.ToString(),
                        () => service.CreateDistributionAsync(me.Id, Naming(absent)).AsTask(), absent.ToString());
                    break;
                }
            }
        }

        foreach (var issuer in issuers)
        {
            await AssertOnlyOwnAsync(service, issuer);
        }
    }

    /// <summary>A manual fixed distribution of <paramref name="total"/> USDC paid from the issuer's own treasury to its payouts account.</summary>
    private static CreateDistributionRequest Paid(Issuer issuer, TokenAsset asset, decimal total) =>
        Fixed(asset, total) with { FundingAccountId = issuer.Treasury.Id, PayoutAccountId = issuer.Payouts.Id };

    private static Task TouchDistributionAsync(DistributionService service, MerchantId tenant, DistributionId distribution, int pick) => (pick % 7) switch
    {
        0 => service.GetDistributionAsync(tenant, distribution).AsTask(),
        1 => service.ListHoldersAsync(tenant, distribution, null, 100).AsTask(),
        2 => service.GetHolderTotalsAsync(tenant, distribution).AsTask(),
        3 => service.PlanBatchesAsync(tenant, distribution).AsTask(),
        4 => service.ListBatchesAsync(tenant, distribution).AsTask(),
        5 => service.ImportHolderSnapshotAsync(tenant, distribution, Holders(1, 2)).AsTask(),
        _ => service.ExecuteAsync(tenant, distribution).AsTask(),
    };

    /// <summary>Everything the owner can see of a distribution.</summary>
    private static async Task<(Distribution Distribution, string Holders, HolderSnapshotTotals Totals, string Batches)> ViewAsync(
        DistributionService service, MerchantId owner, DistributionId id) =>
        (await service.GetDistributionAsync(owner, id),
            string.Join(";", await service.ListHoldersAsync(owner, id, null, 1000)),
            await service.GetHolderTotalsAsync(owner, id),
            string.Join(";", await service.ListBatchesAsync(owner, id)));

    private async Task AssertOnlyOwnAsync(DistributionService service, Issuer issuer)
    {
        var listed = new List<Distribution>();
        string? cursor = null;
        do
        {
            var page = await service.ListDistributionsAsync(issuer.Id, cursor, 4);
            listed.AddRange(page.Items);
            cursor = page.NextCursor;
        }
        while (cursor is not null);
        Assert.Equal(issuer.Distributions.Select(d => d.Id.Value).Order(), listed.Select(d => d.Id.Value).Order());

        var paid = 0L;
        foreach (var distribution in issuer.Distributions)
        {
            Assert.Equal(distribution, await service.GetDistributionAsync(issuer.Id, distribution.Id));
            paid += (await service.GetHolderTotalsAsync(issuer.Id, distribution.Id)).PaidUnits;
        }

        foreach (var asset in issuer.Assets)
        {
            Assert.Equal(asset, await service.GetAssetAsync(issuer.Id, asset.Id));
            Assert.Equal(asset, await service.FindAssetByTokenIdAsync(issuer.Id, asset.TokenId));
        }

        // The issuer's books paid out exactly what its own holders were paid.
        var paidOut = Money.FromMinorUnits(paid, Usdc);
        Assert.Equal(paidOut, (await Ledger.GetAccountAsync(issuer.Id, issuer.Payouts.Id)).Balance.Posted);
        Assert.Equal(Usd6(IssuerFunds) - paidOut, (await Ledger.GetAccountAsync(issuer.Id, issuer.Treasury.Id)).Balance.Posted);
        Assert.True((await Ledger.ReconcileAsync(issuer.Id)).IsClean);
    }
}
