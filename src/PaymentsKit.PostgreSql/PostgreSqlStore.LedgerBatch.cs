using System.Collections;
using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using NodaTime;
using Npgsql;
using NpgsqlTypes;
using PaymentsKit.Ledger;

namespace PaymentsKit.PostgreSql;

public sealed partial class PostgreSqlStore
{
    private const string WriteSql =
        "SELECT paymentskit_ledger_write($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, "
        + "$21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, $32, $33, $34, $35, $36, $37, $38, $39, $40, $41, $42, $43, $44, $45, "
        + "$46)";

    private const string AccountsSql =
        "SELECT id, tenant_id, ref, flags, metadata ->> 'chain', asset, updated_instant, debits_posted, credits_posted, debits_pending, "
        + "credits_pending, entry_count, version FROM ledger_accounts WHERE id = ANY ($1)";

    private const string TransfersSql =
        "SELECT id, tenant_id, ref, state, reference, expires_at, amount, scale(amount), asset, debit_account_id, credit_account_id, version "
        + "FROM ledger_transfers WHERE id = ANY ($1)";

    /// <summary>
    /// One flusher's reusable means of planning and sending a batch (decisions 0022 and 0024): a connection object (opened
    /// from the pool for each batch and closed after it), the prepared write command with its typed parameters, the read
    /// commands, and the lists and copies a plan fills, cleared for every batch. A flusher holds one while it runs and gives
    /// it back when it stops, so at most <see cref="LedgerFlushers"/> exist and none is used by two at once.
    /// </summary>
    private sealed class LedgerBatch : IDisposable
    {
        private static readonly string[] Sides = ["debit", "credit"];

        private readonly NpgsqlParameter<DateTime> _rowTime = new();

        // The changed accounts.
        private readonly List<Guid> _accountIds = [];
        private readonly List<long> _expectedVersions = [];
        private readonly List<long> _versions = [];
        private readonly List<decimal> _debitsPosted = [];
        private readonly List<decimal> _creditsPosted = [];
        private readonly List<decimal> _debitsPending = [];
        private readonly List<decimal> _creditsPending = [];
        private readonly List<long> _entryCounts = [];
        private readonly List<string> _updated = [];

        // The accepted operations.
        private readonly List<Guid> _transactionIds = [];
        private readonly List<Guid> _tenants = [];
        private readonly List<string> _tenantRefs = [];
        private readonly List<string> _transactionRefs = [];
        private readonly List<string> _kinds = [];
        private readonly List<string?> _types = [];
        private readonly List<string?> _transferRefs = [];
        private readonly List<string> _ats = [];
        private readonly List<string> _assets = [];
        private readonly List<string?> _descriptions = [];
        private readonly List<string> _metadata = [];
        private readonly List<int> _firstEntries = [];
        private readonly List<int> _lastEntries = [];

        // The entries.
        private readonly List<int> _entryOperations = [];
        private readonly List<Guid> _entryIds = [];
        private readonly List<string> _entryAccounts = [];
        private readonly List<long> _entrySequences = [];
        private readonly List<string> _entrySides = [];
        private readonly List<decimal> _entryPosted = [];
        private readonly List<decimal> _entryPending = [];
        private readonly List<decimal> _entryAmounts = [];
        private readonly List<decimal> _entryDebitsPosted = [];
        private readonly List<decimal> _entryCreditsPosted = [];
        private readonly List<decimal> _entryDebitsPending = [];
        private readonly List<decimal> _entryCreditsPending = [];
        private readonly List<string?> _entryChains = [];

        // The reservations.
        private readonly List<int> _reservationOperations = [];
        private readonly List<Guid> _reservationIds = [];
        private readonly List<string> _reservationRefs = [];
        private readonly List<decimal> _reservationZeros = [];

