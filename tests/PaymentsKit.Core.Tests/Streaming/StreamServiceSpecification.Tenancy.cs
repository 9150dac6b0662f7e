using NodaTime;
using PaymentsKit.Ledger;
using PaymentsKit.Streaming;
using PaymentsKit.Testing;

namespace PaymentsKit.Tests.Streaming;

public abstract partial class StreamServiceSpecification
{
    /// <summary>How many random histories the tenancy property runs; every case opens three tenants' ledgers.</summary>
    protected virtual int TenancyPropertyIterations => 30;

    /// <summary>A step of the tenancy property: a tenant's own work, or an attempt on another tenant's stream or accounts.</summary>
    public enum StreamTenancyStep
    {
        Create,
        Wait,
        Operate,
        TouchForeign,
        FundFromForeign,
    }

    /// <summary>
    /// Three tenants open and operate streams (with the same idempotency keys and transaction hashes, which are
    /// per tenant) while each keeps trying another tenant's streams and accounts: every such call — get, statement,
    /// events, pause, resume, settle, withdraw (keyed or not), cancel, a create from or to another tenant's account —
    /// answers exactly as for a stream or account that does not exist (<c>not_found</c>, same message and context)
    /// and changes nothing, and each tenant's list, streams and ledger balances hold exactly its own.
    /// </summary>
    [Fact]
    public void Tenants_See_And_Change_Only_Their_Own_Streams_Meets_Specification()
    {
        TenancyProperty.Check(
            TenancyPropertyIterations,
            RunStreamTenancyAsync,
            (3, StreamTenancyStep.Create),
            (2, StreamTenancyStep.Wait),
            (3, StreamTenancyStep.Operate),
            (5, StreamTenancyStep.TouchForeign),
            (2, StreamTenancyStep.FundFromForeign));
    }

    private const decimal TenancyFunds = 1000;

    private async Task RunStreamTenancyAsync(List<(int Actor, StreamTenancyStep Step, int Pick)> steps)
    {
        var parties = new List<Parties>();
        var streams = new List<List<PaymentStream>>();
        for (var i = 0; i < 3; i++)
        {
            parties.Add(await PartiesAsync(TenancyFunds, tenant: MerchantId.FromGuid(Guid.CreateVersion7())));
            streams.Add([]);
        }

        foreach (var (actor, step, pick) in steps)
        {
            var me = parties[actor];
            var mine = streams[actor];
            var owner = (actor + 1 + (pick % 2)) % 3;
            var theirs = streams[owner];
            switch (step)
            {
                case StreamTenancyStep.Create:
                {
                    // Every tenant numbers its keys and hashes alike: they are unique per tenant only.
                    var request = Request(me, 10 + (pick % 20), 0.5m) with { IdempotencyKey = $"s-{mine.Count}", TransactionHash = $"0xabc{mine.Count}" };
                    var created = (await Streams.CreateAsync(me.Tenant, request)).Stream;
                    Assert.Equal(me.Tenant, created.TenantId);
                    Assert.DoesNotContain(created.Id, streams.SelectMany(s => s).Select(s => s.Id));
                    mine.Add(await ReloadAsync(created));
                    break;
                }

                case StreamTenancyStep.Wait:
                    Clock.Advance(Duration.FromSeconds(1 + (pick % 10)));
                    break;
                case StreamTenancyStep.Operate when mine.Count > 0:
                {
                    var at = pick % mine.Count;
                    try
                    {
                        await OperateAsync(me.Tenant, mine[at].Id, pick / 3);
                    }
                    catch (PaymentsKitException ex) when (ex.Code is PaymentsKitErrorCodes.InvalidTransition or PaymentsKitErrorCodes.InsufficientFunds)
                    {
                        // The tenant's own call may be refused by the stream's state; that is not what this property checks.
                    }

                    mine[at] = await ReloadAsync(mine[at]);
                    break;
                }

                case StreamTenancyStep.TouchForeign when theirs.Count > 0:
                {
                    var target = theirs[pick % theirs.Count];
                    var absent = StreamId.FromGuid(Guid.CreateVersion7());
                    if (pick / 3 % 12 < 9)
                    {
                        await TenancyAssert.HiddenAsync(
                            () => TouchAsync(me.Tenant, target.Id, pick / 3), target.Id.ToString(),
                            () => TouchAsync(me.Tenant, absent, pick / 3), absent.ToString());
                    }
                    else
                    {
                        await TenancyAssert.SameAsAbsentAsync(
                            () => TouchOddlyAsync(me.Tenant, target.Id, pick / 3), target.Id.ToString(),
                            () => TouchOddlyAsync(me.Tenant, absent, pick / 3), absent.ToString());
                    }

                    Assert.Equal(target, await ReloadAsync(target));
                    break;
                }

                case StreamTenancyStep.FundFromForeign:
                {
                    // Any of the other tenant's accounts: its funding and payout accounts, and its streams' escrow and recipient
                    // accounts (which its own streams may not name either, but that must not show through).
                    var other = parties[owner];
                    LedgerAccountId[] accounts = [other.Funding.Id, other.Payout.Id, .. theirs.SelectMany(s => new[] { s.EscrowAccountId, s.RecipientAccountId })];
                    var absent = LedgerAccountId.FromGuid(Guid.CreateVersion7());
                    var fromTheirs = pick % 2 == 0;
                    CreateStreamRequest Naming(LedgerAccountId account) =>
                        fromTheirs ? Request(me, 10, 0.5m) with { FundingAccountId = account } : Request(me, 10, 0.5m) with { PayoutAccountId = account };
                    var foreign = accounts[pick / 2 % accounts.Length];
                    await TenancyAssert.HiddenAsync(
                        () => Streams.CreateAsync(me.Tenant, Naming(foreign)).AsTask(), foreign.ToString(),
                        () => Streams.CreateAsync(me.Tenant, Naming(absent)).AsTask(), absent.ToString());
                    break;
                }
            }
        }

        for (var i = 0; i < 3; i++)
        {
            await AssertOnlyOwnStreamsAsync(parties[i], streams[i]);
        }
    }

