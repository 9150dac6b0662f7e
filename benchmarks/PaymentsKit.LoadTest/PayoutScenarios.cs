using System.Diagnostics;
using System.Globalization;
using NodaTime;
using Npgsql;
using NpgsqlTypes;
using PaymentsKit.Json;
using PaymentsKit.Ledger;
using PaymentsKit.Payouts;
using PaymentsKit.PostgreSql;
using PaymentsKit.Testing;

namespace PaymentsKit.LoadTest;

/// <summary>The mass payouts load scenario.</summary>
internal static class PayoutScenarios
{
    private const int Holders = 1_000_000;
    private const int WarmUpHolders = 20_000;

    /// <summary>
    /// One million holders on one throwaway PostgreSQL server: PaymentsKit's snapshot import (validation,
    /// exact allocation, binary COPY into <c>holder</c>, the distribution's snapshot note) plus its batch
    /// plan, against a plain binary COPY of the same rows into a table of the same shape and indexes
    /// (<c>LIKE holder INCLUDING ALL</c>), in the snapshot's order, and (printed for reference) already sorted
    /// by account. Each side runs on an empty table, best of a few rounds (<c>--seconds N</c> sets the rounds).
    /// Ratio: COPY time ÷ PaymentsKit time (1 means no overhead over COPY; the target is at least 0.5).
    /// </summary>
    public static async Task<double> PostgreSqlAsync(LoadTestOptions options)
    {
        // Rounds, not seconds: each round imports a million holders both ways.
        var rounds = options.Seconds ?? 3;
        var server = await ThrowawayPostgres.StartAsync().ConfigureAwait(false);
        await using (server.ConfigureAwait(false))
        {
            Console.WriteLine(string.Create(
                CultureInfo.InvariantCulture,
                $"scenario: payouts (PostgreSQL {(server.IsExternal ? "from " + ThrowawayPostgres.ConnectionStringVariable : "throwaway server")}, {Holders:N0} holders, best of {rounds} rounds)"));
            var connectionString = await server.CreateDatabaseAsync("payouts").ConfigureAwait(false);
            var storeOptions = new PostgreSqlStoreOptions { ConnectionString = connectionString };
            var clock = SystemClock.Instance;
            var assets = new AssetRegistry();
            var store = new PostgreSqlStore(storeOptions, new PaymentsKitJsonOptions(PaymentsKitJson.CreateOptions(assets)), clock);
            await using (store.ConfigureAwait(false))
            {
                var payouts = new PostgreSqlPayoutsStore(store, storeOptions);
                await using (payouts.ConfigureAwait(false))
                {
                    var service = new DistributionService(
                        store,
                        payouts,
                        payouts,
                        new SimulatedPayoutExecutor(clock, new SimulatedPayoutExecutorOptions { Chain = ChainId.Hedera }),
                        new LedgerService(store, clock, assets),
                        clock,
                        assets);
                    var tenant = MerchantId.New(clock);
                    var asset = await service.CreateAssetAsync(
                        tenant, new CreateTokenAssetRequest("0.0.789012", "Acme Equity", "ACME", long.MaxValue, 2, AssetRegistry.Usdc) { PaymentTokenId = "0.0.429274" })
                        .ConfigureAwait(false);
                    await using var dataSource = NpgsqlDataSource.Create(connectionString);
                    await ExecuteAsync(dataSource, "CREATE TABLE holder_baseline (LIKE holder INCLUDING ALL)").ConfigureAwait(false);

                    var snapshot = Snapshot(Holders, seed: 42);
                    var warmUp = Snapshot(WarmUpHolders, seed: 7);
                    await PaymentsKitAsync(service, tenant, asset, warmUp).ConfigureAwait(false);
                    await PlainCopyAsync(dataSource, tenant, asset, warmUp).ConfigureAwait(false);

                    // The strictest baseline too: a COPY that was handed the rows already in account order.
                    var sorted = snapshot.OrderBy(h => h.AccountId, StringComparer.Ordinal).ToArray();
                    var best = (PaymentsKit: TimeSpan.MaxValue, Copy: TimeSpan.MaxValue, SortedCopy: TimeSpan.MaxValue);
                    for (var round = 1; round <= rounds; round++)
                    {
                        // Both sides start from empty tables after a checkpoint, in alternating order.
                        await ExecuteAsync(dataSource, "TRUNCATE holder, holder_baseline, holder_batch_sequence; CHECKPOINT").ConfigureAwait(false);
                        TimeSpan ours;
                        TimeSpan copy;
                        if (round % 2 == 1)
                        {
                            ours = await PaymentsKitAsync(service, tenant, asset, snapshot).ConfigureAwait(false);
                            await ExecuteAsync(dataSource, "CHECKPOINT").ConfigureAwait(false);
                            copy = await PlainCopyAsync(dataSource, tenant, asset, snapshot).ConfigureAwait(false);
                        }
                        else
                        {
                            copy = await PlainCopyAsync(dataSource, tenant, asset, snapshot).ConfigureAwait(false);
                            await ExecuteAsync(dataSource, "CHECKPOINT").ConfigureAwait(false);
                            ours = await PaymentsKitAsync(service, tenant, asset, snapshot).ConfigureAwait(false);
                        }

                        await ExecuteAsync(dataSource, "TRUNCATE holder_baseline; CHECKPOINT").ConfigureAwait(false);
                        var sortedCopy = await PlainCopyAsync(dataSource, tenant, asset, sorted).ConfigureAwait(false);
                        Console.WriteLine(string.Create(
                            CultureInfo.InvariantCulture,
                            $"round {round}: PaymentsKit {ours.TotalSeconds:0.000} s, plain COPY {copy.TotalSeconds:0.000} s, plain COPY of pre-sorted rows {sortedCopy.TotalSeconds:0.000} s"));
                        best = (Min(best.PaymentsKit, ours), Min(best.Copy, copy), Min(best.SortedCopy, sortedCopy));
                    }

                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"PaymentsKit import + allocate + plan batches: {best.PaymentsKit.TotalSeconds:0.000} s ({Holders / best.PaymentsKit.TotalSeconds:0} holders/s)"));
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"plain COPY of the same rows: {best.Copy.TotalSeconds:0.000} s ({Holders / best.Copy.TotalSeconds:0} rows/s)"));
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"plain COPY of the same rows pre-sorted by account: {best.SortedCopy.TotalSeconds:0.000} s (ratio against it: {best.SortedCopy / best.PaymentsKit:0.####})"));
                    return best.Copy / best.PaymentsKit;
                }
            }
        }
    }

    private static async Task<TimeSpan> PaymentsKitAsync(DistributionService service, MerchantId tenant, TokenAsset asset, HolderBalance[] snapshot)
    {
        var distribution = await service.CreateDistributionAsync(
            tenant, new CreateDistributionRequest(asset.Id, DistributionType.Dividend, DistributionExecution.Manual) { Payout = DistributionPayout.Fixed, Amount = Money.Of(1_234_567.891011m, AssetRegistry.Usdc) })
            .ConfigureAwait(false);
        var stopwatch = Stopwatch.StartNew();
        var info = await service.ImportHolderSnapshotAsync(tenant, distribution.Id, snapshot).ConfigureAwait(false);
        var plan = await service.PlanBatchesAsync(tenant, distribution.Id).ConfigureAwait(false);
        stopwatch.Stop();
        if (info.Holders != snapshot.Length || plan.Sum(b => b.Count) != info.PayableHolders || info.Allocated != distribution.Amount)
        {
            throw new InvalidOperationException($"The import is wrong: {info}, {plan.Count} batches.");
        }

        return stopwatch.Elapsed;
    }

    private static async Task<TimeSpan> PlainCopyAsync(NpgsqlDataSource dataSource, MerchantId tenant, TokenAsset asset, HolderBalance[] snapshot)
    {
        var distribution = Guid.CreateVersion7();
        var now = DateTime.SpecifyKind(new DateTime(2026, 1, 1), DateTimeKind.Utc);
        var stopwatch = Stopwatch.StartNew();
        await using (var connection = await dataSource.OpenConnectionAsync().ConfigureAwait(false))
        {
            await using var writer = await connection.BeginBinaryImportAsync(
                "COPY holder_baseline (id, tenant_id, asset_id, distribution_id, account_id, balance, payment_amount, created_at, updated_at) FROM STDIN (FORMAT BINARY)")
                .ConfigureAwait(false);
            foreach (var holder in snapshot)
            {
                await writer.StartRowAsync().ConfigureAwait(false);
                await writer.WriteAsync(Guid.CreateVersion7(), NpgsqlDbType.Uuid).ConfigureAwait(false);
                await writer.WriteAsync(tenant.Value, NpgsqlDbType.Uuid).ConfigureAwait(false);
                await writer.WriteAsync(asset.Id.Value, NpgsqlDbType.Uuid).ConfigureAwait(false);
                await writer.WriteAsync(distribution, NpgsqlDbType.Uuid).ConfigureAwait(false);
                await writer.WriteAsync(holder.AccountId, NpgsqlDbType.Text).ConfigureAwait(false);
                await writer.WriteAsync(holder.Balance, NpgsqlDbType.Bigint).ConfigureAwait(false);
                await writer.WriteAsync(holder.Balance, NpgsqlDbType.Bigint).ConfigureAwait(false);
                await writer.WriteAsync(now, NpgsqlDbType.TimestampTz).ConfigureAwait(false);
                await writer.WriteAsync(now, NpgsqlDbType.TimestampTz).ConfigureAwait(false);
            }

            await writer.CompleteAsync().ConfigureAwait(false);
        }

        return stopwatch.Elapsed;
    }

    /// <summary>A snapshot in no particular order, as a mirror node would page it: Hedera account ids, skewed balances, some zero.</summary>
    private static HolderBalance[] Snapshot(int count, int seed)
    {
        var random = new Random(seed);
        var holders = new HolderBalance[count];
        for (var i = 0; i < count; i++)
        {
            var balance = random.Next(10) == 0 ? 0 : (long)Math.Pow(10, random.NextDouble() * 9);
            holders[i] = new HolderBalance("0.0." + (1_000_000 + i).ToString(CultureInfo.InvariantCulture), balance);
        }

        random.Shuffle(holders);
        return holders;
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    private static async Task ExecuteAsync(NpgsqlDataSource dataSource, string sql)
    {
        await using var command = dataSource.CreateCommand(sql);
        await command.ExecuteNonQueryAsync().ConfigureAwait(false);
    }
}
