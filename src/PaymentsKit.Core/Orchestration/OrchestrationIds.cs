using System.Text.Json.Serialization;
using NodaTime;

namespace PaymentsKit.Orchestration;

/// <summary>Identifies a partner (the tenant of orchestration): <c>ptn_…</c>.</summary>
/// <param name="Value">The UUIDv7 underneath.</param>
[JsonConverter(typeof(TypedIdJsonConverter<PartnerId>))]
public readonly record struct PartnerId(Guid Value) : ITypedId<PartnerId>
{
    /// <inheritdoc />
    public static string Prefix => "ptn";

    /// <inheritdoc />
    public static PartnerId FromGuid(Guid value) => new(value);

    /// <summary>A new time-ordered id.</summary>
    public static PartnerId New(IClock clock) => TypedId.New<PartnerId>(clock);

    /// <summary>Parses <c>ptn_…</c>.</summary>
    public static PartnerId Parse(string? text) => TypedId.Parse<PartnerId>(text);

    /// <inheritdoc />
    public override string ToString() => TypedId.Format(this);
}

/// <summary>Identifies an orchestrated payment transaction: <c>txn_…</c>.</summary>
/// <param name="Value">The UUIDv7 underneath.</param>
[JsonConverter(typeof(TypedIdJsonConverter<TransactionId>))]
public readonly record struct TransactionId(Guid Value) : ITypedId<TransactionId>
{
    /// <inheritdoc />
    public static string Prefix => "txn";

    /// <inheritdoc />
    public static TransactionId FromGuid(Guid value) => new(value);

    /// <summary>A new time-ordered id.</summary>
    public static TransactionId New(IClock clock) => TypedId.New<TransactionId>(clock);

    /// <summary>Parses <c>txn_…</c>.</summary>
    public static TransactionId Parse(string? text) => TypedId.Parse<TransactionId>(text);

    /// <inheritdoc />
    public override string ToString() => TypedId.Format(this);
}

/// <summary>Identifies a refund of a transaction: <c>rfd_…</c>.</summary>
/// <param name="Value">The UUIDv7 underneath.</param>
[JsonConverter(typeof(TypedIdJsonConverter<RefundId>))]
public readonly record struct RefundId(Guid Value) : ITypedId<RefundId>
{
    /// <inheritdoc />
    public static string Prefix => "rfd";

    /// <inheritdoc />
    public static RefundId FromGuid(Guid value) => new(value);

    /// <summary>A new time-ordered id.</summary>
    public static RefundId New(IClock clock) => TypedId.New<RefundId>(clock);

    /// <summary>Parses <c>rfd_…</c>.</summary>
    public static RefundId Parse(string? text) => TypedId.Parse<RefundId>(text);

    /// <inheritdoc />
    public override string ToString() => TypedId.Format(this);
}

/// <summary>Identifies one entry of a transaction's event history: <c>tev_…</c>.</summary>
/// <param name="Value">The UUIDv7 underneath.</param>
[JsonConverter(typeof(TypedIdJsonConverter<TransactionEventId>))]
public readonly record struct TransactionEventId(Guid Value) : ITypedId<TransactionEventId>
{
    /// <inheritdoc />
    public static string Prefix => "tev";

    /// <inheritdoc />
    public static TransactionEventId FromGuid(Guid value) => new(value);

    /// <summary>A new time-ordered id.</summary>
    public static TransactionEventId New(IClock clock) => TypedId.New<TransactionEventId>(clock);

    /// <summary>Parses <c>tev_…</c>.</summary>
    public static TransactionEventId Parse(string? text) => TypedId.Parse<TransactionEventId>(text);

    /// <inheritdoc />
    public override string ToString() => TypedId.Format(this);
}

/// <summary>Identifies one audit log entry: <c>aud_…</c>.</summary>
/// <param name="Value">The UUIDv7 underneath.</param>
[JsonConverter(typeof(TypedIdJsonConverter<AuditLogId>))]
public readonly record struct AuditLogId(Guid Value) : ITypedId<AuditLogId>
{
    /// <inheritdoc />
    public static string Prefix => "aud";

    /// <inheritdoc />
    public static AuditLogId FromGuid(Guid value) => new(value);

    /// <summary>A new time-ordered id.</summary>
    public static AuditLogId New(IClock clock) => TypedId.New<AuditLogId>(clock);

    /// <summary>Parses <c>aud_…</c>.</summary>
    public static AuditLogId Parse(string? text) => TypedId.Parse<AuditLogId>(text);

    /// <inheritdoc />
    public override string ToString() => TypedId.Format(this);
}
