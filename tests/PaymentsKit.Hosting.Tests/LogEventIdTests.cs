using System.Reflection;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;
using PaymentsKit.Testing;

namespace PaymentsKit.Hosting.Tests;

public sealed class LogEventIdTests
{
    /// <summary>What <see cref="LoggerMessageAttribute.EventId"/> is when the attribute names no id.</summary>
    private const int NoId = -1;

    [Fact]
    public void Every_log_event_id_is_used_by_one_message_across_all_sdk_packages()
    {
        // Operators filter and alert on event ids; one id shared by two messages (a failing job and an unsampled chain
        // were both 501) makes such a filter catch the wrong event.
        var messages = LogMessages().Where(m => m.Attribute.EventId != NoId).ToList();
        Assert.Contains(messages, m => m.Attribute.EventId == 504);

        var shared = messages
            .GroupBy(m => m.Attribute.EventId)
            .Where(g => g.Count() > 1)
            .Select(g => $"{g.Key}: {string.Join(", ", g.Select(m => $"{m.Method.DeclaringType!.FullName}.{m.Method.Name}"))}")
            .ToList();
        Assert.True(shared.Count == 0, $"Event ids used by more than one message: {string.Join("; ", shared)}");
    }

    [Fact]
    public void Every_log_message_of_every_sdk_package_has_an_event_id()
    {
        // A message without an id (the chain adapters' failover warnings and skipped transfers had none) cannot be
        // filtered or alerted on by id, and nothing would stop a later id from being given to two of them.
        var messages = LogMessages();
        var unnumbered = messages
            .Where(m => m.Attribute.EventId == NoId)
            .Select(m => $"{m.Method.DeclaringType!.FullName}.{m.Method.Name}")
            .ToList();
        Assert.True(unnumbered.Count == 0, $"Log messages without an event id: {string.Join(", ", unnumbered)}");
        foreach (var chain in new[] { "Ethereum", "Solana", "Stellar", "Hedera" })
        {
            Assert.Contains(messages, m => m.Method.DeclaringType!.Assembly.GetName().Name == "PaymentsKit.Chains." + chain);
        }
    }

    [Fact]
    public void Every_log_event_id_is_documented_with_its_level_and_nothing_else_is()
    {
        // docs/logging.md is what operators build their filters from; an id missing there, or listed at another level, misleads them.
        var documented = Regex.Matches(
                File.ReadAllText(Path.Combine(Repository.Root, "docs", "logging.md")),
                @"^\| (\d+) \| (Trace|Debug|Information|Warning|Error|Critical) \|",
                RegexOptions.Multiline)
            .Select(m => $"{m.Groups[1].Value} {m.Groups[2].Value}")
            .Order(StringComparer.Ordinal)
            .ToList();
        var logged = LogMessages()
            .Where(m => m.Attribute.EventId != NoId)
            .Select(m => $"{m.Attribute.EventId} {m.Attribute.Level}")
            .Order(StringComparer.Ordinal)
            .ToList();
        Assert.Equal(logged, documented);
    }

    private static List<(MethodInfo Method, LoggerMessageAttribute Attribute)> LogMessages() =>
        [.. SdkAssemblies()
            .SelectMany(a => a.GetTypes())
            .SelectMany(t => t.GetMethods(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static | BindingFlags.Instance | BindingFlags.DeclaredOnly))
            .Select(m => (Method: m, Attribute: m.GetCustomAttribute<LoggerMessageAttribute>()))
            .Where(m => m.Attribute is not null)
            .Select(m => (m.Method, m.Attribute!))];

    /// <summary>Every package under src/, so a new package cannot be left out of the check.</summary>
    private static List<Assembly> SdkAssemblies()
    {
        var names = Directory.GetFiles(Path.Combine(Repository.Root, "src"), "*.csproj", SearchOption.AllDirectories)
            .Select(Path.GetFileNameWithoutExtension)
            .Order(StringComparer.Ordinal)
            .ToList();
        Assert.Contains("PaymentsKit.Core", names);

        // A package this project does not reference fails to load here: add the reference rather than skip it.
        return [.. names.Select(n => Assembly.Load(new AssemblyName(n!)))];
    }
}
