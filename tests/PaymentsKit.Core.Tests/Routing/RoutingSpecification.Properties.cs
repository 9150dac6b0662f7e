using FsCheck;
using FsCheck.Fluent;
using NodaTime;
using PaymentsKit.Chains;
using PaymentsKit.Routing;

namespace PaymentsKit.Tests.Routing;

public abstract partial class RoutingSpecification
{
    private static readonly HashSet<string> RoutingRefusals =
    [
        PaymentsKitErrorCodes.InsufficientFunds,
        PaymentsKitErrorCodes.InvalidTransition,
        PaymentsKitErrorCodes.Expired,
        PaymentsKitErrorCodes.NoRoute,
    ];

    private static Gen<RoutingStep> StepGen { get; } =
        from kind in Gen.Frequency(
            (5, Gen.Constant(StepKind.Create)),
            (4, Gen.Constant(StepKind.Select)),
            (4, Gen.Constant(StepKind.Broadcast)),
            (4, Gen.Constant(StepKind.Confirm)),
            (1, Gen.Constant(StepKind.Fail)),
            (1, Gen.Constant(StepKind.Drop)),
            (1, Gen.Constant(StepKind.RpcError)),
            (2, Gen.Constant(StepKind.Retry)),
            (2, Gen.Constant(StepKind.Cancel)))
        from target in Gen.Choose(0, 1_000)
        from cents in Gen.Choose(1, 3_000)
        from chain in Gen.Choose(0, 2)
        select new RoutingStep(kind, target, cents, chain);

    public enum StepKind
    {
        Create,
        Select,
        Broadcast,
        Confirm,
        Fail,
        Drop,
        RpcError,
        Retry,
        Cancel,
    }

    [Fact]
    public async Task Thirty_Two_Concurrent_Creates_With_One_Key_Make_One_Intent()
    {
        var merchant = await Router.MerchantAsync();
        var quote = await Router.QuoteAsync(merchant, 12m);
        var gate = new AsyncGate();

        var creates = Enumerable.Range(0, 32).Select(_ => Task.Run(async () =>
        {
            await gate.Task;
            return (await Router.Intents.CreateAsync(merchant, new CreatePaymentIntentRequest(quote.Id, "same-key"))).Id;
        })).ToArray();
        gate.Open();
        var ids = await Task.WhenAll(creates);

        Assert.Single(ids.Distinct());
        Assert.Single(await Router.EventsAsync(merchant, ids[0]));
    }

    /// <summary>
    /// Creates racing over two merchants with keys from a small pool and three requests (two quotes, one with a pinned
    /// chain): each (merchant, key) makes exactly one intent, announced by one event, every call with the creating
    /// request gets it back, every other request with the key is <c>idempotency_conflict</c>, and another merchant's
    /// equal key is an intent of its own.
    /// </summary>
    [Fact]
    public void One_Idempotency_Key_Per_Merchant_Creates_At_Most_One_Intent_Meets_Specification()
    {
        var calls = (from merchant in Gen.Choose(0, 1) from key in Gen.Choose(0, 1) from variant in Gen.Choose(0, 2) select (merchant, key, variant)).ListOf();
        Prop.ForAll(Arb.From(calls.Where(c => c.Count > 0)), requests => Task.Run(() => RunIdempotentIntentCreatesAsync(requests)).GetAwaiter().GetResult())
            .Check(Config.QuickThrowOnFailure.WithMaxTest(PropertyIterations).WithStartSize(4).WithEndSize(12));
    }

