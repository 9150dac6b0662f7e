using BenchmarkDotNet.Running;

// dotnet run -c Release --project benchmarks/PaymentsKit.Benchmarks -- --filter '*'
BenchmarkSwitcher.FromAssembly(typeof(PaymentsKit.Benchmarks.LedgerBenchmarks).Assembly).Run(args);
