using PaymentsKit.Ledger;
using PaymentsKit.Storage;

namespace PaymentsKit.Tests.Ledger;

public abstract partial class LedgerSpecification
{
    [Fact]
    public async Task PostTransaction_Moves_Posted_Balances_And_Writes_One_Entry_Per_Posting()
    {
        var cash = await OpenAsync("cash", LedgerSide.Debit);
        var customer = await OpenAsync("customer", LedgerSide.Credit);

        var transaction = await MoveAsync(cash, customer, Usd(125.50m), "pi_1", LedgerEntryType.Debit);

        Assert.StartsWith("ltx_", transaction.Id.ToString(), StringComparison.Ordinal);
        Assert.Equal(LedgerTransactionKind.Posted, transaction.Kind);
        Assert.Equal(1, transaction.ReferenceSequence);
        var cashNow = await ReloadAsync(cash);
        var customerNow = await ReloadAsync(customer);
        Assert.Equal(Usd(125.50m), cashNow.DebitsPosted);
        Assert.Equal(Usd(125.50m), cashNow.Balance.Posted);
        Assert.Equal(Usd(125.50m), customerNow.CreditsPosted);
        Assert.Equal(Usd(125.50m), customerNow.Balance.Available);
        Assert.Equal(1, customerNow.EntryCount);

        var entry = Assert.Single((await Ledger.ListEntriesAsync(Tenant, customer.Id, null, 10)).Items);
        Assert.Equal(transaction.Id, entry.TransactionId);
        Assert.Equal(LedgerSide.Credit, entry.Side);
        Assert.Equal(Usd(125.50m), entry.PostedChange);
        Assert.Equal(Usd(0), entry.PendingChange);
        Assert.Equal(Usd(125.50m), entry.CreditsPosted);
        Assert.Equal(LedgerEntryType.Debit, entry.EntryType);
        Assert.Equal("pi_1", entry.Reference);

        var read = await Ledger.GetTransactionAsync(Tenant, transaction.Id);
        Assert.Equal(transaction.Postings, read.Postings);
        await FailsAsync(PaymentsKitErrorCodes.NotFound, () => Ledger.GetTransactionAsync(OtherTenant, transaction.Id).AsTask());
        Assert.True((await Ledger.ReconcileAsync(Tenant)).IsClean);
    }

    [Fact]
    public async Task PostTransaction_Balances_Per_Asset_Across_Many_Postings()
    {
        var cash = await OpenAsync("cash", LedgerSide.Debit);
        var fees = await OpenAsync("fees");
        var merchant = await OpenAsync("merchant");
        var xlmWallet = await OpenAsync("xlm-wallet", LedgerSide.Debit, asset: AssetRegistry.Xlm);
        var xlmPayable = await OpenAsync("xlm-payable", asset: AssetRegistry.Xlm);

        await Ledger.PostTransactionAsync(Tenant, new PostLedgerTransactionRequest(
        [
            LedgerPosting.Debit(cash.Id, Usd(100)),
            LedgerPosting.Credit(merchant.Id, Usd(97.10m)),
            LedgerPosting.Credit(fees.Id, Usd(2.90m)),
            LedgerPosting.Debit(xlmWallet.Id, Xlm(10.1234567m)),
            LedgerPosting.Credit(xlmPayable.Id, Xlm(10.1234567m)),
        ]) { EntryType = LedgerEntryType.Fee });

        Assert.Equal(Usd(2.90m), (await ReloadAsync(fees)).Balance.Posted);
        Assert.Equal(Xlm(10.1234567m), (await ReloadAsync(xlmWallet)).Balance.Posted);
        Assert.True((await Ledger.ReconcileAsync(Tenant)).IsClean);
    }

