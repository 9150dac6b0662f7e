using System.Collections.Concurrent;
using System.Globalization;
using System.Numerics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using NodaTime;
using PaymentsKit.Chains.Rpc;

namespace PaymentsKit.Chains.Ethereum;

/// <summary>
/// Ethereum (and EVM networks) over JSON-RPC: EIP-55 addresses, wei and ERC-20 unit conversion,
/// transactions with their ether value and ERC-20 <c>Transfer</c> logs, EIP-1559 fee history for fees and
/// congestion, and <c>eth_sendRawTransaction</c> for transactions the host signed.
/// </summary>
/// <remarks>
/// ERC-20 tokens are matched through the <see cref="AssetRegistry"/> by <see cref="Asset.Identifier"/> = the token
/// contract address (any case); transfers of tokens it does not hold are left out, since their decimals are unknown, and so
/// are zero-value transfers (address poisoning) and transfers of more base units than an amount can hold (2^96 − 1; logged
/// as a warning, event 1203): the rest of the transaction is read, and no amount is ever rounded.
/// A transaction counts as final once its block is at or below the chain's <c>finalized</c> block and is still the block
/// the chain has at that height; a node that does not serve the <c>finalized</c> tag (pre-merge networks, some L2 and test
/// nodes) falls back to <see cref="EthereumOptions.FinalityConfirmations"/> confirmations. Such an endpoint is asked
/// for the tag again only after ten minutes, so it does not cost a failing call on every read.
/// </remarks>
public sealed partial class EthereumChainAdapter : IChainAdapter
{
    /// <summary>topic0 of <c>Transfer(address,address,uint256)</c>.</summary>
    internal const string TransferTopic = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef";

    private const string TransferSelector = "a9059cbb";

    /// <summary>
    /// How long an endpoint that did not serve the <c>finalized</c> tag is read by confirmations before it is asked for the
    /// tag again: long enough that a node without it no longer costs a failing call on every read, short enough that a
    /// node that gains it (an upgrade, a new chain's first finalized block) decides finality again soon.
    /// </summary>
    private static readonly Duration FinalizedTagRecheckInterval = Duration.FromMinutes(10);

    private readonly JsonRpcClient _rpc;
    private readonly RpcHealthProbe _probe;
    private readonly AssetRegistry _assets;
    private readonly EthereumAddressCodec _codec;
    private readonly ILogger _logger;
    private readonly IClock _clock;
    private readonly ConcurrentDictionary<Uri, Instant> _noFinalizedTagUntil = new();
    private readonly int _finality;
    private readonly Duration _blockTime;
    private readonly long _nativeGas;
    private readonly long _tokenGas;
    private readonly int _feeHistoryBlocks;

    /// <summary>Creates the adapter.</summary>
    /// <param name="options">Validated options.</param>
    /// <param name="httpClient">The client to reach the nodes with.</param>
    /// <param name="assets">Resolves ERC-20 tokens by contract address.</param>
    /// <param name="clock">Stamps health samples, times when an endpoint without the <c>finalized</c> tag is asked again, and reads a node's Retry-After date when its response has no Date header.</param>
    /// <param name="logger">Receives failover warnings, skipped transfers and endpoints without the <c>finalized</c> tag.</param>
    /// <exception cref="PaymentsKitException"><c>invalid_argument</c> listing every problem with <paramref name="options"/>.</exception>
    public EthereumChainAdapter(EthereumOptions options, HttpClient httpClient, AssetRegistry assets, IClock clock, ILogger<EthereumChainAdapter> logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        ChainErrors.ThrowIfInvalid(options.Validate("Ethereum"));
        _assets = assets ?? throw new ArgumentNullException(nameof(assets));
        _logger = logger ?? throw new ArgumentNullException(nameof(logger));
        _clock = clock ?? throw new ArgumentNullException(nameof(clock));
        _codec = options.RequireChecksum ? EthereumAddressCodec.Strict : EthereumAddressCodec.Lenient;
        _finality = options.FinalityConfirmations;
        _blockTime = options.BlockTime;
        _nativeGas = options.NativeTransferGas;
        _tokenGas = options.TokenTransferGas;
        _feeHistoryBlocks = options.FeeHistoryBlocks;
        var transport = new RpcTransport(Chain, httpClient, options, clock, logger);
        _rpc = new JsonRpcClient(transport, IsTransient);
        _probe = new RpcHealthProbe(Chain, clock, transport, options.HealthThresholds);
    }

