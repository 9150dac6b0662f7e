using System.Text;
using NodaTime;

namespace PaymentsKit.Orchestration;

/// <summary>
/// A partner: the tenant that sends transactions. Its API key is kept only as a keyed hash plus a
/// visible lookup prefix; its webhook secret is kept because outbound webhooks are signed with it.
/// Neither secret is printed by <see cref="ToString"/>.
/// </summary>
public sealed record Partner
{
    /// <summary>The partner id.</summary>
    public required PartnerId Id { get; init; }

    /// <summary>The display name (1–255 characters).</summary>
    public required string Name { get; init; }

    /// <summary>The contact email, unique among partners (compared case-insensitively).</summary>
    public required string Email { get; init; }

    /// <summary>The keyed hash of the API key (see <see cref="Security.ApiKeyHasher"/>).</summary>
    public required string ApiKeyHash { get; init; }

    /// <summary>The API key's non-secret lookup prefix, unique among partners.</summary>
    public required string ApiKeyPrefix { get; init; }

    /// <summary>Whether the partner may make calls.</summary>
    public required bool IsActive { get; init; }

    /// <summary>How many calls per minute the host's <see cref="IPartnerRateLimiter"/> lets through.</summary>
    public required int RateLimitPerMinute { get; init; }

    /// <summary>Where the partner receives webhooks, if anywhere.</summary>
    public string? WebhookUrl { get; init; }

    /// <summary>The secret outbound webhooks to <see cref="WebhookUrl"/> are signed with.</summary>
    public string? WebhookSecret { get; init; }

    private readonly ValueDictionary<string, string>? _metadata;

    /// <summary>Free-form key/value pairs. Kept as an immutable copy that compares by content.</summary>
    public IReadOnlyDictionary<string, string>? Metadata
    {
        get => _metadata;
        init => _metadata = ValueDictionary<string, string>.Of(value);
    }

    /// <summary>When the partner was created.</summary>
    public required Instant CreatedAt { get; init; }

    /// <summary>When the partner last changed.</summary>
    public required Instant UpdatedAt { get; init; }

    /// <summary>When the partner was soft-deleted, if it was.</summary>
    public Instant? DeletedAt { get; init; }

    private bool PrintMembers(StringBuilder builder)
    {
        builder.Append("Id = ").Append(Id).Append(", Name = ").Append(Name).Append(", ApiKeyPrefix = ").Append(ApiKeyPrefix)
            .Append(", IsActive = ").Append(IsActive).Append(", DeletedAt = ").Append(DeletedAt);
        return true;
    }
}

/// <summary>A partner together with its new API key, which is shown once and never stored.</summary>
/// <param name="Partner">The partner.</param>
/// <param name="ApiKey">The full API key; hand it to the partner and forget it.</param>
public sealed record PartnerWithApiKey(Partner Partner, string ApiKey)
{
    /// <summary>Never prints the key.</summary>
    public override string ToString() => $"{Partner} (api key {Partner.ApiKeyPrefix}…)";
}

/// <summary>Creates a partner.</summary>
/// <param name="Name">The display name (1–255 characters).</param>
/// <param name="Email">The contact email, unique among partners.</param>
public sealed record CreatePartnerRequest(string Name, string Email)
{
    /// <summary>Calls per minute (1–100,000); the configured default when null.</summary>
    public int? RateLimitPerMinute { get; init; }

    /// <summary>An absolute https URL (http only for loopback hosts), at most 512 characters; a webhook secret is generated with it.</summary>
    public string? WebhookUrl { get; init; }

    private readonly ValueDictionary<string, string>? _metadata;

    /// <summary>Up to 50 key/value pairs (keys 1–40 characters, values up to 500). Kept as an immutable copy that compares by content.</summary>
    public IReadOnlyDictionary<string, string>? Metadata
    {
        get => _metadata;
        init => _metadata = ValueDictionary<string, string>.Of(value);
    }

    /// <summary>Whether the partner starts active. Default true.</summary>
    public bool IsActive { get; init; } = true;
}

/// <summary>Changes a partner; null fields are left as they are.</summary>
public sealed record UpdatePartnerRequest
{
    /// <summary>A new display name.</summary>
    public string? Name { get; init; }

    /// <summary>Activates or deactivates the partner.</summary>
    public bool? IsActive { get; init; }

    /// <summary>A new rate limit (1–100,000 per minute).</summary>
    public int? RateLimitPerMinute { get; init; }

    /// <summary>A new webhook URL (a secret is generated if the partner has none).</summary>
    public string? WebhookUrl { get; init; }

    private readonly ValueDictionary<string, string>? _metadata;

    /// <summary>Replaces the metadata. Kept as an immutable copy that compares by content.</summary>
    public IReadOnlyDictionary<string, string>? Metadata
    {
        get => _metadata;
        init => _metadata = ValueDictionary<string, string>.Of(value);
    }
}
