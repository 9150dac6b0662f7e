using System.Globalization;
using PaymentsKit.Storage;

namespace PaymentsKit.Ledger;

public sealed partial class LedgerService
{
    /// <inheritdoc />
    public ValueTask<LedgerTransaction> PostTransactionAsync(MerchantId tenantId, PostLedgerTransactionRequest request, CancellationToken cancellationToken = default)
    {
        var validated = ValidateTransaction(tenantId, request, out var inOneAsset);
        return _fastPath is not null && validated is { Reference: null, IdempotencyKey: null } && inOneAsset && IsRegistered(validated.Postings[0].Amount)
            ? PostTransactionFastAsync(tenantId, validated, cancellationToken)
            : PostTransactionRecordAsync(tenantId, validated, cancellationToken);
    }

    /// <inheritdoc />
    public ValueTask<LedgerTransaction> PostTransactionAsync(IUnitOfWork unit, MerchantId tenantId, PostLedgerTransactionRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(unit);
        var validated = ValidateTransaction(tenantId, request, out _);
        return PostTransactionCoreAsync(unit, tenantId, validated, cancellationToken);
    }

    /// <inheritdoc />
    public ValueTask<LedgerTransaction> ReverseTransactionAsync(MerchantId tenantId, ReverseLedgerTransactionRequest request, CancellationToken cancellationToken = default)
    {
        var validated = ValidateReversal(tenantId, request);
        return RunAsync((unit, ct) => ReverseCoreAsync(unit, tenantId, validated, ct), cancellationToken);
    }

    /// <inheritdoc />
    public ValueTask<LedgerTransaction> ReverseTransactionAsync(IUnitOfWork unit, MerchantId tenantId, ReverseLedgerTransactionRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(unit);
        var validated = ValidateReversal(tenantId, request);
        return ReverseCoreAsync(unit, tenantId, validated, cancellationToken);
    }

    /// <inheritdoc />
    public async ValueTask<LedgerTransaction> GetTransactionAsync(MerchantId tenantId, LedgerTransactionId transactionId, CancellationToken cancellationToken = default)
    {
        LedgerValidation.Tenant(tenantId);
        var unit = await _store.BeginAsync(cancellationToken).ConfigureAwait(false);
        await using (unit.ConfigureAwait(false))
        {
            return (await GetTransactionAsync(unit, tenantId, transactionId, cancellationToken).ConfigureAwait(false)).Value;
        }
    }

    /// <inheritdoc />
    public async ValueTask<Page<LedgerTransaction>> ListTransactionsByReferenceAsync(
        MerchantId tenantId, string reference, string? cursor, int limit, CancellationToken cancellationToken = default)
    {
        LedgerValidation.Tenant(tenantId);
        Guard.Text(reference, "reference", LedgerValidation.MaxReferenceLength);
        LedgerValidation.Limit(limit, BufferedUnitOfWork.MaxPageSize);
        var after = LedgerValidation.SequenceCursor(cursor);
        var unit = await _store.BeginAsync(cancellationToken).ConfigureAwait(false);
        await using (unit.ConfigureAwait(false))
        {
            var counter = await unit.GetAsync(
                LedgerCollections.ReferenceCounters, tenantId.Value, LedgerCollections.ReferenceCounterId(tenantId, reference), cancellationToken).ConfigureAwait(false);
            var count = counter?.Value.Count ?? 0;
            // A cursor past the end gives an empty page: clamped, however large, so the sums below cannot overflow.
            after = Math.Min(after, count);
            var last = Math.Min(count, after + limit);
            var items = new List<LedgerTransaction>((int)Math.Max(0, last - after));
            for (var sequence = after + 1; sequence <= last; sequence++)
            {
                var found = await unit.FindAsync(
                    LedgerCollections.Transactions,
                    tenantId.Value,
                    LedgerCollections.ReferenceKey,
                    LedgerCollections.ReferenceSequenceKey(tenantId, reference, sequence),
                    cancellationToken).ConfigureAwait(false)
                    ?? throw Missing("transaction", $"reference '{reference}' #{sequence}");
                items.Add(found.Value);
            }

            return new Page<LedgerTransaction>(items, last < count ? last.ToString(CultureInfo.InvariantCulture) : null);
        }
    }

