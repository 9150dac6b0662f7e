using PaymentsKit.Storage;

namespace PaymentsKit.Tests.Storage;

/// <summary>
/// A store in front of another that provokes the reruns a concurrent commit would: it reports a unit's reads stale while
/// <see cref="StaleReadsToReport"/> lasts, and refuses the next commit as a taken key the store judged first.
/// </summary>
public sealed class RerunningStore(IPaymentsStore inner) : IPaymentsStore
{
    public int StaleReadsToReport { get; set; }

    public bool RefuseNextCommit { get; set; }

    public async ValueTask<IUnitOfWork> BeginAsync(CancellationToken cancellationToken = default) =>
        new Unit(this, await inner.BeginAsync(cancellationToken));

    private sealed class Unit(RerunningStore owner, IUnitOfWork unit) : ForwardingUnitOfWork(unit)
    {
        public override async ValueTask<bool> HasStaleReadsAsync(CancellationToken cancellationToken = default)
        {
            if (owner.StaleReadsToReport > 0)
            {
                owner.StaleReadsToReport--;
                return true;
            }

            return await base.HasStaleReadsAsync(cancellationToken);
        }

        public override ValueTask CommitAsync(CancellationToken cancellationToken = default)
        {
            if (owner.RefuseNextCommit)
            {
                owner.RefuseNextCommit = false;
                throw new PaymentsKitException(PaymentsKitErrorCodes.DuplicateKey, "Simulated taken key beside a stale update.");
            }

            return base.CommitAsync(cancellationToken);
        }
    }
}
