using PaymentsKit.DependencyInjection;

namespace PaymentsKit.Tests.Invoicing;

// The store-dependent invoicing tests on the in-memory store: AddPaymentsKit's default, a new store per harness.

public sealed class InMemoryInvoiceServiceTests : InvoiceServiceTests
{
    protected override Task UseStoreAsync(PaymentsKitBuilder kit) => Task.CompletedTask;
}

public sealed class InMemoryInvoicingConcurrencyTests : InvoicingConcurrencyTests
{
    protected override Task UseStoreAsync(PaymentsKitBuilder kit) => Task.CompletedTask;
}

public sealed class InMemoryMerchantServiceTests : MerchantServiceTests
{
    protected override Task UseStoreAsync(PaymentsKitBuilder kit) => Task.CompletedTask;
}

public sealed class InMemoryPaymentServiceTests : PaymentServiceTests
{
    protected override Task UseStoreAsync(PaymentsKitBuilder kit) => Task.CompletedTask;
}

public sealed class InMemoryTenantIsolationTests : TenantIsolationTests
{
    protected override Task UseStoreAsync(PaymentsKitBuilder kit) => Task.CompletedTask;
}

public sealed class InMemoryInvoicingPropertyTests : InvoicingPropertyTests
{
    protected override Task UseStoreAsync(PaymentsKitBuilder kit) => Task.CompletedTask;
}
