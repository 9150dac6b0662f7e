using System.Collections.Concurrent;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using NodaTime;
using Npgsql;
using NpgsqlTypes;
using PaymentsKit.Json;
using PaymentsKit.Storage;

namespace PaymentsKit.PostgreSql;

/// <summary>
/// The PostgreSQL store. Records live as jsonb rows in their collection's table
/// (<see cref="RecordCollection{T}.Table"/>), unique key values in <c>paymentskit_unique_keys</c>.
/// A commit is one round trip: a single <see cref="NpgsqlBatch"/> in one implicit transaction, in
/// which a stale version raises inside the database, so a commit is all or nothing. Serialization
/// failures and deadlocks are retried <see cref="PostgreSqlStoreOptions.MaxRetries"/> times.
/// </summary>
public sealed partial class PostgreSqlStore : IPaymentsStore, IAsyncDisposable, IDisposable
{
    /// <summary>The SQLSTATE <c>paymentskit_expect_version</c> raises for a stale version.</summary>
    internal const string VersionConflictState = "PKV01";

    // Room for every fixed statement text of the record tables, the queues and the ledger on one connection.
    private const int AutoPreparedStatements = 256;

    private readonly NpgsqlDataSource _dataSource;
    private readonly JsonSerializerOptions _json;
    private readonly IClock _clock;
    private readonly ILogger _logger;
    private readonly int _maxRetries;
    private readonly bool _migrateOnFirstUse;

    // Whether the pool's connections enlist in an ambient System.Transactions transaction (Npgsql's Enlist, on by default).
    private readonly bool _enlist;
    private readonly SemaphoreSlim _migrationGate = new(1, 1);
    private readonly ConcurrentDictionary<string, TableSql> _sql = new(StringComparer.Ordinal);
    private volatile bool _migrated;
    private int _disposed;

    /// <summary>Creates a store with its own connection pool; dispose it to close the pool.</summary>
    /// <param name="options">Connection string, schema, retries; validated here.</param>
    /// <param name="json">The serializer settings records are stored with.</param>
    /// <param name="clock">Stamps <c>created_at</c> / <c>updated_at</c>.</param>
    /// <param name="loggerFactory">Logs retries and applied migrations; optional.</param>
    /// <exception cref="PaymentsKitException"><c>invalid_argument</c> listing every problem with <paramref name="options"/>.</exception>
    public PostgreSqlStore(PostgreSqlStoreOptions options, PaymentsKitJsonOptions json, IClock clock, ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(json);
        ArgumentNullException.ThrowIfNull(clock);
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

        // Without it PostgresException.BatchCommand is null and a failure could not be traced to its write.
        builder.ConnectionStringBuilder.IncludeFailedBatchedCommand = true;

        // The pool's reset of a returned connection (DISCARD ALL) also discards every cached plan, so
        // each ledger function call (migration 0012) would plan its statements again: over half its
        // cost. The store keeps no session state to reset (settings are SET LOCAL, the migrator
        // releases its session lock itself).
        builder.ConnectionStringBuilder.NoResetOnClose = true;

        // Every statement the store sends is one of a few fixed texts, so preparing them saves the server a parse and
        // a plan on each; Npgsql prepares a text once it is used often (decision 0016). A host's own setting wins, 0 too.
        if (!SetsMaxAutoPrepare(options.ConnectionString!))
        {
            builder.ConnectionStringBuilder.MaxAutoPrepare = AutoPreparedStatements;
        }
        if (loggerFactory is not null)
        {
            builder.UseLoggerFactory(loggerFactory);
        }

        _enlist = builder.ConnectionStringBuilder.Enlist;

        // Counted so the ledger's kept rows are dropped after the server is reached anew (decision 0024).
        builder.UsePhysicalConnectionInitializer(
            _ => Interlocked.Increment(ref _physicalConnections),
            _ =>
            {
                Interlocked.Increment(ref _physicalConnections);
                return Task.CompletedTask;
            });
        _dataSource = builder.Build();
        _json = RecordJson.For(json.Options);
        _clock = clock;
        _logger = (ILogger?)loggerFactory?.CreateLogger<PostgreSqlStore>() ?? NullLogger.Instance;
        _maxRetries = options.MaxRetries;
        _migrateOnFirstUse = options.ApplyMigrationsOnStartup;
        Migrator = new PostgreSqlMigrator(_dataSource, options.Schema, PostgreSqlMigrator.Embedded, _logger);
    }

