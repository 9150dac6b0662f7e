using Microsoft.Extensions.DependencyInjection;
using NodaTime;
using PaymentsKit.Chains;
using PaymentsKit.Invoicing;
using PaymentsKit.Ledger;
using static PaymentsKit.Tests.Invoicing.AsyncAssert;

namespace PaymentsKit.Tests.Invoicing;

/// <summary>Payment verification, matching, BTCPay-style settlement, review codes and ledger postings (subclass per store).</summary>
public abstract class PaymentServiceTests : InvoicingStoreTests
{
    private static readonly Asset Xlm = InvoicingHarness.Xlm;
    private static readonly Asset Usdc = InvoicingHarness.Usdc;

    [Fact]
    public async Task FullPayment_MatchedByMemo_PaysTheInvoice_AndPostsToTheLedger()
    {
        var merchant = await _kit.MerchantAsync();
        var client = await _kit.Merchants.CreateClientAsync(merchant.Id, new CreateClientRequest("Ada"));
        var invoice = await _kit.InvoiceAsync(merchant, 100m, client: client.Id);
        var hash = _kit.Pay(merchant.WalletAddress, 100m, memo: invoice.Memo, from: "ada-wallet");

        var result = await _kit.SubmitAsync(merchant, hash);
        Assert.True(result.Created);
        var payment = result.Payment;
        Assert.Equal(PaymentStatus.Confirmed, payment.Status);
        Assert.Null(payment.ReviewCode);
        Assert.Equal((invoice.Id, (PaymentLinkId?)null, client.Id), (payment.InvoiceId!.Value, payment.LinkId, payment.ClientId!.Value));
        Assert.Equal((Money.Of(100m, Xlm), "ada-wallet", merchant.WalletAddress, invoice.Memo, hash), (payment.Amount, payment.From, payment.To, payment.Memo, payment.TransactionHash));
        Assert.True(payment.Confirmations >= 3);
        Assert.NotNull(payment.ChainTimestamp);
        Assert.Null(payment.Excess);

        var paid = await _kit.Invoices.GetInvoiceAsync(merchant.Id, invoice.Id);
        Assert.Equal(InvoiceStatus.Paid, paid.Status);
        Assert.Equal(_kit.Clock.GetCurrentInstant(), paid.PaidAt);
        Assert.Equal(Money.Of(100m, Xlm), paid.AmountPaid);
        Assert.Equal(Money.Zero(Xlm), paid.Overpaid);
        var transition = Assert.Single(paid.Transitions);
        Assert.Equal((InvoiceStatus.Pending, InvoiceStatus.Paid, payment.Id.ToString()), (transition.From, transition.To, transition.Actor));

        Assert.Equal(Money.Of(100m, Xlm), await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Wallet(Xlm), Xlm));
        Assert.Equal(Money.Of(100m, Xlm), await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Revenue(Xlm), Xlm));
        Assert.Equal(payment, await _kit.Payments.FindPaymentByTransactionAsync(merchant.Id, hash));
        Assert.Equal(payment, await _kit.Payments.GetPaymentAsync(merchant.Id, payment.Id));
        Assert.True((await _kit.Ledger.ReconcileAsync(merchant.Id)).IsClean);
    }

    [Fact]
    public async Task PaymentWithoutMemo_IsMatchedByInvoiceReference()
    {
        var merchant = await _kit.MerchantAsync();
        var invoice = await _kit.InvoiceAsync(merchant, 20m, Usdc);
        var result = await _kit.SubmitAsync(merchant, _kit.Pay(merchant.WalletAddress, 20m, Usdc), invoice.Id);
        Assert.Equal(PaymentStatus.Confirmed, result.Payment.Status);
        Assert.Null(result.Payment.Memo);
        Assert.Equal(InvoiceStatus.Paid, (await _kit.Invoices.GetInvoiceAsync(merchant.Id, invoice.Id)).Status);
    }

    [Fact]
    public async Task PartialPayments_KeepItPending_UntilTheSumCoversIt()
    {
        var merchant = await _kit.MerchantAsync();
        var invoice = await _kit.PaidInvoiceAsync(merchant, 100m, 30m);
        var partial = await _kit.Invoices.GetInvoiceAsync(merchant.Id, invoice.Id);
        Assert.Equal(InvoiceStatus.Pending, partial.Status);
        Assert.True(partial.IsPartiallyPaid);
        Assert.Equal(Money.Of(30m, Xlm), partial.AmountPaid);
        Assert.Equal(Money.Of(70m, Xlm), partial.AmountDue);
        Assert.Empty(partial.Transitions);

        await _kit.SubmitAsync(merchant, _kit.Pay(merchant.WalletAddress, 69.9999999m, memo: invoice.Memo));
        Assert.Equal(InvoiceStatus.Pending, (await _kit.Invoices.GetInvoiceAsync(merchant.Id, invoice.Id)).Status);
        await _kit.SubmitAsync(merchant, _kit.Pay(merchant.WalletAddress, 0.0000001m, memo: invoice.Memo));
        var paid = await _kit.Invoices.GetInvoiceAsync(merchant.Id, invoice.Id);
        Assert.Equal(InvoiceStatus.Paid, paid.Status);
        Assert.Equal(Money.Of(100m, Xlm), paid.AmountPaid);
        Assert.Equal(Money.Zero(Xlm), paid.AmountDue);
    }

    [Fact]
    public async Task Overpayment_PaysTheInvoice_AndRecordsTheExcess_OnInvoicePaymentAndLedger()
    {
        var merchant = await _kit.MerchantAsync();
        var invoice = await _kit.PaidInvoiceAsync(merchant, 100m, 60m);
        var over = (await _kit.SubmitAsync(merchant, _kit.Pay(merchant.WalletAddress, 55m, memo: invoice.Memo))).Payment;
        Assert.Equal(Money.Of(15m, Xlm), over.Excess);
        var paid = await _kit.Invoices.GetInvoiceAsync(merchant.Id, invoice.Id);
        Assert.Equal((InvoiceStatus.Paid, Money.Of(115m, Xlm), Money.Of(15m, Xlm)), (paid.Status, paid.AmountPaid, paid.Overpaid));

        // Money arriving after settlement is applied too, all of it excess (BTCPay's "paid over").
        var after = (await _kit.SubmitAsync(merchant, _kit.Pay(merchant.WalletAddress, 5m, memo: invoice.Memo))).Payment;
        Assert.Equal((PaymentStatus.Confirmed, Money.Of(5m, Xlm)), (after.Status, after.Excess!.Value));
        paid = await _kit.Invoices.GetInvoiceAsync(merchant.Id, invoice.Id);
        Assert.Equal((Money.Of(120m, Xlm), Money.Of(20m, Xlm)), (paid.AmountPaid, paid.Overpaid));
        Assert.Single(paid.Transitions);

        Assert.Equal(Money.Of(120m, Xlm), await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Wallet(Xlm), Xlm));
        Assert.Equal(Money.Of(100m, Xlm), await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Revenue(Xlm), Xlm));
        Assert.Equal(Money.Of(20m, Xlm), await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Overpayments(Xlm), Xlm));
    }

    [Fact]
    public async Task Tolerance_SettlesTinyShortfalls_TruncatedInThePayersFavour()
    {
        _kit.Dispose();
        _kit = await HarnessAsync(o => o.UnderpaymentTolerancePercent = 0.5m);
        var merchant = await _kit.MerchantAsync();

        // 0.5% of 33.333333 USDC is 0.16666666…: anything from 33.166666 (truncated) settles it.
        var invoice = await _kit.InvoiceAsync(merchant, 33.333333m, Usdc);
        await _kit.SubmitAsync(merchant, _kit.Pay(merchant.WalletAddress, 33.166665m, Usdc, invoice.Memo));
        Assert.Equal(InvoiceStatus.Pending, (await _kit.Invoices.GetInvoiceAsync(merchant.Id, invoice.Id)).Status);
        var other = await _kit.InvoiceAsync(merchant, 33.333333m, Usdc);
        await _kit.SubmitAsync(merchant, _kit.Pay(merchant.WalletAddress, 33.166666m, Usdc, other.Memo));
        var settled = await _kit.Invoices.GetInvoiceAsync(merchant.Id, other.Id);
        Assert.Equal(InvoiceStatus.Paid, settled.Status);
        Assert.Equal(Money.Of(0.166667m, Usdc), settled.AmountDue);
        Assert.Equal(Money.Zero(Usdc), settled.Overpaid);

        var link = await _kit.Links.CreatePaymentLinkAsync(merchant.Id, new CreatePaymentLinkRequest("Tip", 10m, "USDC"));
        Assert.Equal(PaymentStatus.Confirmed, (await _kit.SubmitAsync(merchant, _kit.Pay(merchant.WalletAddress, 9.95m, Usdc), slug: link.Slug)).Payment.Status);
        Assert.Equal(PaymentsKitErrorCodes.AmountMismatch, (await _kit.SubmitAsync(merchant, _kit.Pay(merchant.WalletAddress, 9.949999m, Usdc), slug: link.Slug)).Payment.ReviewCode);
    }

    [Fact]
    public async Task PaymentAfterExpiry_IsKeptAsPaidLate_AndExpiresTheInvoice()
    {
        var merchant = await _kit.MerchantAsync();
        var invoice = await _kit.Invoices.CreateInvoiceAsync(merchant.Id, new CreateInvoiceRequest(10m, "XLM", "x") { ExpiresAt = _kit.Clock.GetCurrentInstant() + Duration.FromMinutes(1) });
        _kit.Clock.Advance(Duration.FromMinutes(2));

        // Not swept yet: the payment itself expires the invoice and is kept for review.
        var late = (await _kit.SubmitAsync(merchant, _kit.Pay(merchant.WalletAddress, 10m, memo: invoice.Memo))).Payment;
        Assert.Equal((PaymentStatus.NeedsReview, PaymentsKitErrorCodes.PaidLate, (InvoiceId?)invoice.Id), (late.Status, late.ReviewCode, late.InvoiceId));
        var expired = await _kit.Invoices.GetInvoiceAsync(merchant.Id, invoice.Id);
        Assert.Equal(InvoiceStatus.Expired, expired.Status);
        Assert.True(expired.PaidLate);
        Assert.Equal(Money.Zero(Xlm), expired.AmountPaid);
        Assert.Equal(late.Id.ToString(), Assert.Single(expired.Transitions).Actor);
        Assert.Equal(0, await _kit.Invoices.ExpireDueAsync());

        // Swept first: still kept, still flagged.
        var swept = await _kit.Invoices.CreateInvoiceAsync(merchant.Id, new CreateInvoiceRequest(10m, "XLM", "x") { ExpiresAt = _kit.Clock.GetCurrentInstant() + Duration.FromMinutes(1) });
        _kit.Clock.Advance(Duration.FromMinutes(2));
        Assert.Equal(1, await _kit.Invoices.ExpireDueAsync());
        Assert.Equal(PaymentsKitErrorCodes.PaidLate, (await _kit.SubmitAsync(merchant, _kit.Pay(merchant.WalletAddress, 10m), swept.Id)).Payment.ReviewCode);
        Assert.True((await _kit.Invoices.GetInvoiceAsync(merchant.Id, swept.Id)).PaidLate);

        Assert.Equal(Money.Of(20m, Xlm), await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Unapplied(Xlm), Xlm));
        Assert.Equal(Money.Zero(Xlm), await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Revenue(Xlm), Xlm));
    }

    [Fact]
    public async Task PaymentIncludedBeforeExpiry_ButSubmittedAfter_StillPays()
    {
        var merchant = await _kit.MerchantAsync();
        var invoice = await _kit.Invoices.CreateInvoiceAsync(merchant.Id, new CreateInvoiceRequest(10m, "XLM", "x") { ExpiresAt = _kit.Clock.GetCurrentInstant() + Duration.FromSeconds(30) });
        var hash = _kit.Send(merchant.WalletAddress, 10m, memo: invoice.Memo);
        _kit.Clock.Advance(Duration.FromMinutes(5));
        Assert.Equal(PaymentStatus.Confirmed, (await _kit.SubmitAsync(merchant, hash)).Payment.Status);
        Assert.Equal(InvoiceStatus.Paid, (await _kit.Invoices.GetInvoiceAsync(merchant.Id, invoice.Id)).Status);
    }

    [Fact]
    public async Task MismatchesWhereMoneyMoved_AreKeptForReview_WithStableCodes()
    {
        var merchant = await _kit.MerchantAsync();
        var invoice = await _kit.InvoiceAsync(merchant, 10m);
        var cancelled = await _kit.InvoiceAsync(merchant, 10m);
        await _kit.Invoices.CancelInvoiceAsync(merchant.Id, cancelled.Id);

        async Task<Payment> Review(string code, string hash, InvoiceId? target = null)
        {
            var payment = (await _kit.SubmitAsync(merchant, hash, target)).Payment;
            Assert.Equal((PaymentStatus.NeedsReview, code), (payment.Status, payment.ReviewCode));
            Assert.False(string.IsNullOrWhiteSpace(payment.ReviewReason));
            Assert.Null(payment.Excess);
            return payment;
        }

        var wrongAsset = await Review(PaymentsKitErrorCodes.AssetMismatch, _kit.Pay(merchant.WalletAddress, 10m, Usdc, invoice.Memo));
        Assert.Equal((InvoiceId?)invoice.Id, wrongAsset.InvoiceId);
        await Review(PaymentsKitErrorCodes.MemoMismatch, _kit.Pay(merchant.WalletAddress, 10m, memo: "someone-else"), invoice.Id);
        await Review(PaymentsKitErrorCodes.InvoiceCancelled, _kit.Pay(merchant.WalletAddress, 10m, memo: cancelled.Memo));
        var unknownMemo = await Review(PaymentsKitErrorCodes.UnmatchedPayment, _kit.Pay(merchant.WalletAddress, 10m, memo: "no-such-memo"));
        Assert.Null(unknownMemo.InvoiceId);
        Assert.Null(unknownMemo.LinkId);
        await Review(PaymentsKitErrorCodes.UnmatchedPayment, _kit.Pay(merchant.WalletAddress, 10m));
        await Review(PaymentsKitErrorCodes.UnknownAsset, _kit.Pay(merchant.WalletAddress, 10m, Asset.Create("GOLD", 4), invoice.Memo));

        var untouched = await _kit.Invoices.GetInvoiceAsync(merchant.Id, invoice.Id);
        Assert.Equal((InvoiceStatus.Pending, Money.Zero(Xlm)), (untouched.Status, untouched.AmountPaid));
        Assert.Equal(6, (await _kit.AllPaymentsAsync(merchant)).Count);

        // Every payment in a known asset reached the books: XLM 40 unapplied, USDC 10 unapplied; GOLD cannot be booked.
        Assert.Equal(Money.Of(40m, Xlm), await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Unapplied(Xlm), Xlm));
        Assert.Equal(Money.Of(10m, Usdc), await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Unapplied(Usdc), Usdc));
    }

    [Fact]
    public async Task TransactionsThatMovedNoMoneyToTheMerchant_AreRefused_AndNothingIsRecorded()
    {
        var merchant = await _kit.MerchantAsync();
        var invoice = await _kit.InvoiceAsync(merchant, 10m);

        await ThrowsCodeAsync(PaymentsKitErrorCodes.TransactionNotFound, () => _kit.SubmitAsync(merchant, "no-such-hash"));
        var elsewhere = _kit.Pay("someone-else", 10m, memo: invoice.Memo);
        var mismatch = await ThrowsCodeAsync(PaymentsKitErrorCodes.DestinationMismatch, () => _kit.SubmitAsync(merchant, elsewhere));
        Assert.Equal(merchant.WalletAddress, mismatch.Context["expected"]);

        var pending = _kit.Send(merchant.WalletAddress, 10m, memo: invoice.Memo);
        var notFinal = await ThrowsCodeAsync(PaymentsKitErrorCodes.TransactionNotFinal, () => _kit.SubmitAsync(merchant, pending));
        Assert.True(notFinal.IsTransient);
        _kit.Clock.Advance(Duration.FromSeconds(5));
        await ThrowsCodeAsync(PaymentsKitErrorCodes.TransactionNotFinal, () => _kit.SubmitAsync(merchant, pending));

        var signer = new SimulatedTransactionSigner();
        _kit.Chain.Fund("payer-2", Money.Of(100m, Xlm));
        var signed = await signer.SignAsync(new TransferRequest(ChainId.Stellar, "payer-2", merchant.WalletAddress, Money.Of(10m, Xlm), invoice.Memo, Money.Of(1m, Xlm)));
        _kit.Chain.FailNextBroadcast();
        var failed = (await _kit.Chain.BroadcastAsync(signed)).Hash;
        _kit.Clock.Advance(InvoicingHarness.ToFinality);
        await ThrowsCodeAsync(PaymentsKitErrorCodes.TransactionFailed, () => _kit.SubmitAsync(merchant, failed));

        await ThrowsCodeAsync(PaymentsKitErrorCodes.InvalidArgument, () => _kit.SubmitAsync(merchant, " "));
        await ThrowsCodeAsync(PaymentsKitErrorCodes.InvalidArgument, () => _kit.SubmitAsync(merchant, pending, invoice.Id, "some-link"));
        await ThrowsCodeAsync(PaymentsKitErrorCodes.NotFound, () => _kit.SubmitAsync(merchant, pending, InvoiceId.New(_kit.Clock)));
        await ThrowsCodeAsync(PaymentsKitErrorCodes.NotFound, () => _kit.SubmitAsync(merchant, pending, slug: "no-such-link"));

        Assert.Empty(await _kit.AllPaymentsAsync(merchant));
        Assert.Equal(Money.Zero(Xlm), await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Wallet(Xlm), Xlm));

        // The pending one, once final, is accepted.
        Assert.Equal(PaymentStatus.Confirmed, (await _kit.SubmitAsync(merchant, pending)).Payment.Status);
    }

    [Fact]
    public async Task ResubmittingATransaction_ReplaysForTheSameTarget_AndIsRefusedForAnother()
    {
        var merchant = await _kit.MerchantAsync();
        var first = await _kit.InvoiceAsync(merchant, 10m);
        var second = await _kit.InvoiceAsync(merchant, 10m);
        var hash = _kit.Pay(merchant.WalletAddress, 10m, memo: first.Memo);
        var original = await _kit.SubmitAsync(merchant, hash);

        var byMemo = await _kit.SubmitAsync(merchant, hash);
        var byReference = await _kit.SubmitAsync(merchant, hash, first.Id);
        Assert.False(byMemo.Created);
        Assert.Equal(original.Payment, byMemo.Payment);
        Assert.Equal(original.Payment, byReference.Payment);
        var reuse = await ThrowsCodeAsync(PaymentsKitErrorCodes.DuplicateKey, () => _kit.SubmitAsync(merchant, hash, second.Id));
        Assert.Equal("transactionHash", reuse.Context["field"]);
        await ThrowsCodeAsync(PaymentsKitErrorCodes.DuplicateKey, () => _kit.SubmitAsync(merchant, hash, slug: "some-link"));

        Assert.Single(await _kit.AllPaymentsAsync(merchant));
        Assert.Equal(Money.Of(10m, Xlm), (await _kit.Invoices.GetInvoiceAsync(merchant.Id, first.Id)).AmountPaid);
        Assert.Equal(Money.Zero(Xlm), (await _kit.Invoices.GetInvoiceAsync(merchant.Id, second.Id)).AmountPaid);
        Assert.Equal(Money.Of(10m, Xlm), await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Wallet(Xlm), Xlm));
    }

    [Fact]
    public async Task LinkPayments_CountUses_AndRecordExcess()
    {
        var merchant = await _kit.MerchantAsync();
        var link = await _kit.LinkAsync(merchant, 10m, maxUses: 2);
        var exact = (await _kit.SubmitAsync(merchant, _kit.Pay(merchant.WalletAddress, 10m), slug: link.Slug)).Payment;
        var generous = (await _kit.SubmitAsync(merchant, _kit.Pay(merchant.WalletAddress, 12.5m), slug: link.Slug)).Payment;
        Assert.Equal((PaymentStatus.Confirmed, (PaymentLinkId?)link.Id, (InvoiceId?)null), (exact.Status, exact.LinkId, exact.InvoiceId));
        Assert.Null(exact.Excess);
        Assert.Equal(Money.Of(2.5m, Xlm), generous.Excess);
        var used = await _kit.Links.GetPaymentLinkAsync(merchant.Id, link.Id);
        Assert.Equal((2, 0), (used.CurrentUses, used.RemainingUses!.Value));

        var third = (await _kit.SubmitAsync(merchant, _kit.Pay(merchant.WalletAddress, 10m), slug: link.Slug)).Payment;
        Assert.Equal((PaymentStatus.NeedsReview, PaymentsKitErrorCodes.LinkUsedUp, (PaymentLinkId?)link.Id), (third.Status, third.ReviewCode, third.LinkId));
        Assert.Equal(2, (await _kit.Links.GetPaymentLinkAsync(merchant.Id, link.Id)).CurrentUses);
        Assert.Equal(Money.Of(32.5m, Xlm), await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Wallet(Xlm), Xlm));
        Assert.Equal(Money.Of(20m, Xlm), await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Revenue(Xlm), Xlm));
        Assert.Equal(Money.Of(2.5m, Xlm), await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Overpayments(Xlm), Xlm));
        Assert.Equal(Money.Of(10m, Xlm), await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Unapplied(Xlm), Xlm));
    }

    [Fact]
    public async Task LinkPayments_ToInactiveExpiredUnderpaidOrWrongAssetLinks_AreKeptForReview()
    {
        var merchant = await _kit.MerchantAsync();
        var inactive = await _kit.LinkAsync(merchant, 10m);
        await _kit.Links.SetPaymentLinkActiveAsync(merchant.Id, inactive.Id, false);
        var expiring = await _kit.LinkAsync(merchant, 10m, expiresAt: _kit.Clock.GetCurrentInstant() + Duration.FromMinutes(1));
        var open = await _kit.LinkAsync(merchant, 10m, maxUses: 5);

        async Task Review(string code, string hash, PaymentLink link)
        {
            var payment = (await _kit.SubmitAsync(merchant, hash, slug: link.Slug)).Payment;
            Assert.Equal((PaymentStatus.NeedsReview, code, (PaymentLinkId?)link.Id), (payment.Status, payment.ReviewCode, payment.LinkId));
        }

        await Review(PaymentsKitErrorCodes.LinkInactive, _kit.Pay(merchant.WalletAddress, 10m), inactive);
        await Review(PaymentsKitErrorCodes.AmountMismatch, _kit.Pay(merchant.WalletAddress, 9.9999999m), open);
        await Review(PaymentsKitErrorCodes.AssetMismatch, _kit.Pay(merchant.WalletAddress, 10m, Usdc), open);
        _kit.Clock.Advance(Duration.FromMinutes(1));
        await Review(PaymentsKitErrorCodes.Expired, _kit.Pay(merchant.WalletAddress, 10m), expiring);
        Assert.Equal(0, (await _kit.Links.GetPaymentLinkAsync(merchant.Id, open.Id)).CurrentUses);
        Assert.Equal(0, (await _kit.Links.GetPaymentLinkAsync(merchant.Id, inactive.Id)).CurrentUses);
    }

    [Fact]
    public async Task PaymentHistoryAndRevenueQueries_CountConfirmedPaymentsOnly()
    {
        var merchant = await _kit.MerchantAsync();
        var ada = await _kit.Merchants.CreateClientAsync(merchant.Id, new CreateClientRequest("Ada") { Email = "ada@example.com" });
        var bob = await _kit.Merchants.CreateClientAsync(merchant.Id, new CreateClientRequest("Bob"));
        var adaInvoice = await _kit.InvoiceAsync(merchant, 100m, client: ada.Id);
        var bobInvoice = await _kit.InvoiceAsync(merchant, 30m, client: bob.Id);
        var bobUsdc = await _kit.InvoiceAsync(merchant, 500m, Usdc, bob.Id);
        var link = await _kit.LinkAsync(merchant, 10m);

        var p1 = (await _kit.SubmitAsync(merchant, _kit.Pay(merchant.WalletAddress, 100m, memo: adaInvoice.Memo))).Payment;
        var p2 = (await _kit.SubmitAsync(merchant, _kit.Pay(merchant.WalletAddress, 20m, memo: bobInvoice.Memo))).Payment;
        var p3 = (await _kit.SubmitAsync(merchant, _kit.Pay(merchant.WalletAddress, 500m, Usdc, bobUsdc.Memo))).Payment;
        var p4 = (await _kit.SubmitAsync(merchant, _kit.Pay(merchant.WalletAddress, 10m), slug: link.Slug)).Payment;
        await _kit.SubmitAsync(merchant, _kit.Pay(merchant.WalletAddress, 999m, memo: "unknown"));

        var first = await _kit.Payments.ListPaymentHistoryAsync(merchant.Id, limit: 3);
        var rest = await _kit.Payments.ListPaymentHistoryAsync(merchant.Id, first.NextCursor, 3);
        Assert.Null(rest.NextCursor);
        var history = first.Items.Concat(rest.Items).ToList();
        Assert.Equal([p4.Id, p3.Id, p2.Id, p1.Id], history.Select(h => h.Payment.Id));
        Assert.Equal(("Ticket", (string?)null), (history[0].LinkTitle, history[0].InvoiceNumber));
        Assert.Equal((adaInvoice.Number, "Consulting", new ClientSummary(ada.Id, "Ada", "ada@example.com")), (history[3].InvoiceNumber!, history[3].InvoiceDescription!, history[3].Client!));

        Assert.Equal(
            [new AssetRevenue(Money.Of(500m, Usdc), 1, Money.Zero(Usdc), Money.Zero(Usdc)), new AssetRevenue(Money.Of(130m, Xlm), 3, Money.Zero(Xlm), Money.Zero(Xlm))],
            await _kit.Payments.GetRevenueByAssetAsync(merchant.Id));

        var top = await _kit.Payments.GetTopClientsAsync(merchant.Id, "XLM");
        Assert.Equal([(ada.Id, Money.Of(100m, Xlm), 1), (bob.Id, Money.Of(20m, Xlm), 1)], top.Select(c => (c.Client.Id, c.Total, c.PaymentCount)));
        Assert.Equal(bob.Id, Assert.Single(await _kit.Payments.GetTopClientsAsync(merchant.Id, "USDC", 1)).Client.Id);
        await ThrowsCodeAsync(PaymentsKitErrorCodes.InvalidArgument, () => _kit.Payments.GetTopClientsAsync(merchant.Id, "XLM", 101).AsTask());
        await ThrowsCodeAsync(PaymentsKitErrorCodes.UnknownAsset, () => _kit.Payments.GetTopClientsAsync(merchant.Id, "DOGE").AsTask());
    }

    [Fact]
    public async Task MonthlyRevenue_CoversThisMonthAndTheElevenBefore_ByAsset_NewestFirst()
    {
        _kit.Clock.Set(Instant.FromUtc(2025, 1, 15, 12, 0));
        var merchant = await _kit.MerchantAsync();
        async Task PayOn(Instant at, decimal amount, Asset asset)
        {
            _kit.Clock.Set(at);
            var link = await _kit.Links.CreatePaymentLinkAsync(merchant.Id, new CreatePaymentLinkRequest("x", amount, asset.Code));
            await _kit.SubmitAsync(merchant, _kit.Pay(merchant.WalletAddress, amount, asset), slug: link.Slug);
        }

        await PayOn(Instant.FromUtc(2025, 2, 27, 23, 0), 1m, Xlm);          // 13 months before "now": outside
        await PayOn(Instant.FromUtc(2025, 3, 2, 0, 0), 2m, Xlm);             // first month of the window
        await PayOn(Instant.FromUtc(2025, 3, 20, 0, 0), 3m, Xlm);
        await PayOn(Instant.FromUtc(2025, 3, 21, 0, 0), 7m, Usdc);
        await PayOn(Instant.FromUtc(2026, 2, 28, 23, 59), 4m, Xlm);          // this month

        _kit.Clock.Set(Instant.FromUtc(2026, 2, 28, 23, 59, 30));
        var monthly = await _kit.Payments.GetMonthlyRevenueAsync(merchant.Id);
        Assert.Equal(
            [
                new MonthlyRevenue(new YearMonth(2026, 2), Money.Of(4m, Xlm), 1, Money.Zero(Xlm), Money.Zero(Xlm)),
                new MonthlyRevenue(new YearMonth(2025, 3), Money.Of(7m, Usdc), 1, Money.Zero(Usdc), Money.Zero(Usdc)),
                new MonthlyRevenue(new YearMonth(2025, 3), Money.Of(5m, Xlm), 2, Money.Zero(Xlm), Money.Zero(Xlm)),
            ],
            monthly);

        // In Tokyo (UTC+9) the last payment already fell on 1 March 2026, and "this month" is March.
        var tokyo = DateTimeZoneProviders.Tzdb["Asia/Tokyo"];
        var inTokyo = await _kit.Payments.GetMonthlyRevenueAsync(merchant.Id, tokyo);
        Assert.Equal([new MonthlyRevenue(new YearMonth(2026, 3), Money.Of(4m, Xlm), 1, Money.Zero(Xlm), Money.Zero(Xlm))], inTokyo);
    }

    [Fact]
    public async Task A_Top_Up_Of_An_Invoice_Settled_Within_Tolerance_Is_Revenue_Not_Overpayment()
    {
        using var kit = await HarnessAsync(o => o.UnderpaymentTolerancePercent = 1m);
        var merchant = await kit.MerchantAsync();
        var invoice = await kit.InvoiceAsync(merchant, 100m);
        await kit.SubmitAsync(merchant, kit.Pay(merchant.WalletAddress, 99.5m, memo: invoice.Memo));
        Assert.Equal(InvoiceStatus.Paid, (await kit.Invoices.GetInvoiceAsync(merchant.Id, invoice.Id)).Status);

        var topUp = (await kit.SubmitAsync(merchant, kit.Pay(merchant.WalletAddress, 0.5m, memo: invoice.Memo))).Payment;
        var beyond = (await kit.SubmitAsync(merchant, kit.Pay(merchant.WalletAddress, 2m, memo: invoice.Memo))).Payment;

        var paid = await kit.Invoices.GetInvoiceAsync(merchant.Id, invoice.Id);
        Assert.Equal((Money.Of(102m, Xlm), Money.Of(2m, Xlm)), (paid.AmountPaid, paid.Overpaid));
        Assert.Null(topUp.Excess);
        Assert.Equal(Money.Of(2m, Xlm), beyond.Excess);
        Assert.Equal(Money.Of(100m, Xlm), await kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Revenue(Xlm), Xlm));
        Assert.Equal(Money.Of(2m, Xlm), await kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Overpayments(Xlm), Xlm));
    }

    [Fact]
    public async Task Revenue_Queries_Count_What_Was_Applied_As_The_Ledger_Books_It_Not_The_Overpayments()
    {
        _kit.Clock.Set(Instant.FromUtc(2026, 3, 10, 12, 0));
        var merchant = await _kit.MerchantAsync();
        var invoice = await _kit.InvoiceAsync(merchant, 100m);
        var link = await _kit.LinkAsync(merchant, 10m);
        await _kit.SubmitAsync(merchant, _kit.Pay(merchant.WalletAddress, 115m, memo: invoice.Memo));
        await _kit.SubmitAsync(merchant, _kit.Pay(merchant.WalletAddress, 5m, memo: invoice.Memo));   // all of it excess
        await _kit.SubmitAsync(merchant, _kit.Pay(merchant.WalletAddress, 12.5m), slug: link.Slug);

        var revenue = Money.Of(110m, Xlm);
        var overpayments = Money.Of(22.5m, Xlm);
        Assert.Equal(revenue, await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Revenue(Xlm), Xlm));
        Assert.Equal(overpayments, await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Overpayments(Xlm), Xlm));
        Assert.Equal([new AssetRevenue(revenue, 3, overpayments, Money.Zero(Xlm))], await _kit.Payments.GetRevenueByAssetAsync(merchant.Id));
        Assert.Equal([new MonthlyRevenue(new YearMonth(2026, 3), revenue, 3, overpayments, Money.Zero(Xlm))], await _kit.Payments.GetMonthlyRevenueAsync(merchant.Id));
    }

    [Fact]
    public async Task A_Transaction_Included_Before_The_Invoice_Or_Link_Existed_Pays_Neither()
    {
        var merchant = await _kit.MerchantAsync();
        var old = _kit.Pay(merchant.WalletAddress, 10m, from: "someone-else");
        var older = _kit.Pay(merchant.WalletAddress, 10m, from: "someone-else");
        _kit.Clock.Advance(Duration.FromDays(3));
        var invoice = await _kit.InvoiceAsync(merchant, 10m);
        var link = await _kit.LinkAsync(merchant, 10m);

        var forInvoice = (await _kit.SubmitAsync(merchant, old, invoice.Id)).Payment;
        var forLink = (await _kit.SubmitAsync(merchant, older, slug: link.Slug)).Payment;

        Assert.Equal((PaymentStatus.NeedsReview, PaymentsKitErrorCodes.UnmatchedPayment), (forInvoice.Status, forInvoice.ReviewCode));
        Assert.Equal((PaymentStatus.NeedsReview, PaymentsKitErrorCodes.UnmatchedPayment), (forLink.Status, forLink.ReviewCode));
        Assert.Equal(InvoiceStatus.Pending, (await _kit.Invoices.GetInvoiceAsync(merchant.Id, invoice.Id)).Status);
        Assert.Equal(0, (await _kit.Links.GetPaymentLinkAsync(merchant.Id, link.Id)).CurrentUses);
    }

    [Fact]
    public async Task A_Chain_Memo_With_A_Nul_Is_Recorded_As_Unmatched_On_Every_Store()
    {
        var merchant = await _kit.MerchantAsync();
        var payment = (await _kit.SubmitAsync(merchant, _kit.Pay(merchant.WalletAddress, 10m, memo: "inv\0x"))).Payment;

        Assert.Equal((PaymentsKitErrorCodes.UnmatchedPayment, "inv\uFFFDx"), (payment.ReviewCode, payment.Memo));
        Assert.Equal(Money.Of(10m, Xlm), await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Wallet(Xlm), Xlm));
    }

    [Fact]
    public async Task Metadata_Values_A_Store_Cannot_Keep_And_Windows_Past_The_Longest_Lifetime_Are_Invalid_Arguments()
    {
        var merchant = await _kit.MerchantAsync();
        await ThrowsCodeAsync(
            PaymentsKitErrorCodes.InvalidArgument,
            () => _kit.Invoices.CreateInvoiceAsync(merchant.Id, new CreateInvoiceRequest(10m, "XLM", "x") { Metadata = new Dictionary<string, string> { ["order"] = "a\0b" } }).AsTask());
        await ThrowsCodeAsync(PaymentsKitErrorCodes.InvalidArgument, () => _kit.Invoices.ListExpiringInvoicesAsync(Duration.FromDays(10_000_000)).AsTask());
        await ThrowsCodeAsync(PaymentsKitErrorCodes.InvalidArgument, () => _kit.Invoices.ListExpiringInvoicesAsync(Duration.FromDays(366)).AsTask());
        Assert.Empty((await _kit.Invoices.ListExpiringInvoicesAsync(Duration.FromDays(365))).Items);
    }

    [Fact]
    public async Task A_Presented_Key_Not_Of_The_Generated_Shape_Is_Invalid_Api_Key_On_Every_Store()
    {
        await _kit.MerchantAsync();
        foreach (var presented in new[] { "sk_\0" + new string('a', 39), "SK_" + new string('a', 40), "sk_" + new string('a', 39) + "!", "toolongkind_" + new string('a', 40) })
        {
            await ThrowsCodeAsync(PaymentsKitErrorCodes.InvalidApiKey, () => _kit.ApiKeys.AuthenticateAsync(presented).AsTask());
        }
    }

    [Fact]
    public async Task A_Late_Payment_To_A_Swept_Link_Is_Expired_And_One_Included_In_Time_After_The_Invoice_Sweep_Says_So()
    {
        var merchant = await _kit.MerchantAsync();
        var link = await _kit.LinkAsync(merchant, 10m, expiresAt: _kit.Clock.GetCurrentInstant() + Duration.FromMinutes(1));
        var invoice = await _kit.Invoices.CreateInvoiceAsync(merchant.Id, new CreateInvoiceRequest(10m, "XLM", "x") { ExpiresAt = _kit.Clock.GetCurrentInstant() + Duration.FromSeconds(30) });
        var inTime = _kit.Send(merchant.WalletAddress, 10m, memo: invoice.Memo);
        _kit.Clock.Advance(Duration.FromMinutes(2));
        Assert.Single(await _kit.Links.ExpireDueAsync(_kit.Clock.GetCurrentInstant()));
        Assert.Equal(1, await _kit.Invoices.ExpireDueAsync());

        var late = (await _kit.SubmitAsync(merchant, _kit.Pay(merchant.WalletAddress, 10m), slug: link.Slug)).Payment;
        var swept = (await _kit.SubmitAsync(merchant, inTime)).Payment;

        Assert.Equal(PaymentsKitErrorCodes.Expired, late.ReviewCode);
        Assert.Equal(PaymentsKitErrorCodes.PaidLate, swept.ReviewCode);
        Assert.Contains("was expired by the sweep", swept.ReviewReason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_Link_Expiry_Sweep_Run_Ahead_Of_The_Clock_Deactivates_No_Link_Before_Its_Expiry()
    {
        var merchant = await _kit.MerchantAsync();
        var expiresAt = _kit.Clock.GetCurrentInstant() + Duration.FromHours(1);
        var link = await _kit.LinkAsync(merchant, 10m, expiresAt: expiresAt);

        // A sweep whose now is later than the clock's (a host with a fast clock, a caller's mistake) is the clock's sweep.
        Assert.Empty(await _kit.Links.ExpireDueAsync(expiresAt + Duration.FromHours(1)));
        Assert.True((await _kit.Links.GetPaymentLinkAsync(merchant.Id, link.Id)).Active);
        var inTime = (await _kit.SubmitAsync(merchant, _kit.Pay(merchant.WalletAddress, 10m), slug: link.Slug)).Payment;
        Assert.Equal((PaymentStatus.Confirmed, (string?)null), (inTime.Status, inTime.ReviewCode));

        // Once the clock reaches the expiry, the same sweep deactivates it.
        _kit.Clock.Advance(Duration.FromHours(1));
        var swept = Assert.Single(await _kit.Links.ExpireDueAsync(expiresAt + Duration.FromHours(1)));
        Assert.Equal((link.Id, false), (swept.Id, swept.Active));
    }

    [Fact]
    public async Task A_Link_Past_Its_Expiry_Cannot_Be_Activated_Again_Whether_Or_Not_It_Was_Swept()
    {
        var merchant = await _kit.MerchantAsync();
        var swept = await _kit.LinkAsync(merchant, 10m, expiresAt: _kit.Clock.GetCurrentInstant() + Duration.FromSeconds(30));
        var unswept = await _kit.LinkAsync(merchant, 10m, expiresAt: _kit.Clock.GetCurrentInstant() + Duration.FromMinutes(1));
        var deactivated = await _kit.LinkAsync(merchant, 10m, expiresAt: _kit.Clock.GetCurrentInstant() + Duration.FromMinutes(1));
        await _kit.Links.SetPaymentLinkActiveAsync(merchant.Id, deactivated.Id, false);
        _kit.Clock.Advance(Duration.FromSeconds(30));
        Assert.Equal(swept.Id, Assert.Single(await _kit.Links.ExpireDueAsync(_kit.Clock.GetCurrentInstant())).Id);
        _kit.Clock.Advance(Duration.FromSeconds(30));

        // It would show active and still refuse every payment as expired: the request is refused instead, and writes nothing.
        foreach (var link in new[] { swept, unswept, deactivated })
        {
            var before = await _kit.Links.GetPaymentLinkAsync(merchant.Id, link.Id);
            var refused = await ThrowsCodeAsync(PaymentsKitErrorCodes.Expired, () => _kit.Links.SetPaymentLinkActiveAsync(merchant.Id, link.Id, true).AsTask());
            Assert.Contains(link.Slug, refused.Message, StringComparison.Ordinal);
            Assert.Equal(before, await _kit.Links.GetPaymentLinkAsync(merchant.Id, link.Id));
        }

        // Deactivating one is still fine.
        Assert.False((await _kit.Links.SetPaymentLinkActiveAsync(merchant.Id, unswept.Id, false)).Active);
    }

    [Fact]
    public async Task A_Transaction_Carrying_An_Invoices_Memo_Submitted_For_A_Link_Is_Kept_For_Review_Not_Applied_To_The_Link()
    {
        var merchant = await _kit.MerchantAsync();
        var link = await _kit.LinkAsync(merchant, 10m, maxUses: 1);
        var invoice = await _kit.InvoiceAsync(merchant, 10m, memo: "inv-for-ada");
        var forTheInvoice = _kit.Pay(merchant.WalletAddress, 10m, memo: invoice.Memo);

        // Anyone can submit any hash from a public ledger: the memo says the money was sent for the invoice, not the link.
        var claimed = (await _kit.SubmitAsync(merchant, forTheInvoice, slug: link.Slug)).Payment;
        Assert.Equal((PaymentStatus.NeedsReview, PaymentsKitErrorCodes.MemoMismatch, (PaymentLinkId?)link.Id), (claimed.Status, claimed.ReviewCode, claimed.LinkId));
        Assert.Contains(invoice.Number, claimed.ReviewReason, StringComparison.Ordinal);
        Assert.Equal(0, (await _kit.Links.GetPaymentLinkAsync(merchant.Id, link.Id)).CurrentUses);
        Assert.Equal(Money.Zero(Xlm), await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Revenue(Xlm), Xlm));
        Assert.Equal(Money.Of(10m, Xlm), await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Unapplied(Xlm), Xlm));

        // A memo that is no invoice's (an order reference, say) still pays the link.
        var paid = (await _kit.SubmitAsync(merchant, _kit.Pay(merchant.WalletAddress, 10m, memo: "order-17"), slug: link.Slug)).Payment;
        Assert.Equal(PaymentStatus.Confirmed, paid.Status);
        Assert.Equal(1, (await _kit.Links.GetPaymentLinkAsync(merchant.Id, link.Id)).CurrentUses);
        Assert.True((await _kit.Ledger.ReconcileAsync(merchant.Id)).IsClean);
    }

    [Fact]
    public async Task A_Transaction_Paying_Two_Assets_Pays_The_Invoice_And_Books_The_Other_Asset_As_Unapplied()
    {
        var merchant = await _kit.MerchantAsync();
        var invoice = await _kit.InvoiceAsync(merchant, 100m, memo: "two-assets");
        var hash = _kit.PayMany(merchant.WalletAddress, invoice.Memo, Money.Of(25m, Usdc), Money.Of(60m, Xlm), Money.Of(40m, Xlm));

        var payment = (await _kit.SubmitAsync(merchant, hash)).Payment;

        // The invoice's asset (both of its transfers) pays the invoice; the USDC that came with it is kept, not lost.
        Assert.Equal((PaymentStatus.Confirmed, Money.Of(100m, Xlm)), (payment.Status, payment.Amount));
        Assert.Equal(InvoiceStatus.Paid, (await _kit.Invoices.GetInvoiceAsync(merchant.Id, invoice.Id)).Status);
        Assert.Equal(Money.Of(100m, Xlm), await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Revenue(Xlm), Xlm));
        Assert.Equal(Money.Of(25m, Usdc), await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Wallet(Usdc), Usdc));
        Assert.Equal(Money.Of(25m, Usdc), await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Unapplied(Usdc), Usdc));
        Assert.True((await _kit.Ledger.ReconcileAsync(merchant.Id)).IsClean);
        Assert.Equal([Money.Of(25m, Usdc)], payment.Unapplied!);
        Assert.Equal(payment, await _kit.Payments.FindPaymentByTransactionAsync(merchant.Id, hash));
        Assert.False((await _kit.SubmitAsync(merchant, hash)).Created);

        // Neither asset is the invoice's: the first is kept for review, the others ride on it; an unregistered one is kept unbooked.
        var other = await _kit.InvoiceAsync(merchant, 10m, Usdc, memo: "wrong-assets");
        var gold = Asset.Create("GOLD", 4);
        var wrong = (await _kit.SubmitAsync(merchant, _kit.PayMany(merchant.WalletAddress, other.Memo, Money.Of(5m, Xlm), Money.Of(1m, gold)))).Payment;
        Assert.Equal((PaymentStatus.NeedsReview, PaymentsKitErrorCodes.AssetMismatch, Money.Of(5m, Xlm)), (wrong.Status, wrong.ReviewCode, wrong.Amount));
        Assert.Equal([Money.Of(1m, gold)], wrong.Unapplied!);
        Assert.Equal(Money.Of(5m, Xlm), await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Unapplied(Xlm), Xlm));
        Assert.Null((await _kit.SubmitAsync(merchant, _kit.Pay(merchant.WalletAddress, 10m, Usdc, other.Memo))).Payment.Unapplied);
        Assert.True((await _kit.Ledger.ReconcileAsync(merchant.Id)).IsClean);
    }
    [Fact]
    public async Task Cancelling_A_Partly_Paid_Invoice_Moves_What_It_Applied_Out_Of_Revenue_And_Shows_It_As_Refundable()
    {
        _kit.Clock.Set(Instant.FromUtc(2026, 3, 10, 12, 0));
        var merchant = await _kit.MerchantAsync();
        var invoice = await _kit.InvoiceAsync(merchant, 100m);
        var link = await _kit.LinkAsync(merchant, 10m);
        await _kit.SubmitAsync(merchant, _kit.Pay(merchant.WalletAddress, 30m, memo: invoice.Memo));
        await _kit.SubmitAsync(merchant, _kit.Pay(merchant.WalletAddress, 10m, memo: invoice.Memo));
        await _kit.SubmitAsync(merchant, _kit.Pay(merchant.WalletAddress, 10m), slug: link.Slug);
        Assert.Null((await _kit.Invoices.GetInvoiceAsync(merchant.Id, invoice.Id)).Refundable);

        var cancelled = await _kit.Invoices.CancelInvoiceAsync(merchant.Id, invoice.Id, "order withdrawn");

        Assert.Equal((InvoiceStatus.Cancelled, Money.Of(40m, Xlm), (Money?)Money.Of(40m, Xlm)), (cancelled.Status, cancelled.AmountPaid, cancelled.Refundable));
        Assert.Equal(cancelled, await _kit.Invoices.GetInvoiceAsync(merchant.Id, invoice.Id));
        await AssertBooksAsync(merchant, revenue: 10m, overpayments: 40m, unapplied: 0m, confirmed: 3);
        var moved = Assert.Single((await _kit.Ledger.ListTransactionsByReferenceAsync(merchant.Id, invoice.Id.ToString(), null, 10)).Items);
        Assert.Equal(Money.Of(40m, Xlm), moved.Postings.Single(p => p.Side == LedgerSide.Credit).Amount);

        // Money arriving afterwards is kept for review as unapplied: neither revenue nor what the invoice shows as refundable.
        var late = (await _kit.SubmitAsync(merchant, _kit.Pay(merchant.WalletAddress, 60m, memo: invoice.Memo))).Payment;
        Assert.Equal((PaymentStatus.NeedsReview, PaymentsKitErrorCodes.InvoiceCancelled), (late.Status, late.ReviewCode));
        var after = await _kit.Invoices.GetInvoiceAsync(merchant.Id, invoice.Id);
        Assert.Equal((Money.Of(40m, Xlm), (Money?)Money.Of(40m, Xlm)), (after.AmountPaid, after.Refundable));
        await AssertBooksAsync(merchant, revenue: 10m, overpayments: 40m, unapplied: 60m, confirmed: 3);
    }

    [Fact]
    public async Task A_Partly_Paid_Invoice_Expired_By_The_Sweep_Moves_What_It_Applied_Out_Of_Revenue()
    {
        var (merchant, invoice) = await PartlyPaidPastExpiryAsync();

        Assert.Equal(1, await _kit.Invoices.ExpireDueAsync());

        var expired = await _kit.Invoices.GetInvoiceAsync(merchant.Id, invoice.Id);
        Assert.Equal((InvoiceStatus.Expired, (Money?)Money.Of(25m, Xlm)), (expired.Status, expired.Refundable));
        await AssertBooksAsync(merchant, revenue: 0m, overpayments: 25m, unapplied: 0m, confirmed: 1);
        Assert.Equal(0, await _kit.Invoices.ExpireDueAsync());
        await AssertBooksAsync(merchant, revenue: 0m, overpayments: 25m, unapplied: 0m, confirmed: 1);

        var late = (await _kit.SubmitAsync(merchant, _kit.Pay(merchant.WalletAddress, 75m, memo: invoice.Memo))).Payment;
        Assert.Equal(PaymentsKitErrorCodes.PaidLate, late.ReviewCode);
        Assert.Equal((Money?)Money.Of(25m, Xlm), (await _kit.Invoices.GetInvoiceAsync(merchant.Id, invoice.Id)).Refundable);
        await AssertBooksAsync(merchant, revenue: 0m, overpayments: 25m, unapplied: 75m, confirmed: 1);
    }

    [Fact]
    public async Task A_Partly_Paid_Invoice_Expired_By_A_Late_Payment_Moves_What_It_Applied_Out_Of_Revenue()
    {
        var (merchant, invoice) = await PartlyPaidPastExpiryAsync();

        // Not swept yet: the late payment expires the invoice, and with it what was applied stops being revenue.
        var late = (await _kit.SubmitAsync(merchant, _kit.Pay(merchant.WalletAddress, 75m, memo: invoice.Memo))).Payment;

        Assert.Equal(PaymentsKitErrorCodes.PaidLate, late.ReviewCode);
        var expired = await _kit.Invoices.GetInvoiceAsync(merchant.Id, invoice.Id);
        Assert.Equal((InvoiceStatus.Expired, true, (Money?)Money.Of(25m, Xlm)), (expired.Status, expired.PaidLate, expired.Refundable));
        await AssertBooksAsync(merchant, revenue: 0m, overpayments: 25m, unapplied: 75m, confirmed: 1);
        Assert.Equal(0, await _kit.Invoices.ExpireDueAsync());
    }

    [Fact]
    public async Task Cancelling_Or_Expiring_An_Unpaid_Invoice_Books_Nothing_And_A_Paid_One_Cannot_Be_Cancelled()
    {
        var merchant = await _kit.MerchantAsync();
        var unpaid = await _kit.InvoiceAsync(merchant, 100m);
        var cancelled = await _kit.Invoices.CancelInvoiceAsync(merchant.Id, unpaid.Id);
        Assert.Equal((InvoiceStatus.Cancelled, (Money?)null), (cancelled.Status, cancelled.Refundable));
        var overdue = await _kit.Invoices.CreateInvoiceAsync(merchant.Id, new CreateInvoiceRequest(100m, "XLM", "x") { ExpiresAt = _kit.Clock.GetCurrentInstant() + Duration.FromMinutes(1) });
        _kit.Clock.Advance(Duration.FromMinutes(1));
        Assert.Equal(1, await _kit.Invoices.ExpireDueAsync());
        Assert.Null((await _kit.Invoices.GetInvoiceAsync(merchant.Id, overdue.Id)).Refundable);
        Assert.Null(await _kit.Ledger.FindAccountByCodeAsync(merchant.Id, InvoicingLedgerAccounts.Revenue(Xlm)));
        Assert.Empty((await _kit.Ledger.ListTransactionsByReferenceAsync(merchant.Id, unpaid.Id.ToString(), null, 10)).Items);

        var paid = await _kit.PaidInvoiceAsync(merchant, 100m, 105m);
        await ThrowsCodeAsync(PaymentsKitErrorCodes.InvalidTransition, () => _kit.Invoices.CancelInvoiceAsync(merchant.Id, paid.Id).AsTask());
        var stillPaid = await _kit.Invoices.GetInvoiceAsync(merchant.Id, paid.Id);
        Assert.Equal((InvoiceStatus.Paid, (Money?)null), (stillPaid.Status, stillPaid.Refundable));
        await AssertBooksAsync(merchant, revenue: 100m, overpayments: 5m, unapplied: 0m, confirmed: 1);
    }

    [Fact]
    public async Task Recording_A_Refund_Of_An_Overpaid_Invoice_Books_It_From_Overpayments_To_The_Wallet_And_Shows_It_On_The_Invoice()
    {
        var merchant = await _kit.MerchantAsync();
        var invoice = await _kit.PaidInvoiceAsync(merchant, 100m, 130m);
        var paid = await _kit.Invoices.GetInvoiceAsync(merchant.Id, invoice.Id);
        Assert.Equal((Money.Of(30m, Xlm), Money.Of(30m, Xlm), (Money?)null), (paid.Overpaid, paid.RefundDue, paid.Refunded));

        var refund = await _kit.Payments.RecordRefundAsync(merchant.Id, invoice.Id, new RecordRefundRequest(10m, "XLM") { TransactionHash = "refund-tx-1" });

        Assert.Equal((merchant.Id, invoice.Id, Money.Of(10m, Xlm), "refund-tx-1"), (refund.MerchantId, refund.InvoiceId, refund.Amount, refund.TransactionHash));
        var refunded = await _kit.Invoices.GetInvoiceAsync(merchant.Id, invoice.Id);
        Assert.Equal(((Money?)Money.Of(10m, Xlm), Money.Of(20m, Xlm), InvoiceStatus.Paid, Money.Of(30m, Xlm)), (refunded.Refunded, refunded.RefundDue, refunded.Status, refunded.Overpaid));
        Assert.Equal(refunded, (await _kit.Invoices.GetInvoiceDetailsAsync(merchant.Id, invoice.Id)).Invoice);
        Assert.Equal(Money.Of(20m, Xlm), await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Overpayments(Xlm), Xlm));
        Assert.Equal(Money.Of(120m, Xlm), await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Wallet(Xlm), Xlm));
        Assert.Equal(Money.Of(100m, Xlm), await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Revenue(Xlm), Xlm));
        var booked = Assert.Single((await _kit.Ledger.ListTransactionsByReferenceAsync(merchant.Id, refund.Id.ToString(), null, 10)).Items);
        var overpayments = await _kit.Ledger.FindAccountByCodeAsync(merchant.Id, InvoicingLedgerAccounts.Overpayments(Xlm));
        var wallet = await _kit.Ledger.FindAccountByCodeAsync(merchant.Id, InvoicingLedgerAccounts.Wallet(Xlm));
        Assert.Equal(
            [LedgerPosting.Debit(overpayments!.Id, Money.Of(10m, Xlm)), LedgerPosting.Credit(wallet!.Id, Money.Of(10m, Xlm))],
            booked.Postings.OrderBy(p => p.Side));
        Assert.True((await _kit.Ledger.ReconcileAsync(merchant.Id)).IsClean);

        // The rest can be refunded, and nothing beyond it; the revenue queries report the refunds apart from what was received.
        await _kit.Payments.RecordRefundAsync(merchant.Id, invoice.Id, new RecordRefundRequest(20m, "XLM"));
        var ex = await ThrowsCodeAsync(PaymentsKitErrorCodes.AmountOutOfRange, () => _kit.Payments.RecordRefundAsync(merchant.Id, invoice.Id, new RecordRefundRequest(0.0000001m, "XLM")).AsTask());
        Assert.Contains("owes back 0", ex.Message, StringComparison.Ordinal);
        var done = await _kit.Invoices.GetInvoiceAsync(merchant.Id, invoice.Id);
        Assert.Equal(((Money?)Money.Of(30m, Xlm), Money.Zero(Xlm)), (done.Refunded, done.RefundDue));
        Assert.Equal(Money.Zero(Xlm), await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Overpayments(Xlm), Xlm));
        Assert.Equal(Money.Of(100m, Xlm), await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Wallet(Xlm), Xlm));
        Assert.True((await _kit.Ledger.ReconcileAsync(merchant.Id)).IsClean);
        Assert.Equal([new AssetRevenue(Money.Of(100m, Xlm), 1, Money.Of(30m, Xlm), Money.Of(30m, Xlm))], await _kit.Payments.GetRevenueByAssetAsync(merchant.Id));
    }

    [Fact]
    public async Task Refunding_A_Cancelled_Partly_Paid_Invoice_Pays_Back_Its_Refundable_And_No_More()
    {
        var merchant = await _kit.MerchantAsync();
        var invoice = await _kit.PaidInvoiceAsync(merchant, 100m, 40m);
        await _kit.Invoices.CancelInvoiceAsync(merchant.Id, invoice.Id);
        Assert.Equal(Money.Of(40m, Xlm), (await _kit.Invoices.GetInvoiceAsync(merchant.Id, invoice.Id)).RefundDue);

        await ThrowsCodeAsync(PaymentsKitErrorCodes.AmountOutOfRange, () => _kit.Payments.RecordRefundAsync(merchant.Id, invoice.Id, new RecordRefundRequest(40.0000001m, "XLM")).AsTask());
        await _kit.Payments.RecordRefundAsync(merchant.Id, invoice.Id, new RecordRefundRequest(15m, "XLM"));
        await _kit.Payments.RecordRefundAsync(merchant.Id, invoice.Id, new RecordRefundRequest(25m, "XLM"));

        var refunded = await _kit.Invoices.GetInvoiceAsync(merchant.Id, invoice.Id);
        Assert.Equal((InvoiceStatus.Cancelled, (Money?)Money.Of(40m, Xlm), (Money?)Money.Of(40m, Xlm), Money.Zero(Xlm)), (refunded.Status, refunded.Refundable, refunded.Refunded, refunded.RefundDue));
        await ThrowsCodeAsync(PaymentsKitErrorCodes.AmountOutOfRange, () => _kit.Payments.RecordRefundAsync(merchant.Id, invoice.Id, new RecordRefundRequest(1m, "XLM")).AsTask());
        Assert.Equal(Money.Zero(Xlm), await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Overpayments(Xlm), Xlm));
        Assert.Equal(Money.Zero(Xlm), await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Wallet(Xlm), Xlm));
        Assert.Equal(Money.Zero(Xlm), await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Revenue(Xlm), Xlm));
        Assert.True((await _kit.Ledger.ReconcileAsync(merchant.Id)).IsClean);
    }

    [Fact]
    public async Task A_Refund_That_Is_Not_Owed_Or_Not_In_The_Invoices_Asset_Is_Refused_And_Writes_Nothing()
    {
        var merchant = await _kit.MerchantAsync();
        var other = await _kit.MerchantAsync();
        var overpaid = await _kit.PaidInvoiceAsync(merchant, 100m, 110m);
        var exact = await _kit.PaidInvoiceAsync(merchant, 50m, 50m);
        var pending = await _kit.PaidInvoiceAsync(merchant, 100m, 20m);
        var unpaid = await _kit.InvoiceAsync(merchant, 100m);
        await _kit.Invoices.CancelInvoiceAsync(merchant.Id, unpaid.Id);

        Task Refund(InvoiceId invoice, decimal amount, string asset = "XLM", MerchantId? by = null) =>
            _kit.Payments.RecordRefundAsync(by ?? merchant.Id, invoice, new RecordRefundRequest(amount, asset)).AsTask();
        await ThrowsCodeAsync(PaymentsKitErrorCodes.AmountOutOfRange, () => Refund(overpaid.Id, 0m));
        await ThrowsCodeAsync(PaymentsKitErrorCodes.AmountOutOfRange, () => Refund(overpaid.Id, -1m));
        await ThrowsCodeAsync(PaymentsKitErrorCodes.AmountOutOfRange, () => Refund(overpaid.Id, 10.0000001m));
        await ThrowsCodeAsync(PaymentsKitErrorCodes.AmountPrecision, () => Refund(overpaid.Id, 1.00000001m));
        await ThrowsCodeAsync(PaymentsKitErrorCodes.AssetMismatch, () => Refund(overpaid.Id, 1m, "USDC"));
        await ThrowsCodeAsync(PaymentsKitErrorCodes.UnknownAsset, () => Refund(overpaid.Id, 1m, "NOPE"));
        await ThrowsCodeAsync(PaymentsKitErrorCodes.AmountOutOfRange, () => Refund(exact.Id, 1m));
        await ThrowsCodeAsync(PaymentsKitErrorCodes.AmountOutOfRange, () => Refund(unpaid.Id, 1m));
        var ex = await ThrowsCodeAsync(PaymentsKitErrorCodes.InvalidTransition, () => Refund(pending.Id, 1m));
        Assert.Contains("pending", ex.Message, StringComparison.OrdinalIgnoreCase);
        await ThrowsCodeAsync(PaymentsKitErrorCodes.NotFound, () => Refund(overpaid.Id, 1m, by: other.Id));
        await ThrowsCodeAsync(PaymentsKitErrorCodes.NotFound, () => Refund(InvoiceId.New(_kit.Clock), 1m));
        await ThrowsCodeAsync(PaymentsKitErrorCodes.InvalidArgument, () => _kit.Payments.RecordRefundAsync(merchant.Id, overpaid.Id, new RecordRefundRequest(1m, "XLM") { TransactionHash = " " }).AsTask());

        foreach (var id in new[] { overpaid.Id, exact.Id, pending.Id, unpaid.Id })
        {
            Assert.Null((await _kit.Invoices.GetInvoiceAsync(merchant.Id, id)).Refunded);
        }

        Assert.Equal(Money.Of(10m, Xlm), (await _kit.Invoices.GetInvoiceAsync(merchant.Id, overpaid.Id)).RefundDue);
        Assert.Equal(Money.Of(10m, Xlm), await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Overpayments(Xlm), Xlm));
        Assert.Equal(Money.Of(180m, Xlm), await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Wallet(Xlm), Xlm));
        Assert.True((await _kit.Ledger.ReconcileAsync(merchant.Id)).IsClean);
    }

    [Fact]
    public async Task A_Refund_With_An_Idempotency_Key_Is_Recorded_Once_And_The_Key_Cannot_Be_Reused_For_Another_Refund()
    {
        var merchant = await _kit.MerchantAsync();
        var invoice = await _kit.PaidInvoiceAsync(merchant, 100m, 120m);
        var second = await _kit.PaidInvoiceAsync(merchant, 100m, 120m);
        var request = new RecordRefundRequest(20m, "XLM") { TransactionHash = "refund-tx", IdempotencyKey = "refund-1" };

        var first = await _kit.Payments.RecordRefundAsync(merchant.Id, invoice.Id, request);

        // Nothing is owed any more, yet the same request answers with the same refund (10 and 10.00 are the same amount).
        var replay = await _kit.Payments.RecordRefundAsync(merchant.Id, invoice.Id, request with { Amount = 20.00m });
        Assert.Equal(first, replay);
        await ThrowsCodeAsync(PaymentsKitErrorCodes.IdempotencyConflict, () => _kit.Payments.RecordRefundAsync(merchant.Id, invoice.Id, request with { Amount = 10m }).AsTask());
        await ThrowsCodeAsync(PaymentsKitErrorCodes.IdempotencyConflict, () => _kit.Payments.RecordRefundAsync(merchant.Id, invoice.Id, request with { TransactionHash = "other-tx" }).AsTask());
        await ThrowsCodeAsync(PaymentsKitErrorCodes.IdempotencyConflict, () => _kit.Payments.RecordRefundAsync(merchant.Id, second.Id, request).AsTask());

        Assert.Equal((Money?)Money.Of(20m, Xlm), (await _kit.Invoices.GetInvoiceAsync(merchant.Id, invoice.Id)).Refunded);
        Assert.Null((await _kit.Invoices.GetInvoiceAsync(merchant.Id, second.Id)).Refunded);
        Assert.Single((await _kit.Ledger.ListTransactionsByReferenceAsync(merchant.Id, first.Id.ToString(), null, 10)).Items);
        Assert.Equal(Money.Of(20m, Xlm), await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Overpayments(Xlm), Xlm));

        // Keys are per merchant: another merchant's key of the same name is its own.
        var other = await _kit.MerchantAsync();
        var theirs = await _kit.PaidInvoiceAsync(other, 10m, 15m);
        var theirRefund = await _kit.Payments.RecordRefundAsync(other.Id, theirs.Id, new RecordRefundRequest(5m, "XLM") { IdempotencyKey = "refund-1" });
        Assert.NotEqual(first.Id, theirRefund.Id);
        Assert.True((await _kit.Ledger.ReconcileAsync(merchant.Id)).IsClean);
        Assert.True((await _kit.Ledger.ReconcileAsync(other.Id)).IsClean);
    }

    [Fact]
    public async Task Recorded_Refunds_Are_Read_Back_By_Id_And_Listed_Per_Invoice_In_Creation_Order()
    {
        var merchant = await _kit.MerchantAsync();
        var other = await _kit.MerchantAsync();
        var invoice = await _kit.PaidInvoiceAsync(merchant, 100m, 130m);
        var second = await _kit.PaidInvoiceAsync(merchant, 100m, 110m);
        var untouched = await _kit.PaidInvoiceAsync(merchant, 100m, 105m);
        async Task<InvoiceRefund> Refund(InvoiceId id, decimal amount)
        {
            _kit.Clock.Advance(Duration.FromSeconds(1));
            return await _kit.Payments.RecordRefundAsync(merchant.Id, id, new RecordRefundRequest(amount, "XLM") { TransactionHash = $"refund-{amount}" });
        }

        // Refunds of another invoice between them are left out of the invoice's list.
        var r1 = await Refund(invoice.Id, 5m);
        var s1 = await Refund(second.Id, 4m);
        var r2 = await Refund(invoice.Id, 7m);
        var s2 = await Refund(second.Id, 6m);
        var r3 = await Refund(invoice.Id, 3m);

        Assert.Equal(r2, await _kit.Payments.GetRefundAsync(merchant.Id, r2.Id));
        await ThrowsCodeAsync(PaymentsKitErrorCodes.NotFound, () => _kit.Payments.GetRefundAsync(other.Id, r2.Id).AsTask());
        await ThrowsCodeAsync(PaymentsKitErrorCodes.NotFound, () => _kit.Payments.GetRefundAsync(merchant.Id, InvoiceRefundId.New(_kit.Clock)).AsTask());

        var first = await _kit.Payments.ListRefundsAsync(merchant.Id, invoice.Id, limit: 2);
        Assert.Equal([r1, r2], first.Items);
        Assert.NotNull(first.NextCursor);
        var rest = await _kit.Payments.ListRefundsAsync(merchant.Id, invoice.Id, first.NextCursor, 2);
        Assert.Equal([r3], rest.Items);
        Assert.Null(rest.NextCursor);
        var whole = await _kit.Payments.ListRefundsAsync(merchant.Id, invoice.Id, limit: 3);
        Assert.Equal([r1, r2, r3], whole.Items);
        Assert.Null(whole.NextCursor);
        var ofSecond = await _kit.Payments.ListRefundsAsync(merchant.Id, second.Id);
        Assert.Equal([s1, s2], ofSecond.Items);
        Assert.Null(ofSecond.NextCursor);
        var none = await _kit.Payments.ListRefundsAsync(merchant.Id, untouched.Id, limit: 1);
        Assert.Empty(none.Items);
        Assert.Null(none.NextCursor);

        await ThrowsCodeAsync(PaymentsKitErrorCodes.NotFound, () => _kit.Payments.ListRefundsAsync(other.Id, invoice.Id).AsTask());
        await ThrowsCodeAsync(PaymentsKitErrorCodes.NotFound, () => _kit.Payments.ListRefundsAsync(merchant.Id, InvoiceId.New(_kit.Clock)).AsTask());
        await ThrowsCodeAsync(PaymentsKitErrorCodes.InvalidArgument, () => _kit.Payments.ListRefundsAsync(merchant.Id, invoice.Id, limit: 0).AsTask());
        await ThrowsCodeAsync(PaymentsKitErrorCodes.InvalidArgument, () => _kit.Payments.ListRefundsAsync(merchant.Id, invoice.Id, limit: 1001).AsTask());
        await ThrowsCodeAsync(PaymentsKitErrorCodes.InvalidArgument, () => _kit.Payments.ListRefundsAsync(merchant.Id, invoice.Id, "not-a-cursor").AsTask());
    }

    [Fact]
    public async Task Each_Invoice_Of_A_Merchant_With_Many_Refunded_Invoices_Lists_Exactly_Its_Refunds_In_Order_Across_Pages()
    {
        var merchant = await _kit.MerchantAsync();
        var other = await _kit.MerchantAsync();
        var invoices = new List<Invoice>();
        for (var i = 0; i < 12; i++)
        {
            invoices.Add(await _kit.PaidInvoiceAsync(merchant, 100m, 200m));
        }

        var theirs = await _kit.PaidInvoiceAsync(other, 100m, 200m);
        var expected = invoices.ToDictionary(i => i.Id, _ => new List<InvoiceRefund>());

        // Interleaved across invoices (invoice k gets k % 5 refunds), with another merchant's refunds among them.
        for (var round = 0; round < 4; round++)
        {
            for (var k = 0; k < invoices.Count; k++)
            {
                if (round < k % 5)
                {
                    _kit.Clock.Advance(Duration.FromSeconds(1));
                    expected[invoices[k].Id].Add(await _kit.Payments.RecordRefundAsync(merchant.Id, invoices[k].Id, new RecordRefundRequest(1m + round, "XLM")));
                }
            }

            _kit.Clock.Advance(Duration.FromSeconds(1));
            await _kit.Payments.RecordRefundAsync(other.Id, theirs.Id, new RecordRefundRequest(1m, "XLM"));
        }

        foreach (var invoice in invoices)
        {
            var listed = new List<InvoiceRefund>();
            string? cursor = null;
            do
            {
                var page = await _kit.Payments.ListRefundsAsync(merchant.Id, invoice.Id, cursor, 2);
                Assert.InRange(page.Items.Count, page.NextCursor is null ? 0 : 2, 2);
                listed.AddRange(page.Items);
                cursor = page.NextCursor;
            }
            while (cursor is not null);

            Assert.Equal(expected[invoice.Id], listed);
            Assert.Equal(expected[invoice.Id], (await _kit.Payments.ListRefundsAsync(merchant.Id, invoice.Id, limit: 1000)).Items);
        }
    }

    [Fact]
    public async Task Refunding_An_Unapplied_Payment_In_Parts_Books_It_Out_Of_Unapplied_And_Refuses_More_Than_Remains()
    {
        var merchant = await _kit.MerchantAsync();
        var stray = (await _kit.SubmitAsync(merchant, _kit.Pay(merchant.WalletAddress, 30m, memo: "nobody"))).Payment;
        Assert.Equal((PaymentStatus.NeedsReview, PaymentsKitErrorCodes.UnmatchedPayment), (stray.Status, stray.ReviewCode));
        Assert.Equal([Money.Of(30m, Xlm)], stray.HeldUnapplied);

        var refund = await _kit.Payments.RecordRefundAsync(merchant.Id, stray.Id, new RecordRefundRequest(10m, "XLM") { TransactionHash = "refund-tx-1" });

        Assert.Equal((merchant.Id, stray.Id, Money.Of(10m, Xlm), "refund-tx-1"), (refund.MerchantId, refund.PaymentId, refund.Amount, refund.TransactionHash));
        var partly = await _kit.Payments.GetPaymentAsync(merchant.Id, stray.Id);
        Assert.Equal([Money.Of(10m, Xlm)], partly.Refunded!);
        Assert.Equal([Money.Of(20m, Xlm)], partly.HeldUnapplied);
        Assert.Equal((PaymentStatus.NeedsReview, PaymentsKitErrorCodes.UnmatchedPayment, Money.Of(30m, Xlm)), (partly.Status, partly.ReviewCode, partly.Amount));
        Assert.Equal(Money.Of(20m, Xlm), await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Unapplied(Xlm), Xlm));
        Assert.Equal(Money.Of(20m, Xlm), await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Wallet(Xlm), Xlm));
        var booked = Assert.Single((await _kit.Ledger.ListTransactionsByReferenceAsync(merchant.Id, refund.Id.ToString(), null, 10)).Items);
        var unapplied = await _kit.Ledger.FindAccountByCodeAsync(merchant.Id, InvoicingLedgerAccounts.Unapplied(Xlm));
        var wallet = await _kit.Ledger.FindAccountByCodeAsync(merchant.Id, InvoicingLedgerAccounts.Wallet(Xlm));
        Assert.Equal(LedgerEntryType.Refund, booked.EntryType);
        Assert.Equal(
            [LedgerPosting.Debit(unapplied!.Id, Money.Of(10m, Xlm)), LedgerPosting.Credit(wallet!.Id, Money.Of(10m, Xlm))],
            booked.Postings.OrderBy(p => p.Side));

        // The rest can be refunded, and nothing beyond it (the stable code of a refund beyond what is owed).
        await _kit.Payments.RecordRefundAsync(merchant.Id, stray.Id, new RecordRefundRequest(20m, "XLM"));
        var ex = await ThrowsCodeAsync(PaymentsKitErrorCodes.AmountOutOfRange, () => _kit.Payments.RecordRefundAsync(merchant.Id, stray.Id, new RecordRefundRequest(0.0000001m, "XLM")).AsTask());
        Assert.Contains("holds 0", ex.Message, StringComparison.Ordinal);
        var done = await _kit.Payments.GetPaymentAsync(merchant.Id, stray.Id);
        Assert.Equal([Money.Of(30m, Xlm)], done.Refunded!);
        Assert.Empty(done.HeldUnapplied);
        Assert.Equal(Money.Zero(Xlm), await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Unapplied(Xlm), Xlm));
        Assert.Equal(Money.Zero(Xlm), await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Wallet(Xlm), Xlm));
        Assert.True((await _kit.Ledger.ReconcileAsync(merchant.Id)).IsClean);

        // Money kept for review was never revenue: the revenue queries do not count it, nor its refunds.
        Assert.Empty(await _kit.Payments.GetRevenueByAssetAsync(merchant.Id));
        Assert.Empty(await _kit.Payments.GetMonthlyRevenueAsync(merchant.Id));
    }

    [Fact]
    public async Task A_Refund_Is_Capped_Only_By_What_Is_Owed_Back_Not_By_The_Largest_Invoice_Amount()
    {
        // Invoice and link amounts stop at AmountLimit.Max; what a payer sends does not, so neither does what is owed back.
        var huge = AmountLimit.Max + 1_000m;
        var merchant = await _kit.MerchantAsync();
        var invoice = await _kit.PaidInvoiceAsync(merchant, 100m, 100m + huge);
        var stray = (await _kit.SubmitAsync(merchant, _kit.Pay(merchant.WalletAddress, huge, memo: "nobody"))).Payment;

        var invoiceRefund = await _kit.Payments.RecordRefundAsync(merchant.Id, invoice.Id, new RecordRefundRequest(huge, "XLM"));
        var paymentRefund = await _kit.Payments.RecordRefundAsync(merchant.Id, stray.Id, new RecordRefundRequest(huge, "XLM"));

        Assert.Equal((Money.Of(huge, Xlm), Money.Of(huge, Xlm)), (invoiceRefund.Amount, paymentRefund.Amount));
        Assert.Equal(Money.Zero(Xlm), (await _kit.Invoices.GetInvoiceAsync(merchant.Id, invoice.Id)).RefundDue);
        Assert.Empty((await _kit.Payments.GetPaymentAsync(merchant.Id, stray.Id)).HeldUnapplied);
        Assert.Equal(Money.Zero(Xlm), await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Overpayments(Xlm), Xlm));
        Assert.Equal(Money.Zero(Xlm), await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Unapplied(Xlm), Xlm));
    }

    [Fact]
    public async Task Only_What_A_Payment_Holds_Unapplied_Can_Be_Refunded_Per_Asset_And_A_Refused_Refund_Writes_Nothing()
    {
        var merchant = await _kit.MerchantAsync();
        var other = await _kit.MerchantAsync();
        var invoice = await _kit.InvoiceAsync(merchant, 100m);

        // Applied to the invoice in XLM, with USDC riding on it unapplied; and a payment to a cancelled invoice, kept for review.
        var mixed = (await _kit.SubmitAsync(merchant, _kit.PayMany(merchant.WalletAddress, invoice.Memo, Money.Of(120m, Xlm), Money.Of(25m, Usdc)))).Payment;
        Assert.Equal([Money.Of(25m, Usdc)], mixed.HeldUnapplied);
        var cancelled = await _kit.InvoiceAsync(merchant, 50m);
        await _kit.Invoices.CancelInvoiceAsync(merchant.Id, cancelled.Id);
        var late = (await _kit.SubmitAsync(merchant, _kit.Pay(merchant.WalletAddress, 8m, memo: cancelled.Memo))).Payment;
        Assert.Equal(PaymentsKitErrorCodes.InvoiceCancelled, late.ReviewCode);

        Task Refund(PaymentId payment, decimal amount, string asset = "XLM", MerchantId? by = null) =>
            _kit.Payments.RecordRefundAsync(by ?? merchant.Id, payment, new RecordRefundRequest(amount, asset)).AsTask();
        var applied = await ThrowsCodeAsync(PaymentsKitErrorCodes.AmountOutOfRange, () => Refund(mixed.Id, 1m));
        Assert.Contains("holds 0", applied.Message, StringComparison.Ordinal);
        await ThrowsCodeAsync(PaymentsKitErrorCodes.AmountOutOfRange, () => Refund(mixed.Id, 25.000001m, "USDC"));
        await ThrowsCodeAsync(PaymentsKitErrorCodes.AmountOutOfRange, () => Refund(late.Id, 8.0000001m));
        await ThrowsCodeAsync(PaymentsKitErrorCodes.AmountOutOfRange, () => Refund(late.Id, 0m));
        await ThrowsCodeAsync(PaymentsKitErrorCodes.AmountOutOfRange, () => Refund(late.Id, -1m));
        await ThrowsCodeAsync(PaymentsKitErrorCodes.AmountPrecision, () => Refund(late.Id, 1.00000001m));
        await ThrowsCodeAsync(PaymentsKitErrorCodes.AssetMismatch, () => Refund(late.Id, 1m, "USDC"));
        await ThrowsCodeAsync(PaymentsKitErrorCodes.UnknownAsset, () => Refund(late.Id, 1m, "NOPE"));
        await ThrowsCodeAsync(PaymentsKitErrorCodes.NotFound, () => Refund(late.Id, 1m, by: other.Id));
        await ThrowsCodeAsync(PaymentsKitErrorCodes.NotFound, () => Refund(PaymentId.New(_kit.Clock), 1m));
        await ThrowsCodeAsync(PaymentsKitErrorCodes.InvalidArgument, () => _kit.Payments.RecordRefundAsync(merchant.Id, late.Id, new RecordRefundRequest(1m, "XLM") { TransactionHash = " " }).AsTask());
        Assert.Null((await _kit.Payments.GetPaymentAsync(merchant.Id, mixed.Id)).Refunded);
        Assert.Null((await _kit.Payments.GetPaymentAsync(merchant.Id, late.Id)).Refunded);

        // A payment's unapplied money in each asset is refunded from that asset's books; its invoice is not touched.
        await Refund(mixed.Id, 25m, "USDC");
        await Refund(late.Id, 8m);
        Assert.Equal([Money.Of(25m, Usdc)], (await _kit.Payments.GetPaymentAsync(merchant.Id, mixed.Id)).Refunded!);
        Assert.Empty((await _kit.Payments.GetPaymentAsync(merchant.Id, late.Id)).HeldUnapplied);
        var paid = await _kit.Invoices.GetInvoiceAsync(merchant.Id, invoice.Id);
        Assert.Equal((Money.Of(20m, Xlm), (Money?)null), (paid.RefundDue, paid.Refunded));
        Assert.Null((await _kit.Invoices.GetInvoiceAsync(merchant.Id, cancelled.Id)).Refunded);
        Assert.Equal(Money.Zero(Usdc), await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Unapplied(Usdc), Usdc));
        Assert.Equal(Money.Zero(Usdc), await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Wallet(Usdc), Usdc));
        Assert.Equal(Money.Zero(Xlm), await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Unapplied(Xlm), Xlm));
        Assert.Equal(Money.Of(120m, Xlm), await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Wallet(Xlm), Xlm));
        Assert.Equal(Money.Of(20m, Xlm), await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Overpayments(Xlm), Xlm));
        Assert.True((await _kit.Ledger.ReconcileAsync(merchant.Id)).IsClean);

        // The invoice's refunds and the revenue queries' Refunded are about what invoices owe back: these are not among them.
        Assert.Empty((await _kit.Payments.ListRefundsAsync(merchant.Id, invoice.Id)).Items);
        Assert.Equal([new AssetRevenue(Money.Of(100m, Xlm), 1, Money.Of(20m, Xlm), Money.Zero(Xlm))], await _kit.Payments.GetRevenueByAssetAsync(merchant.Id));
    }

    [Fact]
    public async Task Money_In_An_Asset_Registered_Only_After_The_Payment_Was_Never_Booked_So_Is_Not_Held_And_Cannot_Be_Refunded()
    {
        var merchant = await _kit.MerchantAsync();
        var invoice = await _kit.InvoiceAsync(merchant, 10m);
        var gold = Asset.Create("GOLD", 4);
        var silver = Asset.Create("SILVER", 4);

        // GOLD rides unapplied on a payment of the invoice, SILVER is a payment of its own: neither asset is registered yet.
        var mixed = (await _kit.SubmitAsync(merchant, _kit.PayMany(merchant.WalletAddress, invoice.Memo, Money.Of(10m, Xlm), Money.Of(1m, gold)))).Payment;
        var stray = (await _kit.SubmitAsync(merchant, _kit.Pay(merchant.WalletAddress, 2m, silver))).Payment;
        Assert.Equal([Money.Of(1m, gold)], mixed.Unapplied!);
        Assert.Equal(PaymentsKitErrorCodes.UnknownAsset, stray.ReviewCode);
        Assert.Empty(mixed.HeldUnapplied);
        Assert.Empty(stray.HeldUnapplied);

        // The host registers them later: what was never booked stays unheld, so a refund of it is refused and writes nothing.
        var registry = _kit.Services.GetRequiredService<AssetRegistry>();
        registry.Register(gold);
        registry.Register(silver);
        Assert.Empty((await _kit.Payments.GetPaymentAsync(merchant.Id, mixed.Id)).HeldUnapplied);
        Assert.Empty((await _kit.Payments.GetPaymentAsync(merchant.Id, stray.Id)).HeldUnapplied);
        var refused = await ThrowsCodeAsync(
            PaymentsKitErrorCodes.AmountOutOfRange,
            () => _kit.Payments.RecordRefundAsync(merchant.Id, mixed.Id, new RecordRefundRequest(1m, "GOLD")).AsTask());
        Assert.Contains("holds 0", refused.Message, StringComparison.Ordinal);
        await ThrowsCodeAsync(
            PaymentsKitErrorCodes.AmountOutOfRange,
            () => _kit.Payments.RecordRefundAsync(merchant.Id, stray.Id, new RecordRefundRequest(2m, "SILVER")).AsTask());

        Assert.Equal(mixed, await _kit.Payments.GetPaymentAsync(merchant.Id, mixed.Id));
        Assert.Equal(stray, await _kit.Payments.GetPaymentAsync(merchant.Id, stray.Id));
        Assert.Empty((await _kit.Payments.ListRefundsAsync(merchant.Id, mixed.Id)).Items);
        Assert.Empty((await _kit.Payments.ListRefundsAsync(merchant.Id, stray.Id)).Items);
        foreach (var asset in new[] { gold, silver })
        {
            Assert.Equal(Money.Zero(asset), await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Unapplied(asset), asset));
            Assert.Equal(Money.Zero(asset), await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Wallet(asset), asset));
        }

        Assert.True((await _kit.Ledger.ReconcileAsync(merchant.Id)).IsClean);
    }

    [Fact]
    public async Task A_Refund_Of_An_Unapplied_Payment_With_An_Idempotency_Key_Is_Recorded_Once_And_The_Key_Cannot_Be_Reused_For_Another()
    {
        var merchant = await _kit.MerchantAsync();
        var stray = (await _kit.SubmitAsync(merchant, _kit.Pay(merchant.WalletAddress, 20m))).Payment;
        var second = (await _kit.SubmitAsync(merchant, _kit.Pay(merchant.WalletAddress, 20m))).Payment;
        var request = new RecordRefundRequest(20m, "XLM") { TransactionHash = "refund-tx", IdempotencyKey = "refund-1" };

        var first = await _kit.Payments.RecordRefundAsync(merchant.Id, stray.Id, request);

        // Nothing is held any more, yet the same request answers with the same refund (20 and 20.00 are the same amount).
        Assert.Equal(first, await _kit.Payments.RecordRefundAsync(merchant.Id, stray.Id, request with { Amount = 20.00m }));
        await ThrowsCodeAsync(PaymentsKitErrorCodes.IdempotencyConflict, () => _kit.Payments.RecordRefundAsync(merchant.Id, stray.Id, request with { Amount = 10m }).AsTask());
        await ThrowsCodeAsync(PaymentsKitErrorCodes.IdempotencyConflict, () => _kit.Payments.RecordRefundAsync(merchant.Id, stray.Id, request with { TransactionHash = "other-tx" }).AsTask());
        await ThrowsCodeAsync(PaymentsKitErrorCodes.IdempotencyConflict, () => _kit.Payments.RecordRefundAsync(merchant.Id, second.Id, request).AsTask());

        Assert.Equal([Money.Of(20m, Xlm)], (await _kit.Payments.GetPaymentAsync(merchant.Id, stray.Id)).Refunded!);
        Assert.Null((await _kit.Payments.GetPaymentAsync(merchant.Id, second.Id)).Refunded);
        Assert.Single((await _kit.Ledger.ListTransactionsByReferenceAsync(merchant.Id, first.Id.ToString(), null, 10)).Items);
        Assert.Equal(Money.Of(20m, Xlm), await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Unapplied(Xlm), Xlm));

        // Keys are per merchant.
        var other = await _kit.MerchantAsync();
        var theirs = (await _kit.SubmitAsync(other, _kit.Pay(other.WalletAddress, 5m))).Payment;
        Assert.NotEqual(first.Id, (await _kit.Payments.RecordRefundAsync(other.Id, theirs.Id, request with { Amount = 5m })).Id);
        Assert.True((await _kit.Ledger.ReconcileAsync(merchant.Id)).IsClean);
    }

    [Fact]
    public async Task Refunds_Of_Unapplied_Payments_Are_Read_Back_By_Id_And_Listed_Per_Payment_In_Creation_Order()
    {
        var merchant = await _kit.MerchantAsync();
        var other = await _kit.MerchantAsync();
        var stray = (await _kit.SubmitAsync(merchant, _kit.Pay(merchant.WalletAddress, 30m))).Payment;
        var second = (await _kit.SubmitAsync(merchant, _kit.Pay(merchant.WalletAddress, 30m))).Payment;
        var untouched = (await _kit.SubmitAsync(merchant, _kit.Pay(merchant.WalletAddress, 30m))).Payment;
        async Task<PaymentRefund> Refund(PaymentId id, decimal amount)
        {
            _kit.Clock.Advance(Duration.FromSeconds(1));
            return await _kit.Payments.RecordRefundAsync(merchant.Id, id, new RecordRefundRequest(amount, "XLM") { TransactionHash = $"refund-{amount}" });
        }

        var r1 = await Refund(stray.Id, 5m);
        var s1 = await Refund(second.Id, 4m);
        var r2 = await Refund(stray.Id, 7m);
        var r3 = await Refund(stray.Id, 3m);

        Assert.Equal(r2, await _kit.Payments.GetRefundAsync(merchant.Id, r2.Id));
        await ThrowsCodeAsync(PaymentsKitErrorCodes.NotFound, () => _kit.Payments.GetRefundAsync(other.Id, r2.Id).AsTask());
        await ThrowsCodeAsync(PaymentsKitErrorCodes.NotFound, () => _kit.Payments.GetRefundAsync(merchant.Id, PaymentRefundId.New(_kit.Clock)).AsTask());

        var first = await _kit.Payments.ListRefundsAsync(merchant.Id, stray.Id, limit: 2);
        Assert.Equal([r1, r2], first.Items);
        var rest = await _kit.Payments.ListRefundsAsync(merchant.Id, stray.Id, first.NextCursor, 2);
        Assert.Equal([r3], rest.Items);
        Assert.Null(rest.NextCursor);
        Assert.Equal([s1], (await _kit.Payments.ListRefundsAsync(merchant.Id, second.Id)).Items);
        Assert.Empty((await _kit.Payments.ListRefundsAsync(merchant.Id, untouched.Id)).Items);
        await ThrowsCodeAsync(PaymentsKitErrorCodes.NotFound, () => _kit.Payments.ListRefundsAsync(other.Id, stray.Id).AsTask());
        await ThrowsCodeAsync(PaymentsKitErrorCodes.NotFound, () => _kit.Payments.ListRefundsAsync(merchant.Id, PaymentId.New(_kit.Clock)).AsTask());
        await ThrowsCodeAsync(PaymentsKitErrorCodes.InvalidArgument, () => _kit.Payments.ListRefundsAsync(merchant.Id, stray.Id, limit: 0).AsTask());
    }

    [Fact]
    public Task Listing_An_Invoices_Refunds_Reads_Only_That_Invoices_Refunds_From_The_Store() =>
        AssertListingReadsOnlyItsRefundsAsync(
            async (kit, merchant) => (await kit.PaidInvoiceAsync(merchant, 100m, 200m)).Id,
            (kit, merchant, invoice) => kit.Payments.RecordRefundAsync(merchant.Id, invoice, new RecordRefundRequest(1m, "XLM")).AsTask(),
            async (kit, merchant, invoice, cursor) => Counted(await kit.Payments.ListRefundsAsync(merchant.Id, invoice, cursor, 2)));

    [Fact]
    public Task Listing_A_Payments_Refunds_Reads_Only_That_Payments_Refunds_From_The_Store() =>
        AssertListingReadsOnlyItsRefundsAsync(
            async (kit, merchant) => (await kit.SubmitAsync(merchant, kit.Pay(merchant.WalletAddress, 10m))).Payment.Id,
            (kit, merchant, payment) => kit.Payments.RecordRefundAsync(merchant.Id, payment, new RecordRefundRequest(1m, "XLM")).AsTask(),
            async (kit, merchant, payment, cursor) => Counted(await kit.Payments.ListRefundsAsync(merchant.Id, payment, cursor, 2)));

    [Fact]
    public async Task Revenue_Queries_Report_Refunds_Apart_So_Overpayments_Less_Refunded_Is_The_Overpayments_Balance()
    {
        _kit.Clock.Set(Instant.FromUtc(2026, 3, 10, 12, 0));
        var merchant = await _kit.MerchantAsync();
        var overpaid = await _kit.PaidInvoiceAsync(merchant, 100m, 130m);
        var withdrawn = await _kit.PaidInvoiceAsync(merchant, 100m, 40m);
        await _kit.Invoices.CancelInvoiceAsync(merchant.Id, withdrawn.Id);

        // A partial refund of the excess in March; the cancelled invoice's payment refunded in full in April, with more excess.
        await _kit.Payments.RecordRefundAsync(merchant.Id, overpaid.Id, new RecordRefundRequest(10m, "XLM"));
        _kit.Clock.Set(Instant.FromUtc(2026, 4, 2, 8, 0));
        await _kit.Payments.RecordRefundAsync(merchant.Id, withdrawn.Id, new RecordRefundRequest(40m, "XLM"));
        await _kit.Payments.RecordRefundAsync(merchant.Id, overpaid.Id, new RecordRefundRequest(5m, "XLM"));

        var revenue = await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Revenue(Xlm), Xlm);
        var owedBack = await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Overpayments(Xlm), Xlm);
        Assert.Equal((Money.Of(100m, Xlm), Money.Of(15m, Xlm)), (revenue, owedBack));
        Assert.True((await _kit.Ledger.ReconcileAsync(merchant.Id)).IsClean);

        var byAsset = Assert.Single(await _kit.Payments.GetRevenueByAssetAsync(merchant.Id));
        Assert.Equal(new AssetRevenue(revenue, 2, Money.Of(70m, Xlm), Money.Of(55m, Xlm)), byAsset);
        Assert.Equal(owedBack, byAsset.Overpayments - byAsset.Refunded);

        // By month of recording: April had refunds but no payment.
        var monthly = await _kit.Payments.GetMonthlyRevenueAsync(merchant.Id);
        Assert.Equal(
            [
                new MonthlyRevenue(new YearMonth(2026, 4), Money.Zero(Xlm), 0, Money.Zero(Xlm), Money.Of(45m, Xlm)),
                new MonthlyRevenue(new YearMonth(2026, 3), revenue, 2, Money.Of(70m, Xlm), Money.Of(10m, Xlm)),
            ],
            monthly);
        Assert.Equal(owedBack, monthly.Aggregate(Money.Zero(Xlm), (left, m) => left + m.Overpayments - m.Refunded));
        Assert.Equal(revenue, monthly.Aggregate(Money.Zero(Xlm), (sum, m) => sum + m.Total));
    }

    [Fact]
    public async Task A_Payment_Links_Overpayment_Is_Refunded_By_Naming_The_Payment_Out_Of_Overpayments_And_No_More()
    {
        _kit.Clock.Set(Instant.FromUtc(2026, 3, 10, 12, 0));
        var merchant = await _kit.MerchantAsync();
        var link = await _kit.LinkAsync(merchant, 10m);
        var exact = (await _kit.SubmitAsync(merchant, _kit.Pay(merchant.WalletAddress, 10m), slug: link.Slug)).Payment;
        var generous = (await _kit.SubmitAsync(merchant, _kit.Pay(merchant.WalletAddress, 12.5m), slug: link.Slug)).Payment;
        Assert.Equal((Money.Of(2.5m, Xlm), (Money?)null), (generous.ExcessDue, exact.ExcessDue));

        // A link has no invoice to owe its payer's excess back: the payment that brought it does, out of overpayments.
        var refund = await _kit.Payments.RecordRefundAsync(merchant.Id, generous.Id, new RecordRefundRequest(1m, "XLM") { TransactionHash = "back-1" });
        Assert.Equal((generous.Id, Money.Of(1m, Xlm), "back-1"), (refund.PaymentId, refund.Amount, refund.TransactionHash));
        var booked = Assert.Single((await _kit.Ledger.ListTransactionsByReferenceAsync(merchant.Id, refund.Id.ToString(), null, 10)).Items);
        var overpayments = await _kit.Ledger.FindAccountByCodeAsync(merchant.Id, InvoicingLedgerAccounts.Overpayments(Xlm));
        var wallet = await _kit.Ledger.FindAccountByCodeAsync(merchant.Id, InvoicingLedgerAccounts.Wallet(Xlm));
        Assert.Equal(LedgerEntryType.Refund, booked.EntryType);
        Assert.Equal(
            [LedgerPosting.Debit(overpayments!.Id, Money.Of(1m, Xlm)), LedgerPosting.Credit(wallet!.Id, Money.Of(1m, Xlm))],
            booked.Postings.OrderBy(p => p.Side));
        Assert.Equal(Money.Of(1.5m, Xlm), (await _kit.Payments.GetPaymentAsync(merchant.Id, generous.Id)).ExcessDue);

        // Never more than the excess, and never what the link applied (its price is revenue, not owed back).
        var beyond = await ThrowsCodeAsync(PaymentsKitErrorCodes.AmountOutOfRange, () => _kit.Payments.RecordRefundAsync(merchant.Id, generous.Id, new RecordRefundRequest(1.5000001m, "XLM")).AsTask());
        Assert.Contains("1.5000000", beyond.Message, StringComparison.Ordinal);
        await ThrowsCodeAsync(PaymentsKitErrorCodes.AmountOutOfRange, () => _kit.Payments.RecordRefundAsync(merchant.Id, exact.Id, new RecordRefundRequest(1m, "XLM")).AsTask());
        await _kit.Payments.RecordRefundAsync(merchant.Id, generous.Id, new RecordRefundRequest(1.5m, "XLM"));
        await ThrowsCodeAsync(PaymentsKitErrorCodes.AmountOutOfRange, () => _kit.Payments.RecordRefundAsync(merchant.Id, generous.Id, new RecordRefundRequest(0.0000001m, "XLM")).AsTask());

        var done = await _kit.Payments.GetPaymentAsync(merchant.Id, generous.Id);
        Assert.Equal([Money.Of(2.5m, Xlm)], done.Refunded!);
        Assert.Equal((Money.Zero(Xlm), PaymentStatus.Confirmed), (done.ExcessDue!.Value, done.Status));
        Assert.Empty(done.HeldUnapplied);
        Assert.Equal(Money.Of(20m, Xlm), await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Revenue(Xlm), Xlm));
        Assert.Equal(Money.Zero(Xlm), await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Overpayments(Xlm), Xlm));
        Assert.Equal(Money.Of(20m, Xlm), await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Wallet(Xlm), Xlm));
        Assert.True((await _kit.Ledger.ReconcileAsync(merchant.Id)).IsClean);

        // The revenue queries report the refunds out of overpayments, so Overpayments - Refunded is still that account's balance.
        var byAsset = Assert.Single(await _kit.Payments.GetRevenueByAssetAsync(merchant.Id));
        Assert.Equal(new AssetRevenue(Money.Of(20m, Xlm), 2, Money.Of(2.5m, Xlm), Money.Of(2.5m, Xlm)), byAsset);
        Assert.Equal(
            [new MonthlyRevenue(new YearMonth(2026, 3), Money.Of(20m, Xlm), 2, Money.Of(2.5m, Xlm), Money.Of(2.5m, Xlm))],
            await _kit.Payments.GetMonthlyRevenueAsync(merchant.Id));
    }

    public enum Closing
    {
        /// <summary>The merchant cancels it.</summary>
        Cancel,

        /// <summary>The expiry sweep expires it.</summary>
        Sweep,

        /// <summary>A payment arriving after its expiry finds it unswept and expires it.</summary>
        LatePayment,
    }

    [Theory]
    [InlineData(Closing.Cancel)]
    [InlineData(Closing.Sweep)]
    [InlineData(Closing.LatePayment)]
    public async Task Monthly_Revenue_Moves_A_Closed_Invoices_Payments_Out_Of_Revenue_In_The_Month_It_Closed_Leaving_Earlier_Months_As_Reported(Closing closing)
    {
        _kit.Clock.Set(Instant.FromUtc(2026, 1, 20, 12, 0));
        var merchant = await _kit.MerchantAsync();
        var invoice = await _kit.Invoices.CreateInvoiceAsync(merchant.Id, new CreateInvoiceRequest(100m, "XLM", "x") { ExpiresAt = Instant.FromUtc(2026, 2, 15, 0, 0) });
        await _kit.SubmitAsync(merchant, _kit.Pay(merchant.WalletAddress, 50m, memo: invoice.Memo));
        var january = new MonthlyRevenue(new YearMonth(2026, 1), Money.Of(50m, Xlm), 1, Money.Zero(Xlm), Money.Zero(Xlm));
        Assert.Equal([january], await _kit.Payments.GetMonthlyRevenueAsync(merchant.Id));

        switch (closing)
        {
            case Closing.Cancel:
                _kit.Clock.Set(Instant.FromUtc(2026, 2, 10, 9, 0));
                await _kit.Invoices.CancelInvoiceAsync(merchant.Id, invoice.Id);
                break;
            case Closing.Sweep:
                _kit.Clock.Set(Instant.FromUtc(2026, 2, 20, 9, 0));
                Assert.Equal(1, await _kit.Invoices.ExpireDueAsync());
                break;
            default:
                _kit.Clock.Set(Instant.FromUtc(2026, 2, 20, 9, 0));
                var late = await _kit.SubmitAsync(merchant, _kit.Pay(merchant.WalletAddress, 7m, memo: invoice.Memo));
                Assert.Equal(PaymentsKitErrorCodes.PaidLate, late.Payment.ReviewCode);
                break;
        }

        var closed = await _kit.Invoices.GetInvoiceAsync(merchant.Id, invoice.Id);
        Assert.Equal(Money.Of(50m, Xlm), closed.Refundable);

        // January stays as reported; February, when the ledger moved the 50 out of revenue, shows the move.
        var monthly = await _kit.Payments.GetMonthlyRevenueAsync(merchant.Id);
        Assert.Equal(
            [new MonthlyRevenue(new YearMonth(2026, 2), Money.Of(-50m, Xlm), 0, Money.Of(50m, Xlm), Money.Zero(Xlm)), january],
            monthly);
        var startOfFebruary = Instant.FromUtc(2026, 2, 1, 0, 0);
        var revenue = await _kit.Ledger.FindAccountByCodeAsync(merchant.Id, InvoicingLedgerAccounts.Revenue(Xlm));
        var overpayments = await _kit.Ledger.FindAccountByCodeAsync(merchant.Id, InvoicingLedgerAccounts.Overpayments(Xlm));
        var revenueInJanuary = (await _kit.Ledger.GetBalanceAsync(merchant.Id, revenue!.Id, startOfFebruary - Duration.FromTicks(1))).Posted;
        var overpaymentsInJanuary = (await _kit.Ledger.GetBalanceAsync(merchant.Id, overpayments!.Id, startOfFebruary - Duration.FromTicks(1))).Posted;
        Assert.Equal((january.Total, january.Overpayments), (revenueInJanuary, overpaymentsInJanuary));
        Assert.Equal(
            (monthly[0].Total, monthly[0].Overpayments),
            (await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Revenue(Xlm), Xlm) - revenueInJanuary,
                await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Overpayments(Xlm), Xlm) - overpaymentsInJanuary));

        // The all-time figures are the months' sum.
        var byAsset = Assert.Single(await _kit.Payments.GetRevenueByAssetAsync(merchant.Id));
        Assert.Equal(new AssetRevenue(Money.Zero(Xlm), 1, Money.Of(50m, Xlm), Money.Zero(Xlm)), byAsset);
    }

    /// <summary>The merchant's XLM books and both revenue queries say the same: revenue, overpayments, unapplied.</summary>
    /// <summary>A new merchant's invoice of 100 XLM, paid 25, now at its expiry (not swept).</summary>
    private async Task<(Merchant Merchant, Invoice Invoice)> PartlyPaidPastExpiryAsync()
    {
        _kit.Clock.Set(Instant.FromUtc(2026, 3, 10, 12, 0));
        var merchant = await _kit.MerchantAsync();
        var invoice = await _kit.Invoices.CreateInvoiceAsync(merchant.Id, new CreateInvoiceRequest(100m, "XLM", "x") { ExpiresAt = _kit.Clock.GetCurrentInstant() + Duration.FromMinutes(5) });
        await _kit.SubmitAsync(merchant, _kit.Pay(merchant.WalletAddress, 25m, memo: invoice.Memo));
        _kit.Clock.Advance(Duration.FromMinutes(5));
        return (merchant, invoice);
    }

    private async Task AssertBooksAsync(Merchant merchant, decimal revenue, decimal overpayments, decimal unapplied, int confirmed)
    {
        Assert.Equal(Money.Of(revenue, Xlm), await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Revenue(Xlm), Xlm));
        Assert.Equal(Money.Of(overpayments, Xlm), await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Overpayments(Xlm), Xlm));
        Assert.Equal(Money.Of(unapplied, Xlm), await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Unapplied(Xlm), Xlm));
        Assert.Equal(Money.Of(revenue + overpayments + unapplied, Xlm), await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Wallet(Xlm), Xlm));
        Assert.True((await _kit.Ledger.ReconcileAsync(merchant.Id)).IsClean);
        Assert.Equal([new AssetRevenue(Money.Of(revenue, Xlm), confirmed, Money.Of(overpayments, Xlm), Money.Zero(Xlm))], await _kit.Payments.GetRevenueByAssetAsync(merchant.Id));
        var month = _kit.Clock.GetCurrentInstant().InUtc().Date.ToYearMonth();
        Assert.Equal([new MonthlyRevenue(month, Money.Of(revenue, Xlm), confirmed, Money.Of(overpayments, Xlm), Money.Zero(Xlm))], await _kit.Payments.GetMonthlyRevenueAsync(merchant.Id));
    }

    /// <summary>
    /// Eight refund owners (invoices or payments) with three refunds each: listing one owner's refunds two at a time takes two
    /// pages, and the two lists read from the store three records, that owner's own, not the merchant's 24.
    /// </summary>
    private async Task AssertListingReadsOnlyItsRefundsAsync<TOwner>(
        Func<InvoicingHarness, Merchant, Task<TOwner>> createOwner,
        Func<InvoicingHarness, Merchant, TOwner, Task> refundOne,
        Func<InvoicingHarness, Merchant, TOwner, string?, Task<(int Count, string? NextCursor)>> listTwo)
    {
        ListCountingStore.Counter? lists = null;
        using var kit = await InvoicingHarness.CreateAsync(async builder =>
        {
            await UseStoreAsync(builder);
            lists = ListCountingStore.Decorate(builder.Services);
        });
        var merchant = await kit.MerchantAsync();
        var owners = new List<TOwner>();
        for (var i = 0; i < 8; i++)
        {
            owners.Add(await createOwner(kit, merchant));
        }

        foreach (var owner in owners)
        {
            for (var n = 0; n < 3; n++)
            {
                kit.Clock.Advance(Duration.FromSeconds(1));
                await refundOne(kit, merchant, owner);
            }
        }

        lists!.Reset();
        var first = await listTwo(kit, merchant, owners[5], null);
        var rest = await listTwo(kit, merchant, owners[5], first.NextCursor);

        Assert.Equal((2, 1, (string?)null), (first.Count, rest.Count, rest.NextCursor));
        Assert.Equal(3, lists.Listed);
    }

    private static (int Count, string? NextCursor) Counted<T>(PaymentsKit.Storage.Page<T> page) => (page.Items.Count, page.NextCursor);
}
