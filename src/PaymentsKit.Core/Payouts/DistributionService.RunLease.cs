using System.Globalization;
using Microsoft.Extensions.Logging;
using NodaTime;

namespace PaymentsKit.Payouts;

public sealed partial class DistributionService
{
    /// <summary>
    /// Takes the distribution's run lease (<see cref="Distribution.RunLeaseHolder"/>) for a new run unless it is finished or a
    /// live run holds it. The write is checked against the record's version, so of runs racing for it exactly one wins.
    /// </summary>
    /// <returns>The record as this run found or left it, and the lease when this run took it.</returns>
    private async ValueTask<(Distribution Distribution, RunLease? Lease)> TakeRunLeaseAsync(Distribution distribution, CancellationToken cancellationToken)
    {
        var token = Guid.NewGuid();
        var duration = Duration.FromTimeSpan(_options.RunLease);
        var (current, takenAt) = await RunAsync(
            async (unit, ct) =>
            {
                var found = await RequireDistributionAsync(unit, distribution.TenantId, distribution.Id, ct).ConfigureAwait(false);
                var now = _clock.GetCurrentInstant();
                if (DistributionLifecycle.Machine.IsTerminal(found.Value.Status) || (found.Value.RunLeaseHolder is not null && found.Value.RunLeaseExpiresAt > now))
                {
                    return (found.Value, (Instant?)null);
                }

                var taken = found.Value with { RunLeaseHolder = token, RunLeaseExpiresAt = now + duration };
                unit.Update(PayoutCollections.Distributions, taken, found.Version);
                return (taken, now);
            },
            cancellationToken).ConfigureAwait(false);
        return (current, takenAt is { } at ? new RunLease(this, current, token, duration, at) : null);
    }

    /// <summary>
    /// A run's hold on its distribution. A heartbeat renews it every third of <see cref="PayoutOptions.RunLease"/> (by the
    /// clock, checked a few times a second) while the run goes on, also while the executor is paying a batch that takes
    /// longer than the lease. Before each batch the run makes sure it still holds it: a run that lost it (it could not renew
    /// in time and another run took the distribution over) stops instead of executing anything more.
    /// </summary>
    private sealed class RunLease
    {
        private static readonly TimeSpan MaxHeartbeatWait = TimeSpan.FromMilliseconds(250);

        private readonly DistributionService _service;
        private readonly Distribution _distribution;
        private readonly Guid _token;
        private readonly Duration _duration;
        private readonly SemaphoreSlim _renewing = new(1, 1);
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _heartbeat;
        private long _renewedAtTicks;
        private volatile bool _lost;

        public RunLease(DistributionService service, Distribution distribution, Guid token, Duration duration, Instant takenAt)
        {
            (_service, _distribution, _token, _duration, _renewedAtTicks) = (service, distribution, token, duration, takenAt.ToUnixTimeTicks());
            _heartbeat = HeartbeatAsync();
        }

        /// <summary>Renews the lease when a third of it has passed; throws when another run took the distribution over.</summary>
        public async ValueTask EnsureHeldAsync(CancellationToken cancellationToken)
        {
            if (!_lost && _service._clock.GetCurrentInstant() >= RenewalDue)
            {
                await RenewAsync(cancellationToken).ConfigureAwait(false);
            }

            if (_lost)
            {
                throw new PaymentsKitException(
                    PaymentsKitErrorCodes.ConcurrencyConflict,
                    string.Create(
                        CultureInfo.InvariantCulture,
                        $"The run of distribution {_distribution.Id} lost its lease (not renewed within {_duration.ToTimeSpan()}) to another run, which resumes it; this run stopped before executing another batch."),
                    new Dictionary<string, object?> { ["distribution"] = _distribution.Id.ToString() });
            }
        }

