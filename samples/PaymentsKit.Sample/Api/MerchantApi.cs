using Microsoft.AspNetCore.Authorization;
using NodaTime;
using PaymentsKit.Invoicing;
using PaymentsKit.Ledger;
using PaymentsKit.Sample.Checkout;
using PaymentsKit.Storage;

namespace PaymentsKit.Sample.Api;

/// <summary>Invoicing merchants, their API keys, invoices, payment links, payments and ledger reconciliation.</summary>
internal static class MerchantApi
{
    public static void Map(IEndpointRouteBuilder app)
    {
        // Sign-ups are the open calls (this one, partners and routing merchants): each registers and returns a first API key, once.
        app.MapPost("/v1/merchants", async (RegisterMerchantBody body, IMerchantService merchants, IApiKeyService keys, CancellationToken ct) =>
        {
            var merchant = await merchants.RegisterMerchantAsync(
                new RegisterMerchantRequest(body.Chain!, body.WalletAddress!) { Name = body.Name, Email = body.Email }, ct).ConfigureAwait(false);
            var key = await keys.CreateApiKeyAsync(merchant.Id, new CreateApiKeyRequest("default"), ct).ConfigureAwait(false);
            return Results.Created($"/v1/merchants/{merchant.Id}", new MerchantCreated(merchant, ApiKeyView.Of(key.ApiKey), key.Key));
        }).AllowAnonymous();
        app.MapGet("/v1/merchants/{merchantId}", async (HttpContext http, string merchantId, IMerchantService merchants, CancellationToken ct) =>
        {
            var caller = await ApiAuth.MerchantAsync(http, "read merchants", ct).ConfigureAwait(false);
            var id = MerchantId.Parse(merchantId);
            return id == caller ? Results.Ok(await merchants.GetMerchantAsync(id, ct).ConfigureAwait(false)) : throw ApiErrors.ForbiddenFor("read another merchant");
        });

        app.MapPost("/v1/api-keys", async (HttpContext http, CreateApiKeyBody body, IApiKeyService keys, CancellationToken ct) =>
        {
            var merchant = await ApiAuth.MerchantAsync(http, "manage merchant API keys", ct).ConfigureAwait(false);
            var key = await keys.CreateApiKeyAsync(merchant, new CreateApiKeyRequest(body.Name!) { ExpiresAt = body.ExpiresAt }, ct).ConfigureAwait(false);
            return Results.Created($"/v1/api-keys/{key.ApiKey.Id}", new ApiKeyCreated(ApiKeyView.Of(key.ApiKey), key.Key));
        });
        app.MapGet("/v1/api-keys", async (HttpContext http, IApiKeyService keys, string? cursor, int? limit, CancellationToken ct) =>
        {
            var page = await keys.ListApiKeysAsync(await ApiAuth.MerchantAsync(http, "manage merchant API keys", ct).ConfigureAwait(false), cursor, limit, ct).ConfigureAwait(false);
            return Results.Ok(new Page<ApiKeyView>([.. page.Items.Select(ApiKeyView.Of)], page.NextCursor));
        });
        app.MapPost("/v1/api-keys/{keyId}/revoke", async (HttpContext http, string keyId, IApiKeyService keys, CancellationToken ct) =>
            Results.Ok(ApiKeyView.Of(await keys.RevokeApiKeyAsync(
                await ApiAuth.MerchantAsync(http, "manage merchant API keys", ct).ConfigureAwait(false), ApiKeyId.Parse(keyId), ct).ConfigureAwait(false))));

        app.MapPost("/v1/invoices", async (HttpContext http, CreateInvoiceBody body, IInvoiceService invoices, CancellationToken ct) =>
        {
            var merchant = await ApiAuth.MerchantAsync(http, "create invoices", ct).ConfigureAwait(false);
            var invoice = await invoices.CreateInvoiceAsync(
                merchant,
                new CreateInvoiceRequest(body.Amount, body.Asset!, body.Description!)
                {
                    Number = body.Number,
                    Memo = body.Memo,
                    ExpiresAt = body.ExpiresAt,
                    Metadata = body.Metadata,
                    IdempotencyKey = ApiAuth.IdempotencyKey(http),
                },
                ct).ConfigureAwait(false);
            return Results.Created($"/v1/invoices/{invoice.Id}", new InvoiceView(invoice, CheckoutPages.InvoicePath(invoice)));
        });
        app.MapGet("/v1/invoices", async (HttpContext http, IInvoiceService invoices, string? cursor, int? limit, CancellationToken ct) =>
            Results.Ok(await invoices.ListInvoicesAsync(await ApiAuth.MerchantAsync(http, "read invoices", ct).ConfigureAwait(false), cursor, limit, ct).ConfigureAwait(false)));
        app.MapGet("/v1/invoices/{invoiceId}", async (HttpContext http, string invoiceId, IInvoiceService invoices, CancellationToken ct) =>
        {
            var invoice = await invoices.GetInvoiceAsync(await ApiAuth.MerchantAsync(http, "read invoices", ct).ConfigureAwait(false), InvoiceId.Parse(invoiceId), ct).ConfigureAwait(false);
            return Results.Ok(new InvoiceView(invoice, CheckoutPages.InvoicePath(invoice)));
        });
        app.MapPost("/v1/invoices/{invoiceId}/cancel", async (HttpContext http, string invoiceId, CancelBody? body, IInvoiceService invoices, CancellationToken ct) =>
        {
            var invoice = await invoices.CancelInvoiceAsync(
                await ApiAuth.MerchantAsync(http, "cancel invoices", ct).ConfigureAwait(false), InvoiceId.Parse(invoiceId), body?.Reason, ct).ConfigureAwait(false);
            return Results.Ok(new InvoiceView(invoice, CheckoutPages.InvoicePath(invoice)));
        });

        app.MapPost("/v1/payment-links", async (HttpContext http, CreatePaymentLinkBody body, IPaymentLinkService links, CancellationToken ct) =>
        {
            var merchant = await ApiAuth.MerchantAsync(http, "create payment links", ct).ConfigureAwait(false);
            var link = await links.CreatePaymentLinkAsync(
                merchant,
                new CreatePaymentLinkRequest(body.Title!, body.Amount, body.Asset!)
                {
                    Slug = body.Slug,
                    Description = body.Description,
                    ExpiresAt = body.ExpiresAt,
                    MaxUses = body.MaxUses,
                    Metadata = body.Metadata,
                    IdempotencyKey = ApiAuth.IdempotencyKey(http),
                },
                ct).ConfigureAwait(false);
            return Results.Created($"/v1/payment-links/{link.Id}", new PaymentLinkView(link, CheckoutPages.LinkPath(link)));
        });
        app.MapGet("/v1/payment-links", async (HttpContext http, IPaymentLinkService links, string? cursor, int? limit, CancellationToken ct) =>
            Results.Ok(await links.ListPaymentLinksAsync(await ApiAuth.MerchantAsync(http, "read payment links", ct).ConfigureAwait(false), cursor, limit, ct).ConfigureAwait(false)));
        app.MapGet("/v1/payment-links/{linkId}", async (HttpContext http, string linkId, IPaymentLinkService links, CancellationToken ct) =>
        {
            var link = await links.GetPaymentLinkAsync(await ApiAuth.MerchantAsync(http, "read payment links", ct).ConfigureAwait(false), PaymentLinkId.Parse(linkId), ct).ConfigureAwait(false);
            return Results.Ok(new PaymentLinkView(link, CheckoutPages.LinkPath(link)));
        });

        app.MapPost("/v1/payments", async (HttpContext http, SubmitPaymentBody body, IPaymentService payments, CancellationToken ct) =>
        {
            var merchant = await ApiAuth.MerchantAsync(http, "submit payments", ct).ConfigureAwait(false);
            var result = await payments.SubmitPaymentAsync(
                merchant,
                new SubmitPaymentRequest(body.TransactionHash!)
                {
                    InvoiceId = body.InvoiceId is null ? null : InvoiceId.Parse(body.InvoiceId),
                    LinkSlug = body.LinkSlug,
                },
                ct).ConfigureAwait(false);
            return result.Created ? Results.Created($"/v1/payments/{result.Payment.Id}", result) : Results.Ok(result);
        });
        app.MapGet("/v1/payments", async (HttpContext http, IPaymentService payments, string? cursor, int? limit, CancellationToken ct) =>
            Results.Ok(await payments.ListPaymentsAsync(await ApiAuth.MerchantAsync(http, "read payments", ct).ConfigureAwait(false), cursor, limit, ct).ConfigureAwait(false)));

        app.MapGet("/v1/ledger/reconciliation", async (HttpContext http, ILedger ledger, CancellationToken ct) =>
        {
            var principal = await ApiAuth.AuthenticateAsync(http, ct).ConfigureAwait(false);
            return principal.Kind == PrincipalKind.Partner
                ? throw ApiErrors.ForbiddenFor("reconcile a merchant ledger")
                : Results.Ok(await ledger.ReconcileAsync(principal.MerchantId, ct).ConfigureAwait(false));
        });
    }

