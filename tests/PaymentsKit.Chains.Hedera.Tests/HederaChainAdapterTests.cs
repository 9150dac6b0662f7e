using System.Numerics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using NodaTime;
using PaymentsKit.Chains.Hedera;
using PaymentsKit.Testing;
using static PaymentsKit.Chains.Hedera.Tests.MirrorNodeFixtures;

namespace PaymentsKit.Chains.Hedera.Tests;

public sealed class HederaChainAdapterTests
{
    private static readonly Asset HederaUsdc = Asset.Create("USDC.HBAR", 6, ChainId.Hedera, "0.0.456858");
    private static readonly string Payer = HederaAddressCodec.Mainnet.Format(new HederaEntityId(0, 0, 1234));
    private static readonly string Merchant = HederaAddressCodec.Mainnet.Format(new HederaEntityId(0, 0, 5678));
    private static readonly string Other = HederaAddressCodec.Mainnet.Format(new HederaEntityId(0, 0, 9012));
    private readonly ManualClock _clock = new();

    private HederaChainAdapter Create(Action<HederaOptions>? configure, params LoopbackHttpServer[] servers) =>
        new(LoopbackAdapterSetup.Options(configure, servers), new HttpClient(), LoopbackAdapterSetup.Assets(HederaUsdc), _clock, NullLogger<HederaChainAdapter>.Instance);

    private static LoopbackHttpServer Mirror(Dictionary<string, Func<LoopbackRequest, LoopbackResponse>>? extra = null)
    {
        var routes = new Dictionary<string, Func<LoopbackRequest, LoopbackResponse>>
        {
            ["GET /api/v1/transactions/" + TransactionId] = _ => LoopbackResponse.Json(Transaction),
            ["GET /api/v1/transactions/" + FailedId] = _ => LoopbackResponse.Json(FailedTransaction),
            ["GET /api/v1/network/exchangerate"] = _ => LoopbackResponse.Json(ExchangeRate),
            ["GET /api/v1/blocks?limit=1&order=desc"] = _ => LoopbackResponse.Json(Blocks),
        };
        foreach (var (key, value) in extra ?? [])
        {
            routes[key] = value;
        }

        return LoopbackHttpServer.WithRoutes(routes);
    }

    [Theory]
    [InlineData("0.0.1234@1615422161.673238162")]
    [InlineData("0.0.1234-1615422161-673238162")]
    public async Task Reads_Hbar_And_Token_Transfers_With_Memo(string id)
    {
        await using var mirror = Mirror();
        var tx = await Create(null, mirror).GetTransactionAsync(id);
        Assert.NotNull(tx);
        Assert.Equal(TransactionId, tx.Hash);
        Assert.Equal(ChainId.Hedera, tx.Chain);
        Assert.Equal(ChainTransactionStatus.Succeeded, tx.Status);
        Assert.Equal(1, tx.Confirmations);
        Assert.True(tx.IsFinal);
        Assert.Equal("INV-0042", tx.Memo);
        Assert.Equal(Money.Of(0.0008465m, AssetRegistry.Hbar), tx.Fee);
        Assert.Equal(Instant.FromUnixTimeSeconds(1615422170).PlusNanoseconds(123456789), tx.Timestamp);
        Assert.Equal(
            [
                new ChainTransfer(Money.Of(0.6m, AssetRegistry.Hbar), Payer, Merchant),
                new ChainTransfer(Money.Of(0.4m, AssetRegistry.Hbar), Payer, Other),
                new ChainTransfer(Money.Of(2.5m, HederaUsdc), Payer, Merchant),
            ],
            tx.Transfers);
    }

