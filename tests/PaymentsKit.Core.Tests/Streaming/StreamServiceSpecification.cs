using System.Diagnostics.CodeAnalysis;
using NodaTime;
using PaymentsKit.Chains;
using PaymentsKit.Ledger;
using PaymentsKit.Storage;
using PaymentsKit.Streaming;
using PaymentsKit.Testing;

namespace PaymentsKit.Tests.Streaming;

/// <summary>
/// The stream service's behaviour, written once against <see cref="IPaymentsStore"/>: each store runs it
/// by deriving a class that supplies the store. Every test works in its own fresh tenant, so a store may
/// be shared by the tests of a class (the completion sweep spans tenants, so tests count only their own).
/// </summary>
public abstract partial class StreamServiceSpecification : IAsyncLifetime
{
    /// <summary>The chain whose adapter validates addresses in these tests: Stellar, simulated, addresses upper-cased.</summary>
    protected static readonly IChainAdapterRegistry Chains = new ChainAdapterRegistry(
        [new SimulatedChain(new SimulatedChainOptions { Chain = ChainId.Stellar, AddressCodec = new UpperCaseCodec() }, new ManualClock())]);

    private IPaymentsStore? _store;
    private LedgerService? _ledger;
    private StreamService? _streams;

    /// <summary>The built-in assets (every store can read them back).</summary>
    protected static AssetRegistry Assets { get; } = new();

    protected ManualClock Clock { get; } = new();

    protected IPaymentsStore Store => _store ?? throw new InvalidOperationException("The store is created in InitializeAsync.");

    protected LedgerService Ledger => _ledger ??= new LedgerService(Store, Clock, Assets);

    protected StreamService Streams => _streams ??= new StreamService(Store, Ledger, Clock, Assets, Chains);

    protected MerchantId Tenant { get; } = MerchantId.FromGuid(Guid.CreateVersion7());

    protected MerchantId OtherTenant { get; } = MerchantId.FromGuid(Guid.CreateVersion7());

    protected static StreamAction By { get; } = new("tester");

    protected Instant Now => Clock.GetCurrentInstant();

    /// <summary>How many random schedules the single-stream property tries.</summary>
    protected virtual int PropertyIterations => 120;

    public async Task InitializeAsync() => _store = await CreateStoreAsync();

    public virtual Task DisposeAsync() => Task.CompletedTask;

    /// <summary>The store under test: a new one, or one shared by this class's tests only.</summary>
    protected abstract Task<IPaymentsStore> CreateStoreAsync();

    /// <summary>
    /// The store another host sharing the test's data would use: the same one in memory (one process cannot have two
    /// in-memory stores over one set of data); on PostgreSQL another store object over the same database.
    /// </summary>
    protected virtual Task<IPaymentsStore> CreateOtherHostStoreAsync() => Task.FromResult(Store);

    /// <summary>Another host's ledger and stream service over <see cref="CreateOtherHostStoreAsync"/>, on the test's clock.</summary>
    protected async Task<(LedgerService Ledger, StreamService Streams)> OtherHostAsync()
    {
        var store = await CreateOtherHostStoreAsync();
        var ledger = new LedgerService(store, Clock, Assets);
        return (ledger, new StreamService(store, ledger, Clock, Assets, Chains));
    }

    protected static Money Usdc(decimal amount) => Money.Of(amount, AssetRegistry.Usdc);

    /// <summary>A payer's funding account (never overdrawn) funded from cash, and a payout account, in one asset.</summary>
    protected async Task<Parties> PartiesAsync(decimal funds, Asset? asset = null, MerchantId? tenant = null)
    {
        var owner = tenant ?? Tenant;
        var unit = asset ?? AssetRegistry.Usdc;
        var cash = await OpenAsync(owner, "cash:" + unit.Code, unit, LedgerSide.Debit, LedgerAccountFlags.None);
        var funding = await OpenAsync(owner, "payer:" + unit.Code, unit, LedgerSide.Credit, LedgerAccountFlags.DebitsMustNotExceedCredits);
        var payout = await OpenAsync(owner, "payout:" + unit.Code, unit, LedgerSide.Credit, LedgerAccountFlags.None);
        if (funds > 0)
        {
            var money = Money.Of(funds, unit);
            await Ledger.PostTransactionAsync(owner, new PostLedgerTransactionRequest([LedgerPosting.Debit(cash.Id, money), LedgerPosting.Credit(funding.Id, money)]));
        }

        return new Parties(owner, cash, await Ledger.GetAccountAsync(owner, funding.Id), payout);
    }

    protected static CreateStreamRequest Request(Parties parties, decimal total, decimal rate, Instant? start = null, Instant? end = null) =>
        new(parties.Funding.Id, parties.Payout.Id, "payer-1", "recipient-1", Money.Of(total, parties.Funding.Asset), rate) { StartTime = start, EndTime = end };

