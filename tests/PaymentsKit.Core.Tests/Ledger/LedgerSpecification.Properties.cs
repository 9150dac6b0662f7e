using System.Collections.Concurrent;
using FsCheck;
using FsCheck.Fluent;
using NodaTime;
using PaymentsKit.Ledger;
using PaymentsKit.Storage;

namespace PaymentsKit.Tests.Ledger;

public abstract partial class LedgerSpecification
{
    private static readonly HashSet<string> ExpectedRefusals =
    [
        PaymentsKitErrorCodes.InsufficientFunds,
        PaymentsKitErrorCodes.AlreadyResolved,
        PaymentsKitErrorCodes.Expired,
        PaymentsKitErrorCodes.AlreadyReversed,
        PaymentsKitErrorCodes.ExceedsPendingAmount,
    ];

    protected static Gen<LedgerOperation> OperationGen { get; } =
        from kind in Gen.Frequency(
            (6, Gen.Constant(OperationKind.Transfer)),
            (5, Gen.Constant(OperationKind.Reserve)),
            (3, Gen.Constant(OperationKind.Post)),
            (2, Gen.Constant(OperationKind.PostPartially)),
            (2, Gen.Constant(OperationKind.Void)),
            (1, Gen.Constant(OperationKind.Sweep)),
            (1, Gen.Constant(OperationKind.Reverse)),
            (2, Gen.Constant(OperationKind.TransferXlm)))
        from source in Gen.Choose(0, 4)
        from target in Gen.Choose(0, 4)
        from cents in Gen.Choose(1, 8_000)
        from pick in Gen.Choose(0, 10_000)
        select new LedgerOperation(kind, source, target, cents, pick);

    public enum OperationKind
    {
        Transfer,
        Reserve,
        Post,
        PostPartially,
        Void,
        Sweep,
        Reverse,
        TransferXlm,
    }

    [Fact]
    public void Any_Operation_Sequence_Keeps_The_Books_Balanced_Meets_Specification()
    {
        Prop.ForAll(Arb.From(Gen.ListOf(OperationGen)), operations => Blocking(() => RunSequenceAsync(operations)))
            .Check(Config.QuickThrowOnFailure.WithMaxTest(PropertyIterations).WithEndSize(60));
    }

    [Fact]
    public void Concurrent_Operations_Never_Overdraw_And_Keep_The_Books_Balanced_Meets_Specification()
    {
        Prop.ForAll(Arb.From(Gen.ListOf(OperationGen)), operations => Blocking(() => RunConcurrentlyAsync(operations)))
            .Check(Config.QuickThrowOnFailure.WithMaxTest(ConcurrentPropertyIterations).WithStartSize(20).WithEndSize(80));
    }

    [Fact]
    public Task Sixty_Four_Concurrent_Reservations_On_One_Account_Never_Overdraw_It() =>
        RaceSixtyFourReservationsOfTwentyAsync((_, customer, merchant) => ReserveAsync(customer, merchant, Usd(20)));

    /// <summary>
    /// Funds a customer with 1,000, releases 64 reservations of 20 from it at once (each made by
    /// <paramref name="reserve"/> with its index, lost races retried) and checks exactly 50 hold funds,
    /// nothing is overdrawn and the books reconcile.
    /// </summary>
    protected async Task RaceSixtyFourReservationsOfTwentyAsync(Func<int, LedgerAccount, LedgerAccount, Task<LedgerTransfer>> reserve)
    {
        var (customer, _, merchant) = await FundedCustomerAsync(1_000);
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        var attempts = Enumerable.Range(0, 64).Select(i => Task.Run(async () =>
        {
            await gate.Task;
            return await WithRetriesAsync(() => reserve(i, customer, merchant));
        })).ToArray();
        gate.SetResult();
        var outcomes = await Task.WhenAll(attempts);

        Assert.Equal(50, outcomes.Count(o => o is not null));
        var now = await ReloadAsync(customer);
        Assert.Equal(Usd(1_000), now.DebitsPending);
        Assert.Equal(Usd(0), now.Balance.Available);
        Assert.Equal(51, now.EntryCount);
        Assert.True((await Ledger.ReconcileAsync(Tenant)).IsClean);
    }

