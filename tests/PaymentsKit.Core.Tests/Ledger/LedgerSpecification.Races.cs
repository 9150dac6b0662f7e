using NodaTime;
using PaymentsKit.Ledger;
using PaymentsKit.Testing;

namespace PaymentsKit.Tests.Ledger;

/// <summary>Conflicting resolutions of one hold from many callers at once: one wins, money is conserved, the rest get a stable code.</summary>
public abstract partial class LedgerSpecification
{
    [Fact]
    public async Task Partial_Posts_Voids_And_A_Sweep_Racing_Before_The_Timeout_Resolve_A_Hold_Once_And_Move_Only_The_Winners_Amount()
    {
        await DrainDeadlinesAsync();
        var (customer, _, merchant) = await FundedCustomerAsync(100);
        var hold = await ReserveAsync(customer, merchant, Usd(30), Duration.FromMinutes(5));

        var outcomes = await Race.RunAsync(
            Race.Times(4, "post", async () => (await Ledger.PostTransferAsync(Tenant, hold.Id, Usd(10))).State)
                .Concat(Race.Times(4, "void", async () => (await Ledger.VoidTransferAsync(Tenant, hold.Id)).State))
                .Concat(Race.Times(4, "sweep", async () => (await ExpireDueAsync(Clock.GetCurrentInstant())).Count == 0 ? LedgerTransferState.Pending : LedgerTransferState.Expired)));

        var winner = Assert.Single(outcomes, o => o.Won && o.Value != LedgerTransferState.Pending);
        Assert.All(outcomes.Where(o => !o.Won), o => Assert.Equal(PaymentsKitErrorCodes.AlreadyResolved, o.Code));
        Assert.All(outcomes.Where(o => o.Caller == "sweep"), o => Assert.Equal(LedgerTransferState.Pending, o.Value));
        var resolved = await Ledger.GetTransferAsync(Tenant, hold.Id);
        Assert.Equal(winner.Value, resolved.State);
        var moved = resolved.State == LedgerTransferState.Posted ? Usd(10) : Usd(0);
        var (customerNow, merchantNow) = (await ReloadAsync(customer), await ReloadAsync(merchant));
        Assert.Equal((Usd(0), Usd(0)), (customerNow.DebitsPending, merchantNow.CreditsPending));
        Assert.Equal(Usd(100) - moved, customerNow.Balance.Available);
        Assert.Equal(moved, merchantNow.Balance.Posted);
        Assert.True((await Ledger.ReconcileAsync(Tenant)).IsClean);
    }

    [Fact]
    public async Task Posts_Voids_And_Sweeps_Racing_Once_The_Timeout_Passed_Expire_The_Hold_Exactly_Once()
    {
        await DrainDeadlinesAsync();
        var (customer, _, merchant) = await FundedCustomerAsync(100);
        var hold = await ReserveAsync(customer, merchant, Usd(30), Duration.FromSeconds(1));
        Clock.Advance(Duration.FromSeconds(2));

        var outcomes = await Race.RunAsync(
            Race.Times(4, "post", async () => (await Ledger.PostTransferAsync(Tenant, hold.Id)).Id.ToString())
                .Concat(Race.Times(4, "void", async () => (await Ledger.VoidTransferAsync(Tenant, hold.Id)).Id.ToString()))
                .Concat(Race.Times(4, "sweep", async () => string.Join(",", (await ExpireDueAsync(Clock.GetCurrentInstant())).Select(t => t.Id)))));

        // Past its timeout a hold can only expire: posting or voiding it is refused whether or not a sweep got there first.
        Assert.All(outcomes.Where(o => o.Caller != "sweep"), o => Assert.Contains(o.Code, new[] { PaymentsKitErrorCodes.Expired, PaymentsKitErrorCodes.AlreadyResolved }));
        Assert.All(outcomes.Where(o => o.Caller == "sweep"), o => Assert.True(o.Won, o.ToString()));
        Assert.Single(outcomes, o => o.Caller == "sweep" && o.Value == hold.Id.ToString());
        Assert.Equal(LedgerTransferState.Expired, (await Ledger.GetTransferAsync(Tenant, hold.Id)).State);
        var customerNow = await ReloadAsync(customer);
        Assert.Equal((Usd(0), Usd(100)), (customerNow.DebitsPending, customerNow.Balance.Available));
        Assert.Equal(Usd(0), (await ReloadAsync(merchant)).Balance.Posted);
        Assert.True((await Ledger.ReconcileAsync(Tenant)).IsClean);
    }

    [Fact]
    public async Task Racing_Reversals_Of_One_Transaction_Reverse_It_Exactly_Once()
    {
        var (customer, _, merchant) = await FundedCustomerAsync(100);
        var payment = await MoveAsync(customer, merchant, Usd(40), "pi_race", LedgerEntryType.Debit);

        var outcomes = await Race.RunAsync(Race.Times(12, "reverse", async () => (await Ledger.ReverseTransactionAsync(Tenant, new ReverseLedgerTransactionRequest(payment.Id))).Id));

        Assert.Single(outcomes, o => o.Won);
        Assert.All(outcomes.Where(o => !o.Won), o => Assert.Equal(PaymentsKitErrorCodes.AlreadyReversed, o.Code));
        Assert.Equal(2, (await Ledger.ListTransactionsByReferenceAsync(Tenant, "pi_race", null, 10)).Items.Count);
        Assert.Equal(Usd(100), (await ReloadAsync(customer)).Balance.Available);
        Assert.Equal(Usd(0), (await ReloadAsync(merchant)).Balance.Posted);
        Assert.True((await Ledger.ReconcileAsync(Tenant)).IsClean);
    }

    [Fact]
    public async Task Direct_Debits_And_Reservations_Racing_On_One_Account_Spend_Exactly_Its_Funds_And_No_More()
    {
        var (customer, _, merchant) = await FundedCustomerAsync(1_000);

        // 64 callers of 20 against 1,000: fifty fit, whichever way each spends.
        var outcomes = await Race.RunAsync(
            Race.Times(32, "debit", async () => (object)await MoveAsync(customer, merchant, Usd(20)))
                .Concat(Race.Times(32, "reserve", async () => (object)await ReserveAsync(customer, merchant, Usd(20)))));

        Assert.Equal(50, outcomes.Count(o => o.Won));
        Assert.All(outcomes.Where(o => !o.Won), o => Assert.Equal(PaymentsKitErrorCodes.InsufficientFunds, o.Code));
        var (debited, reserved) = (outcomes.Count(o => o.Won && o.Caller == "debit"), outcomes.Count(o => o.Won && o.Caller == "reserve"));
        var (customerNow, merchantNow) = (await ReloadAsync(customer), await ReloadAsync(merchant));
        Assert.Equal(Usd(20 * debited), customerNow.DebitsPosted);
        Assert.Equal(Usd(20 * reserved), customerNow.DebitsPending);
        Assert.Equal(Usd(0), customerNow.Balance.Available);
        Assert.Equal((Usd(20 * debited), Usd(20 * reserved)), (merchantNow.Balance.Posted, merchantNow.CreditsPending));
        Assert.True((await Ledger.ReconcileAsync(Tenant)).IsClean);
    }
}
