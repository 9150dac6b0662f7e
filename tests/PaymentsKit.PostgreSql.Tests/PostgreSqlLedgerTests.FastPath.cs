using System.Transactions;
using FsCheck;
using FsCheck.Fluent;
using Npgsql;
using PaymentsKit.Ledger;
using PaymentsKit.Storage;
using PaymentsKit.Testing;

namespace PaymentsKit.PostgreSql.Tests;

/// <summary>
/// The one-call ledger path (migration 0012, decision 0005; group-committed since migration 0018, decision 0008; planned by
/// the store and written on condition since migration 0027, decision 0024): its SQL entry ids, that operations sent in one
/// batch stay independent, and that a plan made on rows another writer changed is never written. What it writes and
/// declines, beside the record path, is the shared specification (tests/PaymentsKit.Core.Tests/Ledger/LedgerSpecification.FastPath.cs).
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

    [Fact]
    public async Task A_Plan_Made_On_Rows_Another_Host_Changed_Is_Made_Again_On_The_Rows_As_They_Are()
    {
        // Two stores on one database are two hosts: each plans on the rows it last read or wrote (decision 0024).
        var (customer, cash, merchant) = await FundedCustomerAsync(100);
        var database = await postgres.DatabaseForClassAsync(GetType());
        var logs = new RecordingLoggerFactory();
        await using var here = TestStores.Create(database, clock: Clock, loggerFactory: logs);
        await using var there = TestStores.Create(database, clock: Clock);
        var hereLedger = new LedgerService(here, Clock, Assets);
        var thereLedger = new LedgerService(there, Clock, Assets);

        var held = await hereLedger.ReserveAsync(Tenant, new ReserveLedgerTransferRequest(customer.Id, merchant.Id, Usd(10)));
        await thereLedger.PostTransactionAsync(Tenant, new PostLedgerTransactionRequest([LedgerPosting.Debit(cash.Id, Usd(50)), LedgerPosting.Credit(customer.Id, Usd(50))]));
        await thereLedger.VoidTransferAsync(Tenant, held.Id);

        // Here the customer still has 90 available and the transfer is pending; in the database 150 and voided.
        var large = await hereLedger.ReserveAsync(Tenant, new ReserveLedgerTransferRequest(customer.Id, merchant.Id, Usd(120)));
        await FailsAsync(PaymentsKitErrorCodes.AlreadyResolved, () => hereLedger.PostTransferAsync(Tenant, held.Id).AsTask());
        var small = await hereLedger.ReserveAsync(Tenant, new ReserveLedgerTransferRequest(customer.Id, merchant.Id, Usd(5)));
        await FailsAsync(PaymentsKitErrorCodes.InsufficientFunds, () => hereLedger.ReserveAsync(Tenant, new ReserveLedgerTransferRequest(customer.Id, merchant.Id, Usd(25.01m))).AsTask());

        Assert.Contains(logs.Entries, entry => entry.Message.Contains(PostgresErrorCodes.SerializationFailure, StringComparison.Ordinal));
        Assert.Equal(LedgerTransferState.Voided, (await Ledger.GetTransferAsync(Tenant, held.Id)).State);
        Assert.Equal([LedgerTransferState.Pending, LedgerTransferState.Pending], new[] { large.State, small.State });
        var account = await ReloadAsync(customer);
        Assert.Equal(Usd(25), account.Balance.Available);
        Assert.Equal(1 + 1 + 1 + 1 + 1 + 1, account.EntryCount);
        Assert.True((await Ledger.ReconcileAsync(Tenant)).IsClean);
    }

    [Fact]
    public async Task Reservations_From_Two_Hosts_Racing_For_One_Account_Never_Overdraw_It()
    {
        // 64 reservations of 5 against 100, half through each of two stores on one database, a quarter of them with an
        // idempotency key (the record path): exactly 20 hold, and the books are whole.
        var (customer, _, merchant) = await FundedCustomerAsync(100);
        var database = await postgres.DatabaseForClassAsync(GetType());
        await using var first = TestStores.Create(database, clock: Clock);
        await using var second = TestStores.Create(database, clock: Clock);
        LedgerService[] ledgers = [new(first, Clock, Assets), new(second, Clock, Assets)];
        using var start = new ManualResetEventSlim();
        var attempts = Enumerable.Range(0, 64).Select(i => Task.Run(async () =>
        {
            start.Wait();
            return await WithRetriesAsync(() => ledgers[i % 2].ReserveAsync(Tenant, new ReserveLedgerTransferRequest(customer.Id, merchant.Id, Usd(5))
            {
                IdempotencyKey = i % 4 == 3 ? "race-" + i : null,
            }).AsTask());
        })).ToList();
        start.Set();
        var held = (await Task.WhenAll(attempts)).OfType<LedgerTransfer>().ToList();

        Assert.Equal(20, held.Count);
        var account = await ReloadAsync(customer);
        Assert.Equal(Usd(0), account.Balance.Available);
        Assert.Equal(1 + 20, account.EntryCount);
        Assert.True((await Ledger.ReconcileAsync(Tenant)).IsClean);
    }

    [Fact]
    public async Task The_Write_Refuses_A_Plan_Whose_Rows_Changed_And_Writes_Nothing()
    {
        var (customer, _, merchant) = await FundedCustomerAsync(100);
        var voided = await Ledger.ReserveAsync(Tenant, new ReserveLedgerTransferRequest(customer.Id, merchant.Id, Usd(10)));
        await Ledger.VoidTransferAsync(Tenant, voided.Id);
        var version = await VersionOfAsync(customer);
        await using var connection = new NpgsqlConnection(await postgres.DatabaseForClassAsync(GetType()));
        await connection.OpenAsync();

        // An account planned at an earlier version, and a transfer planned as pending at its current version: each alone
        // makes the write raise serialization_failure before anything is kept.
        (string Sql, object[] Values)[] stale =
        [
            ("SELECT paymentskit_ledger_write(now(), ARRAY[$1]::uuid[], ARRAY[$2]::bigint[], ARRAY[$2 + 1]::bigint[], '{1}', '{1}', '{0}', '{0}', '{9}', "
                + "'{2026-01-01T00:00:00Z}'" + string.Concat(Enumerable.Repeat(", NULL", 36)) + ")", [customer.Id.Value, version - 1]),
            ("SELECT paymentskit_ledger_write(now()" + string.Concat(Enumerable.Repeat(", NULL", 39)) + ", ARRAY[$1]::uuid[], ARRAY[$2]::bigint[], '{1}', "
                + "'{posted}', '{10.00}', '{0.00}')", [voided.Id.Value, 2L]),
        ];
        foreach (var (sql, values) in stale)
        {
#pragma warning disable CA2100 // The test's own statements.
            await using var command = new NpgsqlCommand(sql, connection);
#pragma warning restore CA2100
            foreach (var value in values)
            {
                command.Parameters.Add(new NpgsqlParameter { Value = value });
            }

            var refused = await Assert.ThrowsAsync<PostgresException>(() => command.ExecuteScalarAsync());
            Assert.Equal(PostgresErrorCodes.SerializationFailure, refused.SqlState);
        }

        Assert.Equal(version, await VersionOfAsync(customer));
        Assert.Equal(LedgerTransferState.Voided, (await Ledger.GetTransferAsync(Tenant, voided.Id)).State);
        Assert.Equal(Usd(100), (await ReloadAsync(customer)).Balance.Available);
        Assert.True((await Ledger.ReconcileAsync(Tenant)).IsClean);
    }

    [Fact]
    public async Task Amounts_Written_By_The_Plan_Carry_Exactly_The_Assets_Scale()
    {
        // The store rounds and pads every amount it plans (decision 0024), as the record path's documents write them.
        var (customer, _, merchant) = await FundedCustomerAsync(100);
        var hold = await Ledger.ReserveAsync(Tenant, new ReserveLedgerTransferRequest(customer.Id, merchant.Id, Usd(7.5m)));
        await Ledger.PostTransferAsync(Tenant, hold.Id, Usd(2));
        await using var connection = new NpgsqlConnection(await postgres.DatabaseForClassAsync(GetType()));
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(
            "SELECT a.debits_posted::text, a.debits_pending::text, t.amount::text, t.posted_amount::text, t.released_amount::text, "
            + "(SELECT string_agg(e.posted_change::text || '/' || e.pending_change::text || '/' || e.debits_posted::text, ' ' ORDER BY e.sequence) "
            + "FROM ledger_entries AS e WHERE e.account_id = a.ref), "
            + "(SELECT string_agg(x.posting_amounts::text, ' ' ORDER BY x.kind) FROM ledger_transactions AS x WHERE x.transfer_id = t.ref) "
            + "FROM ledger_accounts AS a, ledger_transfers AS t WHERE a.id = $1 AND t.id = $2",
            connection);
        command.Parameters.Add(new NpgsqlParameter { Value = customer.Id.Value });
        command.Parameters.Add(new NpgsqlParameter { Value = hold.Id.Value });
        await using var reader = await command.ExecuteReaderAsync();
        Assert.True(await reader.ReadAsync());
        Assert.Equal(
            ["2.00", "0.00", "7.50", "2.00", "5.50", "100.00/0.00/0.00 0.00/7.50/0.00 2.00/-7.50/2.00", "{7.50,7.50} {2.00,2.00}"],
            Enumerable.Range(0, 7).Select(reader.GetString).ToArray());
    }

    [Fact]
    public async Task Any_Operation_Sequence_Over_Two_Hosts_Keeps_The_Books_Balanced_Meets_Specification()
    {
        // The shared model-checked property, with operations taking turns through this store and a second store on the
        // same database: each plans on rows the other has moved on (decision 0024), and every balance must still be the model's.
        await using var other = TestStores.Create(await postgres.DatabaseForClassAsync(GetType()), clock: Clock);
        var otherHost = new LedgerService(other, Clock, Assets);
        Prop.ForAll(Arb.From(Gen.ListOf(OperationGen)), operations => Blocking(() => RunSequenceAsync(operations, otherHost)))
            .Check(Config.QuickThrowOnFailure.WithMaxTest(PropertyIterations).WithEndSize(60));
    }

    [Fact]
    public async Task Inside_An_Ambient_Transaction_The_Ledger_Commits_Or_Rolls_Back_With_It_And_Keeps_Nothing_Rolled_Back()
    {
        // A batch is shared by callers and commits on its own, so inside a TransactionScope the ledger takes the record
        // path (whose connection enlists); the store must never keep a state a rolled-back scope wrote (decision 0024).
        var (customer, cash, merchant) = await FundedCustomerAsync(100);
        var database = await postgres.DatabaseForClassAsync(GetType());
        await using var here = TestStores.Create(database, clock: Clock);
        await using var there = TestStores.Create(database, clock: Clock);
        var hereLedger = new LedgerService(here, Clock, Assets);
        var thereLedger = new LedgerService(there, Clock, Assets);
        await hereLedger.ReserveAsync(Tenant, new ReserveLedgerTransferRequest(customer.Id, merchant.Id, Usd(1)));

        using (new TransactionScope(TransactionScopeAsyncFlowOption.Enabled))
        {
            var rolledBack = await hereLedger.ReserveAsync(Tenant, new ReserveLedgerTransferRequest(customer.Id, merchant.Id, Usd(10)));
            Assert.Equal(LedgerTransferState.Pending, rolledBack.State);
        }

        using (var scope = new TransactionScope(TransactionScopeAsyncFlowOption.Enabled))
        {
            await hereLedger.ReserveAsync(Tenant, new ReserveLedgerTransferRequest(customer.Id, merchant.Id, Usd(20)));
            scope.Complete();
        }

        await thereLedger.PostTransactionAsync(Tenant, new PostLedgerTransactionRequest(
            [LedgerPosting.Debit(cash.Id, Usd(60)), LedgerPosting.Credit(customer.Id, Usd(50)), LedgerPosting.Credit(merchant.Id, Usd(10))]));
        await hereLedger.ReserveAsync(Tenant, new ReserveLedgerTransferRequest(customer.Id, merchant.Id, Usd(5)));

        var account = await ReloadAsync(customer);
        Assert.Equal(Usd(100 - 1 - 20 + 50 - 5), account.Balance.Available);
        Assert.Equal(1 + 1 + 1 + 1 + 1, account.EntryCount);
        Assert.True((await Ledger.ReconcileAsync(Tenant)).IsClean);
    }

    [Fact]
    public async Task A_Sum_That_Cannot_Keep_The_Assets_Scale_Is_An_Overflow_And_Writes_Nothing()
    {
        // ETH has 18 decimal places: 50,000,000,000.000000000000000001 + 50,000,000,000 needs 30 significant digits, more
        // than a decimal holds. The plan declines it, as the record path refuses it, rather than writing a rounded balance.
        var pool = await OpenAsync("eth-pool", LedgerSide.Debit, asset: AssetRegistry.Eth);
        var wallet = await OpenAsync("eth-wallet", LedgerSide.Credit, asset: AssetRegistry.Eth);
        var odd = Money.Of(50_000_000_000.000000000000000001m, AssetRegistry.Eth);
        await MoveAsync(pool, wallet, odd);

        await FailsAsync(PaymentsKitErrorCodes.ArithmeticOverflow, () => MoveAsync(pool, wallet, Money.Of(50_000_000_000m, AssetRegistry.Eth)));

        var account = await ReloadAsync(wallet);
        Assert.Equal(odd, account.CreditsPosted);
        Assert.Equal(1, account.EntryCount);
        Assert.True((await Ledger.ReconcileAsync(Tenant)).IsClean);
    }

    [Fact]
    public async Task Kept_Balances_That_Decline_An_Operation_Are_Read_Again_Before_It_Is_Declined()
    {
        // The record path (here a deposit with an idempotency key) moves an account this store keeps; a plan on the kept,
        // lower balance would decline a reservation the account can now afford, so the store reads it again first.
        var (customer, cash, merchant) = await FundedCustomerAsync(100);
        await using var here = TestStores.Create(await postgres.DatabaseForClassAsync(GetType()), clock: Clock);
        var hereLedger = new LedgerService(here, Clock, Assets);
        await hereLedger.ReserveAsync(Tenant, new ReserveLedgerTransferRequest(customer.Id, merchant.Id, Usd(1)));
        await hereLedger.PostTransactionAsync(Tenant, new PostLedgerTransactionRequest([LedgerPosting.Debit(cash.Id, Usd(1000)), LedgerPosting.Credit(customer.Id, Usd(1000))])
        {
            IdempotencyKey = "deposit",
        });

        var reserved = await ((ILedgerFastPath)here).TryReserveAsync(
            new(Tenant, LedgerTransferId.New(Clock), LedgerTransactionId.New(Clock), new ReserveLedgerTransferRequest(customer.Id, merchant.Id, Usd(200)), Clock.GetCurrentInstant()),
            default);

        Assert.NotNull(reserved);
        Assert.Equal(Usd(100 + 1000 - 1 - 200), (await ReloadAsync(customer)).Balance.Available);
        Assert.True((await Ledger.ReconcileAsync(Tenant)).IsClean);
    }

    [Fact]
    public async Task After_The_Server_Is_Reached_Anew_Nothing_Kept_Before_Is_Written_Over_The_Rows()
    {
        // A restore or failover can bring back a row at a version this store kept, with other values (simulated here by a
        // change that keeps the version, then every connection dropped). The store must not plan on what it kept before.
        var (customer, _, merchant) = await FundedCustomerAsync(100);
        var database = await postgres.DatabaseForClassAsync(GetType());
        var name = "reached-anew-" + Guid.NewGuid().ToString("N");
        await using var here = TestStores.Create(database + ";Application Name=" + name, clock: Clock);
        var hereLedger = new LedgerService(here, Clock, Assets);
        await hereLedger.ReserveAsync(Tenant, new ReserveLedgerTransferRequest(customer.Id, merchant.Id, Usd(10)));

        await using (var connection = new NpgsqlConnection(database))
        {
            await connection.OpenAsync();
            await using var restored = new NpgsqlCommand("UPDATE ledger_accounts SET debits_pending = 0 WHERE id = $1", connection);
            restored.Parameters.Add(new NpgsqlParameter { Value = customer.Id.Value });
            Assert.Equal(1, await restored.ExecuteNonQueryAsync());
            await using var dropped = new NpgsqlCommand("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1", connection);
            dropped.Parameters.Add(new NpgsqlParameter { Value = name });
            Assert.True((long)(await dropped.ExecuteScalarAsync())! > 0);
        }

        // The store's pooled connections are gone: a call may fail on one before a new one is opened.
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                await hereLedger.ReserveAsync(Tenant, new ReserveLedgerTransferRequest(customer.Id, merchant.Id, Usd(5)));
                break;
            }
            catch (PaymentsKitException ex) when (ex.Code == PaymentsKitErrorCodes.StorageFailure && attempt < 20)
            {
            }
        }

        Assert.Equal(Usd(5), (await ReloadAsync(customer)).DebitsPending);
    }
}
