using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging.Abstractions;
using NodaTime;
using PaymentsKit.Chains;
using PaymentsKit.Chains.Rpc;
using PaymentsKit.Testing;

namespace PaymentsKit.Core.Tests.Chains.Rpc;

public sealed class RpcTransportTests
{
    private static readonly ChainId Sim = ChainId.Of("sim");

    private sealed class TestOptions : ChainRpcOptions;

    private static RpcTransport Create(Action<TestOptions>? configure, params Uri[] endpoints) => Create(new ManualClock(), configure, endpoints);

    private static RpcTransport Create(IClock clock, Action<TestOptions>? configure, params Uri[] endpoints)
    {
        var options = new TestOptions { RetryDelay = Duration.FromMilliseconds(1), RequestTimeout = Duration.FromSeconds(30) };
        foreach (var endpoint in endpoints)
        {
            options.Endpoints.Add(endpoint);
        }

        configure?.Invoke(options);
        Assert.Empty(options.Validate("Test"));
        return new RpcTransport(Sim, new HttpClient(), options, clock, NullLogger.Instance);
    }

    private static Task<string> GetText(RpcTransport transport, string path, CancellationToken cancellationToken = default) =>
        transport.SendAsync(
            "get",
            endpoint => new HttpRequestMessage(HttpMethod.Get, new Uri(endpoint, path)),
            response => response.IsSuccess ? System.Text.Encoding.UTF8.GetString(response.Body.Span) : throw new TransientRpcException("not 2xx"),
            cancellationToken);

    [Fact]
    public async Task Relative_Paths_Keep_The_Endpoint_Path()
    {
        await using var server = new LoopbackHttpServer(r => LoopbackResponse.Json("\"" + r.Path + "\""));
        var transport = Create(null, new Uri(server.BaseAddress, "api/v1?key=secret"));
        Assert.Equal("\"/api/v1/transactions/1\"", await GetText(transport, "transactions/1"));
    }

    [Fact]
    public async Task Retry_After_Is_Honoured_Up_To_The_Cap()
    {
        var calls = 0;
        await using var server = new LoopbackHttpServer(_ => Interlocked.Increment(ref calls) == 1
            ? new LoopbackResponse(429, "{}", Headers: new Dictionary<string, string> { ["Retry-After"] = "30" })
            : LoopbackResponse.Json("ok"));
        var transport = Create(o => o.MaxRetryDelay = Duration.FromMilliseconds(150), server.BaseAddress);
        var watch = Stopwatch.StartNew();
        Assert.Equal("ok", await GetText(transport, "x"));
        Assert.InRange(watch.ElapsedMilliseconds, 140, 5_000);
    }

    [Fact]
    public async Task Retry_After_As_A_Date_Is_Honoured_Relative_To_The_Servers_Date()
    {
        // The server's own Date is the reference, so a skewed local clock neither shortens nor stretches the pause.
        var calls = 0;
        await using var server = new LoopbackHttpServer(_ => Interlocked.Increment(ref calls) == 1
            ? new LoopbackResponse(503, "{}", Headers: new Dictionary<string, string>
            {
                ["Date"] = "Thu, 01 Jan 2026 00:00:00 GMT",
                ["Retry-After"] = "Thu, 01 Jan 2026 00:00:30 GMT",
            })
            : LoopbackResponse.Json("ok"));
        var transport = Create(o => o.MaxRetryDelay = Duration.FromMilliseconds(150), server.BaseAddress);
        var watch = Stopwatch.StartNew();
        Assert.Equal("ok", await GetText(transport, "x"));
        Assert.InRange(watch.ElapsedMilliseconds, 140, 5_000);
    }

    [Fact]
    public async Task Retry_After_As_A_Date_Without_A_Date_Header_Is_Read_Against_The_Clock()
    {
        // Without the server's Date there is nothing else to read the date against; ignored, a node asking for 30 s
        // would be asked again after the 1 ms backoff, and throttle harder.
        var calls = 0;
        await using var server = new LoopbackHttpServer(_ => Interlocked.Increment(ref calls) == 1
            ? new LoopbackResponse(503, "{}", Headers: new Dictionary<string, string> { ["Retry-After"] = "Thu, 01 Jan 2026 00:00:30 GMT" })
            : LoopbackResponse.Json("ok"));
        var clock = new ManualClock(Instant.FromUtc(2026, 1, 1, 0, 0));
        var transport = Create(clock, o => o.MaxRetryDelay = Duration.FromMilliseconds(150), server.BaseAddress);
        var watch = Stopwatch.StartNew();
        Assert.Equal("ok", await GetText(transport, "x"));
        Assert.InRange(watch.ElapsedMilliseconds, 140, 5_000);
    }

