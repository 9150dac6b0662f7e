using PaymentsKit.Invoicing;
using static PaymentsKit.Tests.Invoicing.AsyncAssert;

namespace PaymentsKit.Tests.Invoicing;

/// <summary>Merchant A can neither read nor pay into merchant B's objects through the services (subclass per store).</summary>
public abstract class TenantIsolationTests : InvoicingStoreTests
{
    /// <summary>How many cases each property runs (fewer on slower stores).</summary>
    protected virtual int PropertyIterations => 40;

    /// <summary>A step of the tenancy property: the merchant's own work, or an attempt on another merchant's record.</summary>
    public enum TenantStep
    {
        CreateInvoice,
        CreateLink,
        CreateClient,
        CreateApiKey,
        PayInvoice,
        PayLink,
        CancelInvoice,
        ToggleLink,
        ReadForeign,
        ChangeForeign,
        PayIntoForeign,
    }

    [Fact]
    public void Merchants_See_And_Change_Only_Their_Own_Records_Meets_Specification()
    {
        TenancyProperty.Check(
            PropertyIterations,
            TenancyAsync,
            (3, TenantStep.CreateInvoice),
            (2, TenantStep.CreateLink),
            (1, TenantStep.CreateClient),
            (1, TenantStep.CreateApiKey),
            (2, TenantStep.PayInvoice),
            (2, TenantStep.PayLink),
            (1, TenantStep.CancelInvoice),
            (1, TenantStep.ToggleLink),
            (3, TenantStep.ReadForeign),
            (3, TenantStep.ChangeForeign),
            (2, TenantStep.PayIntoForeign));
    }

    /// <summary>What one merchant made and what its records should now hold.</summary>
    private sealed class TenantModel(Merchant merchant)
    {
        public Merchant Merchant { get; } = merchant;

        public List<Invoice> Invoices { get; } = [];

        public List<PaymentLink> Links { get; } = [];

        public List<Client> Clients { get; } = [];

        public List<ApiKey> ApiKeys { get; } = [];

        public List<Payment> Payments { get; } = [];

        public decimal Revenue { get; set; }
    }

    private async Task TenancyAsync(List<(int Actor, TenantStep Step, int Pick)> steps)
    {
        using var kit = await HarnessAsync();
        var tenants = new List<TenantModel>();
        for (var i = 0; i < 3; i++)
        {
            tenants.Add(new TenantModel(await kit.MerchantAsync()));
        }

        foreach (var (actor, step, pick) in steps)
        {
            var me = tenants[actor];
            var other = tenants[(actor + 1 + (pick % 2)) % 3];
            var a = me.Merchant.Id;
            switch (step)
            {
                case TenantStep.CreateInvoice:
                    me.Invoices.Add(await kit.InvoiceAsync(me.Merchant, 1 + (pick % 50)));
                    break;
                case TenantStep.CreateLink:
                    me.Links.Add(await kit.LinkAsync(me.Merchant, 1 + (pick % 20)));
                    break;
                case TenantStep.CreateClient:
                    // Every merchant uses the same emails: they are unique per merchant only.
                    me.Clients.Add(await kit.Merchants.CreateClientAsync(a, new CreateClientRequest($"client {me.Clients.Count}") { Email = $"c{me.Clients.Count}@example.com" }));
                    break;
                case TenantStep.CreateApiKey:
                    me.ApiKeys.Add((await kit.ApiKeys.CreateApiKeyAsync(a, new CreateApiKeyRequest($"key {me.ApiKeys.Count}"))).ApiKey);
                    break;
                case TenantStep.PayInvoice when Pending(me) is { Count: > 0 } pending:
                {
                    var invoice = pending[pick % pending.Count];
                    var paid = (await kit.SubmitAsync(me.Merchant, kit.Pay(me.Merchant.WalletAddress, invoice.Amount.Amount, memo: invoice.Memo))).Payment;
                    me.Payments.Add(paid);
                    me.Revenue += invoice.Amount.Amount;
                    Replace(me.Invoices, await kit.Invoices.GetInvoiceAsync(a, invoice.Id), i => i.Id);
                    break;
                }

                case TenantStep.PayLink when me.Links.Where(l => l.Active).ToList() is { Count: > 0 } active:
                {
                    var link = active[pick % active.Count];
                    var paid = (await kit.SubmitAsync(me.Merchant, kit.Pay(me.Merchant.WalletAddress, link.Amount.Amount), slug: link.Slug)).Payment;
                    me.Payments.Add(paid);
                    me.Revenue += link.Amount.Amount;
                    Replace(me.Links, await kit.Links.GetPaymentLinkAsync(a, link.Id), l => l.Id);
                    break;
                }

                case TenantStep.CancelInvoice when Pending(me) is { Count: > 0 } pending:
                    Replace(me.Invoices, await kit.Invoices.CancelInvoiceAsync(a, pending[pick % pending.Count].Id), i => i.Id);
                    break;
                case TenantStep.ToggleLink when me.Links.Count > 0:
                {
                    var link = me.Links[pick % me.Links.Count];
                    Replace(me.Links, await kit.Links.SetPaymentLinkActiveAsync(a, link.Id, !link.Active), l => l.Id);
                    break;
                }

                case TenantStep.ReadForeign:
                    await ReadForeignAsync(kit, a, other, pick);
                    break;
                case TenantStep.ChangeForeign:
                    await ChangeForeignAsync(kit, a, other, pick);
                    break;
                case TenantStep.PayIntoForeign:
                    await PayIntoForeignAsync(kit, me.Merchant, other, pick);
                    break;
            }
        }

        foreach (var tenant in tenants)
        {
            await AssertOnlyOwnAsync(kit, tenant);
        }
    }

