using System.Text.Json;

namespace PaymentsKit.Orchestration;

/// <summary>
/// A payment provider (Stripe, PayPal, Adyen, manual) as the orchestrator drives it. Every call is
/// keyed by PaymentsKit's reference (the transaction or refund id), which the provider must treat as
/// an idempotency key and echo back in its webhooks, so retries and callbacks resolve exactly once.
/// </summary>
/// <remarks>
/// A call whose outcome the provider cannot report (a timeout, a lost connection) either returns
/// <see cref="ProviderOutcome.Unknown"/> or throws <see cref="TimeoutException"/>,
/// <see cref="HttpRequestException"/> or <see cref="OperationCanceledException"/>; the transaction then
/// stays processing until a webhook or a status poll tells the outcome.
/// </remarks>
public interface IPaymentProvider
{
    /// <summary>Which provider this is.</summary>
    PaymentProvider Name { get; }

    /// <summary>Authorizes and captures in one call.</summary>
    ValueTask<ProviderResult> ChargeAsync(ProviderPaymentRequest request, CancellationToken cancellationToken = default);

    /// <summary>Authorizes only; <see cref="CaptureAsync"/> takes the money later.</summary>
    ValueTask<ProviderResult> AuthorizeAsync(ProviderPaymentRequest request, CancellationToken cancellationToken = default);

    /// <summary>Captures an authorization in full.</summary>
    ValueTask<ProviderResult> CaptureAsync(ProviderPaymentReference payment, CancellationToken cancellationToken = default);

    /// <summary>Cancels (voids) an uncaptured authorization.</summary>
    ValueTask<ProviderResult> CancelAsync(ProviderPaymentReference payment, CancellationToken cancellationToken = default);

    /// <summary>Refunds (part of) a captured payment.</summary>
    ValueTask<ProviderResult> RefundAsync(ProviderRefundRequest request, CancellationToken cancellationToken = default);

    /// <summary>Asks for the current state of a payment (a status poll).</summary>
    ValueTask<ProviderResult> GetPaymentAsync(ProviderPaymentReference payment, CancellationToken cancellationToken = default);

    /// <summary>Asks for the current state of a refund (a status poll).</summary>
    ValueTask<ProviderResult> GetRefundAsync(string reference, CancellationToken cancellationToken = default);

    /// <summary>Verifies and parses a webhook the provider sent.</summary>
    /// <param name="payload">The raw request body.</param>
    /// <param name="headers">The request headers (names compared case-insensitively by the provider).</param>
    /// <exception cref="PaymentsKitException"><c>invalid_signature</c> for a missing, stale or wrong signature; <c>invalid_argument</c> for a malformed body.</exception>
    ProviderWebhookEvent ParseWebhook(string payload, IReadOnlyDictionary<string, string> headers);
}

/// <summary>What a provider said about a payment or refund.</summary>
public enum ProviderOutcome
{
    /// <summary>The money moved (a charge or capture, or a refund).</summary>
    Succeeded,

    /// <summary>The payment is authorized and awaits capture.</summary>
    Authorized,

    /// <summary>The provider declined or the operation failed for good.</summary>
    Declined,

    /// <summary>The authorization was cancelled (voided), or, for a refund, the refund was cancelled: no money moved.</summary>
    Cancelled,

    /// <summary>The outcome is not known yet.</summary>
    Unknown,
}

