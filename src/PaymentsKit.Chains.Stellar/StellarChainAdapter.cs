using System.Globalization;
using System.Net;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using NodaTime;
using NodaTime.Text;
using PaymentsKit.Chains.Rpc;

namespace PaymentsKit.Chains.Stellar;

/// <summary>
/// Stellar through Horizon: SEP-23 addresses, stroop conversion, transactions with their payment
/// operations and memo, fee statistics and ledger capacity for health, and submission of signed
/// transaction envelopes. A transaction in a closed ledger is final, so confirmations only say how many
/// ledgers have closed since.
/// </summary>
/// <remarks>
/// Credit assets are identified as <c>CODE:ISSUER</c> (SEP-11) in <see cref="Asset.Identifier"/>; payments in assets
/// the <see cref="AssetRegistry"/> does not hold for Stellar are left out of <see cref="ChainTransaction.Transfers"/>, and so
/// is a payment finer than its asset's registered scale (Stellar moves every asset in stroops, 7 decimals), logged as a
/// warning (event 1102): the rest of the transaction is read, and no amount is ever rounded.
/// </remarks>
public sealed partial class StellarChainAdapter : IChainAdapter
{
    private const int StroopScale = 7;
    private readonly RpcTransport _transport;
    private readonly RpcHealthProbe _probe;
    private readonly AssetRegistry _assets;
    private readonly Duration _ledgerTime;
    private readonly ILogger _logger;
    private readonly string? _knownPassphrase;
    private volatile string? _horizonPassphrase;

    /// <summary>Creates the adapter.</summary>
    /// <param name="options">Validated options.</param>
    /// <param name="httpClient">The client to reach Horizon with.</param>
    /// <param name="assets">Resolves credit assets by <c>CODE:ISSUER</c>.</param>
    /// <param name="clock">Stamps health samples and reads a node's Retry-After date when its response has no Date header.</param>
    /// <param name="logger">Receives failover warnings and skipped payments.</param>
    /// <exception cref="PaymentsKitException"><c>invalid_argument</c> listing every problem with <paramref name="options"/>.</exception>
    public StellarChainAdapter(StellarOptions options, HttpClient httpClient, AssetRegistry assets, IClock clock, ILogger<StellarChainAdapter> logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        ChainErrors.ThrowIfInvalid(options.Validate("Stellar"));

        _assets = assets ?? throw new ArgumentNullException(nameof(assets));
        _logger = logger ?? throw new ArgumentNullException(nameof(logger));
        _ledgerTime = options.LedgerTime;
        _knownPassphrase = options.KnownNetworkPassphrase();
        _transport = new RpcTransport(Chain, httpClient, options, clock, logger);
        _probe = new RpcHealthProbe(Chain, clock, _transport, options.HealthThresholds);
    }

    /// <inheritdoc />
    public ChainId Chain => ChainId.Stellar;

    /// <summary>The transport, for its statistics.</summary>
    public RpcTransport Transport => _transport;

    /// <inheritdoc />
    public ChainAddress ParseAddress(string? text) => StellarAddressCodec.Instance.Parse(Chain, text);

    /// <inheritdoc />
    public bool TryParseAddress(string? text, out ChainAddress address) => StellarAddressCodec.Instance.TryParse(Chain, text, out address);

    /// <inheritdoc />
    /// <remarks>
    /// A payment to a muxed address (M…) credits its underlying account (G…), so a G… wallet receives what is sent to any of
    /// its muxed addresses. An M… wallet stands for one id at that account (a customer of a custodian or exchange) and
    /// receives only what is sent to that exact muxed address: the account's other payments belong to other ids.
    /// </remarks>
    public bool IsReceivedBy(string destination, string wallet) =>
        StellarAddressCodec.TryDecode(destination, out var to, out _)
        && StellarAddressCodec.TryDecode(wallet, out var owner, out _)
        && to.PublicKey.Span.SequenceEqual(owner.PublicKey.Span)
        && (owner.MuxedId is null || owner.MuxedId == to.MuxedId);

