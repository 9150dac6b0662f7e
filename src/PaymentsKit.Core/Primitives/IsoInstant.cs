using NodaTime;
using NodaTime.Text;

namespace PaymentsKit;

/// <summary>
/// <see cref="InstantPattern.ExtendedIso"/> (<c>uuuu-MM-ddTHH:mm:ss[.fffffffff]Z</c>, trailing fraction zeros dropped) for
/// the hot paths that format or read an instant per operation: the ledger's batches send and answer instants as text, and
/// the pattern engine allocates a builder or parse buckets each time. Same text, same values: anything this code does not
/// handle in its common shape (years outside 1–9999, another separator, an invalid date, …) goes to the pattern itself,
/// which then also gives the error.
/// </summary>
internal static class IsoInstant
{
    /// <summary>The longest text of the common shape: <c>uuuu-MM-ddTHH:mm:ss.fffffffffZ</c>.</summary>
    public const int MaxCommonLength = BaseLength + 10;

    private const int BaseLength = 20; // uuuu-MM-ddTHH:mm:ssZ

    /// <summary>Formats as <see cref="InstantPattern.ExtendedIso"/> does.</summary>
    public static string Format(Instant instant)
    {
        var utc = instant.InUtc().LocalDateTime;
        if (utc.Year is < 1 or > 9999)
        {
            return InstantPattern.ExtendedIso.Format(instant);
        }

        var nanoseconds = utc.NanosecondOfSecond;
        var digits = 9;
        while (nanoseconds != 0 && nanoseconds % 10 == 0)
        {
            nanoseconds /= 10;
            digits--;
        }

        var length = nanoseconds == 0 ? BaseLength : BaseLength + 1 + digits;
        return string.Create(length, (utc, nanoseconds, digits), static (span, state) =>
        {
            var (at, fraction, digits) = state;
            Write(span[..4], at.Year);
            span[4] = '-';
            Write(span.Slice(5, 2), at.Month);
            span[7] = '-';
            Write(span.Slice(8, 2), at.Day);
            span[10] = 'T';
            Write(span.Slice(11, 2), at.Hour);
            span[13] = ':';
            Write(span.Slice(14, 2), at.Minute);
            span[16] = ':';
            Write(span.Slice(17, 2), at.Second);
            if (fraction != 0)
            {
                span[19] = '.';
                Write(span.Slice(20, digits), fraction);
            }

            span[^1] = 'Z';
        });
    }

    /// <summary>Parses as <see cref="InstantPattern.ExtendedIso"/> does; throws its <see cref="UnparsableValueException"/> for bad text.</summary>
    public static Instant Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return TryParseCommon(text, out var instant) ? instant : InstantPattern.ExtendedIso.Parse(text).Value;
    }

    /// <summary>Parses as <see cref="InstantPattern.ExtendedIso"/> does; false for bad text.</summary>
    public static bool TryParse(string text, out Instant instant)
    {
        ArgumentNullException.ThrowIfNull(text);
        return TryParseCommon(text, out instant) || InstantPattern.ExtendedIso.Parse(text).TryGetValue(default, out instant);
    }

    /// <summary>The common shape only; false sends the text to the pattern (which may still accept it).</summary>
    internal static bool TryParseCommon(ReadOnlySpan<char> text, out Instant instant)
    {
        instant = default;
        if (text.Length < BaseLength || text.Length == BaseLength + 1 || text.Length > MaxCommonLength
            || text[4] != '-' || text[7] != '-' || text[10] != 'T' || text[13] != ':' || text[16] != ':' || text[^1] != 'Z'
            || !TryRead(text[..4], out var year) || !TryRead(text.Slice(5, 2), out var month) || !TryRead(text.Slice(8, 2), out var day)
            || !TryRead(text.Slice(11, 2), out var hour) || !TryRead(text.Slice(14, 2), out var minute) || !TryRead(text.Slice(17, 2), out var second))
        {
            return false;
        }

        var nanoseconds = 0;
        if (text.Length > BaseLength)
        {
            // "ss.F…Z": one to nine fraction digits after a period.
            var fraction = text[20..^1];
            if (text[19] != '.' || !TryRead(fraction, out nanoseconds))
            {
                return false;
            }

            for (var i = fraction.Length; i < 9; i++)
            {
                nanoseconds *= 10;
            }
        }
        else if (text[19] != 'Z')
        {
            return false;
        }

        if (year < 1 || month is < 1 or > 12 || day < 1 || day > CalendarSystem.Iso.GetDaysInMonth(year, month) || hour > 23 || minute > 59 || second > 59)
        {
            return false;
        }

        instant = Instant.FromUtc(year, month, day, hour, minute, second).PlusNanoseconds(nanoseconds);
        return true;
    }

    private static bool TryRead(ReadOnlySpan<char> digits, out int value)
    {
        value = 0;
        foreach (var c in digits)
        {
            var digit = c - '0';
            if ((uint)digit > 9)
            {
                return false;
            }

            value = (value * 10) + digit;
        }

        return true;
    }

    private static void Write(Span<char> destination, int value)
    {
        for (var i = destination.Length - 1; i >= 0; i--)
        {
            destination[i] = (char)('0' + (value % 10));
            value /= 10;
        }
    }
}
