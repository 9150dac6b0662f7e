using System.Reflection;
using Microsoft.Extensions.Logging;

namespace PaymentsKit.Hosting.Tests;

public sealed class LogEventIdTests
{
    [Fact]
    public void Every_log_event_id_is_used_by_one_message_across_all_sdk_packages()
    {
        // Operators filter and alert on event ids; one id shared by two messages (a failing job and an unsampled chain
        // were both 501) makes such a filter catch the wrong event.
        var messages = SdkAssemblies()
            .SelectMany(a => a.GetTypes())
            .SelectMany(t => t.GetMethods(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static | BindingFlags.Instance | BindingFlags.DeclaredOnly))
            .Select(m => (Method: m, m.GetCustomAttribute<LoggerMessageAttribute>()?.EventId))
            .Where(m => m.EventId is { } id && id != -1) // -1: the attribute names no id.
            .ToList();
        Assert.Contains(messages, m => m.EventId == 504);

        var shared = messages
            .GroupBy(m => m.EventId)
            .Where(g => g.Count() > 1)
            .Select(g => $"{g.Key}: {string.Join(", ", g.Select(m => $"{m.Method.DeclaringType!.FullName}.{m.Method.Name}"))}")
            .ToList();
        Assert.True(shared.Count == 0, $"Event ids used by more than one message: {string.Join("; ", shared)}");
    }

    /// <summary>Every package under src/, so a new package cannot be left out of the check.</summary>
    private static List<Assembly> SdkAssemblies()
    {
        var root = new DirectoryInfo(AppContext.BaseDirectory);
        while (!File.Exists(Path.Combine(root.FullName, "PaymentsKit.sln")))
        {
            root = root.Parent ?? throw new InvalidOperationException($"No PaymentsKit.sln above {AppContext.BaseDirectory}.");
        }

        var names = Directory.GetFiles(Path.Combine(root.FullName, "src"), "*.csproj", SearchOption.AllDirectories)
            .Select(Path.GetFileNameWithoutExtension)
            .Order(StringComparer.Ordinal)
            .ToList();
        Assert.Contains("PaymentsKit.Core", names);

        // A package this project does not reference fails to load here: add the reference rather than skip it.
        return [.. names.Select(n => Assembly.Load(new AssemblyName(n!)))];
    }
}
