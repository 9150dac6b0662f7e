using System.Security.Cryptography;
using Microsoft.Extensions.DependencyInjection;
using NodaTime;
using PaymentsKit.Chains;
using PaymentsKit.Chains.Stellar;
using PaymentsKit.Invoicing;
using PaymentsKit.Ledger;
using PaymentsKit.Orchestration;
using PaymentsKit.Storage;

namespace PaymentsKit.Sample;

/// <summary>Drives one tour through PaymentsKit and prints what happened.</summary>
internal sealed class Demo(IServiceProvider services, DemoClock clock, TextWriter output)
{
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        output.WriteLine($"PaymentsKit demo on {services.GetRequiredService<IPaymentsStore>().GetType().Name}, simulated time {clock.GetCurrentInstant()}");
        ShowMoney();
        await PayAnInvoiceOnSimulatedStellarAsync(cancellationToken).ConfigureAwait(false);
        await ChargeAndRefundAsync(cancellationToken).ConfigureAwait(false);
        output.WriteLine("Demo complete.");
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

        var invoice = await invoices.CreateInvoiceAsync(
            merchant.Id,
            new CreateInvoiceRequest(25m, "XLM", "Beans, 5 kg"),
            cancellationToken).ConfigureAwait(false);
        output.WriteLine($"invoice {invoice.Number}: {invoice.Amount}, memo '{invoice.Memo}', {invoice.Status}, expires {invoice.ExpiresAt}");

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
        output.WriteLine($"after refunding the remaining 60.00 the transaction is {events[0].Status}; history: {string.Join(" <- ", events.Select(e => e.Status))}");
    }

    private static string NewStellarAccount() => StellarAddressCodec.EncodeAccount(RandomNumberGenerator.GetBytes(32));

    private void Section(string title) => output.WriteLine($"{Environment.NewLine}== {title}");
}
