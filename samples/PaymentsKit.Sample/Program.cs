using Microsoft.Extensions.DependencyInjection;

// The PaymentsKit sample host. With no arguments (or --demo) it runs on the embedded defaults:
// the in-memory store, the system clock and simulated chains. `--postgres <connection string>`
// runs the same tour on PostgreSQL.
var postgres = args.SkipWhile(a => a != "--postgres").Skip(1).FirstOrDefault();

var services = new ServiceCollection();
var paymentsKit = services.AddPaymentsKit(options =>
    options.Assets.Add(new() { Code = "GOLD", Scale = 4 }));
if (postgres is not null)
{
    paymentsKit.UsePostgreSql(postgres);
}

await using var provider = services.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true });
var demo = new PaymentsKit.Sample.Demo(provider, Console.Out);
await demo.RunAsync(CancellationToken.None);
