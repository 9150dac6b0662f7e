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
}
