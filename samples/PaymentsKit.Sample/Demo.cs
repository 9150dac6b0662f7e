using System.Security.Cryptography;
using Microsoft.Extensions.DependencyInjection;
using NodaTime;
using PaymentsKit.Chains;
using PaymentsKit.Chains.Stellar;
using PaymentsKit.Invoicing;
using PaymentsKit.Ledger;
using PaymentsKit.Orchestration;
using PaymentsKit.Streaming;
using PaymentsKit.Storage;

namespace PaymentsKit.Sample;

/// <summary>Drives one tour through PaymentsKit and prints what happened.</summary>
internal sealed partial class Demo(IServiceProvider services, DemoClock clock, TextWriter output, Uri baseAddress)
{
    // Every tenant the tour writes to; the closing reconciliation checks each one's books.
    private readonly List<(string Name, MerchantId Tenant)> _tenants = [];

    /// <summary>
    /// Runs the tour on a simulated clock in a host of its own on a free loopback port (its webhooks are delivered to
    /// that host's receiver), then stops the host.
    /// </summary>
    public static async Task RunAsync(SampleOptions options, TextWriter output, CancellationToken cancellationToken)
    {
        var clock = new DemoClock();
        options.Clock = clock;
        options.Url = "http://127.0.0.1:0";
        options.BackgroundJobs = false;
        var host = SampleHost.Build(options);
        await using (host.ConfigureAwait(false))
        {
            var migrations = await SampleHost.InitializeAsync(host, cancellationToken).ConfigureAwait(false);
            if (options.PostgresConnectionString is not null)
            {
                output.WriteLine(migrations.Count > 0
                    ? $"PostgreSQL: {migrations.Count} migrations applied on start ({migrations[0].Version:0000}–{migrations[^1].Version:0000})"
                    : "PostgreSQL: schema up to date, no migration to apply");
            }

            // Checked here rather than passed to the start (a moment: Kestrel binds a loopback port), because a host whose
            // start is cancelled logs that as a failure, stack trace included.
            cancellationToken.ThrowIfCancellationRequested();
            await host.StartAsync(CancellationToken.None).ConfigureAwait(false);
            await new Demo(host.Services, clock, output, SampleHost.BaseAddress(host)).RunAsync(cancellationToken).ConfigureAwait(false);
            await host.StopAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        output.WriteLine($"PaymentsKit demo on {services.GetRequiredService<IPaymentsStore>().GetType().Name}, simulated time {clock.GetCurrentInstant()}");
        ShowMoney();
        await PayAnInvoiceOnSimulatedStellarAsync(cancellationToken).ConfigureAwait(false);
        var routingMerchant = await RouteAPaymentIntentAsync(cancellationToken).ConfigureAwait(false);
        await ChargeAndRefundAsync(cancellationToken).ConfigureAwait(false);
        await StreamAsync(cancellationToken).ConfigureAwait(false);
        await PayADividendAsync(cancellationToken).ConfigureAwait(false);
        await DeliverWebhooksAsync(routingMerchant, cancellationToken).ConfigureAwait(false);
        await ReconcileEveryLedgerAsync(cancellationToken).ConfigureAwait(false);
        output.WriteLine($"{Environment.NewLine}Demo complete.");
    }

    private void ShowMoney()
    {
        Section("Money");
        var assets = services.GetRequiredService<AssetRegistry>();
        var price = Money.Parse("19.99 USD", assets);
        output.WriteLine($"3 x {price} = {price + price + price}");
        output.WriteLine($"a third of 100.00 USD, truncated toward the payer = {Money.Of(100m, AssetRegistry.Usd).Multiply(1m / 3m, MidpointRounding.ToZero)}");
        try
        {
            Money.Of(1.001m, AssetRegistry.Usd);
        }
        catch (PaymentsKitException ex)
        {
            output.WriteLine($"rejected: {ex.Code}: {ex.Message}");
        }
    }

    private async Task PayAnInvoiceOnSimulatedStellarAsync(CancellationToken cancellationToken)
    {
        Section("Invoice paid on simulated Stellar");
        var merchants = services.GetRequiredService<IMerchantService>();
        var invoices = services.GetRequiredService<IInvoiceService>();
        var payments = services.GetRequiredService<IPaymentService>();
        var ledger = services.GetRequiredService<ILedger>();
        var stellar = (SimulatedChain)services.GetRequiredService<IChainAdapterRegistry>().Get(ChainId.Stellar);

        var merchantWallet = NewStellarAccount();
        var payerWallet = NewStellarAccount();
        var merchant = await merchants.RegisterMerchantAsync(
            new RegisterMerchantRequest("stellar", merchantWallet) { Name = "Acme Coffee", Email = $"billing+{merchantWallet[..6].ToLowerInvariant()}@acme.example" },
            cancellationToken).ConfigureAwait(false);
        output.WriteLine($"merchant {merchant.Id} receives at {merchant.WalletAddress}");
        _tenants.Add(("invoicing merchant", merchant.Id));

        var invoice = await invoices.CreateInvoiceAsync(
            merchant.Id,
            new CreateInvoiceRequest(25m, "XLM", "Beans, 5 kg"),
            cancellationToken).ConfigureAwait(false);
        output.WriteLine($"invoice {invoice.Number}: {invoice.Amount}, memo '{invoice.Memo}', {invoice.Status}, expires {invoice.ExpiresAt}");
        output.WriteLine($"hosted checkout: {new Uri(baseAddress, Checkout.CheckoutPages.InvoicePath(invoice))}");

        stellar.Fund(payerWallet, Money.Of(100m, AssetRegistry.Xlm));
        var hash = stellar.SimulateIncomingPayment(payerWallet, merchantWallet, Money.Of(25m, AssetRegistry.Xlm), invoice.Memo);
        output.WriteLine($"payer sends 25 XLM with the memo: transaction {hash}");

        clock.Advance(Duration.FromSeconds(30));
        var confirmed = await stellar.GetTransactionAsync(hash, cancellationToken).ConfigureAwait(false);
        output.WriteLine($"30 s later the chain reports {confirmed!.Status}, {confirmed.Confirmations} confirmations, final: {confirmed.IsFinal}");

        var result = await payments.SubmitPaymentAsync(merchant.Id, new SubmitPaymentRequest(hash), cancellationToken).ConfigureAwait(false);
        var paid = await invoices.GetInvoiceAsync(merchant.Id, invoice.Id, cancellationToken).ConfigureAwait(false);
        output.WriteLine($"payment {result.Payment.Id} {result.Payment.Status}; invoice is now {paid.Status}, paid {paid.AmountPaid}");

        var again = await payments.SubmitPaymentAsync(merchant.Id, new SubmitPaymentRequest(hash), cancellationToken).ConfigureAwait(false);
        output.WriteLine($"submitting the same hash again returns the same payment (created: {again.Created})");

        var wallet = await ledger.FindAccountByCodeAsync(merchant.Id, InvoicingLedgerAccounts.Wallet(AssetRegistry.Xlm), cancellationToken).ConfigureAwait(false);
        var balance = await ledger.GetBalanceAsync(merchant.Id, wallet!.Id, cancellationToken: cancellationToken).ConfigureAwait(false);
        var reconciliation = await ledger.ReconcileAsync(merchant.Id, cancellationToken).ConfigureAwait(false);
        output.WriteLine($"ledger: invoicing wallet debits posted {balance.DebitsPosted}; reconciliation differences: {reconciliation.Discrepancies.Count}");
    }

    private async Task ChargeAndRefundAsync(CancellationToken cancellationToken)
    {
        Section("Partner charge and refunds (simulated Stripe)");
        var partners = services.GetRequiredService<IPartnerService>();
        var transactions = services.GetRequiredService<ITransactionService>();
        var refunds = services.GetRequiredService<IRefundService>();
        var request = new RequestContext("203.0.113.7", "paymentskit-sample/1.0", Guid.CreateVersion7());

        var partner = await partners.CreateAsync(
            new CreatePartnerRequest("Globex", $"ops+{Guid.NewGuid():N}@globex.example"), request, cancellationToken).ConfigureAwait(false);
        output.WriteLine($"partner {partner.Partner.Id}, API key {partner.Partner.ApiKeyPrefix}… (shown once, stored as a keyed hash)");

        var charged = await transactions.CreateAsync(
            partner.Partner.Id,
            new CreateTransactionRequest($"order-{Guid.NewGuid():N}", 100m, "USD", "card", "stripe", "jane@example.com"),
            request,
            cancellationToken).ConfigureAwait(false);
        output.WriteLine($"transaction {charged.Id}: {charged.Amount} via {charged.Provider}, {charged.Status}");

        var first = await refunds.RefundAsync(partner.Partner.Id, charged.Id, new CreateRefundRequest(40m, "damaged item"), request, cancellationToken).ConfigureAwait(false);
        output.WriteLine($"refund {first.Id}: {first.Amount} {first.Status}; transaction {(await transactions.GetAsync(partner.Partner.Id, charged.Id, cancellationToken).ConfigureAwait(false)).Status}");
        try
        {
            await refunds.RefundAsync(partner.Partner.Id, charged.Id, new CreateRefundRequest(70m, "too much"), request, cancellationToken).ConfigureAwait(false);
        }
        catch (PaymentsKitException ex)
        {
            output.WriteLine($"refund of 70.00 rejected: {ex.Code}");
        }

        await refunds.RefundAsync(partner.Partner.Id, charged.Id, new CreateRefundRequest(60m, "rest"), request, cancellationToken).ConfigureAwait(false);
        var events = await transactions.GetEventsAsync(partner.Partner.Id, charged.Id, cancellationToken).ConfigureAwait(false);
        output.WriteLine($"after refunding the remaining 60.00 the transaction is {events[0].Status}; history: {string.Join(" <- ", events.Select(e => $"{e.EventType} ({e.Status})"))}");
    }

    private async Task StreamAsync(CancellationToken cancellationToken)
    {
        Section("Stream: 0.1 USDC a second, paused, settled and cancelled");
        var ledger = services.GetRequiredService<ILedger>();
        var streams = services.GetRequiredService<IStreamService>();
        var tenant = MerchantId.New(clock);
        _tenants.Add(("stream tenant", tenant));
        var funding = await ledger.CreateAccountAsync(tenant, new CreateLedgerAccountRequest("payer:usdc", "Payer balance", AssetRegistry.Usdc, LedgerSide.Credit), cancellationToken).ConfigureAwait(false);
        var payout = await ledger.CreateAccountAsync(tenant, new CreateLedgerAccountRequest("recipient:usdc", "Recipient payouts", AssetRegistry.Usdc, LedgerSide.Credit), cancellationToken).ConfigureAwait(false);
        var actor = new StreamAction("demo");

        var created = await streams.CreateAsync(
            tenant,
            new CreateStreamRequest(funding.Id, payout.Id, NewStellarAccount(), NewStellarAccount(), Money.Of(100m, AssetRegistry.Usdc), 0.1m),
            cancellationToken).ConfigureAwait(false);
        var id = created.Stream.Id;
        output.WriteLine($"stream {id}: {created.Stream.TotalAmount} at {created.Stream.RatePerSecond}/s, {created.Stream.Status}, completes {created.Stream.CompletesAt}");

        clock.Advance(Duration.FromSeconds(250));
        var settled = await streams.SettleAsync(tenant, id, actor, cancellationToken).ConfigureAwait(false);
        output.WriteLine($"after 250 s: settled {settled.Stream.SettledAmount} to the recipient");

        await streams.PauseAsync(tenant, id, actor, cancellationToken).ConfigureAwait(false);
        clock.Advance(Duration.FromSeconds(100));
        var paused = await streams.GetStatementAsync(tenant, id, cancellationToken: cancellationToken).ConfigureAwait(false);
        output.WriteLine($"paused for 100 s: accrued still {paused.Accrued}");

        await streams.ResumeAsync(tenant, id, actor, cancellationToken).ConfigureAwait(false);
        clock.Advance(Duration.FromSeconds(150));
        var cancelled = await streams.CancelAsync(tenant, id, actor with { Reason = "contract ended" }, cancellationToken).ConfigureAwait(false);
        var stream = cancelled.Stream;
        output.WriteLine($"cancelled after 150 s more: recipient got {stream.SettledAmount}, payer refunded {stream.RefundedAmount} (sum {stream.SettledAmount + stream.RefundedAmount})");

        var withdrawn = await streams.WithdrawAsync(tenant, id, new WithdrawStreamRequest("recipient"), cancellationToken).ConfigureAwait(false);
        var reconciliation = await ledger.ReconcileAsync(tenant, cancellationToken).ConfigureAwait(false);
        output.WriteLine($"recipient withdrew {withdrawn.Stream.WithdrawnAmount}; ledger reconciliation differences: {reconciliation.Discrepancies.Count}");
    }

    private static string NewStellarAccount() => StellarAddressCodec.EncodeAccount(RandomNumberGenerator.GetBytes(32));

    private void Section(string title) => output.WriteLine($"{Environment.NewLine}== {title}");
}
