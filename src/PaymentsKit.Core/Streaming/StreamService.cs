using System.Globalization;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using NodaTime;
using PaymentsKit.Chains;
using PaymentsKit.Ledger;
using PaymentsKit.Storage;

namespace PaymentsKit.Streaming;

/// <summary>
/// The <see cref="IStreamService"/> over any <see cref="IPaymentsStore"/>, posting to an <see cref="ILedger"/>
/// that keeps its books in the same store (each operation's ledger writes join the stream's unit of work).
/// </summary>
public sealed partial class StreamService : IStreamService
{
    /// <summary>The actor recorded on events PaymentsKit causes by itself (automatic completion).</summary>
    public const string SystemActor = "paymentskit";

    /// <summary>The seed's default <c>chain_id</c>, used when neither the request nor the asset names a chain.</summary>
    public const string DefaultChainId = "stellar-testnet";

    /// <summary>The longest payer or recipient address and contract address (seed <c>varchar(255)</c>).</summary>
    public const int MaxAddressLength = 255;

    /// <summary>The longest transaction hash (seed <c>varchar(66)</c>).</summary>
    public const int MaxTransactionHashLength = 66;

    /// <summary>The longest actor name.</summary>
    public const int MaxActorLength = 128;

    /// <summary>The longest reason.</summary>
    public const int MaxReasonLength = 500;

    /// <summary>The most streams one <see cref="CompleteDueAsync"/> call completes.</summary>
    public const int MaxSweepLimit = 100_000;

    private static readonly Instant Epoch = Instant.FromUnixTimeTicks(0);

    private readonly IPaymentsStore _store;
    private readonly ILedger _ledger;
    private readonly IClock _clock;
    private readonly DeadlineSweep<StreamDeadline> _completionSweep;
    private readonly AssetRegistry _assets;
    private readonly IChainAdapterRegistry? _chains;
    private readonly ILogger _logger;

    /// <summary>Creates the service.</summary>
    /// <param name="store">Where streams are kept; the same store <paramref name="ledger"/> keeps its books in.</param>
    /// <param name="ledger">The ledger the money movements are posted to.</param>
    /// <param name="clock">Decides "now" for every operation.</param>
    /// <param name="assets">The assets streams may be in (the ledger's registry).</param>
    /// <param name="chains">Validates payer and recipient addresses for chains with an adapter; optional.</param>
    /// <param name="logger">Logs cancellations, completions and the streams the completion sweep could not complete; optional.</param>
    public StreamService(
        IPaymentsStore store,
        ILedger ledger,
        IClock clock,
        AssetRegistry assets,
        IChainAdapterRegistry? chains = null,
        ILogger<StreamService>? logger = null)
    {
        _store = store ?? throw new ArgumentNullException(nameof(store));
        _ledger = ledger ?? throw new ArgumentNullException(nameof(ledger));
        _clock = clock ?? throw new ArgumentNullException(nameof(clock));
        _assets = assets ?? throw new ArgumentNullException(nameof(assets));
        _chains = chains;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _completionSweep = new DeadlineSweep<StreamDeadline>(
            store,
            clock,
            StreamCollections.Deadlines,
            d => d.DueAt,
            (d, ex, code) => LogCompletionFailure(_logger, ex, d.StreamId.ToString(), d.TenantId.ToString(), code));
    }

