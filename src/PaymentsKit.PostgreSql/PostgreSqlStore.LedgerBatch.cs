using System.Runtime.InteropServices;
using Npgsql;
using NpgsqlTypes;
using PaymentsKit.Ledger;

namespace PaymentsKit.PostgreSql;

public sealed partial class PostgreSqlStore
{
    /// <summary>
    /// One flusher's reusable means of sending a batch (decision 0022): a connection object (opened from the pool for each
    /// batch and closed after it, as before), the prepared command with its 23 typed parameters, and the lists they send,
    /// cleared and refilled for every batch, so a batch allocates no arrays or parameters. A flusher holds one while it
    /// runs and gives it back when it stops, so at most <see cref="LedgerFlushers"/> exist and none is used by two at once.
    /// </summary>
    private sealed class LedgerBatch : IDisposable
    {
        private readonly List<string> _kinds = [];
        private readonly List<Guid> _tenants = [];
        private readonly List<string> _tenantRefs = [];
        private readonly List<Guid> _transactionIds = [];
        private readonly List<string> _transactionRefs = [];
        private readonly List<Guid?> _transferIds = [];
        private readonly List<string?> _transferRefs = [];
        private readonly List<Guid?> _debitAccounts = [];
        private readonly List<Guid?> _creditAccounts = [];
        private readonly List<decimal?> _amounts = [];
        private readonly List<string?> _assets = [];
        private readonly List<int?> _scales = [];
        private readonly List<string?> _chains = [];
        private readonly List<string?> _entryTypes = [];
        private readonly List<string?> _descriptions = [];
        private readonly List<string?> _metadata = [];
        private readonly List<string?> _assetChains = [];
        private readonly List<string> _nows = [];
        private readonly List<int> _postingCounts = [];
        private readonly List<Guid> _postingAccounts = [];
        private readonly List<string> _postingSides = [];
        private readonly List<decimal> _postingAmounts = [];
        private readonly NpgsqlParameter<DateTime> _now = new();
        private MerchantId _lastTenant;
        private string? _lastTenantRef;

        public LedgerBatch(NpgsqlDataSource dataSource)
        {
            Connection = dataSource.CreateConnection();
            Command = new NpgsqlCommand(BatchSql, Connection);
            var parameters = Command.Parameters;
            parameters.Add(new NpgsqlParameter<List<string>> { TypedValue = _kinds });
            parameters.Add(new NpgsqlParameter<List<Guid>> { TypedValue = _tenants });
            parameters.Add(new NpgsqlParameter<List<string>> { TypedValue = _tenantRefs });
            parameters.Add(new NpgsqlParameter<List<Guid>> { TypedValue = _transactionIds });
            parameters.Add(new NpgsqlParameter<List<string>> { TypedValue = _transactionRefs });
            parameters.Add(new NpgsqlParameter<List<Guid?>> { TypedValue = _transferIds });
            parameters.Add(new NpgsqlParameter<List<string?>> { TypedValue = _transferRefs });
            parameters.Add(new NpgsqlParameter<List<Guid?>> { TypedValue = _debitAccounts });
            parameters.Add(new NpgsqlParameter<List<Guid?>> { TypedValue = _creditAccounts });
            parameters.Add(new NpgsqlParameter<List<decimal?>> { TypedValue = _amounts });
            parameters.Add(new NpgsqlParameter<List<string?>> { TypedValue = _assets });
            parameters.Add(new NpgsqlParameter<List<int?>> { TypedValue = _scales });
            parameters.Add(new NpgsqlParameter<List<string?>> { TypedValue = _chains });
            parameters.Add(new NpgsqlParameter<List<string?>> { TypedValue = _entryTypes });
            parameters.Add(new NpgsqlParameter<List<string?>> { TypedValue = _descriptions });
            parameters.Add(new NpgsqlParameter<List<string?>> { TypedValue = _metadata, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Jsonb });
            parameters.Add(new NpgsqlParameter<List<string?>> { TypedValue = _assetChains, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Jsonb });
            parameters.Add(new NpgsqlParameter<List<string>> { TypedValue = _nows });
            parameters.Add(_now);
            parameters.Add(new NpgsqlParameter<List<int>> { TypedValue = _postingCounts });
            parameters.Add(new NpgsqlParameter<List<Guid>> { TypedValue = _postingAccounts });
            parameters.Add(new NpgsqlParameter<List<string>> { TypedValue = _postingSides });
            parameters.Add(new NpgsqlParameter<List<decimal>> { TypedValue = _postingAmounts });
        }