    /// <inheritdoc />
    public ChainId Chain => ChainId.Ethereum;

    /// <summary>The transport, for its statistics.</summary>
    public RpcTransport Transport => _rpc.Transport;

    /// <inheritdoc />
    public ChainAddress ParseAddress(string? text) => _codec.Parse(Chain, text);

    /// <inheritdoc />
    public bool TryParseAddress(string? text, out ChainAddress address) => _codec.TryParse(Chain, text, out address);

    /// <inheritdoc />
    public BigInteger ToBaseUnits(Money amount) => ChainUnits.ToBaseUnits(amount, Chain);

    /// <inheritdoc />
    public Money FromBaseUnits(BigInteger units, Asset asset) => ChainUnits.FromBaseUnits(units, asset, Chain);

    /// <inheritdoc />
    /// <exception cref="PaymentsKitException"><c>invalid_argument</c> unless the hash is <c>0x</c> and 64 hex digits.</exception>
    public async ValueTask<ChainTransaction?> GetTransactionAsync(string transactionHash, CancellationToken cancellationToken = default)
    {
        var hash = NormalizeHash(transactionHash);
        var receiptTask = FindAsync("eth_getTransactionReceipt", [hash], r => ReadReceipt(r, hash), cancellationToken);
        var transactionTask = FindAsync("eth_getTransactionByHash", [hash], ReadTransaction, cancellationToken);
        await Task.WhenAll(receiptTask, transactionTask).ConfigureAwait(false);
        var transaction = await transactionTask.ConfigureAwait(false);
        var receipt = await receiptTask.ConfigureAwait(false);
        if (transaction is null)
        {
            // A receipt proves inclusion; reporting the transaction unknown would let it be replaced and paid twice. The two
            // answers came from backends at different heights (one provider URL often hides several), so ask again later.
            return receipt is null
                ? null
                : throw ChainErrors.Unavailable(Chain, "eth_getTransactionByHash", $"the node has a receipt for {hash} but not the transaction", transient: true);
        }

        if (receipt is null)
        {
            return new ChainTransaction(hash, Chain, ChainTransactionStatus.Pending, 0, false, null, null, null, PendingTransfers(transaction, hash));
        }

        var latestTask = CallAsync("eth_blockNumber", [], ReadLong, cancellationToken);
        var blockTask = CallAsync("eth_getBlockByNumber", [EthHex.FormatQuantity(receipt.Block), false], ReadBlock, cancellationToken);
        var finalizedTask = GetFinalizedBlockAsync(cancellationToken);
        await Task.WhenAll(latestTask, blockTask, finalizedTask).ConfigureAwait(false);
        var latest = await latestTask.ConfigureAwait(false);
        var block = await blockTask.ConfigureAwait(false);
        var finalized = await finalizedTask.ConfigureAwait(false);

        var fee = FromWei(receipt.GasUsed * (receipt.EffectiveGasPrice ?? transaction.GasPrice));
        var transfers = new List<ChainTransfer>();
        if (receipt.Succeeded)
        {
            if (transaction.Value > 0 && transaction.To is not null)
            {
                transfers.Add(new ChainTransfer(FromWei(transaction.Value), transaction.From, transaction.To));
            }

            transfers.AddRange(receipt.TokenTransfers);
        }

        var confirmations = Math.Max(latest - receipt.Block + 1, 1);

        // A receipt can still name a block that a reorg has since replaced at that height; such a transaction may be
        // dropped or land elsewhere, so it is final only while its block is the canonical one.
        var canonical = block is not null && string.Equals(block.Hash, receipt.BlockHash, StringComparison.OrdinalIgnoreCase);
        var final = canonical && (finalized is { } finalizedBlock ? receipt.Block <= finalizedBlock : confirmations >= _finality);
        return new ChainTransaction(
            hash,
            Chain,
            receipt.Succeeded ? ChainTransactionStatus.Succeeded : ChainTransactionStatus.Failed,
            confirmations,
            final,
            null,
            fee,
            block?.Timestamp,
            transfers);
    }