    [Fact]
    public async Task PostTransaction_Rejects_Unbalanced_Postings_Writing_Nothing()
    {
        var cash = await OpenAsync("cash", LedgerSide.Debit);
        var customer = await OpenAsync("customer");
        var xlm = await OpenAsync("xlm", asset: AssetRegistry.Xlm);

        var ex = await FailsAsync(PaymentsKitErrorCodes.UnbalancedTransaction, () => Ledger.PostTransactionAsync(
            Tenant, new PostLedgerTransactionRequest([LedgerPosting.Debit(cash.Id, Usd(10)), LedgerPosting.Credit(customer.Id, Usd(9.99m))])).AsTask());
        Assert.Contains("10.00 USD", ex.Message, StringComparison.Ordinal);
        await FailsAsync(PaymentsKitErrorCodes.UnbalancedTransaction, () => Ledger.PostTransactionAsync(
            Tenant, new PostLedgerTransactionRequest([LedgerPosting.Debit(cash.Id, Usd(10))])).AsTask());

        // Balanced in total value is not enough: each asset balances on its own.
        await FailsAsync(PaymentsKitErrorCodes.UnbalancedTransaction, () => Ledger.PostTransactionAsync(
            Tenant, new PostLedgerTransactionRequest([LedgerPosting.Debit(cash.Id, Usd(10)), LedgerPosting.Credit(xlm.Id, Xlm(10))])).AsTask());

        await AssertUnchangedAsync(cash, customer, xlm);
    }

    [Fact]
    public async Task PostTransaction_Rejects_Bad_Amounts_And_Accounts_Writing_Nothing()
    {
        var cash = await OpenAsync("cash", LedgerSide.Debit);
        var customer = await OpenAsync("customer");
        var xlm = await OpenAsync("xlm", asset: AssetRegistry.Xlm);
        var foreign = await OpenAsync("foreign", tenant: OtherTenant);

        Task Post(params LedgerPosting[] postings) => Ledger.PostTransactionAsync(Tenant, new PostLedgerTransactionRequest(postings)).AsTask();

        await FailsAsync(PaymentsKitErrorCodes.AmountOutOfRange, () => Post(LedgerPosting.Debit(cash.Id, Usd(0)), LedgerPosting.Credit(customer.Id, Usd(0))));
        await FailsAsync(PaymentsKitErrorCodes.AmountOutOfRange, () => Post(LedgerPosting.Debit(cash.Id, Usd(-5)), LedgerPosting.Credit(customer.Id, Usd(-5))));
        await FailsAsync(PaymentsKitErrorCodes.InvalidArgument, () => Post(LedgerPosting.Debit(cash.Id, default), LedgerPosting.Credit(customer.Id, Usd(1))));
        await FailsAsync(PaymentsKitErrorCodes.AssetMismatch, () => Post(LedgerPosting.Debit(cash.Id, Xlm(1)), LedgerPosting.Credit(xlm.Id, Xlm(1))));
        await FailsAsync(PaymentsKitErrorCodes.AmountPrecision, () => Post(
            LedgerPosting.Debit(cash.Id, Money.Of(1.0001m, WideUsd)), LedgerPosting.Credit(customer.Id, Money.Of(1.0001m, WideUsd))));
        await FailsAsync(PaymentsKitErrorCodes.AssetMismatch, () => Post(
            LedgerPosting.Debit(cash.Id, Money.Of(1.01m, WideUsd)), LedgerPosting.Credit(customer.Id, Money.Of(1.01m, WideUsd))));
        await FailsAsync(PaymentsKitErrorCodes.AmountPrecision, () => Post(LedgerPosting.Debit(cash.Id, Money.Of(1.001m, AssetRegistry.Usd))));
        await FailsAsync(PaymentsKitErrorCodes.NotFound, () => Post(LedgerPosting.Debit(cash.Id, Usd(1)), LedgerPosting.Credit(LedgerAccountId.New(Clock), Usd(1))));
        await FailsAsync(PaymentsKitErrorCodes.NotFound, () => Post(LedgerPosting.Debit(cash.Id, Usd(1)), LedgerPosting.Credit(foreign.Id, Usd(1))));
        await FailsAsync(PaymentsKitErrorCodes.InvalidArgument, () => Post(LedgerPosting.Debit(cash.Id, Usd(1)), LedgerPosting.Credit(default, Usd(1))));
        await FailsAsync(PaymentsKitErrorCodes.InvalidArgument, () => Post(LedgerPosting.Debit(cash.Id, Usd(1)), new LedgerPosting(customer.Id, (LedgerSide)0, Usd(1))));
        await FailsAsync(PaymentsKitErrorCodes.InvalidArgument, () => Post());
        await FailsAsync(PaymentsKitErrorCodes.InvalidArgument, () => Post([.. Enumerable.Repeat(LedgerPosting.Debit(cash.Id, Usd(1)), 257)]));
        await FailsAsync(PaymentsKitErrorCodes.InvalidArgument, () => Post(LedgerPosting.Debit(cash.Id, Usd(1)), null!));
        await FailsAsync(PaymentsKitErrorCodes.InvalidArgument, () => Ledger.PostTransactionAsync(
            Tenant, new PostLedgerTransactionRequest([LedgerPosting.Debit(cash.Id, Usd(1)), LedgerPosting.Credit(customer.Id, Usd(1))]) { Reference = new string('r', 129) }).AsTask());
        await FailsAsync(PaymentsKitErrorCodes.InvalidArgument, () => Ledger.PostTransactionAsync(
            Tenant, new PostLedgerTransactionRequest([LedgerPosting.Debit(cash.Id, Usd(1)), LedgerPosting.Credit(customer.Id, Usd(1))]) { EntryType = (LedgerEntryType)99 }).AsTask());
        await FailsAsync(PaymentsKitErrorCodes.InvalidArgument, () => Ledger.PostTransactionAsync(
            default, new PostLedgerTransactionRequest([LedgerPosting.Debit(cash.Id, Usd(1)), LedgerPosting.Credit(customer.Id, Usd(1))])).AsTask());

        await AssertUnchangedAsync(cash, customer, xlm);
        Assert.Equal(0, (await Ledger.GetAccountAsync(OtherTenant, foreign.Id)).EntryCount);
    }

