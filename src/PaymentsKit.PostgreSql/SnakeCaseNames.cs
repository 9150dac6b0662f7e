using System.Text.Json;

namespace PaymentsKit.PostgreSql;

/// <summary>
/// The snake_case name of each value of <typeparamref name="TEnum"/>, as the record documents and the SQL functions spell
/// it (<c>debit</c>, <c>post_pending</c>), computed once per value rather than per parameter.
/// </summary>
internal static class SnakeCaseNames<TEnum>
    where TEnum : struct, Enum
{
    private static readonly Dictionary<TEnum, string> Names = Enum.GetValues<TEnum>().ToDictionary(v => v, Convert);

    /// <summary>The stored name of <paramref name="value"/> (converted on the spot for a value the enum does not declare).</summary>
    public static string Of(TEnum value) => Names.TryGetValue(value, out var name) ? name : Convert(value);

    private static string Convert(TEnum value) => JsonNamingPolicy.SnakeCaseLower.ConvertName(value.ToString());
}
