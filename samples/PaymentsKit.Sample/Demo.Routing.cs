using Microsoft.Extensions.DependencyInjection;
using NodaTime;
using PaymentsKit.Ledger;
using PaymentsKit.Routing;
using PaymentsKit.Sample.Api;
using PaymentsKit.Webhooks;

namespace PaymentsKit.Sample;

internal sealed partial class Demo
{
    private async Task<MerchantId> RouteAPaymentIntentAsync(CancellationToken cancellationToken)
    {
        Section("Payment intent: quoted, routed, broadcast and settled from the treasury");
        var merchants = services.GetRequiredService<IRoutingMerchantService>();
        var quotes = services.GetRequiredService<IQuoteService>();
        var intents = services.GetRequiredService<IPaymentIntentService>();
        var treasury = services.GetRequiredService<TreasuryService>();
        var ledger = services.GetRequiredService<ILedger>();
        _tenants.Add(("treasury", treasury.Tenant));

        var merchant = (await merchants.CreateAsync(new CreateRoutingMerchantRequest("Acme Payouts"), cancellationToken).ConfigureAwait(false)).Merchant;

        // The merchant's webhook endpoint is this sample's own receiver; the webhooks section delivers to it.
        var endpoint = await services.GetRequiredService<IWebhookEndpointService>().RegisterAsync(
            merchant.Id.Value,
            new RegisterWebhookEndpoint { Url = new Uri(baseAddress, WebhookApi.ReceiverPath(merchant.Id.Value)), EventTypes = ["payment_intent.*"], Ordered = true },
            cancellationToken).ConfigureAwait(false);
        output.WriteLine($"routing merchant {merchant.Id}; webhooks to {endpoint.Endpoint.Url}");

        await services.GetRequiredService<IChainHealthService>().SampleHealthAsync(cancellationToken).ConfigureAwait(false);
        var quote = await quotes.CreateAsync(
            merchant.Id,
            new CreateQuoteRequest(
                Money.Of(250m, AssetRegistry.Usdc),
                RoutePriority.LowFee,
                [
                    new QuoteDestination(ChainId.Stellar, NewStellarAccount()),
                    new QuoteDestination(ChainId.Ethereum, "payee-ethereum"),
                    new QuoteDestination(ChainId.Solana, "payee-solana"),
                ]),
            cancellationToken).ConfigureAwait(false);
        // The score weighs speed and reliability beside the fee, so the best-ranked chain need not be the cheapest.
        output.WriteLine($"quote {quote.Id} for {quote.Amount}, ranked by score ({RoutePriority.LowFee.ToWireName()}: the fee weighs most, speed and reliability count too):");
        foreach (var candidate in quote.CandidateRoutes)
        {
            var eligibility = candidate.IsEligible ? "eligible" : $"excluded: {candidate.Exclusion.ToWireName()}";
            output.WriteLine($"  {candidate.Rank}. {candidate.Chain,-9} fee ≈ {candidate.EstimatedFee} ({candidate.EstimatedFeeNative}), score {candidate.Score:0.000}, {eligibility}");
        }

        var request = new CreatePaymentIntentRequest(quote.Id, "order-2026-11-0042");
        var intent = await intents.CreateAsync(merchant.Id, request, cancellationToken).ConfigureAwait(false);
        var retried = await intents.CreateAsync(merchant.Id, request, cancellationToken).ConfigureAwait(false);
        output.WriteLine($"intent {intent.Id} {intent.Status.ToWireName()} on {intent.SelectedChain}; a retry with the same Idempotency-Key returns {retried.Id}");

        var before = await treasury.GetBookAsync(intent.SelectedChain, cancellationToken).ConfigureAwait(false);
        var steps = new List<string> { intent.Status.ToWireName() };
        while (intent.Status != PaymentIntentStatus.Settled)
        {
            if (PaymentIntentLifecycle.Machine.IsTerminal(intent.Status) || intent.Status == PaymentIntentStatus.ManualReview)
            {
                throw new InvalidOperationException($"Intent {intent.Id} ended {intent.Status.ToWireName()}: {intent.LastError}");
            }

            var next = await intents.AdvanceAsync(intent.Id, cancellationToken).ConfigureAwait(false);
            if (next.Status == intent.Status)
            {
                // Waiting for the chain: let simulated time pass a block.
                clock.Advance(Duration.FromSeconds(1));
            }
            else
            {
                steps.Add(next.Status.ToWireName());
            }

            intent = next;
        }

        var attempts = await intents.ListAttemptsAsync(merchant.Id, intent.Id, cancellationToken).ConfigureAwait(false);
        output.WriteLine($"lifecycle: {string.Join(" -> ", steps)}");
        output.WriteLine($"{attempts.Count} attempt, transaction {intent.TxId}, actual fee {intent.ActualFee}");
        var after = await treasury.GetBookAsync(intent.SelectedChain, cancellationToken).ConfigureAwait(false);
        output.WriteLine($"treasury on {intent.SelectedChain}: available {before.Available} -> {after.Available}, spent +{after.Spent - before.Spent}, fees +{after.Fees - before.Fees}, reserved {after.Reserved}; books balance: {after.Balances}");
        var reconciliation = await ledger.ReconcileAsync(treasury.Tenant, cancellationToken).ConfigureAwait(false);
        output.WriteLine($"treasury ledger reconciliation differences: {reconciliation.Discrepancies.Count}");
        return merchant.Id;
    }

    private async Task ReconcileEveryLedgerAsync(CancellationToken cancellationToken)
    {
        Section("Ledger reconciliation across the tour");
        var ledger = services.GetRequiredService<ILedger>();
        var clean = true;
        foreach (var (name, tenant) in _tenants)
        {
            var report = await ledger.ReconcileAsync(tenant, cancellationToken).ConfigureAwait(false);
            clean &= report.IsClean;
            output.WriteLine($"{name,-18} {report.AccountsChecked,3} accounts, {report.EntriesChecked,6} entries, {report.TransactionsChecked,5} transactions: {(report.IsClean ? "balanced" : $"{report.Discrepancies.Count} differences")}");
        }

        if (!clean)
        {
            throw new InvalidOperationException("A ledger did not reconcile.");
        }

        output.WriteLine("every ledger balances: stored balances equal the postings, and every transaction's debits equal its credits");
    }
}
