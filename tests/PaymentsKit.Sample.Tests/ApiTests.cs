using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using FsCheck;
using FsCheck.Fluent;
using NodaTime;
using PaymentsKit.Chains;

namespace PaymentsKit.Sample.Tests;

/// <summary>The sample's JSON API through its real HTTP surface: happy paths, authentication, idempotency and errors.</summary>
[Collection(SampleAppCollection.Name)]
public sealed class ApiTests(SampleAppFixture app)
{
    [Fact]
    public async Task A_merchant_signs_up_creates_an_invoice_and_it_is_paid_on_simulated_stellar()
    {
        var (merchantId, wallet, key) = await app.NewMerchantAsync();
        using var client = app.Client(key);

        var me = await Api.ReadAsync(await client.GetAsync($"/v1/merchants/{merchantId}"), 200);
        Assert.Equal(wallet, me.GetProperty("wallet_address").GetString());

        using var create = Api.Json(HttpMethod.Post, "/v1/invoices", new { amount = 12.5m, asset = "XLM", description = "Coffee beans" });
        var created = await Api.ReadAsync(await client.SendAsync(create), 201);
        var invoice = created.GetProperty("invoice");
        var invoiceId = invoice.GetProperty("id").GetString()!;
        Assert.StartsWith("inv_", invoiceId, StringComparison.Ordinal);
        Assert.Equal("pending", invoice.GetProperty("status").GetString());
        Assert.Equal($"/checkout/{merchantId}/invoices/{invoiceId}", created.GetProperty("checkout_url").GetString());

        var hash = Pay(wallet, Money.Of(12.5m, AssetRegistry.Xlm), invoice.GetProperty("memo").GetString());
        var payment = await SubmitUntilFinalAsync(client, new { transaction_hash = hash, invoice_id = invoiceId });
        Assert.Equal("confirmed", payment.GetProperty("payment").GetProperty("status").GetString());
        Assert.True(payment.GetProperty("created").GetBoolean());

        // Submitting the same transaction again records nothing new.
        var again = await Api.ReadAsync(await client.PostAsJsonAsync("/v1/payments", new { transaction_hash = hash, invoice_id = invoiceId }), 200);
        Assert.False(again.GetProperty("created").GetBoolean());
        Assert.Equal(payment.GetProperty("payment").GetProperty("id").GetString(), again.GetProperty("payment").GetProperty("id").GetString());

        var paid = await Api.ReadAsync(await client.GetAsync($"/v1/invoices/{invoiceId}"), 200);
        Assert.Equal("paid", paid.GetProperty("invoice").GetProperty("status").GetString());
        var reconciliation = await Api.ReadAsync(await client.GetAsync("/v1/ledger/reconciliation"), 200);
        Assert.Empty(reconciliation.GetProperty("discrepancies").EnumerateArray());
        Assert.True(reconciliation.GetProperty("transactions_checked").GetInt64() >= 1);
    }

    [Fact]
    public async Task Cancelling_an_invoice_returns_it_in_the_shape_of_the_other_invoice_calls_with_its_checkout_url()
    {
        var (merchantId, _, key) = await app.NewMerchantAsync();
        using var client = app.Client(key);
        using var create = Api.Json(HttpMethod.Post, "/v1/invoices", new { amount = 3m, asset = "XLM", description = "Tea" });
        var created = await Api.ReadAsync(await client.SendAsync(create), 201);
        var invoiceId = created.GetProperty("invoice").GetProperty("id").GetString()!;

        var cancelled = await Api.ReadAsync(await client.PostAsJsonAsync($"/v1/invoices/{invoiceId}/cancel", new { reason = "ordered twice" }), 200);

        Assert.Equal((invoiceId, "cancelled"), (cancelled.GetProperty("invoice").GetProperty("id").GetString(), cancelled.GetProperty("invoice").GetProperty("status").GetString()));
        Assert.Equal($"/checkout/{merchantId}/invoices/{invoiceId}", cancelled.GetProperty("checkout_url").GetString());
        var read = await Api.ReadAsync(await client.GetAsync($"/v1/invoices/{invoiceId}"), 200);
        Assert.Equal(read.EnumerateObject().Select(p => p.Name), cancelled.EnumerateObject().Select(p => p.Name));
        Assert.Equal(read.GetProperty("invoice").GetRawText(), cancelled.GetProperty("invoice").GetRawText());
    }

    [Fact]
    public async Task Requests_without_a_valid_key_are_401_and_keys_of_another_principal_are_403()
    {
        var (merchantId, _, key) = await app.NewMerchantAsync();
        var (otherMerchantId, _, otherKey) = await app.NewMerchantAsync();
        var (_, routingKey) = await app.NewRoutingMerchantAsync();
        var partnerKey = await app.NewPartnerAsync();

        using (var anonymous = app.Client())
        {
            await Api.ExpectErrorAsync(await anonymous.GetAsync("/v1/invoices"), 401, "invalid_api_key");
        }

        using (var forged = app.Client("sk_" + new string('A', 40)))
        {
            await Api.ExpectErrorAsync(await forged.GetAsync("/v1/invoices"), 401, "invalid_api_key");
        }

        using (var garbage = app.Client("not-a-key"))
        {
            await Api.ExpectErrorAsync(await garbage.GetAsync("/v1/invoices"), 401, "invalid_api_key");
        }

        using (var partner = app.Client("ptn_" + new string('B', 40)))
        {
            await Api.ExpectErrorAsync(await partner.GetAsync("/v1/transactions/txn_01m6dqt7wrf47ra6zwzbbvqdtp"), 401, "invalid_api_key");
        }

        using var merchant = app.Client(key);
        using var routing = app.Client(routingKey);
        using var partnerClient = app.Client(partnerKey);
        await Api.ExpectErrorAsync(await routing.GetAsync("/v1/invoices"), 403, "forbidden");
        await Api.ExpectErrorAsync(await partnerClient.PostAsJsonAsync("/v1/invoices", new { amount = 1m, asset = "XLM", description = "x" }), 403, "forbidden");
        await Api.ExpectErrorAsync(await merchant.PostAsJsonAsync("/v1/quotes", new { amount = 1m }), 403, "forbidden");
        await Api.ExpectErrorAsync(await merchant.GetAsync("/v1/transactions/txn_01m6dqt7wrf47ra6zwzbbvqdtp"), 403, "forbidden");
        await Api.ExpectErrorAsync(await merchant.GetAsync($"/v1/merchants/{otherMerchantId}"), 403, "forbidden");

        // Another merchant's invoice does not exist for this merchant.
        using var other = app.Client(otherKey);
        var theirs = await Api.ReadAsync(await other.PostAsJsonAsync("/v1/invoices", new { amount = 1m, asset = "XLM", description = "theirs" }), 201);
        await Api.ExpectErrorAsync(await merchant.GetAsync($"/v1/invoices/{theirs.GetProperty("invoice").GetProperty("id").GetString()}"), 404, "not_found");

        // A revoked key stops working at once; the merchant's other keys do not.
        var second = await Api.ReadAsync(await merchant.PostAsJsonAsync("/v1/api-keys", new { name = "ci" }), 201);
        using var secondClient = app.Client(second.GetProperty("key").GetString());
        await Api.ReadAsync(await secondClient.GetAsync($"/v1/merchants/{merchantId}"), 200);
        await Api.ReadAsync(await merchant.PostAsync($"/v1/api-keys/{second.GetProperty("api_key").GetProperty("id").GetString()}/revoke", null), 200);
        await Api.ExpectErrorAsync(await secondClient.GetAsync($"/v1/merchants/{merchantId}"), 401, "invalid_api_key");
        await Api.ReadAsync(await merchant.GetAsync($"/v1/merchants/{merchantId}"), 200);
    }

