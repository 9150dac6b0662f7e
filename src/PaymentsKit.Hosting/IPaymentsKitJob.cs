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
}
