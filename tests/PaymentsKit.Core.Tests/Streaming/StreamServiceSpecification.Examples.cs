using NodaTime;
using PaymentsKit.Ledger;
using PaymentsKit.Streaming;

namespace PaymentsKit.Tests.Streaming;

public abstract partial class StreamServiceSpecification
{
    [Fact]
    public async Task A_Stored_Stream_And_Its_Events_Equal_The_Returned_Ones_With_Their_Pauses_And_Metadata()
    {
        var parties = await PartiesAsync(1000);
        var created = await Streams.CreateAsync(Tenant, Request(parties, 1000, 1) with { Metadata = new Dictionary<string, string> { ["order"] = "42", ["cart"] = "7" } });
        Clock.Advance(Duration.FromSeconds(10));
        var paused = await Streams.PauseAsync(Tenant, created.Stream.Id, By);

        var stored = await ReloadAsync(paused.Stream);
        Assert.Single(stored.Pauses);
        Assert.Equal(paused.Stream, stored);
        Assert.Equal(paused.Stream.GetHashCode(), stored.GetHashCode());
        Assert.Equal([.. created.Events, .. paused.Events], await EventsAsync(stored));
    }

    [Fact]
    public async Task Ten_Units_Per_Day_Over_One_Day_Settles_Half_At_Noon_And_Completes_At_The_End()
    {
        var parties = await PartiesAsync(100);
        var start = Now;
        var stream = await CreateAsync(parties, 10, 0.000115740m, start, start + Duration.FromDays(1));
        Assert.Equal(StreamState.Active, stream.Status);
        Assert.Equal(start + Duration.FromDays(1), stream.CompletesAt);

        Clock.Advance(Duration.FromHours(12));
        var noon = await Streams.SettleAsync(Tenant, stream.Id, By);
        Assert.Equal(Usdc(4.999968m), Assert.Single(noon.Events).Amount);
        Assert.Equal(Usdc(4.999968m), noon.Stream.SettledAmount);
        Assert.Equal(Now, noon.Stream.LastSettledAt);
        var statement = await Streams.GetStatementAsync(Tenant, stream.Id);
        Assert.Equal((Usdc(4.999968m), Usdc(0), Usdc(4.999968m), Usdc(5.000032m), false), (statement.Accrued, statement.Unsettled, statement.Withdrawable, statement.Refundable, statement.IsComplete));

        Clock.Advance(Duration.FromHours(12));
        var completed = Assert.Single(await SweepAsync(Now));
        Assert.Equal(StreamState.Completed, completed.Status);
        Assert.Equal(Usdc(9.999936m), completed.SettledAmount);
        Assert.Equal(Usdc(0.000064m), completed.RefundedAmount);
        Assert.Equal(start + Duration.FromDays(1), completed.ClosedAt);
        Assert.Equal(start + Duration.FromDays(1), completed.LastSettledAt);

        var events = await EventsAsync(completed);
        Assert.Equal([StreamEventKind.Created, StreamEventKind.Settled, StreamEventKind.Completed], events.Select(e => e.Kind));
        Assert.Equal((StreamService.SystemActor, StreamState.Active, StreamState.Completed, Usdc(4.999968m), Usdc(0.000064m)), (events[2].Actor, events[2].From!.Value, events[2].To, events[2].Amount, events[2].Refunded));
        Assert.Equal(Usdc(100 - 10 + 0.000064m), (await Ledger.GetAccountAsync(Tenant, parties.Funding.Id)).Balance.Posted);
        await AssertBooksAsync(completed);
    }

    [Fact]
    public async Task An_Open_Ended_Stream_Depletes_Exactly_Its_Total_And_A_Settlement_After_That_Completes_It()
    {
        var parties = await PartiesAsync(10);
        var stream = await CreateAsync(parties, 10, 0.000115741m);
        Assert.Equal(stream.StartTime + Duration.FromSeconds(86_399) + Duration.FromTicks(8_064_650), stream.CompletesAt);

        Clock.Advance(Duration.FromDays(1));
        var result = await Streams.SettleAsync(Tenant, stream.Id, By);

        var completion = Assert.Single(result.Events);
        Assert.Equal((StreamEventKind.Completed, StreamService.SystemActor), (completion.Kind, completion.Actor));
        Assert.Equal(StreamState.Completed, result.Stream.Status);
        Assert.Equal((Usdc(10), Usdc(0)), (result.Stream.SettledAmount, result.Stream.RefundedAmount));
        Assert.Equal(stream.CompletesAt, result.Stream.ClosedAt);
        Assert.Equal(Usdc(0), (await Ledger.GetAccountAsync(Tenant, parties.Funding.Id)).Balance.Posted);
        await AssertBooksAsync(result.Stream);
    }