    /// <summary>Posts in one store call when the store can (decisions 0005, 0006), else on the record path.</summary>
    private ValueTask<LedgerTransaction> PostTransactionFastAsync(MerchantId tenantId, PostLedgerTransactionRequest request, CancellationToken cancellationToken)
    {
        // One clock read for the id and the instant (a system clock read is a noticeable part of an in-memory post).
        var now = _clock.GetCurrentInstant();
        return FastOrRecordAsync(
            _fastPath!.TryPostAsync(new LedgerFastTransaction(tenantId, LedgerTransactionId.FromGuid(TypedId.Version7(now)), request, now), cancellationToken),
            (TenantId: tenantId, Request: request),
            static (ledger, state, unit, ct) => ledger.PostTransactionCoreAsync(unit, state.TenantId, state.Request, ct),
            cancellationToken);
    }

    // Apart from PostTransactionAsync so that its closure is allocated only when this path runs.
    private ValueTask<LedgerTransaction> PostTransactionRecordAsync(MerchantId tenantId, PostLedgerTransactionRequest request, CancellationToken cancellationToken) =>
        RunAsync((unit, ct) => PostTransactionCoreAsync(unit, tenantId, request, ct), cancellationToken);

    /// <summary>The request checked, with its own copy of the postings; <paramref name="inOneAsset"/>: whether they are all in one asset.</summary>
    private static PostLedgerTransactionRequest ValidateTransaction(MerchantId tenantId, PostLedgerTransactionRequest? request, out bool inOneAsset)
    {
        LedgerValidation.Tenant(tenantId);
        Guard.NotNull(request, "request");
        var postings = Guard.NotNull(request!.Postings, "postings");
        if (postings.Count is < 1 or > LedgerValidation.MaxPostings)
        {
            throw PaymentsKitException.InvalidArgument(
                "postings", postings.Count, string.Create(CultureInfo.InvariantCulture, $"must have between 1 and {LedgerValidation.MaxPostings} postings"));
        }

        var copy = new LedgerPosting[postings.Count];
        for (var i = 0; i < copy.Length; i++)
        {
            copy[i] = LedgerValidation.Posting(postings[i], i);
        }

        inOneAsset = EnsureBalanced(copy);
        LedgerValidation.EntryType(request.EntryType, "entry_type");
        return request with
        {
            Postings = Array.AsReadOnly(copy),
            Reference = LedgerValidation.OptionalText(request.Reference, "reference", LedgerValidation.MaxReferenceLength),
            IdempotencyKey = LedgerValidation.OptionalText(request.IdempotencyKey, "idempotency_key", LedgerValidation.MaxIdempotencyKeyLength),
            Description = Guard.OptionalProse(request.Description, "description", LedgerValidation.MaxDescriptionLength),
            Metadata = LedgerValidation.Metadata(request.Metadata),
        };
    }

    private static ReverseLedgerTransactionRequest ValidateReversal(MerchantId tenantId, ReverseLedgerTransactionRequest? request)
    {
        LedgerValidation.Tenant(tenantId);
        Guard.NotNull(request, "request");
        if (request!.TransactionId.Value == Guid.Empty)
        {
            throw PaymentsKitException.InvalidArgument("transaction_id", request.TransactionId, "must not be empty");
        }

        LedgerValidation.EntryType(request.EntryType, "entry_type");
        return request with
        {
            Description = Guard.OptionalProse(request.Description, "description", LedgerValidation.MaxDescriptionLength),
            Metadata = LedgerValidation.Metadata(request.Metadata),
        };
    }

    private async ValueTask<LedgerTransaction> PostTransactionCoreAsync(
        IUnitOfWork unit, MerchantId tenantId, PostLedgerTransactionRequest request, CancellationToken cancellationToken)
    {
        if (request.IdempotencyKey is { } key
            && await FindByIdempotencyKeyAsync(unit, tenantId, key, cancellationToken).ConfigureAwait(false) is { } original)
        {
            var same = original.Kind == LedgerTransactionKind.Posted
                && original.Reverses is null
                && original.EntryType == request.EntryType
                && original.Reference == request.Reference
                && original.Postings.SequenceEqual(request.Postings);
            return same ? original : throw IdempotencyConflict(key, original);
        }

        return await PostBalancedAsync(
            unit, tenantId, request.Postings, request.EntryType, request.Reference, request.IdempotencyKey, request.Description, request.Metadata!, null, cancellationToken).ConfigureAwait(false);
    }