    [Fact]
    public async Task A_request_without_a_valid_key_is_401_before_its_body_is_read_and_sign_ups_need_no_key()
    {
        // Whatever the body (malformed, not JSON, missing), an unauthenticated caller learns nothing about the endpoint's input.
        using var anonymous = app.Client();
        using var forged = app.Client("sk_" + new string('A', 40));
        foreach (var client in new[] { anonymous, forged })
        {
            foreach (var (path, content) in new (string, HttpContent?)[]
            {
                ("/v1/invoices", new StringContent("{not json", System.Text.Encoding.UTF8, "application/json")),
                ("/v1/invoices", new StringContent("amount=5", System.Text.Encoding.UTF8, "text/plain")),
                ("/v1/invoices", null),
                ("/v1/quotes", new StringContent("[]", System.Text.Encoding.UTF8, "application/json")),
                ("/v1/transactions", new StringContent("{\"amount\": \"lots\"}", System.Text.Encoding.UTF8, "application/json")),
                ("/v1/distributions", new StringContent("{", System.Text.Encoding.UTF8, "application/json")),
                ("/v1/webhook-endpoints", new StringContent("x", System.Text.Encoding.UTF8, "text/plain")),
            })
            {
                using var response = await client.PostAsync(path, content);
                await Api.ExpectErrorAsync(response, 401, "invalid_api_key");
            }
        }

        // Sign-ups are the open calls: their bodies are still judged as such.
        await Api.ExpectErrorAsync(await anonymous.PostAsync("/v1/merchants", new StringContent("{", System.Text.Encoding.UTF8, "application/json")), 400, "invalid_argument");
        await Api.ExpectErrorAsync(await anonymous.PostAsync("/v1/partners", new StringContent("{", System.Text.Encoding.UTF8, "application/json")), 400, "invalid_argument");
        await Api.ExpectErrorAsync(await anonymous.PostAsync("/v1/routing-merchants", new StringContent("{", System.Text.Encoding.UTF8, "application/json")), 400, "invalid_argument");
    }

    [Fact]
    public async Task A_request_without_a_valid_key_is_401_before_its_body_is_read_whatever_the_case_of_its_path()
    {
        // Routing matches paths case-insensitively, so /V1/invoices reaches the /v1/invoices endpoint: the key check must too.
        using var anonymous = app.Client();
        foreach (var path in new[] { "/V1/invoices", "/v1/Invoices", "/V1/quotes" })
        {
            using var response = await anonymous.PostAsync(path, new StringContent("{not json", System.Text.Encoding.UTF8, "application/json"));
            await Api.ExpectErrorAsync(response, 401, "invalid_api_key");
        }

        // An open sign-up stays open under any case.
        await Api.ExpectErrorAsync(await anonymous.PostAsync("/V1/merchants", new StringContent("{", System.Text.Encoding.UTF8, "application/json")), 400, "invalid_argument");
    }

    [Fact]
    public async Task API_key_responses_never_carry_the_stored_key_hash()
    {
        // The hash is what a stolen key is checked against; like the partner's and the webhook secrets, it never leaves the store.
        using var signUpClient = app.Client();
        var signUp = await Api.ReadAsync(
            await signUpClient.PostAsJsonAsync("/v1/merchants", new { chain = "stellar", wallet_address = Chains.Stellar.StellarAddressCodec.EncodeAccount(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)) }),
            201);
        using var client = app.Client(signUp.GetProperty("key").GetString());
        var created = await Api.ReadAsync(await client.PostAsJsonAsync("/v1/api-keys", new { name = "ci" }), 201);
        var listed = await Api.ReadAsync(await client.GetAsync("/v1/api-keys"), 200);
        var revoked = await Api.ReadAsync(await client.PostAsync($"/v1/api-keys/{created.GetProperty("api_key").GetProperty("id").GetString()}/revoke", null), 200);

