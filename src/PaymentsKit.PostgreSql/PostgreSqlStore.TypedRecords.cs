using System.Text.Json;
using Npgsql;
using NpgsqlTypes;
using PaymentsKit.Ledger;
using PaymentsKit.Storage;

namespace PaymentsKit.PostgreSql;

/// <summary>
/// The commit's set-based path for the collections kept in typed tables behind <c>INSTEAD OF</c> views (the ledger's
/// accounts, transactions, entries and transfers, decisions 0009 and 0013). Through a view, every row of a commit was
/// a PL/pgSQL trigger call and an INSERT or UPDATE of its own; here a commit writes each such collection's inserts, and
/// its updates, with one statement straight into the typed table, decomposing the batch's documents as the views'
/// triggers do (migration 0024, decision 0020). The views and their triggers stay for every other writer.
/// </summary>
public sealed partial class PostgreSqlStore
{
    // Keyed by the view a collection names as its table; only the collection the view shows takes this path.
    private static readonly Dictionary<string, TypedTable> TypedTables = new(StringComparer.Ordinal)
    {
        [LedgerCollections.Accounts.Table] = new(LedgerCollections.Accounts.Name, TypedRecordSql.AccountInsert, TypedRecordSql.AccountUpdate, TypedRecordSql.AccountUpdateOne),
        [LedgerCollections.Transactions.Table] = new(LedgerCollections.Transactions.Name, TypedRecordSql.TransactionInsert, null, null),
        [LedgerCollections.Entries.Table] = new(LedgerCollections.Entries.Name, TypedRecordSql.EntryInsert, null, null),
        [LedgerCollections.Transfers.Table] = new(LedgerCollections.Transfers.Name, TypedRecordSql.TransferInsert, TypedRecordSql.TransferUpdate, TypedRecordSql.TransferUpdateOne),
    };

    /// <summary>The set statement that writes <paramref name="write"/> with the others of its kind, or null for a row of its own.</summary>
    private static string? TypedSqlFor(PendingWrite write) =>
        TypedTables.TryGetValue(write.Table, out var typed) && string.Equals(typed.Collection, write.Collection, StringComparison.Ordinal)
            ? write.IsInsert ? typed.Insert : typed.Update
            : null;

    /// <summary>The writes of typed collections, by set statement; null when the commit has none.</summary>
    private static Dictionary<string, List<PendingWrite>>? TypedGroups(IReadOnlyList<PendingWrite> writes)
    {
        Dictionary<string, List<PendingWrite>>? groups = null;
        foreach (var write in writes)
        {
            if (TypedSqlFor(write) is { } sql)
            {
                groups ??= new Dictionary<string, List<PendingWrite>>(StringComparer.Ordinal);
                if (!groups.TryGetValue(sql, out var group))
                {
                    groups[sql] = group = [];
                }

                group.Add(write);
            }
        }

        return groups;
    }

    /// <summary>
    /// One statement writing <paramref name="group"/> (inserts or updates of one typed collection). Updates go in id
    /// order, so two commits lock shared rows in the same order.
    /// </summary>
    private NpgsqlBatchCommand AddTyped(NpgsqlBatch batch, string sql, List<PendingWrite> group, DateTime now)
    {
        if (!group[0].IsInsert)
        {
            group.Sort(static (a, b) => a.Id.CompareTo(b.Id));
            if (group.Count == 1)
            {
                sql = TypedTables[group[0].Table].UpdateOne!;
            }
        }

        var ids = new Guid[group.Count];
        var tenants = new Guid[group.Count];
        var versions = new long[group.Count];
        var documents = new string[group.Count];
        for (var i = 0; i < group.Count; i++)
        {
            ids[i] = group[i].Id;
            tenants[i] = group[i].TenantId;
            versions[i] = group[i].ExpectedVersion;
            documents[i] = JsonSerializer.Serialize(group[i].Record, group[i].RecordType, _json);
        }

        var command = Add(batch, sql, group[0].Collection, ids, tenants, new NpgsqlParameter { Value = documents, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Jsonb }, now);
        if (!group[0].IsInsert)
        {
            command.Parameters.Add(new NpgsqlParameter { Value = versions });
        }

        return command;
    }

