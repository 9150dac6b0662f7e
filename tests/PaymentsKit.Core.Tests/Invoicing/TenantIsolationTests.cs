using PaymentsKit.Invoicing;
using static PaymentsKit.Tests.Invoicing.AsyncAssert;

namespace PaymentsKit.Tests.Invoicing;

/// <summary>Merchant A can neither read nor pay into merchant B's objects through the services (subclass per store).</summary>
public abstract class TenantIsolationTests : InvoicingStoreTests
{
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
