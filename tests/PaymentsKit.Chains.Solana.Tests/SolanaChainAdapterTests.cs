using System.Numerics;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using NodaTime;
using PaymentsKit.Chains.Solana;
using PaymentsKit.Testing;
using SimpleBase;
using static PaymentsKit.Chains.Solana.Tests.SolanaFixtures;

namespace PaymentsKit.Chains.Solana.Tests;

public sealed class SolanaChainAdapterTests
{
    private static readonly Asset SolanaUsdc = Asset.Create("USDC.SOL", 6, ChainId.Solana, UsdcMint);
    private readonly ManualClock _clock = new();

    private SolanaChainAdapter Create(Action<SolanaOptions>? configure, params LoopbackHttpServer[] nodes) =>
        new(LoopbackAdapterSetup.Options(configure, nodes), new HttpClient(), LoopbackAdapterSetup.Assets(SolanaUsdc), _clock, NullLogger<SolanaChainAdapter>.Instance);

    private static LoopbackHttpServer Node(Func<string, JsonElement, JsonRpcAnswer?>? overrides = null) =>
        JsonRpcLoopback.Start((method, parameters) => overrides?.Invoke(method, parameters) ?? Standard(method, parameters));

    [Fact]
    public async Task A_Mint_Registered_With_Other_Decimals_Than_The_Chain_Reports_Is_An_Asset_Conflict_Not_A_Wrong_Amount()
    {
        // Registered with 9 decimals, the mint has 6: 12.5 USDC would be read as 0.0125.
        var misregistered = Asset.Create("USDC.SOL", 9, ChainId.Solana, UsdcMint);
        await using var node = Node();
        var adapter = new SolanaChainAdapter(
            LoopbackAdapterSetup.Options<SolanaOptions>(null, node), new HttpClient(), LoopbackAdapterSetup.Assets(misregistered), _clock, NullLogger<SolanaChainAdapter>.Instance);
        var error = await Assert.ThrowsAsync<PaymentsKitException>(() => adapter.GetTransactionAsync(Signature).AsTask());
        Assert.Equal(PaymentsKitErrorCodes.AssetConflict, error.Code);
        Assert.Contains(UsdcMint, error.Message, StringComparison.Ordinal);
        Assert.False(error.IsTransient);
    }

    [Fact]
    public async Task A_Registered_Token_Transfer_Too_Large_For_An_Amount_Is_Left_Out_And_Logged_And_The_Rest_Is_Read_Exactly()
    {
        // The second mint, registered here, moves 2^96 base units from the sender to the recipient: more than any amount can
        // hold. Failing the whole read would hide the SOL and 12.5 USDC paid in the same transaction.
        var spam = Asset.Create("SPAM.SOL", 6, ChainId.Solana, UnknownMint);
        var transaction = Transaction(Signature, "null").Replace(
            "\"amount\": \"1000\", \"decimals\": 6, \"uiAmount\": 0.001",
            "\"amount\": \"79228162514264337593543950336\", \"decimals\": 6, \"uiAmount\": 79228162514264337593543.950336",
            StringComparison.Ordinal);
        await using var node = Node((method, _) => method == "getTransaction" ? JsonRpcAnswer.Result(transaction) : null);
        using var logs = new RecordingLoggerFactory();
        var adapter = new SolanaChainAdapter(
            LoopbackAdapterSetup.Options<SolanaOptions>(null, node),
            new HttpClient(),
            LoopbackAdapterSetup.Assets(SolanaUsdc, spam),
            _clock,
            logs.CreateLogger<SolanaChainAdapter>());

        var tx = await adapter.GetTransactionAsync(Signature);

        Assert.Equal(
            [
                new ChainTransfer(Money.Of(0.1m, AssetRegistry.Sol), Sender, Recipient),
                new ChainTransfer(Money.Of(12.5m, SolanaUsdc), Sender, Recipient),
            ],
            tx!.Transfers);
        var warning = Assert.Single(logs.Entries, e => e.EventId.Id == 1302);
        Assert.Equal(LogLevel.Warning, warning.Level);
        Assert.Equal("79228162514264337593543950336", warning.Fields["Units"]);
        Assert.Equal("SPAM.SOL", warning.Fields["Asset"]);
        Assert.Equal(Sender, warning.Fields["From"]);
        Assert.Equal(Recipient, warning.Fields["To"]);
        Assert.Equal(Signature, warning.Fields["Transaction"]);
    }

