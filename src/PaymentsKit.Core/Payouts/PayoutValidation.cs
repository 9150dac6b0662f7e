using System.Globalization;

namespace PaymentsKit.Payouts;

/// <summary>Input checks of the payouts module; each failure names the field and the value.</summary>
internal static class PayoutValidation
{
    public const int MaxAccountIdLength = 128;

    public static void Tenant(MerchantId tenantId)
    {
        if (tenantId.Value == Guid.Empty)
        {
            throw PaymentsKitException.InvalidArgument("tenant_id", tenantId, "must not be empty");
        }
    }

    /// <summary>A chain identifier (token, contract, account id): 1–<paramref name="maxLength"/> printable ASCII characters without spaces.</summary>
    public static string ChainText(string? value, string field, int maxLength)
    {
        Guard.Text(value, field, maxLength);
        if (!IsChainText(value!))
        {
            throw PaymentsKitException.InvalidArgument(field, value, "must be printable ASCII without spaces");
        }

        return value!;
    }

    public static bool IsChainText(string value)
    {
        foreach (var c in value)
        {
            if (c is < '!' or > '~')
            {
                return false;
            }
        }

        return value.Length > 0;
    }

    public static void HolderAccount(string? account, int index)
    {
        if (account is null || account.Length > MaxAccountIdLength || !IsChainText(account))
        {
            throw PaymentsKitException.InvalidArgument(
                string.Create(CultureInfo.InvariantCulture, $"holders[{index}].account_id"),
                account is { Length: > 64 } ? account[..64] + "…" : account,
                string.Create(CultureInfo.InvariantCulture, $"must be 1–{MaxAccountIdLength} printable ASCII characters without spaces"));
        }
    }

    public static void Limit(int limit)
    {
        if (limit is < 1 or > Storage.BufferedUnitOfWork.MaxPageSize)
        {
            throw PaymentsKitException.InvalidArgument(
                "limit", limit, string.Create(CultureInfo.InvariantCulture, $"must be between 1 and {Storage.BufferedUnitOfWork.MaxPageSize}"));
        }
    }

    public static PaymentsKitException NotFound(string what, object id) =>
        new(PaymentsKitErrorCodes.NotFound, $"No {what} {id} exists for this tenant.", new Dictionary<string, object?> { ["id"] = id.ToString() });
}
