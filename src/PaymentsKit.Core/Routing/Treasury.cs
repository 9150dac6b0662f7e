using System.Collections.Concurrent;
using Microsoft.Extensions.Options;
using PaymentsKit.Ledger;
using PaymentsKit.Storage;

namespace PaymentsKit.Routing;

/// <summary>
/// The books of one chain's treasury wallet: what was funded and where it is now. Always
/// <c>Available + Reserved + Spent + Fees = Funded</c>, because every movement is a balanced ledger posting.
/// </summary>
/// <param name="Wallet">The wallet (seed <c>treasury_wallets</c>).</param>
/// <param name="Funded">Everything paid into the wallet.</param>
/// <param name="Spent">Payments settled from it.</param>
/// <param name="Fees">Network fees it paid.</param>
public sealed record TreasuryBook(TreasuryWallet Wallet, Money Funded, Money Spent, Money Fees)
{
    /// <summary>Funds free for new payments.</summary>
    public Money Available => Wallet.AvailableBalance;

    /// <summary>Funds held for payments in flight.</summary>
    public Money Reserved => Wallet.ReservedBalance;

    /// <summary>Whether available + reserved + spent + fees equals funded.</summary>
    public bool Balances => Available + Reserved + Spent + Fees == Funded;
}

/// <summary>
/// The router's treasury: one wallet per chain, each a ledger account (in the settlement asset) of the
/// treasury's ledger tenant, with its funding, payouts and fees accounts beside it. Payment intents
/// reserve from it, settle from it and release to it through the ledger's two-phase transfers.
/// </summary>
public interface ITreasury
{
    /// <summary>
    /// Opens the wallet of a chain at <paramref name="address"/> (validated and normalised by the chain's adapter).
    /// Opening it again with the same address returns it.
    /// </summary>
    /// <exception cref="PaymentsKitException">
    /// <c>unknown_chain</c>, <c>invalid_address</c>; <c>duplicate_key</c> when the chain's wallet exists at another address.
    /// </exception>
    ValueTask<TreasuryWallet> OpenWalletAsync(ChainId chain, string address, CancellationToken cancellationToken = default);

    /// <summary>Records funds paid into a chain's wallet; a repeated idempotency key posts once.</summary>
    /// <exception cref="PaymentsKitException">
    /// <c>not_found</c> (no wallet), <c>asset_mismatch</c>, <c>amount_out_of_range</c>, <c>idempotency_conflict</c>.
    /// </exception>
    ValueTask<TreasuryWallet> FundAsync(ChainId chain, Money amount, string? idempotencyKey = null, CancellationToken cancellationToken = default);

    /// <summary>A chain's wallet; null if it has none.</summary>
    ValueTask<TreasuryWallet?> GetWalletAsync(ChainId chain, CancellationToken cancellationToken = default);

    /// <summary>A chain's books.</summary>
    /// <exception cref="PaymentsKitException"><c>not_found</c> (no wallet).</exception>
    ValueTask<TreasuryBook> GetBookAsync(ChainId chain, CancellationToken cancellationToken = default);
}

/// <summary>The ledger accounts behind one chain's wallet.</summary>
/// <param name="Wallet">The wallet (debit-normal; credits never exceed debits).</param>
/// <param name="Funding">Where funds come from (credit-normal).</param>
/// <param name="Payouts">Settled payments (debit-normal).</param>
/// <param name="Fees">Network fees (debit-normal).</param>
/// <param name="InFlight">Where a settling payment passes on its way to payouts and fees (debit-normal, back to zero after every operation).</param>
/// <param name="Address">The wallet's address on its chain.</param>
internal sealed record TreasuryAccounts(
    LedgerAccountId Wallet, LedgerAccountId Funding, LedgerAccountId Payouts, LedgerAccountId Fees, LedgerAccountId InFlight, string Address);

