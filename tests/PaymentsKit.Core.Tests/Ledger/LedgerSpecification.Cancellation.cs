using PaymentsKit.Ledger;

namespace PaymentsKit.Tests.Ledger;

public abstract partial class LedgerSpecification
{
    [Fact]
    public async Task A_Write_Whose_Token_Is_Already_Cancelled_Writes_Nothing()
    {
        var (customer, _, merchant) = await FundedCustomerAsync(100);
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();
        var token = cancelled.Token;

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Ledger.PostTransactionAsync(
            Tenant, new PostLedgerTransactionRequest([LedgerPosting.Debit(customer.Id, Usd(10)), LedgerPosting.Credit(merchant.Id, Usd(10))]), token).AsTask());
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Ledger.ReserveAsync(
            Tenant, new ReserveLedgerTransferRequest(customer.Id, merchant.Id, Usd(10)), token).AsTask());
        var hold = await ReserveAsync(customer, merchant, Usd(30));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Ledger.PostTransferAsync(Tenant, hold.Id, Usd(5), token).AsTask());
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Ledger.VoidTransferAsync(Tenant, hold.Id, token).AsTask());

        // A call after them on the same accounts: whatever a store queued before it has been written by the time it answers.
        await ReserveAsync(customer, merchant, Usd(1));

        Assert.Equal(LedgerTransferState.Pending, (await Ledger.GetTransferAsync(Tenant, hold.Id)).State);
        var customerNow = await ReloadAsync(customer);
        Assert.Equal((3L, Usd(69)), (customerNow.EntryCount, customerNow.Balance.Available));
        Assert.Equal(Usd(0), (await ReloadAsync(merchant)).Balance.Posted);
        Assert.True((await Ledger.ReconcileAsync(Tenant)).IsClean);
    }
}
