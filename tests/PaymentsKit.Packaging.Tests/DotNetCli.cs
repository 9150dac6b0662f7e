using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;

namespace PaymentsKit.Packaging.Tests;

/// <summary>Runs the <c>dotnet</c> CLI as a fresh user would, and fails with its whole output when it fails.</summary>
internal static partial class DotNetCli
{
    /// <summary>
    /// Runs <c>dotnet</c> with <paramref name="arguments"/> in <paramref name="workingDirectory"/>.
    /// </summary>
    /// <returns>Standard output and standard error, interleaved.</returns>
    /// <exception cref="InvalidOperationException">A non-zero exit code or the timeout, with the output.</exception>
    public static Task<string> RunAsync(string workingDirectory, TimeSpan timeout, params string[] arguments) =>
        RunAsync(workingDirectory, timeout, new Dictionary<string, string>(), arguments);

    /// <summary>
    /// Runs <c>dotnet</c> with <paramref name="arguments"/> in <paramref name="workingDirectory"/>, with <paramref name="environment"/>
    /// added to the inherited environment.
    /// </summary>
    /// <returns>Standard output and standard error, interleaved.</returns>
    /// <exception cref="InvalidOperationException">A non-zero exit code or the timeout, with the output.</exception>
    public static async Task<string> RunAsync(string workingDirectory, TimeSpan timeout, IReadOnlyDictionary<string, string> environment, params string[] arguments)
    {
        var start = new ProcessStartInfo(DotNetPath())
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        // `dotnet test` hands its MSBuild settings (MSBuildExtensionsPath, MSBUILD_EXE_PATH, …) to the
        // test process; a child build must resolve its own SDK like a user's shell does.
        foreach (var name in start.Environment.Keys.Where(k => k.StartsWith("MSBUILD", StringComparison.OrdinalIgnoreCase)).ToList())
        {
            start.Environment.Remove(name);
        }

        // No build server or compiler server may outlive the test.
        start.Environment["MSBUILDDISABLENODEREUSE"] = "1";
        start.Environment["DOTNET_CLI_USE_MSBUILD_SERVER"] = "0";
        start.Environment["UseSharedCompilation"] = "false";
        start.Environment["DOTNET_NOLOGO"] = "1";
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_CLI_UI_LANGUAGE"] = "en";
        foreach (var (name, value) in environment)
        {
            start.Environment[name] = value;
        }

        var output = new StringBuilder();
        using var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) => Append(output, e.Data);
        process.ErrorDataReceived += (_, e) => Append(output, e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cts.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new InvalidOperationException($"`dotnet {Describe(arguments)}` did not finish within {timeout}:\n{Text(output)}");
        }

        // The parameterless wait drains the redirected streams.
        await process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException(
                $"`dotnet {Describe(arguments)}` in {workingDirectory} exited with {process.ExitCode}:\n{Text(output)}");
        }

        return Text(output);
    }

    // A connection string passed to a program may carry a password; failure messages end up in CI logs.
    private static string Describe(string[] arguments) => Password().Replace(string.Join(' ', arguments), "$1=***");

    private static string DotNetPath() =>
        Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet";

    private static void Append(StringBuilder output, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (output)
        {
            output.AppendLine(line);
        }
    }

    private static string Text(StringBuilder output)
    {
        lock (output)
        {
            return output.ToString();
        }
    }

    [GeneratedRegex("(?i)(password|pwd)=[^; ]*")]
    private static partial Regex Password();
}
