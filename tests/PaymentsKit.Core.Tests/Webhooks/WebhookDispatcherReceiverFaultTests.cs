using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using NodaTime;
using PaymentsKit.Storage;
using PaymentsKit.Testing;
using PaymentsKit.Webhooks;

namespace PaymentsKit.Core.Tests.Webhooks;

/// <summary>
/// Receivers that break HTTP after answering (a body cut short by a wrong Content-Length and a closed connection):
/// reading the response then fails with an <see cref="IOException"/>, which must cost one delivery an attempt and never
/// the dispatcher its pass or drain.
/// </summary>
public sealed class WebhookDispatcherReceiverFaultTests
{
    [Fact]
    public async Task A_2xx_Whose_Body_Is_Cut_Short_Is_Delivered_With_What_Arrived()
    {
        await using var receiver = new BrokenReceiver(200);
        var kit = new WebhookTestKit(new InMemoryStore());
        var tenant = Guid.CreateVersion7();
        await kit.RegisterAsync(tenant, receiver.Url);
        var enqueued = await kit.EnqueueAsync(tenant, "inv_1");

        var pass = await kit.Dispatcher().DispatchAsync();

        Assert.Equal((1, 1), (pass.Claimed, pass.Delivered));
        var delivery = Assert.Single((await kit.Deliveries.ListAsync(tenant, new WebhookDeliveryFilter(EventId: enqueued.Id), null, 10)).Items);
        Assert.Equal(WebhookDeliveryStatus.Delivered, delivery.Status);
        var attempt = Assert.Single(await kit.Deliveries.ListAttemptsAsync(tenant, delivery.Id));
        Assert.Equal((200, "{\"ok\""), (attempt.StatusCode, attempt.ResponseExcerpt));
    }

    [Fact]
    public async Task A_Failure_Whose_Body_Is_Cut_Short_Every_Time_Is_Retried_And_Dead_Lettered_After_The_Last_Attempt()
    {
        await using var receiver = new BrokenReceiver(500);
        var kit = new WebhookTestKit(new InMemoryStore());
        var tenant = Guid.CreateVersion7();
        await kit.RegisterAsync(tenant, receiver.Url);
        var enqueued = await kit.EnqueueAsync(tenant, "inv_1");
        var dispatcher = kit.Dispatcher();

        for (var pass = 0; pass < WebhookTestKit.ShortPolicy.MaxAttempts; pass++)
        {
            Assert.Equal(1, (await dispatcher.DispatchAsync()).Claimed);
            kit.Clock.Advance(Duration.FromMinutes(1));
        }

        var delivery = Assert.Single((await kit.Deliveries.ListAsync(tenant, new WebhookDeliveryFilter(EventId: enqueued.Id), null, 10)).Items);
        Assert.Equal((WebhookDeliveryStatus.DeadLettered, WebhookTestKit.ShortPolicy.MaxAttempts), (delivery.Status, delivery.Attempts));
        var attempts = await kit.Deliveries.ListAttemptsAsync(tenant, delivery.Id);
        Assert.Equal(WebhookTestKit.ShortPolicy.MaxAttempts, attempts.Count);
        Assert.All(attempts, a => Assert.Equal((500, WebhookAttemptOutcome.Failed), (a.StatusCode, a.Outcome)));
    }

    [Fact]
    public async Task One_Tenants_Broken_Receiver_Does_Not_Stop_A_Drain_Delivering_Everyone_Else()
    {
        await using var broken = new BrokenReceiver(500);
        await using var healthy = new TestReceiver(hold: TimeSpan.FromMilliseconds(50));
        var kit = new WebhookTestKit(new InMemoryStore());
        var bad = Guid.CreateVersion7();
        var good = Guid.CreateVersion7();
        await kit.RegisterAsync(bad, broken.Url);
        await kit.RegisterAsync(good, healthy.Url);
        await kit.EnqueueAsync(bad, "inv_bad");
        for (var i = 0; i < 10; i++)
        {
            await kit.EnqueueAsync(good, string.Create(CultureInfo.InvariantCulture, $"inv_{i}"));
        }

        var drained = await kit.Dispatcher().DrainAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(10, drained.Delivered);
        Assert.Equal(10, (await kit.Deliveries.ListAsync(good, new WebhookDeliveryFilter(WebhookDeliveryStatus.Delivered), null, 100)).Items.Count);
        Assert.Equal(WebhookDeliveryStatus.Pending, Assert.Single((await kit.Deliveries.ListAsync(bad, new WebhookDeliveryFilter(), null, 10)).Items).Status);
    }

