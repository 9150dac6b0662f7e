using System.Buffers;
using System.Globalization;
using System.Numerics;
using System.Runtime.CompilerServices;

namespace PaymentsKit.Payouts;

/// <summary>One holder in a holder snapshot: the account and its balance in the asset token's smallest unit.</summary>
/// <param name="AccountId">The holder's account (e.g. Hedera <c>0.0.123456</c>); unique within a snapshot.</param>
/// <param name="Balance">Token holdings in the smallest unit; zero or more.</param>
public readonly record struct HolderBalance(string AccountId, long Balance);

/// <summary>
/// Exact payout allocation (seed 004). Amounts are in the payment token's smallest unit (<see cref="long"/>,
/// the seed's <c>BIGINT</c>) and are computed once from one holder snapshot.
/// </summary>
/// <remarks>
/// <para>Pro-rata modes use the largest-remainder method: holder i first gets ⌊total × bᵢ / Σb⌋; the units
/// left over (fewer than the number of holders) go one each to the holders with the largest remainders
/// (total × bᵢ) mod Σb, ties broken by the larger holding, then by account id (ordinal). So the amounts
/// sum exactly to the total, each is the floor or the ceiling of the exact quotient, holders with zero
/// balance get nothing, and the result does not depend on the order of the input.</para>
/// <para>All arithmetic is exact 128-bit integer arithmetic; nothing is rounded through floating point.</para>
/// </remarks>
public static class Allocation
{
    /// <summary>The most decimals a percentage may carry.</summary>
    public const int MaxPercentDecimals = 12;

    /// <summary>Splits <paramref name="total"/> pro rata to holdings (FIXED payouts).</summary>
    /// <param name="total">The amount to distribute, in the payment token's smallest unit; zero or more.</param>
    /// <param name="holders">The holder snapshot; account ids unique, balances zero or more.</param>
    /// <returns>Each holder's amount, in input order; they sum to <paramref name="total"/>.</returns>
    /// <exception cref="PaymentsKitException">
    /// <c>amount_out_of_range</c> for a negative total; <c>invalid_argument</c> for a blank or duplicate account id,
    /// a negative balance, or a positive total with no positive balance.
    /// </exception>
    public static long[] ProRata(long total, ReadOnlySpan<HolderBalance> holders)
    {
        var amounts = new long[holders.Length];
        ProRata(total, holders, amounts);
        return amounts;
    }

    /// <summary>Splits <paramref name="total"/> pro rata into a caller-provided span (same rules as <see cref="ProRata(long, ReadOnlySpan{HolderBalance})"/>).</summary>
    /// <param name="total">The amount to distribute; zero or more.</param>
    /// <param name="holders">The holder snapshot.</param>
    /// <param name="amounts">Receives each holder's amount; at least as long as <paramref name="holders"/>.</param>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void ProRata(long total, ReadOnlySpan<HolderBalance> holders, Span<long> amounts)
    {
        if (total < 0)
        {
            throw new PaymentsKitException(
                PaymentsKitErrorCodes.AmountOutOfRange,
                string.Create(CultureInfo.InvariantCulture, $"The distribution total must not be negative (value: '{total}')."),
                new Dictionary<string, object?> { ["field"] = "total", ["value"] = total });
        }

        if (amounts.Length < holders.Length)
        {
            throw PaymentsKitException.InvalidArgument("amounts", amounts.Length, "must be at least as long as holders");
        }

        var sum = ValidateHolders(holders);
        if (sum == 0)
        {
            if (total > 0)
            {
                throw PaymentsKitException.InvalidArgument("holders", holders.Length, "has no holder with a positive balance to receive the total");
            }

            amounts[..holders.Length].Clear();
            return;
        }

        var rented = ArrayPool<Candidate>.Shared.Rent(holders.Length);
        try
        {
            var candidates = 0;
            var distributed = 0L;
            var totalUnsigned = (ulong)total;
            var sumFits64 = sum <= ulong.MaxValue;
            for (var i = 0; i < holders.Length; i++)
            {
                var product = (UInt128)totalUnsigned * (ulong)holders[i].Balance;
                UInt128 share;
                UInt128 remainder;
                if (sumFits64 && product <= ulong.MaxValue)
                {
                    (var q, var r) = Math.DivRem((ulong)product, (ulong)sum);
                    share = q;
                    remainder = r;
                }
                else if (sumFits64)
                {
                    // The quotient is a share, at most the total, so it fits 64 bits: no general 128-bit division needed.
                    var q = DivRem128By64((ulong)(product >> 64), unchecked((ulong)product), (ulong)sum, out var r);
                    share = q;
                    remainder = r;
                }
                else
                {
                    (share, remainder) = UInt128.DivRem(product, sum);
                }

                amounts[i] = (long)share;
                distributed += (long)share;
                if (remainder != 0)
                {
                    rented[candidates++] = new Candidate(remainder, holders[i].Balance, i);
                }
            }

            var leftover = total - distributed;
            if (leftover > 0)
            {
                // Σ remainders = leftover × Σb and each remainder < Σb, so more than `leftover` holders have one.
                var span = rented.AsSpan(0, candidates);
                SelectLargest(span, (int)leftover, holders);
                foreach (var winner in span[..(int)leftover])
                {
                    amounts[winner.Index]++;
                }
            }
        }
        finally
        {
            ArrayPool<Candidate>.Shared.Return(rented);
        }
    }

