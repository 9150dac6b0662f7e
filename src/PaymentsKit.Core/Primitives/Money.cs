using System.Globalization;

namespace PaymentsKit;

/// <summary>
/// An exact amount of one <see cref="PaymentsKit.Asset"/>. The amount never has more decimal places
/// than the asset's scale: constructing one that would is <see cref="PaymentsKitErrorCodes.AmountPrecision"/>,
/// and nothing is rounded unless the caller asks for it with <see cref="Round"/> or <see cref="Truncate"/>.
/// Arithmetic is checked: combining assets is <see cref="PaymentsKitErrorCodes.AssetMismatch"/>, and a result that a
/// <see cref="decimal"/> cannot hold exactly (beyond its range, or needing more than its 28–29 significant digits, as a
/// sum of large 18-place amounts can) is <see cref="PaymentsKitErrorCodes.ArithmeticOverflow"/>, never rounded.
/// </summary>
/// <remarks>
/// <c>default(Money)</c> has no asset and is not a valid amount; every operation on it fails with
/// <see cref="PaymentsKitErrorCodes.InvalidArgument"/>.
/// Text form (invariant culture): the amount with exactly the asset's scale, a space, the code —
/// <c>"12.50 USD"</c>, <c>"-0.0000001 XLM"</c>, <c>"1500 JPY"</c>.
/// </remarks>
public readonly struct Money : IEquatable<Money>, IComparable<Money>, IFormattable
{
    /// <summary>The largest integer a decimal's 96 bits of digits hold.</summary>
    private static readonly System.Numerics.BigInteger DecimalDigitsMax = new(decimal.MaxValue);

    private readonly Asset? _asset;

    private Money(decimal amount, Asset asset)
    {
        // Stored at exactly the asset's scale so equal amounts print and compare identically.
        Amount = Rescale(amount, asset.Scale);
        _asset = asset;
    }

    /// <summary>The amount, with exactly <see cref="Asset.Scale"/> decimal places.</summary>
    public decimal Amount { get; }

    // Every operation on an amount, and every service check of one, reads its asset: refusing here is what makes a
    // default amount passed anywhere fail with a stable code instead of escaping as some other exception.

    /// <summary>The asset the amount is counted in.</summary>
    /// <exception cref="PaymentsKitException"><c>invalid_argument</c> on <c>default(Money)</c>.</exception>
    public Asset Asset => _asset ?? throw PaymentsKitException.InvalidArgument("amount", null, "is required: default(Money) has no asset");

    // Sign and zero from decimal.Sign, which reads the decimal's bits, rather than a comparison with 0m: the ledger asks
    // them of every amount.

    /// <summary>Whether the amount is zero.</summary>
    public bool IsZero => decimal.Sign(Amount) == 0;

    /// <summary>Whether the amount is greater than zero.</summary>
    public bool IsPositive => decimal.Sign(Amount) > 0;

    /// <summary>Whether the amount is less than zero.</summary>
    public bool IsNegative => decimal.Sign(Amount) < 0;

    /// <summary>The amount in the asset's smallest unit (cents, stroops, wei …), exactly, however large.</summary>
    public System.Numerics.BigInteger MinorUnits => ToMinorUnits(Amount, Asset.Scale);

    /// <summary>Creates an amount, rejecting more decimal places than the asset allows.</summary>
    /// <exception cref="PaymentsKitException"><c>amount_precision</c> when <paramref name="amount"/> has too many decimals.</exception>
    public static Money Of(decimal amount, Asset asset)
    {
        ArgumentNullException.ThrowIfNull(asset);
        if (decimal.Round(amount, asset.Scale, MidpointRounding.ToZero) != amount)
        {
            throw new PaymentsKitException(
                PaymentsKitErrorCodes.AmountPrecision,
                string.Create(CultureInfo.InvariantCulture, $"Amount {amount} has more than {asset.Scale} decimal places allowed for {asset.Code}."),
                new Dictionary<string, object?> { ["amount"] = amount, ["asset"] = asset.Code, ["scale"] = asset.Scale });
        }

        return new Money(amount, asset);
    }

    /// <summary>An amount already known to fit the asset's scale (a sum or difference of its amounts): no precision check.</summary>
    internal static Money Exact(decimal amount, Asset asset) => new(amount, asset);

    /// <summary>Zero of an asset.</summary>
    public static Money Zero(Asset asset)
    {
        ArgumentNullException.ThrowIfNull(asset);
        return new Money(new decimal(0, 0, 0, false, checked((byte)asset.Scale)), asset);
    }

    /// <summary>Creates an amount from the asset's smallest unit (e.g. 1250 cents → 12.50 USD).</summary>
    /// <exception cref="PaymentsKitException"><c>arithmetic_overflow</c> when the value does not fit a <see cref="decimal"/>.</exception>
    public static Money FromMinorUnits(System.Numerics.BigInteger minorUnits, Asset asset)
    {
        ArgumentNullException.ThrowIfNull(asset);
        decimal units;
        try
        {
            units = (decimal)minorUnits;
        }
        catch (OverflowException ex)
        {
            throw Overflow(ex, minorUnits.ToString(CultureInfo.InvariantCulture), asset);
        }

        return new Money(units / Pow10(asset.Scale), asset);
    }

    /// <summary>Rounds a raw decimal to the asset's scale with an explicit rounding rule.</summary>
    /// <param name="value">The raw value, e.g. a product or quotient.</param>
    /// <param name="asset">The asset whose scale applies.</param>
    /// <param name="mode">How to round; <see cref="MidpointRounding.ToZero"/> truncates.</param>
    public static Money Round(decimal value, Asset asset, MidpointRounding mode)
    {
        ArgumentNullException.ThrowIfNull(asset);
        return new Money(decimal.Round(value, asset.Scale, mode), asset);
    }

    /// <summary>Cuts a raw decimal down to the asset's scale, toward zero (never rounds up what is owed).</summary>
    public static Money Truncate(decimal value, Asset asset) => Round(value, asset, MidpointRounding.ToZero);

    /// <summary>Parses the text form <c>"12.50 USD"</c>, resolving the code in <paramref name="registry"/>.</summary>
    /// <exception cref="PaymentsKitException">
    /// <c>invalid_argument</c> for malformed text, <c>unknown_asset</c>, or <c>amount_precision</c>.
    /// </exception>
    public static Money Parse(string? text, AssetRegistry registry)
    {
        ArgumentNullException.ThrowIfNull(registry);
        Guard.Text(text, "money", 80);
        var space = text!.IndexOf(' ', StringComparison.Ordinal);
        if (space <= 0 || space != text.LastIndexOf(' '))
        {
            throw PaymentsKitException.InvalidArgument("money", text, "must be '<amount> <asset>', e.g. '12.50 USD'");
        }

        return Of(ParseAmount(text[..space], "money"), registry.Get(text[(space + 1)..]));
    }

    /// <summary>Parses an invariant-culture decimal amount (digits, optional '-' and '.', no exponent or grouping).</summary>
    /// <exception cref="PaymentsKitException"><c>invalid_argument</c> naming <paramref name="field"/>.</exception>
    public static decimal ParseAmount(string? text, string field)
    {
        Guard.Text(text, field, 64);
        if (!decimal.TryParse(text, NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var amount))
        {
            throw PaymentsKitException.InvalidArgument(field, text, "is not a decimal number");
        }

        return amount;
    }

    /// <summary>Adds two amounts of the same asset.</summary>
    /// <exception cref="PaymentsKitException">
    /// <c>asset_mismatch</c>, or <c>arithmetic_overflow</c> when a <see cref="decimal"/> cannot hold the sum exactly.
    /// </exception>
    public static Money operator +(Money left, Money right)
    {
        var asset = SameAsset(left, right);
        decimal sum;
        try
        {
            sum = left.Amount + right.Amount;
        }
        catch (OverflowException ex)
        {
            throw Overflow(ex, $"{left} + {right}", asset);
        }

        return Checked(sum, left, right, subtract: false);
    }

    /// <summary>Subtracts two amounts of the same asset.</summary>
    /// <exception cref="PaymentsKitException">
    /// <c>asset_mismatch</c>, or <c>arithmetic_overflow</c> when a <see cref="decimal"/> cannot hold the difference exactly.
    /// </exception>
    public static Money operator -(Money left, Money right)
    {
        var asset = SameAsset(left, right);
        decimal difference;
        try
        {
            difference = left.Amount - right.Amount;
        }
        catch (OverflowException ex)
        {
            throw Overflow(ex, $"{left} - {right}", asset);
        }

        return Checked(difference, left, right, subtract: true);
    }

    /// <summary>Negates an amount.</summary>
    public static Money operator -(Money value) => new(-value.Amount, value.Asset);

    /// <summary>Compares two amounts of the same asset.</summary>
    public static bool operator <(Money left, Money right) => left.CompareTo(right) < 0;

    /// <summary>Compares two amounts of the same asset.</summary>
    public static bool operator >(Money left, Money right) => left.CompareTo(right) > 0;

    /// <summary>Compares two amounts of the same asset.</summary>
    public static bool operator <=(Money left, Money right) => left.CompareTo(right) <= 0;

    /// <summary>Compares two amounts of the same asset.</summary>
    public static bool operator >=(Money left, Money right) => left.CompareTo(right) >= 0;

    /// <summary>Equality of amount and asset.</summary>
    public static bool operator ==(Money left, Money right) => left.Equals(right);

    /// <summary>Inequality of amount or asset.</summary>
    public static bool operator !=(Money left, Money right) => !left.Equals(right);

    /// <summary>
    /// Multiplies by a factor and rounds the exact product to the asset's scale with <paramref name="mode"/>, once.
    /// </summary>
    /// <exception cref="PaymentsKitException">
    /// <c>arithmetic_overflow</c> when a <see cref="decimal"/> cannot hold the rounded product exactly.
    /// </exception>
    public Money Multiply(decimal factor, MidpointRounding mode)
    {
        var asset = Asset;
        decimal product;
        try
        {
            product = Amount * factor;
        }
        catch (OverflowException ex)
        {
            throw Overflow(ex, $"{this} * {factor}", asset);
        }

        // A decimal product keeps every digit (scale = the factors' scales added) unless it needed more than a decimal
        // holds; then decimal has rounded it already, half to even, and rounding that again with `mode` can differ from
        // rounding the exact product (3 wei × 0.333…3 truncated is 0, not 1 wei), or drop units of the asset's scale.
        if (product.Scale == Amount.Scale + factor.Scale)
        {
            return Round(product, asset, mode);
        }

        var places = Amount.Scale + factor.Scale;
        var exact = Digits(Amount) * Digits(factor);
        var units = places <= asset.Scale
            ? exact * System.Numerics.BigInteger.Pow(10, asset.Scale - places)
            : RoundedQuotient(exact, System.Numerics.BigInteger.Pow(10, places - asset.Scale), mode);
        return FromExactMinorUnits(units, asset, $"{this} * {factor}");
    }

    /// <summary>The absolute value.</summary>
    public Money Abs() => new(Math.Abs(Amount), Asset);

    /// <summary>The smaller of two amounts of the same asset.</summary>
    public static Money Min(Money left, Money right) => left <= right ? left : right;

    /// <summary>The larger of two amounts of the same asset.</summary>
    public static Money Max(Money left, Money right) => left >= right ? left : right;

    /// <inheritdoc />
    public int CompareTo(Money other)
    {
        SameAsset(this, other);
        return Amount.CompareTo(other.Amount);
    }

    /// <inheritdoc />
    public bool Equals(Money other) => Amount == other.Amount && Equals(_asset, other._asset);

    /// <inheritdoc />
    public override bool Equals(object? obj) => obj is Money other && Equals(other);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(Amount, _asset);

    /// <summary>The text form, e.g. <c>"12.50 USD"</c>.</summary>
    public override string ToString() => _asset is null ? "(no asset)" : FormatAmount() + " " + _asset.Code;

    /// <summary>The amount alone with exactly the asset's scale, invariant culture.</summary>
    public string FormatAmount() => Amount.ToString("F" + Asset.Scale.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);

    /// <summary>Formats with the text form; the format and provider are ignored (money is always invariant).</summary>
    string IFormattable.ToString(string? format, IFormatProvider? formatProvider) => ToString();

    private static Asset SameAsset(Money left, Money right)
    {
        var asset = left.Asset;
        if (!asset.Equals(right.Asset))
        {
            throw new PaymentsKitException(
                PaymentsKitErrorCodes.AssetMismatch,
                $"Cannot combine {asset.Code} with {right.Asset.Code}.",
                new Dictionary<string, object?> { ["left"] = asset.Code, ["right"] = right.Asset.Code });
        }

        return asset;
    }

    /// <summary>
    /// The sum or difference of two amounts of one asset from its decimal <paramref name="result"/>, which decimal may
    /// have rounded: overflow if it did.
    /// </summary>
    private static Money Checked(decimal result, Money left, Money right, bool subtract)
    {
        var asset = left.Asset;

        // Amounts never have more places than the scale, so a decimal sum has exactly the scale unless it ran out of
        // digits and rounded (or the amounts were large enough to be held with fewer places): only then is the exact
        // sum worth computing.
        if (result.Scale < asset.Scale)
        {
            var exact = subtract ? left.MinorUnits - right.MinorUnits : left.MinorUnits + right.MinorUnits;
            if (ToMinorUnits(result, asset.Scale) != exact)
            {
                throw Overflow(null, $"{left} {(subtract ? '-' : '+')} {right}", asset);
            }
        }

        return new Money(result, asset);
    }

    /// <summary>The error an overflowing computation in <paramref name="asset"/> fails with.</summary>
    /// <param name="ex">The decimal overflow, or null when the result fitted only rounded.</param>
    /// <param name="expression">What was computed.</param>
    /// <param name="asset">The asset computed in.</param>
    internal static PaymentsKitException Overflow(OverflowException? ex, string expression, Asset asset) =>
        new(PaymentsKitErrorCodes.ArithmeticOverflow,
            $"Arithmetic overflow computing {expression} in {asset.Code}.",
            new Dictionary<string, object?> { ["expression"] = expression, ["asset"] = asset.Code },
            innerException: ex);

    /// <summary><paramref name="value"/> in units of 10^-<paramref name="scale"/>, truncating places beyond it.</summary>
    private static System.Numerics.BigInteger ToMinorUnits(decimal value, int scale)
    {
        // From the decimal's own digits: value × 10^scale overflows decimal for large amounts of 18-place assets.
        var digits = Digits(value);
        var places = value.Scale;
        return places <= scale
            ? digits * System.Numerics.BigInteger.Pow(10, scale - places)
            : digits / System.Numerics.BigInteger.Pow(10, places - scale);
    }

    /// <summary>The signed integer a decimal is, before its scale.</summary>
    private static System.Numerics.BigInteger Digits(decimal value)
    {
        Span<int> bits = stackalloc int[4];
        decimal.GetBits(value, bits);
        var digits = new System.Numerics.BigInteger(unchecked((uint)bits[0]))
            | (new System.Numerics.BigInteger(unchecked((uint)bits[1])) << 32)
            | (new System.Numerics.BigInteger(unchecked((uint)bits[2])) << 64);
        return bits[3] < 0 ? -digits : digits;
    }

    /// <summary>An exact amount from minor units, with fewer places where its digits need it; overflow where a decimal cannot hold it.</summary>
    private static Money FromExactMinorUnits(System.Numerics.BigInteger units, Asset asset, string expression)
    {
        var magnitude = System.Numerics.BigInteger.Abs(units);
        var places = asset.Scale;
        while (magnitude > DecimalDigitsMax && places > 0 && (magnitude % 10).IsZero)
        {
            magnitude /= 10;
            places--;
        }

        if (magnitude > DecimalDigitsMax)
        {
            throw Overflow(null, expression, asset);
        }

        var low = (ulong)(magnitude & ulong.MaxValue);
        var value = new decimal(
            unchecked((int)(uint)low),
            unchecked((int)(uint)(low >> 32)),
            unchecked((int)(uint)(magnitude >> 64)),
            units.Sign < 0,
            (byte)places);
        return new Money(value, asset);
    }

    /// <summary><paramref name="dividend"/> / <paramref name="divisor"/> (positive), rounded to an integer with <paramref name="mode"/>.</summary>
    private static System.Numerics.BigInteger RoundedQuotient(
        System.Numerics.BigInteger dividend, System.Numerics.BigInteger divisor, MidpointRounding mode)
    {
        var quotient = System.Numerics.BigInteger.DivRem(dividend, divisor, out var remainder);
        if (remainder.IsZero)
        {
            return quotient;
        }

        // The quotient is truncated toward zero; `away` is the next integer from zero, on the dividend's side.
        var away = quotient + dividend.Sign;
        var half = (System.Numerics.BigInteger.Abs(remainder) * 2).CompareTo(divisor);
        var roundAway = mode switch
        {
            MidpointRounding.ToZero => false,
            MidpointRounding.AwayFromZero => half >= 0,
            MidpointRounding.ToEven => half > 0 || (half == 0 && !quotient.IsEven),
            MidpointRounding.ToPositiveInfinity => dividend.Sign > 0,
            MidpointRounding.ToNegativeInfinity => dividend.Sign < 0,
            _ => throw new ArgumentOutOfRangeException(nameof(mode), mode, "Not a rounding mode."),
        };
        return roundAway ? away : quotient;
    }

    private static decimal Rescale(decimal value, int scale)
    {
        // decimal keeps trailing zeros; normalise to exactly `scale` fractional digits.
        if (value.Scale == scale)
        {
            // Already there, as every sum of two amounts of one asset is: rounding would change nothing.
            return value;
        }

        var rounded = decimal.Round(value, scale);
        return rounded.Scale == scale ? rounded : rounded + new decimal(0, 0, 0, false, (byte)scale);
    }

    private static decimal Pow10(int exponent)
    {
        var result = 1m;
        for (var i = 0; i < exponent; i++)
        {
            result *= 10m;
        }

        return result;
    }
}
