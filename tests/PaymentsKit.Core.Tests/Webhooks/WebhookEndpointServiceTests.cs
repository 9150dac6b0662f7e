using NodaTime;
using PaymentsKit.Storage;
using PaymentsKit.Testing;
using PaymentsKit.Webhooks;

namespace PaymentsKit.Core.Tests.Webhooks;

public class WebhookEndpointServiceTests
{
    private static readonly Guid Tenant = Guid.CreateVersion7();

    private readonly ManualClock _clock = new();
    private readonly InMemoryStore _store = new();
    private readonly FakeAddressResolver _resolver = new FakeAddressResolver()
        .Set("hooks.example.com", "93.184.216.34")
        .Set("internal.example.com", "10.0.0.1")
        .Set("metadata.example.com", "169.254.169.254")
        .Set("loopback6.example.com", "::1")
        .Set("mixed.example.com", "93.184.216.34", "10.0.0.1")
        .Set("localhost", "127.0.0.1");

    private WebhookEndpointService Service(WebhookEndpointPolicy? policy = null) =>
        new(_store, _clock, new WebhookEndpointValidator(_resolver, policy ?? WebhookEndpointPolicy.Default));

    [Theory]
    [InlineData("https://10.0.0.1/hooks")]
    [InlineData("https://169.254.169.254/latest/meta-data")]
    [InlineData("https://[::1]/hooks")]
    [InlineData("https://internal.example.com/hooks")]
    [InlineData("https://metadata.example.com/hooks")]
    [InlineData("https://loopback6.example.com/hooks")]
    [InlineData("https://mixed.example.com/hooks")]
    [InlineData("https://unknown.example.com/hooks")]
    [InlineData("http://hooks.example.com/hooks")]
    [InlineData("http://127.0.0.1:8080/hooks")]
    [InlineData("ftp://hooks.example.com/hooks")]
    [InlineData("https://user:pass@hooks.example.com/hooks")]
    [InlineData("https://hooks.example.com:0/hooks")]
    public async Task Registration_rejects_urls_the_ssrf_guard_refuses(string url)
    {
        var error = await Assert.ThrowsAsync<PaymentsKitException>(() =>
            Service().RegisterAsync(Tenant, new RegisterWebhookEndpoint { Url = new Uri(url) }).AsTask());
        Assert.Equal(PaymentsKitErrorCodes.WebhookEndpointRejected, error.Code);
        Assert.Equal(new Uri(url).ToString(), error.Context["value"]);
        Assert.Empty(await Service().ListAsync(Tenant));
    }

    [Theory]
    [InlineData("ftp://tarpit.example.com/hooks")]
    [InlineData("https://user:pass@tarpit.example.com/hooks")]
    [InlineData("https://tarpit.example.com:0/hooks")]
    public async Task A_url_refused_for_itself_is_refused_without_resolving_its_host(string url)
    {
        // A host whose name server never answers: a check that looked it up first would hang until cancelled.
        var validator = new WebhookEndpointValidator(new FakeAddressResolver().Hang("tarpit.example.com"), WebhookEndpointPolicy.Default);

        var (addresses, reason) = await validator.CheckAsync(new Uri(url)).AsTask().WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Empty(addresses);
        Assert.NotNull(reason);
    }

    [Fact]
    public async Task Registration_accepts_public_https_and_loopback_http_only_when_allowed()
    {
        var registered = await Service().RegisterAsync(Tenant, new RegisterWebhookEndpoint { Url = new Uri("https://hooks.example.com/in"), Ordered = true });
        Assert.Equal("https://hooks.example.com/in", registered.Endpoint.Url);
        Assert.True(registered.Endpoint.Ordered);
        Assert.Equal(WebhookEndpointStatus.Enabled, registered.Endpoint.Status);
        Assert.StartsWith("whsec_", registered.Secret.Reveal(), StringComparison.Ordinal);
        Assert.DoesNotContain(registered.Secret.Reveal(), registered.Endpoint.Secrets[0].ToString(), StringComparison.Ordinal);

        var dev = Service(new WebhookEndpointPolicy { AllowLoopback = true });
        var local = await dev.RegisterAsync(Tenant, new RegisterWebhookEndpoint { Url = new Uri("http://localhost:5000/hooks") });
        Assert.Equal(WebhookEndpointStatus.Enabled, local.Endpoint.Status);
        await Assert.ThrowsAsync<PaymentsKitException>(() =>
            dev.RegisterAsync(Tenant, new RegisterWebhookEndpoint { Url = new Uri("http://internal.example.com/") }).AsTask());
        Assert.Equal(2, (await Service().ListAsync(Tenant)).Count);
    }