/// <summary>An intent's hold on a wallet: one two-phase transfer of the amount plus the maximum fee.</summary>
/// <param name="Chain">The wallet's chain.</param>
/// <param name="TransferId">The two-phase transfer holding amount + fee.</param>
/// <param name="Held">What the transfer holds: the amount plus <paramref name="ReservedFee"/>.</param>
/// <param name="ReservedFee">The fee held, in the settlement asset.</param>
/// <param name="MaxFeeNative">The most the transaction may pay, in the chain's fee asset.</param>
/// <param name="FeePrice">The fee asset's price used to value it, kept so the actual fee is valued the same way.</param>
public sealed record TreasuryReservation(
    [property: System.Text.Json.Serialization.JsonConverter(typeof(ChainIdJsonConverter))] ChainId Chain,
    LedgerTransferId TransferId,
    Money Held,
    Money ReservedFee,
    Money MaxFeeNative,
    decimal FeePrice);

/// <summary>The <see cref="ITreasury"/> on the <see cref="ILedger"/>.</summary>
public sealed class TreasuryService : ITreasury
{
    private const string RoleKey = "treasury_role";

    private readonly IPaymentsStore _store;
    private readonly ILedger _ledger;
    private readonly IRoutingRpcProviders _providers;
    private readonly MerchantId _tenant;
    private readonly Asset _asset;
    private readonly ConcurrentDictionary<ChainId, TreasuryAccounts> _accounts = new();

    /// <summary>Creates the treasury.</summary>
    public TreasuryService(IPaymentsStore store, ILedger ledger, IRoutingRpcProviders providers, AssetRegistry assets, IOptions<RoutingOptions> options)
    {
        _store = store ?? throw new ArgumentNullException(nameof(store));
        _ledger = ledger ?? throw new ArgumentNullException(nameof(ledger));
        _providers = providers ?? throw new ArgumentNullException(nameof(providers));
        ArgumentNullException.ThrowIfNull(assets);
        ArgumentNullException.ThrowIfNull(options);
        _tenant = options.Value.TreasuryTenant;
        _asset = assets.Get(options.Value.SettlementAsset);
    }

    /// <summary>The ledger tenant holding the treasury's books.</summary>
    public MerchantId Tenant => _tenant;

    /// <summary>The asset the wallets hold.</summary>
    public Asset Asset => _asset;

    /// <inheritdoc />
    public async ValueTask<TreasuryWallet> OpenWalletAsync(ChainId chain, string address, CancellationToken cancellationToken = default)
    {
        var canonical = _providers.For(chain)[0].Adapter.ParseAddress(address).Value;
        var existing = await FindAsync(chain, cancellationToken).ConfigureAwait(false);
        if (existing is not null)
        {
            return Check(existing, canonical, chain);
        }

        try
        {
            var wallet = await _store.ExecuteAsync(
                async (unit, ct) =>
                {
                    var metadata = new Dictionary<string, string> { [TreasuryWallet.ChainMetadataKey] = chain.Value, [TreasuryWallet.AddressMetadataKey] = canonical };
                    var wallet = await Open(unit, chain, "wallet", LedgerSide.Debit, LedgerAccountFlags.CreditsMustNotExceedDebits, metadata, ct).ConfigureAwait(false);
                    await Open(unit, chain, "funding", LedgerSide.Credit, LedgerAccountFlags.None, null, ct).ConfigureAwait(false);
                    await Open(unit, chain, "payouts", LedgerSide.Debit, LedgerAccountFlags.None, null, ct).ConfigureAwait(false);
                    await Open(unit, chain, "fees", LedgerSide.Debit, LedgerAccountFlags.None, null, ct).ConfigureAwait(false);
                    await Open(unit, chain, "in_flight", LedgerSide.Debit, LedgerAccountFlags.None, null, ct).ConfigureAwait(false);
                    return wallet;
                },
                cancellationToken).ConfigureAwait(false);
            return TreasuryWallet.FromAccount(wallet);
        }
        catch (PaymentsKitException ex) when (ex.Code == PaymentsKitErrorCodes.DuplicateKey)
        {
            // A concurrent opener won; its wallet decides.
            return Check((await FindAsync(chain, cancellationToken).ConfigureAwait(false))!, canonical, chain);
        }
    }

