using System.Globalization;
using System.Security.Cryptography;
using NodaTime;

namespace PaymentsKit.Webhooks;

/// <summary>The outcome of verifying one received webhook.</summary>
public enum WebhookVerificationResult
{
    /// <summary>A signature matches and the timestamp is within the tolerance.</summary>
    Valid,

    /// <summary>The <c>webhook-id</c> header is missing or empty.</summary>
    MissingId,

    /// <summary>The <c>webhook-timestamp</c> header is missing or empty.</summary>
    MissingTimestamp,

    /// <summary>The <c>webhook-signature</c> header is missing or empty.</summary>
    MissingSignature,

    /// <summary>The timestamp is not a whole number of Unix seconds.</summary>
    InvalidTimestamp,

    /// <summary>The timestamp is further in the past than the tolerance (a replay, or a very slow delivery).</summary>
    TimestampTooOld,

    /// <summary>The timestamp is further in the future than the tolerance.</summary>
    TimestampTooNew,

    /// <summary>No <c>v1</c> signature in the header matches the body under any of the secrets.</summary>
    InvalidSignature,

    /// <summary>
    /// The <c>webhook-id</c> header is not 1–256 printable ASCII characters without spaces, '.' or ',' (the ids the
    /// signer makes): a control character, an over-long id, a '.' that shifts where the signed id ends, or two ids
    /// folded into one header.
    /// </summary>
    InvalidId,
}

/// <summary>
/// Verifies received webhooks per the Standard Webhooks specification: recomputes HMAC-SHA256 over
/// <c>{id}.{timestamp}.{raw body}</c> for each secret, compares it in constant time with every <c>v1</c> entry of
/// the space-separated <c>webhook-signature</c> header (so rotations work), and requires the timestamp within
/// ±<see cref="Tolerance"/> of the injected clock. The <c>webhook-id</c> must have the shape the signer gives it
/// (<see cref="WebhookVerificationResult.InvalidId"/>). Deduplicating on <c>webhook-id</c> is the caller's job.
/// </summary>
public sealed class WebhookVerifier
{
    /// <summary>The default tolerance: five minutes either way.</summary>
    public static readonly Duration DefaultTolerance = Duration.FromMinutes(5);

    private readonly IClock _clock;
    private readonly WebhookSecret[] _secrets;

    /// <summary>Creates a verifier.</summary>
    /// <param name="clock">The clock the timestamp is checked against.</param>
    /// <param name="secrets">The secrets to accept (during a rotation, both the old and the new one).</param>
    /// <param name="tolerance">How far the timestamp may be from now, either way; positive. Defaults to five minutes.</param>
    /// <exception cref="PaymentsKitException"><c>invalid_argument</c> for no secrets or a non-positive tolerance.</exception>
    public WebhookVerifier(IClock clock, IEnumerable<WebhookSecret> secrets, Duration? tolerance = null)
    {
        _clock = Guard.NotNull(clock, "clock");
        _secrets = [.. Guard.NotNull(secrets, "secrets")];
        if (_secrets.Length == 0 || _secrets.Any(s => s is null))
        {
            throw PaymentsKitException.InvalidArgument("secrets", _secrets.Length, "must hold at least one secret and no nulls");
        }

        Tolerance = tolerance ?? DefaultTolerance;
        if (Tolerance <= Duration.Zero)
        {
            throw PaymentsKitException.InvalidArgument("tolerance", Tolerance, "must be positive");
        }
    }

    /// <summary>How far the timestamp may be from now, either way.</summary>
    public Duration Tolerance { get; }

    /// <summary>Checks a received webhook without throwing.</summary>
    /// <param name="id">The <c>webhook-id</c> header.</param>
    /// <param name="timestamp">The <c>webhook-timestamp</c> header.</param>
    /// <param name="signature">The <c>webhook-signature</c> header.</param>
    /// <param name="body">The raw body bytes exactly as received (never a re-serialized parse).</param>
    public WebhookVerificationResult Check(string? id, string? timestamp, string? signature, ReadOnlySpan<byte> body)
    {
        if (string.IsNullOrEmpty(id))
        {
            return WebhookVerificationResult.MissingId;
        }

        // The id is signed as "{id}.{timestamp}.", so one holding a '.' could be re-split with the timestamp into a
        // different id and body under the same signature, and it is the deduplication key: only the ids the signer would
        // make are taken.
        if (!WebhookSigner.IsValidId(id))
        {
            return WebhookVerificationResult.InvalidId;
        }

        if (string.IsNullOrEmpty(timestamp))
        {
            return WebhookVerificationResult.MissingTimestamp;
        }

        if (string.IsNullOrWhiteSpace(signature))
        {
            return WebhookVerificationResult.MissingSignature;
        }

        if (timestamp.Length > 19 || !long.TryParse(timestamp, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds)
            || seconds > Instant.MaxValue.ToUnixTimeSeconds())
        {
            return WebhookVerificationResult.InvalidTimestamp;
        }

        var sent = Instant.FromUnixTimeSeconds(seconds);
        var now = _clock.GetCurrentInstant();
        if (now - sent > Tolerance)
        {
            return WebhookVerificationResult.TimestampTooOld;
        }

        if (sent - now > Tolerance)
        {
            return WebhookVerificationResult.TimestampTooNew;
        }

        Span<byte> expected = stackalloc byte[HMACSHA256.HashSizeInBytes];
        Span<byte> received = stackalloc byte[HMACSHA256.HashSizeInBytes + 3];
        foreach (var secret in _secrets)
        {
            WebhookSigner.ComputeSignature(secret, id, timestamp, body, expected);
            foreach (var range in signature.AsSpan().Split(' '))
            {
                var entry = signature.AsSpan(range);
                var comma = entry.IndexOf(',');
                if (comma < 0 || !entry[..comma].SequenceEqual(WebhookSigner.SignatureVersion)
                    || !Convert.TryFromBase64Chars(entry[(comma + 1)..], received, out var written)
                    || written != HMACSHA256.HashSizeInBytes)
                {
                    continue;
                }

                if (CryptographicOperations.FixedTimeEquals(expected, received[..written]))
                {
                    return WebhookVerificationResult.Valid;
                }
            }
        }

        return WebhookVerificationResult.InvalidSignature;
    }

    /// <summary>Verifies a received webhook, throwing when it is not valid.</summary>
    /// <exception cref="PaymentsKitException"><c>webhook_verification_failed</c> with the reason in its context.</exception>
    public void Verify(string? id, string? timestamp, string? signature, ReadOnlySpan<byte> body)
    {
        var result = Check(id, timestamp, signature, body);
        if (result != WebhookVerificationResult.Valid)
        {
            throw new PaymentsKitException(
                PaymentsKitErrorCodes.WebhookVerificationFailed,
                $"Webhook '{Truncate(id)}' failed verification: {result}.",
                new Dictionary<string, object?> { ["reason"] = result.ToString(), ["webhook_id"] = Truncate(id), ["webhook_timestamp"] = Truncate(timestamp) });
        }
    }

    /// <summary>A header as an error shows it: at most 64 characters, control characters replaced by U+FFFD.</summary>
    private static string? Truncate(string? text) => text is null ? null : Guard.Printable(text.Length > 64 ? text[..64] + "…" : text);
}