    [Fact]
    public async Task PostTransaction_Never_Overdraws_A_Flagged_Account()
    {
        var (customer, cash, merchant) = await FundedCustomerAsync(50);

        var ex = await FailsAsync(PaymentsKitErrorCodes.InsufficientFunds, () => MoveAsync(customer, merchant, Usd(50.01m)));
        Assert.Contains("debits_must_not_exceed_credits", ex.Message, StringComparison.Ordinal);
        await AssertUnchangedAsync(customer, cash, merchant);

        await MoveAsync(customer, merchant, Usd(50));
        Assert.Equal(Usd(0), (await ReloadAsync(customer)).Balance.Available);

        var wallet = await OpenAsync("wallet", LedgerSide.Debit, LedgerAccountFlags.CreditsMustNotExceedDebits);
        await MoveAsync(wallet, merchant, Usd(20));
        await FailsAsync(PaymentsKitErrorCodes.InsufficientFunds, () => MoveAsync(merchant, wallet, Usd(20.01m)));
        await MoveAsync(merchant, wallet, Usd(20));
        Assert.Equal(Usd(0), (await ReloadAsync(wallet)).Balance.Posted);
    }

    [Fact]
    public async Task PostTransaction_With_A_Repeated_Idempotency_Key_Returns_The_Original_Or_Conflicts()
    {
        var cash = await OpenAsync("cash", LedgerSide.Debit);
        var customer = await OpenAsync("customer");
        var request = new PostLedgerTransactionRequest([LedgerPosting.Debit(cash.Id, Usd(10)), LedgerPosting.Credit(customer.Id, Usd(10))])
        {
            IdempotencyKey = "deposit-1",
            Reference = "pi_9",
        };

        var first = await Ledger.PostTransactionAsync(Tenant, request);
        var again = await Ledger.PostTransactionAsync(Tenant, request with { Postings = [.. request.Postings] });

        Assert.Equal(first.Id, again.Id);
        Assert.Equal(Usd(10), (await ReloadAsync(customer)).CreditsPosted);
        await FailsAsync(PaymentsKitErrorCodes.IdempotencyConflict, () => Ledger.PostTransactionAsync(
            Tenant, request with { Postings = [LedgerPosting.Debit(cash.Id, Usd(11)), LedgerPosting.Credit(customer.Id, Usd(11))] }).AsTask());
        await FailsAsync(PaymentsKitErrorCodes.IdempotencyConflict, () => Ledger.PostTransactionAsync(Tenant, request with { Reference = "pi_other" }).AsTask());
        await FailsAsync(PaymentsKitErrorCodes.IdempotencyConflict, () => Ledger.ReserveAsync(
            Tenant, new ReserveLedgerTransferRequest(cash.Id, customer.Id, Usd(10)) { IdempotencyKey = "deposit-1" }).AsTask());
        Assert.Equal(Usd(10), (await ReloadAsync(customer)).CreditsPosted);

        // Keys are per tenant.
        var otherCash = await OpenAsync("cash", LedgerSide.Debit, tenant: OtherTenant);
        var otherCustomer = await OpenAsync("customer", tenant: OtherTenant);
        var other = await Ledger.PostTransactionAsync(
            OtherTenant, request with { Postings = [LedgerPosting.Debit(otherCash.Id, Usd(10)), LedgerPosting.Credit(otherCustomer.Id, Usd(10))] });
        Assert.NotEqual(first.Id, other.Id);
    }

