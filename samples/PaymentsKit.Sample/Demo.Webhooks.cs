using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using PaymentsKit.Sample.Api;
using PaymentsKit.Webhooks;

namespace PaymentsKit.Sample;

internal sealed partial class Demo
{
    private async Task DeliverWebhooksAsync(MerchantId merchant, CancellationToken cancellationToken)
    {
        Section("Webhooks: delivered by the dispatcher to the sample's receiver, signatures verified");
        var dispatcher = services.GetRequiredService<IWebhookDispatcher>();
        var received = services.GetRequiredService<ReceivedWebhooks>();
        var (delivered, retrying, deadLettered) = (0, 0, 0);
        for (var pass = 0; pass < 20; pass++)
        {
            var result = await dispatcher.DispatchAsync(cancellationToken).ConfigureAwait(false);
            (delivered, retrying, deadLettered) = (delivered + result.Delivered, retrying + result.Retrying, deadLettered + result.DeadLettered);
            if (!result.MoreWork && result.Claimed == 0)
            {
                break;
            }
        }

        var accepted = received.For(merchant.Value);
        output.WriteLine($"dispatcher: {delivered} delivered, {retrying} to retry, {deadLettered} dead-lettered");
        output.WriteLine($"receiver verified {accepted.Count(w => w.Outcome == WebhookReceiveOutcome.Accepted)}: {string.Join(", ", accepted.Select(w => w.Type))}");

        // A replay of a delivered id, correctly signed, is acknowledged and not processed again; a forged one is refused.
        var endpoint = (await services.GetRequiredService<IWebhookEndpointService>().ListAsync(merchant.Value, cancellationToken).ConfigureAwait(false))[0];
        var secret = endpoint.SigningSecrets(clock.GetCurrentInstant())[0];
        var replayed = accepted[0];
        var body = Encoding.UTF8.GetBytes($$"""{"type":"{{replayed.Type}}","replayed":true}""");
        using var http = new HttpClient { BaseAddress = baseAddress };
        var timestamp = clock.GetCurrentInstant().ToUnixTimeSeconds();
        var replay = await PostAsync(http, merchant, replayed.WebhookId, timestamp, WebhookSigner.Sign(secret, replayed.WebhookId, timestamp, body), body, cancellationToken).ConfigureAwait(false);
        output.WriteLine($"replaying {replayed.WebhookId}: {replay}");
        var forged = await PostAsync(http, merchant, "msg_forged", timestamp, WebhookSigner.Sign(WebhookSecret.Generate(), "msg_forged", timestamp, body), body, cancellationToken).ConfigureAwait(false);
        output.WriteLine($"a delivery signed with another secret: {forged}");
    }

    private static async Task<string> PostAsync(HttpClient http, MerchantId merchant, string id, long timestamp, string signature, byte[] body, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, WebhookApi.ReceiverPath(merchant.Value)) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        request.Headers.Add(WebhookSigner.IdHeader, id);
        request.Headers.Add(WebhookSigner.TimestampHeader, timestamp.ToString(CultureInfo.InvariantCulture));
        request.Headers.Add(WebhookSigner.SignatureHeader, signature);
        using var response = await http.SendAsync(request, cancellationToken).ConfigureAwait(false);
        return $"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false)}";
    }
}
