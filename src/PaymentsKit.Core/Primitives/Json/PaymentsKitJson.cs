using System.Text.Json;
using System.Text.Json.Serialization;

namespace PaymentsKit.Json;

/// <summary>The JSON settings PaymentsKit uses for stored records, webhook payloads and the sample API.</summary>
public static class PaymentsKitJson
{
    /// <summary>
    /// Creates options with snake_case names, string enums (integers are refused) and the converters for <see cref="Money"/>
    /// (resolving assets in <paramref name="registry"/>) and NodaTime types.
    /// </summary>
    public static JsonSerializerOptions CreateOptions(AssetRegistry registry)
    {
        ArgumentNullException.ThrowIfNull(registry);
        var options = new JsonSerializerOptions(JsonSerializerDefaults.Web)
        {
            PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
            DictionaryKeyPolicy = null,
            NumberHandling = JsonNumberHandling.Strict,
        };
        // The wire format is the snake_case name: an integer ("priority": 1, or 99, an undefined value) is refused as an
        // unknown name is. Every defined value is written as its name, so no stored record or payload holds an integer.
        options.Converters.Add(new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower, allowIntegerValues: false));
        options.Converters.Add(new MoneyJsonConverter(registry));
        options.Converters.Add(new InstantJsonConverter());
        options.Converters.Add(new LocalDateTimeJsonConverter());
        options.Converters.Add(new DurationJsonConverter());
        options.MakeReadOnly(populateMissingResolver: true);
        return options;
    }
}
