using System.Buffers;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using NodaTime;

namespace PaymentsKit.Webhooks;

/// <summary>The three Standard Webhooks headers of one delivery attempt.</summary>
/// <param name="Id">The <c>webhook-id</c>: the event's id, the same on every retry (the receiver's idempotency key).</param>
/// <param name="Timestamp">The <c>webhook-timestamp</c>: Unix seconds of this attempt.</param>
/// <param name="Signature">The <c>webhook-signature</c>: one <c>v1,&lt;base64&gt;</c> per secret, space-separated.</param>
public sealed record WebhookHeaders(string Id, string Timestamp, string Signature)
{
    /// <summary>The headers as name/value pairs, ready to add to a request.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> ToList() =>
    [
        new(WebhookSigner.IdHeader, Id),
        new(WebhookSigner.TimestampHeader, Timestamp),
        new(WebhookSigner.SignatureHeader, Signature),
    ];
}

/// <summary>
/// Signs webhook deliveries per the Standard Webhooks specification: the signature is
/// <c>v1,</c> + base64(HMAC-SHA256(key, "<c>{id}.{timestamp}.{body}</c>")) over the exact body bytes sent.
/// </summary>
public static class WebhookSigner
{
    /// <summary>The <c>webhook-id</c> header name.</summary>
    public const string IdHeader = "webhook-id";

    /// <summary>The <c>webhook-timestamp</c> header name.</summary>
    public const string TimestampHeader = "webhook-timestamp";

    /// <summary>The <c>webhook-signature</c> header name.</summary>
    public const string SignatureHeader = "webhook-signature";

    /// <summary>The version prefix of symmetric (HMAC-SHA256) signatures.</summary>
    public const string SignatureVersion = "v1";

    /// <summary>The longest message id accepted.</summary>
    public const int MaxIdLength = 256;

    /// <summary>Signs one message with one secret.</summary>
    /// <param name="secret">The endpoint's secret.</param>
    /// <param name="messageId">The <c>webhook-id</c>: printable ASCII without '.', ',' or spaces, 1–256 characters.</param>
    /// <param name="timestamp">The attempt's Unix time in seconds.</param>
    /// <param name="body">The exact body bytes that will be sent.</param>
    /// <returns><c>v1,&lt;base64 signature&gt;</c>.</returns>
    /// <exception cref="PaymentsKitException"><c>invalid_argument</c> for a malformed id or a negative timestamp.</exception>
    public static string Sign(WebhookSecret secret, string messageId, long timestamp, ReadOnlySpan<byte> body)
    {
        Guard.NotNull(secret, "secret");
        CheckId(messageId);
        if (timestamp < 0)
        {
            throw PaymentsKitException.InvalidArgument("webhook-timestamp", timestamp, "must not be before 1970");
        }

        Span<byte> mac = stackalloc byte[HMACSHA256.HashSizeInBytes];
        ComputeSignature(secret, messageId, timestamp.ToString(CultureInfo.InvariantCulture), body, mac);
        return SignatureVersion + "," + Convert.ToBase64String(mac);
    }

    /// <summary>Signs one message with one secret at an instant (truncated to whole seconds).</summary>
    public static string Sign(WebhookSecret secret, string messageId, Instant timestamp, ReadOnlySpan<byte> body) =>
        Sign(secret, messageId, timestamp.ToUnixTimeSeconds(), body);

    /// <summary>
    /// The three headers for one delivery attempt, signed with every secret (several during a rotation, so receivers
    /// holding either the old or the new secret accept it).
    /// </summary>
    /// <param name="secrets">At least one secret; the current one first.</param>
    /// <param name="messageId">The event's id.</param>
    /// <param name="timestamp">The attempt's instant (use the injected clock).</param>
    /// <param name="body">The exact body bytes that will be sent.</param>
    /// <exception cref="PaymentsKitException"><c>invalid_argument</c> for no secrets, a malformed id or a timestamp before 1970.</exception>
    public static WebhookHeaders CreateHeaders(IReadOnlyList<WebhookSecret> secrets, string messageId, Instant timestamp, ReadOnlySpan<byte> body)
    {
        Guard.NotNull(secrets, "secrets");
        if (secrets.Count == 0)
        {
            throw PaymentsKitException.InvalidArgument("secrets", 0, "must hold at least one secret");
        }

        var seconds = timestamp.ToUnixTimeSeconds();
        var signatures = new string[secrets.Count];
        for (var i = 0; i < signatures.Length; i++)
        {
            signatures[i] = Sign(secrets[i], messageId, seconds, body);
        }

        return new WebhookHeaders(messageId, seconds.ToString(CultureInfo.InvariantCulture), string.Join(' ', signatures));
    }

    /// <summary>HMAC-SHA256 of <c>{id}.{timestamp}.{body}</c> into <paramref name="destination"/> (32 bytes).</summary>
    internal static void ComputeSignature(WebhookSecret secret, string messageId, string timestamp, ReadOnlySpan<byte> body, Span<byte> destination)
    {
        var idLength = Encoding.UTF8.GetByteCount(messageId);
        var length = idLength + 1 + timestamp.Length + 1 + body.Length;
        var rented = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            var content = rented.AsSpan(0, length);
            var written = Encoding.UTF8.GetBytes(messageId, content);
            content[written++] = (byte)'.';
            written += Encoding.ASCII.GetBytes(timestamp, content[written..]);
            content[written++] = (byte)'.';
            body.CopyTo(content[written..]);
            HMACSHA256.HashData(secret.Key, content, destination);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    internal static bool IsValidId(string? messageId)
    {
        if (string.IsNullOrEmpty(messageId) || messageId.Length > MaxIdLength)
        {
            return false;
        }

        foreach (var c in messageId)
        {
            // The signed content is dot-delimited, so a '.' in the id would make it ambiguous; a ',' is how a proxy folds
            // two webhook-id headers into one.
            if (c is <= ' ' or > '~' or '.' or ',')
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Refuses a <c>webhook-id</c> that is not <see cref="IsValidId"/>: the one rule for ids signed, verified and recorded.</summary>
    internal static void CheckId(string? messageId)
    {
        if (!IsValidId(messageId))
        {
            throw PaymentsKitException.InvalidArgument(
                "webhook-id", messageId, "must be 1–256 printable ASCII characters without '.', ',' or spaces");
        }
    }
}
