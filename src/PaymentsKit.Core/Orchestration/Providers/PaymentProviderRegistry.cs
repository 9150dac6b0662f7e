namespace PaymentsKit.Orchestration;

/// <summary>The configured providers by name; a later registration of a name replaces an earlier one.</summary>
internal sealed class PaymentProviderRegistry(IEnumerable<IPaymentProvider> providers)
{
    private readonly Dictionary<PaymentProvider, IPaymentProvider> _providers = providers
        .GroupBy(p => p.Name)
        .ToDictionary(g => g.Key, g => g.Last());

    public IPaymentProvider Get(PaymentProvider name) =>
        _providers.TryGetValue(name, out var provider)
            ? provider
            : throw new PaymentsKitException(
                PaymentsKitErrorCodes.UnknownProvider,
                $"provider '{OrchestrationRules.Name(name)}' is not configured in this host.",
                new Dictionary<string, object?> { ["field"] = "provider", ["value"] = OrchestrationRules.Name(name) });
}
