using NodaTime;
using PaymentsKit.Routing;
using PaymentsKit.Testing;
using PaymentsKit.Webhooks;

namespace PaymentsKit.Tests.Routing;

public abstract partial class RoutingSpecification
{
    /// <summary>A step of the tenancy property: a merchant's own work, or an attempt on another merchant's records.</summary>
    public enum RoutingTenancyStep
    {
        Quote,
        CreateIntent,
        Operate,
        Wait,
        TouchForeignIntent,
        UseForeignQuote,
        ReadForeignEvent,
    }

    /// <summary>
    /// Three merchants quote, create (with the same idempotency keys, which are per merchant), route, advance, requote and
    /// cancel intents while each keeps trying another merchant's: every such call — get an intent or its attempts, select
    /// its route, cancel or requote it, read a quote, create or requote an intent from another's quote, read an outbox
    /// event — answers exactly as for a record that does not exist (<c>not_found</c>, same message and context) and changes
    /// nothing (the owner's intent and quote, the treasury's books); each merchant's intents, attempts and webhook events
    /// are exactly its own.
    /// </summary>
    [Fact]
    public void Merchants_See_And_Change_Only_Their_Own_Quotes_Intents_And_Events_Meets_Specification()
    {
        TenancyProperty.Check(
            PropertyIterations,
            RunRoutingTenancyAsync,
            (2, RoutingTenancyStep.Quote),
            (3, RoutingTenancyStep.CreateIntent),
            (3, RoutingTenancyStep.Operate),
            (1, RoutingTenancyStep.Wait),
            (4, RoutingTenancyStep.TouchForeignIntent),
            (2, RoutingTenancyStep.UseForeignQuote),
            (1, RoutingTenancyStep.ReadForeignEvent));
    }

    /// <summary>What one merchant made: its quotes and its intents as it last saw them.</summary>
    private sealed record RoutingTenant(MerchantId Id, List<Quote> Quotes, List<PaymentIntent> Intents);

