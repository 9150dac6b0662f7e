using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using System.Text.Json.Serialization;
using NodaTime;

namespace PaymentsKit;

/// <summary>
/// A strongly typed identifier: a UUIDv7 (time-ordered, stored as <c>uuid</c>) shown with a
/// Stripe-style prefix, e.g. <c>inv_01jd8x6w2qf3y9k7m5n4p0r8st</c>. Implement it on a
/// <c>readonly record struct</c> with a single <see cref="Guid"/>; <see cref="TypedId"/> does the rest.
/// </summary>
/// <typeparam name="TSelf">The implementing id type.</typeparam>
public interface ITypedId<TSelf>
    where TSelf : struct, ITypedId<TSelf>
{
    /// <summary>The prefix before the underscore: lower-case ASCII letters, 1–8 characters.</summary>
    static abstract string Prefix { get; }

    /// <summary>The UUID underneath.</summary>
    Guid Value { get; }

    /// <summary>Wraps a UUID without checks; use <see cref="TypedId.Parse{TId}"/> for untrusted input.</summary>
    static abstract TSelf FromGuid(Guid value);
}

/// <summary>
/// Creates, formats and parses <see cref="ITypedId{TSelf}"/> values. The text form is the prefix,
/// an underscore and the 128 bits of the UUID in 26 lower-case Crockford base32 characters (the
/// TypeID layout), so ids sort by creation time as text and as <c>uuid</c>.
/// </summary>
public static class TypedId
{
    private const int EncodedLength = 26;
    private const string Alphabet = "0123456789abcdefghjkmnpqrstvwxyz";
    private static readonly sbyte[] Decoding = BuildDecoding();

    [ThreadStatic]
    private static byte[]? t_random;

    [ThreadStatic]
    private static int t_randomOffset;

    // The thread's previous UUIDv7: its millisecond and random bits (rand_a, rand_b).
    private const ulong HighMask = 0x0FFF;
    private const ulong LowMask = 0x3FFF_FFFF_FFFF_FFFF;

    [ThreadStatic]
    private static long t_lastMilliseconds;

    [ThreadStatic]
    private static ulong t_lastHigh;

    [ThreadStatic]
    private static ulong t_lastLow;

    /// <summary>Creates a new time-ordered id stamped with the clock's current instant.</summary>
    public static TId New<TId>(IClock clock)
        where TId : struct, ITypedId<TId>
    {
        ArgumentNullException.ThrowIfNull(clock);
        return TId.FromGuid(Version7(clock.GetCurrentInstant()));
    }

    /// <summary>
    /// A UUIDv7 (RFC 9562) stamped with <paramref name="at"/>, as <see cref="Guid.CreateVersion7(DateTimeOffset)"/> makes
    /// it, but drawing its random bits from a per-thread buffer of cryptographically secure bytes refilled 4 KiB at a
    /// time (<see cref="Guid.NewGuid"/> asks the operating system for every id, which cost more than the rest of a ledger
    /// transfer), and monotonic per thread: an id stamped with the same millisecond as the thread's previous one is that
    /// one's 74 random bits plus a random step of 1 to 2^31 (RFC 9562 §6.2, method 2). So the ids one thread creates sort
    /// as they were created, which lets the in-memory ledger index them by their order (decision 0007).
    /// </summary>
    internal static Guid Version7(Instant at)
    {
        var milliseconds = at.ToUnixTimeMilliseconds();
        if (milliseconds < 0)
        {
            // What Guid.CreateVersion7 does for an instant before the Unix epoch.
            return Guid.CreateVersion7(at.ToDateTimeOffset());
        }

        var random = t_random ??= new byte[4096];
        if (t_randomOffset == 0)
        {
            System.Security.Cryptography.RandomNumberGenerator.Fill(random);
        }

        var fresh = random.AsSpan(t_randomOffset, 16);
        t_randomOffset = (t_randomOffset + 16) % random.Length;

        // The 74 random bits: 12 of rand_a, then 62 of rand_b.
        ulong high, low;
        var step = 1 + (System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(fresh) & 0x7FFF_FFFF);
        if (milliseconds == t_lastMilliseconds && t_lastLow + step <= LowMask)
        {
            (high, low) = (t_lastHigh, t_lastLow + step);
        }
        else if (milliseconds == t_lastMilliseconds && t_lastHigh < HighMask)
        {
            (high, low) = (t_lastHigh + 1, t_lastLow + step - LowMask - 1);
        }
        else
        {
            high = System.Buffers.Binary.BinaryPrimitives.ReadUInt16LittleEndian(fresh[4..]) & HighMask;
            low = System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(fresh[8..]) & LowMask;
        }

        (t_lastMilliseconds, t_lastHigh, t_lastLow) = (milliseconds, high, low);
        Span<byte> bytes = stackalloc byte[16];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64BigEndian(bytes, ((ulong)milliseconds << 16) | 0x7000UL | high);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64BigEndian(bytes[8..], 0x8000_0000_0000_0000UL | low);
        return new Guid(bytes, bigEndian: true);
    }