    private async Task<bool> RunIdempotentIntentCreatesAsync(IReadOnlyList<(int Merchant, int Key, int Variant)> requests)
    {
        MerchantId[] merchants = [await Router.MerchantAsync(), await Router.MerchantAsync()];
        var quotes = new List<Quote[]>();
        foreach (var merchant in merchants)
        {
            quotes.Add([await Router.QuoteAsync(merchant, 12m), await Router.QuoteAsync(merchant, 13m)]);
        }

        CreatePaymentIntentRequest Request(int merchant, int key, int variant) => variant switch
        {
            0 => new CreatePaymentIntentRequest(quotes[merchant][0].Id, $"order-{key}"),
            1 => new CreatePaymentIntentRequest(quotes[merchant][1].Id, $"order-{key}"),
            _ => new CreatePaymentIntentRequest(quotes[merchant][0].Id, $"order-{key}") { Chain = Ethereum },
        };

        var gate = new AsyncGate();
        async Task<(PaymentIntentId? Id, string? Code)> Create(int merchant, int key, int variant)
        {
            await gate.Task;
            while (true)
            {
                try
                {
                    return ((await Router.Intents.CreateAsync(merchants[merchant], Request(merchant, key, variant))).Id, null);
                }
                catch (PaymentsKitException ex) when (ex.IsTransient)
                {
                    await Task.Yield();
                }
                catch (PaymentsKitException ex)
                {
                    return (null, ex.Code);
                }
            }
        }

        var running = requests.Select(r => Task.Run(() => Create(r.Merchant, r.Key, r.Variant))).ToArray();
        gate.Open();
        var outcomes = await Task.WhenAll(running);

        var created = new HashSet<PaymentIntentId>();
        foreach (var group in requests.Zip(outcomes).GroupBy(c => (c.First.Merchant, c.First.Key)))
        {
            var winners = group.Where(c => c.Second.Id is not null).ToList();
            Assert.NotEmpty(winners);
            var (winner, id) = (winners[0].First.Variant, winners[0].Second.Id!.Value);
            Assert.True(created.Add(id), $"{id} was returned for two merchants or keys");
            Assert.Single(await Router.EventsAsync(merchants[group.Key.Merchant], id));
            foreach (var (request, (returned, code)) in group)
            {
                Assert.True(
                    request.Variant == winner ? returned == id : code == PaymentsKitErrorCodes.IdempotencyConflict,
                    $"merchant {request.Merchant} order-{request.Key} variant {request.Variant} after variant {winner}: {code ?? returned.ToString()}");
            }
        }

        return true;
    }

    [Fact]
    public async Task Sixty_Four_Concurrent_Intents_Never_Overdraw_One_Wallet()
    {
        var router = await NewRouterAsync(ethereum: 1000m, solana: 0m);
        var merchant = await router.MerchantAsync();
        var intents = new List<PaymentIntent>();
        for (var i = 0; i < 64; i++)
        {
            intents.Add(await router.IntentAsync(merchant, 20m, Ethereum));
        }

        var gate = new AsyncGate();
        var selections = intents.Select(intent => Task.Run(async () =>
        {
            await gate.Task;
            return await WithRetriesAsync(() => router.Intents.SelectRouteAsync(merchant, intent.Id).AsTask());
        })).ToArray();
        gate.Open();
        var selected = (await Task.WhenAll(selections)).OfType<PaymentIntent>().ToList();

        // 20 + 0.03 held each: 49 fit in 1,000, the 50th does not.
        Assert.Equal(49, selected.Count);
        var held = await BalancedBookAsync(router, Ethereum);
        Assert.Equal(Usdc(49 * 20.03m), held.Reserved);
        await AssertEveryIntentAccountedAsync(router, intents);

        var settled = await Task.WhenAll(selected.Select(intent => Task.Run(() => WithRetriesAsync(() => router.RunToEndAsync(intent)))));
        Assert.All(settled, o => Assert.Equal(PaymentIntentStatus.Settled, o!.Status));
        var book = await BalancedBookAsync(router, Ethereum);
        Assert.Equal(Usdc(980m), book.Spent);
        Assert.Equal(Usdc(0.98m), book.Fees);
        Assert.Equal(Usdc(19.02m), book.Available);
        Assert.Equal(Usdc(0m), book.Reserved);
        Assert.Equal(Usdc(980m), router.OnChain(Ethereum, "payee-ethereum", AssetRegistry.Usdc));
        Assert.True((await router.Ledger.ReconcileAsync(router.Treasury.Tenant)).IsClean);
        await AssertEveryIntentAccountedAsync(router, intents);
    }

