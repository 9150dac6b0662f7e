namespace PaymentsKit.Orchestration;

/// <summary>The configured providers by name; a later registration of a name replaces an earlier one.</summary>
internal sealed class PaymentProviderRegistry(IEnumerable<IPaymentProvider> providers)
{
    private readonly Dictionary<PaymentProvider, IPaymentProvider> _providers = providers
        .GroupBy(p => p.Name)
        .ToDictionary(g => g.Key, g => g.Last());

    public IPaymentProvider Get(PaymentProvider name)
    {
        if (_providers.TryGetValue(name, out var provider))
        {
            return provider;
        }

        // A value outside the enum (Enum.TryParse takes any number) has no wire name: it is reported as its number.
        var shown = Enum.IsDefined(name) ? OrchestrationRules.Name(name) : ((int)name).ToString(System.Globalization.CultureInfo.InvariantCulture);
        throw new PaymentsKitException(
            PaymentsKitErrorCodes.UnknownProvider,
            $"provider '{shown}' is not configured in this host.",
            new Dictionary<string, object?> { ["field"] = "provider", ["value"] = shown });
    }
}
