using NodaTime;
using PaymentsKit.Streaming;

namespace PaymentsKit.Tests.Streaming;

public abstract partial class StreamServiceSpecification
{
    [Fact]
    public async Task Retrying_A_Keyed_Withdrawal_Returns_The_Original_Result_And_Moves_No_Money()
    {
        var parties = await PartiesAsync(110);
        var stream = await CreateAsync(parties, 100, 0.5m);
        var other = await CreateAsync(parties, 10, 0.5m);
        Clock.Advance(Duration.FromSeconds(10));
        var request = new WithdrawStreamRequest("recipient") { Amount = Usdc(3), Reason = "payday", IdempotencyKey = "w-1" };
        var first = await Streams.WithdrawAsync(Tenant, stream.Id, request);

        // The first call committed but its answer was lost; the client retries later, spelling the amount 3.00.
        Clock.Advance(Duration.FromSeconds(4));
        var again = await Streams.WithdrawAsync(Tenant, stream.Id, request with { Amount = Usdc(3.00m), Actor = "retrying-client" });

        Assert.Equal([StreamEventKind.Settled, StreamEventKind.Withdrawn], first.Events.Select(e => e.Kind));
        Assert.Equal(first.Events.Select(e => (e.Id, e.Kind, e.Amount, e.Actor, e.IdempotencyKey)), again.Events.Select(e => (e.Id, e.Kind, e.Amount, e.Actor, e.IdempotencyKey)));
        Assert.Equal(first.Events[^1].LedgerTransactionIds, again.Events[^1].LedgerTransactionIds);
        Assert.Equal((stream.Id, Usdc(5), Usdc(3), 3L), (again.Stream.Id, again.Stream.SettledAmount, again.Stream.WithdrawnAmount, again.Stream.EventCount));
        Assert.Equal(Usdc(3), (await Ledger.GetAccountAsync(Tenant, parties.Payout.Id)).Balance.Posted);

        // The key belongs to that withdrawal: another amount, everything, another reason or another stream is a conflict.
        await FailsAsync(PaymentsKitErrorCodes.IdempotencyConflict, () => Streams.WithdrawAsync(Tenant, stream.Id, request with { Amount = Usdc(2) }).AsTask());
        await FailsAsync(PaymentsKitErrorCodes.IdempotencyConflict, () => Streams.WithdrawAsync(Tenant, stream.Id, request with { Amount = null }).AsTask());
        await FailsAsync(PaymentsKitErrorCodes.IdempotencyConflict, () => Streams.WithdrawAsync(Tenant, stream.Id, request with { Reason = null }).AsTask());
        await FailsAsync(PaymentsKitErrorCodes.IdempotencyConflict, () => Streams.WithdrawAsync(Tenant, other.Id, request).AsTask());
        var now = await ReloadAsync(stream);
        Assert.Equal((Usdc(5), Usdc(3), 3L), (now.SettledAmount, now.WithdrawnAmount, now.EventCount));
        Assert.Equal(1L, (await ReloadAsync(other)).EventCount);
        Assert.Equal(Usdc(3), (await Ledger.GetAccountAsync(Tenant, parties.Payout.Id)).Balance.Posted);
        await AssertBooksAsync(now);

        // A new key is a new withdrawal.
        var next = await Streams.WithdrawAsync(Tenant, stream.Id, request with { IdempotencyKey = "w-2" });
        Assert.Equal((Usdc(7), Usdc(6)), (next.Stream.SettledAmount, next.Stream.WithdrawnAmount));
        await AssertBooksAsync(next.Stream);
    }

    [Fact]
    public async Task Retrying_A_Keyed_Withdrawal_Of_Everything_Takes_Nothing_That_Accrued_Since()
    {
        var parties = await PartiesAsync(100);
        var stream = await CreateAsync(parties, 100, 0.5m);
        Clock.Advance(Duration.FromSeconds(10));
        var request = new WithdrawStreamRequest("recipient") { IdempotencyKey = "w-all" };
        var first = await Streams.WithdrawAsync(Tenant, stream.Id, request);

        Clock.Advance(Duration.FromSeconds(10));
        var again = await Streams.WithdrawAsync(Tenant, stream.Id, request);

        Assert.Equal(first.Events.Select(e => e.Id), again.Events.Select(e => e.Id));
        Assert.Equal(Usdc(5), again.Events[^1].Amount);
        Assert.Equal(Usdc(5), (await Ledger.GetAccountAsync(Tenant, parties.Payout.Id)).Balance.Posted);
        await FailsAsync(PaymentsKitErrorCodes.IdempotencyConflict, () => Streams.WithdrawAsync(Tenant, stream.Id, request with { Amount = Usdc(5) }).AsTask());

        // Keys are scoped to the tenant: another tenant's identical key is its own withdrawal.
        var theirs = await PartiesAsync(100, tenant: OtherTenant);
        var theirStream = (await Streams.CreateAsync(OtherTenant, Request(theirs, 100, 0.5m))).Stream;
        Clock.Advance(Duration.FromSeconds(2));
        var theirWithdrawal = await Streams.WithdrawAsync(OtherTenant, theirStream.Id, request);
        Assert.Equal(Usdc(1), theirWithdrawal.Stream.WithdrawnAmount);
        Assert.Equal(Usdc(5), (await ReloadAsync(stream)).WithdrawnAmount);
    }

