using System.Net;

namespace PaymentsKit.Orchestration;

/// <summary>
/// Where a call came from, as the host's HTTP layer saw it. Every mutating call takes one; it is
/// copied onto the transaction (request tracking), its events and the audit log.
/// </summary>
public sealed record RequestContext
{
    /// <summary>The longest user agent kept.</summary>
    public const int MaxUserAgentLength = 1024;

    /// <summary>Creates a validated context.</summary>
    /// <param name="ipAddress">The caller's IP address (IPv4 or IPv6), required because audit entries always name one.</param>
    /// <param name="userAgent">The caller's user agent, if any (at most <see cref="MaxUserAgentLength"/> characters).</param>
    /// <param name="requestId">The host's id of the request, if any.</param>
    /// <exception cref="PaymentsKitException"><c>invalid_argument</c> for a missing or malformed IP address or an oversized user agent.</exception>
    public RequestContext(string ipAddress, string? userAgent = null, Guid? requestId = null)
    {
        if (!IPAddress.TryParse(Guard.Text(ipAddress, "ip_address", 45), out var parsed))
        {
            throw PaymentsKitException.InvalidArgument("ip_address", ipAddress, "is not an IPv4 or IPv6 address");
        }

        IpAddress = parsed.ToString();
        UserAgent = userAgent is null ? null : Guard.Text(userAgent, "user_agent", MaxUserAgentLength);
        RequestId = requestId;
    }

    /// <summary>A context for calls PaymentsKit or the host makes on its own (status polls, sweeps).</summary>
    public static RequestContext Internal { get; } = new("127.0.0.1", "PaymentsKit");

    /// <summary>The caller's IP address in canonical text form.</summary>
    public string IpAddress { get; }

    /// <summary>The caller's user agent.</summary>
    public string? UserAgent { get; }

    /// <summary>The host's id of the request.</summary>
    public Guid? RequestId { get; }
}