    /// <summary>
    /// The number of the chain's <c>finalized</c> block; null when the node does not serve the tag (an error, or no block),
    /// or did not when last asked, less than <see cref="FinalizedTagRecheckInterval"/> ago.
    /// </summary>
    private async Task<long?> GetFinalizedBlockAsync(CancellationToken cancellationToken)
    {
        // Only the endpoint the call would go to first counts: another endpoint, reached after a failover, may serve the tag.
        if (_noFinalizedTagUntil.TryGetValue(_rpc.Transport.PreferredEndpoint, out var until) && _clock.GetCurrentInstant() < until)
        {
            return null;
        }

        // Pre-merge networks, nodes without a finalized block yet and many L2 and test nodes refuse the tag, each with its
        // own error ("'finalized' tag not supported on pre-merge network", "finalized block not found", "Unknown block",
        // "hex string without 0x prefix" …), or answer it with no block: confirmations are all they leave to go by.
        return await _rpc.CallAsync(
            "eth_getBlockByNumber",
            ["finalized", false],
            (endpoint, r) => r.ValueKind == JsonValueKind.Null
                ? NoFinalizedTag(endpoint, "no block")
                : EthHex.ParseLong(RpcJson.GetString(r, "number")),
            (endpoint, error) => NoFinalizedTag(endpoint, error.Message),
            cancellationToken).ConfigureAwait(false);
    }

    private long? NoFinalizedTag(Uri endpoint, string answer)
    {
        var askAgainAt = _clock.GetCurrentInstant() + FinalizedTagRecheckInterval;
        _noFinalizedTagUntil[endpoint] = askAgainAt;
        LogNoFinalizedTag(_logger, RpcTransport.Redact(endpoint), answer, _finality, askAgainAt);
        return null;
    }

    /// <inheritdoc />
    /// <remarks>(next base fee + median priority fee) × the transfer's gas; <c>eth_gasPrice</c> where fee history is not served.</remarks>
    public async ValueTask<FeeEstimate> EstimateFeeAsync(Asset asset, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(asset);
        ChainUnits.EnsureOnChain(asset, Chain, "asset");
        var status = await GetFeeStatusAsync(cancellationToken).ConfigureAwait(false);
        var gas = asset == AssetRegistry.Eth ? _nativeGas : _tokenGas;
        return new FeeEstimate(FromWei(status.GasPrice * gas), _blockTime);
    }

    /// <inheritdoc />
    public ValueTask<ChainHealthSample> ProbeHealthAsync(CancellationToken cancellationToken = default) =>
        _probe.ProbeAsync(
            async ct =>
            {
                var status = await GetFeeStatusAsync(ct).ConfigureAwait(false);
                return new ChainStatus(status.LatestBlock, FromWei(status.GasPrice * _nativeGas), status.Congestion);
            },
            _blockTime * _finality,
            Money.Zero(AssetRegistry.Eth),
            cancellationToken);

    /// <inheritdoc />
    /// <remarks>
    /// The Keccak-256 of the raw signed transaction (a legacy RLP list or an EIP-2718 typed envelope), the hash every node
    /// names it by; null for an empty payload.
    /// </remarks>
    public string? TransactionHashOf(ReadOnlySpan<byte> signedTransaction) =>
        signedTransaction.IsEmpty ? null : "0x" + Convert.ToHexStringLower(Keccak256.Hash(signedTransaction));