    [Fact]
    public async Task Concurrent_Retries_Of_A_Keyed_Withdrawal_Withdraw_Once()
    {
        var parties = await PartiesAsync(100);
        var stream = await CreateAsync(parties, 100, 0.5m);
        Clock.Advance(Duration.FromSeconds(10));
        var request = new WithdrawStreamRequest("recipient") { Amount = Usdc(1), IdempotencyKey = "w-race" };

        var results = await Task.WhenAll(Enumerable.Range(0, 16).Select(_ => Task.Run(() => Streams.WithdrawAsync(Tenant, stream.Id, request).AsTask())));

        Assert.Single(results.Select(r => r.Events[^1].Id).Distinct());
        Assert.All(results, r => Assert.Equal((StreamEventKind.Withdrawn, Usdc(1)), (r.Events[^1].Kind, r.Events[^1].Amount)));
        var now = await ReloadAsync(stream);
        Assert.Equal((Usdc(5), Usdc(1), 3L), (now.SettledAmount, now.WithdrawnAmount, now.EventCount));
        Assert.Equal(Usdc(1), (await Ledger.GetAccountAsync(Tenant, parties.Payout.Id)).Balance.Posted);
        Assert.Single((await Ledger.ListTransactionsByReferenceAsync(Tenant, stream.Id.ToString(), null, 100)).Items, t => t.Postings.Any(p => p.AccountId == parties.Payout.Id));
        await AssertBooksAsync(now);
    }

    [Fact]
    public async Task An_Oversized_Withdrawal_Key_Is_Refused_And_Nothing_Moves()
    {
        var parties = await PartiesAsync(100);
        var stream = await CreateAsync(parties, 100, 0.5m);
        Clock.Advance(Duration.FromSeconds(10));

        var error = await FailsAsync(
            PaymentsKitErrorCodes.InvalidArgument,
            () => Streams.WithdrawAsync(Tenant, stream.Id, new WithdrawStreamRequest("recipient") { IdempotencyKey = new string('k', 256) }).AsTask());

        Assert.Equal("idempotency_key", error.Context["field"]);
        Assert.Equal((Usdc(0), 1L), ((await ReloadAsync(stream)).WithdrawnAmount, (await ReloadAsync(stream)).EventCount));
    }

    [Fact]
    public async Task Retried_Settlements_Pauses_Resumptions_And_Cancellations_Move_No_Money_Twice()
    {
        var parties = await PartiesAsync(100);
        var stream = await CreateAsync(parties, 100, 0.5m);
        Clock.Advance(Duration.FromSeconds(10));

        // A settlement moves accrued − settled: its retry moves only what accrued in between (nothing, here).
        Assert.Equal(Usdc(5), (await Streams.SettleAsync(Tenant, stream.Id, By)).Events[^1].Amount);
        Assert.Equal(Usdc(0), (await Streams.SettleAsync(Tenant, stream.Id, By)).Events[^1].Amount);

        // The others change the state, so a retry finds the transition already made.
        await Streams.PauseAsync(Tenant, stream.Id, By);
        await FailsAsync(PaymentsKitErrorCodes.InvalidTransition, () => Streams.PauseAsync(Tenant, stream.Id, By).AsTask());
        await Streams.ResumeAsync(Tenant, stream.Id, By);
        await FailsAsync(PaymentsKitErrorCodes.InvalidTransition, () => Streams.ResumeAsync(Tenant, stream.Id, By).AsTask());
        Clock.Advance(Duration.FromSeconds(2));
        await Streams.CancelAsync(Tenant, stream.Id, By);
        await FailsAsync(PaymentsKitErrorCodes.InvalidTransition, () => Streams.CancelAsync(Tenant, stream.Id, By).AsTask());

        var now = await ReloadAsync(stream);
        Assert.Equal((Usdc(6), Usdc(94)), (now.SettledAmount, now.RefundedAmount));
        Assert.Equal(Usdc(94), (await Ledger.GetAccountAsync(Tenant, parties.Funding.Id)).Balance.Posted);
        await AssertBooksAsync(now);
    }
}
