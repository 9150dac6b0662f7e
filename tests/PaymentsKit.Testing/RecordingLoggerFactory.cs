using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace PaymentsKit.Testing;

/// <summary>Records every log entry with its event id and structured fields, to assert on what was logged.</summary>
public sealed class RecordingLoggerFactory : ILoggerFactory
{
    /// <summary>The entries, in the order they were logged.</summary>
    public ConcurrentQueue<(LogLevel Level, EventId EventId, string Message, IReadOnlyDictionary<string, object?> Fields)> Entries { get; } = new();

    /// <inheritdoc />
    public ILogger CreateLogger(string categoryName) => new Logger(this);

    /// <inheritdoc />
    public void AddProvider(ILoggerProvider provider)
    {
    }

    /// <inheritdoc />
    public void Dispose()
    {
    }

    private sealed class Logger(RecordingLoggerFactory owner) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var fields = state is IEnumerable<KeyValuePair<string, object?>> pairs
                ? pairs.ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal)
                : [];
            owner.Entries.Enqueue((logLevel, eventId, formatter(state, exception), fields));
        }
    }
}
