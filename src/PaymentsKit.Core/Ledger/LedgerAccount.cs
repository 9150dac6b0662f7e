using System.Text.Json.Serialization;
using NodaTime;

namespace PaymentsKit.Ledger;

/// <summary>
/// An account of a tenant's ledger in one asset, with its balances. The balances are a projection
/// of the account's entries (<see cref="LedgerEntry"/>), written in the same unit of work as them;
/// <see cref="ILedger.ReconcileAsync"/> recomputes them.
/// </summary>
/// <param name="Id">The account id.</param>
/// <param name="TenantId">The merchant that owns the account.</param>
/// <param name="Code">The tenant-unique code, e.g. <c>treasury:ethereum:usdc</c>.</param>
/// <param name="Name">A display name.</param>
/// <param name="NormalSide">The side the balance normally sits on.</param>
/// <param name="Flags">Balance constraints.</param>
/// <param name="Metadata">Host-defined key/value pairs.</param>
/// <param name="DebitsPosted">The sum of posted debits.</param>
/// <param name="CreditsPosted">The sum of posted credits.</param>
/// <param name="DebitsPending">The sum of debits held by open reservations.</param>
/// <param name="CreditsPending">The sum of credits held by open reservations.</param>
/// <param name="EntryCount">How many entries the account has; the last entry's <see cref="LedgerEntry.Sequence"/>.</param>
/// <param name="CreatedAt">When the account was opened.</param>
/// <param name="UpdatedAt">When the balances last changed (the opening time before that).</param>
public sealed record LedgerAccount(
    LedgerAccountId Id,
    MerchantId TenantId,
    string Code,
    string Name,
    LedgerSide NormalSide,
    LedgerAccountFlags Flags,
    IReadOnlyDictionary<string, string> Metadata,
    Money DebitsPosted,
    Money CreditsPosted,
    Money DebitsPending,
    Money CreditsPending,
    long EntryCount,
    Instant CreatedAt,
    Instant UpdatedAt)
{
    /// <summary>The asset the account counts.</summary>
    [JsonIgnore]
    public Asset Asset => DebitsPosted.Asset;

    /// <summary>The current balances.</summary>
    [JsonIgnore]
    public LedgerBalance Balance => new(Id, NormalSide, DebitsPosted, CreditsPosted, DebitsPending, CreditsPending, UpdatedAt);
}

/// <summary>An account's balances at one instant.</summary>
/// <param name="AccountId">The account.</param>
/// <param name="NormalSide">The side the account's balance normally sits on.</param>
/// <param name="DebitsPosted">The sum of posted debits.</param>
/// <param name="CreditsPosted">The sum of posted credits.</param>
/// <param name="DebitsPending">The sum of debits held by open reservations.</param>
/// <param name="CreditsPending">The sum of credits held by open reservations.</param>
/// <param name="AsOf">The instant of the last change these balances include.</param>
public sealed record LedgerBalance(
    LedgerAccountId AccountId,
    LedgerSide NormalSide,
    Money DebitsPosted,
    Money CreditsPosted,
    Money DebitsPending,
    Money CreditsPending,
    Instant AsOf)
{
    /// <summary>The asset of the balances.</summary>
    public Asset Asset => DebitsPosted.Asset;

    /// <summary>The posted balance on the normal side (negative when the other side is larger).</summary>
    public Money Posted => NormalSide == LedgerSide.Debit ? DebitsPosted - CreditsPosted : CreditsPosted - DebitsPosted;

    /// <summary>Funds held by open reservations that will leave the account if posted (pending on the side opposite the normal one).</summary>
    public Money Reserved => NormalSide == LedgerSide.Debit ? CreditsPending : DebitsPending;

    /// <summary>Funds held by open reservations that will arrive if posted (pending on the normal side).</summary>
    public Money Incoming => NormalSide == LedgerSide.Debit ? DebitsPending : CreditsPending;

    /// <summary>What may still be spent: the posted balance less what open reservations hold.</summary>
    public Money Available => Posted - Reserved;
}

/// <summary>Opens a ledger account.</summary>
/// <param name="Code">Unique per tenant: 1–64 characters, letters, digits and <c>. _ - : /</c>.</param>
/// <param name="Name">A display name, 1–200 characters.</param>
/// <param name="Asset">The asset the account counts.</param>
/// <param name="NormalSide">The side the balance normally sits on.</param>
public sealed record CreateLedgerAccountRequest(string Code, string Name, Asset Asset, LedgerSide NormalSide)
{
    /// <summary>Balance constraints; none by default.</summary>
    public LedgerAccountFlags Flags { get; init; }

    /// <summary>Up to 50 key/value pairs (keys 1–40 characters, values up to 500).</summary>
    public IReadOnlyDictionary<string, string>? Metadata { get; init; }
}