    private async ValueTask<LedgerTransaction> ReverseCoreAsync(
        IUnitOfWork unit, MerchantId tenantId, ReverseLedgerTransactionRequest request, CancellationToken cancellationToken)
    {
        var original = (await GetTransactionAsync(unit, tenantId, request.TransactionId, cancellationToken).ConfigureAwait(false)).Value;
        if (original.Kind is not (LedgerTransactionKind.Posted or LedgerTransactionKind.PostPending))
        {
            throw new PaymentsKitException(
                PaymentsKitErrorCodes.InvalidTransition,
                $"Transaction {original.Id} is {original.Kind} and moved no posted balance; only posted transactions can be reversed (void a pending transfer instead).",
                new Dictionary<string, object?> { ["transaction"] = original.Id.ToString(), ["kind"] = original.Kind.ToString() });
        }

        var reversal = await unit.FindAsync(
            LedgerCollections.Transactions,
            tenantId.Value,
            LedgerCollections.ReversesKey,
            original.Id.Value.ToString("N", CultureInfo.InvariantCulture),
            cancellationToken).ConfigureAwait(false);
        if (reversal is not null)
        {
            throw new PaymentsKitException(
                PaymentsKitErrorCodes.AlreadyReversed,
                $"Transaction {original.Id} was already reversed by {reversal.Value.Id}; a transaction is reversed once.",
                new Dictionary<string, object?> { ["transaction"] = original.Id.ToString(), ["reversal"] = reversal.Value.Id.ToString() });
        }

        var postings = new LedgerPosting[original.Postings.Count];
        for (var i = 0; i < postings.Length; i++)
        {
            var posting = original.Postings[i];
            postings[i] = posting with { Side = posting.Side == LedgerSide.Debit ? LedgerSide.Credit : LedgerSide.Debit };
        }

        return await PostBalancedAsync(
            unit,
            tenantId,
            Array.AsReadOnly(postings),
            request.EntryType ?? original.EntryType,
            original.Reference,
            null,
            request.Description,
            request.Metadata!,
            original.Id,
            cancellationToken).ConfigureAwait(false);
    }

    private async ValueTask<LedgerTransaction> PostBalancedAsync(
        IUnitOfWork unit,
        MerchantId tenantId,
        IReadOnlyList<LedgerPosting> postings,
        LedgerEntryType? entryType,
        string? reference,
        string? idempotencyKey,
        string? description,
        IReadOnlyDictionary<string, string> metadata,
        LedgerTransactionId? reverses,
        CancellationToken cancellationToken)
    {
        var accounts = await LoadAccountsAsync(unit, tenantId, postings, cancellationToken).ConfigureAwait(false);
        var slot = await ReserveReferenceAsync(unit, tenantId, reference, cancellationToken).ConfigureAwait(false);
        var transaction = LedgerBooks.Posted(
            LedgerTransactionId.New(_clock),
            tenantId,
            postings,
            entryType,
            reference,
            idempotencyKey,
            description,
            metadata,
            reverses,
            slot?.Sequence ?? 0,
            LedgerBooks.Timestamp(_clock.GetCurrentInstant(), accounts));
        var entries = Apply(accounts, LedgerBooks.PostingChanges(postings), transaction);
        Write(unit, accounts, entries, transaction, slot);
        return transaction;
    }

    private static async ValueTask<LedgerTransaction?> FindByIdempotencyKeyAsync(IUnitOfWork unit, MerchantId tenantId, string key, CancellationToken cancellationToken)
    {
        var found = await unit.FindAsync(
            LedgerCollections.Transactions,
            tenantId.Value,
            LedgerCollections.IdempotencyKey,
            LedgerCollections.TransactionIdempotencyKey(tenantId, key),
            cancellationToken).ConfigureAwait(false);
        return found?.Value;
    }

    private static async ValueTask<Versioned<LedgerTransaction>> GetTransactionAsync(
        IUnitOfWork unit, MerchantId tenantId, LedgerTransactionId transactionId, CancellationToken cancellationToken) =>
        await unit.GetAsync(LedgerCollections.Transactions, tenantId.Value, transactionId.Value, cancellationToken).ConfigureAwait(false)
            ?? throw LedgerValidation.NotFound("ledger transaction", transactionId);

    private static PaymentsKitException IdempotencyConflict(string key, LedgerTransaction original) =>
        new(PaymentsKitErrorCodes.IdempotencyConflict,
            $"Idempotency key '{key}' was already used for {original.Id} ({original.Kind}) with different parameters; use a new key for a new request.",
            new Dictionary<string, object?> { ["idempotency_key"] = key, ["original"] = original.Id.ToString() });

    private static PaymentsKitException Missing(string what, string where) =>
        new(PaymentsKitErrorCodes.StorageFailure,
            $"The ledger {what} at {where} is missing from the store; run ReconcileAsync.",
            new Dictionary<string, object?> { ["type"] = what, ["at"] = where });
}
