using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using NodaTime;
using PaymentsKit.Invoicing;
using PaymentsKit.Json;
using PaymentsKit.Storage;
using static PaymentsKit.Tests.Invoicing.AsyncAssert;

namespace PaymentsKit.Tests.Invoicing;

/// <summary>Invoices and payment links: creation, cancellation, expiry, queries (subclass per store).</summary>
public abstract class InvoiceServiceTests : InvoicingStoreTests
{
    [Fact]
    public async Task A_Stored_Invoice_Equals_The_Returned_One_With_Its_Metadata_And_Transitions()
    {
        var merchant = await _kit.MerchantAsync();
        var created = await _kit.Invoices.CreateInvoiceAsync(
            merchant.Id, new CreateInvoiceRequest(100m, "XLM", "Consulting") { Metadata = new Dictionary<string, string> { ["order"] = "42", ["cart"] = "7" } });
        var stored = await _kit.Invoices.GetInvoiceAsync(merchant.Id, created.Id);
        Assert.Equal(created, stored);
        Assert.Equal(created.GetHashCode(), stored.GetHashCode());

        await _kit.SubmitAsync(merchant, _kit.Pay(merchant.WalletAddress, 100m, memo: created.Memo));
        var paid = await _kit.Invoices.GetInvoiceAsync(merchant.Id, created.Id);
        var again = await _kit.Invoices.GetInvoiceAsync(merchant.Id, created.Id);
        Assert.Single(paid.Transitions);
        Assert.Equal(paid, again);
        Assert.Equal(paid.GetHashCode(), again.GetHashCode());
        Assert.Equal([paid], new HashSet<Invoice> { paid, again });
    }

    [Fact]
    public async Task CreateInvoice_AppliesDefaults()
    {
        var merchant = await _kit.MerchantAsync();
        var now = _kit.Clock.GetCurrentInstant();
        var invoice = await _kit.Invoices.CreateInvoiceAsync(merchant.Id, new CreateInvoiceRequest(12.5m, "USDC", "Design work") { Metadata = new Dictionary<string, string> { ["order"] = "42" } });
        Assert.Equal(InvoiceStatus.Pending, invoice.Status);
        Assert.Equal(Money.Of(12.5m, AssetRegistry.Usdc), invoice.Amount);
        Assert.Equal(invoice.Id.ToString(), invoice.Number);
        Assert.Matches("^[0-9a-f]{12}$", invoice.Memo);
        Assert.Equal(now + Duration.FromHours(24), invoice.ExpiresAt);
        Assert.Equal(Money.Zero(AssetRegistry.Usdc), invoice.AmountPaid);
        Assert.Equal(invoice.Amount, invoice.AmountDue);
        Assert.False(invoice.IsPartiallyPaid);
        Assert.Empty(invoice.Transitions);
        Assert.Equal("42", invoice.Metadata["order"]);
        Assert.Equal(invoice, await _kit.Invoices.GetInvoiceAsync(merchant.Id, invoice.Id));
        Assert.Equal(invoice, Assert.Single((await _kit.Invoices.ListInvoicesAsync(merchant.Id)).Items));
    }

    [Fact]
    public async Task Records_RoundTripThroughTheStoreJson()
    {
        var merchant = await _kit.MerchantAsync();
        var invoice = await _kit.InvoiceAsync(merchant);
        var link = await _kit.LinkAsync(merchant, maxUses: 3);
        var payment = (await _kit.SubmitAsync(merchant, _kit.Pay(merchant.WalletAddress, 100m, memo: invoice.Memo))).Payment;
        invoice = await _kit.Invoices.GetInvoiceAsync(merchant.Id, invoice.Id);
        var json = PaymentsKitJson.CreateOptions(new AssetRegistry());

        Assert.Equal(merchant, JsonSerializer.Deserialize<Merchant>(JsonSerializer.Serialize(merchant, json), json));
        var invoiceBack = JsonSerializer.Deserialize<Invoice>(JsonSerializer.Serialize(invoice, json), json)!;
        Assert.Equal(JsonSerializer.Serialize(invoice, json), JsonSerializer.Serialize(invoiceBack, json));
        Assert.Equal(invoice.AmountPaid, invoiceBack.AmountPaid);
        Assert.Equal(invoice.Transitions.Single(), invoiceBack.Transitions.Single());
        var linkBack = JsonSerializer.Deserialize<PaymentLink>(JsonSerializer.Serialize(link, json), json)!;
        Assert.Equal(JsonSerializer.Serialize(link, json), JsonSerializer.Serialize(linkBack, json));
        Assert.Equal(payment, JsonSerializer.Deserialize<Payment>(JsonSerializer.Serialize(payment, json), json));
        Assert.DoesNotContain("amount_due", JsonSerializer.Serialize(invoice, json), StringComparison.Ordinal);

        var client = await _kit.Merchants.CreateClientAsync(merchant.Id, new CreateClientRequest("Ada") { Email = "ada@example.com", Metadata = new Dictionary<string, string> { ["k"] = "v" } });
        var clientBack = JsonSerializer.Deserialize<Client>(JsonSerializer.Serialize(client, json), json)!;
        Assert.Equal(JsonSerializer.Serialize(client, json), JsonSerializer.Serialize(clientBack, json));
        var key = (await _kit.ApiKeys.CreateApiKeyAsync(merchant.Id, new CreateApiKeyRequest("k") { ExpiresAt = _kit.Clock.GetCurrentInstant() + Duration.FromDays(1) })).ApiKey;
        Assert.Equal(key, JsonSerializer.Deserialize<ApiKey>(JsonSerializer.Serialize(key, json), json));
        var prefix = new ApiKeyPrefix(key.Id, key.Prefix, merchant.Id);
        Assert.Equal(prefix, JsonSerializer.Deserialize<ApiKeyPrefix>(JsonSerializer.Serialize(prefix, json), json));
    }

