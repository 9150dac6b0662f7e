using System.Text.Json;
using System.Text.Json.Serialization;

namespace PaymentsKit.PostgreSql;

/// <summary>
/// The serializer settings records are stored with, made to read back every record the store accepted.
/// The in-memory store hands back the instance it was given; this store must do as well from JSON. One
/// thing the host's settings cannot read is money in an asset the host never registered: a payment
/// that arrived in an unknown asset is recorded for review, and its amount must still read back. Such
/// an amount reads as an unregistered asset with the scale it was written with (the amount is always
/// written with exactly its asset's scale); registered assets resolve as before.
/// </summary>
internal static class RecordJson
{
    public static JsonSerializerOptions For(JsonSerializerOptions options)
    {
        var copy = new JsonSerializerOptions(options);
        for (var i = 0; i < copy.Converters.Count; i++)
        {
            if (copy.Converters[i] is JsonConverter<Money> money)
            {
                copy.Converters[i] = new UnregisteredAssetTolerant(money);
            }
        }

        copy.MakeReadOnly(populateMissingResolver: true);
        return copy;
    }

    private sealed class UnregisteredAssetTolerant(JsonConverter<Money> registered) : JsonConverter<Money>
    {
        public override Money Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
        {
            // A record is read from one buffer, so a copy of the reader can read the same object again.
            var start = reader;
            try
            {
                return registered.Read(ref reader, typeToConvert, options);
            }
            catch (PaymentsKitException ex) when (ex.Code == PaymentsKitErrorCodes.UnknownAsset)
            {
                reader = start;
                return ReadUnregistered(ref reader);
            }
        }

        public override void Write(Utf8JsonWriter writer, Money value, JsonSerializerOptions options) =>
            registered.Write(writer, value, options);

        private static Money ReadUnregistered(ref Utf8JsonReader reader)
        {
            string? amount = null;
            string? code = null;
            while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
            {
                var name = reader.GetString();
                reader.Read();
                switch (name)
                {
                    case "amount":
                        amount = reader.GetString();
                        break;
                    case "asset":
                        code = reader.GetString();
                        break;
                    default:
                        reader.Skip();
                        break;
                }
            }

            var parsed = Money.ParseAmount(amount, "amount");
            var dot = amount!.IndexOf('.', StringComparison.Ordinal);
            var scale = dot < 0 ? 0 : amount.Length - dot - 1;
            return Money.Of(parsed, Asset.Create(code ?? throw new JsonException("Money without an asset."), scale));
        }
    }
}
