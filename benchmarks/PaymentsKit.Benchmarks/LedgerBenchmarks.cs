using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Engines;
using NodaTime;
using PaymentsKit.Ledger;
using PaymentsKit.Storage;

namespace PaymentsKit.Benchmarks;

/// <summary>
/// The ledger on the in-memory store, one operation per invocation. The store is rebuilt before
/// every iteration so its size (and memory) stays bounded by the invocation count.
/// </summary>
[MemoryDiagnoser]
[SimpleJob(RunStrategy.Throughput, launchCount: 1, warmupCount: 2, iterationCount: 8, invocationCount: 50_000)]
public class LedgerBenchmarks
{
    private static readonly Money Cent = Money.Of(0.01m, AssetRegistry.Usd);
    private LedgerService _ledger = null!;
    private MerchantId _tenant;
    private LedgerAccountId _customer;
    private LedgerAccountId _merchant;
    private PostLedgerTransactionRequest _transfer = null!;
    private PostLedgerTransactionRequest _split = null!;
    private ReserveLedgerTransferRequest _reservation = null!;

    [IterationSetup]
    public void SetUp() => SetUpAsync().AsTask().GetAwaiter().GetResult();

    /// <summary>A balanced two-posting transfer: 2 account updates, 1 transaction, 2 entries.</summary>
    [Benchmark(Baseline = true)]
    public ValueTask<LedgerTransaction> PostTransfer() => _ledger.PostTransactionAsync(_tenant, _transfer);

    /// <summary>A three-posting payment with a fee and a reference (which advances the reference's counter).</summary>
    [Benchmark]
    public ValueTask<LedgerTransaction> PostPaymentWithFee() => _ledger.PostTransactionAsync(_tenant, _split);

    /// <summary>A reservation (pending transfer) on a no-overdraft account.</summary>
    [Benchmark]
    public ValueTask<LedgerTransfer> Reserve() => _ledger.ReserveAsync(_tenant, _reservation);

    /// <summary>A two-phase transfer: reserve then post.</summary>
    [Benchmark]
    public async ValueTask<LedgerTransfer> ReserveAndPost()
    {
        var hold = await _ledger.ReserveAsync(_tenant, _reservation);
        return await _ledger.PostTransferAsync(_tenant, hold.Id);
    }

    private async ValueTask SetUpAsync()
    {
        var clock = SystemClock.Instance;
        _ledger = new LedgerService(new InMemoryStore(), clock, new AssetRegistry());
        _tenant = MerchantId.New(clock);
        var cash = await Open("cash", LedgerSide.Debit, LedgerAccountFlags.None);
        _customer = await Open("customer", LedgerSide.Credit, LedgerAccountFlags.DebitsMustNotExceedCredits);
        _merchant = await Open("merchant", LedgerSide.Credit, LedgerAccountFlags.None);
        var fees = await Open("fees", LedgerSide.Credit, LedgerAccountFlags.None);
        var funding = Money.Of(1_000_000_000m, AssetRegistry.Usd);
        await _ledger.PostTransactionAsync(_tenant, new PostLedgerTransactionRequest([LedgerPosting.Debit(cash, funding), LedgerPosting.Credit(_customer, funding)]));
        _transfer = new PostLedgerTransactionRequest([LedgerPosting.Debit(_customer, Cent), LedgerPosting.Credit(_merchant, Cent)]);
        _split = new PostLedgerTransactionRequest(
        [
            LedgerPosting.Debit(_customer, Money.Of(1m, AssetRegistry.Usd)),
            LedgerPosting.Credit(_merchant, Money.Of(0.97m, AssetRegistry.Usd)),
            LedgerPosting.Credit(fees, Money.Of(0.03m, AssetRegistry.Usd)),
        ]) { EntryType = LedgerEntryType.Fee, Reference = "pi_bench" };
        _reservation = new ReserveLedgerTransferRequest(_customer, _merchant, Cent);

        async ValueTask<LedgerAccountId> Open(string code, LedgerSide side, LedgerAccountFlags flags) =>
            (await _ledger.CreateAccountAsync(_tenant, new CreateLedgerAccountRequest(code, code, AssetRegistry.Usd, side) { Flags = flags })).Id;
    }
}
