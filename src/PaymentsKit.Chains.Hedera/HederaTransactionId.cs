using System.Globalization;

namespace PaymentsKit.Chains.Hedera;

/// <summary>
/// Reads a signed Hedera transaction's id from its HAPI protobuf bytes. The id is the body's <c>TransactionID</c>: the
/// paying account and the valid-start time the signer chose, so it is fixed before the transaction is submitted.
/// </summary>
/// <remarks>
/// Field numbers from hedera-protobufs <c>services/</c>: <c>TransactionList { repeated Transaction transaction_list = 1 }</c>
/// (what the SDKs' <c>toBytes</c> write, one transaction per node); <c>Transaction { TransactionBody body = 1 (deprecated);
/// bytes bodyBytes = 4 (deprecated); bytes signedTransactionBytes = 5 }</c>; <c>SignedTransaction { bytes bodyBytes = 1 }</c>;
/// <c>TransactionBody { TransactionID transactionID = 1 }</c>; <c>TransactionID { Timestamp transactionValidStart = 1;
/// AccountID accountID = 2; bool scheduled = 3; int32 nonce = 4 }</c>; <c>Timestamp { int64 seconds = 1; int32 nanos = 2 }</c>;
/// <c>AccountID { int64 shardNum = 1; int64 realmNum = 2; oneof { int64 accountNum = 3; bytes alias = 4 } }</c>.
/// </remarks>
internal static class HederaTransactionId
{
    private const int VarintWire = 0;
    private const int LengthWire = 2;

    /// <summary>The id in the Mirror Node form <c>shard.realm.num-seconds-nanos</c>; null when the bytes name none.</summary>
    public static string? Read(ReadOnlySpan<byte> payload)
    {
        if (payload.IsEmpty)
        {
            return null;
        }

        // A list's entries are field 1, which is also a lone transaction's deprecated body: a list is taken only when every
        // entry is a transaction naming one and the same id.
        return FromList(payload) ?? FromTransaction(payload, allowBody: true);
    }

    private static string? FromList(ReadOnlySpan<byte> payload)
    {
        string? id = null;
        var data = payload;
        while (!data.IsEmpty)
        {
            if (!Next(ref data, out var field, out var wire, out _, out var bytes) || field != 1 || wire != LengthWire
                || FromTransaction(bytes, allowBody: false) is not { } entry || (id is not null && id != entry))
            {
                return null;
            }

            id = entry;
        }

        return id;
    }

    private static string? FromTransaction(ReadOnlySpan<byte> transaction, bool allowBody)
    {
        ReadOnlySpan<byte> signed = default, bodyBytes = default, body = default;
        bool hasSigned = false, hasBodyBytes = false, hasBody = false;
        var data = transaction;
        while (!data.IsEmpty)
        {
            if (!Next(ref data, out var field, out var wire, out _, out var bytes))
            {
                return null;
            }

            if (wire != LengthWire)
            {
                continue;
            }

            switch (field)
            {
                case 5:
                    signed = bytes;
                    hasSigned = true;
                    break;
                case 4:
                    bodyBytes = bytes;
                    hasBodyBytes = true;
                    break;
                case 1:
                    body = bytes;
                    hasBody = true;
                    break;
            }
        }

        if (hasSigned)
        {
            return Bytes(signed, 1, out var inner) ? FromBody(inner) : null;
        }

        return hasBodyBytes ? FromBody(bodyBytes) : hasBody && allowBody ? FromBody(body) : null;
    }

    private static string? FromBody(ReadOnlySpan<byte> body) => Bytes(body, 1, out var id) ? FromId(id) : null;

    private static string? FromId(ReadOnlySpan<byte> id)
    {
        ReadOnlySpan<byte> start = default, account = default;
        bool hasStart = false, hasAccount = false;
        var data = id;
        while (!data.IsEmpty)
        {
            if (!Next(ref data, out var field, out var wire, out var value, out var bytes))
            {
                return null;
            }

            switch (field, wire)
            {
                case (1, LengthWire):
                    start = bytes;
                    hasStart = true;
                    break;
                case (2, LengthWire):
                    account = bytes;
                    hasAccount = true;
                    break;

                // A scheduled or child transaction's id is not one a signer submits.
                case (3 or 4, VarintWire) when value != 0:
                    return null;
            }
        }

        if (!hasStart || !hasAccount)
        {
            return null;
        }

        long seconds = 0, nanos = 0, shard = 0, realm = 0, number = -1;
        data = start;
        while (!data.IsEmpty)
        {
            if (!Next(ref data, out var field, out var wire, out var value, out _))
            {
                return null;
            }

            // int64 and int32 are written as two's complement varints; a negative one is no valid time.
            if (wire == VarintWire && field == 1)
            {
                seconds = unchecked((long)value);
            }
            else if (wire == VarintWire && field == 2)
            {
                nanos = unchecked((long)value);
            }
        }

        data = account;
        while (!data.IsEmpty)
        {
            if (!Next(ref data, out var field, out var wire, out var value, out _))
            {
                return null;
            }

            var read = unchecked((long)value);
            switch (field, wire)
            {
                case (1, VarintWire):
                    shard = read;
                    break;
                case (2, VarintWire):
                    realm = read;
                    break;
                case (3, VarintWire):
                    number = read;
                    break;

                // An alias payer (a key or EVM address) names no shard.realm.num the Mirror Node files the id under.
                case (4, _):
                    return null;
            }
        }

        return seconds < 0 || nanos is < 0 or > 999_999_999 || shard < 0 || realm < 0 || number < 0
            ? null
            : string.Create(CultureInfo.InvariantCulture, $"{shard}.{realm}.{number}-{seconds}-{nanos:D9}");
    }

    /// <summary>The last length-delimited value of <paramref name="field"/> (protobuf's last-one-wins); false if none or malformed.</summary>
    private static bool Bytes(ReadOnlySpan<byte> message, int field, out ReadOnlySpan<byte> bytes)
    {
        bytes = default;
        var found = false;
        var data = message;
        while (!data.IsEmpty)
        {
            if (!Next(ref data, out var number, out var wire, out _, out var value))
            {
                return false;
            }

            if (number == field && wire == LengthWire)
            {
                bytes = value;
                found = true;
            }
        }

        return found;
    }

    private static bool Next(scoped ref ReadOnlySpan<byte> data, out int field, out int wire, out ulong value, out ReadOnlySpan<byte> bytes)
    {
        (field, wire, value) = (0, 0, 0);
        bytes = default;
        if (!Varint(ref data, out var key) || key >> 3 is 0 or > int.MaxValue)
        {
            return false;
        }

        (field, wire) = ((int)(key >> 3), (int)(key & 7));
        switch (wire)
        {
            case VarintWire:
                return Varint(ref data, out value);
            case 1 when data.Length >= 8:
                data = data[8..];
                return true;
            case LengthWire when Varint(ref data, out var length) && length <= (ulong)data.Length:
                bytes = data[..(int)length];
                data = data[(int)length..];
                return true;
            case 5 when data.Length >= 4:
                data = data[4..];
                return true;
            default:
                return false;
        }
    }

    private static bool Varint(ref ReadOnlySpan<byte> data, out ulong value)
    {
        value = 0;
        for (var shift = 0; shift < 64 && !data.IsEmpty; shift += 7)
        {
            var b = data[0];
            data = data[1..];
            value |= (ulong)(b & 0x7F) << shift;
            if ((b & 0x80) == 0)
            {
                return true;
            }
        }

        return false;
    }
}