    private static List<Invoice> Pending(TenantModel tenant) => [.. tenant.Invoices.Where(i => i.Status == InvoiceStatus.Pending)];

    private static void Replace<T, TId>(List<T> records, T updated, Func<T, TId> id)
    {
        var at = records.FindIndex(r => EqualityComparer<TId>.Default.Equals(id(r), id(updated)));
        records[at] = updated;
    }

    private static async Task ReadForeignAsync(InvoicingHarness kit, MerchantId a, TenantModel other, int pick)
    {
        switch (pick % 6)
        {
            case 0 when other.Invoices.Count > 0:
            {
                var invoice = other.Invoices[pick % other.Invoices.Count];
                await ThrowsCodeAsync(PaymentsKitErrorCodes.NotFound, () => kit.Invoices.GetInvoiceAsync(a, invoice.Id).AsTask());
                await ThrowsCodeAsync(PaymentsKitErrorCodes.NotFound, () => kit.Invoices.GetInvoiceDetailsAsync(a, invoice.Id).AsTask());
                await ThrowsCodeAsync(PaymentsKitErrorCodes.NotFound, () => kit.Payments.ListRefundsAsync(a, invoice.Id).AsTask());
                break;
            }

            case 1 when other.Links.Count > 0:
            {
                var link = other.Links[pick % other.Links.Count];
                await ThrowsCodeAsync(PaymentsKitErrorCodes.NotFound, () => kit.Links.GetPaymentLinkAsync(a, link.Id).AsTask());
                await ThrowsCodeAsync(PaymentsKitErrorCodes.NotFound, () => kit.Links.GetPaymentLinkBySlugAsync(a, link.Slug).AsTask());
                break;
            }

            case 2 when other.Clients.Count > 0:
                await ThrowsCodeAsync(PaymentsKitErrorCodes.NotFound, () => kit.Merchants.GetClientAsync(a, other.Clients[pick % other.Clients.Count].Id).AsTask());
                break;
            case 3 when other.Payments.Count > 0:
            {
                var payment = other.Payments[pick % other.Payments.Count];
                await ThrowsCodeAsync(PaymentsKitErrorCodes.NotFound, () => kit.Payments.GetPaymentAsync(a, payment.Id).AsTask());
                await ThrowsCodeAsync(PaymentsKitErrorCodes.NotFound, () => kit.Payments.ListRefundsAsync(a, payment.Id).AsTask());
                Assert.Null(await kit.Payments.FindPaymentByTransactionAsync(a, payment.TransactionHash));
                break;
            }

            case 4 when other.Invoices.Count > 0:
                // Another merchant's client cannot be billed.
                if (other.Clients.Count > 0)
                {
                    var client = other.Clients[pick % other.Clients.Count].Id;
                    await ThrowsCodeAsync(PaymentsKitErrorCodes.NotFound, () => kit.Invoices.CreateInvoiceAsync(a, new CreateInvoiceRequest(1m, "XLM", "x") { ClientId = client }).AsTask());
                }

                break;
            case 5 when other.ApiKeys.Count > 0:
            {
                var key = other.ApiKeys[pick % other.ApiKeys.Count];
                await ThrowsCodeAsync(PaymentsKitErrorCodes.NotFound, () => kit.ApiKeys.RevokeApiKeyAsync(a, key.Id).AsTask());
                break;
            }
        }
    }

