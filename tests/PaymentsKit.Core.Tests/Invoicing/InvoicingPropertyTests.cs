using FsCheck;
using FsCheck.Fluent;
using NodaTime;
using PaymentsKit.Invoicing;
using PaymentsKit.Ledger;

namespace PaymentsKit.Tests.Invoicing;

/// <summary>FsCheck properties of invoicing, run against any store (subclass per store).</summary>
public abstract class InvoicingPropertyTests : InvoicingStoreTests
{
    /// <summary>How many cases each property runs (fewer on slower stores).</summary>
    protected virtual int PropertyIterations => 40;

    private static readonly Asset Xlm = InvoicingHarness.Xlm;

    public enum Route
    {
        /// <summary>Matched by the invoice's memo.</summary>
        Memo,

        /// <summary>Submitted with the invoice id and no memo.</summary>
        Reference,

        /// <summary>Paid in USDC: kept for review.</summary>
        WrongAsset,

        /// <summary>Submitted with the invoice id but another memo: kept for review.</summary>
        WrongMemo,
    }

    public enum Target
    {
        FirstInvoice,
        SecondInvoice,
        FirstLink,
        SecondLink,
        UnknownMemo,
    }

    public enum LinkAction
    {
        Pay,
        Underpay,
        Deactivate,
        Activate,
    }

    /// <summary>How an invoice of a monthly-revenue history ends.</summary>
    public enum ExpiringLinkAction
    {
        Pay,
        Deactivate,
        Activate,
        Advance,
        Sweep,
        SweepAhead,
    }

    public enum Ending
    {
        /// <summary>It stays as its payment left it.</summary>
        Open,

        /// <summary>The merchant cancels it.</summary>
        Cancel,

        /// <summary>The expiry sweep expires it.</summary>
        Sweep,

        /// <summary>A payment after its expiry finds it unswept and expires it.</summary>
        LatePayment,
    }

    [Fact]
    public void Monthly_Revenue_Is_Each_Months_Ledger_Postings_And_Sums_To_The_All_Time_Totals_Meets_Specification()
    {
        // Per invoice of 20 XLM: what is paid (0 to 30: unpaid, partly, fully or over), the day it is created and paid, how
        // it ends how many days later, whether what it owes back is then refunded, whether a link is paid that day, and
        // whether a payment that matches nothing (kept for review, booked as unapplied) arrives that day, part of it refunded
        // when what the invoice owes back is.
        var gen = Gen.NonEmptyListOf(
            from paid in Gen.Choose(0, 30)
            from day in Gen.Choose(0, 150)
            from ending in Gen.Elements(Enum.GetValues<Ending>())
            from endsAfter in Gen.Choose(0, 60)
            from refund in Gen.Elements(false, true)
            from link in Gen.Elements(false, true)
            from stray in Gen.Elements(false, true)
            select new InvoiceHistory(paid, day, ending, endsAfter, refund, link, stray));
        Prop.ForAll(Arb.From(gen), histories => Blocking(() => MonthlyBooksAsync(histories)))
            .Check(Config.QuickThrowOnFailure.WithMaxTest(PropertyIterations).WithEndSize(8));
    }

    public enum RefundStep
    {
        Pay,
        PayWrongAsset,
        Cancel,
        Expire,
        Refund,
        RefundAllDue,
        RefundOneUnitOverDue,
        RefundPayment,
    }

    [Fact]
    public void AmountPaid_IsTheSumOfConfirmedPayments_Meets_Specification()
    {
        var gen =
            from price in Gen.Choose(1, 20_000)
            from payments in Gen.ListOf(
                from route in Gen.Elements(Enum.GetValues<Route>())
                from cents in Gen.Choose(1, 12_000)
                select (route, cents))
            from cancelAt in Gen.Choose(-1, 6)
            select (price, payments, cancelAt);
        Prop.ForAll(Arb.From(gen), input => Blocking(() => AmountPaidAsync(input.price, input.payments, input.cancelAt)))
            .Check(Config.QuickThrowOnFailure.WithMaxTest(PropertyIterations).WithEndSize(12));
    }

    [Fact]
    public void A_Payment_Is_Attached_To_At_Most_One_Invoice_Or_Link_Meets_Specification()
    {
        var gen = Gen.ListOf(
            from target in Gen.Elements(Enum.GetValues<Target>())
            from resubmit in Gen.Frequency((4, Gen.Constant(false)), (1, Gen.Constant(true)))
            from pick in Gen.Choose(0, 1000)
            select (target, resubmit, pick));
        Prop.ForAll(Arb.From(gen), steps => Blocking(() => AttachmentAsync(steps)))
            .Check(Config.QuickThrowOnFailure.WithMaxTest(PropertyIterations).WithEndSize(16));
    }

    [Fact]
    public void Link_Uses_Never_Exceed_MaxUses_And_Follow_The_Model_Meets_Specification()
    {
        var gen =
            from maxUses in Gen.Choose(1, 5)
            from actions in Gen.ListOf(Gen.Frequency(
                (6, Gen.Constant(LinkAction.Pay)),
                (1, Gen.Constant(LinkAction.Underpay)),
                (1, Gen.Constant(LinkAction.Deactivate)),
                (1, Gen.Constant(LinkAction.Activate))))
            select (maxUses, actions);
        Prop.ForAll(Arb.From(gen), input => Blocking(() => LinkUsesAsync(input.maxUses, input.actions)))
            .Check(Config.QuickThrowOnFailure.WithMaxTest(PropertyIterations).WithEndSize(16));
    }

    /// <summary>One invoice's part of a monthly-revenue history (see the property).</summary>
    public sealed record InvoiceHistory(int Paid, int Day, Ending Ending, int EndsAfter, bool Refund, bool PaysLink, bool Stray);

