using System.Buffers.Binary;
using NodaTime;
using NodaTime.Text;
using Npgsql;
using NpgsqlTypes;
using PaymentsKit.Payouts;

namespace PaymentsKit.PostgreSql;

/// <summary>
/// Mass payouts on PostgreSQL: holder snapshots in the <c>holder</c> table, imported with binary <c>COPY</c>,
/// batches claimed by <c>paymentskit_claim_holders</c> in one statement, and due distributions read from the
/// <c>distribution</c> table through the <c>idx_distribution_scheduled</c> partial index. Uses the same
/// database and schema as the <see cref="PostgreSqlStore"/> it is built on, whose migrations create the tables.
/// </summary>
public sealed class PostgreSqlPayoutsStore : IHolderSnapshotStore, IDueDistributionIndex, IAsyncDisposable, IDisposable
{
    private const string CopySql =
        "COPY holder (id, tenant_id, asset_id, distribution_id, account_id, balance, payment_amount, created_at, updated_at) FROM STDIN (FORMAT BINARY)";

    private const string KeyFilter = "tenant_id = $1 AND asset_id = $2 AND distribution_id = $3";

    private const int ProgressEvery = 1 << 16;

    private readonly PostgreSqlStore _store;
    private readonly NpgsqlDataSource _dataSource;
    private readonly SemaphoreSlim _readyGate = new(1, 1);
    private volatile bool _ready;
    private int _disposed;

    /// <summary>Creates the store with its own connection pool on the database of <paramref name="store"/>.</summary>
    /// <param name="store">The record store: its migrations are applied (as its options say) before first use.</param>
    /// <param name="options">The same options <paramref name="store"/> was built with.</param>
    /// <exception cref="PaymentsKitException"><c>invalid_argument</c> listing every problem with <paramref name="options"/>.</exception>
    public PostgreSqlPayoutsStore(PostgreSqlStore store, PostgreSqlStoreOptions options)
    {
        _store = store ?? throw new ArgumentNullException(nameof(store));
        ArgumentNullException.ThrowIfNull(options);
        var problems = PostgreSqlStoreOptionsValidator.Problems(options);
        if (problems.Count > 0)
        {
            throw new PaymentsKitException(
                PaymentsKitErrorCodes.InvalidArgument,
                "Invalid PostgreSQL store options: " + string.Join(" ", problems),
                new Dictionary<string, object?> { ["field"] = "PostgreSqlStoreOptions", ["problems"] = problems });
        }

        var builder = new NpgsqlDataSourceBuilder(options.ConnectionString);
        builder.ConnectionStringBuilder.SearchPath = options.Schema;
        _dataSource = builder.Build();
    }

