using System.Collections.ObjectModel;
using System.Globalization;
using System.Text;

namespace PaymentsKit;

/// <summary>
/// The single exception type PaymentsKit throws for business and input errors. <see cref="Code"/>
/// is one of the stable constants in <see cref="PaymentsKitErrorCodes"/>; <see cref="Context"/> names
/// the fields and values involved so hosts can log or render them without parsing the message.
/// </summary>
public sealed class PaymentsKitException : Exception
{
    private static readonly IReadOnlyDictionary<string, object?> EmptyContext =
        ReadOnlyDictionary<string, object?>.Empty;

    /// <summary>Creates an exception with a stable code, a message and optional structured context.</summary>
    /// <param name="code">One of <see cref="PaymentsKitErrorCodes"/>.</param>
    /// <param name="message">What was wrong, naming the value.</param>
    /// <param name="context">The fields and values involved; copied.</param>
    /// <param name="isTransient">Whether retrying the same call may succeed.</param>
    /// <param name="innerException">The underlying cause, if any.</param>
    public PaymentsKitException(
        string code,
        string message,
        IReadOnlyDictionary<string, object?>? context = null,
        bool isTransient = false,
        Exception? innerException = null)
        : base(message, innerException)
    {
        ArgumentException.ThrowIfNullOrEmpty(code);
        Code = code;
        Context = context is null || context.Count == 0 ? EmptyContext : new Dictionary<string, object?>(context);
        IsTransient = isTransient;
    }

    /// <summary>The stable error code, one of <see cref="PaymentsKitErrorCodes"/>.</summary>
    public string Code { get; }

    /// <summary>The fields and values involved in the error.</summary>
    public IReadOnlyDictionary<string, object?> Context { get; }

    /// <summary>Whether the same call may succeed if retried (a lost race, an unreachable RPC node).</summary>
    public bool IsTransient { get; }

    /// <inheritdoc />
    public override string ToString()
    {
        var builder = new StringBuilder(base.ToString());
        builder.Append(CultureInfo.InvariantCulture, $" [code={Code}");
        foreach (var (key, value) in Context)
        {
            builder.Append(CultureInfo.InvariantCulture, $", {key}={value}");
        }

        return builder.Append(']').ToString();
    }

    internal static PaymentsKitException InvalidArgument(string field, object? value, string problem) =>
        new(PaymentsKitErrorCodes.InvalidArgument,
            string.Create(CultureInfo.InvariantCulture, $"{field} {problem} (value: '{value ?? "null"}')."),
            new Dictionary<string, object?> { ["field"] = field, ["value"] = value });
}
