using System.Globalization;
using System.Numerics;
using System.Text.Json;

namespace PaymentsKit.Chains.Ethereum;

/// <summary>The JSON-RPC hex encodings (Ethereum JSON-RPC spec): quantities and unformatted data, both <c>0x</c>-prefixed.</summary>
internal static class EthHex
{
    /// <summary>A quantity such as <c>0x1b4</c>; malformed text is a <see cref="FormatException"/> (a bad node answer).</summary>
    public static BigInteger ParseQuantity(string? text)
    {
        if (text is null || text.Length < 3 || text[0] != '0' || (text[1] != 'x' && text[1] != 'X') || text.Length > 2 + 64)
        {
            throw new FormatException($"'{text}' is not a hex quantity");
        }

        // A leading zero keeps BigInteger's hex parser from reading the top bit as a sign.
        return BigInteger.TryParse("0" + text[2..], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var value)
            ? value
            : throw new FormatException($"'{text}' is not a hex quantity");
    }

    public static long ParseLong(string? text) => (long)ParseQuantity(text);

    public static BigInteger Quantity(JsonElement element, string name) =>
        ParseQuantity(Rpc.RpcJson.GetString(element, name));

    public static string FormatQuantity(BigInteger value) =>
        "0x" + (value.IsZero ? "0" : value.ToString("x", CultureInfo.InvariantCulture).TrimStart('0'));

    public static byte[] ParseData(string? text)
    {
        if (text is null || !text.StartsWith("0x", StringComparison.OrdinalIgnoreCase) || text.Length % 2 != 0)
        {
            throw new FormatException("data is not 0x-prefixed hex bytes");
        }

        return Convert.FromHexString(text.AsSpan(2));
    }
}
