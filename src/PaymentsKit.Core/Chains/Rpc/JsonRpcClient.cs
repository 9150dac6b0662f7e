using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace PaymentsKit.Chains.Rpc;

/// <summary>
/// JSON-RPC 2.0 over <see cref="RpcTransport"/> (Ethereum, Solana). Error objects the node marks as
/// transient, and every rate-limit error (<see cref="IsRateLimited"/>), fail over to the next endpoint; the rest
/// surface as <see cref="JsonRpcException"/> for the adapter to map to a <see cref="PaymentsKitException"/>.
/// </summary>
public sealed class JsonRpcClient
{
    /// <summary>
    /// Error codes providers answer when they throttle: -32005 limit exceeded (EIP-1474; Infura's rate and daily limits),
    /// 429 (Alchemy, QuickNode and Triton copy the HTTP status into the error object, sometimes under HTTP 200) and
    /// -32029 (rate limit exceeded, e.g. TheRPC).
    /// </summary>
    public static IReadOnlySet<long> RateLimitCodes { get; } = new HashSet<long> { -32005, 429, -32029 };

    /// <summary>Error codes that mean "this node cannot answer now": the <see cref="RateLimitCodes"/> and -32603 internal error.</summary>
    public static IReadOnlySet<long> DefaultTransientCodes { get; } = new HashSet<long>(RateLimitCodes) { -32603 };

    // Providers also throttle under codes of their own (QuickNode -32007 "request limit reached", -32012 "credits limited to
    // X/sec"; others -32000 or -32001), so the message is read too. Phrases are specific enough that a node's refusal of a
    // transaction ("exceeds block gas limit") is never taken for one.
    private static readonly string[] RateLimitPhrases = ["rate limit", "rate-limit", "ratelimit", "too many requests", "request limit reached", "credits limited"];

    private static readonly MediaTypeHeaderValue JsonMediaType = new("application/json");
    private readonly RpcTransport _transport;
    private readonly Func<JsonRpcException, bool> _isTransient;
    private long _nextId;

    /// <summary>Creates a client.</summary>
    /// <param name="transport">The failover transport.</param>
    /// <param name="isTransient">
    /// Which error objects to fail over on besides rate limits (which always fail over); default <see cref="DefaultTransientCodes"/>.
    /// </param>
    public JsonRpcClient(RpcTransport transport, Func<JsonRpcException, bool>? isTransient = null)
    {
        _transport = transport ?? throw new ArgumentNullException(nameof(transport));
        _isTransient = isTransient ?? (e => DefaultTransientCodes.Contains(e.Code));
    }