    /// <inheritdoc />
    public async ValueTask<TreasuryWallet> FundAsync(ChainId chain, Money amount, string? idempotencyKey = null, CancellationToken cancellationToken = default)
    {
        var accounts = await AccountsAsync(chain, cancellationToken).ConfigureAwait(false);
        RequireAsset(amount, "amount");
        await _ledger.PostTransactionAsync(
            _tenant,
            new PostLedgerTransactionRequest([LedgerPosting.Debit(accounts.Wallet, amount), LedgerPosting.Credit(accounts.Funding, amount)])
            {
                IdempotencyKey = idempotencyKey,
                Description = $"Treasury funding of the {chain} wallet",
            },
            cancellationToken).ConfigureAwait(false);
        return await _ledger.GetTreasuryWalletAsync(_tenant, accounts.Wallet, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask<TreasuryWallet?> GetWalletAsync(ChainId chain, CancellationToken cancellationToken = default)
    {
        var account = await FindAsync(chain, cancellationToken).ConfigureAwait(false);
        return account is null ? null : TreasuryWallet.FromAccount(account);
    }

    /// <inheritdoc />
    public async ValueTask<TreasuryBook> GetBookAsync(ChainId chain, CancellationToken cancellationToken = default)
    {
        var accounts = await AccountsAsync(chain, cancellationToken).ConfigureAwait(false);
        var unit = await _store.BeginAsync(cancellationToken).ConfigureAwait(false);
        await using (unit.ConfigureAwait(false))
        {
            async ValueTask<LedgerAccount> Read(LedgerAccountId id) =>
                (await unit.GetAsync(LedgerCollections.Accounts, _tenant.Value, id.Value, cancellationToken).ConfigureAwait(false))!.Value;

            var wallet = await Read(accounts.Wallet).ConfigureAwait(false);
            var funding = await Read(accounts.Funding).ConfigureAwait(false);
            var payouts = await Read(accounts.Payouts).ConfigureAwait(false);
            var fees = await Read(accounts.Fees).ConfigureAwait(false);
            return new TreasuryBook(TreasuryWallet.FromAccount(wallet), funding.Balance.Posted, payouts.Balance.Posted, fees.Balance.Posted);
        }
    }

    /// <summary>The available balance of a chain's wallet as a unit of work sees it; zero without a wallet.</summary>
    internal async ValueTask<Money> AvailableAsync(IUnitOfWork unit, ChainId chain, CancellationToken cancellationToken)
    {
        var accounts = await TryAccountsAsync(chain, cancellationToken).ConfigureAwait(false);
        if (accounts is null)
        {
            return Money.Zero(_asset);
        }

        var wallet = await unit.GetAsync(LedgerCollections.Accounts, _tenant.Value, accounts.Wallet.Value, cancellationToken).ConfigureAwait(false);
        return wallet is null ? Money.Zero(_asset) : wallet.Value.Balance.Available;
    }

    /// <summary>
    /// The ledger records reserving on any of <paramref name="chains"/> for <paramref name="reference"/> reads (the
    /// wallets, their in-flight accounts, the reference's counter), for <see cref="IUnitOfWork.PrefetchAsync"/>; a
    /// chain without a wallet adds nothing.
    /// </summary>
    internal async ValueTask<List<RecordRef>> ReservationReadsAsync(IEnumerable<ChainId> chains, string reference, CancellationToken cancellationToken)
    {
        var reads = await AccountReadsAsync(chains, true, cancellationToken).ConfigureAwait(false);
        reads.Add(LedgerCollections.ReferenceCounters.Ref(LedgerCollections.ReferenceCounterId(_tenant, reference)));
        return reads;
    }

    /// <summary>The wallets <see cref="AvailableAsync"/> reads for <paramref name="chains"/>, for <see cref="IUnitOfWork.PrefetchAsync"/>.</summary>
    internal ValueTask<List<RecordRef>> WalletReadsAsync(IEnumerable<ChainId> chains, CancellationToken cancellationToken) =>
        AccountReadsAsync(chains, false, cancellationToken);

    private async ValueTask<List<RecordRef>> AccountReadsAsync(IEnumerable<ChainId> chains, bool inFlight, CancellationToken cancellationToken)
    {
        var reads = new List<RecordRef>();
        foreach (var chain in chains)
        {
            if (await TryAccountsAsync(chain, cancellationToken).ConfigureAwait(false) is { } accounts)
            {
                reads.Add(LedgerCollections.Accounts.Ref(accounts.Wallet.Value));
                if (inFlight)
                {
                    reads.Add(LedgerCollections.Accounts.Ref(accounts.InFlight.Value));
                }
            }
        }

        return reads;
    }

    /// <summary>The ledger records settling, charging or releasing <paramref name="reservation"/> reads, for <see cref="IUnitOfWork.PrefetchAsync"/>.</summary>
    internal async ValueTask<List<RecordRef>> ResolutionReadsAsync(TreasuryReservation reservation, string reference, CancellationToken cancellationToken)
    {
        var reads = await ReservationReadsAsync([reservation.Chain], reference, cancellationToken).ConfigureAwait(false);
        var accounts = await AccountsAsync(reservation.Chain, cancellationToken).ConfigureAwait(false);
        reads.Add(LedgerCollections.Transfers.Ref(reservation.TransferId.Value));
        reads.Add(LedgerCollections.Accounts.Ref(accounts.Payouts.Value));
        reads.Add(LedgerCollections.Accounts.Ref(accounts.Fees.Value));
        return reads;
    }

    /// <summary>The address of a chain's wallet, the sender of its payments.</summary>
    /// <exception cref="PaymentsKitException"><c>not_found</c> without a wallet.</exception>
    internal async ValueTask<string> WalletAddressAsync(ChainId chain, CancellationToken cancellationToken) =>
        (await AccountsAsync(chain, cancellationToken).ConfigureAwait(false)).Address;

    /// <summary>
    /// Holds amount + fee on a chain's wallet within the caller's unit of work, as one two-phase transfer, so a
    /// wallet that cannot cover both leaves the unit untouched.
    /// </summary>
    /// <exception cref="PaymentsKitException"><c>insufficient_funds</c>; <c>not_found</c> without a wallet.</exception>
    internal async ValueTask<TreasuryReservation> ReserveAsync(
        IUnitOfWork unit, ChainId chain, Money amount, Money fee, Money maxFeeNative, decimal feePrice, string reference, CancellationToken cancellationToken)
    {
        var accounts = await AccountsAsync(chain, cancellationToken).ConfigureAwait(false);
        var held = amount + fee;
        var transfer = await _ledger.ReserveAsync(
            unit, _tenant, new ReserveLedgerTransferRequest(accounts.InFlight, accounts.Wallet, held) { Reference = reference }, cancellationToken).ConfigureAwait(false);
        return new TreasuryReservation(chain, transfer.Id, held, fee, maxFeeNative, feePrice);
    }

    /// <summary>Settles: posts the amount and <paramref name="actualFee"/> out of the wallet, releasing the rest of the fee held.</summary>
    internal async ValueTask SettleAsync(IUnitOfWork unit, TreasuryReservation reservation, Money actualFee, string reference, CancellationToken cancellationToken)
    {
        var accounts = await AccountsAsync(reservation.Chain, cancellationToken).ConfigureAwait(false);
        var amount = reservation.Held - reservation.ReservedFee;
        await _ledger.PostTransferAsync(unit, _tenant, reservation.TransferId, amount + actualFee, cancellationToken).ConfigureAwait(false);
        List<LedgerPosting> postings = [LedgerPosting.Debit(accounts.Payouts, amount), LedgerPosting.Credit(accounts.InFlight, amount + actualFee)];
        if (actualFee.IsPositive)
        {
            postings.Insert(1, LedgerPosting.Debit(accounts.Fees, actualFee));
        }

        await _ledger.PostTransactionAsync(
            unit, _tenant, new PostLedgerTransactionRequest(postings) { EntryType = LedgerEntryType.Debit, Reference = reference }, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>A failure after the chain charged a fee: <paramref name="actualFee"/> is posted, the rest released.</summary>
    internal async ValueTask ChargeFeeOnlyAsync(IUnitOfWork unit, TreasuryReservation reservation, Money actualFee, string reference, CancellationToken cancellationToken)
    {
        if (!actualFee.IsPositive)
        {
            await VoidAsync(unit, reservation, cancellationToken).ConfigureAwait(false);
            return;
        }

        var accounts = await AccountsAsync(reservation.Chain, cancellationToken).ConfigureAwait(false);
        await _ledger.PostTransferAsync(unit, _tenant, reservation.TransferId, actualFee, cancellationToken).ConfigureAwait(false);
        await _ledger.PostTransactionAsync(
            unit,
            _tenant,
            new PostLedgerTransactionRequest([LedgerPosting.Debit(accounts.Fees, actualFee), LedgerPosting.Credit(accounts.InFlight, actualFee)])
            {
                EntryType = LedgerEntryType.Fee,
                Reference = reference,
            },
            cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Releases the hold.</summary>
    internal async ValueTask VoidAsync(IUnitOfWork unit, TreasuryReservation reservation, CancellationToken cancellationToken) =>
        await _ledger.VoidTransferAsync(unit, _tenant, reservation.TransferId, cancellationToken).ConfigureAwait(false);

    private void RequireAsset(Money amount, string field)
    {
        if (amount.Asset != _asset)
        {
            throw new PaymentsKitException(
                PaymentsKitErrorCodes.AssetMismatch,
                $"The {field} is in {amount.Asset.Code} but the treasury holds {_asset.Code}.",
                new Dictionary<string, object?> { ["field"] = field, ["left"] = amount.Asset.Code, ["right"] = _asset.Code });
        }
    }

    private TreasuryWallet Check(LedgerAccount existing, string canonical, ChainId chain)
    {
        var wallet = TreasuryWallet.FromAccount(existing);
        return wallet.Address == canonical
            ? wallet
            : throw new PaymentsKitException(
                PaymentsKitErrorCodes.DuplicateKey,
                $"The {chain} treasury wallet is already open at {wallet.Address}; it cannot move to {canonical}.",
                new Dictionary<string, object?> { ["collection"] = "treasury_wallet", ["key"] = "chain", ["value"] = chain.Value });
    }

    private ValueTask<LedgerAccount> Open(
        IUnitOfWork unit, ChainId chain, string role, LedgerSide side, LedgerAccountFlags flags, Dictionary<string, string>? metadata, CancellationToken cancellationToken)
    {
        var tags = metadata ?? new Dictionary<string, string> { [TreasuryWallet.ChainMetadataKey] = chain.Value };
        tags[RoleKey] = role;
        return _ledger.CreateAccountAsync(
            unit,
            _tenant,
            new CreateLedgerAccountRequest(Code(chain, role), $"Treasury {role} ({chain})", _asset, side) { Flags = flags, Metadata = tags },
            cancellationToken);
    }

    private async ValueTask<LedgerAccount?> FindAsync(ChainId chain, CancellationToken cancellationToken)
    {
        if (chain.Value is null)
        {
            throw PaymentsKitException.InvalidArgument("chain", null, "is required");
        }

        return await _ledger.FindAccountByCodeAsync(_tenant, Code(chain, "wallet"), cancellationToken).ConfigureAwait(false);
    }

    private async ValueTask<TreasuryAccounts> AccountsAsync(ChainId chain, CancellationToken cancellationToken) =>
        await TryAccountsAsync(chain, cancellationToken).ConfigureAwait(false)
        ?? throw new PaymentsKitException(
            PaymentsKitErrorCodes.NotFound,
            $"The treasury has no wallet on {chain}; open one with OpenWalletAsync.",
            new Dictionary<string, object?> { ["field"] = "chain", ["value"] = chain.Value });

    private async ValueTask<TreasuryAccounts?> TryAccountsAsync(ChainId chain, CancellationToken cancellationToken)
    {
        if (_accounts.TryGetValue(chain, out var known))
        {
            return known;
        }

        // Accounts are never deleted or re-keyed, so once found their ids can be remembered for good.
        var wallet = await FindAsync(chain, cancellationToken).ConfigureAwait(false);
        if (wallet is null)
        {
            return null;
        }

        async ValueTask<LedgerAccountId> Id(string role) =>
            (await _ledger.FindAccountByCodeAsync(_tenant, Code(chain, role), cancellationToken).ConfigureAwait(false))!.Id;

        var accounts = new TreasuryAccounts(
            wallet.Id,
            await Id("funding").ConfigureAwait(false),
            await Id("payouts").ConfigureAwait(false),
            await Id("fees").ConfigureAwait(false),
            await Id("in_flight").ConfigureAwait(false),
            TreasuryWallet.FromAccount(wallet).Address!);
        return _accounts.GetOrAdd(chain, accounts);
    }

    private static string Code(ChainId chain, string role) => $"treasury:{chain.Value}:{role}";
}