    public static TheoryData<decimal, string, string> BadAmounts() => new()
    {
        { 1.0000001m, "USDC", PaymentsKitErrorCodes.AmountPrecision },
        { 0.00000001m, "XLM", PaymentsKitErrorCodes.AmountPrecision },
        { 0m, "XLM", PaymentsKitErrorCodes.AmountOutOfRange },
        { -5m, "XLM", PaymentsKitErrorCodes.AmountOutOfRange },
        { 5m, "DOGE", PaymentsKitErrorCodes.UnknownAsset },
        { 5m, "ETH", PaymentsKitErrorCodes.UnsupportedAsset },
    };

    [Theory]
    [MemberData(nameof(BadAmounts))]
    public async Task CreateInvoice_RejectsBadAmountsAndAssets(decimal amount, string asset, string code)
    {
        var merchant = await _kit.MerchantAsync();
        await ThrowsCodeAsync(code, () => _kit.Invoices.CreateInvoiceAsync(merchant.Id, new CreateInvoiceRequest(amount, asset, "x")).AsTask());
        await ThrowsCodeAsync(code, () => _kit.Links.CreatePaymentLinkAsync(merchant.Id, new CreatePaymentLinkRequest("x", amount, asset)).AsTask());
        Assert.Empty((await _kit.Invoices.ListInvoicesAsync(merchant.Id)).Items);
        Assert.Empty((await _kit.Links.ListPaymentLinksAsync(merchant.Id)).Items);
    }

    public static TheoryData<decimal> OversizedAmounts() => new() { AmountLimit.Max + 0.0000001m, 1_000_000_000_000m, 79_000_000_000_000_000_000_000_000_000m };

    [Theory]
    [MemberData(nameof(OversizedAmounts))]
    public async Task CreateInvoice_RejectsAnAmountAboveTheLimitQuotesHave(decimal amount)
    {
        var merchant = await _kit.MerchantAsync();
        var refused = await ThrowsCodeAsync(PaymentsKitErrorCodes.AmountOutOfRange, () => _kit.Invoices.CreateInvoiceAsync(merchant.Id, new CreateInvoiceRequest(amount, "XLM", "x")).AsTask());
        Assert.Equal("amount", refused.Context["field"]);
        Assert.Empty((await _kit.Invoices.ListInvoicesAsync(merchant.Id)).Items);
        Assert.Equal(AmountLimit.Max, (await _kit.Invoices.CreateInvoiceAsync(merchant.Id, new CreateInvoiceRequest(AmountLimit.Max, "XLM", "x"))).Amount.Amount);
    }

    [Theory]
    [MemberData(nameof(OversizedAmounts))]
    public async Task CreatePaymentLink_RejectsAnAmountAboveTheLimitQuotesHave(decimal amount)
    {
        var merchant = await _kit.MerchantAsync();
        var refused = await ThrowsCodeAsync(PaymentsKitErrorCodes.AmountOutOfRange, () => _kit.Links.CreatePaymentLinkAsync(merchant.Id, new CreatePaymentLinkRequest("x", amount, "XLM")).AsTask());
        Assert.Equal("amount", refused.Context["field"]);
        Assert.Empty((await _kit.Links.ListPaymentLinksAsync(merchant.Id)).Items);
        Assert.Equal(AmountLimit.Max, (await _kit.Links.CreatePaymentLinkAsync(merchant.Id, new CreatePaymentLinkRequest("x", AmountLimit.Max, "XLM"))).Amount.Amount);
    }

