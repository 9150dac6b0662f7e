using System.Net.Http.Json;
using Microsoft.Playwright;
using PaymentsKit.Chains;
using PaymentsKit.Chains.Stellar;

namespace PaymentsKit.Sample.Tests;

/// <summary>
/// The hosted checkout in headless Chromium (Debian's <c>/usr/bin/chromium</c>; Playwright never downloads a
/// browser): the page shows what to pay, and its live status turns to paid once the payment lands on the simulated
/// chain. A missing Chromium fails these tests, never skips them.
/// </summary>
[Collection(SampleAppCollection.Name)]
public sealed class CheckoutBrowserTests(SampleAppFixture app) : IAsyncLifetime
{
    private const string ChromiumPath = "/usr/bin/chromium";

    private static readonly string[] ChromiumArgs =
        ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];

    private IPlaywright? _playwright;
    private IBrowser? _browser;

    public async Task InitializeAsync()
    {
        Environment.SetEnvironmentVariable("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1");
        Assert.True(
            File.Exists(ChromiumPath),
            $"The checkout tests need Debian's Chromium at {ChromiumPath}: install it (apt-get install -y chromium; eng/test.sh does so when run as root).");
        _playwright = await Playwright.CreateAsync();
        _browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions { ExecutablePath = ChromiumPath, Headless = true, Args = ChromiumArgs });
    }

    public async Task DisposeAsync()
    {
        if (_browser is not null)
        {
            await _browser.DisposeAsync();
        }

        _playwright?.Dispose();
    }

    [Fact]
    public async Task The_invoice_checkout_shows_what_to_pay_and_turns_paid_when_the_payer_submits_the_transaction()
    {
        var (_, wallet, key) = await app.NewMerchantAsync();
        using var client = app.Client(key);
        var created = await Api.ReadAsync(await client.PostAsJsonAsync("/v1/invoices", new { amount = 42.5m, asset = "XLM", description = "Espresso machine", number = "INV-1001" }), 201);
        var invoice = created.GetProperty("invoice");
        var memo = invoice.GetProperty("memo").GetString()!;

        var page = await _browser!.NewPageAsync();
        await page.GotoAsync(new Uri(app.BaseAddress, created.GetProperty("checkout_url").GetString()).ToString());
        await Assertions.Expect(page.Locator("#title")).ToHaveTextAsync("Espresso machine");
        await Assertions.Expect(page.Locator("#amount")).ToHaveTextAsync("42.5000000");
        await Assertions.Expect(page.Locator("#asset")).ToHaveTextAsync("XLM");
        await Assertions.Expect(page.Locator("#address")).ToHaveTextAsync(wallet);
        await Assertions.Expect(page.Locator("#memo")).ToHaveTextAsync(memo);
        await Assertions.Expect(page.Locator("#merchant")).ToContainTextAsync("INV-1001");
        await Assertions.Expect(page.Locator("#status")).ToHaveAttributeAsync("data-status", "pending");
        await Assertions.Expect(page.Locator("#qr")).ToHaveAttributeAsync("title", new System.Text.RegularExpressions.Regex("^web\\+stellar:pay\\?destination=" + wallet + "&amount=42\\.5"));
        Assert.True(await page.Locator("#qr").EvaluateAsync<bool>("img => img.complete && img.naturalWidth > 100"), "the QR code image did not load");

        // The payer's wallet pays on the simulated chain; the payer pastes the hash into the page.
        var stellar = (SimulatedChain)app.Get<IChainAdapterRegistry>().Get(ChainId.Stellar);
        var hash = stellar.SimulateIncomingPayment(StellarAddressCodec.EncodeAccount(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)), wallet, Money.Of(42.5m, AssetRegistry.Xlm), memo);
        await page.Locator("#hash").FillAsync(hash);
        await page.Locator("#submit").ClickAsync();

        await Assertions.Expect(page.Locator("#status")).ToHaveAttributeAsync("data-status", "paid", new() { Timeout = 30_000 });
        await Assertions.Expect(page.Locator("#message")).ToHaveTextAsync("Paid. Thank you!");
        var paid = await Api.ReadAsync(await client.GetAsync($"/v1/invoices/{invoice.GetProperty("id").GetString()}"), 200);
        Assert.Equal("paid", paid.GetProperty("invoice").GetProperty("status").GetString());
    }

    [Fact]
    public async Task The_payment_link_checkout_is_paid_with_the_simulated_wallet_and_its_status_turns_paid()
    {
        var (_, wallet, key) = await app.NewMerchantAsync();
        using var client = app.Client(key);
        var created = await Api.ReadAsync(await client.PostAsJsonAsync("/v1/payment-links", new { title = "Concert ticket", amount = 15m, asset = "XLM", max_uses = 100 }), 201);
        var slug = created.GetProperty("payment_link").GetProperty("slug").GetString()!;

        var page = await _browser!.NewPageAsync();
        await page.GotoAsync(new Uri(app.BaseAddress, created.GetProperty("checkout_url").GetString()).ToString());
        await Assertions.Expect(page.Locator("#title")).ToHaveTextAsync("Concert ticket");
        await Assertions.Expect(page.Locator("#amount")).ToHaveTextAsync("15.0000000");
        await Assertions.Expect(page.Locator("#address")).ToHaveTextAsync(wallet);
        await Assertions.Expect(page.Locator("#status")).ToHaveAttributeAsync("data-status", "active");
        await page.Locator("#simulate").ClickAsync();

        await Assertions.Expect(page.Locator("#status")).ToHaveAttributeAsync("data-status", "paid", new() { Timeout = 30_000 });
        var link = await Api.ReadAsync(await client.GetAsync($"/v1/payment-links/{created.GetProperty("payment_link").GetProperty("id").GetString()}"), 200);
        Assert.Equal(1, link.GetProperty("payment_link").GetProperty("current_uses").GetInt32());
        var payments = await Api.ReadAsync(await client.GetAsync("/v1/payments"), 200);
        var payment = Assert.Single(payments.GetProperty("items").EnumerateArray());
        Assert.Equal("confirmed", payment.GetProperty("status").GetString());
        Assert.Equal(slug.Length <= 28 ? slug : slug[..28], payment.GetProperty("memo").GetString());
    }
}
