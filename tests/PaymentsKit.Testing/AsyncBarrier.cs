namespace PaymentsKit.Testing;

/// <summary>
/// A one-shot barrier for tasks: every participant waits until all have arrived. Unlike
/// <see cref="Barrier"/> it blocks no thread, so dozens of racing tasks cannot starve a small
/// thread pool.
/// </summary>
public sealed class AsyncBarrier(int participants)
{
    private readonly TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _arrived;

    /// <summary>Signals arrival and waits for the others (at most <paramref name="timeout"/>).</summary>
    public Task SignalAndWaitAsync(TimeSpan timeout)
    {
        if (Interlocked.Increment(ref _arrived) == participants)
        {
            _released.SetResult();
        }

        return _released.Task.WaitAsync(timeout);
    }
}