    private static async Task ChangeForeignAsync(InvoicingHarness kit, MerchantId a, TenantModel other, int pick)
    {
        var b = other.Merchant.Id;
        switch (pick % 4)
        {
            case 0 when other.Invoices.Count > 0:
            {
                var invoice = other.Invoices[pick % other.Invoices.Count];
                await ThrowsCodeAsync(PaymentsKitErrorCodes.NotFound, () => kit.Invoices.CancelInvoiceAsync(a, invoice.Id).AsTask());
                await ThrowsCodeAsync(PaymentsKitErrorCodes.NotFound, () => kit.Payments.RecordRefundAsync(a, invoice.Id, new RecordRefundRequest(1m, "XLM")).AsTask());
                Assert.Equal(invoice, await kit.Invoices.GetInvoiceAsync(b, invoice.Id));
                break;
            }

            case 1 when other.Links.Count > 0:
            {
                var link = other.Links[pick % other.Links.Count];
                await ThrowsCodeAsync(PaymentsKitErrorCodes.NotFound, () => kit.Links.SetPaymentLinkActiveAsync(a, link.Id, !link.Active).AsTask());
                Assert.Equal(link, await kit.Links.GetPaymentLinkAsync(b, link.Id));
                break;
            }

            case 2 when other.Payments.Count > 0:
            {
                var payment = other.Payments[pick % other.Payments.Count];
                await ThrowsCodeAsync(PaymentsKitErrorCodes.NotFound, () => kit.Payments.RecordRefundAsync(a, payment.Id, new RecordRefundRequest(1m, "XLM")).AsTask());
                Assert.Equal(payment, await kit.Payments.GetPaymentAsync(b, payment.Id));
                break;
            }

            case 3 when other.ApiKeys.Count > 0:
            {
                var key = other.ApiKeys[pick % other.ApiKeys.Count];
                await ThrowsCodeAsync(PaymentsKitErrorCodes.NotFound, () => kit.ApiKeys.RevokeApiKeyAsync(a, key.Id).AsTask());
                Assert.Contains(key, (await kit.ApiKeys.ListApiKeysAsync(b, limit: 1000)).Items);
                break;
            }
        }
    }

    private static async Task PayIntoForeignAsync(InvoicingHarness kit, Merchant me, TenantModel other, int pick)
    {
        // The money reached this merchant's own wallet, but names another merchant's invoice or link: neither is found.
        if (pick % 2 == 0 && other.Invoices.Count > 0)
        {
            var invoice = other.Invoices[pick % other.Invoices.Count];
            var hash = kit.Pay(me.WalletAddress, invoice.Amount.Amount);
            await ThrowsCodeAsync(PaymentsKitErrorCodes.NotFound, () => kit.SubmitAsync(me, hash, invoice.Id));
            Assert.Equal(invoice, await kit.Invoices.GetInvoiceAsync(other.Merchant.Id, invoice.Id));
        }
        else if (other.Links.Count > 0)
        {
            var link = other.Links[pick % other.Links.Count];
            var hash = kit.Pay(me.WalletAddress, link.Amount.Amount);
            await ThrowsCodeAsync(PaymentsKitErrorCodes.NotFound, () => kit.SubmitAsync(me, hash, slug: link.Slug));
            Assert.Equal(link, await kit.Links.GetPaymentLinkAsync(other.Merchant.Id, link.Id));
        }
    }

