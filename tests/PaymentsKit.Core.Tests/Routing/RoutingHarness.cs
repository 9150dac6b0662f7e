using System.Collections.Concurrent;
using System.Numerics;
using System.Security.Cryptography;
using Microsoft.Extensions.Options;
using NodaTime;
using PaymentsKit.Chains;
using PaymentsKit.Json;
using PaymentsKit.Ledger;
using PaymentsKit.Routing;
using PaymentsKit.Security;
using PaymentsKit.Storage;
using PaymentsKit.Testing;
using PaymentsKit.Webhooks;

namespace PaymentsKit.Tests.Routing;

/// <summary>
/// The router wired over a store: simulated Ethereum and Solana chains (each with a primary and a backup RPC
/// provider over the same chain), prices, a treasury of its own (a fresh ledger tenant), and every routing service.
/// </summary>
public sealed class RoutingHarness
{
    public static readonly ChainId Ethereum = ChainId.Ethereum;
    public static readonly ChainId Solana = ChainId.Solana;

    public RoutingHarness(
        IPaymentsStore store, ManualClock clock, Action<RoutingOptions>? configure = null, Action<SimulatedChainOptions>? chains = null, IDuePaymentIntentQueue? due = null)
    {
        Store = store;
        Clock = clock;
        Options = new RoutingOptions { TreasuryTenant = MerchantId.FromGuid(Guid.CreateVersion7()) };
        Options.NativeAssetPrices["ETH"] = 2000m;
        Options.NativeAssetPrices["SOL"] = 100m;
        configure?.Invoke(Options);
        var options = Microsoft.Extensions.Options.Options.Create(Options);

        EthereumChain = new SimulatedChain(Configure(new SimulatedChainOptions { Chain = Ethereum, BlockTime = Duration.FromSeconds(12), FinalityConfirmations = 3, Seed = 11 }, chains), clock);
        SolanaChain = new SimulatedChain(Configure(new SimulatedChainOptions { Chain = Solana, BlockTime = Duration.FromSeconds(1), FinalityConfirmations = 2, TransferFee = 0.000005m, Seed = 12 }, chains), clock);
        EthereumPrimary = new TestProvider(EthereumChain);
        SolanaPrimary = new TestProvider(SolanaChain);
        EthereumBackup = new TestProvider(EthereumChain);
        SolanaBackup = new TestProvider(SolanaChain);
        Registry = new ChainAdapterRegistry([EthereumPrimary, SolanaPrimary]);
        Providers = new RoutingRpcProviders(Registry, [new RoutingRpcProvider(Ethereum, "backup", EthereumBackup), new RoutingRpcProvider(Solana, "backup", SolanaBackup)]);
        Ledger = new LedgerService(store, clock, Assets);
        Outbox = new WebhookOutbox(store, clock, Json);
        Prices = new ConfiguredFeePriceSource(options);
        Merchants = new RoutingMerchantService(store, clock, new ApiKeyHasher(new byte[32]));
        Health = new ChainHealthService(store, clock, Providers, Prices, Assets, options);
        Treasury = new TreasuryService(store, Ledger, Providers, Assets, options);
        Quotes = new QuoteService(store, clock, Providers, Prices, Treasury, options);
        Signer = new SimulatedTransactionSigner("harness-" + Guid.NewGuid().ToString("N")[..12]);
        Intents = Sweeper(due);
    }

    public static AssetRegistry Assets { get; } = new();

    public static PaymentsKitJsonOptions Json { get; } = new(PaymentsKitJson.CreateOptions(Assets));

    public IPaymentsStore Store { get; }

    public ManualClock Clock { get; }

    public RoutingOptions Options { get; }

    public SimulatedChain EthereumChain { get; }

    public SimulatedChain SolanaChain { get; }

    /// <summary>The registry's (primary) RPC provider of each chain: the simulated chain, passed through unless told otherwise.</summary>
    public TestProvider EthereumPrimary { get; }

    public TestProvider SolanaPrimary { get; }

    public TestProvider EthereumBackup { get; }

    public TestProvider SolanaBackup { get; }

    /// <summary>The next <paramref name="reads"/> reads through every Solana provider fail: the chain cannot be asked.</summary>
    public void CutOffSolanaReads(int reads = 1_000)
    {
        SolanaPrimary.FailReads(reads);
        SolanaBackup.FailReads(reads);
    }

    public ChainAdapterRegistry Registry { get; }

    public RoutingRpcProviders Providers { get; }

    public LedgerService Ledger { get; }

    public WebhookOutbox Outbox { get; }

    public ConfiguredFeePriceSource Prices { get; }

    public RoutingMerchantService Merchants { get; }

    public ChainHealthService Health { get; }

    public TreasuryService Treasury { get; }

    public QuoteService Quotes { get; }

    public SimulatedTransactionSigner Signer { get; }

    public PaymentIntentService Intents { get; }

    public static Money Usdc(decimal amount) => Money.Of(amount, AssetRegistry.Usdc);

