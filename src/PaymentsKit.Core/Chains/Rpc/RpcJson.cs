using System.Globalization;
using System.Numerics;
using System.Text.Json;

namespace PaymentsKit.Chains.Rpc;

/// <summary>
/// Strict readers for RPC JSON. A missing or mistyped member is a <see cref="FormatException"/>, which
/// <see cref="RpcTransport"/> treats as a malformed answer from that endpoint (and fails over).
/// </summary>
public static class RpcJson
{
    /// <summary>A required string member.</summary>
    public static string GetString(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String
            ? value.GetString()!
            : throw Malformed(name, "a string");

    /// <summary>An optional string member (null when absent or JSON null).</summary>
    public static string? GetOptionalString(JsonElement element, string name)
    {
        if (!element.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return value.ValueKind == JsonValueKind.String ? value.GetString() : throw Malformed(name, "a string");
    }

    /// <summary>A required boolean member.</summary>
    public static bool GetBoolean(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind is JsonValueKind.True or JsonValueKind.False
            ? value.GetBoolean()
            : throw Malformed(name, "a boolean");

    /// <summary>A required integer member given as a JSON number or a decimal string (APIs differ).</summary>
    public static long GetInt64(JsonElement element, string name)
    {
        if (element.TryGetProperty(name, out var value))
        {
            if (value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out var number))
            {
                return number;
            }

            if (value.ValueKind == JsonValueKind.String
                && long.TryParse(value.GetString(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out number))
            {
                return number;
            }
        }

        throw Malformed(name, "an integer");
    }

    /// <summary>A required arbitrary-size integer member given as a JSON number or a decimal string.</summary>
    public static BigInteger GetBigInteger(JsonElement element, string name)
    {
        if (element.TryGetProperty(name, out var value)
            && value.ValueKind is JsonValueKind.Number or JsonValueKind.String
            && BigInteger.TryParse(
                value.ValueKind == JsonValueKind.String ? value.GetString() : value.GetRawText(),
                NumberStyles.AllowLeadingSign,
                CultureInfo.InvariantCulture,
                out var number))
        {
            return number;
        }

        throw Malformed(name, "an integer");
    }

    /// <summary>A required decimal member given as a JSON number or a plain decimal string (no exponent).</summary>
    public static decimal GetDecimal(JsonElement element, string name)
    {
        if (element.TryGetProperty(name, out var value)
            && value.ValueKind is JsonValueKind.Number or JsonValueKind.String
            && decimal.TryParse(
                value.ValueKind == JsonValueKind.String ? value.GetString() : value.GetRawText(),
                NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint,
                CultureInfo.InvariantCulture,
                out var number))
        {
            return number;
        }

        throw Malformed(name, "a decimal number");
    }

    /// <summary>A required member of any kind.</summary>
    public static JsonElement GetProperty(JsonElement element, string name, JsonValueKind kind) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var value) && value.ValueKind == kind
            ? value
            : throw Malformed(name, kind.ToString().ToLowerInvariant());

    private static FormatException Malformed(string name, string expected) =>
        new(string.Create(CultureInfo.InvariantCulture, $"member '{name}' is missing or not {expected}"));
}
