using FsCheck;
using FsCheck.Fluent;
using NodaTime;
using PaymentsKit.Webhooks;

namespace PaymentsKit.Core.Tests.Webhooks;

public class WebhookRetryPolicyTests
{
    private static readonly WebhookRetryPolicy Standard = WebhookRetryPolicy.Standard;

    [Fact]
    public void The_standard_schedule_is_the_specification_example()
    {
        Assert.Equal(
            [
                Duration.FromSeconds(5), Duration.FromMinutes(5), Duration.FromMinutes(30), Duration.FromHours(2), Duration.FromHours(5),
                Duration.FromHours(10), Duration.FromHours(14), Duration.FromHours(20), Duration.FromHours(24),
            ],
            Standard.Delays);
        Assert.Equal(10, Standard.MaxAttempts);

        // "Time since start" of the last attempt in the specification's table: 75:35:05.
        var total = Standard.Delays.Aggregate(Duration.Zero, (sum, d) => sum + d);
        Assert.Equal(Duration.FromHours(75) + Duration.FromMinutes(35) + Duration.FromSeconds(5), total);
    }

    [Fact]
    public void A_centred_sample_gives_the_scheduled_delay_and_the_extremes_stay_within_ten_percent()
    {
        Assert.Equal(Duration.FromSeconds(5), Standard.DelayAfter(1, 0.5));
        Assert.Equal(Duration.FromMinutes(5), Standard.DelayAfter(2, 0.5));
        Assert.Equal(Duration.FromHours(24), Standard.DelayAfter(9, 0.5));
        Assert.Equal(Duration.FromMilliseconds(4_500), Standard.DelayAfter(1, 0.0));
        Assert.True(Standard.DelayAfter(1, 0.999_999) < Duration.FromMilliseconds(5_500));
        Assert.True(Standard.DelayAfter(1, 0.999_999) > Duration.FromMilliseconds(5_499));
    }

    [Fact]
    public void After_the_last_scheduled_retry_the_event_is_dead_lettered()
    {
        Assert.NotNull(Standard.DelayAfter(9, 0.5));
        Assert.Null(Standard.DelayAfter(10, 0.5));
        Assert.Null(Standard.NextAttemptAt(Instant.FromUtc(2026, 1, 1, 0, 0), 10, new Random(1)));
    }

    [Fact]
    public void Retry_after_is_a_lower_bound_capped_at_the_longest_delay()
    {
        Assert.Equal(Duration.FromHours(1), Standard.DelayAfter(1, 0.5, Duration.FromHours(1)));
        Assert.Equal(Duration.FromHours(24), Standard.DelayAfter(1, 0.5, Duration.FromDays(30)));
        Assert.Equal(Duration.FromMinutes(30), Standard.DelayAfter(3, 0.5, Duration.FromSeconds(10)));
    }

    [Theory]
    [InlineData(0.99)]
    [InlineData(0.75)]
    public void A_retry_after_never_brings_a_jittered_delay_above_the_longest_one_forward(double sample)
    {
        // The last delay (24 h) jittered up lies above the Retry-After cap: honouring a long Retry-After must not
        // make the receiver that asked for more time be retried sooner than one that sent none.
        var plain = Standard.DelayAfter(9, sample)!.Value;
        Assert.True(plain > Standard.LongestDelay);
        Assert.Equal(plain, Standard.DelayAfter(9, sample, Duration.FromHours(25)));
        Assert.Equal(plain, Standard.DelayAfter(9, sample, Duration.FromDays(30)));
    }

    [Fact]
    public void A_seeded_random_makes_the_next_attempt_reproducible()
    {
        var failedAt = Instant.FromUtc(2026, 1, 1, 0, 0);

        var first = Standard.NextAttemptAt(failedAt, 3, new Random(42));
        Assert.Equal(first, Standard.NextAttemptAt(failedAt, 3, new Random(42)));
        Assert.InRange(first!.Value - failedAt, Duration.FromMinutes(27), Duration.FromMinutes(33));
    }

    [Fact]
    public void Bad_input_is_rejected()
    {
        Assert.Equal(PaymentsKitErrorCodes.InvalidArgument, Code(() => Standard.DelayAfter(0, 0.5)));
        Assert.Equal(PaymentsKitErrorCodes.InvalidArgument, Code(() => Standard.DelayAfter(1, 1.0)));
        Assert.Equal(PaymentsKitErrorCodes.InvalidArgument, Code(() => Standard.DelayAfter(1, -0.1)));
        Assert.Equal(PaymentsKitErrorCodes.InvalidArgument, Code(() => Standard.DelayAfter(1, double.NaN)));
        Assert.Equal(PaymentsKitErrorCodes.InvalidArgument, Code(() => new WebhookRetryPolicy([], 0.1)));
        Assert.Equal(PaymentsKitErrorCodes.InvalidArgument, Code(() => new WebhookRetryPolicy([Duration.Zero], 0.1)));
        Assert.Equal(PaymentsKitErrorCodes.InvalidArgument, Code(() => new WebhookRetryPolicy([Duration.FromSeconds(1)], 1.0)));
        Assert.Equal(PaymentsKitErrorCodes.InvalidArgument, Code(() => new WebhookRetryPolicy([Duration.FromSeconds(1)], double.NaN)));
    }

    [Fact]
    public void Jittered_delays_stay_within_the_jitter_of_the_schedule_Meets_Specification() =>
        Prop.ForAll(
            Arb.From(from attempt in Gen.Choose(1, 9) from sample in Gen.Choose(0, 999_999) select (attempt, sample: sample / 1_000_000d)),
            t =>
            {
                var scheduled = Standard.Delays[t.attempt - 1];
                var delay = Standard.DelayAfter(t.attempt, t.sample)!.Value;
                Assert.InRange(delay.BclCompatibleTicks, (long)(scheduled.BclCompatibleTicks * 0.9) - 1, (long)(scheduled.BclCompatibleTicks * 1.1));
            }).QuickCheckThrowOnFailure();

    private static string Code(Action action) => Assert.Throws<PaymentsKitException>(action).Code;
}
