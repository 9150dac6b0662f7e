using System.Collections.Concurrent;
using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using NodaTime;
using PaymentsKit.Json;
using PaymentsKit.Storage;
using PaymentsKit.Webhooks;

namespace PaymentsKit.Testing;

/// <summary>A resolver with a fixed table: names map to the addresses set with <see cref="Set"/>; IP literals resolve to themselves.</summary>
public sealed class FakeAddressResolver : IWebhookAddressResolver
{
    private readonly ConcurrentDictionary<string, IPAddress[]> _names = new(StringComparer.OrdinalIgnoreCase);
    private readonly ConcurrentDictionary<string, bool> _hanging = new(StringComparer.OrdinalIgnoreCase);
    private readonly ConcurrentDictionary<string, bool> _failing = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Makes look-ups of <paramref name="host"/> never answer (until cancelled), like a tarpit name server.</summary>
    public FakeAddressResolver Hang(string host)
    {
        _hanging[host] = true;
        return this;
    }

    /// <summary>Makes look-ups of <paramref name="host"/> throw, like a resolver whose own transport (a DNS-over-HTTPS server) is down.</summary>
    public FakeAddressResolver Fail(string host)
    {
        _failing[host] = true;
        return this;
    }

    /// <summary>Makes <paramref name="host"/> resolve to <paramref name="addresses"/>.</summary>
    public FakeAddressResolver Set(string host, params string[] addresses)
    {
        _names[host] = [.. addresses.Select(IPAddress.Parse)];
        return this;
    }

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<IPAddress>> ResolveAsync(string host, CancellationToken cancellationToken = default)
    {
        if (_hanging.ContainsKey(host))
        {
            await Task.Delay(Timeout.Infinite, cancellationToken);
        }

        if (_failing.ContainsKey(host))
        {
            throw new IOException($"The name server for {host} is unreachable.");
        }

        return _names.TryGetValue(host, out var found) ? found
            : IPAddress.TryParse(host, out var literal) ? [literal]
            : [];
    }
}

/// <summary>Everything a webhook delivery test needs over one store: outbox, endpoints, queue, dispatchers.</summary>
public sealed class WebhookTestKit
{
    /// <summary>A retry policy without jitter: 1 s, 2 s, 4 s (four attempts).</summary>
    public static readonly WebhookRetryPolicy ShortPolicy = new([Duration.FromSeconds(1), Duration.FromSeconds(2), Duration.FromSeconds(4)], 0);

    /// <summary>Creates a kit.</summary>
    /// <param name="store">The store (in-memory or PostgreSQL).</param>
    /// <param name="queue">The delivery queue over the same store; the in-memory queue when null.</param>
    /// <param name="clock">The clock; a new <see cref="ManualClock"/> when null.</param>
    public WebhookTestKit(IPaymentsStore store, IWebhookDeliveryQueue? queue = null, ManualClock? clock = null)
    {
        Store = store;
        Clock = clock ?? new ManualClock();
        Queue = queue ?? new InMemoryWebhookDeliveryQueue(store, Clock);
        Outbox = new WebhookOutbox(store, Clock, new PaymentsKitJsonOptions(PaymentsKitJson.CreateOptions(new AssetRegistry())));
        Validator = new WebhookEndpointValidator(Resolver, new WebhookEndpointPolicy { AllowLoopback = true });
        Endpoints = new WebhookEndpointService(store, Clock, Validator);
        Deliveries = new WebhookDeliveryService(Queue, Clock);
    }

    /// <summary>The store.</summary>
    public IPaymentsStore Store { get; }

    /// <summary>The clock.</summary>
    public ManualClock Clock { get; }

    /// <summary>The resolver every part uses.</summary>
    public FakeAddressResolver Resolver { get; } = new();

    /// <summary>The queue.</summary>
    public IWebhookDeliveryQueue Queue { get; }

    /// <summary>The outbox.</summary>
    public WebhookOutbox Outbox { get; }

    /// <summary>The SSRF guard (loopback allowed).</summary>
    public WebhookEndpointValidator Validator { get; }

    /// <summary>The endpoint service.</summary>
    public WebhookEndpointService Endpoints { get; }

    /// <summary>The operator API.</summary>
    public WebhookDeliveryService Deliveries { get; }

    /// <summary>Options for dispatchers: short timeout, <see cref="ShortPolicy"/>, loopback allowed.</summary>
    public static WebhookDeliveryOptions TestOptions(Action<WebhookDeliveryOptions>? configure = null)
    {
        var options = new WebhookDeliveryOptions
        {
            // Long enough for a loaded CI machine to answer a prompt receiver; the slow-receiver tests delay 3 s and more.
            Timeout = TimeSpan.FromSeconds(2),
            LeaseDuration = TimeSpan.FromSeconds(30),
            RetryPolicy = ShortPolicy,
            AllowLoopback = true,
            MaxConcurrency = 4,
        };
        configure?.Invoke(options);
        return options;
    }

    /// <summary>A dispatcher sending through the SSRF-guarded handler.</summary>
    public WebhookDispatcher Dispatcher(Action<WebhookDeliveryOptions>? configure = null) => Dispatcher(Queue, configure);

    /// <summary>A dispatcher over <paramref name="queue"/> (e.g. one wrapping <see cref="Queue"/> to hold its writes back).</summary>
    public WebhookDispatcher Dispatcher(IWebhookDeliveryQueue queue, Action<WebhookDeliveryOptions>? configure = null) =>
        new(queue, Store, Endpoints, Validator, new HttpClient(Validator.CreateHandler()) { Timeout = Timeout.InfiniteTimeSpan }, Clock, TestOptions(configure), NullLogger<WebhookDispatcher>.Instance);

    /// <summary>Registers an endpoint at <paramref name="url"/>.</summary>
    public async Task<WebhookEndpointRegistration> RegisterAsync(Guid tenant, Uri url, bool ordered = false, IReadOnlyList<string>? eventTypes = null) =>
        await Endpoints.RegisterAsync(tenant, new RegisterWebhookEndpoint { Url = url, Ordered = ordered, EventTypes = eventTypes });

    /// <summary>Writes one event to the outbox in a unit of work of its own.</summary>
    public async Task<WebhookEvent> EnqueueAsync(Guid tenant, string resourceId, string action = "paid", int sequence = 0) =>
        await Store.ExecuteAsync(
            (unit, _) => ValueTask.FromResult(Outbox.Enqueue(unit, tenant, "invoice", resourceId, "invoice." + action, new { id = resourceId, sequence })));

    /// <summary>Runs dispatch passes until one does nothing (bounded).</summary>
    public static async Task DrainAsync(IWebhookDispatcher dispatcher, int maxPasses = 50)
    {
        for (var i = 0; i < maxPasses; i++)
        {
            var result = await dispatcher.DispatchAsync();
            if (result.Scheduled == 0 && result.Claimed == 0)
            {
                return;
            }
        }
    }
}