    [Fact]
    public void Refunds_Never_Exceed_What_Is_Owed_Back_And_The_Invoicing_Books_Balance_Meets_Specification()
    {
        var gen =
            from prices in Gen.Choose(1, 5_000).ArrayOf(2)
            from steps in Gen.ListOf(
                from kind in Gen.Frequency(
                    (4, Gen.Constant(RefundStep.Pay)),
                    (1, Gen.Constant(RefundStep.PayWrongAsset)),
                    (1, Gen.Constant(RefundStep.Cancel)),
                    (1, Gen.Constant(RefundStep.Expire)),
                    (4, Gen.Constant(RefundStep.Refund)),
                    (1, Gen.Constant(RefundStep.RefundAllDue)),
                    (2, Gen.Constant(RefundStep.RefundOneUnitOverDue)),
                    (2, Gen.Constant(RefundStep.RefundPayment)))
                from target in Gen.Choose(0, 1)

                // Refunds are mostly small, so that several add up against what one invoice owes back.
                from cents in kind == RefundStep.Refund ? Gen.Choose(1, 1_500) : Gen.Choose(1, 6_000)
                select (kind, target, cents))
            select (prices, steps);
        Prop.ForAll(Arb.From(gen), input => Blocking(() => RefundsAsync(input.prices, input.steps)))
            .Check(Config.QuickThrowOnFailure.WithMaxTest(PropertyIterations).WithStartSize(4).WithEndSize(20));
    }

    [Fact]
    public void An_Expiring_Links_Activity_And_Uses_Follow_The_Model_Through_Its_Expiry_And_Sweeps_Meets_Specification()
    {
        var gen =
            from maxUses in Gen.Choose(1, 5)
            from actions in Gen.ListOf(Gen.Frequency(
                (5, Gen.Constant(ExpiringLinkAction.Pay)),
                (2, Gen.Constant(ExpiringLinkAction.Advance)),
                (1, Gen.Constant(ExpiringLinkAction.Deactivate)),
                (2, Gen.Constant(ExpiringLinkAction.Activate)),
                (1, Gen.Constant(ExpiringLinkAction.Sweep)),
                (1, Gen.Constant(ExpiringLinkAction.SweepAhead))))
            select (maxUses, actions);
        Prop.ForAll(Arb.From(gen), input => Blocking(() => ExpiringLinkAsync(input.maxUses, input.actions)))
            .Check(Config.QuickThrowOnFailure.WithMaxTest(PropertyIterations).WithEndSize(20));
    }

    /// <summary>A create of the uniqueness property, each naming a value from a small pool.</summary>
    public enum UniqueCreate
    {
        /// <summary>An invoice with a chosen number (its memo generated).</summary>
        InvoiceNumber,

        /// <summary>An invoice with a chosen memo (its number generated).</summary>
        InvoiceMemo,

        /// <summary>An invoice with a chosen number and memo.</summary>
        InvoiceNumberAndMemo,

        /// <summary>A payment link with a chosen slug.</summary>
        LinkSlug,

        /// <summary>A client with a chosen email, in either case.</summary>
        ClientEmail,

        /// <summary>A merchant with a chosen wallet and, half the time, a chosen email in either case.</summary>
        MerchantWallet,
    }

    [Fact]
    public void A_Duplicate_Is_Always_Duplicate_Key_And_Never_A_Second_Record_Meets_Specification()
    {
        var gen = Gen.ListOf(
            from create in Gen.Elements(Enum.GetValues<UniqueCreate>())
            from merchant in Gen.Choose(0, 1)
            from value in Gen.Choose(0, 2)
            from other in Gen.Choose(0, 2)
            from upper in Gen.Elements(false, true)
            select (create, merchant, value, other, upper));
        Prop.ForAll(Arb.From(gen), creates => Blocking(() => UniquenessAsync(creates)))
            .Check(Config.QuickThrowOnFailure.WithMaxTest(PropertyIterations).WithStartSize(4).WithEndSize(24));
    }