        // The resolutions.
        private readonly List<Guid> _resolvedIds = [];
        private readonly List<long> _resolvedVersions = [];
        private readonly List<int> _resolvedOperations = [];
        private readonly List<string> _resolvedStates = [];
        private readonly List<decimal> _resolvedPosted = [];
        private readonly List<decimal> _resolvedReleased = [];

        // The plan's copies of the rows it touches, and per resolution the call it answers.
        private readonly Dictionary<Guid, LedgerAccountState> _accounts = [];
        private readonly Dictionary<Guid, LedgerTransferState?> _transfers = [];
        private readonly List<LedgerTransferState> _reserved = [];
        private readonly List<int> _resolvedCalls = [];
        private readonly List<LedgerAccountState> _touched = new(4);
        private readonly List<(decimal DebitsPosted, decimal CreditsPosted, decimal DebitsPending, decimal CreditsPending, long EntryCount)> _before = new(4);
        private readonly List<Guid> _missing = [];

        // The rows this attempt plans on, taken from the kept sets or read (so a row the kept sets drop meanwhile, when full
        // or after the other flusher's stale plan, is still there), the ids of those read now, and of kept accounts whose
        // balances declined an operation (possibly stale: read again before the answer is null).
        private readonly Dictionary<Guid, LedgerAccountState> _heldAccounts = [];
        private readonly Dictionary<Guid, LedgerTransferState> _heldTransfers = [];
        private readonly HashSet<Guid> _readNow = [];
        private readonly HashSet<Guid> _declinedOnKept = [];

        // Every list a plan fills (cleared before the next), and those of the entries (cut back when an operation is declined).
        private readonly IList[] _lists;
        private readonly IList[] _entryLists;
        private string?[] _answers = [];
        private MerchantId _lastTenant;
        private string? _lastTenantRef;

        public LedgerBatch(NpgsqlDataSource dataSource)
        {
            Connection = dataSource.CreateConnection();
            Command = new NpgsqlCommand(WriteSql, Connection);
            var parameters = Command.Parameters;
            parameters.Add(_rowTime);
            Add(parameters, _accountIds);
            Add(parameters, _expectedVersions);
            Add(parameters, _versions);
            Add(parameters, _debitsPosted);
            Add(parameters, _creditsPosted);
            Add(parameters, _debitsPending);
            Add(parameters, _creditsPending);
            Add(parameters, _entryCounts);
            Add(parameters, _updated);
            Add(parameters, _transactionIds);
            Add(parameters, _tenants);
            Add(parameters, _tenantRefs);
            Add(parameters, _transactionRefs);
            Add(parameters, _kinds);
            Add(parameters, _types);
            Add(parameters, _transferRefs);
            Add(parameters, _ats);
            Add(parameters, _assets);
            Add(parameters, _descriptions);
            parameters.Add(new NpgsqlParameter<List<string>> { TypedValue = _metadata, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Jsonb });
            Add(parameters, _firstEntries);
            Add(parameters, _lastEntries);
            Add(parameters, _entryOperations);
            Add(parameters, _entryIds);
            Add(parameters, _entryAccounts);
            Add(parameters, _entrySequences);
            Add(parameters, _entrySides);
            Add(parameters, _entryPosted);
            Add(parameters, _entryPending);
            Add(parameters, _entryAmounts);
            Add(parameters, _entryDebitsPosted);
            Add(parameters, _entryCreditsPosted);
            Add(parameters, _entryDebitsPending);
            Add(parameters, _entryCreditsPending);
            Add(parameters, _entryChains);
            Add(parameters, _reservationOperations);
            Add(parameters, _reservationIds);
            Add(parameters, _reservationRefs);
            Add(parameters, _reservationZeros);
            Add(parameters, _resolvedIds);
            Add(parameters, _resolvedVersions);
            Add(parameters, _resolvedOperations);
            Add(parameters, _resolvedStates);
            Add(parameters, _resolvedPosted);
            Add(parameters, _resolvedReleased);
            _entryLists = [_entryOperations, _entryIds, _entryAccounts, _entrySequences, _entrySides, _entryPosted, _entryPending, _entryAmounts,
                _entryDebitsPosted, _entryCreditsPosted, _entryDebitsPending, _entryCreditsPending, _entryChains];
            _lists = [
                _accountIds, _expectedVersions, _versions, _debitsPosted, _creditsPosted, _debitsPending, _creditsPending, _entryCounts, _updated,
                _transactionIds, _tenants, _tenantRefs, _transactionRefs, _kinds, _types, _transferRefs, _ats, _assets, _descriptions, _metadata,
                _firstEntries, _lastEntries, .. _entryLists,
                _reservationOperations, _reservationIds, _reservationRefs, _reservationZeros,
                _resolvedIds, _resolvedVersions, _resolvedOperations, _resolvedStates, _resolvedPosted, _resolvedReleased, _reserved, _resolvedCalls];
            ReadAccounts = new NpgsqlCommand(AccountsSql, Connection) { Parameters = { new NpgsqlParameter<List<Guid>> { TypedValue = _missing } } };
            ReadTransfers = new NpgsqlCommand(TransfersSql, Connection) { Parameters = { new NpgsqlParameter<List<Guid>> { TypedValue = _missing } } };
        }

