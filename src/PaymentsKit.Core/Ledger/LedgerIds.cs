using System.Text.Json.Serialization;
using NodaTime;

namespace PaymentsKit.Ledger;

/// <summary>Identifies a ledger account: <c>acc_…</c>.</summary>
/// <param name="Value">The UUIDv7 underneath.</param>
[JsonConverter(typeof(TypedIdJsonConverter<LedgerAccountId>))]
public readonly record struct LedgerAccountId(Guid Value) : ITypedId<LedgerAccountId>
{
    /// <inheritdoc />
    public static string Prefix => "acc";

    /// <inheritdoc />
    public static LedgerAccountId FromGuid(Guid value) => new(value);

    /// <summary>A new time-ordered id.</summary>
    public static LedgerAccountId New(IClock clock) => TypedId.New<LedgerAccountId>(clock);

    /// <summary>Parses <c>acc_…</c>.</summary>
    public static LedgerAccountId Parse(string? text) => TypedId.Parse<LedgerAccountId>(text);

    /// <inheritdoc />
    public override string ToString() => TypedId.Format(this);
}

/// <summary>Identifies a ledger transaction: <c>ltx_…</c>.</summary>
/// <param name="Value">The UUIDv7 underneath.</param>
[JsonConverter(typeof(TypedIdJsonConverter<LedgerTransactionId>))]
public readonly record struct LedgerTransactionId(Guid Value) : ITypedId<LedgerTransactionId>
{
    /// <inheritdoc />
    public static string Prefix => "ltx";

    /// <inheritdoc />
    public static LedgerTransactionId FromGuid(Guid value) => new(value);

    /// <summary>A new time-ordered id.</summary>
    public static LedgerTransactionId New(IClock clock) => TypedId.New<LedgerTransactionId>(clock);

    /// <summary>Parses <c>ltx_…</c>.</summary>
    public static LedgerTransactionId Parse(string? text) => TypedId.Parse<LedgerTransactionId>(text);

    /// <inheritdoc />
    public override string ToString() => TypedId.Format(this);
}

/// <summary>Identifies a two-phase (reserve, then post or void) ledger transfer: <c>ltr_…</c>.</summary>
/// <param name="Value">The UUIDv7 underneath.</param>
[JsonConverter(typeof(TypedIdJsonConverter<LedgerTransferId>))]
public readonly record struct LedgerTransferId(Guid Value) : ITypedId<LedgerTransferId>
{
    /// <inheritdoc />
    public static string Prefix => "ltr";

    /// <inheritdoc />
    public static LedgerTransferId FromGuid(Guid value) => new(value);

    /// <summary>A new time-ordered id.</summary>
    public static LedgerTransferId New(IClock clock) => TypedId.New<LedgerTransferId>(clock);

    /// <summary>Parses <c>ltr_…</c>.</summary>
    public static LedgerTransferId Parse(string? text) => TypedId.Parse<LedgerTransferId>(text);

    /// <inheritdoc />
    public override string ToString() => TypedId.Format(this);
}