    internal sealed record RegisterMerchantBody(string? Chain, string? WalletAddress, string? Name, string? Email);

    internal sealed record MerchantCreated(Merchant Merchant, ApiKeyView ApiKey, string Key);

    internal sealed record CreateApiKeyBody(string? Name, Instant? ExpiresAt);

    /// <summary>An API key without its stored hash: the hash is what a guessed key is checked against, so it stays in the store.</summary>
    internal sealed record ApiKeyView(ApiKeyId Id, MerchantId MerchantId, string Name, string Prefix, Instant? ExpiresAt, Instant? LastUsedAt, Instant? RevokedAt, Instant CreatedAt)
    {
        public static ApiKeyView Of(ApiKey key) =>
            new(key.Id, key.MerchantId, key.Name, key.Prefix, key.ExpiresAt, key.LastUsedAt, key.RevokedAt, key.CreatedAt);
    }

    internal sealed record ApiKeyCreated(ApiKeyView ApiKey, string Key);

    internal sealed record CreateInvoiceBody(decimal Amount, string? Asset, string? Description, string? Number, string? Memo, Instant? ExpiresAt, IReadOnlyDictionary<string, string>? Metadata);

    internal sealed record InvoiceView(Invoice Invoice, string CheckoutUrl);

    internal sealed record CancelBody(string? Reason);

    internal sealed record CreatePaymentLinkBody(
        string? Title, decimal Amount, string? Asset, string? Slug, string? Description, Instant? ExpiresAt, int? MaxUses, IReadOnlyDictionary<string, string>? Metadata);

    internal sealed record PaymentLinkView(PaymentLink PaymentLink, string CheckoutUrl);

    internal sealed record SubmitPaymentBody(string? TransactionHash, string? InvoiceId, string? LinkSlug);
}