    [Fact]
    public async Task A_2xx_Whose_Body_Is_Still_Arriving_When_The_Drain_Is_Cancelled_Is_Recorded_As_Delivered()
    {
        // The receiver said 200: sending the event again because the body was not all read would be a redelivery for nothing.
        await using var receiver = new BrokenReceiver(200, stall: true);
        var kit = new WebhookTestKit(new InMemoryStore());
        var tenant = Guid.CreateVersion7();
        await kit.RegisterAsync(tenant, receiver.Url);
        var enqueued = await kit.EnqueueAsync(tenant, "inv_1");

        using (var kill = new CancellationTokenSource())
        {
            var drain = kit.Dispatcher().DrainAsync(TimeSpan.FromMinutes(1), kill.Token).AsTask();
            await receiver.Answered.Task.WaitAsync(TimeSpan.FromSeconds(10));
            await Task.Delay(500);
            await kill.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => drain);
        }

        var delivery = Assert.Single((await kit.Deliveries.ListAsync(tenant, new WebhookDeliveryFilter(EventId: enqueued.Id), null, 10)).Items);
        Assert.Equal((WebhookDeliveryStatus.Delivered, 1), (delivery.Status, delivery.Attempts));
        var attempt = Assert.Single(await kit.Deliveries.ListAttemptsAsync(tenant, delivery.Id));
        Assert.Equal((WebhookAttemptOutcome.Delivered, 200), (attempt.Outcome, attempt.StatusCode));
    }

    [Theory]
    [InlineData(200, WebhookAttemptOutcome.Delivered, WebhookDeliveryStatus.Delivered)]
    [InlineData(500, WebhookAttemptOutcome.Failed, WebhookDeliveryStatus.Pending)]
    public async Task A_Status_Whose_Body_Is_Still_Arriving_When_The_Timeout_Ends_Is_The_Outcome_Not_A_Timeout(
        int status, WebhookAttemptOutcome outcome, WebhookDeliveryStatus delivery)
    {
        // The receiver answered before the timeout: a 2xx recorded as timed out would send the event again for nothing.
        await using var receiver = new BrokenReceiver(status, stall: true);
        var kit = new WebhookTestKit(new InMemoryStore());
        var tenant = Guid.CreateVersion7();
        await kit.RegisterAsync(tenant, receiver.Url);
        var enqueued = await kit.EnqueueAsync(tenant, "inv_1");

        var pass = await kit.Dispatcher().DispatchAsync();

        Assert.Equal(1, pass.Claimed);
        var stored = Assert.Single((await kit.Deliveries.ListAsync(tenant, new WebhookDeliveryFilter(EventId: enqueued.Id), null, 10)).Items);
        Assert.Equal((delivery, 1, status), (stored.Status, stored.Attempts, stored.LastStatusCode));
        var attempt = Assert.Single(await kit.Deliveries.ListAttemptsAsync(tenant, stored.Id));
        Assert.Equal((outcome, status, "{\"ok\""), (attempt.Outcome, attempt.StatusCode, attempt.ResponseExcerpt));
    }

    /// <summary>
    /// A loopback HTTP/1.1 server that answers every request with a status line and a body shorter than its Content-Length,
    /// then closes (or, stalling, keeps the connection open until disposed).
    /// </summary>
    private sealed class BrokenReceiver : IAsyncDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _loop;

        public BrokenReceiver(int status, bool stall = false)
        {
            _listener.Start();
            Url = new Uri(string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}/hooks"));
            var head = Encoding.ASCII.GetBytes(string.Create(
                CultureInfo.InvariantCulture, $"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: 100\r\nConnection: close\r\n\r\n{{\"ok\""));
            _loop = Task.Run(async () =>
            {
                while (!_stop.IsCancellationRequested)
                {
                    using var client = await _listener.AcceptTcpClientAsync(_stop.Token);
                    var stream = client.GetStream();
                    await ReadRequestAsync(stream);
                    await stream.WriteAsync(head);
                    await stream.FlushAsync();
                    Answered.TrySetResult();
                    if (stall)
                    {
                        await Task.Delay(Timeout.Infinite, _stop.Token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                    }

                    client.Client.Shutdown(SocketShutdown.Both);
                }
            });
        }

        public Uri Url { get; }

        /// <summary>Completes once the first answer's status line and partial body were sent.</summary>
        public TaskCompletionSource Answered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            _listener.Stop();
            await _loop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            _stop.Dispose();
        }

        private static async Task ReadRequestAsync(NetworkStream stream)
        {
            var head = new List<byte>();
            var one = new byte[1];
            while (!(head.Count >= 4 && head[^4] == '\r' && head[^3] == '\n' && head[^2] == '\r' && head[^1] == '\n'))
            {
                if (await stream.ReadAsync(one) == 0)
                {
                    return;
                }

                head.Add(one[0]);
            }

            var lengthLine = Encoding.ASCII.GetString([.. head]).Split("\r\n").FirstOrDefault(l => l.StartsWith("content-length:", StringComparison.OrdinalIgnoreCase));
            var remaining = lengthLine is null ? 0 : int.Parse(lengthLine["content-length:".Length..].Trim(), CultureInfo.InvariantCulture);
            var body = new byte[4096];
            while (remaining > 0)
            {
                var read = await stream.ReadAsync(body.AsMemory(0, Math.Min(body.Length, remaining)));
                if (read == 0)
                {
                    return;
                }

                remaining -= read;
            }
        }
    }
}
