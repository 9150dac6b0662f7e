using NodaTime;
using PaymentsKit.Ledger;

namespace PaymentsKit.Tests.Ledger;

public abstract partial class LedgerSpecification
{
    [Fact]
    public async Task Reserve_Holds_Funds_In_Pending_Balances()
    {
        var (customer, _, merchant) = await FundedCustomerAsync(100);

        var transfer = await ReserveAsync(customer, merchant, Usd(30));

        Assert.StartsWith("ltr_", transfer.Id.ToString(), StringComparison.Ordinal);
        Assert.Equal(LedgerTransferState.Pending, transfer.State);
        Assert.Equal(LedgerEntryType.Reserve, transfer.EntryType);
        var customerNow = await ReloadAsync(customer);
        Assert.Equal(Usd(30), customerNow.DebitsPending);
        Assert.Equal(Usd(100), customerNow.Balance.Posted);
        Assert.Equal(Usd(30), customerNow.Balance.Reserved);
        Assert.Equal(Usd(70), customerNow.Balance.Available);
        var merchantNow = await ReloadAsync(merchant);
        Assert.Equal(Usd(30), merchantNow.CreditsPending);
        Assert.Equal(Usd(30), merchantNow.Balance.Incoming);
        Assert.Equal(Usd(0), merchantNow.Balance.Available);
        var pending = await Ledger.GetTransactionAsync(Tenant, transfer.PendingTransactionId);
        Assert.Equal(LedgerTransactionKind.Pending, pending.Kind);
        Assert.Equal(transfer.Id, pending.TransferId);
        Assert.Equal(transfer, await Ledger.GetTransferAsync(Tenant, transfer.Id));
        await FailsAsync(PaymentsKitErrorCodes.NotFound, () => Ledger.GetTransferAsync(OtherTenant, transfer.Id).AsTask());
    }

    [Fact]
    public async Task Reserve_Never_Overdraws_And_Rejects_Bad_Requests_Writing_Nothing()
    {
        var (customer, cash, merchant) = await FundedCustomerAsync(100);
        var xlm = await OpenAsync("xlm", asset: AssetRegistry.Xlm);
        var foreign = await OpenAsync("foreign", tenant: OtherTenant);
        await ReserveAsync(customer, merchant, Usd(70));
        customer = await ReloadAsync(customer);
        merchant = await ReloadAsync(merchant);

        Task Reserve(LedgerAccountId from, LedgerAccountId to, Money amount, Duration? timeout = null) =>
            Ledger.ReserveAsync(Tenant, new ReserveLedgerTransferRequest(from, to, amount) { Timeout = timeout }).AsTask();

        await FailsAsync(PaymentsKitErrorCodes.InsufficientFunds, () => Reserve(customer.Id, merchant.Id, Usd(30.01m)));
        await FailsAsync(PaymentsKitErrorCodes.AmountOutOfRange, () => Reserve(customer.Id, merchant.Id, Usd(0)));
        await FailsAsync(PaymentsKitErrorCodes.AmountOutOfRange, () => Reserve(customer.Id, merchant.Id, Usd(-1)));
        await FailsAsync(PaymentsKitErrorCodes.AssetMismatch, () => Reserve(customer.Id, xlm.Id, Usd(1)));
        await FailsAsync(PaymentsKitErrorCodes.AmountPrecision, () => Reserve(customer.Id, merchant.Id, Money.Of(0.005m, WideUsd)));
        await FailsAsync(PaymentsKitErrorCodes.NotFound, () => Reserve(customer.Id, foreign.Id, Usd(1)));
        await FailsAsync(PaymentsKitErrorCodes.InvalidArgument, () => Reserve(customer.Id, customer.Id, Usd(1)));
        await FailsAsync(PaymentsKitErrorCodes.InvalidArgument, () => Reserve(customer.Id, merchant.Id, Usd(1), Duration.Zero));
        await FailsAsync(PaymentsKitErrorCodes.InvalidArgument, () => Reserve(customer.Id, merchant.Id, Usd(1), Duration.FromDays(367)));
        await FailsAsync(PaymentsKitErrorCodes.InvalidArgument, () => Reserve(default, merchant.Id, Usd(1)));

        await AssertUnchangedAsync(customer, cash, merchant, xlm);
    }

