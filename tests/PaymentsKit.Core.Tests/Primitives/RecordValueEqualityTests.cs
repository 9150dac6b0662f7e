using System.Text.Json;
using System.Text.Json.Nodes;
using NodaTime;
using PaymentsKit.Chains;
using PaymentsKit.Invoicing;
using PaymentsKit.Json;
using PaymentsKit.Orchestration;
using PaymentsKit.Payouts;
using PaymentsKit.Routing;
using PaymentsKit.Testing;
using PaymentsKit.Webhooks;

namespace PaymentsKit.Tests.Primitives;

/// <summary>
/// Public records holding lists and dictionaries compare and hash by their contents (lists in order, dictionaries by key in
/// any order), keep their own copy of what they were given, and serialize exactly as before.
/// </summary>
public sealed class RecordValueEqualityTests
{
    private static readonly JsonSerializerOptions Json = PaymentsKitJson.CreateOptions(new AssetRegistry());

    private static readonly ManualClock Clock = new();

    private static readonly Instant At = Instant.FromUtc(2026, 3, 1, 0, 0);

    private static readonly Invoice Invoice = new(
        InvoiceId.New(Clock),
        MerchantId.New(Clock),
        ClientId: null,
        "INV-1",
        Money.Of(100m, AssetRegistry.Xlm),
        "Consulting",
        "memo-1",
        InvoiceStatus.Paid,
        At.Plus(Duration.FromDays(1)),
        At,
        Money.Of(100m, AssetRegistry.Xlm),
        Money.Zero(AssetRegistry.Xlm),
        PaidLate: false,
        Metadata(("zeta", "1"), ("alpha", "2")),
        [Transition(InvoiceStatus.Pending, InvoiceStatus.Paid, "pay_1")],
        IdempotencyKey: null,
        RequestFingerprint: null,
        At,
        At);

    private static readonly PaymentTransaction Transaction = new()
    {
        Id = TransactionId.New(Clock),
        PartnerId = PartnerId.New(Clock),
        IdempotencyKey = "key-1",
        RequestFingerprint = "fp",
        Amount = Money.Of(10m, AssetRegistry.Usdc),
        PaymentMethod = "card",
        Provider = PaymentProvider.Stripe,
        CaptureMethod = CaptureMethod.Automatic,
        Status = TransactionStatus.Pending,
        CustomerEmail = "a@example.com",
        Metadata = Metadata(("order", "42"), ("cart", "7")),
        IpAddress = "127.0.0.1",
        RefundedAmount = Money.Zero(AssetRegistry.Usdc),
        ReservedRefundAmount = Money.Zero(AssetRegistry.Usdc),
        EventCount = 1,
        RefundCount = 0,
        CreatedAt = At,
        UpdatedAt = At,
    };

    private static readonly Quote Quote = new(
        QuoteId.New(Clock),
        MerchantId.New(Clock),
        Money.Of(10m, AssetRegistry.Usdc),
        RoutePriority.LowFee,
        [new QuoteDestination(ChainId.Stellar, "GA"), new QuoteDestination(ChainId.Ethereum, "0xabc")],
        [Candidate(ChainId.Stellar, 1), Candidate(ChainId.Ethereum, 2)],
        ChainId.Stellar,
        At.Plus(Duration.FromMinutes(5)),
        At);

