using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using NodaTime;
using PaymentsKit.Invoicing;
using PaymentsKit.Ledger;
using PaymentsKit.Storage;
using PaymentsKit.Streaming;
using PaymentsKit.Testing;
using PaymentsKit.Tests.Invoicing;

namespace PaymentsKit.Tests.Storage;

/// <summary>
/// A deadline sweep skips the pages of deadlines it found all closed, but a deadline can be committed behind that skip:
/// its id is stamped with its due instant when its unit of work is built, and a slow caller's unit may commit long after
/// that instant has passed. The sweep still acts on it, at the latest at its next pass from the first deadline (one
/// starts at least every <see cref="FullPassInterval"/>), while the passes in between keep skipping.
/// </summary>
public abstract class DeadlineSweepLateCommitSpecification : IAsyncLifetime
{
    private const string TransferTimeouts = "ledger_transfer_timeout";
    private const string LinkDeadlines = "invoicing_payment_link_deadline";
    private const string StreamDeadlines = "stream_deadline";

    // How many deadlines the history tests close before a full pass: more than a page (256).
    private const int Closed = 300;

    // How many deadlines they leave open (not due before the full pass).
    private const int Open = 3;

    // How often a sweep starts again from the first deadline (docs/ledger.md).
    private static readonly Duration FullPassInterval = Duration.FromMinutes(10);

    private readonly ManualClock _clock = new();
    private readonly MerchantId _tenant = MerchantId.FromGuid(Guid.CreateVersion7());
    private CommitGateStore? _store;

    private CommitGateStore Store => _store ?? throw new InvalidOperationException("The store is created in InitializeAsync.");

    public async Task InitializeAsync() => _store = new CommitGateStore(await CreateStoreAsync());

    public Task DisposeAsync() => Task.CompletedTask;

    /// <summary>A store no other test writes to.</summary>
    protected abstract Task<IPaymentsStore> CreateStoreAsync();

    [Fact]
    public async Task A_Reservation_Committed_Long_After_Its_Deadline_Behind_Skipped_Pages_Is_Still_Expired()
    {
        var ledger = new LedgerService(Store, _clock, new AssetRegistry());
        var payer = await ledger.CreateAccountAsync(_tenant, new CreateLedgerAccountRequest("payer", "Payer", AssetRegistry.Usdc, LedgerSide.Debit));
        var payee = await ledger.CreateAccountAsync(_tenant, new CreateLedgerAccountRequest("payee", "Payee", AssetRegistry.Usdc, LedgerSide.Credit));

        // The slow caller's accounts are its own, so its late commit conflicts with nothing.
        var slowPayer = await ledger.CreateAccountAsync(_tenant, new CreateLedgerAccountRequest("slow-payer", "Slow payer", AssetRegistry.Usdc, LedgerSide.Debit));
        var slowPayee = await ledger.CreateAccountAsync(_tenant, new CreateLedgerAccountRequest("slow-payee", "Slow payee", AssetRegistry.Usdc, LedgerSide.Credit));
        var amount = Money.Of(1, AssetRegistry.Usdc);

        LedgerTransfer late;
        var slow = await Store.BeginAsync();
        await using (slow)
        {
            late = await ledger.ReserveAsync(slow, _tenant, new ReserveLedgerTransferRequest(slowPayer.Id, slowPayee.Id, amount) { Timeout = Duration.FromSeconds(10) });

            // More than a page of deadlines after its own, all expired (so skipped from then on) before it commits.
            for (var i = 0; i < 300; i++)
            {
                await ledger.ReserveAsync(_tenant, new ReserveLedgerTransferRequest(payer.Id, payee.Id, amount) { Timeout = Duration.FromSeconds(20 + i) });
            }

            _clock.Advance(Duration.FromHours(1));
            Assert.Equal(300, (await ledger.ExpireDueAsync(_clock.GetCurrentInstant())).Count);
            await slow.CommitAsync();
        }

        // Passes before the next full one still skip the settled page: they cost the pages past the skip, not the history.
        var listed = Store.PagesListed(TransferTimeouts);
        _clock.Advance(Duration.FromMinutes(1));
        await ledger.ExpireDueAsync(_clock.GetCurrentInstant());
        Assert.Equal(listed + 1, Store.PagesListed(TransferTimeouts));

        _clock.Advance(FullPassInterval);
        var swept = await ledger.ExpireDueAsync(_clock.GetCurrentInstant());

        Assert.Contains(late.Id, swept.Select(t => t.Id));
        Assert.Equal(LedgerTransferState.Expired, (await ledger.GetTransferAsync(_tenant, late.Id)).State);
        Assert.Equal(0m, (await ledger.GetAccountAsync(_tenant, slowPayer.Id)).Balance.Reserved.Amount);
        Assert.Empty(await ledger.ExpireDueAsync(_clock.GetCurrentInstant()));
    }

