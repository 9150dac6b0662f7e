using PaymentsKit.Ledger;
using PaymentsKit.Streaming;

namespace PaymentsKit.Sample.Api;

/// <summary>Payment streams of a merchant, funded from and paid out through the merchant's ledger.</summary>
internal static class StreamApi
{
    private const string What = "use streams";

    public static void Map(IEndpointRouteBuilder app)
    {
        app.MapPost("/v1/streams", async (HttpContext http, CreateStreamBody body, IStreamService streams, ILedger ledger, AssetRegistry assets, CancellationToken ct) =>
        {
            var merchant = await ApiAuth.MerchantAsync(http, What, ct).ConfigureAwait(false);
            var total = Money.Of(body.TotalAmount, assets.Get(body.Asset));
            var funding = await LedgerAccounts.EnsureAsync(ledger, merchant, $"streams:funding:{total.Asset.Code}", "Stream funding", total.Asset, LedgerSide.Credit, LedgerAccountFlags.None, ct).ConfigureAwait(false);
            var payouts = await LedgerAccounts.EnsureAsync(ledger, merchant, $"streams:payouts:{total.Asset.Code}", "Stream payouts", total.Asset, LedgerSide.Credit, LedgerAccountFlags.None, ct).ConfigureAwait(false);
            var created = await streams.CreateAsync(merchant, new CreateStreamRequest(funding.Id, payouts.Id, body.Payer!, body.Recipient!, total, body.RatePerSecond), ct)
                .ConfigureAwait(false);
            return Results.Created($"/v1/streams/{created.Stream.Id}", created.Stream);
        });
        app.MapGet("/v1/streams/{streamId}", async (HttpContext http, string streamId, IStreamService streams, CancellationToken ct) =>
            Results.Ok(await streams.GetAsync(await ApiAuth.MerchantAsync(http, What, ct).ConfigureAwait(false), StreamId.Parse(streamId), ct).ConfigureAwait(false)));
        app.MapGet("/v1/streams/{streamId}/statement", async (HttpContext http, string streamId, IStreamService streams, CancellationToken ct) =>
            Results.Ok(await streams.GetStatementAsync(await ApiAuth.MerchantAsync(http, What, ct).ConfigureAwait(false), StreamId.Parse(streamId), cancellationToken: ct).ConfigureAwait(false)));

        MapAction(app, "pause", (streams, merchant, id, action, ct) => streams.PauseAsync(merchant, id, action, ct));
        MapAction(app, "resume", (streams, merchant, id, action, ct) => streams.ResumeAsync(merchant, id, action, ct));
        MapAction(app, "settle", (streams, merchant, id, action, ct) => streams.SettleAsync(merchant, id, action, ct));
        MapAction(app, "cancel", (streams, merchant, id, action, ct) => streams.CancelAsync(merchant, id, action, ct));
        app.MapPost("/v1/streams/{streamId}/withdraw", async (HttpContext http, string streamId, WithdrawBody body, IStreamService streams, AssetRegistry assets, CancellationToken ct) =>
        {
            var merchant = await ApiAuth.MerchantAsync(http, What, ct).ConfigureAwait(false);
            var id = StreamId.Parse(streamId);
            Money? amount = body.Amount is { } value ? Money.Of(value, (await streams.GetAsync(merchant, id, ct).ConfigureAwait(false)).TotalAmount.Asset) : null;
            var result = await streams.WithdrawAsync(merchant, id, new WithdrawStreamRequest(body.Actor ?? "recipient") { Amount = amount, Reason = body.Reason }, ct).ConfigureAwait(false);
            return Results.Ok(result.Stream);
        });
    }

    private static void MapAction(
        IEndpointRouteBuilder app, string name, Func<IStreamService, MerchantId, StreamId, StreamAction, CancellationToken, ValueTask<StreamOperationResult>> operation) =>
        app.MapPost($"/v1/streams/{{streamId}}/{name}", async (HttpContext http, string streamId, ActionBody? body, IStreamService streams, CancellationToken ct) =>
        {
            var merchant = await ApiAuth.MerchantAsync(http, What, ct).ConfigureAwait(false);
            var result = await operation(streams, merchant, StreamId.Parse(streamId), new StreamAction(body?.Actor ?? "api") { Reason = body?.Reason }, ct).ConfigureAwait(false);
            return Results.Ok(result.Stream);
        });

    internal sealed record CreateStreamBody(string? Payer, string? Recipient, decimal TotalAmount, string? Asset, decimal RatePerSecond);

    internal sealed record ActionBody(string? Actor, string? Reason);

    internal sealed record WithdrawBody(string? Actor, decimal? Amount, string? Reason);
}

/// <summary>Finds or opens a merchant's ledger account by code.</summary>
internal static class LedgerAccounts
{
    public static async ValueTask<LedgerAccount> EnsureAsync(
        ILedger ledger, MerchantId tenant, string code, string name, Asset asset, LedgerSide side, LedgerAccountFlags flags, CancellationToken ct)
    {
        if (await ledger.FindAccountByCodeAsync(tenant, code, ct).ConfigureAwait(false) is { } existing)
        {
            return existing;
        }

        try
        {
            return await ledger.CreateAccountAsync(tenant, new CreateLedgerAccountRequest(code, name, asset, side) { Flags = flags }, ct).ConfigureAwait(false);
        }
        catch (PaymentsKitException ex) when (ex.Code == PaymentsKitErrorCodes.DuplicateKey)
        {
            // A concurrent request opened it first.
            return (await ledger.FindAccountByCodeAsync(tenant, code, ct).ConfigureAwait(false))!;
        }
    }
}
