using FsCheck;
using FsCheck.Fluent;
using Npgsql;
using PaymentsKit.Ledger;
using PaymentsKit.Storage;

namespace PaymentsKit.PostgreSql.Tests;

/// <summary>
/// The one-call ledger path (migration 0012, decision 0005): its SQL entry ids. What it writes and declines, beside the record
/// path, is the shared specification (tests/PaymentsKit.Core.Tests/Ledger/LedgerSpecification.FastPath.cs).
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
}