        /// <summary>The calls of the batch being sent; empty between batches.</summary>
        public List<LedgerCall> Calls { get; private set; } = [];

        public NpgsqlConnection Connection { get; }

        /// <summary>Calls <c>paymentskit_ledger_write</c> with the plan; answers the resolved transfers' documents.</summary>
        public NpgsqlCommand Command { get; }

        /// <summary>Reads the accounts listed in <see cref="Missing"/>.</summary>
        public NpgsqlCommand ReadAccounts { get; }

        /// <summary>Reads the transfers listed in <see cref="Missing"/>.</summary>
        public NpgsqlCommand ReadTransfers { get; }

        /// <summary>The ids <see cref="ReadAccounts"/> or <see cref="ReadTransfers"/> read.</summary>
        public List<Guid> Missing => _missing;

        /// <summary>Whether the last plan writes anything.</summary>
        public bool Writes => _transactionIds.Count > 0;

        /// <summary>The accounts and transfers the attempt planned on (to forget them when its write finds them changed).</summary>
        public IEnumerable<Guid> HeldAccounts => _heldAccounts.Keys;

        /// <inheritdoc cref="HeldAccounts"/>
        public IEnumerable<Guid> HeldTransfers => _heldTransfers.Keys;

        /// <summary>Kept (not read now) accounts whose balances made the last plan decline an operation.</summary>
        public IReadOnlyCollection<Guid> DeclinedOnKept => _declinedOnKept;

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

        /// <summary>
        /// Holds the accounts <paramref name="calls"/> touch that <paramref name="kept"/> has, and lists in <see cref="Missing"/>
        /// those it lacks (the accounts of held transfers included).
        /// </summary>
        public void ListMissingAccounts(List<LedgerCall> calls, ConcurrentDictionary<Guid, LedgerAccountState> kept)
        {
            _missing.Clear();
            foreach (var call in calls)
            {
                switch (call.Kind)
                {
                    case LedgerCallKind.Posted:
                        foreach (var posting in call.Postings!)
                        {
                            Need(posting.AccountId.Value);
                        }

                        break;
                    case LedgerCallKind.Reserve:
                        Need(call.DebitAccount!.Value);
                        Need(call.CreditAccount!.Value);
                        break;
                    default:
                        if (_heldTransfers.TryGetValue(call.TransferId!.Value, out var transfer))
                        {
                            Need(transfer.DebitAccount);
                            Need(transfer.CreditAccount);
                        }

                        break;
                }
            }

            void Need(Guid id) => Hold(id, _heldAccounts, kept);
        }

