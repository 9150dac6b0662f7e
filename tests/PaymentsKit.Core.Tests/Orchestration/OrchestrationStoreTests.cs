using PaymentsKit.Orchestration;
using PaymentsKit.Storage;

namespace PaymentsKit.Tests.Orchestration;

/// <summary>
/// The base of every store-dependent orchestration test: a subclass supplies the store (in memory
/// here; a PostgreSQL subclass can reuse every test unchanged).
/// </summary>
public abstract class OrchestrationStoreTests
{
    protected static RequestContext Context => OrchestrationHarness.Context;

    /// <summary>How many cases each property runs (fewer on slower stores).</summary>
    protected virtual int PropertyIterations => 40;

    /// <summary>
    /// The store a test runs on. It may be shared by the tests of a class: every test works in
    /// partners of its own and never assumes an empty store.
    /// </summary>
    protected abstract Task<IPaymentsStore> CreateStoreAsync();

    /// <summary>
    /// The store another host sharing <paramref name="store"/>'s data would use: <paramref name="store"/> itself in memory
    /// (one process cannot have another), a store of its own over the same database on PostgreSQL, so races also run
    /// between hosts that share nothing but the database.
    /// </summary>
    protected virtual Task<IPaymentsStore> CreateOtherHostStoreAsync(IPaymentsStore store) => Task.FromResult(store);

    protected async Task<OrchestrationHarness> HarnessAsync(
        Action<OrchestrationOptions>? configure = null, SimulatedProviderOptions? stripe = null, Func<IPaymentProvider, IPaymentProvider>? wrapStripe = null) =>
        OrchestrationHarness.Create(await CreateStoreAsync(), configure, stripe, wrapStripe);

    protected static string UniqueEmail(string local = "ops") => $"{local}+{Guid.NewGuid():N}@acme.example";

    protected static async Task<PaymentsKitException> ThrowsCodeAsync(string code, Func<Task> call)
    {
        var ex = await Assert.ThrowsAsync<PaymentsKitException>(call);
        Assert.Equal(code, ex.Code);
        return ex;
    }

    /// <summary>Asserts a rejected call wrote nothing but one rejected audit entry carrying its code.</summary>
    protected static async Task AssertRejectedAsync(OrchestrationHarness harness, PartnerId partner, string code, Func<Task> call)
    {
        var before = await harness.CountAsync(partner);
        var auditBefore = (await harness.AuditAsync(partner)).Select(a => a.Id).ToHashSet();
        var ex = await ThrowsCodeAsync(code, call);
        Assert.False(string.IsNullOrWhiteSpace(ex.Message));
        var after = await harness.CountAsync(partner);
        Assert.Equal(before with { AuditEntries = before.AuditEntries + 1 }, after);
        var entry = Assert.Single(await harness.AuditAsync(partner), a => !auditBefore.Contains(a.Id));
        Assert.Equal(AuditOutcome.Rejected, entry.Outcome);
        Assert.Equal(code, entry.ErrorCode);
        Assert.Equal(Context.IpAddress, entry.IpAddress);
        Assert.Equal(Context.UserAgent, entry.UserAgent);
        Assert.Equal(Context.RequestId, entry.RequestId);
    }
}
