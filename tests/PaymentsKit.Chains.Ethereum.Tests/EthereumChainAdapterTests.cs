using System.Numerics;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using NodaTime;
using PaymentsKit.Chains.Ethereum;
using PaymentsKit.Testing;
using static PaymentsKit.Chains.Ethereum.Tests.EthereumFixtures;

namespace PaymentsKit.Chains.Ethereum.Tests;

public sealed class EthereumChainAdapterTests
{
    private static readonly Asset Usdc = Asset.Create("USDC.ETH", 6, ChainId.Ethereum, "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48");
    private static readonly string SenderChecksummed = EthereumAddressCodec.Lenient.Parse(ChainId.Ethereum, Sender).Value;
    private static readonly string RecipientChecksummed = EthereumAddressCodec.Lenient.Parse(ChainId.Ethereum, Recipient).Value;
    private readonly ManualClock _clock = new();

    private EthereumChainAdapter Create(Action<EthereumOptions>? configure, params LoopbackHttpServer[] nodes) =>
        new(LoopbackAdapterSetup.Options(configure, nodes), new HttpClient(), LoopbackAdapterSetup.Assets(Usdc), _clock, NullLogger<EthereumChainAdapter>.Instance);

    private static LoopbackHttpServer Node(Func<string, JsonElement, JsonRpcAnswer?>? overrides = null) =>
        JsonRpcLoopback.Start((method, parameters) => overrides?.Invoke(method, parameters) ?? Standard(method, parameters));

