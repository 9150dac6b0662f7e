namespace PaymentsKit.PostgreSql;

/// <summary>Options for the PostgreSQL store (<c>UsePostgreSql</c>). Validated when the host starts; every problem is reported at once.</summary>
public sealed class PostgreSqlStoreOptions
{
    /// <summary>The schema used when none is set.</summary>
    public const string DefaultSchema = "public";

    /// <summary>The Npgsql connection string. Required.</summary>
    public string? ConnectionString { get; set; }

    /// <summary>
    /// The schema holding PaymentsKit's tables: lower-case letters, digits and underscores, starting
    /// with a letter or underscore, at most 63 characters. Default <see cref="DefaultSchema"/>.
    /// </summary>
    public string Schema { get; set; } = DefaultSchema;

    /// <summary>
    /// How many times a commit is retried after a serialization failure (40001) or a deadlock
    /// (40P01), 0–10. Default 3.
    /// </summary>
    public int MaxRetries { get; set; } = 3;

    /// <summary>
    /// Whether the store applies pending migrations before its first unit of work (once, under an
    /// advisory lock). Turn it off when a DBA applies <see cref="IPaymentsKitMigrator.GetScript"/>.
    /// Default true.
    /// </summary>
    public bool ApplyMigrationsOnStartup { get; set; } = true;
}