    [Fact]
    public async Task A_Stream_Starting_In_The_Future_Accrues_Nothing_Before_Its_Start()
    {
        var parties = await PartiesAsync(100);
        var start = Now + Duration.FromHours(1);
        var stream = await CreateAsync(parties, 100, 2, start);
        Assert.Equal(Usdc(0), (await Streams.GetStatementAsync(Tenant, stream.Id)).Accrued);

        Clock.Advance(Duration.FromMinutes(30));
        var early = await Streams.SettleAsync(Tenant, stream.Id, By);
        Assert.Equal(Usdc(0), Assert.Single(early.Events).Amount);
        Assert.Empty(early.Events[0].LedgerTransactionIds);
        Assert.Equal(Usdc(0), (await Streams.GetStatementAsync(Tenant, stream.Id, start)).Accrued);

        Clock.Set(start + Duration.FromSeconds(1));
        Assert.Equal(Usdc(2), (await Streams.GetStatementAsync(Tenant, stream.Id)).Accrued);
        var settled = await Streams.SettleAsync(Tenant, stream.Id, By);
        Assert.Equal(Usdc(2), settled.Stream.SettledAmount);
        Assert.Single(settled.Events[0].LedgerTransactionIds);
        await AssertBooksAsync(settled.Stream);
    }

    [Fact]
    public async Task A_Stream_Whose_End_Is_Already_Past_Completes_As_It_Is_Created()
    {
        var parties = await PartiesAsync(100);
        var start = Now - Duration.FromDays(1);
        var result = await Streams.CreateAsync(Tenant, Request(parties, 100, 0.5m, start, start + Duration.FromSeconds(120)));

        Assert.Equal(StreamState.Completed, result.Stream.Status);
        Assert.Equal([StreamEventKind.Created, StreamEventKind.Completed], result.Events.Select(e => e.Kind));
        Assert.Equal((Usdc(60), Usdc(40), Usdc(0)), (result.Stream.SettledAmount, result.Stream.RefundedAmount, result.Stream.WithdrawnAmount));
        Assert.Equal(start + Duration.FromSeconds(120), result.Stream.ClosedAt);
        Assert.Null(result.Stream.CompletesAt);
        Assert.Equal(Usdc(40), (await Ledger.GetAccountAsync(Tenant, parties.Funding.Id)).Balance.Posted);
        Assert.Empty(await SweepAsync(Now));
        await AssertBooksAsync(result.Stream);
    }

    [Fact]
    public async Task Pausing_Settles_And_Stops_Accrual_Until_Resumed_And_Every_Step_Is_Recorded()
    {
        var parties = await PartiesAsync(1000);
        var stream = await CreateAsync(parties, 1000, 1);
        Clock.Advance(Duration.FromSeconds(10));
        var paused = await Streams.PauseAsync(Tenant, stream.Id, new StreamAction("alice") { Reason = "dispute" });
        Assert.Equal(StreamState.Paused, paused.Stream.Status);
        Assert.Equal(Usdc(10), paused.Stream.SettledAmount);
        Assert.Null(paused.Stream.CompletesAt);

        Clock.Advance(Duration.FromSeconds(100));
        Assert.Equal(Usdc(10), (await Streams.GetStatementAsync(Tenant, stream.Id)).Accrued);
        Assert.Equal(Usdc(0), Assert.Single((await Streams.SettleAsync(Tenant, stream.Id, By)).Events).Amount);

        var resumed = await Streams.ResumeAsync(Tenant, stream.Id, new StreamAction("bob"));
        Assert.Equal(StreamState.Active, resumed.Stream.Status);
        Assert.Equal(Now + Duration.FromSeconds(990), resumed.Stream.CompletesAt);
        Assert.Equal([new PauseInterval(Now - Duration.FromSeconds(100), Now)], resumed.Stream.Pauses);
        Clock.Advance(Duration.FromSeconds(5));
        Assert.Equal(Usdc(15), (await Streams.GetStatementAsync(Tenant, stream.Id)).Accrued);

        var events = await EventsAsync(resumed.Stream);
        Assert.Equal(
            [
                (1L, StreamEventKind.Created, (StreamState?)null, StreamState.Active, "payer-1", (string?)null, Usdc(1000)),
                (2L, StreamEventKind.Paused, StreamState.Active, StreamState.Paused, "alice", "dispute", Usdc(10)),
                (3L, StreamEventKind.Settled, StreamState.Paused, StreamState.Paused, "tester", null, Usdc(0)),
                (4L, StreamEventKind.Resumed, StreamState.Paused, StreamState.Active, "bob", null, Usdc(0)),
            ],
            events.Select(e => (e.Sequence, e.Kind, e.From, e.To, e.Actor, e.Reason, e.Amount)));
        Assert.Equal(Now - Duration.FromSeconds(5), events[3].At);
        Assert.Equal(4, resumed.Stream.EventCount);
        await AssertBooksAsync(resumed.Stream);
    }

