using System.Buffers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using NodaTime;
using PaymentsKit.Ledger;

namespace PaymentsKit.PostgreSql;

/// <summary>
/// Reads the resolved transfer's document a ledger batch answers a post or void with (decision 0022). The serializer's
/// object reader for a record with a 16-parameter constructor boxed every argument and was the largest single cost of a
/// client-side transfer; this reads the properties straight into the constructor, each value with the converter the
/// options give for its type (the same one the serializer uses). A document of any other shape — a name it does not know,
/// one missing or repeated, a null where the record has no null — is left to <see cref="JsonSerializer"/>, which reads it
/// or gives its error.
/// </summary>
internal static class LedgerTransferDocument
{
    private const int StackLimit = 2048;
    private const int AllFields = (1 << 16) - 1;

    /// <summary>The transfer in <paramref name="document"/>, read as <c>JsonSerializer.Deserialize&lt;LedgerTransfer&gt;</c> would.</summary>
    public static LedgerTransfer? Read(string document, JsonSerializerOptions options)
    {
        var most = Encoding.UTF8.GetMaxByteCount(document.Length);
        byte[]? rented = null;
        var buffer = most <= StackLimit ? stackalloc byte[StackLimit] : (rented = ArrayPool<byte>.Shared.Rent(most));
        try
        {
            var length = Encoding.UTF8.GetBytes(document, buffer);
            LedgerTransfer? transfer;
            try
            {
                if (TryRead(buffer[..length], options, out transfer))
                {
                    return transfer;
                }
            }
            catch (Exception ex) when (ex is JsonException or FormatException or InvalidOperationException or PaymentsKitException)
            {
                // A value its converter refuses: the serializer reads it again and gives its own error, with the value's path.
            }

            return JsonSerializer.Deserialize<LedgerTransfer>(document, options);
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    /// <summary>The document's common shape only; false leaves it to the serializer.</summary>
    internal static bool TryRead(ReadOnlySpan<byte> json, JsonSerializerOptions options, out LedgerTransfer? transfer)
    {
        transfer = null;
        var reader = new Utf8JsonReader(json);
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
        {
            return false;
        }

        LedgerTransferId id = default;
        MerchantId tenantId = default;
        LedgerAccountId debitAccountId = default, creditAccountId = default;
        Money amount = default, postedAmount = default, releasedAmount = default;
        LedgerTransferState state = default;
        Duration? timeout = null;
        Instant? expiresAt = null, resolvedAt = null;
        LedgerEntryType? entryType = null;
        string? reference = null;
        LedgerTransactionId pendingTransactionId = default;
        LedgerTransactionId? resolvingTransactionId = null;
        Instant createdAt = default;
        var seen = 0;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var field = Field(ref reader);
            if (field < 0 || (seen & (1 << field)) != 0 || !reader.Read())
            {
                return false;
            }

            seen |= 1 << field;
            var isNull = reader.TokenType == JsonTokenType.Null;
            if (isNull && field is not (8 or 9 or 10 or 11 or 13 or 15))
            {
                return false;
            }

            switch (field)
            {
                case 0: id = Value<LedgerTransferId>(ref reader, options); break;
                case 1: tenantId = Value<MerchantId>(ref reader, options); break;
                case 2: debitAccountId = Value<LedgerAccountId>(ref reader, options); break;
                case 3: creditAccountId = Value<LedgerAccountId>(ref reader, options); break;
                case 4: amount = Value<Money>(ref reader, options); break;
                case 5: state = Value<LedgerTransferState>(ref reader, options); break;
                case 6: postedAmount = Value<Money>(ref reader, options); break;
                case 7: releasedAmount = Value<Money>(ref reader, options); break;
                case 8: timeout = isNull ? null : Value<Duration>(ref reader, options); break;
                case 9: expiresAt = isNull ? null : Value<Instant>(ref reader, options); break;
                case 10: entryType = isNull ? null : Value<LedgerEntryType>(ref reader, options); break;
                case 11: reference = isNull ? null : Value<string>(ref reader, options); break;
                case 12: pendingTransactionId = Value<LedgerTransactionId>(ref reader, options); break;
                case 13: resolvingTransactionId = isNull ? null : Value<LedgerTransactionId>(ref reader, options); break;
                case 14: createdAt = Value<Instant>(ref reader, options); break;
                default: resolvedAt = isNull ? null : Value<Instant>(ref reader, options); break;
            }
        }

        if (reader.TokenType != JsonTokenType.EndObject || seen != AllFields || reader.Read())
        {
            return false;
        }

        transfer = new LedgerTransfer(
            id, tenantId, debitAccountId, creditAccountId, amount, state, postedAmount, releasedAmount, timeout, expiresAt, entryType, reference,
            pendingTransactionId, resolvingTransactionId, createdAt, resolvedAt);
        return true;
    }

    private static T Value<T>(ref Utf8JsonReader reader, JsonSerializerOptions options) =>
        ((JsonConverter<T>)options.GetConverter(typeof(T))).Read(ref reader, typeof(T), options)!;

    private static int Field(ref Utf8JsonReader reader) =>
        reader.ValueTextEquals("id"u8) ? 0
        : reader.ValueTextEquals("tenant_id"u8) ? 1
        : reader.ValueTextEquals("debit_account_id"u8) ? 2
        : reader.ValueTextEquals("credit_account_id"u8) ? 3
        : reader.ValueTextEquals("amount"u8) ? 4
        : reader.ValueTextEquals("state"u8) ? 5
        : reader.ValueTextEquals("posted_amount"u8) ? 6
        : reader.ValueTextEquals("released_amount"u8) ? 7
        : reader.ValueTextEquals("timeout"u8) ? 8
        : reader.ValueTextEquals("expires_at"u8) ? 9
        : reader.ValueTextEquals("entry_type"u8) ? 10
        : reader.ValueTextEquals("reference"u8) ? 11
        : reader.ValueTextEquals("pending_transaction_id"u8) ? 12
        : reader.ValueTextEquals("resolving_transaction_id"u8) ? 13
        : reader.ValueTextEquals("created_at"u8) ? 14
        : reader.ValueTextEquals("resolved_at"u8) ? 15
        : -1;
}