    private async Task UniquenessAsync(List<(UniqueCreate Create, int Merchant, int Value, int Other, bool Upper)> creates)
    {
        using var kit = await HarnessAsync();
        Merchant[] merchants = [await kit.MerchantAsync(), await kit.MerchantAsync()];

        // What the docs make unique: numbers, memos and client emails per merchant (emails in any case), slugs, wallets and
        // merchant emails globally.
        var numbers = new HashSet<(int, string)>();
        var memos = new HashSet<(int, string)>();
        var clientEmails = new HashSet<(int, string)>();
        var slugs = new HashSet<string>(StringComparer.Ordinal);
        var wallets = new HashSet<string>(StringComparer.Ordinal);
        var merchantEmails = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var invoices = new int[2];
        var links = new int[2];
        var clients = new int[2];
        var registered = new Dictionary<string, MerchantId>(StringComparer.Ordinal);

        foreach (var (create, m, value, other, upper) in creates)
        {
            var merchant = merchants[m].Id;
            var email = upper ? $"PERSON{value}@EXAMPLE.COM" : $"person{value}@example.com";
            var number = $"N-{value}";
            var memo = $"memo-{(create == UniqueCreate.InvoiceNumberAndMemo ? other : value)}";
            Func<Task> call;
            bool taken;
            Action record;
            switch (create)
            {
                case UniqueCreate.InvoiceNumber:
                case UniqueCreate.InvoiceMemo:
                case UniqueCreate.InvoiceNumberAndMemo:
                {
                    var withNumber = create != UniqueCreate.InvoiceMemo;
                    var withMemo = create != UniqueCreate.InvoiceNumber;
                    taken = (withNumber && numbers.Contains((m, number))) || (withMemo && memos.Contains((m, memo)));
                    call = async () => await kit.Invoices.CreateInvoiceAsync(
                        merchant, new CreateInvoiceRequest(1m, "XLM", "x") { Number = withNumber ? number : null, Memo = withMemo ? memo : null });
                    record = () =>
                    {
                        invoices[m]++;
                        if (withNumber)
                        {
                            numbers.Add((m, number));
                        }

                        if (withMemo)
                        {
                            memos.Add((m, memo));
                        }
                    };
                    break;
                }

                case UniqueCreate.LinkSlug:
                {
                    var slug = $"slug-{value}";
                    taken = slugs.Contains(slug);
                    call = async () => await kit.Links.CreatePaymentLinkAsync(merchant, new CreatePaymentLinkRequest("Ticket", 1m, "XLM") { Slug = slug });
                    record = () =>
                    {
                        slugs.Add(slug);
                        links[m]++;
                    };
                    break;
                }

                case UniqueCreate.ClientEmail:
                    taken = clientEmails.Contains((m, email.ToUpperInvariant()));
                    call = async () => await kit.Merchants.CreateClientAsync(merchant, new CreateClientRequest("client") { Email = email });
                    record = () =>
                    {
                        clientEmails.Add((m, email.ToUpperInvariant()));
                        clients[m]++;
                    };
                    break;
                default:
                {
                    var wallet = $"wallet-{value}";
                    var merchantEmail = other == 0 ? email : null;
                    taken = wallets.Contains(wallet) || (merchantEmail is not null && merchantEmails.Contains(merchantEmail));
                    MerchantId? created = null;
                    call = async () => created = (await kit.Merchants.RegisterMerchantAsync(new RegisterMerchantRequest("stellar", wallet) { Email = merchantEmail })).Id;
                    record = () =>
                    {
                        wallets.Add(wallet);
                        registered[wallet] = created!.Value;
                        if (merchantEmail is not null)
                        {
                            merchantEmails.Add(merchantEmail);
                        }
                    };
                    break;
                }
            }

            if (taken)
            {
                var refused = await Assert.ThrowsAsync<PaymentsKitException>(call);
                Assert.Equal(PaymentsKitErrorCodes.DuplicateKey, refused.Code);
            }
            else
            {
                await call();
                record();
            }
        }

        for (var m = 0; m < 2; m++)
        {
            Assert.Equal(invoices[m], (await kit.Invoices.ListInvoicesAsync(merchants[m].Id, limit: 1000)).Items.Count);
            Assert.Equal(links[m], (await kit.Links.ListPaymentLinksAsync(merchants[m].Id, limit: 1000)).Items.Count);
            Assert.Equal(clients[m], (await kit.Merchants.ListClientsAsync(merchants[m].Id, limit: 1000)).Items.Count);
        }

        foreach (var (wallet, id) in registered)
        {
            Assert.Equal(id, (await kit.Merchants.FindMerchantByWalletAsync("stellar", wallet))?.Id);
        }
    }

    /// <summary>
    /// Keyed refunds racing over two overpaid invoices and two payments holding USDC for review, with keys from a small pool:
    /// each key records exactly one invoice refund and, kept apart from it, one payment refund, of whichever invoice or payment
    /// it named; every request equal to the one that won (10 and 10.00 alike) gets that refund back, every other request with
    /// the key (another amount, transaction hash, invoice or payment) is <c>idempotency_conflict</c>, and the invoices, payments
    /// and ledger hold exactly the winning refunds.
    /// </summary>
    [Fact]
    public void Racing_Refunds_Take_Effect_Once_Per_Idempotency_Key_Meets_Specification()
    {
        var calls = (from payment in Gen.Elements(false, true) from target in Gen.Choose(0, 1) from key in Gen.Choose(0, 1) from variant in Gen.Choose(0, 3)
                     select (payment, target, key, variant)).ListOf();
        Prop.ForAll(Arb.From(calls.Where(c => c.Count > 0)), requests => Blocking(() => KeyedRefundsAsync(requests)))
            .Check(Config.QuickThrowOnFailure.WithMaxTest(PropertyIterations).WithStartSize(4).WithEndSize(12));
    }

    /// <summary>Four refunds; the first two differ only in how the amount is written, so they are one request.</summary>
    private static (int Request, RecordRefundRequest Refund) RefundVariant(int variant, Asset asset, string key) => variant switch
    {
        0 => (0, new RecordRefundRequest(10m, asset.Code) { IdempotencyKey = key }),
        1 => (0, new RecordRefundRequest(10.00m, asset.Code) { IdempotencyKey = key }),
        2 => (2, new RecordRefundRequest(12m, asset.Code) { IdempotencyKey = key }),
        _ => (3, new RecordRefundRequest(10m, asset.Code) { IdempotencyKey = key, TransactionHash = "refund-tx" }),
    };

