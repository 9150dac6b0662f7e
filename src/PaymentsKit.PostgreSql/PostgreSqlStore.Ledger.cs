using System.Text.Json;
using Npgsql;
using PaymentsKit.Ledger;

namespace PaymentsKit.PostgreSql;

/// <summary>
/// The ledger's one-call path (decision 0005), group-committed (decision 0008): concurrent calls queue, and a flusher
/// plans everything queued on the ledger rows this store keeps and sends the plan as one call of
/// <c>paymentskit_ledger_write</c> (migration 0027, decision 0024), which writes it only where every changed row is still
/// at the planned version. Each operation is accepted or declined on its own. A reservation or posted transaction is
/// answered with its instant, and its record is built by <see cref="LedgerBooks"/>, as the other paths build it; a
/// resolution is answered with the resolved transfer's document.
/// </summary>
public sealed partial class PostgreSqlStore : ILedgerFastPath
{
    /// <summary>
    /// Batches in flight at once. The first flusher starts whenever none runs and takes everything queued;
    /// a second starts only once <see cref="LedgerBatchTarget"/> calls wait behind a batch in flight, so the
    /// server gets a second backend's worth of work without the batches shrinking to one or two calls
    /// (measured on 2 shared cores: two unconditional flushers halved the batches and lost to one). For the same
    /// reason a flusher whose batch returns while the other's is in flight sends again only once
    /// <see cref="LedgerBatchTarget"/> calls wait; fewer go with the other flusher's next batch (decision 0018).
    /// </summary>
    private const int LedgerFlushers = 2;

    /// <summary>How many waiting calls make a second batch worth sending before the first returns.</summary>
    private const int LedgerBatchTarget = 4;

    /// <summary>At most this many operations per batch, so one call's arrays stay small.</summary>
    private const int LedgerBatchLimit = 128;

    private const string NoMetadata = "{}";

    private static readonly Task<string?> DeclinedLedgerCall = Task.FromResult<string?>(null);

    private readonly Lock _ledgerGate = new();
    private readonly Stack<LedgerBatch> _ledgerBatches = new();
    private List<LedgerCall> _ledgerQueue = [];
    private int _ledgerFlushing;

    /// <inheritdoc />
    async ValueTask<LedgerTransaction?> ILedgerFastPath.TryPostAsync(LedgerFastTransaction transaction, CancellationToken cancellationToken)
    {
        var request = transaction.Request;
        var asset = request.Postings[0].Amount.Asset;
        var call = new LedgerCall(LedgerCallKind.Posted, transaction.TenantId, transaction.TransactionId, transaction.Now)
        {
            Asset = asset.Code,
            Scale = asset.Scale,
            Chain = asset.Chain?.Value,
            EntryType = Snake(request.EntryType),
            Description = request.Description,
            Metadata = Metadata(request.Metadata),
            Postings = request.Postings,
        };
        var at = await EnqueueLedgerAsync(call, cancellationToken).ConfigureAwait(false);
        return at is null ? null : transaction.Posted(IsoInstant.Parse(at));
    }

    /// <inheritdoc />
    async ValueTask<LedgerTransfer?> ILedgerFastPath.TryReserveAsync(LedgerFastReservation reservation, CancellationToken cancellationToken)
    {
        var request = reservation.Request;
        var amount = request.Amount;
        var call = new LedgerCall(LedgerCallKind.Reserve, reservation.TenantId, reservation.TransactionId, reservation.Now)
        {
            TransferId = reservation.TransferId.Value,
            TransferRef = reservation.TransferId.ToString(),
            DebitAccount = request.DebitAccountId.Value,
            CreditAccount = request.CreditAccountId.Value,
            Amount = amount.Amount,
            Asset = amount.Asset.Code,
            Scale = amount.Asset.Scale,
            Chain = amount.Asset.Chain?.Value,
            EntryType = Snake(request.EntryType),
            Description = request.Description,
            Metadata = Metadata(request.Metadata),
        };
        var at = await EnqueueLedgerAsync(call, cancellationToken).ConfigureAwait(false);
        return at is null
            ? null
            : LedgerBooks.ReservedTransfer(reservation.TenantId, reservation.TransferId, reservation.TransactionId, request, IsoInstant.Parse(at));
    }

