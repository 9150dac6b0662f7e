using System.Text.Json;
using System.Text.Json.Serialization;
using NodaTime;
using NodaTime.Text;

namespace PaymentsKit.Json;

/// <summary>Writes an <see cref="Instant"/> as extended ISO-8601 in UTC (nanosecond precision kept).</summary>
public sealed class InstantJsonConverter : JsonConverter<Instant>
{
    /// <inheritdoc />
    public override Instant Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        // The common shape straight from the UTF-8 bytes (ASCII only, so one char per byte); anything else through the pattern.
        if (reader.TokenType == JsonTokenType.String && !reader.HasValueSequence && !reader.ValueIsEscaped && reader.ValueSpan.Length <= IsoInstant.MaxCommonLength)
        {
            Span<char> text = stackalloc char[IsoInstant.MaxCommonLength];
            var bytes = reader.ValueSpan;
            for (var i = 0; i < bytes.Length; i++)
            {
                text[i] = (char)bytes[i];
            }

            if (IsoInstant.TryParseCommon(text[..bytes.Length], out var instant))
            {
                return instant;
            }
        }

        return Parse(InstantPattern.ExtendedIso, ref reader);
    }

    /// <inheritdoc />
    public override void Write(Utf8JsonWriter writer, Instant value, JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.WriteStringValue(IsoInstant.Format(value));
    }

    internal static T Parse<T>(IPattern<T> pattern, ref Utf8JsonReader reader)
    {
        if (reader.TokenType != JsonTokenType.String)
        {
            throw new JsonException($"Expected a string for {typeof(T).Name}.");
        }

        var result = pattern.Parse(reader.GetString()!);
        return result.Success ? result.Value : throw new JsonException(result.Exception.Message, result.Exception);
    }
}

/// <summary>Writes a <see cref="LocalDateTime"/> as extended ISO-8601 without offset.</summary>
public sealed class LocalDateTimeJsonConverter : JsonConverter<LocalDateTime>
{
    /// <inheritdoc />
    public override LocalDateTime Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        InstantJsonConverter.Parse(LocalDateTimePattern.ExtendedIso, ref reader);

    /// <inheritdoc />
    public override void Write(Utf8JsonWriter writer, LocalDateTime value, JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.WriteStringValue(LocalDateTimePattern.ExtendedIso.Format(value));
    }
}

/// <summary>Writes a <see cref="Duration"/> in NodaTime's round-trip pattern (<c>-D:hh:mm:ss.fffffffff</c>).</summary>
public sealed class DurationJsonConverter : JsonConverter<Duration>
{
    /// <inheritdoc />
    public override Duration Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        InstantJsonConverter.Parse(DurationPattern.Roundtrip, ref reader);

    /// <inheritdoc />
    public override void Write(Utf8JsonWriter writer, Duration value, JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.WriteStringValue(DurationPattern.Roundtrip.Format(value));
    }
}
