using System.Globalization;
using System.Net;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;
using NodaTime;
using PaymentsKit.Chains.Rpc;

namespace PaymentsKit.Chains.Hedera;

/// <summary>
/// Hedera through the Mirror Node REST API: HIP-15 account ids, tinybar and token unit conversion,
/// transactions by transaction id with HBAR and token transfers and memo, fees from the USD fee schedule
/// and the network exchange rate, and health. Consensus is final, so a transaction the Mirror Node shows
/// is final with one confirmation. Broadcasting needs the host's gRPC client (<see cref="HederaOptions.Submitter"/>).
/// </summary>
/// <remarks>
/// <para>A transaction is looked up by its transaction id, <c>0.0.1234@1615422161.673238162</c> (SDK form) or
/// <c>0.0.1234-1615422161-673238162</c> (Mirror Node form); <see cref="ChainTransaction.Hash"/> is the Mirror Node form.</para>
/// <para>The Mirror Node lists net balance changes per account. Fees (to the node and the fee accounts 0.0.98, 0.0.800,
/// 0.0.801) are taken out and the payer credited back <c>charged_tx_fee</c>; the remaining debits and credits of each asset
/// are paired in order into sender → recipient transfers. Tokens are matched through the <see cref="AssetRegistry"/> by
/// <see cref="Asset.Identifier"/> = the token id (<c>0.0.456858</c>); unknown tokens are left out, and so is a transfer of
/// more base units than an amount can hold (2^96 − 1; logged as a warning, event 1402): the rest of the transaction is read,
/// and no amount is ever rounded.</para>
/// </remarks>
public sealed partial class HederaChainAdapter : IChainAdapter
{
    private const string InvalidNodeAccount = "INVALID_NODE_ACCOUNT";
    private const string InvalidPayerSignature = "INVALID_PAYER_SIGNATURE";
    private static readonly string[] FeeAccounts = ["98", "800", "801"];
    private readonly RpcTransport _transport;
    private readonly RpcHealthProbe _probe;
    private readonly AssetRegistry _assets;
    private readonly HederaAddressCodec _codec;
    private readonly HederaSubmitter? _submitter;
    private readonly decimal _transferFeeCents;
    private readonly decimal _tokenTransferFeeCents;
    private readonly ILogger _logger;

    /// <summary>Creates the adapter.</summary>
    /// <param name="options">Validated options.</param>
    /// <param name="httpClient">The client to reach the Mirror Node with.</param>
    /// <param name="assets">Resolves tokens by token id.</param>
    /// <param name="clock">Stamps health samples and reads a node's Retry-After date when its response has no Date header.</param>
    /// <param name="logger">Receives failover warnings and skipped transfers.</param>
    /// <exception cref="PaymentsKitException"><c>invalid_argument</c> listing every problem with <paramref name="options"/>.</exception>
    public HederaChainAdapter(HederaOptions options, HttpClient httpClient, AssetRegistry assets, IClock clock, ILogger<HederaChainAdapter> logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        ChainErrors.ThrowIfInvalid(options.Validate("Hedera"));
        _assets = assets ?? throw new ArgumentNullException(nameof(assets));
        _logger = logger ?? throw new ArgumentNullException(nameof(logger));
        _codec = HederaAddressCodec.For(options.Network);
        _submitter = options.Submitter;
        _transferFeeCents = options.TransferFeeUsdCents;
        _tokenTransferFeeCents = options.TokenTransferFeeUsdCents;
        _transport = new RpcTransport(Chain, httpClient, options, clock, logger);
        _probe = new RpcHealthProbe(Chain, clock, _transport, options.HealthThresholds);
    }

    /// <inheritdoc />
    public ChainId Chain => ChainId.Hedera;

    /// <summary>The address codec of the configured ledger.</summary>
    public HederaAddressCodec AddressCodec => _codec;

    /// <summary>The transport, for its statistics.</summary>
    public RpcTransport Transport => _transport;

    /// <inheritdoc />
    public ChainAddress ParseAddress(string? text) => _codec.Parse(Chain, text);

    /// <inheritdoc />
    public bool TryParseAddress(string? text, out ChainAddress address) => _codec.TryParse(Chain, text, out address);

    /// <inheritdoc />
    public BigInteger ToBaseUnits(Money amount) => ChainUnits.ToBaseUnits(amount, Chain);

    /// <inheritdoc />
    public Money FromBaseUnits(BigInteger units, Asset asset) => ChainUnits.FromBaseUnits(units, asset, Chain);

