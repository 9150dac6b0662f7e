using NodaTime;
using PaymentsKit.Chains;
using PaymentsKit.Testing;

namespace PaymentsKit.Core.Tests.Chains;

public sealed class SimulatedChainTests
{
    private static readonly ChainId Sim = ChainId.Of("sim");
    private static readonly Asset Native = Asset.Create("SIM", 7, Sim, "native");
    private static readonly Asset Token = Asset.Create("TOK", 6, Sim, "tok-issuer");
    private static readonly Duration Block = Duration.FromSeconds(5);

    private readonly ManualClock _clock = new();

    private SimulatedChain Create(Action<SimulatedChainOptions>? configure = null)
    {
        var options = new SimulatedChainOptions { Chain = Sim, NativeAsset = Native, BlockTime = Block, FinalityConfirmations = 3, TransferFee = 0.0001m };
        configure?.Invoke(options);
        return new SimulatedChain(options, _clock);
    }

    private static Money N(decimal amount) => Money.Of(amount, Native);

    private static async Task<SignedTransaction> Sign(SimulatedTransactionSigner signer, string from, string to, Money amount, string? memo = null, Money? maxFee = null) =>
        await signer.SignAsync(new TransferRequest(Sim, from, to, amount, memo, maxFee ?? N(0.001m)));

    [Fact]
    public async Task Transfer_Is_Pending_Until_The_Next_Block_Then_Confirms_As_The_Clock_Moves()
    {
        var chain = Create();
        chain.Fund("alice", N(10m));
        var signer = new SimulatedTransactionSigner();
        _clock.Advance(Duration.FromSeconds(2));
        var signed = await Sign(signer, "alice", "bob", N(1.5m), "inv-1");

        var result = await chain.BroadcastAsync(signed);
        Assert.Equal(signed.Hash, result.Hash);
        Assert.False(result.AlreadyKnown);

        var pending = await chain.GetTransactionAsync(result.Hash);
        Assert.NotNull(pending);
        Assert.Equal(ChainTransactionStatus.Pending, pending.Status);
        Assert.Equal(0, pending.Confirmations);
        Assert.False(pending.IsFinal);
        Assert.Null(pending.Timestamp);
        Assert.Equal(N(10m), chain.GetBalance("alice", Native));

        _clock.Advance(Duration.FromSeconds(3)); // t = 5 s: block 1 holds it
        var included = await chain.GetTransactionAsync(result.Hash);
        Assert.Equal(ChainTransactionStatus.Succeeded, included!.Status);
        Assert.Equal(1, included.Confirmations);
        Assert.False(included.IsFinal);
        Assert.Equal(chain.Genesis + Block, included.Timestamp);
        Assert.Equal("inv-1", included.Memo);
        Assert.Equal(N(0.0001m), included.Fee);
        var transfer = Assert.Single(included.Transfers);
        Assert.Equal(new ChainTransfer(N(1.5m), "alice", "bob"), transfer);

        _clock.Advance(Block);
        Assert.Equal(2, (await chain.GetTransactionAsync(result.Hash))!.Confirmations);
        _clock.Advance(Block);
        var final = await chain.GetTransactionAsync(result.Hash);
        Assert.Equal(3, final!.Confirmations);
        Assert.True(final.IsFinal);
        _clock.Advance(Block * 10);
        Assert.Equal(13, (await chain.GetTransactionAsync(result.Hash))!.Confirmations);

        Assert.Equal(N(8.4999m), chain.GetBalance("alice", Native));
        Assert.Equal(N(1.5m), chain.GetBalance("bob", Native));
    }

    [Fact]
    public void Blocks_Follow_The_Clock_From_Genesis()
    {
        var genesis = _clock.GetCurrentInstant();
        var chain = Create(o => o.Genesis = genesis);
        Assert.Equal(0, chain.LatestBlock);
        _clock.Advance(Block - Duration.FromTicks(1));
        Assert.Equal(0, chain.LatestBlock);
        _clock.Advance(Duration.FromTicks(1));
        Assert.Equal(1, chain.LatestBlock);
        _clock.Advance(Block * 99);
        Assert.Equal(100, chain.LatestBlock);
        _clock.Set(genesis - Duration.FromTicks(1));
        Assert.Equal(-1, chain.LatestBlock);
    }

