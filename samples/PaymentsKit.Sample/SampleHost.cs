using System.Security.Cryptography;
using System.Text.Json.Serialization.Metadata;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.Extensions.Options;
using NodaTime;
using PaymentsKit.Chains;
using PaymentsKit.Chains.Stellar;
using PaymentsKit.Json;
using PaymentsKit.Orchestration;
using PaymentsKit.Payouts;
using PaymentsKit.PostgreSql;
using PaymentsKit.Routing;
using PaymentsKit.Sample.Api;
using PaymentsKit.Sample.Checkout;

namespace PaymentsKit.Sample;

/// <summary>Builds the sample's web host: PaymentsKit on simulated chains and provider, the JSON API, the webhook receiver and the checkout.</summary>
public static class SampleHost
{
    /// <summary>The chains payment intents are routed over; each gets a simulated chain and a treasury wallet.</summary>
    public static readonly IReadOnlyList<ChainId> RoutingChains = [ChainId.Stellar, ChainId.Ethereum, ChainId.Solana];

    /// <summary>The simulated payout account the demo and the API leave unassociated with USDC, so one holder payment fails.</summary>
    public const string UnassociatedPayoutAccount = "0.0.700013";

    private static readonly Money TreasuryFunding = Money.Of(1_000_000m, AssetRegistry.Usdc);

