using NodaTime;
using PaymentsKit.Ledger;
using PaymentsKit.Streaming;
using PaymentsKit.Testing;

namespace PaymentsKit.Tests.Streaming;

/// <summary>Conflicting operations on one stream from many callers at once: legal end state, one cancellation, balanced books.</summary>
public abstract partial class StreamServiceSpecification
{
    [Fact]
    public async Task Withdrawals_Cancellations_Pauses_And_Resumes_Racing_On_One_Stream_Cancel_It_Once_And_Pay_Only_What_Accrued()
    {
        var parties = await PartiesAsync(100);
        var stream = await CreateAsync(parties, 100, 0.5m);
        Clock.Advance(Duration.FromSeconds(10));

        // 5 has accrued and the clock stands still: two withdrawals of 2 fit, whatever state the stream is in.
        var outcomes = await Race.RunAsync(
            Race.Times(4, "withdraw", async () => (await Streams.WithdrawAsync(Tenant, stream.Id, new WithdrawStreamRequest("recipient") { Amount = Usdc(2) })).Stream)
                .Concat(Race.Times(4, "cancel", async () => (await Streams.CancelAsync(Tenant, stream.Id, By)).Stream))
                .Concat(Race.Times(4, "pause", async () => (await Streams.PauseAsync(Tenant, stream.Id, By)).Stream))
                .Concat(Race.Times(4, "resume", async () => (await Streams.ResumeAsync(Tenant, stream.Id, By)).Stream)));

        Assert.Single(outcomes, o => o.Caller == "cancel" && o.Won);
        Assert.Equal(2, outcomes.Count(o => o.Caller == "withdraw" && o.Won));
        Assert.All(outcomes.Where(o => o.Caller == "withdraw" && !o.Won), o => Assert.Equal(PaymentsKitErrorCodes.InsufficientFunds, o.Code));
        Assert.All(outcomes.Where(o => o.Caller != "withdraw" && !o.Won), o => Assert.Equal(PaymentsKitErrorCodes.InvalidTransition, o.Code));
        var now = await ReloadAsync(stream);
        Assert.Equal(StreamState.Cancelled, now.Status);
        Assert.Equal((Usdc(5), Usdc(4), Usdc(95)), (now.SettledAmount, now.WithdrawnAmount, now.RefundedAmount));
        Assert.Single(await EventsAsync(now), e => e.Kind == StreamEventKind.Cancelled);
        Assert.Equal(Usdc(4), (await Ledger.GetAccountAsync(Tenant, parties.Payout.Id)).Balance.Posted);
        Assert.Equal(Usdc(95), (await Ledger.GetAccountAsync(Tenant, parties.Funding.Id)).Balance.Posted);
        await AssertBooksAsync(now);
    }

    [Fact]
    public async Task Cancellations_Racing_Completion_Sweeps_At_The_End_Complete_The_Stream_Once()
    {
        var parties = await PartiesAsync(100);
        var stream = await CreateAsync(parties, 10, 1);
        Clock.Advance(Duration.FromSeconds(10));

        // At its end the stream is completed by whatever touches it first, so no cancellation can take it.
        var outcomes = await Race.RunAsync(
            Race.Times(6, "cancel", async () => new List<PaymentStream> { (await Streams.CancelAsync(Tenant, stream.Id, By)).Stream })
                .Concat(Race.Times(6, "sweep", () => SweepAsync(Now))));

        Assert.All(outcomes.Where(o => o.Caller == "cancel"), o => Assert.Equal(PaymentsKitErrorCodes.InvalidTransition, o.Code));
        Assert.All(outcomes.Where(o => o.Caller == "sweep"), o => Assert.True(o.Won, o.ToString()));
        Assert.True(outcomes.Where(o => o.Caller == "sweep").Sum(o => o.Value!.Count) <= 1);
        var now = await ReloadAsync(stream);
        Assert.Equal((StreamState.Completed, Usdc(10), Usdc(0)), (now.Status, now.SettledAmount, now.RefundedAmount));
        var events = await EventsAsync(now);
        Assert.Single(events, e => e.Kind == StreamEventKind.Completed);
        Assert.DoesNotContain(events, e => e.Kind == StreamEventKind.Cancelled);
        await AssertBooksAsync(now);
    }

    [Fact]
    public async Task Racing_Creates_With_One_Idempotency_Key_Escrow_The_Total_Once()
    {
        var parties = await PartiesAsync(100);
        var request = Request(parties, 60, 1) with { IdempotencyKey = "order-race" };

        var outcomes = await Race.RunAsync(Race.Times(12, "create", async () => (await Streams.CreateAsync(Tenant, request)).Stream.Id));

        Assert.All(outcomes, o => Assert.True(o.Won, o.ToString()));
        Assert.Single(outcomes.Select(o => o.Value).Distinct());
        var stream = Assert.Single((await Streams.ListAsync(Tenant, null, 10)).Items);
        Assert.Equal(Usdc(40), (await Ledger.GetAccountAsync(Tenant, parties.Funding.Id)).Balance.Posted);
        Assert.Single(await EventsAsync(stream), e => e.Kind == StreamEventKind.Created);
        await AssertBooksAsync(stream);
    }

