using System.Globalization;
using System.Numerics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using NodaTime;
using PaymentsKit.Chains.Rpc;

namespace PaymentsKit.Chains.Solana;

/// <summary>
/// Solana over JSON-RPC: base58 addresses, lamport and SPL unit conversion, transactions by signature with
/// SOL and SPL token balance changes and SPL memos, priority fees for estimates and congestion, and
/// <c>sendTransaction</c> for transactions the host signed. A transaction is final at the <c>finalized</c>
/// commitment.
/// </summary>
/// <remarks>
/// <para>Transfers come from the pre/post balances in the transaction's metadata: per account net changes (the fee
/// payer's fee added back) are paired into sender → recipient transfers. Token changes are attributed to the token
/// accounts' owners, so an invoice addressed to a wallet sees its USDC arrive at that wallet.</para>
/// <para>SPL tokens are matched through the <see cref="AssetRegistry"/> by <see cref="Asset.Identifier"/> = the mint
/// address; transfers of other mints are left out, and so is a transfer of more base units than an amount can hold
/// (2^96 − 1; logged as a warning, event 1302): the rest of the transaction is read, and no amount is ever rounded. A mint
/// registered with other decimals than the chain reports fails the read as <c>asset_conflict</c>, a setup error.</para>
/// </remarks>
public sealed partial class SolanaChainAdapter : IChainAdapter
{
    private const string MemoProgramV2 = "MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr";
    private const string MemoProgramV1 = "Memo1UhkJRfHyvLMcVucJwxXeuD728EqVDDwQDxFMNo";

    private const string Base58Alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

    // Besides the defaults (rate limits always fail over): -32004 block not available, -32011 transaction history not
    // available (a node without --enable-rpc-transaction-history; another endpoint may keep it), -32014 block status not yet
    // available, -32016 minimum context slot not reached.
    private static readonly HashSet<long> TransientCodes = [.. JsonRpcClient.DefaultTransientCodes, -32004, -32011, -32014, -32016];

    private readonly JsonRpcClient _rpc;
    private readonly RpcHealthProbe _probe;
    private readonly AssetRegistry _assets;
    private readonly ILogger _logger;
    private readonly long _signatureFee;
    private readonly int _nativeComputeUnits;
    private readonly int _tokenComputeUnits;
    private readonly Duration _finalityTime;

    /// <summary>Creates the adapter.</summary>
    /// <param name="options">Validated options.</param>
    /// <param name="httpClient">The client to reach the nodes with.</param>
    /// <param name="assets">Resolves SPL tokens by mint.</param>
    /// <param name="clock">Stamps health samples and reads a node's Retry-After date when its response has no Date header.</param>
    /// <param name="logger">Receives failover warnings and skipped transfers.</param>
    /// <exception cref="PaymentsKitException"><c>invalid_argument</c> listing every problem with <paramref name="options"/>.</exception>
    public SolanaChainAdapter(SolanaOptions options, HttpClient httpClient, AssetRegistry assets, IClock clock, ILogger<SolanaChainAdapter> logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        ChainErrors.ThrowIfInvalid(options.Validate("Solana"));
        _assets = assets ?? throw new ArgumentNullException(nameof(assets));
        _logger = logger ?? throw new ArgumentNullException(nameof(logger));
        _signatureFee = options.SignatureFeeLamports;
        _nativeComputeUnits = options.NativeTransferComputeUnits;
        _tokenComputeUnits = options.TokenTransferComputeUnits;
        _finalityTime = options.FinalityTime;
        var transport = new RpcTransport(Chain, httpClient, options, clock, logger);
        _rpc = new JsonRpcClient(transport, e => TransientCodes.Contains(e.Code));
        _probe = new RpcHealthProbe(Chain, clock, transport, options.HealthThresholds);
    }

    /// <inheritdoc />
    public ChainId Chain => ChainId.Solana;

    /// <summary>The transport, for its statistics.</summary>
    public RpcTransport Transport => _rpc.Transport;

    /// <inheritdoc />
    public ChainAddress ParseAddress(string? text) => SolanaAddressCodec.Instance.Parse(Chain, text);

