using System.Collections.Concurrent;
using NodaTime;

namespace PaymentsKit.Payouts;

/// <summary>
/// The embedded <see cref="IHolderSnapshotStore"/>: each snapshot as arrays sorted by account, guarded by
/// its own lock. Lost when the process ends, like the in-memory store.
/// </summary>
public sealed class InMemoryHolderSnapshotStore : IHolderSnapshotStore
{
    private readonly ConcurrentDictionary<(Guid Asset, Guid Distribution), Snapshot> _snapshots = new();

    /// <inheritdoc />
    public ValueTask ImportAsync(
        HolderSnapshotKey key,
        ReadOnlyMemory<HolderBalance> holders,
        ReadOnlyMemory<long> amounts,
        Instant now,
        IProgress<HolderImportProgress>? progress,
        CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (amounts.Length != holders.Length)
        {
            throw PaymentsKitException.InvalidArgument("amounts", amounts.Length, "must have one amount per holder");
        }

        // No rows, nothing to keep, as PostgreSQL keeps none: a snapshot registered here would make the distribution look as
        // if it had holders, refusing the import that an empty one left un-noted on the distribution (cancelled in between).
        var snapshot = holders.Length == 0 ? null : new Snapshot(key.TenantId, holders.Span, amounts.Span);
        if (snapshot is not null && !_snapshots.TryAdd((key.AssetId.Value, key.DistributionId.Value), snapshot))
        {
            throw new PaymentsKitException(
                PaymentsKitErrorCodes.DuplicateKey,
                $"Distribution {key.DistributionId} already has holders.",
                new Dictionary<string, object?> { ["collection"] = "holder", ["key"] = "distribution", ["value"] = key.DistributionId.ToString() });
        }

        progress?.Report(new HolderImportProgress(holders.Length, holders.Length));
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public ValueTask<HolderSnapshotTotals> GetTotalsAsync(HolderSnapshotKey key, int maxAttempts, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return ValueTask.FromResult(Find(key)?.Totals(maxAttempts) ?? HolderSnapshotTotals.Empty);
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<HolderPayment>> ListAsync(HolderSnapshotKey key, string? afterAccount, int limit, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        PayoutValidation.Limit(limit);
        return ValueTask.FromResult(Find(key)?.List(afterAccount, limit) ?? []);
    }

    /// <inheritdoc />
    public ValueTask<ClaimedBatch?> ClaimBatchAsync(
        HolderSnapshotKey key, string? afterAccount, int limit, int maxAttempts, Instant now, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (limit < 1)
        {
            throw PaymentsKitException.InvalidArgument("limit", limit, "must be at least 1");
        }

        return ValueTask.FromResult(Find(key)?.Claim(afterAccount, limit, maxAttempts));
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<ClaimedBatch>> ListSubmittedAsync(HolderSnapshotKey key, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return ValueTask.FromResult(Find(key)?.Submitted() ?? []);
    }

    /// <inheritdoc />
    public ValueTask RecordOutcomesAsync(
        HolderSnapshotKey key, int batchNumber, string? transactionId, IReadOnlyList<HolderOutcome> outcomes, Instant now, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(outcomes);
        cancellationToken.ThrowIfCancellationRequested();
        Find(key)?.Record(batchNumber, transactionId, outcomes);
        return ValueTask.CompletedTask;
    }

    private Snapshot? Find(HolderSnapshotKey key) =>
        _snapshots.TryGetValue((key.AssetId.Value, key.DistributionId.Value), out var snapshot) && snapshot.Tenant == key.TenantId ? snapshot : null;

    /// <summary>One distribution's holders, sorted by account (ordinal).</summary>
    private sealed class Snapshot
    {
        private readonly Lock _lock = new();
        private readonly string[] _accounts;
        private readonly long[] _balances;
        private readonly long[] _amounts;
        private readonly HolderPaymentState[] _states;
        private readonly int[] _batches;
        private readonly int[] _attempts;
        private readonly string?[] _transactions;
        private readonly string?[] _errors;
        private readonly Dictionary<string, int> _index;
        private int _lastBatch;

        public Snapshot(MerchantId tenant, ReadOnlySpan<HolderBalance> holders, ReadOnlySpan<long> amounts)
        {
            Tenant = tenant;
            var count = holders.Length;
            var order = new int[count];
            _accounts = new string[count];
            for (var i = 0; i < count; i++)
            {
                order[i] = i;
                _accounts[i] = holders[i].AccountId;
            }

            Array.Sort(_accounts, order, StringComparer.Ordinal);
            _balances = new long[count];
            _amounts = new long[count];
            _index = new Dictionary<string, int>(count, StringComparer.Ordinal);
            for (var i = 0; i < count; i++)
            {
                if (!_index.TryAdd(_accounts[i], i))
                {
                    throw new PaymentsKitException(
                        PaymentsKitErrorCodes.DuplicateKey,
                        $"Account '{_accounts[i]}' appears twice in the holder snapshot.",
                        new Dictionary<string, object?> { ["collection"] = "holder", ["key"] = "account_id", ["value"] = _accounts[i] });
                }

                _balances[i] = holders[order[i]].Balance;
                _amounts[i] = amounts[order[i]];
            }

            _states = new HolderPaymentState[count];
            _batches = new int[count];
            _attempts = new int[count];
            _transactions = new string?[count];
            _errors = new string?[count];
        }

        public MerchantId Tenant { get; }

        public HolderSnapshotTotals Totals(int maxAttempts)
        {
            lock (_lock)
            {
                int nothingDue = 0, pending = 0, submitted = 0, paid = 0, failed = 0, retryable = 0;
                long balance = 0, allocated = 0, paidUnits = 0;
                for (var i = 0; i < _accounts.Length; i++)
                {
                    balance += _balances[i];
                    allocated += _amounts[i];
                    if (_amounts[i] == 0)
                    {
                        nothingDue++;
                        continue;
                    }

                    switch (_states[i])
                    {
                        case HolderPaymentState.Pending:
                            pending++;
                            break;
                        case HolderPaymentState.Submitted:
                            submitted++;
                            break;
                        case HolderPaymentState.Paid:
                            paid++;
                            paidUnits += _amounts[i];
                            break;
                        default:
                            failed++;
                            retryable += _attempts[i] < maxAttempts ? 1 : 0;
                            break;
                    }
                }

                return new HolderSnapshotTotals(_accounts.Length, nothingDue, pending, submitted, paid, failed, retryable, balance, allocated, paidUnits, _lastBatch);
            }
        }

        public IReadOnlyList<HolderPayment> List(string? afterAccount, int limit)
        {
            lock (_lock)
            {
                var rows = new List<HolderPayment>(Math.Min(limit, _accounts.Length));
                for (var i = Start(afterAccount); i < _accounts.Length && rows.Count < limit; i++)
                {
                    rows.Add(new HolderPayment(
                        _accounts[i], _balances[i], _amounts[i], _states[i], _batches[i] == 0 ? null : _batches[i], _attempts[i], _transactions[i], _errors[i]));
                }

                return rows;
            }
        }

        public ClaimedBatch? Claim(string? afterAccount, int limit, int maxAttempts)
        {
            lock (_lock)
            {
                var claimed = new List<PayoutTransfer>(Math.Min(limit, _accounts.Length));
                var number = _lastBatch + 1;
                for (var i = Start(afterAccount); i < _accounts.Length && claimed.Count < limit; i++)
                {
                    if (_amounts[i] > 0
                        && (_states[i] == HolderPaymentState.Pending || (_states[i] == HolderPaymentState.Failed && _attempts[i] < maxAttempts)))
                    {
                        _states[i] = HolderPaymentState.Submitted;
                        _batches[i] = number;
                        _attempts[i]++;
                        claimed.Add(new PayoutTransfer(_accounts[i], _amounts[i]));
                    }
                }

                if (claimed.Count == 0)
                {
                    return null;
                }

                _lastBatch = number;
                return new ClaimedBatch(number, claimed);
            }
        }

        public IReadOnlyList<ClaimedBatch> Submitted()
        {
            lock (_lock)
            {
                var batches = new SortedDictionary<int, List<PayoutTransfer>>();
                for (var i = 0; i < _accounts.Length; i++)
                {
                    if (_states[i] == HolderPaymentState.Submitted)
                    {
                        if (!batches.TryGetValue(_batches[i], out var transfers))
                        {
                            batches[_batches[i]] = transfers = [];
                        }

                        transfers.Add(new PayoutTransfer(_accounts[i], _amounts[i]));
                    }
                }

                return [.. batches.Select(b => new ClaimedBatch(b.Key, b.Value))];
            }
        }

        public void Record(int batchNumber, string? transactionId, IReadOnlyList<HolderOutcome> outcomes)
        {
            lock (_lock)
            {
                foreach (var outcome in outcomes)
                {
                    if (_index.TryGetValue(outcome.AccountId, out var i) && _states[i] == HolderPaymentState.Submitted && _batches[i] == batchNumber)
                    {
                        _states[i] = outcome.Error is null ? HolderPaymentState.Paid : HolderPaymentState.Failed;
                        _transactions[i] = transactionId;
                        _errors[i] = outcome.Error;
                    }
                }
            }
        }

        /// <summary>The index of the first account after <paramref name="afterAccount"/>.</summary>
        private int Start(string? afterAccount)
        {
            if (afterAccount is null)
            {
                return 0;
            }

            var found = Array.BinarySearch(_accounts, afterAccount, StringComparer.Ordinal);
            return found >= 0 ? found + 1 : ~found;
        }
    }
}