    [Fact]
    public async Task PostTransfer_In_Full_Moves_The_Reservation_To_Posted()
    {
        var (customer, _, merchant) = await FundedCustomerAsync(100);
        var transfer = await ReserveAsync(customer, merchant, Usd(30));
        Clock.Advance(Duration.FromSeconds(5));

        var posted = await Ledger.PostTransferAsync(Tenant, transfer.Id);

        Assert.Equal(LedgerTransferState.Posted, posted.State);
        Assert.Equal(Usd(30), posted.PostedAmount);
        Assert.Equal(Usd(0), posted.ReleasedAmount);
        Assert.Equal(Clock.GetCurrentInstant(), posted.ResolvedAt);
        var customerNow = await ReloadAsync(customer);
        Assert.Equal(Usd(0), customerNow.DebitsPending);
        Assert.Equal(Usd(30), customerNow.DebitsPosted);
        Assert.Equal(Usd(70), customerNow.Balance.Available);
        Assert.Equal(Usd(30), (await ReloadAsync(merchant)).Balance.Posted);
        var resolving = await Ledger.GetTransactionAsync(Tenant, posted.ResolvingTransactionId!.Value);
        Assert.Equal(LedgerTransactionKind.PostPending, resolving.Kind);
        Assert.Equal(LedgerEntryType.Debit, resolving.EntryType);
        Assert.Equal(posted, await Ledger.GetTransferAsync(Tenant, transfer.Id));
    }

    [Fact]
    public async Task PostTransfer_Partially_Releases_The_Remainder()
    {
        var (customer, _, merchant) = await FundedCustomerAsync(100);
        var transfer = await ReserveAsync(customer, merchant, Usd(30));

        var posted = await Ledger.PostTransferAsync(Tenant, transfer.Id, Usd(12.34m));

        Assert.Equal(Usd(12.34m), posted.PostedAmount);
        Assert.Equal(Usd(17.66m), posted.ReleasedAmount);
        var customerNow = await ReloadAsync(customer);
        Assert.Equal(Usd(0), customerNow.DebitsPending);
        Assert.Equal(Usd(87.66m), customerNow.Balance.Available);
        Assert.Equal(Usd(12.34m), (await ReloadAsync(merchant)).Balance.Posted);
        var entries = (await Ledger.ListEntriesAsync(Tenant, customer.Id, null, 10)).Items;
        Assert.Equal(Usd(12.34m), entries[^1].PostedChange);
        Assert.Equal(Usd(-30), entries[^1].PendingChange);
        Assert.True((await Ledger.ReconcileAsync(Tenant)).IsClean);
    }

    [Fact]
    public async Task VoidTransfer_Releases_Everything()
    {
        var (customer, _, merchant) = await FundedCustomerAsync(100);
        var transfer = await ReserveAsync(customer, merchant, Usd(30));

        var voided = await Ledger.VoidTransferAsync(Tenant, transfer.Id);

        Assert.Equal(LedgerTransferState.Voided, voided.State);
        Assert.Equal(Usd(0), voided.PostedAmount);
        Assert.Equal(Usd(30), voided.ReleasedAmount);
        var customerNow = await ReloadAsync(customer);
        Assert.Equal(Usd(100), customerNow.Balance.Available);
        Assert.Equal(Usd(0), customerNow.DebitsPending);
        Assert.Equal(Usd(0), (await ReloadAsync(merchant)).CreditsPending);
        Assert.Equal(LedgerEntryType.Release, (await Ledger.GetTransactionAsync(Tenant, voided.ResolvingTransactionId!.Value)).EntryType);
    }

