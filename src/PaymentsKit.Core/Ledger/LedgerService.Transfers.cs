using NodaTime;
using PaymentsKit.Storage;

namespace PaymentsKit.Ledger;

public sealed partial class LedgerService
{
    private enum Resolution
    {
        Post,
        Void,
        Expire,
    }

    /// <inheritdoc />
    public ValueTask<LedgerTransfer> ReserveAsync(MerchantId tenantId, ReserveLedgerTransferRequest request, CancellationToken cancellationToken = default)
    {
        var validated = ValidateReservation(tenantId, request);
        return _fastPath is not null && validated is { Timeout: null, Reference: null, IdempotencyKey: null } && IsRegistered(validated.Amount)
            ? ReserveFastAsync(tenantId, validated, cancellationToken)
            : ReserveRecordAsync(tenantId, validated, cancellationToken);
    }

    /// <inheritdoc />
    public ValueTask<LedgerTransfer> ReserveAsync(IUnitOfWork unit, MerchantId tenantId, ReserveLedgerTransferRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(unit);
        var validated = ValidateReservation(tenantId, request);
        return ReserveCoreAsync(unit, tenantId, validated, cancellationToken);
    }

    /// <inheritdoc />
    public ValueTask<LedgerTransfer> PostTransferAsync(MerchantId tenantId, LedgerTransferId transferId, Money? amount = null, CancellationToken cancellationToken = default)
    {
        ValidateResolution(tenantId, transferId, amount);
        return _fastPath is not null && (amount is null || IsRegistered(amount.Value))
            ? ResolveFastAsync(tenantId, transferId, Resolution.Post, amount, cancellationToken)
            : ResolveRecordAsync(tenantId, transferId, Resolution.Post, amount, cancellationToken);
    }

    /// <inheritdoc />
    public async ValueTask<LedgerTransfer> PostTransferAsync(IUnitOfWork unit, MerchantId tenantId, LedgerTransferId transferId, Money? amount = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(unit);
        ValidateResolution(tenantId, transferId, amount);
        return (await ResolveAsync(unit, tenantId, transferId, Resolution.Post, amount, null, cancellationToken).ConfigureAwait(false))!;
    }

    /// <inheritdoc />
    public ValueTask<LedgerTransfer> VoidTransferAsync(MerchantId tenantId, LedgerTransferId transferId, CancellationToken cancellationToken = default)
    {
        ValidateResolution(tenantId, transferId, null);
        return _fastPath is not null
            ? ResolveFastAsync(tenantId, transferId, Resolution.Void, null, cancellationToken)
            : ResolveRecordAsync(tenantId, transferId, Resolution.Void, null, cancellationToken);
    }

    /// <inheritdoc />
    public async ValueTask<LedgerTransfer> VoidTransferAsync(IUnitOfWork unit, MerchantId tenantId, LedgerTransferId transferId, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(unit);
        ValidateResolution(tenantId, transferId, null);
        return (await ResolveAsync(unit, tenantId, transferId, Resolution.Void, null, null, cancellationToken).ConfigureAwait(false))!;
    }

