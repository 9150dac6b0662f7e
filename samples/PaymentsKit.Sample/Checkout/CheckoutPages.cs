using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using NodaTime;
using PaymentsKit.Chains;
using PaymentsKit.Chains.Stellar;
using PaymentsKit.Invoicing;
using QRCoder;

namespace PaymentsKit.Sample.Checkout;

/// <summary>
/// The hosted checkout for invoices and payment links: one page (amount, asset, address, memo, QR code, live
/// status) and the public JSON it polls. A payer submits the transaction hash of the payment, as in Link2Pay,
/// and on simulated chains may let the sample's wallet pay. Anyone with the link may pay, so nothing here needs a key.
/// </summary>
internal static class CheckoutPages
{
    private static readonly Lazy<string> Page = new(() =>
    {
        using var stream = typeof(CheckoutPages).Assembly.GetManifestResourceStream("PaymentsKit.Sample.Checkout.checkout.html")
            ?? throw new InvalidOperationException("The checkout page is not embedded in the sample.");
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return reader.ReadToEnd();
    });

    public static string InvoicePath(Invoice invoice) => $"/checkout/{invoice.MerchantId}/invoices/{invoice.Id}";

    public static string LinkPath(PaymentLink link) => $"/checkout/{link.MerchantId}/links/{link.Slug}";

    public static void Map(IEndpointRouteBuilder app)
    {
        app.MapGet("/checkout/{merchantId}/invoices/{invoiceId}", () => Results.Content(Page.Value, "text/html; charset=utf-8"));
        app.MapGet("/checkout/{merchantId}/links/{slug}", () => Results.Content(Page.Value, "text/html; charset=utf-8"));

        app.MapGet("/checkout/api/{merchantId}/invoices/{invoiceId}", async (string merchantId, string invoiceId, IServiceProvider services, CancellationToken ct) =>
            Results.Ok(await InvoiceViewAsync(services, MerchantId.Parse(merchantId), InvoiceId.Parse(invoiceId), ct).ConfigureAwait(false)));
        app.MapGet("/checkout/api/{merchantId}/links/{slug}", async (string merchantId, string slug, string? payment, IServiceProvider services, CancellationToken ct) =>
            Results.Ok(await LinkViewAsync(services, MerchantId.Parse(merchantId), slug, payment, ct).ConfigureAwait(false)));

        app.MapGet("/checkout/api/{merchantId}/invoices/{invoiceId}/qr.svg", async (string merchantId, string invoiceId, IServiceProvider services, CancellationToken ct) =>
            Svg(await InvoiceViewAsync(services, MerchantId.Parse(merchantId), InvoiceId.Parse(invoiceId), ct).ConfigureAwait(false)));
        app.MapGet("/checkout/api/{merchantId}/links/{slug}/qr.svg", async (string merchantId, string slug, IServiceProvider services, CancellationToken ct) =>
            Svg(await LinkViewAsync(services, MerchantId.Parse(merchantId), slug, null, ct).ConfigureAwait(false)));

        app.MapPost("/checkout/api/{merchantId}/invoices/{invoiceId}/payments", async (string merchantId, string invoiceId, SubmitBody body, IPaymentService payments, CancellationToken ct) =>
            Submitted(await payments.SubmitPaymentAsync(
                MerchantId.Parse(merchantId), new SubmitPaymentRequest(body.TransactionHash!) { InvoiceId = InvoiceId.Parse(invoiceId) }, ct).ConfigureAwait(false)));
        app.MapPost("/checkout/api/{merchantId}/links/{slug}/payments", async (string merchantId, string slug, SubmitBody body, IPaymentService payments, CancellationToken ct) =>
            Submitted(await payments.SubmitPaymentAsync(MerchantId.Parse(merchantId), new SubmitPaymentRequest(body.TransactionHash!) { LinkSlug = slug }, ct).ConfigureAwait(false)));

        app.MapPost("/checkout/api/{merchantId}/invoices/{invoiceId}/simulate-payment", async (string merchantId, string invoiceId, IServiceProvider services, CancellationToken ct) =>
            SimulatePayment(services, await InvoiceViewAsync(services, MerchantId.Parse(merchantId), InvoiceId.Parse(invoiceId), ct).ConfigureAwait(false)));
        app.MapPost("/checkout/api/{merchantId}/links/{slug}/simulate-payment", async (string merchantId, string slug, IServiceProvider services, CancellationToken ct) =>
            SimulatePayment(services, await LinkViewAsync(services, MerchantId.Parse(merchantId), slug, null, ct).ConfigureAwait(false)));
    }

    /// <summary>The payment URI a wallet scans: SEP-7 on Stellar, a generic <c>chain:address?…</c> URI elsewhere.</summary>
    public static string PaymentUri(ChainId chain, string address, Money amount, string memo)
    {
        var value = amount.Amount.ToString(CultureInfo.InvariantCulture);
        if (chain == ChainId.Stellar)
        {
            var asset = amount.Asset.Code == "XLM" ? "" : $"&asset_code={Uri.EscapeDataString(amount.Asset.Code)}";
            return $"web+stellar:pay?destination={address}&amount={value}{asset}&memo={Uri.EscapeDataString(memo)}&memo_type=MEMO_TEXT";
        }

        return $"{chain}:{address}?amount={value}&asset={Uri.EscapeDataString(amount.Asset.Code)}&memo={Uri.EscapeDataString(memo)}";
    }

