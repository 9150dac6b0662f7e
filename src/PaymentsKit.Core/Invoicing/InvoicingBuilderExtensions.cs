using Microsoft.Extensions.DependencyInjection;
using PaymentsKit.Invoicing;

namespace PaymentsKit.DependencyInjection;

/// <summary>Configures the invoicing module on a <see cref="PaymentsKitBuilder"/>.</summary>
public static class InvoicingBuilderExtensions
{
    /// <summary>Sets <see cref="InvoicingOptions"/>; they are validated when the host starts.</summary>
    public static PaymentsKitBuilder ConfigureInvoicing(this PaymentsKitBuilder builder, Action<InvoicingOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configure);
        builder.Services.Configure(configure);
        return builder;
    }
}