    [Fact]
    public async Task A_Hash_In_Another_Case_Finds_The_Transaction_Like_Real_Adapters()
    {
        var chain = Create();
        var hash = chain.SimulateIncomingPayment("alice", "bob", N(2m));
        _clock.Advance(Block * 4);
        IChainAdapter adapter = chain;

        Assert.Equal(hash, adapter.NormalizeTransactionHash(hash.ToUpperInvariant()));
        var found = await chain.GetTransactionAsync(hash.ToUpperInvariant());
        Assert.NotNull(found);
        Assert.Equal(hash, found.Hash);
        Assert.True(found.IsFinal);
        Assert.Throws<PaymentsKitException>(() => adapter.NormalizeTransactionHash(" "));
    }

    [Fact]
    public async Task Unknown_Hash_Is_Null()
    {
        var chain = Create();
        Assert.Null(await chain.GetTransactionAsync("00ff"));
    }

    [Fact]
    public async Task Rebroadcast_Of_The_Same_Payload_Is_Already_Known_And_Included_Once()
    {
        var chain = Create();
        chain.Fund("alice", N(10m));
        var signed = await Sign(new SimulatedTransactionSigner(), "alice", "bob", N(1m));
        var first = await chain.BroadcastAsync(signed);
        var second = await chain.BroadcastAsync(signed with { Hash = null });
        Assert.False(first.AlreadyKnown);
        Assert.True(second.AlreadyKnown);
        Assert.Equal(first.Hash, second.Hash);
        _clock.Advance(Block);
        Assert.Equal(N(1m), chain.GetBalance("bob", Native));
    }

    [Fact]
    public async Task Signing_The_Same_Request_Twice_Gives_Distinct_Transactions()
    {
        var signer = new SimulatedTransactionSigner();
        var a = await Sign(signer, "alice", "bob", N(1m));
        var b = await Sign(signer, "alice", "bob", N(1m));
        Assert.NotEqual(a.Hash, b.Hash);
        var other = await Sign(new SimulatedTransactionSigner("other-key"), "alice", "bob", N(1m));
        Assert.NotEqual(a.Hash, other.Hash);
        var replay = await Sign(new SimulatedTransactionSigner(), "alice", "bob", N(1m));
        Assert.Equal(a.Hash, replay.Hash);
        Assert.Equal(a.Payload.ToArray(), replay.Payload.ToArray());
    }

    [Fact]
    public async Task Insufficient_Balance_At_Inclusion_Fails_And_Moves_No_Value_But_Pays_The_Fee()
    {
        var chain = Create();
        chain.Fund("alice", N(1m));
        var signed = await Sign(new SimulatedTransactionSigner(), "alice", "bob", N(1m)); // 1 + fee > 1
        await chain.BroadcastAsync(signed);
        _clock.Advance(Block);
        var tx = await chain.GetTransactionAsync(signed.Hash!);
        Assert.Equal(ChainTransactionStatus.Failed, tx!.Status);
        Assert.Empty(tx.Transfers);
        Assert.Equal(N(0.0001m), tx.Fee);
        Assert.Equal(N(0.9999m), chain.GetBalance("alice", Native));
        Assert.Equal(N(0m), chain.GetBalance("bob", Native));
    }

    [Fact]
    public async Task Sender_Without_Any_Balance_Fails_Without_Paying_A_Fee()
    {
        var chain = Create();
        var signed = await Sign(new SimulatedTransactionSigner(), "alice", "bob", N(1m));
        await chain.BroadcastAsync(signed);
        _clock.Advance(Block);
        var tx = await chain.GetTransactionAsync(signed.Hash!);
        Assert.Equal(ChainTransactionStatus.Failed, tx!.Status);
        Assert.Equal(N(0m), tx.Fee);
        Assert.Equal(N(0m), chain.GetBalance("alice", Native));
    }

    [Fact]
    public async Task Balance_Is_Checked_At_Inclusion_In_Broadcast_Order()
    {
        var chain = Create();
        chain.Fund("alice", N(1.0002m));
        var signer = new SimulatedTransactionSigner();
        var first = await Sign(signer, "alice", "bob", N(1m));
        var second = await Sign(signer, "alice", "carol", N(1m));
        await chain.BroadcastAsync(first);
        await chain.BroadcastAsync(second);
        _clock.Advance(Block);
        Assert.Equal(ChainTransactionStatus.Succeeded, (await chain.GetTransactionAsync(first.Hash!))!.Status);
        Assert.Equal(ChainTransactionStatus.Failed, (await chain.GetTransactionAsync(second.Hash!))!.Status);
        Assert.Equal(N(0m), chain.GetBalance("alice", Native));
        Assert.Equal(N(0m), chain.GetBalance("carol", Native));
    }

