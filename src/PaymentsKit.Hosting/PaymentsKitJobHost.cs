using System.Globalization;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace PaymentsKit.Hosting;

/// <summary>
/// The hosted service of <c>AddPaymentsKitHosting</c>: starts a <see cref="PaymentsKitJobWorker"/> (a background
/// service) for every registered <see cref="IPaymentsKitJob"/> not disabled in the options, and stops them all
/// together, each finishing its current run within the host's shutdown timeout.
/// </summary>
public sealed partial class PaymentsKitJobHost : IHostedService, IDisposable
{
    private readonly IReadOnlyList<IPaymentsKitJob> _jobs;
    private readonly PaymentsKitHostingOptions _options;
    private readonly ILoggerFactory _loggerFactory;
    private readonly List<PaymentsKitJobWorker> _workers = [];

    /// <summary>Creates the host over the registered jobs.</summary>
    /// <exception cref="InvalidOperationException">When two jobs share a name.</exception>
    public PaymentsKitJobHost(IEnumerable<IPaymentsKitJob> jobs, IOptions<PaymentsKitHostingOptions> options, ILoggerFactory loggerFactory)
    {
        ArgumentNullException.ThrowIfNull(jobs);
        ArgumentNullException.ThrowIfNull(options);
        _jobs = [.. jobs];
        _options = options.Value;
        _loggerFactory = loggerFactory ?? throw new ArgumentNullException(nameof(loggerFactory));
        var duplicate = _jobs.GroupBy(j => j.Name, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
        {
            throw new InvalidOperationException($"Two PaymentsKit jobs are named '{duplicate.Key}'; job names must be unique.");
        }
    }

    /// <summary>The running workers.</summary>
    public IReadOnlyList<PaymentsKitJobWorker> Workers => _workers;

    /// <inheritdoc />
    /// <exception cref="OptionsValidationException">When a job to run has its own interval out of range and no override.</exception>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        WarnAboutUnknownJobNames();
        var enabled = _jobs.Where(j => !_options.DisabledJobs.Contains(j.Name)).ToList();

        // The options validate their overrides; a job's own interval is only known here. Out of range, one would spin or,
        // beyond what Task.Delay can wait, kill its worker after the first run: no worker starts until all are known good.
        var errors = enabled.Where(j => !_options.Intervals.ContainsKey(j.Name)).Select(CheckDefaultInterval).OfType<string>().ToList();
        if (errors.Count > 0)
        {
            throw new OptionsValidationException(Options.DefaultName, typeof(PaymentsKitHostingOptions), errors);
        }

        var logger = _loggerFactory.CreateLogger<PaymentsKitJobWorker>();
        foreach (var job in enabled)
        {
            var worker = new PaymentsKitJobWorker(job, _options.IntervalOf(job), _options.MaxFailureBackoff, logger);
            _workers.Add(worker);
            await worker.StartAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Names in <see cref="PaymentsKitHostingOptions.Intervals"/> or <see cref="PaymentsKitHostingOptions.DisabledJobs"/>
    /// that no registered job has change nothing. They are not refused, since hosts running different modules may share
    /// one list, but a typo would silently leave a job running, so they are logged once, each with the setting it is in.
    /// </summary>
    private void WarnAboutUnknownJobNames()
    {
        var known = _jobs.Select(j => j.Name).ToHashSet(StringComparer.Ordinal);
        var unknown = _options.Intervals.Keys.Where(n => !known.Contains(n)).Order(StringComparer.Ordinal).Select(n => $"Intervals[{n}]")
            .Concat(_options.DisabledJobs.Where(n => !known.Contains(n)).Order(StringComparer.Ordinal).Select(n => $"DisabledJobs[{n}]"))
            .ToList();
        if (unknown.Count > 0)
        {
            LogUnknownJobNames(_loggerFactory.CreateLogger<PaymentsKitJobHost>(), string.Join(", ", unknown), string.Join(", ", known.Order(StringComparer.Ordinal)));
        }
    }

    [LoggerMessage(
        EventId = 504,
        Level = LogLevel.Warning,
        Message = "PaymentsKitHosting options name jobs not registered on this host, which change nothing here: {UnknownJobs} (registered jobs: {KnownJobs})")]
    private static partial void LogUnknownJobNames(ILogger logger, string unknownJobs, string knownJobs);

    private static string? CheckDefaultInterval(IPaymentsKitJob job) =>
        PaymentsKitHostingOptions.IsAllowedInterval(job.DefaultInterval)
            ? null
            : string.Create(
                CultureInfo.InvariantCulture,
                $"PaymentsKit job '{job.Name}' has a default interval of {job.DefaultInterval}, outside 10 ms to 1 day; set PaymentsKitHosting:Intervals[{job.Name}] or disable the job.");

    /// <inheritdoc />
    public Task StopAsync(CancellationToken cancellationToken) =>
        Task.WhenAll(_workers.Select(w => w.StopAsync(cancellationToken)));

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var worker in _workers)
        {
            worker.Dispose();
        }
    }
}
