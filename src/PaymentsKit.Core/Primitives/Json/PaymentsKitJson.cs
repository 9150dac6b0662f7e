using System.Text.Json;
using System.Text.Json.Serialization;

namespace PaymentsKit.Json;

/// <summary>The JSON settings PaymentsKit uses for stored records, webhook payloads and the sample API.</summary>
public static class PaymentsKitJson
{
    /// <summary>
    /// Creates options with snake_case names, string enums and the converters for <see cref="Money"/>
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
        options.Converters.Add(new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower));
        options.Converters.Add(new MoneyJsonConverter(registry));
        options.Converters.Add(new InstantJsonConverter());
        options.Converters.Add(new LocalDateTimeJsonConverter());
        options.Converters.Add(new DurationJsonConverter());
        options.MakeReadOnly(populateMissingResolver: true);
        return options;
    }
}
