using Microsoft.Extensions.Logging;
using NodaTime;
using PaymentsKit.Ledger;
using PaymentsKit.Storage;
using PaymentsKit.Streaming;
using PaymentsKit.Testing;

namespace PaymentsKit.Tests.Streaming;

/// <summary>
/// A stream operation may run more than once (decision 0027 reruns a refusal on stale reads, a lost race reruns it too) or
/// end refused after catching up on a completion: what it logs as done is logged once, and only once it committed.
/// </summary>
public sealed class StreamRerunLoggingTests
{
    private const int Cancelled = 601;
    private const int Completed = 602;

    private readonly ManualClock _clock = new();
    private readonly RerunningStore _store = new(new InMemoryStore());
    private readonly RecordingLoggerFactory _logs = new();
    private readonly MerchantId _tenant = MerchantId.FromGuid(Guid.CreateVersion7());

    [Fact]
    public async Task A_Refused_Operation_Rerun_On_Stale_Reads_Logs_No_Completion_It_Caught_Up_On()
    {
        var (streams, stream) = await StreamEndingInAnHourAsync();
        _clock.Advance(Duration.FromHours(2));

        // The cancellation catches up on the completion, then is refused (a completed stream cannot be cancelled); its reads
        // are reported stale once, so it runs twice, and neither run commits.
        _store.StaleReadsToReport = 1;
        var refused = await Assert.ThrowsAsync<PaymentsKitException>(() => streams.CancelAsync(_tenant, stream.Id, new StreamAction("ops")).AsTask());
        Assert.Equal(PaymentsKitErrorCodes.InvalidTransition, refused.Code);
        Assert.Equal(0, _store.StaleReadsToReport);
        Assert.Empty(Logged(Completed));

        Assert.Single(await streams.CompleteDueAsync(_clock.GetCurrentInstant()));
        Assert.Single(Logged(Completed));
    }

    [Fact]
    public async Task A_Cancellation_Whose_First_Commit_Is_Refused_On_Stale_Reads_Logs_It_Once()
    {
        var (streams, stream) = await StreamEndingInAnHourAsync();
        _clock.Advance(Duration.FromMinutes(10));

        _store.RefuseNextCommit = true;
        _store.StaleReadsToReport = 1;
        var cancelled = await streams.CancelAsync(_tenant, stream.Id, new StreamAction("ops"));

        Assert.Equal(StreamState.Cancelled, cancelled.Stream.Status);
        Assert.False(_store.RefuseNextCommit);
        var entry = Assert.Single(Logged(Cancelled));
        Assert.Equal(Money.Of(600, AssetRegistry.Usdc).ToString(), entry.Fields["ToRecipient"]);
        Assert.Equal(Money.Of(3000, AssetRegistry.Usdc).ToString(), entry.Fields["ToPayer"]);
    }

    private async Task<(StreamService Streams, PaymentStream Stream)> StreamEndingInAnHourAsync()
    {
        var ledger = new LedgerService(_store, _clock, new AssetRegistry());
        var streams = new StreamService(_store, ledger, _clock, new AssetRegistry(), logger: _logs.CreateLogger<StreamService>());
        var funding = await ledger.CreateAccountAsync(_tenant, new CreateLedgerAccountRequest("payer", "Payer", AssetRegistry.Usdc, LedgerSide.Debit));
        var payout = await ledger.CreateAccountAsync(_tenant, new CreateLedgerAccountRequest("payout", "Payout", AssetRegistry.Usdc, LedgerSide.Credit));
        var created = await streams.CreateAsync(
            _tenant,
            new CreateStreamRequest(funding.Id, payout.Id, "GPAYER", "GDEST", Money.Of(3600, AssetRegistry.Usdc), 1m)
            {
                EndTime = _clock.GetCurrentInstant() + Duration.FromHours(1),
            });
        return (streams, created.Stream);
    }

    private List<(LogLevel Level, EventId EventId, string Message, IReadOnlyDictionary<string, object?> Fields)> Logged(int eventId) =>
        [.. _logs.Entries.Where(e => e.EventId.Id == eventId)];

    /// <summary>
    /// A store in front of another that provokes the reruns a concurrent commit would: it reports a unit's reads stale while
    /// <see cref="StaleReadsToReport"/> lasts, and refuses the next commit as a taken key the store judged first.
    /// </summary>
    private sealed class RerunningStore(IPaymentsStore inner) : IPaymentsStore
    {
        public int StaleReadsToReport { get; set; }

        public bool RefuseNextCommit { get; set; }

        public async ValueTask<IUnitOfWork> BeginAsync(CancellationToken cancellationToken = default) =>
            new Unit(this, await inner.BeginAsync(cancellationToken));

        private sealed class Unit(RerunningStore owner, IUnitOfWork unit) : IUnitOfWork
        {
            public ValueTask<Versioned<T>?> GetAsync<T>(RecordCollection<T> collection, Guid tenantId, Guid id, CancellationToken cancellationToken = default)
                where T : class => unit.GetAsync(collection, tenantId, id, cancellationToken);

            public ValueTask<Versioned<T>?> FindAsync<T>(RecordCollection<T> collection, Guid tenantId, string uniqueKey, string value, CancellationToken cancellationToken = default)
                where T : class => unit.FindAsync(collection, tenantId, uniqueKey, value, cancellationToken);

            public ValueTask<Page<Versioned<T>>> ListAsync<T>(RecordCollection<T> collection, Guid tenantId, string? cursor, int limit, CancellationToken cancellationToken = default)
                where T : class => unit.ListAsync(collection, tenantId, cursor, limit, cancellationToken);

            public ValueTask PrefetchAsync(IReadOnlyList<RecordRef> records, CancellationToken cancellationToken = default) =>
                unit.PrefetchAsync(records, cancellationToken);

            public async ValueTask<bool> HasStaleReadsAsync(CancellationToken cancellationToken = default)
            {
                if (owner.StaleReadsToReport > 0)
                {
                    owner.StaleReadsToReport--;
                    return true;
                }

                return await unit.HasStaleReadsAsync(cancellationToken);
            }

            public void Insert<T>(RecordCollection<T> collection, T record)
                where T : class => unit.Insert(collection, record);

            public void Update<T>(RecordCollection<T> collection, T record, long expectedVersion)
                where T : class => unit.Update(collection, record, expectedVersion);

            public ValueTask CommitAsync(CancellationToken cancellationToken = default)
            {
                if (owner.RefuseNextCommit)
                {
                    owner.RefuseNextCommit = false;
                    throw new PaymentsKitException(PaymentsKitErrorCodes.DuplicateKey, "Simulated taken key beside a stale update.");
                }

                return unit.CommitAsync(cancellationToken);
            }

            public ValueTask DisposeAsync() => unit.DisposeAsync();
        }
    }
}