    [Fact]
    public async Task A_Stream_Created_Long_After_Its_Completion_Instant_Behind_Skipped_Pages_Is_Still_Completed()
    {
        var ledger = new LedgerService(Store, _clock, new AssetRegistry());
        var streams = new StreamService(Store, ledger, _clock, new AssetRegistry());
        var funding = await ledger.CreateAccountAsync(_tenant, new CreateLedgerAccountRequest("payer", "Payer", AssetRegistry.Usdc, LedgerSide.Debit));
        var payout = await ledger.CreateAccountAsync(_tenant, new CreateLedgerAccountRequest("payout", "Payout", AssetRegistry.Usdc, LedgerSide.Credit));
        var slowFunding = await ledger.CreateAccountAsync(_tenant, new CreateLedgerAccountRequest("slow-payer", "Slow payer", AssetRegistry.Usdc, LedgerSide.Debit));
        var slowPayout = await ledger.CreateAccountAsync(_tenant, new CreateLedgerAccountRequest("slow-payout", "Slow payout", AssetRegistry.Usdc, LedgerSide.Credit));
        CreateStreamRequest Request(LedgerAccountId from, LedgerAccountId to, Duration runs) =>
            new(from, to, "GPAYER", "GDEST", Money.Of(3600, AssetRegistry.Usdc), 1m) { EndTime = _clock.GetCurrentInstant() + runs };

        var held = Store.HoldNextCommit();
        var creating = streams.CreateAsync(_tenant, Request(slowFunding.Id, slowPayout.Id, Duration.FromSeconds(10))).AsTask();
        await held.Reached;
        for (var i = 0; i < 300; i++)
        {
            await streams.CreateAsync(_tenant, Request(funding.Id, payout.Id, Duration.FromSeconds(20 + i)));
        }

        _clock.Advance(Duration.FromHours(1));
        Assert.Equal(300, (await streams.CompleteDueAsync(_clock.GetCurrentInstant())).Count);
        held.Release();
        var late = (await creating).Stream;

        _clock.Advance(FullPassInterval);
        var swept = await streams.CompleteDueAsync(_clock.GetCurrentInstant());

        Assert.Equal(late.Id, Assert.Single(swept).Id);
        Assert.Equal(StreamState.Completed, (await streams.GetAsync(_tenant, late.Id)).Status);
    }

    [Fact]
    public async Task A_Payment_Link_Committed_Long_After_Its_Expiry_Behind_Skipped_Pages_Is_Still_Deactivated()
    {
        using var kit = await InvoicingHarness.CreateAsync(builder =>
        {
            builder.Services.Replace(ServiceDescriptor.Singleton<IPaymentsStore>(Store));
            return Task.CompletedTask;
        });
        var merchant = await kit.MerchantAsync();

        // A creation whose unit of work is held at its commit, as a slow store or caller would hold it.
        var held = Store.HoldNextCommit();
        var creating = kit.LinkAsync(merchant, expiresAt: kit.Clock.GetCurrentInstant() + Duration.FromSeconds(10));
        await held.Reached;

        var others = new List<PaymentLink>();
        for (var i = 0; i < 300; i++)
        {
            others.Add(await kit.LinkAsync(merchant, expiresAt: kit.Clock.GetCurrentInstant() + Duration.FromSeconds(20 + i)));
        }

        kit.Clock.Advance(Duration.FromHours(1));
        Assert.Equal(300, (await kit.Links.ExpireDueAsync(kit.Clock.GetCurrentInstant())).Count);
        held.Release();
        var late = await creating;

        var listed = Store.PagesListed(LinkDeadlines);
        kit.Clock.Advance(Duration.FromMinutes(1));
        await kit.Links.ExpireDueAsync(kit.Clock.GetCurrentInstant());
        Assert.Equal(listed + 1, Store.PagesListed(LinkDeadlines));

        kit.Clock.Advance(FullPassInterval);
        var swept = await kit.Links.ExpireDueAsync(kit.Clock.GetCurrentInstant());

        Assert.Equal(late.Id, Assert.Single(swept).Id);
        Assert.False((await kit.Links.GetPaymentLinkAsync(merchant.Id, late.Id)).Active);
    }

