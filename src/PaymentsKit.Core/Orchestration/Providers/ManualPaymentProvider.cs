namespace PaymentsKit.Orchestration;

/// <summary>
/// The <c>manual</c> provider: payments settled outside PaymentsKit (cash, a bank transfer an
/// operator reconciled) and recorded here. Every call succeeds at once, so nothing is ever left
/// processing and there are no webhooks.
/// </summary>
public sealed class ManualPaymentProvider : IPaymentProvider
{
    /// <inheritdoc />
    public PaymentProvider Name => PaymentProvider.Manual;

    /// <inheritdoc />
    public ValueTask<ProviderResult> ChargeAsync(ProviderPaymentRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        return Answer(ProviderOutcome.Succeeded, request.Reference, cancellationToken);
    }

    /// <inheritdoc />
    public ValueTask<ProviderResult> AuthorizeAsync(ProviderPaymentRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        return Answer(ProviderOutcome.Authorized, request.Reference, cancellationToken);
    }

    /// <inheritdoc />
    public ValueTask<ProviderResult> CaptureAsync(ProviderPaymentReference payment, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(payment);
        return Answer(ProviderOutcome.Succeeded, payment.Reference, cancellationToken);
    }

    /// <inheritdoc />
    public ValueTask<ProviderResult> CancelAsync(ProviderPaymentReference payment, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(payment);
        return Answer(ProviderOutcome.Cancelled, payment.Reference, cancellationToken);
    }

    /// <inheritdoc />
    public ValueTask<ProviderResult> RefundAsync(ProviderRefundRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        return Answer(ProviderOutcome.Succeeded, request.Reference, cancellationToken);
    }

    /// <inheritdoc />
    /// <remarks>Manual payments keep no provider-side state to poll.</remarks>
    public ValueTask<ProviderResult> GetPaymentAsync(ProviderPaymentReference payment, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(payment);
        return Answer(ProviderOutcome.Unknown, payment.Reference, cancellationToken);
    }

    /// <inheritdoc />
    public ValueTask<ProviderResult> GetRefundAsync(string reference, CancellationToken cancellationToken = default) =>
        Answer(ProviderOutcome.Unknown, reference, cancellationToken);

    /// <inheritdoc />
    public ProviderWebhookEvent ParseWebhook(string payload, IReadOnlyDictionary<string, string> headers) =>
        throw PaymentsKitException.InvalidArgument("provider", "manual", "sends no webhooks");

    private static ValueTask<ProviderResult> Answer(ProviderOutcome outcome, string reference, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return ValueTask.FromResult(new ProviderResult(outcome, "manual_" + reference));
    }
}
