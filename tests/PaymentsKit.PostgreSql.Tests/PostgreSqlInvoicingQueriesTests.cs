using System.Text.Json;
using System.Text.Json.Nodes;
using FsCheck;
using FsCheck.Fluent;
using Microsoft.Extensions.DependencyInjection;
using NodaTime;
using PaymentsKit.Invoicing;
using PaymentsKit.Json;
using PaymentsKit.Storage;
using PaymentsKit.Testing;
using PaymentsKit.Tests.Invoicing;

namespace PaymentsKit.PostgreSql.Tests;

/// <summary>
/// The SQL invoicing queries against the in-memory implementation over the very same records: both
/// read one PostgreSQL database that random invoicing histories were written to, and every query,
/// page by page, must give the same answer.
/// </summary>
[Collection(PostgresServerFixture.CollectionName)]
public sealed class PostgreSqlInvoicingQueriesTests(PostgresServerFixture postgres)
{
    private static readonly Asset Xlm = InvoicingHarness.Xlm;
    private static readonly Asset Usdc = InvoicingHarness.Usdc;

    private static readonly DateTimeZone[] Zones =
    [
        DateTimeZone.Utc,
        DateTimeZoneProviders.Tzdb["Europe/Berlin"],
        DateTimeZoneProviders.Tzdb["America/Los_Angeles"],
        DateTimeZoneProviders.Tzdb["Asia/Kathmandu"],
        DateTimeZone.ForOffset(Offset.FromHours(-11)),
    ];

    private enum Kind
    {
        Client,
        Invoice,
        Link,
        PayInvoice,
        PayLink,
        PayUnmatched,
        Burst,
        Cancel,
        Tick,
        Days,
        Expire,
        Refund,
    }

    [Fact]
    public void UsePostgreSql_Registers_The_Sql_Queries()
    {
        var services = new ServiceCollection();
        services.AddPaymentsKit().WithTestSecret().UsePostgreSql("Host=127.0.0.1;Database=unused");
        using var provider = services.BuildServiceProvider();
        Assert.IsType<PostgreSqlInvoicingQueries>(provider.GetRequiredService<IInvoicingQueries>());
    }

    [Fact]
    public async Task Sql_Queries_Answer_As_The_InMemory_Queries_Over_The_Same_Records_Meets_Specification()
    {
        var step =
            from kind in Gen.Frequency(
                (2, Gen.Constant(Kind.Client)),
                (4, Gen.Constant(Kind.Invoice)),
                (1, Gen.Constant(Kind.Link)),
                (5, Gen.Constant(Kind.PayInvoice)),
                (2, Gen.Constant(Kind.PayLink)),
                (1, Gen.Constant(Kind.PayUnmatched)),
                (2, Gen.Constant(Kind.Burst)),
                (1, Gen.Constant(Kind.Cancel)),
                (5, Gen.Constant(Kind.Tick)),
                (1, Gen.Constant(Kind.Days)),
                (1, Gen.Constant(Kind.Expire)),
                (3, Gen.Constant(Kind.Refund)))
            from merchant in Gen.Choose(0, 1)
            from a in Gen.Choose(0, 100_000)
            from b in Gen.Choose(0, 100_000)
            select (kind, merchant, a, b);
        var scenario = step.ArrayOf().Select(s => s.Take(40).ToArray());

        using var kit = await HarnessAsync();
        Prop.ForAll(scenario.ToArbitrary(), steps => Task.Run(() => RunAsync(kit, steps)).GetAwaiter().GetResult())
            .Check(Config.QuickThrowOnFailure.WithMaxTest(15).WithEndSize(40));
    }

    private async Task<InvoicingHarness> HarnessAsync()
    {
        var connectionString = await EmptyDatabase.ForAsync(postgres, GetType());
        return await InvoicingHarness.CreateAsync(kit =>
        {
            kit.WithTestSecret().UsePostgreSql(connectionString);
            return Task.CompletedTask;
        });
    }

