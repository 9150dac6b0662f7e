using System.Text.Json;
using System.Text.Json.Serialization;

namespace PaymentsKit.Json;

/// <summary>
/// Writes <see cref="Money"/> as <c>{"amount":"12.50","asset":"USD"}</c>: the amount as a string so no
/// JSON reader turns it into a binary float, the asset by code, resolved on read in a registry.
/// </summary>
/// <param name="registry">Resolves asset codes when reading.</param>
public sealed class MoneyJsonConverter(AssetRegistry registry) : JsonConverter<Money>
{
    /// <inheritdoc />
    public override Money Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            throw new JsonException("Expected an object for Money.");
        }

        string? amount = null;
        string? asset = null;
        while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
        {
            // The name compared in place (no string per name): money is read three times per ledger transfer answer.
            var isAmount = reader.ValueTextEquals("amount"u8);
            var isAsset = !isAmount && reader.ValueTextEquals("asset"u8);
            reader.Read();
            if (isAmount)
            {
                amount = reader.GetString();
            }
            else if (isAsset)
            {
                asset = reader.GetString();
            }
            else
            {
                reader.Skip();
            }
        }

        return Money.Of(Money.ParseAmount(amount, "amount"), registry.Get(asset));
    }

    /// <inheritdoc />
    public override void Write(Utf8JsonWriter writer, Money value, JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.WriteStartObject();
        writer.WriteString("amount", value.FormatAmount());
        writer.WriteString("asset", value.Asset.Code);
        writer.WriteEndObject();
    }
}
