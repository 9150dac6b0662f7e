using Microsoft.Extensions.DependencyInjection;
using PaymentsKit;
using PaymentsKit.Chains.Stellar;
using PaymentsKit.Orchestration;
using PaymentsKit.Sample;

// The PaymentsKit sample host. With no arguments (or --demo) it runs on the embedded defaults:
// the in-memory store and simulated chains. `--postgres <connection string>` runs the same tour
// on PostgreSQL (migrations are applied on first use).
var postgres = args.SkipWhile(a => a != "--postgres").Skip(1).FirstOrDefault();

var clock = new DemoClock();
var services = new ServiceCollection();
var paymentsKit = services
    .AddPaymentsKit(options => options.Assets.Add(new() { Code = "GOLD", Scale = 4 }))
    .UseClock(clock)
    .AddSimulatedChain(ChainId.Stellar, chain =>
    {
        chain.AddressCodec = StellarAddressCodec.Instance;
        chain.BlockTime = NodaTime.Duration.FromSeconds(5);
    })
    .AddPaymentProvider(new SimulatedPaymentProvider(PaymentProvider.Stripe, clock));
if (postgres is not null)
{
    paymentsKit.UsePostgreSql(postgres);
}

await using var provider = services.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true });
await new Demo(provider, clock, Console.Out).RunAsync(CancellationToken.None);
