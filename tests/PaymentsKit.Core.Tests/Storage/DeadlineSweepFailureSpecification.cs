using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using NodaTime;
using PaymentsKit.Invoicing;
using PaymentsKit.Ledger;
using PaymentsKit.Storage;
using PaymentsKit.Streaming;
using PaymentsKit.Testing;
using PaymentsKit.Tests.Invoicing;

namespace PaymentsKit.Tests.Storage;

/// <summary>
/// A deadline sweep handles each deadline in its own unit of work: one that fails (a record the code cannot handle, a
/// conflict that outlasted the retries) is logged and left due, and the sweep goes on with the deadlines behind it. It is
/// tried again after a backoff that doubles with each failure, not on every sweep, and does not hold the sweep's skip
/// cursor back.
/// </summary>
public abstract class DeadlineSweepFailureSpecification : IAsyncLifetime
{
    private const int TransferExpiryFailed = 301;
    private const int StreamCompletionFailed = 603;
    private const int LinkExpiryFailed = 4131;
    private const int InvoiceExpiryFailed = 4112;
    private const string TransferTimeouts = "ledger_transfer_timeout";

    // A deadline that failed is tried again this long after, twice as long after each further failure (docs/ledger.md).
    private static readonly Duration FirstBackoff = Duration.FromMinutes(1);

    private readonly ManualClock _clock = new();
    private readonly RecordingLoggerFactory _logs = new();
    private readonly MerchantId _tenant = MerchantId.FromGuid(Guid.CreateVersion7());
    private FailingReadStore? _failing;

    private FailingReadStore Store => _failing ?? throw new InvalidOperationException("The store is created in InitializeAsync.");

    public async Task InitializeAsync() => _failing = new FailingReadStore(await CreateStoreAsync());

    public Task DisposeAsync() => Task.CompletedTask;

    /// <summary>A store no other test writes to.</summary>
    protected abstract Task<IPaymentsStore> CreateStoreAsync();

    [Fact]
    public async Task A_Reservation_Whose_Expiry_Fails_Does_Not_Hold_Up_The_Others_And_Expires_Once_It_Can()
    {
        var ledger = new LedgerService(Store, _clock, new AssetRegistry(), _logs.CreateLogger<LedgerService>());
        var payer = await ledger.CreateAccountAsync(_tenant, new CreateLedgerAccountRequest("payer", "Payer", AssetRegistry.Usdc, LedgerSide.Debit));
        var payee = await ledger.CreateAccountAsync(_tenant, new CreateLedgerAccountRequest("payee", "Payee", AssetRegistry.Usdc, LedgerSide.Credit));

        // More than a page of deadlines, the failing one first, all well past the margin the sweep skips closed pages behind.
        var reserved = new List<LedgerTransfer>();
        for (var i = 0; i < 300; i++)
        {
            reserved.Add(await ledger.ReserveAsync(
                _tenant, new ReserveLedgerTransferRequest(payer.Id, payee.Id, Money.Of(1, AssetRegistry.Usdc)) { Timeout = Duration.FromSeconds(30 + i) }));
        }

        var poisoned = reserved[0];
        Store.FailingIds.Add(poisoned.Id.Value);
        _clock.Advance(Duration.FromHours(1));

        var expired = await ledger.ExpireDueAsync(_clock.GetCurrentInstant());

        Assert.Equal(reserved.Skip(1).Select(t => t.Id), expired.Select(t => t.Id));
        AssertLoggedOnce(TransferExpiryFailed, ("TransferId", poisoned.Id.ToString()), ("TenantId", _tenant.ToString()));
        Assert.Equal(2, Store.PagesListed(TransferTimeouts));

        // Still failing, it waits out a backoff instead of being tried (and logged) on every sweep, and its page no longer
        // holds the sweep's skip cursor: the next sweep lists only the page after it.
        Assert.Empty(await ledger.ExpireDueAsync(_clock.GetCurrentInstant()));
        Assert.Single(Logged(TransferExpiryFailed));
        Assert.Equal(3, Store.PagesListed(TransferTimeouts));

        // Once the backoff has passed it is tried, and logged, again; each failure doubles the wait.
        _clock.Advance(FirstBackoff);
        Assert.Empty(await ledger.ExpireDueAsync(_clock.GetCurrentInstant()));
        Assert.Equal(2, Logged(TransferExpiryFailed).Count);
        _clock.Advance(FirstBackoff);
        Assert.Empty(await ledger.ExpireDueAsync(_clock.GetCurrentInstant()));
        Assert.Equal(2, Logged(TransferExpiryFailed).Count);
        _clock.Advance(FirstBackoff);
        Assert.Empty(await ledger.ExpireDueAsync(_clock.GetCurrentInstant()));
        Assert.Equal(3, Logged(TransferExpiryFailed).Count);

        Store.FailingIds.Clear();
        Assert.Empty(await ledger.ExpireDueAsync(_clock.GetCurrentInstant()));
        _clock.Advance(FirstBackoff * 4);
        var late = Assert.Single(await ledger.ExpireDueAsync(_clock.GetCurrentInstant()));
        Assert.Equal(poisoned.Id, late.Id);
        Assert.Equal(LedgerTransferState.Expired, late.State);
        Assert.Equal(3, Logged(TransferExpiryFailed).Count);
        Assert.Empty(await ledger.ExpireDueAsync(_clock.GetCurrentInstant()));
    }

