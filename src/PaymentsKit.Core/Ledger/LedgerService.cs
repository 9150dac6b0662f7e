using System.Globalization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using NodaTime;
using PaymentsKit.Storage;

namespace PaymentsKit.Ledger;

/// <summary>
/// The <see cref="ILedger"/> over any <see cref="IPaymentsStore"/>. Balances are projections written
/// with their entries in one unit of work and guarded by the accounts' versions, so concurrent
/// operations on one account serialise (the loser of a race reruns on fresh balances) and an
/// account flag can never be broken under any interleaving.
/// </summary>
public sealed partial class LedgerService : ILedger
{
    private readonly IPaymentsStore _store;
    private readonly IClock _clock;
    private readonly DeadlineSweep<LedgerTransferTimeout> _expirySweep;
    private readonly AssetRegistry _assets;
    private Asset? _lastRegistered;
    private readonly ILedgerFastPath? _fastPath;

    /// <summary>Creates the ledger, logging nothing.</summary>
    /// <param name="store">Where the books are kept.</param>
    /// <param name="clock">Stamps transactions and decides whether reservations have expired.</param>
    /// <param name="assets">The assets accounts may count; an account's asset must be registered so stored amounts can be read back.</param>
    public LedgerService(IPaymentsStore store, IClock clock, AssetRegistry assets)
        : this(store, clock, assets, null)
    {
        // 0.1.0's constructor, kept so code compiled against it still binds. The other's logger is not optional, so a
        // three-argument call has this one candidate only.
    }

    /// <summary>Creates the ledger.</summary>
    /// <param name="store">Where the books are kept.</param>
    /// <param name="clock">Stamps transactions and decides whether reservations have expired.</param>
    /// <param name="assets">The assets accounts may count; an account's asset must be registered so stored amounts can be read back.</param>
    /// <param name="logger">Logs the reservations the expiry sweep could not expire; null logs nothing.</param>
    public LedgerService(IPaymentsStore store, IClock clock, AssetRegistry assets, ILogger<LedgerService>? logger)
    {
        _store = store ?? throw new ArgumentNullException(nameof(store));
        _clock = clock ?? throw new ArgumentNullException(nameof(clock));
        _assets = assets ?? throw new ArgumentNullException(nameof(assets));
        _fastPath = store as ILedgerFastPath;
        var log = (ILogger?)logger ?? NullLogger.Instance;
        _expirySweep = new DeadlineSweep<LedgerTransferTimeout>(
            store,
            clock,
            LedgerCollections.TransferTimeouts,
            t => t.ExpiresAt,
            (t, ex, code) => LogExpiryFailure(log, ex, t.TransferId.ToString(), t.TenantId.ToString(), code));
    }

    /// <inheritdoc />
    public ValueTask<LedgerAccount> CreateAccountAsync(MerchantId tenantId, CreateLedgerAccountRequest request, CancellationToken cancellationToken = default)
    {
        var validated = ValidateAccount(tenantId, request);
        return RunAsync((unit, ct) => CreateAccountCoreAsync(unit, tenantId, validated, ct), cancellationToken);
    }

    /// <inheritdoc />
    public ValueTask<LedgerAccount> CreateAccountAsync(IUnitOfWork unit, MerchantId tenantId, CreateLedgerAccountRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(unit);
        var validated = ValidateAccount(tenantId, request);
        return CreateAccountCoreAsync(unit, tenantId, validated, cancellationToken);
    }

    /// <inheritdoc />
    public async ValueTask<LedgerAccount> GetAccountAsync(MerchantId tenantId, LedgerAccountId accountId, CancellationToken cancellationToken = default)
    {
        LedgerValidation.Tenant(tenantId);
        var unit = await _store.BeginAsync(cancellationToken).ConfigureAwait(false);
        await using (unit.ConfigureAwait(false))
        {
            return (await GetAccountAsync(unit, tenantId, accountId, "accountId", cancellationToken).ConfigureAwait(false)).Value;
        }
    }

