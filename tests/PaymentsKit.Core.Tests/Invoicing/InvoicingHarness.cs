using System.Collections.Concurrent;
using System.Numerics;
using System.Security.Cryptography;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using NodaTime;
using PaymentsKit.Chains;
using PaymentsKit.DependencyInjection;
using PaymentsKit.Invoicing;
using PaymentsKit.Ledger;
using PaymentsKit.Storage;
using PaymentsKit.Testing;

namespace PaymentsKit.Tests.Invoicing;

/// <summary>
/// PaymentsKit wired for invoicing tests: a given store, a manual clock and a simulated Stellar chain
/// (block every 5 s, final after 3 confirmations).
/// </summary>
internal sealed class InvoicingHarness : IDisposable
{
    public static readonly Asset Xlm = AssetRegistry.Xlm;
    public static readonly Asset Usdc = AssetRegistry.Usdc;

    /// <summary>Long enough for a transaction sent now to be final.</summary>
    public static readonly Duration ToFinality = Duration.FromSeconds(20);

    private static int _wallets;

    private readonly ServiceProvider _provider;

    private readonly ConcurrentDictionary<string, IReadOnlyList<ChainTransfer>> _extraTransfers;

    private InvoicingHarness(ServiceProvider provider, ManualClock clock, ConcurrentDictionary<string, IReadOnlyList<ChainTransfer>> extraTransfers)
    {
        _provider = provider;
        Clock = clock;
        _extraTransfers = extraTransfers;
        Chain = _provider.GetRequiredKeyedService<SimulatedChain>(ChainId.Stellar.Value);
    }

    public ManualClock Clock { get; }

    public SimulatedChain Chain { get; }

    public IServiceProvider Services => _provider;

    public IPaymentsStore Store => _provider.GetRequiredService<IPaymentsStore>();

    public IMerchantService Merchants => _provider.GetRequiredService<IMerchantService>();

    public IApiKeyService ApiKeys => _provider.GetRequiredService<IApiKeyService>();

    public IInvoiceService Invoices => _provider.GetRequiredService<IInvoiceService>();

    public IPaymentLinkService Links => _provider.GetRequiredService<IPaymentLinkService>();

    public IPaymentService Payments => _provider.GetRequiredService<IPaymentService>();

    public ILedger Ledger => _provider.GetRequiredService<ILedger>();