    private static async Task RunAsync(InvoicingHarness kit, (Kind Kind, int Merchant, int A, int B)[] steps)
    {
        var merchants = new[] { new Books(await kit.MerchantAsync()), new Books(await kit.MerchantAsync("m" + Guid.NewGuid().ToString("N") + "@example.com")) };
        var start = kit.Clock.GetCurrentInstant();
        foreach (var (kind, index, a, b) in steps)
        {
            var books = merchants[index];
            var merchant = books.Merchant;
            try
            {
                switch (kind)
                {
                    case Kind.Client:
                        books.Clients.Add((await kit.Merchants.CreateClientAsync(
                            merchant.Id,
                            new CreateClientRequest($"Client {a}") { Email = a % 3 == 0 ? null : $"c{a}-{Guid.NewGuid():N}@example.com", Metadata = new Dictionary<string, string> { ["k"] = $"{b}", ["z"] = "1" } })).Id);
                        break;
                    case Kind.Invoice:
                        // One to three invoices a few ticks apart: several within one of PostgreSQL's microseconds.
                        for (var i = 0; i <= b % 3; i++)
                        {
                            books.Invoices.Add(await kit.Invoices.CreateInvoiceAsync(
                                merchant.Id,
                                new CreateInvoiceRequest(1 + ((a + i) % 5000) / 100m, (a + i) % 4 == 0 ? Usdc.Code : Xlm.Code, $"Work {b}")
                                {
                                    ClientId = books.Clients.Count > 0 && (b + i) % 4 != 0 ? books.Clients[(b + i) % books.Clients.Count] : null,
                                    ExpiresAt = kit.Clock.GetCurrentInstant() + Duration.FromMinutes(1 + (b % (60 * 24 * 45))),
                                }));
                            kit.Clock.Advance(Duration.FromTicks(1 + (a + i) % 4));
                        }

                        break;
                    case Kind.Link:
                        books.Links.Add(await kit.Links.CreatePaymentLinkAsync(merchant.Id, new CreatePaymentLinkRequest($"Link {a}", 1 + (a % 900) / 100m, Xlm.Code) { MaxUses = b % 3 == 0 ? null : 1 + (b % 4) }));
                        break;
                    case Kind.PayInvoice when books.Invoices.Count > 0:
                        var invoice = books.Invoices[a % books.Invoices.Count];
                        var share = (b % 150) + 1;
                        var amount = decimal.Round(invoice.Amount.Amount * share / 100m, 2) + 0.01m;
                        var hash = kit.Pay(merchant.WalletAddress, amount, b % 7 == 0 ? Usdc : invoice.Asset, b % 2 == 0 ? invoice.Memo : null);
                        await kit.SubmitAsync(merchant, hash, b % 2 == 0 ? null : invoice.Id);
                        break;
                    case Kind.PayLink when books.Links.Count > 0:
                        var link = books.Links[a % books.Links.Count];
                        await kit.SubmitAsync(merchant, kit.Pay(merchant.WalletAddress, link.Amount.Amount + (b % 3) / 10m), slug: link.Slug);
                        break;
                    case Kind.PayUnmatched:
                        await kit.SubmitAsync(merchant, kit.Pay(merchant.WalletAddress, 1 + (a % 300) / 100m, memo: b % 2 == 0 ? null : "nobody"));
                        break;
                    case Kind.Burst:
                        // Payments recorded within one microsecond of each other, in a random id order.
                        var burst = Enumerable.Range(0, 2 + a % 3).Select(i =>
                            kit.Send(merchant.WalletAddress, 1 + ((a + i) % 700) / 100m, memo: books.Invoices.Count > 0 && (b + i) % 3 != 0 ? books.Invoices[(b + i) % books.Invoices.Count].Memo : null)).ToList();
                        kit.Clock.Advance(InvoicingHarness.ToFinality);
                        foreach (var sent in burst)
                        {
                            await kit.SubmitAsync(merchant, sent);
                            kit.Clock.Advance(Duration.FromTicks(1 + b % 3));
                        }

                        break;
                    case Kind.Cancel when books.Invoices.Count > 0:
                        await kit.Invoices.CancelInvoiceAsync(merchant.Id, books.Invoices[a % books.Invoices.Count].Id);
                        break;
                    case Kind.Tick:
                        // Mostly a few ticks: instants between PostgreSQL's microseconds, so order and paging must still be exact.
                        kit.Clock.Advance(Duration.FromTicks(b % 4 == 0 ? 1 + a : 1 + a % 9));
                        break;
                    case Kind.Days:
                        kit.Clock.Advance(Duration.FromDays(1 + a % 40) + Duration.FromTicks(b));
                        break;
                    case Kind.Expire:
                        await kit.Invoices.ExpireDueAsync();
                        break;
                    case Kind.Refund:
                        // All or half of what an invoice owes back; when none does, a partly paid one is cancelled so that it does.
                        var current = new List<Invoice>();
                        foreach (var known in books.Invoices)
                        {
                            current.Add(await kit.Invoices.GetInvoiceAsync(merchant.Id, known.Id));
                        }

                        var owing = current.Where(i => i.Status != InvoiceStatus.Pending && i.RefundDue.Amount > 0).ToList();
                        var partlyPaid = current.Where(i => i.Status == InvoiceStatus.Pending && i.AmountPaid.Amount > 0).ToList();
                        var refunded = owing.Count > 0 ? owing[a % owing.Count]
                            : partlyPaid.Count > 0 ? await kit.Invoices.CancelInvoiceAsync(merchant.Id, partlyPaid[a % partlyPaid.Count].Id)
                            : null;
                        if (refunded is not null)
                        {
                            var due = refunded.RefundDue.Amount;
                            var back = b % 2 == 0 || due < 0.02m ? due : decimal.Round(due / 2, 2, MidpointRounding.ToZero);
                            await kit.Payments.RecordRefundAsync(merchant.Id, refunded.Id, new RecordRefundRequest(back, refunded.Asset.Code));
                        }

                        break;
                }
            }
            catch (PaymentsKitException ex) when (ex.Code is PaymentsKitErrorCodes.InvalidTransition or PaymentsKitErrorCodes.Expired)
            {
                // Cancelling a settled or overdue invoice is refused; the history goes on.
            }
        }

        var store = kit.Services.GetRequiredService<PostgreSqlStore>();
        IInvoicingQueries sql = new PostgreSqlInvoicingQueries(store, kit.Services.GetRequiredService<AssetRegistry>());
        IInvoicingQueries memory = new InMemoryInvoicingQueries(store);
        var now = kit.Clock.GetCurrentInstant();
        foreach (var books in merchants)
        {
            var id = books.Merchant.Id;
            foreach (var size in new[] { 1, 3, 100 })
            {
                await SamePagesAsync(c => memory.PendingInvoicesAsync(id, now, c, size, default), c => sql.PendingInvoicesAsync(id, now, c, size, default));
                await SamePagesAsync(c => memory.PaymentHistoryAsync(id, c, size, default), c => sql.PaymentHistoryAsync(id, c, size, default));
            }

            foreach (var invoice in books.Invoices.Select(i => i.Id).Append(InvoiceId.New(kit.Clock)))
            {
                Same(await memory.InvoiceDetailsAsync(id, invoice, default), await sql.InvoiceDetailsAsync(id, invoice, default));
            }

            Assert.Equal(await memory.RevenueByAssetAsync(id, default), await sql.RevenueByAssetAsync(id, default));
            foreach (var zone in Zones)
            {
                foreach (var since in new[] { start - Duration.FromDays(400), start + Duration.FromHours(13), now - Duration.FromDays(17) })
                {
                    var expected = await memory.MonthlyRevenueAsync(id, since, zone, default);
                    Assert.Equal(expected, await sql.MonthlyRevenueAsync(id, since, zone, default));
                }
            }

            foreach (var asset in new[] { Xlm, Usdc })
            {
                foreach (var limit in new[] { 1, 2, 10 })
                {
                    Same(await memory.TopClientsAsync(id, asset, limit, default), await sql.TopClientsAsync(id, asset, limit, default));
                }
            }
        }

        foreach (var merchant in merchants.Select(m => (MerchantId?)m.Merchant.Id).Append(null))
        {
            foreach (var (after, upTo) in new (Instant?, Instant)[] { (null, now), (now, now + Duration.FromHours(6)), (now, now + Duration.FromDays(60)), (null, now + Duration.FromDays(3)) })
            {
                await SamePagesAsync(c => memory.ExpiringInvoicesAsync(merchant, after, upTo, c, 2, default), c => sql.ExpiringInvoicesAsync(merchant, after, upTo, c, 2, default));
            }
        }
    }

    /// <summary>Walks both implementations' pages in step: the same items and the same cursor, page after page.</summary>
    private static async Task SamePagesAsync<T>(Func<string?, ValueTask<Page<T>>> expected, Func<string?, ValueTask<Page<T>>> actual)
    {
        string? cursor = null;
        do
        {
            var left = await expected(cursor);
            var right = await actual(cursor);
            Same(left, right);
            cursor = left.NextCursor;
        }
        while (cursor is not null);
    }

    private static void Same<T>(T expected, T actual)
    {
        var json = PaymentsKitJson.CreateOptions(new AssetRegistry());
        var left = JsonSerializer.SerializeToNode(expected, json);
        var right = JsonSerializer.SerializeToNode(actual, json);
        Assert.True(JsonNode.DeepEquals(left, right), $"In memory: {left?.ToJsonString()}\nSQL:       {right?.ToJsonString()}");
    }

    /// <summary>What the scenario created for one merchant.</summary>
    private sealed class Books(Merchant merchant)
    {
        public Merchant Merchant { get; } = merchant;

        public List<ClientId> Clients { get; } = [];

        public List<Invoice> Invoices { get; } = [];

        public List<PaymentLink> Links { get; } = [];
    }
}