    /// <summary>Another intent service over this harness's store, chains and treasury, as a second host would run it.</summary>
    public PaymentIntentService Sweeper(IDuePaymentIntentQueue? due) =>
        new(Store, Clock, Treasury, Providers, Outbox, Microsoft.Extensions.Options.Options.Create(Options), Signer, null, due);

    public SimulatedChain Chain(ChainId chain) => chain == Ethereum ? EthereumChain : SolanaChain;

    /// <summary>Each harness gets its own wallet addresses, so chains shared by earlier harnesses never mix balances.</summary>
    public string WalletAddress(ChainId chain) => $"treasury-{chain}-{Options.TreasuryTenant.Value:N}";

    /// <summary>Opens both wallets and funds them in the ledger and on chain (the USDC and the native fee asset).</summary>
    public async Task OpenAndFundAsync(decimal ethereum, decimal solana)
    {
        foreach (var (chain, amount) in new[] { (Ethereum, ethereum), (Solana, solana) })
        {
            await Treasury.OpenWalletAsync(chain, WalletAddress(chain));
            if (amount > 0)
            {
                await Treasury.FundAsync(chain, Usdc(amount));
                Chain(chain).Fund(WalletAddress(chain), Usdc(amount));
            }

            Chain(chain).Fund(WalletAddress(chain), Money.Of(1000m, Chain(chain).NativeAsset));
        }
    }

    public async Task<MerchantId> MerchantAsync() => (await Merchants.CreateAsync(new CreateRoutingMerchantRequest("Shop " + Guid.NewGuid().ToString("N")[..6]))).Merchant.Id;

    /// <summary>Probes both chains and stores their snapshots.</summary>
    public Task SampleAsync() => Health.SampleHealthAsync().AsTask();

    public async Task<Quote> QuoteAsync(MerchantId merchant, decimal amount, RoutePriority priority = RoutePriority.LowFee, params ChainId[] chains)
    {
        if (chains.Length == 0)
        {
            chains = [Ethereum, Solana];
        }

        return await Quotes.CreateAsync(merchant, new CreateQuoteRequest(Usdc(amount), priority, [.. chains.Select(c => new QuoteDestination(c, "payee-" + c))]));
    }

    public async Task<PaymentIntent> IntentAsync(MerchantId merchant, decimal amount, ChainId? chain = null, string? key = null)
    {
        var quote = chain is { } only ? await QuoteAsync(merchant, amount, RoutePriority.LowFee, only) : await QuoteAsync(merchant, amount);
        return await Intents.CreateAsync(merchant, new CreatePaymentIntentRequest(quote.Id, key ?? Guid.NewGuid().ToString("N")));
    }

    /// <summary>Advances an intent, moving the clock between steps, until it is final or in manual review.</summary>
    public async Task<PaymentIntent> RunToEndAsync(PaymentIntent intent, int maxSteps = 200)
    {
        for (var step = 0; step < maxSteps; step++)
        {
            if (PaymentIntentLifecycle.Machine.IsTerminal(intent.Status) || intent.Status == PaymentIntentStatus.ManualReview)
            {
                return intent;
            }

            intent = await Intents.AdvanceAsync(intent.Id);
            Clock.Advance(Duration.FromSeconds(5));
        }

        throw new InvalidOperationException($"Intent {intent.Id} did not finish in {maxSteps} steps; it is {intent.Status}.");
    }

    /// <summary>The events of a merchant's intent, oldest first.</summary>
    public async Task<List<WebhookEvent>> EventsAsync(MerchantId merchant, PaymentIntentId intent)
    {
        var events = new List<WebhookEvent>();
        string? cursor = null;
        do
        {
            var page = await Outbox.ListAsync(merchant.Value, cursor, 1000);
            events.AddRange(page.Items.Where(e => e.ResourceId == intent.ToString()));
            cursor = page.NextCursor;
        }
        while (cursor is not null);

        return events;
    }

    public Money OnChain(ChainId chain, string address, Asset asset) => Chain(chain).GetBalance(address, asset);

    private static SimulatedChainOptions Configure(SimulatedChainOptions options, Action<SimulatedChainOptions>? configure)
    {
        configure?.Invoke(options);
        return options;
    }
}

/// <summary>An RPC provider of a simulated chain: passes everything through, failing or holding broadcasts on demand.</summary>
public sealed class TestProvider(IChainAdapter inner) : IChainAdapter
{
    private readonly ConcurrentDictionary<string, SignedTransaction> _held = new(StringComparer.Ordinal);
    private int _holdBroadcasts;
    private int _failBroadcasts;
    private int _rejectBroadcasts;
    private int _failReads;
    private int _missReads;
    private int _crashBroadcasts;
    private int _deliverThenFailBroadcasts;

    public ChainId Chain => inner.Chain;

    /// <summary>Whether this provider's adapter cannot tell a transaction's hash from its bytes, as a host's own adapter may not.</summary>
    public bool HidesHashes { get; set; }

    /// <summary>
    /// The next broadcasts are accepted but stay in this provider's mempool: read through it, the chain reports them
    /// pending (known, not included) until <see cref="ReleaseHeldAsync"/> sends them on, as a congested chain would.
    /// </summary>
    public void HoldBroadcasts(int count) => Interlocked.Add(ref _holdBroadcasts, count);