    /// <summary>Wires PaymentsKit; <paramref name="useStore"/> registers the store (AddPaymentsKit's default is a new in-memory store).</summary>
    public static async Task<InvoicingHarness> CreateAsync(Func<PaymentsKitBuilder, Task> useStore, Action<InvoicingOptions>? configure = null)
    {
        var clock = new ManualClock();
        var services = new ServiceCollection();
        var kit = services.AddPaymentsKit(o => o.ApiKeyHashingSecret = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)))
            .UseClock(clock)
            .AddSimulatedChain(ChainId.Stellar)
            .ConfigureInvoicing(o => configure?.Invoke(o));
        await useStore(kit);

        // The simulated chain's transactions move one amount; this lets a test add transfers to one (see PayMany).
        var extraTransfers = new ConcurrentDictionary<string, IReadOnlyList<ChainTransfer>>(StringComparer.Ordinal);
        services.AddSingleton<IChainAdapterRegistry>(provider => new ChainAdapterRegistry(
            [new TransferAddingChain(provider.GetRequiredKeyedService<SimulatedChain>(ChainId.Stellar.Value), extraTransfers)]));
        return new InvoicingHarness(services.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true }), clock, extraTransfers);
    }

    public static string NewWallet(string prefix = "wallet") => $"{prefix}-{Interlocked.Increment(ref _wallets)}";

    public async Task<Merchant> MerchantAsync(string? email = null) =>
        await Merchants.RegisterMerchantAsync(new RegisterMerchantRequest("stellar", NewWallet("merchant")) { Email = email });

    public async Task<Invoice> InvoiceAsync(Merchant merchant, decimal amount = 100m, Asset? asset = null, ClientId? client = null, string? memo = null) =>
        await Invoices.CreateInvoiceAsync(merchant.Id, new CreateInvoiceRequest(amount, (asset ?? Xlm).Code, "Consulting") { ClientId = client, Memo = memo });

    /// <summary>An invoice of <paramref name="amount"/> XLM that received <paramref name="paid"/> XLM in one final payment.</summary>
    public async Task<Invoice> PaidInvoiceAsync(Merchant merchant, decimal amount, decimal paid)
    {
        var invoice = await InvoiceAsync(merchant, amount);
        await SubmitAsync(merchant, Pay(merchant.WalletAddress, paid, memo: invoice.Memo));
        return invoice;
    }

    public async Task<PaymentLink> LinkAsync(Merchant merchant, decimal amount = 10m, int? maxUses = null, Instant? expiresAt = null) =>
        await Links.CreatePaymentLinkAsync(merchant.Id, new CreatePaymentLinkRequest("Ticket", amount, Xlm.Code) { MaxUses = maxUses, ExpiresAt = expiresAt });

    /// <summary>Sends a payment on the simulated chain without waiting for it to be final.</summary>
    public string Send(string to, decimal amount, Asset? asset = null, string? memo = null, string from = "payer-1") =>
        Chain.SimulateIncomingPayment(from, to, Money.Of(amount, asset ?? Xlm), memo);

    /// <summary>Sends a payment on the simulated chain and moves the clock until it is final.</summary>
    public string Pay(string to, decimal amount, Asset? asset = null, string? memo = null, string from = "payer-1")
    {
        var hash = Send(to, amount, asset, memo, from);
        Clock.Advance(ToFinality);
        return hash;
    }

    /// <summary>
    /// Sends one transaction moving several amounts to <paramref name="to"/> (as a Stellar transaction with several payment
    /// operations does) and moves the clock until it is final.
    /// </summary>
    public string PayMany(string to, string? memo, params Money[] amounts)
    {
        var hash = Send(to, amounts[0].Amount, amounts[0].Asset, memo);
        _extraTransfers[hash] = [.. amounts.Skip(1).Select(a => new ChainTransfer(a, "payer-1", to))];
        Clock.Advance(ToFinality);
        return hash;
    }

    public async Task<PaymentResult> SubmitAsync(Merchant merchant, string hash, InvoiceId? invoice = null, string? slug = null) =>
        await Payments.SubmitPaymentAsync(merchant.Id, new SubmitPaymentRequest(hash) { InvoiceId = invoice, LinkSlug = slug });

    /// <summary>The posted balance of one of the merchant's invoicing ledger accounts (zero if never opened).</summary>
    public async Task<Money> BalanceAsync(Merchant merchant, string code, Asset asset)
    {
        var account = await Ledger.FindAccountByCodeAsync(merchant.Id, code);
        return account is null ? Money.Zero(asset) : (await Ledger.GetBalanceAsync(merchant.Id, account.Id)).Posted;
    }

    /// <summary>Every payment of the merchant, in creation order.</summary>
    public async Task<List<Payment>> AllPaymentsAsync(Merchant merchant)
    {
        var all = new List<Payment>();
        string? cursor = null;
        do
        {
            var page = await Payments.ListPaymentsAsync(merchant.Id, cursor, 1000);
            all.AddRange(page.Items);
            cursor = page.NextCursor;
        }
        while (cursor is not null);
        return all;
    }

    public void Dispose() => _provider.Dispose();
}

/// <summary>The simulated chain, reporting the transfers a test added to a transaction after its own.</summary>
internal sealed class TransferAddingChain(SimulatedChain inner, ConcurrentDictionary<string, IReadOnlyList<ChainTransfer>> extraTransfers) : IChainAdapter
{
    public ChainId Chain => inner.Chain;

    public ChainAddress ParseAddress(string? text) => inner.ParseAddress(text);

    public bool TryParseAddress(string? text, out ChainAddress address) => inner.TryParseAddress(text, out address);

    public BigInteger ToBaseUnits(Money amount) => inner.ToBaseUnits(amount);

    public Money FromBaseUnits(BigInteger units, Asset asset) => inner.FromBaseUnits(units, asset);

    public string NormalizeTransactionHash(string transactionHash) => ((IChainAdapter)inner).NormalizeTransactionHash(transactionHash);

    public async ValueTask<ChainTransaction?> GetTransactionAsync(string transactionHash, CancellationToken cancellationToken = default)
    {
        var transaction = await inner.GetTransactionAsync(transactionHash, cancellationToken);
        return transaction is not null && extraTransfers.TryGetValue(transactionHash, out var extra)
            ? transaction with { Transfers = [.. transaction.Transfers, .. extra] }
            : transaction;
    }

    public ValueTask<FeeEstimate> EstimateFeeAsync(Asset asset, CancellationToken cancellationToken = default) => inner.EstimateFeeAsync(asset, cancellationToken);

    public ValueTask<ChainHealthSample> ProbeHealthAsync(CancellationToken cancellationToken = default) => inner.ProbeHealthAsync(cancellationToken);

    public ValueTask<BroadcastResult> BroadcastAsync(SignedTransaction transaction, CancellationToken cancellationToken = default) => inner.BroadcastAsync(transaction, cancellationToken);
}

/// <summary>
/// The base of the store-dependent invoicing tests: each test starts with a harness on a store of its
/// own, as empty as a new in-memory store; a subclass says which store.
/// </summary>
public abstract class InvoicingStoreTests : IAsyncLifetime
{
    /// <summary>The test's harness, created in <see cref="InitializeAsync"/>.</summary>
    private protected InvoicingHarness _kit = null!;

