using System.Text.Json.Serialization;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using NodaTime;
using PaymentsKit.Webhooks;

namespace PaymentsKit.Orchestration;

/// <summary>How the simulated provider answers one call.</summary>
/// <param name="Succeeds">Whether the provider accepts (otherwise it declines with <paramref name="DeclineCode"/>).</param>
/// <param name="TimesOut">Whether the caller's call times out; the provider still settles the operation, and its webhook and status polls tell the outcome.</param>
/// <param name="DeclineCode">The decline code when it declines.</param>
public sealed record SimulatedBehavior(bool Succeeds, bool TimesOut = false, string DeclineCode = "card_declined")
{
    /// <summary>Accept at once.</summary>
    public static SimulatedBehavior Succeed { get; } = new(true);

    /// <summary>Decline at once with <c>card_declined</c>.</summary>
    public static SimulatedBehavior Decline { get; } = new(false);

    /// <summary>
    /// The default rule for payments: a customer email whose local part contains <c>+decline</c>
    /// is declined, <c>+timeout</c> times out and then succeeds, <c>+timeout_decline</c> times out and
    /// is then declined; anything else succeeds.
    /// </summary>
    public static SimulatedBehavior ForEmail(string customerEmail)
    {
        ArgumentNullException.ThrowIfNull(customerEmail);
        var local = customerEmail.Split('@')[0];
        return local.Contains("+timeout_decline", StringComparison.OrdinalIgnoreCase) ? new(false, TimesOut: true)
            : local.Contains("+timeout", StringComparison.OrdinalIgnoreCase) ? new(true, TimesOut: true)
            : local.Contains("+decline", StringComparison.OrdinalIgnoreCase) ? Decline
            : Succeed;
    }
}

/// <summary>Configures a <see cref="SimulatedPaymentProvider"/>.</summary>
public sealed class SimulatedProviderOptions
{
    /// <summary>Decides each charge or authorization; default <see cref="SimulatedBehavior.ForEmail"/>.</summary>
    public Func<ProviderPaymentRequest, SimulatedBehavior> Payments { get; set; } = request => SimulatedBehavior.ForEmail(request.CustomerEmail);

    /// <summary>Decides each refund; default: succeed.</summary>
    public Func<ProviderRefundRequest, SimulatedBehavior> Refunds { get; set; } = _ => SimulatedBehavior.Succeed;

    /// <summary>How long after an operation settles its webhook becomes due. Default 5 seconds.</summary>
    public Duration WebhookDelay { get; set; } = Duration.FromSeconds(5);

    /// <summary>
    /// The Standard Webhooks secret (<c>whsec_</c> + base64) its webhooks are signed with, HMAC-SHA256. Default: a fixed
    /// test secret, the same for every simulated provider.
    /// </summary>
    public string WebhookSecret { get; set; } = "whsec_c2ltdWxhdGVkIHByb3ZpZGVyIHdlYmhvb2sgc2VjcmV0";

    /// <summary>How old a webhook signature may be. Default 5 minutes.</summary>
    public Duration SignatureTolerance { get; set; } = Duration.FromMinutes(5);
}

/// <summary>A webhook the simulated provider has ready to send.</summary>
/// <param name="Payload">The JSON body.</param>
/// <param name="Headers">The headers, including the signature.</param>
/// <param name="DueAt">When it became due.</param>
public sealed record SimulatedWebhook(string Payload, IReadOnlyDictionary<string, string> Headers, [property: JsonPropertyOrder(1)] Instant DueAt)
{
    // The generated equality compares fields: these compare by content where the properties' types would not.
    // Declared here, these properties would serialize after the positional ones: JsonPropertyOrder keeps the parameter order.
    private readonly ValueDictionary<string, string> _headers = ValueDictionary<string, string>.Of(Headers);

    /// <summary>The headers, including the signature. Kept as an immutable copy that compares by content.</summary>
    public IReadOnlyDictionary<string, string> Headers
    {
        get => _headers;
        init => _headers = ValueDictionary<string, string>.Of(value);
    }
}

