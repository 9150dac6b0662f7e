using System.Net;

namespace PaymentsKit.Webhooks;

/// <summary>What kind of address an IP address is, for the SSRF guard.</summary>
public enum IpAddressCategory
{
    /// <summary>A globally routable unicast address.</summary>
    Public,

    /// <summary><c>0.0.0.0/8</c> or <c>::</c>.</summary>
    Unspecified,

    /// <summary><c>127.0.0.0/8</c> or <c>::1</c>.</summary>
    Loopback,

    /// <summary>RFC 1918: <c>10/8</c>, <c>172.16/12</c>, <c>192.168/16</c>.</summary>
    Private,

    /// <summary>RFC 6598 carrier-grade NAT: <c>100.64/10</c>.</summary>
    SharedAddressSpace,

    /// <summary><c>169.254/16</c> (cloud metadata lives here) or <c>fe80::/10</c>.</summary>
    LinkLocal,

    /// <summary>IPv6 unique local addresses, <c>fc00::/7</c>.</summary>
    UniqueLocal,

    /// <summary>Deprecated IPv6 site-local addresses, <c>fec0::/10</c>.</summary>
    SiteLocal,

    /// <summary><c>224/4</c> or <c>ff00::/8</c>.</summary>
    Multicast,

    /// <summary><c>255.255.255.255</c>.</summary>
    Broadcast,

    /// <summary>Documentation ranges: <c>192.0.2/24</c>, <c>198.51.100/24</c>, <c>203.0.113/24</c>, <c>2001:db8::/32</c>.</summary>
    Documentation,

    /// <summary>Any other special-purpose or unallocated range (benchmarking, <c>240/4</c>, Teredo, IPv6 outside <c>2000::/3</c> …).</summary>
    Reserved,
}

/// <summary>What a webhook endpoint may point at.</summary>
public sealed record WebhookEndpointPolicy
{
    /// <summary>The production default: HTTPS to public addresses only.</summary>
    public static WebhookEndpointPolicy Default { get; } = new();

    /// <summary>Allow loopback addresses, over HTTP too (local development only).</summary>
    public bool AllowLoopback { get; init; }

    /// <summary>Allow private networks (RFC 1918, carrier-grade NAT, IPv6 unique/site local) for endpoints inside the host's network.</summary>
    public bool AllowPrivateNetworks { get; init; }
}

/// <summary>
/// The SSRF guard for webhook endpoints: classifies IP addresses (IPv4-mapped, NAT64 and 6to4 IPv6 addresses by
/// the IPv4 address they carry) and checks an endpoint URL together with every address its host resolved to.
/// Link-local (cloud metadata), unspecified, multicast, broadcast, documentation and reserved addresses are never
/// allowed. Resolving the host is the caller's I/O; check the addresses the connection will actually use.
/// </summary>
public static class WebhookEndpointGuard
{
    /// <summary>Classifies an address.</summary>
    public static IpAddressCategory Classify(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        Span<byte> bytes = stackalloc byte[16];
        if (!address.TryWriteBytes(bytes, out var length))
        {
            return IpAddressCategory.Reserved;
        }

        return length == 4 ? ClassifyV4(bytes[..4]) : ClassifyV6(bytes[..16]);
    }

    /// <summary>Whether an address is globally routable.</summary>
    public static bool IsPublic(IPAddress address) => Classify(address) == IpAddressCategory.Public;

    /// <summary>Whether an endpoint may be called, and why not.</summary>
    /// <param name="endpoint">The endpoint URL.</param>
    /// <param name="resolvedAddresses">Every address the host resolved to (or the literal address).</param>
    /// <param name="policy">What is allowed; <see cref="WebhookEndpointPolicy.Default"/> when null.</param>
    /// <param name="reason">Why it is not allowed.</param>
    public static bool IsAllowed(Uri endpoint, IReadOnlyList<IPAddress> resolvedAddresses, WebhookEndpointPolicy? policy, out string? reason)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        ArgumentNullException.ThrowIfNull(resolvedAddresses);
        policy ??= WebhookEndpointPolicy.Default;
        reason = UrlProblem(endpoint);
        if (reason is not null)
        {
            return false;
        }

        if (resolvedAddresses.Count == 0)
        {
            reason = "the host did not resolve to any address";
            return false;
        }

        var allLoopback = true;
        foreach (var address in resolvedAddresses)
        {
            var category = Classify(Guard.NotNull(address, "resolved_addresses"));
            allLoopback &= category == IpAddressCategory.Loopback;
            var allowed = category switch
            {
                IpAddressCategory.Public => true,
                IpAddressCategory.Loopback => policy.AllowLoopback,
                IpAddressCategory.Private or IpAddressCategory.SharedAddressSpace or IpAddressCategory.UniqueLocal or IpAddressCategory.SiteLocal
                    => policy.AllowPrivateNetworks,
                _ => false,
            };
            if (!allowed)
            {
                reason = $"{endpoint.Host} resolves to {address} ({category})";
                return false;
            }
        }

        if (endpoint.Scheme == Uri.UriSchemeHttp && !(policy.AllowLoopback && allLoopback))
        {
            reason = "the URL must use https (http is allowed only for loopback when the host opts in)";
            return false;
        }

