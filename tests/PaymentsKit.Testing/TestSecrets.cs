namespace PaymentsKit.Testing;

/// <summary>Secrets the tests configure hosts with.</summary>
public static class TestSecrets
{
    /// <summary>A fixed <c>PaymentsKitOptions.ApiKeyHashingSecret</c> (base64 of 32 bytes), which a durable store requires.</summary>
    public static readonly string ApiKeyHashingSecret = Convert.ToBase64String(Enumerable.Range(1, 32).Select(i => (byte)i).ToArray());
}

/// <summary>Test set-up of a <see cref="PaymentsKit.DependencyInjection.PaymentsKitBuilder"/>.</summary>
public static class TestPaymentsKitBuilderExtensions
{
    /// <summary>Configures <see cref="TestSecrets.ApiKeyHashingSecret"/> unless the test set a secret of its own.</summary>
    public static PaymentsKit.DependencyInjection.PaymentsKitBuilder WithTestSecret(this PaymentsKit.DependencyInjection.PaymentsKitBuilder kit)
    {
        ArgumentNullException.ThrowIfNull(kit);
        Microsoft.Extensions.DependencyInjection.OptionsServiceCollectionExtensions.Configure<PaymentsKit.DependencyInjection.PaymentsKitOptions>(
            kit.Services, o => o.ApiKeyHashingSecret ??= TestSecrets.ApiKeyHashingSecret);
        return kit;
    }
}