    /// <summary>Applies or prints this store's schema.</summary>
    public IPaymentsKitMigrator Migrator { get; }

    /// <summary>The store's connection pool, for the SQL of store seams beside the records (e.g. the webhook queue).</summary>
    internal NpgsqlDataSource DataSource => _dataSource;

    /// <summary>The serializer settings records are stored with.</summary>
    internal JsonSerializerOptions Json => _json;

    /// <inheritdoc />
    public async ValueTask<IUnitOfWork> BeginAsync(CancellationToken cancellationToken = default)
    {
        await EnsureReadyAsync(cancellationToken).ConfigureAwait(false);
        return new UnitOfWork(this);
    }

    /// <summary>Throws once disposed; applies pending migrations first if the options ask for it.</summary>
    internal async ValueTask EnsureReadyAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        if (_migrateOnFirstUse && !_migrated)
        {
            await MigrateOnceAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            await _dataSource.DisposeAsync().ConfigureAwait(false);
            _migrationGate.Dispose();
            DisposeLedgerBatches();
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _dataSource.Dispose();
            _migrationGate.Dispose();
            DisposeLedgerBatches();
        }
    }

    // Npgsql's builder reports every property it knows as present, so the host's own keys are read from the text.
    private static bool SetsMaxAutoPrepare(string connectionString) =>
        new System.Data.Common.DbConnectionStringBuilder { ConnectionString = connectionString }.Keys
            .Cast<string>()
            .Any(key => key.Replace(" ", string.Empty, StringComparison.Ordinal).Equals(nameof(NpgsqlConnectionStringBuilder.MaxAutoPrepare), StringComparison.OrdinalIgnoreCase));

    private async ValueTask MigrateOnceAsync(CancellationToken cancellationToken)
    {
        await _migrationGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            // A failed attempt leaves _migrated false so the next unit of work tries again.
            if (!_migrated)
            {
                await Migrator.MigrateAsync(cancellationToken).ConfigureAwait(false);
                _migrated = true;
            }
        }
        finally
        {
            _migrationGate.Release();
        }
    }

    private TableSql SqlFor(string table) => _sql.GetOrAdd(table, static t => new TableSql(t));

    private async ValueTask<Versioned<T>?> ReadAsync<T>(RecordCollection<T> collection, Guid id, CancellationToken cancellationToken)
        where T : class
    {
        try
        {
            var command = _dataSource.CreateCommand(SqlFor(collection.Table).Select);
            await using (command.ConfigureAwait(false))
            {
                command.Parameters.Add(new NpgsqlParameter { Value = collection.Name });
                command.Parameters.Add(new NpgsqlParameter { Value = id });
                var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
                await using (reader.ConfigureAwait(false))
                {
                    return await reader.ReadAsync(cancellationToken).ConfigureAwait(false)
                        ? new Versioned<T>(Deserialize<T>(collection, reader.GetString(1)), reader.GetInt64(0))
                        : null;
                }
            }
        }
        catch (NpgsqlException ex)
        {
            throw StorageFailure(ex, $"reading {collection.Name} record {id}");
        }
    }

    private async ValueTask<IReadOnlyList<Versioned<object>?>> ReadManyAsync(IReadOnlyList<RecordRef> records, CancellationToken cancellationToken)
    {
        try
        {
            // Up to TableSql.MaxSelectMany records of one collection in one table are one statement, not one each:
            // every statement costs the server its own executor start and end beside the row it reads.
            var groups = new List<(RecordRef First, List<int> Indexes)>();
            for (var i = 0; i < records.Count; i++)
            {
                var group = groups.FindIndex(g => g.First.Table == records[i].Table && g.First.Collection == records[i].Collection
                                                  && g.Indexes.Count < TableSql.MaxSelectMany);
                if (group < 0)
                {
                    groups.Add((records[i], [i]));
                }
                else
                {
                    groups[group].Indexes.Add(i);
                }
            }

            var batch = _dataSource.CreateBatch();
            await using (batch.ConfigureAwait(false))
            {
                foreach (var (first, indexes) in groups)
                {
                    var command = Add(batch, SqlFor(first.Table).SelectMany(indexes.Count), first.Collection);
                    foreach (var i in indexes)
                    {
                        command.Parameters.Add(new NpgsqlParameter { Value = records[i].Id });
                    }
                }

                var results = new Versioned<object>?[records.Count];
                var reader = await batch.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
                await using (reader.ConfigureAwait(false))
                {
                    for (var g = 0; g < groups.Count; g++)
                    {
                        if (g > 0)
                        {
                            await reader.NextResultAsync(cancellationToken).ConfigureAwait(false);
                        }

                        var indexes = groups[g].Indexes;
                        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                        {
                            var id = reader.GetGuid(0);
                            foreach (var i in indexes.Where(i => records[i].Id == id))
                            {
                                results[i] = Read(reader, records[i]);
                            }
                        }
                    }
                }

                return results;
            }
        }
        catch (NpgsqlException ex)
        {
            throw StorageFailure(ex, $"reading {records.Count} records");
        }
    }

    /// <summary>The record a <see cref="TableSql.SelectMany"/> row (id, version, data) holds.</summary>
    private Versioned<object> Read(NpgsqlDataReader reader, RecordRef record)
    {
        var value = JsonSerializer.Deserialize(reader.GetString(2), record.RecordType, _json)
            ?? throw new PaymentsKitException(PaymentsKitErrorCodes.StorageFailure, $"A stored {record.Collection} record is JSON null.");
        return new Versioned<object>(value, reader.GetInt64(1));
    }

    private async ValueTask<Guid?> FindIdAsync(string collection, string uniqueKey, string value, CancellationToken cancellationToken)
    {
        try
        {
            var command = _dataSource.CreateCommand(TableSql.FindKey);
            await using (command.ConfigureAwait(false))
            {
                command.Parameters.Add(new NpgsqlParameter { Value = collection });
                command.Parameters.Add(new NpgsqlParameter { Value = uniqueKey });
                command.Parameters.Add(new NpgsqlParameter { Value = value });
                return await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) as Guid?;
            }
        }
        catch (NpgsqlException ex)
        {
            throw StorageFailure(ex, $"finding the {collection} record with {uniqueKey} '{value}'");
        }
    }

    /// <summary>Lists a tenant's records after <paramref name="after"/>: all of them, or those whose <paramref name="index"/> column holds its value.</summary>
    private async ValueTask<Page<Versioned<T>>> ListAsync<T>(
        RecordCollection<T> collection, Guid tenantId, (string Column, Guid Value)? index, Guid? after, int limit, CancellationToken cancellationToken)
        where T : class
    {
        try
        {
            var sql = SqlFor(collection.Table);
            var command = _dataSource.CreateCommand(
                index is { } by ? sql.ListBy(by.Column, after is not null) : after is null ? sql.ListFirst : sql.ListAfter);
            await using (command.ConfigureAwait(false))
            {
                command.Parameters.Add(new NpgsqlParameter { Value = collection.Name });
                command.Parameters.Add(new NpgsqlParameter { Value = tenantId });

                // One extra row tells whether another page follows.
                command.Parameters.Add(new NpgsqlParameter { Value = limit + 1 });
                if (index is { } match)
                {
                    command.Parameters.Add(new NpgsqlParameter { Value = match.Value });
                }

                if (after is not null)
                {
                    command.Parameters.Add(new NpgsqlParameter { Value = after.Value });
                }

                var items = new List<Versioned<T>>(limit);
                var more = false;
                var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
                await using (reader.ConfigureAwait(false))
                {
                    while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                    {
                        if (items.Count == limit)
                        {
                            more = true;
                            break;
                        }

                        items.Add(new Versioned<T>(Deserialize<T>(collection, reader.GetString(1)), reader.GetInt64(0)));
                    }
                }

                return new Page<Versioned<T>>(items, more ? UnitOfWork.Cursor(collection.IdOf(items[^1].Value)) : null);
            }
        }
        catch (NpgsqlException ex)
        {
            throw StorageFailure(ex, $"listing {collection.Name} records of tenant {tenantId}");
        }
    }

    private async ValueTask ApplyAsync(IReadOnlyList<PendingWrite> writes, IReadOnlyList<PendingRemoval> removals, CancellationToken cancellationToken)
    {
        foreach (var removal in removals)
        {
            if (TypedTables.ContainsKey(removal.Table))
            {
                throw BufferedUnitOfWork.Unremovable(removal.Collection);
            }
        }

        for (var attempt = 0; ; attempt++)
        {
            // A batch is built per attempt: a retry may run on another pooled connection, and Npgsql 10.0.0 would then
            // execute the auto-prepared statements of the first one by names that connection never prepared.
            var batch = _dataSource.CreateBatch();
            await using (batch.ConfigureAwait(false))
            {
                var statements = Build(batch, writes, removals);
                try
                {
                    await batch.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                    return;
                }
                catch (PostgresException ex) when ((ex.SqlState is PostgresErrorCodes.SerializationFailure or PostgresErrorCodes.DeadlockDetected)
                                                   && attempt < _maxRetries)
                {
                    // The whole implicit transaction rolled back, so running the batch again is safe.
                    LogRetry(_logger, ex.SqlState, attempt + 1, _maxRetries);
                    await Task.Delay(Random.Shared.Next(1, 10 << attempt), cancellationToken).ConfigureAwait(false);
                }
                catch (PostgresException ex) when (ex.SqlState is PostgresErrorCodes.SerializationFailure or PostgresErrorCodes.DeadlockDetected)
                {
                    // Still losing after the retries: a lost race like a stale version, so the caller re-reads and retries.
                    throw new PaymentsKitException(
                        PaymentsKitErrorCodes.ConcurrencyConflict,
                        $"The commit of {writes.Count} write(s) kept losing to concurrent transactions (SQLSTATE {ex.SqlState}) after {_maxRetries} retries; re-read and retry.",
                        new Dictionary<string, object?> { ["sqlState"] = ex.SqlState, ["retries"] = _maxRetries },
                        isTransient: true,
                        innerException: ex);
                }
                catch (PostgresException ex)
                {
                    throw await TranslateAsync(ex, ex.BatchCommand is { } failed ? statements.GetValueOrDefault(failed) : null, cancellationToken).ConfigureAwait(false);
                }
                catch (NpgsqlException ex)
                {
                    throw StorageFailure(ex, $"committing {writes.Count} write(s) and {removals.Count} removal(s)");
                }
            }
        }
    }

    private Dictionary<NpgsqlBatchCommand, Statement> Build(NpgsqlBatch batch, IReadOnlyList<PendingWrite> writes, IReadOnlyList<PendingRemoval> removals)
    {
        var now = _clock.GetCurrentInstant().ToDateTimeUtc();
        var statements = new Dictionary<NpgsqlBatchCommand, Statement>(ReferenceEqualityComparer.Instance);

        // Records first: each UPDATE takes the row lock that keeps the record's key rows ours until commit. A typed
        // collection's inserts (and its updates) are one statement, sent where the first of them was written.
        var typed = TypedGroups(writes);
        foreach (var write in writes)
        {
            if (TypedSqlFor(write) is { } typedSql)
            {
                if (typed!.Remove(typedSql, out var group))
                {
                    statements[AddTyped(batch, typedSql, group, now)] = new Statement(group[0], null, null, group);
                }

                continue;
            }

            var sql = SqlFor(write.Table);
            var data = JsonSerializer.Serialize(write.Record, write.RecordType, _json);
            var command = Add(batch, write.IsInsert ? sql.Insert : sql.Update, write.Collection, write.Id, write.TenantId, Jsonb(data), now);
            if (!write.IsInsert)
            {
                command.Parameters.Add(new NpgsqlParameter { Value = write.ExpectedVersion });
            }

            statements[command] = new Statement(write, null, null);
        }

        // Then every release before any claim, so a value can move between records in one commit.
        foreach (var write in writes)
        {
            if (!write.IsInsert && !write.KeysUnchanged)
            {
                var names = write.UniqueKeys.Select(k => k.Key).ToArray();
                var values = write.UniqueKeys.Select(k => k.Value).ToArray();
                statements[Add(batch, TableSql.ReleaseKeys, write.Collection, write.Id, names, values)] = new Statement(write, null, null);
            }
        }

        foreach (var write in writes.Where(w => !w.KeysUnchanged))
        {
            foreach (var (key, value) in write.UniqueKeys)
            {
                var command = Add(batch, write.IsInsert ? TableSql.ClaimKey : TableSql.KeepOrClaimKey, write.Collection, key, value, write.Id);
                statements[command] = new Statement(write, key, value);
            }
        }

        // Removals last, as the unit applies them after its writes; a record that is not there (or is another tenant's) removes nothing.
        foreach (var removal in removals)
        {
            var sql = SqlFor(removal.Table);
            Add(batch, removal.HasUniqueKeys ? sql.DeleteWithKeys : sql.Delete, removal.Collection, removal.Id, removal.TenantId);
        }

        return statements;
    }

    private static NpgsqlBatchCommand Add(NpgsqlBatch batch, string sql, params object[] parameters)
    {
        var command = new NpgsqlBatchCommand(sql);
        foreach (var parameter in parameters)
        {
            command.Parameters.Add(parameter as NpgsqlParameter ?? new NpgsqlParameter { Value = parameter });
        }

        batch.BatchCommands.Add(command);
        return command;
    }

    private static NpgsqlParameter Jsonb(string json) => new() { Value = json, NpgsqlDbType = NpgsqlDbType.Jsonb };

    private async ValueTask<PaymentsKitException> TranslateAsync(PostgresException ex, Statement? statement, CancellationToken cancellationToken)
    {
        if (statement?.Group is { } group)
        {
            statement = statement with { Write = Culprit(group, ex), Group = null };
        }

        // A record table may carry UNIQUE constraints over the same values as the collection's keys (the
        // seed tables do). One of them fires at the record's own statement, before the batch claims the
        // keys, so the id is not what was taken: the key whose value another record holds is.
        if (statement is { Key: null } record && ex.SqlState == PostgresErrorCodes.UniqueViolation)
        {
            foreach (var (key, value) in record.Write.UniqueKeys)
            {
                if (await FindIdAsync(record.Write.Collection, key, value, cancellationToken).ConfigureAwait(false) is { } holder && holder != record.Write.Id)
                {
                    return Wrapped(BufferedUnitOfWork.DuplicateKey(record.Write.Collection, key, value), ex);
                }
            }
        }

        return Translate(ex, statement);
    }

    private static PaymentsKitException Translate(PostgresException ex, Statement? statement)
    {
        if (statement is { } s)
        {
            if (ex.SqlState == VersionConflictState)
            {
                return Wrapped(BufferedUnitOfWork.Conflict(s.Write.Collection, s.Write.Id, s.Write.ExpectedVersion), ex);
            }

            if (ex.SqlState == PostgresErrorCodes.UniqueViolation)
            {
                return Wrapped(
                    s.Key is null ? BufferedUnitOfWork.DuplicateId(s.Write.Collection, s.Write.Id) : BufferedUnitOfWork.DuplicateKey(s.Write.Collection, s.Key, s.Value!),
                    ex);
            }
        }

        return StorageFailure(ex, "committing");
    }

    private static PaymentsKitException Wrapped(PaymentsKitException error, PostgresException cause) =>
        new(error.Code, error.Message, error.Context, error.IsTransient, cause);

    /// <summary>
    /// The error for a failure of the database itself. Anything that is not an error reported by the
    /// server (refused or dropped connections, timeouts, an exhausted pool) may pass on retry.
    /// </summary>
    internal static PaymentsKitException StorageFailure(NpgsqlException ex, string what) =>
        new(PaymentsKitErrorCodes.StorageFailure,
            $"PostgreSQL failed while {what}: {ex.Message}",
            new Dictionary<string, object?> { ["sqlState"] = (ex as PostgresException)?.SqlState },
            isTransient: ex.IsTransient || ex is not PostgresException,
            innerException: ex);

    private T Deserialize<T>(RecordCollection<T> collection, string json)
        where T : class =>
        JsonSerializer.Deserialize<T>(json, _json)
        ?? throw new PaymentsKitException(PaymentsKitErrorCodes.StorageFailure, $"A stored {collection.Name} record is JSON null.");

    [LoggerMessage(EventId = 2, Level = LogLevel.Warning, Message = "PaymentsKit commit hit {SqlState}; retry {Attempt} of {MaxRetries}")]
    private static partial void LogRetry(ILogger logger, string sqlState, int attempt, int maxRetries);

    /// <summary>What a batch statement writes, to name it when it fails.</summary>
    /// <param name="Write">The write; for a set statement, the first of <paramref name="Group"/>.</param>
    /// <param name="Key">The unique key the statement claims, if it claims one.</param>
    /// <param name="Value">The key's value.</param>
    /// <param name="Group">Every write of a set statement of a typed collection.</param>
    private sealed record Statement(PendingWrite Write, string? Key, string? Value, IReadOnlyList<PendingWrite>? Group = null);

    /// <summary>The statements for one records table (internal for the tests that EXPLAIN them).</summary>
    internal sealed class TableSql(string table)
    {
        public const string FindKey =
            "SELECT record_id FROM paymentskit_unique_keys WHERE collection = $1 AND key_name = $2 AND key_value = $3";

        public const string ReleaseKeys =
            "DELETE FROM paymentskit_unique_keys WHERE collection = $1 AND record_id = $2 "
            + "AND (key_name, key_value) NOT IN (SELECT * FROM unnest($3::text[], $4::text[]))";

        public const string ClaimKey =
            "INSERT INTO paymentskit_unique_keys (collection, key_name, key_value, record_id) VALUES ($1, $2, $3, $4)";

        // A value the record already holds is kept; any other holder makes the insert a unique violation.
        public const string KeepOrClaimKey =
            "INSERT INTO paymentskit_unique_keys (collection, key_name, key_value, record_id) SELECT $1, $2, $3, $4 "
            + "WHERE NOT EXISTS (SELECT 1 FROM paymentskit_unique_keys WHERE collection = $1 AND key_name = $2 AND key_value = $3 AND record_id = $4)";

        public string Select { get; } = $"SELECT version, data FROM {table} WHERE collection = $1 AND id = $2";

        /// <summary>The most records one <see cref="SelectMany"/> reads; bounds the statement texts per table.</summary>
        public const int MaxSelectMany = 8;

        // One primary-key lookup per id, appended: each branch is planned as the single-record read is (at most one row by
        // the key), so the generic plan kept after five executions is index scans whatever the table's size was then.
        // An array (id = ANY ($2)) was planned again at every execution, as its generic plan is priced for ten ids; an
        // id list (id IN ($2, …)) kept a sequential scan chosen while the table was small (≈ 1,000 rows read per call).
        private readonly string[] _selectMany = [.. Enumerable.Range(1, MaxSelectMany).Select(n => string.Join(
            " UNION ALL ",
            Enumerable.Range(2, n).Select(p => $"SELECT id, version, data FROM {table} WHERE collection = $1 AND id = ${p.ToString(System.Globalization.CultureInfo.InvariantCulture)}")))];

        /// <summary>Reads <paramref name="count"/> (1 to <see cref="MaxSelectMany"/>) records by id: $1 collection, $2… ids; rows are id, version, data.</summary>
        public string SelectMany(int count) => _selectMany[count - 1];

        public string ListFirst { get; } =
            $"SELECT version, data FROM {table} WHERE collection = $1 AND tenant_id = $2 ORDER BY id LIMIT $3";

        public string ListAfter { get; } =
            $"SELECT version, data FROM {table} WHERE collection = $1 AND tenant_id = $2 AND id > $4 ORDER BY id LIMIT $3";

        private readonly ConcurrentDictionary<string, (string First, string After)> _listBy = new(StringComparer.Ordinal);

        /// <summary>
        /// Lists a tenant's records whose <paramref name="column"/> holds a value ($4), after an id ($5) when
        /// <paramref name="after"/>: an index on (tenant_id, column, id) answers it in id order, reading only those rows.
        /// </summary>
        public string ListBy(string column, bool after)
        {
            var (first, next) = _listBy.GetOrAdd(
                column,
                static (c, t) => (
                    $"SELECT version, data FROM {t} WHERE collection = $1 AND tenant_id = $2 AND {c} = $4 ORDER BY id LIMIT $3",
                    $"SELECT version, data FROM {t} WHERE collection = $1 AND tenant_id = $2 AND {c} = $4 AND id > $5 ORDER BY id LIMIT $3"),
                table);
            return after ? next : first;
        }

        public string Insert { get; } =
            $"INSERT INTO {table} (collection, id, tenant_id, version, data, created_at, updated_at) VALUES ($1, $2, $3, 1, $4, $5, $5)";

        public string Delete { get; } = $"DELETE FROM {table} WHERE collection = $1 AND id = $2 AND tenant_id = $3";

        // The key rows go only with the record: another tenant's record keeps its own.
        public string DeleteWithKeys { get; } =
            $"WITH removed AS (DELETE FROM {table} WHERE collection = $1 AND id = $2 AND tenant_id = $3 RETURNING id) "
            + "DELETE FROM paymentskit_unique_keys WHERE collection = $1 AND record_id IN (SELECT id FROM removed)";

        // The tenant is part of the match: a record cannot be moved to, or written by, another tenant.
        public string Update { get; } =
            $"WITH updated AS (UPDATE {table} SET version = version + 1, data = $4, updated_at = $5 "
            + "WHERE collection = $1 AND id = $2 AND tenant_id = $3 AND version = $6 RETURNING 1) "
            + "SELECT paymentskit_expect_version((SELECT count(*) FROM updated), $1, $2, $6)";
    }

    private sealed class UnitOfWork(PostgreSqlStore store) : BufferedUnitOfWork
    {
        public static string Cursor(Guid lastId) => CursorAfter(lastId);

        protected override ValueTask<Versioned<T>?> ReadAsync<T>(RecordCollection<T> collection, Guid id, CancellationToken cancellationToken) =>
            store.ReadAsync(collection, id, cancellationToken);

        protected override ValueTask<Guid?> FindIdAsync<T>(RecordCollection<T> collection, string uniqueKey, string value, CancellationToken cancellationToken) =>
            store.FindIdAsync(collection.Name, uniqueKey, value, cancellationToken);

        protected override async ValueTask<IReadOnlyList<Versioned<object>?>?> ReadManyAsync(IReadOnlyList<RecordRef> records, CancellationToken cancellationToken) =>
            await store.ReadManyAsync(records, cancellationToken).ConfigureAwait(false);

        protected override async ValueTask<IReadOnlyList<long>?> ReadVersionsAsync(IReadOnlyList<RecordRef> records, CancellationToken cancellationToken) =>
            (await store.ReadManyAsync(records, cancellationToken).ConfigureAwait(false)).Select(r => r?.Version ?? 0).ToList();

        protected override ValueTask<Page<Versioned<T>>> ListCommittedAsync<T>(RecordCollection<T> collection, Guid tenantId, Guid? after, int limit, CancellationToken cancellationToken) =>
            store.ListAsync(collection, tenantId, null, after, limit, cancellationToken);

        protected override ValueTask<Page<Versioned<T>>> ListIndexedCommittedAsync<T>(
            RecordCollection<T> collection, Guid tenantId, string index, Guid value, Guid? after, int limit, CancellationToken cancellationToken) =>
            store.ListAsync(collection, tenantId, (index, value), after, limit, cancellationToken);

        protected override ValueTask ApplyAsync(IReadOnlyList<PendingWrite> writes, CancellationToken cancellationToken) =>
            store.ApplyAsync(writes, [], cancellationToken);

        protected override ValueTask ApplyAsync(IReadOnlyList<PendingWrite> writes, IReadOnlyList<PendingRemoval> removals, CancellationToken cancellationToken) =>
            store.ApplyAsync(writes, removals, cancellationToken);
    }
}
