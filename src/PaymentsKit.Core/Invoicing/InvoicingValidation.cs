using System.Globalization;
using System.Text.RegularExpressions;
using NodaTime;

namespace PaymentsKit.Invoicing;

/// <summary>Input checks of the invoicing module; each failure names the field and the value.</summary>
internal static partial class InvoicingValidation
{
    public const int MaxMetadataEntries = 50;
    public const int MaxMetadataKeyLength = 40;
    public const int MaxMetadataValueLength = 500;
    public const int MaxEmailLength = 254;

    // Stellar's MEMO_TEXT holds 28 bytes; the character set keeps memos easy to type and unambiguous.
    public const int MaxMemoLength = 28;

    public static IReadOnlyDictionary<string, string> Metadata(IReadOnlyDictionary<string, string>? metadata)
    {
        if (metadata is null || metadata.Count == 0)
        {
            return new Dictionary<string, string>(StringComparer.Ordinal);
        }

        if (metadata.Count > MaxMetadataEntries)
        {
            throw PaymentsKitException.InvalidArgument(
                "metadata", string.Create(CultureInfo.InvariantCulture, $"{metadata.Count} entries"), $"must have at most {MaxMetadataEntries} entries");
        }

        var copy = new Dictionary<string, string>(metadata.Count, StringComparer.Ordinal);
        foreach (var (key, value) in metadata)
        {
            Guard.Text(key, "metadata key", MaxMetadataKeyLength);
            copy[key] = Guard.Value(value, $"metadata[{key}]", MaxMetadataValueLength);
        }

        return copy;
    }

    public static string? Email(string? email, string field)
    {
        if (email is null)
        {
            return null;
        }

        Guard.Text(email, field, MaxEmailLength);
        return EmailPattern().IsMatch(email)
            ? email
            : throw PaymentsKitException.InvalidArgument(field, email, "is not an email address");
    }

    public static string Memo(string memo) =>
        MemoPattern().IsMatch(memo ?? string.Empty)
            ? memo!
            : throw PaymentsKitException.InvalidArgument(
                "memo", memo, $"must be 1–{MaxMemoLength} characters: letters, digits and - _ . : # /");

    public static string Slug(string slug) =>
        SlugPattern().IsMatch(slug ?? string.Empty)
            ? slug!
            : throw PaymentsKitException.InvalidArgument(
                "slug", slug, "must be 3–64 lower-case letters, digits and dashes, starting and ending with a letter or digit");

    public static Money Amount(decimal amount, Asset asset, string field) => AmountLimit.RequirePositive(Money.Of(amount, asset), field);

    /// <summary>
    /// What a refund sends back: positive. What is owed back caps it, not <see cref="AmountLimit.Max"/>: that limit is on what
    /// a merchant asks to be paid, and a payer may send more than any invoice asks (an overpayment, a payment that matched nothing).
    /// </summary>
    public static Money RefundAmount(decimal amount, Asset asset, string field)
    {
        var money = Money.Of(amount, asset);
        return money.IsPositive
            ? money
            : throw new PaymentsKitException(
                PaymentsKitErrorCodes.AmountOutOfRange,
                string.Create(CultureInfo.InvariantCulture, $"{field} must be positive (value: {money})."),
                new Dictionary<string, object?> { ["field"] = field, ["value"] = amount, ["asset"] = asset.Code });
    }

    public static Instant? Future(Instant? value, Instant now, string field) =>
        value is null || value > now
            ? value
            : throw PaymentsKitException.InvalidArgument(field, value, string.Create(CultureInfo.InvariantCulture, $"must be after now ({now})"));

    public static int Limit(int? limit, int defaultLimit, int max)
    {
        var value = limit ?? defaultLimit;
        return value >= 1 && value <= max
            ? value
            : throw PaymentsKitException.InvalidArgument("limit", value, string.Create(CultureInfo.InvariantCulture, $"must be between 1 and {max}"));
    }

    public static PaymentsKitException NotFound(string what, object id) =>
        new(PaymentsKitErrorCodes.NotFound,
            string.Create(CultureInfo.InvariantCulture, $"No {what} '{id}' exists for this merchant."),
            new Dictionary<string, object?> { ["type"] = what, ["id"] = id.ToString() });

    public static PaymentsKitException Duplicate(string field, string value, string scope) =>
        new(PaymentsKitErrorCodes.DuplicateKey,
            $"{field} '{value}' is already used {scope}.",
            new Dictionary<string, object?> { ["field"] = field, ["value"] = value });

    [GeneratedRegex(@"^[^\s@]+@[^\s@]+\.[^\s@]+$", RegexOptions.CultureInvariant)]
    private static partial Regex EmailPattern();

    [GeneratedRegex("^[A-Za-z0-9._:#/-]{1,28}$", RegexOptions.CultureInvariant)]
    private static partial Regex MemoPattern();

    [GeneratedRegex("^[a-z0-9][a-z0-9-]{1,62}[a-z0-9]$", RegexOptions.CultureInvariant)]
    private static partial Regex SlugPattern();
}