    [Fact]
    public async Task Token_Transfer_Needs_Token_Balance_And_Native_Fee()
    {
        var chain = Create();
        chain.Fund("alice", Money.Of(100m, Token));
        var signer = new SimulatedTransactionSigner();
        var noFee = await Sign(signer, "alice", "bob", Money.Of(10m, Token));
        await chain.BroadcastAsync(noFee);
        _clock.Advance(Block);
        Assert.Equal(ChainTransactionStatus.Failed, (await chain.GetTransactionAsync(noFee.Hash!))!.Status);

        chain.Fund("alice", N(1m));
        var paid = await Sign(signer, "alice", "bob", Money.Of(10m, Token));
        await chain.BroadcastAsync(paid);
        _clock.Advance(Block);
        var tx = await chain.GetTransactionAsync(paid.Hash!);
        Assert.Equal(ChainTransactionStatus.Succeeded, tx!.Status);
        Assert.Equal(Money.Of(10m, Token), tx.Transfers[0].Amount);
        Assert.Equal(Money.Of(90m, Token), chain.GetBalance("alice", Token));
        Assert.Equal(Money.Of(10m, Token), chain.GetBalance("bob", Token));
        Assert.Equal(N(0.9999m), chain.GetBalance("alice", Native));
    }

    [Fact]
    public async Task Incoming_Payment_Credits_The_Recipient_At_Inclusion_Without_Touching_The_Sender()
    {
        var chain = Create();
        var hash = chain.SimulateIncomingPayment("customer", "merchant", Money.Of(25m, Token), "INV-0042");
        Assert.Matches("^[0-9a-f]{64}$", hash);
        var pending = await chain.GetTransactionAsync(hash);
        Assert.Equal(ChainTransactionStatus.Pending, pending!.Status);
        Assert.Equal("INV-0042", pending.Memo);
        Assert.Equal(Money.Of(0m, Token), chain.GetBalance("merchant", Token));

        _clock.Advance(Block * 3);
        var tx = await chain.GetTransactionAsync(hash);
        Assert.Equal(ChainTransactionStatus.Succeeded, tx!.Status);
        Assert.Equal(3, tx.Confirmations);
        Assert.True(tx.IsFinal);
        Assert.Equal(new ChainTransfer(Money.Of(25m, Token), "customer", "merchant"), Assert.Single(tx.Transfers));
        Assert.Equal(Money.Of(25m, Token), chain.GetBalance("merchant", Token));
        Assert.Equal(Money.Of(0m, Token), chain.GetBalance("customer", Token));
    }

    [Fact]
    public void Incoming_Payment_Rejects_Bad_Input()
    {
        var chain = Create(o => o.MaxMemoBytes = 8);
        Assert.Equal(PaymentsKitErrorCodes.InvalidAddress, Assert.Throws<PaymentsKitException>(() => chain.SimulateIncomingPayment("bad address", "m", N(1m))).Code);
        Assert.Equal(PaymentsKitErrorCodes.InvalidAddress, Assert.Throws<PaymentsKitException>(() => chain.SimulateIncomingPayment("c", "", N(1m))).Code);
        Assert.Equal(PaymentsKitErrorCodes.AmountOutOfRange, Assert.Throws<PaymentsKitException>(() => chain.SimulateIncomingPayment("c", "m", N(0m))).Code);
        Assert.Equal(PaymentsKitErrorCodes.AmountOutOfRange, Assert.Throws<PaymentsKitException>(() => chain.SimulateIncomingPayment("c", "m", N(-1m))).Code);
        Assert.Equal(PaymentsKitErrorCodes.InvalidArgument, Assert.Throws<PaymentsKitException>(() => chain.SimulateIncomingPayment("c", "m", Money.Of(1m, AssetRegistry.Eth))).Code);
        Assert.Equal(PaymentsKitErrorCodes.InvalidArgument, Assert.Throws<PaymentsKitException>(() => chain.SimulateIncomingPayment("c", "m", N(1m), "123456789")).Code);
        chain.SimulateIncomingPayment("c", "m", N(1m), "12345678");
        chain.SimulateIncomingPayment("c", "m", Money.Of(1m, AssetRegistry.Usd)); // off-chain assets are allowed
    }