    /// <summary>
    /// The write of a set statement that failed: <c>paymentskit_expect_written</c> names the first record the
    /// statement did not write (stale version, or id already taken) in its message.
    /// </summary>
    private static PendingWrite Culprit(IReadOnlyList<PendingWrite> group, PostgresException ex) =>
        group.FirstOrDefault(w => ex.MessageText.Contains(w.Id.ToString(), StringComparison.Ordinal)) ?? group[0];

    /// <summary>
    /// A collection kept in a typed table and its set statements (null: no update path); <paramref name="UpdateOne"/> is
    /// the update of a single record, whose row the generic plan finds by the primary key.
    /// </summary>
    private sealed record TypedTable(string Collection, string Insert, string? Update, string? UpdateOne);

    /// <summary>
    /// The set statements. Parameters: $1 collection, $2 ids, $3 tenants, $4 documents, $5 the commit's time, and
    /// for updates $6 the expected versions. Inserts skip a row whose id or other unique value is taken and updates
    /// one whose version (or tenant) does not match, and <c>paymentskit_expect_written</c> then raises what the row's
    /// own statement would have (unique violation, <c>PKV01</c>), so nothing of the commit is written. Each column
    /// is taken from the document as the view's trigger takes it (migrations 0019 and 0021).
    /// </summary>
    private static class TypedRecordSql
    {
        private const string Rows = "unnest($2::uuid[], $3::uuid[], $4::jsonb[]) AS w (id, tenant_id, d)";

        private const string UpdateRows = "unnest($2::uuid[], $3::uuid[], $4::jsonb[], $6::bigint[]) AS w (id, tenant_id, d, version)";

        // The same parameters read as one row. A generic plan prices id = ANY ($2) at ten ids, so on a table of a few
        // thousand rows it chose a sequential scan for every update of one record (the intents scenario's transfer
        // update read ≈ 300 rows per call); the first element is one id, found by the primary key.
        private const string OneUpdateRow = "(SELECT ($2::uuid[])[1] AS id, ($3::uuid[])[1] AS tenant_id, ($4::jsonb[])[1] AS d, ($6::bigint[])[1] AS version) AS w";

        // The check function runs only when a row was not written.
        private const string ExpectInserted =
            ") SELECT CASE WHEN (SELECT count(*) FROM written) <> cardinality($2) THEN paymentskit_expect_written($1, $2, NULL, ARRAY(SELECT id FROM written)) END";

        private const string ExpectUpdated =
            ") SELECT CASE WHEN (SELECT count(*) FROM written) <> cardinality($2) THEN paymentskit_expect_written($1, $2, $6, ARRAY(SELECT id FROM written)) END";

        private const string AccountAsset =
            "CASE WHEN w.d -> 'credits_posted' ->> 'asset' IS NOT DISTINCT FROM w.d -> 'debits_posted' ->> 'asset' "
            + "AND w.d -> 'debits_pending' ->> 'asset' IS NOT DISTINCT FROM w.d -> 'debits_posted' ->> 'asset' "
            + "AND w.d -> 'credits_pending' ->> 'asset' IS NOT DISTINCT FROM w.d -> 'debits_posted' ->> 'asset' THEN w.d -> 'debits_posted' ->> 'asset' "
            + "ELSE paymentskit_ledger_mixed_assets('ledger account %s has balances in more than one asset', w.id) END";

        private const string TransferAsset =
            "CASE WHEN w.d -> 'posted_amount' ->> 'asset' IS NOT DISTINCT FROM w.d -> 'amount' ->> 'asset' "
            + "AND w.d -> 'released_amount' ->> 'asset' IS NOT DISTINCT FROM w.d -> 'amount' ->> 'asset' THEN w.d -> 'amount' ->> 'asset' "
            + "ELSE paymentskit_ledger_mixed_assets('ledger transfer %s has amounts in more than one asset', w.id) END";

        private const string EntryAsset =
            "CASE WHEN w.d -> 'pending_change' ->> 'asset' IS NOT DISTINCT FROM w.d -> 'posted_change' ->> 'asset' "
            + "AND w.d -> 'debits_posted' ->> 'asset' IS NOT DISTINCT FROM w.d -> 'posted_change' ->> 'asset' "
            + "AND w.d -> 'credits_posted' ->> 'asset' IS NOT DISTINCT FROM w.d -> 'posted_change' ->> 'asset' "
            + "AND w.d -> 'debits_pending' ->> 'asset' IS NOT DISTINCT FROM w.d -> 'posted_change' ->> 'asset' "
            + "AND w.d -> 'credits_pending' ->> 'asset' IS NOT DISTINCT FROM w.d -> 'posted_change' ->> 'asset' THEN w.d -> 'posted_change' ->> 'asset' "
            + "ELSE paymentskit_ledger_mixed_assets('ledger entry %s is not a first version in one asset', w.id) END";

