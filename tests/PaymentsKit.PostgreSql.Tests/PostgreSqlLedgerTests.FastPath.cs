using FsCheck;
using FsCheck.Fluent;
using Npgsql;
using PaymentsKit.Ledger;
using PaymentsKit.Storage;

namespace PaymentsKit.PostgreSql.Tests;

/// <summary>The one-call ledger path (migration 0012, decision 0005) beside the record path.</summary>
public sealed partial class PostgreSqlLedgerTests
{
    [Fact]
    public async Task Entry_Ids_Derived_In_Sql_Equal_The_Services_Meets_Specification()
    {
        await OpenAsync("migrated");
        await using var connection = new NpgsqlConnection(await postgres.DatabaseForClassAsync(GetType()));
        await connection.OpenAsync();
        var entry =
            from a in Gen.Choose(int.MinValue, int.MaxValue)
            from b in Gen.Choose(int.MinValue, int.MaxValue)
            from c in Gen.Choose(int.MinValue, int.MaxValue)
            from d in Gen.Choose(int.MinValue, int.MaxValue)
            from sequence in Gen.Choose(1, int.MaxValue)
            from shift in Gen.Choose(0, 31)
            select unchecked((
                Account: new Guid((uint)a, (ushort)b, (ushort)(b >> 16), (byte)c, (byte)(c >> 8), (byte)(c >> 16), (byte)(c >> 24), (byte)d, (byte)(d >> 8), (byte)(d >> 16), (byte)(d >> 24)),
                Sequence: (long)sequence << shift));

        Prop.ForAll(Arb.From(Gen.NonEmptyListOf(entry)), entries =>
        {
            using var command = new NpgsqlCommand(
                "SELECT paymentskit_ledger_entry_id(a, s) FROM unnest($1::uuid[], $2::bigint[]) WITH ORDINALITY AS t (a, s, n) ORDER BY n", connection);
            command.Parameters.Add(new NpgsqlParameter { Value = entries.Select(e => e.Account).ToArray() });
            command.Parameters.Add(new NpgsqlParameter { Value = entries.Select(e => e.Sequence).ToArray() });
            using var reader = command.ExecuteReader();
            foreach (var (account, sequence) in entries)
            {
                Assert.True(reader.Read());
                Assert.Equal(LedgerCollections.EntryId(LedgerAccountId.FromGuid(account), sequence), reader.GetGuid(0));
            }

            return true;
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(40));
    }

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
}