    [Fact]
    public async Task Concurrent_Reservations_Posts_And_Voids_On_One_Account_Stay_Within_Its_Funds()
    {
        var (customer, _, merchant) = await FundedCustomerAsync(500);
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        var workers = Enumerable.Range(0, 64).Select(i => Task.Run(async () =>
        {
            await gate.Task;
            var hold = await WithRetriesAsync(() => ReserveAsync(customer, merchant, Usd(15)));
            if (hold is null)
            {
                return 0m;
            }

            var resolved = i % 3 == 0
                ? await WithRetriesAsync(() => Ledger.VoidTransferAsync(Tenant, hold.Id).AsTask())
                : await WithRetriesAsync(() => Ledger.PostTransferAsync(Tenant, hold.Id, Usd(10)).AsTask());
            return resolved!.PostedAmount.Amount;
        })).ToArray();
        gate.SetResult();
        var posted = (await Task.WhenAll(workers)).Sum();

        var now = await ReloadAsync(customer);
        Assert.Equal(Usd(0), now.DebitsPending);
        Assert.Equal(Usd(posted), now.DebitsPosted);
        Assert.True(now.Balance.Available >= Usd(0));
        Assert.True(posted > 0);
        Assert.True((await Ledger.ReconcileAsync(Tenant)).IsClean);
    }

