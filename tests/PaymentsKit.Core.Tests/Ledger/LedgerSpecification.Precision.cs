using System.Globalization;
using System.Numerics;
using FsCheck;
using FsCheck.Fluent;
using PaymentsKit.Ledger;

namespace PaymentsKit.Tests.Ledger;

public abstract partial class LedgerSpecification
{
    private static readonly BigInteger WeiPerEth = BigInteger.Pow(10, 18);

    /// <summary>
    /// Two debits and two credits of 18-decimal amounts so large that their totals need more digits than a decimal
    /// holds (each account's own balance still fits): the credits are the debits' exact total, or off by a few wei.
    /// </summary>
    private static Gen<(BigInteger[] Debits, BigInteger[] Credits, int Delta)> LargeWeiPostingsGen { get; } =
        from debits in Gen.ArrayOf(
            from whole in Gen.Choose(40_000, 60_000)
            from high in Gen.Choose(0, 999_999_999)
            from low in Gen.Choose(0, 999_999_999)
            select (new BigInteger(whole) * BigInteger.Pow(10, 24)) + (new BigInteger(high) * 1_000_000_000) + low,
            2)
        from delta in Gen.Frequency((2, Gen.Constant(0)), (3, Gen.Choose(-3, 3)))
        select (debits, Split(debits[0] + debits[1], delta), delta);

    [Fact]
    public async Task PostTransaction_Refuses_Totals_That_Differ_By_Less_Than_A_Decimal_Sum_Keeps()
    {
        // 60,000,000,000.000000000000000001 ETH twice against 60,000,000,000 ETH twice: the debits total 2 wei more
        // than the credits, a difference the 30-digit totals lose when summed as decimals.
        var accounts = await OpenEthAccountsAsync("rounding");
        var one = Money.Of(60_000_000_000.000000000000000001m, AssetRegistry.Eth);
        var round = Money.Of(60_000_000_000m, AssetRegistry.Eth);

        var ex = await FailsAsync(PaymentsKitErrorCodes.UnbalancedTransaction, () => Ledger.PostTransactionAsync(Tenant, new PostLedgerTransactionRequest(
        [
            LedgerPosting.Debit(accounts[0].Id, one),
            LedgerPosting.Debit(accounts[1].Id, one),
            LedgerPosting.Credit(accounts[2].Id, round),
            LedgerPosting.Credit(accounts[3].Id, round),
        ])).AsTask());
        Assert.Equal("120000000000.000000000000000002 ETH", ex.Context["debits"]);
        Assert.Equal("120000000000.000000000000000000 ETH", ex.Context["credits"]);
        await AssertUnchangedAsync(accounts);
    }

    [Fact]
    public void Large_Postings_Are_Accepted_Exactly_When_They_Balance_Meets_Specification()
    {
        var run = 0;
        Prop.ForAll(Arb.From(LargeWeiPostingsGen), postings => Blocking(async () =>
        {
            // Fresh accounts per case: each account's balance must still fit 18 decimals.
            var accounts = await OpenEthAccountsAsync("case" + Interlocked.Increment(ref run).ToString(CultureInfo.InvariantCulture));
            var request = new PostLedgerTransactionRequest(
            [
                LedgerPosting.Debit(accounts[0].Id, Eth(postings.Debits[0])),
                LedgerPosting.Debit(accounts[1].Id, Eth(postings.Debits[1])),
                LedgerPosting.Credit(accounts[2].Id, Eth(postings.Credits[0])),
                LedgerPosting.Credit(accounts[3].Id, Eth(postings.Credits[1])),
            ]);
            if (postings.Delta != 0)
            {
                await FailsAsync(PaymentsKitErrorCodes.UnbalancedTransaction, () => Ledger.PostTransactionAsync(Tenant, request).AsTask());
                await AssertUnchangedAsync(accounts);
                return;
            }

            await Ledger.PostTransactionAsync(Tenant, request);
            var debits = BigInteger.Zero;
            var credits = BigInteger.Zero;
            foreach (var account in accounts)
            {
                var now = await ReloadAsync(account);
                debits += now.DebitsPosted.MinorUnits;
                credits += now.CreditsPosted.MinorUnits;
            }

            Assert.Equal(debits, credits);
            Assert.True((await Ledger.ReconcileAsync(Tenant)).IsClean);
        })).Check(Config.QuickThrowOnFailure.WithMaxTest(Math.Max(10, PropertyIterations / 5)));
    }