    [Fact]
    public async Task Retry_After_As_A_Date_Already_Past_By_The_Clock_Does_Not_Pause()
    {
        var calls = 0;
        await using var server = new LoopbackHttpServer(_ => Interlocked.Increment(ref calls) == 1
            ? new LoopbackResponse(503, "{}", Headers: new Dictionary<string, string> { ["Retry-After"] = "Thu, 01 Jan 2026 00:00:30 GMT" })
            : LoopbackResponse.Json("ok"));
        var clock = new ManualClock(Instant.FromUtc(2026, 1, 1, 0, 1));
        var transport = Create(clock, o => (o.RetryDelay, o.MaxRetryDelay) = (Duration.Zero, Duration.FromSeconds(10)), server.BaseAddress);
        var watch = Stopwatch.StartNew();
        Assert.Equal("ok", await GetText(transport, "x"));
        Assert.InRange(watch.ElapsedMilliseconds, 0, 5_000);
    }

    private static Task<string?> FindText(RpcTransport transport, string path) =>
        transport.FindAsync(
            "find",
            endpoint => new HttpRequestMessage(HttpMethod.Get, new Uri(endpoint, path)),
            response => response.Status == System.Net.HttpStatusCode.NotFound ? null : System.Text.Encoding.UTF8.GetString(response.Body.Span),
            CancellationToken.None);

    [Fact]
    public async Task Find_Asks_The_Other_Endpoints_When_One_Does_Not_Know_And_Prefers_The_One_That_Did()
    {
        await using var lagging = new LoopbackHttpServer(_ => LoopbackResponse.WithStatus(404));
        await using var current = new LoopbackHttpServer(_ => LoopbackResponse.Json("found"));
        var transport = Create(null, lagging.BaseAddress, current.BaseAddress);
        Assert.Equal("found", await FindText(transport, "x"));
        Assert.Single(lagging.Requests);
        Assert.Equal(current.BaseAddress, transport.PreferredEndpoint);
        Assert.Equal(0m, transport.Statistics.Summarize().ErrorRate);
    }

    [Fact]
    public async Task Find_Is_Null_Once_Every_Endpoint_Said_Not_Found_Each_Asked_Once_Without_Pausing()
    {
        await using var first = new LoopbackHttpServer(_ => LoopbackResponse.WithStatus(404));
        await using var second = new LoopbackHttpServer(_ => LoopbackResponse.WithStatus(404));
        var transport = Create(o => (o.RetryDelay, o.MaxRetryDelay) = (Duration.FromSeconds(10), Duration.FromSeconds(10)), first.BaseAddress, second.BaseAddress);
        var watch = Stopwatch.StartNew();
        Assert.Null(await FindText(transport, "x"));
        Assert.InRange(watch.ElapsedMilliseconds, 0, 5_000);
        Assert.Single(first.Requests);
        Assert.Single(second.Requests);
        Assert.Equal(first.BaseAddress, transport.PreferredEndpoint);
    }

    [Fact]
    public async Task Find_Retries_An_Endpoint_That_Failed_But_Not_One_That_Said_Not_Found()
    {
        var calls = 0;
        await using var lagging = new LoopbackHttpServer(_ => LoopbackResponse.WithStatus(404));
        await using var flaky = new LoopbackHttpServer(_ => Interlocked.Increment(ref calls) == 1 ? LoopbackResponse.WithStatus(503) : LoopbackResponse.Json("found"));
        var transport = Create(null, lagging.BaseAddress, flaky.BaseAddress);
        Assert.Equal("found", await FindText(transport, "x"));
        Assert.Single(lagging.Requests);
        Assert.Equal(2, flaky.Requests.Count);
    }

    [Fact]
    public async Task Find_Is_Chain_Unavailable_When_Some_Endpoints_Said_Not_Found_And_The_Rest_Failed()
    {
        // The endpoint that said "not found" may lag behind the one that is down: its answer is no proof the thing is
        // unknown, and taking it for one could get an included transaction replaced.
        await using var lagging = new LoopbackHttpServer(_ => LoopbackResponse.WithStatus(404));
        await using var down = new LoopbackHttpServer(_ => LoopbackResponse.WithStatus(503));
        var transport = Create(o => o.MaxAttempts = 3, lagging.BaseAddress, down.BaseAddress);
        var error = await Assert.ThrowsAsync<PaymentsKitException>(() => FindText(transport, "x"));
        Assert.Equal(PaymentsKitErrorCodes.ChainUnavailable, error.Code);
        Assert.True(error.IsTransient);
        Assert.Contains("1 of 2 endpoint(s) answered not found", error.Message, StringComparison.Ordinal);
        Assert.Single(lagging.Requests);
        Assert.Equal(3, down.Requests.Count); // an answer, even "not found", is not a failed attempt
    }

