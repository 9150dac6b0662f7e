namespace PaymentsKit.Testing;

/// <summary>How one racing caller ended: its result, or the code of the <see cref="PaymentsKitException"/> it was refused with.</summary>
/// <typeparam name="T">What a successful call returns.</typeparam>
public sealed record RaceOutcome<T>(string Caller, T? Value, string? Code)
{
    /// <summary>Whether the call succeeded.</summary>
    public bool Won => Code is null;

    /// <inheritdoc />
    public override string ToString() => Won ? $"{Caller}: ok" : $"{Caller}: {Code}";
}

/// <summary>
/// Runs conflicting operations at once, the way many hosts would: every caller starts on the thread pool and
/// waits at one gate, so they all reach the store together. A caller refused with a transient
/// <see cref="PaymentsKitException"/> (a lost race) retries, as a client is told to; any other refusal is its
/// outcome. An exception that is not a <see cref="PaymentsKitException"/> is a defect and fails the race.
/// </summary>
public static class Race
{
    /// <summary>How often one caller retries a lost race before its <c>concurrency_conflict</c> becomes its outcome.</summary>
    public const int MaxAttempts = 50;

    /// <summary>Releases the named callers together and returns each one's outcome, in the order given.</summary>
    public static async Task<RaceOutcome<T>[]> RunAsync<T>(IEnumerable<(string Caller, Func<Task<T>> Call)> callers)
    {
        ArgumentNullException.ThrowIfNull(callers);
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var running = callers.Select(c => Task.Run(async () =>
        {
            await gate.Task.ConfigureAwait(false);
            for (var attempt = 1; ; attempt++)
            {
                try
                {
                    return new RaceOutcome<T>(c.Caller, await c.Call().ConfigureAwait(false), null);
                }
                catch (PaymentsKitException ex) when (ex.IsTransient && attempt < MaxAttempts)
                {
                    await Task.Yield();
                }
                catch (PaymentsKitException ex)
                {
                    return new RaceOutcome<T>(c.Caller, default, ex.Code);
                }
            }
        })).ToArray();
        gate.SetResult();
        return await Task.WhenAll(running).WaitAsync(TimeSpan.FromSeconds(60)).ConfigureAwait(false);
    }

    /// <summary>Callers named <paramref name="caller"/>, <paramref name="count"/> of them, each making <paramref name="call"/>.</summary>
    public static IEnumerable<(string Caller, Func<Task<T>> Call)> Times<T>(int count, string caller, Func<Task<T>> call) =>
        Enumerable.Range(0, count).Select(_ => (caller, call));
}