    [Theory]
    [InlineData("Invoice.paid")]
    [InlineData("invoice")]
    [InlineData("invoice.")]
    [InlineData("*")]
    [InlineData("invoice.paid.extra")]
    public async Task Bad_event_type_filters_are_invalid_arguments(string filter)
    {
        var error = await Assert.ThrowsAsync<PaymentsKitException>(() =>
            Service().RegisterAsync(Tenant, new RegisterWebhookEndpoint { Url = new Uri("https://hooks.example.com/"), EventTypes = [filter] }).AsTask());
        Assert.Equal(PaymentsKitErrorCodes.InvalidArgument, error.Code);
        Assert.Equal("event_types", error.Context["field"]);
    }

    [Fact]
    public async Task Missing_fields_and_an_empty_tenant_are_invalid_arguments()
    {
        var noUrl = await Assert.ThrowsAsync<PaymentsKitException>(() => Service().RegisterAsync(Tenant, new RegisterWebhookEndpoint()).AsTask());
        Assert.Equal("webhook_url", noUrl.Context["field"]);
        var noTenant = await Assert.ThrowsAsync<PaymentsKitException>(() =>
            Service().RegisterAsync(Guid.Empty, new RegisterWebhookEndpoint { Url = new Uri("https://hooks.example.com/") }).AsTask());
        Assert.Equal("tenant_id", noTenant.Context["field"]);
        var relative = await Assert.ThrowsAsync<PaymentsKitException>(() =>
            Service().RegisterAsync(Tenant, new RegisterWebhookEndpoint { Url = new Uri("/hooks", UriKind.Relative) }).AsTask());
        Assert.Equal(PaymentsKitErrorCodes.InvalidArgument, relative.Code);
    }

    [Fact]
    public async Task Filters_match_exact_types_and_resource_wildcards()
    {
        var endpoint = (await Service().RegisterAsync(Tenant, new RegisterWebhookEndpoint
        {
            Url = new Uri("https://hooks.example.com/"),
            EventTypes = ["invoice.paid", "refund.*"],
        })).Endpoint;
        Assert.True(endpoint.Accepts("invoice.paid"));
        Assert.False(endpoint.Accepts("invoice.expired"));
        Assert.True(endpoint.Accepts("refund.completed"));
        Assert.False(endpoint.Accepts("refund"));
        Assert.False(endpoint.Accepts("refunds.completed"));
        Assert.True((endpoint with { EventTypes = [] }).Accepts("anything.at_all"));
    }

    [Fact]
    public async Task Rotation_signs_with_old_and_new_secrets_until_the_overlap_ends()
    {
        var service = Service();
        var registered = await service.RegisterAsync(Tenant, new RegisterWebhookEndpoint { Url = new Uri("https://hooks.example.com/") });
        var fresh = await service.RotateSecretAsync(Tenant, registered.Endpoint.Id, Duration.FromHours(1));
        var endpoint = await service.GetAsync(Tenant, registered.Endpoint.Id);
        var signing = endpoint.SigningSecrets(_clock.GetCurrentInstant());
        Assert.Equal([fresh.Reveal(), registered.Secret.Reveal()], signing.Select(s => s.Reveal()));

        var body = "{}"u8.ToArray();
        var headers = WebhookSigner.CreateHeaders(signing, "evt_1", _clock.GetCurrentInstant(), body);
        Assert.Equal(2, headers.Signature.Split(' ').Length);
        Assert.Equal(WebhookVerificationResult.Valid, new WebhookVerifier(_clock, [registered.Secret]).Check(headers.Id, headers.Timestamp, headers.Signature, body));
        Assert.Equal(WebhookVerificationResult.Valid, new WebhookVerifier(_clock, [fresh]).Check(headers.Id, headers.Timestamp, headers.Signature, body));

        _clock.Advance(Duration.FromHours(1));
        Assert.Equal([fresh.Reveal()], endpoint.SigningSecrets(_clock.GetCurrentInstant()).Select(s => s.Reveal()));
    }