    [Fact]
    public async Task Concurrent_Selections_And_Settlements_On_One_Wallet_Each_Succeed_Or_Fail_On_Their_Own()
    {
        // Selections and settlements on one wallet take turns in groups that commit together; each intent's outcome must
        // still be its own: the refused ones (expired quote, illegal transition, no funds) change nothing of the others.
        // Quotes that outlive the settlements' clock moves; one made a TTL earlier has expired.
        var ttl = Duration.FromHours(2);
        var router = await NewRouterAsync(ethereum: 300m, solana: 0m, configure: o => o.QuoteTtl = ttl);
        var merchant = await router.MerchantAsync();
        var stale = await router.IntentAsync(merchant, 20m, Ethereum);
        Clock.Advance(ttl + Duration.FromMinutes(1));
        await router.SampleAsync();
        var routed = await router.Intents.SelectRouteAsync(merchant, (await router.IntentAsync(merchant, 20m, Ethereum)).Id);
        var fresh = new List<PaymentIntent>();
        for (var i = 0; i < 16; i++)
        {
            fresh.Add(await router.IntentAsync(merchant, 20m, Ethereum));
        }

        var gate = new AsyncGate();
        var selections = fresh.Prepend(routed).Prepend(stale).Select(intent => Task.Run(async () =>
        {
            await gate.Task;
            return await OutcomeAsync(() => router.Intents.SelectRouteAsync(merchant, intent.Id).AsTask());
        })).ToArray();
        gate.Open();
        var outcomes = await Task.WhenAll(selections);

        Assert.Equal(PaymentsKitErrorCodes.Expired, outcomes[0].Refusal);
        Assert.Equal(PaymentIntentStatus.Expired, (await router.Intents.GetAsync(merchant, stale.Id)).Status);
        Assert.Equal(PaymentsKitErrorCodes.InvalidTransition, outcomes[1].Refusal);

        // 20 + 0.03 held each: the routed one and 13 fresh fit in 300, the 14th does not.
        var selected = outcomes.Skip(2).Where(o => o.Intent is not null).Select(o => o.Intent!).ToList();
        Assert.Equal(13, selected.Count);
        Assert.All(selected, i => Assert.Equal(PaymentIntentStatus.RouteSelected, i.Status));
        Assert.Equal(3, outcomes.Skip(2).Count(o => o.Refusal == PaymentsKitErrorCodes.InsufficientFunds));
        Assert.Equal(Usdc(14 * 20.03m), (await BalancedBookAsync(router, Ethereum)).Reserved);
        var all = new List<PaymentIntent>();
        foreach (var intent in fresh.Prepend(routed).Prepend(stale))
        {
            all.Add(await router.Intents.GetAsync(merchant, intent.Id));
        }

        await AssertEveryIntentAccountedAsync(router, all);

        // Settlements on the wallet, with refused selections queued among them.
        var unfunded = all.Where(i => i.Status == PaymentIntentStatus.Created).ToList();
        gate = new AsyncGate();
        var settlements = selected.Prepend(routed).Select(intent => Task.Run(async () =>
        {
            await gate.Task;
            return await WithRetriesAsync(() => router.RunToEndAsync(intent));
        })).ToArray();
        var refusals = unfunded.Append(routed).Select(intent => Task.Run(async () =>
        {
            await gate.Task;
            return await OutcomeAsync(() => router.Intents.SelectRouteAsync(merchant, intent.Id).AsTask());
        })).ToArray();
        gate.Open();
        var settled = await Task.WhenAll(settlements);
        var refused = await Task.WhenAll(refusals);

        Assert.All(settled, i => Assert.Equal(PaymentIntentStatus.Settled, i!.Status));
        Assert.Equal([.. Enumerable.Repeat(PaymentsKitErrorCodes.InsufficientFunds, 3), PaymentsKitErrorCodes.InvalidTransition], refused.Select(o => o.Refusal));
        var book = await BalancedBookAsync(router, Ethereum);
        Assert.Equal(Usdc(280m), book.Spent);
        Assert.Equal(Usdc(0.28m), book.Fees);
        Assert.Equal(Usdc(0m), book.Reserved);
        Assert.Equal(Usdc(19.72m), book.Available);
        Assert.True((await router.Ledger.ReconcileAsync(router.Treasury.Tenant)).IsClean);
        all.Clear();
        foreach (var intent in fresh.Prepend(routed).Prepend(stale))
        {
            all.Add(await router.Intents.GetAsync(merchant, intent.Id));
        }

        await AssertEveryIntentAccountedAsync(router, all);
        foreach (var intent in all)
        {
            // Each status change wrote its event once, with the change, refused or not.
            var events = (await router.EventsAsync(merchant, intent.Id)).Select(e => e.EventType).ToList();
            Assert.Equal(events.Distinct().Count(), events.Count);
            Assert.Equal("payment_intent." + intent.Status.ToWireName(), events[^1]);
            Assert.Equal(intent.Status == PaymentIntentStatus.Settled ? 1 : 0, events.Count(e => e == "payment_intent.route_selected"));
        }
    }

