namespace PaymentsKit.Storage;

/// <summary>One buffered write of a unit of work, as a store applies it at commit.</summary>
/// <param name="Collection">The collection's name.</param>
/// <param name="Table">The table (PostgreSQL) that holds the collection.</param>
/// <param name="Id">The record id.</param>
/// <param name="TenantId">The record's tenant.</param>
/// <param name="Record">The new record instance.</param>
/// <param name="RecordType">The record's declared type (for serialization).</param>
/// <param name="ExpectedVersion">The version the stored record must have; 0 for an insert.</param>
/// <param name="UniqueKeys">The record's unique key values (key name → value), nulls omitted.</param>
public sealed record PendingWrite(
    string Collection,
    string Table,
    Guid Id,
    Guid TenantId,
    object Record,
    Type RecordType,
    long ExpectedVersion,
    IReadOnlyList<KeyValuePair<string, string>> UniqueKeys)
{
    /// <summary>
    /// Whether this update keeps exactly the unique key values the record had at <see cref="ExpectedVersion"/> (always
    /// so for a collection without unique keys), so a store may leave the record's key rows alone: the version check
    /// guarantees they are still the record's.
    /// </summary>
    public bool KeysUnchanged { get; init; }

    /// <summary>The record's index values (index name → value), nulls omitted: see <see cref="RecordCollection{T}.Indexes"/>.</summary>
    public IReadOnlyList<KeyValuePair<string, Guid>> Indexes { get; init; } = [];

    /// <summary>Whether the write creates the record.</summary>
    public bool IsInsert => ExpectedVersion == 0;

    /// <summary>The version the record has once the write is applied.</summary>
    public long NewVersion => ExpectedVersion + 1;
}

/// <summary>One buffered removal of a unit of work (<see cref="IUnitOfWork.Remove{T}"/>), as a store applies it at commit.</summary>
/// <param name="Collection">The collection's name.</param>
/// <param name="Table">The table (PostgreSQL) that holds the collection.</param>
/// <param name="Id">The record id.</param>
/// <param name="TenantId">The tenant the record must belong to for it to be removed.</param>
/// <param name="HasUniqueKeys">Whether the collection declares unique keys, whose values the record gives up.</param>
public sealed record PendingRemoval(string Collection, string Table, Guid Id, Guid TenantId, bool HasUniqueKeys);
