using System.Collections.Concurrent;
using NodaTime;
using PaymentsKit.Ledger;

namespace PaymentsKit.PostgreSql;

public sealed partial class PostgreSqlStore
{
    /// <summary>
    /// How many accounts or pending transfers the ledger keeps read (decision 0024). Past it the whole set is dropped
    /// and read again as it is used: the set only saves reads, every write is checked against the row's version.
    /// </summary>
    private const int LedgerStateLimit = 65_536;

    /// <summary>The ledger accounts as this store last read or wrote them, by id; each entry is never changed once added.</summary>
    private readonly ConcurrentDictionary<Guid, LedgerAccountState> _ledgerAccounts = new();

    /// <summary>
    /// The transfers as this store last read or wrote them, by id (those it reserved, and those a batch read to resolve,
    /// whatever their state); each entry is never changed once added.
    /// </summary>
    private readonly ConcurrentDictionary<Guid, LedgerTransferState> _ledgerTransfers = new();

    // Keeps per set, so each set's size (counting locks every bucket) is looked at once per 1,024 of its keeps only.
    private int _accountKeeps;
    private int _transferKeeps;

    // Physical connections the pool has opened, and how many there were when the kept rows were last trusted.
    private int _physicalConnections;
    private int _physicalConnectionsTrusted;

    /// <summary>Keeps <paramref name="account"/> unless a later version of its row is kept already.</summary>
    private void Keep(LedgerAccountState account) => Keep(_ledgerAccounts, ref _accountKeeps, account.Id, account);

    /// <summary>Keeps <paramref name="transfer"/> unless a later version of its row is kept already.</summary>
    private void Keep(LedgerTransferState transfer) => Keep(_ledgerTransfers, ref _transferKeeps, transfer.Id, transfer);

    private static void Keep<TState>(ConcurrentDictionary<Guid, TState> states, ref int keeps, Guid id, TState state)
        where TState : class, ILedgerRowState
    {
        if ((Interlocked.Increment(ref keeps) & 1023) == 0 && states.Count >= LedgerStateLimit)
        {
            states.Clear();
        }

        states.AddOrUpdate(id, static (_, added) => added, static (_, kept, added) => kept.Version >= added.Version ? kept : added, state);
    }

    /// <summary>
    /// Drops every kept row once the pool has opened a new physical connection since they were trusted: a server that
    /// restarted or failed over may have lost commits this store saw (asynchronous commit, an asynchronous standby, a
    /// restore), and a kept state of a lost commit could match a version another writer has since reused.
    /// </summary>
    private void ForgetLedgerRowsAfterReconnecting()
    {
        var opened = Volatile.Read(ref _physicalConnections);
        if (opened != Volatile.Read(ref _physicalConnectionsTrusted))
        {
            ForgetAllLedgerRows();
            Volatile.Write(ref _physicalConnectionsTrusted, opened);
        }
    }

    private void ForgetAllLedgerRows()
    {
        _ledgerAccounts.Clear();
        _ledgerTransfers.Clear();
    }

    /// <summary>A ledger row's version as this store knows it.</summary>
    private interface ILedgerRowState
    {
        long Version { get; }
    }

    /// <summary>
    /// A ledger account's columns that the fast path reads and writes, at <see cref="Version"/>. A batch plans on its own
    /// copies (<see cref="Copy"/>), which also count how many of its operations changed the account.
    /// </summary>
    private sealed class LedgerAccountState : ILedgerRowState
    {
        public required Guid Id { get; init; }

        public required Guid TenantId { get; init; }

        /// <summary>The account's text id (<c>acc_…</c>), as entries and transactions name it.</summary>
        public required string Ref { get; init; }

        public required string? Flags { get; init; }

        /// <summary>The chain the account's metadata names, for entries of assets without one.</summary>
        public required string? Chain { get; init; }

        public required string Asset { get; init; }

        public required Instant Updated { get; set; }

        /// <summary>The last change as stored (the records' text form of <see cref="Updated"/>).</summary>
        public required string UpdatedText { get; set; }

        public required decimal DebitsPosted { get; set; }

        public required decimal CreditsPosted { get; set; }

        public required decimal DebitsPending { get; set; }

        public required decimal CreditsPending { get; set; }

        public required long EntryCount { get; set; }

        public required long Version { get; set; }

        /// <summary>On a batch's copy: how many of the batch's accepted operations changed the account.</summary>
        public int Changes { get; set; }

        /// <summary>On a batch's copy: the scale of the asset of the last operation that changed it.</summary>
        public int Scale { get; set; }

        public LedgerAccountState Copy() => (LedgerAccountState)MemberwiseClone();

        /// <summary>Whether the balances break a rule: negative pending totals, or the overdraft the account's flags forbid.</summary>
        public bool BreaksARule() =>
            DebitsPending < 0 || CreditsPending < 0
            || (Flags == "debits_must_not_exceed_credits" && DebitsPosted + DebitsPending > CreditsPosted)
            || (Flags == "credits_must_not_exceed_debits" && CreditsPosted + CreditsPending > DebitsPosted);
    }

    /// <summary>A ledger transfer's columns that a post or void checks, at <see cref="Version"/>.</summary>
    private sealed class LedgerTransferState : ILedgerRowState
    {
        public required Guid Id { get; init; }

        public required Guid TenantId { get; init; }

        public required string Ref { get; init; }

        public required string State { get; set; }

        public required string? Reference { get; init; }

        public required Instant? ExpiresAt { get; init; }

        /// <summary>The amount reserved, with its asset's scale (<see cref="Scale"/>).</summary>
        public required decimal Amount { get; init; }

        public required int Scale { get; init; }

        public required string Asset { get; init; }

        public required Guid DebitAccount { get; init; }

        public required Guid CreditAccount { get; init; }

        public required long Version { get; init; }

        public LedgerTransferState Copy() => (LedgerTransferState)MemberwiseClone();
    }

    /// <summary>Drops what this store knew of <paramref name="accounts"/> and <paramref name="transfers"/>: they are read again before use.</summary>
    private void ForgetLedgerRows(IEnumerable<Guid> accounts, IEnumerable<Guid> transfers)
    {
        foreach (var id in accounts)
        {
            _ledgerAccounts.TryRemove(id, out _);
        }

        foreach (var id in transfers)
        {
            _ledgerTransfers.TryRemove(id, out _);
        }
    }

    /// <summary>
    /// <paramref name="value"/> rounded half away from zero to exactly <paramref name="scale"/> decimal places (trailing
    /// zeros kept); a value too large to keep that many places is an overflow, as in <see cref="LedgerBooks"/>.
    /// </summary>
    private static decimal AtScale(decimal value, int scale)
    {
        var padded = Math.Round(value, scale, MidpointRounding.AwayFromZero) + new decimal(0, 0, 0, false, (byte)scale);
        return padded.Scale == scale ? padded : throw new OverflowException();
    }

    /// <summary>The account a transfer row names by its text id, or null if the text is not one.</summary>
    private static LedgerAccountId? AccountOf(string text) =>
        TypedId.TryParse<LedgerAccountId>(text, out var id) ? id : null;
}
