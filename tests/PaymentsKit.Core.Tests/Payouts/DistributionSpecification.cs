using System.Globalization;
using NodaTime;
using PaymentsKit.Ledger;
using PaymentsKit.Payouts;
using PaymentsKit.Storage;
using PaymentsKit.Testing;

namespace PaymentsKit.Tests.Payouts;

/// <summary>
/// Mass payouts written once against the store seams (<see cref="IPaymentsStore"/>, <see cref="IHolderSnapshotStore"/>,
/// <see cref="IDueDistributionIndex"/>): each store runs it by deriving a class that supplies them. Every test
/// works in its own fresh tenant (and contract ids), so stores may be shared by a class's tests.
/// </summary>
public abstract partial class DistributionSpecification : IAsyncLifetime
{
    private Stores? _stores;

    /// <summary>The stores under test.</summary>
    public sealed record Stores(IPaymentsStore Records, IHolderSnapshotStore Holders, IDueDistributionIndex Due);

    protected static AssetRegistry Assets { get; } = new();

    protected static Asset Usdc => AssetRegistry.Usdc;

    protected ManualClock Clock { get; } = new();

    protected MerchantId Tenant { get; } = MerchantId.FromGuid(Guid.CreateVersion7());

    protected MerchantId OtherTenant { get; } = MerchantId.FromGuid(Guid.CreateVersion7());

    protected IPaymentsStore Store => (_stores ?? throw new InvalidOperationException("Created in InitializeAsync.")).Records;

    protected IHolderSnapshotStore HolderStore => _stores!.Holders;

    protected IDueDistributionIndex DueIndex => _stores!.Due;

    protected LedgerService Ledger => new(Store, Clock, Assets);

    /// <summary>How many random runs a property tries.</summary>
    protected virtual int PropertyIterations => 100;

    public async Task InitializeAsync() => _stores = await CreateStoresAsync();

    public virtual Task DisposeAsync() => Task.CompletedTask;

    /// <summary>The stores under test: new ones, or ones shared by this class's tests only.</summary>
    protected abstract Task<Stores> CreateStoresAsync();

    /// <summary>
    /// The stores another host sharing the test's data would use: the same ones in memory (one process cannot have
    /// others), stores of their own over the same database on PostgreSQL, so races also run between hosts that share
    /// nothing but the database.
    /// </summary>
    protected virtual Task<Stores> CreateOtherHostStoresAsync() => Task.FromResult(_stores!);

    /// <summary>The payouts service a host on <paramref name="stores"/> runs, with its own ledger over them.</summary>
    protected DistributionService ServiceOn(Stores stores, IPayoutExecutor executor, PayoutOptions? options = null, IClock? clock = null) =>
        new(stores.Records, stores.Holders, stores.Due, executor, new LedgerService(stores.Records, clock ?? Clock, Assets), clock ?? Clock, Assets, options);

    protected DistributionService Service(
        IPayoutExecutor? executor = null, PayoutOptions? options = null, IHolderSnapshotSource? source = null, IHolderSnapshotStore? holders = null) =>
        new(Store, holders ?? HolderStore, DueIndex, executor ?? new SimulatedPayoutExecutor(Clock), Ledger, Clock, Assets, options, source);

    protected static string Account(int i) => "0.0." + (100_000 + i).ToString(CultureInfo.InvariantCulture);

    protected static HolderBalance[] Holders(params long[] balances) => [.. balances.Select((b, i) => new HolderBalance(Account(i), b))];

    protected static Money Usd6(decimal amount) => Money.Of(amount, Usdc);

    protected Task<TokenAsset> AssetAsync(DistributionService service, long supply = 1_000_000_000, int decimals = 2, MerchantId? tenant = null) =>
        service.CreateAssetAsync(
            tenant ?? Tenant,
            new CreateTokenAssetRequest("0.0." + Random.Shared.Next(1, int.MaxValue).ToString(CultureInfo.InvariantCulture), "Acme Equity", "ACME", supply, decimals, Usdc)
            {
                LifecycleContractId = "0.0.555",
                PaymentTokenId = "0.0.429274",
            }).AsTask();

    protected static CreateDistributionRequest Fixed(TokenAsset asset, decimal total, DistributionExecution execution = DistributionExecution.Manual) =>
        new(asset.Id, DistributionType.Dividend, execution) { Payout = DistributionPayout.Fixed, Amount = Money.Of(total, Usdc), Concept = "dividend" };

    /// <summary>A treasury (debit-normal, never overdrawn) funded with <paramref name="funds"/>, and a payouts account.</summary>
    protected async Task<(LedgerAccount Treasury, LedgerAccount Payouts)> LedgerAccountsAsync(decimal funds, MerchantId? tenant = null)
    {
        var owner = tenant ?? Tenant;
        var equity = await Ledger.CreateAccountAsync(owner, new CreateLedgerAccountRequest("equity", "Equity", Usdc, LedgerSide.Credit));
        var treasury = await Ledger.CreateAccountAsync(
            owner, new CreateLedgerAccountRequest("treasury", "Treasury", Usdc, LedgerSide.Debit) { Flags = LedgerAccountFlags.CreditsMustNotExceedDebits });
        var payouts = await Ledger.CreateAccountAsync(owner, new CreateLedgerAccountRequest("payouts", "Dividends paid", Usdc, LedgerSide.Debit));
        if (funds > 0)
        {
            await Ledger.PostTransactionAsync(owner, new PostLedgerTransactionRequest([LedgerPosting.Debit(treasury.Id, Usd6(funds)), LedgerPosting.Credit(equity.Id, Usd6(funds))]));
        }

        return (treasury, payouts);
    }

