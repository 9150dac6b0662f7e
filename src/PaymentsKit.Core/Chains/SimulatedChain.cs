using System.Globalization;
using System.Numerics;
using System.Security.Cryptography;
using System.Text;
using NodaTime;
using PaymentsKit.Chains.Rpc;

namespace PaymentsKit.Chains;

/// <summary>
/// A deterministic in-process chain: the embedded default for samples and tests. Block <c>n</c> is
/// produced at <c>genesis + n × BlockTime</c> on the injected <see cref="IClock"/>, so moving the clock
/// produces blocks and confirmations. A broadcast transfer (signed by
/// <see cref="SimulatedTransactionSigner"/>) is included in the first block after it was accepted and
/// settles against simulated balances then; a transfer the sender cannot cover fails.
/// </summary>
/// <remarks>
/// <para>Faults, all reproducible from <see cref="SimulatedChainOptions.Seed"/>: random RPC errors, drops and
/// failures at the configured rates, plus explicit queues (<see cref="FailNextRpcCalls"/>,
/// <see cref="DropNextBroadcast"/>, <see cref="FailNextBroadcast"/>) that take precedence over the rates.
/// When both a drop and a failure are queued, the next broadcast is dropped and the one after fails. A dropped
/// transaction is pending until the block it would have been in, then evicted: unknown (not found) from then on, as
/// a transaction a real chain's mempool let go, and a later broadcast of it is accepted anew.</para>
/// <para>A failed transfer moves no value but pays the fee when the sender's native balance covers it,
/// as a reverted transaction does on a real chain. Fees are burned.</para>
/// <para>Thread-safe.</para>
/// </remarks>
public sealed class SimulatedChain : IChainAdapter
{
    private const int DrawResolution = 1_000_000;

    private readonly Lock _lock = new();
    private readonly IClock _clock;
    private readonly Random _random;
    private readonly RpcCallStatistics _statistics;
    private readonly IAddressCodec _codec;
    private readonly ChainHealthThresholds _thresholds;
    private readonly int _seed;
    private readonly long _blockTicks;
    private readonly int _maxMemoBytes;
    private readonly decimal _rpcErrorRate;
    private readonly decimal _dropRate;
    private readonly decimal _failRate;
    private readonly Duration _latency;
    private readonly Dictionary<string, SimulatedTransaction> _transactions = new(StringComparer.Ordinal);
    private readonly List<SimulatedTransaction> _unsettled = [];
    private readonly Dictionary<(string Address, Asset Asset), decimal> _balances = [];
    private long _sequence;
    private int _failNextRpcCalls;
    private int _dropNextBroadcasts;
    private int _failNextBroadcasts;
    private decimal _congestion;

    /// <summary>Creates a simulated chain.</summary>
    /// <param name="options">The configuration; read once, later changes have no effect.</param>
    /// <param name="clock">The clock that drives block production.</param>
    /// <exception cref="PaymentsKitException"><c>invalid_argument</c> listing every problem with <paramref name="options"/>.</exception>
    public SimulatedChain(SimulatedChainOptions options, IClock clock)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(clock);
        ChainErrors.ThrowIfInvalid(options.Validate());