    [Fact]
    public async Task A_Registered_Token_Transfer_Too_Large_For_An_Amount_Is_Left_Out_And_Logged_And_The_Rest_Is_Read_Exactly()
    {
        // Token 0.0.999999, registered here, moves 2^96 base units from the payer to the merchant: more than any amount can
        // hold. Failing the whole read would hide the HBAR and 2.5 USDC paid in the same transaction.
        var spam = Asset.Create("SPAM.HBAR", 8, ChainId.Hedera, "0.0.999999");
        var transaction = Transaction
            .Replace("\"amount\": -7,", "\"amount\": -79228162514264337593543950336,", StringComparison.Ordinal)
            .Replace("\"amount\": 7,", "\"amount\": 79228162514264337593543950336,", StringComparison.Ordinal);
        await using var mirror = Mirror(new() { ["GET /api/v1/transactions/" + TransactionId] = _ => LoopbackResponse.Json(transaction) });
        using var logs = new RecordingLoggerFactory();
        var adapter = new HederaChainAdapter(
            LoopbackAdapterSetup.Options<HederaOptions>(null, mirror),
            new HttpClient(),
            LoopbackAdapterSetup.Assets(HederaUsdc, spam),
            _clock,
            logs.CreateLogger<HederaChainAdapter>());

        var tx = await adapter.GetTransactionAsync(TransactionId);

        Assert.Equal(
            [
                new ChainTransfer(Money.Of(0.6m, AssetRegistry.Hbar), Payer, Merchant),
                new ChainTransfer(Money.Of(0.4m, AssetRegistry.Hbar), Payer, Other),
                new ChainTransfer(Money.Of(2.5m, HederaUsdc), Payer, Merchant),
            ],
            tx!.Transfers);
        var warning = Assert.Single(logs.Entries, e => e.EventId.Id == 1402);
        Assert.Equal(LogLevel.Warning, warning.Level);
        Assert.Equal("79228162514264337593543950336", warning.Fields["Units"]);
        Assert.Equal("SPAM.HBAR", warning.Fields["Asset"]);
        Assert.Equal(Payer, warning.Fields["From"]);
        Assert.Equal(Merchant, warning.Fields["To"]);
        Assert.Equal(TransactionId, warning.Fields["Transaction"]);
    }

    [Fact]
    public async Task Sdk_Transaction_Ids_Are_Sent_In_Mirror_Form_With_Padded_Nanos()
    {
        await using var mirror = Mirror(new() { ["GET /api/v1/transactions/0.0.1234-1615422200-000000005"] = _ => LoopbackResponse.Json(FailedTransaction) });
        var tx = await Create(null, mirror).GetTransactionAsync("0.0.1234@1615422200.5");
        Assert.Equal(FailedId, tx!.Hash);
    }

    [Theory]
    [InlineData("0.0.1234@01615422161.673238162")]
    [InlineData("0.0.1234-0001615422161-673238162")]
    public async Task Leading_Zeros_In_The_Seconds_Name_The_Same_Transaction(string id)
    {
        // Two spellings of one id reported under two hashes would let one payment be recorded twice.
        await using var mirror = Mirror();
        var adapter = Create(null, mirror);
        Assert.Equal(TransactionId, adapter.NormalizeTransactionHash(id));
        Assert.Equal(TransactionId, (await adapter.GetTransactionAsync(id))!.Hash);
    }

    [Theory]
    [InlineData("INVALID_NODE_ACCOUNT", "1615422165.000000001")]
    [InlineData("INVALID_PAYER_SIGNATURE", "1615422165.000000001")]
    [InlineData("DUPLICATE_TRANSACTION", "1615422175.000000001")]
    public async Task Of_Several_Transactions_With_The_Id_The_One_Hedera_Counts_Is_Read(string result, string consensus)
    {
        // HAPI: the transaction an id names is the first to reach consensus whose status is not a node's due-diligence failure
        // (INVALID_NODE_ACCOUNT, INVALID_PAYER_SIGNATURE); copies after it are DUPLICATE_TRANSACTION. The other copy is listed
        // first here, so reading the first entry would report a payment that went through as failed.
        var other = $$"""
            {
              "charged_tx_fee": 84650, "consensus_timestamp": "{{consensus}}", "memo_base64": "", "name": "CRYPTOTRANSFER",
              "node": "0.0.5", "nonce": 0, "parent_consensus_timestamp": null, "result": "{{result}}", "scheduled": false,
              "token_transfers": [], "transaction_id": "{{TransactionId}}",
              "transfers": [ { "account": "0.0.5", "amount": -84650 }, { "account": "0.0.98", "amount": 84650 } ]
            },
            """;
        var answer = Transaction.Replace("\"transactions\": [", "\"transactions\": [" + other, StringComparison.Ordinal);
        Assert.Contains(result, answer, StringComparison.Ordinal);
        await using var mirror = Mirror(new() { ["GET /api/v1/transactions/" + TransactionId] = _ => LoopbackResponse.Json(answer) });
        var tx = await Create(null, mirror).GetTransactionAsync(TransactionId);
        Assert.Equal(ChainTransactionStatus.Succeeded, tx!.Status);
        Assert.Equal("INV-0042", tx.Memo);
        Assert.Equal(Instant.FromUnixTimeSeconds(1615422170).PlusNanoseconds(123456789), tx.Timestamp);
        Assert.Contains(new ChainTransfer(Money.Of(0.6m, AssetRegistry.Hbar), Payer, Merchant), tx.Transfers);
    }

