using System.Globalization;
using Microsoft.Extensions.Options;
using PaymentsKit.Storage;

namespace PaymentsKit.DependencyInjection;

/// <summary>Checks <see cref="PaymentsKitOptions"/> and reports every problem in one result.</summary>
internal sealed class PaymentsKitOptionsValidator : IValidateOptions<PaymentsKitOptions>
{
    public ValidateOptionsResult Validate(string? name, PaymentsKitOptions options)
    {
        var errors = new List<string>();
        if (options.DefaultPageSize is < 1 or > BufferedUnitOfWork.MaxPageSize)
        {
            errors.Add(string.Create(
                CultureInfo.InvariantCulture,
                $"PaymentsKit:DefaultPageSize must be between 1 and {BufferedUnitOfWork.MaxPageSize} (value: {options.DefaultPageSize})."));
        }

        if (options.ApiKeyHashingSecret is { } secret && DecodedLength(secret) < 32)
        {
            errors.Add("PaymentsKit:ApiKeyHashingSecret must be base64 of at least 32 bytes.");
        }

        var registry = new AssetRegistry();
        for (var i = 0; i < options.Assets.Count; i++)
        {
            try
            {
                registry.Register(options.Assets[i].ToAsset());
            }
            catch (PaymentsKitException ex)
            {
                errors.Add(string.Create(CultureInfo.InvariantCulture, $"PaymentsKit:Assets[{i}]: {ex.Message}"));
            }
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    private static int DecodedLength(string base64)
    {
        var buffer = new byte[base64.Length];
        return Convert.TryFromBase64String(base64, buffer, out var written) ? written : 0;
    }
}