    [Fact]
    public async Task Withdrawals_Of_Everything_Racing_Settlements_And_Completion_Sweeps_At_The_End_Pay_The_Total_Once()
    {
        var parties = await PartiesAsync(100);
        var stream = await CreateAsync(parties, 10, 1);
        Clock.Advance(Duration.FromSeconds(10));

        var outcomes = await Race.RunAsync(
            Race.Times(4, "withdraw", async () => (await Streams.WithdrawAsync(Tenant, stream.Id, new WithdrawStreamRequest("recipient"))).Stream.WithdrawnAmount.Amount)
                .Concat(Race.Times(4, "settle", async () => (await Streams.SettleAsync(Tenant, stream.Id, By)).Stream.SettledAmount.Amount))
                .Concat(Race.Times(4, "sweep", async () => (decimal)(await SweepAsync(Now)).Count)));

        Assert.All(outcomes.Where(o => !o.Won), o => Assert.Contains(o.Code, new[] { PaymentsKitErrorCodes.InsufficientFunds, PaymentsKitErrorCodes.InvalidTransition }));
        Assert.Contains(outcomes, o => o.Caller == "withdraw" && o.Won);
        Assert.True(outcomes.Where(o => o.Caller == "sweep").Sum(o => o.Value) <= 1);
        var now = await ReloadAsync(stream);
        Assert.Equal((StreamState.Completed, Usdc(10), Usdc(10)), (now.Status, now.SettledAmount, now.WithdrawnAmount));
        Assert.Single(await EventsAsync(now), e => e.Kind == StreamEventKind.Completed);
        Assert.Equal(Usdc(10), (await Ledger.GetAccountAsync(Tenant, parties.Payout.Id)).Balance.Posted);
        await AssertBooksAsync(now);
    }
    [Fact]
    public async Task Withdrawals_On_One_Host_Racing_Completion_Sweeps_Settlements_And_The_Payers_Ledger_Traffic_On_Another_Pay_And_Refund_Once()
    {
        var parties = await PartiesAsync(100);
        var depleted = await CreateAsync(parties, 10, 1);
        var ended = await CreateAsync(parties, 20, 1, Now, Now + Duration.FromSeconds(10));
        var other = await OtherHostAsync();
        Clock.Advance(Duration.FromSeconds(10));

        // Host two pays the recipients and moves the payer's own money while host one completes and settles the streams:
        // the completion's refund and the payer's transfers credit and debit the same funding account from two hosts.
        async Task<decimal> Withdraw(PaymentStream stream) =>
            (await other.Streams.WithdrawAsync(Tenant, stream.Id, new WithdrawStreamRequest("recipient"))).Events[^1].Amount.Amount;
        async Task<decimal> Move(LedgerAccountId from, LedgerAccountId to)
        {
            await other.Ledger.PostTransactionAsync(Tenant, new PostLedgerTransactionRequest([LedgerPosting.Debit(from, Usdc(1)), LedgerPosting.Credit(to, Usdc(1))]));
            return 1;
        }

        var outcomes = await Race.RunAsync(
            Race.Times(3, "withdraw", () => Withdraw(depleted))
                .Concat(Race.Times(3, "withdraw", () => Withdraw(ended)))
                .Concat(Race.Times(3, "settle", async () => (await Streams.SettleAsync(Tenant, ended.Id, By)).Stream.SettledAmount.Amount))
                .Concat(Race.Times(4, "sweep", async () => (decimal)(await SweepAsync(Now)).Count))
                .Concat(Race.Times(4, "spend", () => Move(parties.Funding.Id, parties.Cash.Id)))
                .Concat(Race.Times(4, "top-up", () => Move(parties.Cash.Id, parties.Funding.Id))));

        Assert.All(outcomes.Where(o => !o.Won), o => Assert.Contains(o.Code, new[] { PaymentsKitErrorCodes.InsufficientFunds, PaymentsKitErrorCodes.InvalidTransition }));
        Assert.All(outcomes.Where(o => o.Caller is "spend" or "top-up" or "sweep"), o => Assert.True(o.Won, o.ToString()));
        Assert.True(outcomes.Where(o => o.Caller == "sweep").Sum(o => o.Value) <= 2);
        Assert.Equal([10m, 10m], outcomes.Where(o => o.Caller == "withdraw" && o.Won).Select(o => o.Value));
        foreach (var (stream, refunded) in new[] { (depleted, 0m), (ended, 10m) })
        {
            var now = await other.Streams.GetAsync(Tenant, stream.Id);
            Assert.Equal((StreamState.Completed, Usdc(10), Usdc(refunded)), (now.Status, now.SettledAmount, now.RefundedAmount));
            Assert.Single(await EventsAsync(now), e => e.Kind == StreamEventKind.Completed);
            await FailsAsync(PaymentsKitErrorCodes.InsufficientFunds, () => Streams.WithdrawAsync(Tenant, stream.Id, new WithdrawStreamRequest("recipient")).AsTask());
            await AssertBooksAsync(now);
        }

        Assert.Equal(Usdc(20), (await other.Ledger.GetAccountAsync(Tenant, parties.Payout.Id)).Balance.Posted);
        Assert.Equal(Usdc(80), (await Ledger.GetAccountAsync(Tenant, parties.Funding.Id)).Balance.Posted);
        Assert.Equal(Usdc(80), (await other.Ledger.GetAccountAsync(Tenant, parties.Funding.Id)).Balance.Posted);
        Assert.True((await other.Ledger.ReconcileAsync(Tenant)).IsClean);
    }
}
