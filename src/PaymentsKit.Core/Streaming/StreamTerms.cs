using System.Globalization;
using NodaTime;

namespace PaymentsKit.Streaming;

/// <summary>
/// The validated, immutable terms of one payment stream: asset, rate per second, total, start and
/// optional end. Creating terms does the exact integer pre-computation that makes
/// <see cref="StreamAccrual"/> allocation-free and exact.
/// </summary>
/// <remarks>
/// Amounts carry at most <see cref="AmountScale"/> decimals: the asset's scale, but never more than the
/// seed's <c>decimal(20,9)</c> columns hold (<see cref="MaxScale"/>). Time is counted in whole
/// microseconds (what a PostgreSQL <c>timestamp</c> stores), so both stores evaluate identically.
/// </remarks>
public sealed class StreamTerms
{
    /// <summary>The most decimals a rate or an amount may carry (seed 002: <c>decimal(20,9)</c>).</summary>
    public const int MaxScale = 9;

    /// <summary>The largest rate or total the seed's <c>decimal(20,9)</c> columns hold.</summary>
    public const decimal MaxValue = 99_999_999_999.999999999m;

    // rate (9 decimals) × elapsed microseconds = units × 10^(9 + 6).
    private const int ProductScale = MaxScale + 6;

    private static readonly UInt128[] PowersOf10 = BuildPowersOf10();

    private StreamTerms(Asset asset, decimal ratePerSecond, decimal total, Instant start, Instant? end, int amountScale)
    {
        Asset = asset;
        RatePerSecond = ratePerSecond;
        Total = total;
        Start = start;
        End = end;
        AmountScale = amountScale;
        RateNanos = ToScaledInteger(ratePerSecond, MaxScale);
        TotalMinor = ToScaledInteger(total, amountScale);
        Divisor = Pow10(ProductScale - amountScale);
        CapProduct = TotalMinor * Divisor;
        StartMicros = ToMicros(start);
        EndMicros = end is { } e ? ToMicros(e) : long.MaxValue;
    }

    /// <summary>The asset streamed.</summary>
    public Asset Asset { get; }

    /// <summary>Units of <see cref="Asset"/> streamed per second of active time (up to 9 decimals).</summary>
    public decimal RatePerSecond { get; }

    /// <summary>The most the stream can ever pay out.</summary>
    public decimal Total { get; }

    /// <summary>When streaming begins (may be in the future).</summary>
    public Instant Start { get; }

    /// <summary>When streaming stops, or null for an open-ended stream that runs until the total is paid.</summary>
    public Instant? End { get; }

    /// <summary>The decimals amounts are truncated to: min(asset scale, <see cref="MaxScale"/>).</summary>
    public int AmountScale { get; }

    /// <summary>The smallest amount that can accrue: 10^-<see cref="AmountScale"/>.</summary>
    public decimal MinorUnit => new(1, 0, 0, false, (byte)AmountScale);

    internal UInt128 RateNanos { get; }

    internal UInt128 TotalMinor { get; }

    internal UInt128 Divisor { get; }

    internal UInt128 CapProduct { get; }

    internal long StartMicros { get; }

    internal long EndMicros { get; }

    /// <summary>Validates and creates stream terms.</summary>
    /// <param name="asset">The asset streamed.</param>
    /// <param name="ratePerSecond">Units per second; positive, at most 9 decimals.</param>
    /// <param name="total">The total allocated; positive, at most <see cref="AmountScale"/> decimals.</param>
    /// <param name="start">When streaming begins.</param>
    /// <param name="end">When it stops, or null for open-ended; must be after <paramref name="start"/>.</param>
    /// <exception cref="PaymentsKitException">
    /// <c>amount_out_of_range</c> for a zero/negative/oversized rate or total, or when rate × (end − start)
    /// exceeds the total; <c>amount_precision</c> for too many decimals; <c>invalid_argument</c> when the end
    /// is not after the start.
    /// </exception>
    public static StreamTerms Create(Asset asset, decimal ratePerSecond, decimal total, Instant start, Instant? end)
    {
        Guard.NotNull(asset, "stream.asset");
        var amountScale = Math.Min(asset.Scale, MaxScale);
        CheckAmount(ratePerSecond, "rate_per_second", MaxScale, asset);
        CheckAmount(total, "total_amount", amountScale, asset);
        if (end is { } e && e <= start)
        {
            throw new PaymentsKitException(
                PaymentsKitErrorCodes.InvalidArgument,
                string.Create(CultureInfo.InvariantCulture, $"end_time {e} must be after start_time {start} (value: '{e}')."),
                new Dictionary<string, object?> { ["field"] = "end_time", ["value"] = e, ["start_time"] = start });
        }

        var terms = new StreamTerms(asset, ratePerSecond, total, start, end, amountScale);
        if (end is not null)
        {
            // Exact rate × duration, before truncation: a schedule that would stream more than it holds is rejected.
            var product = terms.RateNanos * (UInt128)(terms.EndMicros - terms.StartMicros);
            if (product > terms.CapProduct)
            {
                throw new PaymentsKitException(
                    PaymentsKitErrorCodes.AmountOutOfRange,
                    string.Create(
                        CultureInfo.InvariantCulture,
                        $"rate_per_second {ratePerSecond} × {(end.Value - start).TotalSeconds} s streams more than total_amount {total} {asset.Code}."),
                    new Dictionary<string, object?>
                    {
                        ["field"] = "rate_per_second",
                        ["value"] = ratePerSecond,
                        ["total_amount"] = total,
                        ["duration_seconds"] = (end.Value - start).TotalSeconds,
                    });
            }
        }

        return terms;
    }

