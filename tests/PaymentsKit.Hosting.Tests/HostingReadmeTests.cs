using System.Globalization;
using System.Text.RegularExpressions;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using PaymentsKit.Testing;

namespace PaymentsKit.Hosting.Tests;

/// <summary>The package README's job table: what a host operator names in <c>Intervals</c> and <c>DisabledJobs</c>.</summary>
public sealed partial class HostingReadmeTests
{
    [Fact]
    public void The_readme_lists_every_builtin_job_by_name_with_its_default_interval()
    {
        // A misspelt or stale name there is one an operator copies into DisabledJobs, where it silently changes nothing.
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddPaymentsKit().AddPaymentsKitHosting();
        using var host = builder.Build();
        var registered = host.Services.GetServices<IPaymentsKitJob>()
            .Select(job => $"{job.Name} {job.DefaultInterval}")
            .Order(StringComparer.Ordinal)
            .ToList();

        var documented = JobRow().Matches(File.ReadAllText(Path.Combine(Repository.Root, "src", "PaymentsKit.Hosting", "README.md")))
            .Select(row => $"{row.Groups["name"].Value} {Interval(row.Groups["interval"].Value)}")
            .Order(StringComparer.Ordinal)
            .ToList();

        Assert.Equal(registered, documented);
    }

    private static TimeSpan Interval(string text)
    {
        var parts = text.Split(' ');
        var value = double.Parse(parts[0], CultureInfo.InvariantCulture);
        return parts[1] switch
        {
            "ms" => TimeSpan.FromMilliseconds(value),
            "s" => TimeSpan.FromSeconds(value),
            "min" => TimeSpan.FromMinutes(value),
            "h" => TimeSpan.FromHours(value),
            _ => throw new FormatException($"Unknown unit in the README's interval '{text}'."),
        };
    }

    /// <summary>A row of the job table: `name` | what it does | interval.</summary>
    [GeneratedRegex(@"^\| `(?<name>[a-z_]+\.[a-z_]+)` \|.*\| (?<interval>[0-9.]+ (ms|s|min|h)) \|$", RegexOptions.Multiline)]
    private static partial Regex JobRow();
}
