using System.Text.Json.Serialization;
using NodaTime;

namespace PaymentsKit.Routing;

/// <summary>Identifies a route quote: <c>quo_…</c>.</summary>
/// <param name="Value">The UUIDv7 underneath.</param>
[JsonConverter(typeof(TypedIdJsonConverter<QuoteId>))]
public readonly record struct QuoteId(Guid Value) : ITypedId<QuoteId>
{
    /// <inheritdoc />
    public static string Prefix => "quo";

    /// <inheritdoc />
    public static QuoteId FromGuid(Guid value) => new(value);

    /// <summary>A new time-ordered id.</summary>
    public static QuoteId New(IClock clock) => TypedId.New<QuoteId>(clock);

    /// <summary>Parses <c>quo_…</c>.</summary>
    public static QuoteId Parse(string? text) => TypedId.Parse<QuoteId>(text);

    /// <inheritdoc />
    public override string ToString() => TypedId.Format(this);
}

/// <summary>Identifies a payment intent: <c>pi_…</c>.</summary>
/// <param name="Value">The UUIDv7 underneath.</param>
[JsonConverter(typeof(TypedIdJsonConverter<PaymentIntentId>))]
public readonly record struct PaymentIntentId(Guid Value) : ITypedId<PaymentIntentId>
{
    /// <inheritdoc />
    public static string Prefix => "pi";

    /// <inheritdoc />
    public static PaymentIntentId FromGuid(Guid value) => new(value);

    /// <summary>A new time-ordered id.</summary>
    public static PaymentIntentId New(IClock clock) => TypedId.New<PaymentIntentId>(clock);

    /// <summary>Parses <c>pi_…</c>.</summary>
    public static PaymentIntentId Parse(string? text) => TypedId.Parse<PaymentIntentId>(text);

    /// <inheritdoc />
    public override string ToString() => TypedId.Format(this);
}

/// <summary>Identifies one broadcast attempt of a payment intent: <c>att_…</c>.</summary>
/// <param name="Value">The UUIDv7 underneath.</param>
[JsonConverter(typeof(TypedIdJsonConverter<PaymentAttemptId>))]
public readonly record struct PaymentAttemptId(Guid Value) : ITypedId<PaymentAttemptId>
{
    /// <inheritdoc />
    public static string Prefix => "att";

    /// <inheritdoc />
    public static PaymentAttemptId FromGuid(Guid value) => new(value);

    /// <summary>A new time-ordered id.</summary>
    public static PaymentAttemptId New(IClock clock) => TypedId.New<PaymentAttemptId>(clock);

    /// <summary>Parses <c>att_…</c>.</summary>
    public static PaymentAttemptId Parse(string? text) => TypedId.Parse<PaymentAttemptId>(text);

    /// <inheritdoc />
    public override string ToString() => TypedId.Format(this);
}

/// <summary>Identifies a stored chain health snapshot: <c>chs_…</c>.</summary>
/// <param name="Value">The UUIDv7 underneath.</param>
[JsonConverter(typeof(TypedIdJsonConverter<ChainHealthSnapshotId>))]
public readonly record struct ChainHealthSnapshotId(Guid Value) : ITypedId<ChainHealthSnapshotId>
{
    /// <inheritdoc />
    public static string Prefix => "chs";

    /// <inheritdoc />
    public static ChainHealthSnapshotId FromGuid(Guid value) => new(value);

    /// <summary>A new time-ordered id.</summary>
    public static ChainHealthSnapshotId New(IClock clock) => TypedId.New<ChainHealthSnapshotId>(clock);

    /// <summary>Parses <c>chs_…</c>.</summary>
    public static ChainHealthSnapshotId Parse(string? text) => TypedId.Parse<ChainHealthSnapshotId>(text);

    /// <inheritdoc />
    public override string ToString() => TypedId.Format(this);
}