    /// <inheritdoc />
    async ValueTask<LedgerTransfer?> ILedgerFastPath.TryResolveAsync(LedgerFastResolution resolution, CancellationToken cancellationToken)
    {
        var amount = resolution.Amount;
        var call = new LedgerCall(resolution.Void ? LedgerCallKind.Void : LedgerCallKind.Post, resolution.TenantId, resolution.TransactionId, resolution.Now)
        {
            TransferId = resolution.TransferId.Value,
            Amount = amount?.Amount,
            Asset = amount?.Asset.Code,
            Scale = amount?.Asset.Scale,
            Assets = resolution.Assets,
        };
        var document = await EnqueueLedgerAsync(call, cancellationToken).ConfigureAwait(false);
        return document is null ? null : LedgerTransferDocument.Read(document, _json);
    }

    private static string? Snake<TEnum>(TEnum? value)
        where TEnum : struct, Enum =>
        value is { } known ? SnakeCaseNames<TEnum>.Of(known) : null;

    private string Metadata(IReadOnlyDictionary<string, string>? metadata) =>
        metadata is null || metadata.Count == 0 ? NoMetadata : JsonSerializer.Serialize(metadata, _json);

    /// <summary>
    /// Queues a call and, if no batch is being sent, starts the flusher; answers the call's instant or document, or null.
    /// Not an async method: the store is ready on every call but the first, and the call's own task is the answer.
    /// </summary>
    private Task<string?> EnqueueLedgerAsync(LedgerCall call, CancellationToken cancellationToken)
    {
        // Inside an ambient transaction the record path runs, whose connection enlists in it: a batch is shared by
        // callers and commits on its own, so it could neither join one caller's transaction nor be undone with it.
        if (_enlist && System.Transactions.Transaction.Current is not null)
        {
            return DeclinedLedgerCall;
        }

        var ready = EnsureReadyAsync(cancellationToken);
        if (!ready.IsCompletedSuccessfully)
        {
            return EnqueueWhenReadyAsync(ready, call, cancellationToken);
        }

        ready.GetAwaiter().GetResult();
        return Enqueue(call, cancellationToken);
    }

    private async Task<string?> EnqueueWhenReadyAsync(ValueTask ready, LedgerCall call, CancellationToken cancellationToken)
    {
        await ready.ConfigureAwait(false);
        return await Enqueue(call, cancellationToken).ConfigureAwait(false);
    }

    private Task<string?> Enqueue(LedgerCall call, CancellationToken cancellationToken)
    {
        // A queued call is written whatever becomes of its wait: one cancelled before it is queued must not be, as the
        // in-memory store and the record path write nothing for it either.
        cancellationToken.ThrowIfCancellationRequested();
        bool start;
        lock (_ledgerGate)
        {
            _ledgerQueue.Add(call);
            start = _ledgerFlushing == 0 || (_ledgerFlushing < LedgerFlushers && _ledgerQueue.Count >= LedgerBatchTarget);
            if (start)
            {
                _ledgerFlushing++;
            }
        }

        if (start)
        {
            // Off the caller's flow: the flusher serves every caller until the queue is empty, and carries nothing of the
            // caller's execution context (no ambient transaction its connection could enlist in).
            using (ExecutionContext.SuppressFlow())
            {
                _ = Task.Run(FlushLedgerAsync, CancellationToken.None);
            }
        }

        // A cancelled wait does not withdraw a call already sent, as cancelling a sent command would not.
        // (An uncancellable token returns the call's own task: nothing allocated.)
        return call.Task.WaitAsync(cancellationToken);
    }

    private async Task FlushLedgerAsync()
    {
        LedgerBatch? batch;
        lock (_ledgerGate)
        {
            _ledgerBatches.TryPop(out batch);
        }

        // At most LedgerFlushers batches exist at once: each flusher holds one and gives it back when it stops.
        batch ??= new LedgerBatch(_dataSource);
        while (true)
        {
            lock (_ledgerGate)
            {
                // The other flusher, if one is in flight, takes what is queued when its batch returns.
                if (_ledgerQueue.Count == 0 || (_ledgerFlushing > 1 && _ledgerQueue.Count < LedgerBatchTarget))
                {
                    _ledgerFlushing--;
                    if (_disposed == 0)
                    {
                        _ledgerBatches.Push(batch);
                    }
                    else
                    {
                        batch.Dispose();
                    }

                    return;
                }

                batch.Take(ref _ledgerQueue, LedgerBatchLimit);
            }

            await RunLedgerBatchAsync(batch, batch.Calls).ConfigureAwait(false);
            batch.Calls.Clear();
        }
    }