    private async Task RunRoutingTenancyAsync(List<(int Actor, RoutingTenancyStep Step, int Pick)> steps)
    {
        var router = await NewRouterAsync();
        var tenants = new List<RoutingTenant>();
        for (var i = 0; i < 3; i++)
        {
            // Each starts with a quote and an intent on it, so the other merchants have something to try from the first step.
            var merchant = await router.MerchantAsync();
            var quote = await router.QuoteAsync(merchant, 10);
            tenants.Add(new RoutingTenant(merchant, [quote], [await router.Intents.CreateAsync(merchant, new CreatePaymentIntentRequest(quote.Id, "order-start"))]));
        }

        foreach (var (actor, step, pick) in steps)
        {
            var me = tenants[actor];
            var other = tenants[(actor + 1 + (pick % 2)) % 3];
            switch (step)
            {
                case RoutingTenancyStep.Quote:
                    me.Quotes.Add(await router.QuoteAsync(me.Id, 1 + (pick % 20)));
                    break;
                case RoutingTenancyStep.CreateIntent when me.Quotes.Count > 0:
                {
                    // Every merchant numbers its keys alike: they are unique per merchant only.
                    var quote = me.Quotes[pick % me.Quotes.Count];
                    try
                    {
                        var created = await router.Intents.CreateAsync(me.Id, new CreatePaymentIntentRequest(quote.Id, $"order-{me.Intents.Count}"));
                        Assert.Equal(me.Id, created.MerchantId);
                        Assert.DoesNotContain(created.Id, tenants.SelectMany(t => t.Intents).Select(i => i.Id));
                        me.Intents.Add(created);
                    }
                    catch (PaymentsKitException ex) when (ex.Code == PaymentsKitErrorCodes.Expired)
                    {
                        // An old quote of the merchant's own; not what this property checks.
                    }

                    break;
                }

                case RoutingTenancyStep.Operate when me.Intents.Count > 0:
                {
                    var at = pick % me.Intents.Count;
                    try
                    {
                        await OperateAsync(router, me, me.Intents[at], pick / 7);
                    }
                    catch (PaymentsKitException ex) when (ex.Code is PaymentsKitErrorCodes.InvalidTransition or PaymentsKitErrorCodes.Expired or PaymentsKitErrorCodes.InsufficientFunds)
                    {
                        // The merchant's own call may be refused by the intent's state; that is not what this property checks.
                    }

                    me.Intents[at] = await router.Intents.GetAsync(me.Id, me.Intents[at].Id);
                    break;
                }

                case RoutingTenancyStep.Wait:
                    Clock.Advance(Duration.FromSeconds(5 + (pick % 60)));
                    break;
                case RoutingTenancyStep.TouchForeignIntent when other.Intents.Count > 0:
                {
                    var target = other.Intents[pick % other.Intents.Count];

                    // A requote names one of the caller's own quotes of the same amount, so only the intent is foreign.
                    var quote = await router.QuoteAsync(me.Id, target.Amount.Amount);
                    var absent = PaymentIntentId.FromGuid(Guid.CreateVersion7());
                    if (pick / 3 % 6 < 5)
                    {
                        await UnchangedAsync(router, other, () => TenancyAssert.HiddenAsync(
                            () => TouchIntentAsync(router, me.Id, target.Id, quote.Id, pick / 3), target.Id.ToString(),
                            () => TouchIntentAsync(router, me.Id, absent, quote.Id, pick / 3), absent.ToString()));
                    }
                    else
                    {
                        // A requote only the intent could refuse (a quote of another amount): it must not look at another merchant's.
                        var another = await router.QuoteAsync(me.Id, target.Amount.Amount + 1);
                        await UnchangedAsync(router, other, () => TenancyAssert.SameAsAbsentAsync(
                            () => router.Intents.RequoteAsync(me.Id, target.Id, another.Id).AsTask(), target.Id.ToString(),
                            () => router.Intents.RequoteAsync(me.Id, absent, another.Id).AsTask(), absent.ToString()));
                    }

                    break;
                }

                case RoutingTenancyStep.UseForeignQuote when other.Quotes.Count > 0:
                {
                    var quote = other.Quotes[pick % other.Quotes.Count];
                    var absent = QuoteId.FromGuid(Guid.CreateVersion7());
                    var requotable = me.Intents.Where(i => i.Status is PaymentIntentStatus.Created or PaymentIntentStatus.Quoted && i.Amount == quote.Amount).ToList();
                    Func<QuoteId, Task> use = (pick / 3 % 3) switch
                    {
                        0 => q => router.Quotes.GetAsync(me.Id, q).AsTask(),
                        1 => q => router.Intents.CreateAsync(me.Id, new CreatePaymentIntentRequest(q, $"foreign-{pick % 2}")).AsTask(),
                        _ when requotable.Count > 0 => q => router.Intents.RequoteAsync(me.Id, requotable[pick % requotable.Count].Id, q).AsTask(),
                        _ => q => router.Quotes.GetAsync(me.Id, q).AsTask(),
                    };
                    await UnchangedAsync(router, other, () => TenancyAssert.HiddenAsync(() => use(quote.Id), quote.Id.ToString(), () => use(absent), absent.ToString()));
                    Assert.Equal(quote, await router.Quotes.GetAsync(other.Id, quote.Id));
                    break;
                }

                case RoutingTenancyStep.ReadForeignEvent:
                {
                    var theirs = (await router.Outbox.ListAsync(other.Id.Value, null, 1000)).Items;
                    if (theirs.Count > 0)
                    {
                        var target = theirs[pick % theirs.Count].Id;
                        var absent = WebhookEventId.FromGuid(Guid.CreateVersion7());
                        await TenancyAssert.HiddenAsync(
                            () => router.Outbox.GetAsync(me.Id.Value, target).AsTask(), target.ToString(),
                            () => router.Outbox.GetAsync(me.Id.Value, absent).AsTask(), absent.ToString());
                    }

                    break;
                }
            }
        }

        foreach (var tenant in tenants)
        {
            await AssertOnlyOwnAsync(router, tenant);
        }
    }

