using Microsoft.Extensions.Logging;
using PaymentsKit.Json;
using PaymentsKit.Testing;

namespace PaymentsKit.PostgreSql.Tests;

/// <summary>Builds stores for tests.</summary>
internal static class TestStores
{
    public static PaymentsKitJsonOptions Json { get; } = new(PaymentsKitJson.CreateOptions(new AssetRegistry()));

    public static PostgreSqlStore Create(string connectionString, Action<PostgreSqlStoreOptions>? configure = null, ManualClock? clock = null, ILoggerFactory? loggerFactory = null)
    {
        var options = new PostgreSqlStoreOptions { ConnectionString = connectionString };
        configure?.Invoke(options);
        return new PostgreSqlStore(options, Json, clock ?? new ManualClock(), loggerFactory);
    }
}