/// <summary>A provider's answer.</summary>
/// <param name="Outcome">What happened.</param>
/// <param name="ProviderReference">The provider's own id of the payment or refund, if it gave one.</param>
/// <param name="ErrorCode">The provider's code for a decline.</param>
/// <param name="ErrorMessage">The provider's message for a decline.</param>
/// <param name="Response">The provider's response body, kept in the transaction's events.</param>
public sealed record ProviderResult(
    ProviderOutcome Outcome,
    string? ProviderReference = null,
    string? ErrorCode = null,
    string? ErrorMessage = null,
    JsonElement? Response = null)
{
    /// <summary>
    /// The answer as every store keeps it: NUL characters and unpaired surrogates in its texts (and in the response's
    /// strings) replaced by U+FFFD. Provider text is outside PaymentsKit's checks, and a text PostgreSQL refused would
    /// keep the answer from ever being applied.
    /// </summary>
    internal ProviderResult Storable() => this with
    {
        ProviderReference = ProviderReference is null ? null : Guard.Storable(ProviderReference),
        ErrorCode = ErrorCode is null ? null : Guard.Storable(ErrorCode),
        ErrorMessage = ErrorMessage is null ? null : Guard.Storable(ErrorMessage),
        Response = Response is { } response ? StorableJson(response) : null,
    };

    private static JsonElement StorableJson(JsonElement json)
    {
        // Valid JSON can only carry a NUL or a lone surrogate as a \u escape.
        var raw = json.GetRawText();
        if (!raw.Contains("\\u", StringComparison.Ordinal))
        {
            return json;
        }

        var node = System.Text.Json.Nodes.JsonNode.Parse(raw);
        return JsonSerializer.SerializeToElement(Clean(node));

        // A string value made storable; a container cleaned in place.
        static System.Text.Json.Nodes.JsonNode? Clean(System.Text.Json.Nodes.JsonNode? node)
        {
            switch (node)
            {
                case System.Text.Json.Nodes.JsonObject obj:
                    foreach (var key in obj.Select(p => p.Key).ToList())
                    {
                        var child = obj[key];
                        if (Clean(child) is var cleaned && !ReferenceEquals(cleaned, child))
                        {
                            obj[key] = cleaned;
                        }
                    }

                    return obj;
                case System.Text.Json.Nodes.JsonArray array:
                    for (var i = 0; i < array.Count; i++)
                    {
                        if (Clean(array[i]) is var cleaned && !ReferenceEquals(cleaned, array[i]))
                        {
                            array[i] = cleaned;
                        }
                    }

                    return array;
                case System.Text.Json.Nodes.JsonValue value when value.GetValueKind() == JsonValueKind.String:
                    var text = value.GetValue<string>();
                    var storable = Guard.Storable(text);
                    return ReferenceEquals(storable, text) ? value : System.Text.Json.Nodes.JsonValue.Create(storable);
                default:
                    return node;
            }
        }
    }
}

/// <summary>A payment to charge or authorize.</summary>
/// <param name="Reference">PaymentsKit's transaction id: the provider's idempotency key and the reference its webhooks echo.</param>
/// <param name="Amount">The amount.</param>
/// <param name="PaymentMethod">The payment method code.</param>
/// <param name="CustomerEmail">The customer's email.</param>
/// <param name="ProviderCustomerId">The provider's id of the customer, if known.</param>
/// <param name="Description">A description for the provider's dashboard.</param>
public sealed record ProviderPaymentRequest(
    string Reference,
    Money Amount,
    string PaymentMethod,
    string CustomerEmail,
    string? ProviderCustomerId,
    string? Description);

/// <summary>Names a payment at the provider.</summary>
/// <param name="Reference">PaymentsKit's transaction id.</param>
/// <param name="ProviderTransactionId">The provider's id, if known.</param>
/// <param name="Amount">The payment's amount.</param>
public sealed record ProviderPaymentReference(string Reference, string? ProviderTransactionId, Money Amount);

/// <summary>A refund to make.</summary>
/// <param name="Reference">PaymentsKit's refund id: the provider's idempotency key.</param>
/// <param name="Payment">The refunded payment.</param>
/// <param name="Amount">The amount to return.</param>
/// <param name="Reason">Why.</param>
public sealed record ProviderRefundRequest(string Reference, ProviderPaymentReference Payment, Money Amount, string Reason);

/// <summary>Whether a webhook is about a payment or a refund.</summary>
public enum ProviderWebhookSubject
{
    /// <summary>A payment (its reference is a transaction id).</summary>
    Payment,

    /// <summary>A refund (its reference is a refund id).</summary>
    Refund,
}

/// <summary>A verified provider webhook.</summary>
/// <param name="EventId">The provider's id of the event.</param>
/// <param name="Subject">Payment or refund.</param>
/// <param name="Reference">PaymentsKit's transaction or refund id, echoed by the provider.</param>
/// <param name="Result">What the provider reports.</param>
public sealed record ProviderWebhookEvent(string EventId, ProviderWebhookSubject Subject, string Reference, ProviderResult Result);