    /// <summary>Every holder row of a distribution, in account order.</summary>
    protected static async Task<List<HolderPayment>> AllHoldersAsync(IDistributionService service, MerchantId tenant, DistributionId id)
    {
        var rows = new List<HolderPayment>();
        string? after = null;
        while (true)
        {
            var page = await service.ListHoldersAsync(tenant, id, after, 1000);
            rows.AddRange(page);
            if (page.Count < 1000)
            {
                return rows;
            }

            after = page[^1].AccountId;
        }
    }

    /// <summary>Equal distributions: the transition history compared by content (records compare lists by reference).</summary>
    protected static async Task<PaymentsKitException> FailsAsync(string code, Func<Task> action)
    {
        var ex = await Assert.ThrowsAsync<PaymentsKitException>(action);
        Assert.Equal(code, ex.Code);
        return ex;
    }

    protected static bool Blocking(Func<Task> run)
    {
        // Off xunit's synchronization context, so blocking cannot starve the continuations.
        Task.Run(run).GetAwaiter().GetResult();
        return true;
    }

    /// <summary>Thrown by the crash injectors: the process "dies" here.</summary>
    protected sealed class SimulatedCrashException(string where) : Exception("simulated crash " + where);

    /// <summary>Throws on chosen calls, before or after the real executor ran (a crash before the outcome is recorded).</summary>
    protected sealed class CrashingExecutor(IPayoutExecutor inner, IReadOnlySet<int> crashBefore, IReadOnlySet<int> crashAfter) : IPayoutExecutor
    {
        private int _calls;

        public int MaxTransfersPerBatch => inner.MaxTransfersPerBatch;

        public async ValueTask<PayoutBatchResult> ExecuteAsync(PayoutBatchRequest request, CancellationToken cancellationToken = default)
        {
            var call = Interlocked.Increment(ref _calls);
            if (crashBefore.Contains(call))
            {
                throw new SimulatedCrashException($"before executor call {call}");
            }

            var result = await inner.ExecuteAsync(request, cancellationToken);
            return crashAfter.Contains(call) ? throw new SimulatedCrashException($"after executor call {call}") : result;
        }
    }

    /// <summary>Dies right after a claim, or before/after recording an outcome, on chosen calls.</summary>
    protected sealed class CrashingHolderStore(IHolderSnapshotStore inner, IReadOnlySet<int> crashAfterClaim, IReadOnlySet<int> crashBeforeRecord, IReadOnlySet<int> crashAfterRecord)
        : IHolderSnapshotStore
    {
        private int _claims;
        private int _records;

        public ValueTask ImportAsync(HolderSnapshotKey key, ReadOnlyMemory<HolderBalance> holders, ReadOnlyMemory<long> amounts, Instant now, IProgress<HolderImportProgress>? progress, CancellationToken cancellationToken = default) =>
            inner.ImportAsync(key, holders, amounts, now, progress, cancellationToken);

        public ValueTask<HolderSnapshotTotals> GetTotalsAsync(HolderSnapshotKey key, int maxAttempts, CancellationToken cancellationToken = default) =>
            inner.GetTotalsAsync(key, maxAttempts, cancellationToken);

        public ValueTask<IReadOnlyList<HolderPayment>> ListAsync(HolderSnapshotKey key, string? afterAccount, int limit, CancellationToken cancellationToken = default) =>
            inner.ListAsync(key, afterAccount, limit, cancellationToken);

        public async ValueTask<ClaimedBatch?> ClaimBatchAsync(HolderSnapshotKey key, string? afterAccount, int limit, int maxAttempts, Instant now, CancellationToken cancellationToken = default)
        {
            var batch = await inner.ClaimBatchAsync(key, afterAccount, limit, maxAttempts, now, cancellationToken);
            return batch is not null && crashAfterClaim.Contains(Interlocked.Increment(ref _claims)) ? throw new SimulatedCrashException("after a claim") : batch;
        }

        public ValueTask<IReadOnlyList<ClaimedBatch>> ListSubmittedAsync(HolderSnapshotKey key, CancellationToken cancellationToken = default) =>
            inner.ListSubmittedAsync(key, cancellationToken);

        public async ValueTask RecordOutcomesAsync(HolderSnapshotKey key, int batchNumber, string? transactionId, IReadOnlyList<HolderOutcome> outcomes, Instant now, CancellationToken cancellationToken = default)
        {
            var call = Interlocked.Increment(ref _records);
            if (crashBeforeRecord.Contains(call))
            {
                throw new SimulatedCrashException("before recording outcomes");
            }

            await inner.RecordOutcomesAsync(key, batchNumber, transactionId, outcomes, now, cancellationToken);
            if (crashAfterRecord.Contains(call))
            {
                throw new SimulatedCrashException("after recording outcomes");
            }
        }
    }
}
