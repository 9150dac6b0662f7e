using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using NodaTime;

namespace PaymentsKit.Chains.Rpc;

/// <summary>What one endpoint answered.</summary>
/// <param name="Status">The HTTP status.</param>
/// <param name="Body">The response body.</param>
/// <param name="Endpoint">The endpoint that answered, for messages (redacted to scheme and host).</param>
public sealed record RpcResponse(HttpStatusCode Status, ReadOnlyMemory<byte> Body, string Endpoint)
{
    /// <summary>Whether the status is 2xx.</summary>
    public bool IsSuccess => (int)Status is >= 200 and < 300;

    /// <summary>Parses the body as JSON; a body that is not JSON is a <see cref="JsonException"/>, which the transport treats as a bad endpoint.</summary>
    public JsonDocument ParseJson() => JsonDocument.Parse(Body);
}

/// <summary>
/// The one place chain adapters send HTTP requests through: it tries the configured endpoints in turn,
/// gives each attempt its own timeout, fails over on transient failures (network errors, timeouts, 408,
/// 429, 5xx, unparseable or oversized bodies, and whatever the interpreter marks with
/// <see cref="TransientRpcException"/>), pauses with exponential backoff (honouring Retry-After, in seconds or as a
/// date read against the response's Date header, or against the clock when the response has none) before
/// going round again, and reports exhaustion as a transient <c>chain_unavailable</c>. The endpoint that
/// last worked is tried first next time. Every attempt is recorded in <see cref="Statistics"/>.
/// </summary>
/// <remarks>
/// Only idempotent requests may be sent through it: a request may reach more than one endpoint.
/// Broadcasting a signed transaction is idempotent on every supported chain (the same bytes, the same hash).
/// </remarks>
public sealed partial class RpcTransport
{
    private readonly ChainId _chain;
    private readonly HttpClient _httpClient;
    private readonly Uri[] _endpoints;
    private readonly TimeSpan _timeout;
    private readonly int _maxAttempts;
    private readonly TimeSpan _retryDelay;
    private readonly TimeSpan _maxRetryDelay;
    private readonly int _maxResponseBytes;
    private readonly ILogger _logger;
    private readonly IClock? _clock;
    private int _preferred;

    /// <summary>Creates a transport without a clock: a Retry-After date on a response with no Date header is ignored.</summary>
    /// <param name="chain">The chain, for errors and logs.</param>
    /// <param name="httpClient">The client to send with; its own timeout should be infinite or longer than <see cref="ChainRpcOptions.RequestTimeout"/>.</param>
    /// <param name="options">Endpoints, timeouts and retry bounds; must be valid.</param>
    /// <param name="logger">Receives failover warnings.</param>
    public RpcTransport(ChainId chain, HttpClient httpClient, ChainRpcOptions options, ILogger logger)
        : this(chain, httpClient, options, null, logger)
    {
    }

    /// <summary>Creates a transport.</summary>
    /// <param name="chain">The chain, for errors and logs.</param>
    /// <param name="httpClient">The client to send with; its own timeout should be infinite or longer than <see cref="ChainRpcOptions.RequestTimeout"/>.</param>
    /// <param name="options">Endpoints, timeouts and retry bounds; must be valid.</param>
    /// <param name="clock">
    /// What a Retry-After date is read against when the response has no Date header of its own (the adapters pass the
    /// injected clock); null ignores such a date.
    /// </param>
    /// <param name="logger">Receives failover warnings.</param>
    public RpcTransport(ChainId chain, HttpClient httpClient, ChainRpcOptions options, IClock? clock, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(httpClient);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(logger);
        if (options.Endpoints.Count == 0)
        {
            throw new ArgumentException("At least one endpoint is required.", nameof(options));
        }

        _chain = chain;
        _httpClient = httpClient;

        // A base address without a trailing slash would lose its last segment when resolving relative paths.
        _endpoints = [.. options.Endpoints.Select(e => e.AbsolutePath.EndsWith('/') ? e : new UriBuilder(e) { Path = e.AbsolutePath + "/" }.Uri)];
        _timeout = options.RequestTimeout.ToTimeSpan();
        _maxAttempts = options.MaxAttempts;
        _retryDelay = options.RetryDelay.ToTimeSpan();
        _maxRetryDelay = options.MaxRetryDelay.ToTimeSpan();
        _maxResponseBytes = options.MaxResponseBytes;
        _logger = logger;
        _clock = clock;
        Statistics = new RpcCallStatistics(options.HealthWindow);
    }