    /// <inheritdoc />
    public bool TryParseAddress(string? text, out ChainAddress address) => SolanaAddressCodec.Instance.TryParse(Chain, text, out address);

    /// <inheritdoc />
    public BigInteger ToBaseUnits(Money amount) => ChainUnits.ToBaseUnits(amount, Chain);

    /// <inheritdoc />
    public Money FromBaseUnits(BigInteger units, Asset asset) => ChainUnits.FromBaseUnits(units, asset, Chain);

    /// <inheritdoc />
    /// <exception cref="PaymentsKitException"><c>invalid_argument</c> unless the text is a base58 64-byte signature.</exception>
    public async ValueTask<ChainTransaction?> GetTransactionAsync(string transactionHash, CancellationToken cancellationToken = default)
    {
        var signature = NormalizeSignature(transactionHash);
        var status = await FindAsync(
            "getSignatureStatuses",
            [new JsonArray(signature), new JsonObject { ["searchTransactionHistory"] = true }],
            ReadSignatureStatus,
            cancellationToken).ConfigureAwait(false);
        if (status is null)
        {
            return null;
        }

        if (status.Commitment == "processed")
        {
            return new ChainTransaction(signature, Chain, ChainTransactionStatus.Pending, 0, false, null, null, null, []);
        }

        var transactionTask = FindAsync(
            "getTransaction",
            [signature, new JsonObject { ["encoding"] = "jsonParsed", ["commitment"] = "confirmed", ["maxSupportedTransactionVersion"] = 0 }],
            r => ReadTransaction(r, signature),
            cancellationToken);
        var slotTask = CallAsync("getSlot", [new JsonObject { ["commitment"] = "confirmed" }], r => r.GetInt64(), cancellationToken);
        await Task.WhenAll(transactionTask, slotTask).ConfigureAwait(false);
        var transaction = await transactionTask.ConfigureAwait(false);
        if (transaction is null)
        {
            // The status index can be ahead of the ledger store on a lagging node; report what the status says.
            return new ChainTransaction(signature, Chain, ChainTransactionStatus.Pending, 0, false, null, null, null, []);
        }

        var slot = await slotTask.ConfigureAwait(false);
        return new ChainTransaction(
            signature,
            Chain,
            transaction.Succeeded ? ChainTransactionStatus.Succeeded : ChainTransactionStatus.Failed,
            Math.Max(slot - transaction.Slot + 1, 1),
            status.Commitment == "finalized",
            transaction.Memo,
            FromLamports(transaction.Fee),
            transaction.BlockTime,
            transaction.Succeeded ? transaction.Transfers : []);
    }

    /// <inheritdoc />
    /// <remarks>Signature fee plus the median recent priority fee (µ-lamports per compute unit) × the transfer's compute units, rounded up.</remarks>
    public async ValueTask<FeeEstimate> EstimateFeeAsync(Asset asset, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(asset);
        ChainUnits.EnsureOnChain(asset, Chain, "asset");
        var fees = await CallAsync("getRecentPrioritizationFees", [new JsonArray()], ReadPriorityFees, cancellationToken).ConfigureAwait(false);
        return new FeeEstimate(Fee(fees.Median, asset == AssetRegistry.Sol ? _nativeComputeUnits : _tokenComputeUnits), Duration.FromSeconds(1));
    }

    /// <inheritdoc />
    /// <remarks>Congestion is the share of recent slots whose cheapest landed transaction still paid a priority fee.</remarks>
    public ValueTask<ChainHealthSample> ProbeHealthAsync(CancellationToken cancellationToken = default) =>
        _probe.ProbeAsync(
            async ct =>
            {
                var feesTask = CallAsync("getRecentPrioritizationFees", [new JsonArray()], ReadPriorityFees, ct);
                var slotTask = CallAsync("getSlot", [new JsonObject { ["commitment"] = "confirmed" }], r => r.GetInt64(), ct);
                await Task.WhenAll(feesTask, slotTask).ConfigureAwait(false);
                var fees = await feesTask.ConfigureAwait(false);
                return new ChainStatus(await slotTask.ConfigureAwait(false), Fee(fees.Median, _nativeComputeUnits), fees.Congestion);
            },
            _finalityTime,
            FromLamports(_signatureFee),
            cancellationToken);

