using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Options;
using NodaTime;
using Npgsql;
using PaymentsKit.Chains;
using PaymentsKit.Json;
using PaymentsKit.Ledger;
using PaymentsKit.PostgreSql;
using PaymentsKit.Routing;
using PaymentsKit.Security;
using PaymentsKit.Storage;
using PaymentsKit.Testing;
using PaymentsKit.Webhooks;

namespace PaymentsKit.LoadTest;

/// <summary>The router's load scenario.</summary>
internal static class IntentScenarios
{
    private static readonly Money Funding = Money.Of(1_000_000_000m, AssetRegistry.Usdc);
    private static readonly Money Payment = Money.Of(1.25m, AssetRegistry.Usdc);

    // The step a flow is in, for the round-trip profile.
    private static readonly AsyncLocal<string?> Step = new();

    /// <summary>
    /// pgbench (TPC-B) and then complete payment intent flows on one throwaway PostgreSQL server, with the
    /// same client count and duration. A flow is quote → create → select route (treasury reservation) →
    /// broadcast (sign + send an attempt) → poll → settle (post payment and fee), on simulated Ethereum and
    /// Solana chains with 1 ms blocks and 1 confirmation, each client a merchant of its own, alternating
    /// chains (one treasury wallet per chain, shared by all clients). Ratio: flows per second ÷ pgbench tps.
    /// </summary>
    public static async Task<double> PostgreSqlAsync(LoadTestOptions options)
    {
        var seconds = options.Seconds ?? 10;
        var clients = options.Clients ?? 8;
        var server = await ThrowawayPostgres.StartAsync().ConfigureAwait(false);
        await using (server.ConfigureAwait(false))
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"scenario: intents (PostgreSQL {(server.IsExternal ? "from " + ThrowawayPostgres.ConnectionStringVariable : "throwaway server")}, {clients} clients, {seconds} s per phase)"));
            var pgbenchTps = await LedgerScenarios.RunPgbenchAsync(await server.CreateDatabaseAsync("pgbench").ConfigureAwait(false), clients, seconds).ConfigureAwait(false);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"pgbench (TPC-B, scale {clients}): {pgbenchTps:0.0} tps"));

            var connectionString = await server.CreateDatabaseAsync("intents").ConfigureAwait(false);
            var store = CreateStore(connectionString, clients);
            await using (store.ConfigureAwait(false))
            {
                var router = await Router.CreateAsync(store, clients).ConfigureAwait(false);
                var warmUp = await LedgerScenarios.WarmUpAsync(async () => (await RunClientsAsync(router, TimeSpan.FromSeconds(1)).ConfigureAwait(false)).Flows).ConfigureAwait(false);
                await AnalyzeAsync(connectionString).ConfigureAwait(false);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"warm-up: {warmUp.TotalSeconds:0} s (until the client's JIT settled), then ANALYZE"));
                var serverCpu = await ServerCpuMeter.StartAsync(connectionString).ConfigureAwait(false);
                var measured = CpuMeter.Start();
                var (flows, retries) = await RunClientsAsync(router, TimeSpan.FromSeconds(seconds)).ConfigureAwait(false);
                var flowsPerSecond = flows / measured.Wall.TotalSeconds;
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"intent flows (quote → create → select → broadcast → settle): {flows} in {measured.Wall.TotalSeconds:0.00} s = {flowsPerSecond:0.0} flows/s ({retries} lost races retried); {ServerCpuMeter.Report(serverCpu, flows, "flow")}"));
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"client process: {measured.Report(flows)}"));
                foreach (var chain in router.Chains)
                {
                    var book = await router.Treasury.GetBookAsync(chain).ConfigureAwait(false);
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"treasury {chain}: spent {book.Spent}, fees {book.Fees}, reserved {book.Reserved}, balanced: {book.Balances}"));
                }

                return flowsPerSecond / pgbenchTps;
            }
        }
    }

    /// <summary>
    /// Gives the flows' tables statistics once the warm-up has filled them, as pgbench's initialisation does for its
    /// tables and autovacuum does for a deployment within a minute or two. Without them every pooled connection keeps,
    /// for the whole run, the generic plans it made at a statement's sixth execution against tables of a few rows that
    /// were never analysed: their costs tie, and a tie can go to an index that reads every intent of the merchant (an
    /// intent's update found by its tenant alone on the (tenant_id, idempotency_key) key: ≈ 550 buffers and 0.5 ms per
    /// update after 15 s) or of the collection (a read by id on idx_pi_merchant's leading column). Statistics of tables
    /// of a few pages are no better (a sequential scan is cheapest then, and is kept as they grow), hence after the
    /// warm-up. New statistics make PostgreSQL plan those statements again on every connection.
    /// </summary>
    private static async Task AnalyzeAsync(string connectionString)
    {
        var connection = new NpgsqlConnection(connectionString);
        await using (connection.ConfigureAwait(false))
        {
            await connection.OpenAsync().ConfigureAwait(false);
            var analyze = new NpgsqlCommand("ANALYZE", connection);
            await using (analyze.ConfigureAwait(false))
            {
                await analyze.ExecuteNonQueryAsync().ConfigureAwait(false);
            }
        }
    }

    // The store both PostgreSQL intent scenarios run on: a pool of the clients plus a few spare connections.
    private static PostgreSqlStore CreateStore(string connectionString, int clients) => new(
        new PostgreSqlStoreOptions { ConnectionString = connectionString + ";Maximum Pool Size=" + (clients + 4).ToString(CultureInfo.InvariantCulture) },
        new PaymentsKitJsonOptions(PaymentsKitJson.CreateOptions(new AssetRegistry())),
        SystemClock.Instance);

    /// <summary>
    /// The same flows on the in-memory store from one thread: what a flow costs in PaymentsKit itself, without
    /// the database. Ratio: flows per second ÷ 1,000,000 (as ledger-memory).
    /// </summary>
    public static async Task<double> InMemoryAsync(LoadTestOptions options)
    {
        var seconds = options.Seconds ?? 5;
        var router = await Router.CreateAsync(new InMemoryStore(), 1).ConfigureAwait(false);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"scenario: intents-memory (in-memory store, 1 thread, {seconds} s)"));
        await RunClientsAsync(router, TimeSpan.FromSeconds(1)).ConfigureAwait(false);
        var measured = Stopwatch.StartNew();
        var (flows, _) = await RunClientsAsync(router, TimeSpan.FromSeconds(seconds)).ConfigureAwait(false);
        var flowsPerSecond = flows / measured.Elapsed.TotalSeconds;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"intent flows (quote → create → select → broadcast → settle): {flows} in {measured.Elapsed.TotalSeconds:0.00} s = {flowsPerSecond:0} flows/s"));
        return flowsPerSecond / 1_000_000d;
    }

    /// <summary>
    /// Where a flow spends its time and database round trips: clients run flows on PostgreSQL (default 1, 5 s) and
    /// every Npgsql command or batch, and the wall time of every step, is counted against the step. Ratio: 1 ÷ round
    /// trips per flow.
    /// </summary>
    public static async Task<double> ProfileAsync(LoadTestOptions options)
    {
        var seconds = options.Seconds ?? 5;
        var clients = options.Clients ?? 1;
        var server = await ThrowawayPostgres.StartAsync().ConfigureAwait(false);
        await using (server.ConfigureAwait(false))
        {
            var connectionString = await server.CreateDatabaseAsync("intents").ConfigureAwait(false);
            var store = CreateStore(connectionString, clients);
            await using (store.ConfigureAwait(false))
            {
                var router = await Router.CreateAsync(store, clients).ConfigureAwait(false);
                var warmUp = await LedgerScenarios.WarmUpAsync(async () => (await RunClientsAsync(router, TimeSpan.FromSeconds(1)).ConfigureAwait(false)).Flows).ConfigureAwait(false);
                await AnalyzeAsync(connectionString).ConfigureAwait(false);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"warm-up: {warmUp.TotalSeconds:0} s (until the client's JIT settled), then ANALYZE"));
                var trips = new System.Collections.Concurrent.ConcurrentDictionary<string, long>(StringComparer.Ordinal);
                var sqlTimes = new System.Collections.Concurrent.ConcurrentDictionary<string, (long, long)>(StringComparer.Ordinal);
                using var listener = new ActivityListener
                {
                    ShouldListenTo = source => source.Name == "Npgsql",
                    Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllData,
                    ActivityStopped = a =>
                    {
                        trips.AddOrUpdate(Step.Value ?? "other", 1, (_, n) => n + 1);
                        if (Environment.GetEnvironmentVariable("PROFILE_SQL") is not null)
                        {
                            var sql = (a.GetTagItem("db.query.text") ?? a.GetTagItem("db.statement") ?? a.DisplayName)?.ToString() ?? "?";
                            sql = (Step.Value ?? "other") + " | " + sql.ReplaceLineEndings(" ")[..Math.Min(sql.Length, 110)];
                            sqlTimes.AddOrUpdate(sql, (1, a.Duration.Ticks), (_, v) => (v.Item1 + 1, v.Item2 + a.Duration.Ticks));
                        }
                    },
                };
                ActivitySource.AddActivityListener(listener);
                router.StepTimes.Clear();
                var (flows, _) = await RunClientsAsync(router, TimeSpan.FromSeconds(seconds)).ConfigureAwait(false);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"scenario: intents-profile ({clients} client(s), {seconds} s, PostgreSQL): {flows} flows"));
                foreach (var step in trips.Keys.Union(router.StepTimes.Keys).Order(StringComparer.Ordinal))
                {
                    var ms = router.StepTimes.GetValueOrDefault(step) / (double)TimeSpan.TicksPerMillisecond / flows;
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{step,-36} {trips.GetValueOrDefault(step) / (double)flows,6:0.00} round trips {ms,8:0.00} ms per flow"));
                }

                foreach (var (sql, (n, ticks)) in sqlTimes.OrderBy(x => x.Key, StringComparer.Ordinal))
                {
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{n / (double)flows,6:0.00} x {ticks / (double)TimeSpan.TicksPerMillisecond / n,7:0.000} ms  {sql}"));
                }

                var total = trips.Values.Sum() / (double)flows;
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{"total",-36} {total,6:0.00} round trips"));
                return 1 / total;
            }
        }
    }

    private static async Task<(long Flows, long Retries)> RunClientsAsync(Router router, TimeSpan duration)
    {
        var stopwatch = Stopwatch.StartNew();
        var results = await Task.WhenAll(router.Merchants.Select((merchant, client) => Task.Run(async () =>
        {
            long done = 0;
            long retries = 0;
            var chain = router.Chains[client % router.Chains.Count];
            while (stopwatch.Elapsed < duration)
            {
                retries += await router.FlowAsync(merchant, chain).ConfigureAwait(false);
                done++;
            }

            return (done, retries);
        }))).ConfigureAwait(false);
        return (results.Sum(r => r.done), results.Sum(r => r.retries));
    }

    /// <summary>The routing services over a store, with simulated chains that settle at the next millisecond.</summary>
    private sealed class Router
    {
        private Router(IPaymentsStore store)
        {
            var clock = SystemClock.Instance;
            var assets = new AssetRegistry();
            var settings = new RoutingOptions { DropTimeout = Duration.FromMinutes(1) };
            settings.NativeAssetPrices["ETH"] = 2000m;
            settings.NativeAssetPrices["SOL"] = 100m;
            var options = Options.Create(settings);
            ChainAdapters = [
                new SimulatedChain(new SimulatedChainOptions { Chain = ChainId.Ethereum, BlockTime = Duration.FromMilliseconds(1), FinalityConfirmations = 1 }, clock),
                new SimulatedChain(new SimulatedChainOptions { Chain = ChainId.Solana, BlockTime = Duration.FromMilliseconds(1), FinalityConfirmations = 1 }, clock),
            ];
            var providers = new RoutingRpcProviders(new ChainAdapterRegistry(ChainAdapters), []);
            var ledger = new LedgerService(store, clock, assets);
            var prices = new ConfiguredFeePriceSource(options);
            MerchantService = new RoutingMerchantService(store, clock, new ApiKeyHasher(new byte[32]));
            Health = new ChainHealthService(store, clock, providers, prices, assets, options);
            Treasury = new TreasuryService(store, ledger, providers, assets, options);
            Quotes = new QuoteService(store, clock, providers, prices, Treasury, options);
            Intents = new PaymentIntentService(
                store, clock, Treasury, providers, new WebhookOutbox(store, clock, new PaymentsKitJsonOptions(PaymentsKitJson.CreateOptions(assets))), options, new SimulatedTransactionSigner());
        }

        public List<SimulatedChain> ChainAdapters { get; }

        public IReadOnlyList<ChainId> Chains => [.. ChainAdapters.Select(c => c.Chain)];

        public List<MerchantId> Merchants { get; } = [];

        /// <summary>Wall time (stopwatch ticks) spent in each step of the flows.</summary>
        public System.Collections.Concurrent.ConcurrentDictionary<string, long> StepTimes { get; } = new(StringComparer.Ordinal);

        public RoutingMerchantService MerchantService { get; }

        public ChainHealthService Health { get; }

        public TreasuryService Treasury { get; }

        public QuoteService Quotes { get; }

        public PaymentIntentService Intents { get; }

        public static async Task<Router> CreateAsync(IPaymentsStore store, int clients)
        {
            var router = new Router(store);
            await router.Health.SampleHealthAsync().ConfigureAwait(false);
            foreach (var chain in router.ChainAdapters)
            {
                await router.Treasury.OpenWalletAsync(chain.Chain, "treasury").ConfigureAwait(false);
                await router.Treasury.FundAsync(chain.Chain, Funding).ConfigureAwait(false);
                chain.Fund("treasury", Funding);
                chain.Fund("treasury", Money.Of(1_000_000m, chain.NativeAsset));
            }

            for (var i = 0; i < clients; i++)
            {
                router.Merchants.Add((await router.MerchantService.CreateAsync(new CreateRoutingMerchantRequest($"Load merchant {i}")).ConfigureAwait(false)).Merchant.Id);
            }

            return router;
        }

        private long Lap(string step, long started)
        {
            var now = Stopwatch.GetTimestamp();
            var elapsed = Stopwatch.GetElapsedTime(started, now).Ticks;
            StepTimes.AddOrUpdate(step, elapsed, (_, t) => t + elapsed);
            return now;
        }

        /// <summary>Runs one payment from quote to settlement; returns how many advances lost a race and were repeated.</summary>
        public async Task<int> FlowAsync(MerchantId merchant, ChainId chain)
        {
            var started = Stopwatch.GetTimestamp();
            Step.Value = "quote";
            var quote = await Quotes.CreateAsync(
                merchant,
                new CreateQuoteRequest(Payment, RoutePriority.LowFee, [new QuoteDestination(ChainId.Ethereum, "payee-eth"), new QuoteDestination(ChainId.Solana, "payee-sol")])).ConfigureAwait(false);
            started = Lap("quote", started);
            Step.Value = "create";
            var intent = await Intents.CreateAsync(merchant, new CreatePaymentIntentRequest(quote.Id, Guid.NewGuid().ToString("N")) { Chain = chain }).ConfigureAwait(false);
            started = Lap("create", started);
            var retries = 0;
            while (intent.Status != PaymentIntentStatus.Settled)
            {
                if (PaymentIntentLifecycle.Machine.IsTerminal(intent.Status) || intent.Status == PaymentIntentStatus.ManualReview)
                {
                    throw new InvalidOperationException($"Intent {intent.Id} ended {intent.Status.ToWireName()}: {intent.LastError}");
                }

                try
                {
                    Step.Value = "advance from " + intent.Status.ToWireName();
                    intent = await Intents.AdvanceAsync(intent.Id).ConfigureAwait(false);
                    started = Lap(Step.Value, started);
                }
                catch (PaymentsKitException ex) when (ex.Code == PaymentsKitErrorCodes.ConcurrencyConflict)
                {
                    retries++;
                }
            }

            return retries;
        }
    }
}
