using PaymentsKit.Orchestration;
using PaymentsKit.Storage;
using PaymentsKit.Testing;

namespace PaymentsKit.Tests.Orchestration;

public abstract class PartnerServiceTests : OrchestrationStoreTests
{
    [Fact]
    public async Task Create_ReturnsAKeyOnce_StoresOnlyItsHash_AndTheKeyAuthenticates()
    {
        using var h = await HarnessAsync();
        var email = UniqueEmail();
        var created = await h.Partners.CreateAsync(
            new CreatePartnerRequest("Acme", email) { WebhookUrl = "https://acme.example/hooks", RateLimitPerMinute = 7 }, Context);
        var partner = created.Partner;
        Assert.StartsWith("ptn_", created.ApiKey, StringComparison.Ordinal);
        Assert.StartsWith(partner.ApiKeyPrefix, created.ApiKey, StringComparison.Ordinal);
        Assert.Equal("ptn_".Length + 8, partner.ApiKeyPrefix.Length);
        Assert.DoesNotContain(created.ApiKey, partner.ApiKeyHash, StringComparison.Ordinal);
        Assert.DoesNotContain(created.ApiKey, created.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain(partner.WebhookSecret!, partner.ToString(), StringComparison.Ordinal);
        Assert.StartsWith("whsec_", partner.WebhookSecret, StringComparison.Ordinal);
        Assert.Equal(7, partner.RateLimitPerMinute);
        Assert.True(partner.IsActive);

        var authenticated = await h.Partners.AuthenticateAsync(created.ApiKey);
        Assert.Equal(partner.Id, authenticated.Id);

        var audit = Assert.Single(await h.AuditAsync(partner.Id));
        Assert.Equal("partner.create", audit.Action);
        Assert.Equal(AuditOutcome.Succeeded, audit.Outcome);
        var after = audit.Changes!.After!.Value.GetRawText();
        Assert.DoesNotContain("api_key_hash", after, StringComparison.Ordinal);
        Assert.DoesNotContain("webhook_secret", after, StringComparison.Ordinal);
        Assert.Equal(email, audit.Changes.After.Value.GetProperty("email").GetString());
    }

    [Fact]
    public async Task Authenticate_RejectsWrongMalformedAndUnknownKeys()
    {
        using var h = await HarnessAsync();
        var created = await h.Partners.CreateAsync(new CreatePartnerRequest("Acme", UniqueEmail()), Context);
        var key = created.ApiKey;
        var tampered = key[..^1] + (key[^1] == 'A' ? 'B' : 'A');
        await ThrowsCodeAsync(PaymentsKitErrorCodes.InvalidApiKey, () => h.Partners.AuthenticateAsync(tampered).AsTask());
        await ThrowsCodeAsync(PaymentsKitErrorCodes.InvalidApiKey, () => h.Partners.AuthenticateAsync("ptn_short").AsTask());
        await ThrowsCodeAsync(PaymentsKitErrorCodes.InvalidApiKey, () => h.Partners.AuthenticateAsync(null).AsTask());
        await ThrowsCodeAsync(PaymentsKitErrorCodes.InvalidApiKey, () => h.Partners.AuthenticateAsync("ptn_" + new string('z', 40)).AsTask());
    }

    [Fact]
    public async Task Emails_AreUniqueCaseInsensitively_AndTheRejectionIsAudited()
    {
        using var h = await HarnessAsync();
        var email = UniqueEmail();
        await h.Partners.CreateAsync(new CreatePartnerRequest("Acme", email), Context);
        var before = (await AnonymousAuditAsync(h)).Select(a => a.Id).ToHashSet();
        var ex = await ThrowsCodeAsync(PaymentsKitErrorCodes.DuplicateKey, () => h.Partners.CreateAsync(new CreatePartnerRequest("Other", email.ToUpperInvariant()), Context).AsTask());
        Assert.Contains("email", ex.Message, StringComparison.Ordinal);
        var rejected = Assert.Single(await AnonymousAuditAsync(h), a => !before.Contains(a.Id));
        Assert.Equal(("partner.create", AuditOutcome.Rejected, PaymentsKitErrorCodes.DuplicateKey), (rejected.Action, rejected.Outcome, rejected.ErrorCode));
    }

    [Theory]
    [InlineData("", "a@b.example", null, null)]
    [InlineData("Acme", "not-an-email", null, null)]
    [InlineData("Acme", "a@b.example", 0, null)]
    [InlineData("Acme", "a@b.example", 100_001, null)]
    [InlineData("Acme", "a@b.example", null, "http://acme.example/hooks")]
    [InlineData("Acme", "a@b.example", null, "not a url")]
    public async Task BadPartnerInput_IsInvalidArgument(string name, string email, int? rateLimit, string? webhookUrl)
    {
        using var h = await HarnessAsync();
        var before = (await AnonymousAuditAsync(h)).Select(a => a.Id).ToHashSet();
        await ThrowsCodeAsync(
            PaymentsKitErrorCodes.InvalidArgument,
            () => h.Partners.CreateAsync(new CreatePartnerRequest(name, email) { RateLimitPerMinute = rateLimit, WebhookUrl = webhookUrl }, Context).AsTask());
        Assert.Equal(AuditOutcome.Rejected, Assert.Single(await AnonymousAuditAsync(h), a => !before.Contains(a.Id)).Outcome);
    }

    [Fact]
    public async Task InactiveAndDeletedPartners_CannotAuthenticate()
    {
        using var h = await HarnessAsync();
        var created = await h.Partners.CreateAsync(new CreatePartnerRequest("Acme", UniqueEmail()), Context);
        var id = created.Partner.Id;
        await h.Partners.UpdateAsync(id, new UpdatePartnerRequest { IsActive = false }, Context);
        await ThrowsCodeAsync(PaymentsKitErrorCodes.PartnerInactive, () => h.Partners.AuthenticateAsync(created.ApiKey).AsTask());
        await h.Partners.UpdateAsync(id, new UpdatePartnerRequest { IsActive = true }, Context);
        Assert.Equal(id, (await h.Partners.AuthenticateAsync(created.ApiKey)).Id);

        var deleted = await h.Partners.DeleteAsync(id, Context);
        Assert.NotNull(deleted.DeletedAt);
        Assert.False(deleted.IsActive);
        await ThrowsCodeAsync(PaymentsKitErrorCodes.PartnerDeleted, () => h.Partners.AuthenticateAsync(created.ApiKey).AsTask());
        await AssertRejectedAsync(h, id, PaymentsKitErrorCodes.PartnerDeleted, () => h.Partners.UpdateAsync(id, new UpdatePartnerRequest { Name = "Back" }, Context).AsTask());
        await AssertRejectedAsync(h, id, PaymentsKitErrorCodes.PartnerDeleted, () => h.Partners.DeleteAsync(id, Context).AsTask());
        Assert.NotNull((await h.Partners.GetAsync(id)).DeletedAt);
    }

    [Fact]
    public async Task RotatingTheKey_RetiresTheOldOne()
    {
        using var h = await HarnessAsync();
        var created = await h.Partners.CreateAsync(new CreatePartnerRequest("Acme", UniqueEmail()), Context);
        var rotated = await h.Partners.RotateApiKeyAsync(created.Partner.Id, Context);
        Assert.NotEqual(created.ApiKey, rotated.ApiKey);
        await ThrowsCodeAsync(PaymentsKitErrorCodes.InvalidApiKey, () => h.Partners.AuthenticateAsync(created.ApiKey).AsTask());
        Assert.Equal(created.Partner.Id, (await h.Partners.AuthenticateAsync(rotated.ApiKey)).Id);
        Assert.Equal(["partner.create", "partner.rotate_api_key"], (await h.AuditAsync(created.Partner.Id)).Select(a => a.Action).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Update_ChangesOnlyWhatItNames_AndAuditsBeforeAndAfter()
    {
        using var h = await HarnessAsync();
        var partner = (await h.Partners.CreateAsync(new CreatePartnerRequest("Acme", UniqueEmail()), Context)).Partner;
        var updated = await h.Partners.UpdateAsync(
            partner.Id, new UpdatePartnerRequest { Name = "Acme Ltd", WebhookUrl = "https://acme.example/h", Metadata = new Dictionary<string, string> { ["tier"] = "gold" } }, Context);
        Assert.Equal("Acme Ltd", updated.Name);
        Assert.Equal(partner.Email, updated.Email);
        Assert.Equal(partner.RateLimitPerMinute, updated.RateLimitPerMinute);
        Assert.NotNull(updated.WebhookSecret);
        Assert.Equal("gold", updated.Metadata!["tier"]);
        var entry = Assert.Single(await h.AuditAsync(partner.Id), a => a.Action == "partner.update");
        Assert.Contains("\"Acme\"", entry.Changes!.Before!.Value.GetRawText(), StringComparison.Ordinal);
        Assert.Contains("\"Acme Ltd\"", entry.Changes.After!.Value.GetRawText(), StringComparison.Ordinal);
        await ThrowsCodeAsync(PaymentsKitErrorCodes.NotFound, () => h.Partners.GetAsync(PartnerId.New(h.Clock)).AsTask());
    }

    private static async Task<IReadOnlyList<AuditLogEntry>> AnonymousAuditAsync(OrchestrationHarness h)
    {
        var entries = new List<AuditLogEntry>();
        await using var unit = await h.Store.BeginAsync();
        string? cursor = null;
        do
        {
            var page = await unit.ListAsync(OrchestrationCollections.AuditLogs, Guid.Empty, cursor, 1000);
            entries.AddRange(page.Items.Select(v => v.Value));
            cursor = page.NextCursor;
        }
        while (cursor is not null);
        return entries;
    }

    [Fact]
    public async Task Racing_Key_Rotations_Leave_Exactly_One_Of_The_Returned_Keys_Valid()
    {
        using var h = await HarnessAsync();
        var created = await h.Partners.CreateAsync(new CreatePartnerRequest("Acme", UniqueEmail()), Context);

        var outcomes = await Race.RunAsync(Race.Times(10, "rotate", async () => (await h.Partners.RotateApiKeyAsync(created.Partner.Id, Context)).ApiKey));

        Assert.All(outcomes, o => Assert.True(o.Won, o.ToString()));
        var valid = new List<string>();
        foreach (var key in outcomes.Select(o => o.Value!).Append(created.ApiKey))
        {
            try
            {
                Assert.Equal(created.Partner.Id, (await h.Partners.AuthenticateAsync(key)).Id);
                valid.Add(key);
            }
            catch (PaymentsKitException ex) when (ex.Code == PaymentsKitErrorCodes.InvalidApiKey)
            {
            }
        }

        Assert.Single(valid);
    }
}
