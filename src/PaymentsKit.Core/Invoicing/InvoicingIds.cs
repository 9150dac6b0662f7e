using System.Text.Json.Serialization;
using NodaTime;

namespace PaymentsKit.Invoicing;

/// <summary>Identifies an invoice: <c>inv_…</c>.</summary>
/// <param name="Value">The UUIDv7 underneath.</param>
[JsonConverter(typeof(TypedIdJsonConverter<InvoiceId>))]
public readonly record struct InvoiceId(Guid Value) : ITypedId<InvoiceId>
{
    /// <inheritdoc />
    public static string Prefix => "inv";

    /// <inheritdoc />
    public static InvoiceId FromGuid(Guid value) => new(value);

    /// <summary>A new time-ordered id.</summary>
    public static InvoiceId New(IClock clock) => TypedId.New<InvoiceId>(clock);

    /// <summary>Parses <c>inv_…</c>.</summary>
    public static InvoiceId Parse(string? text) => TypedId.Parse<InvoiceId>(text);

    /// <inheritdoc />
    public override string ToString() => TypedId.Format(this);
}

/// <summary>Identifies a payment link: <c>plk_…</c>.</summary>
/// <param name="Value">The UUIDv7 underneath.</param>
[JsonConverter(typeof(TypedIdJsonConverter<PaymentLinkId>))]
public readonly record struct PaymentLinkId(Guid Value) : ITypedId<PaymentLinkId>
{
    /// <inheritdoc />
    public static string Prefix => "plk";

    /// <inheritdoc />
    public static PaymentLinkId FromGuid(Guid value) => new(value);

    /// <summary>A new time-ordered id.</summary>
    public static PaymentLinkId New(IClock clock) => TypedId.New<PaymentLinkId>(clock);

    /// <summary>Parses <c>plk_…</c>.</summary>
    public static PaymentLinkId Parse(string? text) => TypedId.Parse<PaymentLinkId>(text);

    /// <inheritdoc />
    public override string ToString() => TypedId.Format(this);
}

/// <summary>Identifies a merchant's client (payer): <c>cli_…</c>.</summary>
/// <param name="Value">The UUIDv7 underneath.</param>
[JsonConverter(typeof(TypedIdJsonConverter<ClientId>))]
public readonly record struct ClientId(Guid Value) : ITypedId<ClientId>
{
    /// <inheritdoc />
    public static string Prefix => "cli";

    /// <inheritdoc />
    public static ClientId FromGuid(Guid value) => new(value);

    /// <summary>A new time-ordered id.</summary>
    public static ClientId New(IClock clock) => TypedId.New<ClientId>(clock);

    /// <summary>Parses <c>cli_…</c>.</summary>
    public static ClientId Parse(string? text) => TypedId.Parse<ClientId>(text);

    /// <inheritdoc />
    public override string ToString() => TypedId.Format(this);
}

/// <summary>Identifies a received payment: <c>pay_…</c>.</summary>
/// <param name="Value">The UUIDv7 underneath.</param>
[JsonConverter(typeof(TypedIdJsonConverter<PaymentId>))]
public readonly record struct PaymentId(Guid Value) : ITypedId<PaymentId>
{
    /// <inheritdoc />
    public static string Prefix => "pay";

    /// <inheritdoc />
    public static PaymentId FromGuid(Guid value) => new(value);

    /// <summary>A new time-ordered id.</summary>
    public static PaymentId New(IClock clock) => TypedId.New<PaymentId>(clock);

    /// <summary>Parses <c>pay_…</c>.</summary>
    public static PaymentId Parse(string? text) => TypedId.Parse<PaymentId>(text);

    /// <inheritdoc />
    public override string ToString() => TypedId.Format(this);
}

/// <summary>Identifies a merchant API key: <c>key_…</c>.</summary>
/// <param name="Value">The UUIDv7 underneath.</param>
[JsonConverter(typeof(TypedIdJsonConverter<ApiKeyId>))]
public readonly record struct ApiKeyId(Guid Value) : ITypedId<ApiKeyId>
{
    /// <inheritdoc />
    public static string Prefix => "key";

    /// <inheritdoc />
    public static ApiKeyId FromGuid(Guid value) => new(value);

    /// <summary>A new time-ordered id.</summary>
    public static ApiKeyId New(IClock clock) => TypedId.New<ApiKeyId>(clock);

    /// <summary>Parses <c>key_…</c>.</summary>
    public static ApiKeyId Parse(string? text) => TypedId.Parse<ApiKeyId>(text);

    /// <inheritdoc />
    public override string ToString() => TypedId.Format(this);
}

/// <summary>Identifies a refund the merchant recorded for an invoice: <c>irf_…</c>.</summary>
/// <param name="Value">The UUIDv7 underneath.</param>
[JsonConverter(typeof(TypedIdJsonConverter<InvoiceRefundId>))]
public readonly record struct InvoiceRefundId(Guid Value) : ITypedId<InvoiceRefundId>
{
    /// <inheritdoc />
    public static string Prefix => "irf";

    /// <inheritdoc />
    public static InvoiceRefundId FromGuid(Guid value) => new(value);

    /// <summary>A new time-ordered id.</summary>
    public static InvoiceRefundId New(IClock clock) => TypedId.New<InvoiceRefundId>(clock);

    /// <summary>Parses <c>irf_…</c>.</summary>
    public static InvoiceRefundId Parse(string? text) => TypedId.Parse<InvoiceRefundId>(text);

    /// <inheritdoc />
    public override string ToString() => TypedId.Format(this);
}

/// <summary>Identifies a refund the merchant recorded of a payment's unapplied money: <c>prf_…</c>.</summary>
/// <param name="Value">The UUIDv7 underneath.</param>
[JsonConverter(typeof(TypedIdJsonConverter<PaymentRefundId>))]
public readonly record struct PaymentRefundId(Guid Value) : ITypedId<PaymentRefundId>
{
    /// <inheritdoc />
    public static string Prefix => "prf";

    /// <inheritdoc />
    public static PaymentRefundId FromGuid(Guid value) => new(value);

    /// <summary>A new time-ordered id.</summary>
    public static PaymentRefundId New(IClock clock) => TypedId.New<PaymentRefundId>(clock);

    /// <summary>Parses <c>prf_…</c>.</summary>
    public static PaymentRefundId Parse(string? text) => TypedId.Parse<PaymentRefundId>(text);

    /// <inheritdoc />
    public override string ToString() => TypedId.Format(this);
}
