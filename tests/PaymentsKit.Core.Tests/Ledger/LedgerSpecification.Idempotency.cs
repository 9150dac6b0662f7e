using FsCheck;
using FsCheck.Fluent;
using NodaTime;
using PaymentsKit.Ledger;

namespace PaymentsKit.Tests.Ledger;

public abstract partial class LedgerSpecification
{
    /// <summary>
    /// Requests racing with keys from a small pool: per key exactly one request takes effect, every call
    /// with that same request gets its record back, every other request with the key is
    /// <c>idempotency_conflict</c> (also across transactions and reservations), and the balances hold
    /// exactly one effect per used key.
    /// </summary>
    [Fact]
    public void Racing_Requests_Take_Effect_Once_Per_Idempotency_Key_Meets_Specification()
    {
        var calls = (from key in Gen.Choose(0, 1) from variant in Gen.Choose(0, IdempotentVariants - 1) select (key, variant)).ListOf();
        Prop.ForAll(Arb.From(calls.Where(c => c.Count > 0)), requests => Blocking(() => RunIdempotentRaceAsync(requests)))
            .Check(Config.QuickThrowOnFailure.WithMaxTest(2 * ConcurrentPropertyIterations).WithStartSize(4).WithEndSize(16));
    }

    private const int IdempotentVariants = 6;

    /// <summary>
    /// Six pairwise different requests: three postings (amount or reference differ) and three reservations
    /// (amount or timeout differ), all from the unflagged cash account so none is refused for funds.
    /// </summary>
    private static (bool Reserve, decimal Amount, string? Reference, Duration? Timeout) IdempotentVariant(int variant) => variant switch
    {
        0 => (false, 1m, null, null),
        1 => (false, 2m, null, null),
        2 => (false, 1m, "ref-2", null),
        3 => (true, 1m, null, null),
        4 => (true, 1m, null, Duration.FromMinutes(5)),
        _ => (true, 2m, null, null),
    };

    private async Task RunIdempotentRaceAsync(IReadOnlyList<(int Key, int Variant)> requests)
    {
        var tenant = MerchantId.FromGuid(Guid.CreateVersion7());
        var cash = await Ledger.CreateAccountAsync(tenant, new CreateLedgerAccountRequest("cash", "cash", AssetRegistry.Usd, LedgerSide.Debit));
        var customer = await Ledger.CreateAccountAsync(tenant, new CreateLedgerAccountRequest("customer", "customer", AssetRegistry.Usd, LedgerSide.Credit));
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        async Task<(Guid? Id, string? Code)> Call(int key, int variant)
        {
            await gate.Task;
            var (reserve, amount, reference, timeout) = IdempotentVariant(variant);
            var idempotencyKey = $"key-{key}";
            while (true)
            {
                try
                {
                    return reserve
                        ? ((await Ledger.ReserveAsync(tenant, new ReserveLedgerTransferRequest(cash.Id, customer.Id, Usd(amount))
                        {
                            Timeout = timeout,
                            Reference = reference,
                            IdempotencyKey = idempotencyKey,
                        })).Id.Value, null)
                        : ((await Ledger.PostTransactionAsync(tenant, new PostLedgerTransactionRequest([LedgerPosting.Debit(cash.Id, Usd(amount)), LedgerPosting.Credit(customer.Id, Usd(amount))])
                        {
                            Reference = reference,
                            IdempotencyKey = idempotencyKey,
                        })).Id.Value, null);
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

        var running = requests.Select(r => Task.Run(() => Call(r.Key, r.Variant))).ToArray();
        gate.SetResult();
        var outcomes = await Task.WhenAll(running);

        decimal posted = 0, pending = 0;
        foreach (var group in requests.Zip(outcomes).GroupBy(c => c.First.Key))
        {
            var winners = group.Where(c => c.Second.Id is not null).ToList();
            Assert.NotEmpty(winners);
            var winner = winners[0].First.Variant;
            foreach (var (request, (id, code)) in group)
            {
                if (request.Variant == winner)
                {
                    Assert.True(id == winners[0].Second.Id, $"key-{request.Key} variant {request.Variant}: {code ?? "another record"} instead of the first record");
                }
                else
                {
                    Assert.True(code == PaymentsKitErrorCodes.IdempotencyConflict, $"key-{request.Key} variant {request.Variant} after variant {winner}: {code ?? "accepted"}");
                }
            }

            var (reserve, amount, _, _) = IdempotentVariant(winner);
            if (reserve)
            {
                pending += amount;
            }
            else
            {
                posted += amount;
            }
        }

        foreach (var (account, debit) in new[] { (cash, true), (customer, false) })
        {
            var now = await Ledger.GetAccountAsync(tenant, account.Id);
            Assert.Equal(Usd(posted), debit ? now.DebitsPosted : now.CreditsPosted);
            Assert.Equal(Usd(pending), debit ? now.DebitsPending : now.CreditsPending);
        }

        Assert.True((await Ledger.ReconcileAsync(tenant)).IsClean);
    }
}
