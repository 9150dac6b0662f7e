using NodaTime;
using PaymentsKit.Storage;
using PaymentsKit.Testing;
using PaymentsKit.Webhooks;

namespace PaymentsKit.Core.Tests.Webhooks;

/// <summary>A store that fails beside an attempt must cost at most that attempt's follow-up, never the pass its outcomes.</summary>
public sealed class WebhookDispatcherStoreFaultTests
{
    [Fact]
    public async Task A_410_Whose_Endpoint_Cannot_Be_Disabled_Still_Settles_Its_Delivery_And_The_Pass_Records_Every_Outcome()
    {
        await using var gone = new TestReceiver((_, _) => LoopbackResponse.WithStatus(410));
        await using var fine = new TestReceiver();
        var kit = new WebhookTestKit(new InMemoryStore());
        var tenant = Guid.CreateVersion7();
        var goneEndpoint = (await kit.RegisterAsync(tenant, gone.Url)).Endpoint;
        await kit.RegisterAsync(tenant, fine.Url);
        await kit.EnqueueAsync(tenant, "inv_1");
        using var http = new HttpClient(kit.Validator.CreateHandler()) { Timeout = Timeout.InfiniteTimeSpan };
        var dispatcher = new WebhookDispatcher(kit.Queue, kit.Store, new UndisableableEndpoints(kit.Endpoints), kit.Validator, http, kit.Clock, WebhookTestKit.TestOptions());

        var pass = await dispatcher.DispatchAsync();

        // The delivery that was answered 200 is recorded, so it is not sent again; the one answered 410 is dead-lettered.
        Assert.Equal((2, 1, 1), (pass.Claimed, pass.Delivered, pass.DeadLettered));
        kit.Clock.Advance(Duration.FromMinutes(5));
        await WebhookTestKit.DrainAsync(dispatcher);
        Assert.Single(fine.Received);
        Assert.Single(gone.Received);
        var dead = Assert.Single((await kit.Deliveries.ListAsync(tenant, new WebhookDeliveryFilter(WebhookDeliveryStatus.DeadLettered), null, 10)).Items);
        Assert.Equal(goneEndpoint.Id, dead.EndpointId);
    }

    /// <summary>The endpoint service of a store that fails every write of an endpoint's state.</summary>
    private sealed class UndisableableEndpoints(IWebhookEndpointService inner) : IWebhookEndpointService
    {
        public ValueTask<WebhookEndpointRegistration> RegisterAsync(Guid tenantId, RegisterWebhookEndpoint request, CancellationToken cancellationToken = default) =>
            inner.RegisterAsync(tenantId, request, cancellationToken);

        public ValueTask<WebhookEndpoint> GetAsync(Guid tenantId, WebhookEndpointId endpointId, CancellationToken cancellationToken = default) =>
            inner.GetAsync(tenantId, endpointId, cancellationToken);

        public ValueTask<IReadOnlyList<WebhookEndpoint>> ListAsync(Guid tenantId, CancellationToken cancellationToken = default) =>
            inner.ListAsync(tenantId, cancellationToken);

        public ValueTask<WebhookSecret> RotateSecretAsync(
            Guid tenantId, WebhookEndpointId endpointId, Duration overlap, WebhookSecret? newSecret = null, CancellationToken cancellationToken = default) =>
            inner.RotateSecretAsync(tenantId, endpointId, overlap, newSecret, cancellationToken);

        public ValueTask<WebhookEndpoint> DisableAsync(Guid tenantId, WebhookEndpointId endpointId, string reason, CancellationToken cancellationToken = default) =>
            throw new PaymentsKitException(PaymentsKitErrorCodes.StorageFailure, "PostgreSQL failed while committing: 57P01: terminating connection due to administrator command");

        public ValueTask<WebhookEndpoint> EnableAsync(Guid tenantId, WebhookEndpointId endpointId, CancellationToken cancellationToken = default) =>
            inner.EnableAsync(tenantId, endpointId, cancellationToken);
    }
}
