namespace PaymentsKit.PostgreSql;

public sealed partial class PostgreSqlStore
{
    /// <summary>
    /// Completes one answered batch's calls (decision 0022): one thread-pool work item runs the callers' continuations one
    /// after another, where completing each call with asynchronous continuations woke a pool thread per call (on 2 cores
    /// shared with PostgreSQL, those wake-ups were a large part of the client's CPU). Never on the flusher itself, so a
    /// caller's continuation that blocks cannot hold up the queue. A continuation that blocks waiting for another call of
    /// the same batch would wait for ever behind itself; so while a batch of several is being completed, a timer
    /// completes what is left from another thread once <see cref="RescueAfter"/> has passed.
    /// </summary>
    internal sealed class LedgerSettlement : IThreadPoolWorkItem
    {
        internal static readonly TimeSpan RescueAfter = TimeSpan.FromMilliseconds(50);

        private readonly LedgerCall[] _calls;
        private readonly string?[]? _answers;
        private readonly Exception? _failure;
        private Timer? _rescue;
        private int _next = -1;

        private LedgerSettlement(LedgerCall[] calls, string?[]? answers, Exception? failure)
        {
            _calls = calls;
            _answers = answers;
            _failure = failure;
        }

        /// <summary>Queues the completion of <paramref name="calls"/> with <paramref name="answers"/> (one per call) or <paramref name="failure"/>.</summary>
        public static void Start(List<LedgerCall> calls, string?[]? answers, Exception? failure) =>
            ThreadPool.UnsafeQueueUserWorkItem(new LedgerSettlement([.. calls], answers, failure), preferLocal: true);

        /// <inheritdoc />
        public void Execute()
        {
            if (_calls.Length > 1)
            {
                _rescue = new Timer(static state => ((LedgerSettlement)state!).Rescue(), this, RescueAfter, Timeout.InfiniteTimeSpan);
            }

            Complete();
            _rescue?.Dispose();
        }

        private void Rescue()
        {
            if (Volatile.Read(ref _next) >= _calls.Length - 1)
            {
                return;
            }

            try
            {
                // Again later: the call completed next may block as well.
                _rescue!.Change(RescueAfter, Timeout.InfiniteTimeSpan);
            }
            catch (ObjectDisposedException)
            {
                // Every call was completed meanwhile.
                return;
            }

            Complete();
        }

        /// <summary>Completes the calls not yet taken, in order; each call is taken once, by whichever thread gets to it.</summary>
        private void Complete()
        {
            for (int i; (i = Interlocked.Increment(ref _next)) < _calls.Length;)
            {
                if (_failure is null)
                {
                    _calls[i].TrySetResult(_answers![i]);
                }
                else
                {
                    _calls[i].TrySetException(_failure);
                }
            }
        }
    }
}