    /// <inheritdoc />
    /// <remarks>
    /// The payload is the signed transaction as RLP / EIP-2718 bytes; its hash is their Keccak-256. A node that already
    /// has it ("already known"), or has already mined it ("nonce too low" for a hash one of the endpoints knows; each is
    /// asked, as in a lookup), gives <c>AlreadyKnown</c>.
    /// </remarks>
    /// <exception cref="PaymentsKitException">
    /// <c>transaction_rejected</c> with the node's reason (transient for underpriced, fee cap below base fee, nonce too
    /// high, full pool); <c>chain_unavailable</c> (transient) when no node can be reached, or after "nonce too low" when not
    /// every node could be asked whether it knows the transaction.
    /// </exception>
    public async ValueTask<BroadcastResult> BroadcastAsync(SignedTransaction transaction, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(transaction);
        var hash = TransactionHashOf(transaction.Payload.Span);
        if (transaction.Chain != Chain)
        {
            throw ChainErrors.TransactionRejected(Chain, hash, string.Create(CultureInfo.InvariantCulture, $"it was signed for {transaction.Chain}, not {Chain}"));
        }

        if (hash is null)
        {
            throw ChainErrors.TransactionRejected(Chain, null, "the transaction is empty");
        }

        try
        {
            var result = await _rpc.CallAsync("eth_sendRawTransaction", ["0x" + Convert.ToHexStringLower(transaction.Payload.Span)], cancellationToken).ConfigureAwait(false);
            return new BroadcastResult(result.ValueKind == JsonValueKind.String ? result.GetString()!.ToLowerInvariant() : hash, AlreadyKnown: false);
        }
        catch (JsonRpcException ex)
        {
            var message = ex.RpcMessage.ToLowerInvariant();
            if (message.Contains("already known", StringComparison.Ordinal) || message.Contains("known transaction", StringComparison.Ordinal)
                || message.Contains("already imported", StringComparison.Ordinal) || message.Contains("alreadyknown", StringComparison.Ordinal)
                || message.Contains("already exists", StringComparison.Ordinal))
            {
                return new BroadcastResult(hash, AlreadyKnown: true);
            }

            // The node that refused it may lag behind the chain and not know the transaction that used the nonce up, so every
            // endpoint is asked, as a lookup is; one that cannot be asked makes this chain_unavailable, not a rejection.
            if (message.Contains("nonce too low", StringComparison.Ordinal)
                && await FindAsync("eth_getTransactionByHash", [hash], ReadTransaction, cancellationToken).ConfigureAwait(false) is not null)
            {
                return new BroadcastResult(hash, AlreadyKnown: true);
            }

            var transient = message.Contains("underpriced", StringComparison.Ordinal)
                || message.Contains("less than block base fee", StringComparison.Ordinal)
                || message.Contains("nonce too high", StringComparison.Ordinal)
                || message.Contains("txpool is full", StringComparison.Ordinal);
            throw ChainErrors.TransactionRejected(Chain, hash, ex.RpcMessage, transient);
        }
    }

    private async Task<FeeStatus> GetFeeStatusAsync(CancellationToken cancellationToken)
    {
        try
        {
            return await _rpc.CallAsync(
                "eth_feeHistory",
                [EthHex.FormatQuantity(_feeHistoryBlocks), "latest", new JsonArray(50)],
                ReadFeeHistory,
                cancellationToken).ConfigureAwait(false);
        }
        catch (JsonRpcException ex) when (ex.Code == -32601)
        {
            // Pre-London networks and some providers do not serve fee history.
            var gasPriceTask = CallAsync("eth_gasPrice", [], r => EthHex.ParseQuantity(r.GetString()), cancellationToken);
            var latestTask = CallAsync("eth_blockNumber", [], ReadLong, cancellationToken);
            await Task.WhenAll(gasPriceTask, latestTask).ConfigureAwait(false);
            return new FeeStatus(await latestTask.ConfigureAwait(false), await gasPriceTask.ConfigureAwait(false), 0m);
        }
        catch (JsonRpcException ex)
        {
            throw ChainErrors.Unavailable(Chain, "eth_feeHistory", ex.Message, transient: false);
        }
    }

