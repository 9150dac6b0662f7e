using System.Buffers;
using System.Globalization;

namespace PaymentsKit;

/// <summary>
/// Input checks shared by every module. Each failure is a <see cref="PaymentsKitException"/> with
/// <see cref="PaymentsKitErrorCodes.InvalidArgument"/> naming the field and the value.
/// </summary>
public static class Guard
{
    /// <summary>Every control character: C0 (U+0000–U+001F), DEL (U+007F) and C1 (U+0080–U+009F).</summary>
    private static readonly SearchValues<char> ControlCharacters = SearchValues.Create(Controls(allowLineBreaks: false));

    /// <summary>The control characters prose may not hold: all but tab, line feed and carriage return.</summary>
    private static readonly SearchValues<char> ProseControlCharacters = SearchValues.Create(Controls(allowLineBreaks: true));

    /// <summary>
    /// Requires a non-null, non-blank string of at most <paramref name="maxLength"/> characters, without control
    /// characters (C0, DEL, C1) or unpaired surrogates: names, labels, keys, ids, references. Free text that may run over
    /// several lines takes <see cref="Prose"/> instead.
    /// </summary>
    /// <returns>The value, unchanged.</returns>
    public static string Text(string? value, string field, int maxLength) => Check(value, field, maxLength, ControlCharacters);

    /// <summary>
    /// Like <see cref="Text"/> but lets tab, line feed and carriage return through, for free text a person writes on
    /// several lines (descriptions, reasons); every other control character is still refused.
    /// </summary>
    /// <returns>The value, unchanged.</returns>
    public static string Prose(string? value, string field, int maxLength) => Check(value, field, maxLength, ProseControlCharacters);

    /// <summary>Like <see cref="Prose"/> but lets null through; blank or oversized values still fail.</summary>
    public static string? OptionalProse(string? value, string field, int maxLength) =>
        value is null ? null : Prose(value, field, maxLength);

    private static string Check(string? value, string field, int maxLength, SearchValues<char> refused)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            throw PaymentsKitException.InvalidArgument(field, value is null ? null : Printable(value), "is required and must not be blank");
        }

        if (value.Length > maxLength)
        {
            throw PaymentsKitException.InvalidArgument(
                field,
                Printable(value[..Math.Min(value.Length, 64)]) + "…",
                string.Create(CultureInfo.InvariantCulture, $"must be at most {maxLength} characters but has {value.Length}"));
        }

        // PostgreSQL's text and jsonb cannot hold U+0000, and UTF-8 cannot carry an unpaired surrogate (it would come back as
        // U+FFFD): refused here, so every store keeps the same text. Other control characters are kept by every store, but
        // in a key or name they are never meant, and a line break in one forges lines in logs and headers.
        if (value.AsSpan().ContainsAny(refused) || !IsStorable(value))
        {
            throw PaymentsKitException.InvalidArgument(
                field,
                Printable(value),
                ReferenceEquals(refused, ControlCharacters)
                    ? "must not contain control characters (U+0000–U+001F, U+007F–U+009F) or an unpaired surrogate"
                    : "must not contain control characters other than tab and line breaks, or an unpaired surrogate");
        }

        return value;
    }

    /// <summary>A refused value as an error shows it: each control character and unpaired surrogate replaced by U+FFFD.</summary>
    internal static string Printable(string value)
    {
        var stored = Storable(value);
        if (!stored.AsSpan().ContainsAny(ControlCharacters))
        {
            return stored;
        }

        var chars = stored.ToCharArray();
        for (var i = 0; i < chars.Length; i++)
        {
            if (char.IsControl(chars[i]))
            {
                chars[i] = '\uFFFD';
            }
        }

        return new string(chars);
    }

    private static string Controls(bool allowLineBreaks)
    {
        var controls = new System.Text.StringBuilder();
        for (var c = '\0'; c <= '\u009F'; c++)
        {
            if (char.IsControl(c) && !(allowLineBreaks && (c is '\t' or '\n' or '\r')))
            {
                controls.Append(c);
            }
        }

        return controls.ToString();
    }

    /// <summary>
    /// Text from outside PaymentsKit's checks (an executor's or provider's error text) as every store keeps it: each NUL
    /// character and unpaired surrogate replaced by U+FFFD, anything else unchanged.
    /// </summary>
    public static string Storable(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        var bad = FirstUnstorable(value, 0);
        if (bad < 0)
        {
            return value;
        }

        var chars = value.ToCharArray();
        for (; bad >= 0; bad = FirstUnstorable(value, bad + 1))
        {
            chars[bad] = '\uFFFD';
        }

        return new string(chars);
    }

    /// <summary>Whether every store keeps <paramref name="value"/> exactly: no NUL character, no unpaired surrogate.</summary>
    private static bool IsStorable(string value) => FirstUnstorable(value, 0) < 0;

    /// <summary>The index of the first NUL character or unpaired surrogate at or after <paramref name="start"/>; -1 when none.</summary>
    private static int FirstUnstorable(string value, int start)
    {
        // Guard.Text runs on every call's text: without surrogates, one vectorised search for a NUL.
        if (value.AsSpan(start).IndexOfAnyInRange('\uD800', '\uDFFF') < 0)
        {
            return value.IndexOf('\0', start);
        }

        for (var i = start; i < value.Length; i++)
        {
            var c = value[i];
            if (c == '\0' || char.IsLowSurrogate(c))
            {
                return i;
            }

            if (char.IsHighSurrogate(c))
            {
                if (i + 1 == value.Length || !char.IsLowSurrogate(value[i + 1]))
                {
                    return i;
                }

                i++;
            }
        }

        return -1;
    }

    /// <summary>
    /// Requires a non-null string (blank allowed, as a metadata value may be) of at most <paramref name="maxLength"/>
    /// characters, without NUL characters or unpaired surrogates.
    /// </summary>
    /// <returns>The value, unchanged.</returns>
    public static string Value(string? value, string field, int maxLength)
    {
        if (value is null || value.Length > maxLength || !IsStorable(value))
        {
            throw PaymentsKitException.InvalidArgument(
                field,
                value is null ? null : Storable(value.Length > 64 ? value[..64] + "…" : value),
                string.Create(CultureInfo.InvariantCulture, $"must be a string of at most {maxLength} characters, without NUL characters or unpaired surrogates"));
        }

        return value;
    }

    /// <summary>Like <see cref="Text"/> but lets null through; blank or oversized values still fail.</summary>
    public static string? OptionalText(string? value, string field, int maxLength) =>
        value is null ? null : Text(value, field, maxLength);

    /// <summary>Requires a non-null reference.</summary>
    public static T NotNull<T>(T? value, string field)
        where T : class =>
        value ?? throw PaymentsKitException.InvalidArgument(field, null, "is required");
}
