using Microsoft.Extensions.Logging;
using NodaTime;
using PaymentsKit.Ledger;
using PaymentsKit.Storage;
using PaymentsKit.Streaming;
using PaymentsKit.Testing;
using PaymentsKit.Tests.Storage;

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
}
