using NodaTime;
using PaymentsKit.Sample.Api;
using PaymentsKit.Webhooks;

namespace PaymentsKit.Sample.Tests;

public sealed class ReceivedWebhooksTests
{
    [Fact]
    public void The_log_keeps_the_newest_entries_and_each_webhook_id_of_a_tenant_once()
    {
        var log = new ReceivedWebhooks(3);
        var (tenant, other) = (Guid.NewGuid(), Guid.NewGuid());
        ReceivedWebhook Entry(Guid t, int i) => new(t, $"msg_{i}", "invoice.paid", WebhookReceiveOutcome.Accepted, Instant.FromUnixTimeSeconds(i));

        log.Add(Entry(tenant, 1));
        log.Add(Entry(tenant, 1) with { Outcome = WebhookReceiveOutcome.Duplicate });
        log.Add(Entry(other, 1));
        Assert.Equal([Entry(tenant, 1)], log.For(tenant));
        Assert.Equal([Entry(other, 1)], log.For(other));

        for (var i = 2; i <= 5; i++)
        {
            log.Add(Entry(tenant, i));
        }

        Assert.Equal([Entry(tenant, 3), Entry(tenant, 4), Entry(tenant, 5)], log.For(tenant));
        Assert.Empty(log.For(other));

        // An id that fell out of the log is logged again if it is received again.
        log.Add(Entry(tenant, 1));
        Assert.Equal([Entry(tenant, 4), Entry(tenant, 5), Entry(tenant, 1)], log.For(tenant));
    }
}