    [Fact]
    public void Fund_Rejects_Bad_Input()
    {
        var chain = Create();
        Assert.Equal(PaymentsKitErrorCodes.InvalidAddress, Assert.Throws<PaymentsKitException>(() => chain.Fund("-x", N(1m))).Code);
        Assert.Equal(PaymentsKitErrorCodes.AmountOutOfRange, Assert.Throws<PaymentsKitException>(() => chain.Fund("x", N(0m))).Code);
        Assert.Equal(PaymentsKitErrorCodes.InvalidArgument, Assert.Throws<PaymentsKitException>(() => chain.Fund("x", Money.Of(1m, AssetRegistry.Sol))).Code);
        Assert.Equal(PaymentsKitErrorCodes.InvalidArgument, Assert.Throws<PaymentsKitException>(() => chain.GetBalance("x", AssetRegistry.Sol)).Code);
    }

    [Fact]
    public async Task FailNextRpcCalls_Fails_Exactly_That_Many_Calls_As_Transient()
    {
        var chain = Create();
        chain.FailNextRpcCalls(2);
        var first = await Assert.ThrowsAsync<PaymentsKitException>(() => chain.GetTransactionAsync("aa").AsTask());
        Assert.Equal(PaymentsKitErrorCodes.ChainUnavailable, first.Code);
        Assert.True(first.IsTransient);
        var second = await Assert.ThrowsAsync<PaymentsKitException>(() => chain.EstimateFeeAsync(Native).AsTask());
        Assert.Equal(PaymentsKitErrorCodes.ChainUnavailable, second.Code);
        Assert.Null(await chain.GetTransactionAsync("aa"));
    }

    [Fact]
    public async Task Broadcast_That_Hits_An_Rpc_Error_Is_Not_Recorded_And_Can_Be_Retried()
    {
        var chain = Create();
        chain.Fund("alice", N(5m));
        var signed = await Sign(new SimulatedTransactionSigner(), "alice", "bob", N(1m));
        chain.FailNextRpcCalls(1);
        var error = await Assert.ThrowsAsync<PaymentsKitException>(() => chain.BroadcastAsync(signed).AsTask());
        Assert.True(error.IsTransient);
        Assert.Null(await chain.GetTransactionAsync(signed.Hash!));
        Assert.False((await chain.BroadcastAsync(signed)).AlreadyKnown);
    }

    [Fact]
    public async Task DropNextBroadcast_Is_Accepted_Pending_Until_Its_Block_Then_Unknown_And_Never_Included()
    {
        var chain = Create();
        chain.Fund("alice", N(5m));
        var signer = new SimulatedTransactionSigner();
        chain.DropNextBroadcast();
        var dropped = await Sign(signer, "alice", "bob", N(1m));
        var kept = await Sign(signer, "alice", "bob", N(1m));
        Assert.False((await chain.BroadcastAsync(dropped)).AlreadyKnown);
        await chain.BroadcastAsync(kept);
        var pending = await chain.GetTransactionAsync(dropped.Hash!);
        Assert.Equal(ChainTransactionStatus.Pending, pending!.Status);
        Assert.Equal(0, pending.Confirmations);
        Assert.True((await chain.BroadcastAsync(dropped)).AlreadyKnown);

        _clock.Advance(Block * 50);
        Assert.Null(await chain.GetTransactionAsync(dropped.Hash!));
        Assert.Equal(ChainTransactionStatus.Succeeded, (await chain.GetTransactionAsync(kept.Hash!))!.Status);
        Assert.Equal(N(1m), chain.GetBalance("bob", Native));

        // Evicted, it is accepted anew when sent again, and this time included.
        Assert.False((await chain.BroadcastAsync(dropped)).AlreadyKnown);
        _clock.Advance(Block);
        Assert.Equal(ChainTransactionStatus.Succeeded, (await chain.GetTransactionAsync(dropped.Hash!))!.Status);
        Assert.Equal(N(2m), chain.GetBalance("bob", Native));
    }

    [Fact]
    public async Task FailNextBroadcast_Is_Included_As_Failed_With_No_Value_Moved()
    {
        var chain = Create();
        chain.Fund("alice", N(5m));
        chain.FailNextBroadcast();
        var signed = await Sign(new SimulatedTransactionSigner(), "alice", "bob", N(1m));
        await chain.BroadcastAsync(signed);
        _clock.Advance(Block * 3);
        var tx = await chain.GetTransactionAsync(signed.Hash!);
        Assert.Equal(ChainTransactionStatus.Failed, tx!.Status);
        Assert.Equal(3, tx.Confirmations);
        Assert.True(tx.IsFinal);
        Assert.Empty(tx.Transfers);
        Assert.Equal(N(4.9999m), chain.GetBalance("alice", Native));
        Assert.Equal(N(0m), chain.GetBalance("bob", Native));
    }

