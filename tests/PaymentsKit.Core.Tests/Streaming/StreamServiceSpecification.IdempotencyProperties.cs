using FsCheck;
using FsCheck.Fluent;
using NodaTime;
using PaymentsKit.Streaming;

namespace PaymentsKit.Tests.Streaming;

public abstract partial class StreamServiceSpecification
{
    /// <summary>How many random races the keyed-withdrawal property tries; every case opens two tenants' streams.</summary>
    protected virtual int ConcurrentPropertyIterations => 40;

    /// <summary>
    /// Keyed withdrawals racing over two tenants with two streams each and keys from a small pool: each (tenant, key)
    /// withdraws exactly once, from whichever stream it named, every request equal to the one that won (3 and 3.00
    /// alike; the actor is not compared) gets that withdrawal back, every other request with the key (another amount,
    /// reason or stream) is <c>idempotency_conflict</c>, and the streams and the ledger hold exactly the winning withdrawals.
    /// </summary>
    [Fact]
    public void Racing_Keyed_Withdrawals_Take_Effect_Once_Per_Idempotency_Key_Meets_Specification()
    {
        var calls = (from tenant in Gen.Choose(0, 1) from stream in Gen.Choose(0, 1) from key in Gen.Choose(0, 1) from variant in Gen.Choose(0, 3)
                     select (tenant, stream, key, variant)).ListOf();
        Prop.ForAll(Arb.From(calls.Where(c => c.Count > 0)), requests => Blocking(() => RunKeyedWithdrawalsAsync(requests)))
            .Check(Config.QuickThrowOnFailure.WithMaxTest(ConcurrentPropertyIterations).WithStartSize(4).WithEndSize(12));
    }

    /// <summary>Four withdrawals; the first two differ only in how the amount is written (and who asks), so they are one request.</summary>
    private static (int Request, WithdrawStreamRequest Withdraw) WithdrawVariant(int variant, string key) => variant switch
    {
        0 => (0, new WithdrawStreamRequest("recipient") { Amount = Usdc(1), Reason = "payday", IdempotencyKey = key }),
        1 => (0, new WithdrawStreamRequest("retrying-client") { Amount = Usdc(1.00m), Reason = "payday", IdempotencyKey = key }),
        2 => (2, new WithdrawStreamRequest("recipient") { Amount = Usdc(2), Reason = "payday", IdempotencyKey = key }),
        _ => (3, new WithdrawStreamRequest("recipient") { Amount = Usdc(1), Reason = "bonus", IdempotencyKey = key }),
    };

    private async Task RunKeyedWithdrawalsAsync(IReadOnlyList<(int Tenant, int Stream, int Key, int Variant)> requests)
    {
        // Two keys withdraw at most 4 of the 5 each stream has accrued, so no request is refused for want of funds.
        Parties[] parties = [await PartiesAsync(200, tenant: MerchantId.FromGuid(Guid.CreateVersion7())), await PartiesAsync(200, tenant: MerchantId.FromGuid(Guid.CreateVersion7()))];
        var streams = new PaymentStream[2][];
        for (var t = 0; t < parties.Length; t++)
        {
            streams[t] = [await CreateAsync(parties[t], 100, 0.5m), await CreateAsync(parties[t], 100, 0.5m)];
        }

        Clock.Advance(Duration.FromSeconds(10));
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        async Task<(StreamOperationResult? Result, string? Code)> Withdraw(int tenant, int stream, int key, int variant)
        {
            await gate.Task;
            while (true)
            {
                try
                {
                    return (await Streams.WithdrawAsync(parties[tenant].Tenant, streams[tenant][stream].Id, WithdrawVariant(variant, $"w-{key}").Withdraw), null);
                }
                catch (PaymentsKitException ex) when (ex.IsTransient)
                {
                    // A client retries with the same key; the retry finds the withdrawal the failed call may have made.
                    await Task.Yield();
                }
                catch (PaymentsKitException ex)
                {
                    return (null, ex.Code);
                }
            }
        }

        var running = requests.Select(r => Task.Run(() => Withdraw(r.Tenant, r.Stream, r.Key, r.Variant))).ToArray();
        gate.SetResult();
        var outcomes = await Task.WhenAll(running);

        var withdrawals = new HashSet<Guid>();
        var withdrawn = new decimal[2, 2];
        foreach (var group in requests.Zip(outcomes).GroupBy(c => (c.First.Tenant, c.First.Key)))
        {
            var winners = group.Where(c => c.Second.Result is not null).ToList();
            Assert.NotEmpty(winners);
            var (winnerStream, winner) = (winners[0].First.Stream, WithdrawVariant(winners[0].First.Variant, "").Request);
            var result = winners[0].Second.Result!;
            var withdrawal = result.Events[^1];
            Assert.True(withdrawals.Add(withdrawal.Id), $"{withdrawal.Id} was returned for two tenants or keys");
            Assert.Equal((streams[group.Key.Tenant][winnerStream].Id, StreamEventKind.Withdrawn, WithdrawVariant(winner, "").Withdraw.Amount!.Value),
                (result.Stream.Id, withdrawal.Kind, withdrawal.Amount));
            withdrawn[group.Key.Tenant, winnerStream] += withdrawal.Amount.Amount;
            foreach (var (request, (returned, code)) in group)
            {
                if (request.Stream == winnerStream && WithdrawVariant(request.Variant, "").Request == winner)
                {
                    Assert.True(
                        returned is not null && returned.Events.Select(e => e.Id).SequenceEqual(result.Events.Select(e => e.Id)),
                        $"tenant {request.Tenant} stream {request.Stream} w-{request.Key} variant {request.Variant}: {code ?? string.Join(",", returned!.Events.Select(e => e.Id))} instead of {withdrawal.Id}");
                }
                else
                {
                    Assert.True(code == PaymentsKitErrorCodes.IdempotencyConflict,
                        $"tenant {request.Tenant} stream {request.Stream} w-{request.Key} variant {request.Variant} after stream {winnerStream} request {winner}: {code ?? "accepted"}");
                }
            }
        }

        for (var t = 0; t < parties.Length; t++)
        {
            for (var s = 0; s < 2; s++)
            {
                var now = await ReloadAsync(streams[t][s]);
                Assert.Equal(Usdc(withdrawn[t, s]), now.WithdrawnAmount);
                await AssertBooksAsync(now);
            }

            Assert.Equal(Usdc(withdrawn[t, 0] + withdrawn[t, 1]), (await Ledger.GetAccountAsync(parties[t].Tenant, parties[t].Payout.Id)).Balance.Posted);
        }
    }
}