    /// <inheritdoc />
    public BigInteger ToBaseUnits(Money amount) => ChainUnits.ToBaseUnits(amount, Chain);

    /// <inheritdoc />
    public Money FromBaseUnits(BigInteger units, Asset asset) => ChainUnits.FromBaseUnits(units, asset, Chain);

    /// <inheritdoc />
    /// <exception cref="PaymentsKitException"><c>invalid_argument</c> unless the hash is 64 hex digits.</exception>
    public async ValueTask<ChainTransaction?> GetTransactionAsync(string transactionHash, CancellationToken cancellationToken = default)
    {
        var hash = NormalizeHash(transactionHash);
        var header = await GetAsync("transactions/" + hash, "getTransaction", ReadHeader, cancellationToken).ConfigureAwait(false);
        if (header is null)
        {
            return null;
        }

        var latestTask = GetLatestLedgerAsync(cancellationToken);
        var transfersTask = header.Successful ? GetTransfersAsync(header.Hash, cancellationToken) : Task.FromResult<IReadOnlyList<ChainTransfer>>([]);
        await Task.WhenAll(latestTask, transfersTask).ConfigureAwait(false);
        var latest = await latestTask.ConfigureAwait(false);
        return new ChainTransaction(
            header.Hash,
            Chain,
            header.Successful ? ChainTransactionStatus.Succeeded : ChainTransactionStatus.Failed,
            Math.Max(latest - header.Ledger + 1, 1),
            IsFinal: true,
            header.Memo,
            header.Fee,
            header.CreatedAt,
            await transfersTask.ConfigureAwait(false));
    }

    /// <inheritdoc />
    /// <remarks>The fee per operation is the larger of the last ledger's base fee and the 90th percentile fee charged recently.</remarks>
    public async ValueTask<FeeEstimate> EstimateFeeAsync(Asset asset, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(asset);
        ChainUnits.EnsureOnChain(asset, Chain, "asset");
        var status = await GetStatusAsync(cancellationToken).ConfigureAwait(false);
        return new FeeEstimate(status.Fee, _ledgerTime);
    }

    /// <inheritdoc />
    public ValueTask<ChainHealthSample> ProbeHealthAsync(CancellationToken cancellationToken = default) =>
        _probe.ProbeAsync(GetStatusAsync, _ledgerTime, Money.Of(0.00001m, AssetRegistry.Xlm), cancellationToken);

    /// <inheritdoc />
    /// <remarks>
    /// The SHA-256 of the envelope's signature payload on the network of <see cref="StellarOptions.NetworkPassphrase"/>, or
    /// when that is unset of SDF's network if every endpoint is SDF's Horizon of one network, or else of the passphrase
    /// Horizon's root named; null before any is known (a hash on the wrong network would be looked up in vain) and for
    /// bytes that are not a signed envelope whose transaction can be told apart.
    /// </remarks>
    public string? TransactionHashOf(ReadOnlySpan<byte> signedTransaction) =>
        (_knownPassphrase ?? _horizonPassphrase) is { } passphrase ? StellarTransactionHash.Compute(signedTransaction, passphrase) : null;

