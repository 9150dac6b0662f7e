using System.Globalization;
using NodaTime;

namespace PaymentsKit.Payouts;

/// <summary>Settings of the <see cref="SimulatedPayoutExecutor"/>.</summary>
public sealed class SimulatedPayoutExecutorOptions
{
    /// <summary>The chain whose batch limit applies (<see cref="PayoutBatchPlanner.MaxPerBatch"/>). Default Hedera.</summary>
    public ChainId Chain { get; set; } = ChainId.Hedera;

    /// <summary>Overrides the chain's batch limit (at least 1).</summary>
    public int? MaxTransfersPerBatch { get; set; }

    /// <summary>The simulated payer account, shown in transaction ids. Default 1001.</summary>
    public long PayerAccount { get; set; } = 1001;

    /// <summary>Accounts every payment to fails (as if not associated with the payment token).</summary>
    public ISet<string> FailingAccounts { get; } = new HashSet<string>(StringComparer.Ordinal);

    /// <summary>
    /// Percent (0–100) of holder payments that fail on a given execution, chosen deterministically from the
    /// batch key and the account, so a retry in a new batch may succeed. Default 0.
    /// </summary>
    public int TransientFailurePercent { get; set; }

    /// <summary>Whether one failing holder fails the whole batch, like an atomic Hedera transfer. Default false.</summary>
    public bool AtomicBatches { get; set; }
}

/// <summary>One payment the simulated chain made.</summary>
/// <param name="IdempotencyKey">The batch it belonged to.</param>
/// <param name="TransactionId">The simulated transaction.</param>
/// <param name="AccountId">Who was paid.</param>
/// <param name="Amount">How much, in the payment asset's smallest unit.</param>
public readonly record struct SimulatedPayment(string IdempotencyKey, string TransactionId, string AccountId, long Amount);

/// <summary>
/// A deterministic in-process <see cref="IPayoutExecutor"/> for the sample and tests, with configurable partial
/// failures. It keeps the <see cref="IPayoutExecutor"/> idempotency contract: a batch key executed before
/// returns its first outcome and pays nobody again. Thread-safe.
/// </summary>
public sealed class SimulatedPayoutExecutor : IPayoutExecutor
{
    private readonly IClock _clock;
    private readonly SimulatedPayoutExecutorOptions _options;
    private readonly Lock _lock = new();
    private readonly Dictionary<string, PayoutBatchResult> _outcomes = new(StringComparer.Ordinal);
    private readonly List<SimulatedPayment> _payments = [];
    private long _sequence;

    /// <summary>Creates the executor.</summary>
    /// <param name="clock">Stamps transaction ids.</param>
    /// <param name="options">Failure settings; defaults when null.</param>
    /// <exception cref="PaymentsKitException"><c>invalid_argument</c> for a batch limit below 1 or a percentage outside 0–100.</exception>
    public SimulatedPayoutExecutor(IClock clock, SimulatedPayoutExecutorOptions? options = null)
    {
        _clock = clock ?? throw new ArgumentNullException(nameof(clock));
        _options = options ?? new SimulatedPayoutExecutorOptions();
        if (_options.MaxTransfersPerBatch is < 1)
        {
            throw PaymentsKitException.InvalidArgument("max_transfers_per_batch", _options.MaxTransfersPerBatch, "must be at least 1");
        }

        if (_options.TransientFailurePercent is < 0 or > 100)
        {
            throw PaymentsKitException.InvalidArgument("transient_failure_percent", _options.TransientFailurePercent, "must be between 0 and 100");
        }

        MaxTransfersPerBatch = _options.MaxTransfersPerBatch ?? PayoutBatchPlanner.MaxPerBatch(_options.Chain);
    }

    /// <inheritdoc />
    public int MaxTransfersPerBatch { get; }

    /// <summary>Every payment made so far, in order.</summary>
    public IReadOnlyList<SimulatedPayment> Payments
    {
        get
        {
            lock (_lock)
            {
                return [.. _payments];
            }
        }
    }

    /// <summary>How many distinct batch keys were executed.</summary>
    public int ExecutedBatches
    {
        get
        {
            lock (_lock)
            {
                return _outcomes.Count;
            }
        }
    }

    /// <inheritdoc />
    public ValueTask<PayoutBatchResult> ExecuteAsync(PayoutBatchRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        cancellationToken.ThrowIfCancellationRequested();
        if (request.Transfers.Count > MaxTransfersPerBatch)
        {
            throw PaymentsKitException.InvalidArgument(
                "transfers", request.Transfers.Count, string.Create(CultureInfo.InvariantCulture, $"must hold at most {MaxTransfersPerBatch} transfers on {_options.Chain}"));
        }

        lock (_lock)
        {
            if (_outcomes.TryGetValue(request.IdempotencyKey, out var earlier))
            {
                return ValueTask.FromResult(earlier);
            }

            var now = _clock.GetCurrentInstant();
            var transactionId = string.Create(
                CultureInfo.InvariantCulture,
                $"0.0.{_options.PayerAccount}@{now.ToUnixTimeSeconds()}.{(now.ToUnixTimeTicks() % NodaConstants.TicksPerSecond * 100) + (++_sequence % 100):D9}");
            var failed = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var transfer in request.Transfers)
            {
                if (_options.FailingAccounts.Contains(transfer.AccountId))
                {
                    failed[transfer.AccountId] = "TOKEN_NOT_ASSOCIATED_TO_ACCOUNT";
                }
                else if (_options.TransientFailurePercent > 0 && Roll(request.IdempotencyKey, transfer.AccountId) < _options.TransientFailurePercent)
                {
                    failed[transfer.AccountId] = "BUSY";
                }
            }

            PayoutBatchResult result;
            if (_options.AtomicBatches && failed.Count > 0)
            {
                var cause = failed.First();
                result = PayoutBatchResult.AllFailed(request, transactionId, $"batch rejected: {cause.Value} for {cause.Key}");
            }
            else
            {
                foreach (var transfer in request.Transfers)
                {
                    if (!failed.ContainsKey(transfer.AccountId))
                    {
                        _payments.Add(new SimulatedPayment(request.IdempotencyKey, transactionId, transfer.AccountId, transfer.Amount));
                    }
                }

                result = new PayoutBatchResult(transactionId, failed);
            }

            _outcomes[request.IdempotencyKey] = result;
            return ValueTask.FromResult(result);
        }
    }

    // FNV-1a: stable across processes, unlike string.GetHashCode.
    private static int Roll(string key, string account)
    {
        var hash = 14695981039346656037UL;
        foreach (var c in string.Concat(key, "\n", account))
        {
            hash = unchecked((hash ^ c) * 1099511628211UL);
        }

        return (int)(hash % 100);
    }
}