    [Fact]
    public async Task A_Flag_Whose_Posted_Plus_Pending_Total_Exceeds_A_Decimal_Is_An_Overflow_And_Writes_Nothing()
    {
        // JPY has no decimal places, so a balance may come close to a decimal's limit (≈ 7.9 × 10^28): 5 × 10^28 posted
        // plus 3 × 10^28 pending cannot be summed to check the account's flag. Each balance alone still fits.
        static Money Jpy(decimal amount) => Money.Of(amount, AssetRegistry.Jpy);
        var cash = await OpenAsync("jpy-cash", LedgerSide.Debit, asset: AssetRegistry.Jpy);
        var customer = await OpenAsync("jpy-customer", LedgerSide.Credit, LedgerAccountFlags.DebitsMustNotExceedCredits, AssetRegistry.Jpy);
        var wallet = await OpenAsync("jpy-wallet", LedgerSide.Debit, LedgerAccountFlags.CreditsMustNotExceedDebits, AssetRegistry.Jpy);
        var merchant = await OpenAsync("jpy-merchant", asset: AssetRegistry.Jpy);
        await MoveAsync(cash, customer, Jpy(70_000_000_000_000_000_000_000_000_000m));
        await MoveAsync(customer, merchant, Jpy(50_000_000_000_000_000_000_000_000_000m));
        await MoveAsync(wallet, cash, Jpy(70_000_000_000_000_000_000_000_000_000m));
        await MoveAsync(merchant, wallet, Jpy(50_000_000_000_000_000_000_000_000_000m));
        LedgerAccount[] accounts = [await ReloadAsync(cash), await ReloadAsync(customer), await ReloadAsync(wallet), await ReloadAsync(merchant)];

        var large = Jpy(30_000_000_000_000_000_000_000_000_000m);
        await FailsAsync(PaymentsKitErrorCodes.ArithmeticOverflow, () => ReserveAsync(customer, merchant, large));
        await FailsAsync(PaymentsKitErrorCodes.ArithmeticOverflow, () => ReserveAsync(merchant, wallet, large));
        await AssertUnchangedAsync(accounts);
    }

    [Fact]
    public async Task Reconcile_Sums_Pending_Changes_Whatever_Order_Its_Entries_Are_Listed_In()
    {
        // Holds of 5 × 10^28 JPY reserved and voided in turn never leave more than one pending at a time, but a tenant's
        // entries are listed in id order, not in sequence: two reservations summed one after the other would pass a
        // decimal's limit (≈ 7.9 × 10^28), and twelve of each make that order all but certain on each account.
        var payer = await OpenAsync("jpy-payer", asset: AssetRegistry.Jpy);
        var payee = await OpenAsync("jpy-payee", asset: AssetRegistry.Jpy);
        for (var i = 0; i < 12; i++)
        {
            var hold = await ReserveAsync(payer, payee, Money.Of(50_000_000_000_000_000_000_000_000_000m, AssetRegistry.Jpy));
            await Ledger.VoidTransferAsync(Tenant, hold.Id);
        }

        var report = await Ledger.ReconcileAsync(Tenant);

        Assert.True(report.IsClean, string.Join("; ", report.Discrepancies));
        Assert.Equal(12 * 2 * 2, report.EntriesChecked);
    }

    /// <summary>Two debit-normal and two credit-normal ETH accounts.</summary>
    private async Task<LedgerAccount[]> OpenEthAccountsAsync(string prefix) =>
    [
        await OpenAsync(prefix + "-debit-1", LedgerSide.Debit, asset: AssetRegistry.Eth),
        await OpenAsync(prefix + "-debit-2", LedgerSide.Debit, asset: AssetRegistry.Eth),
        await OpenAsync(prefix + "-credit-1", asset: AssetRegistry.Eth),
        await OpenAsync(prefix + "-credit-2", asset: AssetRegistry.Eth),
    ];

    /// <summary>Splits <paramref name="total"/> wei in two halves whose sum is off by <paramref name="delta"/>.</summary>
    private static BigInteger[] Split(BigInteger total, int delta)
    {
        var first = total / 2;
        return [first, total - first + delta];
    }

    private static Money Eth(BigInteger wei)
    {
        var text = BigInteger.Abs(wei).ToString(CultureInfo.InvariantCulture).PadLeft(19, '0');
        return Money.Of(decimal.Parse(text[..^18] + "." + text[^18..], CultureInfo.InvariantCulture), AssetRegistry.Eth);
    }
}