    /// <inheritdoc />
    public async ValueTask<LedgerAccount?> FindAccountByCodeAsync(MerchantId tenantId, string code, CancellationToken cancellationToken = default)
    {
        LedgerValidation.Tenant(tenantId);
        LedgerValidation.Code(code);
        var unit = await _store.BeginAsync(cancellationToken).ConfigureAwait(false);
        await using (unit.ConfigureAwait(false))
        {
            var found = await unit.FindAsync(
                LedgerCollections.Accounts, tenantId.Value, LedgerCollections.CodeKey, LedgerCollections.AccountCodeKey(tenantId, code), cancellationToken).ConfigureAwait(false);
            return found?.Value;
        }
    }

    /// <inheritdoc />
    public async ValueTask<Page<LedgerAccount>> ListAccountsAsync(MerchantId tenantId, string? cursor, int limit, CancellationToken cancellationToken = default)
    {
        LedgerValidation.Tenant(tenantId);
        LedgerValidation.Limit(limit, BufferedUnitOfWork.MaxPageSize);
        var unit = await _store.BeginAsync(cancellationToken).ConfigureAwait(false);
        await using (unit.ConfigureAwait(false))
        {
            var page = await unit.ListAsync(LedgerCollections.Accounts, tenantId.Value, cursor, limit, cancellationToken).ConfigureAwait(false);
            return new Page<LedgerAccount>([.. page.Items.Select(i => i.Value)], page.NextCursor);
        }
    }

    /// <inheritdoc />
    public async ValueTask<TreasuryWallet> GetTreasuryWalletAsync(MerchantId tenantId, LedgerAccountId accountId, CancellationToken cancellationToken = default) =>
        TreasuryWallet.FromAccount(await GetAccountAsync(tenantId, accountId, cancellationToken).ConfigureAwait(false));

    private CreateLedgerAccountRequest ValidateAccount(MerchantId tenantId, CreateLedgerAccountRequest? request)
    {
        LedgerValidation.Tenant(tenantId);
        Guard.NotNull(request, "request");
        var code = LedgerValidation.Code(request!.Code);
        var name = Guard.Text(request.Name, "name", LedgerValidation.MaxNameLength);
        var asset = Guard.NotNull(request.Asset, "asset");
        if (!_assets.TryGet(asset.Code, out var registered))
        {
            throw new PaymentsKitException(
                PaymentsKitErrorCodes.UnknownAsset,
                $"Asset '{asset.Code}' is not registered; add it to PaymentsKitOptions.Assets before opening accounts in it.",
                new Dictionary<string, object?> { ["asset"] = asset.Code });
        }

        if (!registered.Equals(asset))
        {
            throw new PaymentsKitException(
                PaymentsKitErrorCodes.AssetConflict,
                string.Create(CultureInfo.InvariantCulture, $"Asset '{asset.Code}' (scale {asset.Scale}) differs from the registered definition (scale {registered.Scale}, chain '{registered.Chain}')."),
                new Dictionary<string, object?> { ["asset"] = asset.Code });
        }

        LedgerValidation.Side(request.NormalSide, "normal_side");
        if (request.Flags is not (LedgerAccountFlags.None or LedgerAccountFlags.DebitsMustNotExceedCredits or LedgerAccountFlags.CreditsMustNotExceedDebits))
        {
            throw PaymentsKitException.InvalidArgument(
                "flags", request.Flags, "must be none, debits_must_not_exceed_credits or credits_must_not_exceed_debits (they exclude each other)");
        }

        var metadata = LedgerValidation.Metadata(request.Metadata);
        if (metadata.TryGetValue(TreasuryWallet.ChainMetadataKey, out var chain))
        {
            // Read back as a chain by the wallet view and written into every entry's chain: a malformed one is refused now.
            ChainId.Of(chain);
        }

        return request with { Code = code, Name = name, Metadata = metadata };
    }

