using System.Text.Json.Serialization;
using NodaTime;
using PaymentsKit.Storage;

namespace PaymentsKit.Testing;

/// <summary>The record id of the conformance suite's test records: <c>wid_…</c>.</summary>
[JsonConverter(typeof(TypedIdJsonConverter<WidgetId>))]
public readonly record struct WidgetId(Guid Value) : ITypedId<WidgetId>
{
    /// <inheritdoc />
    public static string Prefix => "wid";

    /// <inheritdoc />
    public static WidgetId FromGuid(Guid value) => new(value);

    /// <inheritdoc />
    public override string ToString() => TypedId.Format(this);
}

/// <summary>A lifecycle enum, stored by name.</summary>
public enum WidgetStatus
{
    /// <summary>Not yet sold.</summary>
    Draft,

    /// <summary>Available.</summary>
    InStock,

    /// <summary>Gone.</summary>
    SoldOut,
}

/// <summary>
/// The conformance suite's record: every kind of field a domain record has — typed ids, money,
/// instants, an enum, nullable fields, a dictionary and a counter.
/// </summary>
public sealed record Widget(
    WidgetId Id,
    MerchantId MerchantId,
    string Name,
    string? Sku,
    Money Price,
    Money? Discount,
    Instant CreatedAt,
    Instant? ShippedAt,
    WidgetStatus Status,
    IReadOnlyDictionary<string, string> Attributes,
    long Counter);

/// <summary>The collections the conformance suite writes.</summary>
public static class ConformanceCollections
{
    /// <summary>Widgets with a globally unique, optional SKU.</summary>
    public static RecordCollection<Widget> Widgets { get; } = new(
        "conformance_widget",
        w => w.Id.Value,
        w => w.MerchantId.Value,
        [new UniqueKey<Widget>("sku", w => w.Sku)]);

    /// <summary>A second collection over the same record type and table, to show collections are separate.</summary>
    public static RecordCollection<Widget> Gadgets { get; } = new(
        "conformance_gadget",
        w => w.Id.Value,
        w => w.MerchantId.Value,
        [new UniqueKey<Widget>("sku", w => w.Sku)]);
}
