using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace PaymentsKit.Sample.Tests;

/// <summary>
/// The sample host on Kestrel at 127.0.0.1 on a free port, on its embedded defaults (in-memory store, simulated chains
/// and provider, background jobs on): the tests talk to it over real HTTP, as a client or a browser would.
/// </summary>
public sealed class SampleAppFixture : IAsyncLifetime
{
    private WebApplication? _app;

    public Uri BaseAddress { get; private set; } = null!;

    public IServiceProvider Services => _app?.Services ?? throw new InvalidOperationException("The sample host is not started.");

    public async Task InitializeAsync()
    {
        _app = SampleHost.Build(new SampleOptions { Url = "http://127.0.0.1:0" });
        await SampleHost.InitializeAsync(_app, CancellationToken.None);
        await _app.StartAsync();
        BaseAddress = SampleHost.BaseAddress(_app);
    }

    public async Task DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }

    /// <summary>A client of the API, optionally with an API key.</summary>
    public HttpClient Client(string? apiKey = null)
    {
        var client = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(60) };
        if (apiKey is not null)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
        }

        return client;
    }

    /// <summary>Signs up an invoicing merchant on simulated Stellar; returns its id, wallet and API key.</summary>
    public async Task<(string Id, string Wallet, string Key)> NewMerchantAsync()
    {
        var wallet = Chains.Stellar.StellarAddressCodec.EncodeAccount(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
        using var client = Client();
        using var response = await client.PostAsJsonAsync("/v1/merchants", new { chain = "stellar", wallet_address = wallet, name = "Test Shop" });
        var body = await Api.ReadAsync(response, 201);
        return (body.GetProperty("merchant").GetProperty("id").GetString()!, wallet, body.GetProperty("key").GetString()!);
    }

    /// <summary>Creates a routing merchant; returns its id and API key.</summary>
    public async Task<(string Id, string Key)> NewRoutingMerchantAsync()
    {
        using var client = Client();
        using var response = await client.PostAsJsonAsync("/v1/routing-merchants", new { name = "Test Router" });
        var body = await Api.ReadAsync(response, 201);
        return (body.GetProperty("id").GetString()!, body.GetProperty("key").GetString()!);
    }

    /// <summary>Creates a partner; returns its API key.</summary>
    public async Task<string> NewPartnerAsync()
    {
        using var client = Client();
        using var response = await client.PostAsJsonAsync("/v1/partners", new { name = "Globex", email = $"ops+{Guid.NewGuid():N}@globex.example" });
        return (await Api.ReadAsync(response, 201)).GetProperty("key").GetString()!;
    }

    public T Get<T>()
        where T : notnull => Services.GetRequiredService<T>();
}

[CollectionDefinition(Name)]
public sealed class SampleAppCollection : ICollectionFixture<SampleAppFixture>
{
    public const string Name = "Sample host";
}

/// <summary>Reading and checking API responses.</summary>
internal static class Api
{
    /// <summary>Reads a JSON response after checking its status (the body is in the failure message).</summary>
    public static async Task<JsonElement> ReadAsync(HttpResponseMessage response, int expectedStatus)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True((int)response.StatusCode == expectedStatus, $"{response.RequestMessage?.Method} {response.RequestMessage?.RequestUri}: expected {expectedStatus}, got {(int)response.StatusCode}: {text}");
        using var document = JsonDocument.Parse(text);
        return document.RootElement.Clone();
    }

    /// <summary>Checks an error response: its status and its <c>error.code</c>, with a message.</summary>
    public static async Task ExpectErrorAsync(HttpResponseMessage response, int expectedStatus, string expectedCode)
    {
        var body = await ReadAsync(response, expectedStatus);
        Assert.Equal(expectedCode, body.GetProperty("error").GetProperty("code").GetString());
        Assert.False(string.IsNullOrWhiteSpace(body.GetProperty("error").GetProperty("message").GetString()));
    }

    public static HttpRequestMessage Json(HttpMethod method, string path, object? body, string? idempotencyKey = null)
    {
        var request = new HttpRequestMessage(method, path) { Content = body is null ? null : JsonContent.Create(body) };
        if (idempotencyKey is not null)
        {
            request.Headers.Add("Idempotency-Key", idempotencyKey);
        }

        return request;
    }

    /// <summary>The receiver path of a merchant (by its typed id).</summary>
    public static string ReceiverPathOf(string merchantId) => Sample.Api.WebhookApi.ReceiverPath(MerchantId.Parse(merchantId).Value);

    public static HttpRequestMessage Raw(HttpMethod method, string path, string body)
    {
        var request = new HttpRequestMessage(method, path) { Content = new StringContent(body) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        return request;
    }
}
