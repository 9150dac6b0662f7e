using System.Globalization;

namespace PaymentsKit;

/// <summary>
/// Input checks shared by every module. Each failure is a <see cref="PaymentsKitException"/> with
/// <see cref="PaymentsKitErrorCodes.InvalidArgument"/> naming the field and the value.
/// </summary>
public static class Guard
{
    /// <summary>Requires a non-null, non-blank string of at most <paramref name="maxLength"/> characters, without NUL characters.</summary>
    /// <returns>The value, unchanged.</returns>
    public static string Text(string? value, string field, int maxLength)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            throw PaymentsKitException.InvalidArgument(field, value, "is required and must not be blank");
        }

        if (value.Length > maxLength)
        {
            throw PaymentsKitException.InvalidArgument(
                field,
                value[..Math.Min(value.Length, 64)] + "…",
                string.Create(CultureInfo.InvariantCulture, $"must be at most {maxLength} characters but has {value.Length}"));
        }

        // PostgreSQL's text and jsonb cannot hold U+0000: refused here, so every store accepts the same text.
        if (value.Contains('\0', StringComparison.Ordinal))
        {
            throw PaymentsKitException.InvalidArgument(field, value.Replace("\0", "\\0", StringComparison.Ordinal), "must not contain the NUL character (U+0000)");
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
