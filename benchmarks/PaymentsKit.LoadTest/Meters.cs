using System.Diagnostics;
using System.Globalization;
using Npgsql;

namespace PaymentsKit.LoadTest;

/// <summary>
/// CPU time of the whole local PostgreSQL server over a phase (the postmaster, its live children and the
/// children it reaped), from /proc: the server's cost per operation, which the shared machine's load moves
/// much less than the rates. Absent when the server is not a local process (e.g. from PAYMENTSKIT_TEST_PG on another host).
/// </summary>
internal sealed class ServerCpuMeter
{
    private readonly int _postmaster;
    private readonly long _ticks;

    private ServerCpuMeter(int postmaster)
    {
        _postmaster = postmaster;
        _ticks = Ticks(postmaster);
    }

    public static async Task<ServerCpuMeter?> StartAsync(string connectionString)
    {
        var connection = new NpgsqlConnection(connectionString);
        await using (connection.ConfigureAwait(false))
        {
            await connection.OpenAsync().ConfigureAwait(false);
            var command = new NpgsqlCommand("SELECT pg_backend_pid()", connection);
            await using (command.ConfigureAwait(false))
            {
                var backend = (int)(await command.ExecuteScalarAsync().ConfigureAwait(false))!;
                return Stat(backend) is { } stat ? new ServerCpuMeter(int.Parse(stat[1], CultureInfo.InvariantCulture)) : null;
            }
        }
    }

    public static string Report(ServerCpuMeter? meter, long operations, string unit) =>
        meter is null || Stat(meter._postmaster) is null
            ? "server CPU not measured (not a local server)"
            : string.Create(
                CultureInfo.InvariantCulture,
                $"server CPU {(Ticks(meter._postmaster) - meter._ticks) * 10.0 / operations:0.000} ms per {unit} (all PostgreSQL processes, /proc)");

    // Clock ticks of 10 ms (USER_HZ is 100 on Linux): the postmaster's own and reaped children's time, plus its live children's.
    private static long Ticks(int postmaster)
    {
        var parent = postmaster.ToString(CultureInfo.InvariantCulture);
        var ticks = Sum(Stat(postmaster)!, 11, 12, 13, 14);
        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(directory), CultureInfo.InvariantCulture, out var pid)
                && Stat(pid) is { } stat && stat[1] == parent)
            {
                ticks += Sum(stat, 11, 12);
            }
        }

        return ticks;
    }

    private static long Sum(string[] stat, params int[] fields) => fields.Sum(f => long.Parse(stat[f], CultureInfo.InvariantCulture));

    // The fields of /proc/<pid>/stat after the command name (which may hold spaces): [0] state, [1] parent, [11] utime, [12] stime, [13] cutime, [14] cstime.
    private static string[]? Stat(int pid)
    {
        try
        {
            var text = File.ReadAllText($"/proc/{pid}/stat");
            return text[(text.LastIndexOf(')') + 2)..].Split(' ');
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }
}

/// <summary>
/// Wall time, the process's CPU time and the collector's pauses over a phase: on a shared machine the wall-clock
/// rate swings with the load, CPU time per operation much less.
/// </summary>
internal sealed class CpuMeter
{
    private readonly Stopwatch _wall = Stopwatch.StartNew();
    private readonly TimeSpan _cpu = Process.GetCurrentProcess().TotalProcessorTime;
    private readonly TimeSpan _paused = GC.GetTotalPauseDuration();
    private readonly int _gen0 = GC.CollectionCount(0);
    private readonly int _gen2 = GC.CollectionCount(2);
    private readonly long _allocated = GC.GetTotalAllocatedBytes();
    private readonly long _faults = MinorFaults();

    public TimeSpan Wall => _wall.Elapsed;

    public static CpuMeter Start() => new();

    // The process's minor page faults (/proc/self/stat, field 10): each is a fresh page the kernel zeroes; 0 where unknown.
    private static long MinorFaults()
    {
        if (!OperatingSystem.IsLinux())
        {
            return 0;
        }

        var stat = File.ReadAllText("/proc/self/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return long.Parse(fields[7], CultureInfo.InvariantCulture);
    }

    public string Report(long operations)
    {
        var wall = _wall.Elapsed;
        var cpu = Process.GetCurrentProcess().TotalProcessorTime - _cpu;
        var paused = GC.GetTotalPauseDuration() - _paused;
        var allocated = GC.GetTotalAllocatedBytes() - _allocated;
        var faults = MinorFaults() - _faults;
        return string.Create(
            CultureInfo.InvariantCulture,
            $"CPU {cpu.TotalMicroseconds / operations:0.00} µs each ({operations / cpu.TotalSeconds:0} per CPU-second), {(double)allocated / operations:0} B allocated each, {(double)faults / operations:0.00} page faults each, GC pauses {paused.TotalMilliseconds:0} ms = {paused / wall:0.0%} of wall, {GC.CollectionCount(0) - _gen0} gen-0 / {GC.CollectionCount(2) - _gen2} gen-2 collections");
    }
}