    private static readonly WebhookEndpoint Endpoint = new(
        WebhookEndpointId.New(Clock),
        Guid.CreateVersion7(),
        "https://example.com/hooks",
        Description: null,
        ["invoice.*", "payment.confirmed"],
        Ordered: true,
        WebhookEndpointStatus.Enabled,
        DisabledReason: null,
        [new WebhookEndpointSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", At, ExpiresAt: null)],
        At,
        At);

    [Fact]
    public void Invoices_With_The_Same_Metadata_And_Transitions_In_Separate_Collections_Are_Equal()
    {
        var copy = Invoice with
        {
            Metadata = Metadata(("alpha", "2"), ("zeta", "1")),
            Transitions = [Transition(InvoiceStatus.Pending, InvoiceStatus.Paid, "pay_1")],
        };

        AssertEqualWithHash(Invoice, copy);
        Assert.NotEqual(Invoice, Invoice with { Metadata = Metadata(("zeta", "1"), ("alpha", "3")) });
        Assert.NotEqual(Invoice, Invoice with { Metadata = Metadata(("zeta", "1")) });
        Assert.NotEqual(Invoice, Invoice with { Transitions = [.. Invoice.Transitions, Transition(InvoiceStatus.Paid, InvoiceStatus.Paid, "x")] });
    }

    [Fact]
    public void Invoice_Transitions_Compare_In_Order()
    {
        var first = Transition(InvoiceStatus.Pending, InvoiceStatus.Pending, "a");
        var second = Transition(InvoiceStatus.Pending, InvoiceStatus.Paid, "b");

        Assert.NotEqual(Invoice with { Transitions = [first, second] }, Invoice with { Transitions = [second, first] });
    }

    [Fact]
    public void Metadata_Keys_Compare_With_The_Callers_Comparer()
    {
        var caseless = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase) { ["Order"] = "42" };
        var invoice = Invoice with { Metadata = caseless };

        Assert.Equal("42", invoice.Metadata["ORDER"]);
        Assert.Equal(invoice, Invoice with { Metadata = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase) { ["order"] = "42" } });
        Assert.NotEqual(invoice, Invoice with { Metadata = Metadata(("order", "42")) });
    }

    [Fact]
    public void Records_Keep_Their_Collections_When_The_Callers_Change()
    {
        var metadata = new Dictionary<string, string> { ["order"] = "42" };
        var transitions = new List<InvoiceTransition> { Transition(InvoiceStatus.Pending, InvoiceStatus.Paid, "pay_1") };
        var invoice = Invoice with { Metadata = metadata, Transitions = transitions };
        var created = new Invoice(
            Invoice.Id, Invoice.MerchantId, null, "INV-1", Invoice.Amount, "d", "m", InvoiceStatus.Pending, At, null, Invoice.Amount, Invoice.Overpaid, false, metadata, transitions, null, null, At, At);
        var transaction = Transaction with { Metadata = metadata };
        var eventTypes = new List<string> { "invoice.paid" };
        var endpoint = Endpoint with { EventTypes = eventTypes };
        var routes = new List<QuoteCandidate> { Candidate(ChainId.Stellar, 1) };
        var quote = Quote with { CandidateRoutes = routes };

        metadata["order"] = "43";
        metadata["extra"] = "1";
        transitions.Clear();
        eventTypes.Add("payment.confirmed");
        routes.Add(Candidate(ChainId.Ethereum, 2));

        Assert.Equal(new Dictionary<string, string> { ["order"] = "42" }, invoice.Metadata);
        Assert.Equal(new Dictionary<string, string> { ["order"] = "42" }, created.Metadata);
        Assert.Single(invoice.Transitions);
        Assert.Single(created.Transitions);
        Assert.Equal(new Dictionary<string, string> { ["order"] = "42" }, transaction.Metadata!);
        Assert.Equal(["invoice.paid"], endpoint.EventTypes);
        Assert.Single(quote.CandidateRoutes);
    }

    [Fact]
    public void Other_Invoicing_Records_Compare_Their_Collections_By_Content()
    {
        var client = new Client(ClientId.New(Clock), Invoice.MerchantId, "Ada", null, null, Metadata(("a", "1")), At, At);
        var link = new PaymentLink(
            PaymentLinkId.New(Clock), Invoice.MerchantId, "slug", "Title", null, Invoice.Amount, true, null, null, 0, Metadata(("a", "1")), null, null, At, At);
        var merchant = new MerchantSummary(Invoice.MerchantId, "GA", null, null);

        AssertEqualWithHash(client, client with { Metadata = Metadata(("a", "1")) });
        AssertEqualWithHash(link, link with { Metadata = Metadata(("a", "1")) });
        AssertEqualWithHash(new InvoiceDetails(Invoice, merchant, client, []), new InvoiceDetails(Invoice, merchant, client, []));
        AssertEqualWithHash(new PendingInvoice(Invoice, null, []), new PendingInvoice(Invoice, null, new List<Payment>()));
        AssertEqualWithHash(
            new CreateInvoiceRequest(10m, "XLM", "d") { Metadata = Metadata(("a", "1")) },
            new CreateInvoiceRequest(10m, "XLM", "d") { Metadata = Metadata(("a", "1")) });
        AssertEqualWithHash(new CreateClientRequest("Ada") { Metadata = Metadata(("a", "1")) }, new CreateClientRequest("Ada") { Metadata = Metadata(("a", "1")) });
        AssertEqualWithHash(
            new CreatePaymentLinkRequest("t", 1m, "XLM") { Metadata = Metadata(("a", "1")) },
            new CreatePaymentLinkRequest("t", 1m, "XLM") { Metadata = Metadata(("a", "1")) });
    }

    [Fact]
    public void Transactions_And_Partners_With_The_Same_Metadata_Are_Equal()
    {
        AssertEqualWithHash(Transaction, Transaction with { Metadata = Metadata(("cart", "7"), ("order", "42")) });
        Assert.NotEqual(Transaction, Transaction with { Metadata = Metadata(("cart", "7")) });
        Assert.NotEqual(Transaction, Transaction with { Metadata = null });

        var request = new CreateTransactionRequest("key-1", 10m, "USD", "card", "stripe", "a@example.com") { Metadata = Metadata(("a", "1")) };
        AssertEqualWithHash(request, request with { Metadata = Metadata(("a", "1")) });
        AssertEqualWithHash(
            new CreatePartnerRequest("p", "p@example.com") { Metadata = Metadata(("a", "1")) },
            new CreatePartnerRequest("p", "p@example.com") { Metadata = Metadata(("a", "1")) });
        AssertEqualWithHash(new UpdatePartnerRequest { Metadata = Metadata(("a", "1")) }, new UpdatePartnerRequest { Metadata = Metadata(("a", "1")) });
        AssertEqualWithHash(
            new SimulatedWebhook("{}", Metadata(("sig", "x")), At),
            new SimulatedWebhook("{}", Metadata(("sig", "x")), At));
    }

    [Fact]
    public void Quotes_With_The_Same_Routes_In_Separate_Lists_Are_Equal()
    {
        var copy = Quote with
        {
            Destinations = [new QuoteDestination(ChainId.Stellar, "GA"), new QuoteDestination(ChainId.Ethereum, "0xabc")],
            CandidateRoutes = [Candidate(ChainId.Stellar, 1), Candidate(ChainId.Ethereum, 2)],
        };

        AssertEqualWithHash(Quote, copy);
        Assert.NotEqual(Quote, Quote with { CandidateRoutes = [Candidate(ChainId.Ethereum, 2), Candidate(ChainId.Stellar, 1)] });
        AssertEqualWithHash(
            new CreateQuoteRequest(Quote.Amount, RoutePriority.Fast, [new QuoteDestination(ChainId.Stellar, "GA")]),
            new CreateQuoteRequest(Quote.Amount, RoutePriority.Fast, [new QuoteDestination(ChainId.Stellar, "GA")]));
    }

    [Fact]
    public void Webhook_Endpoints_With_The_Same_Event_Types_And_Secrets_Are_Equal()
    {
        var copy = Endpoint with
        {
            EventTypes = ["invoice.*", "payment.confirmed"],
            Secrets = [new WebhookEndpointSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", At, ExpiresAt: null)],
        };

        AssertEqualWithHash(Endpoint, copy);
        Assert.NotEqual(Endpoint, Endpoint with { EventTypes = ["payment.confirmed", "invoice.*"] });
        AssertEqualWithHash(
            new RegisterWebhookEndpoint { Url = new Uri("https://example.com"), EventTypes = ["invoice.paid"] },
            new RegisterWebhookEndpoint { Url = new Uri("https://example.com"), EventTypes = ["invoice.paid"] });
    }

    [Fact]
    public void Payout_Batches_Compare_Their_Transfers_And_Failures_By_Content()
    {
        AssertEqualWithHash(
            new PayoutBatchResult("tx", new Dictionary<string, string> { ["0.0.1"] = "frozen", ["0.0.2"] = "no_association" }),
            new PayoutBatchResult("tx", new Dictionary<string, string> { ["0.0.2"] = "no_association", ["0.0.1"] = "frozen" }));
        Assert.NotEqual(PayoutBatchResult.Succeeded("tx"), new PayoutBatchResult("tx", new Dictionary<string, string> { ["0.0.1"] = "frozen" }));
        AssertEqualWithHash(new ClaimedBatch(1, [new PayoutTransfer("0.0.1", 5)]), new ClaimedBatch(1, [new PayoutTransfer("0.0.1", 5)]));
        Assert.NotEqual(
            new ClaimedBatch(1, [new PayoutTransfer("0.0.1", 5), new PayoutTransfer("0.0.2", 5)]),
            new ClaimedBatch(1, [new PayoutTransfer("0.0.2", 5), new PayoutTransfer("0.0.1", 5)]));
    }

    [Fact]
    public void Records_Read_Back_Equal_And_Keep_Their_Json()
    {
        var invoiceJson = AssertRoundTrip(Invoice);
        Assert.Equal("""{"zeta":"1","alpha":"2"}""", invoiceJson["metadata"]!.ToJsonString());
        Assert.Equal("pay_1", invoiceJson["transitions"]![0]!["actor"]!.GetValue<string>());
        Assert.Equal(
            "id,merchant_id,client_id,number,amount,description,memo,status,expires_at,paid_at,amount_paid,overpaid,paid_late,metadata,transitions,"
            + "idempotency_key,request_fingerprint,created_at,updated_at,refundable,refunded",
            Names(invoiceJson));

        var transactionJson = AssertRoundTrip(Transaction);
        Assert.Equal("""{"order":"42","cart":"7"}""", transactionJson["metadata"]!.ToJsonString());
        Assert.Null(AssertRoundTrip(Transaction with { Metadata = null })["metadata"]);

        var quoteJson = AssertRoundTrip(Quote);
        Assert.Equal("""[{"chain":"stellar","address":"GA"},{"chain":"ethereum","address":"0xabc"}]""", quoteJson["destinations"]!.ToJsonString());
        Assert.Equal(2, quoteJson["candidate_routes"]!.AsArray().Count);
        Assert.Equal("id,merchant_id,amount,priority,destinations,candidate_routes,recommended_chain,expires_at,created_at", Names(quoteJson));

        var endpointJson = AssertRoundTrip(Endpoint);
        Assert.Equal("""["invoice.*","payment.confirmed"]""", endpointJson["event_types"]!.ToJsonString());
        Assert.Equal("id,tenant_id,url,description,event_types,ordered,status,disabled_reason,secrets,created_at,updated_at", Names(endpointJson));

        var client = new Client(ClientId.New(Clock), Invoice.MerchantId, "Ada", null, null, Metadata(("a", "1")), At, At);
        Assert.Equal("id,merchant_id,name,email,wallet_address,metadata,created_at,updated_at", Names(AssertRoundTrip(client)));
    }

    private static void AssertEqualWithHash<T>(T expected, T actual)
    {
        Assert.Equal(expected, actual);
        Assert.Equal(expected!.GetHashCode(), actual!.GetHashCode());
    }

    // The record must read back equal, and writing what was read must give the same bytes.
    private static JsonNode AssertRoundTrip<T>(T record)
    {
        var json = JsonSerializer.Serialize(record, Json);
        var read = JsonSerializer.Deserialize<T>(json, Json);
        AssertEqualWithHash(record, read);
        Assert.Equal(json, JsonSerializer.Serialize(read, Json));
        return JsonNode.Parse(json)!;
    }

    // Moving a collection property into the record's body must not move it in the JSON.
    private static string Names(JsonNode json) => string.Join(",", json.AsObject().Select(property => property.Key));

    private static Dictionary<string, string> Metadata(params (string Key, string Value)[] pairs) =>
        pairs.ToDictionary(pair => pair.Key, pair => pair.Value);

    private static InvoiceTransition Transition(InvoiceStatus from, InvoiceStatus to, string actor) => new(from, to, At, actor, "why");

    private static QuoteCandidate Candidate(ChainId chain, int rank) => new(
        chain, rank, 0.5m, RouteExclusion.None, Money.Of(0.01m, AssetRegistry.Usdc), null, 1m, Money.Of(1000m, AssetRegistry.Usdc), null, null);
}
