using FsCheck;
using FsCheck.Fluent;
using PaymentsKit.Ledger;
using PaymentsKit.Storage;

namespace PaymentsKit.Tests.Ledger;

/// <summary>
/// A store's one-step ledger path (<see cref="ILedgerFastPath"/>: PostgreSQL's SQL functions, decision 0005; the in-memory
/// store's locked path, decision 0006) beside the record path: it writes what the record path reads, declines what it does
/// not cover having written nothing, and the two paths together never overdraw an account.
/// </summary>
public abstract partial class LedgerSpecification
{
    [Fact]
    public async Task The_One_Call_Path_Writes_What_The_Record_Path_Reads_And_Declines_What_It_Does_Not_Cover()
    {
        var (customer, _, merchant) = await FundedCustomerAsync(100);
        var fast = (ILedgerFastPath)Store;
        var now = Clock.GetCurrentInstant();
        ReserveLedgerTransferRequest Hold(LedgerAccountId from, decimal amount) =>
            new(from, merchant.Id, Usd(amount))
            {
                EntryType = LedgerEntryType.Reserve,
                Description = "hold",
                Metadata = new Dictionary<string, string> { ["order"] = "42" },
            };
        LedgerFastReservation Reservation(MerchantId tenant, ReserveLedgerTransferRequest request) =>
            new(tenant, LedgerTransferId.New(Clock), LedgerTransactionId.New(Clock), request, now);

        var reserved = await fast.TryReserveAsync(Reservation(Tenant, Hold(customer.Id, 30)), default);

        Assert.NotNull(reserved);
        Assert.Equal(reserved, await Ledger.GetTransferAsync(Tenant, reserved.Id));
        Assert.Equal((LedgerTransferState.Pending, Usd(30), now), (reserved.State, reserved.Amount, reserved.CreatedAt));
        var pending = await Ledger.GetTransactionAsync(Tenant, reserved.PendingTransactionId);
        Assert.Equal(
            (LedgerTransactionKind.Pending, LedgerEntryType.Reserve, "hold", "42", reserved.Id, now),
            (pending.Kind, pending.EntryType, pending.Description, pending.Metadata["order"], pending.TransferId!.Value, pending.CreatedAt));
        Assert.Equal(new[] { LedgerPosting.Debit(customer.Id, Usd(30)), LedgerPosting.Credit(merchant.Id, Usd(30)) }, pending.Postings);
        var entry = Assert.Single((await Ledger.ListEntriesAsync(Tenant, customer.Id, "1", 10)).Items);
        Assert.Equal(
            (2L, LedgerSide.Debit, Usd(0), Usd(30), Usd(100), Usd(30), pending.Id),
            (entry.Sequence, entry.Side, entry.PostedChange, entry.PendingChange, entry.CreditsPosted, entry.DebitsPending, entry.TransactionId));
        var held = await ReloadAsync(customer);
        Assert.Equal((2L, Usd(70)), (held.EntryCount, held.Balance.Available));

        // Outside its scope it writes nothing and answers null, for the record path to give the error.
        Assert.Null(await fast.TryReserveAsync(Reservation(Tenant, Hold(customer.Id, 70.01m)), default));
        Assert.Null(await fast.TryReserveAsync(Reservation(Tenant, Hold(LedgerAccountId.New(Clock), 1)), default));
        Assert.Null(await fast.TryReserveAsync(Reservation(OtherTenant, Hold(customer.Id, 1)), default));
        LedgerFastResolution Post(decimal? amount) =>
            new(Tenant, reserved.Id, LedgerTransactionId.New(Clock), false, amount is { } value ? Usd(value) : null, Assets.All, now);
        Assert.Null(await fast.TryResolveAsync(Post(30.01m), default));
        Assert.Null(await fast.TryResolveAsync(Post(1) with { TenantId = OtherTenant }, default));
        await AssertUnchangedAsync(held);

        var posted = await fast.TryResolveAsync(Post(20), default);

        Assert.NotNull(posted);
        Assert.Equal(posted, await Ledger.GetTransferAsync(Tenant, reserved.Id));
        Assert.Equal((LedgerTransferState.Posted, Usd(20), Usd(10), now), (posted.State, posted.PostedAmount, posted.ReleasedAmount, posted.ResolvedAt));
        Assert.Null(await fast.TryResolveAsync(Post(null), default));
        await FailsAsync(PaymentsKitErrorCodes.AlreadyResolved, () => Ledger.PostTransferAsync(Tenant, reserved.Id).AsTask());
        var after = await ReloadAsync(customer);
        Assert.Equal((3L, Usd(20), Usd(0), Usd(80)), (after.EntryCount, after.DebitsPosted, after.DebitsPending, after.Balance.Available));
        Assert.True((await Ledger.ReconcileAsync(Tenant)).IsClean);
    }