    [Fact]
    public async Task PostTransaction_Racing_With_One_Idempotency_Key_Posts_Exactly_Once()
    {
        var cash = await OpenAsync("cash", LedgerSide.Debit);
        var customer = await OpenAsync("customer");
        var request = new PostLedgerTransactionRequest([LedgerPosting.Debit(cash.Id, Usd(3)), LedgerPosting.Credit(customer.Id, Usd(3))]) { IdempotencyKey = "once" };

        var results = await Task.WhenAll(Enumerable.Range(0, 16).Select(_ => Task.Run(() => Ledger.PostTransactionAsync(Tenant, request).AsTask())));

        Assert.Single(results.Select(r => r.Id).Distinct());
        Assert.Equal(Usd(3), (await ReloadAsync(customer)).CreditsPosted);
    }

    [Fact]
    public async Task ReverseTransaction_Swaps_Every_Posting_Once()
    {
        var (customer, cash, merchant) = await FundedCustomerAsync(100);
        var payment = await MoveAsync(customer, merchant, Usd(40), "pi_7", LedgerEntryType.Debit);

        var reversal = await Ledger.ReverseTransactionAsync(Tenant, new ReverseLedgerTransactionRequest(payment.Id) { EntryType = LedgerEntryType.Refund, Description = "refund" });

        Assert.Equal(payment.Id, reversal.Reverses);
        Assert.Equal(LedgerEntryType.Refund, reversal.EntryType);
        Assert.Equal("pi_7", reversal.Reference);
        Assert.Equal([LedgerPosting.Credit(customer.Id, Usd(40)), LedgerPosting.Debit(merchant.Id, Usd(40))], reversal.Postings);
        Assert.Equal(Usd(100), (await ReloadAsync(customer)).Balance.Available);
        Assert.Equal(Usd(0), (await ReloadAsync(merchant)).Balance.Posted);

        var ex = await FailsAsync(PaymentsKitErrorCodes.AlreadyReversed, () => Ledger.ReverseTransactionAsync(Tenant, new ReverseLedgerTransactionRequest(payment.Id)).AsTask());
        Assert.Contains(reversal.Id.ToString(), ex.Message, StringComparison.Ordinal);
        await FailsAsync(PaymentsKitErrorCodes.NotFound, () => Ledger.ReverseTransactionAsync(OtherTenant, new ReverseLedgerTransactionRequest(payment.Id)).AsTask());
        await FailsAsync(PaymentsKitErrorCodes.InvalidArgument, () => Ledger.ReverseTransactionAsync(Tenant, new ReverseLedgerTransactionRequest(default)).AsTask());
        Assert.True((await Ledger.ReconcileAsync(Tenant)).IsClean);
        _ = cash;
    }

