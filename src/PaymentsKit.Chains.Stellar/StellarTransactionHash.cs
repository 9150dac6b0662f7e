using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace PaymentsKit.Chains.Stellar;

/// <summary>
/// A signed <c>TransactionEnvelope</c>'s hash: the SHA-256 of its signature payload, <c>networkId || envelopeType || tx</c>,
/// where the network id is the SHA-256 of the network passphrase and <c>tx</c> is the envelope's transaction XDR (what
/// precedes its signatures).
/// </summary>
/// <remarks>
/// A v0 envelope (<c>ENVELOPE_TYPE_TX_V0</c>) is hashed as the v1 transaction it stands for, tagged <c>ENVELOPE_TYPE_TX</c>:
/// its bare ed25519 source key becomes a <c>MuxedAccount</c> by the key-type word 0 before it, and its optional time bounds
/// already read as the v1 <c>Preconditions</c> union (none = 0, time = 1). A fee bump (<c>ENVELOPE_TYPE_TX_FEE_BUMP</c>)
/// is hashed under its own tag. The transaction ends where the signature list begins; rather than decode every operation
/// type, the split is taken only when exactly one 4-byte boundary starts a well-formed <c>DecoratedSignature&lt;20&gt;</c>
/// that runs to the end, which the true split always does.
/// </remarks>
internal static class StellarTransactionHash
{
    private const uint EnvelopeTypeTxV0 = 0;
    private const uint EnvelopeTypeTx = 2;
    private const uint EnvelopeTypeTxFeeBump = 5;
    private const int MaxSignatures = 20;
    private const int MaxSignatureLength = 64;

    /// <summary>The lower-case hex hash, or null when the bytes are not a signed envelope whose transaction can be told apart.</summary>
    public static string? Compute(ReadOnlySpan<byte> envelope, string networkPassphrase)
    {
        if (envelope.Length < 8 || envelope.Length % 4 != 0)
        {
            return null;
        }

        var type = BinaryPrimitives.ReadUInt32BigEndian(envelope);
        if (type is not (EnvelopeTypeTxV0 or EnvelopeTypeTx or EnvelopeTypeTxFeeBump))
        {
            return null;
        }

        var split = -1;
        for (var at = 4; at <= envelope.Length - 4; at += 4)
        {
            if (IsSignatureList(envelope[at..]))
            {
                if (split >= 0)
                {
                    return null;
                }

                split = at;
            }
        }

        if (split < 0)
        {
            return null;
        }

        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(SHA256.HashData(Encoding.UTF8.GetBytes(networkPassphrase)));
        Span<byte> word = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(word, type == EnvelopeTypeTxV0 ? EnvelopeTypeTx : type);
        hash.AppendData(word);
        if (type == EnvelopeTypeTxV0)
        {
            // KEY_TYPE_ED25519, the MuxedAccount arm a v0 source account is.
            word.Clear();
            hash.AppendData(word);
        }

        hash.AppendData(envelope[4..split]);
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    /// <summary>Whether the bytes are exactly a <c>DecoratedSignature signatures&lt;20&gt;</c> with zero XDR padding.</summary>
    private static bool IsSignatureList(ReadOnlySpan<byte> data)
    {
        var count = BinaryPrimitives.ReadUInt32BigEndian(data);
        if (count > MaxSignatures)
        {
            return false;
        }

        var at = 4;
        for (var i = 0; i < count; i++)
        {
            // SignatureHint hint (opaque[4]), then Signature signature (opaque<64>): length, bytes, zero padding to 4.
            at += 4;
            if (at + 4 > data.Length)
            {
                return false;
            }

            var length = BinaryPrimitives.ReadUInt32BigEndian(data[at..]);
            at += 4;
            if (length > MaxSignatureLength)
            {
                return false;
            }

            var padded = ((int)length + 3) & ~3;
            if (at + padded > data.Length || data.Slice(at + (int)length, padded - (int)length).ContainsAnyExcept((byte)0))
            {
                return false;
            }

            at += padded;
        }

        return at == data.Length;
    }
}
