using PaymentsKit.Storage;

namespace PaymentsKit.Orchestration;

/// <summary>
/// The seam between orchestration and the double-entry ledger: every completed charge and every
/// completed refund is posted through it, inside the unit of work that records the change, so the
/// posting commits with it or not at all (and a retried unit posts again only if the first did not
/// commit).
/// </summary>
internal interface IOrchestrationLedger
{
    /// <summary>Posts a completed charge of <paramref name="transaction"/>.</summary>
    ValueTask PostChargeAsync(IUnitOfWork unit, PaymentTransaction transaction, CancellationToken cancellationToken);

    /// <summary>Posts a completed refund of <paramref name="transaction"/>.</summary>
    ValueTask PostRefundAsync(IUnitOfWork unit, PaymentTransaction transaction, Refund refund, CancellationToken cancellationToken);
}