    /// <inheritdoc />
    /// <remarks>
    /// The payload is the signed <c>TransactionEnvelope</c> XDR. When <see cref="SignedTransaction.Hash"/> is given and
    /// Horizon already has the transaction, it is not resubmitted and the result says <c>AlreadyKnown</c>.
    /// </remarks>
    /// <exception cref="PaymentsKitException">
    /// <c>transaction_rejected</c> with Stellar's result codes (transient for <c>tx_insufficient_fee</c> and <c>tx_too_early</c>);
    /// <c>chain_unavailable</c> (transient) when Horizon cannot be reached.
    /// </exception>
    public async ValueTask<BroadcastResult> BroadcastAsync(SignedTransaction transaction, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(transaction);
        if (transaction.Chain != Chain)
        {
            throw Rejected(transaction.Hash, string.Create(CultureInfo.InvariantCulture, $"it was signed for {transaction.Chain}, not {Chain}"), transient: false);
        }

        if (transaction.Payload.IsEmpty)
        {
            throw Rejected(transaction.Hash, "the envelope is empty", transient: false);
        }

        if (transaction.Hash is not null)
        {
            var known = await GetAsync("transactions/" + NormalizeHash(transaction.Hash), "getTransaction", ReadHeader, cancellationToken).ConfigureAwait(false);
            if (known is not null)
            {
                return new BroadcastResult(known.Hash, AlreadyKnown: true);
            }
        }

        var envelope = Convert.ToBase64String(transaction.Payload.Span);
        return await _transport.SendAsync(
            "submitTransaction",
            endpoint => new HttpRequestMessage(HttpMethod.Post, new Uri(endpoint, "transactions"))
            {
                Content = new FormUrlEncodedContent([new KeyValuePair<string, string>("tx", envelope)]),
            },
            response => InterpretSubmission(response, transaction.Hash),
            cancellationToken).ConfigureAwait(false);
    }

    private BroadcastResult InterpretSubmission(RpcResponse response, string? hash)
    {
        using var document = response.ParseJson();
        var root = document.RootElement;
        if (response.IsSuccess)
        {
            return new BroadcastResult(RpcJson.GetString(root, "hash"), AlreadyKnown: false);
        }

        if (response.Status == HttpStatusCode.BadRequest)
        {
            var type = RpcJson.GetOptionalString(root, "type") ?? string.Empty;
            string? transactionCode = null;
            var operationCodes = new List<string>();
            if (root.TryGetProperty("extras", out var extras) && extras.ValueKind == JsonValueKind.Object
                && extras.TryGetProperty("result_codes", out var codes) && codes.ValueKind == JsonValueKind.Object)
            {
                transactionCode = RpcJson.GetOptionalString(codes, "transaction");
                if (codes.TryGetProperty("operations", out var operations) && operations.ValueKind == JsonValueKind.Array)
                {
                    operationCodes.AddRange(operations.EnumerateArray().Where(o => o.ValueKind == JsonValueKind.String).Select(o => o.GetString()!));
                }
            }

            var reason = transactionCode is null
                ? (RpcJson.GetOptionalString(root, "title") ?? "bad request") + (type.Length > 0 ? " (" + type + ")" : string.Empty)
                : transactionCode + (operationCodes.Count > 0 ? " [" + string.Join(", ", operationCodes) + "]" : string.Empty);
            throw Rejected(hash, reason, transient: transactionCode is "tx_insufficient_fee" or "tx_too_early");
        }

        throw new TransientRpcException(string.Create(CultureInfo.InvariantCulture, $"HTTP {(int)response.Status} on submission"));
    }

    private async Task<IReadOnlyList<ChainTransfer>> GetTransfersAsync(string hash, CancellationToken cancellationToken)
    {
        return await GetAsync("transactions/" + hash + "/payments?limit=200", "getPayments", page => ReadTransfers(page, hash), cancellationToken).ConfigureAwait(false)
            ?? throw ChainErrors.Unavailable(Chain, "getPayments", $"Horizon knows transaction {hash} but not its payments; the node may be catching up", transient: true);
    }

    private List<ChainTransfer> ReadTransfers(JsonElement page, string hash)
    {
        var records = RpcJson.GetProperty(RpcJson.GetProperty(page, "_embedded", JsonValueKind.Object), "records", JsonValueKind.Array);
        var transfers = new List<ChainTransfer>();
        foreach (var record in records.EnumerateArray())
        {
            if (record.TryGetProperty("transaction_successful", out var ok) && ok.ValueKind == JsonValueKind.False)
            {
                continue;
            }

            var transfer = RpcJson.GetString(record, "type") switch
            {
                "payment" or "path_payment_strict_receive" or "path_payment_strict_send" or "path_payment" => Payment(record, hash),
                "create_account" => new ChainTransfer(
                    FromDecimal(RpcJson.GetDecimal(record, "starting_balance"), AssetRegistry.Xlm),
                    RpcJson.GetString(record, "funder"),
                    RpcJson.GetString(record, "account")),
                _ => null, // account_merge and others carry no amount in the payments view.
            };
            if (transfer is not null)
            {
                transfers.Add(transfer);
            }
        }

        return transfers;
    }