    /// <summary>The amount a percentage of a pool comes to, truncated to the smallest unit (toward the payer).</summary>
    /// <param name="pool">The stated pool, in the payment token's smallest unit; zero or more.</param>
    /// <param name="percent">Greater than 0 and at most 100, with at most <see cref="MaxPercentDecimals"/> decimals.</param>
    /// <exception cref="PaymentsKitException"><c>amount_out_of_range</c> for a negative pool or a percentage outside (0, 100]; <c>amount_precision</c> for too many decimals.</exception>
    public static long PercentageOfPool(long pool, decimal percent)
    {
        if (pool < 0)
        {
            throw new PaymentsKitException(
                PaymentsKitErrorCodes.AmountOutOfRange,
                string.Create(CultureInfo.InvariantCulture, $"The pool must not be negative (value: '{pool}')."),
                new Dictionary<string, object?> { ["field"] = "pool", ["value"] = pool });
        }

        if (percent <= 0m || percent > 100m)
        {
            throw new PaymentsKitException(
                PaymentsKitErrorCodes.AmountOutOfRange,
                string.Create(CultureInfo.InvariantCulture, $"percent must be greater than 0 and at most 100 (value: '{percent}')."),
                new Dictionary<string, object?> { ["field"] = "percent", ["value"] = percent });
        }

        var (mantissa, scale) = Decompose(percent, MaxPercentDecimals, "percent");

        // pool < 2^63 and mantissa ≤ 100 × 10^12 < 2^47, so the product fits 128 bits exactly.
        var result = (UInt128)(ulong)pool * mantissa / (100 * Pow10(scale));
        return (long)result;
    }

    /// <summary>PERCENTAGE payouts: <paramref name="percent"/> of <paramref name="pool"/> (truncated), split pro rata.</summary>
    /// <exception cref="PaymentsKitException">As <see cref="PercentageOfPool"/> and <see cref="ProRata(long, ReadOnlySpan{HolderBalance})"/>.</exception>
    public static long[] Percentage(long pool, decimal percent, ReadOnlySpan<HolderBalance> holders) =>
        ProRata(PercentageOfPool(pool, percent), holders);