    private Task OperateAsync(MerchantId tenant, StreamId stream, int pick) => (pick % 5) switch
    {
        0 => Streams.PauseAsync(tenant, stream, By).AsTask(),
        1 => Streams.ResumeAsync(tenant, stream, By).AsTask(),
        2 => Streams.SettleAsync(tenant, stream, By).AsTask(),
        3 => Streams.WithdrawAsync(tenant, stream, new WithdrawStreamRequest("recipient") { Amount = pick % 2 == 0 ? null : Usdc(1) }).AsTask(),
        _ => Streams.CancelAsync(tenant, stream, By).AsTask(),
    };

    /// <summary>One call by <paramref name="tenant"/> naming <paramref name="stream"/>: each reads or changes that stream.</summary>
    private Task TouchAsync(MerchantId tenant, StreamId stream, int pick) => (pick % 9) switch
    {
        0 => Streams.GetAsync(tenant, stream).AsTask(),
        1 => Streams.GetStatementAsync(tenant, stream).AsTask(),
        2 => Streams.ListEventsAsync(tenant, stream, null, 10).AsTask(),
        3 => Streams.PauseAsync(tenant, stream, By).AsTask(),
        4 => Streams.ResumeAsync(tenant, stream, By).AsTask(),
        5 => Streams.SettleAsync(tenant, stream, By).AsTask(),
        6 => Streams.WithdrawAsync(tenant, stream, new WithdrawStreamRequest("recipient")).AsTask(),
        7 => Streams.WithdrawAsync(tenant, stream, new WithdrawStreamRequest("recipient") { Amount = Usdc(1), IdempotencyKey = "w-" + (pick % 2) }).AsTask(),
        _ => Streams.CancelAsync(tenant, stream, By).AsTask(),
    };

    /// <summary>
    /// A call naming <paramref name="stream"/> with input that only the stream could refuse (another asset, more than it
    /// holds, a key of the caller's): refused or not, it must be answered without looking at another tenant's stream.
    /// </summary>
    private Task TouchOddlyAsync(MerchantId tenant, StreamId stream, int pick) => (pick % 3) switch
    {
        0 => Streams.WithdrawAsync(tenant, stream, new WithdrawStreamRequest("recipient") { Amount = Money.Of(1, AssetRegistry.Xlm) }).AsTask(),
        1 => Streams.WithdrawAsync(tenant, stream, new WithdrawStreamRequest("recipient") { Amount = Usdc(1_000_000) }).AsTask(),
        _ => Streams.GetStatementAsync(tenant, stream, Instant.FromUtc(1969, 1, 1, 0, 0)).AsTask(),
    };

    private async Task AssertOnlyOwnStreamsAsync(Parties parties, List<PaymentStream> mine)
    {
        var listed = new List<PaymentStream>();
        string? cursor = null;
        do
        {
            var page = await Streams.ListAsync(parties.Tenant, cursor, 7);
            listed.AddRange(page.Items);
            cursor = page.NextCursor;
        }
        while (cursor is not null);
        Assert.Equal(mine.Select(s => s.Id.Value).Order(), listed.Select(s => s.Id.Value).Order());

        foreach (var stream in mine)
        {
            Assert.Equal(stream, await ReloadAsync(stream));
            Assert.Equal(stream.EventCount, (await EventsAsync(stream)).Count);
            Assert.All(await EventsAsync(stream), e => Assert.Equal(parties.Tenant, e.TenantId));
        }

        // The tenant's books moved by its own streams only: what they took from funding and gave back, and what was withdrawn.
        var zero = Usdc(0);
        var funding = await Ledger.GetAccountAsync(parties.Tenant, parties.Funding.Id);
        Assert.Equal(Usdc(TenancyFunds) - mine.Aggregate(zero, (sum, s) => sum + s.TotalAmount - s.RefundedAmount), funding.Balance.Posted);
        var payout = await Ledger.GetAccountAsync(parties.Tenant, parties.Payout.Id);
        Assert.Equal(mine.Aggregate(zero, (sum, s) => sum + s.WithdrawnAmount), payout.Balance.Posted);
        Assert.Equal(3 + (2 * mine.Count), (await Ledger.ListAccountsAsync(parties.Tenant, null, 1000)).Items.Count);
        var report = await Ledger.ReconcileAsync(parties.Tenant);
        Assert.True(report.IsClean, string.Join("; ", report.Discrepancies));
    }
}