    [Fact]
    public async Task Cancelling_Gives_The_Recipient_Everything_Accrued_And_The_Payer_The_Rest()
    {
        var parties = await PartiesAsync(100);
        var stream = await CreateAsync(parties, 100, 0.5m);
        Clock.Advance(Duration.FromSeconds(61));

        var cancelled = await Streams.CancelAsync(Tenant, stream.Id, By);

        Assert.Equal(StreamState.Cancelled, cancelled.Stream.Status);
        Assert.Equal((Usdc(30.5m), Usdc(69.5m)), (cancelled.Stream.SettledAmount, cancelled.Stream.RefundedAmount));
        Assert.Equal(cancelled.Stream.TotalAmount, cancelled.Stream.SettledAmount + cancelled.Stream.RefundedAmount);
        var cancellation = Assert.Single(cancelled.Events);
        Assert.Equal((Usdc(30.5m), Usdc(69.5m), 2), (cancellation.Amount, cancellation.Refunded, cancellation.LedgerTransactionIds.Count));
        Assert.Equal(Usdc(69.5m), (await Ledger.GetAccountAsync(Tenant, parties.Funding.Id)).Balance.Posted);

        Clock.Advance(Duration.FromHours(1));
        var statement = await Streams.GetStatementAsync(Tenant, stream.Id);
        Assert.Equal((Usdc(30.5m), Usdc(30.5m), Usdc(0), true), (statement.Accrued, statement.Withdrawable, statement.Refundable, statement.IsComplete));
        var withdrawn = await Streams.WithdrawAsync(Tenant, stream.Id, new WithdrawStreamRequest("recipient"));
        Assert.Equal(Usdc(30.5m), withdrawn.Stream.WithdrawnAmount);
        Assert.Equal(Usdc(30.5m), (await Ledger.GetAccountAsync(Tenant, parties.Payout.Id)).Balance.Posted);
        await AssertBooksAsync(withdrawn.Stream);
    }

    [Fact]
    public async Task Cancelling_A_Paused_Stream_Counts_Only_The_Time_Before_The_Pause()
    {
        var parties = await PartiesAsync(100);
        var stream = await CreateAsync(parties, 100, 0.5m);
        Clock.Advance(Duration.FromSeconds(10));
        await Streams.PauseAsync(Tenant, stream.Id, By);
        Clock.Advance(Duration.FromSeconds(50));

        var cancelled = await Streams.CancelAsync(Tenant, stream.Id, By);

        Assert.Equal((Usdc(5), Usdc(95)), (cancelled.Stream.SettledAmount, cancelled.Stream.RefundedAmount));
        Assert.Equal((StreamState.Paused, StreamState.Cancelled), (cancelled.Events[0].From!.Value, cancelled.Events[0].To));
        Assert.Equal([new PauseInterval(Now - Duration.FromSeconds(50), Now)], cancelled.Stream.Pauses);
        await AssertBooksAsync(cancelled.Stream);
    }

    [Fact]
    public async Task Withdrawals_Settle_First_And_Never_Take_More_Than_Has_Accrued()
    {
        var parties = await PartiesAsync(100);
        var stream = await CreateAsync(parties, 100, 1);
        Clock.Advance(Duration.FromSeconds(10));

        var first = await Streams.WithdrawAsync(Tenant, stream.Id, new WithdrawStreamRequest("recipient") { Amount = Usdc(4) });
        Assert.Equal([StreamEventKind.Settled, StreamEventKind.Withdrawn], first.Events.Select(e => e.Kind));
        Assert.Equal((Usdc(10), Usdc(4)), (first.Stream.SettledAmount, first.Stream.WithdrawnAmount));

        var refused = await FailsAsync(PaymentsKitErrorCodes.InsufficientFunds, () => Streams.WithdrawAsync(Tenant, stream.Id, new WithdrawStreamRequest("recipient") { Amount = Usdc(7) }).AsTask());
        Assert.Equal(Usdc(6).ToString(), refused.Context["withdrawable"]);
        Assert.Equal(first.Stream.Version, (await ReloadAsync(stream)).Version);

        var rest = await Streams.WithdrawAsync(Tenant, stream.Id, new WithdrawStreamRequest("recipient"));
        Assert.Equal(Usdc(6), Assert.Single(rest.Events).Amount);
        await FailsAsync(PaymentsKitErrorCodes.InsufficientFunds, () => Streams.WithdrawAsync(Tenant, stream.Id, new WithdrawStreamRequest("recipient")).AsTask());
        Assert.Equal(Usdc(10), (await Ledger.GetAccountAsync(Tenant, parties.Payout.Id)).Balance.Posted);
        await AssertBooksAsync(await ReloadAsync(stream));
    }