    [Fact]
    public async Task A_Stream_Whose_Completion_Fails_Does_Not_Hold_Up_The_Others_And_Completes_Once_It_Can()
    {
        var ledger = new LedgerService(Store, _clock, new AssetRegistry(), _logs.CreateLogger<LedgerService>());
        var streams = new StreamService(Store, ledger, _clock, new AssetRegistry(), logger: _logs.CreateLogger<StreamService>());
        var funding = await ledger.CreateAccountAsync(_tenant, new CreateLedgerAccountRequest("payer", "Payer", AssetRegistry.Usdc, LedgerSide.Debit));
        var payout = await ledger.CreateAccountAsync(_tenant, new CreateLedgerAccountRequest("payout", "Payout", AssetRegistry.Usdc, LedgerSide.Credit));
        var created = new List<PaymentStream>();
        for (var i = 0; i < 3; i++)
        {
            created.Add((await streams.CreateAsync(
                _tenant,
                new CreateStreamRequest(funding.Id, payout.Id, "GPAYER", "GDEST", Money.Of(3600, AssetRegistry.Usdc), 1m)
                {
                    EndTime = _clock.GetCurrentInstant() + Duration.FromMinutes(30 + i),
                })).Stream);
        }

        var poisoned = created[0];
        Store.FailingIds.Add(poisoned.Id.Value);
        _clock.Advance(Duration.FromHours(2));

        var completed = await streams.CompleteDueAsync(_clock.GetCurrentInstant());

        Assert.Equal(created.Skip(1).Select(s => s.Id), completed.Select(s => s.Id));
        AssertLoggedOnce(StreamCompletionFailed, ("StreamId", poisoned.Id.ToString()), ("TenantId", _tenant.ToString()));

        Store.FailingIds.Clear();
        Assert.Empty(await streams.CompleteDueAsync(_clock.GetCurrentInstant()));
        _clock.Advance(FirstBackoff);
        var late = Assert.Single(await streams.CompleteDueAsync(_clock.GetCurrentInstant()));
        Assert.Equal(poisoned.Id, late.Id);
        Assert.Equal(StreamState.Completed, late.Status);
        Assert.Single(Logged(StreamCompletionFailed));
    }

    [Fact]
    public async Task A_Payment_Link_Whose_Expiry_Fails_Does_Not_Hold_Up_The_Others_And_Expires_Once_It_Can()
    {
        using var kit = await InvoicingOnFailingStoreAsync();
        var merchant = await kit.MerchantAsync();
        var poisoned = await kit.LinkAsync(merchant, expiresAt: kit.Clock.GetCurrentInstant() + Duration.FromMinutes(1));
        var other = await kit.LinkAsync(merchant, expiresAt: kit.Clock.GetCurrentInstant() + Duration.FromMinutes(2));
        Store.FailingIds.Add(poisoned.Id.Value);
        kit.Clock.Advance(Duration.FromMinutes(5));

        var expired = await kit.Links.ExpireDueAsync(kit.Clock.GetCurrentInstant());

        Assert.Equal(other.Id, Assert.Single(expired).Id);
        AssertLoggedOnce(LinkExpiryFailed, ("LinkId", poisoned.Id.ToString()), ("MerchantId", merchant.Id.ToString()));

        Store.FailingIds.Clear();
        Assert.Empty(await kit.Links.ExpireDueAsync(kit.Clock.GetCurrentInstant()));
        kit.Clock.Advance(FirstBackoff);
        var late = Assert.Single(await kit.Links.ExpireDueAsync(kit.Clock.GetCurrentInstant()));
        Assert.Equal(poisoned.Id, late.Id);
        Assert.False(late.Active);
        Assert.Single(Logged(LinkExpiryFailed));
    }

