namespace PaymentsKit.Chains.Rpc;

/// <summary>
/// Thrown by a response interpreter passed to <see cref="RpcTransport.SendAsync{T}"/> when the endpoint's
/// answer means "try elsewhere or later" (rate limited, node behind, unparseable): the transport fails
/// over to the next endpoint instead of returning.
/// </summary>
public sealed class TransientRpcException : Exception
{
    /// <summary>Creates the exception.</summary>
    public TransientRpcException()
        : this("The RPC endpoint gave a transient error.")
    {
    }

    /// <summary>Creates the exception with the reason.</summary>
    public TransientRpcException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with the reason and its cause.</summary>
    public TransientRpcException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>A JSON-RPC 2.0 error object the node answered with, for the adapter to map.</summary>
public sealed class JsonRpcException : Exception
{
    /// <summary>Creates the exception.</summary>
    public JsonRpcException()
        : this(0, "JSON-RPC error", null)
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public JsonRpcException(string message)
        : this(0, message, null)
    {
    }

    /// <summary>Creates the exception with a message and cause.</summary>
    public JsonRpcException(string message, Exception innerException)
        : base(message, innerException)
    {
        RpcMessage = message;
    }

    /// <summary>Creates the exception from the error object's fields.</summary>
    /// <param name="code">The error code.</param>
    /// <param name="rpcMessage">The error message.</param>
    /// <param name="data">The raw <c>data</c> member as JSON text, if any.</param>
    public JsonRpcException(long code, string rpcMessage, string? data)
        : base($"JSON-RPC error {code}: {rpcMessage}")
    {
        Code = code;
        RpcMessage = rpcMessage;
        Data = data;
    }

    /// <summary>The JSON-RPC error code.</summary>
    public long Code { get; }

    /// <summary>The node's error message.</summary>
    public string RpcMessage { get; } = string.Empty;

    /// <summary>The raw <c>data</c> member as JSON text, if the node sent one.</summary>
    public new string? Data { get; }
}