    [Fact]
    public async Task A_Transfer_Resolves_Once_And_Never_Over_Posts()
    {
        var (customer, _, merchant) = await FundedCustomerAsync(100);
        var first = await ReserveAsync(customer, merchant, Usd(30));
        var second = await ReserveAsync(customer, merchant, Usd(20));

        await FailsAsync(PaymentsKitErrorCodes.ExceedsPendingAmount, () => Ledger.PostTransferAsync(Tenant, first.Id, Usd(30.01m)).AsTask());
        await FailsAsync(PaymentsKitErrorCodes.AmountOutOfRange, () => Ledger.PostTransferAsync(Tenant, first.Id, Usd(0)).AsTask());
        await FailsAsync(PaymentsKitErrorCodes.AssetMismatch, () => Ledger.PostTransferAsync(Tenant, first.Id, Xlm(1)).AsTask());
        await FailsAsync(PaymentsKitErrorCodes.AmountPrecision, () => Ledger.PostTransferAsync(Tenant, first.Id, Money.Of(1.0001m, WideUsd)).AsTask());
        await FailsAsync(PaymentsKitErrorCodes.NotFound, () => Ledger.PostTransferAsync(OtherTenant, first.Id).AsTask());
        await FailsAsync(PaymentsKitErrorCodes.NotFound, () => Ledger.VoidTransferAsync(Tenant, LedgerTransferId.New(Clock)).AsTask());
        await FailsAsync(PaymentsKitErrorCodes.InvalidArgument, () => Ledger.VoidTransferAsync(Tenant, default).AsTask());

        await Ledger.PostTransferAsync(Tenant, first.Id);
        await Ledger.VoidTransferAsync(Tenant, second.Id);
        var before = await ReloadAsync(customer);

        await FailsAsync(PaymentsKitErrorCodes.AlreadyResolved, () => Ledger.PostTransferAsync(Tenant, first.Id).AsTask());
        await FailsAsync(PaymentsKitErrorCodes.AlreadyResolved, () => Ledger.VoidTransferAsync(Tenant, first.Id).AsTask());
        await FailsAsync(PaymentsKitErrorCodes.AlreadyResolved, () => Ledger.PostTransferAsync(Tenant, second.Id).AsTask());
        await FailsAsync(PaymentsKitErrorCodes.AlreadyResolved, () => Ledger.VoidTransferAsync(Tenant, second.Id).AsTask());
        await AssertUnchangedAsync(before);
    }

    [Fact]
    public async Task Racing_Resolutions_Of_One_Transfer_Resolve_It_Exactly_Once()
    {
        var (customer, _, merchant) = await FundedCustomerAsync(100);
        var transfer = await ReserveAsync(customer, merchant, Usd(30));

        var outcomes = await Task.WhenAll(Enumerable.Range(0, 12).Select(i => Task.Run(async () =>
        {
            try
            {
                return i % 2 == 0
                    ? (await Ledger.PostTransferAsync(Tenant, transfer.Id)).State
                    : (await Ledger.VoidTransferAsync(Tenant, transfer.Id)).State;
            }
            catch (PaymentsKitException ex) when (ex.Code == PaymentsKitErrorCodes.AlreadyResolved)
            {
                return LedgerTransferState.Pending;
            }
        })));

        Assert.Single(outcomes, o => o != LedgerTransferState.Pending);
        var customerNow = await ReloadAsync(customer);
        Assert.Equal(Usd(0), customerNow.DebitsPending);
        Assert.Equal(3, customerNow.EntryCount);
        Assert.True((await Ledger.ReconcileAsync(Tenant)).IsClean);
    }

