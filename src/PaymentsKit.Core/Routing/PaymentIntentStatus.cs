using System.Diagnostics.CodeAnalysis;

namespace PaymentsKit.Routing;

/// <summary>Where a payment intent stands: the seed 001 router's twelve statuses.</summary>
public enum PaymentIntentStatus
{
    /// <summary>Accepted, not yet priced (<c>created</c>).</summary>
    Created,

    /// <summary>Priced by a quote (<c>quoted</c>).</summary>
    Quoted,

    /// <summary>A chain is chosen and the treasury reservation is held (<c>route_selected</c>).</summary>
    RouteSelected,

    /// <summary>A signed transaction is being submitted (<c>broadcasting</c>).</summary>
    Broadcasting,

    /// <summary>The chain accepted the transaction (<c>broadcasted</c>).</summary>
    Broadcasted,

    /// <summary>Included, waiting for enough confirmations (<c>pending_confirmation</c>).</summary>
    PendingConfirmation,

    /// <summary>Final on chain; the reservation is posted (<c>settled</c>).</summary>
    Settled,

    /// <summary>Definitely did not move money; the reservation is voided (<c>failed</c>).</summary>
    Failed,

    /// <summary>Out of retries or ambiguous; an operator decides (<c>manual_review</c>).</summary>
    ManualReview,

    /// <summary>An attempt failed; another provider or chain is next (<c>retrying</c>).</summary>
    Retrying,

    /// <summary>Its quote or reservation ran out before broadcast (<c>expired</c>).</summary>
    Expired,

    /// <summary>Withdrawn by the merchant before anything was broadcast (<c>cancelled</c>).</summary>
    Cancelled,
}

/// <summary>
/// The payment intent lifecycle as an explicit table, derived from the seed's statuses and the routing
/// issue's flow (quote → route selection with a treasury reservation → broadcast attempts → confirmation,
/// with retries and manual review). See docs/routing-scoring.md for the reasoning behind each edge.
/// </summary>
public static class PaymentIntentLifecycle
{
    private static readonly string[] WireNames =
    [
        "created", "quoted", "route_selected", "broadcasting", "broadcasted", "pending_confirmation",
        "settled", "failed", "manual_review", "retrying", "expired", "cancelled",
    ];

    /// <summary>
    /// The transition table. Cancellation and expiry are possible only before anything was broadcast; once a
    /// transaction may have reached a chain, an intent ends only as settled or failed (possibly via manual review).
    /// </summary>
    public static StateMachine<PaymentIntentStatus> Machine { get; } = new(
        "payment intent",
        [
            new(PaymentIntentStatus.Created, PaymentIntentStatus.Quoted),
            new(PaymentIntentStatus.Created, PaymentIntentStatus.RouteSelected),
            new(PaymentIntentStatus.Created, PaymentIntentStatus.Expired),
            new(PaymentIntentStatus.Created, PaymentIntentStatus.Cancelled),
            new(PaymentIntentStatus.Quoted, PaymentIntentStatus.RouteSelected),
            new(PaymentIntentStatus.Quoted, PaymentIntentStatus.Expired),
            new(PaymentIntentStatus.Quoted, PaymentIntentStatus.Cancelled),
            new(PaymentIntentStatus.RouteSelected, PaymentIntentStatus.Broadcasting),
            new(PaymentIntentStatus.RouteSelected, PaymentIntentStatus.Expired),
            new(PaymentIntentStatus.RouteSelected, PaymentIntentStatus.Cancelled),
            new(PaymentIntentStatus.Broadcasting, PaymentIntentStatus.Broadcasted),
            new(PaymentIntentStatus.Broadcasting, PaymentIntentStatus.Retrying),
            new(PaymentIntentStatus.Broadcasting, PaymentIntentStatus.Failed),
            new(PaymentIntentStatus.Broadcasting, PaymentIntentStatus.ManualReview),
            new(PaymentIntentStatus.Broadcasted, PaymentIntentStatus.PendingConfirmation),
            new(PaymentIntentStatus.Broadcasted, PaymentIntentStatus.Settled),
            new(PaymentIntentStatus.Broadcasted, PaymentIntentStatus.Retrying),
            new(PaymentIntentStatus.Broadcasted, PaymentIntentStatus.Failed),
            new(PaymentIntentStatus.Broadcasted, PaymentIntentStatus.ManualReview),
            new(PaymentIntentStatus.PendingConfirmation, PaymentIntentStatus.Settled),
            new(PaymentIntentStatus.PendingConfirmation, PaymentIntentStatus.Failed),
            new(PaymentIntentStatus.PendingConfirmation, PaymentIntentStatus.Retrying),
            new(PaymentIntentStatus.PendingConfirmation, PaymentIntentStatus.ManualReview),
            new(PaymentIntentStatus.Retrying, PaymentIntentStatus.Broadcasting),
            new(PaymentIntentStatus.Retrying, PaymentIntentStatus.RouteSelected),
            new(PaymentIntentStatus.Retrying, PaymentIntentStatus.Failed),
            new(PaymentIntentStatus.Retrying, PaymentIntentStatus.ManualReview),
            new(PaymentIntentStatus.ManualReview, PaymentIntentStatus.Settled),
            new(PaymentIntentStatus.ManualReview, PaymentIntentStatus.Failed),
            new(PaymentIntentStatus.ManualReview, PaymentIntentStatus.Retrying),
        ]);

    /// <summary>The seed's text for a status, e.g. <c>route_selected</c> (as stored and sent in webhooks).</summary>
    /// <exception cref="PaymentsKitException"><c>invalid_argument</c> for a value outside the enum.</exception>
    public static string ToWireName(this PaymentIntentStatus status) =>
        (uint)status < (uint)WireNames.Length
            ? WireNames[(int)status]
            : throw PaymentsKitException.InvalidArgument("status", (int)status, "is not a payment intent status");

    /// <summary>Parses the seed's text for a status.</summary>
    public static bool TryParseWireName([NotNullWhen(true)] string? text, out PaymentIntentStatus status)
    {
        var index = Array.IndexOf(WireNames, text);
        status = (PaymentIntentStatus)Math.Max(index, 0);
        return index >= 0;
    }

    /// <summary>Parses the seed's text for a status.</summary>
    /// <exception cref="PaymentsKitException"><c>invalid_argument</c> for unknown text.</exception>
    public static PaymentIntentStatus ParseWireName(string? text) =>
        TryParseWireName(text, out var status)
            ? status
            : throw PaymentsKitException.InvalidArgument("status", text, "is not a payment intent status (" + string.Join(", ", WireNames) + ")");
}