    [Fact]
    public async Task Queued_Drop_Comes_Before_Queued_Failure()
    {
        var chain = Create();
        chain.Fund("alice", N(5m));
        chain.FailNextBroadcast();
        chain.DropNextBroadcast();
        var signer = new SimulatedTransactionSigner();
        var first = await Sign(signer, "alice", "bob", N(1m));
        var second = await Sign(signer, "alice", "bob", N(1m));
        var third = await Sign(signer, "alice", "bob", N(1m));
        await chain.BroadcastAsync(first);
        await chain.BroadcastAsync(second);
        await chain.BroadcastAsync(third);
        _clock.Advance(Block);
        Assert.Null(await chain.GetTransactionAsync(first.Hash!));
        Assert.Equal(ChainTransactionStatus.Failed, (await chain.GetTransactionAsync(second.Hash!))!.Status);
        Assert.Equal(ChainTransactionStatus.Succeeded, (await chain.GetTransactionAsync(third.Hash!))!.Status);
    }

    [Fact]
    public async Task Rates_Of_One_Fault_Every_Call()
    {
        var failing = Create(o => o.RpcErrorRate = 1m);
        for (var i = 0; i < 5; i++)
        {
            Assert.True((await Assert.ThrowsAsync<PaymentsKitException>(() => failing.GetTransactionAsync("x").AsTask())).IsTransient);
        }

        var dropping = Create(o => o.DropRate = 1m);
        dropping.Fund("alice", N(5m));
        var signed = await Sign(new SimulatedTransactionSigner(), "alice", "bob", N(1m));
        await dropping.BroadcastAsync(signed);
        _clock.Advance(Block * 5);
        Assert.Null(await dropping.GetTransactionAsync(signed.Hash!));

        var failingTx = Create(o => o.FailRate = 1m);
        failingTx.Fund("alice", N(5m));
        await failingTx.BroadcastAsync(signed);
        _clock.Advance(Block);
        Assert.Equal(ChainTransactionStatus.Failed, (await failingTx.GetTransactionAsync(signed.Hash!))!.Status);
    }

    [Fact]
    public async Task Same_Seed_And_Same_Calls_Give_The_Same_Outcomes()
    {
        var first = await RunScript(seed: 42);
        var second = await RunScript(seed: 42);
        Assert.Equal(first, second);
        Assert.Contains("rpc-error", first);
        Assert.Contains("unknown", first);
        Assert.Contains("Failed", first);
        Assert.Contains("Succeeded", first);
        var other = await RunScript(seed: 7);
        Assert.NotEqual(first, other);
    }

    private static async Task<List<string>> RunScript(int seed)
    {
        var clock = new ManualClock();
        var chain = new SimulatedChain(
            new SimulatedChainOptions { Chain = Sim, NativeAsset = Native, Seed = seed, RpcErrorRate = 0.2m, DropRate = 0.2m, FailRate = 0.2m },
            clock);
        chain.Fund("alice", N(1000m));
        var signer = new SimulatedTransactionSigner();
        var log = new List<string> { chain.SimulateIncomingPayment("x", "alice", N(1m)) };
        var hashes = new List<string>();
        for (var i = 0; i < 40; i++)
        {
            var signed = await signer.SignAsync(new TransferRequest(Sim, "alice", "bob", N(1m), null, N(1m)));
            try
            {
                log.Add((await chain.BroadcastAsync(signed)).Hash);
                hashes.Add(signed.Hash!);
            }
            catch (PaymentsKitException ex) when (ex.Code == PaymentsKitErrorCodes.ChainUnavailable)
            {
                log.Add("rpc-error");
            }
        }

        clock.Advance(Duration.FromMinutes(1));
        foreach (var hash in hashes)
        {
            try
            {
                log.Add((await chain.GetTransactionAsync(hash))?.Status.ToString() ?? "unknown");
            }
            catch (PaymentsKitException ex) when (ex.Code == PaymentsKitErrorCodes.ChainUnavailable)
            {
                log.Add("rpc-error");
            }
        }

        log.Add(chain.GetBalance("bob", Native).ToString());
        return log;
    }