    private static async ValueTask<CheckoutView> InvoiceViewAsync(IServiceProvider services, MerchantId merchantId, InvoiceId invoiceId, CancellationToken ct)
    {
        var invoice = await services.GetRequiredService<IInvoiceService>().GetInvoiceAsync(merchantId, invoiceId, ct).ConfigureAwait(false);
        var merchant = await services.GetRequiredService<IMerchantService>().GetMerchantAsync(merchantId, ct).ConfigureAwait(false);

        // A pending invoice past its expiry is expired to the payer even before the sweep moves it.
        var now = services.GetRequiredService<IClock>().GetCurrentInstant();
        var status = invoice.Status == InvoiceStatus.Pending && invoice.ExpiresAt <= now ? "expired" : Wire(invoice.Status);
        var path = $"/checkout/api/{merchantId}/invoices/{invoiceId}";
        return new CheckoutView(
            "invoice", merchant.Name, invoice.Description, invoice.Number, invoice.Amount.Amount.ToString(CultureInfo.InvariantCulture), invoice.Amount.Asset.Code,
            merchant.Chain.Value, merchant.WalletAddress, invoice.Memo, status, invoice.ExpiresAt, invoice.AmountPaid.Amount.ToString(CultureInfo.InvariantCulture),
            PaymentUri(merchant.Chain, merchant.WalletAddress, invoice.Amount, invoice.Memo), path + "/qr.svg", IsSimulated(services, merchant.Chain), null);
    }

    private static async ValueTask<CheckoutView> LinkViewAsync(IServiceProvider services, MerchantId merchantId, string slug, string? paymentId, CancellationToken ct)
    {
        var link = await services.GetRequiredService<IPaymentLinkService>().GetPaymentLinkBySlugAsync(merchantId, slug, ct).ConfigureAwait(false);
        var merchant = await services.GetRequiredService<IMerchantService>().GetMerchantAsync(merchantId, ct).ConfigureAwait(false);
        var now = services.GetRequiredService<IClock>().GetCurrentInstant();
        var status = !link.Active ? "inactive"
            : link.ExpiresAt <= now ? "expired"
            : link.RemainingUses == 0 ? "used_up"
            : "active";
        Payment? payment = null;
        if (paymentId is not null)
        {
            // The payer's own payment decides what this page shows them; the link itself stays reusable.
            payment = await services.GetRequiredService<IPaymentService>().GetPaymentAsync(merchantId, PaymentId.Parse(paymentId), ct).ConfigureAwait(false);
            if (payment.LinkId != link.Id)
            {
                throw new PaymentsKitException(PaymentsKitErrorCodes.NotFound, $"Payment '{paymentId}' is not a payment of link '{slug}'.");
            }

            status = payment.Status == PaymentStatus.Confirmed ? "paid" : "needs_review";
        }

        var memo = link.Slug.Length <= 28 ? link.Slug : link.Slug[..28];
        return new CheckoutView(
            "payment_link", merchant.Name, link.Title, link.Description, link.Amount.Amount.ToString(CultureInfo.InvariantCulture), link.Amount.Asset.Code,
            merchant.Chain.Value, merchant.WalletAddress, memo, status, link.ExpiresAt, payment?.Amount.Amount.ToString(CultureInfo.InvariantCulture),
            PaymentUri(merchant.Chain, merchant.WalletAddress, link.Amount, memo), $"/checkout/api/{merchantId}/links/{slug}/qr.svg", IsSimulated(services, merchant.Chain),
            payment?.ReviewCode);
    }

    private static IResult Svg(CheckoutView view)
    {
        using var generator = new QRCodeGenerator();
        using var data = generator.CreateQrCode(view.PaymentUri, QRCodeGenerator.ECCLevel.M);
        using var svg = new SvgQRCode(data);
        return Results.Content(svg.GetGraphic(5), "image/svg+xml");
    }

    private static IResult Submitted(PaymentResult result) =>
        Results.Ok(new SubmittedView(result.Payment.Id, Wire(result.Payment.Status), result.Payment.ReviewCode, result.Created));

    private static IResult SimulatePayment(IServiceProvider services, CheckoutView view)
    {
        if (services.GetRequiredService<IChainAdapterRegistry>().Get(ChainId.Of(view.Chain)) is not SimulatedChain chain)
        {
            throw new PaymentsKitException(PaymentsKitErrorCodes.UnknownChain, $"Chain '{view.Chain}' is not simulated: pay from a real wallet and submit the transaction hash.");
        }

        var amount = Money.Of(decimal.Parse(view.Amount, CultureInfo.InvariantCulture), services.GetRequiredService<AssetRegistry>().Get(view.Asset));
        var payer = chain.Chain == ChainId.Stellar ? StellarAddressCodec.EncodeAccount(RandomNumberGenerator.GetBytes(32)) : $"sample-payer-{Guid.NewGuid():N}";
        return Results.Ok(new SimulatedPaymentView(chain.SimulateIncomingPayment(payer, view.Address, amount, view.Memo)));
    }

    private static bool IsSimulated(IServiceProvider services, ChainId chain) =>
        services.GetRequiredService<IChainAdapterRegistry>().TryGet(chain, out var adapter) && adapter is SimulatedChain;

    private static string Wire<TEnum>(TEnum value)
        where TEnum : struct, Enum =>
        System.Text.Json.JsonNamingPolicy.SnakeCaseLower.ConvertName(value.ToString());

    internal sealed record CheckoutView(
        string Kind,
        string? MerchantName,
        string Title,
        string? Reference,
        string Amount,
        string Asset,
        string Chain,
        string Address,
        string Memo,
        string Status,
        Instant? ExpiresAt,
        string? AmountPaid,
        string PaymentUri,
        string QrUrl,
        bool Simulated,
        string? ReviewCode);

    internal sealed record SubmitBody(string? TransactionHash);

    internal sealed record SubmittedView(PaymentId PaymentId, string PaymentStatus, string? ReviewCode, bool Created);

    internal sealed record SimulatedPaymentView(string TransactionHash);
}