    [Fact]
    public async Task Reads_An_Ether_Transfer()
    {
        await using var node = Node();
        var tx = await Create(null, node).GetTransactionAsync(EtherHash.ToUpperInvariant().Replace("0X", "0x", StringComparison.Ordinal));
        Assert.NotNull(tx);
        Assert.Equal(EtherHash, tx.Hash);
        Assert.Equal(ChainTransactionStatus.Succeeded, tx.Status);
        Assert.Equal(12, tx.Confirmations); // 0x5daf46 - 0x5daf3b + 1
        Assert.True(tx.IsFinal);
        Assert.Null(tx.Memo);
        Assert.Equal(Money.Of(0.00042m, AssetRegistry.Eth), tx.Fee); // 21000 × 20 gwei
        Assert.Equal(Instant.FromUnixTimeSeconds(0x55ba467c), tx.Timestamp);
        Assert.Equal([new ChainTransfer(Money.Of(0.00429m, AssetRegistry.Eth), SenderChecksummed, RecipientChecksummed)], tx.Transfers);
        Assert.Contains(node.Requests, r => r.Body.Contains("\"eth_getBlockByNumber\"", StringComparison.Ordinal) && r.Body.Contains("[\"0x5daf3b\",false]", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Reads_Erc20_Transfer_Logs_Of_Known_Tokens_Only()
    {
        await using var node = Node();
        var tx = await Create(o => o.FinalityConfirmations = 64, node).GetTransactionAsync(TokenHash);
        Assert.Equal(ChainTransactionStatus.Succeeded, tx!.Status);
        Assert.Equal(7, tx.Confirmations);
        Assert.False(tx.IsFinal);
        Assert.Equal(Money.Of(0.000065m, AssetRegistry.Eth), tx.Fee); // 65000 × 1 gwei
        Assert.Equal([new ChainTransfer(Money.Of(25m, Usdc), SenderChecksummed, RecipientChecksummed)], tx.Transfers);
    }

    [Fact]
    public async Task Reverted_Transaction_Is_Failed_And_Moves_Nothing()
    {
        await using var node = Node();
        var tx = await Create(null, node).GetTransactionAsync(FailedHash);
        Assert.Equal(ChainTransactionStatus.Failed, tx!.Status);
        Assert.Empty(tx.Transfers);
        Assert.Equal(Money.Of(0.000065m, AssetRegistry.Eth), tx.Fee);
    }

    [Fact]
    public async Task Pending_Transaction_Reports_Its_Intended_Token_Transfer()
    {
        await using var node = Node();
        var tx = await Create(null, node).GetTransactionAsync(PendingHash);
        Assert.Equal(ChainTransactionStatus.Pending, tx!.Status);
        Assert.Equal(0, tx.Confirmations);
        Assert.False(tx.IsFinal);
        Assert.Null(tx.Fee);
        Assert.Null(tx.Timestamp);
        Assert.Equal([new ChainTransfer(Money.Of(25m, Usdc), SenderChecksummed, RecipientChecksummed)], tx.Transfers);
    }

    [Fact]
    public async Task A_Receipt_Without_A_Block_Is_A_Pending_Transaction()
    {
        // OpenEthereum, and nodes in its --no-geth mode, answer a pending transaction's receipt with a null block number
        // and hash instead of a null receipt.
        var pendingReceipt = TokenReceipt(PendingHash, "0x1")
            .Replace("\"blockHash\": \"" + TokenBlockHash + "\"", "\"blockHash\": null", StringComparison.Ordinal)
            .Replace("\"blockNumber\": \"0x5daf40\"", "\"blockNumber\": null", StringComparison.Ordinal);
        await using var node = Node((method, parameters) => method == "eth_getTransactionReceipt" && parameters[0].GetString() == PendingHash
            ? JsonRpcAnswer.Result(pendingReceipt)
            : null);
        var tx = await Create(null, node).GetTransactionAsync(PendingHash);
        Assert.Equal(ChainTransactionStatus.Pending, tx!.Status);
        Assert.Equal(0, tx.Confirmations);
        Assert.False(tx.IsFinal);
        Assert.Equal([new ChainTransfer(Money.Of(25m, Usdc), SenderChecksummed, RecipientChecksummed)], tx.Transfers);
    }

    [Fact]
    public async Task A_Receipt_For_A_Transaction_The_Node_Does_Not_Show_Is_Unavailable_Not_Unknown()
    {
        // Behind one provider URL the receipt and the transaction can come from backends at different heights. The receipt
        // proves inclusion, so "unknown" (which lets the router replace the transaction, paying twice) would be wrong.
        await using var node = Node((method, parameters) => method == "eth_getTransactionByHash" && parameters[0].GetString() == EtherHash
            ? JsonRpcAnswer.Result("null")
            : null);
        var error = await Assert.ThrowsAsync<PaymentsKitException>(() => Create(null, node).GetTransactionAsync(EtherHash).AsTask());
        Assert.Equal(PaymentsKitErrorCodes.ChainUnavailable, error.Code);
        Assert.True(error.IsTransient);
    }

    [Theory]
    [InlineData("eth_getTransactionReceipt")]
    [InlineData("eth_getTransactionByHash")]
    public async Task A_Node_Still_Indexing_Transactions_Is_Failed_Over_And_Transient(string method)
    {
        // geth 1.13.11+ answers -32000 "transaction indexing is in progress" while it cannot tell whether it has the
        // transaction; another node, or the same one later, can.
        JsonRpcAnswer? Indexing(string called, JsonElement parameters) =>
            called == method ? JsonRpcAnswer.Error(-32000, "transaction indexing is in progress") : null;
        await using var indexing = Node(Indexing);
        await using var ready = Node();
        var tx = await Create(null, indexing, ready).GetTransactionAsync(EtherHash);
        Assert.Equal(ChainTransactionStatus.Succeeded, tx!.Status);

        await using var alone = Node(Indexing);
        var error = await Assert.ThrowsAsync<PaymentsKitException>(() => Create(null, alone).GetTransactionAsync(EtherHash).AsTask());
        Assert.Equal(PaymentsKitErrorCodes.ChainUnavailable, error.Code);
        Assert.True(error.IsTransient);
    }

    [Fact]
    public async Task An_Included_Transaction_At_Or_Below_The_Finalized_Block_Is_Final_Whatever_Its_Confirmations()
    {
        await using var node = Node((method, parameters) => AsksForFinalized(method, parameters)
            ? JsonRpcAnswer.Result(FinalizedBlock("0x5daf3b"))
            : null);
        var tx = await Create(o => o.FinalityConfirmations = 1000, node).GetTransactionAsync(EtherHash);
        Assert.Equal(12, tx!.Confirmations);
        Assert.True(tx.IsFinal);
        Assert.Contains(node.Requests, r => r.Body.Contains("\"eth_getBlockByNumber\"", StringComparison.Ordinal) && r.Body.Contains("[\"finalized\",false]", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_Transaction_Above_The_Finalized_Block_Is_Not_Final_However_Many_Confirmations()
    {
        await using var node = Node((method, parameters) => AsksForFinalized(method, parameters)
            ? JsonRpcAnswer.Result(FinalizedBlock("0x5daf3a"))
            : null);
        var tx = await Create(o => o.FinalityConfirmations = 1, node).GetTransactionAsync(EtherHash);
        Assert.Equal(ChainTransactionStatus.Succeeded, tx!.Status);
        Assert.Equal(12, tx.Confirmations);
        Assert.False(tx.IsFinal);
    }

    [Theory]
    [InlineData(-32000, "'finalized' tag not supported on pre-merge network")]
    [InlineData(-32000, "finalized block not found")]
    [InlineData(-39001, "Unknown block")]
    [InlineData(-32602, "invalid argument 0: hex string without 0x prefix")]
    [InlineData(0, null)]
    public async Task A_Node_That_Does_Not_Serve_The_Finalized_Tag_Falls_Back_To_Confirmations(long code, string? message)
    {
        // code 0: the node answers the tag with a null block instead of an error.
        await using var node = Node((method, parameters) => AsksForFinalized(method, parameters)
            ? message is null ? JsonRpcAnswer.Result("null") : JsonRpcAnswer.Error(code, message)
            : null);
        var final = await Create(o => o.FinalityConfirmations = 12, node).GetTransactionAsync(EtherHash);
        Assert.Equal(12, final!.Confirmations);
        Assert.True(final.IsFinal);
        var notYet = await Create(o => o.FinalityConfirmations = 13, node).GetTransactionAsync(EtherHash);
        Assert.Equal(ChainTransactionStatus.Succeeded, notYet!.Status);
        Assert.False(notYet.IsFinal);
        Assert.Equal(2, FinalizedRequests(node));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_Node_Without_The_Finalized_Tag_Is_Asked_For_It_Once_Per_Recheck_Period(bool answersWithError)
    {
        await using var node = Node((method, parameters) => AsksForFinalized(method, parameters)
            ? answersWithError ? JsonRpcAnswer.Error(-32000, "'finalized' tag not supported on pre-merge network") : JsonRpcAnswer.Result("null")
            : null);
        var adapter = Create(o => o.FinalityConfirmations = 12, node);
        for (var read = 0; read < 3; read++)
        {
            Assert.True((await adapter.GetTransactionAsync(EtherHash))!.IsFinal);
            _clock.Advance(Duration.FromMinutes(3));
        }

        Assert.Equal(1, FinalizedRequests(node));

        _clock.Advance(Duration.FromMinutes(1)); // 12 minutes after the refusal: the node is asked again
        Assert.True((await adapter.GetTransactionAsync(EtherHash))!.IsFinal);
        Assert.Equal(2, FinalizedRequests(node));
        Assert.True((await adapter.GetTransactionAsync(EtherHash))!.IsFinal);
        Assert.Equal(2, FinalizedRequests(node));
    }

    [Fact]
    public async Task A_Node_That_Starts_Serving_The_Finalized_Tag_Decides_Finality_Again_After_The_Recheck_Period()
    {
        var servesFinalized = false;
        await using var node = Node((method, parameters) => AsksForFinalized(method, parameters)
            ? Volatile.Read(ref servesFinalized)
                ? JsonRpcAnswer.Result(FinalizedBlock("0x5daf3a")) // below the transaction's block: not final yet
                : JsonRpcAnswer.Error(-32000, "finalized block not found")
            : null);
        var adapter = Create(o => o.FinalityConfirmations = 1, node);
        Assert.True((await adapter.GetTransactionAsync(EtherHash))!.IsFinal); // by confirmations

        Volatile.Write(ref servesFinalized, true);
        _clock.Advance(Duration.FromMinutes(10) - Duration.FromSeconds(1));
        Assert.True((await adapter.GetTransactionAsync(EtherHash))!.IsFinal);
        Assert.Equal(1, FinalizedRequests(node));

        _clock.Advance(Duration.FromSeconds(1));
        Assert.False((await adapter.GetTransactionAsync(EtherHash))!.IsFinal); // by the finalized block
        Assert.False((await adapter.GetTransactionAsync(EtherHash))!.IsFinal);
        Assert.Equal(3, FinalizedRequests(node));
    }

    [Fact]
    public async Task A_Missing_Finalized_Tag_Is_Remembered_For_The_Endpoint_That_Lacks_It_Only()
    {
        var firstDown = false;
        await using var first = Node((method, parameters) => Volatile.Read(ref firstDown)
            ? JsonRpcAnswer.Http(LoopbackResponse.WithStatus(503, "upstream unavailable"))
            : AsksForFinalized(method, parameters)
                ? JsonRpcAnswer.Error(-32000, "'finalized' tag not supported on pre-merge network")
                : null);
        await using var second = Node((method, parameters) => AsksForFinalized(method, parameters)
            ? JsonRpcAnswer.Result(FinalizedBlock("0x5daf3a"))
            : null);
        var adapter = Create(o => o.FinalityConfirmations = 1, first, second);
        Assert.True((await adapter.GetTransactionAsync(EtherHash))!.IsFinal); // the first endpoint, by confirmations
        Assert.Equal(1, FinalizedRequests(first));

        Volatile.Write(ref firstDown, true); // reads move to the second endpoint, which serves the tag
        Assert.False((await adapter.GetTransactionAsync(EtherHash))!.IsFinal);
        Assert.Equal(1, FinalizedRequests(second));
    }

    private static bool AsksForFinalized(string method, JsonElement parameters) =>
        method == "eth_getBlockByNumber" && parameters[0].GetString() == "finalized";

    private static int FinalizedRequests(LoopbackHttpServer node) =>
        node.Requests.Count(r => r.Body.Contains("[\"finalized\",false]", StringComparison.Ordinal));

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_Receipt_From_A_Block_No_Longer_Canonical_At_Its_Height_Is_Not_Final(bool nodeServesFinalized)
    {
        // The receipt still names the block that was reorged out; the chain now has another block at that height.
        const string Replacement = "0x5b6e0d1f2a3c4b5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5";
        await using var node = Node((method, parameters) => (method, method == "eth_getBlockByNumber" ? parameters[0].GetString() : null) switch
        {
            ("eth_getBlockByNumber", "0x5daf3b") => JsonRpcAnswer.Result(BlockAt("0x5daf3b", Replacement, "0x55ba467c")),
            ("eth_getBlockByNumber", "finalized") => nodeServesFinalized
                ? JsonRpcAnswer.Result(FinalizedBlock("0x5daf46"))
                : JsonRpcAnswer.Error(-32000, "'finalized' tag not supported on pre-merge network"),
            _ => null,
        });
        var tx = await Create(o => o.FinalityConfirmations = 1, node).GetTransactionAsync(EtherHash);
        Assert.Equal(ChainTransactionStatus.Succeeded, tx!.Status);
        Assert.False(tx.IsFinal);
    }

    [Fact]
    public async Task Finality_Costs_One_Extra_Call_And_Only_For_Included_Transactions()
    {
        await using var node = Node();
        var adapter = Create(null, node);
        await adapter.GetTransactionAsync(PendingHash);
        Assert.Equal(2, node.Requests.Count); // receipt and transaction
        await adapter.GetTransactionAsync(EtherHash);
        Assert.Equal(2 + 5, node.Requests.Count); // receipt, transaction, latest block, the receipt's block, the finalized block
        Assert.Single(node.Requests, r => r.Body.Contains("[\"finalized\",false]", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_Zero_Value_Token_Transfer_Is_Not_Reported()
    {
        // Address poisoning: transferFrom(victim, lookalike, 0) on a real token emits a Transfer log anyone can cause.
        const string Amount = "00000000000000000000000000000000000000000000000000000000017d7840";
        var zero = new string('0', 64);
        await using var node = Node((method, parameters) => (method, method.StartsWith("eth_getTransaction", StringComparison.Ordinal) ? parameters[0].GetString() : null) switch
        {
            ("eth_getTransactionReceipt", TokenHash) => JsonRpcAnswer.Result(TokenReceipt(TokenHash, "0x1").Replace(Amount, zero, StringComparison.Ordinal)),
            ("eth_getTransactionByHash", TokenHash) => JsonRpcAnswer.Result(TokenTransaction(TokenHash, "\"0x5daf40\"").Replace(Amount, zero, StringComparison.Ordinal)),
            ("eth_getTransactionByHash", PendingHash) => JsonRpcAnswer.Result(TokenTransaction(PendingHash, "null").Replace(Amount, zero, StringComparison.Ordinal)),
            _ => null,
        });
        var adapter = Create(null, node);
        var included = await adapter.GetTransactionAsync(TokenHash);
        Assert.Equal(ChainTransactionStatus.Succeeded, included!.Status);
        Assert.Empty(included.Transfers);
        var pending = await adapter.GetTransactionAsync(PendingHash);
        Assert.Equal(ChainTransactionStatus.Pending, pending!.Status);
        Assert.Empty(pending.Transfers);
    }

    [Fact]
    public async Task A_Registered_Token_Transfer_Too_Large_For_An_Amount_Is_Left_Out_And_Logged_And_The_Rest_Is_Read_Exactly()
    {
        // A spam token (or a huge mint) moves 2^96 base units, about 79 billion of an 18-decimal token, more than any
        // amount can hold. Failing the whole read would hide the 25 USDC paid in the same transaction.
        var spam = Asset.Create("SPAM.ETH", 18, ChainId.Ethereum, UnknownContract);
        var oversized = (BigInteger.One << 96).ToString("x64", System.Globalization.CultureInfo.InvariantCulture);
        const string One = "0000000000000000000000000000000000000000000000000000000000000001";
        const string Amount = "00000000000000000000000000000000000000000000000000000000017d7840";
        await using var node = Node((method, parameters) => (method, method.StartsWith("eth_getTransaction", StringComparison.Ordinal) ? parameters[0].GetString() : null) switch
        {
            ("eth_getTransactionReceipt", TokenHash) => JsonRpcAnswer.Result(TokenReceipt(TokenHash, "0x1").Replace(One, oversized, StringComparison.Ordinal)),
            ("eth_getTransactionByHash", PendingHash) => JsonRpcAnswer.Result(TokenTransaction(PendingHash, "null").Replace(Amount, oversized, StringComparison.Ordinal)),
            _ => null,
        });
        using var logs = new RecordingLoggerFactory();
        var adapter = new EthereumChainAdapter(
            LoopbackAdapterSetup.Options<EthereumOptions>(null, node),
            new HttpClient(),
            LoopbackAdapterSetup.Assets(Usdc, spam),
            _clock,
            logs.CreateLogger<EthereumChainAdapter>());

        var included = await adapter.GetTransactionAsync(TokenHash);

        Assert.Equal(ChainTransactionStatus.Succeeded, included!.Status);
        Assert.Equal([new ChainTransfer(Money.Of(25m, Usdc), SenderChecksummed, RecipientChecksummed)], included.Transfers);
        var warning = Assert.Single(logs.Entries, e => e.EventId.Id == 1203);
        Assert.Equal(LogLevel.Warning, warning.Level);
        Assert.Equal("79228162514264337593543950336", warning.Fields["Units"]);
        Assert.Equal("SPAM.ETH", warning.Fields["Asset"]);
        Assert.Equal(SenderChecksummed, warning.Fields["From"]);
        Assert.Equal(RecipientChecksummed, warning.Fields["To"]);
        Assert.Equal(TokenHash, warning.Fields["Transaction"]);

        // The intended transfer of a pending transaction, read from its calldata, is left out the same way.
        var pending = await adapter.GetTransactionAsync(PendingHash);

        Assert.Equal(ChainTransactionStatus.Pending, pending!.Status);
        Assert.Empty(pending.Transfers);
        Assert.Equal(2, logs.Entries.Count(e => e.EventId.Id == 1203));
        Assert.Equal(PendingHash, logs.Entries.Last(e => e.EventId.Id == 1203).Fields["Transaction"]);
    }

    [Fact]
    public async Task Unknown_Transaction_Is_Null()
    {
        await using var node = Node();
        Assert.Null(await Create(null, node).GetTransactionAsync("0x" + new string('0', 64)));
    }

    [Fact]
    public async Task A_Transaction_One_Node_Does_Not_Know_Yet_Is_Asked_Of_The_Others()
    {
        // A node that lags behind the chain answers null for a transaction already in a block; taking that for "unknown"
        // would let the router replace a payment that went through.
        await using var lagging = Node((method, _) => method is "eth_getTransactionReceipt" or "eth_getTransactionByHash" ? JsonRpcAnswer.Result("null") : null);
        await using var current = Node();
        var tx = await Create(null, lagging, current).GetTransactionAsync(EtherHash);
        Assert.Equal(ChainTransactionStatus.Succeeded, tx!.Status);
    }

    [Fact]
    public async Task A_Transaction_Is_Unknown_Once_Every_Node_Has_Said_So()
    {
        await using var first = Node();
        await using var second = Node();
        Assert.Null(await Create(null, first, second).GetTransactionAsync("0x" + new string('0', 64)));
        Assert.Equal(2, first.Requests.Count); // the receipt and the transaction, each asked once of each node
        Assert.Equal(2, second.Requests.Count);
    }

    [Theory]
    [InlineData("88df016429689c079f3b2f6ad39fa052532c56795b733da78a91ebe6a713944b")]
    [InlineData("0x88df016429689c079f3b2f6ad39fa052532c56795b733da78a91ebe6a713944")]
    [InlineData("0xz8df016429689c079f3b2f6ad39fa052532c56795b733da78a91ebe6a713944b")]
    public async Task Malformed_Hash_Is_Invalid_Argument(string hash)
    {
        await using var node = Node();
        Assert.Equal(PaymentsKitErrorCodes.InvalidArgument, (await Assert.ThrowsAsync<PaymentsKitException>(() => Create(null, node).GetTransactionAsync(hash).AsTask())).Code);
        Assert.Empty(node.Requests);
    }

    [Fact]
    public async Task Fee_Estimate_From_Fee_History()
    {
        await using var node = Node();
        var adapter = Create(null, node);
        var native = await adapter.EstimateFeeAsync(AssetRegistry.Eth);
        Assert.Equal(Money.Of(0.000441m, AssetRegistry.Eth), native.Fee); // 21000 × (20 gwei base + 1 gwei median tip)
        Assert.Equal(Duration.FromSeconds(12), native.ExpectedConfirmation);
        var token = await adapter.EstimateFeeAsync(Usdc);
        Assert.Equal(Money.Of(0.001365m, AssetRegistry.Eth), token.Fee); // 65000 × 21 gwei
        Assert.Contains(node.Requests, r => r.Body.Contains("\"params\":[\"0x5\",\"latest\",[50]]", StringComparison.Ordinal));
        Assert.Equal(PaymentsKitErrorCodes.InvalidArgument, (await Assert.ThrowsAsync<PaymentsKitException>(() => adapter.EstimateFeeAsync(AssetRegistry.Sol).AsTask())).Code);
    }

    [Fact]
    public async Task Fee_Estimate_Falls_Back_To_Gas_Price_Without_Fee_History()
    {
        await using var node = Node((method, _) => method == "eth_feeHistory" ? JsonRpcAnswer.Error(-32601, "the method eth_feeHistory does not exist/is not available") : null);
        var adapter = Create(null, node);
        Assert.Equal(Money.Of(0.00042m, AssetRegistry.Eth), (await adapter.EstimateFeeAsync(AssetRegistry.Eth)).Fee);
        var health = await adapter.ProbeHealthAsync();
        Assert.Equal(0x5daf46, health.LatestBlock);
        Assert.Equal(0m, health.Congestion);
    }

    [Fact]
    public async Task Health_Reports_Block_Fee_Congestion()
    {
        await using var node = Node();
        var sample = await Create(null, node).ProbeHealthAsync();
        Assert.Equal(0x5daf46, sample.LatestBlock);
        Assert.Equal(0.7m, sample.Congestion);
        Assert.Equal(Money.Of(0.000441m, AssetRegistry.Eth), sample.FeeEstimate);
        Assert.Equal(ChainHealthStatus.Healthy, sample.Status);
        Assert.Equal(0m, sample.RpcErrorRate);
        Assert.Equal(Duration.FromSeconds(144), sample.ConfirmationTime);
    }

    [Fact]
    public async Task Rate_Limits_Fail_Over_Between_Nodes()
    {
        await using var limited = JsonRpcLoopback.Start((_, _) => JsonRpcAnswer.Http(LoopbackResponse.WithStatus(429, "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-32005,\"message\":\"rate limit exceeded\"}}")));
        await using var node = Node();
        var adapter = Create(null, limited, node);
        var tx = await adapter.GetTransactionAsync(EtherHash);
        Assert.Equal(ChainTransactionStatus.Succeeded, tx!.Status);
        Assert.NotEmpty(limited.Requests);
    }

    [Fact]
    public async Task Limit_Exceeded_Error_Objects_Fail_Over()
    {
        await using var limited = JsonRpcLoopback.Start((_, _) => JsonRpcAnswer.Error(-32005, "daily request count exceeded, request rate limited"));
        await using var node = Node();
        Assert.Equal(0x5daf46, (await Create(null, limited, node).ProbeHealthAsync()).LatestBlock);
    }

    [Fact]
    public async Task Malformed_Results_Fail_Over()
    {
        await using var broken = Node((method, _) => method == "eth_feeHistory" ? JsonRpcAnswer.Result("{\"oldestBlock\":\"0xzz\",\"baseFeePerGas\":[],\"gasUsedRatio\":[]}") : null);
        await using var node = Node();
        var fee = await Create(null, broken, node).EstimateFeeAsync(AssetRegistry.Eth);
        Assert.Equal(Money.Of(0.000441m, AssetRegistry.Eth), fee.Fee);
        Assert.Single(broken.Requests);
    }

    [Fact]
    public async Task All_Nodes_Down_Is_Transient_And_Health_Is_Unhealthy()
    {
        await using var down = JsonRpcLoopback.Start((_, _) => JsonRpcAnswer.Http(LoopbackResponse.WithStatus(503, "upstream unavailable")));
        var adapter = Create(null, down);
        var error = await Assert.ThrowsAsync<PaymentsKitException>(() => adapter.EstimateFeeAsync(AssetRegistry.Eth).AsTask());
        Assert.Equal(PaymentsKitErrorCodes.ChainUnavailable, error.Code);
        Assert.True(error.IsTransient);
        var sample = await adapter.ProbeHealthAsync();
        Assert.Equal(ChainHealthStatus.Unhealthy, sample.Status);
        Assert.Equal(1m, sample.RpcErrorRate);
    }

    [Fact]
    public async Task Permanent_Rpc_Errors_On_Reads_Are_Not_Transient()
    {
        await using var node = Node((method, _) => method == "eth_getTransactionReceipt" ? JsonRpcAnswer.Error(-32602, "invalid argument 0: hex string has length 62, want 64 for common.Hash") : null);
        var error = await Assert.ThrowsAsync<PaymentsKitException>(() => Create(null, node).GetTransactionAsync(EtherHash).AsTask());
        Assert.Equal(PaymentsKitErrorCodes.ChainUnavailable, error.Code);
        Assert.False(error.IsTransient);
    }

    private static readonly byte[] RawTransaction = Convert.FromHexString("f86c0a8502540be400825208944bbeeb066ed09b7aed07bf39eee0460dfa261520880de0b6b3a7640000801ca0f3ae52c1ef3300f44df0bcfd1341c232ed6134672b16e35699ae3f5fe2493379a023d23d2955a239dd6f61c4e8b2678d174356ff424eac53da53e17706c43ef871");

    [Fact]
    public async Task Broadcast_Sends_The_Raw_Transaction_And_Returns_Its_Keccak_Hash()
    {
        var expected = "0x" + Convert.ToHexStringLower(Keccak256.Hash(RawTransaction));
        await using var node = Node((method, parameters) => method == "eth_sendRawTransaction" ? JsonRpcAnswer.Result("\"" + expected + "\"") : null);
        var result = await Create(null, node).BroadcastAsync(new SignedTransaction(ChainId.Ethereum, RawTransaction, null));
        Assert.Equal(new BroadcastResult(expected, AlreadyKnown: false), result);
        using var sent = JsonDocument.Parse(node.Requests.Single().Body);
        Assert.Equal("0x" + Convert.ToHexStringLower(RawTransaction), sent.RootElement.GetProperty("params")[0].GetString());
    }

    [Fact]
    public async Task A_Signed_Transactions_Hash_Is_Known_Before_Broadcast_As_The_Keccak_Of_Its_Raw_Bytes()
    {
        await using var node = Node();
        IChainAdapter adapter = Create(null, node);
        var expected = "0x" + Convert.ToHexStringLower(Keccak256.Hash(RawTransaction));
        Assert.Equal(expected, adapter.TransactionHashOf(RawTransaction));
        Assert.Equal(expected, adapter.NormalizeTransactionHash(expected));
        Assert.Null(adapter.TransactionHashOf(ReadOnlySpan<byte>.Empty));
        Assert.Empty(node.Requests);
    }

    [Theory]
    [InlineData("already known")]
    [InlineData("known transaction: 0x1234")]
    [InlineData("Transaction with the same hash was already imported.")]
    public async Task Rebroadcast_Is_Already_Known(string message)
    {
        await using var node = Node((method, _) => method == "eth_sendRawTransaction" ? JsonRpcAnswer.Error(-32000, message) : null);
        var result = await Create(null, node).BroadcastAsync(new SignedTransaction(ChainId.Ethereum, RawTransaction, null));
        Assert.True(result.AlreadyKnown);
        Assert.Equal("0x" + Convert.ToHexStringLower(Keccak256.Hash(RawTransaction)), result.Hash);
    }

    [Fact]
    public async Task Nonce_Too_Low_For_A_Mined_Transaction_Is_Already_Known()
    {
        var hash = "0x" + Convert.ToHexStringLower(Keccak256.Hash(RawTransaction));
        await using var node = Node((method, parameters) => method switch
        {
            "eth_sendRawTransaction" => JsonRpcAnswer.Error(-32000, "nonce too low: next nonce 11, tx nonce 10"),
            "eth_getTransactionByHash" when parameters[0].GetString() == hash => JsonRpcAnswer.Result(EtherTransaction),
            _ => null,
        });
        Assert.True((await Create(null, node).BroadcastAsync(new SignedTransaction(ChainId.Ethereum, RawTransaction, null))).AlreadyKnown);
    }

    [Fact]
    public async Task Nonce_Too_Low_Asks_Every_Node_Whether_The_Transaction_Is_Known_Before_Calling_It_A_Rejection()
    {
        // The node that took the call lags behind the chain: it does not know the transaction its nonce was used up by,
        // another node does. Reported rejected, the router would fail the payment and release its hold although it was paid.
        var hash = "0x" + Convert.ToHexStringLower(Keccak256.Hash(RawTransaction));
        await using var lagging = Node((method, _) => method switch
        {
            "eth_sendRawTransaction" => JsonRpcAnswer.Error(-32000, "nonce too low: next nonce 11, tx nonce 10"),
            "eth_getTransactionByHash" => JsonRpcAnswer.Result("null"),
            _ => null,
        });
        await using var current = Node((method, parameters) => method == "eth_getTransactionByHash" && parameters[0].GetString() == hash ? JsonRpcAnswer.Result(EtherTransaction) : null);
        var result = await Create(null, lagging, current).BroadcastAsync(new SignedTransaction(ChainId.Ethereum, RawTransaction, null));
        Assert.Equal(new BroadcastResult(hash, AlreadyKnown: true), result);
    }

    [Fact]
    public async Task Nonce_Too_Low_With_A_Node_That_Cannot_Be_Asked_Is_Transient_Not_A_Rejection()
    {
        await using var lagging = Node((method, _) => method switch
        {
            "eth_sendRawTransaction" => JsonRpcAnswer.Error(-32000, "nonce too low: next nonce 11, tx nonce 10"),
            "eth_getTransactionByHash" => JsonRpcAnswer.Result("null"),
            _ => null,
        });
        await using var down = JsonRpcLoopback.Start((_, _) => JsonRpcAnswer.Http(LoopbackResponse.WithStatus(503, "upstream unavailable")));
        var error = await Assert.ThrowsAsync<PaymentsKitException>(() => Create(null, lagging, down).BroadcastAsync(new SignedTransaction(ChainId.Ethereum, RawTransaction, null)).AsTask());
        Assert.Equal(PaymentsKitErrorCodes.ChainUnavailable, error.Code);
        Assert.True(error.IsTransient);
    }

    [Fact]
    public async Task A_Transaction_One_Node_Does_Not_Know_While_Another_Is_Down_Is_Transient_Not_Unknown()
    {
        // The node that answers may lag behind the one that is down; "unknown" would let the router replace a payment
        // that went through.
        await using var lagging = Node((method, _) => method is "eth_getTransactionReceipt" or "eth_getTransactionByHash" ? JsonRpcAnswer.Result("null") : null);
        await using var down = JsonRpcLoopback.Start((_, _) => JsonRpcAnswer.Http(LoopbackResponse.WithStatus(503, "upstream unavailable")));
        var error = await Assert.ThrowsAsync<PaymentsKitException>(() => Create(null, lagging, down).GetTransactionAsync(EtherHash).AsTask());
        Assert.Equal(PaymentsKitErrorCodes.ChainUnavailable, error.Code);
        Assert.True(error.IsTransient);
    }

    [Theory]
    [InlineData(429, "Your app has exceeded its compute units per second capacity.")]
    [InlineData(-32029, "Rate limit exceeded")]
    [InlineData(-32000, "too many requests")]
    public async Task A_Rate_Limited_Broadcast_Fails_Over_And_Is_Never_A_Rejection(long code, string message)
    {
        var expected = "0x" + Convert.ToHexStringLower(Keccak256.Hash(RawTransaction));
        await using var limited = Node((_, _) => JsonRpcAnswer.Error(code, message));
        await using var node = Node((method, _) => method == "eth_sendRawTransaction" ? JsonRpcAnswer.Result("\"" + expected + "\"") : null);
        Assert.Equal(new BroadcastResult(expected, AlreadyKnown: false), await Create(null, limited, node).BroadcastAsync(new SignedTransaction(ChainId.Ethereum, RawTransaction, null)));

        var error = await Assert.ThrowsAsync<PaymentsKitException>(() => Create(o => o.MaxAttempts = 2, limited).BroadcastAsync(new SignedTransaction(ChainId.Ethereum, RawTransaction, null)).AsTask());
        Assert.Equal(PaymentsKitErrorCodes.ChainUnavailable, error.Code);
        Assert.True(error.IsTransient);
    }

    [Theory]
    [InlineData("nonce too low: next nonce 11, tx nonce 10", false)]
    [InlineData("insufficient funds for gas * price + value: balance 0, tx cost 1000000000000000000", false)]
    [InlineData("intrinsic gas too low", false)]
    [InlineData("invalid sender", false)]
    [InlineData("replacement transaction underpriced", true)]
    [InlineData("transaction underpriced", true)]
    [InlineData("max fee per gas less than block base fee: address 0x1, maxFeePerGas: 1 baseFee: 2", true)]
    [InlineData("nonce too high", true)]
    public async Task Node_Rejections_Map_To_Transient_Or_Permanent(string message, bool transient)
    {
        await using var node = Node((method, _) => method == "eth_sendRawTransaction" ? JsonRpcAnswer.Error(-32000, message) : null);
        var error = await Assert.ThrowsAsync<PaymentsKitException>(() => Create(null, node).BroadcastAsync(new SignedTransaction(ChainId.Ethereum, RawTransaction, null)).AsTask());
        Assert.Equal(PaymentsKitErrorCodes.TransactionRejected, error.Code);
        Assert.Equal(transient, error.IsTransient);
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Broadcast_Rejects_Other_Chains_And_Empty_Payloads_Locally()
    {
        await using var node = Node();
        var adapter = Create(null, node);
        Assert.Equal(PaymentsKitErrorCodes.TransactionRejected, (await Assert.ThrowsAsync<PaymentsKitException>(() => adapter.BroadcastAsync(new SignedTransaction(ChainId.Stellar, RawTransaction, null)).AsTask())).Code);
        Assert.Equal(PaymentsKitErrorCodes.TransactionRejected, (await Assert.ThrowsAsync<PaymentsKitException>(() => adapter.BroadcastAsync(new SignedTransaction(ChainId.Ethereum, ReadOnlyMemory<byte>.Empty, null)).AsTask())).Code);
        Assert.Empty(node.Requests);
    }

    [Fact]
    public async Task Addresses_Follow_The_Checksum_Option()
    {
        await using var node = Node();
        var lenient = Create(null, node);
        Assert.Equal(SenderChecksummed, lenient.ParseAddress(Sender).Value);
        var strict = Create(o => o.RequireChecksum = true, node);
        Assert.False(strict.TryParseAddress(Sender, out _));
        Assert.Equal(SenderChecksummed, strict.ParseAddress(SenderChecksummed).Value);
        Assert.Equal(PaymentsKitErrorCodes.InvalidAddress, Assert.Throws<PaymentsKitException>(() => strict.ParseAddress(Sender)).Code);
    }

    [Fact]
    public async Task Wei_And_Token_Units()
    {
        await using var node = Node();
        var adapter = Create(null, node);
        Assert.Equal(BigInteger.Parse("1500000000000000000", System.Globalization.CultureInfo.InvariantCulture), adapter.ToBaseUnits(Money.Of(1.5m, AssetRegistry.Eth)));
        Assert.Equal(Money.Of(0.000000000000000001m, AssetRegistry.Eth), adapter.FromBaseUnits(BigInteger.One, AssetRegistry.Eth));
        Assert.Equal(new BigInteger(25_000_000), adapter.ToBaseUnits(Money.Of(25m, Usdc)));
        Assert.Equal(PaymentsKitErrorCodes.ArithmeticOverflow, Assert.Throws<PaymentsKitException>(() => adapter.FromBaseUnits(BigInteger.Pow(2, 100), AssetRegistry.Eth)).Code);
        Assert.Equal(PaymentsKitErrorCodes.InvalidArgument, Assert.Throws<PaymentsKitException>(() => adapter.ToBaseUnits(Money.Of(1m, AssetRegistry.Xlm))).Code);
    }

    [Fact]
    public void Options_Are_Validated()
    {
        var options = new EthereumOptions { FinalityConfirmations = 0, BlockTime = Duration.Zero, NativeTransferGas = 1, TokenTransferGas = 1, FeeHistoryBlocks = 0 };
        var errors = string.Join("\n", options.Validate("Ethereum"));
        foreach (var name in new[] { "Ethereum:Endpoints", "Ethereum:FinalityConfirmations", "Ethereum:BlockTime", "Ethereum:NativeTransferGas", "Ethereum:TokenTransferGas", "Ethereum:FeeHistoryBlocks" })
        {
            Assert.Contains(name, errors, StringComparison.Ordinal);
        }

        Assert.Equal(PaymentsKitErrorCodes.InvalidArgument, Assert.Throws<PaymentsKitException>(() =>
            new EthereumChainAdapter(options, new HttpClient(), new AssetRegistry(), _clock, NullLogger<EthereumChainAdapter>.Instance)).Code);
    }

    [Fact]
    public async Task AddEthereum_Registers_A_Validated_Adapter()
    {
        await using var node = Node();
        var services = new ServiceCollection();
        services.AddPaymentsKit().AddEthereum(o => o.Endpoints.Add(node.BaseAddress));
        await using (var provider = services.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true }))
        {
            var adapter = Assert.IsType<EthereumChainAdapter>(provider.GetRequiredService<IChainAdapterRegistry>().Get(ChainId.Ethereum));
            Assert.Equal(0x5daf46, (await adapter.ProbeHealthAsync()).LatestBlock);
        }

        var invalid = new ServiceCollection();
        invalid.AddPaymentsKit().AddEthereum(o => o.FinalityConfirmations = 0);
        await using var invalidProvider = invalid.BuildServiceProvider();
        var error = Assert.Throws<OptionsValidationException>(() => invalidProvider.GetRequiredService<IOptions<EthereumOptions>>().Value);
        Assert.Contains(error.Failures, f => f.Contains("Ethereum:FinalityConfirmations", StringComparison.Ordinal));
    }
}

public sealed class EthereumMalformedAnswerTests
{
    [Fact]
    public async Task A_Block_Number_Beyond_Int64_Is_Chain_Unavailable_Not_An_OverflowException()
    {
        await using var node = JsonRpcLoopback.Start((method, parameters) =>
            method == "eth_blockNumber" ? JsonRpcAnswer.Result("\"0x10000000000000000\"") : Standard(method, parameters));
        var adapter = new EthereumChainAdapter(
            LoopbackAdapterSetup.Options<EthereumOptions>(null, node), new HttpClient(), LoopbackAdapterSetup.Assets(), new ManualClock(), NullLogger<EthereumChainAdapter>.Instance);
        var error = await Assert.ThrowsAnyAsync<Exception>(() => adapter.GetTransactionAsync(EtherHash).AsTask());
        Assert.IsType<PaymentsKitException>(error);
        Assert.Equal(PaymentsKitErrorCodes.ChainUnavailable, ((PaymentsKitException)error).Code);
    }
}
