using System.Globalization;

namespace PaymentsKit.Orchestration;

/// <summary>Input checks of the orchestration module; each failure names the field and value.</summary>
internal static class OrchestrationRules
{
    public const int MaxRateLimitPerMinute = 100_000;
    public const int MaxMetadataEntries = 50;
    public const int MaxMetadataKeyLength = 40;
    public const int MaxMetadataValueLength = 500;

    public static string Email(string? value, string field)
    {
        Guard.Text(value, field, 255);
        var at = value!.IndexOf('@', StringComparison.Ordinal);
        if (at < 1 || at != value.LastIndexOf('@') || at == value.Length - 1 || value.Any(char.IsWhiteSpace)
            || !value.AsSpan(at + 1).Contains('.'))
        {
            throw PaymentsKitException.InvalidArgument(field, value, "is not an email address");
        }

        return value;
    }

    public static IReadOnlyDictionary<string, string>? Metadata(IReadOnlyDictionary<string, string>? metadata, string field)
    {
        if (metadata is null)
        {
            return null;
        }

        if (metadata.Count > MaxMetadataEntries)
        {
            throw PaymentsKitException.InvalidArgument(
                field, metadata.Count, string.Create(CultureInfo.InvariantCulture, $"must have at most {MaxMetadataEntries} entries"));
        }

        foreach (var (key, value) in metadata)
        {
            Guard.Text(key, field + ".key", MaxMetadataKeyLength);
            Guard.Value(value, $"{field}.{key}", MaxMetadataValueLength);
        }

        // A private copy, so a caller mutating its dictionary cannot change a stored record.
        return new Dictionary<string, string>(metadata, StringComparer.Ordinal);
    }

    public static int RateLimit(int value, string field) =>
        value is >= 1 and <= MaxRateLimitPerMinute
            ? value
            : throw PaymentsKitException.InvalidArgument(
                field, value, string.Create(CultureInfo.InvariantCulture, $"must be between 1 and {MaxRateLimitPerMinute}"));

    public static string? WebhookUrl(string? value, string field)
    {
        if (value is null)
        {
            return null;
        }

        Guard.Text(value, field, 512);
        if (!Uri.TryCreate(value, UriKind.Absolute, out var uri)
            || !(uri.Scheme == Uri.UriSchemeHttps || (uri.Scheme == Uri.UriSchemeHttp && uri.IsLoopback)))
        {
            throw PaymentsKitException.InvalidArgument(field, value, "must be an absolute https URL (http only for loopback hosts)");
        }

        return value;
    }

    public static PaymentProvider Provider(string? value) =>
        value switch
        {
            "stripe" => PaymentProvider.Stripe,
            "paypal" => PaymentProvider.Paypal,
            "adyen" => PaymentProvider.Adyen,
            "manual" => PaymentProvider.Manual,
            _ => throw new PaymentsKitException(
                PaymentsKitErrorCodes.UnknownProvider,
                $"provider '{value}' is not one of stripe, paypal, adyen, manual.",
                new Dictionary<string, object?> { ["field"] = "provider", ["value"] = value }),
        };

    public static string Name(PaymentProvider provider) => provider switch
    {
        PaymentProvider.Stripe => "stripe",
        PaymentProvider.Paypal => "paypal",
        PaymentProvider.Adyen => "adyen",
        PaymentProvider.Manual => "manual",
        _ => throw new ArgumentOutOfRangeException(nameof(provider), provider, "Unknown provider."),
    };

    public static PaymentsKitException NotFound(string resource, string id) =>
        new(PaymentsKitErrorCodes.NotFound, $"{resource} '{id}' does not exist.", new Dictionary<string, object?> { ["resource"] = resource, ["id"] = id });
}
