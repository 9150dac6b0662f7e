using System.Text;
using NodaTime;
using PaymentsKit.Storage;
using PaymentsKit.Testing;
using PaymentsKit.Webhooks;

namespace PaymentsKit.Core.Tests.Webhooks;

public class WebhookReceiverTests
{
    private readonly ManualClock _clock = new();
    private readonly InMemoryStore _store = new();
    private readonly WebhookSecret _secret = WebhookSecret.Generate();

    private WebhookReceiver Receiver(string source = "provider") => new(_store, new WebhookVerifier(_clock, [_secret]), _clock, source);

    private (string Id, string Timestamp, string Signature, byte[] Body) Signed(string id, string body = "{\"type\":\"invoice.paid\"}")
    {
        var bytes = Encoding.UTF8.GetBytes(body);
        var headers = WebhookSigner.CreateHeaders([_secret], id, _clock.GetCurrentInstant(), bytes);
        return (headers.Id, headers.Timestamp, headers.Signature, bytes);
    }

    [Fact]
    public async Task A_webhook_is_accepted_once_and_its_redelivery_is_a_duplicate()
    {
        var tenant = Guid.CreateVersion7();
        var (id, timestamp, signature, body) = Signed("msg_1");
        Assert.Equal(WebhookReceiveOutcome.Accepted, await Receiver().ReceiveAsync(tenant, id, timestamp, signature, body));
        Assert.Equal(WebhookReceiveOutcome.Duplicate, await Receiver().ReceiveAsync(tenant, id, timestamp, signature, body));

        // The same id from another source, or for another tenant, is a different webhook.
        Assert.Equal(WebhookReceiveOutcome.Accepted, await Receiver("other").ReceiveAsync(tenant, id, timestamp, signature, body));
        Assert.Equal(WebhookReceiveOutcome.Accepted, await Receiver().ReceiveAsync(Guid.Empty, id, timestamp, signature, body));
    }

    [Theory]
    [InlineData("a:b")]
    [InlineData(":provider")]
    [InlineData("provider:")]
    public void A_source_name_with_a_colon_is_refused_so_receipt_keys_cannot_collide(string source)
    {
        // Receipts are keyed "tenant:source:id" (stored so in PostgreSQL's unique keys): with ':' in a source, source
        // "a:b" and id "c" would be the same key as source "a" and id "b:c".
        var ex = Assert.Throws<PaymentsKitException>(() => Receiver(source));
        Assert.Equal(PaymentsKitErrorCodes.InvalidArgument, ex.Code);
        Assert.Equal("source", ex.Context["field"]);
    }

    [Fact]
    public async Task Ids_with_colons_stay_distinct_per_source()
    {
        var tenant = Guid.CreateVersion7();
        var (id, timestamp, signature, body) = Signed("b:c");
        Assert.Equal(WebhookReceiveOutcome.Accepted, await Receiver("a").ReceiveAsync(tenant, id, timestamp, signature, body));
        var (other, otherTimestamp, otherSignature, otherBody) = Signed("c");
        Assert.Equal(WebhookReceiveOutcome.Accepted, await Receiver("a_b").ReceiveAsync(tenant, other, otherTimestamp, otherSignature, otherBody));
        Assert.Equal(WebhookReceiveOutcome.Duplicate, await Receiver("a").ReceiveAsync(tenant, id, timestamp, signature, body));
    }

    [Fact]
    public async Task Concurrent_redeliveries_are_accepted_exactly_once()
    {
        var (id, timestamp, signature, body) = Signed("msg_race");
        var outcomes = await Task.WhenAll(Enumerable.Range(0, 16).Select(_ => Task.Run(() => Receiver().ReceiveAsync(Guid.Empty, id, timestamp, signature, body).AsTask())));
        Assert.Equal(1, outcomes.Count(o => o == WebhookReceiveOutcome.Accepted));
    }

    [Fact]
    public async Task Tampered_stale_and_unsigned_webhooks_fail_verification_and_are_not_recorded()
    {
        var (id, timestamp, signature, body) = Signed("msg_2");
        var tampered = Encoding.UTF8.GetBytes("{\"type\":\"invoice.paid\",\"x\":1}");
        var error = await Assert.ThrowsAsync<PaymentsKitException>(() => Receiver().ReceiveAsync(Guid.Empty, id, timestamp, signature, tampered).AsTask());
        Assert.Equal(PaymentsKitErrorCodes.WebhookVerificationFailed, error.Code);
        Assert.Equal("InvalidSignature", error.Context["reason"]);
        var unsigned = await Assert.ThrowsAsync<PaymentsKitException>(() => Receiver().ReceiveAsync(Guid.Empty, id, timestamp, null, body).AsTask());
        Assert.Equal("MissingSignature", unsigned.Context["reason"]);

        _clock.Advance(Duration.FromMinutes(6));
        var stale = await Assert.ThrowsAsync<PaymentsKitException>(() => Receiver().ReceiveAsync(Guid.Empty, id, timestamp, signature, body).AsTask());
        Assert.Equal("TimestampTooOld", stale.Context["reason"]);

        var fresh = Signed("msg_2");
        Assert.Equal(WebhookReceiveOutcome.Accepted, await Receiver().ReceiveAsync(Guid.Empty, fresh.Id, fresh.Timestamp, fresh.Signature, fresh.Body));
    }

    [Fact]
    public async Task The_receipt_commits_with_the_callers_unit_of_work_or_not_at_all()
    {
        var receiver = Receiver();
        var unit = await _store.BeginAsync();
        await using (unit)
        {
            Assert.True(await receiver.TryRecordAsync(unit, Guid.Empty, "msg_3"));
        }

        // Disposed without commit: nothing was recorded, so the webhook is still new.
        var again = await _store.BeginAsync();
        await using (again)
        {
            Assert.True(await receiver.TryRecordAsync(again, Guid.Empty, "msg_3"));
            await again.CommitAsync();
        }

        var third = await _store.BeginAsync();
        await using (third)
        {
            Assert.False(await receiver.TryRecordAsync(third, Guid.Empty, "msg_3"));
        }

        var blank = Assert.Throws<PaymentsKitException>(() => Receiver(" "));
        Assert.Equal("source", blank.Context["field"]);
    }

    [Theory]
    [InlineData("msg.1")]
    [InlineData("msg,1")]
    [InlineData("msg 1")]
    [InlineData("msg\u00e91")]
    public async Task Recording_refuses_an_id_the_verifier_would_refuse(string id)
    {
        // One rule for a webhook-id, the signer's and verifier's: a receipt under an id no verified webhook can carry would
        // never deduplicate anything, and would hide a caller recording some other string than the id it verified.
        Assert.Equal(WebhookVerificationResult.InvalidId, new WebhookVerifier(_clock, [_secret]).Check(id, "0", "v1,x", []));
        var unit = await _store.BeginAsync();
        await using (unit)
        {
            var ex = await Assert.ThrowsAsync<PaymentsKitException>(() => Receiver().TryRecordAsync(unit, Guid.Empty, id).AsTask());
            Assert.Equal((PaymentsKitErrorCodes.InvalidArgument, "webhook-id"), (ex.Code, ex.Context["field"]));
        }
    }
}
