using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using NodaTime;
using PaymentsKit.Storage;

namespace PaymentsKit.Streaming;

/// <summary>The record collections streaming keeps in an <see cref="IPaymentsStore"/>.</summary>
public static class StreamCollections
{
    /// <summary>The PostgreSQL table streams live in: the seed's <c>streams</c>, with its columns generated from the record.</summary>
    public const string StreamsTable = "streams";

    /// <summary>The unique key holding a stream's (and a withdrawal event's) tenant-scoped idempotency key.</summary>
    public const string IdempotencyKey = "idempotency";

    /// <summary>The unique key holding a stream's tenant- and chain-scoped opening transaction hash.</summary>
    public const string TransactionHashKey = "transaction_hash";

    /// <summary>Streams, in their own table.</summary>
    public static RecordCollection<PaymentStream> Streams { get; } = new(
        "stream",
        s => s.Id.Value,
        s => s.TenantId.Value,
        [
            new UniqueKey<PaymentStream>(IdempotencyKey, s => s.IdempotencyKey is null ? null : Idempotency.ScopedKey(s.TenantId.Value, s.IdempotencyKey)),
            new UniqueKey<PaymentStream>(TransactionHashKey, s => s.TransactionHash is null ? null : TransactionHashValue(s.TenantId, s.ChainId, s.TransactionHash)),
        ],
        StreamsTable);

    /// <summary>
    /// Stream events (immutable), with ids derived from stream and sequence. A keyed withdrawal's
    /// <see cref="StreamEventKind.Withdrawn"/> event holds its tenant-scoped <see cref="IdempotencyKey"/>.
    /// </summary>
    public static RecordCollection<StreamEvent> Events { get; } = new(
        "stream_event",
        e => e.Id,
        e => e.TenantId.Value,
        [
            // Only the withdrawn event claims the key: the settlement recorded with it carries the key as well.
            new UniqueKey<StreamEvent>(
                IdempotencyKey, e => e is { Kind: StreamEventKind.Withdrawn, IdempotencyKey: { } key } ? Idempotency.ScopedKey(e.TenantId.Value, key) : null),
        ]);

    /// <summary>Completion deadlines of active streams, shared across tenants, ids ordered by due instant, the open ones indexed.</summary>
    internal static RecordCollection<StreamDeadline> Deadlines { get; } =
        DeadlineRecords.Collection<StreamDeadline>("stream_deadline", d => d.Id, d => d.Closed);

    /// <summary>The id of a stream's <paramref name="sequence"/>-th event: a UUIDv8 from SHA-256 of both.</summary>
    public static Guid EventId(StreamId streamId, long sequence)
    {
        Span<byte> name = stackalloc byte[25];
        name[0] = 0x53;
        streamId.Value.TryWriteBytes(name[1..17], bigEndian: true, out _);
        BinaryPrimitives.WriteInt64BigEndian(name[17..], sequence);
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(name, hash);
        hash[6] = (byte)((hash[6] & 0x0F) | 0x80);
        hash[8] = (byte)((hash[8] & 0x3F) | 0x80);
        return new Guid(hash[..16], bigEndian: true);
    }

    internal static string TransactionHashValue(MerchantId tenantId, string chainId, string transactionHash) =>
        string.Create(CultureInfo.InvariantCulture, $"{tenantId.Value:N}:{chainId}:{transactionHash}");
}

/// <summary>When an active stream is due to complete, for the completion sweep.</summary>
/// <param name="Id">A UUIDv7 stamped with the due instant, so listing order is due order (to the millisecond).</param>
/// <param name="TenantId">The stream's tenant.</param>
/// <param name="StreamId">The stream.</param>
/// <param name="DueAt">The stream's completion instant when the deadline was written.</param>
/// <param name="Closed">Whether the sweep handled it (completed the stream, or found the deadline superseded).</param>
internal sealed record StreamDeadline(Guid Id, MerchantId TenantId, StreamId StreamId, Instant DueAt, bool Closed);