        /// <summary>Lets go of the rows an earlier attempt held: each attempt takes them from the kept sets, or reads them, afresh.</summary>
        public void ReleaseHeld()
        {
            _heldAccounts.Clear();
            _heldTransfers.Clear();
            _readNow.Clear();
        }

        /// <summary>Holds an account read now.</summary>
        public void Read(LedgerAccountState account) => Read(account.Id, account, _heldAccounts);

        /// <summary>Holds a transfer read now.</summary>
        public void Read(LedgerTransferState transfer) => Read(transfer.Id, transfer, _heldTransfers);

        /// <summary>Holds the transfers <paramref name="calls"/> resolve that <paramref name="kept"/> has, and lists in <see cref="Missing"/> those it lacks.</summary>
        public void ListMissingTransfers(List<LedgerCall> calls, ConcurrentDictionary<Guid, LedgerTransferState> kept)
        {
            _missing.Clear();
            foreach (var call in calls)
            {
                if (call.Kind is LedgerCallKind.Post or LedgerCallKind.Void)
                {
                    Hold(call.TransferId!.Value, _heldTransfers, kept);
                }
            }
        }

        /// <summary>
        /// Applies <paramref name="calls"/> in order to copies of the rows they touch, as the record path would: each is
        /// accepted (answered with its instant, or for a resolution later with the resolved transfer's document) or declined
        /// (answered null, nothing of it written: the ledger takes the record path). Fills the write's parameters.
        /// </summary>
        public void Plan(List<LedgerCall> calls, Instant now)
        {
            Clear();
            _answers = new string?[calls.Count];
            for (var i = 0; i < calls.Count; i++)
            {
                _answers[i] = Apply(calls[i], i);
            }

            foreach (var account in _accounts.Values)
            {
                if (account.Changes > 0)
                {
                    _accountIds.Add(account.Id);
                    _expectedVersions.Add(account.Version);
                    _versions.Add(account.Version + account.Changes);
                    _debitsPosted.Add(AtScale(account.DebitsPosted, account.Scale));
                    _creditsPosted.Add(AtScale(account.CreditsPosted, account.Scale));
                    _debitsPending.Add(AtScale(account.DebitsPending, account.Scale));
                    _creditsPending.Add(AtScale(account.CreditsPending, account.Scale));
                    _entryCounts.Add(account.EntryCount);
                    _updated.Add(account.UpdatedText);
                }
            }

            _rowTime.TypedValue = now.ToDateTimeUtc();
        }

        /// <summary>
        /// After the write committed: answers every call (a resolution with its transfer's document from
        /// <paramref name="documents"/>) and keeps the rows as written.
        /// </summary>
        public string?[] Written(string?[] documents, PostgreSqlStore store)
        {
            for (var r = 0; r < _resolvedCalls.Count; r++)
            {
                _answers[_resolvedCalls[r]] = documents[r];
                store._ledgerTransfers.TryRemove(_resolvedIds[r], out _);
            }

            // The plan's copies are kept as written: the next plan makes copies of its own.
            foreach (var account in _accounts.Values)
            {
                if (account.Changes > 0)
                {
                    account.Version += account.Changes;
                    account.Changes = 0;
                    store.Keep(account);
                }
            }

            foreach (var transfer in _reserved)
            {
                store.Keep(transfer);
            }

            return _answers;
        }

        /// <summary>The answers of a plan that writes nothing (every call declined).</summary>
        public string?[] Answers => _answers;

        /// <inheritdoc />
        public void Dispose()
        {
            Command.Dispose();
            ReadAccounts.Dispose();
            ReadTransfers.Dispose();
            Connection.Dispose();
        }

        /// <summary>Holds the kept state of row <paramref name="id"/> for this attempt, or lists the row in <see cref="Missing"/> to be read.</summary>
        private void Hold<TState>(Guid id, Dictionary<Guid, TState> held, ConcurrentDictionary<Guid, TState> kept)
            where TState : class
        {
            if (held.ContainsKey(id) || _missing.Contains(id))
            {
                return;
            }

            if (kept.TryGetValue(id, out var state))
            {
                held.Add(id, state);
            }
            else
            {
                _missing.Add(id);
            }
        }