        /// <summary>Stops the heartbeat and releases the lease if this run still holds it, marking it ended now.</summary>
        /// <returns>The record as released (or as another run left it); null when the store could not be read.</returns>
        public async ValueTask<Distribution?> EndAsync()
        {
            await _stop.CancelAsync().ConfigureAwait(false);
            await _heartbeat.ConfigureAwait(false);
            try
            {
                return await _service.RunAsync(
                    async (unit, ct) =>
                    {
                        var current = await RequireDistributionAsync(unit, _distribution.TenantId, _distribution.Id, ct).ConfigureAwait(false);
                        if (current.Value.RunLeaseHolder != _token)
                        {
                            return current.Value;
                        }

                        var released = current.Value with { RunLeaseHolder = null, RunLeaseExpiresAt = _service._clock.GetCurrentInstant() };
                        unit.Update(PayoutCollections.Distributions, released, current.Version);
                        return released;
                    },
                    CancellationToken.None).ConfigureAwait(false);
            }
            catch (PaymentsKitException)
            {
                // The store may be what stopped the run; the lease then lapses on its own, and the distribution is resumed after.
                return null;
            }
            finally
            {
                _stop.Dispose();
                _renewing.Dispose();
            }
        }

        // Ticks, read and written whole: the heartbeat renews while the run reads.
        private Instant RenewalDue => Instant.FromUnixTimeTicks(Volatile.Read(ref _renewedAtTicks)) + (_duration / 3);

        private async Task HeartbeatAsync()
        {
            var wait = TimeSpan.FromTicks(Math.Min(_duration.BclCompatibleTicks / 10, MaxHeartbeatWait.Ticks));
            try
            {
                while (!_lost)
                {
                    await Task.Delay(wait, _stop.Token).ConfigureAwait(false);
                    if (_service._clock.GetCurrentInstant() < RenewalDue)
                    {
                        continue;
                    }

                    try
                    {
                        await RenewAsync(_stop.Token).ConfigureAwait(false);
                    }
                    catch (Exception ex) when (ex is not OperationCanceledException)
                    {
                        // Tried again on the next beat; if the lease lapses meanwhile, the check before the next batch stops the run.
                        // Nothing escapes: a faulted heartbeat would fail the run's end, after its batches were recorded.
                        if (!_stop.IsCancellationRequested)
                        {
                            LogRenewalFailed(_service._logger, ex, _distribution.Id.ToString(), (ex as PaymentsKitException)?.Code ?? ex.GetType().Name);
                        }
                    }
                }
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested)
            {
                // The run ended.
            }
        }

        private async ValueTask RenewAsync(CancellationToken cancellationToken)
        {
            await _renewing.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                var renewedAt = await _service.RunAsync(
                    async (unit, ct) =>
                    {
                        var current = await RequireDistributionAsync(unit, _distribution.TenantId, _distribution.Id, ct).ConfigureAwait(false);
                        if (current.Value.RunLeaseHolder != _token)
                        {
                            return (Instant?)null;
                        }

                        var now = _service._clock.GetCurrentInstant();
                        unit.Update(PayoutCollections.Distributions, current.Value with { RunLeaseExpiresAt = now + _duration }, current.Version);
                        return now;
                    },
                    cancellationToken).ConfigureAwait(false);
                if (renewedAt is { } at)
                {
                    Volatile.Write(ref _renewedAtTicks, at.ToUnixTimeTicks());
                }
                else if (!_lost)
                {
                    _lost = true;
                    LogLeaseLost(_service._logger, _distribution.Id.ToString());
                }
            }
            finally
            {
                _renewing.Release();
            }
        }
    }

    [LoggerMessage(EventId = 806, Level = LogLevel.Warning, Message = "The run of distribution {DistributionId} lost its lease to another run; it stops before executing another batch")]
    private static partial void LogLeaseLost(ILogger logger, string distributionId);

    [LoggerMessage(EventId = 807, Level = LogLevel.Warning, Message = "The run of distribution {DistributionId} could not renew its lease ({Code}); it tries again, and stops before its next batch if another run took the distribution over")]
    private static partial void LogRenewalFailed(ILogger logger, Exception exception, string distributionId, string code);
}