    [Theory]
    [InlineData(StreamState.Active)]
    [InlineData(StreamState.Paused)]
    [InlineData(StreamState.Cancelled)]
    [InlineData(StreamState.Completed)]
    public async Task Pause_Resume_And_Cancel_Follow_The_Transition_Table_From_Every_State(StreamState state)
    {
        var parties = await PartiesAsync(1000);
        var operations = new (StreamState Target, Func<StreamId, Task<StreamOperationResult>> Run)[]
        {
            (StreamState.Paused, id => Streams.PauseAsync(Tenant, id, By).AsTask()),
            (StreamState.Active, id => Streams.ResumeAsync(Tenant, id, By).AsTask()),
            (StreamState.Cancelled, id => Streams.CancelAsync(Tenant, id, By).AsTask()),
        };
        foreach (var (target, run) in operations)
        {
            var stream = await InStateAsync(parties, state);
            if (StreamLifecycle.Machine.CanTransition(state, target))
            {
                Assert.Equal(target, (await run(stream.Id)).Stream.Status);
                continue;
            }

            var error = await FailsAsync(PaymentsKitErrorCodes.InvalidTransition, () => run(stream.Id));
            Assert.Contains(stream.Id.ToString(), error.Message, StringComparison.Ordinal);
            var after = await ReloadAsync(stream);
            Assert.Equal((stream.Version, stream.EventCount, stream.Status), (after.Version, after.EventCount, after.Status));
        }

        var last = await InStateAsync(parties, state);
        if (last.IsClosed)
        {
            await FailsAsync(PaymentsKitErrorCodes.InvalidTransition, () => Streams.SettleAsync(Tenant, last.Id, By).AsTask());
        }
        else
        {
            Assert.Equal(state, (await Streams.SettleAsync(Tenant, last.Id, By)).Stream.Status);
        }

        foreach (var stream in (await Streams.ListAsync(Tenant, null, 100)).Items)
        {
            await AssertBooksAsync(stream);
        }
    }

    [Fact]
    public async Task An_Operation_On_A_Stream_Past_Its_Completion_Completes_It_First()
    {
        var parties = await PartiesAsync(100);
        var stream = await CreateAsync(parties, 100, 1, Now, Now + Duration.FromSeconds(60));
        Clock.Advance(Duration.FromSeconds(90));

        var error = await FailsAsync(PaymentsKitErrorCodes.InvalidTransition, () => Streams.PauseAsync(Tenant, stream.Id, By).AsTask());
        Assert.Contains("completed", error.Message, StringComparison.Ordinal);
        Assert.Equal((StreamState.Active, stream.Version), ((await ReloadAsync(stream)).Status, (await ReloadAsync(stream)).Version));
        Assert.Equal(Usdc(0), (await Ledger.GetAccountAsync(Tenant, stream.RecipientAccountId)).Balance.Posted);

        var withdrawn = await Streams.WithdrawAsync(Tenant, stream.Id, new WithdrawStreamRequest("recipient") { Amount = Usdc(20) });
        Assert.Equal([StreamEventKind.Completed, StreamEventKind.Withdrawn], withdrawn.Events.Select(e => e.Kind));
        Assert.Equal((StreamState.Completed, Usdc(60), Usdc(40), Usdc(20)), (withdrawn.Stream.Status, withdrawn.Stream.SettledAmount, withdrawn.Stream.RefundedAmount, withdrawn.Stream.WithdrawnAmount));
        Assert.Empty(await SweepAsync(Now));
        await AssertBooksAsync(withdrawn.Stream);
    }