    [Fact]
    public async Task A_Full_Pass_Reads_The_Open_Reservation_Deadlines_Not_The_Closed_Ones()
    {
        var ledger = new LedgerService(Store, _clock, new AssetRegistry());
        var payer = await ledger.CreateAccountAsync(_tenant, new CreateLedgerAccountRequest("payer", "Payer", AssetRegistry.Usdc, LedgerSide.Debit));
        var payee = await ledger.CreateAccountAsync(_tenant, new CreateLedgerAccountRequest("payee", "Payee", AssetRegistry.Usdc, LedgerSide.Credit));
        var amount = Money.Of(1, AssetRegistry.Usdc);
        for (var i = 0; i < Closed + Open; i++)
        {
            var timeout = i < Closed ? Duration.FromSeconds(10 + i) : Duration.FromDays(1);
            await ledger.ReserveAsync(_tenant, new ReserveLedgerTransferRequest(payer.Id, payee.Id, amount) { Timeout = timeout });
        }

        _clock.Advance(Duration.FromHours(1));
        Assert.Equal(Closed, (await ledger.ExpireDueAsync(_clock.GetCurrentInstant())).Count);

        var read = Store.RecordsListed(TransferTimeouts);
        _clock.Advance(FullPassInterval);
        Assert.Empty(await ledger.ExpireDueAsync(_clock.GetCurrentInstant()));
        Assert.Equal(read + Open, Store.RecordsListed(TransferTimeouts));
    }

    [Fact]
    public async Task A_Full_Pass_Reads_The_Open_Stream_Deadlines_Not_The_Closed_Ones()
    {
        var ledger = new LedgerService(Store, _clock, new AssetRegistry());
        var streams = new StreamService(Store, ledger, _clock, new AssetRegistry());
        var funding = await ledger.CreateAccountAsync(_tenant, new CreateLedgerAccountRequest("payer", "Payer", AssetRegistry.Usdc, LedgerSide.Debit));
        var payout = await ledger.CreateAccountAsync(_tenant, new CreateLedgerAccountRequest("payout", "Payout", AssetRegistry.Usdc, LedgerSide.Credit));
        for (var i = 0; i < Closed + Open; i++)
        {
            var runs = i < Closed ? Duration.FromSeconds(10 + i) : Duration.FromDays(1);
            await streams.CreateAsync(_tenant, new(funding.Id, payout.Id, "GPAYER", "GDEST", Money.Of(3600, AssetRegistry.Usdc), 0.01m) { EndTime = _clock.GetCurrentInstant() + runs });
        }

        _clock.Advance(Duration.FromHours(1));
        Assert.Equal(Closed, (await streams.CompleteDueAsync(_clock.GetCurrentInstant())).Count);

        var read = Store.RecordsListed(StreamDeadlines);
        _clock.Advance(FullPassInterval);
        Assert.Empty(await streams.CompleteDueAsync(_clock.GetCurrentInstant()));
        Assert.Equal(read + Open, Store.RecordsListed(StreamDeadlines));
    }