    [Fact]
    public async Task Broadcast_Rejects_Transactions_It_Cannot_Include()
    {
        var chain = Create(o => o.MaxMemoBytes = 4);
        var signer = new SimulatedTransactionSigner();

        async Task<PaymentsKitException> Rejects(SignedTransaction signed) =>
            await Assert.ThrowsAsync<PaymentsKitException>(() => chain.BroadcastAsync(signed).AsTask());

        var good = await Sign(signer, "alice", "bob", N(1m));
        Assert.Equal(PaymentsKitErrorCodes.TransactionRejected, (await Rejects(good with { Chain = ChainId.Of("other") })).Code);
        Assert.Equal(PaymentsKitErrorCodes.TransactionRejected, (await Rejects(good with { Hash = new string('0', 64) })).Code);
        Assert.Equal(PaymentsKitErrorCodes.TransactionRejected, (await Rejects(new SignedTransaction(Sim, "garbage"u8.ToArray(), null))).Code);
        Assert.Equal(PaymentsKitErrorCodes.TransactionRejected, (await Rejects(new SignedTransaction(Sim, ReadOnlyMemory<byte>.Empty, null))).Code);
        var beyondDecimal = System.Text.Encoding.UTF8.GetString(good.Payload.Span).Replace("\"amount\":\"1.0000000\"", "\"amount\":\"99999999999999999999999999999999\"", StringComparison.Ordinal);
        Assert.Contains("99999999999999999999999999999999", beyondDecimal, StringComparison.Ordinal);
        Assert.Equal(PaymentsKitErrorCodes.TransactionRejected, (await Rejects(new SignedTransaction(Sim, System.Text.Encoding.UTF8.GetBytes(beyondDecimal), null))).Code);
        var otherChain = await signer.SignAsync(new TransferRequest(ChainId.Of("other"), "alice", "bob", N(1m), null, N(1m)));
        Assert.Equal(PaymentsKitErrorCodes.TransactionRejected, (await Rejects(otherChain with { Chain = Sim })).Code);
        Assert.Equal(PaymentsKitErrorCodes.TransactionRejected, (await Rejects(await Sign(signer, "bad sender", "bob", N(1m)))).Code);
        Assert.Equal(PaymentsKitErrorCodes.TransactionRejected, (await Rejects(await Sign(signer, "alice", "bob!", N(1m)))).Code);
        Assert.Equal(PaymentsKitErrorCodes.TransactionRejected, (await Rejects(await Sign(signer, "alice", "bob", N(1m), "12345"))).Code);
        Assert.Equal(PaymentsKitErrorCodes.TransactionRejected, (await Rejects(await Sign(signer, "alice", "bob", N(1m), maxFee: N(0.00009m)))).Code);
        Assert.Equal(PaymentsKitErrorCodes.TransactionRejected, (await Rejects(await Sign(signer, "alice", "bob", N(1m), maxFee: Money.Of(1m, AssetRegistry.Usd)))).Code);
        Assert.Equal(PaymentsKitErrorCodes.TransactionRejected, (await Rejects(await Sign(signer, "alice", "bob", Money.Of(1m, AssetRegistry.Eth)))).Code);
        var rejection = await Rejects(good with { Chain = ChainId.Of("other") });
        Assert.False(rejection.IsTransient);
        Assert.Contains(good.Hash!, rejection.Message, StringComparison.Ordinal);

        await chain.BroadcastAsync(await Sign(signer, "alice", "bob", N(1m), "1234", maxFee: N(0.0001m)));
    }

    [Fact]
    public async Task Signer_Rejects_Bad_Requests()
    {
        var signer = new SimulatedTransactionSigner();
        Assert.Equal(PaymentsKitErrorCodes.AmountOutOfRange, (await Assert.ThrowsAsync<PaymentsKitException>(() => Sign(signer, "a", "b", N(0m)))).Code);
        Assert.Equal(PaymentsKitErrorCodes.AmountOutOfRange, (await Assert.ThrowsAsync<PaymentsKitException>(() => Sign(signer, "a", "b", N(1m), maxFee: N(-1m)))).Code);
        Assert.Equal(PaymentsKitErrorCodes.InvalidArgument, (await Assert.ThrowsAsync<PaymentsKitException>(() => Sign(signer, " ", "b", N(1m)))).Code);
        Assert.Equal(PaymentsKitErrorCodes.InvalidArgument, Assert.Throws<PaymentsKitException>(() => new SimulatedTransactionSigner("")).Code);
    }

