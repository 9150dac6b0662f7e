using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using NodaTime;
using PaymentsKit.DependencyInjection;
using PaymentsKit.Ledger;
using PaymentsKit.Storage;
using PaymentsKit.Testing;

namespace PaymentsKit.Tests.Ledger;

/// <summary>
/// <see cref="LedgerService"/>'s public constructor as 0.1.0 shipped it (store, clock, assets) stays beside the one taking a
/// logger, so code compiled against 0.1.0 still binds, and neither a call nor the container finds the two ambiguous.
/// </summary>
public sealed class LedgerServiceConstructorTests
{
    [Fact]
    public async Task The_Constructor_Code_Compiled_Against_0_1_0_Binds_To_Is_Still_There()
    {
        var constructor = typeof(LedgerService).GetConstructor([typeof(IPaymentsStore), typeof(IClock), typeof(AssetRegistry)]);

        Assert.NotNull(constructor);
        var ledger = (LedgerService)constructor.Invoke([new InMemoryStore(), new ManualClock(), new AssetRegistry()]);
        var account = await ledger.CreateAccountAsync(
            MerchantId.FromGuid(Guid.CreateVersion7()), new CreateLedgerAccountRequest("cash", "Cash", AssetRegistry.Usdc, LedgerSide.Debit));
        Assert.Equal("cash", account.Code);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void The_Container_Builds_The_Ledger_With_Or_Without_Logging(bool logging)
    {
        var services = new ServiceCollection();
        services.AddPaymentsKit();
        var loggerAsked = false;
        if (logging)
        {
            services.AddSingleton<ILogger<LedgerService>>(_ =>
            {
                loggerAsked = true;
                return NullLogger<LedgerService>.Instance;
            });
        }

        using var provider = services.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true });

        Assert.IsType<LedgerService>(provider.GetRequiredService<ILedger>());

        // With logging the container takes the constructor that logs the expiry sweep's failures.
        Assert.Equal(logging, loggerAsked);
    }
}