        public const string AccountInsert =
            "WITH written AS (INSERT INTO ledger_accounts AS a (collection, id, tenant_id, version, created_at, updated_at, ref, tenant_ref, code, name, "
            + "normal_side, flags, metadata, asset, debits_posted, credits_posted, debits_pending, credits_pending, entry_count, created_instant, updated_instant) "
            + "SELECT $1, w.id, w.tenant_id, 1, $5, $5, w.d ->> 'id', w.d ->> 'tenant_id', w.d ->> 'code', w.d ->> 'name', w.d ->> 'normal_side', "
            + "w.d ->> 'flags', w.d -> 'metadata', " + AccountAsset + ", "
            + "(w.d -> 'debits_posted' ->> 'amount')::numeric, (w.d -> 'credits_posted' ->> 'amount')::numeric, "
            + "(w.d -> 'debits_pending' ->> 'amount')::numeric, (w.d -> 'credits_pending' ->> 'amount')::numeric, "
            + "(w.d ->> 'entry_count')::bigint, w.d ->> 'created_at', w.d ->> 'updated_at' FROM " + Rows + " "
            + "ON CONFLICT DO NOTHING RETURNING a.id" + ExpectInserted;

        private const string AccountSet =
            "WITH written AS (UPDATE ledger_accounts AS a SET version = a.version + 1, updated_at = $5, ref = w.d ->> 'id', tenant_ref = w.d ->> 'tenant_id', "
            + "code = w.d ->> 'code', name = w.d ->> 'name', normal_side = w.d ->> 'normal_side', flags = w.d ->> 'flags', metadata = w.d -> 'metadata', "
            + "asset = " + AccountAsset + ", "
            + "debits_posted = (w.d -> 'debits_posted' ->> 'amount')::numeric, credits_posted = (w.d -> 'credits_posted' ->> 'amount')::numeric, "
            + "debits_pending = (w.d -> 'debits_pending' ->> 'amount')::numeric, credits_pending = (w.d -> 'credits_pending' ->> 'amount')::numeric, "
            + "entry_count = (w.d ->> 'entry_count')::bigint, created_instant = w.d ->> 'created_at', updated_instant = w.d ->> 'updated_at' ";

        private const string AccountMatch =
            " a.id = w.id AND a.collection = $1 AND a.tenant_id = w.tenant_id AND a.version = w.version RETURNING a.id" + ExpectUpdated;

        // The rows are found by key (id = ANY): a generically planned join with the id array may hash a full scan (decision 0013).
        public const string AccountUpdate = AccountSet + "FROM " + UpdateRows + " WHERE a.id = ANY ($2) AND" + AccountMatch;

        public const string AccountUpdateOne = AccountSet + "FROM " + OneUpdateRow + " WHERE" + AccountMatch;

        public const string TransactionInsert =
            "WITH written AS (INSERT INTO ledger_transactions AS t (collection, id, tenant_id, version, created_at, updated_at, ref, tenant_ref, kind, type, "
            + "reference, transfer_id, posting_accounts, posting_sides, posting_amounts, posting_assets, idempotency_key, description, metadata, reverses, "
            + "reference_sequence, created_instant) "
            + "SELECT $1, w.id, w.tenant_id, 1, $5, $5, w.d ->> 'id', w.d ->> 'tenant_id', w.d ->> 'kind', w.d ->> 'entry_type', w.d ->> 'reference', "
            + "w.d ->> 'transfer_id', p.accounts, p.sides, p.amounts, p.assets, w.d ->> 'idempotency_key', w.d ->> 'description', w.d -> 'metadata', "
            + "w.d ->> 'reverses', (w.d ->> 'reference_sequence')::bigint, w.d ->> 'created_at' FROM " + Rows + ", "
            + "LATERAL paymentskit_ledger_postings(w.d -> 'postings') AS p "
            + "ON CONFLICT DO NOTHING RETURNING t.id" + ExpectInserted;