    private ChainTransfer? Payment(JsonElement record, string hash)
    {
        var assetType = RpcJson.GetString(record, "asset_type");
        Asset? asset;
        if (assetType == "native")
        {
            asset = AssetRegistry.Xlm;
        }
        else
        {
            var identifier = RpcJson.GetString(record, "asset_code") + ":" + RpcJson.GetString(record, "asset_issuer");
            asset = _assets.All.FirstOrDefault(a => a.Chain == Chain && string.Equals(a.Identifier, identifier, StringComparison.Ordinal));
            if (asset is null)
            {
                LogUnknownAsset(_logger, identifier);
                return null;
            }
        }

        var amount = RpcJson.GetDecimal(record, "amount");
        var from = RpcJson.GetOptionalString(record, "from_muxed") ?? RpcJson.GetString(record, "from");
        var to = RpcJson.GetOptionalString(record, "to_muxed") ?? RpcJson.GetString(record, "to");
        try
        {
            return new ChainTransfer(FromDecimal(amount, asset), from, to);
        }
        catch (PaymentsKitException ex) when (ex.Code == PaymentsKitErrorCodes.AmountPrecision)
        {
            // Every Stellar asset moves in stroops, finer than a credit asset registered with fewer decimals. Rounding the
            // amount would credit what was not paid, and failing the whole read would hide the transaction's other
            // payments, so only this one is left out, as a payment in an unregistered asset is, and logged for review.
            LogUnrepresentable(_logger, amount, asset.Code, asset.Scale, from, to, hash);
            return null;
        }
    }

    private async Task<long> GetLatestLedgerAsync(CancellationToken cancellationToken)
    {
        var latest = await GetAsync(
                string.Empty,
                "getLatestLedger",
                root =>
                {
                    _horizonPassphrase = RpcJson.GetOptionalString(root, "network_passphrase") ?? _horizonPassphrase;
                    return new StrongBox<long>(RpcJson.GetInt64(root, "history_latest_ledger"));
                },
                cancellationToken)
            .ConfigureAwait(false);
        return latest?.Value ?? throw ChainErrors.Unavailable(Chain, "getLatestLedger", "Horizon's root resource is missing", transient: true);
    }

    private async Task<ChainStatus> GetStatusAsync(CancellationToken cancellationToken)
    {
        var status = await GetAsync("fee_stats", "feeStats", ReadStatus, cancellationToken).ConfigureAwait(false);
        return status?.Value ?? throw ChainErrors.Unavailable(Chain, "feeStats", "Horizon's fee_stats resource is missing", transient: true);
    }

    private StrongBox<ChainStatus> ReadStatus(JsonElement root)
    {
        var baseFee = RpcJson.GetBigInteger(root, "last_ledger_base_fee");
        var p90 = RpcJson.GetBigInteger(RpcJson.GetProperty(root, "fee_charged", JsonValueKind.Object), "p90");
        return new StrongBox<ChainStatus>(new ChainStatus(
            RpcJson.GetInt64(root, "last_ledger"),
            FromStroops(BigInteger.Max(baseFee, p90), AssetRegistry.Xlm),
            RpcJson.GetDecimal(root, "ledger_capacity_usage")));
    }

