using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using NodaTime;
using Npgsql;
using PaymentsKit.Json;
using PaymentsKit.Ledger;
using PaymentsKit.PostgreSql;
using PaymentsKit.Storage;
using PaymentsKit.Testing;

namespace PaymentsKit.LoadTest;

/// <summary>The ledger's load scenarios.</summary>
internal static partial class LedgerScenarios
{
    private const int Pairs = 64;
    private static readonly Money Funding = Money.Of(1_000_000_000m, AssetRegistry.Usd);
    private static readonly Money Cent = Money.Of(0.01m, AssetRegistry.Usd);

    /// <summary>
    /// Balanced two-posting transfers on the in-memory store from one thread (one core), then
    /// two-phase transfers (reserve + post). Ratio: balanced transfers per second ÷ 1,000,000.
    /// </summary>
    public static async Task<double> InMemoryAsync(LoadTestOptions options)
    {
        var seconds = options.Seconds ?? 5;
        var (ledger, tenant, pairs) = await SetUpAsync(new InMemoryStore(), Pairs, CancellationToken.None).ConfigureAwait(false);
        var requests = pairs
            .Select(p => new PostLedgerTransactionRequest([LedgerPosting.Debit(p.Customer, Cent), LedgerPosting.Credit(p.Merchant, Cent)]) { EntryType = LedgerEntryType.Debit })
            .ToArray();

        async Task<long> Transfers(TimeSpan duration)
        {
            var stopwatch = Stopwatch.StartNew();
            long done = 0;
            while (stopwatch.Elapsed < duration)
            {
                for (var i = 0; i < 1024; i++, done++)
                {
                    await ledger.PostTransactionAsync(tenant, requests[done % Pairs]).ConfigureAwait(false);
                }
            }

            return done;
        }

        async Task<long> TwoPhase(TimeSpan duration)
        {
            var stopwatch = Stopwatch.StartNew();
            long done = 0;
            while (stopwatch.Elapsed < duration)
            {
                for (var i = 0; i < 256; i++, done++)
                {
                    var (customer, merchant) = pairs[done % Pairs];
                    var hold = await ledger.ReserveAsync(tenant, new ReserveLedgerTransferRequest(customer, merchant, Cent)).ConfigureAwait(false);
                    await ledger.PostTransferAsync(tenant, hold.Id).ConfigureAwait(false);
                }
            }

            return done;
        }

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"scenario: ledger-memory (in-memory store, 1 thread, {Pairs} account pairs, {seconds} s per phase)"));
        await Transfers(TimeSpan.FromSeconds(1)).ConfigureAwait(false);
        var measured = CpuMeter.Start();
        var transfers = await Transfers(TimeSpan.FromSeconds(seconds)).ConfigureAwait(false);
        var transferRate = transfers / measured.Wall.TotalSeconds;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"balanced transfers (2 postings, posted): {transfers} in {measured.Wall.TotalSeconds:0.00} s = {transferRate:0} transfers/s; {measured.Report(transfers)}"));

        await TwoPhase(TimeSpan.FromSeconds(1)).ConfigureAwait(false);
        measured = CpuMeter.Start();
        var twoPhase = await TwoPhase(TimeSpan.FromSeconds(seconds)).ConfigureAwait(false);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"two-phase transfers (reserve + post): {twoPhase} in {measured.Wall.TotalSeconds:0.00} s = {twoPhase / measured.Wall.TotalSeconds:0} transfers/s; {measured.Report(twoPhase)}"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"transfers/s: {transferRate:0}"));
        return transferRate / 1_000_000d;
    }

    /// <summary>
    /// pgbench (TPC-B) and then ledger two-phase transfers (reserve + post, each updating the
    /// balance projections) on one throwaway PostgreSQL server, with the same client count and
    /// duration. Ratio: ledger transfers per second ÷ pgbench transactions per second.
    /// </summary>
    public static async Task<double> PostgreSqlAsync(LoadTestOptions options)
    {
        var seconds = options.Seconds ?? 10;
        var clients = options.Clients ?? 8;
        var server = await ThrowawayPostgres.StartAsync().ConfigureAwait(false);
        await using (server.ConfigureAwait(false))
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"scenario: ledger (PostgreSQL {(server.IsExternal ? "from " + ThrowawayPostgres.ConnectionStringVariable : "throwaway server")}, {clients} clients, {seconds} s per phase)"));
            var pgbenchTps = await RunPgbenchAsync(await server.CreateDatabaseAsync("pgbench").ConfigureAwait(false), clients, seconds).ConfigureAwait(false);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"pgbench (TPC-B, scale {clients}): {pgbenchTps:0.0} tps"));

            var connectionString = await server.CreateDatabaseAsync("ledger").ConfigureAwait(false);
            var store = new PostgreSqlStore(
                new PostgreSqlStoreOptions { ConnectionString = connectionString + ";Maximum Pool Size=" + (clients + 4).ToString(CultureInfo.InvariantCulture) },
                new PaymentsKitJsonOptions(PaymentsKitJson.CreateOptions(new AssetRegistry())),
                SystemClock.Instance);
            await using (store.ConfigureAwait(false))
            {
                var (ledger, tenant, pairs) = await SetUpAsync(store, clients, CancellationToken.None).ConfigureAwait(false);
                var warmUp = await WarmUpAsync(() => TwoPhaseClientsAsync(ledger, tenant, pairs, TimeSpan.FromSeconds(1))).ConfigureAwait(false);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"warm-up: {warmUp.TotalSeconds:0} s (until the client's JIT settled)"));
                var serverCpu = await ServerCpuMeter.StartAsync(connectionString).ConfigureAwait(false);
                var measured = CpuMeter.Start();
                var transfers = await TwoPhaseClientsAsync(ledger, tenant, pairs, TimeSpan.FromSeconds(seconds)).ConfigureAwait(false);
                var ledgerTps = transfers / measured.Wall.TotalSeconds;
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"ledger transfers (reserve + post): {transfers} in {measured.Wall.TotalSeconds:0.00} s = {ledgerTps:0.0} transfers/s; {ServerCpuMeter.Report(serverCpu, transfers, "transfer")}"));
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"client process: {measured.Report(transfers)}"));
                var report = await ledger.ReconcileAsync(tenant).ConfigureAwait(false);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"reconciliation: {(report.IsClean ? "clean" : report.Discrepancies.Count + " discrepancies")} ({report.EntriesChecked} entries)"));
                return ledgerTps / pgbenchTps;
            }
        }
    }

    /// <summary>
    /// Runs <paramref name="round"/> until the JIT compiles (almost) nothing new in a round, at least
    /// 3 and at most 30 rounds. pgbench is native code; on a busy 2-core machine the .NET client's
    /// background tier-up can lag the run by many seconds, and the ledger phase would then measure the
    /// client's unoptimised code rather than the ledger.
    /// </summary>
    internal static async Task<TimeSpan> WarmUpAsync(Func<Task<long>> round)
    {
        var stopwatch = Stopwatch.StartNew();
        for (var rounds = 1; rounds <= 30; rounds++)
        {
            var compiled = System.Runtime.JitInfo.GetCompiledMethodCount();
            await round().ConfigureAwait(false);
            if (rounds >= 3 && System.Runtime.JitInfo.GetCompiledMethodCount() - compiled < 5)
            {
                break;
            }
        }

        return stopwatch.Elapsed;
    }

    private static async Task<long> TwoPhaseClientsAsync(ILedger ledger, MerchantId tenant, (LedgerAccountId Customer, LedgerAccountId Merchant)[] pairs, TimeSpan duration)
    {
        var stopwatch = Stopwatch.StartNew();
        var counts = await Task.WhenAll(pairs.Select(pair => Task.Run(async () =>
        {
            long done = 0;
            while (stopwatch.Elapsed < duration)
            {
                var hold = await ledger.ReserveAsync(tenant, new ReserveLedgerTransferRequest(pair.Customer, pair.Merchant, Cent)).ConfigureAwait(false);
                await ledger.PostTransferAsync(tenant, hold.Id).ConfigureAwait(false);
                done++;
            }

            return done;
        }))).ConfigureAwait(false);
        return counts.Sum();
    }

    private static async Task<(ILedger Ledger, MerchantId Tenant, (LedgerAccountId Customer, LedgerAccountId Merchant)[] Pairs)> SetUpAsync(
        IPaymentsStore store, int pairCount, CancellationToken cancellationToken)
    {
        var clock = SystemClock.Instance;
        var ledger = new LedgerService(store, clock, new AssetRegistry());
        var tenant = MerchantId.New(clock);
        var cash = await ledger.CreateAccountAsync(tenant, new CreateLedgerAccountRequest("cash", "Cash", AssetRegistry.Usd, LedgerSide.Debit), cancellationToken).ConfigureAwait(false);
        var pairs = new (LedgerAccountId, LedgerAccountId)[pairCount];
        for (var i = 0; i < pairCount; i++)
        {
            var customer = await ledger.CreateAccountAsync(
                tenant,
                new CreateLedgerAccountRequest($"customer-{i}", "Customer", AssetRegistry.Usd, LedgerSide.Credit) { Flags = LedgerAccountFlags.DebitsMustNotExceedCredits },
                cancellationToken).ConfigureAwait(false);
            var merchant = await ledger.CreateAccountAsync(
                tenant, new CreateLedgerAccountRequest($"merchant-{i}", "Merchant", AssetRegistry.Usd, LedgerSide.Credit), cancellationToken).ConfigureAwait(false);
            await ledger.PostTransactionAsync(
                tenant, new PostLedgerTransactionRequest([LedgerPosting.Debit(cash.Id, Funding), LedgerPosting.Credit(customer.Id, Funding)]), cancellationToken).ConfigureAwait(false);
            pairs[i] = (customer.Id, merchant.Id);
        }

        return (ledger, tenant, pairs);
    }

    internal static async Task<double> RunPgbenchAsync(string connectionString, int clients, int seconds)
    {
        var target = new NpgsqlConnectionStringBuilder(connectionString);
        var connection = string.Create(
            CultureInfo.InvariantCulture, $"-h {target.Host} -p {target.Port} -U {target.Username}");
        await RunAsync(Pgbench(), $"-i -q -s {clients} {connection} {target.Database}", target.Password).ConfigureAwait(false);
        var serverCpu = await ServerCpuMeter.StartAsync(connectionString).ConfigureAwait(false);
        var output = await RunAsync(
            Pgbench(),
            string.Create(CultureInfo.InvariantCulture, $"-c {clients} -j {Math.Min(clients, Environment.ProcessorCount)} -T {seconds} {connection} {target.Database}"),
            target.Password).ConfigureAwait(false);
        var match = TpsPattern().Match(output);
        var processed = ProcessedPattern().Match(output);
        if (processed.Success)
        {
            // pgbench's backends end with it; give the postmaster a moment to reap them, which moves their time into its own.
            await Task.Delay(TimeSpan.FromSeconds(1)).ConfigureAwait(false);
            Console.WriteLine(string.Create(
                CultureInfo.InvariantCulture,
                $"pgbench: {ServerCpuMeter.Report(serverCpu, long.Parse(processed.Groups[1].Value, CultureInfo.InvariantCulture), "transaction")}"));
        }

        return match.Success
            ? double.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture)
            : throw new InvalidOperationException("pgbench printed no tps line:\n" + output);
    }

    private static string Pgbench()
    {
        var bin = ThrowawayPostgres.FindBinDirectory();
        return bin is not null && File.Exists(Path.Combine(bin, "pgbench")) ? Path.Combine(bin, "pgbench") : "pgbench";
    }

    private static async Task<string> RunAsync(string program, string arguments, string? password)
    {
        var start = new ProcessStartInfo(program, arguments) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (password is not null)
        {
            start.Environment["PGPASSWORD"] = password;
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {program}.");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().ConfigureAwait(false);
        var output = await stdout.ConfigureAwait(false) + await stderr.ConfigureAwait(false);
        return process.ExitCode == 0 ? output : throw new InvalidOperationException($"{program} {arguments} failed ({process.ExitCode}):\n{output}");
    }

    [GeneratedRegex(@"tps = ([0-9.]+) \(without initial connection time\)", RegexOptions.CultureInvariant)]
    private static partial Regex TpsPattern();

    [GeneratedRegex(@"number of transactions actually processed: ([0-9]+)", RegexOptions.CultureInvariant)]
    private static partial Regex ProcessedPattern();
}
