using PaymentsKit.Ledger;
using PaymentsKit.Storage;
using PaymentsKit.Testing;

namespace PaymentsKit.Tests.Ledger;

/// <summary>
/// The ledger's behaviour, written once against <see cref="IPaymentsStore"/>: each store runs it by
/// deriving a class that supplies the store. Every test works in its own fresh tenant, so a store
/// may be shared by the tests of a class (the expiry sweep, which spans tenants, is drained first
/// where a test counts what it expires).
/// </summary>
public abstract partial class LedgerSpecification : IAsyncLifetime
{
    private IPaymentsStore? _store;
    private LedgerService? _ledger;

    /// <summary>The assets the tests count in, including a same-code/different-scale USD to probe precision.</summary>
    protected static AssetRegistry Assets { get; } = new();

    /// <summary>A USD defined with a larger scale than the registered one (not registered itself).</summary>
    protected static Asset WideUsd { get; } = Asset.Create("USD", 4);

    protected ManualClock Clock { get; } = new();

    protected IPaymentsStore Store => _store ?? throw new InvalidOperationException("The store is created in InitializeAsync.");

    protected LedgerService Ledger => _ledger ??= new LedgerService(Store, Clock, Assets);

    protected MerchantId Tenant { get; } = MerchantId.FromGuid(Guid.CreateVersion7());

    protected MerchantId OtherTenant { get; } = MerchantId.FromGuid(Guid.CreateVersion7());

    /// <summary>How many random operation sequences a single-threaded property tries.</summary>
    protected virtual int PropertyIterations => 150;

    /// <summary>How many random concurrent runs the interleaving property tries.</summary>
    protected virtual int ConcurrentPropertyIterations => 30;

    public async Task InitializeAsync() => _store = await CreateStoreAsync();

    public Task DisposeAsync() => Task.CompletedTask;

    /// <summary>The store under test: a new one, or one shared by this class's tests only.</summary>
    protected abstract Task<IPaymentsStore> CreateStoreAsync();

    /// <summary>Expires whatever earlier tests sharing the store left due, so a test counts only its own.</summary>
    /// <remarks>
    /// The sweep expires nothing past its service's clock, so it runs on a clock 400 days ahead of this test's; this test's
    /// own clock stays put, or the holds it makes would land past the drains of the tests after it.
    /// </remarks>
    protected async Task DrainDeadlinesAsync() =>
        await new LedgerService(Store, new ManualClock(Clock.GetCurrentInstant() + NodaTime.Duration.FromDays(400)), Assets)
            .ExpireDueAsync(Clock.GetCurrentInstant() + NodaTime.Duration.FromDays(400), 10_000);

    /// <summary>This tenant's transfers expired by a sweep at <paramref name="now"/>.</summary>
    protected async Task<List<LedgerTransfer>> ExpireDueAsync(NodaTime.Instant now, int limit = 1000) =>
        [.. (await Ledger.ExpireDueAsync(now, limit)).Where(t => t.TenantId == Tenant)];

    protected static Money Usd(decimal amount) => Money.Of(amount, AssetRegistry.Usd);

    protected static Money Xlm(decimal amount) => Money.Of(amount, AssetRegistry.Xlm);

    protected Task<LedgerAccount> OpenAsync(
        string code,
        LedgerSide normalSide = LedgerSide.Credit,
        LedgerAccountFlags flags = LedgerAccountFlags.None,
        Asset? asset = null,
        MerchantId? tenant = null,
        IReadOnlyDictionary<string, string>? metadata = null) =>
        Ledger.CreateAccountAsync(
            tenant ?? Tenant,
            new CreateLedgerAccountRequest(code, code + " account", asset ?? AssetRegistry.Usd, normalSide) { Flags = flags, Metadata = metadata }).AsTask();

    /// <summary>Debits <paramref name="from"/> and credits <paramref name="to"/>.</summary>
    protected Task<LedgerTransaction> MoveAsync(LedgerAccount from, LedgerAccount to, Money amount, string? reference = null, LedgerEntryType? type = null) =>
        Ledger.PostTransactionAsync(
            Tenant,
            new PostLedgerTransactionRequest([LedgerPosting.Debit(from.Id, amount), LedgerPosting.Credit(to.Id, amount)]) { Reference = reference, EntryType = type }).AsTask();

    protected Task<LedgerTransfer> ReserveAsync(LedgerAccount from, LedgerAccount to, Money amount, NodaTime.Duration? timeout = null) =>
        Ledger.ReserveAsync(Tenant, new ReserveLedgerTransferRequest(from.Id, to.Id, amount) { Timeout = timeout }).AsTask();

    protected Task<LedgerAccount> ReloadAsync(LedgerAccount account) => Ledger.GetAccountAsync(account.TenantId, account.Id).AsTask();

    /// <summary>A funded customer balance (credit-normal, never overdrawn) and the cash account that funded it.</summary>
    protected async Task<(LedgerAccount Customer, LedgerAccount Cash, LedgerAccount Merchant)> FundedCustomerAsync(decimal funds)
    {
        var cash = await OpenAsync("cash", LedgerSide.Debit);
        var customer = await OpenAsync("customer", LedgerSide.Credit, LedgerAccountFlags.DebitsMustNotExceedCredits);
        var merchant = await OpenAsync("merchant", LedgerSide.Credit);
        if (funds > 0)
        {
            await MoveAsync(cash, customer, Usd(funds));
        }

        return (await ReloadAsync(customer), await ReloadAsync(cash), merchant);
    }

    protected static async Task<PaymentsKitException> FailsAsync(string code, Func<Task> action)
    {
        var ex = await Assert.ThrowsAsync<PaymentsKitException>(action);
        Assert.Equal(code, ex.Code);
        return ex;
    }

    /// <summary>Asserts the tenant's books reconcile and every account is where it was.</summary>
    protected async Task AssertUnchangedAsync(params LedgerAccount[] accounts)
    {
        foreach (var account in accounts)
        {
            var now = await ReloadAsync(account);
            Assert.Equal(account.EntryCount, now.EntryCount);
            Assert.Equal(account.Balance, now.Balance);
        }

        Assert.True((await Ledger.ReconcileAsync(Tenant)).IsClean);
    }
}