    /// <summary>An amount with exactly <see cref="AmountScale"/> decimals from a count of minor units (below 2^96).</summary>
    internal decimal FromMinor(UInt128 minor)
    {
        var lo = unchecked((int)(uint)minor);
        var mid = unchecked((int)(uint)(minor >> 32));
        var hi = unchecked((int)(uint)(minor >> 64));
        return new decimal(lo, mid, hi, false, (byte)AmountScale);
    }

    /// <summary>An amount as a count of minor units, rejecting negatives and excess decimals.</summary>
    /// <remarks>Read straight from the decimal's mantissa and scale: no decimal arithmetic on the settlement path.</remarks>
    internal UInt128 ToMinor(decimal amount, string field)
    {
        Span<int> bits = stackalloc int[4];
        decimal.GetBits(amount, bits);
        var scale = (bits[3] >> 16) & 0xFF;
        var negative = bits[3] < 0;
        var mantissa = unchecked(new UInt128((uint)bits[2], ((ulong)(uint)bits[1] << 32) | (uint)bits[0]));

        // A mantissa below 2^96 times at most 10^9 stays below 2^126: no overflow.
        var (minor, excess) = scale <= AmountScale
            ? (mantissa * Pow10(AmountScale - scale), UInt128.Zero)
            : UInt128.DivRem(mantissa, Pow10(scale - AmountScale));
        if ((!negative || mantissa == 0) && excess == 0 && minor <= TotalMinor)
        {
            return minor;
        }

        throw PaymentsKitException.InvalidArgument(
            field,
            amount,
            string.Create(CultureInfo.InvariantCulture, $"must be between 0 and the stream total {Total} with at most {AmountScale} decimals"));
    }

    /// <summary>Whole microseconds since the Unix epoch, rounded toward the start of time.</summary>
    internal static long ToMicros(Instant instant)
    {
        var (quotient, remainder) = Math.DivRem(instant.ToUnixTimeTicks(), 10L);
        return remainder < 0 ? quotient - 1 : quotient;
    }

    internal static Instant FromMicros(long micros) => Instant.FromUnixTimeTicks(micros * 10L);

    private static void CheckAmount(decimal value, string field, int scale, Asset asset)
    {
        if (value <= 0m || value > MaxValue)
        {
            throw new PaymentsKitException(
                PaymentsKitErrorCodes.AmountOutOfRange,
                string.Create(CultureInfo.InvariantCulture, $"{field} must be greater than 0 and at most {MaxValue} (value: '{value}')."),
                new Dictionary<string, object?> { ["field"] = field, ["value"] = value });
        }

        if (decimal.Round(value, scale, MidpointRounding.ToZero) != value)
        {
            throw new PaymentsKitException(
                PaymentsKitErrorCodes.AmountPrecision,
                string.Create(CultureInfo.InvariantCulture, $"{field} {value} has more than {scale} decimal places allowed for a {asset.Code} stream."),
                new Dictionary<string, object?> { ["field"] = field, ["value"] = value, ["asset"] = asset.Code, ["scale"] = scale });
        }
    }

    private static UInt128 ToScaledInteger(decimal value, int scale)
    {
        // value has at most `scale` decimals and is below 10^11, so value × 10^scale is an exact integer below 2^96.
        var scaled = decimal.Truncate(value * (decimal)Pow10(scale));
        return (UInt128)scaled;
    }

    private static UInt128 Pow10(int exponent) => PowersOf10[exponent];

    private static UInt128[] BuildPowersOf10()
    {
        // A decimal's scale is at most 28, and the products here scale by at most 10^15.
        var powers = new UInt128[29];
        powers[0] = 1;
        for (var i = 1; i < powers.Length; i++)
        {
            powers[i] = powers[i - 1] * 10;
        }

        return powers;
    }
}