    [Fact]
    public async Task Two_Hosts_Grouping_Steps_On_One_Wallet_Race_Safely_And_Never_Overdraw_It()
    {
        // Each host groups its own steps; the two hosts' groups race on the wallet's version like any two processes.
        var router = await NewRouterAsync(ethereum: 400m, solana: 0m);
        var hosts = new[] { router.Intents, router.Sweeper(null) };
        var merchant = await router.MerchantAsync();
        var intents = new List<PaymentIntent>();
        for (var i = 0; i < 32; i++)
        {
            intents.Add(await router.IntentAsync(merchant, 20m, Ethereum));
        }

        var gate = new AsyncGate();
        var selections = intents.Select((intent, i) => Task.Run(async () =>
        {
            await gate.Task;
            return await OutcomeAsync(() => hosts[i % 2].SelectRouteAsync(merchant, intent.Id).AsTask());
        })).ToArray();
        gate.Open();
        var outcomes = await Task.WhenAll(selections);

        // 20 + 0.03 held each: 19 fit in 400, the 20th does not.
        var selected = outcomes.Where(o => o.Intent is not null).Select(o => o.Intent!).ToList();
        Assert.Equal(19, selected.Count);
        Assert.All(outcomes.Where(o => o.Intent is null), o => Assert.Equal(PaymentsKitErrorCodes.InsufficientFunds, o.Refusal));
        Assert.Equal(Usdc(19 * 20.03m), (await BalancedBookAsync(router, Ethereum)).Reserved);

        gate = new AsyncGate();
        var settlements = selected.Select((intent, i) => Task.Run(async () =>
        {
            await gate.Task;
            var current = intent;
            while (current.Status != PaymentIntentStatus.Settled)
            {
                current = (await OutcomeAsync(() => hosts[i % 2].AdvanceAsync(current.Id).AsTask())).Intent ?? current;
                Clock.Advance(Duration.FromSeconds(5));
            }

            return current;
        })).ToArray();
        gate.Open();
        await Task.WhenAll(settlements);

        var book = await BalancedBookAsync(router, Ethereum);
        Assert.Equal(Usdc(380m), book.Spent);
        Assert.Equal(Usdc(0.38m), book.Fees);
        Assert.Equal(Usdc(0m), book.Reserved);
        Assert.True((await router.Ledger.ReconcileAsync(router.Treasury.Tenant)).IsClean);
        var all = new List<PaymentIntent>();
        foreach (var intent in intents)
        {
            all.Add(await router.Intents.GetAsync(merchant, intent.Id));
            var events = (await router.EventsAsync(merchant, intent.Id)).Select(e => e.EventType).ToList();
            Assert.Equal(events.Distinct().Count(), events.Count);
        }

        await AssertEveryIntentAccountedAsync(router, all);
    }

    [Fact]
    public async Task Concurrent_Workers_Advancing_One_Intent_Apply_Each_Step_Once()
    {
        var merchant = await Router.MerchantAsync();
        var intent = await Router.IntentAsync(merchant, 7m, Solana);
        var gate = new AsyncGate();

        var workers = Enumerable.Range(0, 8).Select(_ => Task.Run(async () =>
        {
            await gate.Task;
            for (var i = 0; i < 30; i++)
            {
                try
                {
                    await Router.Intents.AdvanceAsync(intent.Id);
                }
                catch (PaymentsKitException ex) when (ex.IsTransient)
                {
                    // A lost race; the next round reads the winner's result.
                }

                Clock.Advance(Duration.FromMilliseconds(500));
            }
        })).ToArray();
        gate.Open();
        await Task.WhenAll(workers);

        var final = await Router.Intents.GetAsync(merchant, intent.Id);
        Assert.Equal(PaymentIntentStatus.Settled, final.Status);
        Assert.Single(await Router.Intents.ListAttemptsAsync(merchant, intent.Id));
        var events = (await Router.EventsAsync(merchant, intent.Id)).Select(e => e.EventType).ToList();
        Assert.Equal(events.Distinct().Count(), events.Count);
        Assert.Equal("payment_intent.settled", events[^1]);
        Assert.Equal(Usdc(7m), (await BalancedBookAsync(Router, Solana)).Spent);
        Assert.Equal(Usdc(7m), Router.OnChain(Solana, "payee-solana", AssetRegistry.Usdc));
    }

    [Fact]
    public void Any_Intent_Operation_Sequence_Keeps_The_Treasury_Balanced_And_Every_Intent_Accounted_Meets_Specification()
    {
        Prop.ForAll(Arb.From(Gen.ListOf(StepGen)), steps => Blocking(() => RunStepsAsync(steps)))
            .Check(Config.QuickThrowOnFailure.WithMaxTest(PropertyIterations).WithEndSize(50));
    }