/// <summary>
/// A deterministic, in-memory stand-in for a card provider, used by the tests and the sample. It
/// keeps each payment and refund by PaymentsKit's reference (so repeated calls are idempotent),
/// declines or times out as <see cref="SimulatedProviderOptions"/> decides, derives its ids from the
/// reference, and queues one signed webhook per settled operation, due after a delay on the clock;
/// <see cref="TakeDueWebhooks"/> hands them over for delivery. Its webhooks are signed per Standard Webhooks
/// (<c>webhook-id</c>, <c>webhook-timestamp</c>, <c>webhook-signature</c>), as providers built on it sign theirs,
/// and <see cref="ParseWebhook"/> checks them with PaymentsKit's own <see cref="WebhookVerifier"/>.
/// </summary>
public sealed class SimulatedPaymentProvider : IPaymentProvider
{
    private readonly IClock _clock;
    private readonly SimulatedProviderOptions _options;
    private readonly WebhookSecret _secret;
    private readonly WebhookVerifier _verifier;
    private readonly Lock _lock = new();
    private readonly Dictionary<string, ProviderResult> _payments = new(StringComparer.Ordinal);
    private readonly Dictionary<string, ProviderResult> _refunds = new(StringComparer.Ordinal);
    private readonly List<SimulatedWebhook> _webhooks = [];
    private long _eventCounter;

    /// <summary>Creates a simulated provider answering as <paramref name="name"/>.</summary>
    public SimulatedPaymentProvider(PaymentProvider name, IClock clock, SimulatedProviderOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(clock);
        Name = name;
        _clock = clock;
        _options = options ?? new SimulatedProviderOptions();
        _secret = Webhooks.WebhookSecret.Parse(_options.WebhookSecret);
        _verifier = new WebhookVerifier(clock, [_secret], _options.SignatureTolerance);
    }

    /// <inheritdoc />
    public PaymentProvider Name { get; }

    /// <summary>How many provider calls were made (charges, authorizations, captures, cancels, refunds, polls).</summary>
    public int CallCount { get; private set; }

    /// <inheritdoc />
    public ValueTask<ProviderResult> ChargeAsync(ProviderPaymentRequest request, CancellationToken cancellationToken = default) =>
        Pay(request, ProviderOutcome.Succeeded, cancellationToken);

    /// <inheritdoc />
    public ValueTask<ProviderResult> AuthorizeAsync(ProviderPaymentRequest request, CancellationToken cancellationToken = default) =>
        Pay(request, ProviderOutcome.Authorized, cancellationToken);

    /// <inheritdoc />
    public ValueTask<ProviderResult> CaptureAsync(ProviderPaymentReference payment, CancellationToken cancellationToken = default) =>
        Move(payment, ProviderOutcome.Succeeded, cancellationToken);

    /// <inheritdoc />
    public ValueTask<ProviderResult> CancelAsync(ProviderPaymentReference payment, CancellationToken cancellationToken = default) =>
        Move(payment, ProviderOutcome.Cancelled, cancellationToken);