    /// <summary>Builds the host (not started).</summary>
    /// <param name="options">How to run.</param>
    public static WebApplication Build(SampleOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            ApplicationName = typeof(SampleHost).Assembly.GetName().Name,
            ContentRootPath = AppContext.BaseDirectory,
        });
        builder.WebHost.UseUrls(options.Url);
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        if (options.Demo)
        {
            // The demo prints its own story; the framework's request logs would drown it.
            builder.Logging.SetMinimumLevel(LogLevel.Warning);

            // The demo's host lives for the tour only, which Ctrl+C and SIGTERM cancel (see SampleProgram): the console
            // lifetime would take the signals over as soon as the host starts, so the tour would run on to its end.
            builder.Services.AddSingleton<IHostLifetime, TourLifetime>();
        }

        var clock = options.Clock;
        var paymentsKit = builder.Services
            .AddPaymentsKit(settings =>
            {
                settings.Assets.Add(new() { Code = "GOLD", Scale = 4 });

                // A durable store needs a stable key-hashing secret, or the stored API keys stop verifying after a restart.
                settings.ApiKeyHashingSecret = options.ApiKeyHashingSecret ?? builder.Configuration["PAYMENTSKIT_API_KEY_SECRET"];
            })
            .UseClock(clock)
            .AddSimulatedChain(ChainId.Stellar, chain =>
            {
                chain.AddressCodec = StellarAddressCodec.Instance;
                chain.BlockTime = Duration.FromSeconds(1);
                chain.FinalityConfirmations = 2;
            })
            .AddSimulatedChain(ChainId.Ethereum, chain =>
            {
                chain.BlockTime = Duration.FromSeconds(1);
                chain.FinalityConfirmations = 2;
                chain.TransferFee = 0.00002m;
            })
            .AddSimulatedChain(ChainId.Solana, chain =>
            {
                chain.BlockTime = Duration.FromMilliseconds(400);
                chain.FinalityConfirmations = 2;
                chain.TransferFee = 0.000005m;
            })
            .ConfigureRouting(routing =>
            {
                routing.NativeAssetPrices["XLM"] = 0.10m;
                routing.NativeAssetPrices["ETH"] = 2_000m;
                routing.NativeAssetPrices["SOL"] = 100m;
            })
            .AddPaymentProvider(new SimulatedPaymentProvider(PaymentProvider.Stripe, clock))
            .AddSimulatedPayouts(payouts => payouts.FailingAccounts.Add(UnassociatedPayoutAccount))

            // The sample's own receiver listens on loopback over http; production endpoints stay https-only.
            .AddWebhookDelivery(webhooks => webhooks.AllowLoopback = true);
        if (options.BackgroundJobs)
        {
            paymentsKit.AddPaymentsKitHosting();
        }

        if (options.PostgresConnectionString is { } connectionString)
        {
            paymentsKit.UsePostgreSql(connectionString);
        }

        builder.Services.AddSingleton<ReceivedWebhooks>();
        builder.Services.Configure<RouteHandlerOptions>(routes => routes.ThrowOnBadRequest = true);
        builder.Services.AddOptions<JsonOptions>().Configure<PaymentsKitJsonOptions>((json, paymentsKitJson) =>
        {
            // The API speaks PaymentsKit's JSON: snake_case, string enums, exact Money and NodaTime values.
            var source = paymentsKitJson.Options;
            json.SerializerOptions.PropertyNamingPolicy = source.PropertyNamingPolicy;
            json.SerializerOptions.DictionaryKeyPolicy = source.DictionaryKeyPolicy;
            json.SerializerOptions.NumberHandling = source.NumberHandling;
            json.SerializerOptions.TypeInfoResolver = new DefaultJsonTypeInfoResolver();
            foreach (var converter in source.Converters)
            {
                json.SerializerOptions.Converters.Add(converter);
            }
        });

        var app = builder.Build();
        app.UseStatusCodePages(context => ApiErrors.WriteForStatusAsync(context.HttpContext));
        app.UseMiddleware<ApiErrorMiddleware>();
        app.UseMiddleware<ApiKeyMiddleware>();
        MerchantApi.Map(app);
        RoutingApi.Map(app);
        StreamApi.Map(app);
        PartnerApi.Map(app);
        DistributionApi.Map(app);
        WebhookApi.Map(app);
        CheckoutPages.Map(app);
        return app;
    }

    /// <summary>
    /// Prepares the store and the simulated world before the host starts: validates every options type, applies the
    /// PostgreSQL migrations, opens and funds a treasury wallet on each routing chain (once, by idempotency key), funds
    /// the simulated chains to match, and takes the first chain health sample so quotes can be priced at once.
    /// </summary>
    /// <returns>The migrations this start applied (none on the in-memory store or an up-to-date database).</returns>
    /// <exception cref="OptionsValidationException">Or an <see cref="AggregateException"/> of them: every options problem at once.</exception>
    public static async Task<IReadOnlyList<MigrationInfo>> InitializeAsync(WebApplication app, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(app);
        var services = app.Services;

        // What the host's start would check (ValidateOnStart), checked before the first service is resolved here: a
        // resolution validates only its own options, so the first refusal would hide every other problem.
        services.GetRequiredService<IStartupValidator>().Validate();
        IReadOnlyList<MigrationInfo> applied = [];
        if (services.GetService<IPaymentsKitMigrator>() is { } migrator)
        {
            applied = await migrator.MigrateAsync(cancellationToken).ConfigureAwait(false);
            app.Logger.LogInformation("PostgreSQL schema ready: {Count} migrations applied on this start", applied.Count);
        }

        var treasury = services.GetRequiredService<TreasuryService>();
        var chains = services.GetRequiredService<IChainAdapterRegistry>();
        foreach (var chain in RoutingChains)
        {
            var simulated = (SimulatedChain)chains.Get(chain);
            var address = TreasuryAddress(chain);
            await treasury.OpenWalletAsync(chain, address, cancellationToken).ConfigureAwait(false);
            await treasury.FundAsync(chain, TreasuryFunding, $"sample-treasury-funding-{chain}", cancellationToken).ConfigureAwait(false);
            simulated.Fund(address, TreasuryFunding);
            simulated.Fund(address, Money.Of(1_000m, simulated.NativeAsset));
        }

        await services.GetRequiredService<IChainHealthService>().SampleHealthAsync(cancellationToken).ConfigureAwait(false);
        return applied;
    }

    /// <summary>The base address the started host listens on, e.g. <c>http://127.0.0.1:41234</c>.</summary>
    public static Uri BaseAddress(WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        return new Uri(app.Urls.First());
    }

    /// <summary>A host lifetime that handles no signal: its owner stops the host.</summary>
    private sealed class TourLifetime : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }

    /// <summary>The treasury's (simulated) wallet on a chain: fixed, so a PostgreSQL store finds the same wallet on the next start.</summary>
    public static string TreasuryAddress(ChainId chain) =>
        chain == ChainId.Stellar ? StellarAddressCodec.EncodeAccount(SHA256.HashData("paymentskit-sample-treasury"u8)) : $"sample-treasury-{chain}";
}