    private TransactionHeader ReadHeader(JsonElement root) => new(
        // Horizon finds a fee bump by its inner transaction's hash too and then echoes that in "hash": the fee bump's own hash
        // is the one spelling both lookups share, and the one TransactionHashOf gives for a fee-bump envelope.
        root.TryGetProperty("fee_bump_transaction", out var feeBump) && feeBump.ValueKind == JsonValueKind.Object
            ? RpcJson.GetString(feeBump, "hash")
            : RpcJson.GetString(root, "hash"),
        RpcJson.GetInt64(root, "ledger"),
        RpcJson.GetBoolean(root, "successful"),
        FromStroops(RpcJson.GetBigInteger(root, "fee_charged"), AssetRegistry.Xlm),
        InstantPattern.ExtendedIso.Parse(RpcJson.GetString(root, "created_at")).GetValueOrThrow(),
        RpcJson.GetOptionalString(root, "memo_type") is null or "none" ? null : RpcJson.GetOptionalString(root, "memo"));

    /// <summary>
    /// GETs a Horizon resource and reads it with <paramref name="read"/> inside the transport, so a malformed answer
    /// fails over like an unreachable endpoint; null once every endpoint answered 404 (a Horizon that lags behind the
    /// network does not have a transaction in a recent ledger yet, and another may).
    /// </summary>
    private Task<T?> GetAsync<T>(string path, string operation, Func<JsonElement, T> read, CancellationToken cancellationToken)
        where T : class =>
        _transport.FindAsync<T>(
            operation,
            endpoint =>
            {
                var request = new HttpRequestMessage(HttpMethod.Get, new Uri(endpoint, path));
                request.Headers.Accept.ParseAdd("application/json");
                return request;
            },
            response =>
            {
                if (response.Status == HttpStatusCode.NotFound)
                {
                    return null;
                }

                if (!response.IsSuccess)
                {
                    throw new TransientRpcException(string.Create(CultureInfo.InvariantCulture, $"HTTP {(int)response.Status}"));
                }

                using var document = response.ParseJson();
                return document.RootElement.ValueKind == JsonValueKind.Object
                    ? read(document.RootElement)
                    : throw new FormatException("the response is not a JSON object");
            },
            cancellationToken);

    private Money FromStroops(BigInteger stroops, Asset asset) => ChainUnits.FromBaseUnits(stroops, asset, Chain);

    private Money FromDecimal(decimal amount, Asset asset)
    {
        // Horizon prints every amount with 7 decimals: finer is a malformed answer. An amount finer than an asset registered
        // with fewer decimals is amount_precision from Money.Of, never rounded.
        if (decimal.Round(amount, StroopScale) != amount)
        {
            throw new FormatException(string.Create(CultureInfo.InvariantCulture, $"amount {amount} has more than 7 decimals"));
        }

        return Money.Of(amount, asset);
    }

    /// <inheritdoc />
    public string NormalizeTransactionHash(string transactionHash) => NormalizeHash(transactionHash);

    private static string NormalizeHash(string? hash)
    {
        Guard.Text(hash, "transactionHash", 64);
        if (hash!.Length != 64 || !hash.All(char.IsAsciiHexDigit))
        {
            throw ChainErrors.InvalidArgument("transactionHash", hash, "must be 64 hexadecimal digits");
        }

        return hash.ToLowerInvariant();
    }

    private PaymentsKitException Rejected(string? hash, string reason, bool transient) =>
        ChainErrors.TransactionRejected(Chain, hash, reason, transient);

    private sealed record TransactionHeader(string Hash, long Ledger, bool Successful, Money Fee, Instant CreatedAt, string? Memo);

    [LoggerMessage(EventId = 1101, Level = LogLevel.Debug, Message = "Skipping a Stellar payment in {Asset}: no registered asset has that identifier")]
    private static partial void LogUnknownAsset(ILogger logger, string asset);

    [LoggerMessage(
        EventId = 1102,
        Level = LogLevel.Warning,
        Message = "Leaving out a Stellar payment of {Amount} {Asset} from {From} to {To} in transaction {Transaction}: {Asset} is registered with {Scale} decimals, so the amount cannot be held without rounding")]
    private static partial void LogUnrepresentable(ILogger logger, decimal amount, string asset, int scale, string from, string to, string transaction);
}