    /// <summary>Outcomes and latencies of recent attempts.</summary>
    public RpcCallStatistics Statistics { get; }

    /// <summary>The endpoints, each ending in '/'.</summary>
    public IReadOnlyList<Uri> Endpoints => _endpoints;

    /// <summary>The endpoint the next request is sent to first: the one that last answered, or the next after one that just failed.</summary>
    public Uri PreferredEndpoint => _endpoints[Volatile.Read(ref _preferred)];

    /// <summary>An endpoint as it may be logged: scheme and authority only, since paths and queries often hold API keys.</summary>
    public static string Redact(Uri endpoint)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        return endpoint.IsAbsoluteUri ? endpoint.Scheme + "://" + endpoint.Authority : "(relative uri)";
    }

    /// <summary>Sends a request, failing over between endpoints until <paramref name="interpret"/> accepts an answer.</summary>
    /// <typeparam name="T">What the interpreter makes of the answer.</typeparam>
    /// <param name="operation">The operation's name, for errors and logs.</param>
    /// <param name="createRequest">Builds a fresh request against the given endpoint base address (ending in '/').</param>
    /// <param name="interpret">
    /// Turns a response that is not 408/429/5xx into a result. It may throw <see cref="TransientRpcException"/> or a
    /// JSON error to fail over, or any other exception (e.g. a <see cref="PaymentsKitException"/>) to stop.
    /// </param>
    /// <param name="cancellationToken">Cancels the whole call.</param>
    /// <exception cref="PaymentsKitException"><c>chain_unavailable</c> (transient) when every attempt failed.</exception>
    public Task<T> SendAsync<T>(
        string operation,
        Func<Uri, HttpRequestMessage> createRequest,
        Func<RpcResponse, T> interpret,
        CancellationToken cancellationToken) =>
        SendCoreAsync(operation, createRequest, interpret, askOthersOnNull: false, cancellationToken);

    /// <summary>
    /// Looks up something an endpoint may not know yet, such as a transaction a node that lags behind the network has not
    /// imported: when <paramref name="interpret"/> answers null, the endpoints not asked yet are asked in turn, and the
    /// answer is null only once each endpoint has said so. Failures fail over as in
    /// <see cref="SendAsync{T}(string, Func{Uri, HttpRequestMessage}, Func{RpcResponse, T}, CancellationToken)"/>.
    /// </summary>
    /// <typeparam name="T">What the interpreter makes of an answer that found it.</typeparam>
    /// <param name="operation">The operation's name, for errors and logs.</param>
    /// <param name="createRequest">Builds a fresh request against the given endpoint base address (ending in '/').</param>
    /// <param name="interpret">Turns a response into a result, or null when that endpoint does not know the thing asked for.</param>
    /// <param name="cancellationToken">Cancels the whole call.</param>
    /// <returns>
    /// The first result found; null only when every configured endpoint said it does not know it. A "not found" answer is
    /// not counted against <see cref="ChainRpcOptions.MaxAttempts"/>, so each endpoint is asked at least once.
    /// </returns>
    /// <exception cref="PaymentsKitException">
    /// <c>chain_unavailable</c> (transient) when the attempts ran out before every endpoint answered: with no answer at all,
    /// and also when some said "not found" and the others could not be asked, since the ones that answered may lag behind.
    /// </exception>
    public Task<T?> FindAsync<T>(
        string operation,
        Func<Uri, HttpRequestMessage> createRequest,
        Func<RpcResponse, T?> interpret,
        CancellationToken cancellationToken)
        where T : class =>
        SendCoreAsync(operation, createRequest, interpret, askOthersOnNull: true, cancellationToken);

    private async Task<T> SendCoreAsync<T>(
        string operation,
        Func<Uri, HttpRequestMessage> createRequest,
        Func<RpcResponse, T> interpret,
        bool askOthersOnNull,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(createRequest);
        ArgumentNullException.ThrowIfNull(interpret);
        var start = Volatile.Read(ref _preferred);

        // With one endpoint there is nobody else to ask, so its "not found" is the answer, as with SendAsync.
        var notFound = askOthersOnNull && _endpoints.Length > 1 ? new bool[_endpoints.Length] : null;
        var notFoundCount = 0;
        string lastError = "no attempt was made";
        TimeSpan? retryAfter = null;
        var position = 0;
        var pausedRound = 0;
        for (var attempt = 0; attempt < _maxAttempts;)
        {
            int index;
            do
            {
                index = (start + position) % _endpoints.Length;
                position++;
            }
            while (notFound?[index] == true);

            var round = (position - 1) / _endpoints.Length;
            if (round > pausedRound)
            {
                await PauseAsync(round, retryAfter, cancellationToken).ConfigureAwait(false);
                pausedRound = round;
                retryAfter = null;
            }

            var endpoint = _endpoints[index];
            var began = Stopwatch.GetTimestamp();
            var failure = await TryOnceAsync(endpoint, createRequest, interpret, cancellationToken).ConfigureAwait(false);
            var latency = Duration.FromTimeSpan(Stopwatch.GetElapsedTime(began));
            Statistics.Record(failure.Error is null, latency);
            if (failure.Error is null && notFound is not null && failure.Result is null)
            {
                notFound[index] = true;
                if (++notFoundCount == _endpoints.Length)
                {
                    return failure.Result!;
                }

                LogNotFound(_logger, _chain.Value, operation, Redact(endpoint));
                continue;
            }

            attempt++;
            if (failure.Error is null)
            {
                Volatile.Write(ref _preferred, index);
                return failure.Result!;
            }

            lastError = failure.Error;
            retryAfter = failure.RetryAfter ?? retryAfter;
            var next = (index + 1) % _endpoints.Length;
            Interlocked.CompareExchange(ref _preferred, next, index);
            LogAttemptFailed(_logger, _chain.Value, operation, Redact(endpoint), attempt, _maxAttempts, failure.Error);
        }

        // Endpoints that said "not found" while the others could not be asked prove nothing: they may be the ones lagging
        // behind the network, and taking their answer for "unknown" could get an included transaction replaced.
        var notFoundNote = notFoundCount > 0
            ? string.Create(CultureInfo.InvariantCulture, $"; {notFoundCount} of {_endpoints.Length} endpoint(s) answered not found, which is not an answer while the others cannot be asked")
            : string.Empty;
        throw new PaymentsKitException(
            PaymentsKitErrorCodes.ChainUnavailable,
            string.Create(CultureInfo.InvariantCulture, $"{_chain} RPC '{operation}' failed after {_maxAttempts} attempt(s) over {_endpoints.Length} endpoint(s){notFoundNote}; last error: {lastError}"),
            new Dictionary<string, object?> { ["chain"] = _chain.Value, ["operation"] = operation, ["attempts"] = _maxAttempts, ["notFound"] = notFoundCount, ["lastError"] = lastError },
            isTransient: true);
    }

    private async Task<Attempt<T>> TryOnceAsync<T>(
        Uri endpoint,
        Func<Uri, HttpRequestMessage> createRequest,
        Func<RpcResponse, T> interpret,
        CancellationToken cancellationToken)
    {
        var shown = Redact(endpoint);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_timeout);
        try
        {
            using var request = createRequest(endpoint);
            using var response = await _httpClient.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token).ConfigureAwait(false);
            var status = (int)response.StatusCode;
            if (status is 408 or 425 or 429 or >= 500)
            {
                return Attempt<T>.Failed(
                    string.Create(CultureInfo.InvariantCulture, $"{shown} answered HTTP {status}"),
                    RetryAfterOf(response));
            }

            var body = await ReadBodyAsync(response, timeout.Token).ConfigureAwait(false);
            if (body is null)
            {
                return Attempt<T>.Failed(string.Create(CultureInfo.InvariantCulture, $"{shown} sent a body over {_maxResponseBytes} bytes"), null);
            }

            return Attempt<T>.Succeeded(interpret(new RpcResponse(response.StatusCode, body, shown)));
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return Attempt<T>.Failed(string.Create(CultureInfo.InvariantCulture, $"{shown} did not answer within {_timeout.TotalMilliseconds} ms"), null);
        }
        catch (HttpRequestException ex)
        {
            return Attempt<T>.Failed($"{shown} could not be reached ({ex.HttpRequestError})", null);
        }
        catch (TransientRpcException ex)
        {
            return Attempt<T>.Failed($"{shown}: {ex.Message}", null);
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException or FormatException or IndexOutOfRangeException or OverflowException or ArgumentException)
        {
            // A node that answers 2xx with something we cannot read is broken; another endpoint may be fine.
            return Attempt<T>.Failed($"{shown} sent a malformed response ({ex.GetType().Name}: {ex.Message})", null);
        }
    }

    private TimeSpan? RetryAfterOf(HttpResponseMessage response)
    {
        var retryAfter = response.Headers.RetryAfter;
        if (retryAfter?.Delta is { } delta)
        {
            return delta;
        }

        if (retryAfter?.Date is not { } until)
        {
            return null;
        }

        // A date is read against the server's own Date header where it sent one, so clock skew between the two neither
        // cuts the pause short nor stretches it; without one, the clock is the only reference left, and a pause read
        // against it beats retrying a node that asked to be left alone at once.
        var now = response.Headers.Date ?? _clock?.GetCurrentInstant().ToDateTimeOffset();
        return now is { } reference ? (until > reference ? until - reference : TimeSpan.Zero) : null;
    }

    private async Task<byte[]?> ReadBodyAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        if (response.Content.Headers.ContentLength > _maxResponseBytes)
        {
            return null;
        }

        var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        await using (stream.ConfigureAwait(false))
        {
            using var buffer = new MemoryStream();
            var chunk = new byte[16 * 1024];
            int read;
            while ((read = await stream.ReadAsync(chunk, cancellationToken).ConfigureAwait(false)) > 0)
            {
                if (buffer.Length + read > _maxResponseBytes)
                {
                    return null;
                }

                buffer.Write(chunk, 0, read);
            }

            return buffer.ToArray();
        }
    }

    private Task PauseAsync(int round, TimeSpan? retryAfter, CancellationToken cancellationToken)
    {
        var backoff = _retryDelay * (1 << Math.Clamp(round - 1, 0, 16));
        var delay = retryAfter is { } serverDelay && serverDelay > backoff ? serverDelay : backoff;
        if (delay > _maxRetryDelay)
        {
            delay = _maxRetryDelay;
        }

        return delay > TimeSpan.Zero ? Task.Delay(delay, cancellationToken) : Task.CompletedTask;
    }

    [LoggerMessage(EventId = 1001, Level = LogLevel.Warning, Message = "{Chain} RPC {Operation} attempt {Attempt}/{MaxAttempts} at {Endpoint} failed: {Error}")]
    private static partial void LogAttemptFailed(ILogger logger, string chain, string operation, string endpoint, int attempt, int maxAttempts, string error);

    [LoggerMessage(EventId = 1002, Level = LogLevel.Debug, Message = "{Chain} RPC {Operation} at {Endpoint} does not know what was asked for; asking the other endpoints")]
    private static partial void LogNotFound(ILogger logger, string chain, string operation, string endpoint);

    private readonly record struct Attempt<T>(T? Result, string? Error, TimeSpan? RetryAfter)
    {
        public static Attempt<T> Succeeded(T result) => new(result, null, null);

        public static Attempt<T> Failed(string error, TimeSpan? retryAfter) => new(default, error, retryAfter);
    }
}