    private async ValueTask<LedgerAccount> CreateAccountCoreAsync(IUnitOfWork unit, MerchantId tenantId, CreateLedgerAccountRequest request, CancellationToken cancellationToken)
    {
        var taken = await unit.FindAsync(
            LedgerCollections.Accounts, tenantId.Value, LedgerCollections.CodeKey, LedgerCollections.AccountCodeKey(tenantId, request.Code), cancellationToken).ConfigureAwait(false);
        if (taken is not null)
        {
            throw new PaymentsKitException(
                PaymentsKitErrorCodes.DuplicateKey,
                $"Account code '{request.Code}' is already used by {taken.Value.Id}; codes are unique per tenant.",
                new Dictionary<string, object?> { ["field"] = "code", ["value"] = request.Code, ["account"] = taken.Value.Id.ToString() });
        }

        var now = _clock.GetCurrentInstant();
        var zero = Money.Zero(request.Asset);
        var account = new LedgerAccount(
            LedgerAccountId.New(_clock), tenantId, request.Code, request.Name, request.NormalSide, request.Flags, request.Metadata!,
            zero, zero, zero, zero, 0, now, now);
        unit.Insert(LedgerCollections.Accounts, account);
        return account;
    }

    /// <summary>
    /// Runs an operation in its own unit of work. Lost version races are retried by
    /// <see cref="PaymentsStoreExtensions.ExecuteAsync"/>; a lost unique-key race (same idempotency key,
    /// reversal, account code or first use of a reference at once) is rerun once, so its checks see the
    /// winner and answer as for a sequential repeat.
    /// </summary>
    private async ValueTask<T> RunAsync<T>(Func<IUnitOfWork, CancellationToken, ValueTask<T>> operation, CancellationToken cancellationToken)
    {
        try
        {
            return await _store.ExecuteAsync(operation, cancellationToken).ConfigureAwait(false);
        }
        catch (PaymentsKitException ex) when (ex.Code == PaymentsKitErrorCodes.DuplicateKey)
        {
            return await _store.ExecuteAsync(operation, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// The answer of a one-step store call (decisions 0005, 0006) or, when the store declined it having written nothing,
    /// the operation on the record path. A store that answers synchronously (the in-memory one) costs no state machine,
    /// and the record path is a static delegate over <paramref name="state"/>, so the common case allocates no closure.
    /// </summary>
    private ValueTask<T> FastOrRecordAsync<T, TState>(
        ValueTask<T?> attempt,
        TState state,
        Func<LedgerService, TState, IUnitOfWork, CancellationToken, ValueTask<T>> recordPath,
        CancellationToken cancellationToken)
        where T : class =>
        attempt.IsCompletedSuccessfully && attempt.Result is { } answered
            ? new ValueTask<T>(answered)
            : RecordPathAfterAsync(attempt, state, recordPath, cancellationToken);

    private async ValueTask<T> RecordPathAfterAsync<T, TState>(
        ValueTask<T?> attempt,
        TState state,
        Func<LedgerService, TState, IUnitOfWork, CancellationToken, ValueTask<T>> recordPath,
        CancellationToken cancellationToken)
        where T : class =>
        await attempt.ConfigureAwait(false) ?? await RecordPathAsync(state, recordPath, cancellationToken).ConfigureAwait(false);

    // Apart from RecordPathAfterAsync so that its closure is allocated only when the record path runs.
    private ValueTask<T> RecordPathAsync<T, TState>(
        TState state, Func<LedgerService, TState, IUnitOfWork, CancellationToken, ValueTask<T>> recordPath, CancellationToken cancellationToken) =>
        RunAsync((unit, ct) => recordPath(this, state, unit, ct), cancellationToken);

    private static async ValueTask<Versioned<LedgerAccount>> GetAccountAsync(
        IUnitOfWork unit, MerchantId tenantId, LedgerAccountId accountId, string field, CancellationToken cancellationToken)
    {
        LedgerValidation.Account(accountId, field);
        return await unit.GetAsync(LedgerCollections.Accounts, tenantId.Value, accountId.Value, cancellationToken).ConfigureAwait(false)
            ?? throw LedgerValidation.NotFound("ledger account", accountId);
    }

    [LoggerMessage(EventId = 301, Level = LogLevel.Warning, Message = "Reservation {TransferId} of tenant {TenantId} could not be expired ({Code}); it stays due and is tried again after a backoff")]
    private static partial void LogExpiryFailure(ILogger logger, Exception exception, string transferId, string tenantId, string code);
}
