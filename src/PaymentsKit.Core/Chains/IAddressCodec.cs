using System.Diagnostics.CodeAnalysis;

namespace PaymentsKit.Chains;

/// <summary>
/// Validates a chain's address text and produces its canonical form. Chain packages ship one per
/// chain (StrKey, EIP-55, base58, Hedera account ids); <see cref="SimulatedChain"/> accepts any codec so
/// a simulated chain can use real address formats.
/// </summary>
public interface IAddressCodec
{
    /// <summary>Validates <paramref name="text"/> without throwing.</summary>
    /// <param name="text">The address as a user or a chain wrote it.</param>
    /// <param name="canonical">The canonical form when valid.</param>
    /// <param name="problem">Why the text is not valid, when it is not.</param>
    /// <returns>Whether the text is a valid address.</returns>
    bool TryNormalize(string? text, [NotNullWhen(true)] out string? canonical, [NotNullWhen(false)] out string? problem);
}