    [Fact]
    public async Task Failed_Transaction_Moves_Nothing_But_Pays_Its_Fee()
    {
        await using var mirror = Mirror();
        var tx = await Create(null, mirror).GetTransactionAsync(FailedId);
        Assert.Equal(ChainTransactionStatus.Failed, tx!.Status);
        Assert.Empty(tx.Transfers);
        Assert.Null(tx.Memo);
        Assert.Equal(Money.Of(0.0008465m, AssetRegistry.Hbar), tx.Fee);
    }

    [Fact]
    public async Task Unknown_Transaction_Is_Null()
    {
        await using var mirror = Mirror();
        Assert.Null(await Create(null, mirror).GetTransactionAsync("0.0.1-1-1"));
    }

    [Fact]
    public async Task A_Transaction_One_Mirror_Node_Does_Not_Know_Yet_Is_Asked_Of_The_Others()
    {
        // A Mirror Node imports records behind consensus and answers 404 meanwhile; taking that for "unknown" would let the
        // router replace a payment that went through.
        await using var lagging = Mirror(new() { ["GET /api/v1/transactions/" + TransactionId] = _ => LoopbackResponse.WithStatus(404, NotFound) });
        await using var current = Mirror();
        var transaction = await Create(null, lagging, current).GetTransactionAsync(TransactionId);
        Assert.Equal(TransactionId, transaction!.Hash);
        Assert.Single(lagging.Requests);
    }

    [Fact]
    public async Task A_Transaction_Is_Unknown_Once_Every_Mirror_Node_Has_Said_So_Each_Asked_Once()
    {
        await using var first = Mirror();
        await using var second = Mirror();
        Assert.Null(await Create(null, first, second).GetTransactionAsync("0.0.1-1-1"));
        Assert.Single(first.Requests);
        Assert.Single(second.Requests);
    }

    [Theory]
    [InlineData("0.0.1234")]
    [InlineData("0.0.1234@1615422161")]
    [InlineData("0.0.01234@1615422161.1")]
    [InlineData("0.0.1234@1615422161.1234567890")]
    [InlineData("0.0.1234@9223372036854775808.1")] // seconds beyond a signed 64-bit timestamp
    [InlineData("0x1234")]
    public async Task Malformed_Transaction_Ids_Are_Invalid_Arguments(string id)
    {
        await using var mirror = Mirror();
        Assert.Equal(PaymentsKitErrorCodes.InvalidArgument, (await Assert.ThrowsAsync<PaymentsKitException>(() => Create(null, mirror).GetTransactionAsync(id).AsTask())).Code);
        Assert.Empty(mirror.Requests);
    }

