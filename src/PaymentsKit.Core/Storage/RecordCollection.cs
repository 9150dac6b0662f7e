using System.Text.RegularExpressions;

namespace PaymentsKit.Storage;

/// <summary>
/// Describes one kind of record a store keeps: its name, how to read its id and tenant, and the
/// unique keys the store must enforce across all records of the collection.
/// </summary>
/// <typeparam name="T">An immutable record type (the in-memory store keeps the instance itself).</typeparam>
/// <remarks>
/// Declare one static instance per record type. A unique key is global to the collection: include
/// the tenant in its value when it is unique per tenant (see <see cref="UniqueKey{T}"/>).
/// </remarks>
public sealed partial class RecordCollection<T>
    where T : class
{
    /// <summary>The PostgreSQL table a collection lives in unless it names its own.</summary>
    public const string DefaultTable = "paymentskit_records";

    /// <summary>Creates a collection description.</summary>
    /// <param name="name">A lower-case name, unique among collections, e.g. "invoice".</param>
    /// <param name="id">Reads the record's id.</param>
    /// <param name="tenant">Reads the record's tenant (merchant/partner); <see cref="Guid.Empty"/> for shared records.</param>
    /// <param name="uniqueKeys">The unique keys to enforce.</param>
    /// <param name="table">The PostgreSQL table holding the records; it must have the shape of <see cref="DefaultTable"/>.</param>
    /// <param name="indexes">
    /// The lookups <see cref="IUnitOfWork.ListByAsync{T}"/> serves; each needs a <paramref name="table"/> of the collection's own
    /// with a <c>uuid</c> column of the index's name, indexed on <c>(tenant_id, column, id)</c>.
    /// </param>
    public RecordCollection(
        string name,
        Func<T, Guid> id,
        Func<T, Guid> tenant,
        IReadOnlyList<UniqueKey<T>>? uniqueKeys = null,
        string table = DefaultTable,
        IReadOnlyList<RecordIndex<T>>? indexes = null)
    {
        if (!IdentifierPattern().IsMatch(name ?? string.Empty))
        {
            throw new ArgumentException($"Collection name '{name}' must be lower-case letters, digits and underscores.", nameof(name));
        }

        if (!IdentifierPattern().IsMatch(table ?? string.Empty))
        {
            throw new ArgumentException($"Table name '{table}' must be lower-case letters, digits and underscores.", nameof(table));
        }

        Name = name!;
        Table = table!;
        IdOf = id ?? throw new ArgumentNullException(nameof(id));
        TenantOf = tenant ?? throw new ArgumentNullException(nameof(tenant));
        UniqueKeys = uniqueKeys ?? [];
        if (UniqueKeys.Select(k => k.Name).Distinct(StringComparer.Ordinal).Count() != UniqueKeys.Count)
        {
            throw new ArgumentException("Unique key names must be distinct.", nameof(uniqueKeys));
        }

        Indexes = indexes ?? [];
        if (Indexes.Any(i => !IdentifierPattern().IsMatch(i.Name ?? string.Empty))
            || Indexes.Select(i => i.Name).Distinct(StringComparer.Ordinal).Count() != Indexes.Count)
        {
            throw new ArgumentException("Index names must be distinct lower-case column names.", nameof(indexes));
        }

        // The shared table has no column per collection to index on.
        if (Indexes.Count > 0 && Table == DefaultTable)
        {
            throw new ArgumentException($"Collection '{Name}' has indexes, so it needs a table of its own.", nameof(table));
        }
    }

    /// <summary>The collection's name.</summary>
    public string Name { get; }

    /// <summary>The PostgreSQL table that holds the collection.</summary>
    public string Table { get; }

    /// <summary>Reads a record's id.</summary>
    public Func<T, Guid> IdOf { get; }

    /// <summary>Reads a record's tenant.</summary>
    public Func<T, Guid> TenantOf { get; }

    /// <summary>The unique keys the store enforces.</summary>
    public IReadOnlyList<UniqueKey<T>> UniqueKeys { get; }

    /// <summary>The non-unique lookups the store keeps.</summary>
    public IReadOnlyList<RecordIndex<T>> Indexes { get; }

    /// <summary>Names the record with <paramref name="id"/>, for <see cref="IUnitOfWork.PrefetchAsync"/>.</summary>
    public RecordRef Ref(Guid id) => new(Name, Table, typeof(T), id);

    /// <summary>Finds a unique key by name.</summary>
    internal UniqueKey<T> Key(string name) =>
        UniqueKeys.FirstOrDefault(k => k.Name == name)
        ?? throw new ArgumentException($"Collection '{Name}' has no unique key '{name}'.", nameof(name));

    /// <summary>Finds an index by name.</summary>
    internal RecordIndex<T> Index(string name) =>
        Indexes.FirstOrDefault(i => i.Name == name)
        ?? throw new ArgumentException($"Collection '{Name}' has no index '{name}'.", nameof(name));

    /// <inheritdoc />
    public override string ToString() => Name;

    [GeneratedRegex("^[a-z][a-z0-9_]{0,62}$", RegexOptions.CultureInvariant)]
    private static partial Regex IdentifierPattern();
}

/// <summary>A unique key of a <see cref="RecordCollection{T}"/>.</summary>
/// <typeparam name="T">The record type.</typeparam>
/// <param name="Name">The key's name, e.g. "idempotency".</param>
/// <param name="ValueOf">Reads the key's value from a record; null means the record has no value for this key.</param>
public sealed record UniqueKey<T>(string Name, Func<T, string?> ValueOf)
    where T : class;

/// <summary>
/// A non-unique lookup of a <see cref="RecordCollection{T}"/>: <see cref="IUnitOfWork.ListByAsync{T}"/> pages a tenant's records
/// holding one value of it without reading the tenant's other records.
/// </summary>
/// <typeparam name="T">The record type.</typeparam>
/// <param name="Name">The index's name; on PostgreSQL, the collection table's column holding the value.</param>
/// <param name="ValueOf">Reads the value from a record; null means the record is not in the index.</param>
public sealed record RecordIndex<T>(string Name, Func<T, Guid?> ValueOf)
    where T : class;

/// <summary>Names one record of a collection, whatever its type: see <see cref="RecordCollection{T}.Ref"/>.</summary>
/// <param name="Collection">The collection's name.</param>
/// <param name="Table">The table (PostgreSQL) that holds the collection.</param>
/// <param name="RecordType">The record's type (for deserialization).</param>
/// <param name="Id">The record id.</param>
public readonly record struct RecordRef(string Collection, string Table, Type RecordType, Guid Id);

/// <summary>A record as stored, with the version its next update must name.</summary>
/// <typeparam name="T">The record type.</typeparam>
/// <param name="Value">The record.</param>
/// <param name="Version">1 after insert, incremented by every update.</param>
public sealed record Versioned<T>(T Value, long Version)
    where T : class;

/// <summary>One page of a list, with the cursor for the next page (null on the last).</summary>
/// <typeparam name="T">The item type.</typeparam>
/// <param name="Items">The items of this page.</param>
/// <param name="NextCursor">Pass to the next call to continue; null when there is nothing more.</param>
public sealed record Page<T>(IReadOnlyList<T> Items, string? NextCursor);