    [Fact]
    public async Task Reads_Sol_And_Spl_Transfers_With_Memo()
    {
        await using var node = Node();
        var tx = await Create(null, node).GetTransactionAsync(Signature);
        Assert.NotNull(tx);
        Assert.Equal(Signature, tx.Hash);
        Assert.Equal(ChainTransactionStatus.Succeeded, tx.Status);
        Assert.Equal(32, tx.Confirmations);
        Assert.True(tx.IsFinal);
        Assert.Equal("INV-0042", tx.Memo);
        Assert.Equal(Money.Of(0.000005m, AssetRegistry.Sol), tx.Fee);
        Assert.Equal(Instant.FromUnixTimeSeconds(1700000000), tx.Timestamp);
        Assert.Equal(
            [
                new ChainTransfer(Money.Of(0.1m, AssetRegistry.Sol), Sender, Recipient),
                new ChainTransfer(Money.Of(12.5m, SolanaUsdc), Sender, Recipient),
            ],
            tx.Transfers);
        var request = node.Requests.Single(r => r.Body.Contains("\"getTransaction\"", StringComparison.Ordinal));
        Assert.Contains("\"encoding\":\"jsonParsed\"", request.Body, StringComparison.Ordinal);
        Assert.Contains("\"maxSupportedTransactionVersion\":0", request.Body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Confirmed_But_Not_Finalized_Is_Not_Final()
    {
        await using var node = Node();
        var tx = await Create(null, node).GetTransactionAsync(ConfirmedSignature);
        Assert.Equal(ChainTransactionStatus.Succeeded, tx!.Status);
        Assert.False(tx.IsFinal);
    }

    [Fact]
    public async Task Processed_Only_Is_Pending()
    {
        await using var node = Node();
        var tx = await Create(null, node).GetTransactionAsync(ProcessedSignature);
        Assert.Equal(ChainTransactionStatus.Pending, tx!.Status);
        Assert.Equal(0, tx.Confirmations);
        Assert.DoesNotContain(node.Requests, r => r.Body.Contains("\"getTransaction\"", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Failed_Transaction_Moves_Nothing()
    {
        await using var node = Node();
        var tx = await Create(null, node).GetTransactionAsync(FailedSignature);
        Assert.Equal(ChainTransactionStatus.Failed, tx!.Status);
        Assert.Empty(tx.Transfers);
        Assert.Equal(Money.Of(0.000005m, AssetRegistry.Sol), tx.Fee);
    }

    [Fact]
    public async Task Unknown_Signature_Is_Null()
    {
        await using var node = Node();
        Assert.Null(await Create(null, node).GetTransactionAsync(Base58.Bitcoin.Encode(new byte[64].Select((_, i) => (byte)(255 - i)).ToArray())));
    }

    [Fact]
    public async Task A_Signature_One_Node_Does_Not_Know_Yet_Is_Asked_Of_The_Others()
    {
        // A node that lags behind the cluster has no status for a transaction already confirmed; taking that for
        // "unknown" would let the router replace a payment that went through.
        await using var lagging = Node((method, _) => method == "getSignatureStatuses" ? JsonRpcAnswer.Result("{\"context\":{\"slot\":1},\"value\":[null]}") : null);
        await using var current = Node();
        var tx = await Create(null, lagging, current).GetTransactionAsync(Signature);
        Assert.Equal(ChainTransactionStatus.Succeeded, tx!.Status);
        Assert.Single(lagging.Requests);
    }

    [Fact]
    public async Task A_Signature_Is_Unknown_Once_Every_Node_Has_Said_So()
    {
        await using var first = Node();
        await using var second = Node();
        Assert.Null(await Create(null, first, second).GetTransactionAsync(Base58.Bitcoin.Encode(new byte[64].Select((_, i) => (byte)(255 - i)).ToArray())));
        Assert.Single(first.Requests);
        Assert.Single(second.Requests);
    }

    [Theory]
    [InlineData("5VERv8NMvzbJMEkV8xnrLkEaWRtSz9CosKDYjCJjBRnbJLgp8uirBgmQpjKhoR4tjF3ZpRzrFmBV6UjKdiSZkQU0")]
    [InlineData("Ho87cuS3aSRgUMCeMrV7uNCCWx6Fj2ytnufYQ1W7KCLr")]
    [InlineData("0x88df016429689c079f3b2f6ad39fa052532c56795b733da78a91ebe6a713944b")]
    public async Task Malformed_Signature_Is_Invalid_Argument(string signature)
    {
        await using var node = Node();
        Assert.Equal(PaymentsKitErrorCodes.InvalidArgument, (await Assert.ThrowsAsync<PaymentsKitException>(() => Create(null, node).GetTransactionAsync(signature).AsTask())).Code);
        Assert.Empty(node.Requests);
    }

    [Fact]
    public async Task Fee_Estimate_Adds_The_Median_Priority_Fee()
    {
        await using var node = Node();
        var adapter = Create(null, node);
        Assert.Equal(Money.Of(0.000005002m, AssetRegistry.Sol), (await adapter.EstimateFeeAsync(AssetRegistry.Sol)).Fee); // 5000 + ⌈1000 µ × 1400 CU⌉
        Assert.Equal(Money.Of(0.00000503m, AssetRegistry.Sol), (await adapter.EstimateFeeAsync(SolanaUsdc)).Fee); // 5000 + 1000 µ × 30000 CU
        Assert.Equal(PaymentsKitErrorCodes.InvalidArgument, (await Assert.ThrowsAsync<PaymentsKitException>(() => adapter.EstimateFeeAsync(AssetRegistry.Eth).AsTask())).Code);
    }

    [Fact]
    public async Task Health_Reports_Slot_Fee_And_Congestion()
    {
        await using var node = Node();
        var sample = await Create(null, node).ProbeHealthAsync();
        Assert.Equal(230000031, sample.LatestBlock);
        Assert.Equal(0.6m, sample.Congestion);
        Assert.Equal(Money.Of(0.000005002m, AssetRegistry.Sol), sample.FeeEstimate);
        Assert.Equal(ChainHealthStatus.Healthy, sample.Status);
        Assert.Equal(Duration.FromSeconds(13), sample.ConfirmationTime);
    }

    [Fact]
    public async Task Node_Behind_Fails_Over()
    {
        await using var behind = JsonRpcLoopback.Start((_, _) => JsonRpcAnswer.Error(-32005, "Node is behind by 42 slots", "{\"numSlotsBehind\":42}"));
        await using var node = Node();
        var tx = await Create(null, behind, node).GetTransactionAsync(Signature);
        Assert.Equal(ChainTransactionStatus.Succeeded, tx!.Status);
        Assert.Single(behind.Requests);
    }

    [Theory]
    [InlineData("getSignatureStatuses")]
    [InlineData("getTransaction")]
    public async Task A_Node_Without_Transaction_History_Fails_Over(string method)
    {
        // -32011: a node run without --enable-rpc-transaction-history cannot look transactions up; an archive node can.
        await using var pruned = Node((called, _) => called == method ? JsonRpcAnswer.Error(-32011, "Transaction history is not available from this node") : null);
        await using var archive = Node();
        var tx = await Create(null, pruned, archive).GetTransactionAsync(Signature);
        Assert.Equal(ChainTransactionStatus.Succeeded, tx!.Status);
    }

    [Fact]
    public async Task Rate_Limit_And_Malformed_Answers_Fail_Over()
    {
        await using var limited = JsonRpcLoopback.Start((_, _) => JsonRpcAnswer.Http(new LoopbackResponse(429, "Too many requests for a specific RPC call, contact your app developer or support@rpcpool.com.", "text/plain")));
        await using var broken = Node((method, _) => method == "getSlot" ? JsonRpcAnswer.Result("\"not a slot\"") : null);
        await using var node = Node();
        var adapter = Create(o => o.MaxAttempts = 4, limited, broken, node);
        Assert.Equal(Money.Of(0.000005002m, AssetRegistry.Sol), (await adapter.EstimateFeeAsync(AssetRegistry.Sol)).Fee);
        var sample = await adapter.ProbeHealthAsync();
        Assert.Equal(230000031, sample.LatestBlock);
    }

    [Fact]
    public async Task All_Nodes_Down_Is_Transient_And_Unhealthy()
    {
        await using var down = new LoopbackHttpServer(_ => LoopbackResponse.Drop());
        var adapter = Create(null, down);
        var error = await Assert.ThrowsAsync<PaymentsKitException>(() => adapter.GetTransactionAsync(Signature).AsTask());
        Assert.Equal(PaymentsKitErrorCodes.ChainUnavailable, error.Code);
        Assert.True(error.IsTransient);
        Assert.Equal(ChainHealthStatus.Unhealthy, (await adapter.ProbeHealthAsync()).Status);
    }

    private static byte[] Wire() => [1, .. SignatureBytes, 1, 0, 1, 3, 9, 9, 9];

    [Fact]
    public async Task Broadcast_Sends_Base64_And_Returns_The_Signature()
    {
        await using var node = Node((method, _) => method == "sendTransaction" ? JsonRpcAnswer.Result("\"" + Signature + "\"") : null);
        var result = await Create(null, node).BroadcastAsync(new SignedTransaction(ChainId.Solana, Wire(), null));
        Assert.Equal(new BroadcastResult(Signature, AlreadyKnown: false), result);
        using var sent = JsonDocument.Parse(node.Requests.Single().Body);
        var parameters = sent.RootElement.GetProperty("params");
        Assert.Equal(Convert.ToBase64String(Wire()), parameters[0].GetString());
        Assert.Equal("base64", parameters[1].GetProperty("encoding").GetString());
    }

    [Fact]
    public async Task Already_Processed_Is_Already_Known()
    {
        await using var node = Node((method, _) => method == "sendTransaction"
            ? JsonRpcAnswer.Error(-32002, "Transaction simulation failed: This transaction has already been processed", "{\"accounts\":null,\"err\":\"AlreadyProcessed\",\"logs\":[],\"unitsConsumed\":0}")
            : null);
        var result = await Create(null, node).BroadcastAsync(new SignedTransaction(ChainId.Solana, Wire(), null));
        Assert.Equal(new BroadcastResult(Signature, AlreadyKnown: true), result);
    }

    [Fact]
    public async Task A_Rate_Limited_Broadcast_Fails_Over_And_Is_Never_A_Rejection()
    {
        await using var limited = Node((method, _) => JsonRpcAnswer.Error(429, "Connection rate limits exceeded, contact your app developer or support@rpcpool.com."));
        await using var node = Node((method, _) => method == "sendTransaction" ? JsonRpcAnswer.Result("\"" + Signature + "\"") : null);
        Assert.Equal(new BroadcastResult(Signature, AlreadyKnown: false), await Create(null, limited, node).BroadcastAsync(new SignedTransaction(ChainId.Solana, Wire(), null)));

        var error = await Assert.ThrowsAsync<PaymentsKitException>(() => Create(o => o.MaxAttempts = 2, limited).BroadcastAsync(new SignedTransaction(ChainId.Solana, Wire(), null)).AsTask());
        Assert.Equal(PaymentsKitErrorCodes.ChainUnavailable, error.Code);
        Assert.True(error.IsTransient);
    }

    [Theory]
    [InlineData(-32002, "Transaction simulation failed: Blockhash not found", "{\"err\":\"BlockhashNotFound\",\"logs\":[]}")]
    [InlineData(-32002, "Transaction simulation failed: Error processing Instruction 0: custom program error: 0x1", "{\"err\":{\"InstructionError\":[0,{\"Custom\":1}]},\"logs\":[\"Program log: Error: insufficient funds\"]}")]
    [InlineData(-32003, "Transaction signature verification failure", null)]
    [InlineData(-32602, "invalid transaction: Transaction failed to sanitize accounts offsets correctly", null)]
    public async Task Preflight_Failures_Are_Permanent_Rejections(long code, string message, string? data)
    {
        await using var node = Node((method, _) => method == "sendTransaction" ? JsonRpcAnswer.Error(code, message, data) : null);
        var error = await Assert.ThrowsAsync<PaymentsKitException>(() => Create(null, node).BroadcastAsync(new SignedTransaction(ChainId.Solana, Wire(), null)).AsTask());
        Assert.Equal(PaymentsKitErrorCodes.TransactionRejected, error.Code);
        Assert.False(error.IsTransient);
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
        Assert.Contains(Signature, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_Signed_Transactions_Hash_Is_Known_Before_Broadcast_As_Its_First_Signature()
    {
        await using var node = Node();
        IChainAdapter adapter = Create(null, node);
        Assert.Equal(Signature, adapter.TransactionHashOf(Wire()));
        Assert.Equal(Signature, adapter.NormalizeTransactionHash(Signature));
        foreach (var payload in new[] { Array.Empty<byte>(), new byte[] { 0 }, new byte[] { 1, 2, 3 }, new byte[] { 0x80, 0x80, 0x80 } })
        {
            Assert.Null(adapter.TransactionHashOf(payload));
        }

        Assert.Empty(node.Requests);
    }

    [Fact]
    public async Task Broadcast_Rejects_Malformed_Payloads_Locally()
    {
        await using var node = Node();
        var adapter = Create(null, node);
        foreach (var payload in new[] { Array.Empty<byte>(), new byte[] { 0 }, new byte[] { 1, 2, 3 }, new byte[] { 0x80, 0x80, 0x80 } })
        {
            Assert.Equal(PaymentsKitErrorCodes.TransactionRejected, (await Assert.ThrowsAsync<PaymentsKitException>(() =>
                adapter.BroadcastAsync(new SignedTransaction(ChainId.Solana, payload, null)).AsTask())).Code);
        }

        Assert.Equal(PaymentsKitErrorCodes.TransactionRejected, (await Assert.ThrowsAsync<PaymentsKitException>(() =>
            adapter.BroadcastAsync(new SignedTransaction(ChainId.Ethereum, Wire(), null)).AsTask())).Code);
        Assert.Empty(node.Requests);
    }

    [Fact]
    public async Task Lamport_And_Token_Units()
    {
        await using var node = Node();
        var adapter = Create(null, node);
        Assert.Equal(new BigInteger(1_500_000_000), adapter.ToBaseUnits(Money.Of(1.5m, AssetRegistry.Sol)));
        Assert.Equal(Money.Of(0.000000001m, AssetRegistry.Sol), adapter.FromBaseUnits(1, AssetRegistry.Sol));
        Assert.Equal(new BigInteger(12_500_000), adapter.ToBaseUnits(Money.Of(12.5m, SolanaUsdc)));
        Assert.Equal(PaymentsKitErrorCodes.InvalidArgument, Assert.Throws<PaymentsKitException>(() => adapter.FromBaseUnits(1, AssetRegistry.Hbar)).Code);
        Assert.Equal(new ChainAddress(ChainId.Solana, Sender), adapter.ParseAddress(Sender));
    }

    [Fact]
    public async Task AddSolana_Registers_A_Validated_Adapter()
    {
        await using var node = Node();
        var services = new ServiceCollection();
        services.AddPaymentsKit().AddSolana(o => o.Endpoints.Add(node.BaseAddress));
        await using (var provider = services.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true }))
        {
            var adapter = Assert.IsType<SolanaChainAdapter>(provider.GetRequiredService<IChainAdapterRegistry>().Get(ChainId.Solana));
            Assert.Equal(230000031, (await adapter.ProbeHealthAsync()).LatestBlock);
        }

        var invalid = new ServiceCollection();
        invalid.AddPaymentsKit().AddSolana(o => { o.NativeTransferComputeUnits = 0; o.FinalityTime = Duration.Zero; });
        await using var invalidProvider = invalid.BuildServiceProvider();
        var error = Assert.Throws<OptionsValidationException>(() => invalidProvider.GetRequiredService<IOptions<SolanaOptions>>().Value);
        Assert.Contains(error.Failures, f => f.Contains("Solana:NativeTransferComputeUnits", StringComparison.Ordinal));
        Assert.Contains(error.Failures, f => f.Contains("Solana:FinalityTime", StringComparison.Ordinal));
        Assert.Contains(error.Failures, f => f.Contains("Solana:Endpoints", StringComparison.Ordinal));
    }
}

public sealed class SolanaMalformedAnswerTests
{
    [Fact]
    public async Task A_Token_Balance_With_An_Out_Of_Range_Index_And_No_Owner_Is_A_PaymentsKitException()
    {
        var bad = "{ \"accountIndex\": 3, \"mint\": \"" + UsdcMint + "\", \"owner\": \"" + Recipient + "\",";
        await using var node = JsonRpcLoopback.Start((method, parameters) =>
            method == "getTransaction"
                ? JsonRpcAnswer.Result(Transaction(Signature, "null").Replace(bad, "{ \"accountIndex\": 99, \"mint\": \"" + UsdcMint + "\",", StringComparison.Ordinal))
                : Standard(method, parameters));
        Assert.Contains(bad, Transaction(Signature, "null"), StringComparison.Ordinal);
        var adapter = new SolanaChainAdapter(
            LoopbackAdapterSetup.Options<SolanaOptions>(null, node), new HttpClient(), LoopbackAdapterSetup.Assets(), new ManualClock(), NullLogger<SolanaChainAdapter>.Instance);
        var error = await Assert.ThrowsAnyAsync<Exception>(() => adapter.GetTransactionAsync(Signature).AsTask());
        Assert.IsType<PaymentsKitException>(error);
    }

    [Fact]
    public async Task A_Rooted_Status_Without_A_Confirmation_Status_Is_Final_Not_Pending()
    {
        // getSignatureStatuses: confirmationStatus is nullable; confirmations == null means rooted (finalized).
        const string rooted = """
            { "context": { "slot": 230000100 },
              "value": [ { "slot": 230000000, "confirmations": null, "err": null, "status": { "Ok": null }, "confirmationStatus": null } ] }
            """;
        await using var node = JsonRpcLoopback.Start((method, parameters) =>
            method == "getSignatureStatuses" ? JsonRpcAnswer.Result(rooted) : Standard(method, parameters));
        var adapter = new SolanaChainAdapter(
            LoopbackAdapterSetup.Options<SolanaOptions>(null, node), new HttpClient(), LoopbackAdapterSetup.Assets(), new ManualClock(), NullLogger<SolanaChainAdapter>.Instance);
        var tx = await adapter.GetTransactionAsync(Signature);
        Assert.Equal(ChainTransactionStatus.Succeeded, tx!.Status);
        Assert.True(tx.IsFinal);
    }
}