        /// <summary>The calls of the batch being sent; empty between batches.</summary>
        public List<LedgerCall> Calls { get; private set; } = [];

        public NpgsqlConnection Connection { get; }

        public NpgsqlCommand Command { get; }

        /// <summary>Moves up to <paramref name="limit"/> queued calls (the oldest) into <see cref="Calls"/>; under the queue's lock.</summary>
        public void Take(ref List<LedgerCall> queue, int limit)
        {
            if (queue.Count <= limit)
            {
                // Swap: the queue goes out whole, and this batch's emptied list becomes the queue.
                (Calls, queue) = (queue, Calls);
            }
            else
            {
                Calls.AddRange(CollectionsMarshal.AsSpan(queue)[..limit]);
                queue.RemoveRange(0, limit);
            }
        }

        /// <summary>Sets the parameters to <paramref name="calls"/>, one array element per call (postings flattened), and nothing else.</summary>
        public void Fill(List<LedgerCall> calls, NodaTime.Instant now)
        {
            Clear();
            foreach (var call in calls)
            {
                _kinds.Add(SnakeCaseNames<LedgerCallKind>.Of(call.Kind));
                _tenants.Add(call.TenantId.Value);
                _tenantRefs.Add(TenantRef(call.TenantId));
                _transactionIds.Add(call.TransactionId.Value);
                _transactionRefs.Add(call.TransactionId.ToString());
                _transferIds.Add(call.TransferId);
                _transferRefs.Add(call.TransferRef);
                _debitAccounts.Add(call.DebitAccount);
                _creditAccounts.Add(call.CreditAccount);
                _amounts.Add(call.Amount);
                _assets.Add(call.Asset);
                _scales.Add(call.Scale);
                _chains.Add(call.Chain);
                _entryTypes.Add(call.EntryType);
                _descriptions.Add(call.Description);
                _metadata.Add(call.Metadata);
                _assetChains.Add(call.AssetChains);
                _nows.Add(IsoInstant.Format(call.Now));
                var postings = call.Postings;
                _postingCounts.Add(postings?.Count ?? 0);
                if (postings is not null)
                {
                    foreach (var posting in postings)
                    {
                        _postingAccounts.Add(posting.AccountId.Value);
                        _postingSides.Add(SnakeCaseNames<LedgerSide>.Of(posting.Side));
                        _postingAmounts.Add(posting.Amount.Amount);
                    }
                }
            }

            _now.TypedValue = now.ToDateTimeUtc();
        }

        /// <inheritdoc />
        public void Dispose()
        {
            Command.Dispose();
            Connection.Dispose();
        }

        private void Clear()
        {
            _kinds.Clear();
            _tenants.Clear();
            _tenantRefs.Clear();
            _transactionIds.Clear();
            _transactionRefs.Clear();
            _transferIds.Clear();
            _transferRefs.Clear();
            _debitAccounts.Clear();
            _creditAccounts.Clear();
            _amounts.Clear();
            _assets.Clear();
            _scales.Clear();
            _chains.Clear();
            _entryTypes.Clear();
            _descriptions.Clear();
            _metadata.Clear();
            _assetChains.Clear();
            _nows.Clear();
            _postingCounts.Clear();
            _postingAccounts.Clear();
            _postingSides.Clear();
            _postingAmounts.Clear();
        }

        /// <summary>The tenant's id as text; the last one is kept, as a process usually moves one tenant's money at a time.</summary>
        private string TenantRef(MerchantId tenantId)
        {
            if (_lastTenantRef is null || _lastTenant != tenantId)
            {
                _lastTenantRef = tenantId.ToString();
                _lastTenant = tenantId;
            }

            return _lastTenantRef;
        }
    }
}
