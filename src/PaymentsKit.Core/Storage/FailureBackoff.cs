using NodaTime;

namespace PaymentsKit.Storage;

/// <summary>
/// How long background work waits before trying again an item that keeps failing (a deadline of a
/// <see cref="DeadlineSweep{TDeadline}"/>, a due distribution of the hosting job): <see cref="First"/> after the first
/// failure, doubling with each further one up to <see cref="Max"/>. Retrying at full rate would log the same failure on
/// every pass and, where passes read in order, keep the items behind it waiting.
/// </summary>
internal static class FailureBackoff
{
    /// <summary>How long after its first failure an item is tried again.</summary>
    public static readonly Duration First = Duration.FromMinutes(1);

    /// <summary>The longest wait between two tries of an item that keeps failing.</summary>
    public static readonly Duration Max = Duration.FromHours(1);

    /// <summary>The wait after an item's <paramref name="failures"/>th failure in a row (1 or more).</summary>
    public static Duration After(int failures) => Duration.Min(First * (1L << Math.Min(failures - 1, 6)), Max);
}