    private static FeeStatus ReadFeeHistory(JsonElement history)
    {
        var oldest = EthHex.ParseLong(RpcJson.GetString(history, "oldestBlock"));
        var baseFees = RpcJson.GetProperty(history, "baseFeePerGas", JsonValueKind.Array);
        var ratios = RpcJson.GetProperty(history, "gasUsedRatio", JsonValueKind.Array);
        var blocks = ratios.GetArrayLength();
        if (blocks == 0 || baseFees.GetArrayLength() != blocks + 1)
        {
            throw new FormatException("fee history has no blocks or mismatched arrays");
        }

        var nextBaseFee = EthHex.ParseQuantity(baseFees[blocks].GetString());
        var tips = history.TryGetProperty("reward", out var reward) && reward.ValueKind == JsonValueKind.Array
            ? reward.EnumerateArray().Select(r => EthHex.ParseQuantity(r[0].GetString())).Order().ToList()
            : [];
        var tip = tips.Count == 0 ? BigInteger.Zero : tips[tips.Count / 2];
        var congestion = ratios.EnumerateArray()
            .Select(r => decimal.Parse(r.GetRawText(), NumberStyles.Float, CultureInfo.InvariantCulture))
            .Average();
        return new FeeStatus(oldest + blocks - 1, nextBaseFee + tip, Math.Clamp(congestion, 0m, 1m));
    }

    private Receipt? ReadReceipt(JsonElement receipt, string hash)
    {
        // OpenEthereum-style nodes answer a pending transaction's receipt with no block rather than with null; it is as
        // pending as geth's null, not a malformed answer to fail over from.
        if (receipt.ValueKind == JsonValueKind.Null || IsNull(receipt, "blockNumber") || IsNull(receipt, "blockHash"))
        {
            return null;
        }

        var succeeded = RpcJson.GetOptionalString(receipt, "status") is { } status
            ? EthHex.ParseQuantity(status) == BigInteger.One
            : receipt.TryGetProperty("root", out _); // pre-Byzantium receipts carry a state root instead of a status
        var transfers = new List<ChainTransfer>();
        foreach (var log in RpcJson.GetProperty(receipt, "logs", JsonValueKind.Array).EnumerateArray())
        {
            var topics = RpcJson.GetProperty(log, "topics", JsonValueKind.Array);
            if (topics.GetArrayLength() != 3
                || !string.Equals(topics[0].GetString(), TransferTopic, StringComparison.OrdinalIgnoreCase)
                || (log.TryGetProperty("removed", out var removed) && removed.ValueKind == JsonValueKind.True))
            {
                continue;
            }

            // A zero-value Transfer moves nothing, and anyone can make a token emit one between any two addresses
            // (transferFrom of 0 needs no allowance): address poisoning. It is no payment.
            var amount = new BigInteger(EthHex.ParseData(RpcJson.GetString(log, "data")), isUnsigned: true, isBigEndian: true);
            if (!amount.IsZero && Token(RpcJson.GetString(log, "address")) is { } asset
                && TokenTransfer(amount, asset, TopicAddress(topics[1]), TopicAddress(topics[2]), hash) is { } transfer)
            {
                transfers.Add(transfer);
            }
        }

        return new Receipt(
            EthHex.ParseLong(RpcJson.GetString(receipt, "blockNumber")),
            RpcJson.GetString(receipt, "blockHash"),
            succeeded,
            EthHex.Quantity(receipt, "gasUsed"),
            RpcJson.GetOptionalString(receipt, "effectiveGasPrice") is { } price ? EthHex.ParseQuantity(price) : null,
            transfers);
    }

