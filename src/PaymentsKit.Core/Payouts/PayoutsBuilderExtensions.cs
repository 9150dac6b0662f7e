using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using NodaTime;
using PaymentsKit.DependencyInjection;

namespace PaymentsKit.Payouts;

/// <summary>Payout wiring on the PaymentsKit builder.</summary>
public static class PayoutsBuilderExtensions
{
    /// <summary>
    /// Pays distributions through a <see cref="SimulatedPayoutExecutor"/> (the sample, tests, demos). Without it,
    /// or a host <see cref="IPayoutExecutor"/>, running a distribution fails with <c>unknown_chain</c>: payouts
    /// are never simulated by accident.
    /// </summary>
    /// <param name="builder">The builder from <c>AddPaymentsKit</c>.</param>
    /// <param name="configure">Sets the chain, batch limit and failures; optional.</param>
    /// <returns>The same builder.</returns>
    public static PaymentsKitBuilder AddSimulatedPayouts(this PaymentsKitBuilder builder, Action<SimulatedPayoutExecutorOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var options = new SimulatedPayoutExecutorOptions();
        configure?.Invoke(options);
        builder.Services.Replace(ServiceDescriptor.Singleton<IPayoutExecutor>(provider => new SimulatedPayoutExecutor(provider.GetRequiredService<IClock>(), options)));
        return builder;
    }
}

/// <summary>Stands in when the host registered no <see cref="IPayoutExecutor"/>: every execution fails, nothing is paid.</summary>
internal sealed class UnregisteredPayoutExecutor : IPayoutExecutor
{
    public int MaxTransfersPerBatch => PayoutBatchPlanner.DefaultBatchSize;

    public static PaymentsKitException Error() =>
        new(
            PaymentsKitErrorCodes.UnknownChain,
            "No IPayoutExecutor is registered: register the host's executor for its chain (or AddSimulatedPayouts for a demo) before running distributions.",
            new Dictionary<string, object?> { ["field"] = "payout_executor" });

    public ValueTask<PayoutBatchResult> ExecuteAsync(PayoutBatchRequest request, CancellationToken cancellationToken = default) => throw Error();
}
