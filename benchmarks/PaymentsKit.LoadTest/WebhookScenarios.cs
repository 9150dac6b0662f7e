using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using NodaTime;
using Npgsql;
using PaymentsKit.Json;
using PaymentsKit.PostgreSql;
using PaymentsKit.Storage;
using PaymentsKit.Testing;
using PaymentsKit.Webhooks;

namespace PaymentsKit.LoadTest;

/// <summary>The webhook delivery load scenario.</summary>
internal static class WebhookScenarios
{
    private const int Dispatchers = 2;

    private const string Body = "{\"type\":\"invoice.paid\",\"timestamp\":\"2026-01-01T00:00:00Z\",\"data\":{\"id\":\"inv_0123456789\",\"amount\":\"12.34\",\"asset\":\"USDC\"}}";

    /// <summary>
    /// Deliveries per second to one loopback receiver: a plain <see cref="HttpClient"/> POST loop (<c>clients</c>
    /// concurrent senders) before and after the outbox and two dispatchers on PostgreSQL (scheduling, SKIP LOCKED claims,
    /// Standard Webhooks signing, attempt logs, events marked delivered), <c>clients</c> / 2 concurrent deliveries each.
    /// Ratio: PaymentsKit deliveries per second ÷ the faster of the two plain POST rates.
    /// </summary>
    public static Task<double> PostgreSqlAsync(LoadTestOptions options) => RunAsync(options, noOpSender: false);

    /// <summary>
    /// The storage ceiling: the same outbox and dispatchers, but every POST answered 200 in process by a handler that
    /// sends nothing, so the rate is what scheduling, claiming, signing and recording alone allow.
    /// Ratio: those deliveries per second ÷ the plain POST loop's rate (measured once, before).
    /// </summary>
    public static Task<double> StorageAsync(LoadTestOptions options) => RunAsync(options, noOpSender: true);