    /// <inheritdoc />
    public ValueTask<ProviderResult> RefundAsync(ProviderRefundRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            CallCount++;
            if (_refunds.TryGetValue(request.Reference, out var known))
            {
                return ValueTask.FromResult(known);
            }

            var paid = _payments.TryGetValue(request.Payment.Reference, out var payment) && payment.Outcome == ProviderOutcome.Succeeded;
            var behavior = paid ? _options.Refunds(request) : new SimulatedBehavior(false, DeclineCode: "charge_not_captured");
            var result = Settle(_refunds, ProviderWebhookSubject.Refund, request.Reference, "re_sim_", behavior.Succeeds ? ProviderOutcome.Succeeded : ProviderOutcome.Declined, behavior.DeclineCode);
            return behavior.TimesOut ? throw Timeout(request.Reference) : ValueTask.FromResult(result);
        }
    }

    /// <inheritdoc />
    public ValueTask<ProviderResult> GetPaymentAsync(ProviderPaymentReference payment, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(payment);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            CallCount++;
            return ValueTask.FromResult(_payments.GetValueOrDefault(payment.Reference) ?? new ProviderResult(ProviderOutcome.Unknown));
        }
    }

    /// <inheritdoc />
    public ValueTask<ProviderResult> GetRefundAsync(string reference, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            CallCount++;
            return ValueTask.FromResult(_refunds.GetValueOrDefault(reference) ?? new ProviderResult(ProviderOutcome.Unknown));
        }
    }

    /// <summary>Removes and returns the webhooks due by now, oldest first.</summary>
    public IReadOnlyList<SimulatedWebhook> TakeDueWebhooks()
    {
        var now = _clock.GetCurrentInstant();
        lock (_lock)
        {
            var due = _webhooks.Where(w => w.DueAt <= now).ToList();
            _webhooks.RemoveAll(w => w.DueAt <= now);
            return due;
        }
    }

    /// <summary>
    /// Signs a body as the provider would, at the clock's current time: Standard Webhooks headers, the message id
    /// derived from the body.
    /// </summary>
    public IReadOnlyDictionary<string, string> Sign(string payload)
    {
        ArgumentNullException.ThrowIfNull(payload);
        return Headers(IdFor("msg_sim_", payload), _clock.GetCurrentInstant(), payload);
    }

    /// <inheritdoc />
    public ProviderWebhookEvent ParseWebhook(string payload, IReadOnlyDictionary<string, string> headers)
    {
        ArgumentNullException.ThrowIfNull(payload);
        ArgumentNullException.ThrowIfNull(headers);
        // Verified as any Standard Webhooks sender's are (the spec's raw body, constant-time compare, timestamp tolerance).
        string? Header(string name) => headers.FirstOrDefault(h => string.Equals(h.Key, name, StringComparison.OrdinalIgnoreCase)).Value;
        var verdict = _verifier.Check(
            Header(WebhookSigner.IdHeader), Header(WebhookSigner.TimestampHeader), Header(WebhookSigner.SignatureHeader), Encoding.UTF8.GetBytes(payload));
        if (verdict != WebhookVerificationResult.Valid)
        {
            throw new PaymentsKitException(
                PaymentsKitErrorCodes.InvalidSignature,
                $"Webhook rejected: {verdict}.",
                new Dictionary<string, object?> { ["header"] = WebhookSigner.SignatureHeader, ["reason"] = verdict.ToString() });
        }

        try
        {
            using var document = JsonDocument.Parse(payload);
            var root = document.RootElement;
            var type = root.GetProperty("type").GetString();
            var data = root.GetProperty("data");
            var (subject, outcome) = type switch
            {
                "payment.succeeded" => (ProviderWebhookSubject.Payment, ProviderOutcome.Succeeded),
                "payment.authorized" => (ProviderWebhookSubject.Payment, ProviderOutcome.Authorized),
                "payment.failed" => (ProviderWebhookSubject.Payment, ProviderOutcome.Declined),
                "payment.cancelled" => (ProviderWebhookSubject.Payment, ProviderOutcome.Cancelled),
                "refund.succeeded" => (ProviderWebhookSubject.Refund, ProviderOutcome.Succeeded),
                "refund.failed" => (ProviderWebhookSubject.Refund, ProviderOutcome.Declined),
                _ => throw PaymentsKitException.InvalidArgument("webhook.type", type, "is not a known event type"),
            };
            var result = new ProviderResult(
                outcome,
                data.GetProperty("id").GetString(),
                data.TryGetProperty("error_code", out var code) ? code.GetString() : null,
                data.TryGetProperty("error_message", out var message) ? message.GetString() : null,
                data.Clone());
            return new ProviderWebhookEvent(root.GetProperty("id").GetString()!, subject, data.GetProperty("reference").GetString()!, result);
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            throw new PaymentsKitException(
                PaymentsKitErrorCodes.InvalidArgument,
                $"webhook body is not a simulated provider event: {ex.Message}",
                new Dictionary<string, object?> { ["field"] = "webhook" },
                innerException: ex);
        }
    }

    private static TimeoutException Timeout(string reference) => new($"The simulated provider did not answer in time for {reference}.");

    private static string IdFor(string prefix, string reference) =>
        prefix + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(reference)))[..24];

    private ValueTask<ProviderResult> Pay(ProviderPaymentRequest request, ProviderOutcome success, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            CallCount++;
            if (_payments.TryGetValue(request.Reference, out var known))
            {
                return ValueTask.FromResult(known);
            }

            var behavior = _options.Payments(request);
            var result = Settle(_payments, ProviderWebhookSubject.Payment, request.Reference, "pi_sim_", behavior.Succeeds ? success : ProviderOutcome.Declined, behavior.DeclineCode);
            return behavior.TimesOut ? throw Timeout(request.Reference) : ValueTask.FromResult(result);
        }
    }

    private ValueTask<ProviderResult> Move(ProviderPaymentReference payment, ProviderOutcome to, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(payment);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_lock)
        {
            CallCount++;
            if (!_payments.TryGetValue(payment.Reference, out var current) || current.Outcome is not (ProviderOutcome.Authorized or ProviderOutcome.Succeeded or ProviderOutcome.Cancelled))
            {
                return ValueTask.FromResult(new ProviderResult(ProviderOutcome.Declined, ErrorCode: "payment_not_authorized", ErrorMessage: "No authorization to move."));
            }

            // Repeating a capture or cancel returns the settled state, as an idempotent provider does.
            return ValueTask.FromResult(current.Outcome == ProviderOutcome.Authorized
                ? Settle(_payments, ProviderWebhookSubject.Payment, payment.Reference, "pi_sim_", to, null)
                : current);
        }
    }

    private ProviderResult Settle(
        Dictionary<string, ProviderResult> book, ProviderWebhookSubject subject, string reference, string idPrefix, ProviderOutcome outcome, string? declineCode)
    {
        var id = IdFor(idPrefix, reference);
        var failed = outcome == ProviderOutcome.Declined;
        var type = (subject, outcome) switch
        {
            (ProviderWebhookSubject.Payment, ProviderOutcome.Succeeded) => "payment.succeeded",
            (ProviderWebhookSubject.Payment, ProviderOutcome.Authorized) => "payment.authorized",
            (ProviderWebhookSubject.Payment, ProviderOutcome.Cancelled) => "payment.cancelled",
            (ProviderWebhookSubject.Payment, _) => "payment.failed",
            (ProviderWebhookSubject.Refund, ProviderOutcome.Succeeded) => "refund.succeeded",
            _ => "refund.failed",
        };
        var data = new JsonObject
        {
            ["id"] = id,
            ["reference"] = reference,
            ["status"] = type[(type.IndexOf('.', StringComparison.Ordinal) + 1)..],
        };
        if (failed)
        {
            data["error_code"] = declineCode;
            data["error_message"] = $"The simulated provider declined {reference} ({declineCode}).";
        }

        var response = JsonSerializer.SerializeToElement(data);
        var result = new ProviderResult(outcome, id, failed ? declineCode : null, failed ? data["error_message"]!.GetValue<string>() : null, response);
        book[reference] = result;

        _eventCounter++;
        var payload = new JsonObject
        {
            ["id"] = IdFor("evt_sim_", FormattableString.Invariant($"{reference}:{_eventCounter}")),
            ["type"] = type,
            ["data"] = data.DeepClone(),
        }.ToJsonString();
        var dueAt = _clock.GetCurrentInstant() + _options.WebhookDelay;
        _webhooks.Add(new SimulatedWebhook(payload, Headers(IdFor("msg_sim_", FormattableString.Invariant($"{reference}:{_eventCounter}")), dueAt, payload), dueAt));
        return result;
    }

    private Dictionary<string, string> Headers(string messageId, Instant timestamp, string payload)
    {
        var signed = WebhookSigner.CreateHeaders([_secret], messageId, timestamp, Encoding.UTF8.GetBytes(payload));
        return new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase)
        {
            [WebhookSigner.IdHeader] = signed.Id,
            [WebhookSigner.TimestampHeader] = signed.Timestamp,
            [WebhookSigner.SignatureHeader] = signed.Signature,
        };
    }
}
