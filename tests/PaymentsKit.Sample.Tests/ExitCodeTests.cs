using System.Net;
using System.Net.Sockets;
using PaymentsKit.Testing;

namespace PaymentsKit.Sample.Tests;

/// <summary>
/// How the sample ends when it cannot run: a newcomer's first mistakes (a setting missing or wrong, no database) are a
/// short message and an exit code a script can act on, never an unhandled exception's stack trace and abort.
/// </summary>
public sealed class ExitCodeTests
{
    [Fact]
    public async Task Options_the_validation_refuses_are_each_reported_alone_with_the_configuration_exit_code()
    {
        using var error = new StringWriter();

        var code = await SampleProgram.RunAsync(
            ["--demo", "--postgres", "Host=127.0.0.1;Frobnicate=yes"], TextWriter.Null, error, CancellationToken.None, () => Assert.Fail("Nothing starts."));

        Assert.Equal(SampleProgram.ConfigurationExitCode, code);
        Assert.Contains("ConnectionString", error.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Every_options_problem_is_reported_at_once_before_the_store_is_prepared()
    {
        // Preparing the store resolves services, whose options would otherwise be validated one type at a time, the
        // first refusal hiding the others.
        await using var host = SampleHost.Build(new SampleOptions
        {
            Url = "http://127.0.0.1:0",
            BackgroundJobs = false,
            PostgresConnectionString = "Host=127.0.0.1;Frobnicate=yes",
            ApiKeyHashingSecret = "c2hvcnQ=",
        });

        var error = await Assert.ThrowsAnyAsync<Exception>(() => SampleHost.InitializeAsync(host, CancellationToken.None));

        var failures = SampleProgram.OptionsFailures(error);
        Assert.NotNull(failures);
        Assert.Contains(failures, f => f.Contains("ConnectionString", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.Contains("ApiKeyHashingSecret", StringComparison.Ordinal));
    }

    [Fact]
    public async Task An_address_already_in_use_is_a_short_failure_with_exit_code_1()
    {
        // The second `dotnet run` of the sample on its default port.
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        var url = $"http://127.0.0.1:{((IPEndPoint)taken.LocalEndpoint).Port}";
        using var error = new StringWriter();

        var code = await SampleProgram.RunAsync(["--urls", url], TextWriter.Null, error, CancellationToken.None, () => Assert.Fail("Nothing serves."));

        Assert.Equal(SampleProgram.FailedExitCode, code);
        Assert.StartsWith($"Cannot listen on {url}: ", error.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_store_that_cannot_be_reached_is_a_short_failure_with_its_code_and_exit_code_1()
    {
        using var error = new StringWriter();
        var options = new SampleOptions
        {
            Demo = true,
            PostgresConnectionString = "Host=127.0.0.1;Port=1;Database=payments;Username=app;Timeout=2",
            ApiKeyHashingSecret = TestSecrets.ApiKeyHashingSecret,
        };

        var code = await SampleProgram.RunAsync(options, TextWriter.Null, error, CancellationToken.None, () => Assert.Fail("Nothing starts."));

        Assert.Equal(SampleProgram.FailedExitCode, code);
        Assert.StartsWith($"{PaymentsKitErrorCodes.StorageFailure}: PostgreSQL failed while applying PaymentsKit migrations", error.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", error.ToString(), StringComparison.Ordinal);
    }
}