    [Fact]
    public async Task CreateInvoice_RejectsBadFields()
    {
        var merchant = await _kit.MerchantAsync();
        var now = _kit.Clock.GetCurrentInstant();
        async Task<PaymentsKitException> Bad(CreateInvoiceRequest request, string code = PaymentsKitErrorCodes.InvalidArgument) =>
            await ThrowsCodeAsync(code, () => _kit.Invoices.CreateInvoiceAsync(merchant.Id, request).AsTask());

        Assert.Equal("description", (await Bad(new CreateInvoiceRequest(1m, "XLM", ""))).Context["field"]);
        Assert.Equal("memo", (await Bad(new CreateInvoiceRequest(1m, "XLM", "x") { Memo = "has space" })).Context["field"]);
        Assert.Equal("memo", (await Bad(new CreateInvoiceRequest(1m, "XLM", "x") { Memo = new string('m', 29) })).Context["field"]);
        Assert.Equal("expiresAt", (await Bad(new CreateInvoiceRequest(1m, "XLM", "x") { ExpiresAt = now })).Context["field"]);
        Assert.Equal("expiresAt", (await Bad(new CreateInvoiceRequest(1m, "XLM", "x") { ExpiresAt = now + Duration.FromDays(366) })).Context["field"]);
        Assert.Equal("number", (await Bad(new CreateInvoiceRequest(1m, "XLM", "x") { Number = new string('n', 65) })).Context["field"]);
        await Bad(new CreateInvoiceRequest(1m, "XLM", "x") { ClientId = ClientId.New(_kit.Clock) }, PaymentsKitErrorCodes.NotFound);
        await ThrowsCodeAsync(PaymentsKitErrorCodes.NotFound, () => _kit.Invoices.CreateInvoiceAsync(MerchantId.New(_kit.Clock), new CreateInvoiceRequest(1m, "XLM", "x")).AsTask());
    }

    [Fact]
    public async Task CreateInvoice_Refuses_Control_Characters_In_Keys_And_Labels_But_Keeps_A_Multi_Line_Description()
    {
        var merchant = await _kit.MerchantAsync();
        async Task<PaymentsKitException> Bad(CreateInvoiceRequest request) =>
            await ThrowsCodeAsync(PaymentsKitErrorCodes.InvalidArgument, () => _kit.Invoices.CreateInvoiceAsync(merchant.Id, request).AsTask());

        Assert.Equal("idempotency_key", (await Bad(new CreateInvoiceRequest(1m, "XLM", "x") { IdempotencyKey = "order-1\n" })).Context["field"]);
        Assert.Equal("idempotency_key", (await Bad(new CreateInvoiceRequest(1m, "XLM", "x") { IdempotencyKey = "order\u007f1" })).Context["field"]);
        Assert.Equal("number", (await Bad(new CreateInvoiceRequest(1m, "XLM", "x") { Number = "INV\u00851" })).Context["field"]);
        Assert.Equal("description", (await Bad(new CreateInvoiceRequest(1m, "XLM", "bell\u0007"))).Context["field"]);

        const string description = "Consulting, March:\r\n\t- design\n\t- review";
        var invoice = await _kit.Invoices.CreateInvoiceAsync(merchant.Id, new CreateInvoiceRequest(1m, "XLM", description));
        Assert.Equal(description, invoice.Description);
        Assert.Equal(description, (await _kit.Invoices.GetInvoiceAsync(merchant.Id, invoice.Id)).Description);
    }

    [Fact]
    public async Task NumberAndMemo_AreUniquePerMerchant()
    {
        var a = await _kit.MerchantAsync();
        var b = await _kit.MerchantAsync();
        await _kit.Invoices.CreateInvoiceAsync(a.Id, new CreateInvoiceRequest(1m, "XLM", "x") { Number = "INV-1", Memo = "memo-1" });
        var number = await ThrowsCodeAsync(PaymentsKitErrorCodes.DuplicateKey, () => _kit.Invoices.CreateInvoiceAsync(a.Id, new CreateInvoiceRequest(1m, "XLM", "x") { Number = "INV-1" }).AsTask());
        Assert.Equal("number", number.Context["field"]);
        var memo = await ThrowsCodeAsync(PaymentsKitErrorCodes.DuplicateKey, () => _kit.Invoices.CreateInvoiceAsync(a.Id, new CreateInvoiceRequest(1m, "XLM", "x") { Memo = "memo-1" }).AsTask());
        Assert.Equal("memo", memo.Context["field"]);
        await _kit.Invoices.CreateInvoiceAsync(b.Id, new CreateInvoiceRequest(1m, "XLM", "x") { Number = "INV-1", Memo = "memo-1" });
    }