    private TransactionInfo? ReadTransaction(JsonElement transaction)
    {
        if (transaction.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        var from = Address(RpcJson.GetString(transaction, "from"));
        var to = RpcJson.GetOptionalString(transaction, "to") is { } recipient ? Address(recipient) : null;
        var value = EthHex.Quantity(transaction, "value");
        var gasPrice = RpcJson.GetOptionalString(transaction, "gasPrice") is { } price ? EthHex.ParseQuantity(price) : BigInteger.Zero;
        TokenCall? tokenCall = null;

        // An ERC-20 transfer(address,uint256) call: the intended token movement is in the calldata.
        var input = RpcJson.GetOptionalString(transaction, "input") ?? string.Empty;
        if (to is not null && input.Length == 2 + 8 + 64 + 64 && input.AsSpan(2, 8).Equals(TransferSelector, StringComparison.OrdinalIgnoreCase) && Token(to) is { } asset)
        {
            var data = EthHex.ParseData(input);
            var amount = new BigInteger(data.AsSpan(36, 32), isUnsigned: true, isBigEndian: true);
            if (!amount.IsZero)
            {
                tokenCall = new TokenCall(asset, amount, EthereumAddressCodec.Encode(data.AsSpan(4 + 12, 20)));
            }
        }

        return new TransactionInfo(from, to, value, gasPrice, tokenCall);
    }

    /// <summary>What a transaction not yet in a block intends to move: its ether value and the token transfer its calldata makes.</summary>
    private List<ChainTransfer> PendingTransfers(TransactionInfo transaction, string hash)
    {
        var pending = new List<ChainTransfer>();
        if (transaction.To is null)
        {
            return pending;
        }

        if (transaction.Value > 0)
        {
            pending.Add(new ChainTransfer(FromWei(transaction.Value), transaction.From, transaction.To));
        }

        if (transaction.TokenCall is { } call && TokenTransfer(call.Units, call.Asset, transaction.From, call.Recipient, hash) is { } transfer)
        {
            pending.Add(transfer);
        }

        return pending;
    }

    private ChainTransfer? TokenTransfer(BigInteger units, Asset asset, string from, string to, string hash)
    {
        if (ChainUnits.TryFromBaseUnits(units, asset, Chain, out var amount))
        {
            return new ChainTransfer(amount, from, to);
        }

        // A token's uint256 value can exceed what any amount holds (a spam token, a huge mint). Rounding would credit what
        // was not paid, and failing the whole read would hide the transaction's other transfers, so only this one is left
        // out, as a transfer of an unregistered token is, and logged for review.
        LogUnrepresentable(_logger, units.ToString(CultureInfo.InvariantCulture), asset.Code, from, to, hash);
        return null;
    }

    private static long ReadLong(JsonElement result) => EthHex.ParseLong(result.GetString());

    /// <summary>
    /// Besides the default transient codes: geth (1.13.11 on) answers transaction lookups with -32000 "transaction indexing
    /// is in progress" while its index is being built, not knowing yet whether it has the transaction; another node, or
    /// this one later, does.
    /// </summary>
    private static bool IsTransient(JsonRpcException error) =>
        JsonRpcClient.DefaultTransientCodes.Contains(error.Code)
        || error.RpcMessage.Contains("transaction indexing is in progress", StringComparison.OrdinalIgnoreCase);

    private static bool IsNull(JsonElement element, string name) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Null;

    private static BlockHeader? ReadBlock(JsonElement block) =>
        block.ValueKind == JsonValueKind.Object
            ? new BlockHeader(RpcJson.GetString(block, "hash"), Instant.FromUnixTimeSeconds(EthHex.ParseLong(RpcJson.GetString(block, "timestamp"))))
            : null;

    private Asset? Token(string contract)
    {
        var asset = _assets.All.FirstOrDefault(a => a.Chain == Chain && string.Equals(a.Identifier, contract, StringComparison.OrdinalIgnoreCase));
        if (asset is null)
        {
            LogUnknownToken(_logger, contract);
        }

        return asset;
    }

    private static string TopicAddress(JsonElement topic)
    {
        var bytes = EthHex.ParseData(topic.GetString());
        return bytes.Length == 32 ? EthereumAddressCodec.Encode(bytes.AsSpan(12)) : throw new FormatException("an address topic is not 32 bytes");
    }

    private static string Address(string text) =>
        EthereumAddressCodec.Lenient.TryNormalize(text, out var canonical, out var problem) ? canonical : throw new FormatException("node returned address " + problem);

    private Money FromWei(BigInteger wei) => ChainUnits.FromBaseUnits(wei, AssetRegistry.Eth, Chain);

    private async Task<T> CallAsync<T>(string method, JsonArray parameters, Func<JsonElement, T> read, CancellationToken cancellationToken)
    {
        try
        {
            return await _rpc.CallAsync(method, parameters, read, cancellationToken).ConfigureAwait(false);
        }
        catch (JsonRpcException ex)
        {
            throw ChainErrors.Unavailable(Chain, method, ex.Message, transient: false);
        }
    }

    /// <summary>Like <see cref="CallAsync{T}"/>, but a null read (the node does not know it) is asked of the other endpoints before it is the answer.</summary>
    private async Task<T?> FindAsync<T>(string method, JsonArray parameters, Func<JsonElement, T?> read, CancellationToken cancellationToken)
        where T : class
    {
        try
        {
            return await _rpc.FindAsync(method, parameters, read, cancellationToken).ConfigureAwait(false);
        }
        catch (JsonRpcException ex)
        {
            throw ChainErrors.Unavailable(Chain, method, ex.Message, transient: false);
        }
    }

    /// <inheritdoc />
    public string NormalizeTransactionHash(string transactionHash) => NormalizeHash(transactionHash);

    private static string NormalizeHash(string? hash)
    {
        Guard.Text(hash, "transactionHash", 66);
        if (hash!.Length != 66 || !hash.StartsWith("0x", StringComparison.OrdinalIgnoreCase) || hash.AsSpan(2).ContainsAnyExcept("0123456789abcdefABCDEF"))
        {
            throw ChainErrors.InvalidArgument("transactionHash", hash, "must be 0x followed by 64 hexadecimal digits");
        }

        return hash.ToLowerInvariant();
    }

    [LoggerMessage(EventId = 1201, Level = LogLevel.Debug, Message = "Skipping an ERC-20 transfer of {Contract}: no registered asset has that contract")]
    private static partial void LogUnknownToken(ILogger logger, string contract);

    [LoggerMessage(
        EventId = 1202,
        Level = LogLevel.Information,
        Message = "Ethereum endpoint {Endpoint} does not serve the finalized block tag ({Answer}); transactions read through it are final after {Confirmations} confirmations until it is asked again at {AskAgainAt}")]
    private static partial void LogNoFinalizedTag(ILogger logger, string endpoint, string answer, int confirmations, Instant askAgainAt);

    [LoggerMessage(
        EventId = 1203,
        Level = LogLevel.Warning,
        Message = "Leaving out an ERC-20 transfer of {Units} base units of {Asset} from {From} to {To} in transaction {Transaction}: no amount can hold more than 2^96 - 1 base units")]
    private static partial void LogUnrepresentable(ILogger logger, string units, string asset, string from, string to, string transaction);

    private readonly record struct FeeStatus(long LatestBlock, BigInteger GasPrice, decimal Congestion);

    private sealed record BlockHeader(string Hash, Instant Timestamp);

    private sealed record Receipt(long Block, string BlockHash, bool Succeeded, BigInteger GasUsed, BigInteger? EffectiveGasPrice, IReadOnlyList<ChainTransfer> TokenTransfers);

    private sealed record TransactionInfo(string From, string? To, BigInteger Value, BigInteger GasPrice, TokenCall? TokenCall);

    private sealed record TokenCall(Asset Asset, BigInteger Units, string Recipient);
}