    /// <summary>Sends one batch of <paramref name="calls"/> with <paramref name="batch"/>'s command and settles every call in it; never throws.</summary>
    private async Task RunLedgerBatchAsync(LedgerBatch batch, List<LedgerCall> calls)
    {
        try
        {
            var documents = await CallBatchAsync(batch, calls).ConfigureAwait(false);
            for (var i = 0; i < calls.Count; i++)
            {
                calls[i].TrySetResult(documents[i]);
            }
        }
        catch (Exception ex) when (calls.Count > 1 && (ex is PostgresException || ex is not NpgsqlException))
        {
            // One operation made the whole batch fail; alone, each of the others goes through and the culprit gets its own error.
            foreach (var call in calls)
            {
                await RunLedgerBatchAsync(batch, [call]).ConfigureAwait(false);
            }
        }
        catch (NpgsqlException ex)
        {
            var failure = StorageFailure(ex, "running a ledger operation");
            calls.ForEach(call => call.TrySetException(failure));
        }
        catch (Exception ex)
        {
            calls.ForEach(call => call.TrySetException(ex));
        }
    }

    /// <summary>
    /// Plans the batch on the accounts and transfers this store knows (reading those it does not) and writes the plan;
    /// answers one instant or document (or null: take the record path) per call. A write that finds a row changed since
    /// it was read (another writer) rolls back whole; the rows are read again and the batch planned anew.
    /// </summary>
    private async Task<string?[]> CallBatchAsync(LedgerBatch batch, List<LedgerCall> calls)
    {
        var connection = batch.Connection;
        await connection.OpenAsync(CancellationToken.None).ConfigureAwait(false);
        try
        {
            ForgetLedgerRowsAfterReconnecting();
            var lost = 0;
            var declinesRechecked = false;
            while (true)
            {
                await ReadMissingLedgerRowsAsync(batch, calls).ConfigureAwait(false);
                batch.Plan(calls, _clock.GetCurrentInstant());
                if (!declinesRechecked && batch.DeclinedOnKept.Count > 0)
                {
                    // Kept balances declined an operation; another writer may have moved them since. Read them again and
                    // plan once more, so a declined call goes to the record path only on balances as they are now.
                    declinesRechecked = true;
                    ForgetLedgerRows(batch.DeclinedOnKept, []);
                    continue;
                }

                if (!batch.Writes)
                {
                    return batch.Answers;
                }

                try
                {
                    // Prepared once per pooled connection (Npgsql keeps it across uses): the call is not parsed and planned per batch.
                    await batch.Command.PrepareAsync(CancellationToken.None).ConfigureAwait(false);
                    var documents = (string?[])(await batch.Command.ExecuteScalarAsync(CancellationToken.None).ConfigureAwait(false))!;
                    return batch.Written(documents, this);
                }
                catch (PostgresException ex) when (IsStaleLedgerPlan(ex))
                {
                    // Another writer changed a row the plan read: what this store knew of the plan's rows is dropped.
                    ForgetLedgerRows(batch.HeldAccounts, batch.HeldTransfers);
                    if (lost++ >= _maxRetries)
                    {
                        // Still losing: the record path takes over and settles the race its own way.
                        return new string?[calls.Count];
                    }

                    LogRetry(_logger, ex.SqlState, lost, _maxRetries);
                    if (lost > 1)
                    {
                        await Task.Delay(Random.Shared.Next(1, 10 << (lost - 1))).ConfigureAwait(false);
                    }
                }
            }
        }
        catch (NpgsqlException ex) when (ex is not PostgresException postgres || postgres.SqlState.StartsWith("57P", StringComparison.Ordinal))
        {
            // The connection broke or the server is going away: commits this store saw may not survive (a crash with
            // asynchronous commit, a failover), so nothing kept is trusted any more.
            ForgetAllLedgerRows();
            throw;
        }
        finally
        {
            // Back to the pool after each batch, as a connection opened per batch would go.
            await connection.CloseAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Whether a write failed because a row it planned on had changed (its own check: serialization_failure) or lost a deadlock to another writer.</summary>
    private static bool IsStaleLedgerPlan(PostgresException ex) =>
        ex.SqlState is PostgresErrorCodes.SerializationFailure or PostgresErrorCodes.DeadlockDetected;

    /// <summary>Reads the transfers the calls resolve, then the accounts they touch, that this store does not know yet.</summary>
    private async Task ReadMissingLedgerRowsAsync(LedgerBatch batch, List<LedgerCall> calls)
    {
        batch.ReleaseHeld();
        batch.ListMissingTransfers(calls, _ledgerTransfers);
        if (batch.Missing.Count > 0)
        {
            var reader = await batch.ReadTransfers.ExecuteReaderAsync(CancellationToken.None).ConfigureAwait(false);
            await using (reader.ConfigureAwait(false))
            {
                while (await reader.ReadAsync(CancellationToken.None).ConfigureAwait(false))
                {
                    // A row this path cannot read stays unknown: its operations are declined and the record path judges them.
                    var expires = reader.IsDBNull(5) ? null : reader.GetString(5);
                    var expiresAt = default(NodaTime.Instant);
                    if (!reader.IsDBNull(9) && !reader.IsDBNull(10) && AccountOf(reader.GetString(9)) is { } debit && AccountOf(reader.GetString(10)) is { } credit
                        && (expires is null || IsoInstant.TryParse(expires, out expiresAt)))
                    {
                        var transfer = new LedgerTransferState
                        {
                            Id = reader.GetGuid(0),
                            TenantId = reader.GetGuid(1),
                            Ref = reader.GetString(2),
                            State = reader.GetString(3),
                            Reference = reader.IsDBNull(4) ? null : reader.GetString(4),
                            ExpiresAt = expires is null ? null : expiresAt,
                            Amount = reader.GetDecimal(6),
                            Scale = reader.GetInt32(7),
                            Asset = reader.GetString(8),
                            DebitAccount = debit.Value,
                            CreditAccount = credit.Value,
                            Version = reader.GetInt64(11),
                        };
                        batch.Read(transfer);
                        Keep(transfer);
                    }
                }
            }
        }

        batch.ListMissingAccounts(calls, _ledgerAccounts);
        if (batch.Missing.Count > 0)
        {
            var reader = await batch.ReadAccounts.ExecuteReaderAsync(CancellationToken.None).ConfigureAwait(false);
            await using (reader.ConfigureAwait(false))
            {
                while (await reader.ReadAsync(CancellationToken.None).ConfigureAwait(false))
                {
                    if (reader.IsDBNull(6) || !IsoInstant.TryParse(reader.GetString(6), out var updatedAt))
                    {
                        continue;
                    }

                    var updated = reader.GetString(6);
                    var account = new LedgerAccountState
                    {
                        Id = reader.GetGuid(0),
                        TenantId = reader.GetGuid(1),
                        Ref = reader.GetString(2),
                        Flags = reader.IsDBNull(3) ? null : reader.GetString(3),
                        Chain = reader.IsDBNull(4) ? null : reader.GetString(4),
                        Asset = reader.GetString(5),
                        Updated = updatedAt,
                        UpdatedText = updated,
                        DebitsPosted = reader.GetDecimal(7),
                        CreditsPosted = reader.GetDecimal(8),
                        DebitsPending = reader.GetDecimal(9),
                        CreditsPending = reader.GetDecimal(10),
                        EntryCount = reader.GetInt64(11),
                        Version = reader.GetInt64(12),
                    };
                    batch.Read(account);
                    Keep(account);
                }
            }
        }
    }

    /// <summary>Disposes the idle flushers' batches (a flusher still running keeps its own until it ends).</summary>
    private void DisposeLedgerBatches()
    {
        lock (_ledgerGate)
        {
            while (_ledgerBatches.TryPop(out var batch))
            {
                batch.Dispose();
            }
        }
    }

    private enum LedgerCallKind
    {
        Posted,
        Reserve,
        Post,
        Void,
    }

    /// <summary>One queued fast-path operation; completes with its instant or document, or null for "take the record path".</summary>
    private sealed class LedgerCall(LedgerCallKind kind, MerchantId tenantId, LedgerTransactionId transactionId, NodaTime.Instant now)
        : TaskCompletionSource<string?>(TaskCreationOptions.RunContinuationsAsynchronously)
    {
        public LedgerCallKind Kind { get; } = kind;

        public MerchantId TenantId { get; } = tenantId;

        public LedgerTransactionId TransactionId { get; } = transactionId;

        public NodaTime.Instant Now { get; } = now;

        public Guid? TransferId { get; init; }

        public string? TransferRef { get; init; }

        public Guid? DebitAccount { get; init; }

        public Guid? CreditAccount { get; init; }

        public decimal? Amount { get; init; }

        public string? Asset { get; init; }

        public int? Scale { get; init; }

        public string? Chain { get; init; }

        public string? EntryType { get; init; }

        public string? Description { get; init; }

        public string? Metadata { get; init; }

        /// <summary>The registered assets, whose chains a resolution's entries name.</summary>
        public IReadOnlyList<Asset>? Assets { get; init; }

        public IReadOnlyList<LedgerPosting>? Postings { get; init; }
    }
}
