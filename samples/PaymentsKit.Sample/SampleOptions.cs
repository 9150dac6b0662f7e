using NodaTime;

namespace PaymentsKit.Sample;

/// <summary>How the sample host runs: parsed from the command line, or set by the tests.</summary>
public sealed class SampleOptions
{
    /// <summary>Where the API listens when no <c>--urls</c> is given: loopback only.</summary>
    public const string DefaultUrl = "http://127.0.0.1:5080";

    /// <summary>Drive one tour through every module, print it and exit.</summary>
    public bool Demo { get; set; }

    /// <summary>Store everything in PostgreSQL at this connection string instead of in memory.</summary>
    public string? PostgresConnectionString { get; set; }

    /// <summary>
    /// The API key hashing secret (base64, 32+ bytes); when null, the <c>PAYMENTSKIT_API_KEY_SECRET</c> setting. Required with
    /// PostgreSQL: keys stored under a secret made per process stop verifying after a restart.
    /// </summary>
    public string? ApiKeyHashingSecret { get; set; }

    /// <summary>The URL Kestrel listens on (port 0: any free port).</summary>
    public string Url { get; set; } = DefaultUrl;

    /// <summary>The clock every module uses; the demo moves a simulated one, the server uses the system clock.</summary>
    public IClock Clock { get; set; } = SystemClock.Instance;

    /// <summary>Run PaymentsKit's background jobs (webhook dispatch, expiry sweeps, chain health sampling).</summary>
    public bool BackgroundJobs { get; set; } = true;

    /// <summary>Parses <c>--demo</c>, <c>--postgres &lt;connection string&gt;</c> and <c>--urls &lt;url&gt;</c>.</summary>
    /// <exception cref="ArgumentException">For an unknown argument or a missing value.</exception>
    public static SampleOptions FromArgs(IReadOnlyList<string> args)
    {
        var options = new SampleOptions();
        for (var i = 0; i < args.Count; i++)
        {
            switch (args[i])
            {
                case "--demo":
                    options.Demo = true;
                    break;
                case "--postgres":
                    options.PostgresConnectionString = Value(args, ++i, "--postgres");
                    break;
                case "--urls":
                    options.Url = Value(args, ++i, "--urls");
                    break;
                default:
                    throw new ArgumentException($"Unknown argument '{args[i]}'. Usage: [--demo] [--postgres <connection string>] [--urls <url>]");
            }
        }

        return options;
    }

    private static string Value(IReadOnlyList<string> args, int index, string name) =>
        index < args.Count && !args[index].StartsWith("--", StringComparison.Ordinal)
            ? args[index]
            : throw new ArgumentException($"{name} needs a value.");
}