    private static async Task AssertOnlyOwnAsync(InvoicingHarness kit, TenantModel tenant)
    {
        var m = tenant.Merchant.Id;
        Assert.Equal(Sorted(tenant.Invoices, i => i.Id.Value), Sorted((await kit.Invoices.ListInvoicesAsync(m, limit: 1000)).Items, i => i.Id.Value));
        Assert.Equal(Sorted(tenant.Links, l => l.Id.Value), Sorted((await kit.Links.ListPaymentLinksAsync(m, limit: 1000)).Items, l => l.Id.Value));
        Assert.Equal(Sorted(tenant.Clients, c => c.Id.Value), Sorted((await kit.Merchants.ListClientsAsync(m, limit: 1000)).Items, c => c.Id.Value));
        Assert.Equal(Sorted(tenant.ApiKeys, k => k.Id.Value), Sorted((await kit.ApiKeys.ListApiKeysAsync(m, limit: 1000)).Items, k => k.Id.Value));
        Assert.Equal(Sorted(tenant.Payments, p => p.Id.Value), Sorted(await kit.AllPaymentsAsync(tenant.Merchant), p => p.Id.Value));
        Assert.Equal(
            Sorted(Pending(tenant), i => i.Id.Value),
            Sorted((await kit.Invoices.ListPendingInvoicesAsync(m, limit: 1000)).Items, p => p.Invoice).Select(i => i.Id.Value));
        Assert.Equal(tenant.Payments.Count, (await kit.Payments.ListPaymentHistoryAsync(m, limit: 1000)).Items.Count);

        // The own records hold exactly what the merchant's own steps left in them.
        foreach (var invoice in tenant.Invoices)
        {
            Assert.Equal(invoice, await kit.Invoices.GetInvoiceAsync(m, invoice.Id));
        }

        foreach (var link in tenant.Links)
        {
            Assert.Equal(link, await kit.Links.GetPaymentLinkAsync(m, link.Id));
        }

        // Revenue and the ledger balances reflect the merchant's own payments only (each paid exactly what it asked).
        var revenue = await kit.Payments.GetRevenueByAssetAsync(m);
        if (tenant.Revenue == 0)
        {
            Assert.Empty(revenue);
        }
        else
        {
            var xlm = Assert.Single(revenue);
            Assert.Equal((Money.Of(tenant.Revenue, InvoicingHarness.Xlm), tenant.Payments.Count), (xlm.Total, xlm.PaymentCount));
        }

        var paid = Money.Of(tenant.Revenue, InvoicingHarness.Xlm);
        Assert.Equal(paid, await kit.BalanceAsync(tenant.Merchant, InvoicingLedgerAccounts.Wallet(InvoicingHarness.Xlm), InvoicingHarness.Xlm));
        Assert.Equal(paid, await kit.BalanceAsync(tenant.Merchant, InvoicingLedgerAccounts.Revenue(InvoicingHarness.Xlm), InvoicingHarness.Xlm));
    }

    private static List<Guid> Sorted<T>(IEnumerable<T> records, Func<T, Guid> id) => [.. records.Select(id).Order()];

    private static IEnumerable<Invoice> Sorted(IEnumerable<PendingInvoice> pending, Func<PendingInvoice, Invoice> invoice) => pending.Select(invoice).OrderBy(i => i.Id.Value);

    [Fact]
    public async Task MerchantA_CannotReadOrChange_MerchantBsObjects()
    {
        var a = await _kit.MerchantAsync();
        var b = await _kit.MerchantAsync();
        var bClient = await _kit.Merchants.CreateClientAsync(b.Id, new CreateClientRequest("B's client") { Email = "c@example.com" });
        var bInvoice = await _kit.InvoiceAsync(b, 10m, client: bClient.Id);
        var bLink = await _kit.LinkAsync(b, 10m);
        var bKey = await _kit.ApiKeys.CreateApiKeyAsync(b.Id, new CreateApiKeyRequest("b"));
        var bPayment = (await _kit.SubmitAsync(b, _kit.Pay(b.WalletAddress, 10m, memo: bInvoice.Memo))).Payment;

        await ThrowsCodeAsync(PaymentsKitErrorCodes.NotFound, () => _kit.Invoices.GetInvoiceAsync(a.Id, bInvoice.Id).AsTask());
        await ThrowsCodeAsync(PaymentsKitErrorCodes.NotFound, () => _kit.Invoices.GetInvoiceDetailsAsync(a.Id, bInvoice.Id).AsTask());
        await ThrowsCodeAsync(PaymentsKitErrorCodes.NotFound, () => _kit.Invoices.CancelInvoiceAsync(a.Id, bInvoice.Id).AsTask());
        await ThrowsCodeAsync(PaymentsKitErrorCodes.NotFound, () => _kit.Merchants.GetClientAsync(a.Id, bClient.Id).AsTask());
        await ThrowsCodeAsync(PaymentsKitErrorCodes.NotFound, () => _kit.Invoices.CreateInvoiceAsync(a.Id, new CreateInvoiceRequest(1m, "XLM", "x") { ClientId = bClient.Id }).AsTask());
        await ThrowsCodeAsync(PaymentsKitErrorCodes.NotFound, () => _kit.Links.GetPaymentLinkAsync(a.Id, bLink.Id).AsTask());
        await ThrowsCodeAsync(PaymentsKitErrorCodes.NotFound, () => _kit.Links.GetPaymentLinkBySlugAsync(a.Id, bLink.Slug).AsTask());
        await ThrowsCodeAsync(PaymentsKitErrorCodes.NotFound, () => _kit.Links.SetPaymentLinkActiveAsync(a.Id, bLink.Id, false).AsTask());
        await ThrowsCodeAsync(PaymentsKitErrorCodes.NotFound, () => _kit.ApiKeys.RevokeApiKeyAsync(a.Id, bKey.ApiKey.Id).AsTask());
        await ThrowsCodeAsync(PaymentsKitErrorCodes.NotFound, () => _kit.Payments.GetPaymentAsync(a.Id, bPayment.Id).AsTask());
        Assert.Null(await _kit.Payments.FindPaymentByTransactionAsync(a.Id, bPayment.TransactionHash));

        // A's client emails and memos live in A's own namespace.
        await _kit.Merchants.CreateClientAsync(a.Id, new CreateClientRequest("A's client") { Email = "c@example.com" });
        await _kit.Invoices.CreateInvoiceAsync(a.Id, new CreateInvoiceRequest(1m, "XLM", "x") { Memo = bInvoice.Memo, Number = bInvoice.Number });

        Assert.Empty((await _kit.Payments.ListPaymentsAsync(a.Id)).Items);
        Assert.Empty((await _kit.Payments.ListPaymentHistoryAsync(a.Id)).Items);
        Assert.Empty(await _kit.Payments.GetRevenueByAssetAsync(a.Id));
        Assert.Empty(await _kit.Payments.GetMonthlyRevenueAsync(a.Id));
        Assert.Empty(await _kit.Payments.GetTopClientsAsync(a.Id, "XLM"));
        Assert.Empty((await _kit.Links.ListPaymentLinksAsync(a.Id)).Items);
        Assert.Empty((await _kit.ApiKeys.ListApiKeysAsync(a.Id)).Items);
        Assert.DoesNotContain((await _kit.Invoices.ListPendingInvoicesAsync(a.Id)).Items, p => p.Invoice.Id == bInvoice.Id);
        Assert.DoesNotContain((await _kit.Invoices.ListInvoicesAsync(a.Id)).Items, i => i.Id == bInvoice.Id);
        Assert.Equal("A's client", Assert.Single((await _kit.Merchants.ListClientsAsync(a.Id)).Items).Name);

        // B's key authenticates as B, never as A.
        Assert.Equal(b.Id, (await _kit.ApiKeys.AuthenticateAsync(bKey.Key)).MerchantId);
    }

