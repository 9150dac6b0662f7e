using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using NodaTime;
using PaymentsKit.Storage;

namespace PaymentsKit.Ledger;

/// <summary>
/// The record collections the ledger keeps in an <see cref="IPaymentsStore"/>. On PostgreSQL the
/// accounts, transactions, entries and transfers have tables of their own (migration 0002_ledger) holding typed
/// rows (entries since migration 0019, the others since 0021); the record path reads and writes them through
/// views (<c>ledger_*_records</c>) that derive each record's document from the columns and decompose a written one.
/// </summary>
public static class LedgerCollections
{
    /// <summary>The unique key holding an account's tenant-scoped code.</summary>
    public const string CodeKey = "code";

    /// <summary>The unique key holding a transaction's tenant-scoped idempotency key.</summary>
    public const string IdempotencyKey = "idempotency";

    /// <summary>The unique key naming the transaction a reversal reverses, so a transaction is reversed at most once.</summary>
    public const string ReversesKey = "reverses";

    /// <summary>The unique key placing a transaction in its reference's sequence.</summary>
    public const string ReferenceKey = "reference";

    /// <summary>Accounts with their balances.</summary>
    public static RecordCollection<LedgerAccount> Accounts { get; } = new(
        "ledger_account",
        a => a.Id.Value,
        a => a.TenantId.Value,
        [new UniqueKey<LedgerAccount>(CodeKey, a => AccountCodeKey(a.TenantId, a.Code))],
        "ledger_account_records");

    /// <summary>Transactions (immutable).</summary>
    public static RecordCollection<LedgerTransaction> Transactions { get; } = new(
        "ledger_transaction",
        t => t.Id.Value,
        t => t.TenantId.Value,
        [
            new UniqueKey<LedgerTransaction>(IdempotencyKey, t => t.IdempotencyKey is null ? null : TransactionIdempotencyKey(t.TenantId, t.IdempotencyKey)),
            new UniqueKey<LedgerTransaction>(ReversesKey, t => t.Reverses?.Value.ToString("N", CultureInfo.InvariantCulture)),
            new UniqueKey<LedgerTransaction>(ReferenceKey, t => t.Reference is null ? null : ReferenceSequenceKey(t.TenantId, t.Reference, t.ReferenceSequence)),
        ],
        "ledger_transaction_records");

    /// <summary>Account entries (immutable), with ids derived from account and sequence.</summary>
    /// <remarks>
    /// On PostgreSQL the entries are typed rows of <c>ledger_entries</c>; the record path reads and inserts them
    /// through the view <c>ledger_entry_records</c>, which derives the document from the columns and decomposes
    /// an inserted one into them (migration 0019).
    /// </remarks>
    public static RecordCollection<LedgerEntry> Entries { get; } = new(
        "ledger_entry",
        e => e.Id,
        e => e.TenantId.Value,
        table: "ledger_entry_records");

    /// <summary>Two-phase transfers.</summary>
    public static RecordCollection<LedgerTransfer> Transfers { get; } = new(
        "ledger_transfer",
        t => t.Id.Value,
        t => t.TenantId.Value,
        table: "ledger_transfer_records");

    /// <summary>How many transactions carry each reference (one record per tenant and reference).</summary>
    internal static RecordCollection<LedgerReferenceCounter> ReferenceCounters { get; } = new(
        "ledger_reference",
        r => r.Id,
        r => r.TenantId.Value);

    /// <summary>Reservations with a timeout, shared across tenants, ids ordered by expiry, the open ones indexed.</summary>
    internal static RecordCollection<LedgerTransferTimeout> TransferTimeouts { get; } =
        DeadlineRecords.Collection<LedgerTransferTimeout>("ledger_transfer_timeout", t => t.Id, t => t.Closed);

    /// <summary>The id of an account's <paramref name="sequence"/>-th entry.</summary>
    /// <remarks>
    /// A UUIDv8 from SHA-256 of the account id and the sequence (big-endian): PostgreSQL's one-call
    /// ledger path derives the same id with its built-in <c>sha256</c> (migration 0012), where a
    /// 64-bit integer mix would need slow wrapping arithmetic.
    /// </remarks>
    public static Guid EntryId(LedgerAccountId accountId, long sequence)
    {
        Span<byte> name = stackalloc byte[24];
        accountId.Value.TryWriteBytes(name, bigEndian: true, out _);
        BinaryPrimitives.WriteInt64BigEndian(name[16..], sequence);
        return NameBasedGuid(name);
    }

    internal static Guid ReferenceCounterId(MerchantId tenantId, string reference)
    {
        var name = new byte[17 + Encoding.UTF8.GetByteCount(reference)];
        name[0] = 1;
        tenantId.Value.TryWriteBytes(name.AsSpan(1, 16), bigEndian: true, out _);
        Encoding.UTF8.GetBytes(reference, name.AsSpan(17));
        return NameBasedGuid(name);
    }

    internal static string AccountCodeKey(MerchantId tenantId, string code) =>
        string.Concat(tenantId.Value.ToString("N", CultureInfo.InvariantCulture), ":", code);

    internal static string TransactionIdempotencyKey(MerchantId tenantId, string key) =>
        string.Concat(tenantId.Value.ToString("N", CultureInfo.InvariantCulture), ":", key);

    internal static string ReferenceSequenceKey(MerchantId tenantId, string reference, long sequence) =>
        string.Create(CultureInfo.InvariantCulture, $"{tenantId.Value:N}:{sequence}:{reference}");

    // A UUIDv8 from SHA-256 of the name (a caller chooses references, so only a digest keeps two apart).
    private static Guid NameBasedGuid(ReadOnlySpan<byte> name)
    {
        Span<byte> hash = stackalloc byte[32];
        if (name.Length <= ShortSha256.MaxLength)
        {
            ShortSha256.Hash(name, hash);
        }
        else
        {
            SHA256.HashData(name, hash);
        }

        return Versioned8(hash[..16]);
    }

    private static Guid Versioned8(Span<byte> bytes)
    {
        bytes[6] = (byte)((bytes[6] & 0x0F) | 0x80);
        bytes[8] = (byte)((bytes[8] & 0x3F) | 0x80);
        return new Guid(bytes, bigEndian: true);
    }
}

/// <summary>How many transactions of a tenant carry one reference.</summary>
/// <param name="Id">Derived from tenant and reference.</param>
/// <param name="TenantId">The tenant.</param>
/// <param name="Reference">The reference.</param>
/// <param name="Count">The number of transactions with it; the last one's <see cref="LedgerTransaction.ReferenceSequence"/>.</param>
internal sealed record LedgerReferenceCounter(Guid Id, MerchantId TenantId, string Reference, long Count);

/// <summary>A reservation's deadline, for the expiry sweep.</summary>
/// <param name="Id">A UUIDv7 stamped with the deadline, so listing order is deadline order (to the millisecond).</param>
/// <param name="TenantId">The transfer's tenant.</param>
/// <param name="TransferId">The transfer.</param>
/// <param name="ExpiresAt">The deadline.</param>
/// <param name="Closed">Whether the sweep saw the transfer resolved; closed deadlines need no further look.</param>
internal sealed record LedgerTransferTimeout(Guid Id, MerchantId TenantId, LedgerTransferId TransferId, Instant ExpiresAt, bool Closed);