        return true;
    }

    /// <summary>Throws unless the endpoint may be called.</summary>
    /// <exception cref="PaymentsKitException"><c>webhook_endpoint_rejected</c> naming the URL and the reason.</exception>
    public static void EnsureAllowed(Uri endpoint, IReadOnlyList<IPAddress> resolvedAddresses, WebhookEndpointPolicy? policy = null)
    {
        if (!IsAllowed(endpoint, resolvedAddresses, policy, out var reason))
        {
            throw Rejected(endpoint, reason!);
        }
    }

    /// <summary>
    /// Throws unless the URL itself, whatever its host resolves to, may be called: for a check made without resolving
    /// the host (a routing merchant's webhook URL), so it refuses what <see cref="IsAllowed"/> would.
    /// </summary>
    /// <exception cref="PaymentsKitException"><c>webhook_endpoint_rejected</c> naming the URL and the reason.</exception>
    internal static void EnsureUrlAllowed(Uri endpoint)
    {
        if (UrlProblem(endpoint) is { } reason)
        {
            throw Rejected(endpoint, reason);
        }
    }

    /// <summary>Why the URL, before any address, may not be called; null when it may.</summary>
    internal static string? UrlProblem(Uri endpoint)
    {
        if (!endpoint.IsAbsoluteUri || (endpoint.Scheme != Uri.UriSchemeHttps && endpoint.Scheme != Uri.UriSchemeHttp))
        {
            return "the URL must be an absolute https URL";
        }

        if (!string.IsNullOrEmpty(endpoint.UserInfo))
        {
            return "the URL must not carry credentials";
        }

        // Port 0 is no service anyone listens on: the connection could never succeed (or would reach whatever an
        // operating system makes of port 0), so the endpoint is refused rather than failed on every delivery.
        return endpoint.Port == 0 ? "the URL must not name port 0" : null;
    }

    /// <summary>The refusal of <paramref name="endpoint"/> for <paramref name="reason"/>: <c>webhook_endpoint_rejected</c>.</summary>
    internal static PaymentsKitException Rejected(Uri endpoint, string reason) =>
        new(PaymentsKitErrorCodes.WebhookEndpointRejected,
            $"Webhook endpoint '{endpoint}' is not allowed: {reason}.",
            new Dictionary<string, object?> { ["field"] = "webhook_url", ["value"] = endpoint.ToString(), ["reason"] = reason });

    private static IpAddressCategory ClassifyV4(ReadOnlySpan<byte> b) => b[0] switch
    {
        0 => IpAddressCategory.Unspecified,
        10 => IpAddressCategory.Private,
        100 when (b[1] & 0xC0) == 64 => IpAddressCategory.SharedAddressSpace,
        127 => IpAddressCategory.Loopback,
        169 when b[1] == 254 => IpAddressCategory.LinkLocal,
        172 when (b[1] & 0xF0) == 16 => IpAddressCategory.Private,
        192 when b[1] == 168 => IpAddressCategory.Private,
        192 when b[1] == 0 && b[2] == 2 => IpAddressCategory.Documentation,
        192 when b[1] == 0 && b[2] == 0 => IpAddressCategory.Reserved,
        192 when b[1] == 88 && b[2] == 99 => IpAddressCategory.Reserved,
        198 when (b[1] & 0xFE) == 18 => IpAddressCategory.Reserved,
        198 when b[1] == 51 && b[2] == 100 => IpAddressCategory.Documentation,
        203 when b[1] == 0 && b[2] == 113 => IpAddressCategory.Documentation,
        >= 224 and < 240 => IpAddressCategory.Multicast,
        255 when b[1] == 255 && b[2] == 255 && b[3] == 255 => IpAddressCategory.Broadcast,
        >= 240 => IpAddressCategory.Reserved,
        _ => IpAddressCategory.Public,
    };

    private static IpAddressCategory ClassifyV6(ReadOnlySpan<byte> b)
    {
        if (b[..15].IndexOfAnyExcept((byte)0) < 0)
        {
            return b[15] switch
            {
                0 => IpAddressCategory.Unspecified,
                1 => IpAddressCategory.Loopback,
                _ => IpAddressCategory.Reserved,
            };
        }

        // ::ffff:a.b.c.d (IPv4-mapped) and 64:ff9b::a.b.c.d (NAT64) reach the embedded IPv4 address.
        if ((b[..10].IndexOfAnyExcept((byte)0) < 0 && b[10] == 0xFF && b[11] == 0xFF)
            || (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xFF && b[3] == 0x9B && b[4..12].IndexOfAnyExcept((byte)0) < 0))
        {
            return ClassifyV4(b[12..]);
        }

        // 2002:a.b.c.d::/48 (6to4) reaches the IPv4 address in bytes 2–5.
        if (b[0] == 0x20 && b[1] == 0x02)
        {
            return ClassifyV4(b[2..6]);
        }

        if (b[0] == 0xFF)
        {
            return IpAddressCategory.Multicast;
        }

        if ((b[0] & 0xFE) == 0xFC)
        {
            return IpAddressCategory.UniqueLocal;
        }

        if (b[0] == 0xFE && (b[1] & 0xC0) == 0x80)
        {
            return IpAddressCategory.LinkLocal;
        }

        if (b[0] == 0xFE && (b[1] & 0xC0) == 0xC0)
        {
            return IpAddressCategory.SiteLocal;
        }

        if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0D && b[3] == 0xB8)
        {
            return IpAddressCategory.Documentation;
        }

        // Teredo (2001::/32) tunnels to an obscured IPv4 address; 2001:2::/48 is benchmarking.
        if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x00 && (b[3] == 0x00 || (b[3] == 0x02 && b[4] == 0 && b[5] == 0)))
        {
            return IpAddressCategory.Reserved;
        }

        // Only 2000::/3 is allocated global unicast.
        return (b[0] & 0xE0) == 0x20 ? IpAddressCategory.Public : IpAddressCategory.Reserved;
    }
}
