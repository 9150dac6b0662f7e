using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using SimpleBase;

namespace PaymentsKit.Chains.Stellar;

/// <summary>A decoded Stellar payment address.</summary>
/// <param name="PublicKey">The 32-byte ed25519 public key of the account.</param>
/// <param name="MuxedId">The 64-bit id of a muxed (M…) address; null for a plain account (G…).</param>
public sealed record StellarAccountAddress(ReadOnlyMemory<byte> PublicKey, ulong? MuxedId)
{
    /// <summary>The underlying account id (G…).</summary>
    public string AccountId => StellarAddressCodec.EncodeAccount(PublicKey.Span);

    /// <summary>The address as given: G… for an account, M… for a muxed account.</summary>
    public string Address => MuxedId is { } id ? StellarAddressCodec.EncodeMuxed(PublicKey.Span, id) : AccountId;
}

/// <summary>
/// Stellar StrKey addresses per SEP-23: ed25519 accounts (G…, version byte 6 &lt;&lt; 3) and muxed accounts
/// (M…, version byte 12 &lt;&lt; 3, the key followed by a big-endian 64-bit id). RFC 4648 base-32 without
/// padding over version byte, payload and a CRC16-XModem checksum stored little-endian. Only the canonical
/// text is accepted: upper case, exact length, zero unused bits (checked by re-encoding), correct checksum.
/// Secret seeds (S…) and other strkey types are rejected: they are not payment addresses.
/// </summary>
public sealed class StellarAddressCodec : IAddressCodec
{
    private const byte AccountVersion = 6 << 3;
    private const byte MuxedVersion = 12 << 3;
    private const int KeyLength = 32;
    private const int AccountLength = 56;
    private const int MuxedLength = 69;

    /// <summary>The shared instance.</summary>
    public static StellarAddressCodec Instance { get; } = new();

    /// <inheritdoc />
    public bool TryNormalize(string? text, [NotNullWhen(true)] out string? canonical, [NotNullWhen(false)] out string? problem)
    {
        canonical = TryDecode(text, out _, out problem) ? text : null;
        return canonical is not null;
    }

    /// <summary>Decodes a G… or M… address.</summary>
    public static bool TryDecode(string? text, [NotNullWhen(true)] out StellarAccountAddress? address, [NotNullWhen(false)] out string? problem)
    {
        address = null;
        if (string.IsNullOrEmpty(text))
        {
            problem = "the address is empty";
            return false;
        }

        var (version, expectedLength) = text[0] switch
        {
            'G' => (AccountVersion, AccountLength),
            'M' => (MuxedVersion, MuxedLength),
            _ => ((byte)0, 0),
        };
        if (expectedLength == 0)
        {
            problem = "it must start with G (account) or M (muxed account)";
            return false;
        }

        if (text.Length != expectedLength)
        {
            problem = string.Create(CultureInfo.InvariantCulture, $"it has {text.Length} characters, a {text[0]}… address has {expectedLength}");
            return false;
        }

        foreach (var c in text)
        {
            if (c is not ((>= 'A' and <= 'Z') or (>= '2' and <= '7')))
            {
                problem = string.Create(CultureInfo.InvariantCulture, $"character '{c}' is not upper-case base-32");
                return false;
            }
        }

        var bytes = Base32.Rfc4648.Decode(text);
        var payloadLength = version == MuxedVersion ? KeyLength + 8 : KeyLength;
        if (bytes.Length != 1 + payloadLength + 2)
        {
            problem = "it does not decode to a whole key";
            return false;
        }

        if (bytes[0] != version)
        {
            problem = string.Create(CultureInfo.InvariantCulture, $"version byte 0x{bytes[0]:x2} is not 0x{version:x2}");
            return false;
        }

        var expected = Crc16XModem(bytes.AsSpan(0, 1 + payloadLength));
        if (BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(1 + payloadLength)) != expected)
        {
            problem = "the checksum does not match";
            return false;
        }

        var key = bytes.AsSpan(1, KeyLength).ToArray();
        ulong? id = version == MuxedVersion ? BinaryPrimitives.ReadUInt64BigEndian(bytes.AsSpan(1 + KeyLength, 8)) : null;
        if (!string.Equals(Encode(version, bytes.AsSpan(1, payloadLength)), text, StringComparison.Ordinal))
        {
            // Base-32 symbols carry bits past the last byte; they must be zero so each address has one spelling.
            problem = "its unused trailing bits are not zero";
            return false;
        }

        address = new StellarAccountAddress(key, id);
        problem = null;
        return true;
    }

    /// <summary>Encodes a 32-byte ed25519 public key as an account id (G…).</summary>
    /// <exception cref="ArgumentException">When the key is not 32 bytes.</exception>
    public static string EncodeAccount(ReadOnlySpan<byte> publicKey)
    {
        RequireKey(publicKey);
        return Encode(AccountVersion, publicKey);
    }

    /// <summary>Encodes a 32-byte ed25519 public key and a 64-bit id as a muxed account (M…).</summary>
    /// <exception cref="ArgumentException">When the key is not 32 bytes.</exception>
    public static string EncodeMuxed(ReadOnlySpan<byte> publicKey, ulong id)
    {
        RequireKey(publicKey);
        Span<byte> payload = stackalloc byte[KeyLength + 8];
        publicKey.CopyTo(payload);
        BinaryPrimitives.WriteUInt64BigEndian(payload[KeyLength..], id);
        return Encode(MuxedVersion, payload);
    }

    /// <summary>CRC16-XModem (polynomial 0x1021, initial value 0, no reflection) as SEP-23 specifies.</summary>
    public static ushort Crc16XModem(ReadOnlySpan<byte> data)
    {
        var crc = 0;
        foreach (var b in data)
        {
            crc ^= b << 8;
            for (var bit = 0; bit < 8; bit++)
            {
                crc = (crc & 0x8000) != 0 ? ((crc << 1) ^ 0x1021) & 0xFFFF : (crc << 1) & 0xFFFF;
            }
        }

        return (ushort)crc;
    }

    private static string Encode(byte version, ReadOnlySpan<byte> payload)
    {
        var buffer = new byte[1 + payload.Length + 2];
        buffer[0] = version;
        payload.CopyTo(buffer.AsSpan(1));
        BinaryPrimitives.WriteUInt16LittleEndian(buffer.AsSpan(1 + payload.Length), Crc16XModem(buffer.AsSpan(0, 1 + payload.Length)));
        return Base32.Rfc4648.Encode(buffer, padding: false);
    }

    private static void RequireKey(ReadOnlySpan<byte> publicKey)
    {
        if (publicKey.Length != KeyLength)
        {
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"An ed25519 public key has 32 bytes, not {publicKey.Length}."), nameof(publicKey));
        }
    }
}