    /// <summary>Sends the held transactions on to the chain, which includes them in its next block.</summary>
    public async Task ReleaseHeldAsync()
    {
        foreach (var hash in _held.Keys)
        {
            if (_held.TryRemove(hash, out var transaction))
            {
                await inner.BroadcastAsync(transaction);
            }
        }
    }

    public void FailBroadcasts(int count) => Interlocked.Add(ref _failBroadcasts, count);

    /// <summary>The next broadcasts reach the chain, but their RPC calls fail (a timeout after the node took the transaction).</summary>
    public void DeliverThenFailBroadcasts(int count) => Interlocked.Add(ref _deliverThenFailBroadcasts, count);

    public void RejectBroadcasts(int count) => Interlocked.Add(ref _rejectBroadcasts, count);

    public void FailReads(int count) => Interlocked.Add(ref _failReads, count);

    /// <summary>The next reads answer "not found" whatever the chain knows, as a node lagging behind it does.</summary>
    public void MissReads(int count) => Interlocked.Add(ref _missReads, count);

    /// <summary>The next broadcasts throw what no adapter should: as if the worker process died mid-call.</summary>
    public void CrashBroadcasts(int count) => Interlocked.Add(ref _crashBroadcasts, count);

    /// <summary>Runs at each transaction read before it is answered: a slow provider, whose test moves the clock by how long it takes.</summary>
    public Action? OnRead { get; set; }

    public ChainAddress ParseAddress(string? text) => inner.ParseAddress(text);

    public bool TryParseAddress(string? text, out ChainAddress address) => inner.TryParseAddress(text, out address);

    public BigInteger ToBaseUnits(Money amount) => inner.ToBaseUnits(amount);

    public Money FromBaseUnits(BigInteger units, Asset asset) => inner.FromBaseUnits(units, asset);

    public string? TransactionHashOf(ReadOnlySpan<byte> signedTransaction) => HidesHashes ? null : inner.TransactionHashOf(signedTransaction);

    public ValueTask<ChainTransaction?> GetTransactionAsync(string transactionHash, CancellationToken cancellationToken = default)
    {
        OnRead?.Invoke();
        if (Take(ref _failReads))
        {
            throw ChainErrors.Unavailable(Chain, "getTransaction", "backup provider down", transient: true);
        }

        if (Take(ref _missReads))
        {
            return ValueTask.FromResult<ChainTransaction?>(null);
        }

        return _held.ContainsKey(transactionHash)
            ? ValueTask.FromResult<ChainTransaction?>(new ChainTransaction(transactionHash, Chain, ChainTransactionStatus.Pending, 0, false, null, null, null, []))
            : inner.GetTransactionAsync(transactionHash, cancellationToken);
    }

    public ValueTask<FeeEstimate> EstimateFeeAsync(Asset asset, CancellationToken cancellationToken = default) => inner.EstimateFeeAsync(asset, cancellationToken);

    public ValueTask<ChainHealthSample> ProbeHealthAsync(CancellationToken cancellationToken = default) => inner.ProbeHealthAsync(cancellationToken);

    public async ValueTask<BroadcastResult> BroadcastAsync(SignedTransaction transaction, CancellationToken cancellationToken = default)
    {
        if (Take(ref _deliverThenFailBroadcasts))
        {
            await inner.BroadcastAsync(transaction, cancellationToken);
            throw ChainErrors.Unavailable(Chain, "broadcast", "timed out after the node took the transaction", transient: true);
        }

        return await SendAsync(transaction, cancellationToken);
    }

    private ValueTask<BroadcastResult> SendAsync(SignedTransaction transaction, CancellationToken cancellationToken)
    {
        if (Take(ref _crashBroadcasts))
        {
            throw new InvalidOperationException("worker crashed");
        }

        if (Take(ref _rejectBroadcasts))
        {
            throw ChainErrors.TransactionRejected(Chain, transaction.Hash, "insufficient gas for intrinsic cost");
        }

        if (Take(ref _failBroadcasts))
        {
            throw ChainErrors.Unavailable(Chain, "broadcast", "backup provider timed out", transient: true);
        }

        var hash = transaction.Hash ?? Convert.ToHexStringLower(SHA256.HashData(transaction.Payload.Span));
        if (_held.ContainsKey(hash))
        {
            return ValueTask.FromResult(new BroadcastResult(hash, AlreadyKnown: true));
        }

        if (Take(ref _holdBroadcasts))
        {
            _held[hash] = transaction;
            return ValueTask.FromResult(new BroadcastResult(hash, AlreadyKnown: false));
        }

        return inner.BroadcastAsync(transaction, cancellationToken);
    }

    private static bool Take(ref int counter)
    {
        while (true)
        {
            var current = Volatile.Read(ref counter);
            if (current == 0)
            {
                return false;
            }

            if (Interlocked.CompareExchange(ref counter, current - 1, current) == current)
            {
                return true;
            }
        }
    }
}
