using System.Buffers.Binary;
using System.Globalization;
using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace PaymentsKit.PostgreSql;

/// <summary>A migration script with its identity.</summary>
internal sealed record Migration(MigrationInfo Info, string Sql)
{
    public static Migration Create(int version, string name, string sql)
    {
        // Git may check the file out with CRLF on one machine and LF on another; the checksum must not care.
        var normalized = sql.Replace("\r\n", "\n", StringComparison.Ordinal);
        var checksum = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(normalized)));
        return new Migration(new MigrationInfo(version, name, checksum), normalized);
    }

    public string Label => string.Create(CultureInfo.InvariantCulture, $"{Info.Version:D4}_{Info.Name}");
}

/// <summary>The <see cref="IPaymentsKitMigrator"/> over a data source, for one schema.</summary>
internal sealed partial class PostgreSqlMigrator : IPaymentsKitMigrator
{
    private const string ResourcePrefix = "PaymentsKit.PostgreSql.Migrations.";

    private readonly NpgsqlDataSource _dataSource;
    private readonly string _schema;
    private readonly string _quotedSchema;
    private readonly long _lockKey;
    private readonly IReadOnlyList<Migration> _migrations;
    private readonly ILogger _logger;

    public PostgreSqlMigrator(NpgsqlDataSource dataSource, string schema, IReadOnlyList<Migration> migrations, ILogger? logger = null)
    {
        _dataSource = dataSource;
        _schema = schema;
        _quotedSchema = "\"" + schema + "\"";
        _lockKey = LockKey(schema);
        _migrations = Ordered(migrations);
        _logger = logger ?? NullLogger.Instance;
        Migrations = [.. _migrations.Select(m => m.Info)];
    }

    public IReadOnlyList<MigrationInfo> Migrations { get; }

    /// <summary>The migrations embedded in this assembly.</summary>
    public static IReadOnlyList<Migration> Embedded { get; } = LoadEmbedded();

