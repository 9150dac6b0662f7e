using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using NodaTime;
using PaymentsKit.DependencyInjection;
using PaymentsKit.Json;
using PaymentsKit.Storage;
using PaymentsKit.Testing;

namespace PaymentsKit.Tests.DependencyInjection;

public sealed class AddPaymentsKitTests
{
    [Fact]
    public void Defaults_AreTheEmbeddedStoreAndSystemClock()
    {
        using var provider = new ServiceCollection().AddPaymentsKit().Services.BuildServiceProvider();
        Assert.IsType<InMemoryStore>(provider.GetRequiredService<IPaymentsStore>());
        Assert.Same(SystemClock.Instance, provider.GetRequiredService<IClock>());
        Assert.Same(provider.GetRequiredService<IPaymentsStore>(), provider.GetRequiredService<IPaymentsStore>());
        Assert.NotNull(provider.GetRequiredService<PaymentsKitJsonOptions>().Options);
    }

    [Fact]
    public void UseClock_ReplacesTheClock_AndHostAssetsAreRegistered()
    {
        var clock = new ManualClock();
        using var provider = new ServiceCollection()
            .AddPaymentsKit(o => o.Assets.Add(new AssetDefinition { Code = "GOLD", Scale = 4, Chain = "stellar", Identifier = "GISSUER" }))
            .UseClock(clock)
            .Services.BuildServiceProvider();
        Assert.Same(clock, provider.GetRequiredService<IClock>());
        Assert.Equal(4, provider.GetRequiredService<AssetRegistry>().Get("GOLD").Scale);
    }

    [Fact]
    public void AddPaymentsKit_Twice_KeepsOneRegistrationOfEachService()
    {
        var services = new ServiceCollection();
        services.AddPaymentsKit();
        services.AddPaymentsKit();
        Assert.Single(services, d => d.ServiceType == typeof(IPaymentsStore));
        Assert.Single(services, d => d.ServiceType == typeof(IValidateOptions<PaymentsKitOptions>));
    }

    [Fact]
    public void InvalidOptions_ReportEveryErrorAtOnce()
    {
        using var provider = new ServiceCollection()
            .AddPaymentsKit(o =>
            {
                o.DefaultPageSize = 0;
                o.Assets.Add(new AssetDefinition { Code = "BAD CODE", Scale = 2 });
                o.Assets.Add(new AssetDefinition { Code = "USD", Scale = 4 });
                o.Assets.Add(new AssetDefinition { Code = "TOK", Scale = 40 });
            })
            .Services.BuildServiceProvider();
        var ex = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptions<PaymentsKitOptions>>().Value);
        Assert.Equal(4, ex.Failures.Count());
        Assert.Contains(ex.Failures, f => f.Contains("DefaultPageSize", StringComparison.Ordinal) && f.Contains("(value: 0)", StringComparison.Ordinal));
        Assert.Contains(ex.Failures, f => f.Contains("Assets[0]", StringComparison.Ordinal) && f.Contains("BAD CODE", StringComparison.Ordinal));
        Assert.Contains(ex.Failures, f => f.Contains("Assets[1]", StringComparison.Ordinal) && f.Contains("USD", StringComparison.Ordinal));
        Assert.Contains(ex.Failures, f => f.Contains("Assets[2]", StringComparison.Ordinal) && f.Contains("40", StringComparison.Ordinal));
    }
}
