using System.Runtime.CompilerServices;
using System.Text.Json;
using NodaTime.Text;
using Npgsql;
using NpgsqlTypes;
using PaymentsKit.Ledger;

namespace PaymentsKit.PostgreSql;

/// <summary>
/// The ledger's one-call path (decision 0005), group-committed (decision 0008): concurrent calls queue,
/// and one flusher sends everything queued as one call of <c>paymentskit_ledger_batch</c> (migration
/// 0018; typed rows since 0021), which applies each operation on its own terms and answers each or NULL. Since 0023
/// (decision 0018) a reservation or posted transaction is answered with its instant only, and its record is built here
/// by <see cref="LedgerBooks"/>, as the other paths build it; a resolution is answered with the resolved transfer's document.
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

    private const string BatchSql =
        "SELECT paymentskit_ledger_batch($1::text[], $2::uuid[], $3::text[], $4::uuid[], $5::text[], $6::uuid[], $7::text[], $8::uuid[], "
        + "$9::uuid[], $10::numeric[], $11::text[], $12::integer[], $13::text[], $14::text[], $15::text[], $16::jsonb[], $17::jsonb[], "
        + "$18::text[], $19::timestamptz, $20::integer[], $21::uuid[], $22::text[], $23::numeric[])";

    private const string NoMetadata = "{}";

    private static readonly ConditionalWeakTable<IReadOnlyList<Asset>, string> AssetChains = [];

    private readonly Lock _ledgerGate = new();
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
        return at is null ? null : transaction.Posted(InstantPattern.ExtendedIso.Parse(at).Value);
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
            : LedgerBooks.ReservedTransfer(reservation.TenantId, reservation.TransferId, reservation.TransactionId, request, InstantPattern.ExtendedIso.Parse(at).Value);
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
            AssetChains = AssetChains.GetValue(resolution.Assets, ChainsOf),
        };
        return Read<LedgerTransfer>(await EnqueueLedgerAsync(call, cancellationToken).ConfigureAwait(false));
    }

    private static string ChainsOf(IReadOnlyList<Asset> assets)
    {
        var chains = new Dictionary<string, string?>(StringComparer.Ordinal);
        foreach (var asset in assets)
        {
            chains[asset.Code] = asset.Chain?.Value;
        }

        return JsonSerializer.Serialize(chains);
    }

    private static string? Snake<TEnum>(TEnum? value)
        where TEnum : struct, Enum =>
        value is { } known ? SnakeCaseNames<TEnum>.Of(known) : null;

    private string Metadata(IReadOnlyDictionary<string, string>? metadata) =>
        metadata is null || metadata.Count == 0 ? NoMetadata : JsonSerializer.Serialize(metadata, _json);

    private T? Read<T>(string? document)
        where T : class =>
        document is null ? null : JsonSerializer.Deserialize<T>(document, _json);

    /// <summary>Queues a call and, if no batch is being sent, starts the flusher; answers the call's instant or document, or null.</summary>
    private async ValueTask<string?> EnqueueLedgerAsync(LedgerCall call, CancellationToken cancellationToken)
    {
        await EnsureReadyAsync(cancellationToken).ConfigureAwait(false);
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
            // Off the caller's flow: the flusher serves every caller until the queue is empty.
            _ = Task.Run(FlushLedgerAsync, CancellationToken.None);
        }

        // A cancelled wait does not withdraw a call already sent, as cancelling a sent command would not.
        return await call.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    private async Task FlushLedgerAsync()
    {
        while (true)
        {
            List<LedgerCall> batch;
            lock (_ledgerGate)
            {
                // The other flusher, if one is in flight, takes what is queued when its batch returns.
                if (_ledgerQueue.Count == 0 || (_ledgerFlushing > 1 && _ledgerQueue.Count < LedgerBatchTarget))
                {
                    _ledgerFlushing--;
                    return;
                }

                if (_ledgerQueue.Count <= LedgerBatchLimit)
                {
                    batch = _ledgerQueue;
                    _ledgerQueue = [];
                }
                else
                {
                    batch = _ledgerQueue.GetRange(0, LedgerBatchLimit);
                    _ledgerQueue.RemoveRange(0, LedgerBatchLimit);
                }
            }

            await RunLedgerBatchAsync(batch).ConfigureAwait(false);
        }
    }

    /// <summary>Sends one batch and settles every call in it; never throws.</summary>
    private async Task RunLedgerBatchAsync(List<LedgerCall> batch)
    {
        try
        {
            var documents = await CallBatchAsync(batch).ConfigureAwait(false);
            for (var i = 0; i < batch.Count; i++)
            {
                batch[i].TrySetResult(documents[i]);
            }
        }
        catch (PostgresException) when (batch.Count > 1)
        {
            // One operation made the whole statement fail; alone, each of the others goes through and the culprit gets its own error.
            foreach (var call in batch)
            {
                await RunLedgerBatchAsync([call]).ConfigureAwait(false);
            }
        }
        catch (NpgsqlException ex)
        {
            var failure = StorageFailure(ex, "running a ledger operation");
            batch.ForEach(call => call.TrySetException(failure));
        }
        catch (Exception ex)
        {
            batch.ForEach(call => call.TrySetException(ex));
        }
    }

    /// <summary>Runs the batch function; answers one instant or document (or null: take the record path) per call.</summary>
    private async Task<string?[]> CallBatchAsync(List<LedgerCall> batch)
    {
        var connection = await _dataSource.OpenConnectionAsync(CancellationToken.None).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            var command = new NpgsqlCommand(BatchSql, connection);
            await using var disposeCommand = command.ConfigureAwait(false);
            AddBatchParameters(command.Parameters, batch);

            // Prepared once per pooled connection (Npgsql keeps it across uses): the call is not parsed and planned per batch.
            await command.PrepareAsync(CancellationToken.None).ConfigureAwait(false);
            for (var attempt = 0; ; attempt++)
            {
                try
                {
                    return (string?[])(await command.ExecuteScalarAsync(CancellationToken.None).ConfigureAwait(false))!;
                }
                catch (PostgresException ex) when ((ex.SqlState is PostgresErrorCodes.SerializationFailure or PostgresErrorCodes.DeadlockDetected)
                                                   && attempt < _maxRetries)
                {
                    // The call is one statement: it rolled back whole, so calling again is safe.
                    LogRetry(_logger, ex.SqlState, attempt + 1, _maxRetries);
                    await Task.Delay(Random.Shared.Next(1, 10 << attempt)).ConfigureAwait(false);
                }
                catch (PostgresException ex) when (ex.SqlState is PostgresErrorCodes.SerializationFailure or PostgresErrorCodes.DeadlockDetected)
                {
                    // Still losing: the record path takes over and settles the race its own way.
                    return new string?[batch.Count];
                }
            }
        }
    }

    private void AddBatchParameters(NpgsqlParameterCollection parameters, List<LedgerCall> batch)
    {
        var count = batch.Count;
        var kinds = new string[count];
        var tenants = new Guid[count];
        var tenantRefs = new string[count];
        var transactionIds = new Guid[count];
        var transactionRefs = new string[count];
        var transferIds = new Guid?[count];
        var transferRefs = new string?[count];
        var debitAccounts = new Guid?[count];
        var creditAccounts = new Guid?[count];
        var amounts = new decimal?[count];
        var assets = new string?[count];
        var scales = new int?[count];
        var chains = new string?[count];
        var entryTypes = new string?[count];
        var descriptions = new string?[count];
        var metadata = new string?[count];
        var assetChains = new string?[count];
        var nows = new string[count];
        var postingCounts = new int[count];
        var postings = 0;
        foreach (var call in batch)
        {
            postings += call.Postings?.Count ?? 0;
        }

        var postingAccounts = new Guid[postings];
        var postingSides = new string[postings];
        var postingAmounts = new decimal[postings];
        var p = 0;
        for (var i = 0; i < count; i++)
        {
            var call = batch[i];
            kinds[i] = SnakeCaseNames<LedgerCallKind>.Of(call.Kind);
            tenants[i] = call.TenantId.Value;
            tenantRefs[i] = call.TenantId.ToString();
            transactionIds[i] = call.TransactionId.Value;
            transactionRefs[i] = call.TransactionId.ToString();
            transferIds[i] = call.TransferId;
            transferRefs[i] = call.TransferRef;
            debitAccounts[i] = call.DebitAccount;
            creditAccounts[i] = call.CreditAccount;
            amounts[i] = call.Amount;
            assets[i] = call.Asset;
            scales[i] = call.Scale;
            chains[i] = call.Chain;
            entryTypes[i] = call.EntryType;
            descriptions[i] = call.Description;
            metadata[i] = call.Metadata;
            assetChains[i] = call.AssetChains;
            nows[i] = InstantPattern.ExtendedIso.Format(call.Now);
            if (call.Postings is { } list)
            {
                postingCounts[i] = list.Count;
                foreach (var posting in list)
                {
                    postingAccounts[p] = posting.AccountId.Value;
                    postingSides[p] = SnakeCaseNames<LedgerSide>.Of(posting.Side);
                    postingAmounts[p] = posting.Amount.Amount;
                    p++;
                }
            }
        }

        parameters.Add(new NpgsqlParameter { Value = kinds });
        parameters.Add(new NpgsqlParameter { Value = tenants });
        parameters.Add(new NpgsqlParameter { Value = tenantRefs });
        parameters.Add(new NpgsqlParameter { Value = transactionIds });
        parameters.Add(new NpgsqlParameter { Value = transactionRefs });
        parameters.Add(new NpgsqlParameter { Value = transferIds });
        parameters.Add(new NpgsqlParameter { Value = transferRefs });
        parameters.Add(new NpgsqlParameter { Value = debitAccounts });
        parameters.Add(new NpgsqlParameter { Value = creditAccounts });
        parameters.Add(new NpgsqlParameter { Value = amounts });
        parameters.Add(new NpgsqlParameter { Value = assets });
        parameters.Add(new NpgsqlParameter { Value = scales });
        parameters.Add(new NpgsqlParameter { Value = chains });
        parameters.Add(new NpgsqlParameter { Value = entryTypes });
        parameters.Add(new NpgsqlParameter { Value = descriptions });
        parameters.Add(new NpgsqlParameter { Value = metadata, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Jsonb });
        parameters.Add(new NpgsqlParameter { Value = assetChains, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Jsonb });
        parameters.Add(new NpgsqlParameter { Value = nows });
        parameters.Add(new NpgsqlParameter { Value = _clock.GetCurrentInstant().ToDateTimeUtc() });
        parameters.Add(new NpgsqlParameter { Value = postingCounts });
        parameters.Add(new NpgsqlParameter { Value = postingAccounts });
        parameters.Add(new NpgsqlParameter { Value = postingSides });
        parameters.Add(new NpgsqlParameter { Value = postingAmounts });
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

        public string? AssetChains { get; init; }

        public IReadOnlyList<LedgerPosting>? Postings { get; init; }
    }
}