    [Fact]
    public async Task An_Invoice_Whose_Expiry_Fails_Does_Not_Hold_Up_The_Others_And_Expires_Once_It_Can()
    {
        using var kit = await InvoicingOnFailingStoreAsync();
        var merchant = await kit.MerchantAsync();
        var poisoned = await kit.InvoiceAsync(merchant);
        var others = new[] { await kit.InvoiceAsync(merchant), await kit.InvoiceAsync(merchant) };
        Store.FailingIds.Add(poisoned.Id.Value);
        kit.Clock.Advance(Duration.FromDays(2));

        Assert.Equal(2, await kit.Invoices.ExpireDueAsync());

        foreach (var other in others)
        {
            Assert.Equal(InvoiceStatus.Expired, (await kit.Invoices.GetInvoiceAsync(merchant.Id, other.Id)).Status);
        }

        AssertLoggedOnce(InvoiceExpiryFailed, ("InvoiceId", poisoned.Id.ToString()), ("MerchantId", merchant.Id.ToString()));

        // Still failing, it waits out its backoff instead of being tried (and logged) on every sweep.
        Assert.Equal(0, await kit.Invoices.ExpireDueAsync());
        Assert.Single(Logged(InvoiceExpiryFailed));
        kit.Clock.Advance(FirstBackoff);
        Assert.Equal(0, await kit.Invoices.ExpireDueAsync());
        Assert.Equal(2, Logged(InvoiceExpiryFailed).Count);

        Store.FailingIds.Clear();
        Assert.Equal(0, await kit.Invoices.ExpireDueAsync());
        kit.Clock.Advance(FirstBackoff * 2);
        Assert.Equal(1, await kit.Invoices.ExpireDueAsync());
        Assert.Equal(InvoiceStatus.Expired, (await kit.Invoices.GetInvoiceAsync(merchant.Id, poisoned.Id)).Status);
        Assert.Equal(2, Logged(InvoiceExpiryFailed).Count);
    }

    [Fact]
    public async Task A_Sweep_Cancelled_While_Acting_On_A_Deadline_Stops_Without_Logging_A_Failure()
    {
        var ledger = new LedgerService(Store, _clock, new AssetRegistry(), _logs.CreateLogger<LedgerService>());
        var payer = await ledger.CreateAccountAsync(_tenant, new CreateLedgerAccountRequest("payer", "Payer", AssetRegistry.Usdc, LedgerSide.Debit));
        var payee = await ledger.CreateAccountAsync(_tenant, new CreateLedgerAccountRequest("payee", "Payee", AssetRegistry.Usdc, LedgerSide.Credit));
        var first = await ledger.ReserveAsync(
            _tenant, new ReserveLedgerTransferRequest(payer.Id, payee.Id, Money.Of(1, AssetRegistry.Usdc)) { Timeout = Duration.FromSeconds(30) });
        var second = await ledger.ReserveAsync(
            _tenant, new ReserveLedgerTransferRequest(payer.Id, payee.Id, Money.Of(1, AssetRegistry.Usdc)) { Timeout = Duration.FromSeconds(31) });
        _clock.Advance(Duration.FromHours(1));
        using var shutdown = new CancellationTokenSource();
        Store.CancelOnFailingRead = shutdown;
        Store.FailingIds.Add(first.Id.Value);

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => ledger.ExpireDueAsync(_clock.GetCurrentInstant(), cancellationToken: shutdown.Token).AsTask());

        Assert.Empty(Logged(TransferExpiryFailed));
        Assert.Equal(LedgerTransferState.Pending, (await ledger.GetTransferAsync(_tenant, second.Id)).State);
    }

    /// <summary>Invoicing on the failing store, logging to <see cref="_logs"/>.</summary>
    private Task<InvoicingHarness> InvoicingOnFailingStoreAsync() =>
        InvoicingHarness.CreateAsync(builder =>
        {
            builder.Services.Replace(ServiceDescriptor.Singleton<IPaymentsStore>(Store));
            builder.Services.AddSingleton<ILoggerFactory>(_logs);
            builder.Services.AddSingleton(typeof(ILogger<>), typeof(Logger<>));
            return Task.CompletedTask;
        });

    /// <summary>One warning of <paramref name="eventId"/> was logged, naming the failed record and its tenant.</summary>
    private void AssertLoggedOnce(int eventId, (string Field, string Value) record, (string Field, string Value) tenant)
    {
        var entry = Assert.Single(Logged(eventId));
        Assert.Equal(LogLevel.Warning, entry.Level);
        Assert.Equal(record.Value, entry.Fields[record.Field]);
        Assert.Equal(tenant.Value, entry.Fields[tenant.Field]);
    }

    private List<(LogLevel Level, EventId EventId, string Message, IReadOnlyDictionary<string, object?> Fields)> Logged(int eventId) =>
        [.. _logs.Entries.Where(e => e.EventId.Id == eventId)];
}
