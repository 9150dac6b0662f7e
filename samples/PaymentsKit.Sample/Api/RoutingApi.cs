using Microsoft.AspNetCore.Authorization;
using PaymentsKit.Routing;

namespace PaymentsKit.Sample.Api;

/// <summary>Routing merchants, quotes, payment intents and the treasury books.</summary>
internal static class RoutingApi
{
    private const string What = "use quotes and payment intents (they need a routing merchant's key)";

    public static void Map(IEndpointRouteBuilder app)
    {
        app.MapPost("/v1/routing-merchants", async (CreateRoutingMerchantBody body, IRoutingMerchantService merchants, CancellationToken ct) =>
        {
            var created = await merchants.CreateAsync(new CreateRoutingMerchantRequest(body.Name!), ct).ConfigureAwait(false);
            return Results.Created($"/v1/routing-merchants/{created.Merchant.Id}", new RoutingMerchantCreated(created.Merchant.Id, created.Merchant.Name, created.ApiKey));
        }).AllowAnonymous();

        app.MapPost("/v1/quotes", async (HttpContext http, CreateQuoteBody body, IQuoteService quotes, AssetRegistry assets, CancellationToken ct) =>
        {
            var merchant = await RoutingMerchantAsync(http, ct).ConfigureAwait(false);
            var destinations = (body.Destinations ?? []).Select((d, i) => d is null
                ? throw new PaymentsKitException(PaymentsKitErrorCodes.InvalidArgument, $"destinations[{i}] must be an object with chain and address (value: null).")
                : new QuoteDestination(ChainId.Of(d.Chain!), d.Address!)).ToList();
            var quote = await quotes.CreateAsync(
                merchant, new CreateQuoteRequest(Money.Of(body.Amount, assets.Get(body.Asset ?? "USDC")), body.Priority ?? RoutePriority.LowFee, destinations), ct).ConfigureAwait(false);
            return Results.Created($"/v1/quotes/{quote.Id}", quote);
        });
        app.MapGet("/v1/quotes/{quoteId}", async (HttpContext http, string quoteId, IQuoteService quotes, CancellationToken ct) =>
            Results.Ok(await quotes.GetAsync(await RoutingMerchantAsync(http, ct).ConfigureAwait(false), QuoteId.Parse(quoteId), ct).ConfigureAwait(false)));

        app.MapPost("/v1/payment-intents", async (HttpContext http, CreateIntentBody body, IPaymentIntentService intents, CancellationToken ct) =>
        {
            var merchant = await RoutingMerchantAsync(http, ct).ConfigureAwait(false);
            var key = ApiAuth.IdempotencyKey(http)
                ?? throw new PaymentsKitException(PaymentsKitErrorCodes.InvalidArgument, "Payment intents need an 'Idempotency-Key' header so a retry never pays twice.");
            var intent = await intents.CreateAsync(
                merchant,
                new CreatePaymentIntentRequest(QuoteId.Parse(body.QuoteId), key) { Chain = body.Chain is null ? null : ChainId.Of(body.Chain) },
                ct).ConfigureAwait(false);
            return Results.Created($"/v1/payment-intents/{intent.Id}", intent);
        });
        app.MapGet("/v1/payment-intents/{intentId}", async (HttpContext http, string intentId, IPaymentIntentService intents, CancellationToken ct) =>
            Results.Ok(await intents.GetAsync(await RoutingMerchantAsync(http, ct).ConfigureAwait(false), PaymentIntentId.Parse(intentId), ct).ConfigureAwait(false)));
        app.MapGet("/v1/payment-intents/{intentId}/attempts", async (HttpContext http, string intentId, IPaymentIntentService intents, CancellationToken ct) =>
            Results.Ok(await intents.ListAttemptsAsync(await RoutingMerchantAsync(http, ct).ConfigureAwait(false), PaymentIntentId.Parse(intentId), ct).ConfigureAwait(false)));

        // The payment_intents.advance_due job advances due intents every 2 s; this lets a caller move its own intent a step now.
        app.MapPost("/v1/payment-intents/{intentId}/advance", async (HttpContext http, string intentId, IPaymentIntentService intents, CancellationToken ct) =>
        {
            var merchant = await RoutingMerchantAsync(http, ct).ConfigureAwait(false);
            var intent = await intents.GetAsync(merchant, PaymentIntentId.Parse(intentId), ct).ConfigureAwait(false);
            return Results.Ok(await intents.AdvanceAsync(intent.Id, ct).ConfigureAwait(false));
        });
        app.MapPost("/v1/payment-intents/{intentId}/cancel", async (HttpContext http, string intentId, IPaymentIntentService intents, CancellationToken ct) =>
            Results.Ok(await intents.CancelAsync(await RoutingMerchantAsync(http, ct).ConfigureAwait(false), PaymentIntentId.Parse(intentId), ct).ConfigureAwait(false)));

        app.MapGet("/v1/treasury/{chain}", async (HttpContext http, string chain, TreasuryService treasury, CancellationToken ct) =>
        {
            await RoutingMerchantAsync(http, ct).ConfigureAwait(false);
            var book = await treasury.GetBookAsync(ChainId.Of(chain), ct).ConfigureAwait(false);
            return Results.Ok(new TreasuryView(chain, book.Available, book.Reserved, book.Spent, book.Fees, book.Funded, book.Balances));
        });
    }

    private static async ValueTask<MerchantId> RoutingMerchantAsync(HttpContext http, CancellationToken ct) =>
        (await ApiAuth.RequireAsync(http, PrincipalKind.RoutingMerchant, What, ct).ConfigureAwait(false)).MerchantId;

    internal sealed record CreateRoutingMerchantBody(string? Name);

    internal sealed record RoutingMerchantCreated(MerchantId Id, string Name, string Key);

    internal sealed record DestinationBody(string? Chain, string? Address);

    internal sealed record CreateQuoteBody(decimal Amount, string? Asset, RoutePriority? Priority, IReadOnlyList<DestinationBody>? Destinations);

    internal sealed record CreateIntentBody(string? QuoteId, string? Chain);

    internal sealed record TreasuryView(string Chain, Money Available, Money Reserved, Money Spent, Money Fees, Money Funded, bool Balances);
}
