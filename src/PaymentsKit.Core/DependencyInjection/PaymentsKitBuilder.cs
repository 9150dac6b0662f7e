using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using NodaTime;

namespace PaymentsKit.DependencyInjection;

/// <summary>
/// Returned by <c>AddPaymentsKit</c>: chain further configuration (store, clock, chains) onto it.
/// Every method returns the same builder.
/// </summary>
public sealed class PaymentsKitBuilder
{
    internal PaymentsKitBuilder(IServiceCollection services) => Services = services;

    /// <summary>The service collection PaymentsKit registers into.</summary>
    public IServiceCollection Services { get; }

    /// <summary>Replaces the clock (e.g. a fixed or manually advanced clock in tests).</summary>
    public PaymentsKitBuilder UseClock(IClock clock)
    {
        ArgumentNullException.ThrowIfNull(clock);
        Services.Replace(ServiceDescriptor.Singleton(clock));
        return this;
    }
}