    /// <summary>
    /// Per-share payouts (dividends declared per share): holder i gets ⌊bᵢ / 10^<paramref name="shareDecimals"/> ×
    /// <paramref name="amountPerShare"/>⌋ in the payment token's smallest unit, truncated toward the payer. The total
    /// is the sum of the amounts; what truncation leaves stays with the payer.
    /// </summary>
    /// <param name="amountPerShare">Payment token units per whole share; positive, at most 18 decimals.</param>
    /// <param name="paymentScale">The payment token's decimals (0–18).</param>
    /// <param name="shareDecimals">The asset token's decimals, i.e. smallest units per whole share (0–18).</param>
    /// <param name="holders">The holder snapshot.</param>
    /// <exception cref="PaymentsKitException">
    /// <c>amount_out_of_range</c> for a non-positive per-share amount; <c>amount_precision</c> for too many decimals;
    /// <c>invalid_argument</c> for bad scales or holders; <c>arithmetic_overflow</c> when an amount or the total does not fit 64 bits.
    /// </exception>
    public static long[] PerShare(decimal amountPerShare, int paymentScale, int shareDecimals, ReadOnlySpan<HolderBalance> holders)
    {
        if (amountPerShare <= 0m)
        {
            throw new PaymentsKitException(
                PaymentsKitErrorCodes.AmountOutOfRange,
                string.Create(CultureInfo.InvariantCulture, $"amount_per_share must be greater than 0 (value: '{amountPerShare}')."),
                new Dictionary<string, object?> { ["field"] = "amount_per_share", ["value"] = amountPerShare });
        }

        CheckScale(paymentScale, "payment_scale");
        CheckScale(shareDecimals, "share_decimals");
        var (mantissa, scale) = Decompose(amountPerShare, Asset.MaxScale, "amount_per_share");
        if (mantissa > ulong.MaxValue)
        {
            throw new PaymentsKitException(
                PaymentsKitErrorCodes.ArithmeticOverflow,
                string.Create(CultureInfo.InvariantCulture, $"amount_per_share {amountPerShare} has more significant digits than per-share allocation supports."),
                new Dictionary<string, object?> { ["field"] = "amount_per_share", ["value"] = amountPerShare });
        }

        ValidateHolders(holders);

        // amount = b × m × 10^(paymentScale − scale − shareDecimals); b < 2^63 and m < 2^64 keep b × m below 2^127,
        // and the exponent is at least −36, whose power of ten still fits 128 bits.
        var exponent = paymentScale - scale - shareDecimals;
        var amounts = new long[holders.Length];
        var sum = 0L;
        try
        {
            for (var i = 0; i < holders.Length; i++)
            {
                var product = (UInt128)(ulong)holders[i].Balance * mantissa;
                var amount = exponent >= 0 ? product * Pow10(exponent) : product / Pow10(-exponent);
                amounts[i] = checked((long)amount);
                sum = checked(sum + amounts[i]);
            }
        }
        catch (OverflowException ex)
        {
            throw new PaymentsKitException(
                PaymentsKitErrorCodes.ArithmeticOverflow,
                string.Create(CultureInfo.InvariantCulture, $"Per-share amounts at {amountPerShare} per share do not fit 64-bit smallest units."),
                new Dictionary<string, object?> { ["field"] = "amount_per_share", ["value"] = amountPerShare },
                innerException: ex);
        }

        return amounts;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static UInt128 ValidateHolders(ReadOnlySpan<HolderBalance> holders)
    {
        var seen = new HashSet<string>(holders.Length, StringComparer.Ordinal);
        UInt128 sum = 0;
        for (var i = 0; i < holders.Length; i++)
        {
            var holder = holders[i];
            if (string.IsNullOrWhiteSpace(holder.AccountId))
            {
                throw PaymentsKitException.InvalidArgument(HolderField(i, "account_id"), holder.AccountId, "is required and must not be blank");
            }

            if (holder.Balance < 0)
            {
                throw PaymentsKitException.InvalidArgument(HolderField(i, "balance"), holder.Balance, "must not be negative");
            }

            if (!seen.Add(holder.AccountId))
            {
                throw PaymentsKitException.InvalidArgument(HolderField(i, "account_id"), holder.AccountId, "appears more than once in the snapshot");
            }

            sum += (ulong)holder.Balance;
        }

        return sum;
    }

    /// <summary>
    /// Divides the 128-bit (<paramref name="high"/>:<paramref name="low"/>) by <paramref name="divisor"/> when the
    /// quotient fits 64 bits (<paramref name="high"/> &lt; <paramref name="divisor"/>): Knuth's algorithm D on 32-bit
    /// digits (Hacker's Delight, divlu), several times faster than the general <see cref="UInt128"/> division.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static ulong DivRem128By64(ulong high, ulong low, ulong divisor, out ulong remainder)
    {
        const ulong Base = 1UL << 32;
        unchecked
        {
            var shift = BitOperations.LeadingZeroCount(divisor);
            divisor <<= shift;
            var divisorHigh = divisor >> 32;
            var divisorLow = divisor & 0xFFFF_FFFF;
            var numerator32 = shift == 0 ? high : (high << shift) | (low >> (64 - shift));
            var numerator10 = low << shift;
            var numerator1 = numerator10 >> 32;
            var numerator0 = numerator10 & 0xFFFF_FFFF;

            var quotient1 = numerator32 / divisorHigh;
            var estimate = numerator32 - (quotient1 * divisorHigh);
            while (quotient1 >= Base || quotient1 * divisorLow > (Base * estimate) + numerator1)
            {
                quotient1--;
                estimate += divisorHigh;
                if (estimate >= Base)
                {
                    break;
                }
            }

            var numerator21 = (numerator32 * Base) + numerator1 - (quotient1 * divisor);
            var quotient0 = numerator21 / divisorHigh;
            estimate = numerator21 - (quotient0 * divisorHigh);
            while (quotient0 >= Base || quotient0 * divisorLow > (Base * estimate) + numerator0)
            {
                quotient0--;
                estimate += divisorHigh;
                if (estimate >= Base)
                {
                    break;
                }
            }

            remainder = ((numerator21 * Base) + numerator0 - (quotient0 * divisor)) >> shift;
            return (quotient1 * Base) + quotient0;
        }
    }

    private static string HolderField(int index, string name) =>
        string.Create(CultureInfo.InvariantCulture, $"holders[{index}].{name}");

    private static void CheckScale(int scale, string field)
    {
        if (scale is < 0 or > Asset.MaxScale)
        {
            throw PaymentsKitException.InvalidArgument(
                field, scale, string.Create(CultureInfo.InvariantCulture, $"must be between 0 and {Asset.MaxScale}"));
        }
    }

    private static (UInt128 Mantissa, int Scale) Decompose(decimal value, int maxScale, string field)
    {
        Span<int> bits = stackalloc int[4];
        decimal.GetBits(value, bits);
        var scale = (bits[3] >> 16) & 0xFF;
        var mantissa = ((UInt128)unchecked((uint)bits[2]) << 64) | ((UInt128)unchecked((uint)bits[1]) << 32) | unchecked((uint)bits[0]);

        // Trailing zeros carry no precision: 1.50 has scale 2 but means 1.5.
        while (scale > 0 && mantissa % 10 == 0)
        {
            mantissa /= 10;
            scale--;
        }

        if (scale > maxScale)
        {
            throw new PaymentsKitException(
                PaymentsKitErrorCodes.AmountPrecision,
                string.Create(CultureInfo.InvariantCulture, $"{field} {value} has more than {maxScale} decimal places."),
                new Dictionary<string, object?> { ["field"] = field, ["value"] = value, ["scale"] = maxScale });
        }

        return (mantissa, scale);
    }

    private static UInt128 Pow10(int exponent)
    {
        UInt128 result = 1;
        for (var i = 0; i < exponent; i++)
        {
            result *= 10;
        }

        return result;
    }

    /// <summary>Moves the <paramref name="count"/> best candidates (see <see cref="Compare"/>) to the front, in no particular order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void SelectLargest(Span<Candidate> items, int count, ReadOnlySpan<HolderBalance> holders)
    {
        // Quickselect (median of three): expected linear time, which keeps a million holders far below a second.
        var low = 0;
        var high = items.Length - 1;
        while (low < high)
        {
            var pivotIndex = MedianOfThree(items, low, low + ((high - low) / 2), high, holders);
            var pivot = items[pivotIndex];
            (items[pivotIndex], items[high]) = (items[high], items[pivotIndex]);
            var store = low;
            for (var i = low; i < high; i++)
            {
                if (Compare(items[i], pivot, holders) < 0)
                {
                    (items[i], items[store]) = (items[store], items[i]);
                    store++;
                }
            }

            (items[store], items[high]) = (items[high], items[store]);
            if (store == count - 1 || store == count)
            {
                return;
            }

            if (store > count)
            {
                high = store - 1;
            }
            else
            {
                low = store + 1;
            }
        }
    }

    private static int MedianOfThree(Span<Candidate> items, int a, int b, int c, ReadOnlySpan<HolderBalance> holders)
    {
        var ab = Compare(items[a], items[b], holders);
        var bc = Compare(items[b], items[c], holders);
        var ac = Compare(items[a], items[c], holders);
        if ((ab <= 0 && bc <= 0) || (ab >= 0 && bc >= 0))
        {
            return b;
        }

        return (ab <= 0 && ac >= 0) || (ab >= 0 && ac <= 0) ? a : c;
    }

    /// <summary>Orders the best candidate first: larger remainder, then larger holding, then account id (ordinal).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Compare(in Candidate x, in Candidate y, ReadOnlySpan<HolderBalance> holders)
    {
        var byRemainder = y.Remainder.CompareTo(x.Remainder);
        if (byRemainder != 0)
        {
            return byRemainder;
        }

        var byBalance = y.Balance.CompareTo(x.Balance);
        return byBalance != 0 ? byBalance : string.CompareOrdinal(holders[x.Index].AccountId, holders[y.Index].AccountId);
    }

    private readonly record struct Candidate(UInt128 Remainder, long Balance, int Index);
}
