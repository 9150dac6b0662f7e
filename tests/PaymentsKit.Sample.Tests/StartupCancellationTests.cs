using System.Text;

namespace PaymentsKit.Sample.Tests;

/// <summary>
/// Ctrl+C (SIGINT) or SIGTERM before the host's own lifetime handles them: <c>Program</c> turns them into the start's
/// cancellation token, and <see cref="SampleProgram.RunAsync"/> must end on it cleanly. Driven in-process with that token.
/// </summary>
public sealed class StartupCancellationTests
{
    [Fact]
    public async Task Cancelling_the_demo_mid_way_ends_it_with_a_short_message_and_the_cancelled_exit_code()
    {
        using var cancel = new CancellationTokenSource();
        using var output = new CancelOnLine("== Invoice paid on simulated Stellar", cancel);
        using var error = new StringWriter();

        var code = await SampleProgram.RunAsync(["--demo"], output, error, cancel.Token, () => Assert.Fail("The demo hands no signal over to a host."));

        Assert.Equal(SampleProgram.CancelledExitCode, code);
        Assert.Contains("== Invoice paid on simulated Stellar", output.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("Demo complete.", output.ToString(), StringComparison.Ordinal);
        Assert.Equal(SampleProgram.CancelledMessage + Environment.NewLine, error.ToString());
    }

    [Fact]
    public async Task A_start_cancelled_before_the_host_takes_over_ctrl_c_ends_without_ever_serving()
    {
        using var cancel = new CancellationTokenSource();
        await cancel.CancelAsync();
        using var error = new StringWriter();
        var handedOver = false;

        var code = await SampleProgram.RunAsync(["--urls", "http://127.0.0.1:0"], TextWriter.Null, error, cancel.Token, () => handedOver = true);

        Assert.Equal(SampleProgram.CancelledExitCode, code);
        Assert.False(handedOver);
        Assert.Equal(SampleProgram.CancelledMessage + Environment.NewLine, error.ToString());
    }

    [Fact]
    public async Task A_bad_argument_is_the_usage_exit_code_and_starts_nothing()
    {
        using var error = new StringWriter();
        Assert.Equal(2, await SampleProgram.RunAsync(["--nope"], TextWriter.Null, error, CancellationToken.None, () => Assert.Fail("Nothing starts.")));
        Assert.StartsWith("Unknown argument '--nope'", error.ToString(), StringComparison.Ordinal);
    }

    /// <summary>Collects what is written and cancels when a line starting with <paramref name="prefix"/> is written, as a Ctrl+C at that moment would.</summary>
    private sealed class CancelOnLine(string prefix, CancellationTokenSource cancel) : StringWriter
    {
        private readonly StringBuilder _line = new();

        public override void Write(char value)
        {
            base.Write(value);
            if (value != '\n')
            {
                _line.Append(value);
                return;
            }

            if (_line.ToString().StartsWith(prefix, StringComparison.Ordinal))
            {
                cancel.Cancel();
            }

            _line.Clear();
        }

        public override void Write(string? value) => Write((value ?? string.Empty).AsSpan());

        public override void Write(char[] buffer, int index, int count) => Write(buffer.AsSpan(index, count));

        public override void Write(ReadOnlySpan<char> buffer)
        {
            foreach (var c in buffer)
            {
                Write(c);
            }
        }

        public override void WriteLine(string? value)
        {
            Write(value);
            Write(Environment.NewLine);
        }
    }
}