    public async ValueTask<IReadOnlyList<MigrationInfo>> MigrateAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            return await MigrateCoreAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (NpgsqlException ex)
        {
            throw PostgreSqlStore.StorageFailure(ex, $"applying PaymentsKit migrations to schema '{_schema}'");
        }
    }

    public string GetScript()
    {
        var script = new StringBuilder();
        var last = _migrations.Count == 0 ? "none" : _migrations[^1].Label;
        script.Append(CultureInfo.InvariantCulture, $"-- PaymentsKit PostgreSQL schema \"{_schema}\": {_migrations.Count} migration(s), up to {last}.\n");
        script.Append("-- Apply to a database without PaymentsKit tables; it runs as one transaction.\n\n");
        script.Append("BEGIN;\n");
        script.Append(CultureInfo.InvariantCulture, $"SELECT pg_advisory_xact_lock({_lockKey});\n");
        script.Append(CultureInfo.InvariantCulture, $"CREATE SCHEMA IF NOT EXISTS {_quotedSchema};\n");
        script.Append(CultureInfo.InvariantCulture, $"SET LOCAL search_path TO {_quotedSchema};\n");
        script.Append(HistoryTableSql("paymentskit_migrations")).Append(";\n");
        foreach (var migration in _migrations)
        {
            script.Append(CultureInfo.InvariantCulture, $"\n-- {migration.Label} (sha256 {migration.Info.Checksum})\n");
            script.Append(migration.Sql.TrimEnd());
            script.Append('\n');
            script.Append(CultureInfo.InvariantCulture, $"INSERT INTO paymentskit_migrations (version, name, checksum) VALUES ({migration.Info.Version}, '{migration.Info.Name}', '{migration.Info.Checksum}');\n");
        }

        script.Append("\nCOMMIT;\n");
        return script.ToString();
    }

    private async ValueTask<IReadOnlyList<MigrationInfo>> MigrateCoreAsync(CancellationToken cancellationToken)
    {
        var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            // A session lock, not a transaction lock: each migration commits on its own, and every
            // concurrent starter must wait until all are applied before it reads the history.
            await ExecuteAsync(connection, "SELECT pg_advisory_lock($1)", cancellationToken, _lockKey).ConfigureAwait(false);
            try
            {
                await EnsureHistoryAsync(connection, cancellationToken).ConfigureAwait(false);
                var applied = await ReadHistoryAsync(connection, cancellationToken).ConfigureAwait(false);
                var done = new List<MigrationInfo>();
                foreach (var migration in _migrations)
                {
                    if (applied.TryGetValue(migration.Info.Version, out var recorded))
                    {
                        ThrowIfChanged(migration, recorded);
                        continue;
                    }

                    await ApplyAsync(connection, migration, cancellationToken).ConfigureAwait(false);
                    done.Add(migration.Info);
                }

                return done;
            }
            finally
            {
                // If the connection broke, the server already released the lock with the session.
                if (connection.State == System.Data.ConnectionState.Open)
                {
                    await ExecuteAsync(connection, "SELECT pg_advisory_unlock($1)", CancellationToken.None, _lockKey).ConfigureAwait(false);
                }
            }
        }
    }

    private async ValueTask EnsureHistoryAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        // CREATE SCHEMA IF NOT EXISTS still demands CREATE on the database, which a least-privilege
        // role using an existing schema may not have; look first.
        var schemaExists = await ScalarAsync(connection, "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", cancellationToken, _schema).ConfigureAwait(false);
        if (schemaExists is not true)
        {
            await ExecuteAsync(connection, $"CREATE SCHEMA {_quotedSchema}", cancellationToken).ConfigureAwait(false);
        }

        await ExecuteAsync(connection, HistoryTableSql(_quotedSchema + ".paymentskit_migrations"), cancellationToken).ConfigureAwait(false);
    }

    private async ValueTask<Dictionary<int, (string Name, string Checksum)>> ReadHistoryAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        var applied = new Dictionary<int, (string, string)>();
        var command = new NpgsqlCommand($"SELECT version, name, checksum FROM {_quotedSchema}.paymentskit_migrations", connection);
        await using (command.ConfigureAwait(false))
        {
            var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            await using (reader.ConfigureAwait(false))
            {
                while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    applied[reader.GetInt32(0)] = (reader.GetString(1), reader.GetString(2));
                }
            }
        }

        return applied;
    }

    private void ThrowIfChanged(Migration migration, (string Name, string Checksum) recorded)
    {
        if (recorded.Checksum == migration.Info.Checksum)
        {
            return;
        }

        throw new PaymentsKitException(
            PaymentsKitErrorCodes.StorageFailure,
            $"Migration {migration.Label} in schema '{_schema}' was applied with checksum {recorded.Checksum} (as '{recorded.Name}'), "
            + $"but the shipped script has checksum {migration.Info.Checksum}. An applied migration must never change; add a new migration instead.",
            new Dictionary<string, object?>
            {
                ["schema"] = _schema,
                ["migration"] = migration.Label,
                ["appliedChecksum"] = recorded.Checksum,
                ["checksum"] = migration.Info.Checksum,
            });
    }

    private async ValueTask ApplyAsync(NpgsqlConnection connection, Migration migration, CancellationToken cancellationToken)
    {
        var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await using (transaction.ConfigureAwait(false))
        {
            await ExecuteAsync(connection, $"SET LOCAL search_path TO {_quotedSchema}", cancellationToken).ConfigureAwait(false);
            await ExecuteAsync(connection, migration.Sql, cancellationToken).ConfigureAwait(false);
            await ExecuteAsync(
                connection,
                "INSERT INTO paymentskit_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                cancellationToken,
                migration.Info.Version,
                migration.Info.Name,
                migration.Info.Checksum).ConfigureAwait(false);
            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        }

        LogApplied(_logger, migration.Label, _schema);
    }

    private static string HistoryTableSql(string table) =>
        $"CREATE TABLE IF NOT EXISTS {table} (version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())";

    private static async ValueTask ExecuteAsync(NpgsqlConnection connection, string sql, CancellationToken cancellationToken, params object[] parameters)
    {
        var command = Command(connection, sql, parameters);
        await using (command.ConfigureAwait(false))
        {
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private static async ValueTask<object?> ScalarAsync(NpgsqlConnection connection, string sql, CancellationToken cancellationToken, params object[] parameters)
    {
        var command = Command(connection, sql, parameters);
        await using (command.ConfigureAwait(false))
        {
            return await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private static NpgsqlCommand Command(NpgsqlConnection connection, string sql, object[] parameters)
    {
#pragma warning disable CA2100 // SQL is the shipped migrations and statements built from the validated schema name.
        var command = new NpgsqlCommand(sql, connection);
#pragma warning restore CA2100
        foreach (var parameter in parameters)
        {
            command.Parameters.Add(new NpgsqlParameter { Value = parameter });
        }

        return command;
    }

    private static long LockKey(string schema)
    {
        // Stable across processes and versions (string.GetHashCode is randomised per process).
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes("paymentskit.migrations:" + schema));
        return BinaryPrimitives.ReadInt64BigEndian(hash);
    }

    private static List<Migration> Ordered(IReadOnlyList<Migration> migrations)
    {
        var ordered = migrations.OrderBy(m => m.Info.Version).ToList();
        for (var i = 0; i < ordered.Count; i++)
        {
            if (ordered[i].Info.Version < 1 || (i > 0 && ordered[i].Info.Version == ordered[i - 1].Info.Version))
            {
                throw new InvalidOperationException($"Migration {ordered[i].Label} has a duplicate or non-positive number.");
            }
        }

        return ordered;
    }

    private static List<Migration> LoadEmbedded()
    {
        var assembly = typeof(PostgreSqlMigrator).Assembly;
        var migrations = new List<Migration>();
        foreach (var resource in assembly.GetManifestResourceNames())
        {
            if (!resource.StartsWith(ResourcePrefix, StringComparison.Ordinal) || !resource.EndsWith(".sql", StringComparison.Ordinal))
            {
                continue;
            }

            var file = resource[ResourcePrefix.Length..^".sql".Length];
            var match = FileNamePattern().Match(file);
            if (!match.Success)
            {
                throw new InvalidOperationException($"Embedded migration '{file}.sql' must be named NNNN_name.sql.");
            }

            migrations.Add(Migration.Create(
                int.Parse(match.Groups[1].Value, NumberStyles.None, CultureInfo.InvariantCulture),
                match.Groups[2].Value,
                ReadResource(assembly, resource)));
        }

        return migrations;
    }

    private static string ReadResource(Assembly assembly, string resource)
    {
        using var stream = assembly.GetManifestResourceStream(resource)
            ?? throw new InvalidOperationException($"Embedded migration '{resource}' cannot be read.");
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return reader.ReadToEnd();
    }

    [GeneratedRegex("^([0-9]{4})_([a-z0-9_]+)$", RegexOptions.CultureInvariant)]
    private static partial Regex FileNamePattern();

    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "Applied PaymentsKit migration {Migration} to schema {Schema}")]
    private static partial void LogApplied(ILogger logger, string migration, string schema);
}