    /// <summary>Registers the store a new harness runs on; called once per harness, each time for an empty store.</summary>
    protected abstract Task UseStoreAsync(PaymentsKitBuilder kit);

    /// <summary>A further harness on a store of its own, for tests that need other options or many stores.</summary>
    private protected Task<InvoicingHarness> HarnessAsync(Action<InvoicingOptions>? configure = null) => InvoicingHarness.CreateAsync(UseStoreAsync, configure);

    public async Task InitializeAsync() => _kit = await HarnessAsync();

    public Task DisposeAsync()
    {
        _kit.Dispose();
        return Task.CompletedTask;
    }
}

/// <summary>Assertions on error codes of async calls.</summary>
internal static class AsyncAssert
{
    public static async Task<PaymentsKitException> ThrowsCodeAsync(string code, Func<Task> action)
    {
        var ex = await Assert.ThrowsAsync<PaymentsKitException>(action);
        Assert.Equal(code, ex.Code);
        return ex;
    }
}

/// <summary>A store in front of another that counts the records its units of work list, to show what a read walks.</summary>
internal sealed class ListCountingStore(IPaymentsStore inner, ListCountingStore.Counter counter) : IPaymentsStore
{
    /// <summary>Puts a counting store in front of the store <paramref name="services"/> registered; returns its counter.</summary>
    public static Counter Decorate(IServiceCollection services)
    {
        var counter = new Counter();
        var registered = services.Last(d => d.ServiceType == typeof(IPaymentsStore));
        services.Replace(ServiceDescriptor.Singleton<IPaymentsStore>(provider => new ListCountingStore(
            (IPaymentsStore)(registered.ImplementationInstance
                ?? registered.ImplementationFactory?.Invoke(provider)
                ?? ActivatorUtilities.CreateInstance(provider, registered.ImplementationType!)),
            counter)));
        return counter;
    }

    public async ValueTask<IUnitOfWork> BeginAsync(CancellationToken cancellationToken = default) =>
        new Unit(await inner.BeginAsync(cancellationToken), counter);

    /// <summary>How many records the units listed since the last <see cref="Reset"/>.</summary>
    internal sealed class Counter
    {
        private int _listed;

        public int Listed => Volatile.Read(ref _listed);

        public void Reset() => Volatile.Write(ref _listed, 0);

        public Page<Versioned<T>> Add<T>(Page<Versioned<T>> page)
            where T : class
        {
            Interlocked.Add(ref _listed, page.Items.Count);
            return page;
        }
    }

    private sealed class Unit(IUnitOfWork unit, Counter counter) : IUnitOfWork
    {
        public ValueTask<Versioned<T>?> GetAsync<T>(RecordCollection<T> collection, Guid tenantId, Guid id, CancellationToken cancellationToken = default)
            where T : class => unit.GetAsync(collection, tenantId, id, cancellationToken);

        public ValueTask<Versioned<T>?> FindAsync<T>(RecordCollection<T> collection, Guid tenantId, string uniqueKey, string value, CancellationToken cancellationToken = default)
            where T : class => unit.FindAsync(collection, tenantId, uniqueKey, value, cancellationToken);

        public async ValueTask<Page<Versioned<T>>> ListAsync<T>(RecordCollection<T> collection, Guid tenantId, string? cursor, int limit, CancellationToken cancellationToken = default)
            where T : class => counter.Add(await unit.ListAsync(collection, tenantId, cursor, limit, cancellationToken));

        public async ValueTask<Page<Versioned<T>>> ListByAsync<T>(
            RecordCollection<T> collection, Guid tenantId, string index, Guid value, string? cursor, int limit, CancellationToken cancellationToken = default)
            where T : class => counter.Add(await unit.ListByAsync(collection, tenantId, index, value, cursor, limit, cancellationToken));

        public ValueTask PrefetchAsync(IReadOnlyList<RecordRef> records, CancellationToken cancellationToken = default) => unit.PrefetchAsync(records, cancellationToken);

        public void Insert<T>(RecordCollection<T> collection, T record)
            where T : class => unit.Insert(collection, record);

        public void Update<T>(RecordCollection<T> collection, T record, long expectedVersion)
            where T : class => unit.Update(collection, record, expectedVersion);

        public void Update<T>(RecordCollection<T> collection, T record, Versioned<T> read)
            where T : class => unit.Update(collection, record, read);

        public ValueTask CommitAsync(CancellationToken cancellationToken = default) => unit.CommitAsync(cancellationToken);

        public ValueTask DisposeAsync() => unit.DisposeAsync();
    }
}
