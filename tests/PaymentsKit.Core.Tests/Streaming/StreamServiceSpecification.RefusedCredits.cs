using NodaTime;
using PaymentsKit.Ledger;
using PaymentsKit.Streaming;
using PaymentsKit.Testing;

namespace PaymentsKit.Tests.Streaming;

/// <summary>
/// Funding and payout accounts that refuse the credits a stream posts to them (flag credits_must_not_exceed_debits: a
/// wallet that cannot pay out more than it holds): the refusal is reported, writes nothing, never holds the recipient's
/// streamed money back, and the stream closes once the account can take the credit.
/// </summary>
public abstract partial class StreamServiceSpecification
{
    [Fact]
    public async Task A_Funding_Account_That_Refuses_The_Refund_Keeps_The_Stream_Due_Yet_Lets_The_Recipient_Withdraw_And_It_Completes_Once_It_Can()
    {
        var parties = await PartiesAsync(0);
        var wallet = await Ledger.CreateAccountAsync(
            Tenant, new CreateLedgerAccountRequest("payer-wallet", "Payer wallet", AssetRegistry.Usdc, LedgerSide.Debit) { Flags = LedgerAccountFlags.CreditsMustNotExceedDebits });
        parties = parties with { Funding = wallet };
        var stream = await CreateAsync(parties, 10, 0.5m, Now, Now + Duration.FromSeconds(10));

        // The wallet pays out everything it holds, the stream's total included: it can no longer take the refund's credit.
        await Ledger.PostTransactionAsync(Tenant, new PostLedgerTransactionRequest([LedgerPosting.Debit(parties.Cash.Id, Usdc(10)), LedgerPosting.Credit(wallet.Id, Usdc(10))]));
        Clock.Advance(Duration.FromSeconds(12));

        Assert.Empty(await SweepAsync(Now));
        var cancel = await FailsAsync(PaymentsKitErrorCodes.InsufficientFunds, () => Streams.CancelAsync(Tenant, stream.Id, By).AsTask());
        Assert.Equal("funding_account_id", cancel.Context["field"]);
        Assert.Equal(stream.Id.ToString(), cancel.Context["stream"]);
        Assert.Contains(wallet.Id.ToString(), cancel.Message, StringComparison.Ordinal);
        await FailsAsync(PaymentsKitErrorCodes.InsufficientFunds, () => Streams.PauseAsync(Tenant, stream.Id, By).AsTask());
        var unchanged = await ReloadAsync(stream);
        Assert.Equal((StreamState.Active, 1L, Usdc(0)), (unchanged.Status, unchanged.Version, unchanged.SettledAmount));

        // What streamed is the recipient's whatever becomes of the payer's refund.
        var withdrawn = await Streams.WithdrawAsync(Tenant, stream.Id, new WithdrawStreamRequest("recipient"));
        Assert.Equal(
            [StreamEventKind.Settled, StreamEventKind.Withdrawn],
            withdrawn.Events.Select(e => e.Kind));
        Assert.Equal((StreamState.Active, Usdc(5), Usdc(5)), (withdrawn.Stream.Status, withdrawn.Stream.SettledAmount, withdrawn.Stream.WithdrawnAmount));
        Assert.Equal(Usdc(5), (await Ledger.GetAccountAsync(Tenant, parties.Payout.Id)).Balance.Posted);
        await AssertBooksAsync(withdrawn.Stream);
        Assert.DoesNotContain((await Streams.SettleAsync(Tenant, stream.Id, By)).Events, e => e.Amount.IsPositive);

        // Once the wallet holds what it owes back, the sweep (after its backoff) completes the stream at its end.
        await Ledger.PostTransactionAsync(Tenant, new PostLedgerTransactionRequest([LedgerPosting.Debit(wallet.Id, Usdc(5)), LedgerPosting.Credit(parties.Cash.Id, Usdc(5))]));
        Clock.Advance(Duration.FromMinutes(5));
        var completed = Assert.Single(await SweepAsync(Now));
        Assert.Equal((StreamState.Completed, Usdc(5), Usdc(5), Usdc(5)), (completed.Status, completed.SettledAmount, completed.WithdrawnAmount, completed.RefundedAmount));
        Assert.Equal(stream.EndTime, completed.ClosedAt);
        Assert.Single(await EventsAsync(completed), e => e.Kind == StreamEventKind.Completed);
        await AssertBooksAsync(completed);
    }