    [Fact]
    public async Task Reserve_With_A_Repeated_Idempotency_Key_Returns_The_Original_Transfer_Or_Conflicts()
    {
        var (customer, _, merchant) = await FundedCustomerAsync(100);
        var request = new ReserveLedgerTransferRequest(customer.Id, merchant.Id, Usd(30)) { IdempotencyKey = "hold-1", Timeout = Duration.FromMinutes(5) };

        var first = await Ledger.ReserveAsync(Tenant, request);
        var again = await Ledger.ReserveAsync(Tenant, request);

        Assert.Equal(first.Id, again.Id);
        Assert.Equal(Usd(30), (await ReloadAsync(customer)).DebitsPending);
        await FailsAsync(PaymentsKitErrorCodes.IdempotencyConflict, () => Ledger.ReserveAsync(Tenant, request with { Amount = Usd(31) }).AsTask());
        await FailsAsync(PaymentsKitErrorCodes.IdempotencyConflict, () => Ledger.ReserveAsync(Tenant, request with { Timeout = null }).AsTask());
        await FailsAsync(PaymentsKitErrorCodes.IdempotencyConflict, () => Ledger.PostTransactionAsync(
            Tenant, new PostLedgerTransactionRequest([LedgerPosting.Debit(customer.Id, Usd(30)), LedgerPosting.Credit(merchant.Id, Usd(30))]) { IdempotencyKey = "hold-1" }).AsTask());
    }

    [Fact]
    public async Task A_Reservation_Expires_When_Its_Timeout_Passes_And_The_Sweep_Releases_It()
    {
        await DrainDeadlinesAsync();
        var (customer, _, merchant) = await FundedCustomerAsync(100);
        var start = Clock.GetCurrentInstant();
        var expiring = await ReserveAsync(customer, merchant, Usd(30), Duration.FromSeconds(30));
        var lasting = await ReserveAsync(customer, merchant, Usd(20), Duration.FromHours(1));
        var endless = await ReserveAsync(customer, merchant, Usd(10));
        Assert.Equal(start + Duration.FromSeconds(30), expiring.ExpiresAt);

        Assert.Empty(await ExpireDueAsync(start + Duration.FromSeconds(29)));

        Clock.Advance(Duration.FromSeconds(31));
        await FailsAsync(PaymentsKitErrorCodes.Expired, () => Ledger.PostTransferAsync(Tenant, expiring.Id).AsTask());
        await FailsAsync(PaymentsKitErrorCodes.Expired, () => Ledger.VoidTransferAsync(Tenant, expiring.Id).AsTask());
        var swept = await ExpireDueAsync(Clock.GetCurrentInstant());

        var expired = Assert.Single(swept);
        Assert.Equal(expiring.Id, expired.Id);
        Assert.Equal(LedgerTransferState.Expired, expired.State);
        Assert.Equal(Usd(30), expired.ReleasedAmount);
        Assert.Equal(LedgerTransactionKind.ExpirePending, (await Ledger.GetTransactionAsync(Tenant, expired.ResolvingTransactionId!.Value)).Kind);
        Assert.Equal(Usd(70), (await ReloadAsync(customer)).Balance.Available);
        await FailsAsync(PaymentsKitErrorCodes.Expired, () => Ledger.PostTransferAsync(Tenant, expiring.Id).AsTask());
        Assert.Empty(await ExpireDueAsync(Clock.GetCurrentInstant()));

        // A transfer resolved before its deadline is not expired later.
        await Ledger.PostTransferAsync(Tenant, lasting.Id, Usd(5));
        Clock.Advance(Duration.FromDays(2));
        Assert.Empty(await ExpireDueAsync(Clock.GetCurrentInstant()));
        Assert.Equal(LedgerTransferState.Pending, (await Ledger.GetTransferAsync(Tenant, endless.Id)).State);
        Assert.Equal(Usd(85), (await ReloadAsync(customer)).Balance.Available);
        Assert.True((await Ledger.ReconcileAsync(Tenant)).IsClean);
    }