        private void Read<TState>(Guid id, TState state, Dictionary<Guid, TState> held)
        {
            held[id] = state;
            _readNow.Add(id);
        }

        private static void Add<T>(NpgsqlParameterCollection parameters, List<T> values) =>
            parameters.Add(new NpgsqlParameter<List<T>> { TypedValue = values });

        private string? Apply(LedgerCall call, int index)
        {
            Span<Guid> touchedIds = stackalloc Guid[2];
            Span<decimal> amounts = stackalloc decimal[2];
            Span<decimal> posted = stackalloc decimal[2];
            Span<decimal> pending = stackalloc decimal[2];
            string asset;
            int scale;
            string? chain;
            string kind;
            string? entryType;
            string? transferRef;
            string? description;
            string metadata;
            LedgerTransferState? transfer = null;
            var amount = 0m;
            var postings = call.Postings;
            switch (call.Kind)
            {
                case LedgerCallKind.Posted:
                    (asset, scale, chain, kind, entryType, transferRef, description, metadata) =
                        (call.Asset!, call.Scale!.Value, call.Chain, "posted", call.EntryType, null, call.Description, call.Metadata!);
                    break;
                case LedgerCallKind.Reserve:
                    amount = call.Amount!.Value;
                    (touchedIds[0], touchedIds[1]) = (call.DebitAccount!.Value, call.CreditAccount!.Value);
                    (amounts[0], amounts[1], posted[0], posted[1], pending[0], pending[1]) = (amount, amount, 0, 0, amount, amount);
                    (asset, scale, chain, kind, entryType, transferRef, description, metadata) =
                        (call.Asset!, call.Scale!.Value, call.Chain, "pending", call.EntryType, call.TransferRef, call.Description, call.Metadata!);
                    break;
                default:
                    // Posting or voiding a pending transfer of the caller's without a reference that has not expired.
                    transfer = Transfer(call.TransferId!.Value);
                    if (transfer is null || transfer.TenantId != call.TenantId.Value || transfer.State != "pending" || transfer.Reference is not null
                        || (transfer.ExpiresAt is { } expiresAt && call.Now >= expiresAt))
                    {
                        return null;
                    }

                    var reserved = transfer.Amount;
                    (asset, scale) = (transfer.Asset, transfer.Scale);
                    decimal moved;
                    if (call.Kind == LedgerCallKind.Void)
                    {
                        (amount, moved) = (0, reserved);
                    }
                    else
                    {
                        if (call.Amount is not null && (call.Asset != asset || call.Scale != scale))
                        {
                            return null;
                        }

                        amount = call.Amount ?? reserved;
                        moved = amount;
                        if (amount > reserved)
                        {
                            return null;
                        }
                    }

                    (touchedIds[0], touchedIds[1]) = (transfer.DebitAccount, transfer.CreditAccount);
                    (amounts[0], amounts[1], posted[0], posted[1], pending[0], pending[1]) = (moved, moved, amount, amount, -reserved, -reserved);
                    (kind, entryType) = call.Kind == LedgerCallKind.Void ? ("void_pending", "release") : ("post_pending", "debit");
                    (transferRef, description, metadata) = (transfer.Ref, null, NoMetadata);
                    chain = ChainOf(call.Assets!, asset);
                    break;
            }

            var count = postings?.Count ?? 2;

            // Every account known, the caller's, in the asset; the instant never before a touched account's last change.
            _touched.Clear();
            var at = call.Now;
            string? atText = null;
            for (var p = 0; p < count; p++)
            {
                var account = Account(postings is null ? touchedIds[p] : postings[p].AccountId.Value);
                if (account is null || account.TenantId != call.TenantId.Value || account.Asset != asset)
                {
                    return null;
                }

                if (!_touched.Contains(account))
                {
                    _touched.Add(account);
                    if (account.Updated > at)
                    {
                        (at, atText) = (account.Updated, account.UpdatedText);
                    }
                }
            }

            atText ??= IsoInstant.Format(at);
            _before.Clear();
            foreach (var account in _touched)
            {
                _before.Add((account.DebitsPosted, account.CreditsPosted, account.DebitsPending, account.CreditsPending, account.EntryCount));
            }

            var operation = _transactionIds.Count + 1;
            var firstEntry = _entryIds.Count;
            try
            {
                for (var p = 0; p < count; p++)
                {
                    var account = _accounts[postings is null ? touchedIds[p] : postings[p].AccountId.Value];
                    var side = postings is null ? Sides[p] : SnakeCaseNames<LedgerSide>.Of(postings[p].Side);
                    var (postedChange, pendingChange) = postings is null ? (posted[p], pending[p]) : (postings[p].Amount.Amount, 0m);

                    // Sums that cannot keep the asset's scale overflow (as the record path's money does) and decline the operation.
                    if (side == "debit")
                    {
                        account.DebitsPosted = LedgerBooks.Add(account.DebitsPosted, postedChange, scale);
                        account.DebitsPending = LedgerBooks.Add(account.DebitsPending, pendingChange, scale);
                    }
                    else
                    {
                        account.CreditsPosted = LedgerBooks.Add(account.CreditsPosted, postedChange, scale);
                        account.CreditsPending = LedgerBooks.Add(account.CreditsPending, pendingChange, scale);
                    }

                    var entry = (
                        Posted: AtScale(postedChange, scale), Pending: AtScale(pendingChange, scale),
                        Amount: AtScale(postings is null ? amounts[p] : postings[p].Amount.Amount, scale),
                        DebitsPosted: AtScale(account.DebitsPosted, scale), CreditsPosted: AtScale(account.CreditsPosted, scale),
                        DebitsPending: AtScale(account.DebitsPending, scale), CreditsPending: AtScale(account.CreditsPending, scale));

                    // Nothing below throws: each entry's lists grow together.
                    account.EntryCount++;
                    _entryOperations.Add(operation);
                    _entryIds.Add(LedgerCollections.EntryId(LedgerAccountId.FromGuid(account.Id), account.EntryCount));
                    _entryAccounts.Add(account.Ref);
                    _entrySequences.Add(account.EntryCount);
                    _entrySides.Add(side);
                    _entryPosted.Add(entry.Posted);
                    _entryPending.Add(entry.Pending);
                    _entryAmounts.Add(entry.Amount);
                    _entryDebitsPosted.Add(entry.DebitsPosted);
                    _entryCreditsPosted.Add(entry.CreditsPosted);
                    _entryDebitsPending.Add(entry.DebitsPending);
                    _entryCreditsPending.Add(entry.CreditsPending);
                    _entryChains.Add(chain ?? account.Chain);
                }

                // A flag's posted + pending total past a decimal's limit overflows too (the record path's check does alike).
                if (_touched.Exists(account => account.BreaksARule()))
                {
                    return DeclinedOnBalances(firstEntry);
                }
            }
            catch (OverflowException)
            {
                return DeclinedOnBalances(firstEntry);
            }

            // Accepted: later operations see its balances.
            foreach (var account in _touched)
            {
                (account.Updated, account.UpdatedText, account.Scale) = (at, atText, scale);
                account.Changes++;
            }

            _transactionIds.Add(call.TransactionId.Value);
            _tenants.Add(call.TenantId.Value);
            _tenantRefs.Add(TenantRef(call.TenantId));
            _transactionRefs.Add(call.TransactionId.ToString());
            _kinds.Add(kind);
            _types.Add(entryType);
            _transferRefs.Add(transferRef);
            _ats.Add(atText);
            _assets.Add(asset);
            _descriptions.Add(description);
            _metadata.Add(metadata);
            _firstEntries.Add(firstEntry + 1);
            _lastEntries.Add(_entryIds.Count);
            if (call.Kind == LedgerCallKind.Reserve)
            {
                _reservationOperations.Add(operation);
                _reservationIds.Add(call.TransferId!.Value);
                _reservationRefs.Add(transferRef!);
                _reservationZeros.Add(AtScale(0, scale));
                _reserved.Add(new LedgerTransferState
                {
                    Id = call.TransferId.Value,
                    TenantId = call.TenantId.Value,
                    Ref = transferRef!,
                    State = "pending",
                    Reference = null,
                    ExpiresAt = null,
                    Amount = _entryAmounts[firstEntry],
                    Scale = scale,
                    Asset = asset,
                    DebitAccount = touchedIds[0],
                    CreditAccount = touchedIds[1],
                    Version = 1,
                });
            }
            else if (transfer is not null)
            {
                // A second resolution of the same transfer in this batch sees it resolved and is declined.
                transfer.State = call.Kind == LedgerCallKind.Void ? "voided" : "posted";
                _resolvedIds.Add(transfer.Id);
                _resolvedVersions.Add(transfer.Version);
                _resolvedOperations.Add(operation);
                _resolvedStates.Add(transfer.State);
                _resolvedPosted.Add(AtScale(amount, scale));
                _resolvedReleased.Add(AtScale(transfer.Amount - amount, scale));
                _resolvedCalls.Add(index);
                return null;
            }

            return atText;
        }

