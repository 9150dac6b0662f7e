using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace PaymentsKit.Chains;

/// <summary>Helpers shared by every <see cref="IAddressCodec"/> user.</summary>
public static class AddressCodecs
{
    /// <summary>
    /// The simulated chain's default format: 1–128 characters, ASCII letters, digits, '.', '_', ':' or '-',
    /// starting with a letter or digit; case-sensitive and already canonical (e.g. <c>alice</c>, <c>merchant-1</c>).
    /// </summary>
    public static IAddressCodec Simple { get; } = new SimpleAddressCodec();

    /// <summary>Parses with <paramref name="codec"/>, throwing <c>invalid_address</c> naming the value, the chain and the reason.</summary>
    /// <exception cref="PaymentsKitException"><c>invalid_address</c>.</exception>
    public static ChainAddress Parse(this IAddressCodec codec, ChainId chain, string? text)
    {
        ArgumentNullException.ThrowIfNull(codec);
        if (codec.TryNormalize(text, out var canonical, out var problem))
        {
            return new ChainAddress(chain, canonical);
        }

        throw InvalidAddress(chain, text, problem);
    }

    /// <summary>Parses with <paramref name="codec"/> without throwing.</summary>
    public static bool TryParse(this IAddressCodec codec, ChainId chain, string? text, out ChainAddress address)
    {
        ArgumentNullException.ThrowIfNull(codec);
        if (codec.TryNormalize(text, out var canonical, out _))
        {
            address = new ChainAddress(chain, canonical);
            return true;
        }

        address = default;
        return false;
    }

    /// <summary>The <c>invalid_address</c> error for <paramref name="text"/> on <paramref name="chain"/>.</summary>
    public static PaymentsKitException InvalidAddress(ChainId chain, string? text, string problem)
    {
        // Addresses are public data, but cap the echo so a pasted blob cannot flood logs.
        var shown = text is null ? "null" : text.Length > 128 ? text[..128] + "…" : text;
        return new PaymentsKitException(
            PaymentsKitErrorCodes.InvalidAddress,
            string.Create(CultureInfo.InvariantCulture, $"'{shown}' is not a valid {chain} address: {problem}."),
            new Dictionary<string, object?> { ["chain"] = chain.Value, ["address"] = shown, ["problem"] = problem });
    }

    private sealed class SimpleAddressCodec : IAddressCodec
    {
        private const int MaxLength = 128;

        public bool TryNormalize(string? text, [NotNullWhen(true)] out string? canonical, [NotNullWhen(false)] out string? problem)
        {
            canonical = null;
            if (string.IsNullOrEmpty(text))
            {
                problem = "the address is empty";
                return false;
            }

            if (text.Length > MaxLength)
            {
                problem = string.Create(CultureInfo.InvariantCulture, $"it has {text.Length} characters, at most {MaxLength} are allowed");
                return false;
            }

            if (!char.IsAsciiLetterOrDigit(text[0]))
            {
                problem = "it must start with a letter or digit";
                return false;
            }

            foreach (var c in text)
            {
                if (!char.IsAsciiLetterOrDigit(c) && c is not ('.' or '_' or ':' or '-'))
                {
                    problem = string.Create(CultureInfo.InvariantCulture, $"character '{c}' is not allowed");
                    return false;
                }
            }

            canonical = text;
            problem = null;
            return true;
        }
    }
}
