using PaymentsKit.Sample;

// The PaymentsKit sample host. With no arguments it serves the JSON API, the webhook receiver and the
// hosted checkout on 127.0.0.1 over the embedded defaults (in-memory store, simulated chains and
// provider). `--demo` drives one tour through every module, prints it and exits; `--postgres
// <connection string>` runs either on PostgreSQL (migrations are applied on start). Ctrl+C or SIGTERM
// before the host serves (migrations, seeding, the demo) cancels the start: exit code 130.
using var signals = new StartupSignals();
return await SampleProgram.RunAsync(args, Console.Out, Console.Error, signals.Token, signals.Release);