    [Fact]
    public async Task Fee_Estimate_Is_The_Transfer_Fee_For_Assets_Of_This_Chain()
    {
        var chain = Create();
        var estimate = await chain.EstimateFeeAsync(Token);
        Assert.Equal(N(0.0001m), estimate.Fee);
        Assert.Equal(Block, estimate.ExpectedConfirmation);
        var error = await Assert.ThrowsAsync<PaymentsKitException>(() => chain.EstimateFeeAsync(AssetRegistry.Xlm).AsTask());
        Assert.Equal(PaymentsKitErrorCodes.InvalidArgument, error.Code);
    }

    [Fact]
    public async Task Health_Reports_Error_Rate_Latency_Fee_Congestion_And_Latest_Block()
    {
        var chain = Create(o => o.HealthWindow = 10);
        _clock.Advance(Block * 7);
        var healthy = await chain.ProbeHealthAsync();
        Assert.Equal(Sim, healthy.Chain);
        Assert.Equal(ChainHealthStatus.Healthy, healthy.Status);
        Assert.Equal(0m, healthy.RpcErrorRate);
        Assert.Equal(Duration.Zero, healthy.P95Latency);
        Assert.Equal(7, healthy.LatestBlock);
        Assert.Equal(N(0.0001m), healthy.FeeEstimate);
        Assert.Equal(Block * 3, healthy.ConfirmationTime);
        Assert.Equal(_clock.GetCurrentInstant(), healthy.MeasuredAt);

        chain.SetCongestion(0.9m);
        var congested = await chain.ProbeHealthAsync();
        Assert.Equal(0.9m, congested.Congestion);
        Assert.Equal(ChainHealthStatus.Degraded, congested.Status);
        chain.SetCongestion(0m);

        // Window of 10: two good probes, one failed call, this probe → 1 of 4 failed → degraded.
        chain.FailNextRpcCalls(1);
        await Assert.ThrowsAsync<PaymentsKitException>(() => chain.GetTransactionAsync("a").AsTask());
        var degraded = await chain.ProbeHealthAsync();
        Assert.Equal(0.25m, degraded.RpcErrorRate);
        Assert.Equal(ChainHealthStatus.Degraded, degraded.Status);

        // The probe's own failure makes the sample unhealthy instead of throwing.
        chain.FailNextRpcCalls(1);
        var down = await chain.ProbeHealthAsync();
        Assert.Equal(ChainHealthStatus.Unhealthy, down.Status);
        Assert.Equal(0.4m, down.RpcErrorRate);

        // Old failures age out of the window.
        for (var i = 0; i < 10; i++)
        {
            await chain.GetTransactionAsync("a");
        }

        var recovered = await chain.ProbeHealthAsync();
        Assert.Equal(0m, recovered.RpcErrorRate);
        Assert.Equal(ChainHealthStatus.Healthy, recovered.Status);
        Assert.Equal(PaymentsKitErrorCodes.InvalidArgument, Assert.Throws<PaymentsKitException>(() => chain.SetCongestion(1.1m)).Code);
    }

