using System.Collections.Frozen;
using System.Globalization;

namespace PaymentsKit.Orchestration;

/// <summary>A row of the currencies lookup: its <see cref="DecimalPlaces"/> governs every amount in it.</summary>
/// <param name="Code">The ISO 4217 code, three upper-case letters.</param>
/// <param name="Name">The display name.</param>
/// <param name="Symbol">The display symbol, if any.</param>
/// <param name="DecimalPlaces">How many decimals an amount may carry (JPY 0), 0–4.</param>
/// <param name="IsActive">Whether new transactions may use it.</param>
public sealed record Currency(string Code, string Name, string? Symbol, int DecimalPlaces, bool IsActive = true)
{
    /// <summary>The seed's currencies: USD, EUR, GBP, JPY (no decimals) and THB.</summary>
    public static IReadOnlyList<Currency> Seeded { get; } =
    [
        new("USD", "US Dollar", "$", 2),
        new("EUR", "Euro", "€", 2),
        new("GBP", "British Pound", "£", 2),
        new("JPY", "Japanese Yen", "¥", 0),
        new("THB", "Thai Baht", "฿", 2),
    ];
}

/// <summary>A row of the payment methods lookup.</summary>
/// <param name="Id">The row id (the seed's <c>SERIAL</c>).</param>
/// <param name="Code">The code transactions carry, e.g. <c>card</c>.</param>
/// <param name="Name">The display name.</param>
/// <param name="IsActive">Whether new transactions may use it.</param>
public sealed record PaymentMethod(int Id, string Code, string Name, bool IsActive = true)
{
    /// <summary>The seed's payment methods: card, bank transfer, e-wallet, crypto.</summary>
    public static IReadOnlyList<PaymentMethod> Seeded { get; } =
    [
        new(1, "card", "Credit/Debit Card"),
        new(2, "bank_transfer", "Bank Transfer"),
        new(3, "e_wallet", "E-Wallet"),
        new(4, "crypto", "Cryptocurrency"),
    ];
}

/// <summary>
/// The lookups transactions are checked against: currencies (each mapped onto its
/// <see cref="Asset"/> in the host's <see cref="AssetRegistry"/>, so <see cref="Money.Of"/> enforces
/// its decimal places) and payment methods. Built once from <see cref="OrchestrationOptions"/>.
/// </summary>
public sealed class OrchestrationCatalog
{
    private readonly FrozenDictionary<string, (Currency Currency, Asset Asset)> _currencies;
    private readonly FrozenDictionary<string, PaymentMethod> _methods;

    /// <summary>Builds the catalog, registering each currency's asset (an existing asset must have the same scale).</summary>
    /// <exception cref="PaymentsKitException"><c>asset_conflict</c> when a currency's decimal places differ from a registered asset's scale.</exception>
    public OrchestrationCatalog(IEnumerable<Currency> currencies, IEnumerable<PaymentMethod> paymentMethods, AssetRegistry registry)
    {
        ArgumentNullException.ThrowIfNull(currencies);
        ArgumentNullException.ThrowIfNull(paymentMethods);
        ArgumentNullException.ThrowIfNull(registry);
        Currencies = [.. currencies];
        PaymentMethods = [.. paymentMethods];
        _currencies = Currencies.ToFrozenDictionary(
            c => c.Code, c => (c, registry.Register(Asset.Create(c.Code, c.DecimalPlaces))), StringComparer.Ordinal);
        _methods = PaymentMethods.ToFrozenDictionary(m => m.Code, StringComparer.Ordinal);
    }

    /// <summary>Every currency row, active or not.</summary>
    public IReadOnlyList<Currency> Currencies { get; }

    /// <summary>Every payment method row, active or not.</summary>
    public IReadOnlyList<PaymentMethod> PaymentMethods { get; }

    /// <summary>The asset of an active currency.</summary>
    /// <exception cref="PaymentsKitException"><c>unknown_currency</c> for an unknown or inactive code.</exception>
    public Asset GetCurrencyAsset(string? code) =>
        code is not null && _currencies.TryGetValue(code, out var entry) && entry.Currency.IsActive
            ? entry.Asset
            : throw new PaymentsKitException(
                PaymentsKitErrorCodes.UnknownCurrency,
                string.Create(CultureInfo.InvariantCulture, $"currency '{code}' is not an active currency (known: {string.Join(", ", Currencies.Where(c => c.IsActive).Select(c => c.Code))})."),
                new Dictionary<string, object?> { ["field"] = "currency", ["value"] = code });

    /// <summary>An active payment method by code.</summary>
    /// <exception cref="PaymentsKitException"><c>unknown_payment_method</c> for an unknown or inactive code.</exception>
    public PaymentMethod GetPaymentMethod(string? code) =>
        code is not null && _methods.TryGetValue(code, out var method) && method.IsActive
            ? method
            : throw new PaymentsKitException(
                PaymentsKitErrorCodes.UnknownPaymentMethod,
                $"payment_method '{code}' is not an active payment method (known: {string.Join(", ", PaymentMethods.Where(m => m.IsActive).Select(m => m.Code))}).",
                new Dictionary<string, object?> { ["field"] = "payment_method", ["value"] = code });
}
