using Microsoft.Extensions.DependencyInjection;
using NodaTime;
using PaymentsKit.Ledger;
using PaymentsKit.Payouts;

namespace PaymentsKit.Sample;

internal sealed partial class Demo
{
    private const int HolderCount = 10_000;

    private async Task PayADividendAsync(CancellationToken cancellationToken)
    {
        Section($"Dividend to {HolderCount:N0} holders in batches (simulated Hedera, one holder not associated with USDC)");
        var payouts = services.GetRequiredService<IDistributionService>();
        var ledger = services.GetRequiredService<ILedger>();
        var issuer = MerchantId.New(clock);
        _tenants.Add(("dividend issuer", issuer));

        var equity = await ledger.CreateAccountAsync(issuer, new CreateLedgerAccountRequest("equity", "Equity", AssetRegistry.Usdc, LedgerSide.Credit), cancellationToken).ConfigureAwait(false);
        var treasury = await ledger.CreateAccountAsync(
            issuer,
            new CreateLedgerAccountRequest("treasury", "USDC treasury", AssetRegistry.Usdc, LedgerSide.Debit) { Flags = LedgerAccountFlags.CreditsMustNotExceedDebits },
            cancellationToken).ConfigureAwait(false);
        var dividends = await ledger.CreateAccountAsync(issuer, new CreateLedgerAccountRequest("dividends", "Dividends paid", AssetRegistry.Usdc, LedgerSide.Debit), cancellationToken)
            .ConfigureAwait(false);
        var funding = Money.Of(50_000m, AssetRegistry.Usdc);
        await ledger.PostTransactionAsync(issuer, new PostLedgerTransactionRequest([LedgerPosting.Debit(treasury.Id, funding), LedgerPosting.Credit(equity.Id, funding)]), cancellationToken)
            .ConfigureAwait(false);

        var asset = await payouts.CreateAssetAsync(
            issuer, new CreateTokenAssetRequest("0.0.789012", "Acme Equity", "ACME", 100_000_000, 2, AssetRegistry.Usdc) { PaymentTokenId = "0.0.429274" }, cancellationToken)
            .ConfigureAwait(false);
        var dividend = await payouts.CreateDistributionAsync(
            issuer,
            new CreateDistributionRequest(asset.Id, DistributionType.Dividend, DistributionExecution.Manual)
            {
                Payout = DistributionPayout.Fixed,
                Amount = Money.Of(25_000m, AssetRegistry.Usdc),
                Concept = "Q1 dividend",
                FundingAccountId = treasury.Id,
                PayoutAccountId = dividends.Id,
            },
            cancellationToken).ConfigureAwait(false);

        var holders = Enumerable.Range(1, HolderCount).Select(i => new HolderBalance($"0.0.{700_000 + i}", 1_000 + (i * 37 % 11 * 250))).ToArray();
        var snapshot = await payouts.ImportHolderSnapshotAsync(issuer, dividend.Id, holders, cancellationToken: cancellationToken).ConfigureAwait(false);
        var plan = await payouts.PlanBatchesAsync(issuer, dividend.Id, cancellationToken).ConfigureAwait(false);
        output.WriteLine($"snapshot of {snapshot.Holders} holders fixes an allocation of exactly {snapshot.Allocated}; {plan.Count} batches of at most {payouts.MaxHoldersPerBatch}");

        clock.Advance(Duration.FromMinutes(1));
        var done = await payouts.ExecuteAsync(issuer, dividend.Id, cancellationToken: cancellationToken).ConfigureAwait(false);
        var batches = await payouts.ListBatchesAsync(issuer, dividend.Id, cancellationToken).ConfigureAwait(false);
        output.WriteLine(
            $"{batches.Count} batches ran ({plan.Count} planned, {batches.Count - plan.Count} retrying unpaid holders): "
            + $"{batches.Sum(b => b.SuccessfulPayments):N0} payments made, {batches.Sum(b => b.FailedPayments)} payment attempts failed");
        foreach (var batch in batches.Where(b => b.BatchNumber <= 2 || b.FailedPayments > 0 || b.BatchNumber == batches.Count))
        {
            output.WriteLine($"  batch {batch.BatchNumber}: {batch.SuccessfulPayments} paid ({batch.Paid}), {batch.FailedPayments} failed, {batch.Status}, tx {batch.TransactionId}{(batch.ErrorMessage is null ? "" : " — " + batch.ErrorMessage)}");
        }

        output.WriteLine($"distribution {done.Status}: {done.Result!.PaidHolders} holders paid {done.Result.Paid}, {done.Result.FailedHolders} unpaid ({done.Result.Unpaid})");
        var paid = await ledger.GetBalanceAsync(issuer, dividends.Id, cancellationToken: cancellationToken).ConfigureAwait(false);
        output.WriteLine($"ledger: dividends paid {paid.DebitsPosted}; running it again pays nobody twice: {(await payouts.ExecuteAsync(issuer, dividend.Id, cancellationToken: cancellationToken).ConfigureAwait(false)).Status}");
    }
}
