using System.Diagnostics;
using System.Globalization;
using NodaTime;
using PaymentsKit.Streaming;

namespace PaymentsKit.LoadTest;

/// <summary>The streaming load scenarios.</summary>
internal static class StreamingScenarios
{
    private const int Instants = 4096;
    private const double TargetPerSecond = 20_000_000d;

    /// <summary>
    /// <see cref="StreamAccrual"/> on one thread (one core): accrued amounts of a 10 USDC/day stream with one
    /// pause, at 4,096 instants spread over its day, for a fixed time. Ratio: evaluations per second ÷ 20,000,000.
    /// </summary>
    public static Task<double> AccrualAsync(LoadTestOptions options)
    {
        var seconds = options.Seconds ?? 5;
        var start = Instant.FromUtc(2026, 1, 1, 0, 0);
        var terms = StreamTerms.Create(AssetRegistry.Usdc, 0.000115740m, 10m, start, start + Duration.FromDays(1));
        PauseInterval[] pauses = [new(start + Duration.FromHours(6), start + Duration.FromHours(7))];
        var instants = new Instant[Instants];
        for (var i = 0; i < Instants; i++)
        {
            instants[i] = start + Duration.FromTicks(((Duration.FromDays(1) + Duration.FromHours(1)).BclCompatibleTicks / Instants * i) + (i * 7919L % 10_000_000L));
        }

        // Exactness first: the figures below are only worth having if the amounts are right.
        Check(StreamAccrual.Accrued(terms, pauses, start + Duration.FromHours(12)) == 4.583304m, "accrued after 12 h with a 1 h pause");
        Check(StreamAccrual.Accrued(terms, pauses, start + Duration.FromDays(2)) == 9.583272m, "accrued after the end");

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"scenario: accrual (StreamAccrual, 1 thread, {Instants} instants over one day, {seconds} s per phase)"));
        Measure("accrued (one pause)", TimeSpan.FromSeconds(1), () => Accrued(terms, pauses, instants));
        var (checksum, rate) = Measure("accrued (one pause)", TimeSpan.FromSeconds(seconds), () => Accrued(terms, pauses, instants));
        Measure("accrued (no pause)", TimeSpan.FromSeconds(Math.Max(1, seconds / 2)), () => Accrued(terms, [], instants));
        Measure("evaluate (all balances, one pause)", TimeSpan.FromSeconds(Math.Max(1, seconds / 2)), () => Evaluate(terms, pauses, instants));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"evaluations/s (one core, CPU time): {rate:0} (checksum {checksum})"));
        return Task.FromResult(rate / TargetPerSecond);
    }

    /// <summary>
    /// Runs rounds for <paramref name="duration"/> of wall-clock time and reports the rate per wall-clock second
    /// and per second of CPU time. The machine is shared: under load the wall-clock rate also counts the time
    /// other processes held the core, while the CPU-time rate is what one core does, which is the figure the
    /// ratio is about (the process runs nothing else meanwhile, so its CPU time is this thread's).
    /// </summary>
    private static (long Checksum, double PerCpuSecond) Measure(string label, TimeSpan duration, Func<long> round)
    {
        using var process = Process.GetCurrentProcess();
        var cpuBefore = process.TotalProcessorTime;
        var stopwatch = Stopwatch.StartNew();
        long evaluations = 0;
        long checksum = 0;
        while (stopwatch.Elapsed < duration)
        {
            checksum += round();
            evaluations += Instants;
        }

        var wall = stopwatch.Elapsed.TotalSeconds;
        process.Refresh();
        var cpu = (process.TotalProcessorTime - cpuBefore).TotalSeconds;
        var perWallSecond = evaluations / wall;
        var perCpuSecond = evaluations / cpu;
        Console.WriteLine(string.Create(
            CultureInfo.InvariantCulture,
            $"{label}: {evaluations} in {wall:0.00} s wall / {cpu:0.00} s CPU = {perWallSecond:0} evaluations/s wall, {perCpuSecond:0} per CPU second ({1e9 / perCpuSecond:0.0} ns each)"));
        return (checksum, perCpuSecond);
    }

    private static long Accrued(StreamTerms terms, PauseInterval[] pauses, Instant[] instants)
    {
        long sink = 0;
        Span<int> bits = stackalloc int[4];
        foreach (var instant in instants)
        {
            // Summing the amounts' low words keeps every result alive without decimal arithmetic in the loop.
            decimal.GetBits(StreamAccrual.Accrued(terms, pauses, instant), bits);
            sink += bits[0];
        }

        return sink;
    }

    private static long Evaluate(StreamTerms terms, PauseInterval[] pauses, Instant[] instants)
    {
        long sink = 0;
        foreach (var instant in instants)
        {
            sink += StreamAccrual.Evaluate(terms, pauses, instant, 0m, 0m).IsComplete ? 1 : 0;
        }

        return sink;
    }

    private static void Check(bool condition, string what)
    {
        if (!condition)
        {
            throw new InvalidOperationException($"StreamAccrual gave a wrong amount for {what}.");
        }
    }
}