        /// <summary>The chain of the registered asset <paramref name="code"/>, or null.</summary>
        private static string? ChainOf(IReadOnlyList<Asset> assets, string code)
        {
            for (var i = 0; i < assets.Count; i++)
            {
                if (assets[i].Code == code)
                {
                    return assets[i].Chain?.Value;
                }
            }

            return null;
        }

        /// <summary>The plan's copy of an account, made on first use from the kept state; null if the account is unknown.</summary>
        private LedgerAccountState? Account(Guid id)
        {
            if (_accounts.TryGetValue(id, out var copy))
            {
                return copy;
            }

            if (!_heldAccounts.TryGetValue(id, out var held))
            {
                return null;
            }

            copy = held.Copy();
            _accounts.Add(id, copy);
            return copy;
        }

        /// <summary>The plan's copy of a transfer, made on first use; null if it is unknown.</summary>
        private LedgerTransferState? Transfer(Guid id)
        {
            if (!_transfers.TryGetValue(id, out var copy))
            {
                copy = _heldTransfers.TryGetValue(id, out var held) ? held.Copy() : null;
                _transfers.Add(id, copy);
            }

            return copy;
        }

        /// <summary>
        /// Declines an operation its balances refuse (a rule, an overflow): undoes it, and notes the touched accounts that
        /// were kept rather than read now, whose balances may be stale.
        /// </summary>
        private string? DeclinedOnBalances(int firstEntry)
        {
            Undo(firstEntry);
            foreach (var account in _touched)
            {
                if (!_readNow.Contains(account.Id))
                {
                    _declinedOnKept.Add(account.Id);
                }
            }

            return null;
        }

        /// <summary>Restores the touched accounts to how the operation found them and drops its entries from <paramref name="first"/> on.</summary>
        private void Undo(int first)
        {
            for (var q = 0; q < _touched.Count; q++)
            {
                (_touched[q].DebitsPosted, _touched[q].CreditsPosted, _touched[q].DebitsPending, _touched[q].CreditsPending, _touched[q].EntryCount) = _before[q];
            }

            var n = _entryIds.Count - first;
            foreach (var list in _entryLists)
            {
                for (var k = 0; k < n; k++)
                {
                    list.RemoveAt(first);
                }
            }
        }

        private void Clear()
        {
            foreach (var list in _lists)
            {
                list.Clear();
            }

            _accounts.Clear();
            _transfers.Clear();
            _declinedOnKept.Clear();
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