    [Theory]
    [InlineData("timeout")]
    [InlineData("dropped connection")]
    public async Task Find_Is_Chain_Unavailable_When_The_Endpoints_Not_Saying_Not_Found_Could_Not_Be_Reached(string failure)
    {
        await using var lagging = new LoopbackHttpServer(_ => LoopbackResponse.WithStatus(404));
        await using var down = new LoopbackHttpServer(_ => failure == "timeout" ? new LoopbackResponse(200, "\"late\"", Delay: TimeSpan.FromSeconds(5)) : LoopbackResponse.Drop());
        var transport = Create(o => (o.MaxAttempts, o.RequestTimeout) = (2, Duration.FromMilliseconds(200)), lagging.BaseAddress, down.BaseAddress);
        var error = await Assert.ThrowsAsync<PaymentsKitException>(() => FindText(transport, "x"));
        Assert.Equal(PaymentsKitErrorCodes.ChainUnavailable, error.Code);
        Assert.True(error.IsTransient);
    }

    [Fact]
    public async Task Find_With_No_Endpoint_Answering_Is_Chain_Unavailable()
    {
        await using var down = new LoopbackHttpServer(_ => LoopbackResponse.WithStatus(503));
        var transport = Create(o => o.MaxAttempts = 2, down.BaseAddress);
        var error = await Assert.ThrowsAsync<PaymentsKitException>(() => FindText(transport, "x"));
        Assert.Equal(PaymentsKitErrorCodes.ChainUnavailable, error.Code);
    }

    [Fact]
    public async Task Oversized_Bodies_Are_A_Failed_Attempt()
    {
        await using var big = new LoopbackHttpServer(_ => LoopbackResponse.Json(new string('x', 5000)));
        var transport = Create(o => { o.MaxResponseBytes = 1024; o.MaxAttempts = 1; }, big.BaseAddress);
        var error = await Assert.ThrowsAsync<PaymentsKitException>(() => GetText(transport, "x"));
        Assert.Equal(PaymentsKitErrorCodes.ChainUnavailable, error.Code);
        Assert.Contains("1024 bytes", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Caller_Cancellation_Is_Not_Retried_Or_Wrapped()
    {
        await using var slow = new LoopbackHttpServer(_ => new LoopbackResponse(200, "{}", Delay: TimeSpan.FromSeconds(5)));
        var transport = Create(o => o.RequestTimeout = Duration.FromSeconds(30), slow.BaseAddress);
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(100));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => GetText(transport, "x", cancel.Token));
        Assert.Single(slow.Requests);
    }

    [Fact]
    public async Task Permanent_Errors_From_The_Interpreter_Stop_At_Once()
    {
        await using var server = new LoopbackHttpServer(_ => LoopbackResponse.WithStatus(400));
        var transport = Create(null, server.BaseAddress);
        var error = await Assert.ThrowsAsync<PaymentsKitException>(() => transport.SendAsync<int>(
            "op",
            e => new HttpRequestMessage(HttpMethod.Get, e),
            _ => throw ChainErrors.TransactionRejected(Sim, "h", "nope"),
            CancellationToken.None));
        Assert.Equal(PaymentsKitErrorCodes.TransactionRejected, error.Code);
        Assert.Single(server.Requests);
        Assert.Equal(0m, transport.Statistics.Summarize().ErrorRate);
    }

