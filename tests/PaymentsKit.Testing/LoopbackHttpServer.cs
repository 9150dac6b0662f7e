using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace PaymentsKit.Testing;

/// <summary>A request the <see cref="LoopbackHttpServer"/> received.</summary>
/// <param name="Method">The HTTP method.</param>
/// <param name="Path">The path and query, e.g. <c>/transactions/abc?x=1</c>.</param>
/// <param name="Headers">The request headers (names lower-cased).</param>
/// <param name="Body">The request body as UTF-8 text.</param>
public sealed record LoopbackRequest(string Method, string Path, IReadOnlyDictionary<string, string> Headers, string Body);

/// <summary>What the <see cref="LoopbackHttpServer"/> answers.</summary>
/// <param name="Status">The HTTP status.</param>
/// <param name="Body">The body text (sent as UTF-8).</param>
/// <param name="ContentType">The content type.</param>
/// <param name="Headers">Extra headers, e.g. Retry-After.</param>
/// <param name="Delay">Waits this long before answering (for timeouts).</param>
/// <param name="DropConnection">Closes the connection without answering.</param>
public sealed record LoopbackResponse(
    int Status,
    string Body,
    string ContentType = "application/json",
    IReadOnlyDictionary<string, string>? Headers = null,
    TimeSpan Delay = default,
    bool DropConnection = false)
{
    /// <summary>A 200 JSON answer.</summary>
    public static LoopbackResponse Json(string body) => new(200, body);

    /// <summary>An answer with a status and JSON body.</summary>
    public static LoopbackResponse WithStatus(int status, string body = "{}") => new(status, body);

    /// <summary>Closes the connection without answering.</summary>
    public static LoopbackResponse Drop() => new(0, string.Empty, DropConnection: true);
}

/// <summary>
/// A minimal HTTP/1.1 server on 127.0.0.1 and a random free port that replays canned responses, for
/// testing RPC clients against their real wire format without network access. One request per
/// connection (it answers with <c>Connection: close</c>). Requests are recorded in <see cref="Requests"/>.
/// </summary>
public sealed class LoopbackHttpServer : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly Func<LoopbackRequest, LoopbackResponse> _handler;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private readonly ConcurrentQueue<LoopbackRequest> _requests = new();

    /// <summary>Starts a server that answers every request with <paramref name="handler"/>.</summary>
    public LoopbackHttpServer(Func<LoopbackRequest, LoopbackResponse> handler)
    {
        _handler = handler ?? throw new ArgumentNullException(nameof(handler));
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        var port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        BaseAddress = new Uri(string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{port}/"));
        _loop = Task.Run(AcceptLoopAsync);
    }

    /// <summary>Starts a server that routes by "METHOD path" prefix (query ignored unless part of the key); unknown routes get 404.</summary>
    public static LoopbackHttpServer WithRoutes(IReadOnlyDictionary<string, Func<LoopbackRequest, LoopbackResponse>> routes) =>
        new(request =>
        {
            var pathOnly = request.Path.Split('?')[0];
            foreach (var key in new[] { request.Method + " " + request.Path, request.Method + " " + pathOnly })
            {
                if (routes.TryGetValue(key, out var route))
                {
                    return route(request);
                }
            }

            return LoopbackResponse.WithStatus(404, "{\"status\":404,\"title\":\"Resource Missing\"}");
        });

    /// <summary>The server's address, ending in '/'.</summary>
    public Uri BaseAddress { get; }

    /// <summary>Every request received so far, in order.</summary>
    public IReadOnlyList<LoopbackRequest> Requests => [.. _requests];

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        // The accept loop ends on the cancellation before the listener stops: an accept begun on a stopped listener
        // throws "Not listening" instead of observing the cancellation (a server disposed just as its loop started).
        await _stop.CancelAsync();
        try
        {
            await _loop;
        }
        catch (OperationCanceledException)
        {
        }

        _listener.Stop();
        _stop.Dispose();
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            _ = Task.Run(() => ServeAsync(client));
        }
    }

    private async Task ServeAsync(TcpClient client)
    {
        using (client)
        {
            try
            {
                var stream = client.GetStream();
                var request = await ReadRequestAsync(stream, _stop.Token);
                if (request is null)
                {
                    return;
                }

                _requests.Enqueue(request);
                var response = _handler(request);
                if (response.Delay > TimeSpan.Zero)
                {
                    await Task.Delay(response.Delay, _stop.Token);
                }

                if (response.DropConnection)
                {
                    client.Client.LingerState = new LingerOption(true, 0);
                    return;
                }

                var body = Encoding.UTF8.GetBytes(response.Body);
                var head = new StringBuilder()
                    .Append(CultureInfo.InvariantCulture, $"HTTP/1.1 {response.Status} {ReasonPhrase(response.Status)}\r\n")
                    .Append(CultureInfo.InvariantCulture, $"Content-Type: {response.ContentType}\r\n")
                    .Append(CultureInfo.InvariantCulture, $"Content-Length: {body.Length}\r\n")
                    .Append("Connection: close\r\n");
                foreach (var (name, value) in response.Headers ?? new Dictionary<string, string>())
                {
                    head.Append(CultureInfo.InvariantCulture, $"{name}: {value}\r\n");
                }

                head.Append("\r\n");
                await stream.WriteAsync(Encoding.ASCII.GetBytes(head.ToString()), _stop.Token);
                await stream.WriteAsync(body, _stop.Token);
                await stream.FlushAsync(_stop.Token);
            }
            catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
            {
                // The client went away or the server is stopping; nothing to answer.
            }
        }
    }

    private static async Task<LoopbackRequest?> ReadRequestAsync(NetworkStream stream, CancellationToken cancellationToken)
    {
        var buffer = new List<byte>();
        var one = new byte[1];
        while (!EndsWithBlankLine(buffer))
        {
            if (await stream.ReadAsync(one, cancellationToken) == 0)
            {
                return null;
            }

            buffer.Add(one[0]);
            if (buffer.Count > 64 * 1024)
            {
                return null;
            }
        }

        var lines = Encoding.ASCII.GetString([.. buffer]).Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        var requestLine = lines[0].Split(' ');
        var headers = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in lines.Skip(1))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon > 0)
            {
                headers[line[..colon].Trim().ToLowerInvariant()] = line[(colon + 1)..].Trim();
            }
        }

        var length = headers.TryGetValue("content-length", out var text) ? int.Parse(text, CultureInfo.InvariantCulture) : 0;
        var body = new byte[length];
        var read = 0;
        while (read < length)
        {
            var n = await stream.ReadAsync(body.AsMemory(read), cancellationToken);
            if (n == 0)
            {
                return null;
            }

            read += n;
        }

        return new LoopbackRequest(requestLine[0], requestLine[1], headers, Encoding.UTF8.GetString(body));
    }

    private static bool EndsWithBlankLine(List<byte> buffer) =>
        buffer.Count >= 4 && buffer[^4] == '\r' && buffer[^3] == '\n' && buffer[^2] == '\r' && buffer[^1] == '\n';

    private static string ReasonPhrase(int status) => status switch
    {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    };
}