    /// <inheritdoc />
    /// <exception cref="PaymentsKitException"><c>invalid_argument</c> unless the text is a transaction id.</exception>
    public async ValueTask<ChainTransaction?> GetTransactionAsync(string transactionHash, CancellationToken cancellationToken = default)
    {
        var id = NormalizeTransactionId(transactionHash);
        return await GetAsync("api/v1/transactions/" + id, "getTransaction", root => ReadTransaction(root, id), cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    /// <remarks>The USD fee of the transfer converted with the Mirror Node's current exchange rate, rounded up to a tinybar.</remarks>
    public async ValueTask<FeeEstimate> EstimateFeeAsync(Asset asset, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(asset);
        ChainUnits.EnsureOnChain(asset, Chain, "asset");
        var rate = await GetExchangeRateAsync(cancellationToken).ConfigureAwait(false);
        return new FeeEstimate(ToHbar(asset == AssetRegistry.Hbar ? _transferFeeCents : _tokenTransferFeeCents, rate), Duration.FromSeconds(5));
    }

    /// <inheritdoc />
    public ValueTask<ChainHealthSample> ProbeHealthAsync(CancellationToken cancellationToken = default) =>
        _probe.ProbeAsync(
            async ct =>
            {
                var rateTask = GetExchangeRateAsync(ct);
                var blockTask = GetAsync("api/v1/blocks?limit=1&order=desc", "getLatestBlock", ReadLatestBlock, ct);
                await Task.WhenAll(rateTask, blockTask).ConfigureAwait(false);
                var block = await blockTask.ConfigureAwait(false)
                    ?? throw ChainErrors.Unavailable(Chain, "getLatestBlock", "the Mirror Node has no blocks resource", transient: true);
                return new ChainStatus(block.Value, ToHbar(_transferFeeCents, await rateTask.ConfigureAwait(false)), 0m);
            },
            Duration.FromSeconds(5),
            Money.Zero(AssetRegistry.Hbar),
            cancellationToken);

    /// <inheritdoc />
    /// <remarks>
    /// The transaction id (payer and valid-start time) from the payload's HAPI protobuf: a <c>Transaction</c> or the SDKs'
    /// <c>TransactionList</c> of them (one per node, one id), in the Mirror Node form. Null when the bytes name no single id
    /// or the payer is an alias.
    /// </remarks>
    public string? TransactionHashOf(ReadOnlySpan<byte> signedTransaction) => HederaTransactionId.Read(signedTransaction);

    /// <inheritdoc />
    /// <remarks>Hedera accepts transactions over gRPC only; this delegates to <see cref="HederaOptions.Submitter"/>.</remarks>
    /// <exception cref="PaymentsKitException">
    /// <c>chain_unavailable</c> (not transient) when no submitter is configured; <c>transaction_rejected</c> for a
    /// transaction signed for another chain; otherwise whatever the submitter throws.
    /// </exception>
    public async ValueTask<BroadcastResult> BroadcastAsync(SignedTransaction transaction, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(transaction);
        if (transaction.Chain != Chain)
        {
            throw ChainErrors.TransactionRejected(Chain, transaction.Hash, string.Create(CultureInfo.InvariantCulture, $"it was signed for {transaction.Chain}, not {Chain}"));
        }

        if (transaction.Payload.IsEmpty)
        {
            throw ChainErrors.TransactionRejected(Chain, transaction.Hash, "the transaction is empty");
        }

        if (_submitter is null)
        {
            throw ChainErrors.Unavailable(
                Chain,
                "submitTransaction",
                "Hedera accepts transactions only over gRPC and the Mirror Node is read-only; set HederaOptions.Submitter to the host's Hedera client",
                transient: false);
        }

        return await _submitter(transaction, cancellationToken).ConfigureAwait(false);
    }

    private ChainTransaction ReadTransaction(JsonElement root, string id)
    {
        var list = RpcJson.GetProperty(root, "transactions", JsonValueKind.Array);
        if (list.GetArrayLength() == 0)
        {
            throw new FormatException("the transactions list is empty");
        }

        // A transaction id can also name child and scheduled transactions; the user's own one has nonce 0 and is not scheduled.
        // Copies of it sent to several nodes each reach consensus too, and HAPI counts the first whose status is not a node's
        // due-diligence failure; the others move nothing but fees, so reading one of them would report a payment that went
        // through as failed.
        var own = list.EnumerateArray()
            .Where(t => (!t.TryGetProperty("nonce", out var nonce) || nonce.GetInt32() == 0)
                && !(t.TryGetProperty("scheduled", out var scheduled) && scheduled.ValueKind == JsonValueKind.True))
            .OrderBy(t => ParseTimestamp(RpcJson.GetString(t, "consensus_timestamp")))
            .ToList();
        var transaction = own.FirstOrDefault(t => RpcJson.GetString(t, "result") is not (InvalidNodeAccount or InvalidPayerSignature));
        if (transaction.ValueKind != JsonValueKind.Object)
        {
            transaction = own.Count > 0 ? own[0] : list[0];
        }

        var succeeded = RpcJson.GetString(transaction, "result") == "SUCCESS";
        var feeTinybars = RpcJson.GetInt64(transaction, "charged_tx_fee");
        var memoBase64 = RpcJson.GetOptionalString(transaction, "memo_base64");
        var memo = string.IsNullOrEmpty(memoBase64) ? null : Encoding.UTF8.GetString(Convert.FromBase64String(memoBase64));
        var payer = RpcJson.GetString(transaction, "transaction_id").Split('-')[0];
        var node = RpcJson.GetOptionalString(transaction, "node");
        var transfers = succeeded ? ReadTransfers(transaction, id, payer, node, feeTinybars) : [];
        return new ChainTransaction(
            id,
            Chain,
            succeeded ? ChainTransactionStatus.Succeeded : ChainTransactionStatus.Failed,
            1,
            IsFinal: true,
            memo,
            ChainUnits.FromBaseUnits(feeTinybars, AssetRegistry.Hbar, Chain),
            ParseTimestamp(RpcJson.GetString(transaction, "consensus_timestamp")),
            transfers);
    }

    private List<ChainTransfer> ReadTransfers(JsonElement transaction, string id, string payer, string? node, long fee)
    {
        var result = new List<ChainTransfer>();
        var hbar = new List<(string Account, BigInteger Amount)>();
        var prefix = payer[..(payer.LastIndexOf('.') + 1)];

        // Staking rewards paid out with the transaction are part of the net changes but not a payment.
        var rewards = new Dictionary<string, BigInteger>(StringComparer.Ordinal);
        if (transaction.TryGetProperty("staking_reward_transfers", out var rewardList) && rewardList.ValueKind == JsonValueKind.Array)
        {
            foreach (var reward in rewardList.EnumerateArray())
            {
                var account = RpcJson.GetString(reward, "account");
                rewards[account] = rewards.GetValueOrDefault(account) + RpcJson.GetBigInteger(reward, "amount");
            }
        }

        foreach (var transfer in RpcJson.GetProperty(transaction, "transfers", JsonValueKind.Array).EnumerateArray())
        {
            var account = RpcJson.GetString(transfer, "account");
            var amount = RpcJson.GetBigInteger(transfer, "amount");
            if (account == node || FeeAccounts.Any(f => account == prefix + f))
            {
                continue;
            }

            hbar.Add((account, amount - rewards.GetValueOrDefault(account) + (account == payer ? fee : 0)));
        }

        result.AddRange(Pair(hbar, AssetRegistry.Hbar, id));
        if (transaction.TryGetProperty("token_transfers", out var tokens) && tokens.ValueKind == JsonValueKind.Array)
        {
            foreach (var group in tokens.EnumerateArray().GroupBy(t => RpcJson.GetString(t, "token_id")))
            {
                var asset = _assets.All.FirstOrDefault(a => a.Chain == Chain && string.Equals(a.Identifier, group.Key, StringComparison.Ordinal));
                if (asset is null)
                {
                    LogUnknownToken(_logger, group.Key);
                    continue;
                }

                result.AddRange(Pair([.. group.Select(t => (RpcJson.GetString(t, "account"), RpcJson.GetBigInteger(t, "amount")))], asset, id));
            }
        }

        return result;
    }

    private List<ChainTransfer> Pair(List<(string Account, BigInteger Amount)> changes, Asset asset, string id) =>
        NetChanges.Pair([.. changes.Select(c => (Canonical(c.Account), c.Amount))], (units, from, to) => Transfer(units, asset, from, to, id));

    private ChainTransfer? Transfer(BigInteger units, Asset asset, string from, string to, string id)
    {
        if (ChainUnits.TryFromBaseUnits(units, asset, Chain, out var amount))
        {
            return new ChainTransfer(amount, from, to);
        }

        // Rounding would credit what was not paid, and failing the whole read would hide the transaction's other transfers,
        // so only this one is left out, as a transfer of an unregistered token is, and logged for review.
        LogUnrepresentable(_logger, units.ToString(CultureInfo.InvariantCulture), asset.Code, from, to, id);
        return null;
    }

    private string Canonical(string account) =>
        _codec.TryNormalize(account, out var canonical, out var problem) ? canonical : throw new FormatException("account " + account + ": " + problem);

    private static StrongBox<long> ReadLatestBlock(JsonElement root)
    {
        var blocks = RpcJson.GetProperty(root, "blocks", JsonValueKind.Array);
        return blocks.GetArrayLength() > 0
            ? new StrongBox<long>(RpcJson.GetInt64(blocks[0], "number"))
            : throw new FormatException("the blocks list is empty");
    }

    private async Task<ExchangeRate> GetExchangeRateAsync(CancellationToken cancellationToken) =>
        await GetAsync(
            "api/v1/network/exchangerate",
            "getExchangeRate",
            root =>
            {
                var current = RpcJson.GetProperty(root, "current_rate", JsonValueKind.Object);
                var cents = RpcJson.GetInt64(current, "cent_equivalent");
                var hbars = RpcJson.GetInt64(current, "hbar_equivalent");
                return cents > 0 && hbars > 0 ? new ExchangeRate(cents, hbars) : throw new FormatException("the exchange rate is not positive");
            },
            cancellationToken).ConfigureAwait(false)
        ?? throw ChainErrors.Unavailable(Chain, "getExchangeRate", "the Mirror Node has no exchange rate", transient: true);

    private static Money ToHbar(decimal usdCents, ExchangeRate rate) =>
        Money.Round(usdCents * rate.HbarEquivalent / rate.CentEquivalent, AssetRegistry.Hbar, MidpointRounding.ToPositiveInfinity);

    /// <summary>
    /// GETs a Mirror Node resource and reads it inside the transport (malformed answers fail over); null once every endpoint
    /// answered 404 (a Mirror Node imports records behind consensus, so one may not have a transaction another has).
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
                    // 400 means PaymentsKit built a bad query; another node would say the same, but it is not the caller's fault.
                    throw response.Status == HttpStatusCode.BadRequest
                        ? ChainErrors.Unavailable(Chain, operation, "the Mirror Node rejected the query (HTTP 400)", transient: false)
                        : new TransientRpcException(string.Create(CultureInfo.InvariantCulture, $"HTTP {(int)response.Status}"));
                }

                using var document = response.ParseJson();
                return document.RootElement.ValueKind == JsonValueKind.Object
                    ? read(document.RootElement)
                    : throw new FormatException("the response is not a JSON object");
            },
            cancellationToken);

    private static Instant ParseTimestamp(string text)
    {
        var dot = text.IndexOf('.', StringComparison.Ordinal);
        var seconds = long.Parse(dot < 0 ? text : text[..dot], NumberStyles.None, CultureInfo.InvariantCulture);
        var nanos = dot < 0 ? 0 : long.Parse(text[(dot + 1)..].PadRight(9, '0')[..9], NumberStyles.None, CultureInfo.InvariantCulture);
        return Instant.FromUnixTimeSeconds(seconds).PlusNanoseconds(nanos);
    }

    /// <inheritdoc />
    /// <remarks>The Mirror Node form <c>shard.realm.num-seconds-nanos</c> (nanos padded to 9 digits), which transactions are reported under.</remarks>
    /// <exception cref="PaymentsKitException"><c>invalid_argument</c> unless the text is a transaction id.</exception>
    public string NormalizeTransactionHash(string transactionHash) => NormalizeTransactionId(transactionHash);

    private static string NormalizeTransactionId(string? text)
    {
        Guard.Text(text, "transactionHash", 100);
        var match = TransactionIdPattern().Match(text!);

        // The seconds are reprinted from their value so that one id has one spelling whatever zeros lead it: two would be
        // two hashes for one transaction, and one payment could be recorded under each.
        if (!match.Success || !long.TryParse(match.Groups["seconds"].ValueSpan, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds))
        {
            throw ChainErrors.InvalidArgument("transactionHash", text, "must be a Hedera transaction id such as 0.0.1234@1615422161.673238162");
        }

        return string.Create(
            CultureInfo.InvariantCulture,
            $"{match.Groups["payer"].Value}-{seconds}-{match.Groups["nanos"].Value.PadLeft(9, '0')}");
    }

    [GeneratedRegex(@"^(?<payer>(?:0|[1-9][0-9]{0,18})\.(?:0|[1-9][0-9]{0,18})\.(?:0|[1-9][0-9]{0,18}))(?:@(?<seconds>[0-9]{1,19})\.(?<nanos>[0-9]{1,9})|-(?<seconds>[0-9]{1,19})-(?<nanos>[0-9]{1,9}))\z", RegexOptions.CultureInvariant)]
    private static partial Regex TransactionIdPattern();

    [LoggerMessage(EventId = 1401, Level = LogLevel.Debug, Message = "Skipping a Hedera transfer of token {Token}: no registered asset has that token id")]
    private static partial void LogUnknownToken(ILogger logger, string token);

    [LoggerMessage(
        EventId = 1402,
        Level = LogLevel.Warning,
        Message = "Leaving out a Hedera transfer of {Units} base units of {Asset} from {From} to {To} in transaction {Transaction}: no amount can hold more than 2^96 - 1 base units")]
    private static partial void LogUnrepresentable(ILogger logger, string units, string asset, string from, string to, string transaction);

    private sealed record ExchangeRate(long CentEquivalent, long HbarEquivalent);
}