    /// <inheritdoc />
    /// <remarks>
    /// A transaction's id is its first signature (the fee payer's), base58: the first entry of the wire format's
    /// signature list; null for a payload that does not start with one.
    /// </remarks>
    public string? TransactionHashOf(ReadOnlySpan<byte> signedTransaction) => FirstSignature(signedTransaction);

    /// <inheritdoc />
    /// <remarks>
    /// The payload is the signed wire transaction; its id is its first signature (base58). A transaction the cluster has
    /// already processed gives <c>AlreadyKnown</c>.
    /// </remarks>
    /// <exception cref="PaymentsKitException">
    /// <c>transaction_rejected</c> for a malformed transaction or one that fails preflight (insufficient funds, expired
    /// blockhash, bad signature …); <c>chain_unavailable</c> (transient) when no node can take it.
    /// </exception>
    public async ValueTask<BroadcastResult> BroadcastAsync(SignedTransaction transaction, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(transaction);
        var signature = TransactionHashOf(transaction.Payload.Span);
        if (transaction.Chain != Chain)
        {
            throw ChainErrors.TransactionRejected(Chain, signature, string.Create(CultureInfo.InvariantCulture, $"it was signed for {transaction.Chain}, not {Chain}"));
        }

        if (signature is null)
        {
            throw ChainErrors.TransactionRejected(Chain, transaction.Hash, "the payload is not a signed Solana wire transaction");
        }

        try
        {
            var result = await _rpc.CallAsync(
                "sendTransaction",
                [Convert.ToBase64String(transaction.Payload.Span), new JsonObject { ["encoding"] = "base64", ["preflightCommitment"] = "confirmed" }],
                r => r.GetString() ?? throw new FormatException("sendTransaction returned no signature"),
                cancellationToken).ConfigureAwait(false);
            return new BroadcastResult(result, AlreadyKnown: false);
        }
        catch (JsonRpcException ex)
        {
            var detail = ex.RpcMessage + (ex.Data is null ? string.Empty : " " + ex.Data);
            if (detail.Contains("AlreadyProcessed", StringComparison.Ordinal) || detail.Contains("already been processed", StringComparison.OrdinalIgnoreCase))
            {
                return new BroadcastResult(signature, AlreadyKnown: true);
            }

            throw ChainErrors.TransactionRejected(Chain, signature, ex.RpcMessage, transient: false);
        }
    }

    private static SignatureStatus? ReadSignatureStatus(JsonElement result)
    {
        var value = RpcJson.GetProperty(result, "value", JsonValueKind.Array);
        if (value.GetArrayLength() != 1)
        {
            throw new FormatException("getSignatureStatuses returned a different number of statuses");
        }

        var status = value[0];
        return status.ValueKind == JsonValueKind.Null
            ? null
            : new SignatureStatus(RpcJson.GetOptionalString(status, "confirmationStatus")
                ?? (status.TryGetProperty("confirmations", out var confirmations) && confirmations.ValueKind == JsonValueKind.Null ? "finalized" : "processed"));
    }

