using System.Globalization;
using PaymentsKit.LoadTest;

// dotnet run -c Release --project benchmarks/PaymentsKit.LoadTest -- <scenario> [--seconds N] [--clients N]
// Every scenario prints its figures and ends with one line "ratio: <number>" (bigger is better).
var scenarios = new Dictionary<string, Func<LoadTestOptions, Task<double>>>(StringComparer.Ordinal)
{
    ["ledger-memory"] = LedgerScenarios.InMemoryAsync,
    ["ledger"] = LedgerScenarios.PostgreSqlAsync,
    ["accrual"] = StreamingScenarios.AccrualAsync,

    ["payouts"] = PayoutScenarios.PostgreSqlAsync,

    ["webhooks"] = WebhookScenarios.PostgreSqlAsync,
    ["webhooks-storage"] = WebhookScenarios.StorageAsync,
    ["intents-memory"] = IntentScenarios.InMemoryAsync,
    ["intents"] = IntentScenarios.PostgreSqlAsync,
    ["intents-profile"] = IntentScenarios.ProfileAsync,
    ["intents-floor"] = IntentFloorScenario.PostgreSqlAsync,
};

if (args.Length == 0 || !scenarios.TryGetValue(args[0], out var scenario))
{
    await Console.Error.WriteLineAsync($"usage: PaymentsKit.LoadTest <{string.Join('|', scenarios.Keys)}> [--seconds N] [--clients N]");
    return 2;
}

var options = LoadTestOptions.Parse(args.AsSpan(1));
var ratio = await scenario(options);
Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"ratio: {ratio:0.####}"));
return 0;
