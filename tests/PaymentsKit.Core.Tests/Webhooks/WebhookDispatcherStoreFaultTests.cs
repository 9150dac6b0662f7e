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

    [Fact]
    public async Task A_410_Answered_Before_The_Drain_Is_Cancelled_Is_Recorded_Though_Disabling_Its_Endpoint_Was_Cut_Short()
    {
        await using var gone = new TestReceiver((_, _) => LoopbackResponse.WithStatus(410));
        var kit = new WebhookTestKit(new InMemoryStore());
        var tenant = Guid.CreateVersion7();
        await kit.RegisterAsync(tenant, gone.Url);
        await kit.EnqueueAsync(tenant, "inv_1");
        using var http = new HttpClient(kit.Validator.CreateHandler()) { Timeout = Timeout.InfiniteTimeSpan };
        var endpoints = new UndisableableEndpoints(kit.Endpoints, hang: true);
        var dispatcher = new WebhookDispatcher(kit.Queue, kit.Store, endpoints, kit.Validator, http, kit.Clock, WebhookTestKit.TestOptions());

        using (var kill = new CancellationTokenSource())
        {
            var drain = dispatcher.DrainAsync(TimeSpan.FromMinutes(1), kill.Token).AsTask();
            await endpoints.Disabling.Task.WaitAsync(TimeSpan.FromSeconds(10));
            await kill.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => drain);
        }

        // The 410 settles its delivery, as when the disable fails; the endpoint's next 410 disables it.
        var dead = Assert.Single((await kit.Deliveries.ListAsync(tenant, new WebhookDeliveryFilter(), null, 10)).Items);
        Assert.Equal((WebhookDeliveryStatus.DeadLettered, 1), (dead.Status, dead.Attempts));
        kit.Clock.Advance(Duration.FromMinutes(5));
        await WebhookTestKit.DrainAsync(kit.Dispatcher());
        Assert.Single(gone.Received);
    }

    /// <summary>The endpoint service of a store that fails every write of an endpoint's state (or, hanging, never answers one).</summary>
    private sealed class UndisableableEndpoints(IWebhookEndpointService inner, bool hang = false) : IWebhookEndpointService
    {
        /// <summary>Completes when a disable starts.</summary>
        public TaskCompletionSource Disabling { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public ValueTask<WebhookEndpointRegistration> RegisterAsync(Guid tenantId, RegisterWebhookEndpoint request, CancellationToken cancellationToken = default) =>
            inner.RegisterAsync(tenantId, request, cancellationToken);

        public ValueTask<WebhookEndpoint> GetAsync(Guid tenantId, WebhookEndpointId endpointId, CancellationToken cancellationToken = default) =>
            inner.GetAsync(tenantId, endpointId, cancellationToken);

        public ValueTask<IReadOnlyList<WebhookEndpoint>> ListAsync(Guid tenantId, CancellationToken cancellationToken = default) =>
            inner.ListAsync(tenantId, cancellationToken);

        public ValueTask<WebhookSecret> RotateSecretAsync(
            Guid tenantId, WebhookEndpointId endpointId, Duration overlap, WebhookSecret? newSecret = null, CancellationToken cancellationToken = default) =>
            inner.RotateSecretAsync(tenantId, endpointId, overlap, newSecret, cancellationToken);

        public async ValueTask<WebhookEndpoint> DisableAsync(Guid tenantId, WebhookEndpointId endpointId, string reason, CancellationToken cancellationToken = default)
        {
            Disabling.TrySetResult();
            if (hang)
            {
                await Task.Delay(Timeout.Infinite, cancellationToken);
            }

            throw new PaymentsKitException(PaymentsKitErrorCodes.StorageFailure, "PostgreSQL failed while committing: 57P01: terminating connection due to administrator command");
        }

        public ValueTask<WebhookEndpoint> EnableAsync(Guid tenantId, WebhookEndpointId endpointId, CancellationToken cancellationToken = default) =>
            inner.EnableAsync(tenantId, endpointId, cancellationToken);
    }
}