    [Fact]
    public async Task Rotation_overlap_is_bounded_and_other_tenants_see_nothing()
    {
        var service = Service();
        var id = (await service.RegisterAsync(Tenant, new RegisterWebhookEndpoint { Url = new Uri("https://hooks.example.com/") })).Endpoint.Id;
        foreach (var overlap in new[] { Duration.FromSeconds(-1), Duration.FromDays(8) })
        {
            var error = await Assert.ThrowsAsync<PaymentsKitException>(() => service.RotateSecretAsync(Tenant, id, overlap).AsTask());
            Assert.Equal("overlap", error.Context["field"]);
        }

        var other = Guid.CreateVersion7();
        var missing = await Assert.ThrowsAsync<PaymentsKitException>(() => service.GetAsync(other, id).AsTask());
        Assert.Equal(PaymentsKitErrorCodes.NotFound, missing.Code);
        await Assert.ThrowsAsync<PaymentsKitException>(() => service.DisableAsync(other, id, "no").AsTask());
        Assert.Empty(await service.ListAsync(other));
    }

    [Fact]
    public async Task Enabling_checks_the_url_again()
    {
        var service = Service();
        var id = (await service.RegisterAsync(Tenant, new RegisterWebhookEndpoint { Url = new Uri("https://hooks.example.com/") })).Endpoint.Id;
        var disabled = await service.DisableAsync(Tenant, id, "maintenance");
        Assert.Equal(WebhookEndpointStatus.Disabled, disabled.Status);
        Assert.Equal("maintenance", disabled.DisabledReason);

        _resolver.Set("hooks.example.com", "10.1.2.3");
        var error = await Assert.ThrowsAsync<PaymentsKitException>(() => service.EnableAsync(Tenant, id).AsTask());
        Assert.Equal(PaymentsKitErrorCodes.WebhookEndpointRejected, error.Code);

        _resolver.Set("hooks.example.com", "93.184.216.34");
        Assert.Equal(WebhookEndpointStatus.Enabled, (await service.EnableAsync(Tenant, id)).Status);
    }

    [Fact]
    public async Task The_guarded_handler_refuses_to_connect_to_a_rebound_name()
    {
        // The name passed the check once; now it resolves to an internal address: the connection itself is refused.
        _resolver.Set("rebind.example.com", "10.0.0.1");
        var validator = new WebhookEndpointValidator(_resolver, new WebhookEndpointPolicy { AllowLoopback = true });
        using var client = new HttpClient(validator.CreateHandler());
        var error = await Assert.ThrowsAsync<HttpRequestException>(() => client.GetAsync(new Uri("http://rebind.example.com:81/")));
        var guard = Assert.IsType<PaymentsKitException>(error.InnerException);
        Assert.Equal(PaymentsKitErrorCodes.WebhookEndpointRejected, guard.Code);
    }

    [Fact]
    public async Task The_dns_resolver_resolves_literals_to_themselves_and_localhost_to_loopback()
    {
        var resolver = new DnsWebhookAddressResolver();
        Assert.Equal("10.0.0.1", Assert.Single(await resolver.ResolveAsync("10.0.0.1")).ToString());
        Assert.Equal("::1", Assert.Single(await resolver.ResolveAsync("::1")).ToString());
        Assert.All(await resolver.ResolveAsync("localhost"), a => Assert.Equal(IpAddressCategory.Loopback, WebhookEndpointGuard.Classify(a)));
    }

    [Fact]
    public async Task A_host_name_too_long_for_dns_does_not_resolve_and_is_rejected_by_the_guard()
    {
        var host = string.Join('.', Enumerable.Repeat(new string('a', 60), 5)) + ".com";
        Assert.Empty(await new DnsWebhookAddressResolver().ResolveAsync(host));
        var service = new WebhookEndpointService(_store, _clock, new WebhookEndpointValidator(new DnsWebhookAddressResolver(), WebhookEndpointPolicy.Default));
        var error = await Assert.ThrowsAsync<PaymentsKitException>(() =>
            service.RegisterAsync(Tenant, new RegisterWebhookEndpoint { Url = new Uri("https://" + host + "/hooks") }).AsTask());
        Assert.Equal(PaymentsKitErrorCodes.WebhookEndpointRejected, error.Code);
    }
}
