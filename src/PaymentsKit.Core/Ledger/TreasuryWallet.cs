using NodaTime;

namespace PaymentsKit.Ledger;

/// <summary>
/// The router's <c>treasury_wallets</c> row as a view of a ledger account: funds available for new
/// payments and funds reserved for pending ones. It is computed from the account's balances, which
/// are written with the postings in one unit of work, so it always equals what the postings say.
/// </summary>
/// <param name="AccountId">The ledger account behind the wallet.</param>
/// <param name="TenantId">The merchant that owns it.</param>
/// <param name="Code">The account code.</param>
/// <param name="Chain">The chain: the asset's, else the account's <see cref="ChainMetadataKey"/> metadata.</param>
/// <param name="Address">The wallet address from the account's <see cref="AddressMetadataKey"/> metadata.</param>
/// <param name="AvailableBalance">Funds available for new payments.</param>
/// <param name="ReservedBalance">Funds locked for pending payments.</param>
/// <param name="UpdatedAt">When the balances last changed.</param>
public sealed record TreasuryWallet(
    LedgerAccountId AccountId,
    MerchantId TenantId,
    string Code,
    ChainId? Chain,
    string? Address,
    Money AvailableBalance,
    Money ReservedBalance,
    Instant UpdatedAt)
{
    /// <summary>The account metadata key holding the wallet's chain when the asset has none.</summary>
    public const string ChainMetadataKey = "chain";

    /// <summary>The account metadata key holding the wallet address.</summary>
    public const string AddressMetadataKey = "address";

    /// <summary>The wallet view of an account.</summary>
    public static TreasuryWallet FromAccount(LedgerAccount account)
    {
        ArgumentNullException.ThrowIfNull(account);
        var balance = account.Balance;
        var chain = account.Asset.Chain
            ?? (account.Metadata.TryGetValue(ChainMetadataKey, out var name) ? ChainId.Of(name) : null);
        account.Metadata.TryGetValue(AddressMetadataKey, out var address);
        return new TreasuryWallet(account.Id, account.TenantId, account.Code, chain, address, balance.Available, balance.Reserved, account.UpdatedAt);
    }
}