    private async Task KeyedRefundsAsync(IReadOnlyList<(bool Payment, int Target, int Key, int Variant)> requests)
    {
        using var kit = await HarnessAsync();
        var merchant = await kit.MerchantAsync();

        // Each invoice owes 50 XLM back and each payment holds 50 USDC: two keys refund at most 24 of either, so none is refused for want of money.
        Invoice[] invoices = [await kit.PaidInvoiceAsync(merchant, 10m, 60m), await kit.PaidInvoiceAsync(merchant, 10m, 60m)];
        var review = await kit.InvoiceAsync(merchant, 10m);
        await kit.SubmitAsync(merchant, kit.Pay(merchant.WalletAddress, 50m, InvoicingHarness.Usdc, review.Memo), review.Id);
        await kit.SubmitAsync(merchant, kit.Pay(merchant.WalletAddress, 50m, InvoicingHarness.Usdc, review.Memo), review.Id);
        var payments = (await kit.AllPaymentsAsync(merchant)).Where(p => p.Amount.Asset == InvoicingHarness.Usdc).ToArray();
        Assert.Equal(2, payments.Length);
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        async Task<((Guid Id, Guid Target, Money Amount)? Refund, string? Code)> Refund(bool payment, int target, int key, int variant)
        {
            await gate.Task;
            try
            {
                if (payment)
                {
                    var recorded = await kit.Payments.RecordRefundAsync(merchant.Id, payments[target].Id, RefundVariant(variant, InvoicingHarness.Usdc, $"refund-{key}").Refund);
                    return ((recorded.Id.Value, recorded.PaymentId.Value, recorded.Amount), null);
                }
                else
                {
                    var recorded = await kit.Payments.RecordRefundAsync(merchant.Id, invoices[target].Id, RefundVariant(variant, Xlm, $"refund-{key}").Refund);
                    return ((recorded.Id.Value, recorded.InvoiceId.Value, recorded.Amount), null);
                }
            }
            catch (PaymentsKitException ex)
            {
                return (null, ex.Code);
            }
        }

        var running = requests.Select(r => Task.Run(() => Refund(r.Payment, r.Target, r.Key, r.Variant))).ToArray();
        gate.SetResult();
        var outcomes = await Task.WhenAll(running);

        var recordedIds = new HashSet<Guid>();
        var refunded = new decimal[2, 2];
        var won = new int[2, 2];
        foreach (var group in requests.Zip(outcomes).GroupBy(c => (c.First.Payment, c.First.Key)))
        {
            var winners = group.Where(c => c.Second.Refund is not null).ToList();
            Assert.NotEmpty(winners);
            var (winnerTarget, winner) = (winners[0].First.Target, RefundVariant(winners[0].First.Variant, Xlm, "").Request);
            var refund = winners[0].Second.Refund!.Value;
            Assert.True(recordedIds.Add(refund.Id), $"{refund.Id} was returned for two keys");
            var targetId = group.Key.Payment ? payments[winnerTarget].Id.Value : invoices[winnerTarget].Id.Value;
            Assert.Equal((targetId, RefundVariant(winner, Xlm, "").Refund.Amount), (refund.Target, refund.Amount.Amount));
            refunded[group.Key.Payment ? 1 : 0, winnerTarget] += refund.Amount.Amount;
            won[group.Key.Payment ? 1 : 0, winnerTarget]++;
            foreach (var (request, (returned, code)) in group)
            {
                var what = $"{(request.Payment ? "payment" : "invoice")} {request.Target} refund-{request.Key} variant {request.Variant}";
                if (request.Target == winnerTarget && RefundVariant(request.Variant, Xlm, "").Request == winner)
                {
                    Assert.True(returned?.Id == refund.Id, $"{what}: {code ?? returned?.Id.ToString()} instead of {refund.Id}");
                }
                else
                {
                    Assert.True(code == PaymentsKitErrorCodes.IdempotencyConflict, $"{what} after target {winnerTarget} request {winner}: {code ?? "accepted"}");
                }
            }
        }

        for (var t = 0; t < 2; t++)
        {
            var invoice = await kit.Invoices.GetInvoiceAsync(merchant.Id, invoices[t].Id);
            Assert.Equal(refunded[0, t], invoice.Refunded?.Amount ?? 0m);
            Assert.Equal(won[0, t], (await kit.Payments.ListRefundsAsync(merchant.Id, invoice.Id, null, 100)).Items.Count);
            Assert.Equal(won[1, t], (await kit.Payments.ListRefundsAsync(merchant.Id, payments[t].Id, null, 100)).Items.Count);
            Assert.Equal(Money.Of(50m - refunded[0, t], Xlm), invoice.RefundDue);
            var payment = (await kit.AllPaymentsAsync(merchant)).Single(p => p.Id == payments[t].Id);
            Assert.Equal(refunded[1, t], SumIn(payment.Refunded, InvoicingHarness.Usdc).Amount);
            Assert.Equal(Money.Of(50m - refunded[1, t], InvoicingHarness.Usdc), SumIn(payment.HeldUnapplied, InvoicingHarness.Usdc));
        }

        Assert.Equal(Money.Of(100m - refunded[0, 0] - refunded[0, 1], Xlm), await kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Overpayments(Xlm), Xlm));
        Assert.Equal(Money.Of(120m - refunded[0, 0] - refunded[0, 1], Xlm), await kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Wallet(Xlm), Xlm));
        Assert.Equal(
            Money.Of(100m - refunded[1, 0] - refunded[1, 1], InvoicingHarness.Usdc),
            await kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Unapplied(InvoicingHarness.Usdc), InvoicingHarness.Usdc));
        Assert.Equal(
            Money.Of(100m - refunded[1, 0] - refunded[1, 1], InvoicingHarness.Usdc),
            await kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Wallet(InvoicingHarness.Usdc), InvoicingHarness.Usdc));
        Assert.True((await kit.Ledger.ReconcileAsync(merchant.Id)).IsClean);
    }

    private static void Blocking(Func<Task> body) => Task.Run(body).GetAwaiter().GetResult();

    private async Task AmountPaidAsync(int priceCents, List<(Route Route, int Cents)> payments, int cancelAt)
    {
        using var kit = await HarnessAsync();
        var merchant = await kit.MerchantAsync();
        var invoice = await kit.InvoiceAsync(merchant, priceCents / 100m);
        var cancelled = false;
        for (var i = 0; i < payments.Count; i++)
        {
            if (i == cancelAt && (await kit.Invoices.GetInvoiceAsync(merchant.Id, invoice.Id)).Status == InvoiceStatus.Pending)
            {
                await kit.Invoices.CancelInvoiceAsync(merchant.Id, invoice.Id);
                cancelled = true;
            }

            var (route, cents) = payments[i];
            var amount = cents / 100m;
            var hash = route switch
            {
                Route.Memo => kit.Pay(merchant.WalletAddress, amount, memo: invoice.Memo),
                Route.WrongAsset => kit.Pay(merchant.WalletAddress, amount, InvoicingHarness.Usdc, invoice.Memo),
                Route.WrongMemo => kit.Pay(merchant.WalletAddress, amount, memo: "other-memo"),
                _ => kit.Pay(merchant.WalletAddress, amount),
            };
            await kit.SubmitAsync(merchant, hash, route == Route.Memo ? null : invoice.Id);
        }

        var stored = await kit.Invoices.GetInvoiceAsync(merchant.Id, invoice.Id);
        var attached = (await kit.AllPaymentsAsync(merchant)).Where(p => p.InvoiceId == invoice.Id).ToList();
        Assert.Equal(payments.Count, attached.Count);
        var confirmed = attached.Where(p => p.Status == PaymentStatus.Confirmed).Aggregate(Money.Zero(Xlm), (sum, p) => sum + p.Amount);
        Assert.Equal(confirmed, stored.AmountPaid);
        Assert.Equal(stored.Status == InvoiceStatus.Paid ? Money.Max(confirmed - stored.Amount, Money.Zero(Xlm)) : Money.Zero(Xlm), stored.Overpaid);
        Assert.Equal(stored.Overpaid, attached.Select(p => p.Excess).OfType<Money>().Aggregate(Money.Zero(Xlm), (sum, e) => sum + e));
        Assert.Equal(cancelled ? InvoiceStatus.Cancelled : confirmed >= stored.Amount ? InvoiceStatus.Paid : InvoiceStatus.Pending, stored.Status);
        Assert.Equal(confirmed, await kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Revenue(Xlm), Xlm) + await kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Overpayments(Xlm), Xlm));
        Assert.All(attached.Where(p => p.Status == PaymentStatus.NeedsReview), p => Assert.NotNull(p.ReviewCode));
    }

    private async Task MonthlyBooksAsync(List<InvoiceHistory> histories)
    {
        using var kit = await HarnessAsync();
        var start = Instant.FromUtc(2026, 1, 10, 0, 0);
        kit.Clock.Set(start);
        var merchant = await kit.MerchantAsync();
        var link = await kit.LinkAsync(merchant, 3m);

        // The histories' steps run in time order, interleaved: each at its instant (or just after, the clock never goes back).
        var steps = new List<(Instant At, Func<Task> Run)>();
        foreach (var history in histories)
        {
            var created = start + Duration.FromDays(history.Day) + Duration.FromMinutes(steps.Count);
            var ends = created + Duration.FromDays(history.EndsAfter) + Duration.FromHours(2);
            var expiresAt = history.Ending == Ending.Cancel ? ends + Duration.FromDays(1) : ends;
            var invoice = new InvoiceId[1];
            steps.Add((created, async () => invoice[0] = (await kit.Invoices.CreateInvoiceAsync(merchant.Id, new CreateInvoiceRequest(20m, "XLM", "x") { ExpiresAt = expiresAt })).Id));
            if (history.Paid > 0)
            {
                steps.Add((created + Duration.FromHours(1), async () => await kit.SubmitAsync(merchant, kit.Pay(merchant.WalletAddress, history.Paid), invoice[0])));
            }

            if (history.PaysLink)
            {
                steps.Add((created + Duration.FromHours(1), async () => await kit.SubmitAsync(merchant, kit.Pay(merchant.WalletAddress, 3m), slug: link.Slug)));
            }

            var stray = new PaymentId[1];
            if (history.Stray)
            {
                steps.Add((created + Duration.FromHours(1), async () => stray[0] = (await kit.SubmitAsync(merchant, kit.Pay(merchant.WalletAddress, 4m, memo: "matches-nothing"))).Payment.Id));
                if (history.Refund)
                {
                    steps.Add((ends + Duration.FromHours(3), async () => await kit.Payments.RecordRefundAsync(merchant.Id, stray[0], new RecordRefundRequest(3m, "XLM"))));
                }
            }

            steps.Add(history.Ending switch
            {
                Ending.Cancel => (ends, async () => await kit.Invoices.CancelInvoiceAsync(merchant.Id, invoice[0])),
                Ending.Sweep => (ends + Duration.FromHours(1), async () => await kit.Invoices.ExpireDueAsync()),
                Ending.LatePayment => (ends + Duration.FromHours(1), async () => await kit.SubmitAsync(merchant, kit.Pay(merchant.WalletAddress, 1m), invoice[0])),
                _ => (ends, () => Task.CompletedTask),
            });
            if (history.Refund)
            {
                steps.Add((ends + Duration.FromHours(3), async () =>
                {
                    var owing = await kit.Invoices.GetInvoiceAsync(merchant.Id, invoice[0]);
                    if (owing.Status != InvoiceStatus.Pending && owing.RefundDue.IsPositive)
                    {
                        await kit.Payments.RecordRefundAsync(merchant.Id, owing.Id, new RecordRefundRequest(owing.RefundDue.Amount, "XLM"));
                    }
                }));
            }
        }

        foreach (var (at, run) in steps.OrderBy(s => s.At))
        {
            if (at > kit.Clock.GetCurrentInstant())
            {
                kit.Clock.Set(at);
            }

            try
            {
                await run();
            }
            catch (PaymentsKitException ex) when (ex.Code == PaymentsKitErrorCodes.InvalidTransition)
            {
                // Cancelling an invoice its payment settled is refused; the history goes on.
            }
        }

        // What is kept for review stays in unapplied until refunded, and never reaches the revenue queries' figures.
        var held = (await kit.AllPaymentsAsync(merchant)).SelectMany(p => p.HeldUnapplied).Aggregate(Money.Zero(Xlm), (sum, m) => sum + m);
        Assert.Equal(held, await kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Unapplied(Xlm), Xlm));
        Assert.Equal(
            await kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Wallet(Xlm), Xlm),
            await kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Revenue(Xlm), Xlm) + await kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Overpayments(Xlm), Xlm) + held);

        var monthly = await kit.Payments.GetMonthlyRevenueAsync(merchant.Id);
        var byAsset = await kit.Payments.GetRevenueByAssetAsync(merchant.Id);
        Assert.All(monthly, m => Assert.Equal(Xlm, m.Total.Asset));
        Assert.Equal(
            byAsset.Select(r => (r.Total, r.PaymentCount, r.Overpayments, r.Refunded)),
            monthly.Count == 0 ? [] : [(
                monthly.Aggregate(Money.Zero(Xlm), (sum, m) => sum + m.Total),
                monthly.Sum(m => m.PaymentCount),
                monthly.Aggregate(Money.Zero(Xlm), (sum, m) => sum + m.Overpayments),
                monthly.Aggregate(Money.Zero(Xlm), (sum, m) => sum + m.Refunded))]);

        // Each month shows what the ledger posted in it: a closed month never changes afterwards.
        var revenue = await kit.Ledger.FindAccountByCodeAsync(merchant.Id, InvoicingLedgerAccounts.Revenue(Xlm));
        var overpayments = await kit.Ledger.FindAccountByCodeAsync(merchant.Id, InvoicingLedgerAccounts.Overpayments(Xlm));
        async Task<Money> PostedBefore(LedgerAccount? account, YearMonth month) =>
            account is null
                ? Money.Zero(Xlm)
                : (await kit.Ledger.GetBalanceAsync(merchant.Id, account.Id, month.OnDayOfMonth(1).AtStartOfDayInZone(DateTimeZone.Utc).ToInstant() - Duration.FromTicks(1))).Posted;
        var now = kit.Clock.GetCurrentInstant().InUtc().Date.ToYearMonth();
        for (var month = start.InUtc().Date.ToYearMonth(); month <= now; month = month.PlusMonths(1))
        {
            var next = month.PlusMonths(1);
            var reported = monthly.SingleOrDefault(m => m.Month == month);
            Assert.Equal(
                (reported?.Total ?? Money.Zero(Xlm), (reported?.Overpayments ?? Money.Zero(Xlm)) - (reported?.Refunded ?? Money.Zero(Xlm))),
                (await PostedBefore(revenue, next) - await PostedBefore(revenue, month), await PostedBefore(overpayments, next) - await PostedBefore(overpayments, month)));
        }
    }

    private async Task RefundsAsync(int[] pricesCents, List<(RefundStep Kind, int Target, int Cents)> steps)
    {
        using var kit = await HarnessAsync();
        var merchant = await kit.MerchantAsync();
        var unit = Money.FromMinorUnits(1, Xlm);
        var zero = Money.Zero(Xlm);
        var invoices = new List<Invoice>();
        foreach (var cents in pricesCents)
        {
            invoices.Add(await kit.InvoiceAsync(merchant, cents / 100m));
        }

        var (received, sentBack, unappliedUsdc) = (zero, zero, Money.Zero(InvoicingHarness.Usdc));
        foreach (var (kind, target, cents) in steps)
        {
            var before = await kit.Invoices.GetInvoiceAsync(merchant.Id, invoices[target].Id);
            var refund = kind switch
            {
                RefundStep.RefundAllDue => before.RefundDue,
                RefundStep.RefundOneUnitOverDue => before.RefundDue + unit,
                _ => Money.Of(cents / 100m, Xlm),
            };
            // A payment refund sends back part or all of what a wrong-asset payment holds, or more.
            var held = (await kit.AllPaymentsAsync(merchant)).Where(p => p.HeldUnapplied.Any(m => m.Asset == InvoicingHarness.Usdc)).ToList();
            var payment = held.Count == 0 ? null : held[cents % held.Count];
            var holds = SumIn(payment?.HeldUnapplied, InvoicingHarness.Usdc);
            var paymentRefund = cents % 3 == 0 ? holds : Money.Of(cents / 100m, InvoicingHarness.Usdc);
            string? refusal = null;
            try
            {
                switch (kind)
                {
                    case RefundStep.RefundPayment when payment is null:
                        break;
                    case RefundStep.RefundPayment:
                        await kit.Payments.RecordRefundAsync(merchant.Id, payment.Id, new RecordRefundRequest(paymentRefund.Amount, InvoicingHarness.Usdc.Code));
                        unappliedUsdc -= paymentRefund;
                        break;
                    case RefundStep.Pay:
                        await kit.SubmitAsync(merchant, kit.Pay(merchant.WalletAddress, cents / 100m, memo: before.Memo));
                        received += Money.Of(cents / 100m, Xlm);
                        break;
                    case RefundStep.PayWrongAsset:
                        await kit.SubmitAsync(merchant, kit.Pay(merchant.WalletAddress, cents / 100m, InvoicingHarness.Usdc, before.Memo), before.Id);
                        unappliedUsdc += Money.Of(cents / 100m, InvoicingHarness.Usdc);
                        break;
                    case RefundStep.Cancel:
                        await kit.Invoices.CancelInvoiceAsync(merchant.Id, before.Id);
                        break;
                    case RefundStep.Expire:
                        kit.Clock.Advance(Duration.FromHours(25));
                        await kit.Invoices.ExpireDueAsync();
                        break;
                    default:
                        await kit.Payments.RecordRefundAsync(merchant.Id, before.Id, new RecordRefundRequest(refund.Amount, Xlm.Code));
                        sentBack += refund;
                        break;
                }
            }
            catch (PaymentsKitException ex)
            {
                refusal = ex.Code;
            }

            // A refund is refused exactly when it is not positive, nothing can be owed back yet, or it is more than is owed back now.
            var expected = kind switch
            {
                RefundStep.Cancel when before.Status == InvoiceStatus.Expired => PaymentsKitErrorCodes.Expired,
                RefundStep.Cancel when before.Status != InvoiceStatus.Pending => PaymentsKitErrorCodes.InvalidTransition,
                RefundStep.Refund or RefundStep.RefundAllDue or RefundStep.RefundOneUnitOverDue =>
                    !refund.IsPositive ? PaymentsKitErrorCodes.AmountOutOfRange
                    : before.Status == InvoiceStatus.Pending ? PaymentsKitErrorCodes.InvalidTransition
                    : refund > before.RefundDue ? PaymentsKitErrorCodes.AmountOutOfRange
                    : null,
                RefundStep.RefundPayment when payment is not null && paymentRefund > holds => PaymentsKitErrorCodes.AmountOutOfRange,
                _ => null,
            };
            Assert.Equal(expected, refusal);
            await AssertRefundBooksAsync(kit, merchant, invoices, received, sentBack, unappliedUsdc);
        }
    }

    private static Money SumIn(IEnumerable<Money>? amounts, Asset asset) =>
        (amounts ?? []).Where(m => m.Asset == asset).Aggregate(Money.Zero(asset), (sum, m) => sum + m);

    private static async Task AssertRefundBooksAsync(
        InvoicingHarness kit, Merchant merchant, List<Invoice> invoices, Money received, Money sentBack, Money unappliedUsdc)
    {
        var zero = Money.Zero(Xlm);
        var payments = await kit.AllPaymentsAsync(merchant);
        var (refundDue, revenue) = (zero, zero);

        // A payment never refunds more than it booked as unapplied in an asset, and holds the difference.
        foreach (var payment in payments)
        {
            foreach (var booked in payment.BookedUnapplied ?? [])
            {
                var refunded = SumIn(payment.Refunded, booked.Asset);
                Assert.True(refunded <= booked, $"{payment.Id} refunded {refunded} of {booked} booked");
                Assert.Equal(booked - refunded, SumIn(payment.HeldUnapplied, booked.Asset));
            }
        }

        Assert.Equal(SumIn(payments.SelectMany(p => p.HeldUnapplied), InvoicingHarness.Usdc), unappliedUsdc);
        foreach (var created in invoices)
        {
            var invoice = await kit.Invoices.GetInvoiceAsync(merchant.Id, created.Id);
            var confirmed = payments.Where(p => p.InvoiceId == invoice.Id && p.Status == PaymentStatus.Confirmed).Aggregate(zero, (sum, p) => sum + p.Amount);
            Assert.Equal(confirmed, invoice.AmountPaid);
            Assert.Equal(Money.Max(invoice.Amount - invoice.AmountPaid, zero), invoice.AmountDue);
            Assert.Equal(invoice.Status == InvoiceStatus.Paid ? Money.Max(invoice.AmountPaid - invoice.Amount, zero) : zero, invoice.Overpaid);
            var closedWithMoney = invoice.Status is InvoiceStatus.Cancelled or InvoiceStatus.Expired && invoice.AmountPaid.IsPositive;
            Assert.Equal(closedWithMoney ? invoice.AmountPaid : null, invoice.Refundable);

            var refunds = (await kit.Payments.ListRefundsAsync(merchant.Id, invoice.Id, null, 1000)).Items;
            Assert.Equal(refunds.Count == 0 ? null : refunds.Aggregate(zero, (sum, r) => sum + r.Amount), invoice.Refunded);
            Assert.True(!invoice.RefundDue.IsNegative, $"{invoice.Id} refunded {invoice.Refunded} beyond overpaid {invoice.Overpaid} + refundable {invoice.Refundable}");
            refundDue += invoice.RefundDue;
            revenue += invoice.Status switch
            {
                InvoiceStatus.Paid => invoice.Amount,
                InvoiceStatus.Pending => invoice.AmountPaid,
                _ => zero,
            };

            // Only the table's transitions happened, each from the state the one before it left.
            var status = InvoiceStatus.Pending;
            foreach (var transition in invoice.Transitions)
            {
                Assert.Equal(status, transition.From);
                Assert.True(InvoiceLifecycle.Machine.CanTransition(transition.From, transition.To), $"{transition.From} -> {transition.To}");
                status = transition.To;
            }

            Assert.Equal(status, invoice.Status);
        }

        var wallet = await kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Wallet(Xlm), Xlm);
        var overpayments = await kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Overpayments(Xlm), Xlm);
        var unapplied = await kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Unapplied(Xlm), Xlm);
        Assert.Equal(received - sentBack, wallet);
        Assert.Equal(refundDue, overpayments);
        Assert.Equal(revenue, await kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Revenue(Xlm), Xlm));
        Assert.Equal(wallet, revenue + overpayments + unapplied);
        Assert.Equal(
            payments.Where(p => p.Status == PaymentStatus.NeedsReview && p.Amount.Asset == Xlm).Aggregate(zero, (sum, p) => sum + p.Amount),
            unapplied);
        Assert.Equal(unappliedUsdc, await kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Unapplied(InvoicingHarness.Usdc), InvoicingHarness.Usdc));
        Assert.True((await kit.Ledger.ReconcileAsync(merchant.Id)).IsClean);
    }

    private async Task AttachmentAsync(List<(Target Target, bool Resubmit, int Pick)> steps)
    {
        using var kit = await HarnessAsync();
        var merchant = await kit.MerchantAsync();
        Invoice[] invoices = [await kit.InvoiceAsync(merchant, 30m), await kit.InvoiceAsync(merchant, 30m)];
        PaymentLink[] links = [await kit.LinkAsync(merchant, 10m, maxUses: 3), await kit.LinkAsync(merchant, 10m)];
        var submitted = new List<(string Hash, Target Target)>();
        foreach (var (target, resubmit, pick) in steps)
        {
            var hash = resubmit && submitted.Count > 0
                ? submitted[pick % submitted.Count].Hash
                : kit.Pay(merchant.WalletAddress, 10m, memo: target switch
                {
                    Target.FirstInvoice => invoices[0].Memo,
                    Target.UnknownMemo => "nobody",
                    _ => null,
                });
            try
            {
                await (target switch
                {
                    Target.FirstInvoice or Target.UnknownMemo => kit.SubmitAsync(merchant, hash),
                    Target.SecondInvoice => kit.SubmitAsync(merchant, hash, invoices[1].Id),
                    Target.FirstLink => kit.SubmitAsync(merchant, hash, slug: links[0].Slug),
                    _ => kit.SubmitAsync(merchant, hash, slug: links[1].Slug),
                });
                submitted.Add((hash, target));
            }
            catch (PaymentsKitException ex) when (ex.Code == PaymentsKitErrorCodes.DuplicateKey && resubmit)
            {
                // Claiming a recorded transaction for another target is refused: exactly what is checked below.
            }
        }

        var payments = await kit.AllPaymentsAsync(merchant);
        Assert.Equal(payments.Count, payments.Select(p => p.TransactionHash).Distinct().Count());
        Assert.Equal(submitted.Select(s => s.Hash).Distinct().Count(), payments.Count);
        Assert.All(payments, p => Assert.False(p.InvoiceId is not null && p.LinkId is not null));
        foreach (var invoice in invoices)
        {
            var details = await kit.Invoices.GetInvoiceDetailsAsync(merchant.Id, invoice.Id);
            Assert.Equal(payments.Where(p => p.InvoiceId == invoice.Id).Select(p => p.Id.ToString()).Order(StringComparer.Ordinal), details.Payments.Select(p => p.Id.ToString()).Order(StringComparer.Ordinal));
            Assert.Equal(
                payments.Where(p => p.InvoiceId == invoice.Id && p.Status == PaymentStatus.Confirmed).Aggregate(Money.Zero(Xlm), (sum, p) => sum + p.Amount),
                details.Invoice.AmountPaid);
        }

        foreach (var link in links)
        {
            var stored = await kit.Links.GetPaymentLinkAsync(merchant.Id, link.Id);
            Assert.Equal(payments.Count(p => p.LinkId == link.Id && p.Status == PaymentStatus.Confirmed), stored.CurrentUses);
        }

        // The ledger saw each recorded payment once.
        Assert.Equal(Money.Of(10m * payments.Count, Xlm), await kit.BalanceAsync(merchant, InvoicingLedgerAccounts.Wallet(Xlm), Xlm));
    }

    /// <summary>
    /// A link expiring 610 s after its creation. Every send and every call happens at a whole multiple of 20 s after it
    /// (payments take 20 s to be final, the clock advances by 5 minutes), and a transaction is included within 5 s of its
    /// send, so whether anything is before or after the expiry never depends on the chain's block times.
    /// </summary>
    private async Task ExpiringLinkAsync(int maxUses, List<ExpiringLinkAction> actions)
    {
        using var kit = await HarnessAsync();
        var merchant = await kit.MerchantAsync();
        var created = kit.Clock.GetCurrentInstant();
        var expiresAt = created + Duration.FromSeconds(610);
        var link = await kit.LinkAsync(merchant, 10m, maxUses, expiresAt);
        var (active, uses) = (true, 0);
        foreach (var action in actions)
        {
            var now = kit.Clock.GetCurrentInstant();
            var expired = now >= expiresAt;
            switch (action)
            {
                case ExpiringLinkAction.Advance:
                    kit.Clock.Advance(Duration.FromMinutes(5));
                    break;
                case ExpiringLinkAction.Deactivate:
                    active = false;
                    Assert.False((await kit.Links.SetPaymentLinkActiveAsync(merchant.Id, link.Id, false)).Active);
                    break;
                case ExpiringLinkAction.Activate when expired:
                    await AsyncAssert.ThrowsCodeAsync(PaymentsKitErrorCodes.Expired, () => kit.Links.SetPaymentLinkActiveAsync(merchant.Id, link.Id, true).AsTask());
                    break;
                case ExpiringLinkAction.Activate:
                    active = true;
                    Assert.True((await kit.Links.SetPaymentLinkActiveAsync(merchant.Id, link.Id, true)).Active);
                    break;
                case ExpiringLinkAction.Sweep or ExpiringLinkAction.SweepAhead:
                    // However far ahead of the clock the sweep's now runs, a link is deactivated only once the clock passed its expiry.
                    var sweptBy = action == ExpiringLinkAction.Sweep ? now : now + Duration.FromHours(1);
                    var deactivates = active && expired;
                    Assert.Equal(deactivates ? 1 : 0, (await kit.Links.ExpireDueAsync(sweptBy)).Count);
                    active &= !deactivates;
                    break;
                default:
                    var payment = (await kit.SubmitAsync(merchant, kit.Pay(merchant.WalletAddress, 10m), slug: link.Slug)).Payment;
                    var review = expired ? PaymentsKitErrorCodes.Expired
                        : !active ? PaymentsKitErrorCodes.LinkInactive
                        : uses >= maxUses ? PaymentsKitErrorCodes.LinkUsedUp
                        : null;
                    Assert.Equal(review, payment.ReviewCode);
                    uses += review is null ? 1 : 0;
                    break;
            }

            var stored = await kit.Links.GetPaymentLinkAsync(merchant.Id, link.Id);
            Assert.Equal((active, uses), (stored.Active, stored.CurrentUses));
            Assert.True(stored.CurrentUses <= stored.MaxUses);
        }
    }

    private async Task LinkUsesAsync(int maxUses, List<LinkAction> actions)
    {
        using var kit = await HarnessAsync();
        var merchant = await kit.MerchantAsync();
        var link = await kit.LinkAsync(merchant, 10m, maxUses);
        var (active, uses) = (true, 0);
        foreach (var action in actions)
        {
            switch (action)
            {
                case LinkAction.Deactivate or LinkAction.Activate:
                    active = action == LinkAction.Activate;
                    await kit.Links.SetPaymentLinkActiveAsync(merchant.Id, link.Id, active);
                    break;
                default:
                    var underpaid = action == LinkAction.Underpay;
                    var payment = (await kit.SubmitAsync(merchant, kit.Pay(merchant.WalletAddress, underpaid ? 9.99m : 10m), slug: link.Slug)).Payment;
                    var expected = !active ? PaymentsKitErrorCodes.LinkInactive
                        : uses >= maxUses ? PaymentsKitErrorCodes.LinkUsedUp
                        : underpaid ? PaymentsKitErrorCodes.AmountMismatch
                        : null;
                    Assert.Equal(expected, payment.ReviewCode);
                    if (expected is null)
                    {
                        uses++;
                    }

                    var now = await kit.Links.GetPaymentLinkAsync(merchant.Id, link.Id);
                    Assert.Equal(uses, now.CurrentUses);
                    Assert.True(now.CurrentUses <= now.MaxUses);
                    break;
            }
        }
    }
}
