using PaymentsKit.Storage;
using PaymentsKit.Testing;

namespace PaymentsKit.Core.Tests.Webhooks;

public sealed class InMemoryWebhookDeliveryTests : WebhookDeliverySpecification
{
    protected override Task<WebhookTestKit> CreateKitAsync() => Task.FromResult(new WebhookTestKit(new InMemoryStore()));
}

public sealed class InMemoryWebhookQueuePropertyTests : WebhookQueuePropertyTests
{
    protected override Task<WebhookTestKit> CreateKitAsync() => Task.FromResult(new WebhookTestKit(new InMemoryStore()));
}
