using System.Text.Json.Serialization;
using NodaTime;

namespace PaymentsKit.Payouts;

/// <summary>Identifies a token asset (the security whose holders are paid): <c>tok_…</c>.</summary>
/// <param name="Value">The UUIDv7 underneath.</param>
[JsonConverter(typeof(TypedIdJsonConverter<TokenAssetId>))]
public readonly record struct TokenAssetId(Guid Value) : ITypedId<TokenAssetId>
{
    /// <inheritdoc />
    public static string Prefix => "tok";

    /// <inheritdoc />
    public static TokenAssetId FromGuid(Guid value) => new(value);

    /// <summary>A new time-ordered id.</summary>
    public static TokenAssetId New(IClock clock) => TypedId.New<TokenAssetId>(clock);

    /// <summary>Parses <c>tok_…</c>.</summary>
    public static TokenAssetId Parse(string? text) => TypedId.Parse<TokenAssetId>(text);

    /// <inheritdoc />
    public override string ToString() => TypedId.Format(this);
}

/// <summary>Identifies a distribution (dividend, coupon or snapshot): <c>dist_…</c>.</summary>
/// <param name="Value">The UUIDv7 underneath.</param>
[JsonConverter(typeof(TypedIdJsonConverter<DistributionId>))]
public readonly record struct DistributionId(Guid Value) : ITypedId<DistributionId>
{
    /// <inheritdoc />
    public static string Prefix => "dist";

    /// <inheritdoc />
    public static DistributionId FromGuid(Guid value) => new(value);

    /// <summary>A new time-ordered id.</summary>
    public static DistributionId New(IClock clock) => TypedId.New<DistributionId>(clock);

    /// <summary>Parses <c>dist_…</c>.</summary>
    public static DistributionId Parse(string? text) => TypedId.Parse<DistributionId>(text);

    /// <inheritdoc />
    public override string ToString() => TypedId.Format(this);
}

/// <summary>Identifies one payout batch of a distribution: <c>pbat_…</c>.</summary>
/// <param name="Value">The UUIDv7 underneath.</param>
[JsonConverter(typeof(TypedIdJsonConverter<PayoutBatchId>))]
public readonly record struct PayoutBatchId(Guid Value) : ITypedId<PayoutBatchId>
{
    /// <inheritdoc />
    public static string Prefix => "pbat";

    /// <inheritdoc />
    public static PayoutBatchId FromGuid(Guid value) => new(value);

    /// <summary>A new time-ordered id.</summary>
    public static PayoutBatchId New(IClock clock) => TypedId.New<PayoutBatchId>(clock);

    /// <summary>Parses <c>pbat_…</c>.</summary>
    public static PayoutBatchId Parse(string? text) => TypedId.Parse<PayoutBatchId>(text);

    /// <inheritdoc />
    public override string ToString() => TypedId.Format(this);
}

/// <summary>Identifies a blockchain event listener configuration: <c>evl_…</c>.</summary>
/// <param name="Value">The UUIDv7 underneath.</param>
[JsonConverter(typeof(TypedIdJsonConverter<EventListenerId>))]
public readonly record struct EventListenerId(Guid Value) : ITypedId<EventListenerId>
{
    /// <inheritdoc />
    public static string Prefix => "evl";

    /// <inheritdoc />
    public static EventListenerId FromGuid(Guid value) => new(value);

    /// <summary>A new time-ordered id.</summary>
    public static EventListenerId New(IClock clock) => TypedId.New<EventListenerId>(clock);

    /// <summary>Parses <c>evl_…</c>.</summary>
    public static EventListenerId Parse(string? text) => TypedId.Parse<EventListenerId>(text);

    /// <inheritdoc />
    public override string ToString() => TypedId.Format(this);
}