    [Fact]
    public async Task Exhaustion_Names_The_Attempts_But_Not_The_Endpoint_Path()
    {
        await using var server = new LoopbackHttpServer(_ => LoopbackResponse.WithStatus(502));
        var transport = Create(o => o.MaxAttempts = 4, new Uri(server.BaseAddress, "secret-api-key/"));
        var error = await Assert.ThrowsAsync<PaymentsKitException>(() => GetText(transport, "x"));
        Assert.True(error.IsTransient);
        Assert.Equal(4, server.Requests.Count);
        Assert.Contains("4 attempt", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("secret-api-key", error.ToString(), StringComparison.Ordinal);
        Assert.Equal(1m, transport.Statistics.Summarize().ErrorRate);
    }

    [Fact]
    public void Redact_Keeps_Scheme_And_Host_Only() =>
        Assert.Equal("https://rpc.example:8545", RpcTransport.Redact(new Uri("https://rpc.example:8545/v3/0123456789abcdef?token=x")));

    [Fact]
    public void Options_Validation_Names_Every_Problem()
    {
        var options = new TestOptions
        {
            RequestTimeout = Duration.Zero,
            MaxAttempts = 21,
            RetryDelay = Duration.FromMinutes(2),
            MaxRetryDelay = Duration.FromMinutes(6),
            MaxResponseBytes = 10,
            HealthWindow = 0,
            HealthThresholds = null!,
        };
        options.Endpoints.Add(new Uri("/relative", UriKind.Relative));
        var errors = string.Join("\n", options.Validate("X"));
        foreach (var name in new[] { "X:Endpoints[0]", "X:RequestTimeout", "X:MaxAttempts", "X:RetryDelay", "X:MaxRetryDelay", "X:MaxResponseBytes", "X:HealthWindow", "X:HealthThresholds" })
        {
            Assert.Contains(name, errors, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Json_Rpc_Sends_A_2_0_Request_And_Returns_The_Result()
    {
        await using var node = new LoopbackHttpServer(r =>
        {
            using var request = JsonDocument.Parse(r.Body);
            var id = request.RootElement.GetProperty("id").GetInt64();
            return LoopbackResponse.Json($"{{\"jsonrpc\":\"2.0\",\"id\":{id},\"result\":\"0x10\"}}");
        });
        var client = new JsonRpcClient(Create(null, node.BaseAddress));
        var result = await client.CallAsync("eth_blockNumber", [], CancellationToken.None);
        Assert.Equal("0x10", result.GetString());
        using var sent = JsonDocument.Parse(node.Requests[0].Body);
        Assert.Equal("2.0", sent.RootElement.GetProperty("jsonrpc").GetString());
        Assert.Equal("eth_blockNumber", sent.RootElement.GetProperty("method").GetString());
        Assert.Equal(JsonValueKind.Array, sent.RootElement.GetProperty("params").ValueKind);
        Assert.Equal("application/json", node.Requests[0].Headers["content-type"].Split(';')[0]);
    }

    [Fact]
    public async Task Json_Rpc_Transient_Errors_Fail_Over_And_Others_Surface()
    {
        await using var limited = new LoopbackHttpServer(_ => LoopbackResponse.Json("{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-32005,\"message\":\"daily request count exceeded, request rate limited\"}}"));
        await using var refusing = new LoopbackHttpServer(_ => LoopbackResponse.Json("{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-32000,\"message\":\"already known\",\"data\":{\"x\":1}}}"));
        var client = new JsonRpcClient(Create(null, limited.BaseAddress, refusing.BaseAddress));
        var error = await Assert.ThrowsAsync<JsonRpcException>(() => client.CallAsync("eth_sendRawTransaction", ["0x00"], CancellationToken.None));
        Assert.Equal(-32000, error.Code);
        Assert.Equal("already known", error.RpcMessage);
        Assert.Equal("{\"x\":1}", error.Data);
        Assert.Single(limited.Requests);
    }

    [Fact]
    public async Task Json_Rpc_Custom_Transience_And_Http_Errors()
    {
        await using var behind = new LoopbackHttpServer(_ => LoopbackResponse.Json("{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-32004,\"message\":\"Block not available for slot 1\"}}"));
        await using var unauthorized = new LoopbackHttpServer(_ => new LoopbackResponse(401, "Unauthorized", "text/plain"));
        await using var http400 = new LoopbackHttpServer(_ => LoopbackResponse.WithStatus(400, "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32602,\"message\":\"invalid params\"}}"));
        var client = new JsonRpcClient(Create(null, behind.BaseAddress, unauthorized.BaseAddress, http400.BaseAddress), e => e.Code == -32004);
        var error = await Assert.ThrowsAsync<JsonRpcException>(() => client.CallAsync("getBlock", [1], CancellationToken.None));
        Assert.Equal(-32602, error.Code);
        Assert.Single(behind.Requests);
        Assert.Single(unauthorized.Requests);
    }

    [Theory]
    [InlineData(429, "The requests per second (RPS) of your requests are higher than your plan allows.")] // Alchemy, QuickNode, Triton
    [InlineData(-32029, "Rate limit exceeded")]
    [InlineData(-32000, "Too Many Requests")]
    [InlineData(-32097, "rate limited, retry in 1s")]
    [InlineData(-32012, "credits limited to 50/sec")] // QuickNode
    [InlineData(-32007, "100/second request limit reached - reduce calls per second")] // QuickNode
    public async Task Json_Rpc_Rate_Limit_Errors_Fail_Over_Even_With_A_Custom_Transience(long code, string message)
    {
        var body = "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":" + code + ",\"message\":" + JsonSerializer.Serialize(message) + "}}";
        await using var limited = new LoopbackHttpServer(_ => LoopbackResponse.Json(body));
        await using var healthy = new LoopbackHttpServer(_ => LoopbackResponse.Json("{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":\"0x10\"}"));
        foreach (var client in new[]
        {
            new JsonRpcClient(Create(null, limited.BaseAddress, healthy.BaseAddress)),
            new JsonRpcClient(Create(null, limited.BaseAddress, healthy.BaseAddress), e => e.Code == -32004),
        })
        {
            Assert.Equal("0x10", (await client.CallAsync("eth_blockNumber", [], CancellationToken.None)).GetString());
        }

        Assert.Equal(2, limited.Requests.Count);
        var alone = new JsonRpcClient(Create(o => o.MaxAttempts = 2, limited.BaseAddress), e => e.Code == -32004);
        var error = await Assert.ThrowsAsync<PaymentsKitException>(() => alone.CallAsync("eth_blockNumber", [], CancellationToken.None));
        Assert.Equal(PaymentsKitErrorCodes.ChainUnavailable, error.Code);
        Assert.True(error.IsTransient);
    }

    [Fact]
    public async Task Json_Rpc_Errors_That_Only_Mention_A_Limit_Are_Not_Rate_Limits()
    {
        await using var refusing = new LoopbackHttpServer(_ => LoopbackResponse.Json("{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-32000,\"message\":\"exceeds block gas limit\"}}"));
        var client = new JsonRpcClient(Create(null, refusing.BaseAddress));
        var error = await Assert.ThrowsAsync<JsonRpcException>(() => client.CallAsync("eth_sendRawTransaction", ["0x00"], CancellationToken.None));
        Assert.Equal("exceeds block gas limit", error.RpcMessage);
        Assert.Single(refusing.Requests);
    }

    [Theory]
    [InlineData(401, -32600, "Must be authenticated!")]
    [InlineData(403, -32002, "rejected due to project ID settings")]
    [InlineData(402, -32000, "payment required")]
    public async Task Json_Rpc_Errors_Under_An_Endpoint_Refusal_Fail_Over(int status, long code, string message)
    {
        // The key or plan of one endpoint is refused: another endpoint may well answer, and the request itself is fine.
        await using var refusing = new LoopbackHttpServer(_ => LoopbackResponse.WithStatus(
            status, "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":" + code + ",\"message\":" + JsonSerializer.Serialize(message) + "}}"));
        await using var healthy = new LoopbackHttpServer(_ => LoopbackResponse.Json("{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":\"0x1\"}"));
        var client = new JsonRpcClient(Create(null, refusing.BaseAddress, healthy.BaseAddress));
        Assert.Equal("0x1", (await client.CallAsync("eth_sendRawTransaction", ["0x00"], CancellationToken.None)).GetString());
        Assert.Single(refusing.Requests);
    }

    [Fact]
    public async Task Http_429_Fails_Over_To_The_Next_Endpoint()
    {
        await using var limited = new LoopbackHttpServer(_ => new LoopbackResponse(429, "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-32000,\"message\":\"busy\"}}"));
        await using var healthy = new LoopbackHttpServer(_ => LoopbackResponse.Json("{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":1}"));
        var client = new JsonRpcClient(Create(null, limited.BaseAddress, healthy.BaseAddress));
        Assert.Equal(1, (await client.CallAsync("getSlot", [], CancellationToken.None)).GetInt32());
        Assert.Single(limited.Requests);
    }

    [Theory]
    [InlineData("not json")]
    [InlineData("[1,2]")]
    [InlineData("{\"jsonrpc\":\"2.0\",\"id\":1}")]
    public async Task Json_Rpc_Malformed_Answers_Fail_Over(string body)
    {
        await using var broken = new LoopbackHttpServer(_ => LoopbackResponse.Json(body));
        await using var healthy = new LoopbackHttpServer(_ => LoopbackResponse.Json("{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":null}"));
        var client = new JsonRpcClient(Create(null, broken.BaseAddress, healthy.BaseAddress));
        var result = await client.CallAsync("getSlot", new JsonArray(), CancellationToken.None);
        Assert.Equal(JsonValueKind.Null, result.ValueKind);
        Assert.Single(broken.Requests);
    }
}