    [Fact]
    public async Task CreateInvoice_WithIdempotencyKey_CreatesOnce()
    {
        var merchant = await _kit.MerchantAsync();
        var request = new CreateInvoiceRequest(3m, "XLM", "x") { IdempotencyKey = "order-7" };
        var results = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(() => _kit.Invoices.CreateInvoiceAsync(merchant.Id, request).AsTask())));
        Assert.Single(results.Select(i => i.Id).Distinct());
        Assert.Single((await _kit.Invoices.ListInvoicesAsync(merchant.Id)).Items);
        await ThrowsCodeAsync(PaymentsKitErrorCodes.IdempotencyConflict, () => _kit.Invoices.CreateInvoiceAsync(merchant.Id, request with { Amount = 4m }).AsTask());
        var link = new CreatePaymentLinkRequest("x", 1m, "XLM") { IdempotencyKey = "order-7" };
        Assert.Equal((await _kit.Links.CreatePaymentLinkAsync(merchant.Id, link)).Id, (await _kit.Links.CreatePaymentLinkAsync(merchant.Id, link)).Id);
    }

    [Fact]
    public async Task The_Same_Amount_Written_With_More_Decimals_Is_A_Replay_Not_A_Conflict()
    {
        var merchant = await _kit.MerchantAsync();
        var invoice = await _kit.Invoices.CreateInvoiceAsync(merchant.Id, new CreateInvoiceRequest(3m, "XLM", "x") { IdempotencyKey = "order-8" });
        Assert.Equal(invoice.Id, (await _kit.Invoices.CreateInvoiceAsync(merchant.Id, new CreateInvoiceRequest(3.00m, "XLM", "x") { IdempotencyKey = "order-8" })).Id);
        await ThrowsCodeAsync(
            PaymentsKitErrorCodes.IdempotencyConflict,
            () => _kit.Invoices.CreateInvoiceAsync(merchant.Id, new CreateInvoiceRequest(3.01m, "XLM", "x") { IdempotencyKey = "order-8" }).AsTask());

        var link = await _kit.Links.CreatePaymentLinkAsync(merchant.Id, new CreatePaymentLinkRequest("x", 1.5m, "XLM") { IdempotencyKey = "order-8" });
        Assert.Equal(link.Id, (await _kit.Links.CreatePaymentLinkAsync(merchant.Id, new CreatePaymentLinkRequest("x", 1.500m, "XLM") { IdempotencyKey = "order-8" })).Id);
    }

    [Fact]
    public async Task The_Same_Metadata_In_Another_Key_Order_Is_A_Replay_Not_A_Conflict()
    {
        var merchant = await _kit.MerchantAsync();
        var invoice = new CreateInvoiceRequest(3m, "XLM", "x") { IdempotencyKey = "order-9" };
        var first = await _kit.Invoices.CreateInvoiceAsync(merchant.Id, invoice with { Metadata = Metadata(("a", "1"), ("b", "2")) });
        Assert.Equal(first.Id, (await _kit.Invoices.CreateInvoiceAsync(merchant.Id, invoice with { Metadata = Metadata(("b", "2"), ("a", "1")) })).Id);
        await ThrowsCodeAsync(
            PaymentsKitErrorCodes.IdempotencyConflict,
            () => _kit.Invoices.CreateInvoiceAsync(merchant.Id, invoice with { Metadata = Metadata(("b", "3"), ("a", "1")) }).AsTask());
        await ThrowsCodeAsync(
            PaymentsKitErrorCodes.IdempotencyConflict,
            () => _kit.Invoices.CreateInvoiceAsync(merchant.Id, invoice with { Metadata = Metadata(("B", "2"), ("a", "1")) }).AsTask());

        var link = new CreatePaymentLinkRequest("x", 1m, "XLM") { IdempotencyKey = "order-9" };
        var firstLink = await _kit.Links.CreatePaymentLinkAsync(merchant.Id, link with { Metadata = Metadata(("a", "1"), ("b", "2")) });
        Assert.Equal(firstLink.Id, (await _kit.Links.CreatePaymentLinkAsync(merchant.Id, link with { Metadata = Metadata(("b", "2"), ("a", "1")) })).Id);
        await ThrowsCodeAsync(
            PaymentsKitErrorCodes.IdempotencyConflict,
            () => _kit.Links.CreatePaymentLinkAsync(merchant.Id, link with { Metadata = Metadata(("b", "3"), ("a", "1")) }).AsTask());
    }

    [Fact]
    public async Task An_Invoice_Or_Link_Fingerprinted_With_Metadata_In_The_Callers_Order_Still_Replays_In_That_Order()
    {
        var merchant = await _kit.MerchantAsync();
        var json = _kit.Services.GetRequiredService<PaymentsKitJsonOptions>().Options;
        var invoiceRequest = new CreateInvoiceRequest(3m, "XLM", "x") { IdempotencyKey = "legacy", Metadata = Metadata(("b", "2"), ("a", "1")) };
        var linkRequest = new CreatePaymentLinkRequest("x", 1m, "XLM") { IdempotencyKey = "legacy", Metadata = Metadata(("b", "2"), ("a", "1")) };
        var invoice = await _kit.Invoices.CreateInvoiceAsync(merchant.Id, invoiceRequest);
        var link = await _kit.Links.CreatePaymentLinkAsync(merchant.Id, linkRequest);

        // What versions that hashed the metadata in the caller's order stored.
        await RewriteAsync(InvoicingCollections.Invoices, merchant, invoice.Id.Value, i => i with { RequestFingerprint = Idempotency.Fingerprint(invoiceRequest, json) });
        await RewriteAsync(InvoicingCollections.PaymentLinks, merchant, link.Id.Value, l => l with { RequestFingerprint = Idempotency.Fingerprint(linkRequest, json) });

        Assert.Equal(invoice.Id, (await _kit.Invoices.CreateInvoiceAsync(merchant.Id, invoiceRequest)).Id);
        Assert.Equal(link.Id, (await _kit.Links.CreatePaymentLinkAsync(merchant.Id, linkRequest)).Id);
        await ThrowsCodeAsync(
            PaymentsKitErrorCodes.IdempotencyConflict,
            () => _kit.Invoices.CreateInvoiceAsync(merchant.Id, invoiceRequest with { Metadata = Metadata(("b", "3"), ("a", "1")) }).AsTask());
        await ThrowsCodeAsync(
            PaymentsKitErrorCodes.IdempotencyConflict,
            () => _kit.Links.CreatePaymentLinkAsync(merchant.Id, linkRequest with { Metadata = Metadata(("b", "3"), ("a", "1")) }).AsTask());
    }

    [Fact]
    public async Task CancelInvoice_RecordsTheTransition_AndOnlyFromPending()
    {
        var merchant = await _kit.MerchantAsync();
        var invoice = await _kit.InvoiceAsync(merchant);
        _kit.Clock.Advance(Duration.FromMinutes(5));
        var cancelled = await _kit.Invoices.CancelInvoiceAsync(merchant.Id, invoice.Id, "customer asked");
        Assert.Equal(InvoiceStatus.Cancelled, cancelled.Status);
        var transition = Assert.Single(cancelled.Transitions);
        Assert.Equal(new InvoiceTransition(InvoiceStatus.Pending, InvoiceStatus.Cancelled, _kit.Clock.GetCurrentInstant(), "merchant", "customer asked"), transition);
        await ThrowsCodeAsync(PaymentsKitErrorCodes.InvalidTransition, () => _kit.Invoices.CancelInvoiceAsync(merchant.Id, invoice.Id).AsTask());

        var overdue = await _kit.InvoiceAsync(merchant);
        _kit.Clock.Advance(Duration.FromHours(24));
        await ThrowsCodeAsync(PaymentsKitErrorCodes.Expired, () => _kit.Invoices.CancelInvoiceAsync(merchant.Id, overdue.Id).AsTask());
        await _kit.Invoices.ExpireDueAsync();
        Assert.Equal(InvoiceStatus.Expired, (await _kit.Invoices.GetInvoiceAsync(merchant.Id, overdue.Id)).Status);
        await ThrowsCodeAsync(PaymentsKitErrorCodes.Expired, () => _kit.Invoices.CancelInvoiceAsync(merchant.Id, overdue.Id).AsTask());
        await ThrowsCodeAsync(PaymentsKitErrorCodes.NotFound, () => _kit.Invoices.CancelInvoiceAsync(merchant.Id, InvoiceId.New(_kit.Clock)).AsTask());
    }

    [Fact]
    public async Task ExpireDue_MovesOnlyOverduePendingInvoices_ExactlyOnce()
    {
        var a = await _kit.MerchantAsync();
        var b = await _kit.MerchantAsync();
        var start = _kit.Clock.GetCurrentInstant();
        var due = new List<Invoice>();
        for (var i = 0; i < 6; i++)
        {
            due.Add(await _kit.Invoices.CreateInvoiceAsync(i % 2 == 0 ? a.Id : b.Id, new CreateInvoiceRequest(1m, "XLM", "x") { ExpiresAt = start + Duration.FromMinutes(10 + i) }));
        }

        var later = await _kit.Invoices.CreateInvoiceAsync(a.Id, new CreateInvoiceRequest(1m, "XLM", "x") { ExpiresAt = start + Duration.FromHours(2) });
        var cancelled = await _kit.Invoices.CreateInvoiceAsync(a.Id, new CreateInvoiceRequest(1m, "XLM", "x") { ExpiresAt = start + Duration.FromMinutes(1) });
        await _kit.Invoices.CancelInvoiceAsync(a.Id, cancelled.Id);

        _kit.Clock.Advance(Duration.FromMinutes(15));

        // Concurrent sweeps share the work: every due invoice expires once, in exactly one of them.
        var counts = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Task.Run(() => _kit.Invoices.ExpireDueAsync().AsTask())));
        Assert.Equal(6, counts.Sum());
        Assert.Equal(0, await _kit.Invoices.ExpireDueAsync());
        foreach (var invoice in due)
        {
            var stored = await _kit.Invoices.GetInvoiceAsync(invoice.MerchantId, invoice.Id);
            Assert.Equal(InvoiceStatus.Expired, stored.Status);
            var transition = Assert.Single(stored.Transitions);
            Assert.Equal((InvoiceStatus.Pending, InvoiceStatus.Expired, "expiry_sweep"), (transition.From, transition.To, transition.Actor));
        }

        Assert.Equal(InvoiceStatus.Pending, (await _kit.Invoices.GetInvoiceAsync(a.Id, later.Id)).Status);
        Assert.Equal(InvoiceStatus.Cancelled, (await _kit.Invoices.GetInvoiceAsync(a.Id, cancelled.Id)).Status);
    }

    [Fact]
    public async Task ExpireDue_ExpiresAtTheExpiryInstant_NotBefore()
    {
        var merchant = await _kit.MerchantAsync();
        var invoice = await _kit.Invoices.CreateInvoiceAsync(merchant.Id, new CreateInvoiceRequest(1m, "XLM", "x") { ExpiresAt = _kit.Clock.GetCurrentInstant() + Duration.FromMinutes(1) });
        _kit.Clock.Advance(Duration.FromSeconds(59));
        Assert.Equal(0, await _kit.Invoices.ExpireDueAsync());
        _kit.Clock.Advance(Duration.FromSeconds(1));
        Assert.Equal(1, await _kit.Invoices.ExpireDueAsync());
        Assert.Equal(InvoiceStatus.Expired, (await _kit.Invoices.GetInvoiceAsync(merchant.Id, invoice.Id)).Status);
    }

    [Fact]
    public async Task An_Unlimited_Longest_Lifetime_Creates_Invoices_And_Lists_Expiring_Ones_Instead_Of_Overflowing()
    {
        // Duration.MaxValue is how a host says "no longest lifetime"; the options accept it, so every call must too.
        using var kit = await HarnessAsync(o => o.MaxInvoiceLifetime = Duration.MaxValue);
        var merchant = await kit.MerchantAsync();
        var now = kit.Clock.GetCurrentInstant();

        var byDefault = await kit.InvoiceAsync(merchant, 10m);
        var farOff = await kit.Invoices.CreateInvoiceAsync(merchant.Id, new CreateInvoiceRequest(10m, "XLM", "x") { ExpiresAt = now + Duration.FromDays(365 * 1000) });

        Assert.Equal(now + Duration.FromHours(24), byDefault.ExpiresAt);
        Assert.Equal(now + Duration.FromDays(365 * 1000), (await kit.Invoices.GetInvoiceAsync(merchant.Id, farOff.Id)).ExpiresAt);
        var expiring = await kit.Invoices.ListExpiringInvoicesAsync(Duration.MaxValue, merchant.Id);
        Assert.Equal([byDefault.Id, farOff.Id], expiring.Items.Select(e => e.Invoice.Id));
        await ThrowsCodeAsync(PaymentsKitErrorCodes.InvalidArgument, () => kit.Invoices.CreateInvoiceAsync(merchant.Id, new CreateInvoiceRequest(10m, "XLM", "x") { ExpiresAt = now }).AsTask());
    }

    [Fact]
    public async Task ExpiringInvoices_AreThePendingOnesWithinTheWindow_SoonestFirst_Paged()
    {
        var a = await _kit.MerchantAsync("a@example.com");
        var b = await _kit.MerchantAsync();
        var now = _kit.Clock.GetCurrentInstant();
        var soon = new List<Invoice>();
        foreach (var (merchant, minutes) in new[] { (a, 14), (b, 3), (a, 9), (b, 15) })
        {
            soon.Add(await _kit.Invoices.CreateInvoiceAsync(merchant.Id, new CreateInvoiceRequest(1m, "XLM", "x") { ExpiresAt = now + Duration.FromMinutes(minutes) }));
        }

        await _kit.Invoices.CreateInvoiceAsync(a.Id, new CreateInvoiceRequest(1m, "XLM", "x") { ExpiresAt = now + Duration.FromMinutes(16) });
        var cancelled = await _kit.Invoices.CreateInvoiceAsync(a.Id, new CreateInvoiceRequest(1m, "XLM", "x") { ExpiresAt = now + Duration.FromMinutes(5) });
        await _kit.Invoices.CancelInvoiceAsync(a.Id, cancelled.Id);

        var first = await _kit.Invoices.ListExpiringInvoicesAsync(Duration.FromMinutes(15), limit: 3);
        var second = await _kit.Invoices.ListExpiringInvoicesAsync(Duration.FromMinutes(15), cursor: first.NextCursor, limit: 3);
        Assert.Null(second.NextCursor);
        var all = first.Items.Concat(second.Items).ToList();
        Assert.Equal(soon.OrderBy(i => i.ExpiresAt).Select(i => i.Id), all.Select(e => e.Invoice.Id));
        Assert.Equal("a@example.com", all.Single(e => e.Invoice.Id == soon[0].Id).Merchant.Email);

        var onlyA = await _kit.Invoices.ListExpiringInvoicesAsync(Duration.FromMinutes(15), a.Id);
        Assert.Equal([soon[2].Id, soon[0].Id], onlyA.Items.Select(e => e.Invoice.Id));
        await ThrowsCodeAsync(PaymentsKitErrorCodes.InvalidArgument, () => _kit.Invoices.ListExpiringInvoicesAsync(Duration.Zero).AsTask());
        await ThrowsCodeAsync(PaymentsKitErrorCodes.InvalidArgument, () => _kit.Invoices.ListExpiringInvoicesAsync(Duration.FromMinutes(1), cursor: "garbage").AsTask());
    }

    [Fact]
    public async Task PendingInvoices_ExcludeExpiredAndSettled_NewestFirst_WithClientAndConfirmedPayments()
    {
        var merchant = await _kit.MerchantAsync();
        var client = await _kit.Merchants.CreateClientAsync(merchant.Id, new CreateClientRequest("Ada") { Email = "ada@example.com" });
        var partial = await _kit.InvoiceAsync(merchant, 100m, client: client.Id);
        _kit.Clock.Advance(Duration.FromSeconds(1));
        var paid = await _kit.InvoiceAsync(merchant, 10m);
        _kit.Clock.Advance(Duration.FromSeconds(1));
        var shortLived = await _kit.Invoices.CreateInvoiceAsync(merchant.Id, new CreateInvoiceRequest(1m, "XLM", "x") { ExpiresAt = _kit.Clock.GetCurrentInstant() + Duration.FromSeconds(30) });
        _kit.Clock.Advance(Duration.FromSeconds(1));
        var fresh = await _kit.InvoiceAsync(merchant, 5m);

        var partialPayment = (await _kit.SubmitAsync(merchant, _kit.Pay(merchant.WalletAddress, 40m, memo: partial.Memo))).Payment;
        await _kit.SubmitAsync(merchant, _kit.Pay(merchant.WalletAddress, 10m, memo: paid.Memo));
        await _kit.SubmitAsync(merchant, _kit.Pay(merchant.WalletAddress, 1m, memo: "unknown-memo"));
        _kit.Clock.Advance(Duration.FromMinutes(1));
        Assert.Equal(InvoiceStatus.Pending, (await _kit.Invoices.GetInvoiceAsync(merchant.Id, shortLived.Id)).Status);

        var first = await _kit.Invoices.ListPendingInvoicesAsync(merchant.Id, limit: 1);
        var second = await _kit.Invoices.ListPendingInvoicesAsync(merchant.Id, first.NextCursor, 1);
        Assert.Null(second.NextCursor);
        Assert.Equal([fresh.Id, partial.Id], first.Items.Concat(second.Items).Select(p => p.Invoice.Id));
        var withPayment = second.Items.Single();
        Assert.Equal(new ClientSummary(client.Id, "Ada", "ada@example.com"), withPayment.Client);
        Assert.Equal(partialPayment, Assert.Single(withPayment.ConfirmedPayments));
        Assert.True(withPayment.Invoice.IsPartiallyPaid);
        Assert.Null(first.Items.Single().Client);
        Assert.Empty(first.Items.Single().ConfirmedPayments);
    }

    [Fact]
    public async Task InvoiceDetails_CarryMerchantClientAndFullPaymentHistory_NewestFirst()
    {
        var merchant = await _kit.MerchantAsync();
        var client = await _kit.Merchants.CreateClientAsync(merchant.Id, new CreateClientRequest("Ada"));
        var invoice = await _kit.InvoiceAsync(merchant, 100m, client: client.Id);
        var first = (await _kit.SubmitAsync(merchant, _kit.Pay(merchant.WalletAddress, 60m, memo: invoice.Memo))).Payment;
        var wrongAsset = (await _kit.SubmitAsync(merchant, _kit.Pay(merchant.WalletAddress, 5m, InvoicingHarness.Usdc), invoice.Id)).Payment;
        var second = (await _kit.SubmitAsync(merchant, _kit.Pay(merchant.WalletAddress, 40m, memo: invoice.Memo))).Payment;

        var details = await _kit.Invoices.GetInvoiceDetailsAsync(merchant.Id, invoice.Id);
        Assert.Equal(InvoiceStatus.Paid, details.Invoice.Status);
        Assert.Equal(MerchantSummary.Of(merchant), details.Merchant);
        Assert.Equal(client, details.Client);
        Assert.Equal([second.Id, wrongAsset.Id, first.Id], details.Payments.Select(p => p.Id));
        Assert.Equal(PaymentStatus.NeedsReview, details.Payments[1].Status);
        await ThrowsCodeAsync(PaymentsKitErrorCodes.NotFound, () => _kit.Invoices.GetInvoiceDetailsAsync(merchant.Id, InvoiceId.New(_kit.Clock)).AsTask());
    }

    [Fact]
    public async Task PaymentLinks_AreCreatedActive_WithUniqueSlugs_AndCanBeDeactivated()
    {
        var a = await _kit.MerchantAsync();
        var b = await _kit.MerchantAsync();
        var link = await _kit.Links.CreatePaymentLinkAsync(a.Id, new CreatePaymentLinkRequest("Workshop", 25m, "USDC") { Slug = "workshop-2026", MaxUses = 30, Description = "Seat" });
        Assert.True(link.Active);
        Assert.Equal(0, link.CurrentUses);
        Assert.Equal(30, link.RemainingUses);
        Assert.Equal(link, await _kit.Links.GetPaymentLinkBySlugAsync(a.Id, "workshop-2026"));
        Assert.Equal(link, await _kit.Links.GetPaymentLinkAsync(a.Id, link.Id));

        // Slugs are global: even another merchant cannot take one.
        var taken = await ThrowsCodeAsync(PaymentsKitErrorCodes.DuplicateKey, () => _kit.Links.CreatePaymentLinkAsync(b.Id, new CreatePaymentLinkRequest("Mine", 1m, "XLM") { Slug = "workshop-2026" }).AsTask());
        Assert.Equal("slug", taken.Context["field"]);

        var generated = await _kit.Links.CreatePaymentLinkAsync(a.Id, new CreatePaymentLinkRequest("Donation", 5m, "XLM"));
        Assert.Matches("^[a-z0-9]{12}$", generated.Slug);
        Assert.Null(generated.RemainingUses);

        var inactive = await _kit.Links.SetPaymentLinkActiveAsync(a.Id, link.Id, false);
        Assert.False(inactive.Active);
        Assert.True((await _kit.Links.SetPaymentLinkActiveAsync(a.Id, link.Id, true)).Active);
        Assert.Equal(2, (await _kit.Links.ListPaymentLinksAsync(a.Id)).Items.Count);
    }

    [Fact]
    public async Task PaymentLinks_RejectBadInput()
    {
        var merchant = await _kit.MerchantAsync();
        var now = _kit.Clock.GetCurrentInstant();
        async Task Bad(CreatePaymentLinkRequest request, string field) =>
            Assert.Equal(field, (await ThrowsCodeAsync(PaymentsKitErrorCodes.InvalidArgument, () => _kit.Links.CreatePaymentLinkAsync(merchant.Id, request).AsTask())).Context["field"]);

        await Bad(new CreatePaymentLinkRequest("x", 1m, "XLM") { Slug = "Upper-Case" }, "slug");
        await Bad(new CreatePaymentLinkRequest("x", 1m, "XLM") { Slug = "ab" }, "slug");
        await Bad(new CreatePaymentLinkRequest("x", 1m, "XLM") { Slug = "-edge" }, "slug");
        await Bad(new CreatePaymentLinkRequest("x", 1m, "XLM") { MaxUses = 0 }, "maxUses");
        await Bad(new CreatePaymentLinkRequest("x", 1m, "XLM") { ExpiresAt = now }, "expiresAt");
        await Bad(new CreatePaymentLinkRequest("", 1m, "XLM"), "title");
        await ThrowsCodeAsync(PaymentsKitErrorCodes.NotFound, () => _kit.Links.GetPaymentLinkBySlugAsync(merchant.Id, "no-such-link").AsTask());
        await ThrowsCodeAsync(PaymentsKitErrorCodes.NotFound, () => _kit.Links.SetPaymentLinkActiveAsync(merchant.Id, PaymentLinkId.New(_kit.Clock), false).AsTask());
    }

    private static Dictionary<string, string> Metadata(params (string Key, string Value)[] pairs)
    {
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, value) in pairs)
        {
            metadata.Add(key, value);
        }

        return metadata;
    }

    private async Task RewriteAsync<T>(RecordCollection<T> collection, Merchant merchant, Guid id, Func<T, T> change)
        where T : class
    {
        var unit = await _kit.Store.BeginAsync();
        await using (unit)
        {
            var stored = await unit.GetAsync(collection, merchant.Id.Value, id);
            unit.Update(collection, change(stored!.Value), stored.Version);
            await unit.CommitAsync();
        }
    }
}