    /// <summary>Formats an id as <c>prefix_base32</c>.</summary>
    public static string Format<TId>(TId id)
        where TId : struct, ITypedId<TId>
    {
        var prefix = TId.Prefix;
        return string.Create(prefix.Length + 1 + EncodedLength, (prefix, id.Value), static (chars, state) =>
        {
            state.prefix.AsSpan().CopyTo(chars);
            chars[state.prefix.Length] = '_';
            Span<byte> raw = stackalloc byte[16];
            state.Value.TryWriteBytes(raw, bigEndian: true, out _);
            Encode(raw, chars[(state.prefix.Length + 1)..]);
        });
    }

    /// <summary>Parses <c>prefix_base32</c>, requiring <typeparamref name="TId"/>'s prefix.</summary>
    /// <exception cref="PaymentsKitException"><c>malformed_id</c> naming the expected prefix and the text.</exception>
    public static TId Parse<TId>(string? text)
        where TId : struct, ITypedId<TId> =>
        TryParse<TId>(text, out var id)
            ? id
            : throw new PaymentsKitException(
                PaymentsKitErrorCodes.MalformedId,
                $"'{Truncated(text)}' is not a valid {typeof(TId).Name}: expected '{TId.Prefix}_' followed by {EncodedLength} base32 characters.",
                new Dictionary<string, object?> { ["type"] = typeof(TId).Name, ["value"] = Truncated(text) });

    /// <summary>Parses without throwing.</summary>
    public static bool TryParse<TId>([NotNullWhen(true)] string? text, out TId id)
        where TId : struct, ITypedId<TId>
    {
        id = default;
        var prefix = TId.Prefix;
        if (text is null || text.Length != prefix.Length + 1 + EncodedLength
            || !text.AsSpan().StartsWith(prefix, StringComparison.Ordinal) || text[prefix.Length] != '_')
        {
            return false;
        }

        Span<byte> bytes = stackalloc byte[16];
        if (!TryDecode(text.AsSpan(prefix.Length + 1), bytes))
        {
            return false;
        }

        id = TId.FromGuid(new Guid(bytes, bigEndian: true));
        return true;
    }

    private static void Encode(ReadOnlySpan<byte> bytes, Span<char> chars)
    {
        // 128 bits into 26 five-bit groups; the first group carries the top 3 bits (130 - 128 = 2 pad bits).
        var value = new UInt128(
            System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(bytes),
            System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(bytes[8..]));
        for (var i = EncodedLength - 1; i >= 0; i--)
        {
            chars[i] = Alphabet[(int)(value & 31)];
            value >>= 5;
        }
    }

    private static bool TryDecode(ReadOnlySpan<char> chars, Span<byte> bytes)
    {
        UInt128 value = 0;
        for (var i = 0; i < EncodedLength; i++)
        {
            var c = chars[i];
            var digit = c < 128 ? Decoding[c] : (sbyte)-1;
            if (digit < 0 || (i == 0 && digit > 7))
            {
                return false;
            }

            value = (value << 5) | (uint)digit;
        }

        // Splitting 128 bits into two halves truncates by design.
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64BigEndian(bytes, unchecked((ulong)(value >> 64)));
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64BigEndian(bytes[8..], unchecked((ulong)value));
        return true;
    }

    private static sbyte[] BuildDecoding()
    {
        var table = new sbyte[128];
        Array.Fill(table, (sbyte)-1);
        for (var i = 0; i < Alphabet.Length; i++)
        {
            table[Alphabet[i]] = (sbyte)i;
        }

        return table;
    }

    private static string? Truncated(string? text) => text is { Length: > 64 } ? text[..64] + "…" : text;
}

/// <summary>Writes and reads an <see cref="ITypedId{TSelf}"/> as its prefixed text form.</summary>
/// <typeparam name="TId">The id type.</typeparam>
public sealed class TypedIdJsonConverter<TId> : JsonConverter<TId>
    where TId : struct, ITypedId<TId>
{
    /// <inheritdoc />
    public override TId Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        reader.TokenType == JsonTokenType.String
            ? TypedId.Parse<TId>(reader.GetString())
            : throw new JsonException($"Expected a string for {typeof(TId).Name}.");

    /// <inheritdoc />
    public override void Write(Utf8JsonWriter writer, TId value, JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.WriteStringValue(TypedId.Format(value));
    }

    /// <inheritdoc />
    public override TId ReadAsPropertyName(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        TypedId.Parse<TId>(reader.GetString());

    /// <inheritdoc />
    public override void WriteAsPropertyName(Utf8JsonWriter writer, TId value, JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.WritePropertyName(TypedId.Format(value));
    }
}