    [Fact]
    public async Task MerchantA_CannotPayInto_MerchantBsInvoicesOrLinks()
    {
        var a = await _kit.MerchantAsync();
        var b = await _kit.MerchantAsync();
        var bInvoice = await _kit.InvoiceAsync(b, 10m);
        var bLink = await _kit.LinkAsync(b, 10m, maxUses: 1);

        // Money that reached A cannot be applied to B's invoice or link by reference ...
        var toA = _kit.Pay(a.WalletAddress, 10m, memo: bInvoice.Memo);
        await ThrowsCodeAsync(PaymentsKitErrorCodes.NotFound, () => _kit.SubmitAsync(a, toA, bInvoice.Id));
        await ThrowsCodeAsync(PaymentsKitErrorCodes.NotFound, () => _kit.SubmitAsync(a, toA, slug: bLink.Slug));

        // ... and B's memo means nothing in A's namespace: the money is A's, kept for review.
        var foreignMemo = (await _kit.SubmitAsync(a, toA)).Payment;
        Assert.Equal((PaymentStatus.NeedsReview, PaymentsKitErrorCodes.UnmatchedPayment), (foreignMemo.Status, foreignMemo.ReviewCode));
        Assert.Null(foreignMemo.InvoiceId);

        // Money that reached B cannot be claimed through A, so A cannot take B's transaction hash either.
        var toB = _kit.Pay(b.WalletAddress, 10m, memo: bInvoice.Memo);
        await ThrowsCodeAsync(PaymentsKitErrorCodes.DestinationMismatch, () => _kit.SubmitAsync(a, toB));
        await ThrowsCodeAsync(PaymentsKitErrorCodes.DestinationMismatch, () => _kit.SubmitAsync(a, toB, slug: bLink.Slug));

        var untouched = await _kit.Invoices.GetInvoiceAsync(b.Id, bInvoice.Id);
        Assert.Equal((InvoiceStatus.Pending, 0m), (untouched.Status, untouched.AmountPaid.Amount));
        Assert.Equal(0, (await _kit.Links.GetPaymentLinkAsync(b.Id, bLink.Id)).CurrentUses);

        // B itself can still record its own transaction.
        Assert.Equal(PaymentStatus.Confirmed, (await _kit.SubmitAsync(b, toB)).Payment.Status);
        Assert.Equal(InvoiceStatus.Paid, (await _kit.Invoices.GetInvoiceAsync(b.Id, bInvoice.Id)).Status);
    }
}