    [Fact]
    public async Task Resuming_After_The_End_Passed_During_A_Pause_Completes_With_Only_The_Active_Time()
    {
        var parties = await PartiesAsync(100);
        var start = Now;
        var stream = await CreateAsync(parties, 100, 1, start, start + Duration.FromSeconds(100));
        Clock.Advance(Duration.FromSeconds(10));
        await Streams.PauseAsync(Tenant, stream.Id, By);
        Clock.Advance(Duration.FromSeconds(200));
        Assert.Empty(await SweepAsync(Now));

        var resumed = await Streams.ResumeAsync(Tenant, stream.Id, By);

        Assert.Equal([StreamEventKind.Resumed, StreamEventKind.Completed], resumed.Events.Select(e => e.Kind));
        Assert.Equal((StreamState.Completed, Usdc(10), Usdc(90)), (resumed.Stream.Status, resumed.Stream.SettledAmount, resumed.Stream.RefundedAmount));
        Assert.Equal(start + Duration.FromSeconds(100), resumed.Stream.ClosedAt);
        await AssertBooksAsync(resumed.Stream);
    }

    [Fact]
    public async Task Last_Settled_At_Never_Moves_Back_When_A_Stream_Settled_Past_Its_End_While_Paused_Completes_On_Resumption()
    {
        var parties = await PartiesAsync(100);
        var start = Now;
        var stream = await CreateAsync(parties, 100, 1, start, start + Duration.FromSeconds(50));
        Clock.Advance(Duration.FromSeconds(10));
        await Streams.PauseAsync(Tenant, stream.Id, By);
        Clock.Advance(Duration.FromSeconds(100));
        var settled = (await Streams.SettleAsync(Tenant, stream.Id, By)).Stream;
        Assert.Equal(Now, settled.LastSettledAt);
        Clock.Advance(Duration.FromSeconds(10));

        var resumed = await Streams.ResumeAsync(Tenant, stream.Id, By);

        // The completion applies at the end (50 s), but the settlement at 110 s already covered everything up to then.
        Assert.Equal((StreamState.Completed, start + Duration.FromSeconds(50)), (resumed.Stream.Status, resumed.Stream.ClosedAt));
        Assert.Equal(settled.LastSettledAt, resumed.Stream.LastSettledAt);
        Assert.Equal((Usdc(10), Usdc(90)), (resumed.Stream.SettledAmount, resumed.Stream.RefundedAmount));
        await AssertBooksAsync(resumed.Stream);
    }

    [Fact]
    public async Task The_Sweep_Completes_Exactly_The_Due_Streams_Once()
    {
        var parties = await PartiesAsync(1000);
        var first = await CreateAsync(parties, 100, 1);
        var second = await CreateAsync(parties, 200, 1);
        var paused = await CreateAsync(parties, 50, 1);
        var later = await CreateAsync(parties, 100, 0.1m, Now, Now + Duration.FromSeconds(1000));
        Clock.Advance(Duration.FromSeconds(10));
        await Streams.PauseAsync(Tenant, paused.Id, By);
        await Streams.PauseAsync(Tenant, later.Id, By);
        Clock.Advance(Duration.FromSeconds(5));
        await Streams.ResumeAsync(Tenant, later.Id, By);

        Clock.Advance(Duration.FromSeconds(135));
        Assert.Equal([first.Id], (await SweepAsync(Now)).Select(s => s.Id));
        Assert.Empty(await SweepAsync(Now));

        Clock.Advance(Duration.FromSeconds(100));
        Assert.Equal([second.Id], (await SweepAsync(Now)).Select(s => s.Id));
        Clock.Advance(Duration.FromSeconds(1000));
        var last = Assert.Single(await SweepAsync(Now));
        Assert.Equal((later.Id, Usdc(99.5m), Usdc(0.5m)), (last.Id, last.SettledAmount, last.RefundedAmount));
        Assert.Equal(StreamState.Paused, (await ReloadAsync(paused)).Status);
        foreach (var stream in (await Streams.ListAsync(Tenant, null, 10)).Items)
        {
            await AssertBooksAsync(stream);
        }
    }