    /// <inheritdoc />
    public async ValueTask<PaymentStream> GetAsync(MerchantId tenantId, StreamId streamId, CancellationToken cancellationToken = default)
    {
        LedgerValidation.Tenant(tenantId);
        var unit = await _store.BeginAsync(cancellationToken).ConfigureAwait(false);
        await using (unit.ConfigureAwait(false))
        {
            return await LoadAsync(unit, tenantId, streamId, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <inheritdoc />
    public async ValueTask<Page<PaymentStream>> ListAsync(MerchantId tenantId, string? cursor, int limit, CancellationToken cancellationToken = default)
    {
        LedgerValidation.Tenant(tenantId);
        LedgerValidation.Limit(limit, BufferedUnitOfWork.MaxPageSize);
        var unit = await _store.BeginAsync(cancellationToken).ConfigureAwait(false);
        await using (unit.ConfigureAwait(false))
        {
            var page = await unit.ListAsync(StreamCollections.Streams, tenantId.Value, cursor, limit, cancellationToken).ConfigureAwait(false);
            return new Page<PaymentStream>([.. page.Items.Select(i => i.Value with { Version = i.Version })], page.NextCursor);
        }
    }

    /// <inheritdoc />
    public async ValueTask<StreamStatement> GetStatementAsync(MerchantId tenantId, StreamId streamId, Instant? at = null, CancellationToken cancellationToken = default)
    {
        var stream = await GetAsync(tenantId, streamId, cancellationToken).ConfigureAwait(false);
        var instant = Floor(at ?? _clock.GetCurrentInstant());
        var evaluated = stream.ClosedAt is { } closed && closed < instant ? closed : instant;
        var terms = stream.ToTerms();
        var pauses = Span(stream.Pauses);
        var accrued = StreamAccrual.Accrued(terms, pauses, evaluated);
        var asset = stream.Asset;
        return new StreamStatement(
            stream,
            instant,
            Money.Of(accrued, asset),
            Money.Of(Math.Max(0m, accrued - stream.SettledAmount.Amount), asset),
            Money.Of(Math.Max(0m, accrued - stream.WithdrawnAmount.Amount), asset),
            Money.Of(stream.IsClosed ? 0m : stream.TotalAmount.Amount - accrued, asset),
            stream.IsClosed || StreamAccrual.IsComplete(terms, pauses, evaluated));
    }

    /// <inheritdoc />
    public async ValueTask<Page<StreamEvent>> ListEventsAsync(MerchantId tenantId, StreamId streamId, string? cursor, int limit, CancellationToken cancellationToken = default)
    {
        LedgerValidation.Tenant(tenantId);
        LedgerValidation.Limit(limit, BufferedUnitOfWork.MaxPageSize);
        var after = LedgerValidation.SequenceCursor(cursor);
        var unit = await _store.BeginAsync(cancellationToken).ConfigureAwait(false);
        await using (unit.ConfigureAwait(false))
        {
            var stream = await LoadAsync(unit, tenantId, streamId, cancellationToken).ConfigureAwait(false);
            // A cursor past the end gives an empty page: clamped, however large, so the sums below cannot overflow.
            after = Math.Min(after, stream.EventCount);
            var last = Math.Min(stream.EventCount, after + limit);
            var events = new List<StreamEvent>((int)Math.Max(0, last - after));
            for (var sequence = after + 1; sequence <= last; sequence++)
            {
                var found = await unit.GetAsync(StreamCollections.Events, tenantId.Value, StreamCollections.EventId(streamId, sequence), cancellationToken).ConfigureAwait(false)
                    ?? throw new PaymentsKitException(
                        PaymentsKitErrorCodes.StorageFailure,
                        string.Create(CultureInfo.InvariantCulture, $"Event #{sequence} of stream {streamId} is missing although the stream counts {stream.EventCount}."));
                events.Add(found.Value);
            }

            return new Page<StreamEvent>(events, last < stream.EventCount ? last.ToString(CultureInfo.InvariantCulture) : null);
        }
    }

    /// <summary>Whole microseconds, rounded toward the start of time: what both stores and the accrual math count in.</summary>
    internal static Instant Floor(Instant instant) => StreamTerms.FromMicros(StreamTerms.ToMicros(instant));

    internal static ReadOnlySpan<PauseInterval> Span(IReadOnlyList<PauseInterval> pauses) => pauses switch
    {
        PauseInterval[] array => array,
        List<PauseInterval> list => CollectionsMarshal.AsSpan(list),
        _ => pauses.ToArray(),
    };

    private static async ValueTask<PaymentStream> LoadAsync(IUnitOfWork unit, MerchantId tenantId, StreamId streamId, CancellationToken cancellationToken)
    {
        if (streamId.Value == Guid.Empty)
        {
            throw PaymentsKitException.InvalidArgument("stream_id", streamId, "must not be empty");
        }

        var stored = await unit.GetAsync(StreamCollections.Streams, tenantId.Value, streamId.Value, cancellationToken).ConfigureAwait(false)
            ?? throw LedgerValidation.NotFound("stream", streamId);
        return stored.Value with { Version = stored.Version };
    }

    private CreateDraft ValidateCreate(MerchantId tenantId, CreateStreamRequest? request)
    {
        LedgerValidation.Tenant(tenantId);
        Guard.NotNull(request, "request");
        LedgerValidation.Account(request!.FundingAccountId, "funding_account_id");
        LedgerValidation.Account(request.PayoutAccountId, "payout_account_id");
        if (request.TotalAmount == default)
        {
            throw PaymentsKitException.InvalidArgument("total_amount", null, "is required");
        }

        var asset = RegisteredAsset(request.TotalAmount.Asset);
        var start = Floor(request.StartTime ?? _clock.GetCurrentInstant());
        var end = request.EndTime is { } e ? Floor(e) : (Instant?)null;
        InRange(start, "start_time");
        if (end is { } endTime)
        {
            InRange(endTime, "end_time");
        }

        var terms = StreamTerms.Create(asset, request.RatePerSecond, request.TotalAmount.Amount, start, end);
        var chainId = request.ChainId is null ? asset.Chain?.Value ?? DefaultChainId : ValidChainId(request.ChainId);
        var adapter = Adapter(asset, chainId);
        var payer = Address(request.Payer, "payer", adapter);
        var recipient = Address(request.Recipient, "recipient", adapter);
        if (string.Equals(payer, recipient, StringComparison.Ordinal))
        {
            throw PaymentsKitException.InvalidArgument("recipient", recipient, "must differ from the payer");
        }

        var contract = Guard.OptionalText(request.ContractAddress, "contract_address", MaxAddressLength);
        var hash = Guard.OptionalText(request.TransactionHash, "transaction_hash", MaxTransactionHashLength);
        if (hash is not null && hash.Any(char.IsWhiteSpace))
        {
            throw PaymentsKitException.InvalidArgument("transaction_hash", hash, "must not contain whitespace");
        }

        if (hash is not null)
        {
            hash = TransactionHash(hash, adapter);
        }

        var metadata = LedgerValidation.Metadata(request.Metadata);
        var key = Guard.OptionalText(request.IdempotencyKey, "idempotency_key", Idempotency.MaxKeyLength);
        var actor = request.Actor is null ? payer : Guard.Text(request.Actor, "actor", MaxActorLength);
        return new CreateDraft(
            tenantId, request, terms, payer, recipient, chainId, contract, hash, metadata, key, actor, key is null ? null : Fingerprint(request, terms, payer, recipient, metadata));
    }

    private Asset RegisteredAsset(Asset asset)
    {
        if (!_assets.TryGet(asset.Code, out var registered))
        {
            throw new PaymentsKitException(
                PaymentsKitErrorCodes.UnknownAsset,
                $"Asset '{asset.Code}' is not registered; add it to PaymentsKitOptions.Assets before streaming it.",
                new Dictionary<string, object?> { ["field"] = "total_amount", ["asset"] = asset.Code });
        }

        if (!registered.Equals(asset))
        {
            throw new PaymentsKitException(
                PaymentsKitErrorCodes.AssetConflict,
                string.Create(CultureInfo.InvariantCulture, $"Asset '{asset.Code}' (scale {asset.Scale}) differs from the registered definition (scale {registered.Scale}, chain '{registered.Chain}')."),
                new Dictionary<string, object?> { ["field"] = "total_amount", ["asset"] = asset.Code });
        }

        return registered;
    }

    private static void InRange(Instant instant, string field)
    {
        if (instant < Epoch)
        {
            throw PaymentsKitException.InvalidArgument(field, instant, "must not be before 1970-01-01T00:00:00Z");
        }
    }

    private static string ValidChainId(string chainId)
    {
        Guard.Text(chainId, "chain_id", 50);
        return ChainIdPattern().IsMatch(chainId)
            ? chainId
            : throw PaymentsKitException.InvalidArgument("chain_id", chainId, "must be lower-case letters, digits and dashes (at most 50)");
    }

    /// <summary>The adapter that validates addresses: the asset's chain's, else the named chain's, if registered.</summary>
    private IChainAdapter? Adapter(Asset asset, string chainId)
    {
        if (_chains is null)
        {
            return null;
        }

        if (asset.Chain is { } assetChain)
        {
            return _chains.TryGet(assetChain, out var adapter) ? adapter : null;
        }

        return chainId.Length <= 32 && _chains.TryGet(ChainId.Of(chainId), out var byName) ? byName : null;
    }

    private static string Address(string? text, string field, IChainAdapter? adapter)
    {
        Guard.Text(text, field, MaxAddressLength);
        if (adapter is null)
        {
            return text!;
        }

        try
        {
            return adapter.ParseAddress(text).Value;
        }
        catch (PaymentsKitException ex) when (ex.Code == PaymentsKitErrorCodes.InvalidAddress)
        {
            throw new PaymentsKitException(
                PaymentsKitErrorCodes.InvalidAddress,
                $"{field} '{text}' is not a valid {adapter.Chain} address: {ex.Message}",
                new Dictionary<string, object?> { ["field"] = field, ["value"] = text, ["chain"] = adapter.Chain.Value },
                innerException: ex);
        }
    }

    /// <summary>
    /// The hash as the chain adapter reports it (lower-case hex on hex chains): its uniqueness must hold for the transaction,
    /// not for one spelling of it, or one funding transaction could open a stream per spelling.
    /// </summary>
    private static string TransactionHash(string hash, IChainAdapter? adapter)
    {
        if (adapter is null)
        {
            return hash;
        }

        string normalized;
        try
        {
            normalized = adapter.NormalizeTransactionHash(hash);
        }
        catch (PaymentsKitException ex) when (ex.Code == PaymentsKitErrorCodes.InvalidArgument)
        {
            throw new PaymentsKitException(
                PaymentsKitErrorCodes.InvalidArgument,
                $"transaction_hash '{hash}' is not a {adapter.Chain} transaction hash: {ex.Message}",
                new Dictionary<string, object?> { ["field"] = "transaction_hash", ["value"] = hash, ["chain"] = adapter.Chain.Value },
                innerException: ex);
        }

        return Guard.Text(normalized, "transaction_hash", MaxTransactionHashLength);
    }

    private static string Actor(string? actor) => Guard.Text(actor, "actor", MaxActorLength);

    private static string? Reason(string? reason) => Guard.OptionalProse(reason, "reason", MaxReasonLength);

    /// <summary>
    /// SHA-256 over the request as given (the start stays unset if it was), metadata in key order — except the rate and
    /// the addresses, taken as validated: a retry spelling one rate with more zeros (0.5 read back from a numeric(20,9)
    /// column as 0.500000000) or an address as the chain canonicalises it asks for the same stream.
    /// </summary>
    private static string Fingerprint(CreateStreamRequest request, StreamTerms terms, string payer, string recipient, IReadOnlyDictionary<string, string> metadata)
    {
        var text = new StringBuilder();
        void Field(object? value) => text.Append(CultureInfo.InvariantCulture, $"{value?.ToString()?.Length ?? -1}:{value}|");
        Field(request.FundingAccountId);
        Field(request.PayoutAccountId);
        Field(payer);
        Field(recipient);
        Field(request.TotalAmount.Asset.Code);
        Field(request.TotalAmount.Amount.ToString(CultureInfo.InvariantCulture));
        Field(terms.RateNanos.ToString(CultureInfo.InvariantCulture));
        Field(request.StartTime);
        Field(request.EndTime);
        Field(request.ChainId);
        Field(request.ContractAddress);
        Field(request.TransactionHash);
        foreach (var (key, value) in metadata.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            Field(key);
            Field(value);
        }

        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())));
    }

