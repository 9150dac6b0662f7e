using System.Globalization;
using Microsoft.Extensions.Options;
using NodaTime;

namespace PaymentsKit.Webhooks;

/// <summary>How webhooks are delivered. Validated when the host starts; every problem is reported at once.</summary>
public sealed class WebhookDeliveryOptions
{
    /// <summary>The shortest allowed <see cref="Timeout"/>.</summary>
    public static readonly TimeSpan MinTimeout = TimeSpan.FromSeconds(15);

    /// <summary>The longest allowed <see cref="Timeout"/>.</summary>
    public static readonly TimeSpan MaxTimeout = TimeSpan.FromSeconds(30);

    /// <summary>How long one POST may take, 15–30 s. Default 15 s.</summary>
    public TimeSpan Timeout { get; set; } = MinTimeout;

    /// <summary>The longest allowed <see cref="LeaseDuration"/>.</summary>
    public static readonly TimeSpan MaxLeaseDuration = TimeSpan.FromDays(1);

    /// <summary>
    /// How long a claimed delivery stays leased to its dispatcher; at least <see cref="Timeout"/> + 10 s so an
    /// attempt always finishes inside its lease, and at most 1 day. A dispatcher that dies loses the lease after this
    /// and the delivery is claimed again. Default 2 minutes.
    /// </summary>
    public TimeSpan LeaseDuration { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>The most events scheduled, and deliveries claimed, per dispatch pass (1–1000). Default 100.</summary>
    public int BatchSize { get; set; } = 100;

    /// <summary>How many deliveries one dispatcher attempts at once (1–256). Default 16.</summary>
    public int MaxConcurrency { get; set; } = 16;

    /// <summary>When to retry and when to give up. Default <see cref="WebhookRetryPolicy.Standard"/>.</summary>
    public WebhookRetryPolicy RetryPolicy { get; set; } = WebhookRetryPolicy.Standard;

    /// <summary>Allow endpoints on loopback addresses, over plain http too (local development only). Default false.</summary>
    public bool AllowLoopback { get; set; }

    /// <summary>Allow endpoints on private networks (RFC 1918, CGNAT, IPv6 unique local). Default false.</summary>
    public bool AllowPrivateNetworks { get; set; }

    /// <summary>
    /// Makes the handler deliveries are sent through (tests, custom TLS). When null, the SSRF-guarded handler of
    /// <see cref="WebhookEndpointValidator.CreateHandler"/> is used. The guard still checks every URL before sending.
    /// </summary>
    public Func<HttpMessageHandler>? HttpMessageHandlerFactory { get; set; }

    /// <summary>The User-Agent of deliveries.</summary>
    public string UserAgent { get; set; } = "PaymentsKit-Webhooks/1.0";

    /// <summary>The SSRF policy these options describe.</summary>
    public WebhookEndpointPolicy EndpointPolicy => new() { AllowLoopback = AllowLoopback, AllowPrivateNetworks = AllowPrivateNetworks };

    /// <summary>Every problem with these options, as sentences naming the setting and its value.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (Timeout < MinTimeout || Timeout > MaxTimeout)
        {
            errors.Add(Invariant($"Webhooks:Timeout must be between 15 and 30 seconds (value: {Timeout})."));
        }

        if (LeaseDuration < Timeout + TimeSpan.FromSeconds(10))
        {
            errors.Add(Invariant($"Webhooks:LeaseDuration must be at least Timeout + 10 seconds (value: {LeaseDuration}, timeout: {Timeout})."));
        }

        // A dispatcher that dies holds its deliveries for the whole lease, and a lease of years would overflow the
        // lease's end (claim time + lease) on every claim.
        if (LeaseDuration > MaxLeaseDuration)
        {
            errors.Add(Invariant($"Webhooks:LeaseDuration must be at most 1 day (value: {LeaseDuration})."));
        }

        if (BatchSize is < 1 or > 1000)
        {
            errors.Add(Invariant($"Webhooks:BatchSize must be between 1 and 1000 (value: {BatchSize})."));
        }

        if (MaxConcurrency is < 1 or > 256)
        {
            errors.Add(Invariant($"Webhooks:MaxConcurrency must be between 1 and 256 (value: {MaxConcurrency})."));
        }

        if (RetryPolicy is null)
        {
            errors.Add("Webhooks:RetryPolicy is required.");
        }

        if (string.IsNullOrWhiteSpace(UserAgent))
        {
            errors.Add("Webhooks:UserAgent is required.");
        }

        return errors;
    }

    /// <summary>The lease as a NodaTime duration.</summary>
    internal Duration Lease => Duration.FromTimeSpan(LeaseDuration);

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}

/// <summary>Runs <see cref="WebhookDeliveryOptions.Validate"/> when the host starts.</summary>
internal sealed class WebhookDeliveryOptionsValidator : IValidateOptions<WebhookDeliveryOptions>
{
    public ValidateOptionsResult Validate(string? name, WebhookDeliveryOptions options)
    {
        var errors = options.Validate();
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
