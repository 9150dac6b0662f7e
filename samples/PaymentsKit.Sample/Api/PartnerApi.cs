using Microsoft.AspNetCore.Authorization;
using NodaTime;
using PaymentsKit.Orchestration;

namespace PaymentsKit.Sample.Api;

/// <summary>Orchestration partners, their provider transactions and refunds.</summary>
internal static class PartnerApi
{
    private const string What = "use partner transactions (they need a partner's key)";

    public static void Map(IEndpointRouteBuilder app)
    {
        app.MapPost("/v1/partners", async (HttpContext http, CreatePartnerBody body, IPartnerService partners, CancellationToken ct) =>
        {
            var created = await partners.CreateAsync(new CreatePartnerRequest(body.Name!, body.Email!), ApiAuth.RequestContextOf(http), ct).ConfigureAwait(false);
            return Results.Created($"/v1/partners/{created.Partner.Id}", new PartnerCreated(PartnerView.Of(created.Partner), created.ApiKey));
        }).AllowAnonymous();
        app.MapGet("/v1/partners/me", async (HttpContext http, IPartnerService partners, CancellationToken ct) =>
            Results.Ok(PartnerView.Of(await partners.GetAsync(await PartnerAsync(http, ct).ConfigureAwait(false), ct).ConfigureAwait(false))));

        app.MapPost("/v1/transactions", async (HttpContext http, CreateTransactionBody body, ITransactionService transactions, CancellationToken ct) =>
        {
            var partner = await PartnerAsync(http, ct).ConfigureAwait(false);
            var key = ApiAuth.IdempotencyKey(http)
                ?? throw new PaymentsKitException(PaymentsKitErrorCodes.InvalidArgument, "Transactions need an 'Idempotency-Key' header so a retry never charges twice.");
            var transaction = await transactions.CreateAsync(
                partner,
                new CreateTransactionRequest(key, body.Amount, body.Currency!, body.PaymentMethod!, body.Provider!, body.CustomerEmail!)
                {
                    CustomerName = body.CustomerName,
                    Description = body.Description,
                    Metadata = body.Metadata,
                },
                ApiAuth.RequestContextOf(http),
                ct).ConfigureAwait(false);
            return Results.Created($"/v1/transactions/{transaction.Id}", transaction);
        });
        app.MapGet("/v1/transactions/{transactionId}", async (HttpContext http, string transactionId, ITransactionService transactions, CancellationToken ct) =>
            Results.Ok(await transactions.GetAsync(await PartnerAsync(http, ct).ConfigureAwait(false), TransactionId.Parse(transactionId), ct).ConfigureAwait(false)));
        app.MapGet("/v1/transactions/{transactionId}/events", async (HttpContext http, string transactionId, ITransactionService transactions, CancellationToken ct) =>
            Results.Ok(await transactions.GetEventsAsync(await PartnerAsync(http, ct).ConfigureAwait(false), TransactionId.Parse(transactionId), ct).ConfigureAwait(false)));

        app.MapPost("/v1/transactions/{transactionId}/refunds", async (HttpContext http, string transactionId, CreateRefundBody body, IRefundService refunds, CancellationToken ct) =>
        {
            var partner = await PartnerAsync(http, ct).ConfigureAwait(false);
            var refund = await refunds.RefundAsync(
                partner,
                TransactionId.Parse(transactionId),
                new CreateRefundRequest(body.Amount, body.Reason!) { IdempotencyKey = ApiAuth.IdempotencyKey(http) },
                ApiAuth.RequestContextOf(http),
                ct).ConfigureAwait(false);
            return Results.Created($"/v1/refunds/{refund.Id}", refund);
        });
        app.MapGet("/v1/transactions/{transactionId}/refunds", async (HttpContext http, string transactionId, IRefundService refunds, CancellationToken ct) =>
            Results.Ok(await refunds.ListRefundsAsync(await PartnerAsync(http, ct).ConfigureAwait(false), TransactionId.Parse(transactionId), ct).ConfigureAwait(false)));
    }

    private static async ValueTask<PartnerId> PartnerAsync(HttpContext http, CancellationToken ct) =>
        (await ApiAuth.RequireAsync(http, PrincipalKind.Partner, What, ct).ConfigureAwait(false)).PartnerId;

    internal sealed record CreatePartnerBody(string? Name, string? Email);

    /// <summary>A partner without its key hash and webhook secret.</summary>
    internal sealed record PartnerView(PartnerId Id, string Name, string Email, string ApiKeyPrefix, bool IsActive, int RateLimitPerMinute, Instant CreatedAt)
    {
        public static PartnerView Of(Partner partner) =>
            new(partner.Id, partner.Name, partner.Email, partner.ApiKeyPrefix, partner.IsActive, partner.RateLimitPerMinute, partner.CreatedAt);
    }

    internal sealed record PartnerCreated(PartnerView Partner, string Key);

    internal sealed record CreateTransactionBody(
        decimal Amount, string? Currency, string? PaymentMethod, string? Provider, string? CustomerEmail, string? CustomerName, string? Description,
        IReadOnlyDictionary<string, string>? Metadata);

    internal sealed record CreateRefundBody(decimal Amount, string? Reason);
}
