using System.Globalization;

namespace PaymentsKit.Chains;

/// <summary>The errors chain adapters raise, built the same way in every chain package.</summary>
public static class ChainErrors
{
    /// <summary><c>invalid_argument</c> naming the field, the value and the problem.</summary>
    public static PaymentsKitException InvalidArgument(string field, object? value, string problem) =>
        PaymentsKitException.InvalidArgument(field, value, problem);

    /// <summary><c>transaction_rejected</c>: the chain refused a signed transaction.</summary>
    /// <param name="chain">The chain.</param>
    /// <param name="hash">The transaction hash, when known.</param>
    /// <param name="reason">Why, in the chain's words (result codes, node message).</param>
    /// <param name="transient">Whether the same transaction may be accepted later (fee spike, not yet valid).</param>
    public static PaymentsKitException TransactionRejected(ChainId chain, string? hash, string reason, bool transient = false) =>
        new(PaymentsKitErrorCodes.TransactionRejected,
            string.Create(CultureInfo.InvariantCulture, $"{chain} rejected transaction {hash ?? "(hash unknown)"}: {reason}."),
            new Dictionary<string, object?> { ["chain"] = chain.Value, ["hash"] = hash, ["reason"] = reason },
            isTransient: transient);

    /// <summary><c>chain_unavailable</c>: the chain answered in a way that cannot be used.</summary>
    public static PaymentsKitException Unavailable(ChainId chain, string operation, string reason, bool transient) =>
        new(PaymentsKitErrorCodes.ChainUnavailable,
            string.Create(CultureInfo.InvariantCulture, $"{chain} RPC '{operation}' failed: {reason}."),
            new Dictionary<string, object?> { ["chain"] = chain.Value, ["operation"] = operation, ["reason"] = reason },
            isTransient: transient);

    /// <summary>Throws unless <paramref name="problems"/> is empty, listing every problem in one <c>invalid_argument</c>.</summary>
    public static void ThrowIfInvalid(IReadOnlyList<string> problems)
    {
        ArgumentNullException.ThrowIfNull(problems);
        if (problems.Count > 0)
        {
            throw new PaymentsKitException(
                PaymentsKitErrorCodes.InvalidArgument,
                string.Join(" ", problems),
                new Dictionary<string, object?> { ["field"] = "options", ["errors"] = problems });
        }
    }
}
