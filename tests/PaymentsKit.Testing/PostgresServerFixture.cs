using System.Collections.Concurrent;

namespace PaymentsKit.Testing;

/// <summary>
/// The xunit collection fixture every PostgreSQL test project shares: one <see cref="ThrowawayPostgres"/>
/// for the test run, a fresh database per test class. A test project declares the collection once:
/// <code>
/// [CollectionDefinition(PostgresServerFixture.CollectionName)]
/// public sealed class PostgresCollection : ICollectionFixture&lt;PostgresServerFixture&gt;;
/// </code>
/// and puts <c>[Collection(PostgresServerFixture.CollectionName)]</c> on its test classes.
/// If PostgreSQL cannot be found or started every test in the collection fails with the reason;
/// nothing is ever skipped.
/// </summary>
public sealed class PostgresServerFixture : IAsyncLifetime
{
    /// <summary>The xunit collection name.</summary>
    public const string CollectionName = "PostgreSQL";

    private readonly ConcurrentDictionary<Type, Lazy<Task<string>>> _classDatabases = new();
    private ThrowawayPostgres? _server;

    /// <summary>The running server.</summary>
    public ThrowawayPostgres Server => _server ?? throw new InvalidOperationException("The PostgreSQL fixture is not initialized.");

    /// <inheritdoc />
    public async Task InitializeAsync()
    {
        try
        {
            _server = await ThrowawayPostgres.StartAsync().ConfigureAwait(false);
        }
        catch (PostgresUnavailableException ex)
        {
            var advice = !string.IsNullOrWhiteSpace(Environment.GetEnvironmentVariable(ThrowawayPostgres.ConnectionStringVariable))
                ? $"{ThrowawayPostgres.ConnectionStringVariable} is set: start that server, fix the connection string, or unset it to let the tests start their own."
                : string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase)
                    ? "CI=true: the CI script must install PostgreSQL (e.g. apt-get install -y postgresql) before running the tests."
                    : $"Install PostgreSQL (e.g. apt-get install -y postgresql) or set {ThrowawayPostgres.ConnectionStringVariable} to a connection string of a server the tests may create databases on.";
            throw new PostgresUnavailableException($"PostgreSQL tests cannot run: {ex.Message}\n{advice}", ex);
        }
    }

    /// <summary>The database of a test class, created on first request and shared by the class's tests.</summary>
    public Task<string> DatabaseForClassAsync(Type testClass)
    {
        ArgumentNullException.ThrowIfNull(testClass);
        return _classDatabases.GetOrAdd(testClass, type => new Lazy<Task<string>>(() => Server.CreateDatabaseAsync(type.Name))).Value;
    }

    /// <summary>A new empty database, for a test that needs one of its own.</summary>
    public Task<string> CreateDatabaseAsync(string prefix) => Server.CreateDatabaseAsync(prefix);

    /// <inheritdoc />
    public async Task DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync().ConfigureAwait(false);
        }
    }
}
