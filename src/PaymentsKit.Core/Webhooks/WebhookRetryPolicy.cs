using NodaTime;

namespace PaymentsKit.Webhooks;

/// <summary>
/// When to retry a failed webhook delivery: a fixed schedule of delays (by default the Standard Webhooks
/// example: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h) with random jitter, honouring a receiver's
/// <c>Retry-After</c>. Pure: the caller supplies the randomness, so tests are deterministic.
/// </summary>
/// <remarks>
/// After failed attempt n (1 = the first, immediate attempt) the next attempt waits delays[n − 1] × (1 + j × (2u − 1))
/// for a uniform u in [0, 1), i.e. within ±j of the scheduled delay; a <c>Retry-After</c> is a lower bound, capped at
/// the longest scheduled delay (it never shortens the jittered delay). After the last scheduled retry fails there is no next attempt: the event is dead-lettered.
/// </remarks>
public sealed class WebhookRetryPolicy
{
    private readonly Duration[] _delays;

    /// <summary>Creates a policy.</summary>
    /// <param name="delays">The delay before each retry, in order; at least one, each positive.</param>
    /// <param name="jitter">The relative jitter j, in [0, 1).</param>
    /// <exception cref="PaymentsKitException"><c>invalid_argument</c> for an empty schedule, a non-positive delay or a jitter outside [0, 1).</exception>
    public WebhookRetryPolicy(IEnumerable<Duration> delays, double jitter)
    {
        _delays = [.. Guard.NotNull(delays, "delays")];
        if (_delays.Length == 0 || _delays.Any(d => d <= Duration.Zero))
        {
            throw PaymentsKitException.InvalidArgument("delays", _delays.Length, "must hold at least one delay, each positive");
        }

        if (!(jitter is >= 0d and < 1d))
        {
            throw PaymentsKitException.InvalidArgument("jitter", jitter, "must be at least 0 and below 1");
        }

        Jitter = jitter;
        LongestDelay = _delays.Max();
    }

    /// <summary>The Standard Webhooks schedule with ±10 % jitter: ten attempts over about three days.</summary>
    public static WebhookRetryPolicy Standard { get; } = new(
        [
            Duration.FromSeconds(5), Duration.FromMinutes(5), Duration.FromMinutes(30), Duration.FromHours(2), Duration.FromHours(5),
            Duration.FromHours(10), Duration.FromHours(14), Duration.FromHours(20), Duration.FromHours(24),
        ],
        0.1);

    /// <summary>The scheduled delays before each retry.</summary>
    public IReadOnlyList<Duration> Delays => _delays;

    /// <summary>The relative jitter.</summary>
    public double Jitter { get; }

    /// <summary>The most attempts an event gets: the first plus one per scheduled delay.</summary>
    public int MaxAttempts => _delays.Length + 1;

    /// <summary>The longest scheduled delay, which also caps a <c>Retry-After</c>.</summary>
    public Duration LongestDelay { get; }

    /// <summary>How long to wait after <paramref name="failedAttempts"/> failures, or null when the event is to be dead-lettered.</summary>
    /// <param name="failedAttempts">Attempts made so far, all failed; at least 1.</param>
    /// <param name="jitterSample">A uniform sample in [0, 1).</param>
    /// <param name="retryAfter">The receiver's <c>Retry-After</c> (429/503), if any.</param>
    /// <exception cref="PaymentsKitException"><c>invalid_argument</c> for fewer than one failed attempt or a sample outside [0, 1).</exception>
    public Duration? DelayAfter(int failedAttempts, double jitterSample, Duration? retryAfter = null)
    {
        if (failedAttempts < 1)
        {
            throw PaymentsKitException.InvalidArgument("failed_attempts", failedAttempts, "must be at least 1");
        }

        if (!(jitterSample is >= 0d and < 1d))
        {
            throw PaymentsKitException.InvalidArgument("jitter_sample", jitterSample, "must be at least 0 and below 1");
        }

        if (failedAttempts > _delays.Length)
        {
            return null;
        }

        var scheduled = _delays[failedAttempts - 1];
        var factor = 1d + (Jitter * ((2d * jitterSample) - 1d));
        var delay = Duration.FromTicks((long)(scheduled.BclCompatibleTicks * factor));
        if (retryAfter is { } requested)
        {
            // The cap bounds how long a receiver can hold an event back, never the jittered delay itself: a capped
            // Retry-After below the delay (the last one jittered up) leaves the delay as it is.
            delay = Duration.Max(delay, Duration.Min(requested, LongestDelay));
        }

        return Duration.Max(delay, Duration.FromTicks(1));
    }

    /// <summary>Like <see cref="DelayAfter(int, double, Duration?)"/>, drawing the jitter from <paramref name="random"/>.</summary>
    public Duration? DelayAfter(int failedAttempts, Random random, Duration? retryAfter = null) =>
        DelayAfter(failedAttempts, Guard.NotNull(random, "random").NextDouble(), retryAfter);

    /// <summary>When the next attempt is due after a failure at <paramref name="failedAt"/>, or null to dead-letter.</summary>
    public Instant? NextAttemptAt(Instant failedAt, int failedAttempts, Random random, Duration? retryAfter = null) =>
        DelayAfter(failedAttempts, random, retryAfter) is { } delay ? failedAt + delay : null;
}