    private static async Task OperateAsync(RoutingHarness router, RoutingTenant me, PaymentIntent intent, int pick)
    {
        switch (pick % 4)
        {
            case 0:
                await router.Intents.SelectRouteAsync(me.Id, intent.Id);
                break;
            case 1:
                await router.Intents.AdvanceAsync(intent.Id);
                break;
            case 2:
                await router.Intents.CancelAsync(me.Id, intent.Id);
                break;
            default:
            {
                var quote = await router.QuoteAsync(me.Id, intent.Amount.Amount);
                me.Quotes.Add(quote);
                await router.Intents.RequoteAsync(me.Id, intent.Id, quote.Id);
                break;
            }
        }
    }

    /// <summary>One call by <paramref name="merchant"/> naming the intent <paramref name="intent"/>.</summary>
    private static Task TouchIntentAsync(RoutingHarness router, MerchantId merchant, PaymentIntentId intent, QuoteId ownQuote, int pick) => (pick % 5) switch
    {
        0 => router.Intents.GetAsync(merchant, intent).AsTask(),
        1 => router.Intents.ListAttemptsAsync(merchant, intent).AsTask(),
        2 => router.Intents.SelectRouteAsync(merchant, intent).AsTask(),
        3 => router.Intents.CancelAsync(merchant, intent).AsTask(),
        _ => router.Intents.RequoteAsync(merchant, intent, ownQuote).AsTask(),
    };

    /// <summary>Runs a foreign call and asserts the owner's intents, their attempts and events, and the treasury's books are as they were.</summary>
    private async Task UnchangedAsync(RoutingHarness router, RoutingTenant owner, Func<Task> foreign)
    {
        var books = (await router.Treasury.GetBookAsync(Ethereum), await router.Treasury.GetBookAsync(Solana));
        var events = (await router.Outbox.ListAsync(owner.Id.Value, null, 1000)).Items.Select(e => e.Id).ToList();
        await foreign();
        foreach (var intent in owner.Intents)
        {
            Assert.Equal(intent, await router.Intents.GetAsync(owner.Id, intent.Id));
        }

        Assert.Equal(books, (await router.Treasury.GetBookAsync(Ethereum), await router.Treasury.GetBookAsync(Solana)));
        Assert.Equal(events, (await router.Outbox.ListAsync(owner.Id.Value, null, 1000)).Items.Select(e => e.Id));
    }

    private static async Task AssertOnlyOwnAsync(RoutingHarness router, RoutingTenant tenant)
    {
        foreach (var intent in tenant.Intents)
        {
            Assert.Equal(intent, await router.Intents.GetAsync(tenant.Id, intent.Id));
            var attempts = await router.Intents.ListAttemptsAsync(tenant.Id, intent.Id);
            Assert.Equal(intent.AttemptIds, attempts.Select(a => a.Id));
            Assert.All(attempts, a => Assert.Equal((tenant.Id, intent.Id), (a.MerchantId, a.PaymentIntentId)));
        }

        foreach (var quote in tenant.Quotes)
        {
            Assert.Equal(tenant.Id, (await router.Quotes.GetAsync(tenant.Id, quote.Id)).MerchantId);
        }

        // The merchant's outbox holds the events of its own intents, every one of them, and nothing else.
        var events = new List<WebhookEvent>();
        string? cursor = null;
        do
        {
            var page = await router.Outbox.ListAsync(tenant.Id.Value, cursor, 5);
            events.AddRange(page.Items);
            cursor = page.NextCursor;
        }
        while (cursor is not null);
        Assert.All(events, e => Assert.Equal(tenant.Id.Value, e.TenantId));
        Assert.Equal(tenant.Intents.Select(i => i.Id.ToString()).Order(StringComparer.Ordinal), events.Select(e => e.ResourceId).Distinct().Order(StringComparer.Ordinal));
    }
}