        public const string EntryInsert =
            "WITH written AS (INSERT INTO ledger_entries AS e (id, tenant_id, tenant_ref, account_id, sequence, transaction_id, kind, side, posted_change, "
            + "pending_change, type, payment_intent_id, transfer_id, at, debits_posted, credits_posted, debits_pending, credits_pending, currency, chain, created_at) "
            + "SELECT w.id, w.tenant_id, w.d ->> 'tenant_id', w.d ->> 'account_id', (w.d ->> 'sequence')::bigint, w.d ->> 'transaction_id', w.d ->> 'kind', "
            + "w.d ->> 'side', (w.d -> 'posted_change' ->> 'amount')::numeric, (w.d -> 'pending_change' ->> 'amount')::numeric, w.d ->> 'entry_type', "
            + "w.d ->> 'reference', w.d ->> 'transfer_id', w.d ->> 'at', (w.d -> 'debits_posted' ->> 'amount')::numeric, "
            + "(w.d -> 'credits_posted' ->> 'amount')::numeric, (w.d -> 'debits_pending' ->> 'amount')::numeric, (w.d -> 'credits_pending' ->> 'amount')::numeric, "
            + EntryAsset + ", w.d ->> 'chain', $5 FROM " + Rows + " "
            + "ON CONFLICT DO NOTHING RETURNING e.id" + ExpectInserted;

        public const string TransferInsert =
            "WITH written AS (INSERT INTO ledger_transfers AS t (collection, id, tenant_id, version, created_at, updated_at, ref, tenant_ref, debit_account_id, "
            + "credit_account_id, asset, amount, state, posted_amount, released_amount, timeout, expires_at, type, reference, pending_transaction_id, "
            + "resolving_transaction_id, created_instant, resolved_at) "
            + "SELECT $1, w.id, w.tenant_id, 1, $5, $5, w.d ->> 'id', w.d ->> 'tenant_id', w.d ->> 'debit_account_id', w.d ->> 'credit_account_id', "
            + TransferAsset + ", (w.d -> 'amount' ->> 'amount')::numeric, w.d ->> 'state', (w.d -> 'posted_amount' ->> 'amount')::numeric, "
            + "(w.d -> 'released_amount' ->> 'amount')::numeric, w.d ->> 'timeout', w.d ->> 'expires_at', w.d ->> 'entry_type', w.d ->> 'reference', "
            + "w.d ->> 'pending_transaction_id', w.d ->> 'resolving_transaction_id', w.d ->> 'created_at', w.d ->> 'resolved_at' FROM " + Rows + " "
            + "ON CONFLICT DO NOTHING RETURNING t.id" + ExpectInserted;

        private const string TransferSet =
            "WITH written AS (UPDATE ledger_transfers AS t SET version = t.version + 1, updated_at = $5, ref = w.d ->> 'id', tenant_ref = w.d ->> 'tenant_id', "
            + "debit_account_id = w.d ->> 'debit_account_id', credit_account_id = w.d ->> 'credit_account_id', asset = " + TransferAsset + ", "
            + "amount = (w.d -> 'amount' ->> 'amount')::numeric, state = w.d ->> 'state', posted_amount = (w.d -> 'posted_amount' ->> 'amount')::numeric, "
            + "released_amount = (w.d -> 'released_amount' ->> 'amount')::numeric, timeout = w.d ->> 'timeout', expires_at = w.d ->> 'expires_at', "
            + "type = w.d ->> 'entry_type', reference = w.d ->> 'reference', pending_transaction_id = w.d ->> 'pending_transaction_id', "
            + "resolving_transaction_id = w.d ->> 'resolving_transaction_id', created_instant = w.d ->> 'created_at', resolved_at = w.d ->> 'resolved_at' ";

        private const string TransferMatch =
            " t.id = w.id AND t.collection = $1 AND t.tenant_id = w.tenant_id AND t.version = w.version RETURNING t.id" + ExpectUpdated;

        public const string TransferUpdate = TransferSet + "FROM " + UpdateRows + " WHERE t.id = ANY ($2) AND" + TransferMatch;

        public const string TransferUpdateOne = TransferSet + "FROM " + OneUpdateRow + " WHERE" + TransferMatch;
    }
}