    private TransactionInfo? ReadTransaction(JsonElement result, string signature)
    {
        if (result.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        var meta = RpcJson.GetProperty(result, "meta", JsonValueKind.Object);
        var message = RpcJson.GetProperty(RpcJson.GetProperty(result, "transaction", JsonValueKind.Object), "message", JsonValueKind.Object);
        var keys = RpcJson.GetProperty(message, "accountKeys", JsonValueKind.Array).EnumerateArray()
            .Select(k => k.ValueKind == JsonValueKind.String ? k.GetString()! : RpcJson.GetString(k, "pubkey"))
            .ToList();
        var fee = RpcJson.GetInt64(meta, "fee");
        var succeeded = !meta.TryGetProperty("err", out var err) || err.ValueKind == JsonValueKind.Null;

        var pre = RpcJson.GetProperty(meta, "preBalances", JsonValueKind.Array).EnumerateArray().Select(b => b.GetInt64()).ToList();
        var post = RpcJson.GetProperty(meta, "postBalances", JsonValueKind.Array).EnumerateArray().Select(b => b.GetInt64()).ToList();
        if (pre.Count != keys.Count || post.Count != keys.Count)
        {
            throw new FormatException("balances do not line up with account keys");
        }

        var lamports = keys.Select((key, i) => (key, (BigInteger)(post[i] - pre[i]) + (i == 0 ? fee : 0))).ToList();
        var transfers = NetChanges.Pair(lamports, FromLamports);
        transfers.AddRange(TokenTransfers(meta, keys, signature));

        return new TransactionInfo(
            RpcJson.GetInt64(result, "slot"),
            succeeded,
            fee,
            result.TryGetProperty("blockTime", out var blockTime) && blockTime.ValueKind == JsonValueKind.Number ? Instant.FromUnixTimeSeconds(blockTime.GetInt64()) : null,
            ReadMemo(message),
            transfers);
    }

    private IEnumerable<ChainTransfer> TokenTransfers(JsonElement meta, List<string> keys, string signature)
    {
        var changes = new Dictionary<(string Mint, string Owner), BigInteger>();
        var order = new List<(string Mint, string Owner)>();
        var decimals = new Dictionary<string, long>(StringComparer.Ordinal);
        void Apply(string member, int sign)
        {
            if (!meta.TryGetProperty(member, out var balances) || balances.ValueKind != JsonValueKind.Array)
            {
                return;
            }

            foreach (var balance in balances.EnumerateArray())
            {
                var index = RpcJson.GetInt64(balance, "accountIndex");
                var owner = RpcJson.GetOptionalString(balance, "owner") ?? keys[(int)index];
                var mint = RpcJson.GetString(balance, "mint");
                var key = (mint, owner);
                var tokenAmount = RpcJson.GetProperty(balance, "uiTokenAmount", JsonValueKind.Object);
                var amount = RpcJson.GetBigInteger(tokenAmount, "amount");
                if (tokenAmount.TryGetProperty("decimals", out _))
                {
                    decimals[mint] = RpcJson.GetInt64(tokenAmount, "decimals");
                }

                if (!changes.ContainsKey(key))
                {
                    order.Add(key);
                }

                changes[key] = changes.GetValueOrDefault(key) + (sign * amount);
            }
        }

        Apply("preTokenBalances", -1);
        Apply("postTokenBalances", +1);
        foreach (var mint in order.Select(k => k.Mint).Distinct())
        {
            var asset = _assets.All.FirstOrDefault(a => a.Chain == Chain && string.Equals(a.Identifier, mint, StringComparison.Ordinal));
            if (asset is null)
            {
                LogUnknownMint(_logger, mint);
                continue;
            }

            // Base units are read with the registered scale: one that differs from the mint's would misstate every amount.
            if (decimals.TryGetValue(mint, out var mintDecimals) && mintDecimals != asset.Scale)
            {
                throw new PaymentsKitException(
                    PaymentsKitErrorCodes.AssetConflict,
                    string.Create(CultureInfo.InvariantCulture, $"Asset {asset.Code} is registered with {asset.Scale} decimals, but mint {mint} has {mintDecimals} on {Chain}; fix its registration."),
                    new Dictionary<string, object?> { ["asset"] = asset.Code, ["mint"] = mint, ["scale"] = asset.Scale, ["decimals"] = mintDecimals, ["chain"] = Chain.Value });
            }

            var perOwner = order.Where(k => k.Mint == mint).Select(k => (k.Owner, changes[k])).ToList();
            foreach (var transfer in NetChanges.Pair(perOwner, (units, from, to) => TokenTransfer(units, asset, from, to, signature)))
            {
                yield return transfer;
            }
        }
    }

    private ChainTransfer? TokenTransfer(BigInteger units, Asset asset, string from, string to, string signature)
    {
        if (ChainUnits.TryFromBaseUnits(units, asset, Chain, out var amount))
        {
            return new ChainTransfer(amount, from, to);
        }

        // Rounding would credit what was not paid, and failing the whole read would hide the transaction's other transfers,
        // so only this one is left out, as a transfer of an unregistered mint is, and logged for review. Unlike a mint
        // registered with the wrong decimals (asset_conflict), it says nothing wrong about the host's setup.
        LogUnrepresentable(_logger, units.ToString(CultureInfo.InvariantCulture), asset.Code, from, to, signature);
        return null;
    }

    private static string? ReadMemo(JsonElement message)
    {
        foreach (var instruction in RpcJson.GetProperty(message, "instructions", JsonValueKind.Array).EnumerateArray())
        {
            var program = RpcJson.GetOptionalString(instruction, "programId");
            if ((program == MemoProgramV2 || program == MemoProgramV1)
                && instruction.TryGetProperty("parsed", out var parsed) && parsed.ValueKind == JsonValueKind.String)
            {
                return parsed.GetString();
            }
        }

        return null;
    }

    private PriorityFees ReadPriorityFees(JsonElement result)
    {
        if (result.ValueKind != JsonValueKind.Array)
        {
            throw new FormatException("getRecentPrioritizationFees did not return a list");
        }

        var fees = result.EnumerateArray().Select(f => RpcJson.GetBigInteger(f, "prioritizationFee")).Order().ToList();
        if (fees.Count == 0)
        {
            return new PriorityFees(BigInteger.Zero, 0m);
        }

        return new PriorityFees(fees[fees.Count / 2], (decimal)fees.Count(f => f > 0) / fees.Count);
    }

    private Money Fee(BigInteger microLamportsPerUnit, int computeUnits)
    {
        // Priority fees are quoted in micro-lamports per compute unit; the chain charges whole lamports, rounded up.
        var priority = ((microLamportsPerUnit * computeUnits) + 999_999) / 1_000_000;
        return FromLamports(_signatureFee + priority);
    }

    private Money FromLamports(BigInteger lamports) => ChainUnits.FromBaseUnits(lamports, AssetRegistry.Sol, Chain);

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

    /// <summary>The first signature of a wire transaction (compact-u16 count, then 64-byte signatures), base58; null if malformed.</summary>
    internal static string? FirstSignature(ReadOnlySpan<byte> wire)
    {
        var count = 0;
        var offset = 0;
        for (var shift = 0; shift < 21 && offset < wire.Length; shift += 7)
        {
            var b = wire[offset++];
            count |= (b & 0x7F) << shift;
            if ((b & 0x80) == 0)
            {
                return count >= 1 && wire.Length >= offset + 64 ? SimpleBase.Base58.Bitcoin.Encode(wire.Slice(offset, 64)) : null;
            }
        }

        return null;
    }

    private static string NormalizeSignature(string? text)
    {
        Guard.Text(text, "transactionHash", 100);
        var valid = text!.Length is >= 64 and <= 88 && !text.AsSpan().ContainsAnyExcept(Base58Alphabet);
        if (valid)
        {
            var bytes = SimpleBase.Base58.Bitcoin.Decode(text);
            valid = bytes.Length == 64 && SimpleBase.Base58.Bitcoin.Encode(bytes) == text;
        }

        return valid ? text : throw ChainErrors.InvalidArgument("transactionHash", text, "must be a base58 transaction signature (64 bytes)");
    }

    [LoggerMessage(EventId = 1301, Level = LogLevel.Debug, Message = "Skipping a Solana token transfer of mint {Mint}: no registered asset has that mint")]
    private static partial void LogUnknownMint(ILogger logger, string mint);

    [LoggerMessage(
        EventId = 1302,
        Level = LogLevel.Warning,
        Message = "Leaving out a Solana token transfer of {Units} base units of {Asset} from {From} to {To} in transaction {Transaction}: no amount can hold more than 2^96 - 1 base units")]
    private static partial void LogUnrepresentable(ILogger logger, string units, string asset, string from, string to, string transaction);

    private sealed record SignatureStatus(string Commitment);

    private sealed record TransactionInfo(long Slot, bool Succeeded, long Fee, Instant? BlockTime, string? Memo, List<ChainTransfer> Transfers);

    private sealed record PriorityFees(BigInteger Median, decimal Congestion);
}
