using System.Globalization;

namespace PaymentsKit.LoadTest;

/// <summary>Command-line settings shared by the scenarios.</summary>
/// <param name="Seconds">How long each measured phase runs; null for the scenario's default.</param>
/// <param name="Clients">Concurrent clients for server scenarios; null for the scenario's default.</param>
internal sealed record LoadTestOptions(int? Seconds, int? Clients)
{
    public static LoadTestOptions Parse(ReadOnlySpan<string> args)
    {
        int? seconds = null;
        int? clients = null;
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--seconds" when i + 1 < args.Length:
                    seconds = Positive(args[++i], "--seconds");
                    break;
                case "--clients" when i + 1 < args.Length:
                    clients = Positive(args[++i], "--clients");
                    break;
                default:
                    throw new ArgumentException($"Unknown option '{args[i]}'.");
            }
        }

        return new LoadTestOptions(seconds, clients);
    }

    private static int Positive(string text, string name) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value > 0
            ? value
            : throw new ArgumentException($"{name} needs a positive whole number, not '{text}'.");
}