        _clock = clock;
        Chain = options.Chain;
        NativeAsset = options.ResolveNativeAsset();
        TransferFee = Money.Of(options.TransferFee, NativeAsset);
        BlockTime = options.BlockTime;
        FinalityConfirmations = options.FinalityConfirmations;
        Genesis = options.Genesis ?? clock.GetCurrentInstant();
        _seed = options.Seed;
        _random = new Random(options.Seed);
        _statistics = new RpcCallStatistics(options.HealthWindow);
        _codec = options.AddressCodec;
        _thresholds = options.HealthThresholds;
        _blockTicks = options.BlockTime.BclCompatibleTicks;
        _maxMemoBytes = options.MaxMemoBytes;
        _rpcErrorRate = options.RpcErrorRate;
        _dropRate = options.DropRate;
        _failRate = options.FailRate;
        _latency = options.Latency;
        _congestion = options.Congestion;
    }

    /// <inheritdoc />
    public ChainId Chain { get; }

    /// <summary>The asset fees are paid in.</summary>
    public Asset NativeAsset { get; }

    /// <summary>The fee of one transfer.</summary>
    public Money TransferFee { get; }

    /// <summary>Clock time between blocks.</summary>
    public Duration BlockTime { get; }

    /// <summary>Confirmations after which a transaction is final.</summary>
    public int FinalityConfirmations { get; }

    /// <summary>When block 0 was produced.</summary>
    public Instant Genesis { get; }

    /// <summary>The latest block at the clock's current time (−1 before genesis).</summary>
    public long LatestBlock => TipAt(_clock.GetCurrentInstant());

    /// <inheritdoc />
    public ChainAddress ParseAddress(string? text) => _codec.Parse(Chain, text);

    /// <inheritdoc />
    public bool TryParseAddress(string? text, out ChainAddress address) => _codec.TryParse(Chain, text, out address);

    /// <inheritdoc />
    public BigInteger ToBaseUnits(Money amount) => ChainUnits.ToBaseUnits(amount, Chain);

    /// <inheritdoc />
    public Money FromBaseUnits(BigInteger units, Asset asset) => ChainUnits.FromBaseUnits(units, asset, Chain);

    /// <summary>Credits <paramref name="amount"/> to <paramref name="address"/> at once, outside any block (a genesis allocation).</summary>
    /// <exception cref="PaymentsKitException">
    /// <c>invalid_address</c>, <c>invalid_argument</c> for an asset of another chain, <c>amount_out_of_range</c> unless positive.
    /// </exception>
    public void Fund(string address, Money amount)
    {
        var canonical = ParseAddress(address).Value;
        RequirePositive(amount, "amount");
        lock (_lock)
        {
            Credit(canonical, amount);
        }
    }

    /// <summary>The simulated balance of <paramref name="address"/> in <paramref name="asset"/>, after every block up to now.</summary>
    /// <exception cref="PaymentsKitException"><c>invalid_address</c> or <c>invalid_argument</c> for an asset of another chain.</exception>
    public Money GetBalance(string address, Asset asset)
    {
        var canonical = ParseAddress(address).Value;
        ChainUnits.EnsureOnChain(asset, Chain, "asset");
        lock (_lock)
        {
            Settle(TipAt(_clock.GetCurrentInstant()));
            return Money.Of(Balance(canonical, asset), asset);
        }
    }

    /// <summary>
    /// Records a payment from outside the simulation (a customer's wallet) to <paramref name="to"/>: it is
    /// included in the next block like a broadcast and credits the recipient then. The sender is external,
    /// so its simulated balance is neither checked nor debited. Not subject to fault injection.
    /// </summary>
    /// <returns>The payment's transaction hash.</returns>
    /// <exception cref="PaymentsKitException">
    /// <c>invalid_address</c>, <c>invalid_argument</c> for an asset of another chain or an oversized memo,
    /// <c>amount_out_of_range</c> unless positive.
    /// </exception>
    public string SimulateIncomingPayment(string from, string to, Money amount, string? memo = null)
    {
        var sender = ParseAddress(from).Value;
        var recipient = ParseAddress(to).Value;
        RequirePositive(amount, "amount");
        if (MemoProblem(memo) is { } problem)
        {
            throw PaymentsKitException.InvalidArgument("memo", memo, problem);
        }

        lock (_lock)
        {
            var sequence = ++_sequence;
            var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(string.Create(
                CultureInfo.InvariantCulture,
                $"incoming|{Chain}|{_seed}|{sequence}|{sender}|{recipient}|{amount}|{memo}"))));
            var now = _clock.GetCurrentInstant();
            var transaction = new SimulatedTransaction(hash, sender, recipient, amount, memo, TransferFee, TipAt(now) + 1, sequence, Fate.Include, Incoming: true);
            _transactions.Add(hash, transaction);
            _unsettled.Add(transaction);
            return hash;
        }
    }

    /// <summary>Makes the next <paramref name="count"/> RPC calls fail with a transient <c>chain_unavailable</c>.</summary>
    public void FailNextRpcCalls(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        lock (_lock)
        {
            _failNextRpcCalls = checked(_failNextRpcCalls + count);
        }
    }

    /// <summary>Makes the next accepted broadcast a drop: accepted, never included, and unknown once its block has passed.</summary>
    public void DropNextBroadcast()
    {
        lock (_lock)
        {
            _dropNextBroadcasts++;
        }
    }

    /// <summary>Makes the next accepted broadcast fail: included with status failed, no value moved.</summary>
    public void FailNextBroadcast()
    {
        lock (_lock)
        {
            _failNextBroadcasts++;
        }
    }

    /// <summary>Sets the congestion health probes report, 0–1.</summary>
    /// <exception cref="PaymentsKitException"><c>invalid_argument</c> outside 0–1.</exception>
    public void SetCongestion(decimal congestion)
    {
        if (congestion is < 0m or > 1m)
        {
            throw PaymentsKitException.InvalidArgument("congestion", congestion, "must be between 0 and 1");
        }

        lock (_lock)
        {
            _congestion = congestion;
        }
    }

    /// <inheritdoc />
    /// <remarks>
    /// Simulated hashes are lower-case hex, so any spelling of one is lower-cased; other text finds no transaction (and no
    /// error), as a chain answers for a hash it has not seen.
    /// </remarks>
    /// <exception cref="PaymentsKitException"><c>invalid_argument</c> for blank text or text over 256 characters.</exception>
    public string NormalizeTransactionHash(string transactionHash) =>
        Guard.Text(transactionHash, "transactionHash", 256).ToLowerInvariant();

    /// <inheritdoc />
    /// <remarks>The SHA-256 of the payload, as <see cref="BroadcastAsync"/> records it; null for an empty payload.</remarks>
    public string? TransactionHashOf(ReadOnlySpan<byte> signedTransaction) =>
        signedTransaction.IsEmpty ? null : SimulatedTransferPayload.Hash(signedTransaction);

    /// <inheritdoc />
    /// <remarks>The hash is looked up in any case, as <see cref="NormalizeTransactionHash"/> spells it.</remarks>
    public async ValueTask<ChainTransaction?> GetTransactionAsync(string transactionHash, CancellationToken cancellationToken = default)
    {
        var hash = NormalizeTransactionHash(transactionHash);
        await EnterRpcAsync("getTransaction", cancellationToken).ConfigureAwait(false);
        lock (_lock)
        {
            var tip = TipAt(_clock.GetCurrentInstant());
            Settle(tip);
            if (!_transactions.TryGetValue(hash, out var transaction))
            {
                return null;
            }

            if (transaction.Status is null || tip < transaction.Block)
            {
                return new ChainTransaction(
                    transaction.Hash, Chain, ChainTransactionStatus.Pending, 0, false, transaction.Memo, null, null,
                    [new ChainTransfer(transaction.Amount, transaction.From, transaction.To)]);
            }

            var confirmations = tip - transaction.Block + 1;
            var succeeded = transaction.Status == ChainTransactionStatus.Succeeded;
            return new ChainTransaction(
                transaction.Hash,
                Chain,
                transaction.Status.Value,
                confirmations,
                confirmations >= FinalityConfirmations,
                transaction.Memo,
                transaction.FeePaid,
                BlockInstant(transaction.Block),
                succeeded ? [new ChainTransfer(transaction.Amount, transaction.From, transaction.To)] : []);
        }
    }

    /// <inheritdoc />
    public async ValueTask<FeeEstimate> EstimateFeeAsync(Asset asset, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(asset);
        ChainUnits.EnsureOnChain(asset, Chain, "asset");
        await EnterRpcAsync("estimateFee", cancellationToken).ConfigureAwait(false);
        return new FeeEstimate(TransferFee, BlockTime);
    }

    /// <inheritdoc />
    /// <remarks>A failing probe call is itself the measurement: the sample is unhealthy rather than an exception.</remarks>
    public async ValueTask<ChainHealthSample> ProbeHealthAsync(CancellationToken cancellationToken = default)
    {
        var reachable = true;
        try
        {
            await EnterRpcAsync("probeHealth", cancellationToken).ConfigureAwait(false);
        }
        catch (PaymentsKitException ex) when (ex.Code == PaymentsKitErrorCodes.ChainUnavailable)
        {
            reachable = false;
        }

        var summary = _statistics.Summarize();
        decimal congestion;
        lock (_lock)
        {
            congestion = _congestion;
        }

        var now = _clock.GetCurrentInstant();
        return new ChainHealthSample(
            Chain,
            now,
            BlockTime * FinalityConfirmations,
            summary.ErrorRate,
            summary.P95Latency,
            congestion,
            TransferFee,
            Math.Max(TipAt(now), 0),
            reachable ? _thresholds.Classify(summary.ErrorRate, summary.P95Latency, congestion) : ChainHealthStatus.Unhealthy);
    }

    /// <inheritdoc />
    /// <exception cref="PaymentsKitException">
    /// <c>chain_unavailable</c> (transient) for an injected RPC error; <c>transaction_rejected</c> for a payload
    /// that is not a transfer for this chain, a hash that does not match it, an invalid address, an asset of
    /// another chain, a non-positive amount, an oversized memo, or a max fee below the chain's fee.
    /// </exception>
    public async ValueTask<BroadcastResult> BroadcastAsync(SignedTransaction transaction, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(transaction);
        await EnterRpcAsync("broadcast", cancellationToken).ConfigureAwait(false);
        var hash = SimulatedTransferPayload.Hash(transaction.Payload.Span);
        var payload = Check(transaction, hash);
        lock (_lock)
        {
            var now = _clock.GetCurrentInstant();
            Settle(TipAt(now));
            if (_transactions.ContainsKey(hash))
            {
                return new BroadcastResult(hash, AlreadyKnown: true);
            }

            var record = new SimulatedTransaction(
                hash, payload.From, payload.To, payload.Amount, payload.Memo, TransferFee, TipAt(now) + 1, ++_sequence, DecideFate(), Incoming: false);
            _transactions.Add(hash, record);
            _unsettled.Add(record);
            return new BroadcastResult(hash, AlreadyKnown: false);
        }
    }

    private SimulatedTransferPayload Check(SignedTransaction transaction, string hash)
    {
        if (transaction.Chain != Chain)
        {
            throw Rejected(hash, string.Create(CultureInfo.InvariantCulture, $"it was signed for {transaction.Chain}, not {Chain}"));
        }

        if (transaction.Hash is not null && !string.Equals(transaction.Hash, hash, StringComparison.OrdinalIgnoreCase))
        {
            throw Rejected(hash, $"its stated hash {transaction.Hash} does not match its payload");
        }

        var payload = SimulatedTransferPayload.TryDecode(transaction.Payload, out var problem)
            ?? throw Rejected(hash, problem!);
        if (payload.Chain != Chain)
        {
            throw Rejected(hash, string.Create(CultureInfo.InvariantCulture, $"its payload is for {payload.Chain}, not {Chain}"));
        }

        if (!_codec.TryNormalize(payload.From, out var from, out var fromProblem))
        {
            throw Rejected(hash, $"sender '{payload.From}' is invalid: {fromProblem}");
        }

        if (!_codec.TryNormalize(payload.To, out var to, out var toProblem))
        {
            throw Rejected(hash, $"recipient '{payload.To}' is invalid: {toProblem}");
        }

        if (payload.Amount.Asset.Chain is { } assetChain && assetChain != Chain)
        {
            throw Rejected(hash, string.Create(CultureInfo.InvariantCulture, $"asset {payload.Amount.Asset.Code} lives on {assetChain}"));
        }

        if (!payload.Amount.IsPositive)
        {
            throw Rejected(hash, $"amount {payload.Amount} is not positive");
        }

        if (MemoProblem(payload.Memo) is { } memoProblem)
        {
            throw Rejected(hash, "memo " + memoProblem);
        }

        if (payload.MaxFee.Asset != NativeAsset || payload.MaxFee < TransferFee)
        {
            throw Rejected(hash, $"max fee {payload.MaxFee} does not cover the fee {TransferFee}");
        }

        return payload with { From = from, To = to };
    }

    private async ValueTask EnterRpcAsync(string operation, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (_latency > Duration.Zero)
        {
            await Task.Delay(_latency.ToTimeSpan(), cancellationToken).ConfigureAwait(false);
        }

        bool fail;
        lock (_lock)
        {
            if (_failNextRpcCalls > 0)
            {
                _failNextRpcCalls--;
                fail = true;
            }
            else
            {
                fail = Draw(_rpcErrorRate);
            }
        }

        _statistics.Record(!fail, _latency);
        if (fail)
        {
            throw new PaymentsKitException(
                PaymentsKitErrorCodes.ChainUnavailable,
                $"Simulated RPC error on {Chain} during {operation}.",
                new Dictionary<string, object?> { ["chain"] = Chain.Value, ["operation"] = operation },
                isTransient: true);
        }
    }

    private Fate DecideFate()
    {
        if (_dropNextBroadcasts > 0)
        {
            _dropNextBroadcasts--;
            return Fate.Drop;
        }

        if (_failNextBroadcasts > 0)
        {
            _failNextBroadcasts--;
            return Fate.Fail;
        }

        if (Draw(_dropRate))
        {
            return Fate.Drop;
        }

        return Draw(_failRate) ? Fate.Fail : Fate.Include;
    }

    // Draws only for a non-zero rate, so turning one fault on does not shift the others' draws.
    private bool Draw(decimal rate) =>
        rate > 0m && _random.Next(DrawResolution) < (int)(rate * DrawResolution);

    private void Settle(long tip)
    {
        if (_unsettled.Count == 0)
        {
            return;
        }

        var due = _unsettled.Where(t => t.Block <= tip).OrderBy(t => t.Block).ThenBy(t => t.Sequence).ToList();
        foreach (var transaction in due)
        {
            if (transaction.Fate == Fate.Drop)
            {
                _transactions.Remove(transaction.Hash);
            }
            else
            {
                Apply(transaction);
            }

            _unsettled.Remove(transaction);
        }
    }

    private void Apply(SimulatedTransaction transaction)
    {
        if (transaction.Incoming)
        {
            Credit(transaction.To, transaction.Amount);
            transaction.Settle(ChainTransactionStatus.Succeeded, transaction.Fee);
            return;
        }

        var fee = transaction.Fee;
        var nativeBalance = Balance(transaction.From, NativeAsset);
        var canPayFee = nativeBalance >= fee.Amount;
        var sameAsset = transaction.Amount.Asset == NativeAsset;
        var covered = transaction.Fate == Fate.Include && (sameAsset
            ? nativeBalance >= fee.Amount + transaction.Amount.Amount
            : canPayFee && Balance(transaction.From, transaction.Amount.Asset) >= transaction.Amount.Amount);
        if (covered)
        {
            Credit(transaction.From, -fee);
            Credit(transaction.From, -transaction.Amount);
            Credit(transaction.To, transaction.Amount);
            transaction.Settle(ChainTransactionStatus.Succeeded, fee);
        }
        else if (canPayFee)
        {
            Credit(transaction.From, -fee);
            transaction.Settle(ChainTransactionStatus.Failed, fee);
        }
        else
        {
            transaction.Settle(ChainTransactionStatus.Failed, Money.Zero(NativeAsset));
        }
    }

    private decimal Balance(string address, Asset asset) =>
        _balances.TryGetValue((address, asset), out var balance) ? balance : 0m;

    private void Credit(string address, Money amount)
    {
        var key = (address, amount.Asset);
        _balances[key] = Balance(address, amount.Asset) + amount.Amount;
    }

    private long TipAt(Instant now)
    {
        var elapsed = (now - Genesis).BclCompatibleTicks;
        return elapsed >= 0 ? elapsed / _blockTicks : -1 - ((-elapsed - 1) / _blockTicks);
    }

    private Instant BlockInstant(long block) => Genesis + Duration.FromTicks(block * _blockTicks);

    private string? MemoProblem(string? memo)
    {
        if (memo is null)
        {
            return null;
        }

        var bytes = Encoding.UTF8.GetByteCount(memo);
        return bytes > _maxMemoBytes
            ? string.Create(CultureInfo.InvariantCulture, $"has {bytes} UTF-8 bytes, at most {_maxMemoBytes} are allowed")
            : null;
    }

    private void RequirePositive(Money amount, string field)
    {
        ChainUnits.EnsureOnChain(amount.Asset, Chain, field + ".asset");
        if (!amount.IsPositive)
        {
            throw new PaymentsKitException(
                PaymentsKitErrorCodes.AmountOutOfRange,
                $"{field} must be positive (value: '{amount}').",
                new Dictionary<string, object?> { ["field"] = field, ["value"] = amount.ToString() });
        }
    }

    private PaymentsKitException Rejected(string hash, string reason) => ChainErrors.TransactionRejected(Chain, hash, reason);

    private enum Fate
    {
        Include,
        Drop,
        Fail,
    }

    private sealed record SimulatedTransaction(
        string Hash,
        string From,
        string To,
        Money Amount,
        string? Memo,
        Money Fee,
        long Block,
        long Sequence,
        Fate Fate,
        bool Incoming)
    {
        public ChainTransactionStatus? Status { get; private set; }

        public Money? FeePaid { get; private set; }

        public void Settle(ChainTransactionStatus status, Money feePaid)
        {
            Status = status;
            FeePaid = feePaid;
        }
    }
}
