namespace PaymentsKit.PostgreSql;

public sealed partial class PostgreSqlStore
{
    /// <summary>
    /// Completes one answered batch's calls (decision 0022): one thread-pool work item runs the callers' continuations one
    /// after another, where completing each call with asynchronous continuations woke a pool thread per call (on 2 cores
    /// shared with PostgreSQL, those wake-ups were a large part of the client's CPU). The calls its callers queue meanwhile
    /// are sent together when it has run them all, by this same thread if the queue needs a flusher. Never on the flusher
    /// itself, so a caller's continuation that blocks cannot hold up the batches in flight. A continuation that blocks until
    /// another call of the same batch, or a call it queued, is answered would wait behind itself for ever: so while a
    /// completion runs, a timer completes what is left and sends what was queued from another thread every
    /// <see cref="RescueAfter"/>.
    /// </summary>
    internal sealed class LedgerSettlement : IThreadPoolWorkItem
    {
        internal static readonly TimeSpan RescueAfter = TimeSpan.FromMilliseconds(50);

        [ThreadStatic]
        private static LedgerSettlement? _running;

        private readonly PostgreSqlStore _store;
        private readonly LedgerCall[] _calls;
        private readonly string?[]? _answers;
        private readonly Exception? _failure;
        private Timer? _rescue;
        private int _next = -1;
        private volatile bool _done;

        private LedgerSettlement(PostgreSqlStore store, LedgerCall[] calls, string?[]? answers, Exception? failure)
        {
            _store = store;
            _calls = calls;
            _answers = answers;
            _failure = failure;
        }

        /// <summary>Queues the completion of <paramref name="calls"/> with <paramref name="answers"/> (one per call) or <paramref name="failure"/>.</summary>
        public static void Start(PostgreSqlStore store, List<LedgerCall> calls, string?[]? answers, Exception? failure) =>
            ThreadPool.UnsafeQueueUserWorkItem(new LedgerSettlement(store, [.. calls], answers, failure), preferLocal: true);

        /// <summary>Whether this thread is running the continuations of one of <paramref name="store"/>'s completions.</summary>
        public static bool Completing(PostgreSqlStore store) => _running is { } running && ReferenceEquals(running._store, store);

        /// <inheritdoc />
        public void Execute()
        {
            _rescue = new Timer(static state => ((LedgerSettlement)state!).Rescue(), this, RescueAfter, Timeout.InfiniteTimeSpan);
            var outer = _running;
            _running = this;
            try
            {
                Complete();
            }
            finally
            {
                _running = outer;
                _done = true;
                _rescue.Dispose();
            }

            _store.FlushQueuedLedgerCalls(here: outer is null);
        }

        private void Rescue()
        {
            if (_done)
            {
                return;
            }

            try
            {
                // Again later, for as long as the completion runs: what is completed or sent next may block as well.
                _rescue!.Change(RescueAfter, Timeout.InfiniteTimeSpan);
            }
            catch (ObjectDisposedException)
            {
                // The completion ended meanwhile and sends what was queued itself.
                return;
            }

            Complete();
            _store.FlushQueuedLedgerCalls(here: false);
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
