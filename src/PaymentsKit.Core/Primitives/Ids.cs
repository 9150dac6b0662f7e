using System.Text.Json.Serialization;
using NodaTime;

namespace PaymentsKit;

/// <summary>Identifies a merchant (the tenant of invoicing, routing and the ledger): <c>mer_…</c>.</summary>
/// <param name="Value">The UUIDv7 underneath.</param>
[JsonConverter(typeof(TypedIdJsonConverter<MerchantId>))]
public readonly record struct MerchantId(Guid Value) : ITypedId<MerchantId>
{
    /// <inheritdoc />
    public static string Prefix => "mer";

    /// <inheritdoc />
    public static MerchantId FromGuid(Guid value) => new(value);

    /// <summary>A new time-ordered id.</summary>
    public static MerchantId New(IClock clock) => TypedId.New<MerchantId>(clock);

    /// <summary>Parses <c>mer_…</c>.</summary>
    public static MerchantId Parse(string? text) => TypedId.Parse<MerchantId>(text);

    /// <inheritdoc />
    public override string ToString() => TypedId.Format(this);
}
