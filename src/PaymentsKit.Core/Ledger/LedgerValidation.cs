using System.Globalization;
using System.Text.RegularExpressions;
using NodaTime;

namespace PaymentsKit.Ledger;

/// <summary>The ledger's input checks; each failure names the field and the value.</summary>
internal static partial class LedgerValidation
{
    public const int MaxPostings = 256;
    public const int MaxMetadataEntries = 50;
    public const int MaxMetadataKeyLength = 40;
    public const int MaxMetadataValueLength = 500;
    public const int MaxReferenceLength = 128;
    public const int MaxIdempotencyKeyLength = 255;
    public const int MaxDescriptionLength = 1000;
    public const int MaxCodeLength = 64;
    public const int MaxNameLength = 200;
    public static readonly Duration MaxTimeout = Duration.FromDays(366);

    private static readonly IReadOnlyDictionary<string, string> EmptyMetadata = System.Collections.ObjectModel.ReadOnlyDictionary<string, string>.Empty;

    public static void Tenant(MerchantId tenantId)
    {
        if (tenantId.Value == Guid.Empty)
        {
            throw PaymentsKitException.InvalidArgument("tenantId", tenantId, "must not be empty");
        }
    }

    public static void Account(LedgerAccountId accountId, string field)
    {
        if (accountId.Value == Guid.Empty)
        {
            throw PaymentsKitException.InvalidArgument(field, accountId, "must not be empty");
        }
    }

    public static void Side(LedgerSide side, string field)
    {
        if (side is not (LedgerSide.Debit or LedgerSide.Credit))
        {
            throw PaymentsKitException.InvalidArgument(field, side, "must be debit or credit");
        }
    }

    public static void EntryType(LedgerEntryType? type, string field)
    {
        if (type is not null && !Enum.IsDefined(type.Value))
        {
            throw PaymentsKitException.InvalidArgument(field, type, "is not a ledger entry type");
        }
    }

    /// <summary>A complete posting; field names are only formatted for an error.</summary>
    public static LedgerPosting Posting(LedgerPosting? posting, int index)
    {
        if (posting is null || posting.AccountId.Value == Guid.Empty || posting.Side is not (LedgerSide.Debit or LedgerSide.Credit) || !posting.Amount.IsPositive)
        {
            var field = string.Create(CultureInfo.InvariantCulture, $"postings[{index}]");
            Guard.NotNull(posting, field);
            Account(posting!.AccountId, field + ".account_id");
            Side(posting.Side, field + ".side");
            PositiveAmount(posting.Amount, field + ".amount");
        }

        return posting;
    }

    public static string Code(string? code)
    {
        Guard.Text(code, "code", MaxCodeLength);
        return CodePattern().IsMatch(code!)
            ? code!
            : throw PaymentsKitException.InvalidArgument("code", code, "must be letters, digits, '.', '_', '-', ':' or '/', starting with a letter or digit");
    }

    /// <summary>A present, positive amount.</summary>
    public static Money PositiveAmount(Money amount, string field)
    {
        if (amount == default)
        {
            throw PaymentsKitException.InvalidArgument(field, null, "is required");
        }

        if (!amount.IsPositive)
        {
            throw new PaymentsKitException(
                PaymentsKitErrorCodes.AmountOutOfRange,
                $"{field} must be greater than zero (value: '{amount}').",
                new Dictionary<string, object?> { ["field"] = field, ["value"] = amount.ToString() });
        }

        return amount;
    }

    /// <summary>Requires <paramref name="amount"/> to be in <paramref name="asset"/>: too many decimals for it is <c>amount_precision</c>, another asset <c>asset_mismatch</c>.</summary>
    public static void SameAsset(Money amount, Asset asset, string field, object? owner)
    {
        if (amount.Asset.Equals(asset))
        {
            return;
        }

        if (amount.Asset.Code == asset.Code)
        {
            // The same code under another definition: the amount must at least fit the account's scale.
            Money.Of(amount.Amount, asset);
        }

        throw new PaymentsKitException(
            PaymentsKitErrorCodes.AssetMismatch,
            $"{field} is in {Describe(amount.Asset)} but {owner} counts {Describe(asset)} (value: '{amount}').",
            new Dictionary<string, object?> { ["field"] = field, ["value"] = amount.ToString(), ["expected"] = asset.Code, ["owner"] = owner?.ToString() });
    }

    public static string? OptionalText(string? value, string field, int maxLength) => Guard.OptionalText(value, field, maxLength);

    public static IReadOnlyDictionary<string, string> Metadata(IReadOnlyDictionary<string, string>? metadata)
    {
        if (metadata is null || metadata.Count == 0)
        {
            return EmptyMetadata;
        }

        if (metadata.Count > MaxMetadataEntries)
        {
            throw PaymentsKitException.InvalidArgument(
                "metadata", metadata.Count, string.Create(CultureInfo.InvariantCulture, $"must have at most {MaxMetadataEntries} entries"));
        }

        var copy = new Dictionary<string, string>(metadata.Count, StringComparer.Ordinal);
        foreach (var (key, value) in metadata)
        {
            Guard.Text(key, "metadata key", MaxMetadataKeyLength);
            copy[key] = Guard.Value(value, $"metadata[{key}]", MaxMetadataValueLength);
        }

        return new System.Collections.ObjectModel.ReadOnlyDictionary<string, string>(copy);
    }

    public static void Timeout(Duration? timeout)
    {
        if (timeout is { } value && (value <= Duration.Zero || value > MaxTimeout))
        {
            throw PaymentsKitException.InvalidArgument("timeout", value, "must be positive and at most 366 days");
        }
    }

    public static void Limit(int limit, int max)
    {
        if (limit < 1 || limit > max)
        {
            throw PaymentsKitException.InvalidArgument("limit", limit, string.Create(CultureInfo.InvariantCulture, $"must be between 1 and {max}"));
        }
    }

    /// <summary>Parses a sequence cursor: the last sequence number of the previous page.</summary>
    public static long SequenceCursor(string? cursor) =>
        cursor is null
            ? 0
            : long.TryParse(cursor, NumberStyles.None, CultureInfo.InvariantCulture, out var sequence)
                ? sequence
                : throw PaymentsKitException.InvalidArgument("cursor", cursor, "is not a cursor returned by a previous page");

    public static PaymentsKitException NotFound(string what, object id) =>
        new(PaymentsKitErrorCodes.NotFound,
            $"No {what} '{id}' exists for this tenant.",
            new Dictionary<string, object?> { ["type"] = what, ["id"] = id.ToString() });

    private static string Describe(Asset asset) =>
        string.Create(CultureInfo.InvariantCulture, $"{asset.Code} (scale {asset.Scale}{(asset.Chain is { } chain ? ", " + chain.Value : string.Empty)})");

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._:/-]*$", RegexOptions.CultureInvariant)]
    private static partial Regex CodePattern();
}
