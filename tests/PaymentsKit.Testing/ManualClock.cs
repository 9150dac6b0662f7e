using NodaTime;

namespace PaymentsKit.Testing;

/// <summary>A clock that only moves when told to; thread-safe.</summary>
public sealed class ManualClock(Instant start) : IClock
{
    private long _ticks = start.ToUnixTimeTicks();

    /// <summary>Starts at 2026-01-01T00:00:00Z.</summary>
    public ManualClock()
        : this(Instant.FromUtc(2026, 1, 1, 0, 0))
    {
    }

    /// <inheritdoc />
    public Instant GetCurrentInstant() => Instant.FromUnixTimeTicks(Interlocked.Read(ref _ticks));

    /// <summary>Moves the clock forward (or back, with a negative duration).</summary>
    public void Advance(Duration by) => Interlocked.Add(ref _ticks, by.BclCompatibleTicks);

    /// <summary>Sets the clock to an instant.</summary>
    public void Set(Instant instant) => Interlocked.Exchange(ref _ticks, instant.ToUnixTimeTicks());
}
