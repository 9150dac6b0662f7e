using PaymentsKit.Orchestration;

namespace PaymentsKit.Tests.Orchestration;

/// <summary>
/// A provider in front of another that can hold one status poll's answer until released (a poll answered before a
/// capture was sent but applied after it), answer the next status poll itself, fail its status polls with an error, lose a capture's answer after or before it
/// reached the provider, lose a charge, authorization or refund before it reached the provider, and be down altogether.
/// </summary>
public sealed class GatedPaymentProvider(IPaymentProvider inner) : IPaymentProvider
{
    private TaskCompletionSource? _pollAnswered;
    private TaskCompletionSource? _pollRelease;

    /// <summary>How the next capture call fails: not at all, after it reached the provider, or before.</summary>
    public CaptureLoss NextCapture { get; set; }

    public PaymentProvider Name => inner.Name;

    /// <summary>Holds the next poll's answer; the returned task completes once the provider has answered it.</summary>
    public Task HoldNextPoll()
    {
        _pollAnswered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _pollRelease = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        return _pollAnswered.Task;
    }

    /// <summary>Lets the held poll's answer reach the caller.</summary>
    public void ReleasePoll() => _pollRelease!.SetResult();

    /// <summary>Whether the next charge or authorization fails to connect, never reaching the provider.</summary>
    public bool LoseNextPayment { get; set; }

    /// <summary>Whether every charge, authorization, payment poll and refund poll fails to connect (the provider is down) until reset.</summary>
    public bool Down { get; set; }

    public ValueTask<ProviderResult> ChargeAsync(ProviderPaymentRequest request, CancellationToken cancellationToken = default) =>
        TakeLostPayment() ? throw new HttpRequestException("Connection refused.") : inner.ChargeAsync(request, cancellationToken);

    public ValueTask<ProviderResult> AuthorizeAsync(ProviderPaymentRequest request, CancellationToken cancellationToken = default) =>
        TakeLostPayment() ? throw new HttpRequestException("Connection refused.") : inner.AuthorizeAsync(request, cancellationToken);

    /// <summary>What every capture and cancel call answers instead of the provider behind (a refusal), until reset.</summary>
    public ProviderResult? MoveAnswer { get; set; }

    public async ValueTask<ProviderResult> CaptureAsync(ProviderPaymentReference payment, CancellationToken cancellationToken = default)
    {
        if (MoveAnswer is { } refused)
        {
            return refused;
        }

        var loss = NextCapture;
        NextCapture = CaptureLoss.None;
        if (loss == CaptureLoss.BeforeReachingProvider)
        {
            throw new TimeoutException("The capture never reached the provider.");
        }

        var result = await inner.CaptureAsync(payment, cancellationToken);
        return loss == CaptureLoss.AnswerLost ? throw new TimeoutException("The capture's answer was lost.") : result;
    }

    public ValueTask<ProviderResult> CancelAsync(ProviderPaymentReference payment, CancellationToken cancellationToken = default) =>
        MoveAnswer is { } refused ? ValueTask.FromResult(refused) : inner.CancelAsync(payment, cancellationToken);

    /// <summary>Whether the next refund fails to connect, never reaching the provider.</summary>
    public bool LoseNextRefund { get; set; }

    /// <summary>What every refund call and refund poll answers instead of the provider behind, until reset.</summary>
    public ProviderResult? RefundAnswer { get; set; }

    public ValueTask<ProviderResult> RefundAsync(ProviderRefundRequest request, CancellationToken cancellationToken = default)
    {
        var lost = LoseNextRefund;
        LoseNextRefund = false;
        return lost ? throw new HttpRequestException("Connection refused.")
            : RefundAnswer is { } answer ? ValueTask.FromResult(answer)
            : inner.RefundAsync(request, cancellationToken);
    }

    /// <summary>What the next status poll answers instead of the provider behind (a charge caught between its authorization and capture).</summary>
    public ProviderResult? NextPollAnswer { get; set; }

    /// <summary>Whether every payment poll throws an error of the provider's client (not a connection failure) until reset.</summary>
    public bool PollsFail { get; set; }

    /// <summary>What every payment and refund poll throws until reset: an error the provider's client reports as a refusal.</summary>
    public PaymentsKitException? PollRejection { get; set; }

    /// <summary>Runs at each payment poll before it is answered: a slow provider, whose test moves the clock by how long it takes.</summary>
    public Action? OnPoll { get; set; }

    public async ValueTask<ProviderResult> GetPaymentAsync(ProviderPaymentReference payment, CancellationToken cancellationToken = default)
    {
        OnPoll?.Invoke();
        if (Down)
        {
            throw new HttpRequestException("Connection refused.");
        }

        if (PollsFail)
        {
            throw new InvalidOperationException("The provider's client failed.");
        }

        if (PollRejection is { } rejection)
        {
            throw rejection;
        }

        var answer = NextPollAnswer;
        NextPollAnswer = null;
        var result = answer ?? await inner.GetPaymentAsync(payment, cancellationToken);
        var answered = _pollAnswered;
        _pollAnswered = null;
        if (answered is not null)
        {
            answered.SetResult();
            await _pollRelease!.Task;
        }

        return result;
    }

    public ValueTask<ProviderResult> GetRefundAsync(string reference, CancellationToken cancellationToken = default) =>
        Down ? throw new HttpRequestException("Connection refused.")
        : PollRejection is { } rejection ? throw rejection
        : RefundAnswer is { } answer ? ValueTask.FromResult(answer)
        : inner.GetRefundAsync(reference, cancellationToken);

    private bool TakeLostPayment()
    {
        if (Down)
        {
            return true;
        }

        var lost = LoseNextPayment;
        LoseNextPayment = false;
        return lost;
    }

    public ProviderWebhookEvent ParseWebhook(string payload, IReadOnlyDictionary<string, string> headers) => inner.ParseWebhook(payload, headers);
}

/// <summary>How a capture call is made to fail.</summary>
public enum CaptureLoss
{
    /// <summary>It answers normally.</summary>
    None,

    /// <summary>It reaches the provider, which captures, but the answer times out.</summary>
    AnswerLost,

    /// <summary>It times out before reaching the provider.</summary>
    BeforeReachingProvider,
}
