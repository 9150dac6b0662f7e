using System.Text.Json.Serialization;
using NodaTime;

namespace PaymentsKit.Streaming;

/// <summary>Identifies a payment stream: <c>str_…</c>.</summary>
/// <param name="Value">The UUIDv7 underneath (the <c>streams.id</c> column).</param>
[JsonConverter(typeof(TypedIdJsonConverter<StreamId>))]
public readonly record struct StreamId(Guid Value) : ITypedId<StreamId>
{
    /// <inheritdoc />
    public static string Prefix => "str";

    /// <inheritdoc />
    public static StreamId FromGuid(Guid value) => new(value);

    /// <summary>A new time-ordered id.</summary>
    public static StreamId New(IClock clock) => TypedId.New<StreamId>(clock);

    /// <summary>Parses <c>str_…</c>.</summary>
    public static StreamId Parse(string? text) => TypedId.Parse<StreamId>(text);

    /// <inheritdoc />
    public override string ToString() => TypedId.Format(this);
}
