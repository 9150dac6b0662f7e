using System.Globalization;
using NodaTime;

namespace PaymentsKit.Chains.Rpc;

/// <summary>
/// What every RPC-backed chain adapter needs: its endpoints (tried in order, failing over on transient
/// errors), timeouts, retry bounds and health settings. Chain packages derive their options from it.
/// </summary>
public abstract class ChainRpcOptions
{
    /// <summary>The RPC endpoints, in order of preference (at least one; absolute http or https).</summary>
    /// <remarks>Endpoints may carry API keys in their path or query; PaymentsKit only ever logs scheme and host.</remarks>
    public IList<Uri> Endpoints { get; } = [];

    /// <summary>How long one request to one endpoint may take (100 ms – 5 min). Default 10 s.</summary>
    public Duration RequestTimeout { get; set; } = Duration.FromSeconds(10);

    /// <summary>
    /// Requests per call across all endpoints before giving up (1–20). Default 3. An endpoint's "not found" answer to a
    /// lookup (<see cref="RpcTransport.FindAsync{T}"/>) is not counted, so every endpoint is asked; a lookup whose attempts
    /// run out before every endpoint has answered is <c>chain_unavailable</c>, not "not found".
    /// </summary>
    public int MaxAttempts { get; set; } = 3;

    /// <summary>Pause before going round the endpoints again, doubled each round (0 – 1 min). Default 250 ms.</summary>
    public Duration RetryDelay { get; set; } = Duration.FromMilliseconds(250);

    /// <summary>The longest pause between rounds, also capping a server's Retry-After (0 – 5 min). Default 5 s.</summary>
    public Duration MaxRetryDelay { get; set; } = Duration.FromSeconds(5);

    /// <summary>The largest response body accepted, in bytes (1 KiB – 256 MiB). Default 16 MiB.</summary>
    public int MaxResponseBytes { get; set; } = 16 * 1024 * 1024;

    /// <summary>How many recent requests the health probe's error rate and latency cover (1–10000). Default 100.</summary>
    public int HealthWindow { get; set; } = 100;

    /// <summary>Classifies health measurements. Default <see cref="ChainHealthThresholds.Default"/>.</summary>
    public ChainHealthThresholds HealthThresholds { get; set; } = ChainHealthThresholds.Default;

    /// <summary>
    /// A handler to send requests through instead of a client from <c>IHttpClientFactory</c> (a proxy, a test server).
    /// PaymentsKit does not dispose it.
    /// </summary>
    public HttpMessageHandler? HttpMessageHandler { get; set; }

    /// <summary>
    /// The client an adapter sends with: one over <see cref="HttpMessageHandler"/> when set (never disposing it),
    /// otherwise the one <paramref name="fromFactory"/> makes. Per-request timeouts are the transport's, so the
    /// client's own timeout is switched off.
    /// </summary>
    public HttpClient CreateHttpClient(Func<HttpClient> fromFactory)
    {
        ArgumentNullException.ThrowIfNull(fromFactory);
        var client = HttpMessageHandler is { } handler ? new HttpClient(handler, disposeHandler: false) : fromFactory();
        client.Timeout = Timeout.InfiniteTimeSpan;
        return client;
    }

    /// <summary>Every problem with these options, each naming <paramref name="section"/>, the option and its value.</summary>
    /// <param name="section">The options' name in messages, e.g. <c>Stellar</c>.</param>
    public virtual IReadOnlyList<string> Validate(string section)
    {
        var errors = new List<string>();
        void Add(FormattableString message) => errors.Add(message.ToString(CultureInfo.InvariantCulture));

        if (Endpoints.Count == 0)
        {
            Add($"{section}:Endpoints must list at least one RPC endpoint.");
        }

        for (var i = 0; i < Endpoints.Count; i++)
        {
            var endpoint = Endpoints[i];
            if (endpoint is null || !endpoint.IsAbsoluteUri || (endpoint.Scheme != Uri.UriSchemeHttp && endpoint.Scheme != Uri.UriSchemeHttps))
            {
                Add($"{section}:Endpoints[{i}] must be an absolute http or https URI (value: '{(endpoint is null ? "null" : RpcTransport.Redact(endpoint))}').");
            }
        }

        if (RequestTimeout < Duration.FromMilliseconds(100) || RequestTimeout > Duration.FromMinutes(5))
        {
            Add($"{section}:RequestTimeout must be between 100 ms and 5 minutes (value: {RequestTimeout}).");
        }

        if (MaxAttempts is < 1 or > 20)
        {
            Add($"{section}:MaxAttempts must be between 1 and 20 (value: {MaxAttempts}).");
        }

        if (RetryDelay < Duration.Zero || RetryDelay > Duration.FromMinutes(1))
        {
            Add($"{section}:RetryDelay must be between 0 and 1 minute (value: {RetryDelay}).");
        }

        if (MaxRetryDelay < Duration.Zero || MaxRetryDelay > Duration.FromMinutes(5))
        {
            Add($"{section}:MaxRetryDelay must be between 0 and 5 minutes (value: {MaxRetryDelay}).");
        }

        if (MaxResponseBytes is < 1024 or > 256 * 1024 * 1024)
        {
            Add($"{section}:MaxResponseBytes must be between 1024 and 268435456 (value: {MaxResponseBytes}).");
        }

        if (HealthWindow is < 1 or > 10_000)
        {
            Add($"{section}:HealthWindow must be between 1 and 10000 (value: {HealthWindow}).");
        }

        if (HealthThresholds is null)
        {
            Add($"{section}:HealthThresholds is required.");
        }

        return errors;
    }
}