    [Fact]
    public async Task ReverseTransaction_Respects_Flags_And_Refuses_Pending_Transactions()
    {
        var (customer, cash, merchant) = await FundedCustomerAsync(100);
        var funding = (await Ledger.ListEntriesAsync(Tenant, customer.Id, null, 1)).Items[0].TransactionId;
        await MoveAsync(customer, merchant, Usd(60));

        // Taking the funding back would leave the customer 60 short.
        await FailsAsync(PaymentsKitErrorCodes.InsufficientFunds, () => Ledger.ReverseTransactionAsync(Tenant, new ReverseLedgerTransactionRequest(funding)).AsTask());

        var hold = await ReserveAsync(customer, merchant, Usd(10));
        await FailsAsync(PaymentsKitErrorCodes.InvalidTransition, () => Ledger.ReverseTransactionAsync(Tenant, new ReverseLedgerTransactionRequest(hold.PendingTransactionId)).AsTask());
        var posted = await Ledger.PostTransferAsync(Tenant, hold.Id);
        var undo = await Ledger.ReverseTransactionAsync(Tenant, new ReverseLedgerTransactionRequest(posted.ResolvingTransactionId!.Value));
        Assert.Equal(LedgerTransactionKind.Posted, undo.Kind);
        Assert.Equal(Usd(40), (await ReloadAsync(customer)).Balance.Available);
        _ = cash;
    }

    [Fact]
    public async Task ListTransactionsByReference_Pages_Every_Transaction_Carrying_The_Reference()
    {
        var (customer, _, merchant) = await FundedCustomerAsync(100);
        var reserve = await Ledger.ReserveAsync(Tenant, new ReserveLedgerTransferRequest(customer.Id, merchant.Id, Usd(30)) { Reference = "pi_42" });
        var fee = await MoveAsync(customer, merchant, Usd(1), "pi_42", LedgerEntryType.Fee);
        var post = await Ledger.PostTransferAsync(Tenant, reserve.Id, Usd(25));
        await MoveAsync(customer, merchant, Usd(1), "pi_other");

        var first = await Ledger.ListTransactionsByReferenceAsync(Tenant, "pi_42", null, 2);
        var second = await Ledger.ListTransactionsByReferenceAsync(Tenant, "pi_42", first.NextCursor, 2);

        Assert.Equal([reserve.PendingTransactionId, fee.Id], first.Items.Select(t => t.Id));
        Assert.Equal([post.ResolvingTransactionId!.Value], second.Items.Select(t => t.Id));
        Assert.Null(second.NextCursor);
        Assert.Equal(
            [LedgerEntryType.Reserve, LedgerEntryType.Fee, LedgerEntryType.Debit],
            first.Items.Concat(second.Items).Select(t => t.EntryType!.Value));
        Assert.Empty((await Ledger.ListTransactionsByReferenceAsync(Tenant, "pi_none", null, 10)).Items);
        Assert.Empty((await Ledger.ListTransactionsByReferenceAsync(OtherTenant, "pi_42", null, 10)).Items);
        await FailsAsync(PaymentsKitErrorCodes.InvalidArgument, () => Ledger.ListTransactionsByReferenceAsync(Tenant, "pi_42", "x", 10).AsTask());
        await FailsAsync(PaymentsKitErrorCodes.InvalidArgument, () => Ledger.ListTransactionsByReferenceAsync(Tenant, "pi_42", null, 0).AsTask());
    }

