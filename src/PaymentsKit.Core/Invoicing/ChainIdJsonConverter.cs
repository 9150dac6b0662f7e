using System.Text.Json;
using System.Text.Json.Serialization;

namespace PaymentsKit.Invoicing;

/// <summary>Writes a <see cref="ChainId"/> as its name, so stored invoicing records round-trip through JSON.</summary>
internal sealed class ChainIdJsonConverter : JsonConverter<ChainId>
{
    public override ChainId Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        reader.TokenType == JsonTokenType.String
            ? ChainId.Of(reader.GetString())
            : throw new JsonException("Expected a string for ChainId.");

    public override void Write(Utf8JsonWriter writer, ChainId value, JsonSerializerOptions options) =>
        writer.WriteStringValue(value.Value);
}
