using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Threading.Channels;
using Npgsql;
using NpgsqlTypes;
using PaymentsKit.Testing;

namespace PaymentsKit.LoadTest;

/// <summary>
/// The floor of the <c>intents</c> scenario with a .NET client (decision 0026): what an ideal group commit of every
/// step of a flow reaches on this machine, beside pgbench's TPC-B with the same clients on the same server.
/// </summary>
/// <remarks>
/// Nothing of PaymentsKit runs here. The tables are seed 001's exactly (<c>benchmarks/floors/schema.sql</c>: typed
/// columns, every CHECK, UNIQUE, foreign key and named index, no JSON documents, no triggers). Each client runs
/// flows of five steps, one after another, like the scenario: quote, create, select (reserve on the chain's
/// treasury), broadcast (an attempt on a chain kept in a dictionary) and settle (attempt confirmed, treasury posted
/// and released), each step writing its rows and outbox event with the fewest statements the seed allows. Steps
/// are not run by their callers: they are queued, and writers take every queued step at once and write them as set
/// statements (<c>unnest</c> of array parameters, one statement per table and step kind) in one implicit transaction
/// of one round trip. Status changes are guarded by the expected status and checked, so a lost row fails the run.
/// There are no reads, no idempotency replays, no JSON serialisation, no scoring, no double-entry postings beyond the
/// seed's <c>ledger_entries</c>: every SDK does at least this, so its ratio bounds every implementation's on the
/// same machine.
/// </remarks>
internal static class IntentFloorScenario
{
    private const decimal Amount = 1.25m;
    private const decimal Fee = 0.01m;
    private const decimal ActualFee = 0.006m;

