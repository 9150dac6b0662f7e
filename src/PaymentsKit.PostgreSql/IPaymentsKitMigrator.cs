namespace PaymentsKit.PostgreSql;

/// <summary>
/// Applies PaymentsKit's schema: embedded SQL migrations (<c>Migrations/NNNN_name.sql</c>), in order,
/// each once, recorded with its SHA-256 checksum in <c>paymentskit_migrations</c>, under a
/// PostgreSQL advisory lock so concurrent starts apply each migration exactly once.
/// </summary>
public interface IPaymentsKitMigrator
{
    /// <summary>Every migration this version of PaymentsKit ships, in the order they apply.</summary>
    IReadOnlyList<MigrationInfo> Migrations { get; }

    /// <summary>Applies the migrations the database does not have yet.</summary>
    /// <returns>The migrations this call applied (empty when the database was up to date).</returns>
    /// <exception cref="PaymentsKitException">
    /// <c>storage_failure</c>: the database is unreachable (transient), a migration failed (nothing of it
    /// is kept), or an applied migration's checksum differs from the shipped file.
    /// </exception>
    ValueTask<IReadOnlyList<MigrationInfo>> MigrateAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// The whole schema as one SQL script for a DBA to review and apply to a database without
    /// PaymentsKit tables (e.g. <c>psql -v ON_ERROR_STOP=1 -f paymentskit.sql</c>). It records the
    /// migrations like <see cref="MigrateAsync"/> does, so the store later finds nothing to apply.
    /// </summary>
    string GetScript();
}

/// <summary>One shipped migration.</summary>
/// <param name="Version">Its number; migrations apply in ascending order.</param>
/// <param name="Name">The file name after the number, e.g. "records".</param>
/// <param name="Checksum">Lower-case hex SHA-256 of the script (line endings normalised to LF).</param>
public sealed record MigrationInfo(int Version, string Name, string Checksum);
