using System.Collections.Concurrent;
using System.Globalization;
using NodaTime;

namespace PaymentsKit.Orchestration;

/// <summary>
/// Enforces each partner's <see cref="Partner.RateLimitPerMinute"/>. The host calls it once per
/// incoming request (after authenticating the partner) and rejects the request when it says no.
/// </summary>
public interface IPartnerRateLimiter
{
    /// <summary>Counts one call of the partner if the limit allows it.</summary>
    RateLimitDecision TryAcquire(Partner partner);
}

/// <summary>The limiter's answer for one call.</summary>
/// <param name="IsAllowed">Whether the call may proceed (and was counted).</param>
/// <param name="Limit">The partner's calls per minute.</param>
/// <param name="Remaining">Calls left in the current window after this one.</param>
/// <param name="RetryAfter">How long until a call would be allowed; zero when allowed.</param>
public readonly record struct RateLimitDecision(bool IsAllowed, int Limit, int Remaining, Duration RetryAfter)
{
    /// <summary>Throws <c>rate_limited</c> (transient, with <c>retry_after_ms</c>) when the call is not allowed.</summary>
    public void ThrowIfRejected()
    {
        if (!IsAllowed)
        {
            var retryMs = (long)Math.Ceiling(RetryAfter.TotalMilliseconds);
            throw new PaymentsKitException(
                PaymentsKitErrorCodes.RateLimited,
                string.Create(CultureInfo.InvariantCulture, $"Rate limit of {Limit} calls per minute exceeded; retry after {retryMs} ms."),
                new Dictionary<string, object?> { ["limit"] = Limit, ["retry_after_ms"] = retryMs },
                isTransient: true);
        }
    }
}

/// <summary>
/// An exact sliding-window limiter in process memory: a call is allowed when fewer than the limit
/// calls were counted in the minute before it. Time comes from the injected clock. With several
/// host instances each enforces the limit on its own share of traffic.
/// </summary>
internal sealed class SlidingWindowPartnerRateLimiter(IClock clock) : IPartnerRateLimiter
{
    private static readonly Duration Window = Duration.FromMinutes(1);

    private readonly ConcurrentDictionary<PartnerId, Queue<Instant>> _calls = new();

    public RateLimitDecision TryAcquire(Partner partner)
    {
        ArgumentNullException.ThrowIfNull(partner);
        var limit = partner.RateLimitPerMinute;
        var calls = _calls.GetOrAdd(partner.Id, static _ => new Queue<Instant>());
        lock (calls)
        {
            var now = clock.GetCurrentInstant();
            while (calls.Count > 0 && calls.Peek() <= now - Window)
            {
                calls.Dequeue();
            }

            // Only the newest `limit` calls decide when the next one is allowed (the limit may have been lowered).
            while (calls.Count > limit)
            {
                calls.Dequeue();
            }

            if (calls.Count < limit)
            {
                calls.Enqueue(now);
                return new RateLimitDecision(true, limit, limit - calls.Count, Duration.Zero);
            }

            return new RateLimitDecision(false, limit, 0, calls.Peek() + Window - now);
        }
    }
}
