using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using PaymentsKit.Payouts;

namespace PaymentsKit.PostgreSql;

/// <summary>Moves mass payouts' holder snapshots and due query to PostgreSQL with the rest of the store.</summary>
internal static class PostgreSqlPayoutsRegistration
{
    public static void AddPostgreSqlPayouts(IServiceCollection services)
    {
        services.TryAddSingleton(provider => new PostgreSqlPayoutsStore(
            provider.GetRequiredService<PostgreSqlStore>(), provider.GetRequiredService<IOptions<PostgreSqlStoreOptions>>().Value));
        services.Replace(ServiceDescriptor.Singleton<IHolderSnapshotStore>(provider => provider.GetRequiredService<PostgreSqlPayoutsStore>()));
        services.Replace(ServiceDescriptor.Singleton<IDueDistributionIndex>(provider => provider.GetRequiredService<PostgreSqlPayoutsStore>()));
    }
}