    [Fact]
    public async Task A_Sweep_Told_A_Later_Now_Than_The_Clock_Completes_Only_What_Has_Streamed_By_The_Clock()
    {
        var parties = await PartiesAsync(1000);
        var stream = await CreateAsync(parties, 100, 1);
        Clock.Advance(Duration.FromSeconds(40));

        // Completing at now + 1 hour would pay the recipient 60 that has not streamed and take the payer's right to cancel.
        Assert.Empty(await SweepAsync(Now + Duration.FromHours(1)));
        var running = await ReloadAsync(stream);
        Assert.Equal((StreamState.Active, Usdc(0), stream.Version), (running.Status, running.SettledAmount, running.Version));
        var cancelled = (await Streams.CancelAsync(Tenant, stream.Id, By)).Stream;
        Assert.Equal((Usdc(40), Usdc(60)), (cancelled.SettledAmount, cancelled.RefundedAmount));

        var other = await CreateAsync(parties, 100, 1);
        Clock.Advance(Duration.FromSeconds(100));
        var completed = Assert.Single(await SweepAsync(Now + Duration.FromHours(1)));
        Assert.Equal((other.Id, StreamState.Completed, other.CompletesAt, Now), (completed.Id, completed.Status, completed.ClosedAt, completed.UpdatedAt));
        await AssertBooksAsync(completed);
    }

