using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using NodaTime;
using PaymentsKit.DependencyInjection;
using PaymentsKit.Invoicing;

namespace PaymentsKit.Tests.Invoicing;

public sealed class InvoicingOptionsTests
{
    [Fact]
    public void Defaults_AreValid()
    {
        var options = Resolve(_ => { });
        Assert.Equal(0m, options.UnderpaymentTolerancePercent);
        Assert.Equal(Duration.FromHours(24), options.DefaultInvoiceLifetime);
        Assert.Equal(Duration.FromDays(365), options.MaxInvoiceLifetime);
        Assert.Equal(Duration.FromMinutes(1), options.ApiKeyLastUsedResolution);
    }

    [Fact]
    public void InvalidOptions_ReportEveryProblemAtOnce()
    {
        var ex = Assert.Throws<OptionsValidationException>(() => Resolve(o =>
        {
            o.UnderpaymentTolerancePercent = 10.5m;
            o.DefaultInvoiceLifetime = Duration.FromDays(400);
            o.ApiKeyLastUsedResolution = Duration.FromSeconds(-1);
        }));
        Assert.Equal(3, ex.Failures.Count());
        Assert.Contains(ex.Failures, f => f.Contains("UnderpaymentTolerancePercent", StringComparison.Ordinal) && f.Contains("10.5", StringComparison.Ordinal));
        Assert.Contains(ex.Failures, f => f.Contains("DefaultInvoiceLifetime", StringComparison.Ordinal));
        Assert.Contains(ex.Failures, f => f.Contains("ApiKeyLastUsedResolution", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(-0.1)]
    [InlineData(10.01)]
    public void Tolerance_OutsideZeroToTen_IsRejected(double percent)
    {
        var ex = Assert.Throws<OptionsValidationException>(() => Resolve(o => o.UnderpaymentTolerancePercent = (decimal)percent));
        Assert.Single(ex.Failures);
    }

    [Fact]
    public void NonPositiveLifetimes_AreRejected()
    {
        var ex = Assert.Throws<OptionsValidationException>(() => Resolve(o =>
        {
            o.MaxInvoiceLifetime = Duration.Zero;
            o.DefaultInvoiceLifetime = Duration.Zero;
        }));
        Assert.Equal(2, ex.Failures.Count());
    }

    private static InvoicingOptions Resolve(Action<InvoicingOptions> configure)
    {
        var services = new ServiceCollection();
        services.AddPaymentsKit().ConfigureInvoicing(configure);
        using var provider = services.BuildServiceProvider();
        return provider.GetRequiredService<IOptions<InvoicingOptions>>().Value;
    }
}