    [Fact]
    public async Task The_One_Call_Path_Posts_Balanced_Transactions_The_Record_Path_Reads()
    {
        var (customer, cash, merchant) = await FundedCustomerAsync(100);
        var fast = (ILedgerFastPath)Store;
        var now = Clock.GetCurrentInstant();
        LedgerFastTransaction Transaction(params LedgerPosting[] postings) =>
            new(Tenant, LedgerTransactionId.New(Clock), new PostLedgerTransactionRequest(postings) { EntryType = LedgerEntryType.Fee, Metadata = new Dictionary<string, string>() }, now);

        var posted = await fast.TryPostAsync(
            Transaction(LedgerPosting.Debit(customer.Id, Usd(60)), LedgerPosting.Credit(merchant.Id, Usd(55)), LedgerPosting.Credit(cash.Id, Usd(5))), default);

        Assert.NotNull(posted);
        var stored = await Ledger.GetTransactionAsync(Tenant, posted.Id);
        Assert.Equal(
            (LedgerTransactionKind.Posted, LedgerEntryType.Fee, now, 0L),
            (stored.Kind, stored.EntryType, stored.CreatedAt, stored.ReferenceSequence));
        Assert.Equal(posted.Postings, stored.Postings);
        Assert.Equal((Usd(60), Usd(40)), ((await ReloadAsync(customer)).DebitsPosted, (await ReloadAsync(customer)).Balance.Available));
        var before = await ReloadAsync(customer);

        // Overdrawing the customer or mixing in a foreign account writes nothing.
        Assert.Null(await fast.TryPostAsync(Transaction(LedgerPosting.Debit(customer.Id, Usd(40.01m)), LedgerPosting.Credit(merchant.Id, Usd(40.01m))), default));
        Assert.Null(await fast.TryPostAsync(Transaction(LedgerPosting.Debit(customer.Id, Usd(1)), LedgerPosting.Credit(LedgerAccountId.New(Clock), Usd(1))), default));
        await AssertUnchangedAsync(before);
    }

    [Fact]
    public Task Sixty_Four_Concurrent_Reservations_Over_Both_Paths_Never_Overdraw_One_Account() =>
        RaceSixtyFourReservationsOfTwentyAsync((i, customer, merchant) =>
        {
            var request = new ReserveLedgerTransferRequest(customer.Id, merchant.Id, Usd(20));
            return i % 2 == 0
                ? Ledger.ReserveAsync(Tenant, request).AsTask()
                : Store.ExecuteAsync((unit, ct) => Ledger.ReserveAsync(unit, Tenant, request, ct)).AsTask();
        });

    [Fact]
    public void Reservations_Racing_Over_Both_Paths_Never_Overdraw_One_Account_Meets_Specification()
    {
        var race = Gen.ListOf(Gen.Zip(Gen.Choose(1, 60), Gen.Elements(true, false)))
            .Where(r => r.Count is > 0 and <= 48);
        Prop.ForAll(Arb.From(race), reservations => Blocking(async () =>
        {
            // A fresh pair of accounts per run (codes are unique per tenant).
            var run = Guid.NewGuid().ToString("N");
            var cash = await OpenAsync("cash-" + run, LedgerSide.Debit);
            var customer = await OpenAsync("customer-" + run, LedgerSide.Credit, LedgerAccountFlags.DebitsMustNotExceedCredits);
            var merchant = await OpenAsync("merchant-" + run);
            await MoveAsync(cash, customer, Usd(500));
            var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var attempts = reservations.Select(r => Task.Run(async () =>
            {
                await gate.Task;
                var request = new ReserveLedgerTransferRequest(customer.Id, merchant.Id, Usd(r.Item1));
                return await WithRetriesAsync(() => r.Item2
                    ? Ledger.ReserveAsync(Tenant, request).AsTask()
                    : Store.ExecuteAsync((unit, ct) => Ledger.ReserveAsync(unit, Tenant, request, ct)).AsTask());
            })).ToArray();
            gate.SetResult();
            var held = (await Task.WhenAll(attempts)).OfType<LedgerTransfer>().ToList();

            // Every reservation that was refused would not have fitted beside those that hold funds.
            var total = held.Sum(t => t.Amount.Amount);
            Assert.True(total <= 500m);
            Assert.All(reservations.Where((_, i) => attempts[i].Result is null), r => Assert.True(total + r.Item1 > 500m));
            var now = await ReloadAsync(customer);
            Assert.Equal(Usd(total), now.DebitsPending);
            Assert.False(now.Balance.Available.IsNegative);
            Assert.Equal(1 + held.Count, now.EntryCount);
            Assert.True((await Ledger.ReconcileAsync(Tenant)).IsClean);
        })).Check(Config.QuickThrowOnFailure.WithMaxTest(ConcurrentPropertyIterations));
    }

    [Fact]
    public async Task Posts_And_Voids_Racing_Over_Both_Paths_Resolve_Each_Transfer_Once()
    {
        var (customer, _, merchant) = await FundedCustomerAsync(1_000);
        var holds = new List<LedgerTransfer>();
        for (var i = 0; i < 16; i++)
        {
            holds.Add(await ReserveAsync(customer, merchant, Usd(10)));
        }

        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var attempts = holds.SelectMany(hold => Enumerable.Range(0, 4).Select(i => Task.Run(async () =>
        {
            await gate.Task;
            return await WithRetriesAsync(() => (i % 4) switch
            {
                0 => Ledger.PostTransferAsync(Tenant, hold.Id).AsTask(),
                1 => Ledger.VoidTransferAsync(Tenant, hold.Id).AsTask(),
                2 => Store.ExecuteAsync((unit, ct) => Ledger.PostTransferAsync(unit, Tenant, hold.Id, Usd(4), ct)).AsTask(),
                _ => Store.ExecuteAsync((unit, ct) => Ledger.VoidTransferAsync(unit, Tenant, hold.Id, ct)).AsTask(),
            });
        }))).ToArray();
        gate.SetResult();
        var resolutions = (await Task.WhenAll(attempts)).OfType<LedgerTransfer>().ToList();

        Assert.Equal(holds.Count, resolutions.Count);
        Assert.Equal(holds.Select(h => h.Id).ToHashSet(), resolutions.Select(r => r.Id).ToHashSet());
        var posted = resolutions.Sum(r => r.PostedAmount.Amount);
        var now = await ReloadAsync(customer);
        Assert.Equal((Usd(0), Usd(posted), 1L + 16 + 16), (now.DebitsPending, now.DebitsPosted, now.EntryCount));
        Assert.True((await Ledger.ReconcileAsync(Tenant)).IsClean);
    }
}