    [Fact]
    public async Task Fee_Estimate_Converts_The_Usd_Fee_At_The_Exchange_Rate()
    {
        await using var mirror = Mirror();
        var adapter = Create(null, mirror);
        // 0.01 cent × 30000 HBAR / 596987 cents = 0.000502523…, rounded up to a tinybar.
        Assert.Equal(Money.Of(0.00050253m, AssetRegistry.Hbar), (await adapter.EstimateFeeAsync(AssetRegistry.Hbar)).Fee);
        Assert.Equal(Money.Of(0.00502524m, AssetRegistry.Hbar), (await adapter.EstimateFeeAsync(HederaUsdc)).Fee);
        Assert.Equal(PaymentsKitErrorCodes.InvalidArgument, (await Assert.ThrowsAsync<PaymentsKitException>(() => adapter.EstimateFeeAsync(AssetRegistry.Xlm).AsTask())).Code);
    }

    [Fact]
    public async Task Health_Reports_The_Latest_Block_And_Fee()
    {
        await using var mirror = Mirror();
        var sample = await Create(null, mirror).ProbeHealthAsync();
        Assert.Equal(61234567, sample.LatestBlock);
        Assert.Equal(Money.Of(0.00050253m, AssetRegistry.Hbar), sample.FeeEstimate);
        Assert.Equal(0m, sample.Congestion);
        Assert.Equal(ChainHealthStatus.Healthy, sample.Status);
    }

    [Fact]
    public async Task Rate_Limited_Mirror_Fails_Over()
    {
        await using var limited = new LoopbackHttpServer(_ => LoopbackResponse.WithStatus(429, TooManyRequests));
        await using var mirror = Mirror();
        var tx = await Create(null, limited, mirror).GetTransactionAsync(TransactionId);
        Assert.Equal(ChainTransactionStatus.Succeeded, tx!.Status);
        Assert.Single(limited.Requests);
    }

    [Fact]
    public async Task Malformed_Mirror_Answer_Fails_Over()
    {
        await using var broken = new LoopbackHttpServer(_ => LoopbackResponse.Json("{\"transactions\": {}}"));
        await using var mirror = Mirror();
        Assert.NotNull(await Create(null, broken, mirror).GetTransactionAsync(TransactionId));
    }

    [Fact]
    public async Task Every_Mirror_Down_Is_Transient_Unavailable_And_Unhealthy()
    {
        await using var down = new LoopbackHttpServer(_ => LoopbackResponse.WithStatus(503));
        var adapter = Create(null, down);
        var error = await Assert.ThrowsAsync<PaymentsKitException>(() => adapter.GetTransactionAsync(TransactionId).AsTask());
        Assert.Equal(PaymentsKitErrorCodes.ChainUnavailable, error.Code);
        Assert.True(error.IsTransient);
        Assert.Equal(ChainHealthStatus.Unhealthy, (await adapter.ProbeHealthAsync()).Status);
    }

