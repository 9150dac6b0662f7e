using System.Runtime.InteropServices;
using Microsoft.Extensions.Options;

namespace PaymentsKit.Sample;

/// <summary>
/// What <c>Program</c> runs, callable in-process: parses the arguments, then runs the demo, or prepares the store and the
/// simulated world and serves until the host's lifetime stops it.
/// </summary>
internal static class SampleProgram
{
    /// <summary>
    /// The exit code of a run that failed on a PaymentsKit error (e.g. a PostgreSQL server that cannot be reached) or could not
    /// listen on its URL.
    /// </summary>
    public const int FailedExitCode = 1;

    /// <summary>The exit code of a bad command line.</summary>
    public const int UsageExitCode = 2;

    /// <summary>The exit code of options the validation refuses (sysexits' EX_CONFIG), e.g. <c>--postgres</c> without an API key hashing secret.</summary>
    public const int ConfigurationExitCode = 78;

    /// <summary>The exit code of a start (or a demo) cancelled by Ctrl+C or SIGTERM: 128 + SIGINT, as shells report an interrupted program.</summary>
    public const int CancelledExitCode = 130;

    /// <summary>What a cancelled start prints on the error output, alone: a cancellation is no error, so no stack trace.</summary>
    public const string CancelledMessage = "Cancelled (Ctrl+C or SIGTERM) before the sample was serving; exiting.";

    /// <summary>Runs the sample; returns its exit code.</summary>
    /// <param name="args">The command line (see <see cref="SampleOptions.FromArgs"/>).</param>
    /// <param name="output">Where the demo prints its tour.</param>
    /// <param name="error">Where a usage error or a cancellation is reported.</param>
    /// <param name="startup">
    /// Cancels everything before the host's lifetime handles Ctrl+C and SIGTERM itself: migrations, seeding and the whole demo (<c>Program</c> cancels it on those signals, see <see cref="StartupSignals"/>).
    /// </param>
    /// <param name="started">Called once the host has started, before serving: its lifetime now stops it on Ctrl+C or SIGTERM.</param>
    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error, CancellationToken startup, Action started)
    {
        ArgumentNullException.ThrowIfNull(error);
        SampleOptions options;
        try
        {
            options = SampleOptions.FromArgs(args);
        }
        catch (ArgumentException ex)
        {
            await error.WriteLineAsync(ex.Message).ConfigureAwait(false);
            return UsageExitCode;
        }

        return await RunAsync(options, output, error, startup, started).ConfigureAwait(false);
    }

    /// <summary>Runs the sample as <paramref name="options"/> say; returns its exit code.</summary>
    /// <inheritdoc cref="RunAsync(string[], TextWriter, TextWriter, CancellationToken, Action)"/>
    public static async Task<int> RunAsync(SampleOptions options, TextWriter output, TextWriter error, CancellationToken startup, Action started)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(error);
        ArgumentNullException.ThrowIfNull(started);
        try
        {
            if (options.Demo)
            {
                await Demo.RunAsync(options, output, startup).ConfigureAwait(false);
                return 0;
            }

            var app = SampleHost.Build(options);
            await using (app.ConfigureAwait(false))
            {
                await SampleHost.InitializeAsync(app, startup).ConfigureAwait(false);

                // Checked here rather than passed to the start, so a signal that came while a step did not look at the token
                // still stops the start before serving: a host whose start is cancelled logs it as a failure, stack trace
                // included. The host's lifetime handles the signals from the first thing its start does.
                startup.ThrowIfCancellationRequested();
                try
                {
                    await app.StartAsync(CancellationToken.None).ConfigureAwait(false);
                }
                catch (IOException ex)
                {
                    // Kestrel could not bind, most often because another sample already serves on the port.
                    await error.WriteLineAsync($"Cannot listen on {options.Url}: {ex.Message}").ConfigureAwait(false);
                    return FailedExitCode;
                }

                started();
                await app.WaitForShutdownAsync(CancellationToken.None).ConfigureAwait(false);
                return 0;
            }
        }
        catch (OperationCanceledException) when (startup.IsCancellationRequested)
        {
            await error.WriteLineAsync(CancelledMessage).ConfigureAwait(false);
            return CancelledExitCode;
        }
        catch (Exception ex) when (OptionsFailures(ex) is { } failures)
        {
            foreach (var failure in failures)
            {
                await error.WriteLineAsync(failure).ConfigureAwait(false);
            }

            return ConfigurationExitCode;
        }
        catch (PaymentsKitException ex)
        {
            // The code and message name what went wrong and with which value; the stack trace would only bury them.
            await error.WriteLineAsync($"{ex.Code}: {ex.Message}").ConfigureAwait(false);
            return FailedExitCode;
        }
    }

    /// <summary>
    /// Every failure of an options validation: the host's start reports one <see cref="OptionsValidationException"/> per
    /// options type that has problems, several together in an <see cref="AggregateException"/>. Null for any other error.
    /// </summary>
    public static IReadOnlyList<string>? OptionsFailures(Exception exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        return exception switch
        {
            OptionsValidationException invalid => [.. invalid.Failures],
            AggregateException aggregate when aggregate.Flatten().InnerExceptions.All(e => e is OptionsValidationException) =>
                [.. aggregate.Flatten().InnerExceptions.SelectMany(e => ((OptionsValidationException)e).Failures)],
            _ => null,
        };
    }
}

/// <summary>
/// Turns SIGINT (Ctrl+C) and SIGTERM into the cancellation of the sample's start until the host's lifetime handles them
/// (<see cref="Release"/>): unhandled, they would end the process wherever it was, a migration or the seeding half done.
/// </summary>
internal sealed class StartupSignals : IDisposable
{
    private readonly Lock _gate = new();
    private readonly CancellationTokenSource _cancellation = new();
    private readonly PosixSignalRegistration[] _registrations;
    private bool _released;

    public StartupSignals() => _registrations = [Register(PosixSignal.SIGINT), Register(PosixSignal.SIGTERM)];

    /// <summary>Cancelled by the first signal.</summary>
    public CancellationToken Token => _cancellation.Token;

    /// <summary>Stops handling the signals, leaving them to the started host's lifetime.</summary>
    public void Release()
    {
        lock (_gate)
        {
            _released = true;
            foreach (var registration in _registrations)
            {
                registration.Dispose();
            }
        }
    }

    public void Dispose()
    {
        Release();
        _cancellation.Dispose();
    }

    private PosixSignalRegistration Register(PosixSignal signal) =>
        PosixSignalRegistration.Create(signal, context =>
        {
            lock (_gate)
            {
                // A second signal while the start is still winding down ends the process as it would have without this
                // handler, so a step that never looks at the token cannot make the sample impossible to stop.
                if (_released || _cancellation.IsCancellationRequested)
                {
                    return;
                }

                context.Cancel = true;
                _cancellation.Cancel();
            }
        });
}
