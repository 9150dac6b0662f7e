using Microsoft.Extensions.Options;

namespace PaymentsKit.Chains.Rpc;

/// <summary>Validates a chain package's options with <see cref="ChainRpcOptions.Validate"/>, reporting every problem at once.</summary>
/// <typeparam name="TOptions">The chain package's options type.</typeparam>
/// <param name="section">The options' name in messages, e.g. <c>Stellar</c>.</param>
public sealed class ChainRpcOptionsValidator<TOptions>(string section) : IValidateOptions<TOptions>
    where TOptions : ChainRpcOptions
{
    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, TOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = options.Validate(section);
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