    private static async Task<double> RunAsync(LoadTestOptions options, bool noOpSender)
    {
        var seconds = options.Seconds ?? 10;
        var clients = options.Clients ?? 16;
        using var receiver = new Receiver(clients * 2);
        var server = await ThrowawayPostgres.StartAsync().ConfigureAwait(false);
        await using (server.ConfigureAwait(false))
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"scenario: {(noOpSender ? "webhooks-storage" : "webhooks")} (PostgreSQL {(server.IsExternal ? "from " + ThrowawayPostgres.ConnectionStringVariable : "throwaway server")}, loopback receiver, {clients} concurrent sends, {seconds} s)"));

            using var plainClient = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = clients * 2 });
            await LedgerScenarios.WarmUpAsync(() => PlainAsync(plainClient, receiver.Url, clients, TimeSpan.FromSeconds(1))).ConfigureAwait(false);
            var plainWatch = Stopwatch.StartNew();
            var plainCpu = Process.GetCurrentProcess().TotalProcessorTime;
            var plain = await PlainAsync(plainClient, receiver.Url, clients, TimeSpan.FromSeconds(seconds)).ConfigureAwait(false);
            var plainRate = plain / plainWatch.Elapsed.TotalSeconds;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"plain HttpClient POST loop: {plain} in {plainWatch.Elapsed.TotalSeconds:0.00} s = {plainRate:0} posts/s, {CpuPer(plainCpu, plain)}"));

            var connectionString = await server.CreateDatabaseAsync("webhooks").ConfigureAwait(false);
            var store = new PostgreSqlStore(
                new PostgreSqlStoreOptions { ConnectionString = connectionString + ";Maximum Pool Size=" + (clients * 2 + 8).ToString(CultureInfo.InvariantCulture) },
                new PaymentsKitJsonOptions(PaymentsKitJson.CreateOptions(new AssetRegistry())),
                SystemClock.Instance);
            await using (store.ConfigureAwait(false))
            {
                var clock = SystemClock.Instance;
                var queue = new PostgreSqlWebhookDeliveryQueue(store);
                var validator = new WebhookEndpointValidator(new DnsWebhookAddressResolver(), new WebhookEndpointPolicy { AllowLoopback = true });
                var endpoints = new WebhookEndpointService(store, clock, validator);
                var outbox = new WebhookOutbox(store, clock, new PaymentsKitJsonOptions(PaymentsKitJson.CreateOptions(new AssetRegistry())));
                var tenant = Guid.CreateVersion7();
                await endpoints.RegisterAsync(tenant, new RegisterWebhookEndpoint { Url = receiver.Url }).ConfigureAwait(false);

                // The plain loop's concurrency, split over two dispatchers (two hosts' worth of SKIP LOCKED claims).
                var perDispatcher = Math.Max(1, clients / Dispatchers);
                var deliveryOptions = new WebhookDeliveryOptions { AllowLoopback = true, BatchSize = 500, MaxConcurrency = perDispatcher };

                // Both sides warm up until the JIT settles, so neither side's figure pays for compiling its code. The
                // pipeline's warm-up is counted in rounds, not events: much of its code runs once per batch or statement
                // (scheduling, completion, Npgsql's batch and array writers), and a second's worth of events is only a few
                // dozen batches, too few for tiered compilation to reach its optimised code (one round at the plain rate left
                // ~1,800 method compilations, ~20 % of the process's CPU, in the measured phase).
                var warmUp = 0;
                var round = (int)Math.Max(1000, plainRate / 2);
                var warmUpTime = await LedgerScenarios.WarmUpAsync(async () =>
                {
                    await EnqueueAsync(warmUp, round).ConfigureAwait(false);
                    warmUp += round;
                    return await DeliverAsync(round, TimeSpan.FromSeconds(seconds * 6)).ConfigureAwait(false);
                }).ConfigureAwait(false);

                var events = (int)Math.Max(2000, plainRate * seconds);
                var enqueueWatch = Stopwatch.StartNew();
                await EnqueueAsync(warmUp, events).ConfigureAwait(false);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"outbox: {events} events written in {enqueueWatch.Elapsed.TotalSeconds:0.00} s = {events / enqueueWatch.Elapsed.TotalSeconds:0} events/s (after {warmUp} delivered to warm up in {warmUpTime.TotalSeconds:0} s, until the JIT settled)"));

                var before = receiver.Count;
                var postmaster = await PostmasterAsync(connectionString).ConfigureAwait(false);
                var serverCpu = ServerCpu(postmaster);
                var cpu = Process.GetCurrentProcess().TotalProcessorTime;
                var (jitMethods, jitTime) = (System.Runtime.JitInfo.GetCompiledMethodCount(), System.Runtime.JitInfo.GetCompilationTime());
                var watch = Stopwatch.StartNew();
                var delivered = await DeliverAsync(events, TimeSpan.FromSeconds(seconds * 6)).ConfigureAwait(false);
                var elapsed = watch.Elapsed;
                var cpuUsed = CpuPer(cpu, delivered);
                var jit = string.Create(CultureInfo.InvariantCulture, $"JIT {System.Runtime.JitInfo.GetCompiledMethodCount() - jitMethods} methods in {(System.Runtime.JitInfo.GetCompilationTime() - jitTime).TotalMilliseconds:0} ms");
                var serverCpuUsed = postmaster is null
                    ? "PostgreSQL CPU not measured (external server)"
                    : string.Create(CultureInfo.InvariantCulture, $"PostgreSQL CPU {(ServerCpu(postmaster) - serverCpu).TotalMicroseconds / Math.Max(1, delivered):0} µs/op");
                var rate = delivered / elapsed.TotalSeconds;
                var marked = await CountDeliveredEventsAsync(connectionString).ConfigureAwait(false) - warmUp;
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"PaymentsKit outbox + {Dispatchers} dispatchers x {perDispatcher} concurrent{(noOpSender ? " (no-op sender)" : string.Empty)}: {delivered} delivered ({receiver.Count - before} received, {marked} events marked delivered in PostgreSQL) in {elapsed.TotalSeconds:0.00} s = {rate:0} deliveries/s, {cpuUsed} ({jit}), {serverCpuUsed}"));
                if (noOpSender)
                {
                    return rate / plainRate;
                }

                // The machine is shared, and the first plain run is the process's coldest: measure the plain loop
                // again and compare with the faster of the two, so a cold or disturbed baseline never flatters the ratio.
                var againWatch = Stopwatch.StartNew();
                var again = await PlainAsync(plainClient, receiver.Url, clients, TimeSpan.FromSeconds(seconds)).ConfigureAwait(false);
                var againRate = again / againWatch.Elapsed.TotalSeconds;
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"plain HttpClient POST loop again: {again} in {againWatch.Elapsed.TotalSeconds:0.00} s = {againRate:0} posts/s; faster {Math.Max(plainRate, againRate):0} posts/s"));
                return rate / Math.Max(plainRate, againRate);

                Task EnqueueAsync(int from, int count) =>
                    Parallel.ForAsync(from, from + count, new ParallelOptions { MaxDegreeOfParallelism = clients }, async (i, ct) =>
                        await store.ExecuteAsync(
                            (unit, _) => ValueTask.FromResult(outbox.Enqueue(unit, tenant, "invoice", "inv_" + i.ToString(CultureInfo.InvariantCulture), "invoice.paid", new { amount = "12.34", asset = "USDC" })),
                            ct).ConfigureAwait(false));

                // Two dispatchers drain until count deliveries are done (or the deadline passes); returns how many were.
                async Task<long> DeliverAsync(int count, TimeSpan deadline)
                {
                    var drainWatch = Stopwatch.StartNew();
                    var done = 0L;
                    await Task.WhenAll(Enumerable.Range(0, Dispatchers).Select(_ => Task.Run(async () =>
                    {
                        using var http = new HttpClient(noOpSender ? new NoOpHandler() : validator.CreateHandler()) { Timeout = Timeout.InfiniteTimeSpan };
                        var dispatcher = new WebhookDispatcher(queue, store, endpoints, validator, http, clock, deliveryOptions);
                        while (Interlocked.Read(ref done) < count && drainWatch.Elapsed < deadline)
                        {
                            var drained = await dispatcher.DrainAsync(deadline - drainWatch.Elapsed).ConfigureAwait(false);
                            Interlocked.Add(ref done, drained.Delivered);
                            if (drained.Claimed == 0)
                            {
                                await Task.Delay(5).ConfigureAwait(false);
                            }
                        }
                    }))).ConfigureAwait(false);
                    return done;
                }
            }
        }
    }

    /// <summary>This process's CPU time per operation since <paramref name="start"/> (the receiver runs in it too; PostgreSQL does not).</summary>
    private static string CpuPer(TimeSpan start, long operations) =>
        string.Create(CultureInfo.InvariantCulture, $"harness process CPU {(Process.GetCurrentProcess().TotalProcessorTime - start).TotalMicroseconds / Math.Max(1, operations):0} µs/op");

    /// <summary>The pid of the PostgreSQL server process (the parent of every backend), when it runs on this machine.</summary>
    private static async Task<int?> PostmasterAsync(string connectionString)
    {
        await using var dataSource = NpgsqlDataSource.Create(connectionString);
        await using var command = dataSource.CreateCommand("SELECT pg_backend_pid()");
        var backend = (int)(await command.ExecuteScalarAsync().ConfigureAwait(false))!;
        var stat = $"/proc/{backend.ToString(CultureInfo.InvariantCulture)}/stat";
        return File.Exists(stat) ? int.Parse(StatFields(File.ReadAllText(stat))[1], CultureInfo.InvariantCulture) : null;
    }

    /// <summary>
    /// CPU time of the server and its live child processes (backends, WAL writer, checkpointer …): the delivery phase's
    /// database cost, which the shared machine's load disturbs far less than throughput. The dispatchers' pooled
    /// connections live through the phase, so no backend's time is lost to an exit.
    /// </summary>
    private static TimeSpan ServerCpu(int? postmaster)
    {
        if (postmaster is null)
        {
            return TimeSpan.Zero;
        }

        long ticks = 0;
        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            try
            {
                var fields = StatFields(File.ReadAllText(Path.Combine(directory, "stat")));
                var pid = int.Parse(Path.GetFileName(directory), CultureInfo.InvariantCulture);
                if (pid == postmaster || int.Parse(fields[1], CultureInfo.InvariantCulture) == postmaster)
                {
                    ticks += long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException)
            {
                // Not a process, or one that ended while being read.
            }
        }

        // Linux reports clock ticks of 1/100 s.
        return TimeSpan.FromMilliseconds(ticks * 10);
    }

    /// <summary>The fields of /proc/[pid]/stat after the command name (which may contain spaces): [0] state, [1] ppid, [11] utime, [12] stime.</summary>
    private static string[] StatFields(string stat) => stat[(stat.LastIndexOf(')') + 2)..].Split(' ');

    private static async Task<long> CountDeliveredEventsAsync(string connectionString)
    {
        await using var dataSource = NpgsqlDataSource.Create(connectionString);
        await using var command = dataSource.CreateCommand(
            "SELECT count(*) FROM webhook_events WHERE collection = 'webhook_event' AND (data ->> 'delivered')::boolean");
        return (long)(await command.ExecuteScalarAsync().ConfigureAwait(false))!;
    }

    private static async Task<long> PlainAsync(HttpClient client, Uri url, int clients, TimeSpan duration)
    {
        var payload = Encoding.UTF8.GetBytes(Body);
        var watch = Stopwatch.StartNew();
        var counts = await Task.WhenAll(Enumerable.Range(0, clients).Select(_ => Task.Run(async () =>
        {
            long done = 0;
            while (watch.Elapsed < duration)
            {
                using var content = new ByteArrayContent(payload);
                content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
                using var response = await client.PostAsync(url, content).ConfigureAwait(false);
                response.EnsureSuccessStatusCode();
                done++;
            }

            return done;
        }))).ConfigureAwait(false);
        return counts.Sum();
    }

    /// <summary>Answers every request 200 <c>{}</c> without sending anything.</summary>
    private sealed class NoOpHandler : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK) { Content = new ByteArrayContent("{}"u8.ToArray()), RequestMessage = request });
    }

    /// <summary>A keep-alive HTTP receiver on 127.0.0.1 that answers every POST 200.</summary>
    private sealed class Receiver : IDisposable
    {
        private readonly HttpListener _listener = new();
        private readonly CancellationTokenSource _stop = new();
        private readonly Task[] _loops;
        private long _count;

        public Receiver(int concurrency)
        {
            var port = FreePort();
            Url = new Uri(string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{port}/hooks"));
            _listener.Prefixes.Add(string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{port}/"));
            _listener.Start();
            _loops = [.. Enumerable.Range(0, concurrency).Select(_ => Task.Run(ServeAsync))];
        }

        public Uri Url { get; }

        public long Count => Interlocked.Read(ref _count);

        public void Dispose()
        {
            _stop.Cancel();
            _listener.Close();
            try
            {
                Task.WaitAll(_loops, TimeSpan.FromSeconds(5));
            }
            catch (AggregateException)
            {
                // Loops end with the listener's disposal exceptions.
            }

            _stop.Dispose();
        }

        private static int FreePort()
        {
            using var probe = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
            probe.Start();
            return ((IPEndPoint)probe.LocalEndpoint).Port;
        }

        private async Task ServeAsync()
        {
            var buffer = new byte[16 * 1024];
            while (!_stop.IsCancellationRequested)
            {
                HttpListenerContext context;
                try
                {
                    context = await _listener.GetContextAsync().ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException or InvalidOperationException)
                {
                    return;
                }

                while (await context.Request.InputStream.ReadAsync(buffer).ConfigureAwait(false) > 0)
                {
                }

                context.Response.StatusCode = 200;
                context.Response.ContentLength64 = 2;
                await context.Response.OutputStream.WriteAsync("{}"u8.ToArray()).ConfigureAwait(false);
                context.Response.Close();
                Interlocked.Increment(ref _count);
            }
        }
    }
}