    [Fact]
    public async Task A_Sweep_Told_A_Later_Now_Than_The_Clock_Expires_No_Hold_Before_Its_Timeout()
    {
        await DrainDeadlinesAsync();
        var (customer, _, merchant) = await FundedCustomerAsync(100);
        var hold = await ReserveAsync(customer, merchant, Usd(30), Duration.FromMinutes(5));

        // A sweep whose now is later than the clock's (a host with a fast clock, a caller's mistake) is the clock's sweep:
        // expiring the hold early would release money the hold still stands for.
        Assert.Empty(await ExpireDueAsync(Clock.GetCurrentInstant() + Duration.FromDays(1)));
        Assert.Equal((LedgerTransferState.Pending, Usd(30)), ((await Ledger.GetTransferAsync(Tenant, hold.Id)).State, (await ReloadAsync(customer)).DebitsPending));
        Assert.Equal(LedgerTransferState.Posted, (await Ledger.PostTransferAsync(Tenant, hold.Id, Usd(10))).State);

        // Once the clock passes the timeout, the same sweep expires a hold.
        var other = await ReserveAsync(customer, merchant, Usd(20), Duration.FromMinutes(5));
        Clock.Advance(Duration.FromMinutes(6));
        var expired = Assert.Single(await ExpireDueAsync(Clock.GetCurrentInstant() + Duration.FromDays(1)));
        Assert.Equal((other.Id, LedgerTransferState.Expired), (expired.Id, expired.State));
        Assert.Equal(Usd(90), (await ReloadAsync(customer)).Balance.Available);
        Assert.True((await Ledger.ReconcileAsync(Tenant)).IsClean);
    }

    [Fact]
    public async Task ExpireDue_Honours_Its_Limit_And_Picks_Up_The_Rest_Later()
    {
        await DrainDeadlinesAsync();
        var (customer, _, merchant) = await FundedCustomerAsync(100);
        for (var i = 0; i < 5; i++)
        {
            await ReserveAsync(customer, merchant, Usd(1), Duration.FromSeconds(10 + i));
        }

        Clock.Advance(Duration.FromMinutes(10));
        var first = await ExpireDueAsync(Clock.GetCurrentInstant(), limit: 2);
        var rest = await ExpireDueAsync(Clock.GetCurrentInstant());

        Assert.Equal(2, first.Count);
        Assert.Equal(3, rest.Count);
        Assert.Equal(Usd(0), (await ReloadAsync(customer)).DebitsPending);
        await FailsAsync(PaymentsKitErrorCodes.InvalidArgument, () => Ledger.ExpireDueAsync(Clock.GetCurrentInstant(), 0).AsTask());

        // A sweep that skipped settled deadlines still finds reservations made afterwards.
        var late = await ReserveAsync(customer, merchant, Usd(1), Duration.FromSeconds(1));
        Clock.Advance(Duration.FromSeconds(2));
        Assert.Equal(late.Id, Assert.Single(await ExpireDueAsync(Clock.GetCurrentInstant())).Id);
    }

    [Fact]
    public async Task Concurrent_Sweeps_Expire_Each_Reservation_Once()
    {
        await DrainDeadlinesAsync();
        var (customer, _, merchant) = await FundedCustomerAsync(100);
        for (var i = 0; i < 10; i++)
        {
            await ReserveAsync(customer, merchant, Usd(2), Duration.FromSeconds(1));
        }

        Clock.Advance(Duration.FromSeconds(5));
        var sweeps = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Task.Run(() => ExpireDueAsync(Clock.GetCurrentInstant()))));

        Assert.Equal(10, sweeps.SelectMany(s => s).Select(t => t.Id).Distinct().Count());
        Assert.Equal(10, sweeps.Sum(s => s.Count));
        Assert.Equal(Usd(100), (await ReloadAsync(customer)).Balance.Available);
        Assert.True((await Ledger.ReconcileAsync(Tenant)).IsClean);
    }

    [Fact]
    public async Task Reserve_And_Resolve_In_A_Callers_Unit_Of_Work_Commit_Or_Vanish_Together()
    {
        var (customer, cash, merchant) = await FundedCustomerAsync(100);
        var unit = await Store.BeginAsync();
        await using (unit)
        {
            var hold = await Ledger.ReserveAsync(unit, Tenant, new ReserveLedgerTransferRequest(customer.Id, merchant.Id, Usd(10)) { Timeout = Duration.FromSeconds(1) });
            await Ledger.VoidTransferAsync(unit, Tenant, hold.Id);
        }

        await AssertUnchangedAsync(customer, cash, merchant);
        Clock.Advance(Duration.FromMinutes(1));
        Assert.Empty(await ExpireDueAsync(Clock.GetCurrentInstant()));
    }
}
