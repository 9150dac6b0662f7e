using System.Globalization;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace PaymentsKit.Chains.Rpc;

/// <summary>
/// JSON-RPC 2.0 over <see cref="RpcTransport"/> (Ethereum, Solana). Error objects the node marks as
/// transient fail over to the next endpoint; the rest surface as <see cref="JsonRpcException"/> for the
/// adapter to map to a <see cref="PaymentsKitException"/>.
/// </summary>
public sealed class JsonRpcClient
{
    /// <summary>Error codes that mean "this node cannot answer now": -32005 limit exceeded (EIP-1474), -32603 internal error.</summary>
    public static IReadOnlySet<long> DefaultTransientCodes { get; } = new HashSet<long> { -32005, -32603 };

    private static readonly MediaTypeHeaderValue JsonMediaType = new("application/json");
    private readonly RpcTransport _transport;
    private readonly Func<JsonRpcException, bool> _isTransient;
    private long _nextId;

    /// <summary>Creates a client.</summary>
    /// <param name="transport">The failover transport.</param>
    /// <param name="isTransient">Which error objects to fail over on; default <see cref="DefaultTransientCodes"/>.</param>
    public JsonRpcClient(RpcTransport transport, Func<JsonRpcException, bool>? isTransient = null)
    {
        _transport = transport ?? throw new ArgumentNullException(nameof(transport));
        _isTransient = isTransient ?? (e => DefaultTransientCodes.Contains(e.Code));
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
        ArgumentException.ThrowIfNullOrWhiteSpace(method);
        ArgumentNullException.ThrowIfNull(read);
        return _transport.SendAsync(
            method,
            endpoint =>
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
            },
            response => Interpret(response, read),
            cancellationToken);
    }

    private T Interpret<T>(RpcResponse response, Func<JsonElement, T> read)
    {
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
                if (_isTransient(exception))
                {
                    throw new TransientRpcException(exception.Message, exception);
                }

                throw exception;
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