    [Fact]
    public async Task Concurrent_Sweeps_Complete_Each_Due_Stream_Exactly_Once()
    {
        var parties = await PartiesAsync(1000);
        var streams = new List<PaymentStream>();
        for (var i = 0; i < 12; i++)
        {
            streams.Add(await CreateAsync(parties, 10 + i, 1));
        }

        Clock.Advance(Duration.FromMinutes(5));
        var sweeps = await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => Task.Run(() => SweepAsync(Now))));

        var completed = sweeps.SelectMany(s => s).Select(s => s.Id).ToList();
        Assert.Equal(streams.Select(s => s.Id.Value).Order(), completed.Select(id => id.Value).Order());
        foreach (var stream in streams)
        {
            var now = await ReloadAsync(stream);
            Assert.Equal((StreamState.Completed, now.TotalAmount, 2L), (now.Status, now.SettledAmount, now.EventCount));
        }

        await AssertBooksAsync(await ReloadAsync(streams[0]));
    }

    [Fact]
    public async Task Concurrent_Settlements_Of_One_Stream_Lose_No_Update_And_No_Dust()
    {
        var parties = await PartiesAsync(100);
        var stream = await CreateAsync(parties, 100, 0.000000333m);
        var settlements = Enumerable.Range(0, 8).Select(_ => Task.Run(async () =>
        {
            for (var i = 0; i < 5; i++)
            {
                Clock.Advance(Duration.FromMilliseconds(1234));
                await RetryingAsync(() => Streams.SettleAsync(Tenant, stream.Id, By).AsTask());
            }
        }));
        await Task.WhenAll(settlements);

        var now = await ReloadAsync(stream);
        var events = await EventsAsync(now);
        Assert.Equal(41, events.Count);
        Assert.Equal(now.SettledAmount, events.Skip(1).Aggregate(Usdc(0), (sum, e) => sum + e.Amount));
        Assert.Equal(now.SettledAmount.Amount, StreamAccrual.Accrued(now.ToTerms(), [], now.LastSettledAt));
        await AssertBooksAsync(now);
    }

    [Fact]
    public async Task Concurrent_Withdrawals_Of_One_Stream_Never_Take_More_Than_Accrued()
    {
        var parties = await PartiesAsync(100);
        var stream = await CreateAsync(parties, 100, 0.5m);
        Clock.Advance(Duration.FromSeconds(10));

        // 5 has accrued: of eight racing withdrawals of 3, one is paid and every other finds only 2 left.
        var outcomes = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(async () =>
        {
            try
            {
                await RetryingAsync(() => Streams.WithdrawAsync(Tenant, stream.Id, new WithdrawStreamRequest("recipient") { Amount = Usdc(3) }).AsTask());
                return "paid";
            }
            catch (PaymentsKitException ex)
            {
                return ex.Code;
            }
        })));

        Assert.Equal(1, outcomes.Count(o => o == "paid"));
        Assert.All(outcomes.Where(o => o != "paid"), o => Assert.Equal(PaymentsKitErrorCodes.InsufficientFunds, o));
        var now = await ReloadAsync(stream);
        Assert.Equal((Usdc(5), Usdc(3)), (now.SettledAmount, now.WithdrawnAmount));
        Assert.Equal(Usdc(3), (await Ledger.GetAccountAsync(Tenant, parties.Payout.Id)).Balance.Posted);
        await AssertBooksAsync(now);
    }

    [Fact]
    public async Task Creating_Twice_With_One_Idempotency_Key_Creates_One_Stream()
    {
        var parties = await PartiesAsync(100);
        var request = Request(parties, 40, 1) with { IdempotencyKey = "order-7", Metadata = new Dictionary<string, string> { ["a"] = "1", ["b"] = "2" } };

        var first = await Streams.CreateAsync(Tenant, request);
        var again = await Streams.CreateAsync(Tenant, request with { Metadata = new Dictionary<string, string> { ["b"] = "2", ["a"] = "1" } });

        Assert.Equal(first.Stream.Id, again.Stream.Id);
        Assert.Empty(again.Events);
        Assert.Single((await Streams.ListAsync(Tenant, null, 10)).Items);
        Assert.Equal(Usdc(60), (await Ledger.GetAccountAsync(Tenant, parties.Funding.Id)).Balance.Posted);
        await FailsAsync(PaymentsKitErrorCodes.IdempotencyConflict, () => Streams.CreateAsync(Tenant, request with { TotalAmount = Usdc(41) }).AsTask());
        Assert.Single((await Streams.ListAsync(Tenant, null, 10)).Items);
    }

    [Fact]
    public async Task A_Repeat_Spelling_The_Same_Rate_Or_Addresses_Differently_Returns_The_Original_Stream()
    {
        var parties = await PartiesAsync(100, AssetRegistry.Xlm);
        var request = Request(parties, 40, 0.5m) with { Payer = "gpayer-1", Recipient = "gdest-2", IdempotencyKey = "order-8" };
        var first = await Streams.CreateAsync(Tenant, request);

        // 0.5 and 0.500000000 are one rate (a numeric(20,9) column reads back as the latter), and the chain adapter
        // canonicalises "gpayer-1" to the "GPAYER-1" the stream records: the retry asks for the same stream.
        var again = await Streams.CreateAsync(Tenant, request with { RatePerSecond = 0.500000000m, Payer = "GPAYER-1", Recipient = "GDEST-2" });

        Assert.Equal(first.Stream.Id, again.Stream.Id);
        Assert.Single((await Streams.ListAsync(Tenant, null, 10)).Items);
        await FailsAsync(PaymentsKitErrorCodes.IdempotencyConflict, () => Streams.CreateAsync(Tenant, request with { RatePerSecond = 0.4m }).AsTask());
        await FailsAsync(PaymentsKitErrorCodes.IdempotencyConflict, () => Streams.CreateAsync(Tenant, request with { Payer = "gpayer-2" }).AsTask());
    }

    [Fact]
    public async Task A_Transaction_Hash_Opens_One_Stream_Per_Chain()
    {
        var parties = await PartiesAsync(100);
        var request = Request(parties, 10, 1) with { TransactionHash = "0xabc123" };
        var first = await Streams.CreateAsync(Tenant, request);

        var error = await FailsAsync(PaymentsKitErrorCodes.DuplicateKey, () => Streams.CreateAsync(Tenant, request).AsTask());
        Assert.Contains(first.Stream.Id.ToString(), error.Message, StringComparison.Ordinal);
        var other = await Streams.CreateAsync(Tenant, request with { ChainId = "stellar-mainnet" });
        Assert.Equal(2, (await Streams.ListAsync(Tenant, null, 10)).Items.Count);
        Assert.Equal(Usdc(80), (await Ledger.GetAccountAsync(Tenant, parties.Funding.Id)).Balance.Posted);
        Assert.Equal("stellar-mainnet", other.Stream.ChainId);
    }

    [Fact]
    public async Task A_Transaction_Hash_Spelled_Differently_Is_The_Same_Transaction_On_A_Chain_With_An_Adapter()
    {
        // The test chain's adapter reports hashes in lower case, as hex chains do: one transaction, many spellings.
        var parties = await PartiesAsync(100, AssetRegistry.Xlm);
        var request = Request(parties, 10, 1) with { TransactionHash = "ABC123def" };
        var first = await Streams.CreateAsync(Tenant, request);
        Assert.Equal("abc123def", first.Stream.TransactionHash);

        foreach (var spelling in new[] { "abc123def", "ABC123DEF", "AbC123dEf" })
        {
            var error = await FailsAsync(PaymentsKitErrorCodes.DuplicateKey, () => Streams.CreateAsync(Tenant, request with { TransactionHash = spelling }).AsTask());
            Assert.Contains(first.Stream.Id.ToString(), error.Message, StringComparison.Ordinal);
        }

        Assert.Single((await Streams.ListAsync(Tenant, null, 10)).Items);
        Assert.Equal(Money.Of(90, AssetRegistry.Xlm), (await Ledger.GetAccountAsync(Tenant, parties.Funding.Id)).Balance.Posted);
    }

    [Fact]
    public async Task Another_Tenant_Cannot_See_Or_Touch_A_Stream()
    {
        var parties = await PartiesAsync(100);
        var stream = await CreateAsync(parties, 10, 1);

        await FailsAsync(PaymentsKitErrorCodes.NotFound, () => Streams.GetAsync(OtherTenant, stream.Id).AsTask());
        await FailsAsync(PaymentsKitErrorCodes.NotFound, () => Streams.SettleAsync(OtherTenant, stream.Id, By).AsTask());
        await FailsAsync(PaymentsKitErrorCodes.NotFound, () => Streams.CancelAsync(OtherTenant, stream.Id, By).AsTask());
        await FailsAsync(PaymentsKitErrorCodes.NotFound, () => Streams.ListEventsAsync(OtherTenant, stream.Id, null, 10).AsTask());
        Assert.Empty((await Streams.ListAsync(OtherTenant, null, 10)).Items);
        var funded = await PartiesAsync(100, tenant: OtherTenant);
        await FailsAsync(PaymentsKitErrorCodes.NotFound, () => Streams.CreateAsync(OtherTenant, Request(funded, 10, 1) with { PayoutAccountId = parties.Payout.Id }).AsTask());
        Assert.Equal(1, (await ReloadAsync(stream)).EventCount);
    }

    [Fact]
    public async Task Addresses_Are_Validated_And_Canonicalised_By_The_Chain_Adapter_Of_The_Asset()
    {
        var parties = await PartiesAsync(100, AssetRegistry.Xlm);
        var result = await Streams.CreateAsync(Tenant, Request(parties, 10, 1) with { Payer = "gpayer-1", Recipient = "gdest-2" });

        Assert.Equal(("GPAYER-1", "GDEST-2", "stellar"), (result.Stream.Payer, result.Stream.Recipient, result.Stream.ChainId));
        Assert.Equal("GPAYER-1", result.Events[0].Actor);
        var usdc = await PartiesAsync(100);
        var plain = await Streams.CreateAsync(Tenant, Request(usdc, 10, 1) with { Payer = "any payer text" });
        Assert.Equal(("any payer text", StreamService.DefaultChainId), (plain.Stream.Payer, plain.Stream.ChainId));
    }

    [Fact]
    public async Task Events_Page_In_Order_And_Streams_List_In_Creation_Order()
    {
        var parties = await PartiesAsync(1000);
        var ids = new List<StreamId>();
        for (var i = 0; i < 5; i++)
        {
            ids.Add((await CreateAsync(parties, 10, 1)).Id);
            Clock.Advance(Duration.FromMilliseconds(2));
        }

        var listed = new List<StreamId>();
        string? cursor = null;
        do
        {
            var page = await Streams.ListAsync(Tenant, cursor, 2);
            listed.AddRange(page.Items.Select(s => s.Id));
            cursor = page.NextCursor;
        }
        while (cursor is not null);
        Assert.Equal(ids, listed);

        for (var i = 0; i < 4; i++)
        {
            Clock.Advance(Duration.FromSeconds(1));
            await Streams.SettleAsync(Tenant, ids[0], By);
        }

        var events = await EventsAsync(await Streams.GetAsync(Tenant, ids[0]));
        Assert.Equal([1L, 2, 3, 4, 5], events.Select(e => e.Sequence));
        Assert.Equal(Usdc(1.01m), events[1].Amount);
        Assert.All(events.Skip(2), e => Assert.Equal(Usdc(1), e.Amount));
    }

    private async Task<PaymentStream> InStateAsync(Parties parties, StreamState state)
    {
        var stream = await CreateAsync(parties, 10, 1, Now, state == StreamState.Completed ? Now + Duration.FromSeconds(5) : null);
        Clock.Advance(Duration.FromSeconds(3));
        return state switch
        {
            StreamState.Paused => (await Streams.PauseAsync(Tenant, stream.Id, By)).Stream,
            StreamState.Cancelled => (await Streams.CancelAsync(Tenant, stream.Id, By)).Stream,
            StreamState.Completed => await CompletedAsync(stream),
            _ => stream,
        };

        async Task<PaymentStream> CompletedAsync(PaymentStream due)
        {
            Clock.Advance(Duration.FromSeconds(3));
            return (await Streams.SettleAsync(Tenant, due.Id, By)).Stream;
        }
    }

    private static async Task<T> RetryingAsync<T>(Func<Task<T>> operation)
    {
        while (true)
        {
            try
            {
                return await operation();
            }
            catch (PaymentsKitException ex) when (ex.IsTransient)
            {
                await Task.Yield();
            }
        }
    }
}
