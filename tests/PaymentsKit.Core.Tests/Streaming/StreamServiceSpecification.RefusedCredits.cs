using FsCheck;
using FsCheck.Fluent;
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
        var (parties, wallet, stream) = await StreamFromDrainedWalletAsync();
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
        var wallet = await WalletAsync(Tenant, "payout-wallet", "Payout wallet");
        parties = parties with { Payout = wallet };
        var stream = await CreateAsync(parties, 10, 1);
        Clock.Advance(Duration.FromSeconds(4));

        var keyed = new WithdrawStreamRequest("recipient") { Amount = Usdc(3), IdempotencyKey = "payout-1" };
        var refused = await FailsAsync(PaymentsKitErrorCodes.InsufficientFunds, () => Streams.WithdrawAsync(Tenant, stream.Id, keyed).AsTask());
        Assert.Equal("payout_account_id", refused.Context["field"]);
        Assert.Equal(stream.Id.ToString(), refused.Context["stream"]);
        Assert.Contains(wallet.Id.ToString(), refused.Message, StringComparison.Ordinal);
        var unchanged = await ReloadAsync(stream);
        Assert.Equal((1L, Usdc(0), Usdc(0)), (unchanged.Version, unchanged.SettledAmount, unchanged.WithdrawnAmount));

        await Ledger.PostTransactionAsync(Tenant, new PostLedgerTransactionRequest([LedgerPosting.Debit(wallet.Id, Usdc(3)), LedgerPosting.Credit(parties.Cash.Id, Usdc(3))]));
        // The refusal wrote nothing, its key included: the same keyed request runs again, and its repeat replays it.
        var paid = await Streams.WithdrawAsync(Tenant, stream.Id, keyed);
        Assert.Equal((Usdc(4), Usdc(3)), (paid.Stream.SettledAmount, paid.Stream.WithdrawnAmount));
        Assert.Equal(paid.Events, (await Streams.WithdrawAsync(Tenant, stream.Id, keyed)).Events);
        var cancelled = await Streams.CancelAsync(Tenant, stream.Id, By);
        Assert.Equal((StreamState.Cancelled, Usdc(6)), (cancelled.Stream.Status, cancelled.Stream.RefundedAmount));
        await AssertBooksAsync(cancelled.Stream);
    }
    [Fact]
    public async Task Operations_Racing_Over_Two_Hosts_On_A_Stream_Whose_Refund_Is_Refused_Pay_What_Streamed_Once_And_It_Completes_Once_The_Account_Can_Take_It()
    {
        var (parties, wallet, stream) = await StreamFromDrainedWalletAsync();
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
    [Fact]
    public void Any_Schedule_On_A_Stream_Whose_Funding_Wallet_Drains_And_Refills_Never_Holds_Back_What_Streamed()
    {
        var steps = Gen.Elements("wait", "withdraw", "withdraw", "settle", "sweep", "sweep", "cancel", "pause", "resume", "drain", "drain", "refill");
        var schedule =
            from hasEnd in Gen.Elements(true, false)
            from list in Gen.ListOf(Gen.Zip(steps, Gen.Choose(0, 8)))
            select (hasEnd, list.ToArray());
        Prop.ForAll(Arb.From(schedule), s => Blocking(() => RunWalletScheduleAsync(s.hasEnd, s.Item2)))
            .Check(Config.QuickThrowOnFailure.WithMaxTest(PropertyIterations / 2).WithEndSize(30));
    }

    /// <summary>
    /// One stream funded from a wallet that refuses credits beyond what it holds, through any schedule: after every step the
    /// books agree with the stream, a closed stream's shares add up to its total, a withdrawal of everything is refused only
    /// when nothing is withdrawable, and a refusal names the wallet only while the wallet cannot take the refund.
    /// </summary>
    private async Task RunWalletScheduleAsync(bool hasEnd, (string Step, int Seconds)[] schedule)
    {
        var tenant = MerchantId.FromGuid(Guid.CreateVersion7());
        var parties = await PartiesAsync(0, tenant: tenant);
        var wallet = await WalletAsync(tenant, "payer-wallet", "Payer wallet");
        var created = await Streams.CreateAsync(
            tenant, Request(parties with { Funding = wallet }, 20, 0.7m, Now, hasEnd ? Now + Duration.FromSeconds(15) : null));
        var stream = created.Stream;
        var settledAt = stream.LastSettledAt;
        foreach (var (step, seconds) in schedule)
        {
            Clock.Advance(Duration.FromSeconds(seconds) + Duration.FromMilliseconds(seconds * 37));
            var room = await RoomAsync();
            var before = await Streams.GetStatementAsync(tenant, stream.Id);
            try
            {
                switch (step)
                {
                    case "withdraw":
                        await Streams.WithdrawAsync(tenant, stream.Id, new WithdrawStreamRequest("recipient"));
                        break;
                    case "settle":
                        await Streams.SettleAsync(tenant, stream.Id, By);
                        break;
                    case "sweep":
                        await SweepAsync(Now, tenant);
                        break;
                    case "cancel":
                        await Streams.CancelAsync(tenant, stream.Id, By);
                        break;
                    case "pause":
                        await Streams.PauseAsync(tenant, stream.Id, By);
                        break;
                    case "resume":
                        await Streams.ResumeAsync(tenant, stream.Id, By);
                        break;
                    case "drain" when room.IsPositive:
                        await Ledger.PostTransactionAsync(tenant, new PostLedgerTransactionRequest([LedgerPosting.Debit(parties.Cash.Id, room), LedgerPosting.Credit(wallet.Id, room)]));
                        break;
                    case "refill":
                        await Ledger.PostTransactionAsync(tenant, new PostLedgerTransactionRequest([LedgerPosting.Debit(wallet.Id, Usdc(7)), LedgerPosting.Credit(parties.Cash.Id, Usdc(7))]));
                        break;
                }
            }
            catch (PaymentsKitException ex) when (ex.Code == PaymentsKitErrorCodes.InsufficientFunds && ex.Context.GetValueOrDefault("field") is "funding_account_id")
            {
                Assert.True(room < before.Refundable, $"{step}: the wallet has room for {room} yet refused the refund of {before.Refundable}");
                Assert.NotEqual("withdraw", step);
                Assert.NotEqual("settle", step);
            }
            catch (PaymentsKitException ex) when (ex.Code == PaymentsKitErrorCodes.InsufficientFunds && step == "withdraw")
            {
                Assert.Equal(0m, before.Withdrawable.Amount);
            }
            catch (PaymentsKitException ex) when (ex.Code == PaymentsKitErrorCodes.InvalidTransition && step is "settle" or "cancel" or "pause" or "resume")
            {
            }

            stream = await Streams.GetAsync(tenant, stream.Id);
            Assert.True(stream.LastSettledAt >= settledAt, $"{step}: last_settled_at went back from {settledAt} to {stream.LastSettledAt}");
            settledAt = stream.LastSettledAt;
            if (stream.IsClosed)
            {
                Assert.Equal(stream.TotalAmount, stream.SettledAmount + stream.RefundedAmount);
            }

            await AssertBooksAsync(stream);
        }

        var events = await EventsAsync(stream);
        Assert.Equal(stream.SettledAmount.Amount, events.Where(e => e.Kind is not (StreamEventKind.Created or StreamEventKind.Withdrawn)).Sum(e => e.Amount.Amount));
        Assert.Equal(stream.WithdrawnAmount.Amount, events.Where(e => e.Kind == StreamEventKind.Withdrawn).Sum(e => e.Amount.Amount));
        Assert.Equal(stream.RefundedAmount.Amount, events.Sum(e => e.Refunded.Amount));

        async Task<Money> RoomAsync()
        {
            var account = await Ledger.GetAccountAsync(tenant, wallet.Id);
            return account.DebitsPosted - account.CreditsPosted;
        }
    }

    /// <summary>A wallet: an account flagged credits_must_not_exceed_debits, which cannot pay out more than it holds.</summary>
    private async Task<LedgerAccount> WalletAsync(MerchantId tenant, string code, string name) =>
        await Ledger.CreateAccountAsync(
            tenant, new CreateLedgerAccountRequest(code, name, AssetRegistry.Usdc, LedgerSide.Debit) { Flags = LedgerAccountFlags.CreditsMustNotExceedDebits });

    /// <summary>
    /// A stream of 10 over 10 s funded from a wallet that then paid out everything it held, the stream's total included:
    /// the wallet can no longer take the refund's credit.
    /// </summary>
    private async Task<(Parties Parties, LedgerAccount Wallet, PaymentStream Stream)> StreamFromDrainedWalletAsync()
    {
        var parties = await PartiesAsync(0);
        var wallet = await WalletAsync(Tenant, "payer-wallet", "Payer wallet");
        parties = parties with { Funding = wallet };
        var stream = await CreateAsync(parties, 10, 0.5m, Now, Now + Duration.FromSeconds(10));
        await Ledger.PostTransactionAsync(Tenant, new PostLedgerTransactionRequest([LedgerPosting.Debit(parties.Cash.Id, Usdc(10)), LedgerPosting.Credit(wallet.Id, Usdc(10))]));
        return (parties, wallet, stream);
    }
}
