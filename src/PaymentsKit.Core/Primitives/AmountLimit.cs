using System.Globalization;

namespace PaymentsKit;

/// <summary>
/// The largest amount an invoice, a payment link or a quote takes, whatever its asset: the routing seed's
/// <c>numeric(18,6)</c> columns hold no more, and one limit for every amount a merchant asks to be paid keeps an
/// invoice from asking for what no quote could route (any positive <see cref="decimal"/>, up to 7.9e28, was taken).
/// </summary>
public static class AmountLimit
{
    /// <summary>The largest amount taken: 999,999,999,999.999999.</summary>
    public const decimal Max = 999_999_999_999.999999m;

    /// <summary>Requires <paramref name="amount"/> to be positive and at most <see cref="Max"/>.</summary>
    /// <exception cref="PaymentsKitException"><c>amount_out_of_range</c> otherwise, naming <paramref name="field"/>.</exception>
    internal static Money RequirePositive(Money amount, string field) =>
        amount.IsPositive && amount.Amount <= Max
            ? amount
            : throw new PaymentsKitException(
                PaymentsKitErrorCodes.AmountOutOfRange,
                string.Create(CultureInfo.InvariantCulture, $"{field} must be positive and at most {Max} (value: '{amount}')."),
                new Dictionary<string, object?> { ["field"] = field, ["value"] = amount.Amount, ["asset"] = amount.Asset.Code, ["max"] = Max });
}
