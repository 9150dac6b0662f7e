namespace PaymentsKit.Hosting;

/// <summary>What one run of a job did.</summary>
/// <param name="Processed">How many items it handled (expired invoices, attempted deliveries …).</param>
/// <param name="MoreWork">Whether it stopped at a batch limit with work left, so the next run starts at once.</param>
public readonly record struct PaymentsKitJobResult(int Processed, bool MoreWork = false);

/// <summary>
/// A periodic piece of PaymentsKit work (a sweep, a poll, a dispatch pass). Register it as a singleton
/// <see cref="IPaymentsKitJob"/> and <c>AddPaymentsKitHosting</c> runs it in a background service of its own, every
/// interval, with graceful shutdown. Several host instances may run the same job against one database at the same
/// time: a job must be safe under that (store operations are exactly-once; queues claim with leases).
/// </summary>
public interface IPaymentsKitJob
{
    /// <summary>A stable, unique name, e.g. <c>invoices.expire</c>; used for options, logs, metrics and spans.</summary>
    string Name { get; }

    /// <summary>How long to wait between runs unless <see cref="PaymentsKitHostingOptions.Intervals"/> says otherwise.</summary>
    TimeSpan DefaultInterval { get; }

    /// <summary>Does one run.</summary>
    /// <param name="cancellationToken">Fires when the host's shutdown grace period runs out; a run is otherwise left to finish.</param>
    ValueTask<PaymentsKitJobResult> RunAsync(CancellationToken cancellationToken);

    /// <summary>Does one run, told when the host starts stopping. The job's worker calls this overload.</summary>
    /// <param name="stoppingToken">
    /// Fires when the host starts stopping: a run that can end early without losing anything (handing back work it has not
    /// begun) may do so, and returns rather than throws.
    /// </param>
    /// <param name="cancellationToken">Fires when the host's shutdown grace period runs out.</param>
    /// <remarks>This default ignores <paramref name="stoppingToken"/>: the run is left to finish, as <see cref="RunAsync(CancellationToken)"/> is.</remarks>
    ValueTask<PaymentsKitJobResult> RunAsync(CancellationToken stoppingToken, CancellationToken cancellationToken) => RunAsync(cancellationToken);
}