        JsonElement[] keys = [signUp.GetProperty("api_key"), created.GetProperty("api_key"), .. listed.GetProperty("items").EnumerateArray(), revoked];
        Assert.Equal(5, keys.Length);
        Assert.All(keys, key =>
        {
            Assert.StartsWith("sk_", key.GetProperty("prefix").GetString(), StringComparison.Ordinal);
            Assert.False(key.TryGetProperty("hash", out _), $"an API key response carries its hash: {key}");
        });
        Assert.NotEqual(JsonValueKind.Null, revoked.GetProperty("revoked_at").ValueKind);
    }

    [Fact]
    public async Task A_partner_beyond_its_calls_per_minute_is_429_rate_limited_with_Retry_After()
    {
        using var partner = app.Client(await app.NewPartnerAsync());
        var me = await Api.ReadAsync(await partner.GetAsync("/v1/partners/me"), 200);
        var limit = me.GetProperty("rate_limit_per_minute").GetInt32();
        for (var call = 1; call < limit; call++)
        {
            await Api.ReadAsync(await partner.GetAsync("/v1/partners/me"), 200);
        }

        using var limited = await partner.GetAsync("/v1/partners/me");
        await Api.ExpectErrorAsync(limited, 429, "rate_limited");
        var retryAfter = Assert.Single(limited.Headers.GetValues("Retry-After"));
        Assert.InRange(int.Parse(retryAfter, CultureInfo.InvariantCulture), 1, 60);

        // The limit is the partner's own: another partner is not slowed down.
        using var other = app.Client(await app.NewPartnerAsync());
        await Api.ReadAsync(await other.GetAsync("/v1/partners/me"), 200);
    }

    [Fact]
    public async Task Another_tenants_records_are_404_to_every_call_that_takes_their_id_and_a_cursor_reads_only_the_callers_records()
    {
        var (_, _, ownerKey) = await app.NewMerchantAsync();
        var (_, _, strangerKey) = await app.NewMerchantAsync();
        using var owner = app.Client(ownerKey);
        using var stranger = app.Client(strangerKey);
        var invoices = new List<string>();
        for (var i = 0; i < 2; i++)
        {
            invoices.Add((await Api.ReadAsync(await owner.PostAsJsonAsync("/v1/invoices", new { amount = 1m + i, asset = "XLM", description = "owner's" }), 201))
                .GetProperty("invoice").GetProperty("id").GetString()!);
        }

        var link = (await Api.ReadAsync(await owner.PostAsJsonAsync("/v1/payment-links", new { title = "Tee", amount = 20m, asset = "XLM" }), 201)).GetProperty("payment_link");
        var stream = (await Api.ReadAsync(
            await owner.PostAsJsonAsync("/v1/streams", new { payer = "payer-1", recipient = "recipient-1", total_amount = 10m, asset = "USDC", rate_per_second = 0.001m }), 201)).GetProperty("id").GetString();
        var token = (await Api.ReadAsync(await owner.PostAsJsonAsync("/v1/token-assets", new
        {
            token_id = $"0.0.{Random.Shared.Next(100_000, 999_999)}", name = "Owner Equity", symbol = "OEQ", total_supply = 1_000, decimals = 0, payment_asset = "USDC",
        }), 201)).GetProperty("id").GetString();
        var distribution = (await Api.ReadAsync(
            await owner.PostAsJsonAsync("/v1/distributions", new { asset_id = token, type = "dividend", payout = "fixed", amount = 10m, asset = "USDC" }), 201)).GetProperty("id").GetString();

        (HttpMethod Method, string Path, object? Body)[] merchantCalls =
        [
            (HttpMethod.Get, $"/v1/invoices/{invoices[0]}", null), (HttpMethod.Post, $"/v1/invoices/{invoices[0]}/cancel", new { }),
            (HttpMethod.Get, $"/v1/payment-links/{link.GetProperty("id").GetString()}", null),
            (HttpMethod.Post, "/v1/payments", new { transaction_hash = "00", invoice_id = invoices[0] }),
            (HttpMethod.Get, $"/v1/streams/{stream}", null), (HttpMethod.Get, $"/v1/streams/{stream}/statement", null),
            (HttpMethod.Post, $"/v1/streams/{stream}/pause", new { }), (HttpMethod.Post, $"/v1/streams/{stream}/settle", new { }),
            (HttpMethod.Post, $"/v1/streams/{stream}/cancel", new { }), (HttpMethod.Post, $"/v1/streams/{stream}/withdraw", new { }),
            (HttpMethod.Post, "/v1/distributions", new { asset_id = token, type = "dividend", payout = "fixed", amount = 10m, asset = "USDC" }),
            (HttpMethod.Get, $"/v1/distributions/{distribution}", null), (HttpMethod.Get, $"/v1/distributions/{distribution}/batches", null),
            (HttpMethod.Post, $"/v1/distributions/{distribution}/holders", new[] { new { account_id = "0.0.800001", balance = 1L } }),
            (HttpMethod.Post, $"/v1/distributions/{distribution}/execute", null),
        ];
        foreach (var (method, path, body) in merchantCalls)
        {
            using var request = Api.Json(method, path, body);
            using var response = await stranger.SendAsync(request);

            // A payment against the owner's invoice is refused on the invoice only once the transaction is known; an unknown one is not found first.
            await Api.ExpectErrorAsync(response, 404, path == "/v1/payments" ? "transaction_not_found" : "not_found");
        }

        var ownerPage = await Api.ReadAsync(await owner.GetAsync("/v1/invoices?limit=1"), 200);
        var cursor = ownerPage.GetProperty("next_cursor").GetString();
        Assert.NotNull(cursor);
        var strangerPage = await Api.ReadAsync(await stranger.GetAsync($"/v1/invoices?cursor={Uri.EscapeDataString(cursor)}"), 200);
        Assert.Empty(strangerPage.GetProperty("items").EnumerateArray());

        // Nothing the stranger tried changed the owner's records.
        Assert.Equal("pending", (await Api.ReadAsync(await owner.GetAsync($"/v1/invoices/{invoices[0]}"), 200)).GetProperty("invoice").GetProperty("status").GetString());
        Assert.Equal("active", (await Api.ReadAsync(await owner.GetAsync($"/v1/streams/{stream}"), 200)).GetProperty("status").GetString());

        var (_, routingKey) = await app.NewRoutingMerchantAsync();
        var (_, otherRoutingKey) = await app.NewRoutingMerchantAsync();
        using var router = app.Client(routingKey);
        using var otherRouter = app.Client(otherRoutingKey);
        var quote = (await Api.ReadAsync(
            await router.PostAsJsonAsync("/v1/quotes", new { amount = 5m, destinations = new[] { new { chain = "solana", address = "payee-sol" } } }), 201)).GetProperty("id").GetString();
        var intent = (await Api.ReadAsync(await router.SendAsync(Api.Json(HttpMethod.Post, "/v1/payment-intents", new { quote_id = quote }, "intent-1")), 201)).GetProperty("id").GetString();
        await Api.ExpectErrorAsync(await otherRouter.GetAsync($"/v1/quotes/{quote}"), 404, "not_found");
        await Api.ExpectErrorAsync(await otherRouter.SendAsync(Api.Json(HttpMethod.Post, "/v1/payment-intents", new { quote_id = quote }, "intent-1")), 404, "not_found");
        await Api.ExpectErrorAsync(await otherRouter.GetAsync($"/v1/payment-intents/{intent}"), 404, "not_found");
        await Api.ExpectErrorAsync(await otherRouter.GetAsync($"/v1/payment-intents/{intent}/attempts"), 404, "not_found");
        await Api.ExpectErrorAsync(await otherRouter.PostAsync($"/v1/payment-intents/{intent}/advance", null), 404, "not_found");
        await Api.ExpectErrorAsync(await otherRouter.PostAsync($"/v1/payment-intents/{intent}/cancel", null), 404, "not_found");
        Assert.NotEqual("cancelled", (await Api.ReadAsync(await router.GetAsync($"/v1/payment-intents/{intent}"), 200)).GetProperty("status").GetString());

        using var partner = app.Client(await app.NewPartnerAsync());
        using var otherPartner = app.Client(await app.NewPartnerAsync());
        var charge = new { amount = 30m, currency = "USD", payment_method = "card", provider = "stripe", customer_email = "jane@example.com" };
        var transaction = (await Api.ReadAsync(await partner.SendAsync(Api.Json(HttpMethod.Post, "/v1/transactions", charge, "order-1")), 201)).GetProperty("id").GetString();
        await Api.ExpectErrorAsync(await otherPartner.GetAsync($"/v1/transactions/{transaction}"), 404, "not_found");
        await Api.ExpectErrorAsync(await otherPartner.GetAsync($"/v1/transactions/{transaction}/events"), 404, "not_found");
        await Api.ExpectErrorAsync(await otherPartner.GetAsync($"/v1/transactions/{transaction}/refunds"), 404, "not_found");
        await Api.ExpectErrorAsync(await otherPartner.SendAsync(Api.Json(HttpMethod.Post, $"/v1/transactions/{transaction}/refunds", new { amount = 1m, reason = "mine now" })), 404, "not_found");
        Assert.Empty((await Api.ReadAsync(await partner.GetAsync($"/v1/transactions/{transaction}/refunds"), 200)).EnumerateArray());
    }

    [Fact]
    public async Task Retries_with_the_same_Idempotency_Key_return_the_first_result_and_a_changed_request_conflicts()
    {
        var (_, _, key) = await app.NewMerchantAsync();
        using var client = app.Client(key);
        var idempotencyKey = Guid.NewGuid().ToString("N");

        var first = await Api.ReadAsync(await client.SendAsync(Api.Json(HttpMethod.Post, "/v1/invoices", new { amount = 5m, asset = "XLM", description = "Retry me" }, idempotencyKey)), 201);
        var retry = await Api.ReadAsync(await client.SendAsync(Api.Json(HttpMethod.Post, "/v1/invoices", new { amount = 5m, asset = "XLM", description = "Retry me" }, idempotencyKey)), 201);
        Assert.Equal(first.GetProperty("invoice").GetProperty("id").GetString(), retry.GetProperty("invoice").GetProperty("id").GetString());
        await Api.ExpectErrorAsync(
            await client.SendAsync(Api.Json(HttpMethod.Post, "/v1/invoices", new { amount = 6m, asset = "XLM", description = "Retry me" }, idempotencyKey)), 409, "idempotency_conflict");
        var list = await Api.ReadAsync(await client.GetAsync("/v1/invoices"), 200);
        Assert.Single(list.GetProperty("items").EnumerateArray());

        var link = await Api.ReadAsync(await client.SendAsync(Api.Json(HttpMethod.Post, "/v1/payment-links", new { title = "Tee", amount = 20m, asset = "XLM" }, idempotencyKey)), 201);
        var linkRetry = await Api.ReadAsync(await client.SendAsync(Api.Json(HttpMethod.Post, "/v1/payment-links", new { title = "Tee", amount = 20m, asset = "XLM" }, idempotencyKey)), 201);
        Assert.Equal(link.GetProperty("payment_link").GetProperty("id").GetString(), linkRetry.GetProperty("payment_link").GetProperty("id").GetString());

        var partnerKey = await app.NewPartnerAsync();
        using var partner = app.Client(partnerKey);
        var charge = new { amount = 30m, currency = "USD", payment_method = "card", provider = "stripe", customer_email = "jane@example.com" };
        var transaction = await Api.ReadAsync(await partner.SendAsync(Api.Json(HttpMethod.Post, "/v1/transactions", charge, "order-1")), 201);
        var transactionRetry = await Api.ReadAsync(await partner.SendAsync(Api.Json(HttpMethod.Post, "/v1/transactions", charge, "order-1")), 201);
        Assert.Equal(transaction.GetProperty("id").GetString(), transactionRetry.GetProperty("id").GetString());
        await Api.ExpectErrorAsync(await partner.SendAsync(Api.Json(HttpMethod.Post, "/v1/transactions", charge)), 400, "invalid_argument");

        var refundPath = $"/v1/transactions/{transaction.GetProperty("id").GetString()}/refunds";
        var refund = await Api.ReadAsync(await partner.SendAsync(Api.Json(HttpMethod.Post, refundPath, new { amount = 10m, reason = "damaged" }, "refund-1")), 201);
        var refundRetry = await Api.ReadAsync(await partner.SendAsync(Api.Json(HttpMethod.Post, refundPath, new { amount = 10m, reason = "damaged" }, "refund-1")), 201);
        Assert.Equal(refund.GetProperty("id").GetString(), refundRetry.GetProperty("id").GetString());
        Assert.Single((await Api.ReadAsync(await partner.GetAsync(refundPath), 200)).EnumerateArray());
        await Api.ExpectErrorAsync(await partner.SendAsync(Api.Json(HttpMethod.Post, refundPath, new { amount = 25m, reason = "too much" })), 422, "refund_exceeds_remaining");
    }

    [Fact]
    public async Task A_payment_intent_is_quoted_routed_broadcast_and_settled_and_its_webhooks_arrive_verified()
    {
        var (merchantId, key) = await app.NewRoutingMerchantAsync();
        using var client = app.Client(key);
        var endpoint = await Api.ReadAsync(
            await client.PostAsJsonAsync("/v1/webhook-endpoints", new { url = new Uri(app.BaseAddress, Api.ReceiverPathOf(merchantId)).ToString() }), 201);
        Assert.StartsWith("whsec_", endpoint.GetProperty("secret").GetString(), StringComparison.Ordinal);

        var quote = await Api.ReadAsync(await client.PostAsJsonAsync("/v1/quotes", new
        {
            amount = 75m,
            priority = "low_fee",
            destinations = new[] { new { chain = "ethereum", address = "payee-eth" }, new { chain = "solana", address = "payee-sol" } },
        }), 201);
        var quoteId = quote.GetProperty("id").GetString()!;
        await Api.ExpectErrorAsync(await client.PostAsJsonAsync("/v1/payment-intents", new { quote_id = quoteId }), 400, "invalid_argument");

        var intentKey = Guid.NewGuid().ToString("N");
        var intent = await Api.ReadAsync(await client.SendAsync(Api.Json(HttpMethod.Post, "/v1/payment-intents", new { quote_id = quoteId }, intentKey)), 201);
        var retried = await Api.ReadAsync(await client.SendAsync(Api.Json(HttpMethod.Post, "/v1/payment-intents", new { quote_id = quoteId }, intentKey)), 201);
        var intentId = intent.GetProperty("id").GetString()!;
        Assert.Equal(intentId, retried.GetProperty("id").GetString());
        var chain = intent.GetProperty("selected_chain").GetString()!;
        var before = await Api.ReadAsync(await client.GetAsync($"/v1/treasury/{chain}"), 200);

        var elapsed = Stopwatch.StartNew();
        while (intent.GetProperty("status").GetString() != "settled")
        {
            Assert.True(elapsed.Elapsed < TimeSpan.FromSeconds(60), $"intent still {intent.GetProperty("status").GetString()}");
            Assert.DoesNotContain(intent.GetProperty("status").GetString(), new[] { "failed", "manual_review", "expired", "cancelled" });
            intent = await Api.ReadAsync(await client.PostAsync($"/v1/payment-intents/{intentId}/advance", null), 200);
            await Task.Delay(100);
        }

        Assert.NotNull(intent.GetProperty("tx_id").GetString());
        var after = await Api.ReadAsync(await client.GetAsync($"/v1/treasury/{chain}"), 200);
        Assert.True(after.GetProperty("balances").GetBoolean());
        Assert.Equal(
            Amount(before.GetProperty("spent")) + 75m,
            Amount(after.GetProperty("spent")));

        // The background dispatcher delivers each status change to the sample's receiver, which verifies it.
        var types = new HashSet<string>();
        while (!types.Contains("payment_intent.settled"))
        {
            Assert.True(elapsed.Elapsed < TimeSpan.FromSeconds(90), $"webhooks received: {string.Join(", ", types)}");
            await Task.Delay(250);
            var received = await Api.ReadAsync(await client.GetAsync("/v1/webhooks/received"), 200);
            types = [.. received.EnumerateArray().Where(w => w.GetProperty("outcome").GetString() == "accepted").Select(w => w.GetProperty("type").GetString()!)];
        }

        Assert.Contains("payment_intent.created", types);
        Assert.Contains("payment_intent.route_selected", types);
    }

    [Fact]
    public async Task The_webhook_receiver_refuses_deliveries_that_do_not_verify()
    {
        var (merchantId, key) = await app.NewRoutingMerchantAsync();
        using var client = app.Client(key);
        var path = Api.ReceiverPathOf(merchantId);
        var endpoint = await Api.ReadAsync(await client.PostAsJsonAsync("/v1/webhook-endpoints", new { url = new Uri(app.BaseAddress, path).ToString() }), 201);
        var secret = Webhooks.WebhookSecret.Parse(endpoint.GetProperty("secret").GetString());
        var body = """{"type":"payment_intent.settled","data":{}}"""u8.ToArray();
        var now = app.Get<IClock>().GetCurrentInstant().ToUnixTimeSeconds();

        using var anonymous = app.Client();
        await Api.ExpectErrorAsync(await anonymous.SendAsync(Signed(path, "msg_1", now, "v1,AAAA", body)), 400, "webhook_verification_failed");
        await Api.ExpectErrorAsync(await anonymous.SendAsync(Signed(path, "msg_1", now, Webhooks.WebhookSigner.Sign(Webhooks.WebhookSecret.Generate(), "msg_1", now, body), body)), 400, "webhook_verification_failed");
        await Api.ExpectErrorAsync(await anonymous.SendAsync(Signed(path, "msg_1", now - 3600, Webhooks.WebhookSigner.Sign(secret, "msg_1", now - 3600, body), body)), 400, "webhook_verification_failed");
        using (var unsigned = new HttpRequestMessage(HttpMethod.Post, path) { Content = new ByteArrayContent(body) })
        {
            await Api.ExpectErrorAsync(await anonymous.SendAsync(unsigned), 400, "webhook_verification_failed");
        }

        var accepted = await Api.ReadAsync(await anonymous.SendAsync(Signed(path, "msg_1", now, Webhooks.WebhookSigner.Sign(secret, "msg_1", now, body), body)), 200);
        Assert.Equal("accepted", accepted.GetProperty("outcome").GetString());
        var duplicate = await Api.ReadAsync(await anonymous.SendAsync(Signed(path, "msg_1", now, Webhooks.WebhookSigner.Sign(secret, "msg_1", now, body), body)), 200);
        Assert.Equal("duplicate", duplicate.GetProperty("outcome").GetString());
        await Api.ExpectErrorAsync(await anonymous.PostAsync("/webhooks/receiver/not-a-tenant", new ByteArrayContent(body)), 400, "malformed_id");
    }

    [Fact]
    public async Task The_webhook_receiver_verifies_with_enabled_endpoints_only_and_logs_a_replay_once()
    {
        var (merchantId, key) = await app.NewRoutingMerchantAsync();
        using var client = app.Client(key);
        var path = Api.ReceiverPathOf(merchantId);
        var url = new Uri(app.BaseAddress, path).ToString();
        var retired = await Api.ReadAsync(await client.PostAsJsonAsync("/v1/webhook-endpoints", new { url }), 201);
        var kept = await Api.ReadAsync(await client.PostAsJsonAsync("/v1/webhook-endpoints", new { url = url + "?kept=1" }), 201);
        await app.Get<Webhooks.IWebhookEndpointService>().DisableAsync(
            MerchantId.Parse(merchantId).Value, Webhooks.WebhookEndpointId.Parse(retired.GetProperty("endpoint").GetProperty("id").GetString()), "retired");
        var body = """{"type":"payment_intent.settled","data":{}}"""u8.ToArray();
        var now = app.Get<IClock>().GetCurrentInstant().ToUnixTimeSeconds();
        string Sign(JsonElement endpoint, string id) =>
            Webhooks.WebhookSigner.Sign(Webhooks.WebhookSecret.Parse(endpoint.GetProperty("secret").GetString()), id, now, body);

        // A disabled endpoint's secret (leaked, or retired for a reason) no longer vouches for anything.
        using var anonymous = app.Client();
        await Api.ExpectErrorAsync(await anonymous.SendAsync(Signed(path, "msg_retired", now, Sign(retired, "msg_retired"), body)), 400, "webhook_verification_failed");

        // A replay within the timestamp tolerance is acknowledged as a duplicate and not logged again.
        for (var i = 0; i < 3; i++)
        {
            var outcome = await Api.ReadAsync(await anonymous.SendAsync(Signed(path, "msg_kept", now, Sign(kept, "msg_kept"), body)), 200);
            Assert.Equal(i == 0 ? "accepted" : "duplicate", outcome.GetProperty("outcome").GetString());
        }

        var received = await Api.ReadAsync(await client.GetAsync("/v1/webhooks/received"), 200);
        var logged = Assert.Single(received.EnumerateArray());
        Assert.Equal(("msg_kept", "accepted"), (logged.GetProperty("webhook_id").GetString(), logged.GetProperty("outcome").GetString()));
    }

    [Fact]
    public async Task A_stream_accrues_settles_and_cancels_and_a_dividend_pays_its_holders_in_batches()
    {
        var (_, _, key) = await app.NewMerchantAsync();
        using var client = app.Client(key);
        var stream = await Api.ReadAsync(await client.PostAsJsonAsync("/v1/streams", new { payer = "payer-1", recipient = "recipient-1", total_amount = 10m, asset = "USDC", rate_per_second = 0.5m }), 201);
        var streamId = stream.GetProperty("id").GetString()!;
        Assert.Equal("active", stream.GetProperty("status").GetString());
        await Task.Delay(1200);
        var settled = await Api.ReadAsync(await client.PostAsJsonAsync($"/v1/streams/{streamId}/settle", new { actor = "test" }), 200);
        Assert.True(Amount(settled.GetProperty("settled_amount")) > 0m);
        var cancelled = await Api.ReadAsync(await client.PostAsJsonAsync($"/v1/streams/{streamId}/cancel", new { actor = "test", reason = "done" }), 200);
        Assert.Equal("cancelled", cancelled.GetProperty("status").GetString());
        Assert.Equal(10m, Amount(cancelled.GetProperty("settled_amount")) + Amount(cancelled.GetProperty("refunded_amount")));
        await Api.ExpectErrorAsync(await client.PostAsJsonAsync($"/v1/streams/{streamId}/pause", new { actor = "test" }), 409, "invalid_transition");

        var asset = await Api.ReadAsync(await client.PostAsJsonAsync("/v1/token-assets", new
        {
            token_id = $"0.0.{Random.Shared.Next(100_000, 999_999)}", name = "Test Equity", symbol = "TEQ", total_supply = 1_000_000, decimals = 2, payment_asset = "USDC",
        }), 201);
        var distribution = await Api.ReadAsync(await client.PostAsJsonAsync("/v1/distributions", new
        {
            asset_id = asset.GetProperty("id").GetString(), type = "dividend", payout = "fixed", amount = 100m, asset = "USDC", concept = "Q4",
        }), 201);
        var distributionId = distribution.GetProperty("id").GetString()!;
        var holders = Enumerable.Range(1, 25).Select(i => new { account_id = $"0.0.{800_000 + i}", balance = 100L * i }).ToArray();
        using (var nullHolder = Api.Raw(HttpMethod.Post, $"/v1/distributions/{distributionId}/holders", "[null]"))
        {
            await Api.ExpectErrorAsync(await client.SendAsync(nullHolder), 400, "invalid_argument");
        }

        var snapshot = await Api.ReadAsync(await client.PostAsJsonAsync($"/v1/distributions/{distributionId}/holders", holders), 200);
        Assert.Equal(25, snapshot.GetProperty("holders").GetInt32());
        var done = await Api.ReadAsync(await client.PostAsync($"/v1/distributions/{distributionId}/execute", null), 200);
        Assert.Equal("completed", done.GetProperty("status").GetString());
        var batches = await Api.ReadAsync(await client.GetAsync($"/v1/distributions/{distributionId}/batches"), 200);
        Assert.True(batches.GetArrayLength() > 1);
        Assert.Equal(25, batches.EnumerateArray().Sum(b => b.GetProperty("successful_payments").GetInt32()));
        Assert.Equal(100m, batches.EnumerateArray().Sum(b => Amount(b.GetProperty("paid"))));
    }

    [Theory]
    [InlineData("POST", "/v1/invoices", """{"amount":1.00000001,"asset":"XLM","description":"x"}""", 400, "amount_precision")]
    [InlineData("POST", "/v1/invoices", """{"amount":-5,"asset":"XLM","description":"x"}""", 400, "amount_out_of_range")]
    [InlineData("POST", "/v1/invoices", """{"amount":5,"asset":"NOPE","description":"x"}""", 400, "unknown_asset")]
    [InlineData("POST", "/v1/invoices", """{"amount":5,"asset":"SOL","description":"x"}""", 400, "unsupported_asset")]
    [InlineData("POST", "/v1/invoices", """{"amount":5,"asset":"XLM"}""", 400, "invalid_argument")]
    [InlineData("POST", "/v1/invoices", """{"amount":"five","asset":"XLM","description":"x"}""", 400, "invalid_argument")]
    [InlineData("POST", "/v1/invoices", """{"amount":5,""", 400, "invalid_argument")]
    [InlineData("POST", "/v1/invoices", "", 400, "invalid_argument")]
    [InlineData("POST", "/v1/invoices", "[]", 400, "invalid_argument")]
    [InlineData("POST", "/v1/invoices", """{"amount":1e400,"asset":"XLM","description":"x"}""", 400, "invalid_argument")]
    [InlineData("GET", "/v1/invoices/inv_nope", null, 400, "malformed_id")]
    [InlineData("GET", "/v1/invoices/pi_01m6dqt6xge2ystwzebymwnmdt", null, 400, "malformed_id")]
    [InlineData("GET", "/v1/invoices/inv_01m6dqs9m0f9ysmbxcmganm9zs", null, 404, "not_found")]
    [InlineData("POST", "/v1/invoices/inv_01m6dqs9m0f9ysmbxcmganm9zs/cancel", "{}", 404, "not_found")]
    [InlineData("GET", "/v1/invoices?limit=0", null, 400, "invalid_argument")]
    [InlineData("GET", "/v1/invoices?limit=abc", null, 400, "invalid_argument")]
    [InlineData("POST", "/v1/payments", """{"transaction_hash":"00"}""", 404, "transaction_not_found")]
    [InlineData("POST", "/v1/payments", """{"transaction_hash":"00","invoice_id":"inv_x"}""", 400, "malformed_id")]
    [InlineData("POST", "/v1/payment-links", """{"title":"T","amount":1,"asset":"XLM","slug":"NOT A SLUG"}""", 400, "invalid_argument")]
    [InlineData("POST", "/v1/streams", """{"payer":"a","recipient":"b","total_amount":10,"asset":"USDC","rate_per_second":0}""", 400, "amount_out_of_range")]
    [InlineData("POST", "/v1/streams", """{"payer":"a","recipient":"b","total_amount":10,"asset":"ZZZ","rate_per_second":1}""", 400, "unknown_asset")]
    [InlineData("POST", "/v1/distributions", """{"asset_id":"tok_01m6dqs9m0f9ysmbxcmganm9zs","type":"dividend","payout":"fixed","amount":1}""", 404, "not_found")]
    [InlineData("POST", "/v1/distributions", """{"asset_id":"tok_01m6dqs9m0f9ysmbxcmganm9zs","type":"bonus"}""", 400, "invalid_argument")]
    [InlineData("POST", "/v1/webhook-endpoints", """{"url":"http://169.254.169.254/latest"}""", 400, "webhook_endpoint_rejected")]
    [InlineData("POST", "/v1/webhook-endpoints", """{"url":"not a url"}""", 400, "invalid_argument")]
    [InlineData("POST", "/v1/api-keys", """{"name":""}""", 400, "invalid_argument")]
    [InlineData("GET", "/v1/no-such-thing", null, 404, "not_found")]
    [InlineData("DELETE", "/v1/invoices", null, 405, "method_not_allowed")]
    public async Task Bad_input_to_a_merchant_call_is_a_4xx_with_its_error_code(string method, string path, string? body, int status, string code)
    {
        var (_, _, key) = await app.NewMerchantAsync();
        using var client = app.Client(key);
        using var request = body is null ? new HttpRequestMessage(new HttpMethod(method), path) : Api.Raw(new HttpMethod(method), path, body);
        await Api.ExpectErrorAsync(await client.SendAsync(request), status, code);
    }

    [Theory]
    [InlineData("/v1/quotes", """{"amount":10,"destinations":[{"chain":"bitcoin","address":"x"}]}""", 400, "unknown_chain")]
    [InlineData("/v1/quotes", """{"amount":10,"destinations":[]}""", 400, "invalid_argument")]
    [InlineData("/v1/quotes", """{"amount":10,"destinations":[null]}""", 400, "invalid_argument")]
    [InlineData("/v1/quotes", """{"amount":10.1234567,"destinations":[{"chain":"solana","address":"x"}]}""", 400, "amount_precision")]
    [InlineData("/v1/quotes", """{"amount":10,"priority":"cheapest","destinations":[{"chain":"solana","address":"x"}]}""", 400, "invalid_argument")]
    [InlineData("/v1/quotes", """{"amount":10,"priority":1,"destinations":[{"chain":"solana","address":"x"}]}""", 400, "invalid_argument")]
    [InlineData("/v1/quotes", """{"amount":10,"priority":99,"destinations":[{"chain":"solana","address":"x"}]}""", 400, "invalid_argument")]
    [InlineData("/v1/quotes", """{"amount":10,"destinations":[{"chain":"stellar","address":"not-stellar"}]}""", 400, "invalid_address")]
    [InlineData("/v1/payment-intents", """{"quote_id":"quo_01m6dqt6xgfrysmps5ead2k4mw"}""", 404, "not_found")]
    [InlineData("/v1/payment-intents", """{"quote_id":null}""", 400, "malformed_id")]
    [InlineData("/v1/payment-intents/pi_01m6dqt6xge2ystwzebymwnmdt/advance", "", 404, "not_found")]
    public async Task Bad_input_to_a_routing_call_is_a_4xx_with_its_error_code(string path, string body, int status, string code)
    {
        var (_, key) = await app.NewRoutingMerchantAsync();
        using var client = app.Client(key);
        using var request = Api.Raw(HttpMethod.Post, path, body);
        request.Headers.Add("Idempotency-Key", Guid.NewGuid().ToString("N"));
        await Api.ExpectErrorAsync(await client.SendAsync(request), status, code);
    }

    [Fact]
    public async Task A_body_that_is_not_sent_as_JSON_is_415_and_says_which_content_type_to_use()
    {
        var (_, _, key) = await app.NewMerchantAsync();
        using var client = app.Client(key);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/invoices")
        {
            Content = new StringContent("""{"amount":5,"asset":"XLM","description":"x"}""", System.Text.Encoding.UTF8, "text/plain"),
        };
        using var response = await client.SendAsync(request);
        await Api.ExpectErrorAsync(response, 415, "invalid_argument");
        var message = (await Api.ReadAsync(response, 415)).GetProperty("error").GetProperty("message").GetString();
        Assert.Contains("application/json", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Arbitrary_bodies_and_ids_never_make_the_API_fail_with_a_5xx_Meets_Specification()
    {
        var (_, _, key) = await app.NewMerchantAsync();
        var (_, routingKey) = await app.NewRoutingMerchantAsync();
        var partnerKey = await app.NewPartnerAsync();
        using var merchant = app.Client(key);
        using var routing = app.Client(routingKey);
        using var partner = app.Client(partnerKey);
        (HttpClient Client, string Path)[] calls =
        [
            (merchant, "/v1/invoices"), (merchant, "/v1/payment-links"), (merchant, "/v1/payments"), (merchant, "/v1/streams"),
            (merchant, "/v1/token-assets"), (merchant, "/v1/distributions"), (merchant, "/v1/webhook-endpoints"), (merchant, "/v1/api-keys"),
            (routing, "/v1/quotes"), (routing, "/v1/payment-intents"), (partner, "/v1/transactions"), (merchant, "/v1/merchants"),
        ];
        string[] fields = ["amount", "asset", "description", "title", "slug", "transaction_hash", "invoice_id", "quote_id", "chain", "destinations", "url", "name", "currency", "total_amount", "rate_per_second", "asset_id", "type"];

        var text = ArbMap.Default.GeneratorFor<string>().Select(t => t ?? "");
        var values = Gen.OneOf(
            text.Select(t => JsonSerializer.Serialize(t)),
            ArbMap.Default.GeneratorFor<decimal>().Select(d => d.ToString(CultureInfo.InvariantCulture)),
            Gen.Elements("null", "true", "[]", "{}", "-1", "1e30", "0.0000000001", "\"XLM\"", "\"inv_\"", "[{\"chain\":\"solana\"}]"));
        var objects =
            from pairs in Gen.ListOf(from field in Gen.Elements(fields) from value in values select $"\"{field}\":{value}")
            select "{" + string.Join(",", pairs) + "}";
        var cases =
            from index in Gen.Choose(0, calls.Length - 1)
            from body in Gen.OneOf(objects, text)
            from id in text
            select (Index: index, Body: body, Id: id);

        Prop.ForAll(cases.ToArbitrary(), @case =>
        {
            var (client, path) = calls[@case.Index];
            using var post = Api.Raw(HttpMethod.Post, path, @case.Body);
            // Control characters cannot travel in a header: Kestrel refuses such a request before the API sees it.
            post.Headers.TryAddWithoutValidation("Idempotency-Key", new string([.. @case.Id.Where(c => c is >= ' ' and <= '~')]));
            using var posted = client.SendAsync(post).GetAwaiter().GetResult();
            // Kestrel refuses a path with an encoded NUL (%00) before the API sees it.
            using var read = client.GetAsync(path + "/" + Uri.EscapeDataString(@case.Id.Replace("\0", "", StringComparison.Ordinal))).GetAwaiter().GetResult();
            return Is4xxOrSuccessWithError(posted) && Is4xxOrSuccessWithError(read);
        }).QuickCheckThrowOnFailure();
    }

    private static bool Is4xxOrSuccessWithError(HttpResponseMessage response)
    {
        var status = (int)response.StatusCode;
        if (status < 400)
        {
            return status < 300;
        }

        if (status >= 500)
        {
            return false;
        }

        var text = response.Content.ReadAsStringAsync().GetAwaiter().GetResult();
        using var document = JsonDocument.Parse(text);
        return document.RootElement.GetProperty("error").GetProperty("code").GetString() is { Length: > 0 };
    }

    private static decimal Amount(JsonElement money) =>
        money.ValueKind == JsonValueKind.Object
            ? decimal.Parse(money.GetProperty("amount").ToString(), CultureInfo.InvariantCulture)
            : decimal.Parse(money.GetString()!.Split(' ')[0], CultureInfo.InvariantCulture);

    private string Pay(string wallet, Money amount, string? memo)
    {
        var chain = (SimulatedChain)app.Get<IChainAdapterRegistry>().Get(ChainId.Stellar);
        return chain.SimulateIncomingPayment(Chains.Stellar.StellarAddressCodec.EncodeAccount(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)), wallet, amount, memo);
    }

    private static async Task<JsonElement> SubmitUntilFinalAsync(HttpClient client, object request)
    {
        var elapsed = Stopwatch.StartNew();
        while (true)
        {
            using var response = await client.PostAsJsonAsync("/v1/payments", request);
            if ((int)response.StatusCode != 409 || elapsed.Elapsed > TimeSpan.FromSeconds(30))
            {
                return await Api.ReadAsync(response, 201);
            }

            await Api.ExpectErrorAsync(response, 409, "transaction_not_final");
            await Task.Delay(250);
        }
    }

    private static HttpRequestMessage Signed(string path, string id, long timestamp, string signature, byte[] body)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new ByteArrayContent(body) };
        request.Headers.Add(Webhooks.WebhookSigner.IdHeader, id);
        request.Headers.Add(Webhooks.WebhookSigner.TimestampHeader, timestamp.ToString(CultureInfo.InvariantCulture));
        request.Headers.Add(Webhooks.WebhookSigner.SignatureHeader, signature);
        return request;
    }
}