    [Fact]
    public async Task Latency_Delays_Calls_And_Is_Reported()
    {
        var chain = Create(o => o.Latency = Duration.FromMilliseconds(30));
        var watch = System.Diagnostics.Stopwatch.StartNew();
        await chain.GetTransactionAsync("a");
        Assert.True(watch.ElapsedMilliseconds >= 25, $"took {watch.ElapsedMilliseconds} ms");
        var health = await chain.ProbeHealthAsync();
        Assert.Equal(Duration.FromMilliseconds(30), health.P95Latency);

        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => chain.GetTransactionAsync("a", cancelled.Token).AsTask());
    }

    [Fact]
    public async Task Address_Codec_Is_Pluggable()
    {
        var chain = Create(o => o.AddressCodec = new UpperCaseCodec());
        Assert.Equal("ALICE", chain.ParseAddress("alice").Value);
        Assert.Equal(Sim, chain.ParseAddress("alice").Chain);
        Assert.False(chain.TryParseAddress("al1ce", out _));
        var error = Assert.Throws<PaymentsKitException>(() => chain.ParseAddress("al1ce"));
        Assert.Equal(PaymentsKitErrorCodes.InvalidAddress, error.Code);
        Assert.Contains("letters only", error.Message, StringComparison.Ordinal);
        chain.Fund("alice", N(2m));
        var signed = await Sign(new SimulatedTransactionSigner(), "alice", "bob", N(1m));
        await chain.BroadcastAsync(signed);
        _clock.Advance(Block);
        var tx = await chain.GetTransactionAsync(signed.Hash!);
        Assert.Equal(new ChainTransfer(N(1m), "ALICE", "BOB"), Assert.Single(tx!.Transfers));
        Assert.Equal(N(1m), chain.GetBalance("Bob", Native));
    }

    [Theory]
    [InlineData("alice", true)]
    [InlineData("merchant-1", true)]
    [InlineData("0xAbC.def_1:2", true)]
    [InlineData("", false)]
    [InlineData(null, false)]
    [InlineData(" alice", false)]
    [InlineData("alice bob", false)]
    [InlineData("-alice", false)]
    [InlineData("ali/ce", false)]
    [InlineData("élan", false)]
    public void Default_Address_Format(string? text, bool valid)
    {
        var chain = Create();
        Assert.Equal(valid, chain.TryParseAddress(text, out var address));
        if (valid)
        {
            Assert.Equal(text, address.Value);
        }
        else
        {
            Assert.Equal(PaymentsKitErrorCodes.InvalidAddress, Assert.Throws<PaymentsKitException>(() => chain.ParseAddress(text)).Code);
        }
    }

    [Fact]
    public void Default_Address_Format_Limits_Length()
    {
        var chain = Create();
        Assert.True(chain.TryParseAddress(new string('a', 128), out _));
        Assert.False(chain.TryParseAddress(new string('a', 129), out _));
    }

    [Fact]
    public void Options_Are_Validated_With_Every_Problem_Named()
    {
        var options = new SimulatedChainOptions
        {
            Chain = Sim,
            BlockTime = Duration.Zero,
            FinalityConfirmations = 0,
            NativeAsset = AssetRegistry.Eth,
            TransferFee = -1m,
            MaxMemoBytes = 2000,
            RpcErrorRate = 1.5m,
            DropRate = -0.1m,
            FailRate = 2m,
            Congestion = 3m,
            Latency = Duration.FromMinutes(2),
            HealthWindow = 0,
            AddressCodec = null!,
            HealthThresholds = null!,
        };
        var errors = options.Validate();
        foreach (var name in new[] { "BlockTime", "FinalityConfirmations", "NativeAsset", "TransferFee", "MaxMemoBytes", "RpcErrorRate", "DropRate", "FailRate", "Congestion", "Latency", "HealthWindow", "AddressCodec", "HealthThresholds" })
        {
            Assert.Contains(errors, e => e.Contains("SimulatedChain:" + name, StringComparison.Ordinal));
        }

        var error = Assert.Throws<PaymentsKitException>(() => new SimulatedChain(options, new ManualClock()));
        Assert.Equal(PaymentsKitErrorCodes.InvalidArgument, error.Code);
        Assert.Contains("TransferFee", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Options_Reject_A_Fee_Finer_Than_The_Native_Asset()
    {
        var options = new SimulatedChainOptions { Chain = Sim, NativeAsset = Native, TransferFee = 0.00000001m };
        Assert.Contains(options.Validate(), e => e.Contains("TransferFee", StringComparison.Ordinal));
        Assert.Empty(new SimulatedChainOptions { Chain = Sim, NativeAsset = Native }.Validate());
    }

    [Fact]
    public void Default_Native_Asset_Follows_The_Chain()
    {
        Assert.Equal(AssetRegistry.Xlm, new SimulatedChainOptions { Chain = ChainId.Stellar }.ResolveNativeAsset());
        Assert.Equal(AssetRegistry.Hbar, new SimulatedChainOptions { Chain = ChainId.Hedera }.ResolveNativeAsset());
        var custom = new SimulatedChainOptions { Chain = ChainId.Of("my-chain") }.ResolveNativeAsset();
        Assert.Equal("MY-CHAIN", custom.Code);
        Assert.Equal(7, custom.Scale);
        Assert.Equal(ChainId.Of("my-chain"), custom.Chain);
    }

    private sealed class UpperCaseCodec : IAddressCodec
    {
        public bool TryNormalize(string? text, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out string? canonical, [System.Diagnostics.CodeAnalysis.NotNullWhen(false)] out string? problem)
        {
            if (!string.IsNullOrEmpty(text) && text.All(char.IsAsciiLetter))
            {
                canonical = text.ToUpperInvariant();
                problem = null;
                return true;
            }

            canonical = null;
            problem = "letters only";
            return false;
        }
    }
}
