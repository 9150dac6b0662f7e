using NodaTime;
using PaymentsKit.Ledger;
using PaymentsKit.Payouts;

namespace PaymentsKit.Sample.Api;

/// <summary>Token assets and distributions to their holders (simulated Hedera payouts).</summary>
internal static class DistributionApi
{
    private const string What = "use distributions";

    public static void Map(IEndpointRouteBuilder app)
    {
        app.MapPost("/v1/token-assets", async (HttpContext http, CreateTokenAssetBody body, IDistributionService payouts, AssetRegistry assets, CancellationToken ct) =>
        {
            var merchant = await ApiAuth.MerchantAsync(http, What, ct).ConfigureAwait(false);
            var asset = await payouts.CreateAssetAsync(
                merchant,
                new CreateTokenAssetRequest(body.TokenId!, body.Name!, body.Symbol!, body.TotalSupply, body.Decimals, assets.Get(body.PaymentAsset ?? "USDC"))
                {
                    PaymentTokenId = body.PaymentTokenId,
                },
                ct).ConfigureAwait(false);
            return Results.Created($"/v1/token-assets/{asset.Id}", asset);
        });

        app.MapPost("/v1/distributions", async (HttpContext http, CreateDistributionBody body, IDistributionService payouts, AssetRegistry assets, CancellationToken ct) =>
        {
            var merchant = await ApiAuth.MerchantAsync(http, What, ct).ConfigureAwait(false);
            var distribution = await payouts.CreateDistributionAsync(
                merchant,
                new CreateDistributionRequest(TokenAssetId.Parse(body.AssetId), body.Type ?? DistributionType.Dividend, body.Execution ?? DistributionExecution.Manual)
                {
                    Payout = body.Payout,
                    Amount = body.Amount is { } amount ? Money.Of(amount, assets.Get(body.Asset ?? "USDC")) : null,
                    Percentage = body.Percentage,
                    AmountPerShare = body.AmountPerShare,
                    Concept = body.Concept,
                    ScheduledTime = body.ScheduledTime,
                    TimeZone = body.TimeZone,
                    FundingAccountId = body.FundingAccountId is null ? null : LedgerAccountId.Parse(body.FundingAccountId),
                    PayoutAccountId = body.PayoutAccountId is null ? null : LedgerAccountId.Parse(body.PayoutAccountId),
                },
                ct).ConfigureAwait(false);
            return Results.Created($"/v1/distributions/{distribution.Id}", distribution);
        });
        app.MapGet("/v1/distributions/{distributionId}", async (HttpContext http, string distributionId, IDistributionService payouts, CancellationToken ct) =>
            Results.Ok(await payouts.GetDistributionAsync(await ApiAuth.MerchantAsync(http, What, ct).ConfigureAwait(false), DistributionId.Parse(distributionId), ct).ConfigureAwait(false)));
        app.MapPost("/v1/distributions/{distributionId}/holders", async (HttpContext http, string distributionId, IReadOnlyList<HolderBody> holders, IDistributionService payouts, CancellationToken ct) =>
        {
            var merchant = await ApiAuth.MerchantAsync(http, What, ct).ConfigureAwait(false);
            var snapshot = await payouts.ImportHolderSnapshotAsync(
                merchant, DistributionId.Parse(distributionId), holders.Select((h, i) => h is null
                    ? throw new PaymentsKitException(PaymentsKitErrorCodes.InvalidArgument, $"holders[{i}] must be an object with account_id and balance (value: null).")
                    : new HolderBalance(h.AccountId!, h.Balance)), cancellationToken: ct).ConfigureAwait(false);
            return Results.Ok(snapshot);
        });
        app.MapPost("/v1/distributions/{distributionId}/execute", async (HttpContext http, string distributionId, IDistributionService payouts, CancellationToken ct) =>
            Results.Ok(await payouts.ExecuteAsync(await ApiAuth.MerchantAsync(http, What, ct).ConfigureAwait(false), DistributionId.Parse(distributionId), cancellationToken: ct).ConfigureAwait(false)));
        app.MapGet("/v1/distributions/{distributionId}/batches", async (HttpContext http, string distributionId, IDistributionService payouts, CancellationToken ct) =>
            Results.Ok(await payouts.ListBatchesAsync(await ApiAuth.MerchantAsync(http, What, ct).ConfigureAwait(false), DistributionId.Parse(distributionId), ct).ConfigureAwait(false)));
    }

    internal sealed record CreateTokenAssetBody(string? TokenId, string? Name, string? Symbol, long TotalSupply, int Decimals, string? PaymentAsset, string? PaymentTokenId);

    internal sealed record CreateDistributionBody(
        string? AssetId,
        DistributionType? Type,
        DistributionExecution? Execution,
        DistributionPayout? Payout,
        decimal? Amount,
        string? Asset,
        decimal? Percentage,
        decimal? AmountPerShare,
        string? Concept,
        LocalDateTime? ScheduledTime,
        string? TimeZone,
        string? FundingAccountId,
        string? PayoutAccountId);

    internal sealed record HolderBody(string? AccountId, long Balance);
}
