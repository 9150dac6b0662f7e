using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;

namespace PaymentsKit.Chains;

/// <summary>
/// The wire encoding of a transfer signed by <see cref="SimulatedTransactionSigner"/>: UTF-8 JSON
/// carrying the request, the asset's full definition and a nonce. Its hash is the SHA-256 of the bytes.
/// </summary>
internal sealed record SimulatedTransferPayload(
    ChainId Chain,
    string From,
    string To,
    Money Amount,
    string? Memo,
    Money MaxFee,
    string KeyId,
    long Nonce)
{
    private const int Version = 1;

    public byte[] Encode()
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteNumber("v", Version);
            writer.WriteString("chain", Chain.Value);
            writer.WriteString("from", From);
            writer.WriteString("to", To);
            WriteMoney(writer, "amount", Amount);
            writer.WriteString("memo", Memo);
            WriteMoney(writer, "maxFee", MaxFee);
            writer.WriteString("key", KeyId);
            writer.WriteNumber("nonce", Nonce);
            writer.WriteEndObject();
        }

        return buffer.ToArray();
    }

    /// <summary>Decodes a payload, or returns null with the reason when it is not one.</summary>
    public static SimulatedTransferPayload? TryDecode(ReadOnlyMemory<byte> payload, out string? problem)
    {
        try
        {
            using var document = JsonDocument.Parse(payload);
            var root = document.RootElement;
            if (root.GetProperty("v").GetInt32() != Version)
            {
                problem = "unsupported payload version";
                return null;
            }

            problem = null;
            return new SimulatedTransferPayload(
                ChainId.Of(root.GetProperty("chain").GetString()),
                root.GetProperty("from").GetString() ?? string.Empty,
                root.GetProperty("to").GetString() ?? string.Empty,
                ReadMoney(root.GetProperty("amount")),
                root.GetProperty("memo").GetString(),
                ReadMoney(root.GetProperty("maxFee")),
                root.GetProperty("key").GetString() ?? string.Empty,
                root.GetProperty("nonce").GetInt64());
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException or FormatException or OverflowException or PaymentsKitException)
        {
            problem = "the payload is not a simulated transfer: " + ex.Message;
            return null;
        }
    }

    public static string Hash(ReadOnlySpan<byte> payload) => Convert.ToHexStringLower(SHA256.HashData(payload));

    private static void WriteMoney(Utf8JsonWriter writer, string name, Money money)
    {
        writer.WriteStartObject(name);
        writer.WriteString("amount", money.FormatAmount());
        writer.WriteString("code", money.Asset.Code);
        writer.WriteNumber("scale", money.Asset.Scale);
        writer.WriteString("chain", money.Asset.Chain?.Value);
        writer.WriteString("id", money.Asset.Identifier);
        writer.WriteEndObject();
    }

    private static Money ReadMoney(JsonElement element)
    {
        var chain = element.GetProperty("chain").GetString();
        var asset = Asset.Create(
            element.GetProperty("code").GetString()!,
            element.GetProperty("scale").GetInt32(),
            chain is null ? null : ChainId.Of(chain),
            element.GetProperty("id").GetString());
        return Money.Of(
            decimal.Parse(element.GetProperty("amount").GetString()!, NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture),
            asset);
    }
}