    /// <summary>Runs an operation as a client would: retrying transient races, treating a refusal as null.</summary>
    protected static async Task<T?> WithRetriesAsync<T>(Func<Task<T>> operation)
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
            catch (PaymentsKitException ex) when (ExpectedRefusals.Contains(ex.Code))
            {
                return null;
            }
        }
    }

    protected static bool Blocking(Func<Task> run)
    {
        run().GetAwaiter().GetResult();
        return true;
    }

    /// <summary>
    /// Applies <paramref name="operations"/> one after another and checks the books against the model. Operations
    /// outside a unit go through this class's ledger or, when <paramref name="otherHosts"/> are given, through one of
    /// them in turn (ledgers on other stores over the same database: other hosts).
    /// </summary>
    protected async Task RunSequenceAsync(IReadOnlyList<LedgerOperation> operations, params LedgerService[] otherHosts)
    {
        var world = await World.CreateAsync(this, otherHosts);
        foreach (var operation in operations)
        {
            await world.ApplyAsync(operation, concurrent: false);
        }

        await world.VerifyAsync(checkModel: true);
    }

    private async Task RunConcurrentlyAsync(IReadOnlyList<LedgerOperation> operations)
    {
        var world = await World.CreateAsync(this, []);
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var lanes = Enumerable.Range(0, 4).Select(lane => Task.Run(async () =>
        {
            await gate.Task;
            for (var i = lane; i < operations.Count; i += 4)
            {
                await world.ApplyAsync(operations[i], concurrent: true);
            }
        })).ToArray();
        gate.SetResult();
        await Task.WhenAll(lanes);
        await world.VerifyAsync(checkModel: false);
    }

    public sealed record LedgerOperation(OperationKind Kind, int From, int To, int Cents, int Pick);

    /// <summary>One run's tenant, accounts, and a model of what the balances must be.</summary>
    private sealed class World
    {
        private readonly LedgerSpecification _spec;
        private readonly LedgerService _ledger;
        private readonly LedgerService[] _hosts;
        private readonly MerchantId _tenant = MerchantId.FromGuid(Guid.CreateVersion7());
        private readonly List<LedgerAccount> _usd = [];
        private readonly List<LedgerAccount> _xlm = [];
        private readonly ConcurrentDictionary<LedgerTransferId, LedgerTransfer> _transfers = new();
        private readonly ConcurrentQueue<LedgerTransaction> _posted = new();
        private readonly Dictionary<LedgerAccountId, decimal[]> _model = [];
        private readonly Lock _lock = new();

        private World(LedgerSpecification spec, LedgerService[] otherHosts)
        {
            _spec = spec;
            _ledger = new LedgerService(spec.Store, spec.Clock, Assets);
            _hosts = [_ledger, .. otherHosts];
        }

        public static async Task<World> CreateAsync(LedgerSpecification spec, LedgerService[] otherHosts)
        {
            var world = new World(spec, otherHosts);
            async Task<LedgerAccount> Open(string code, Asset asset, LedgerSide side, LedgerAccountFlags flags)
            {
                var account = await world._ledger.CreateAccountAsync(world._tenant, new CreateLedgerAccountRequest(code, code, asset, side) { Flags = flags });
                world._model[account.Id] = new decimal[4];
                return account;
            }

            world._usd.Add(await Open("cash", AssetRegistry.Usd, LedgerSide.Debit, LedgerAccountFlags.None));
            world._usd.Add(await Open("customer-a", AssetRegistry.Usd, LedgerSide.Credit, LedgerAccountFlags.DebitsMustNotExceedCredits));
            world._usd.Add(await Open("customer-b", AssetRegistry.Usd, LedgerSide.Credit, LedgerAccountFlags.DebitsMustNotExceedCredits));
            world._usd.Add(await Open("wallet", AssetRegistry.Usd, LedgerSide.Debit, LedgerAccountFlags.CreditsMustNotExceedDebits));
            world._usd.Add(await Open("revenue", AssetRegistry.Usd, LedgerSide.Credit, LedgerAccountFlags.None));
            world._xlm.Add(await Open("xlm-wallet", AssetRegistry.Xlm, LedgerSide.Debit, LedgerAccountFlags.CreditsMustNotExceedDebits));
            world._xlm.Add(await Open("xlm-pool", AssetRegistry.Xlm, LedgerSide.Credit, LedgerAccountFlags.None));
            await world.PostAsync(world._ledger, world._usd[0], world._usd[1], Usd(100), true);
            await world.PostAsync(world._ledger, world._usd[0], world._usd[2], Usd(50), true);
            await world.PostAsync(world._ledger, world._usd[3], world._usd[4], Usd(200), true);
            await world.PostAsync(world._ledger, world._xlm[0], world._xlm[1], Xlm(100), true);
            return world;
        }

        public async Task ApplyAsync(LedgerOperation operation, bool concurrent)
        {
            try
            {
                await ApplyCoreAsync(operation, concurrent);
            }
            catch (PaymentsKitException ex) when (ExpectedRefusals.Contains(ex.Code) || (concurrent && ex.Code == PaymentsKitErrorCodes.ConcurrencyConflict))
            {
                // A refused operation writes nothing; the final checks prove it.
            }
        }

        public async Task VerifyAsync(bool checkModel)
        {
            var accounts = (await _ledger.ListAccountsAsync(_tenant, null, 100)).Items;
            foreach (var group in accounts.GroupBy(a => a.Asset))
            {
                var zero = Money.Zero(group.Key);
                Assert.Equal(group.Aggregate(zero, (s, a) => s + a.DebitsPosted), group.Aggregate(zero, (s, a) => s + a.CreditsPosted));
                Assert.Equal(group.Aggregate(zero, (s, a) => s + a.DebitsPending), group.Aggregate(zero, (s, a) => s + a.CreditsPending));
            }

            var transfers = new List<LedgerTransfer>();
            foreach (var id in _transfers.Keys)
            {
                transfers.Add(await _ledger.GetTransferAsync(_tenant, id));
            }

            foreach (var account in accounts)
            {
                var zero = Money.Zero(account.Asset);
                Assert.True(account.DebitsPending >= zero && account.CreditsPending >= zero, $"negative pending on {account.Code}");
                if (account.Flags == LedgerAccountFlags.DebitsMustNotExceedCredits)
                {
                    Assert.True(account.DebitsPosted + account.DebitsPending <= account.CreditsPosted, $"{account.Code} overdrawn");
                    Assert.True(account.Balance.Available >= zero);
                }

                if (account.Flags == LedgerAccountFlags.CreditsMustNotExceedDebits)
                {
                    Assert.True(account.CreditsPosted + account.CreditsPending <= account.DebitsPosted, $"{account.Code} overdrawn");
                    Assert.True(account.Balance.Available >= zero);
                }

                var open = transfers.Where(t => t.State == LedgerTransferState.Pending).ToList();
                Assert.Equal(open.Where(t => t.DebitAccountId == account.Id).Aggregate(zero, (s, t) => s + t.Amount), account.DebitsPending);
                Assert.Equal(open.Where(t => t.CreditAccountId == account.Id).Aggregate(zero, (s, t) => s + t.Amount), account.CreditsPending);
                if (checkModel)
                {
                    Assert.Equal<decimal>(_model[account.Id], (IEnumerable<decimal>)[account.DebitsPosted.Amount, account.CreditsPosted.Amount, account.DebitsPending.Amount, account.CreditsPending.Amount]);
                }
            }

            foreach (var transfer in transfers)
            {
                var settled = transfer.PostedAmount + transfer.ReleasedAmount;
                Assert.True(settled <= transfer.Amount);
                Assert.Equal(transfer.State == LedgerTransferState.Pending ? Money.Zero(transfer.Amount.Asset) : transfer.Amount, settled);
            }

            var report = await _ledger.ReconcileAsync(_tenant);
            Assert.True(report.IsClean, string.Join("; ", report.Discrepancies));
        }

        private async Task ApplyCoreAsync(LedgerOperation operation, bool concurrent)
        {
            var amount = Usd(operation.Cents / 100m);
            var host = _hosts[operation.Pick / 3 % _hosts.Length];
            switch (operation.Kind)
            {
                case OperationKind.Transfer when operation.From != operation.To:
                    await PostAsync(host, _usd[operation.From], _usd[operation.To], amount, Keyed(operation, concurrent));
                    break;
                case OperationKind.TransferXlm:
                    var (from, to) = operation.From % 2 == 0 ? (_xlm[0], _xlm[1]) : (_xlm[1], _xlm[0]);
                    await PostAsync(host, from, to, Xlm(operation.Cents / 1000m), Keyed(operation, concurrent));
                    break;
                case OperationKind.Reserve when operation.From != operation.To:
                    var request = new ReserveLedgerTransferRequest(_usd[operation.From].Id, _usd[operation.To].Id, amount)
                    {
                        Timeout = operation.Pick % 3 == 0 ? Duration.FromSeconds(1 + (operation.Pick % 50)) : null,
                    };
                    var transfer = InUnit(operation)
                        ? await _spec.Store.ExecuteAsync((unit, ct) => _ledger.ReserveAsync(unit, _tenant, request, ct))
                        : await host.ReserveAsync(_tenant, request);
                    _transfers[transfer.Id] = transfer;
                    Model(transfer.DebitAccountId, 2, transfer.Amount.Amount);
                    Model(transfer.CreditAccountId, 3, transfer.Amount.Amount);
                    break;
                case OperationKind.Post or OperationKind.PostPartially or OperationKind.Void when Pick(operation.Pick) is { } id:
                    var resolved = (operation.Kind, InUnit(operation)) switch
                    {
                        (OperationKind.Post, false) => await host.PostTransferAsync(_tenant, id),
                        (OperationKind.PostPartially, false) => await host.PostTransferAsync(_tenant, id, amount),
                        (_, false) => await host.VoidTransferAsync(_tenant, id),
                        (OperationKind.Post, true) => await _spec.Store.ExecuteAsync((unit, ct) => _ledger.PostTransferAsync(unit, _tenant, id, null, ct)),
                        (OperationKind.PostPartially, true) => await _spec.Store.ExecuteAsync((unit, ct) => _ledger.PostTransferAsync(unit, _tenant, id, amount, ct)),
                        (_, true) => await _spec.Store.ExecuteAsync((unit, ct) => _ledger.VoidTransferAsync(unit, _tenant, id, ct)),
                    };
                    Resolved(resolved);
                    break;
                case OperationKind.Sweep:
                    _spec.Clock.Advance(Duration.FromSeconds(operation.Pick % 40));

                    foreach (var expired in await _ledger.ExpireDueAsync(_spec.Clock.GetCurrentInstant()))
                    {
                        if (expired.TenantId == _tenant)
                        {
                            Resolved(expired);
                        }
                    }

                    break;
                case OperationKind.Reverse when _posted.Count > 0:
                    var original = _posted.ElementAt(operation.Pick % _posted.Count);
                    var reversal = await host.ReverseTransactionAsync(_tenant, new ReverseLedgerTransactionRequest(original.Id));
                    Posted(reversal);
                    break;
            }
        }

        /// <summary>
        /// Whether to run a two-phase operation within a unit of work (the record path) rather than
        /// alone (a store's one-step path, where it has one), so runs interleave both paths.
        /// </summary>
        private static bool InUnit(LedgerOperation operation) => operation.Pick / 7 % 2 == 1;

        private LedgerTransferId? Pick(int pick)
        {
            var ids = _transfers.Keys.ToArray();
            return ids.Length == 0 ? null : ids[pick % ids.Length];
        }

        /// <summary>Whether a posting carries an idempotency key (the record path): half of them, when operations run one at a time.</summary>
        private static bool Keyed(LedgerOperation operation, bool concurrent) => !concurrent && operation.Pick % 2 == 1;

        private async Task PostAsync(LedgerService ledger, LedgerAccount from, LedgerAccount to, Money amount, bool keyed)
        {
            var transaction = await ledger.PostTransactionAsync(
                _tenant,
                new PostLedgerTransactionRequest([LedgerPosting.Debit(from.Id, amount), LedgerPosting.Credit(to.Id, amount)])
                {
                    IdempotencyKey = keyed ? Guid.NewGuid().ToString("N") : null,
                });
            Posted(transaction);
        }

        private void Posted(LedgerTransaction transaction)
        {
            _posted.Enqueue(transaction);
            foreach (var posting in transaction.Postings)
            {
                Model(posting.AccountId, posting.Side == LedgerSide.Debit ? 0 : 1, posting.Amount.Amount);
            }
        }

        private void Resolved(LedgerTransfer transfer)
        {
            _transfers[transfer.Id] = transfer;
            Model(transfer.DebitAccountId, 2, -transfer.Amount.Amount);
            Model(transfer.CreditAccountId, 3, -transfer.Amount.Amount);
            Model(transfer.DebitAccountId, 0, transfer.PostedAmount.Amount);
            Model(transfer.CreditAccountId, 1, transfer.PostedAmount.Amount);
            if (transfer.State == LedgerTransferState.Posted)
            {
                _posted.Enqueue(new LedgerTransaction(
                    transfer.ResolvingTransactionId!.Value, _tenant, LedgerTransactionKind.PostPending, [], null, null, null, null, new Dictionary<string, string>(), null, transfer.Id, 0, transfer.ResolvedAt!.Value));
            }
        }

        private void Model(LedgerAccountId account, int slot, decimal change)
        {
            lock (_lock)
            {
                _model[account][slot] += change;
            }
        }
    }
}
