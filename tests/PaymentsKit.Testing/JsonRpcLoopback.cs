using System.Globalization;
using System.Text.Json;

namespace PaymentsKit.Testing;

/// <summary>What a fake JSON-RPC node answers to one call.</summary>
public sealed record JsonRpcAnswer(string? ResultJson, long ErrorCode, string? ErrorMessage, string? ErrorDataJson, LoopbackResponse? Raw)
{
    /// <summary>A <c>result</c> member holding <paramref name="json"/> (raw JSON: an object, a quoted string, <c>null</c> …).</summary>
    public static JsonRpcAnswer Result(string json) => new(json, 0, null, null, null);

    /// <summary>An <c>error</c> object, with an optional raw JSON <c>data</c> member.</summary>
    public static JsonRpcAnswer Error(long code, string message, string? dataJson = null) => new(null, code, message, dataJson, null);

    /// <summary>A raw HTTP answer (rate limits, outages, garbage).</summary>
    public static JsonRpcAnswer Http(LoopbackResponse response) => new(null, 0, null, null, response);
}

/// <summary>A <see cref="LoopbackHttpServer"/> speaking JSON-RPC 2.0: it reads each request's method and params and echoes its id.</summary>
public static class JsonRpcLoopback
{
    /// <summary>Starts a fake node; <paramref name="answer"/> gets the method and params of every call.</summary>
    public static LoopbackHttpServer Start(Func<string, JsonElement, JsonRpcAnswer> answer)
    {
        ArgumentNullException.ThrowIfNull(answer);
        return new LoopbackHttpServer(request =>
        {
            using var document = JsonDocument.Parse(request.Body);
            var root = document.RootElement;
            var id = root.TryGetProperty("id", out var idElement) ? idElement.GetRawText() : "null";
            var reply = answer(root.GetProperty("method").GetString()!, root.TryGetProperty("params", out var p) ? p.Clone() : default);
            if (reply.Raw is not null)
            {
                return reply.Raw;
            }

            return LoopbackResponse.Json(reply.ResultJson is not null
                ? $"{{\"jsonrpc\":\"2.0\",\"id\":{id},\"result\":{reply.ResultJson}}}"
                : string.Create(
                    CultureInfo.InvariantCulture,
                    $"{{\"jsonrpc\":\"2.0\",\"id\":{id},\"error\":{{\"code\":{reply.ErrorCode},\"message\":{JsonSerializer.Serialize(reply.ErrorMessage)}{(reply.ErrorDataJson is null ? string.Empty : ",\"data\":" + reply.ErrorDataJson)}}}}}"));
        });
    }

    /// <summary>Starts a fake node answering from a table of method → answer; other methods get -32601.</summary>
    public static LoopbackHttpServer Start(IReadOnlyDictionary<string, Func<JsonElement, JsonRpcAnswer>> methods)
    {
        ArgumentNullException.ThrowIfNull(methods);
        return Start((method, parameters) => methods.TryGetValue(method, out var handler)
            ? handler(parameters)
            : JsonRpcAnswer.Error(-32601, "the method " + method + " does not exist/is not available"));
    }
}