    [GeneratedRegex("^[a-z0-9][a-z0-9-]{0,49}$", RegexOptions.CultureInvariant)]
    private static partial Regex ChainIdPattern();

    /// <summary>
    /// Logs the closings a committed operation recorded. Never from inside its unit of work, which may run again (a lost
    /// race, a refusal on stale reads) or end refused after a completion it caught up on: the log would tell of a
    /// completion or cancellation twice, or of one that never committed.
    /// </summary>
    private StreamOperationResult Logged(StreamOperationResult result)
    {
        if (_logger.IsEnabled(LogLevel.Information))
        {
            var stream = result.Stream;
            foreach (var recorded in result.Events)
            {
                if (recorded.Kind == StreamEventKind.Completed)
                {
                    LogCompleted(_logger, stream.Id.ToString(), stream.TenantId.ToString(), recorded.EffectiveAt, stream.SettledAmount.ToString(), recorded.Refunded.ToString());
                }
                else if (recorded.Kind == StreamEventKind.Cancelled)
                {
                    LogCancelled(_logger, stream.Id.ToString(), stream.TenantId.ToString(), stream.SettledAmount.ToString(), recorded.Refunded.ToString());
                }
            }
        }

        return result;
    }

    [LoggerMessage(EventId = 601, Level = LogLevel.Information, Message = "Stream {StreamId} of tenant {TenantId} cancelled: {ToRecipient} to the recipient, {ToPayer} back to the payer")]
    private static partial void LogCancelled(ILogger logger, string streamId, string tenantId, string toRecipient, string toPayer);

    [LoggerMessage(EventId = 602, Level = LogLevel.Information, Message = "Stream {StreamId} of tenant {TenantId} completed at {CompletedAt}: {Settled} settled, {Refunded} refunded")]
    private static partial void LogCompleted(ILogger logger, string streamId, string tenantId, Instant completedAt, string settled, string refunded);

    [LoggerMessage(EventId = 603, Level = LogLevel.Warning, Message = "Stream {StreamId} of tenant {TenantId} could not be completed ({Code}); it stays due and is tried again after a backoff")]
    private static partial void LogCompletionFailure(ILogger logger, Exception exception, string streamId, string tenantId, string code);

    /// <summary>A validated create request.</summary>
    private sealed record CreateDraft(
        MerchantId TenantId,
        CreateStreamRequest Request,
        StreamTerms Terms,
        string Payer,
        string Recipient,
        string ChainId,
        string? ContractAddress,
        string? TransactionHash,
        IReadOnlyDictionary<string, string> Metadata,
        string? IdempotencyKey,
        string Actor,
        string? Fingerprint);
}
