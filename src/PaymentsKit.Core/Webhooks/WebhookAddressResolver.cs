using System.Net;
using System.Net.Sockets;

namespace PaymentsKit.Webhooks;

/// <summary>Resolves an endpoint's host name to the addresses a connection would use (injectable so tests control DNS).</summary>
public interface IWebhookAddressResolver
{
    /// <summary>The addresses <paramref name="host"/> resolves to; empty when it does not resolve.</summary>
    /// <param name="host">A DNS name or an IP literal (IPv6 without brackets).</param>
    /// <param name="cancellationToken">Cancels the lookup.</param>
    ValueTask<IReadOnlyList<IPAddress>> ResolveAsync(string host, CancellationToken cancellationToken = default);
}

/// <summary>Resolves through the operating system's resolver; IP literals resolve to themselves.</summary>
public sealed class DnsWebhookAddressResolver : IWebhookAddressResolver
{
    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<IPAddress>> ResolveAsync(string host, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(host);
        if (IPAddress.TryParse(host, out var literal))
        {
            return [literal];
        }

        try
        {
            return await Dns.GetHostAddressesAsync(host, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is SocketException or ArgumentException)
        {
            // An unknown name, or one DNS cannot hold (over 255 characters), is not an error of ours: the guard reports
            // "did not resolve".
            return [];
        }
    }
}

/// <summary>
/// Applies the SSRF guard (<see cref="WebhookEndpointGuard"/>) to an endpoint URL with its host resolved by an
/// <see cref="IWebhookAddressResolver"/>: at registration, before every delivery, and — through
/// <see cref="CreateHandler"/> — on every connection, so a DNS answer that changes between the check and the
/// connection (rebinding) cannot reach an internal address.
/// </summary>
public sealed class WebhookEndpointValidator
{
    private readonly IWebhookAddressResolver _resolver;

    /// <summary>Creates a validator.</summary>
    /// <param name="resolver">Resolves host names.</param>
    /// <param name="policy">What endpoints may point at.</param>
    public WebhookEndpointValidator(IWebhookAddressResolver resolver, WebhookEndpointPolicy policy)
    {
        _resolver = Guard.NotNull(resolver, "resolver");
        Policy = Guard.NotNull(policy, "policy");
    }

    /// <summary>What endpoints may point at.</summary>
    public WebhookEndpointPolicy Policy { get; }

    /// <summary>Resolves the URL's host and checks the URL and every address.</summary>
    /// <returns>The allowed addresses.</returns>
    /// <exception cref="PaymentsKitException"><c>webhook_endpoint_rejected</c> naming the URL and the reason.</exception>
    public async ValueTask<IReadOnlyList<IPAddress>> EnsureAllowedAsync(Uri url, CancellationToken cancellationToken = default)
    {
        var (addresses, reason) = await CheckAsync(url, cancellationToken).ConfigureAwait(false);
        if (reason is not null)
        {
            throw WebhookEndpointGuard.Rejected(url, reason);
        }

        return addresses;
    }

    /// <summary>Resolves and checks without throwing.</summary>
    /// <returns>The resolved addresses and, when not allowed, the reason.</returns>
    public async ValueTask<(IReadOnlyList<IPAddress> Addresses, string? Reason)> CheckAsync(Uri url, CancellationToken cancellationToken = default)
    {
        Guard.NotNull(url, "webhook_url");

        // What the URL itself rules out needs no look-up, which can be slow or never answer.
        if (WebhookEndpointGuard.UrlProblem(url) is { } problem)
        {
            return ([], problem);
        }

        var addresses = await _resolver.ResolveAsync(HostOf(url), cancellationToken).ConfigureAwait(false);
        return WebhookEndpointGuard.IsAllowed(url, addresses, Policy, out var reason) ? (addresses, null) : (addresses, reason);
    }

    /// <summary>
    /// A handler for delivery requests that resolves and checks every connection's host itself and connects only to
    /// the checked addresses. It never follows redirects (a 3xx is a failed attempt) and never uses a proxy, either of
    /// which would let a request reach an address the guard did not see.
    /// </summary>
    public SocketsHttpHandler CreateHandler() => new()
    {
        AllowAutoRedirect = false,
        UseProxy = false,
        UseCookies = false,
        PooledConnectionLifetime = TimeSpan.FromMinutes(2),
        ConnectCallback = ConnectAsync,
    };

    private static string HostOf(Uri url) => url.HostNameType == UriHostNameType.IPv6 ? url.Host.Trim('[', ']') : url.IdnHost;

    private async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
        var request = context.InitialRequestMessage.RequestUri
            ?? throw new InvalidOperationException("A webhook request has no URI.");
        var addresses = await _resolver.ResolveAsync(context.DnsEndPoint.Host.Trim('[', ']'), cancellationToken).ConfigureAwait(false);
        if (!WebhookEndpointGuard.IsAllowed(request, addresses, Policy, out var reason))
        {
            throw WebhookEndpointGuard.Rejected(request, reason!);
        }

        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync([.. addresses], context.DnsEndPoint.Port, cancellationToken).ConfigureAwait(false);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }
}