    [Fact]
    public async Task PostTransaction_In_A_Callers_Unit_Of_Work_Commits_With_Its_State_Change_Or_Not_At_All()
    {
        var (customer, cash, merchant) = await FundedCustomerAsync(100);
        var request = new PostLedgerTransactionRequest([LedgerPosting.Debit(customer.Id, Usd(30)), LedgerPosting.Credit(merchant.Id, Usd(30))]);

        // Not committed: nothing.
        var unit = await Store.BeginAsync();
        await using (unit)
        {
            await Ledger.PostTransactionAsync(unit, Tenant, request);
        }

        await AssertUnchangedAsync(customer, cash, merchant);

        // Committed together with the caller's own record.
        LedgerTransaction posted;
        unit = await Store.BeginAsync();
        await using (unit)
        {
            posted = await Ledger.PostTransactionAsync(unit, Tenant, request);
            await Ledger.CreateAccountAsync(unit, Tenant, new CreateLedgerAccountRequest("side-effect", "Side effect", AssetRegistry.Usd, LedgerSide.Debit));
            await unit.CommitAsync();
        }

        Assert.Equal(Usd(70), (await ReloadAsync(customer)).Balance.Available);
        Assert.NotNull(await Ledger.FindAccountByCodeAsync(Tenant, "side-effect"));
        Assert.Equal(posted.Id, (await Ledger.GetTransactionAsync(Tenant, posted.Id)).Id);

        // A rejected posting leaves the caller's unit untouched: its own write still commits alone.
        customer = await ReloadAsync(customer);
        merchant = await ReloadAsync(merchant);
        unit = await Store.BeginAsync();
        await using (unit)
        {
            await Ledger.CreateAccountAsync(unit, Tenant, new CreateLedgerAccountRequest("after-failure", "After failure", AssetRegistry.Usd, LedgerSide.Debit));
            await FailsAsync(PaymentsKitErrorCodes.InsufficientFunds, () => Ledger.PostTransactionAsync(
                unit, Tenant, request with { Postings = [LedgerPosting.Debit(customer.Id, Usd(71)), LedgerPosting.Credit(merchant.Id, Usd(71))] }).AsTask());
            await unit.CommitAsync();
        }

        Assert.NotNull(await Ledger.FindAccountByCodeAsync(Tenant, "after-failure"));
        await AssertUnchangedAsync(customer, merchant);
    }

    [Fact]
    public async Task Operations_In_One_Unit_Of_Work_See_Each_Others_Balances()
    {
        var (customer, _, merchant) = await FundedCustomerAsync(100);

        var unit = await Store.BeginAsync();
        await using (unit)
        {
            await Ledger.PostTransactionAsync(unit, Tenant, new PostLedgerTransactionRequest([LedgerPosting.Debit(customer.Id, Usd(60)), LedgerPosting.Credit(merchant.Id, Usd(60))]));
            await FailsAsync(PaymentsKitErrorCodes.InsufficientFunds, () => Ledger.ReserveAsync(unit, Tenant, new ReserveLedgerTransferRequest(customer.Id, merchant.Id, Usd(41))).AsTask());
            var hold = await Ledger.ReserveAsync(unit, Tenant, new ReserveLedgerTransferRequest(customer.Id, merchant.Id, Usd(40)));
            await Ledger.PostTransferAsync(unit, Tenant, hold.Id, Usd(15));
            await unit.CommitAsync();
        }

        var now = await ReloadAsync(customer);
        Assert.Equal(Usd(25), now.Balance.Available);
        Assert.Equal(4, now.EntryCount);
        Assert.True((await Ledger.ReconcileAsync(Tenant)).IsClean);
    }

    [Fact]
    public async Task A_Lost_Race_In_A_Callers_Unit_Of_Work_Fails_The_Commit_As_A_Transient_Conflict()
    {
        var (customer, _, merchant) = await FundedCustomerAsync(100);
        var request = new PostLedgerTransactionRequest([LedgerPosting.Debit(customer.Id, Usd(80)), LedgerPosting.Credit(merchant.Id, Usd(80))]);

        var unit = await Store.BeginAsync();
        await using (unit)
        {
            await Ledger.PostTransactionAsync(unit, Tenant, request);
            await MoveAsync(customer, merchant, Usd(80));
            var ex = await FailsAsync(PaymentsKitErrorCodes.ConcurrencyConflict, () => unit.CommitAsync().AsTask());
            Assert.True(ex.IsTransient);
        }

        Assert.Equal(Usd(20), (await ReloadAsync(customer)).Balance.Available);
        Assert.True((await Ledger.ReconcileAsync(Tenant)).IsClean);
    }
}
