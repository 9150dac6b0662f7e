using NodaTime;
using PaymentsKit.Invoicing;
using PaymentsKit.Testing;

namespace PaymentsKit.Tests.Invoicing;

/// <summary>Races on use limits, transaction hashes and invoice totals (subclass per store).</summary>
public abstract class InvoicingConcurrencyTests : InvoicingStoreTests
{
    private static readonly Asset Xlm = InvoicingHarness.Xlm;

    [Fact]
    public async Task SixtyFourConcurrentPayments_OnALinkWithTenUsesLeft_ApplyExactlyTen()
    {
        var merchant = await _kit.MerchantAsync();
        var link = await _kit.LinkAsync(merchant, 5m, maxUses: 12);
        await _kit.SubmitAsync(merchant, _kit.Pay(merchant.WalletAddress, 5m), slug: link.Slug);
        await _kit.SubmitAsync(merchant, _kit.Pay(merchant.WalletAddress, 5m), slug: link.Slug);
        Assert.Equal(10, (await _kit.Links.GetPaymentLinkAsync(merchant.Id, link.Id)).RemainingUses);

        var hashes = Enumerable.Range(0, 64).Select(i => _kit.Send(merchant.WalletAddress, 5m, from: $"payer-{i}")).ToList();
        _kit.Clock.Advance(InvoicingHarness.ToFinality);
        var results = await RaceAsync(hashes.Select<string, Func<Task<PaymentResult>>>(hash => () => _kit.SubmitAsync(merchant, hash, slug: link.Slug)));

        Assert.All(results, r => Assert.True(r.Created));
        Assert.Equal(10, results.Count(r => r.Payment.Status == PaymentStatus.Confirmed));
        Assert.All(results.Where(r => r.Payment.Status != PaymentStatus.Confirmed), r => Assert.Equal(PaymentsKitErrorCodes.LinkUsedUp, r.Payment.ReviewCode));
        var used = await _kit.Links.GetPaymentLinkAsync(merchant.Id, link.Id);
        Assert.Equal((12, 0), (used.CurrentUses, used.RemainingUses!.Value));

        // Every one of the 66 payments is recorded and booked: none lost, none twice.
        var payments = await _kit.AllPaymentsAsync(merchant);
        Assert.Equal(66, payments.Count);
        Assert.Equal(66, payments.Select(p => p.TransactionHash).Distinct().Count());
        Assert.Equal(12, payments.Count(p => p.Status == PaymentStatus.Confirmed));
        Assert.Equal(Money.Of(330m, Xlm), await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Wallet(Xlm), Xlm));
        Assert.Equal(Money.Of(60m, Xlm), await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Revenue(Xlm), Xlm));
        Assert.Equal(Money.Of(270m, Xlm), await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Unapplied(Xlm), Xlm));
    }

    [Fact]
    public async Task TheSameHash_SubmittedThirtyTwoTimesConcurrently_IsRecordedOnce()
    {
        var merchant = await _kit.MerchantAsync();
        var invoice = await _kit.InvoiceAsync(merchant, 50m);
        var hash = _kit.Pay(merchant.WalletAddress, 50m, memo: invoice.Memo);

        var results = await RaceAsync(Enumerable.Range(0, 32).Select<int, Func<Task<PaymentResult>>>(i =>
            () => i % 2 == 0 ? _kit.SubmitAsync(merchant, hash) : _kit.SubmitAsync(merchant, hash, invoice.Id)));

        Assert.Single(results, r => r.Created);
        Assert.Single(results.Select(r => r.Payment.Id).Distinct());
        Assert.Single(await _kit.AllPaymentsAsync(merchant));
        var paid = await _kit.Invoices.GetInvoiceAsync(merchant.Id, invoice.Id);
        Assert.Equal((InvoiceStatus.Paid, Money.Of(50m, Xlm), Money.Zero(Xlm)), (paid.Status, paid.AmountPaid, paid.Overpaid));
        Assert.Equal(Money.Of(50m, Xlm), await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Wallet(Xlm), Xlm));
    }

    [Fact]
    public async Task TheSameHash_RacedForTwoInvoices_PaysOnlyOne()
    {
        var merchant = await _kit.MerchantAsync();
        var first = await _kit.InvoiceAsync(merchant, 10m);
        var second = await _kit.InvoiceAsync(merchant, 10m);
        var hash = _kit.Pay(merchant.WalletAddress, 10m);

        var outcomes = await RaceAsync(Enumerable.Range(0, 16).Select<int, Func<Task<InvoiceId?>>>(i => async () =>
        {
            try
            {
                return (await _kit.SubmitAsync(merchant, hash, i % 2 == 0 ? first.Id : second.Id)).Payment.InvoiceId;
            }
            catch (PaymentsKitException ex) when (ex.Code == PaymentsKitErrorCodes.DuplicateKey)
            {
                return null;
            }
        }));

        var winner = Assert.Single(outcomes.Where(o => o is not null).Distinct());
        var paid = new[] { first, second }.Count(i => i.Id == winner);
        Assert.Equal(1, paid);
        var amounts = new[]
        {
            (await _kit.Invoices.GetInvoiceAsync(merchant.Id, first.Id)).AmountPaid.Amount,
            (await _kit.Invoices.GetInvoiceAsync(merchant.Id, second.Id)).AmountPaid.Amount,
        };
        Assert.Equal([0m, 10m], amounts.Order());
    }

    [Fact]
    public async Task ConcurrentPartialPayments_AddUpExactly()
    {
        var merchant = await _kit.MerchantAsync();
        var invoice = await _kit.InvoiceAsync(merchant, 100m);
        var hashes = Enumerable.Range(1, 24).Select(i => _kit.Send(merchant.WalletAddress, i * 0.5m, memo: invoice.Memo, from: $"payer-{i}")).ToList();
        _kit.Clock.Advance(InvoicingHarness.ToFinality);
        var results = await RaceAsync(hashes.Select<string, Func<Task<PaymentResult>>>(hash => () => _kit.SubmitAsync(merchant, hash)));

        // 0.5 + 1.0 + … + 12.0 = 150: all confirmed, the total paid, the excess beyond 100 recorded once.
        Assert.All(results, r => Assert.Equal(PaymentStatus.Confirmed, r.Payment.Status));
        var paid = await _kit.Invoices.GetInvoiceAsync(merchant.Id, invoice.Id);
        Assert.Equal((InvoiceStatus.Paid, Money.Of(150m, Xlm), Money.Of(50m, Xlm)), (paid.Status, paid.AmountPaid, paid.Overpaid));
        Assert.Equal(Money.Of(50m, Xlm), results.Select(r => r.Payment.Excess).OfType<Money>().Aggregate(Money.Zero(Xlm), (a, b) => a + b));
        Assert.Single(paid.Transitions);
        Assert.Equal(Money.Of(100m, Xlm), await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Revenue(Xlm), Xlm));
        Assert.Equal(Money.Of(50m, Xlm), await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Overpayments(Xlm), Xlm));
    }

    [Fact]
    public async Task PartialPayments_Racing_A_Cancellation_End_Either_Refundable_Or_Unapplied_Never_As_Revenue()
    {
        var merchant = await _kit.MerchantAsync();
        var invoice = await _kit.InvoiceAsync(merchant, 100m);
        await _kit.SubmitAsync(merchant, _kit.Pay(merchant.WalletAddress, 5m, memo: invoice.Memo, from: "payer-0"));
        var hashes = Enumerable.Range(1, 8).Select(i => _kit.Send(merchant.WalletAddress, 5m, memo: invoice.Memo, from: $"payer-{i}")).ToList();
        _kit.Clock.Advance(InvoicingHarness.ToFinality);
        var results = await RaceAsync(hashes
            .Select<string, Func<Task<object>>>(hash => async () => await _kit.SubmitAsync(merchant, hash))
            .Append(async () => await _kit.Invoices.CancelInvoiceAsync(merchant.Id, invoice.Id)));

        // Each payment was applied before the cancellation (and left revenue with it) or kept for review after it.
        var payments = results.OfType<PaymentResult>().Select(r => r.Payment).ToList();
        var applied = payments.Where(p => p.Status == PaymentStatus.Confirmed).Aggregate(Money.Of(5m, Xlm), (a, p) => a + p.Amount);
        Assert.All(payments.Where(p => p.Status != PaymentStatus.Confirmed), p => Assert.Equal(PaymentsKitErrorCodes.InvoiceCancelled, p.ReviewCode));
        var cancelled = await _kit.Invoices.GetInvoiceAsync(merchant.Id, invoice.Id);
        Assert.Equal((InvoiceStatus.Cancelled, applied), (cancelled.Status, cancelled.AmountPaid));
        Assert.Equal(applied, cancelled.Refundable);
        Assert.Equal(Money.Zero(Xlm), await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Revenue(Xlm), Xlm));
        Assert.Equal(applied, await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Overpayments(Xlm), Xlm));
        Assert.Equal(Money.Of(45m, Xlm) - applied, await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Unapplied(Xlm), Xlm));
        Assert.Equal(Money.Of(45m, Xlm), await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Wallet(Xlm), Xlm));
    }

    [Fact]
    public async Task SixteenConcurrentRefunds_OfOneInvoice_NeverExceedWhatItOwesBack()
    {
        var merchant = await _kit.MerchantAsync();
        var invoice = await _kit.PaidInvoiceAsync(merchant, 100m, 150m);

        var outcomes = await RaceAsync(Enumerable.Range(0, 16).Select<int, Func<Task<InvoiceRefund?>>>(_ => async () =>
        {
            try
            {
                return await _kit.Payments.RecordRefundAsync(merchant.Id, invoice.Id, new RecordRefundRequest(5m, "XLM"));
            }
            catch (PaymentsKitException ex) when (ex.Code == PaymentsKitErrorCodes.AmountOutOfRange)
            {
                return null;
            }
        }));

        var refunds = outcomes.OfType<InvoiceRefund>().ToList();
        Assert.Equal(10, refunds.Count);
        Assert.Equal(10, refunds.Select(r => r.Id).Distinct().Count());
        var refunded = await _kit.Invoices.GetInvoiceAsync(merchant.Id, invoice.Id);
        Assert.Equal(((Money?)Money.Of(50m, Xlm), Money.Zero(Xlm)), (refunded.Refunded, refunded.RefundDue));
        Assert.Equal(Money.Zero(Xlm), await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Overpayments(Xlm), Xlm));
        Assert.Equal(Money.Of(100m, Xlm), await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Wallet(Xlm), Xlm));
        Assert.True((await _kit.Ledger.ReconcileAsync(merchant.Id)).IsClean);
    }

    [Fact]
    public async Task SixteenConcurrentRefunds_WithOneIdempotencyKey_RecordOneRefund()
    {
        var merchant = await _kit.MerchantAsync();
        var invoice = await _kit.PaidInvoiceAsync(merchant, 100m, 150m);
        var request = new RecordRefundRequest(5m, "XLM") { IdempotencyKey = "refund-once" };

        var refunds = await RaceAsync(Enumerable.Range(0, 16).Select<int, Func<Task<InvoiceRefund>>>(_ => async () =>
            await _kit.Payments.RecordRefundAsync(merchant.Id, invoice.Id, request)));

        Assert.Single(refunds.Select(r => r.Id).Distinct());
        Assert.Equal((Money?)Money.Of(5m, Xlm), (await _kit.Invoices.GetInvoiceAsync(merchant.Id, invoice.Id)).Refunded);
        Assert.Equal(Money.Of(45m, Xlm), await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Overpayments(Xlm), Xlm));
        Assert.Equal(Money.Of(145m, Xlm), await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Wallet(Xlm), Xlm));
        Assert.True((await _kit.Ledger.ReconcileAsync(merchant.Id)).IsClean);
    }

    [Fact]
    public async Task SixteenConcurrentRefunds_OfOneUnappliedPayment_NeverExceedWhatItHolds()
    {
        var merchant = await _kit.MerchantAsync();
        var stray = (await _kit.SubmitAsync(merchant, _kit.Pay(merchant.WalletAddress, 50m))).Payment;
        Assert.Equal(PaymentStatus.NeedsReview, stray.Status);

        var outcomes = await RaceAsync(Enumerable.Range(0, 16).Select<int, Func<Task<PaymentRefund?>>>(_ => async () =>
        {
            try
            {
                return await _kit.Payments.RecordRefundAsync(merchant.Id, stray.Id, new RecordRefundRequest(5m, "XLM"));
            }
            catch (PaymentsKitException ex) when (ex.Code == PaymentsKitErrorCodes.AmountOutOfRange)
            {
                return null;
            }
        }));

        var refunds = outcomes.OfType<PaymentRefund>().ToList();
        Assert.Equal(10, refunds.Count);
        Assert.Equal(10, refunds.Select(r => r.Id).Distinct().Count());
        var refunded = await _kit.Payments.GetPaymentAsync(merchant.Id, stray.Id);
        Assert.Equal([Money.Of(50m, Xlm)], refunded.Refunded!);
        Assert.Empty(refunded.HeldUnapplied);
        Assert.Equal(Money.Zero(Xlm), await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Unapplied(Xlm), Xlm));
        Assert.Equal(Money.Zero(Xlm), await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Wallet(Xlm), Xlm));
        Assert.True((await _kit.Ledger.ReconcileAsync(merchant.Id)).IsClean);
    }

    [Fact]
    public async Task SixteenConcurrentRefunds_OfOneLinkPaymentsExcess_NeverExceedTheExcess()
    {
        var merchant = await _kit.MerchantAsync();
        var link = await _kit.LinkAsync(merchant, 10m);
        var generous = (await _kit.SubmitAsync(merchant, _kit.Pay(merchant.WalletAddress, 60m), slug: link.Slug)).Payment;
        Assert.Equal(Money.Of(50m, Xlm), generous.Excess);

        var outcomes = await RaceAsync(Enumerable.Range(0, 16).Select<int, Func<Task<PaymentRefund?>>>(_ => async () =>
        {
            try
            {
                return await _kit.Payments.RecordRefundAsync(merchant.Id, generous.Id, new RecordRefundRequest(5m, "XLM"));
            }
            catch (PaymentsKitException ex) when (ex.Code == PaymentsKitErrorCodes.AmountOutOfRange)
            {
                return null;
            }
        }));

        Assert.Equal(10, outcomes.OfType<PaymentRefund>().Select(r => r.Id).Distinct().Count());
        var refunded = await _kit.Payments.GetPaymentAsync(merchant.Id, generous.Id);
        Assert.Equal([Money.Of(50m, Xlm)], refunded.Refunded!);
        Assert.Equal(Money.Zero(Xlm), refunded.ExcessDue!.Value);
        Assert.Equal(Money.Zero(Xlm), await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Overpayments(Xlm), Xlm));
        Assert.Equal(Money.Of(10m, Xlm), await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Revenue(Xlm), Xlm));
        Assert.Equal(Money.Of(10m, Xlm), await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Wallet(Xlm), Xlm));
        Assert.True((await _kit.Ledger.ReconcileAsync(merchant.Id)).IsClean);
    }

    [Fact]
    public async Task Link_Payments_Racing_Refunds_Of_Earlier_Payments_Excess_Keep_Overpayments_Equal_To_What_The_Payments_Owe_Back()
    {
        var merchant = await _kit.MerchantAsync();
        var link = await _kit.LinkAsync(merchant, 10m, maxUses: 10);
        var earlier = new List<Payment>();
        for (var i = 0; i < 4; i++)
        {
            earlier.Add((await _kit.SubmitAsync(merchant, _kit.Pay(merchant.WalletAddress, 15m, from: $"early-{i}"), slug: link.Slug)).Payment);
        }

        var hashes = Enumerable.Range(0, 16).Select(i => _kit.Send(merchant.WalletAddress, 12m, from: $"payer-{i}")).ToList();
        _kit.Clock.Advance(InvoicingHarness.ToFinality);
        var payments = hashes.Select<string, Func<Task<bool>>>(hash => async () => (await _kit.SubmitAsync(merchant, hash, slug: link.Slug)).Created);
        var refunds = Enumerable.Range(0, 16).Select<int, Func<Task<bool>>>(i => async () =>
        {
            try
            {
                await _kit.Payments.RecordRefundAsync(merchant.Id, earlier[i % 4].Id, new RecordRefundRequest(2m, "XLM"));
                return true;
            }
            catch (PaymentsKitException ex) when (ex.Code == PaymentsKitErrorCodes.AmountOutOfRange)
            {
                return false;
            }
        });
        var outcomes = await RaceAsync(payments.Zip(refunds, (p, r) => new[] { p, r }).SelectMany(pair => pair));

        // Each earlier payment owed back 5: two refunds of 2 fit, a third does not. Six more payments fit the link's uses.
        Assert.Equal(16 + 8, outcomes.Count(created => created));
        var all = await _kit.AllPaymentsAsync(merchant);
        Assert.Equal(10, all.Count(p => p.Status == PaymentStatus.Confirmed));
        Assert.Equal(10, (await _kit.Links.GetPaymentLinkAsync(merchant.Id, link.Id)).CurrentUses);
        var owedBack = all.Select(p => p.ExcessDue).OfType<Money>().Aggregate(Money.Zero(Xlm), (sum, due) => sum + due);
        Assert.Equal(Money.Of((4 * 1m) + (6 * 2m), Xlm), owedBack);
        Assert.Equal(owedBack, await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Overpayments(Xlm), Xlm));
        Assert.Equal(Money.Of(100m, Xlm), await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Revenue(Xlm), Xlm));
        Assert.Equal(Money.Of(10 * 12m, Xlm), await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Unapplied(Xlm), Xlm));
        Assert.Equal(Money.Of((4 * 15m) + (16 * 12m) - 16m, Xlm), await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Wallet(Xlm), Xlm));
        var byAsset = Assert.Single(await _kit.Payments.GetRevenueByAssetAsync(merchant.Id));
        Assert.Equal(owedBack.Amount, byAsset.Overpayments.Amount - byAsset.Refunded.Amount);
        Assert.True((await _kit.Ledger.ReconcileAsync(merchant.Id)).IsClean);
    }

    [Fact]
    public async Task Cancellations_Racing_Each_Other_And_Payments_Cancel_Once_And_Move_Every_Applied_Payment_Out_Of_Revenue()
    {
        var merchant = await _kit.MerchantAsync();
        var invoice = await _kit.InvoiceAsync(merchant, 100m);
        var hashes = Enumerable.Range(1, 6).Select(i => _kit.Send(merchant.WalletAddress, 5m, memo: invoice.Memo, from: $"payer-{i}")).ToList();
        _kit.Clock.Advance(InvoicingHarness.ToFinality);

        var outcomes = await Race.RunAsync(
            hashes.Select(hash => ("pay", (Func<Task<object>>)(async () => await _kit.SubmitAsync(merchant, hash))))
                .Concat(Race.Times(6, "cancel", async () => (object)await _kit.Invoices.CancelInvoiceAsync(merchant.Id, invoice.Id))));

        Assert.All(outcomes.Where(o => o.Caller == "pay"), o => Assert.True(o.Won, o.ToString()));
        Assert.Single(outcomes, o => o.Caller == "cancel" && o.Won);
        Assert.All(outcomes.Where(o => !o.Won), o => Assert.Equal(PaymentsKitErrorCodes.InvalidTransition, o.Code));
        var cancelled = await _kit.Invoices.GetInvoiceAsync(merchant.Id, invoice.Id);
        Assert.Equal((InvoiceStatus.Pending, InvoiceStatus.Cancelled), (Assert.Single(cancelled.Transitions).From, cancelled.Status));
        var payments = outcomes.Where(o => o.Caller == "pay").Select(o => ((PaymentResult)o.Value!).Payment).ToList();
        var applied = payments.Where(p => p.Status == PaymentStatus.Confirmed).Aggregate(Money.Zero(Xlm), (a, p) => a + p.Amount);
        Assert.All(payments.Where(p => p.Status != PaymentStatus.Confirmed), p => Assert.Equal(PaymentsKitErrorCodes.InvoiceCancelled, p.ReviewCode));
        Assert.Equal((applied, applied == Money.Zero(Xlm) ? null : (Money?)applied), (cancelled.AmountPaid, cancelled.Refundable));
        Assert.Equal(Money.Zero(Xlm), await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Revenue(Xlm), Xlm));
        Assert.Equal(applied, await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Overpayments(Xlm), Xlm));
        Assert.Equal(Money.Of(30m, Xlm), await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Wallet(Xlm), Xlm));
        Assert.True((await _kit.Ledger.ReconcileAsync(merchant.Id)).IsClean);
    }

    [Fact]
    public async Task SixteenConcurrentRefunds_OfOneUnappliedPayment_WithOneIdempotencyKey_RecordOneRefund()
    {
        var merchant = await _kit.MerchantAsync();
        var stray = (await _kit.SubmitAsync(merchant, _kit.Pay(merchant.WalletAddress, 50m))).Payment;
        var request = new RecordRefundRequest(5m, "XLM") { IdempotencyKey = "refund-once" };

        var refunds = await RaceAsync(Enumerable.Range(0, 16).Select<int, Func<Task<PaymentRefund>>>(_ => async () =>
            await _kit.Payments.RecordRefundAsync(merchant.Id, stray.Id, request)));

        Assert.Single(refunds.Select(r => r.Id).Distinct());
        Assert.Equal([Money.Of(5m, Xlm)], (await _kit.Payments.GetPaymentAsync(merchant.Id, stray.Id)).Refunded!);
        Assert.Equal(Money.Of(45m, Xlm), await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Unapplied(Xlm), Xlm));
        Assert.True((await _kit.Ledger.ReconcileAsync(merchant.Id)).IsClean);
    }

    [Fact]
    public async Task Refunds_Racing_A_Cancellation_And_Payments_Never_Refund_More_Than_The_Cancelled_Invoice_Holds()
    {
        var merchant = await _kit.MerchantAsync();
        var invoice = await _kit.InvoiceAsync(merchant, 100m);
        await _kit.SubmitAsync(merchant, _kit.Pay(merchant.WalletAddress, 20m, memo: invoice.Memo, from: "payer-0"));
        var hashes = Enumerable.Range(1, 4).Select(i => _kit.Send(merchant.WalletAddress, 10m, memo: invoice.Memo, from: $"payer-{i}")).ToList();
        _kit.Clock.Advance(InvoicingHarness.ToFinality);

        // Refunds are refused while the invoice is pending and owed once the cancellation makes what was paid refundable;
        // each payment lands before or after it.
        var outcomes = await Race.RunAsync(
            hashes.Select(hash => ("pay", (Func<Task<object>>)(async () => await _kit.SubmitAsync(merchant, hash))))
                .Concat(Race.Times(2, "cancel", async () => (object)await _kit.Invoices.CancelInvoiceAsync(merchant.Id, invoice.Id)))
                .Concat(Race.Times(10, "refund", async () => (object)await _kit.Payments.RecordRefundAsync(merchant.Id, invoice.Id, new RecordRefundRequest(5m, "XLM")))));

        Assert.All(outcomes.Where(o => o.Caller == "pay"), o => Assert.True(o.Won, o.ToString()));
        Assert.Single(outcomes, o => o.Caller == "cancel" && o.Won);
        Assert.All(outcomes.Where(o => o.Caller == "cancel" && !o.Won), o => Assert.Equal(PaymentsKitErrorCodes.InvalidTransition, o.Code));
        Assert.All(outcomes.Where(o => o.Caller == "refund" && !o.Won), o => Assert.Contains(o.Code, new[] { PaymentsKitErrorCodes.InvalidTransition, PaymentsKitErrorCodes.AmountOutOfRange }));
        var cancelled = await _kit.Invoices.GetInvoiceAsync(merchant.Id, invoice.Id);
        var refunded = Money.Of(5m * outcomes.Count(o => o.Caller == "refund" && o.Won), Xlm);
        Assert.Equal(InvoiceStatus.Cancelled, cancelled.Status);
        Assert.Equal(refunded == Money.Zero(Xlm) ? null : (Money?)refunded, cancelled.Refunded);
        Assert.True(refunded <= cancelled.AmountPaid, $"refunded {refunded} of {cancelled.AmountPaid}");
        Assert.Equal(cancelled.AmountPaid - refunded, await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Overpayments(Xlm), Xlm));
        Assert.Equal(Money.Of(60m, Xlm) - refunded, await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Wallet(Xlm), Xlm));
        Assert.Equal(Money.Zero(Xlm), await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Revenue(Xlm), Xlm));
        Assert.True((await _kit.Ledger.ReconcileAsync(merchant.Id)).IsClean);
    }

    [Fact]
    public async Task Payments_Cancellations_And_Expiry_Sweeps_Racing_On_An_Overdue_Invoice_Expire_It_Once_And_Book_Nothing_As_Revenue()
    {
        var merchant = await _kit.MerchantAsync();
        var invoice = await _kit.Invoices.CreateInvoiceAsync(merchant.Id, new CreateInvoiceRequest(100m, "XLM", "x") { ExpiresAt = _kit.Clock.GetCurrentInstant() + Duration.FromMinutes(1) });
        var hashes = Enumerable.Range(1, 4).Select(i => _kit.Send(merchant.WalletAddress, 10m, memo: invoice.Memo, from: $"payer-{i}")).ToList();
        _kit.Clock.Advance(Duration.FromMinutes(2));

        // Included in time, submitted after the expiry: each pays the invoice unless it was expired first.
        var outcomes = await Race.RunAsync(
            hashes.Select(hash => ("pay", (Func<Task<object>>)(async () => await _kit.SubmitAsync(merchant, hash))))
                .Concat(Race.Times(4, "cancel", async () => (object)await _kit.Invoices.CancelInvoiceAsync(merchant.Id, invoice.Id)))
                .Concat(Race.Times(4, "sweep", async () => (object)await _kit.Invoices.ExpireDueAsync())));

        // Past its expiry an invoice can no longer be cancelled, and is refused alike however the race runs (still pending,
        // or expired by a sweep or a late payment); it expires exactly once.
        Assert.All(outcomes.Where(o => o.Caller != "cancel"), o => Assert.True(o.Won, o.ToString()));
        Assert.All(outcomes.Where(o => o.Caller == "cancel"), o => Assert.Equal(PaymentsKitErrorCodes.Expired, o.Code));
        var closed = await _kit.Invoices.GetInvoiceAsync(merchant.Id, invoice.Id);
        var transition = Assert.Single(closed.Transitions);
        Assert.Equal((InvoiceStatus.Pending, InvoiceStatus.Expired), (transition.From, transition.To));
        var payments = outcomes.Where(o => o.Caller == "pay").Select(o => ((PaymentResult)o.Value!).Payment).ToList();
        var applied = payments.Where(p => p.Status == PaymentStatus.Confirmed).Aggregate(Money.Zero(Xlm), (a, p) => a + p.Amount);
        Assert.All(payments.Where(p => p.Status != PaymentStatus.Confirmed), p => Assert.Equal(PaymentsKitErrorCodes.PaidLate, p.ReviewCode));
        Assert.Equal((applied, applied == Money.Zero(Xlm) ? null : (Money?)applied), (closed.AmountPaid, closed.Refundable));
        Assert.Equal(Money.Zero(Xlm), await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Revenue(Xlm), Xlm));
        Assert.Equal(applied, await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Overpayments(Xlm), Xlm));
        Assert.Equal(Money.Of(40m, Xlm) - applied, await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Unapplied(Xlm), Xlm));
        Assert.Equal(Money.Of(40m, Xlm), await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Wallet(Xlm), Xlm));
        Assert.True((await _kit.Ledger.ReconcileAsync(merchant.Id)).IsClean);
    }

    [Fact]
    public async Task Payments_Racing_A_Link_Deactivation_Each_Use_The_Link_Or_Wait_For_Review_Never_Past_Its_Uses()
    {
        var merchant = await _kit.MerchantAsync();
        var link = await _kit.LinkAsync(merchant, 5m, maxUses: 6);
        var hashes = Enumerable.Range(0, 10).Select(i => _kit.Send(merchant.WalletAddress, 5m, from: $"payer-{i}")).ToList();
        _kit.Clock.Advance(InvoicingHarness.ToFinality);

        var outcomes = await Race.RunAsync(
            hashes.Select(hash => ("pay", (Func<Task<object>>)(async () => await _kit.SubmitAsync(merchant, hash, slug: link.Slug))))
                .Concat(Race.Times(2, "deactivate", async () => (object)await _kit.Links.SetPaymentLinkActiveAsync(merchant.Id, link.Id, false))));

        Assert.All(outcomes, o => Assert.True(o.Won, o.ToString()));
        var payments = outcomes.Where(o => o.Caller == "pay").Select(o => ((PaymentResult)o.Value!).Payment).ToList();
        var confirmed = payments.Count(p => p.Status == PaymentStatus.Confirmed);
        Assert.All(payments.Where(p => p.Status != PaymentStatus.Confirmed), p => Assert.Contains(p.ReviewCode, new[] { PaymentsKitErrorCodes.LinkInactive, PaymentsKitErrorCodes.LinkUsedUp }));
        var final = await _kit.Links.GetPaymentLinkAsync(merchant.Id, link.Id);
        Assert.False(final.Active);
        Assert.True(confirmed <= 6);
        Assert.Equal(confirmed, final.CurrentUses);
        Assert.Equal(Money.Of(5m * confirmed, Xlm), await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Revenue(Xlm), Xlm));
        Assert.Equal(Money.Of(50m, Xlm), await _kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Wallet(Xlm), Xlm));
        Assert.True((await _kit.Ledger.ReconcileAsync(merchant.Id)).IsClean);
    }

    /// <summary>Starts every call on the thread pool, released together, and waits for all.</summary>
    private static async Task<T[]> RaceAsync<T>(IEnumerable<Func<Task<T>>> calls)
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var running = calls.Select(call => Task.Run(async () =>
        {
            await gate.Task;
            return await call();
        })).ToArray();
        gate.SetResult();
        return await Task.WhenAll(running);
    }
}