    [Fact]
    public async Task Simulated_Chains_With_Rpc_Errors_And_Drops_End_Every_Intent_Settled_Or_In_Review_With_All_Money_Accounted()
    {
        var router = await NewRouterAsync(
            ethereum: 1000m,
            solana: 1000m,
            chains: o =>
            {
                o.RpcErrorRate = 0.2m;
                o.DropRate = 0.1m;
            });
        foreach (var snapshot in await router.Health.GetLatestAsync())
        {
            // The probes themselves may have hit an injected error; routing starts from a healthy reading.
            await router.Health.RecordAsync(snapshot.ToSample() with { MeasuredAt = Clock.GetCurrentInstant(), Status = ChainHealthStatus.Healthy, RpcErrorRate = 0m });
        }

        var merchant = await router.MerchantAsync();
        var random = new Random(5);
        var intents = new List<PaymentIntent>();
        for (var i = 0; i < SimulatedRunIntents; i++)
        {
            var chain = (i % 3) switch { 0 => Ethereum, 1 => Solana, _ => (ChainId?)null };
            intents.Add(await router.IntentAsync(merchant, random.Next(100, 2_000) / 100m, chain));
        }

        for (var round = 0; round < 400 && intents.Any(i => i.Status is not (PaymentIntentStatus.Settled or PaymentIntentStatus.ManualReview)); round++)
        {
            for (var i = 0; i < intents.Count; i++)
            {
                intents[i] = await router.Intents.AdvanceAsync(intents[i].Id);
            }

            Clock.Advance(Duration.FromSeconds(5));
        }

        Assert.All(intents, i => Assert.Contains(i.Status, new[] { PaymentIntentStatus.Settled, PaymentIntentStatus.ManualReview }));
        Assert.Contains(intents, i => i.Status == PaymentIntentStatus.Settled);
        await AssertEveryIntentAccountedAsync(router, intents);
        foreach (var chain in new[] { Ethereum, Solana })
        {
            var book = await BalancedBookAsync(router, chain);
            var settled = intents.Where(i => i.Status == PaymentIntentStatus.Settled && i.SelectedChain == chain).ToList();
            Assert.Equal(Usdc(settled.Sum(i => i.Amount.Amount)), book.Spent);
            Assert.Equal(Usdc(settled.Sum(i => i.ActualFee!.Value.Amount)), book.Fees);
            Assert.Equal(book.Spent, router.OnChain(chain, "payee-" + chain, AssetRegistry.Usdc));
            Assert.Equal(book.Funded - book.Spent, router.OnChain(chain, router.WalletAddress(chain), AssetRegistry.Usdc));
        }

        var attempts = new List<PaymentAttempt>();
        foreach (var intent in intents)
        {
            attempts.AddRange(await router.Intents.ListAttemptsAsync(merchant, intent.Id));
        }

        Assert.Contains(attempts, a => a.Failure == AttemptFailure.RpcError);
        Assert.Contains(attempts, a => a.Failure == AttemptFailure.Dropped);
        Assert.All(attempts, a => Assert.NotEqual(AttemptFailure.Reverted, a.Failure));
    }

    /// <summary>Runs an operation as a client would: retrying transient races, treating a refusal as null.</summary>
    private static async Task<T?> WithRetriesAsync<T>(Func<Task<T>> operation)
        where T : class
    {
        while (true)
        {
            try
            {
                return await operation();
            }
            catch (PaymentsKitException ex) when (ex.IsTransient)
            {
                await Task.Yield();
            }
            catch (PaymentsKitException ex) when (RoutingRefusals.Contains(ex.Code))
            {
                return null;
            }
        }
    }

    /// <summary>The intent an operation returned, or the code it was refused with (after retrying lost races).</summary>
    private static async Task<(PaymentIntent? Intent, string? Refusal)> OutcomeAsync(Func<Task<PaymentIntent>> operation)
    {
        while (true)
        {
            try
            {
                return (await operation(), null);
            }
            catch (PaymentsKitException ex) when (ex.IsTransient)
            {
                await Task.Yield();
            }
            catch (PaymentsKitException ex)
            {
                return (null, ex.Code);
            }
        }
    }

    private static bool Blocking(Func<Task> run)
    {
        run().GetAwaiter().GetResult();
        return true;
    }