    /// <summary>Whether <paramref name="error"/> says the provider is throttling: a <see cref="RateLimitCodes"/> code, or a message saying so.</summary>
    public static bool IsRateLimited(JsonRpcException error)
    {
        ArgumentNullException.ThrowIfNull(error);
        return RateLimitCodes.Contains(error.Code)
            || RateLimitPhrases.Any(phrase => error.RpcMessage.Contains(phrase, StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>The transport, for its statistics.</summary>
    public RpcTransport Transport => _transport;

    /// <summary>Calls <paramref name="method"/> and returns its <c>result</c> (a detached element; JSON null when the node answered null).</summary>
    /// <exception cref="JsonRpcException">For an error object that is not transient.</exception>
    /// <exception cref="PaymentsKitException"><c>chain_unavailable</c> (transient) when every endpoint failed.</exception>
    public Task<JsonElement> CallAsync(string method, JsonArray? parameters, CancellationToken cancellationToken) =>
        CallAsync(method, parameters, static result => result.Clone(), cancellationToken);

    /// <summary>
    /// Calls <paramref name="method"/> and reads its <c>result</c> with <paramref name="read"/> inside the transport, so a
    /// result that cannot be read (a <see cref="FormatException"/>, a missing member) fails over to the next endpoint.
    /// </summary>
    /// <exception cref="JsonRpcException">For an error object that is not transient.</exception>
    /// <exception cref="PaymentsKitException"><c>chain_unavailable</c> (transient) when every endpoint failed.</exception>
    public Task<T> CallAsync<T>(string method, JsonArray? parameters, Func<JsonElement, T> read, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(read);
        return SendAsync(method, parameters, (_, response) => Interpret(response, read, null), cancellationToken);
    }

    /// <summary>
    /// Calls <paramref name="method"/> like <see cref="CallAsync{T}(string, JsonArray?, Func{JsonElement, T}, CancellationToken)"/>,
    /// but tells the readers which endpoint answered (one of <see cref="RpcTransport.Endpoints"/>), and hands an error
    /// object that is not transient to <paramref name="readError"/> instead of throwing it: for what a caller learns about
    /// one endpoint, such as a method or parameter that node does not serve.
    /// </summary>
    /// <exception cref="PaymentsKitException"><c>chain_unavailable</c> (transient) when every endpoint failed.</exception>
    public Task<T> CallAsync<T>(
        string method,
        JsonArray? parameters,
        Func<Uri, JsonElement, T> read,
        Func<Uri, JsonRpcException, T> readError,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(read);
        ArgumentNullException.ThrowIfNull(readError);
        return SendAsync(
            method,
            parameters,
            (endpoint, response) => Interpret(response, result => read(endpoint, result), error => readError(endpoint, error)),
            cancellationToken);
    }

    /// <summary>
    /// Looks something up that a node may not know yet, such as a transaction a node lagging behind the chain has not
    /// seen: <paramref name="read"/> answers null when the node does not know it (a JSON null result, an empty status),
    /// and then the endpoints not asked yet are asked in turn (<see cref="RpcTransport.FindAsync{T}"/>).
    /// </summary>
    /// <returns>The first result found; null once every configured endpoint said it does not know it.</returns>
    /// <exception cref="JsonRpcException">For an error object that is not transient.</exception>
    /// <exception cref="PaymentsKitException">
    /// <c>chain_unavailable</c> (transient) when the attempts ran out before every endpoint answered, even if some said
    /// they do not know it.
    /// </exception>
    public Task<T?> FindAsync<T>(string method, JsonArray? parameters, Func<JsonElement, T?> read, CancellationToken cancellationToken)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(read);
        ArgumentException.ThrowIfNullOrWhiteSpace(method);
        return _transport.FindAsync(method, endpoint => CreateRequest(endpoint, method, parameters), response => Interpret(response, read, null), cancellationToken);
    }

    private Task<T> SendAsync<T>(string method, JsonArray? parameters, Func<Uri, RpcResponse, T> interpret, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(method);

        // The transport makes one attempt at a time and builds each request just before the answer it interprets, so the
        // endpoint the last request was built for is the one that answered.
        Uri? answering = null;
        return _transport.SendAsync(
            method,
            endpoint =>
            {
                answering = endpoint;
                return CreateRequest(endpoint, method, parameters);
            },
            response => interpret(answering!, response),
            cancellationToken);
    }

    private HttpRequestMessage CreateRequest(Uri endpoint, string method, JsonArray? parameters)
    {
        var id = Interlocked.Increment(ref _nextId);
        var body = new JsonObject
        {
            ["jsonrpc"] = "2.0",
            ["id"] = id,
            ["method"] = method,
            ["params"] = parameters?.DeepClone() ?? new JsonArray(),
        };
        var content = new ByteArrayContent(JsonSerializer.SerializeToUtf8Bytes(body));
        content.Headers.ContentType = JsonMediaType;
        return new HttpRequestMessage(HttpMethod.Post, endpoint) { Content = content };
    }

    private T Interpret<T>(RpcResponse response, Func<JsonElement, T> read, Func<JsonRpcException, T>? readError)
    {
        // 401, 402 and 403 refuse this endpoint's credentials or plan (bad key, disabled endpoint, capacity, allow-list), whatever
        // error object comes with them: another endpoint may answer, and the request must not be judged by it.
        if (response.Status is HttpStatusCode.Unauthorized or HttpStatusCode.PaymentRequired or HttpStatusCode.Forbidden)
        {
            throw new TransientRpcException(string.Create(CultureInfo.InvariantCulture, $"HTTP {(int)response.Status}: the endpoint refused its credentials or plan"));
        }

        JsonDocument document;
        try
        {
            document = response.ParseJson();
        }
        catch (JsonException) when (!response.IsSuccess)
        {
            throw new TransientRpcException(string.Create(CultureInfo.InvariantCulture, $"HTTP {(int)response.Status} without a JSON-RPC body"));
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new TransientRpcException("the response is not a JSON-RPC object");
            }

            if (root.TryGetProperty("error", out var error) && error.ValueKind == JsonValueKind.Object)
            {
                var exception = new JsonRpcException(
                    error.TryGetProperty("code", out var code) && code.TryGetInt64(out var value) ? value : 0,
                    error.TryGetProperty("message", out var message) && message.ValueKind == JsonValueKind.String ? message.GetString()! : "(no message)",
                    error.TryGetProperty("data", out var data) ? data.GetRawText() : null);
                if (IsRateLimited(exception) || _isTransient(exception))
                {
                    throw new TransientRpcException(exception.Message, exception);
                }

                return readError is null ? throw exception : readError(exception);
            }

            if (!response.IsSuccess)
            {
                throw new TransientRpcException(string.Create(CultureInfo.InvariantCulture, $"HTTP {(int)response.Status} without a JSON-RPC error"));
            }

            if (!root.TryGetProperty("result", out var result))
            {
                throw new TransientRpcException("the response has neither result nor error");
            }

            return read(result);
        }
    }
}