    protected async Task<PaymentStream> CreateAsync(Parties parties, decimal total, decimal rate, Instant? start = null, Instant? end = null) =>
        (await Streams.CreateAsync(parties.Tenant, Request(parties, total, rate, start, end))).Stream;

    protected Task<PaymentStream> ReloadAsync(PaymentStream stream) => Streams.GetAsync(stream.TenantId, stream.Id).AsTask();

    protected async Task<List<StreamEvent>> EventsAsync(PaymentStream stream)
    {
        var events = new List<StreamEvent>();
        string? cursor = null;
        do
        {
            var page = await Streams.ListEventsAsync(stream.TenantId, stream.Id, cursor, 3);
            events.AddRange(page.Items);
            cursor = page.NextCursor;
        }
        while (cursor is not null);
        return events;
    }

    /// <summary>This tenant's streams completed by a sweep at <paramref name="now"/>.</summary>
    protected async Task<List<PaymentStream>> SweepAsync(Instant now, MerchantId? tenant = null) =>
        [.. (await Streams.CompleteDueAsync(now, StreamService.MaxSweepLimit)).Where(s => s.TenantId == (tenant ?? Tenant))];

    protected static async Task<PaymentsKitException> FailsAsync(string code, Func<Task> action)
    {
        var ex = await Assert.ThrowsAsync<PaymentsKitException>(action);
        Assert.Equal(code, ex.Code);
        return ex;
    }

    /// <summary>
    /// The ledger agrees with the stream: escrow holds total − settled − refunded, the recipient's balance
    /// settled − withdrawn, the payout account what was withdrawn, and the tenant's books reconcile.
    /// </summary>
    protected async Task AssertBooksAsync(PaymentStream stream)
    {
        var escrow = await Ledger.GetAccountAsync(stream.TenantId, stream.EscrowAccountId);
        var recipient = await Ledger.GetAccountAsync(stream.TenantId, stream.RecipientAccountId);
        Assert.Equal(stream.TotalAmount - stream.SettledAmount - stream.RefundedAmount, escrow.Balance.Posted);
        Assert.Equal(stream.SettledAmount - stream.WithdrawnAmount, recipient.Balance.Posted);
        Assert.Equal(stream.SettledAmount, recipient.CreditsPosted);
        Assert.Equal(stream.WithdrawnAmount, recipient.DebitsPosted);
        var report = await Ledger.ReconcileAsync(stream.TenantId);
        Assert.True(report.IsClean, string.Join("; ", report.Discrepancies));
    }

    /// <summary>Nothing changed: no stream, no ledger account or entry beyond the parties', clean books.</summary>
    protected async Task AssertNothingWrittenAsync(Parties parties)
    {
        Assert.Empty((await Streams.ListAsync(parties.Tenant, null, 10)).Items);
        var accounts = (await Ledger.ListAccountsAsync(parties.Tenant, null, 100)).Items;
        Assert.All(accounts, a => Assert.DoesNotContain(":escrow", a.Code, StringComparison.Ordinal));
        Assert.All(accounts, a => Assert.DoesNotContain(":recipient", a.Code, StringComparison.Ordinal));
        var funding = await Ledger.GetAccountAsync(parties.Tenant, parties.Funding.Id);
        Assert.Equal(parties.Funding.EntryCount, funding.EntryCount);
        Assert.Equal(parties.Funding.Balance, funding.Balance);
        Assert.True((await Ledger.ReconcileAsync(parties.Tenant)).IsClean);
    }

    private Task<LedgerAccount> OpenAsync(MerchantId tenant, string code, Asset asset, LedgerSide side, LedgerAccountFlags flags) =>
        Ledger.CreateAccountAsync(tenant, new CreateLedgerAccountRequest(code, code, asset, side) { Flags = flags }).AsTask();

    /// <summary>A tenant's cash, the payer's funding account and the payout account.</summary>
    protected sealed record Parties(MerchantId Tenant, LedgerAccount Cash, LedgerAccount Funding, LedgerAccount Payout);

    /// <summary>Accepts letters and digits and canonicalises to upper case, so canonicalisation is observable.</summary>
    private sealed class UpperCaseCodec : IAddressCodec
    {
        public bool TryNormalize(string? text, [NotNullWhen(true)] out string? canonical, [NotNullWhen(false)] out string? problem)
        {
            if (string.IsNullOrEmpty(text) || !text.All(c => char.IsAsciiLetterOrDigit(c) || c == '-'))
            {
                canonical = null;
                problem = "only letters, digits and dashes are allowed";
                return false;
            }

            canonical = text.ToUpperInvariant();
            problem = null;
            return true;
        }
    }
}