    private async Task RunStepsAsync(IReadOnlyList<RoutingStep> steps)
    {
        var router = await NewRouterAsync(ethereum: 60m, solana: 60m);
        var merchant = await router.MerchantAsync();
        var intents = new List<PaymentIntent>();
        foreach (var step in steps)
        {
            var target = intents.Count == 0 ? null : intents[step.Target % intents.Count];
            var chain = target is null ? Ethereum : target.SelectedChain;
            try
            {
                switch (step.Kind)
                {
                    case StepKind.Create:
                        var only = step.Chain switch { 0 => Ethereum, 1 => Solana, _ => (ChainId?)null };
                        intents.Add(await router.IntentAsync(merchant, step.Cents / 100m, only));
                        break;
                    case StepKind.Select when target is not null:
                        await router.Intents.SelectRouteAsync(merchant, target.Id);
                        break;
                    case StepKind.Broadcast when target is not null:
                        await router.Intents.AdvanceAsync(target.Id);
                        break;
                    case StepKind.Confirm when target is not null:
                        Clock.Advance(Duration.FromSeconds(15));
                        await router.Intents.AdvanceAsync(target.Id);
                        break;
                    case StepKind.Fail when target is not null:
                        router.Chain(chain).FailNextBroadcast();
                        await router.Intents.AdvanceAsync(target.Id);
                        break;
                    case StepKind.Drop when target is not null:
                        router.Chain(chain).DropNextBroadcast();
                        await router.Intents.AdvanceAsync(target.Id);
                        break;
                    case StepKind.RpcError when target is not null:
                        router.Chain(chain).FailNextRpcCalls(1);
                        await router.Intents.AdvanceAsync(target.Id);
                        break;
                    case StepKind.Retry when target is not null:
                        Clock.Advance(Duration.FromMinutes(step.Cents % 2 == 0 ? 1 : 3));
                        await router.SampleAsync();
                        await router.Intents.AdvanceAsync(target.Id);
                        break;
                    case StepKind.Cancel when target is not null:
                        await router.Intents.CancelAsync(merchant, target.Id);
                        break;
                }
            }
            catch (PaymentsKitException ex) when (RoutingRefusals.Contains(ex.Code))
            {
                // A refused step changes nothing; the checks below still hold.
            }

            await BalancedBookAsync(router, Ethereum);
            await BalancedBookAsync(router, Solana);
        }

        await AssertEveryIntentAccountedAsync(router, intents);

        // Transactions may have landed for intents not yet polled; once every intent has run its course, what the
        // chain moved is exactly what the books say was spent.
        foreach (var intent in intents)
        {
            await router.RunToEndAsync(await router.Intents.GetAsync(merchant, intent.Id));
        }

        await AssertEveryIntentAccountedAsync(router, intents);
        foreach (var chain in new[] { Ethereum, Solana })
        {
            var book = await BalancedBookAsync(router, chain);
            Assert.Equal(book.Spent, router.OnChain(chain, "payee-" + chain, AssetRegistry.Usdc));
            Assert.Equal(book.Funded - book.Spent, router.OnChain(chain, router.WalletAddress(chain), AssetRegistry.Usdc));
        }

        foreach (var intent in intents)
        {
            await AssertOnlyTableTransitionsHappenedAsync(router, merchant, intent.Id);
        }
    }

    /// <summary>
    /// Asserts the intent's events chain from its creation to its current status, each a move of
    /// <see cref="PaymentIntentLifecycle.Machine"/> from the status the one before it left, so no status change
    /// happened outside the table or without its event.
    /// </summary>
    private static async Task AssertOnlyTableTransitionsHappenedAsync(RoutingHarness router, MerchantId merchant, PaymentIntentId id)
    {
        PaymentIntentStatus? status = null;
        foreach (var e in await router.EventsAsync(merchant, id))
        {
            var data = e.Payload.GetProperty("data");
            var to = PaymentIntentLifecycle.ParseWireName(data.GetProperty("status").GetString());
            var from = data.GetProperty("previous_status").GetString() is { } previous ? PaymentIntentLifecycle.ParseWireName(previous) : (PaymentIntentStatus?)null;
            Assert.Equal(status, from);
            Assert.True(from is null || PaymentIntentLifecycle.Machine.CanTransition(from.Value, to), $"{id}: {from} -> {to}");
            status = to;
        }

        Assert.Equal((await router.Intents.GetAsync(merchant, id)).Status, status);
    }

    public sealed record RoutingStep(StepKind Kind, int Target, int Cents, int Chain);

    /// <summary>Releases every waiting task at once.</summary>
    private sealed class AsyncGate
    {
        private readonly TaskCompletionSource _open = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task Task => _open.Task;

        public void Open() => _open.TrySetResult();
    }
}