    [Fact]
    public async Task Broadcast_Without_A_Submitter_Says_What_Is_Missing()
    {
        await using var mirror = Mirror();
        var error = await Assert.ThrowsAsync<PaymentsKitException>(() =>
            Create(null, mirror).BroadcastAsync(new SignedTransaction(ChainId.Hedera, new byte[] { 1 }, TransactionId)).AsTask());
        Assert.Equal(PaymentsKitErrorCodes.ChainUnavailable, error.Code);
        Assert.False(error.IsTransient);
        Assert.Contains("HederaOptions.Submitter", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Broadcast_Goes_Through_The_Host_Submitter()
    {
        await using var mirror = Mirror();
        SignedTransaction? submitted = null;
        var adapter = Create(o => o.Submitter = (tx, _) =>
        {
            submitted = tx;
            return ValueTask.FromResult(new BroadcastResult(tx.Hash!, AlreadyKnown: true));
        }, mirror);
        var signed = new SignedTransaction(ChainId.Hedera, new byte[] { 1, 2 }, TransactionId);
        Assert.Equal(new BroadcastResult(TransactionId, true), await adapter.BroadcastAsync(signed));
        Assert.Same(signed, submitted);
        Assert.Equal(PaymentsKitErrorCodes.TransactionRejected, (await Assert.ThrowsAsync<PaymentsKitException>(() =>
            adapter.BroadcastAsync(signed with { Chain = ChainId.Solana }).AsTask())).Code);
        Assert.Equal(PaymentsKitErrorCodes.TransactionRejected, (await Assert.ThrowsAsync<PaymentsKitException>(() =>
            adapter.BroadcastAsync(signed with { Payload = ReadOnlyMemory<byte>.Empty }).AsTask())).Code);
    }

    [Fact]
    public async Task A_Signed_Transactions_Id_Is_Known_Before_Broadcast_From_Its_Body()
    {
        await using var mirror = Mirror();
        IChainAdapter adapter = Create(null, mirror);

        // HAPI protobuf: TransactionID { Timestamp transactionValidStart = 1 { seconds = 1, nanos = 2 }; AccountID accountID = 2
        // { shardNum = 1, realmNum = 2, accountNum = 3 } }, first in TransactionBody, itself the bodyBytes (1) of a
        // SignedTransaction carried as a Transaction's signedTransactionBytes (5); the SDK writes a TransactionList of
        // those (transaction_list = 1), one per node, all with the one id.
        var id = Message(Field(1, Message(Varint(1, 1615422161), Varint(2, 673238162))), Field(2, Message(Varint(1, 0), Varint(2, 0), Varint(3, 1234))));
        var body = Message(Field(1, id), Field(2, Message(Varint(3, 3))), Varint(3, 100_000_000));
        var signature = Message(Field(1, Message(Field(1, [1, 2]), Field(3, new byte[64]))));
        var transaction = Message(Field(5, Message(Field(1, body), Field(2, signature))));
        Assert.Equal(TransactionId, adapter.TransactionHashOf(transaction));
        Assert.Equal(TransactionId, adapter.NormalizeTransactionHash("0.0.1234@1615422161.673238162"));

        var otherNode = Message(Field(5, Message(Field(1, Message(Field(1, id), Field(2, Message(Varint(3, 4))))), Field(2, signature))));
        Assert.Equal(TransactionId, adapter.TransactionHashOf(Message(Field(1, transaction), Field(1, otherNode))));

        // The deprecated bodyBytes (4) of a Transaction name it too.
        Assert.Equal(TransactionId, adapter.TransactionHashOf(Message(Field(4, body), Field(3, signature))));

        // Nothing to tell it by: no id, an alias payer, a scheduled id, two ids in one list, bytes that are not protobuf.
        var alias = Message(Field(1, Message(Varint(1, 1615422161))), Field(2, Message(Field(4, new byte[33]))));
        var scheduled = Message(Field(1, Message(Varint(1, 1615422161))), Field(2, Message(Varint(3, 1234))), Varint(3, 1));
        var later = Message(Field(1, Message(Varint(1, 1615422162))), Field(2, Message(Varint(3, 1234))));
        foreach (var payload in new[]
        {
            Message(Field(5, Message(Field(1, Message(Varint(3, 1)))))),
            Message(Field(5, Message(Field(1, Message(Field(1, alias)))))),
            Message(Field(5, Message(Field(1, Message(Field(1, scheduled)))))),
            Message(Field(1, transaction), Field(1, Message(Field(5, Message(Field(1, Message(Field(1, later)))))))),
            [0xFF, 0xFF],
            [],
        })
        {
            Assert.Null(adapter.TransactionHashOf(payload));
        }

        Assert.Empty(mirror.Requests);

        static byte[] Message(params byte[][] fields) => [.. fields.SelectMany(f => f)];
        static byte[] Field(int number, byte[] value) => [.. Key(number, 2), .. Encode((ulong)value.Length), .. value];
        static byte[] Varint(int number, long value) => [.. Key(number, 0), .. Encode((ulong)value)];
        static byte[] Key(int number, int wireType) => Encode((ulong)((number << 3) | wireType));
        static byte[] Encode(ulong value)
        {
            var bytes = new List<byte>();
            do
            {
                var low = (byte)(value & 0x7F);
                value >>= 7;
                bytes.Add(value == 0 ? low : (byte)(low | 0x80));
            }
            while (value != 0);
            return [.. bytes];
        }
    }

    [Fact]
    public async Task Addresses_Use_The_Configured_Ledger()
    {
        await using var mirror = Mirror();
        var testnet = Create(o => o.Network = HederaNetwork.Testnet, mirror);
        var address = testnet.ParseAddress("0.0.1234");
        Assert.Equal(HederaAddressCodec.Testnet.Format(new HederaEntityId(0, 0, 1234)), address.Value);
        Assert.False(testnet.TryParseAddress(Payer, out _)); // mainnet checksum
        Assert.Equal(PaymentsKitErrorCodes.InvalidAddress, Assert.Throws<PaymentsKitException>(() => testnet.ParseAddress(Payer)).Code);
    }

    [Fact]
    public async Task Tinybar_And_Token_Units()
    {
        await using var mirror = Mirror();
        var adapter = Create(null, mirror);
        Assert.Equal(new BigInteger(150_000_000), adapter.ToBaseUnits(Money.Of(1.5m, AssetRegistry.Hbar)));
        Assert.Equal(Money.Of(0.00000001m, AssetRegistry.Hbar), adapter.FromBaseUnits(1, AssetRegistry.Hbar));
        Assert.Equal(new BigInteger(2_500_000), adapter.ToBaseUnits(Money.Of(2.5m, HederaUsdc)));
        Assert.Equal(PaymentsKitErrorCodes.InvalidArgument, Assert.Throws<PaymentsKitException>(() => adapter.ToBaseUnits(Money.Of(1m, AssetRegistry.Sol))).Code);
    }

    [Fact]
    public void Options_Are_Validated()
    {
        var options = new HederaOptions { Network = (HederaNetwork)7, TransferFeeUsdCents = 0m, TokenTransferFeeUsdCents = 1000m };
        var errors = string.Join("\n", options.Validate("Hedera"));
        foreach (var name in new[] { "Hedera:Endpoints", "Hedera:Network", "Hedera:TransferFeeUsdCents", "Hedera:TokenTransferFeeUsdCents" })
        {
            Assert.Contains(name, errors, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task AddHedera_Registers_A_Validated_Adapter()
    {
        await using var mirror = Mirror();
        var services = new ServiceCollection();
        services.AddPaymentsKit().AddHedera(o => o.Endpoints.Add(mirror.BaseAddress));
        await using (var provider = services.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true }))
        {
            var adapter = Assert.IsType<HederaChainAdapter>(provider.GetRequiredService<IChainAdapterRegistry>().Get(ChainId.Hedera));
            Assert.Equal(61234567, (await adapter.ProbeHealthAsync()).LatestBlock);
        }

        var invalid = new ServiceCollection();
        invalid.AddPaymentsKit().AddHedera(o => o.TransferFeeUsdCents = -1m);
        await using var invalidProvider = invalid.BuildServiceProvider();
        var error = Assert.Throws<OptionsValidationException>(() => invalidProvider.GetRequiredService<IOptions<HederaOptions>>().Value);
        Assert.Contains(error.Failures, f => f.Contains("Hedera:TransferFeeUsdCents", StringComparison.Ordinal));
    }
}

public sealed class HederaMalformedAnswerTests
{
    [Fact]
    public async Task A_Consensus_Timestamp_Beyond_Int64_Is_A_PaymentsKitException()
    {
        await using var mirror = LoopbackHttpServer.WithRoutes(new Dictionary<string, Func<LoopbackRequest, LoopbackResponse>>
        {
            ["GET /api/v1/transactions/" + TransactionId] = _ => LoopbackResponse.Json(
                Transaction.Replace("\"1615422170.123456789\"", "\"99999999999999999999.123456789\"", StringComparison.Ordinal)),
        });
        var adapter = new HederaChainAdapter(
            LoopbackAdapterSetup.Options<HederaOptions>(null, mirror), new HttpClient(), LoopbackAdapterSetup.Assets(), new ManualClock(), NullLogger<HederaChainAdapter>.Instance);
        var error = await Assert.ThrowsAnyAsync<Exception>(() => adapter.GetTransactionAsync(TransactionId).AsTask());
        Assert.IsType<PaymentsKitException>(error);
    }
}