    public static async Task<double> PostgreSqlAsync(LoadTestOptions options)
    {
        var seconds = options.Seconds ?? 10;
        var clients = options.Clients ?? 8;
        var writers = int.TryParse(Environment.GetEnvironmentVariable("FLOOR_WRITERS"), CultureInfo.InvariantCulture, out var w) && w > 0 ? w : 2;
        var server = await ThrowawayPostgres.StartAsync().ConfigureAwait(false);
        await using (server.ConfigureAwait(false))
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"scenario: intents-floor (seed 001's tables, ideal group commit from .NET, {clients} clients, {writers} writers, {seconds} s per phase)"));
            var pgbenchTps = await LedgerScenarios.RunPgbenchAsync(await server.CreateDatabaseAsync("pgbench").ConfigureAwait(false), clients, seconds).ConfigureAwait(false);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"pgbench (TPC-B, scale {clients}): {pgbenchTps:0.0} tps"));

            var connectionString = await server.CreateDatabaseAsync("floor").ConfigureAwait(false);
            await using var dataSource = new NpgsqlDataSourceBuilder(connectionString + ";Maximum Pool Size=" + (writers + 2).ToString(CultureInfo.InvariantCulture)).Build();
            await using (var schema = dataSource.CreateCommand(await File.ReadAllTextAsync(Path.Combine(AppContext.BaseDirectory, "floors", "schema.sql")).ConfigureAwait(false)))
            {
                await schema.ExecuteNonQueryAsync().ConfigureAwait(false);
            }

            var committer = new GroupCommitter(dataSource, writers);
            var warmUp = await LedgerScenarios.WarmUpAsync(() => RunClientsAsync(committer, clients, TimeSpan.FromSeconds(1))).ConfigureAwait(false);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"warm-up: {warmUp.TotalSeconds:0} s (until the client's JIT settled)"));
            committer.ResetCounts();
            var serverCpu = await ServerCpuMeter.StartAsync(connectionString).ConfigureAwait(false);
            var measured = CpuMeter.Start();
            var flows = await RunClientsAsync(committer, clients, TimeSpan.FromSeconds(seconds)).ConfigureAwait(false);
            var flowsPerSecond = flows / measured.Wall.TotalSeconds;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"intent flows (quote → create → select → broadcast → settle): {flows} in {measured.Wall.TotalSeconds:0.00} s = {flowsPerSecond:0.0} flows/s; {ServerCpuMeter.Report(serverCpu, flows, "flow")}"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"client process: {measured.Report(flows)}"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"groups: {committer.Groups} of {committer.Steps / (double)Math.Max(1, committer.Groups):0.00} steps on average"));
            await committer.DisposeAsync().ConfigureAwait(false);
            await CheckBooksAsync(dataSource).ConfigureAwait(false);
            return flowsPerSecond / pgbenchTps;
        }
    }

    // Every intent settled, nothing left reserved: the floor lost no row.
    private static async Task CheckBooksAsync(NpgsqlDataSource dataSource)
    {
        await using var command = dataSource.CreateCommand(
            "SELECT (SELECT count(*) FROM payment_intents WHERE status <> 'settled'), (SELECT sum(reserved_balance) FROM treasury_wallets)");
        await using var reader = await command.ExecuteReaderAsync().ConfigureAwait(false);
        await reader.ReadAsync().ConfigureAwait(false);
        var unsettled = reader.GetInt64(0);
        var reserved = reader.GetDecimal(1);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"books: {unsettled} intents not settled, {reserved} reserved"));
        if (unsettled != 0 || reserved != 0)
        {
            throw new InvalidOperationException("The floor lost a step.");
        }
    }

    private static async Task<long> RunClientsAsync(GroupCommitter committer, int clients, TimeSpan duration)
    {
        var stopwatch = Stopwatch.StartNew();
        var counts = await Task.WhenAll(Enumerable.Range(0, clients).Select(client => Task.Run(async () =>
        {
            long done = 0;
            var chain = client % 2 == 0 ? "ethereum" : "solana";
            while (stopwatch.Elapsed < duration)
            {
                await FlowAsync(committer, chain).ConfigureAwait(false);
                done++;
            }

            return done;
        }))).ConfigureAwait(false);
        return counts.Sum();
    }

    private static long _flowIds;

    private static async Task FlowAsync(GroupCommitter committer, string chain)
    {
        var n = Interlocked.Increment(ref _flowIds).ToString(CultureInfo.InvariantCulture);
        await committer.RunAsync(new Step(StepKind.Quote, n, chain)).ConfigureAwait(false);
        await committer.RunAsync(new Step(StepKind.Create, n, chain)).ConfigureAwait(false);
        await committer.RunAsync(new Step(StepKind.Select, n, chain)).ConfigureAwait(false);
        var tx = "0x" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes("pi_" + n)));
        Chain.TryAdd(tx, ActualFee);
        await committer.RunAsync(new Step(StepKind.Broadcast, n, chain, tx)).ConfigureAwait(false);
        if (!Chain.TryRemove(tx, out _))
        {
            throw new InvalidOperationException("The simulated chain lost " + tx);
        }

        await committer.RunAsync(new Step(StepKind.Settle, n, chain, tx)).ConfigureAwait(false);
    }

    // The chain: a broadcast transaction is final at once.
    private static readonly ConcurrentDictionary<string, decimal> Chain = new(StringComparer.Ordinal);

    private enum StepKind
    {
        Quote,
        Create,
        Select,
        Broadcast,
        Settle,
    }

    private sealed record Step(StepKind Kind, string Flow, string Chain, string? Tx = null)
    {
        public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>Queued steps written together: one implicit transaction of set statements per group.</summary>
    private sealed class GroupCommitter : IAsyncDisposable
    {
        private const int MaxGroup = 64;
        private readonly Channel<Step> _queue = Channel.CreateUnbounded<Step>(new UnboundedChannelOptions { SingleWriter = false });
        private readonly NpgsqlDataSource _dataSource;
        private readonly Task[] _writers;
        private long _groups;
        private long _steps;

        public GroupCommitter(NpgsqlDataSource dataSource, int writers)
        {
            _dataSource = dataSource;
            _writers = [.. Enumerable.Range(0, writers).Select(_ => Task.Run(WriteAsync))];
        }

        public long Groups => Interlocked.Read(ref _groups);

        public long Steps => Interlocked.Read(ref _steps);

        public void ResetCounts()
        {
            Interlocked.Exchange(ref _groups, 0);
            Interlocked.Exchange(ref _steps, 0);
        }

        public Task RunAsync(Step step)
        {
            _queue.Writer.TryWrite(step);
            return step.Done.Task;
        }

        public async ValueTask DisposeAsync()
        {
            _queue.Writer.Complete();
            await Task.WhenAll(_writers).ConfigureAwait(false);
        }

        private async Task WriteAsync()
        {
            var group = new List<Step>(MaxGroup);
            await using var connection = await _dataSource.OpenConnectionAsync().ConfigureAwait(false);
            while (await _queue.Reader.WaitToReadAsync().ConfigureAwait(false))
            {
                group.Clear();
                while (group.Count < MaxGroup && _queue.Reader.TryRead(out var step))
                {
                    group.Add(step);
                }

                if (group.Count == 0)
                {
                    continue;
                }

                try
                {
                    await WriteGroupAsync(connection, group).ConfigureAwait(false);
                    Interlocked.Increment(ref _groups);
                    Interlocked.Add(ref _steps, group.Count);
                    group.ForEach(s => s.Done.SetResult());
                }
                catch (Exception ex) when (ex is NpgsqlException or InvalidOperationException)
                {
                    group.ForEach(s => s.Done.SetException(ex));
                }
            }
        }

        private static async Task WriteGroupAsync(NpgsqlConnection connection, List<Step> group)
        {
            await using var batch = new NpgsqlBatch(connection);
            var guarded = new List<(NpgsqlBatchCommand Command, int Expected)>();
            var quotes = Of(group, StepKind.Quote);
            if (quotes.Count > 0)
            {
                Add(batch, """
                    INSERT INTO quotes (id, merchant_id, amount_usd, priority, destination_ethereum, destination_solana, candidate_routes, recommended_chain, expires_at)
                    SELECT 'quo_' || f, 'mer_1', $3, 'low_fee', '0x52908400098527886E0F7030069857D2E4169EE7', 'So11111111111111111111111111111111111111112', r, c, now() + interval '5 minutes'
                    FROM unnest($1::text[], $2::text[], $4::jsonb[]) AS s(f, c, r)
                    """,
                    Texts(quotes, s => s.Flow), Texts(quotes, s => s.Chain), Amount,
                    new NpgsqlParameter { Value = quotes.Select(s => $$"""[{"chain":"{{s.Chain}}","score":0.91,"fee":"{{Fee}}"}]""").ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Jsonb });
            }

            var creates = Of(group, StepKind.Create);
            if (creates.Count > 0)
            {
                guarded.Add((Add(batch, """
                    INSERT INTO payment_intents (id, merchant_id, quote_id, idempotency_key, amount_usd, selected_chain, destination_address)
                    SELECT 'pi_' || f, 'mer_1', 'quo_' || f, 'idem_' || f, $3, c, 'So11111111111111111111111111111111111111112'
                    FROM unnest($1::text[], $2::text[]) AS s(f, c)
                    ON CONFLICT (merchant_id, idempotency_key) DO NOTHING
                    """, Texts(creates, s => s.Flow), Texts(creates, s => s.Chain), Amount), creates.Count));
                AddEvents(batch, creates, "created", s => $$"""{"id":"pi_{{s.Flow}}","status":"created","amount":"{{Amount}}"}""");
            }

            var selects = Of(group, StepKind.Select);
            if (selects.Count > 0)
            {
                guarded.Add((Add(batch, "UPDATE payment_intents SET status = 'route_selected', updated_at = now() WHERE id = ANY ($1) AND status = 'created'", Ids(selects)), selects.Count));
                Add(batch, """
                    INSERT INTO ledger_entries (id, payment_intent_id, type, amount, currency, chain)
                    SELECT 'le_' || f || 'r', 'pi_' || f, 'reserve', $3, 'USDC', c FROM unnest($1::text[], $2::text[]) AS s(f, c)
                    """, Texts(selects, s => s.Flow), Texts(selects, s => s.Chain), Amount + Fee);
                AddEvents(batch, selects, "route_selected", s => $$"""{"id":"pi_{{s.Flow}}","status":"route_selected","chain":"{{s.Chain}}"}""");
            }

            var broadcasts = Of(group, StepKind.Broadcast);
            if (broadcasts.Count > 0)
            {
                Add(batch, """
                    INSERT INTO payment_attempts (id, payment_intent_id, chain, tx_id, rpc_provider, estimated_fee_usd, broadcast_at, status)
                    SELECT 'att_' || f, 'pi_' || f, c, t, 'primary', $4, now(), 'broadcasted' FROM unnest($1::text[], $2::text[], $3::text[]) AS s(f, c, t)
                    """, Texts(broadcasts, s => s.Flow), Texts(broadcasts, s => s.Chain), Texts(broadcasts, s => s.Tx!), Fee);
                guarded.Add((Add(batch, "UPDATE payment_intents SET status = 'broadcasted', updated_at = now() WHERE id = ANY ($1) AND status = 'route_selected'", Ids(broadcasts)), broadcasts.Count));
                AddEvents(batch, broadcasts, "broadcasted", s => $$"""{"id":"pi_{{s.Flow}}","status":"broadcasted","tx":"{{s.Tx}}"}""");
            }

            var settles = Of(group, StepKind.Settle);
            if (settles.Count > 0)
            {
                guarded.Add((Add(batch, "UPDATE payment_attempts SET status = 'confirmed', confirmed_at = now(), actual_fee_native = 0.000003 WHERE id = ANY ($1) AND status = 'broadcasted'", Texts(settles, s => "att_" + s.Flow)), settles.Count));
                guarded.Add((Add(batch, "UPDATE payment_intents SET status = 'settled', updated_at = now() WHERE id = ANY ($1) AND status = 'broadcasted'", Ids(settles)), settles.Count));
                Add(batch, """
                    INSERT INTO ledger_entries (id, payment_intent_id, type, amount, currency, chain)
                    SELECT 'le_' || f || e.t, 'pi_' || f, e.type, e.amount, 'USDC', c
                    FROM unnest($1::text[], $2::text[]) AS s(f, c), (VALUES ('d', 'debit', $3::numeric), ('f', 'fee', $4::numeric), ('l', 'release', $5::numeric)) AS e(t, type, amount)
                    """, Texts(settles, s => s.Flow), Texts(settles, s => s.Chain), Amount, ActualFee, Fee - ActualFee);
                AddEvents(batch, settles, "settled", s => $$"""{"id":"pi_{{s.Flow}}","status":"settled","fee":"{{ActualFee}}"}""");
            }

            // The treasury last, so its hot rows stay locked for the least time; one statement per chain in one order,
            // so that two writers never lock the wallets in opposite orders.
            foreach (var chain in group.Where(s => s.Kind is StepKind.Select or StepKind.Settle).Select(s => s.Chain).Distinct().Order(StringComparer.Ordinal))
            {
                var reserving = selects.Count(s => s.Chain == chain) * (Amount + Fee);
                var settling = settles.Count(s => s.Chain == chain);
                guarded.Add((Add(batch, """
                    UPDATE treasury_wallets SET available_balance = available_balance - $2 + $4, reserved_balance = reserved_balance + $2 - $3, updated_at = now()
                    WHERE chain = $1 AND available_balance >= $2
                    """, chain, reserving, settling * (Amount + Fee), settling * (Fee - ActualFee)), 1));
            }

            await batch.ExecuteNonQueryAsync().ConfigureAwait(false);
            foreach (var (command, expected) in guarded)
            {
                if (command.RecordsAffected != expected)
                {
                    throw new InvalidOperationException(string.Create(CultureInfo.InvariantCulture, $"A guarded statement wrote {command.RecordsAffected} rows, not {expected}: {command.CommandText}"));
                }
            }
        }

        private static List<Step> Of(List<Step> group, StepKind kind) => group.FindAll(s => s.Kind == kind);

        private static NpgsqlParameter Texts(List<Step> steps, Func<Step, string> value) => new() { Value = steps.Select(value).ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text };

        private static NpgsqlParameter Ids(List<Step> steps) => Texts(steps, s => "pi_" + s.Flow);

        private static void AddEvents(NpgsqlBatch batch, List<Step> steps, string status, Func<Step, string> payload) =>
            Add(batch, """
                INSERT INTO webhook_events (id, merchant_id, payment_intent_id, event_type, payload)
                SELECT 'evt_' || f || $3, 'mer_1', 'pi_' || f, 'payment_intent.' || $3, p FROM unnest($1::text[], $2::jsonb[]) AS s(f, p)
                """,
                Texts(steps, s => s.Flow),
                new NpgsqlParameter { Value = steps.Select(payload).ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Jsonb },
                status);

        private static NpgsqlBatchCommand Add(NpgsqlBatch batch, string sql, params object[] values)
        {
            var command = new NpgsqlBatchCommand(sql);
            foreach (var value in values)
            {
                command.Parameters.Add(value as NpgsqlParameter ?? new NpgsqlParameter { Value = value });
            }

            batch.BatchCommands.Add(command);
            return command;
        }
    }
}
