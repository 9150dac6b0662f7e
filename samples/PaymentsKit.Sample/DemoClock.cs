using NodaTime;

namespace PaymentsKit.Sample;

/// <summary>
/// Simulated time for the demo: the simulated chains produce blocks as this clock moves, so the
/// tour can "wait" for confirmations without sleeping. Starts at a fixed instant so every run
/// prints the same story.
/// </summary>
internal sealed class DemoClock : IClock
{
    private long _ticks = Instant.FromUtc(2026, 11, 2, 9, 0).ToUnixTimeTicks();

    public Instant GetCurrentInstant() => Instant.FromUnixTimeTicks(Interlocked.Read(ref _ticks));

    public void Advance(Duration by) => Interlocked.Add(ref _ticks, by.BclCompatibleTicks);
}
