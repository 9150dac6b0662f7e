using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using NodaTime;
using PaymentsKit;
using PaymentsKit.DependencyInjection;
using PaymentsKit.Invoicing;
using PaymentsKit.Json;
using PaymentsKit.Orchestration;
using PaymentsKit.PostgreSql;
using PaymentsKit.Routing;
using PaymentsKit.Storage;
using PaymentsKit.Webhooks;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Moves PaymentsKit's storage to PostgreSQL.</summary>
public static class PaymentsKitPostgreSqlBuilderExtensions
{
    /// <summary>Stores everything in PostgreSQL at <paramref name="connectionString"/>, in the <c>public</c> schema.</summary>
    /// <param name="builder">The builder from <c>AddPaymentsKit</c>.</param>
    /// <param name="connectionString">An Npgsql connection string.</param>
    /// <returns>The same builder.</returns>
    public static PaymentsKitBuilder UsePostgreSql(this PaymentsKitBuilder builder, string connectionString) =>
        builder.UsePostgreSql(options => options.ConnectionString = connectionString);

    /// <summary>
    /// Stores everything in PostgreSQL, replacing the in-memory store. Registers <see cref="PostgreSqlStore"/>
    /// as <see cref="IPaymentsStore"/>, its <see cref="IPaymentsKitMigrator"/>,
    /// <see cref="PostgreSqlPayoutsStore"/> as the holder snapshot store and due-distribution index, the
    /// <see cref="PostgreSqlWebhookDeliveryQueue"/> as <see cref="IWebhookDeliveryQueue"/>, the due payment intent queue
    /// (<see cref="IDuePaymentIntentQueue"/>), the queue of transactions due a sync (<see cref="IDueTransactionQueue"/>), and the invoicing
    /// queries computed in SQL. The options are
    /// validated when the host starts, reporting every problem at once; a durable store also requires
    /// <see cref="PaymentsKitOptions.ApiKeyHashingSecret"/>.
    /// </summary>
    /// <param name="builder">The builder from <c>AddPaymentsKit</c>.</param>
    /// <param name="configure">Sets the connection string and the other options.</param>
    /// <returns>The same builder.</returns>
    public static PaymentsKitBuilder UsePostgreSql(this PaymentsKitBuilder builder, Action<PostgreSqlStoreOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configure);
        var services = builder.Services;
        services.AddOptions<PostgreSqlStoreOptions>().Configure(configure).ValidateOnStart();

        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<PaymentsKitOptions>, ApiKeyHashingSecretRequired>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<PostgreSqlStoreOptions>, PostgreSqlStoreOptionsValidator>());
        services.TryAddSingleton(provider => new PostgreSqlStore(
            provider.GetRequiredService<IOptions<PostgreSqlStoreOptions>>().Value,
            provider.GetRequiredService<PaymentsKitJsonOptions>(),
            provider.GetRequiredService<IClock>(),
            provider.GetService<ILoggerFactory>()));
        services.Replace(ServiceDescriptor.Singleton<IPaymentsStore>(provider => provider.GetRequiredService<PostgreSqlStore>()));
        services.Replace(ServiceDescriptor.Singleton<IInvoicingQueries>(provider => new PostgreSqlInvoicingQueries(
            provider.GetRequiredService<PostgreSqlStore>(), provider.GetRequiredService<AssetRegistry>())));
        services.TryAddSingleton(provider => provider.GetRequiredService<PostgreSqlStore>().Migrator);
        PostgreSqlPayoutsRegistration.AddPostgreSqlPayouts(services);

        services.Replace(ServiceDescriptor.Singleton<IWebhookDeliveryQueue>(provider => new PostgreSqlWebhookDeliveryQueue(provider.GetRequiredService<PostgreSqlStore>())));
        services.Replace(ServiceDescriptor.Singleton<IDuePaymentIntentQueue>(provider => new PostgreSqlDuePaymentIntentQueue(provider.GetRequiredService<PostgreSqlStore>())));
        services.Replace(ServiceDescriptor.Singleton<IDueTransactionQueue>(provider => new PostgreSqlDueTransactionQueue(provider.GetRequiredService<PostgreSqlStore>())));
        return builder;
    }

    /// <summary>
    /// Refuses a durable store without <see cref="PaymentsKitOptions.ApiKeyHashingSecret"/>: API keys are stored hashed under
    /// it, so a secret made per process would leave every stored key unverifiable after a restart, or on another host. A type of
    /// its own, so a second <c>UsePostgreSql</c> does not report the problem twice.
    /// </summary>
    private sealed class ApiKeyHashingSecretRequired : IValidateOptions<PaymentsKitOptions>
    {
        public ValidateOptionsResult Validate(string? name, PaymentsKitOptions options) =>
            options.ApiKeyHashingSecret is not null
                ? ValidateOptionsResult.Success
                : ValidateOptionsResult.Fail(
                    "PaymentsKit:ApiKeyHashingSecret is required with UsePostgreSql (base64 of at least 32 bytes): API keys are stored hashed under it, and keys hashed under a secret made per process stop verifying after a restart or on another host.");
    }
}
