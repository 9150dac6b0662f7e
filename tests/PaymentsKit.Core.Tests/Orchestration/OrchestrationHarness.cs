using Microsoft.Extensions.DependencyInjection;
using NodaTime;
using PaymentsKit.Ledger;
using PaymentsKit.Orchestration;
using PaymentsKit.Storage;
using PaymentsKit.Testing;

namespace PaymentsKit.Tests.Orchestration;

/// <summary>The orchestration services wired by AddPaymentsKit over a given store, with simulated stripe and paypal providers.</summary>
public sealed class OrchestrationHarness : IDisposable
{
    public static readonly RequestContext Context = new("203.0.113.7", "orchestration-tests/1.0", Guid.Parse("0193a6b2-7c4d-7e8f-9a0b-1c2d3e4f5a6b"));

    private readonly ServiceProvider _services;

    private OrchestrationHarness(
        IPaymentsStore store, Action<OrchestrationOptions>? configure, SimulatedProviderOptions? stripeOptions, Func<IPaymentProvider, IPaymentProvider>? wrapStripe, IDueTransactionQueue? due)
    {
        Store = store;
        Clock = new ManualClock();
        Stripe = new SimulatedPaymentProvider(PaymentProvider.Stripe, Clock, stripeOptions);
        Paypal = new SimulatedPaymentProvider(PaymentProvider.Paypal, Clock);
        var services = new ServiceCollection();
        services.AddSingleton(store);
        if (due is not null)
        {
            services.AddSingleton(due);
        }

        var builder = services.AddPaymentsKit().UseClock(Clock).AddPaymentProvider(wrapStripe is null ? Stripe : wrapStripe(Stripe)).AddPaymentProvider(Paypal);
        if (configure is not null)
        {
            builder.ConfigureOrchestration(configure);
        }

        _services = services.BuildServiceProvider();
        Partners = _services.GetRequiredService<IPartnerService>();
        Transactions = _services.GetRequiredService<ITransactionService>();
        Refunds = _services.GetRequiredService<IRefundService>();
        Ledger = _services.GetRequiredService<ILedger>();
        Limiter = _services.GetRequiredService<IPartnerRateLimiter>();
    }

    public IPaymentsStore Store { get; }

    public ManualClock Clock { get; }

    public SimulatedPaymentProvider Stripe { get; }

    public SimulatedPaymentProvider Paypal { get; }

    public IPartnerService Partners { get; }

    public ITransactionService Transactions { get; }

    public IRefundService Refunds { get; }

    public ILedger Ledger { get; }

    public IPartnerRateLimiter Limiter { get; }

    /// <param name="wrapStripe">Wraps the simulated stripe provider the services call (to delay or lose its answers); <see cref="Stripe"/> stays the inner one.</param>
    /// <param name="due">The due transaction queue <see cref="ITransactionService.SyncDueAsync"/> claims from; by default the store scan.</param>
    public static OrchestrationHarness Create(
        IPaymentsStore store,
        Action<OrchestrationOptions>? configure = null,
        SimulatedProviderOptions? stripe = null,
        Func<IPaymentProvider, IPaymentProvider>? wrapStripe = null,
        IDueTransactionQueue? due = null) =>
        new(store, configure, stripe, wrapStripe, due);

    public static CreateTransactionRequest Request(string key, decimal amount = 100m, string currency = "USD", string provider = "stripe", string email = "alice@example.com") =>
        new(key, amount, currency, "card", provider, email) { CustomerName = "Alice", Description = "Order 42" };

    public async Task<Partner> NewPartnerAsync(string? email = null) =>
        (await Partners.CreateAsync(new CreatePartnerRequest("Acme", email ?? $"ops+{Guid.NewGuid():N}@acme.example"), Context)).Partner;

    public async Task<PaymentTransaction> CompletedAsync(Partner partner, decimal amount = 100m, string currency = "USD")
    {
        var tx = await Transactions.CreateAsync(partner.Id, Request(Guid.NewGuid().ToString("N"), amount, currency), Context);
        Assert.Equal(TransactionStatus.Completed, tx.Status);
        return tx;
    }

    /// <summary>Moves the clock past the webhook delay and delivers every due webhook of a provider.</summary>
    public async Task<int> DeliverWebhooksAsync(SimulatedPaymentProvider provider)
    {
        Clock.Advance(Duration.FromMinutes(1));
        var due = provider.TakeDueWebhooks();
        foreach (var webhook in due)
        {
            await Transactions.HandleProviderWebhookAsync(provider.Name, webhook.Payload, webhook.Headers, Context);
        }

        return due.Count;
    }

    /// <summary>Counts every orchestration record of a partner, to prove a rejected call wrote nothing.</summary>
    public async Task<RecordCounts> CountAsync(PartnerId partner)
    {
        await using var unit = await Store.BeginAsync();
        return new RecordCounts(
            await CountAsync(unit, OrchestrationCollections.Transactions, partner.Value),
            await CountAsync(unit, OrchestrationCollections.Events, partner.Value),
            await CountAsync(unit, OrchestrationCollections.Refunds, partner.Value),
            await CountAsync(unit, OrchestrationCollections.AuditLogs, partner.Value));
    }

    public async Task<IReadOnlyList<AuditLogEntry>> AuditAsync(PartnerId partner)
    {
        var page = await Partners.ListAuditLogAsync(partner, null, 1000);
        return page.Items;
    }

    /// <summary>The posted balance of a ledger account of the partner's books (zero if it was never opened).</summary>
    public async Task<decimal> BalanceAsync(PartnerId partner, string code)
    {
        var account = await Ledger.FindAccountByCodeAsync(MerchantId.FromGuid(partner.Value), code);
        return account is null ? 0m : account.Balance.Posted.Amount;
    }

    public void Dispose() => _services.Dispose();

    private static async Task<int> CountAsync<T>(IUnitOfWork unit, RecordCollection<T> collection, Guid tenant)
        where T : class
    {
        var count = 0;
        string? cursor = null;
        do
        {
            var page = await unit.ListAsync(collection, tenant, cursor, 1000);
            count += page.Items.Count;
            cursor = page.NextCursor;
        }
        while (cursor is not null);
        return count;
    }
}

public sealed record RecordCounts(int Transactions, int Events, int Refunds, int AuditEntries);
