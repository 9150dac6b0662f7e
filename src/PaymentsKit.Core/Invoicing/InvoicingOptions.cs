using System.Globalization;
using Microsoft.Extensions.Options;
using NodaTime;

namespace PaymentsKit.Invoicing;

/// <summary>Options for invoices, payment links and API keys. Validated when the host starts.</summary>
public sealed class InvoicingOptions
{
    /// <summary>The largest <see cref="UnderpaymentTolerancePercent"/> accepted: tolerance is for tiny shortfalls.</summary>
    public const decimal MaxUnderpaymentTolerancePercent = 10m;

    /// <summary>
    /// How far short of the amount (in percent, 0–10) a payment may be and still settle an invoice or a
    /// payment link use, like BTCPay's payment tolerance: covers fees a payer's wallet deducted. The
    /// required amount is truncated, so rounding favours the payer. Default 0.
    /// </summary>
    public decimal UnderpaymentTolerancePercent { get; set; }

    /// <summary>How long an invoice stays payable when its request names no expiry. Default 24 hours.</summary>
    public Duration DefaultInvoiceLifetime { get; set; } = Duration.FromHours(24);

    /// <summary>The longest an invoice may stay payable. Default 365 days; <see cref="Duration.MaxValue"/> for no limit.</summary>
    public Duration MaxInvoiceLifetime { get; set; } = Duration.FromDays(365);

    /// <summary>
    /// How stale an API key's <see cref="ApiKey.LastUsedAt"/> may get before a use rewrites it, so a busy
    /// key does not turn every authenticated call into a write. Default 1 minute; zero records every use.
    /// </summary>
    public Duration ApiKeyLastUsedResolution { get; set; } = Duration.FromMinutes(1);
}

/// <summary>Checks <see cref="InvoicingOptions"/>, reporting every problem at once.</summary>
internal sealed class InvoicingOptionsValidator : IValidateOptions<InvoicingOptions>
{
    public ValidateOptionsResult Validate(string? name, InvoicingOptions options)
    {
        var errors = new List<string>();
        void Add(FormattableString message) => errors.Add(message.ToString(CultureInfo.InvariantCulture));
        if (options.UnderpaymentTolerancePercent is < 0m or > InvoicingOptions.MaxUnderpaymentTolerancePercent)
        {
            Add($"PaymentsKit:Invoicing:UnderpaymentTolerancePercent must be between 0 and {InvoicingOptions.MaxUnderpaymentTolerancePercent} (value: {options.UnderpaymentTolerancePercent}).");
        }

        if (options.MaxInvoiceLifetime <= Duration.Zero)
        {
            Add($"PaymentsKit:Invoicing:MaxInvoiceLifetime must be positive (value: {options.MaxInvoiceLifetime}).");
        }

        if (options.DefaultInvoiceLifetime <= Duration.Zero || options.DefaultInvoiceLifetime > options.MaxInvoiceLifetime)
        {
            Add($"PaymentsKit:Invoicing:DefaultInvoiceLifetime must be positive and at most MaxInvoiceLifetime {options.MaxInvoiceLifetime} (value: {options.DefaultInvoiceLifetime}).");
        }

        if (options.ApiKeyLastUsedResolution < Duration.Zero)
        {
            Add($"PaymentsKit:Invoicing:ApiKeyLastUsedResolution must not be negative (value: {options.ApiKeyLastUsedResolution}).");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