    /// <inheritdoc />
    public async ValueTask ImportAsync(
        HolderSnapshotKey key,
        ReadOnlyMemory<HolderBalance> holders,
        ReadOnlyMemory<long> amounts,
        Instant now,
        IProgress<HolderImportProgress>? progress,
        CancellationToken cancellationToken = default)
    {
        if (amounts.Length != holders.Length)
        {
            throw PaymentsKitException.InvalidArgument("amounts", amounts.Length, "must have one amount per holder");
        }

        await ReadyAsync(cancellationToken).ConfigureAwait(false);
        var stamp = now.ToDateTimeUtc();
        var timestamp = Guid.CreateVersion7(now.ToDateTimeOffset());
        try
        {
            var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
            await using (connection.ConfigureAwait(false))
            {
                var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
                await using (transaction.ConfigureAwait(false))
                {
                    // Serialises imports of one distribution. The check runs after the lock is held, in a statement
                    // of its own, so its snapshot sees an import that committed while this one waited.
                    await using (var lockCommand = new NpgsqlCommand("SELECT pg_advisory_xact_lock($1)", connection, transaction))
                    {
                        lockCommand.Parameters.Add(new NpgsqlParameter { Value = LockKey(key.DistributionId.Value) });
                        await lockCommand.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                    }

                    await using (var existsCommand = new NpgsqlCommand(
                        "SELECT EXISTS (SELECT 1 FROM holder WHERE asset_id = $1 AND distribution_id = $2)", connection, transaction))
                    {
                        existsCommand.Parameters.Add(new NpgsqlParameter { Value = key.AssetId.Value });
                        existsCommand.Parameters.Add(new NpgsqlParameter { Value = key.DistributionId.Value });
                        if (await existsCommand.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) is true)
                        {
                            throw SnapshotExists(key, null);
                        }
                    }

                    var writer = await connection.BeginBinaryImportAsync(CopySql, cancellationToken).ConfigureAwait(false);
                    await using (writer.ConfigureAwait(false))
                    {
                        await WriteRowsAsync(writer, key, holders, amounts, stamp, timestamp, progress, cancellationToken).ConfigureAwait(false);
                        await writer.CompleteAsync(cancellationToken).ConfigureAwait(false);
                    }

                    await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
                }
            }
        }
        catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.UniqueViolation)
        {
            throw SnapshotExists(key, ex);
        }
        catch (NpgsqlException ex)
        {
            throw PostgreSqlStore.StorageFailure(ex, $"importing the holders of distribution {key.DistributionId}");
        }

        progress?.Report(new HolderImportProgress(holders.Length, holders.Length));
    }

    /// <inheritdoc />
    public async ValueTask<HolderSnapshotTotals> GetTotalsAsync(HolderSnapshotKey key, int maxAttempts, CancellationToken cancellationToken = default)
    {
        await ReadyAsync(cancellationToken).ConfigureAwait(false);
        const string sql =
            "SELECT count(*)::int, count(*) FILTER (WHERE payment_amount = 0)::int, "
            + "count(*) FILTER (WHERE payment_amount > 0 AND state = 'PENDING')::int, "
            + "count(*) FILTER (WHERE payment_amount > 0 AND state = 'SUBMITTED')::int, "
            + "count(*) FILTER (WHERE payment_amount > 0 AND state = 'PAID')::int, "
            + "count(*) FILTER (WHERE payment_amount > 0 AND state = 'FAILED')::int, "
            + "count(*) FILTER (WHERE payment_amount > 0 AND state = 'FAILED' AND attempts < $4)::int, "
            + "coalesce(sum(balance), 0)::bigint, coalesce(sum(payment_amount), 0)::bigint, "
            + "coalesce(sum(payment_amount) FILTER (WHERE state = 'PAID'), 0)::bigint, "
            + "(SELECT coalesce(max(s.last_batch), 0) FROM holder_batch_sequence s WHERE s.distribution_id = $3 AND s.tenant_id = $1) "
            + "FROM holder WHERE " + KeyFilter;
        return await RunAsync(
            "totalling the holders",
            key,
            async (connection, ct) =>
            {
                await using var command = Command(connection, sql, key, maxAttempts);
                await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
                await reader.ReadAsync(ct).ConfigureAwait(false);
                return new HolderSnapshotTotals(
                    reader.GetInt32(0), reader.GetInt32(1), reader.GetInt32(2), reader.GetInt32(3), reader.GetInt32(4), reader.GetInt32(5), reader.GetInt32(6),
                    reader.GetInt64(7), reader.GetInt64(8), reader.GetInt64(9), reader.GetInt32(10));
            },
            cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<HolderPayment>> ListAsync(HolderSnapshotKey key, string? afterAccount, int limit, CancellationToken cancellationToken = default)
    {
        PayoutValidation.Limit(limit);
        await ReadyAsync(cancellationToken).ConfigureAwait(false);
        const string sql =
            "SELECT account_id, balance, payment_amount, state, batch_number, attempts, transaction_id, error_message FROM holder WHERE "
            + KeyFilter + " AND account_id > $4 ORDER BY account_id LIMIT $5";
        return await RunAsync(
            "listing the holders",
            key,
            async (connection, ct) =>
            {
                await using var command = Command(connection, sql, key, afterAccount ?? string.Empty, limit);
                await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
                var rows = new List<HolderPayment>(Math.Min(limit, 1024));
                while (await reader.ReadAsync(ct).ConfigureAwait(false))
                {
                    rows.Add(new HolderPayment(
                        reader.GetString(0),
                        reader.GetInt64(1),
                        reader.GetInt64(2),
                        State(reader.GetString(3)),
                        reader.IsDBNull(4) ? null : reader.GetInt32(4),
                        reader.GetInt32(5),
                        reader.IsDBNull(6) ? null : reader.GetString(6),
                        reader.IsDBNull(7) ? null : reader.GetString(7)));
                }

                return (IReadOnlyList<HolderPayment>)rows;
            },
            cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask<ClaimedBatch?> ClaimBatchAsync(
        HolderSnapshotKey key, string? afterAccount, int limit, int maxAttempts, Instant now, CancellationToken cancellationToken = default)
    {
        if (limit < 1)
        {
            throw PaymentsKitException.InvalidArgument("limit", limit, "must be at least 1");
        }

        await ReadyAsync(cancellationToken).ConfigureAwait(false);
        return await RunAsync(
            "claiming a batch",
            key,
            async (connection, ct) =>
            {
                await using var command = Command(
                    connection, "SELECT * FROM paymentskit_claim_holders($1, $2, $3, $4, $5, $6, $7)", key, afterAccount ?? string.Empty, limit, maxAttempts, now.ToDateTimeUtc());
                await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
                var number = 0;
                // The limit may be int.MaxValue (an executor without one): never a capacity to allocate up front.
                var transfers = new List<PayoutTransfer>(Math.Min(limit, 1024));
                while (await reader.ReadAsync(ct).ConfigureAwait(false))
                {
                    number = reader.GetInt32(0);
                    transfers.Add(new PayoutTransfer(reader.GetString(1), reader.GetInt64(2)));
                }

                return transfers.Count == 0 ? null : new ClaimedBatch(number, transfers);
            },
            cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<ClaimedBatch>> ListSubmittedAsync(HolderSnapshotKey key, CancellationToken cancellationToken = default)
    {
        await ReadyAsync(cancellationToken).ConfigureAwait(false);
        const string sql = "SELECT batch_number, account_id, payment_amount FROM holder WHERE " + KeyFilter + " AND state = 'SUBMITTED' ORDER BY batch_number, account_id";
        return await RunAsync(
            "listing submitted holders",
            key,
            async (connection, ct) =>
            {
                await using var command = Command(connection, sql, key);
                await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
                // A batch keeps a copy of the transfers it is given, so each is made once its rows are read.
                var batches = new List<(int Number, List<PayoutTransfer> Transfers)>();
                while (await reader.ReadAsync(ct).ConfigureAwait(false))
                {
                    var number = reader.GetInt32(0);
                    if (batches.Count == 0 || batches[^1].Number != number)
                    {
                        batches.Add((number, []));
                    }

                    batches[^1].Transfers.Add(new PayoutTransfer(reader.GetString(1), reader.GetInt64(2)));
                }

                return (IReadOnlyList<ClaimedBatch>)[.. batches.Select(batch => new ClaimedBatch(batch.Number, batch.Transfers))];
            },
            cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask RecordOutcomesAsync(
        HolderSnapshotKey key, int batchNumber, string? transactionId, IReadOnlyList<HolderOutcome> outcomes, Instant now, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(outcomes);
        await ReadyAsync(cancellationToken).ConfigureAwait(false);
        const string sql =
            "UPDATE holder h SET state = CASE WHEN o.error IS NULL THEN 'PAID' ELSE 'FAILED' END, transaction_id = $5, error_message = o.error, updated_at = $6 "
            + "FROM unnest($7::text[], $8::text[]) AS o(account_id, error) "
            + "WHERE h.tenant_id = $1 AND h.asset_id = $2 AND h.distribution_id = $3 AND h.account_id = o.account_id AND h.state = 'SUBMITTED' AND h.batch_number = $4";
        await RunAsync(
            "recording a batch outcome",
            key,
            async (connection, ct) =>
            {
                await using var command = Command(
                    connection,
                    sql,
                    key,
                    batchNumber,
                    (object?)transactionId ?? DBNull.Value,
                    now.ToDateTimeUtc(),
                    outcomes.Select(o => o.AccountId).ToArray(),
                    outcomes.Select(o => o.Error).ToArray());
                command.Parameters[4].NpgsqlDbType = NpgsqlDbType.Text;
                return await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            },
            cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<DueDistribution>> ListDueAsync(Instant now, int limit, CancellationToken cancellationToken = default) =>
        ListDueAsync(now, limit, null, cancellationToken);

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<DueDistribution>> ListDueAsync(Instant now, int limit, DueDistribution? after, CancellationToken cancellationToken = default)
    {
        await ReadyAsync(cancellationToken).ConfigureAwait(false);

        // Pending ones through idx_distribution_scheduled (status = 'PENDING' and the range on scheduled_time), and the few
        // that started and were interrupted (a run that threw or a host that died) through idx_distribution_status: by
        // scheduled_time, or, without one (MANUAL, AUTOMATIC), by when their run's lease lapsed or was released. A cursor
        // bounds the range from below too so the index skips what is behind it. Its due time goes in as the record's ISO text,
        // converted the way scheduled_time is: a DateTime parameter would be rounded toward 2000 (a finer due time before it
        // then lands after its own row) and the year 1's DateTime.MinValue sent as -infinity.
        const string leaseDue = "paymentskit_instant(data->>'run_lease_expires_at')";
        string Cursor(string due) => after is null ? "" : $" AND {due} >= paymentskit_instant($3) AND ({due}, id) > (paymentskit_instant($3), $4)";
        var sql =
            "SELECT tenant_id, id, scheduled_time FROM ("
            + $"(SELECT tenant_id, id, scheduled_time FROM distribution WHERE status = 'PENDING' AND scheduled_time <= $1{Cursor("scheduled_time")} ORDER BY scheduled_time, id LIMIT $2)"
            + $" UNION ALL (SELECT tenant_id, id, scheduled_time FROM distribution WHERE status = 'PROCESSING' AND scheduled_time <= $1{Cursor("scheduled_time")} ORDER BY scheduled_time, id LIMIT $2)"
            + $" UNION ALL (SELECT tenant_id, id, {leaseDue} FROM distribution WHERE status = 'PROCESSING' AND scheduled_time IS NULL AND {leaseDue} <= $1{Cursor(leaseDue)} ORDER BY 3, id LIMIT $2)"
            + ") due ORDER BY scheduled_time, id LIMIT $2";
        try
        {
            await using var command = _dataSource.CreateCommand(sql);
            command.Parameters.Add(new NpgsqlParameter { Value = now.ToDateTimeUtc() });
            command.Parameters.Add(new NpgsqlParameter { Value = limit });
            if (after is { } last)
            {
                command.Parameters.Add(new NpgsqlParameter { Value = InstantPattern.ExtendedIso.Format(last.DueAt), NpgsqlDbType = NpgsqlDbType.Text });
                command.Parameters.Add(new NpgsqlParameter { Value = last.Id.Value });
            }

            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            var due = new List<DueDistribution>();
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                due.Add(new DueDistribution(
                    MerchantId.FromGuid(reader.GetGuid(0)), DistributionId.FromGuid(reader.GetGuid(1)), Instant.FromDateTimeUtc(reader.GetDateTime(2))));
            }

            return due;
        }
        catch (NpgsqlException ex)
        {
            throw PostgreSqlStore.StorageFailure(ex, "listing due distributions");
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            await _dataSource.DisposeAsync().ConfigureAwait(false);
            _readyGate.Dispose();
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _dataSource.Dispose();
            _readyGate.Dispose();
        }
    }

    private static async ValueTask WriteRowsAsync(
        NpgsqlBinaryImporter writer,
        HolderSnapshotKey key,
        ReadOnlyMemory<HolderBalance> holders,
        ReadOnlyMemory<long> amounts,
        DateTime stamp,
        Guid timestamp,
        IProgress<HolderImportProgress>? progress,
        CancellationToken cancellationToken)
    {
        var tenant = key.TenantId.Value;
        var asset = key.AssetId.Value;
        var distribution = key.DistributionId.Value;

        // In account order every index on the account (idx_holder_unique, idx_holder_account) grows at its right
        // edge instead of splitting pages all over: far less work for the server than rows in snapshot order.
        var order = AccountOrder(holders.Span);
        for (var i = 0; i < order.Length; i++)
        {
            var holder = holders.Span[order[i]];
            await writer.StartRowAsync(cancellationToken).ConfigureAwait(false);
            await writer.WriteAsync(RowId(timestamp, i), NpgsqlDbType.Uuid, cancellationToken).ConfigureAwait(false);
            await writer.WriteAsync(tenant, NpgsqlDbType.Uuid, cancellationToken).ConfigureAwait(false);
            await writer.WriteAsync(asset, NpgsqlDbType.Uuid, cancellationToken).ConfigureAwait(false);
            await writer.WriteAsync(distribution, NpgsqlDbType.Uuid, cancellationToken).ConfigureAwait(false);
            await writer.WriteAsync(holder.AccountId, NpgsqlDbType.Text, cancellationToken).ConfigureAwait(false);
            await writer.WriteAsync(holder.Balance, NpgsqlDbType.Bigint, cancellationToken).ConfigureAwait(false);
            await writer.WriteAsync(amounts.Span[order[i]], NpgsqlDbType.Bigint, cancellationToken).ConfigureAwait(false);
            await writer.WriteAsync(stamp, NpgsqlDbType.TimestampTz, cancellationToken).ConfigureAwait(false);
            await writer.WriteAsync(stamp, NpgsqlDbType.TimestampTz, cancellationToken).ConfigureAwait(false);
            if ((i + 1) % ProgressEvery == 0)
            {
                progress?.Report(new HolderImportProgress(i + 1, holders.Length));
            }
        }
    }

    private static int[] AccountOrder(ReadOnlySpan<HolderBalance> holders)
    {
        var accounts = new string[holders.Length];
        var order = new int[holders.Length];
        for (var i = 0; i < holders.Length; i++)
        {
            accounts[i] = holders[i].AccountId;
            order[i] = i;
        }

        Array.Sort(accounts, order, StringComparer.Ordinal);
        return order;
    }

    /// <summary>
    /// Row ids: one UUIDv7 for the import with the row's index in its last 32 bits, so they are unique, time
    /// ordered and cost no random draw per row.
    /// </summary>
    private static Guid RowId(Guid importId, int index)
    {
        Span<byte> bytes = stackalloc byte[16];
        importId.TryWriteBytes(bytes, bigEndian: true, out _);
        BinaryPrimitives.WriteInt32BigEndian(bytes[12..], index);
        return new Guid(bytes, bigEndian: true);
    }

    private static long LockKey(Guid distribution)
    {
        Span<byte> bytes = stackalloc byte[16];
        distribution.TryWriteBytes(bytes, bigEndian: true, out _);
        return BinaryPrimitives.ReadInt64BigEndian(bytes) ^ BinaryPrimitives.ReadInt64BigEndian(bytes[8..]);
    }

    private static NpgsqlCommand Command(NpgsqlConnection connection, string sql, HolderSnapshotKey key, params object[] more)
    {
        var command = new NpgsqlCommand(sql, connection);
        command.Parameters.Add(new NpgsqlParameter { Value = key.TenantId.Value });
        command.Parameters.Add(new NpgsqlParameter { Value = key.AssetId.Value });
        command.Parameters.Add(new NpgsqlParameter { Value = key.DistributionId.Value });
        foreach (var value in more)
        {
            command.Parameters.Add(new NpgsqlParameter { Value = value });
        }

        return command;
    }

    private async ValueTask<T> RunAsync<T>(string what, HolderSnapshotKey key, Func<NpgsqlConnection, CancellationToken, Task<T>> operation, CancellationToken cancellationToken)
    {
        try
        {
            var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
            await using (connection.ConfigureAwait(false))
            {
                return await operation(connection, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (NpgsqlException ex)
        {
            throw PostgreSqlStore.StorageFailure(ex, $"{what} of distribution {key.DistributionId}");
        }
    }

    /// <summary>Lets the record store apply its migrations (once, as its options say) before the first query.</summary>
    private async ValueTask ReadyAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        if (_ready)
        {
            return;
        }

        await _readyGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (!_ready)
            {
                var unit = await _store.BeginAsync(cancellationToken).ConfigureAwait(false);
                await unit.DisposeAsync().ConfigureAwait(false);
                _ready = true;
            }
        }
        finally
        {
            _readyGate.Release();
        }
    }

    private static HolderPaymentState State(string state) => state switch
    {
        "PENDING" => HolderPaymentState.Pending,
        "SUBMITTED" => HolderPaymentState.Submitted,
        "PAID" => HolderPaymentState.Paid,
        "FAILED" => HolderPaymentState.Failed,
        _ => throw new PaymentsKitException(PaymentsKitErrorCodes.StorageFailure, $"A holder row has the unknown state '{state}'."),
    };

    private static PaymentsKitException SnapshotExists(HolderSnapshotKey key, Exception? cause) =>
        new(PaymentsKitErrorCodes.DuplicateKey,
            $"Distribution {key.DistributionId} already has holders, or the snapshot repeats an account.",
            new Dictionary<string, object?> { ["collection"] = "holder", ["key"] = "idx_holder_unique", ["value"] = key.DistributionId.ToString() },
            innerException: cause);
}