    [Fact]
    public async Task A_Payout_Account_That_Refuses_A_Withdrawal_Says_So_Writes_Nothing_And_Pays_Once_It_Can()
    {
        var parties = await PartiesAsync(100);
        var wallet = await Ledger.CreateAccountAsync(
            Tenant, new CreateLedgerAccountRequest("payout-wallet", "Payout wallet", AssetRegistry.Usdc, LedgerSide.Debit) { Flags = LedgerAccountFlags.CreditsMustNotExceedDebits });
        parties = parties with { Payout = wallet };
        var stream = await CreateAsync(parties, 10, 1);
        Clock.Advance(Duration.FromSeconds(4));

        var refused = await FailsAsync(PaymentsKitErrorCodes.InsufficientFunds, () => Streams.WithdrawAsync(Tenant, stream.Id, new WithdrawStreamRequest("recipient") { Amount = Usdc(3) }).AsTask());
        Assert.Equal("payout_account_id", refused.Context["field"]);
        Assert.Equal(stream.Id.ToString(), refused.Context["stream"]);
        Assert.Contains(wallet.Id.ToString(), refused.Message, StringComparison.Ordinal);
        var unchanged = await ReloadAsync(stream);
        Assert.Equal((1L, Usdc(0), Usdc(0)), (unchanged.Version, unchanged.SettledAmount, unchanged.WithdrawnAmount));

        await Ledger.PostTransactionAsync(Tenant, new PostLedgerTransactionRequest([LedgerPosting.Debit(wallet.Id, Usdc(3)), LedgerPosting.Credit(parties.Cash.Id, Usdc(3))]));
        var paid = await Streams.WithdrawAsync(Tenant, stream.Id, new WithdrawStreamRequest("recipient") { Amount = Usdc(3) });
        Assert.Equal((Usdc(4), Usdc(3)), (paid.Stream.SettledAmount, paid.Stream.WithdrawnAmount));
        var cancelled = await Streams.CancelAsync(Tenant, stream.Id, By);
        Assert.Equal((StreamState.Cancelled, Usdc(6)), (cancelled.Stream.Status, cancelled.Stream.RefundedAmount));
        await AssertBooksAsync(cancelled.Stream);
    }
    [Fact]
    public async Task Operations_Racing_Over_Two_Hosts_On_A_Stream_Whose_Refund_Is_Refused_Pay_What_Streamed_Once_And_It_Completes_Once_The_Account_Can_Take_It()
    {
        var parties = await PartiesAsync(0);
        var wallet = await Ledger.CreateAccountAsync(
            Tenant, new CreateLedgerAccountRequest("payer-wallet", "Payer wallet", AssetRegistry.Usdc, LedgerSide.Debit) { Flags = LedgerAccountFlags.CreditsMustNotExceedDebits });
        parties = parties with { Funding = wallet };
        var stream = await CreateAsync(parties, 10, 0.5m, Now, Now + Duration.FromSeconds(10));
        await Ledger.PostTransactionAsync(Tenant, new PostLedgerTransactionRequest([LedgerPosting.Debit(parties.Cash.Id, Usdc(10)), LedgerPosting.Credit(wallet.Id, Usdc(10))]));
        var other = await OtherHostAsync();
        Clock.Advance(Duration.FromSeconds(12));

        // 5 streamed and the wallet cannot take the 5 that did not: two withdrawals of 2 fit, nothing closes the stream.
        var outcomes = await Race.RunAsync(
            Race.Times(3, "withdraw", async () => (await other.Streams.WithdrawAsync(Tenant, stream.Id, new WithdrawStreamRequest("recipient") { Amount = Usdc(2) })).Stream.Status)
                .Concat(Race.Times(3, "settle", async () => (await Streams.SettleAsync(Tenant, stream.Id, By)).Stream.Status))
                .Concat(Race.Times(3, "sweep", async () => (await SweepAsync(Now)).Count == 0 ? StreamState.Active : StreamState.Completed))
                .Concat(Race.Times(3, "cancel", async () => (await Streams.CancelAsync(Tenant, stream.Id, By)).Stream.Status))
                .Concat(Race.Times(3, "pause", async () => (await other.Streams.PauseAsync(Tenant, stream.Id, By)).Stream.Status)));

        Assert.Equal(2, outcomes.Count(o => o.Caller == "withdraw" && o.Won));
        Assert.All(outcomes.Where(o => o.Caller is "settle" or "sweep" || (o.Caller == "withdraw" && o.Won)), o => Assert.Equal(StreamState.Active, o.Value));
        Assert.All(outcomes.Where(o => !o.Won), o => Assert.Equal(PaymentsKitErrorCodes.InsufficientFunds, o.Code));
        Assert.All(outcomes.Where(o => o.Caller is "cancel" or "pause"), o => Assert.False(o.Won));
        var due = await ReloadAsync(stream);
        Assert.Equal((StreamState.Active, Usdc(5), Usdc(4), Usdc(0)), (due.Status, due.SettledAmount, due.WithdrawnAmount, due.RefundedAmount));
        Assert.DoesNotContain(await EventsAsync(due), e => e.Kind is StreamEventKind.Completed or StreamEventKind.Cancelled or StreamEventKind.Paused);
        await AssertBooksAsync(due);

        // The payer funds the wallet on the other host; a host that never saw the stream fail completes it at once.
        await other.Ledger.PostTransactionAsync(Tenant, new PostLedgerTransactionRequest([LedgerPosting.Debit(wallet.Id, Usdc(5)), LedgerPosting.Credit(parties.Cash.Id, Usdc(5))]));
        var completed = Assert.Single(await (await OtherHostAsync()).Streams.CompleteDueAsync(Now, StreamService.MaxSweepLimit), s => s.TenantId == Tenant);
        Assert.Equal((StreamState.Completed, Usdc(5), Usdc(5)), (completed.Status, completed.SettledAmount, completed.RefundedAmount));
        var last = await Streams.WithdrawAsync(Tenant, stream.Id, new WithdrawStreamRequest("recipient"));
        Assert.Equal(Usdc(1), last.Events[^1].Amount);
        Assert.Equal(Usdc(5), (await Ledger.GetAccountAsync(Tenant, parties.Payout.Id)).Balance.Posted);
        Assert.Equal(Usdc(0), (await Ledger.GetAccountAsync(Tenant, wallet.Id)).Balance.Posted);
        await AssertBooksAsync(last.Stream);
    }
}
