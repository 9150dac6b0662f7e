using System.Diagnostics;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using PaymentsKit.Diagnostics;

namespace PaymentsKit.Hosting;

/// <summary>
/// A background service that runs a piece of work every interval: at once again when the run reports more work,
/// with exponential backoff after failures, a span and metrics per run, and graceful shutdown — when the host stops,
/// no new run starts and the run in progress may finish until the host's shutdown timeout, when it is cancelled.
/// </summary>
public abstract partial class PeriodicWorker : BackgroundService
{
    // The longest pause Task.Delay can wait; a longer one would throw in the loop and end the worker.
    private static readonly TimeSpan MaxPause = TimeSpan.FromMilliseconds(uint.MaxValue - 1);

    private readonly CancellationTokenSource _runCancellation = new();
    private readonly ILogger _logger;
    private readonly TimeSpan _maxFailureBackoff;

    /// <summary>Creates a worker.</summary>
    /// <param name="name">Names the work in logs, metrics (<c>job</c> tag) and spans.</param>
    /// <param name="interval">The pause between runs (positive, at most about 49 days).</param>
    /// <param name="maxFailureBackoff">The longest pause after consecutive failures (positive, at most about 49 days).</param>
    /// <param name="logger">Logs failures.</param>
    protected PeriodicWorker(string name, TimeSpan interval, TimeSpan maxFailureBackoff, ILogger logger)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        Name = name;
        if (interval <= TimeSpan.Zero || interval > MaxPause)
        {
            throw new ArgumentOutOfRangeException(nameof(interval), interval, $"The interval must be positive and at most {MaxPause}.");
        }

        if (maxFailureBackoff <= TimeSpan.Zero || maxFailureBackoff > MaxPause)
        {
            throw new ArgumentOutOfRangeException(nameof(maxFailureBackoff), maxFailureBackoff, $"The failure backoff must be positive and at most {MaxPause}.");
        }

        Interval = interval;
        _maxFailureBackoff = maxFailureBackoff;
        _logger = logger ?? throw new ArgumentNullException(nameof(logger));
    }

    /// <summary>The work's name.</summary>
    public string Name { get; }

    /// <summary>The pause between runs.</summary>
    public TimeSpan Interval { get; }

    /// <summary>Completed runs so far (successful or not).</summary>
    public long Runs => Interlocked.Read(ref _runs);

    private long _runs;

    /// <inheritdoc />
    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        // The host's shutdown timeout is the in-flight run's deadline.
        var registration = cancellationToken.Register(static state => ((CancellationTokenSource)state!).Cancel(), _runCancellation);
        try
        {
            await base.StopAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            // base.StopAsync may return on the timeout before the registration's callback ran; disposing it would drop the callback.
            if (cancellationToken.IsCancellationRequested)
            {
                await _runCancellation.CancelAsync().ConfigureAwait(false);
            }

            await registration.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <inheritdoc />
    public override void Dispose()
    {
        _runCancellation.Dispose();
        base.Dispose();
        GC.SuppressFinalize(this);
    }

    /// <summary>Does one run.</summary>
    /// <param name="cancellationToken">Fires only when the host's shutdown grace period runs out.</param>
    protected abstract ValueTask<PaymentsKitJobResult> RunOnceAsync(CancellationToken cancellationToken);

    /// <summary>Does one run, told when the host starts stopping. The worker calls this overload; by default it runs <see cref="RunOnceAsync(CancellationToken)"/>.</summary>
    /// <param name="stoppingToken">Fires when the host starts stopping, for a run that can end early without losing anything.</param>
    /// <param name="cancellationToken">Fires only when the host's shutdown grace period runs out.</param>
    protected virtual ValueTask<PaymentsKitJobResult> RunOnceAsync(CancellationToken stoppingToken, CancellationToken cancellationToken) => RunOnceAsync(cancellationToken);

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var failures = 0;
        while (!stoppingToken.IsCancellationRequested)
        {
            var result = await RunMeasuredAsync(stoppingToken).ConfigureAwait(false);
            Interlocked.Increment(ref _runs);
            failures = result is null ? failures + 1 : 0;
            if (result is { MoreWork: true })
            {
                continue;
            }

            var pause = failures == 0 ? Interval : Backoff(failures);
            try
            {
                await Task.Delay(pause, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
        }
    }

    private TimeSpan Backoff(int failures)
    {
        var factor = Math.Pow(2, Math.Min(failures, 20));
        var ticks = Math.Min(Interval.Ticks * factor, _maxFailureBackoff.Ticks);
        return TimeSpan.FromTicks((long)Math.Max(ticks, Interval.Ticks));
    }

    private async ValueTask<PaymentsKitJobResult?> RunMeasuredAsync(CancellationToken stoppingToken)
    {
        var job = new KeyValuePair<string, object?>("job", Name);
        using var activity = PaymentsKitTelemetry.StartActivity("jobs." + Name);
        var watch = Stopwatch.StartNew();
        try
        {
            var result = await RunOnceAsync(stoppingToken, _runCancellation.Token).ConfigureAwait(false);
            PaymentsKitTelemetry.JobRuns.Add(1, job, new KeyValuePair<string, object?>("outcome", "ok"));
            PaymentsKitTelemetry.JobItems.Add(result.Processed, job);
            activity?.SetTag("paymentskit.job.processed", result.Processed);
            return result;
        }
        catch (OperationCanceledException) when (_runCancellation.IsCancellationRequested)
        {
            LogCancelled(_logger, Name);
            return null;
        }
#pragma warning disable CA1031 // A failing run must not stop the worker: it is logged and retried after a backoff.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            PaymentsKitTelemetry.JobRuns.Add(1, job, new KeyValuePair<string, object?>("outcome", "failed"));
            activity?.SetStatus(ActivityStatusCode.Error, ex.Message);
            LogFailed(_logger, ex, Name);
            return null;
        }
        finally
        {
            PaymentsKitTelemetry.JobDuration.Record(watch.Elapsed.TotalSeconds, job);
        }
    }

    [LoggerMessage(EventId = 505, Level = LogLevel.Error, Message = "PaymentsKit job {Job} failed; it will run again after a backoff")]
    private static partial void LogFailed(ILogger logger, Exception exception, string job);

    [LoggerMessage(EventId = 502, Level = LogLevel.Warning, Message = "PaymentsKit job {Job} was cancelled by the host's shutdown timeout")]
    private static partial void LogCancelled(ILogger logger, string job);
}

/// <summary>Runs one <see cref="IPaymentsKitJob"/> periodically.</summary>
public sealed class PaymentsKitJobWorker : PeriodicWorker
{
    /// <summary>Creates a worker for <paramref name="job"/>.</summary>
    public PaymentsKitJobWorker(IPaymentsKitJob job, TimeSpan interval, TimeSpan maxFailureBackoff, ILogger logger)
        : base((job ?? throw new ArgumentNullException(nameof(job))).Name, interval, maxFailureBackoff, logger) => Job = job;

    /// <summary>The job.</summary>
    public IPaymentsKitJob Job { get; }

    /// <inheritdoc />
    protected override ValueTask<PaymentsKitJobResult> RunOnceAsync(CancellationToken cancellationToken) => Job.RunAsync(cancellationToken);

    /// <inheritdoc />
    protected override ValueTask<PaymentsKitJobResult> RunOnceAsync(CancellationToken stoppingToken, CancellationToken cancellationToken) =>
        Job.RunAsync(stoppingToken, cancellationToken);
}