    /// <inheritdoc />
    public async ValueTask<LedgerTransfer> GetTransferAsync(MerchantId tenantId, LedgerTransferId transferId, CancellationToken cancellationToken = default)
    {
        ValidateResolution(tenantId, transferId, null);
        var unit = await _store.BeginAsync(cancellationToken).ConfigureAwait(false);
        await using (unit.ConfigureAwait(false))
        {
            return (await GetTransferAsync(unit, tenantId, transferId, cancellationToken).ConfigureAwait(false)).Value;
        }
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<LedgerTransfer>> ExpireDueAsync(Instant now, int limit = 1000, CancellationToken cancellationToken = default)
    {
        LedgerValidation.Limit(limit, 10_000);
        return _expirySweep.RunAsync<LedgerTransfer>(now, limit, ExpireOneAsync, cancellationToken);
    }

    /// <summary>Reserves in one store call when the store can (decisions 0005, 0006), else on the record path.</summary>
    private ValueTask<LedgerTransfer> ReserveFastAsync(MerchantId tenantId, ReserveLedgerTransferRequest request, CancellationToken cancellationToken) =>
        FastOrRecordAsync(
            _fastPath!.TryReserveAsync(
                new LedgerFastReservation(tenantId, LedgerTransferId.New(_clock), LedgerTransactionId.New(_clock), request, _clock.GetCurrentInstant()),
                cancellationToken),
            (TenantId: tenantId, Request: request),
            static (ledger, state, unit, ct) => ledger.ReserveCoreAsync(unit, state.TenantId, state.Request, ct),
            cancellationToken);

    /// <summary>Posts or voids in one store call when the store can (decisions 0005, 0006), else on the record path.</summary>
    private ValueTask<LedgerTransfer> ResolveFastAsync(MerchantId tenantId, LedgerTransferId transferId, Resolution resolution, Money? amount, CancellationToken cancellationToken) =>
        FastOrRecordAsync(
            _fastPath!.TryResolveAsync(
                new LedgerFastResolution(
                    tenantId, transferId, LedgerTransactionId.New(_clock), resolution == Resolution.Void, amount, _assets.All, _clock.GetCurrentInstant()),
                cancellationToken),
            (TenantId: tenantId, TransferId: transferId, Resolution: resolution, Amount: amount),
            static async (ledger, state, unit, ct) =>
                (await ledger.ResolveAsync(unit, state.TenantId, state.TransferId, state.Resolution, state.Amount, null, ct).ConfigureAwait(false))!,
            cancellationToken);

    // The record paths are apart from the public methods so that their closures are allocated only when they run.
    private ValueTask<LedgerTransfer> ReserveRecordAsync(MerchantId tenantId, ReserveLedgerTransferRequest request, CancellationToken cancellationToken) =>
        RunAsync((unit, ct) => ReserveCoreAsync(unit, tenantId, request, ct), cancellationToken);

    private ValueTask<LedgerTransfer> ResolveRecordAsync(
        MerchantId tenantId, LedgerTransferId transferId, Resolution resolution, Money? amount, CancellationToken cancellationToken) =>
        RunAsync(async (unit, ct) => (await ResolveAsync(unit, tenantId, transferId, resolution, amount, null, ct).ConfigureAwait(false))!, cancellationToken);

    /// <summary>Whether an amount is in the registered definition of its asset, the only one accounts count in.</summary>
    private bool IsRegistered(Money amount)
    {
        // Registered assets are never unregistered, so the last one found stays registered.
        var asset = amount.Asset;
        if (ReferenceEquals(asset, _lastRegistered))
        {
            return true;
        }

        if (_assets.TryGet(asset.Code, out var registered) && registered.Equals(asset))
        {
            _lastRegistered = asset;
            return true;
        }

        return false;
    }

    private static void ValidateResolution(MerchantId tenantId, LedgerTransferId transferId, Money? amount)
    {
        LedgerValidation.Tenant(tenantId);
        if (transferId.Value == Guid.Empty)
        {
            throw PaymentsKitException.InvalidArgument("transfer_id", transferId, "must not be empty");
        }

        if (amount is { } value)
        {
            LedgerValidation.PositiveAmount(value, "amount");
        }
    }

    private static ReserveLedgerTransferRequest ValidateReservation(MerchantId tenantId, ReserveLedgerTransferRequest? request)
    {
        LedgerValidation.Tenant(tenantId);
        Guard.NotNull(request, "request");
        LedgerValidation.Account(request!.DebitAccountId, "debit_account_id");
        LedgerValidation.Account(request.CreditAccountId, "credit_account_id");
        if (request.DebitAccountId == request.CreditAccountId)
        {
            throw PaymentsKitException.InvalidArgument("credit_account_id", request.CreditAccountId, "must differ from debit_account_id");
        }

        LedgerValidation.PositiveAmount(request.Amount, "amount");
        LedgerValidation.Timeout(request.Timeout);
        LedgerValidation.EntryType(request.EntryType, "entry_type");
        return request with
        {
            EntryType = request.EntryType ?? LedgerEntryType.Reserve,
            Reference = LedgerValidation.OptionalText(request.Reference, "reference", LedgerValidation.MaxReferenceLength),
            IdempotencyKey = LedgerValidation.OptionalText(request.IdempotencyKey, "idempotency_key", LedgerValidation.MaxIdempotencyKeyLength),
            Description = Guard.OptionalProse(request.Description, "description", LedgerValidation.MaxDescriptionLength),
            Metadata = LedgerValidation.Metadata(request.Metadata),
        };
    }

    private async ValueTask<LedgerTransfer> ReserveCoreAsync(IUnitOfWork unit, MerchantId tenantId, ReserveLedgerTransferRequest request, CancellationToken cancellationToken)
    {
        if (request.IdempotencyKey is { } key
            && await FindByIdempotencyKeyAsync(unit, tenantId, key, cancellationToken).ConfigureAwait(false) is { } original)
        {
            if (original.Kind == LedgerTransactionKind.Pending && original.TransferId is { } originalTransferId)
            {
                var transfer = (await GetTransferAsync(unit, tenantId, originalTransferId, cancellationToken).ConfigureAwait(false)).Value;
                if (transfer.DebitAccountId == request.DebitAccountId
                    && transfer.CreditAccountId == request.CreditAccountId
                    && transfer.Amount == request.Amount
                    && transfer.Timeout == request.Timeout
                    && transfer.EntryType == request.EntryType
                    && transfer.Reference == request.Reference)
                {
                    return transfer;
                }
            }

            throw IdempotencyConflict(key, original);
        }

        LedgerPosting[] postings = [LedgerPosting.Debit(request.DebitAccountId, request.Amount), LedgerPosting.Credit(request.CreditAccountId, request.Amount)];
        var accounts = await LoadAccountsAsync(unit, tenantId, postings, cancellationToken).ConfigureAwait(false);
        var slot = await ReserveReferenceAsync(unit, tenantId, request.Reference, cancellationToken).ConfigureAwait(false);
        var (transaction, reserved) = LedgerBooks.Reservation(
            tenantId, LedgerTransferId.New(_clock), LedgerTransactionId.New(_clock), request, slot?.Sequence ?? 0, LedgerBooks.Timestamp(_clock.GetCurrentInstant(), accounts));
        var (debit, credit) = LedgerBooks.ReservationChanges(reserved);
        var entries = Apply(accounts, [debit, credit], transaction);
        Write(unit, accounts, entries, transaction, slot);
        unit.Insert(LedgerCollections.Transfers, reserved);
        if (reserved.ExpiresAt is { } deadline)
        {
            unit.Insert(
                LedgerCollections.TransferTimeouts,
                new LedgerTransferTimeout(Guid.CreateVersion7(deadline.ToDateTimeOffset()), tenantId, reserved.Id, deadline, false));
        }

        return reserved;
    }

    /// <summary>Posts, voids or expires a pending transfer; null when an expiry finds it resolved or not yet due.</summary>
    private async ValueTask<LedgerTransfer?> ResolveAsync(
        IUnitOfWork unit, MerchantId tenantId, LedgerTransferId transferId, Resolution resolution, Money? amount, Instant? sweepNow, CancellationToken cancellationToken)
    {
        var stored = await GetTransferAsync(unit, tenantId, transferId, cancellationToken).ConfigureAwait(false);
        var transfer = stored.Value;
        if (resolution == Resolution.Expire)
        {
            if (transfer.State != LedgerTransferState.Pending || !(transfer.ExpiresAt <= sweepNow))
            {
                return null;
            }
        }
        else
        {
            EnsureResolvable(transfer);
        }

        var reserved = transfer.Amount;
        var posted = Money.Zero(reserved.Asset);
        if (resolution == Resolution.Post)
        {
            posted = amount ?? reserved;
            LedgerValidation.SameAsset(posted, reserved.Asset, "amount", transfer.Id);
            if (posted > reserved)
            {
                throw new PaymentsKitException(
                    PaymentsKitErrorCodes.ExceedsPendingAmount,
                    $"Cannot post {posted} of transfer {transfer.Id}: it reserved only {reserved}.",
                    new Dictionary<string, object?> { ["transfer"] = transfer.Id.ToString(), ["amount"] = posted.ToString(), ["reserved"] = reserved.ToString() });
            }
        }

        var moved = resolution == Resolution.Post ? posted : reserved;
        LedgerPosting[] postings = [LedgerPosting.Debit(transfer.DebitAccountId, moved), LedgerPosting.Credit(transfer.CreditAccountId, moved)];
        var accounts = await LoadAccountsAsync(unit, tenantId, postings, cancellationToken).ConfigureAwait(false);
        var slot = await ReserveReferenceAsync(unit, tenantId, transfer.Reference, cancellationToken).ConfigureAwait(false);
        var state = resolution switch
        {
            Resolution.Post => LedgerTransferState.Posted,
            Resolution.Void => LedgerTransferState.Voided,
            _ => LedgerTransferState.Expired,
        };
        var (transaction, resolved) = LedgerBooks.Resolution(
            transfer, LedgerTransactionId.New(_clock), state, posted, slot?.Sequence ?? 0, LedgerBooks.Timestamp(_clock.GetCurrentInstant(), accounts));
        var (debit, credit) = LedgerBooks.ResolutionChanges(resolved);
        var entries = Apply(accounts, [debit, credit], transaction);

        // The transfer first: a store applying writes in order then reports a lost race on it as such.
        unit.Update(LedgerCollections.Transfers, resolved, stored.Version);
        Write(unit, accounts, entries, transaction, slot);
        return resolved;
    }

    private void EnsureResolvable(LedgerTransfer transfer)
    {
        switch (transfer.State)
        {
            case LedgerTransferState.Posted or LedgerTransferState.Voided:
                throw new PaymentsKitException(
                    PaymentsKitErrorCodes.AlreadyResolved,
                    $"Transfer {transfer.Id} was already {(transfer.State == LedgerTransferState.Posted ? "posted" : "voided")} at {transfer.ResolvedAt}; a transfer resolves once.",
                    new Dictionary<string, object?> { ["transfer"] = transfer.Id.ToString(), ["state"] = transfer.State.ToString() });
            case LedgerTransferState.Expired:
                throw Expired(transfer);
            case LedgerTransferState.Pending when transfer.ExpiresAt is { } deadline && _clock.GetCurrentInstant() >= deadline:
                throw Expired(transfer);
        }
    }

    private static PaymentsKitException Expired(LedgerTransfer transfer) =>
        new(PaymentsKitErrorCodes.Expired,
            $"Transfer {transfer.Id} expired at {transfer.ExpiresAt}; its reservation is (or is about to be) released.",
            new Dictionary<string, object?> { ["transfer"] = transfer.Id.ToString(), ["expires_at"] = transfer.ExpiresAt?.ToString() });

    private async ValueTask<LedgerTransfer?> ExpireOneAsync(IUnitOfWork unit, LedgerTransferTimeout deadline, Instant now, CancellationToken cancellationToken)
    {
        var timeout = await unit.GetAsync(LedgerCollections.TransferTimeouts, Guid.Empty, deadline.Id, cancellationToken).ConfigureAwait(false);
        if (timeout is null || timeout.Value.Closed)
        {
            return null;
        }

        var transfer = await unit.GetAsync(LedgerCollections.Transfers, deadline.TenantId.Value, deadline.TransferId.Value, cancellationToken).ConfigureAwait(false);
        var expired = transfer is { Value.State: LedgerTransferState.Pending }
            ? await ResolveAsync(unit, deadline.TenantId, deadline.TransferId, Resolution.Expire, null, now, cancellationToken).ConfigureAwait(false)
            : null;
        if (expired is not null || transfer is null || transfer.Value.State != LedgerTransferState.Pending)
        {
            unit.Update(LedgerCollections.TransferTimeouts, timeout.Value with { Closed = true }, timeout.Version);
        }

        return expired;
    }

    private static async ValueTask<Versioned<LedgerTransfer>> GetTransferAsync(
        IUnitOfWork unit, MerchantId tenantId, LedgerTransferId transferId, CancellationToken cancellationToken) =>
        await unit.GetAsync(LedgerCollections.Transfers, tenantId.Value, transferId.Value, cancellationToken).ConfigureAwait(false)
            ?? throw LedgerValidation.NotFound("ledger transfer", transferId);
}
