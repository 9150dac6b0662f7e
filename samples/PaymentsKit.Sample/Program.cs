using PaymentsKit.Sample;

// The PaymentsKit sample host. With no arguments it serves the JSON API, the webhook receiver and the
// hosted checkout on 127.0.0.1 over the embedded defaults (in-memory store, simulated chains and
// provider). `--demo` drives one tour through every module, prints it and exits; `--postgres
// <connection string>` runs either on PostgreSQL (migrations are applied on start).
SampleOptions options;
try
{
    options = SampleOptions.FromArgs(args);
}
catch (ArgumentException ex)
{
    Console.Error.WriteLine(ex.Message);
    return 2;
}

if (options.Demo)
{
    var clock = new DemoClock();
    options.Clock = clock;
    options.Url = "http://127.0.0.1:0";
    options.BackgroundJobs = false;
    await using var demoHost = SampleHost.Build(options);
    await SampleHost.InitializeAsync(demoHost, CancellationToken.None);
    await demoHost.StartAsync();
    await new Demo(demoHost.Services, clock, Console.Out, SampleHost.BaseAddress(demoHost)).RunAsync(CancellationToken.None);
    await demoHost.StopAsync();
    return 0;
}

await using var app = SampleHost.Build(options);
await SampleHost.InitializeAsync(app, CancellationToken.None);
await app.RunAsync();
return 0;