    [Fact]
    public async Task A_Full_Pass_Reads_The_Open_Payment_Link_Deadlines_Not_The_Closed_Ones()
    {
        using var kit = await InvoicingHarness.CreateAsync(builder =>
        {
            builder.Services.Replace(ServiceDescriptor.Singleton<IPaymentsStore>(Store));
            return Task.CompletedTask;
        });
        var merchant = await kit.MerchantAsync();
        for (var i = 0; i < Closed + Open; i++)
        {
            var expires = i < Closed ? Duration.FromSeconds(10 + i) : Duration.FromDays(1);
            await kit.LinkAsync(merchant, expiresAt: kit.Clock.GetCurrentInstant() + expires);
        }

        kit.Clock.Advance(Duration.FromHours(1));
        Assert.Equal(Closed, (await kit.Links.ExpireDueAsync(kit.Clock.GetCurrentInstant())).Count);

        var read = Store.RecordsListed(LinkDeadlines);
        kit.Clock.Advance(FullPassInterval);
        Assert.Empty(await kit.Links.ExpireDueAsync(kit.Clock.GetCurrentInstant()));
        Assert.Equal(read + Open, Store.RecordsListed(LinkDeadlines));
    }

    /// <summary>
    /// A store in front of another that counts the pages listed and can hold one unit of work at its commit until the
    /// test releases it.
    /// </summary>
    private sealed class CommitGateStore(IPaymentsStore inner) : IPaymentsStore
    {
        private readonly Dictionary<string, int> _pagesListed = [];
        private readonly Dictionary<string, int> _recordsListed = [];
        private Gate? _gate;

        /// <summary>How many pages of <paramref name="collection"/> were listed through this store.</summary>
        public int PagesListed(string collection)
        {
            lock (_pagesListed)
            {
                return _pagesListed.GetValueOrDefault(collection);
            }
        }

        /// <summary>How many records of <paramref name="collection"/> the pages listed through this store held.</summary>
        public int RecordsListed(string collection)
        {
            lock (_pagesListed)
            {
                return _recordsListed.GetValueOrDefault(collection);
            }
        }

        /// <summary>Holds the next unit of work to commit until the returned gate is released.</summary>
        public Gate HoldNextCommit() => _gate = new Gate();

        public async ValueTask<IUnitOfWork> BeginAsync(CancellationToken cancellationToken = default) =>
            new Unit(this, await inner.BeginAsync(cancellationToken));

        private Page<Versioned<T>> Listed<T>(string collection, Page<Versioned<T>> page)
            where T : class
        {
            lock (_pagesListed)
            {
                _pagesListed[collection] = _pagesListed.GetValueOrDefault(collection) + 1;
                _recordsListed[collection] = _recordsListed.GetValueOrDefault(collection) + page.Items.Count;
            }

            return page;
        }

        /// <summary>A commit held until <see cref="Release"/>; <see cref="Reached"/> completes once one waits at it.</summary>
        public sealed class Gate
        {
            private readonly TaskCompletionSource _reached = new(TaskCreationOptions.RunContinuationsAsynchronously);
            private readonly TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);

            public Task Reached => _reached.Task;

            public void Release() => _released.SetResult();

            public Task PassAsync()
            {
                _reached.SetResult();
                return _released.Task;
            }
        }

        private sealed class Unit(CommitGateStore owner, IUnitOfWork unit) : ForwardingUnitOfWork(unit)
        {
            public override async ValueTask<Page<Versioned<T>>> ListAsync<T>(RecordCollection<T> collection, Guid tenantId, string? cursor, int limit, CancellationToken cancellationToken = default)
                where T : class =>
                owner.Listed(collection.Name, await base.ListAsync(collection, tenantId, cursor, limit, cancellationToken));

            public override async ValueTask<Page<Versioned<T>>> ListByAsync<T>(
                RecordCollection<T> collection, Guid tenantId, string index, Guid value, string? cursor, int limit, CancellationToken cancellationToken = default)
                where T : class =>
                owner.Listed(collection.Name, await base.ListByAsync(collection, tenantId, index, value, cursor, limit, cancellationToken));

            public override async ValueTask CommitAsync(CancellationToken cancellationToken = default)
            {
                if (Interlocked.Exchange(ref owner._gate, null) is { } gate)
                {
                    await gate.PassAsync();
                }

                await base.CommitAsync(cancellationToken);
            }
        }
    }
}
