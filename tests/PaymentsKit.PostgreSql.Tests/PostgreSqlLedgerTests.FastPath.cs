using FsCheck;
using FsCheck.Fluent;
using Npgsql;
using PaymentsKit.Ledger;
using PaymentsKit.Storage;

namespace PaymentsKit.PostgreSql.Tests;

/// <summary>
/// The one-call ledger path (migration 0012, decision 0005; group-committed since migration 0018, decision 0008): its SQL
/// entry ids, and that operations sent in one batch stay independent. What it writes and declines, beside the record path,
/// is the shared specification (tests/PaymentsKit.Core.Tests/Ledger/LedgerSpecification.FastPath.cs).
/// </summary>
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
    public async Task Operations_Sent_Together_Are_Accepted_Or_Declined_Each_On_Its_Own()
    {
        var (customer, _, merchant) = await FundedCustomerAsync(100);
        var fast = (ILedgerFastPath)Store;
        var now = Clock.GetCurrentInstant();
        LedgerFastReservation Hold(LedgerAccountId from, decimal amount) =>
            new(Tenant, LedgerTransferId.New(Clock), LedgerTransactionId.New(Clock), new ReserveLedgerTransferRequest(from, merchant.Id, Usd(amount)), now);
        var resolved = await Ledger.ReserveAsync(Tenant, new ReserveLedgerTransferRequest(customer.Id, merchant.Id, Usd(10)));
        await Ledger.PostTransferAsync(Tenant, resolved.Id);
        var taken = Hold(customer.Id, 1);
        Assert.NotNull(await fast.TryReserveAsync(taken, default));

        // Released together, these queue while a batch is in flight and go out together: 18 holds of 5 on the 89 left (17 fit),
        // holds on an unknown account, a post of a resolved transfer, and a hold whose transfer id is taken (it fails the batch's
        // statement, so the batch reruns each operation alone).
        using var start = new ManualResetEventSlim();
        var holds = Enumerable.Range(0, 18).Select(_ => Hold(customer.Id, 5)).ToList();
        var calls = holds.Select(h => Task.Run(async () => { start.Wait(); return (object?)await fast.TryReserveAsync(h, default); }))
            .Append(Task.Run(async () => { start.Wait(); return (object?)await fast.TryReserveAsync(Hold(LedgerAccountId.New(Clock), 1), default); }))
            .Append(Task.Run(async () =>
            {
                start.Wait();
                return (object?)await fast.TryResolveAsync(new(Tenant, resolved.Id, LedgerTransactionId.New(Clock), false, null, Assets.All, now), default);
            }))
            .ToList();
        var duplicate = Task.Run(async () => { start.Wait(); return await fast.TryReserveAsync(taken with { TransactionId = LedgerTransactionId.New(Clock) }, default); });
        start.Set();
        var results = await Task.WhenAll(calls);

        Assert.Equal(17, results.Take(18).Count(r => r is LedgerTransfer));
        Assert.All(results.Skip(18), Assert.Null);
        await FailsAsync(PaymentsKitErrorCodes.StorageFailure, () => duplicate);
        var account = await ReloadAsync(customer);
        Assert.Equal(Usd(4), account.Balance.Available);
        Assert.Equal(2 + 1 + 17, account.EntryCount - 1);
        Assert.True((await Ledger.ReconcileAsync(Tenant)).IsClean);
    }

    [Fact]
    public async Task A_Batch_Mixing_Every_Operation_Answers_Each_As_The_Record_Path_Reads_It()
    {
        var (customer, cash, merchant) = await FundedCustomerAsync(100);
        var fast = (ILedgerFastPath)Store;
        var toPost = await Ledger.ReserveAsync(Tenant, new ReserveLedgerTransferRequest(customer.Id, merchant.Id, Usd(10)));
        var toVoid = await Ledger.ReserveAsync(Tenant, new ReserveLedgerTransferRequest(customer.Id, merchant.Id, Usd(5)));
        var lastChange = (await ReloadAsync(customer)).UpdatedAt;
        var now = Clock.GetCurrentInstant();
        var earlier = lastChange - NodaTime.Duration.FromHours(1);
        LedgerFastResolution Resolve(LedgerTransfer transfer, bool isVoid, decimal? amount) =>
            new(Tenant, transfer.Id, LedgerTransactionId.New(Clock), isVoid, amount is { } value ? Usd(value) : null, Assets.All, now);

        // Released together, they queue behind the first and go out as one batch: the answers of reservations and posted
        // transactions are built from the instant the batch answers, a resolution's from the document it answers.
        using var start = new ManualResetEventSlim();
        Task<T?> Call<T>(Func<ValueTask<T?>> call)
            where T : class => Task.Run(async () => { start.Wait(); return await call(); });
        var reserve = Call(() => fast.TryReserveAsync(
            new(Tenant, LedgerTransferId.New(Clock), LedgerTransactionId.New(Clock), new ReserveLedgerTransferRequest(customer.Id, merchant.Id, Usd(7))
            {
                EntryType = LedgerEntryType.Reserve,
                Description = "hold",
                Metadata = new Dictionary<string, string> { ["order"] = "7" },
            }, earlier),
            default));
        var fee = Call(() => fast.TryPostAsync(
            new(Tenant, LedgerTransactionId.New(Clock), new PostLedgerTransactionRequest([LedgerPosting.Debit(customer.Id, Usd(3)), LedgerPosting.Credit(cash.Id, Usd(3))])
            {
                EntryType = LedgerEntryType.Fee,
                Description = "fee",
                Metadata = new Dictionary<string, string> { ["k"] = "v" },
            }, now),
            default));
        var overdraw = Call(() => fast.TryReserveAsync(
            new(Tenant, LedgerTransferId.New(Clock), LedgerTransactionId.New(Clock), new ReserveLedgerTransferRequest(customer.Id, merchant.Id, Usd(1000)), now), default));
        var post = Call(() => fast.TryResolveAsync(Resolve(toPost, false, 4), default));
        var voidTwice = Call(() => fast.TryResolveAsync(Resolve(toPost, true, null), default));
        var voided = Call(() => fast.TryResolveAsync(Resolve(toVoid, true, null), default));
        start.Set();
        await Task.WhenAll(reserve, fee, overdraw, post, voidTwice, voided);

        var reserved = Assert.IsType<LedgerTransfer>(await reserve);
        Assert.Equal(reserved, await Ledger.GetTransferAsync(Tenant, reserved.Id));
        Assert.Equal((lastChange, Usd(7), LedgerTransferState.Pending), (reserved.CreatedAt, reserved.Amount, reserved.State));
        var pending = await Ledger.GetTransactionAsync(Tenant, reserved.PendingTransactionId);
        Assert.Equal((LedgerTransactionKind.Pending, "hold", "7", lastChange), (pending.Kind, pending.Description, pending.Metadata["order"], pending.CreatedAt));

        var posted = Assert.IsType<LedgerTransaction>(await fee);
        var stored = await Ledger.GetTransactionAsync(Tenant, posted.Id);
        Assert.Equal(stored, posted with { Postings = stored.Postings, Metadata = stored.Metadata });
        Assert.Equal(stored.Postings, posted.Postings);
        Assert.Equal(stored.Metadata, posted.Metadata);
        Assert.Equal((LedgerTransactionKind.Posted, LedgerEntryType.Fee, "fee", now), (posted.Kind, posted.EntryType, posted.Description, posted.CreatedAt));

        Assert.Null(await overdraw);
        var resolvedOnce = Assert.Single(new[] { await post, await voidTwice }.OfType<LedgerTransfer>());
        Assert.Equal(resolvedOnce, await Ledger.GetTransferAsync(Tenant, toPost.Id));
        var released = Assert.IsType<LedgerTransfer>(await voided);
        Assert.Equal(released, await Ledger.GetTransferAsync(Tenant, toVoid.Id));
        Assert.Equal((LedgerTransferState.Voided, Usd(0), Usd(5)), (released.State, released.PostedAmount, released.ReleasedAmount));
        Assert.True((await Ledger.ReconcileAsync(Tenant)).IsClean);
    }

    [Fact]
    public async Task Batches_Sent_One_After_Another_Carry_Nothing_Of_The_Batch_Before()
    {
        // One caller at a time: each call is a batch of its own, sent with the flusher's reused command and lists (decision 0022).
        // A batch with every optional value and three postings, then bare ones with fewer elements: nothing of the first may
        // reach the others' rows (description, metadata, entry type, postings, amounts).
        var (customer, cash, merchant) = await FundedCustomerAsync(100);
        var rich = await Ledger.PostTransactionAsync(Tenant, new PostLedgerTransactionRequest(
            [LedgerPosting.Debit(customer.Id, Usd(3)), LedgerPosting.Credit(cash.Id, Usd(2)), LedgerPosting.Credit(merchant.Id, Usd(1))])
        {
            EntryType = LedgerEntryType.Fee,
            Description = "fee",
            Metadata = new Dictionary<string, string> { ["k"] = "v" },
        });
        var bare = await Ledger.PostTransactionAsync(Tenant, new PostLedgerTransactionRequest([LedgerPosting.Debit(customer.Id, Usd(1)), LedgerPosting.Credit(cash.Id, Usd(1))]));
        var hold = await Ledger.ReserveAsync(Tenant, new ReserveLedgerTransferRequest(customer.Id, merchant.Id, Usd(2)));
        var posted = await Ledger.PostTransferAsync(Tenant, hold.Id, Usd(1.5m));
        var pending = await Ledger.ReserveAsync(Tenant, new ReserveLedgerTransferRequest(customer.Id, merchant.Id, Usd(4)) { Description = "second", Metadata = new Dictionary<string, string> { ["n"] = "2" } });
        var voided = await Ledger.VoidTransferAsync(Tenant, pending.Id);

        foreach (var transaction in new[] { rich, bare })
        {
            var stored = await Ledger.GetTransactionAsync(Tenant, transaction.Id);
            Assert.Equal(stored, transaction with { Postings = stored.Postings, Metadata = stored.Metadata });
            Assert.Equal(stored.Postings, transaction.Postings);
            Assert.Equal(stored.Metadata, transaction.Metadata);
        }

        var bareStored = await Ledger.GetTransactionAsync(Tenant, bare.Id);
        Assert.Equal((null, null, 2, 0), (bareStored.Description, bareStored.EntryType, bareStored.Postings.Count, bareStored.Metadata.Count));
        Assert.Equal(hold with { State = LedgerTransferState.Posted, PostedAmount = Usd(1.5m), ReleasedAmount = Usd(0.5m), ResolvingTransactionId = posted.ResolvingTransactionId, ResolvedAt = posted.ResolvedAt }, posted);
        Assert.Equal(posted, await Ledger.GetTransferAsync(Tenant, hold.Id));
        var holdTransaction = await Ledger.GetTransactionAsync(Tenant, hold.PendingTransactionId);
        Assert.Equal((null, 0, LedgerEntryType.Reserve), (holdTransaction.Description, holdTransaction.Metadata.Count, holdTransaction.EntryType));
        var secondTransaction = await Ledger.GetTransactionAsync(Tenant, pending.PendingTransactionId);
        Assert.Equal(("second", "2"), (secondTransaction.Description, secondTransaction.Metadata["n"]));
        Assert.Equal((LedgerTransferState.Voided, Usd(0), Usd(4)), (voided.State, voided.PostedAmount, voided.ReleasedAmount));
        Assert.Equal(voided, await Ledger.GetTransferAsync(Tenant, pending.Id));
        Assert.Equal(Usd(100 - 3 - 1 - 1.5m), (await ReloadAsync(customer)).Balance.Available);
        Assert.True((await Ledger.ReconcileAsync(Tenant)).IsClean);
    }
}
