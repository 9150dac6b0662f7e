using NodaTime;
using PaymentsKit.Chains;
using PaymentsKit.Ledger;
using PaymentsKit.Routing;
using PaymentsKit.Storage;
using PaymentsKit.Testing;

namespace PaymentsKit.Tests.Routing;

/// <summary>
/// The router's behaviour, written once against <see cref="IPaymentsStore"/>: each store runs it by deriving a
/// class that supplies the store. Every test has its own merchants and treasury tenant; chain health is global
/// per chain, so each test's clock starts later than any earlier test's (tests of a class run one at a time), and
/// its fresh snapshots are always the latest.
/// </summary>
public abstract partial class RoutingSpecification : IAsyncLifetime
{
    private static long _epoch;
    private IPaymentsStore? _store;
    private RoutingHarness? _router;

    protected static readonly ChainId Ethereum = RoutingHarness.Ethereum;
    protected static readonly ChainId Solana = RoutingHarness.Solana;

    protected ManualClock Clock { get; } = new(Instant.FromUtc(2026, 1, 1, 0, 0) + Duration.FromDays(20 * Interlocked.Increment(ref _epoch)));

    protected IPaymentsStore Store => _store ?? throw new InvalidOperationException("The store is created in InitializeAsync.");

    /// <summary>The default router of a test: both chains sampled healthy, wallets open and funded with 1,000 USDC each.</summary>
    protected RoutingHarness Router => _router ?? throw new InvalidOperationException("The router is created in InitializeAsync.");

    /// <summary>How many random operation sequences the treasury property tries.</summary>
    protected virtual int PropertyIterations => 40;

    /// <summary>How many intents the fault-injected simulated-chain run pushes through.</summary>
    protected virtual int SimulatedRunIntents => 40;

    public async Task InitializeAsync()
    {
        _store = await CreateStoreAsync();
        _router = await NewRouterAsync();
    }

    public Task DisposeAsync() => Task.CompletedTask;

    /// <summary>The store under test: a new one, or one shared by this class's tests only.</summary>
    protected abstract Task<IPaymentsStore> CreateStoreAsync();

    protected static Money Usdc(decimal amount) => RoutingHarness.Usdc(amount);

    /// <summary>Another router on the same store and clock with its own treasury, sampled and funded.</summary>
    protected async Task<RoutingHarness> NewRouterAsync(
        decimal ethereum = 1000m, decimal solana = 1000m, Action<RoutingOptions>? configure = null, Action<SimulatedChainOptions>? chains = null)
    {
        var router = new RoutingHarness(Store, Clock, configure, chains);
        await router.SampleAsync();
        await router.OpenAndFundAsync(ethereum, solana);
        return router;
    }

    protected static async Task<PaymentsKitException> FailsAsync(string code, Func<Task> action)
    {
        var ex = await Assert.ThrowsAsync<PaymentsKitException>(action);
        Assert.Equal(code, ex.Code);
        return ex;
    }

    /// <summary>Asserts an advance left the intent as it was.</summary>
    protected static void AssertUnchanged(PaymentIntent before, PaymentIntent after)
    {
        Assert.Equal(before.Status, after.Status);
        Assert.Equal(before.AttemptIds, after.AttemptIds);
        Assert.Equal(before.LastError, after.LastError);
        Assert.Equal(before.NextAttemptAt, after.NextAttemptAt);
        Assert.Equal(before.UpdatedAt, after.UpdatedAt);
    }

    /// <summary>Asserts a chain's treasury books balance and returns them.</summary>
    protected static async Task<TreasuryBook> BalancedBookAsync(RoutingHarness router, ChainId chain)
    {
        var book = await router.Treasury.GetBookAsync(chain);
        Assert.True(book.Balances, $"{chain}: available {book.Available} + reserved {book.Reserved} + spent {book.Spent} + fees {book.Fees} != funded {book.Funded}");
        Assert.False(book.Available.IsNegative, $"{chain} available is negative: {book.Available}");
        return book;
    }

    /// <summary>
    /// Asserts every intent is final, waiting for a route without holding anything, or holds an open reservation
    /// (its ledger transfer of amount + fee pending), and that the wallets' reserved balances are exactly what the open
    /// reservations hold.
    /// </summary>
    protected static async Task AssertEveryIntentAccountedAsync(RoutingHarness router, IEnumerable<PaymentIntent> intents)
    {
        var held = new Dictionary<ChainId, Money> { [Ethereum] = Usdc(0), [Solana] = Usdc(0) };
        foreach (var intent in intents)
        {
            var current = await router.Intents.GetAsync(intent.MerchantId, intent.Id);
            if (PaymentIntentLifecycle.Machine.IsTerminal(current.Status) || current.Status is PaymentIntentStatus.Created or PaymentIntentStatus.Quoted)
            {
                Assert.Null(current.Reservation);
                continue;
            }

            var reservation = Assert.IsType<TreasuryReservation>(current.Reservation);
            var transfer = await router.Ledger.GetTransferAsync(router.Treasury.Tenant, reservation.TransferId);
            Assert.Equal(LedgerTransferState.Pending, transfer.State);
            Assert.Equal(current.Amount + reservation.ReservedFee, transfer.Amount);
            Assert.Equal(transfer.Amount, reservation.Held);
            held[reservation.Chain] += transfer.Amount;
        }

        foreach (var (chain, amount) in held)
        {
            Assert.Equal(amount, (await BalancedBookAsync(router, chain)).Reserved);
        }
    }
}
