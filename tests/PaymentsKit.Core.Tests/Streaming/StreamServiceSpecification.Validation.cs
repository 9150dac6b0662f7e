using NodaTime;
using PaymentsKit.Ledger;
using PaymentsKit.Streaming;

namespace PaymentsKit.Tests.Streaming;

public abstract partial class StreamServiceSpecification
{
    [Fact]
    public async Task Bad_Create_Requests_Fail_With_Their_Code_Naming_The_Field_And_Write_Nothing()
    {
        var parties = await PartiesAsync(1000);
        var xlm = await PartiesAsync(1000, AssetRegistry.Xlm);
        var start = Now;
        var valid = Request(parties, 100, 1, start);
        var cases = new (string Code, string? Field, CreateStreamRequest Request)[]
        {
            (PaymentsKitErrorCodes.AmountOutOfRange, "rate_per_second", valid with { RatePerSecond = 0 }),
            (PaymentsKitErrorCodes.AmountOutOfRange, "rate_per_second", valid with { RatePerSecond = -1 }),
            (PaymentsKitErrorCodes.AmountOutOfRange, "total_amount", valid with { TotalAmount = Usdc(0) }),
            (PaymentsKitErrorCodes.AmountOutOfRange, "total_amount", valid with { TotalAmount = Usdc(-5) }),
            (PaymentsKitErrorCodes.AmountOutOfRange, "total_amount", valid with { TotalAmount = Usdc(100_000_000_000m) }),
            (PaymentsKitErrorCodes.InvalidArgument, "end_time", valid with { EndTime = start - Duration.FromSeconds(1) }),
            (PaymentsKitErrorCodes.InvalidArgument, "end_time", valid with { EndTime = start }),
            (PaymentsKitErrorCodes.AmountOutOfRange, "rate_per_second", valid with { EndTime = start + Duration.FromSeconds(101) }),
            (PaymentsKitErrorCodes.AmountPrecision, "rate_per_second", valid with { RatePerSecond = 0.0000000001m }),
            (PaymentsKitErrorCodes.AmountPrecision, "total_amount", valid with { TotalAmount = Money.Of(1.0000000001m, AssetRegistry.Eth) }),
            (PaymentsKitErrorCodes.UnknownAsset, "total_amount", valid with { TotalAmount = Money.Of(5, Asset.Create("ZZZ", 2)) }),
            (PaymentsKitErrorCodes.AssetConflict, "total_amount", valid with { TotalAmount = Money.Of(5, Asset.Create("USDC", 4)) }),
            (PaymentsKitErrorCodes.InvalidArgument, "total_amount", valid with { TotalAmount = default }),
            (PaymentsKitErrorCodes.InvalidArgument, "funding_account_id", valid with { FundingAccountId = default }),
            (PaymentsKitErrorCodes.InvalidArgument, "payout_account_id", valid with { PayoutAccountId = default }),
            (PaymentsKitErrorCodes.NotFound, "funding_account_id", valid with { FundingAccountId = LedgerAccountId.New(Clock) }),
            (PaymentsKitErrorCodes.NotFound, "payout_account_id", valid with { PayoutAccountId = LedgerAccountId.New(Clock) }),
            (PaymentsKitErrorCodes.AssetMismatch, "payout_account_id", valid with { PayoutAccountId = xlm.Payout.Id }),
            (PaymentsKitErrorCodes.AssetMismatch, "funding_account_id", valid with { FundingAccountId = xlm.Funding.Id }),
            (PaymentsKitErrorCodes.InsufficientFunds, null, valid with { TotalAmount = Usdc(1000.000001m) }),
            (PaymentsKitErrorCodes.InvalidArgument, "recipient", valid with { Recipient = valid.Payer }),
            (PaymentsKitErrorCodes.InvalidArgument, "payer", valid with { Payer = " " }),
            (PaymentsKitErrorCodes.InvalidArgument, "recipient", valid with { Recipient = new string('r', 256) }),
            (PaymentsKitErrorCodes.InvalidArgument, "start_time", valid with { StartTime = Instant.FromUtc(1969, 12, 31, 23, 59) }),
            (PaymentsKitErrorCodes.InvalidArgument, "transaction_hash", valid with { TransactionHash = "0x" + new string('a', 65) }),
            (PaymentsKitErrorCodes.InvalidArgument, "transaction_hash", valid with { TransactionHash = "0x ab" }),
            (PaymentsKitErrorCodes.InvalidArgument, "contract_address", valid with { ContractAddress = new string('c', 256) }),
            (PaymentsKitErrorCodes.InvalidArgument, "chain_id", valid with { ChainId = "Stellar Testnet" }),
            (PaymentsKitErrorCodes.InvalidArgument, "metadata", valid with { Metadata = Enumerable.Range(0, 51).ToDictionary(i => "k" + i, i => "v") }),
            (PaymentsKitErrorCodes.InvalidArgument, "idempotency_key", valid with { IdempotencyKey = new string('k', 256) }),
            (PaymentsKitErrorCodes.InvalidArgument, "actor", valid with { Actor = "" }),
            (PaymentsKitErrorCodes.InvalidAddress, "payer", Request(xlm, 10, 1) with { Payer = "not an address!" }),
            (PaymentsKitErrorCodes.InvalidArgument, "recipient", Request(xlm, 10, 1) with { Payer = "gsame", Recipient = "GSAME" }),
        };

        foreach (var (code, field, request) in cases)
        {
            var error = await FailsAsync(code, () => Streams.CreateAsync(Tenant, request).AsTask());
            if (field is not null)
            {
                Assert.True(
                    Equals(error.Context.GetValueOrDefault("field"), field) || error.Message.Contains(field, StringComparison.Ordinal),
                    $"{code} for {field}: {error.Message}");
            }
        }

        await FailsAsync(PaymentsKitErrorCodes.InvalidArgument, () => Streams.CreateAsync(default, valid).AsTask());
        await FailsAsync(PaymentsKitErrorCodes.InvalidArgument, () => Streams.CreateAsync(Tenant, null!).AsTask());
        await AssertNothingWrittenAsync(parties);
        Assert.DoesNotContain((await Ledger.ListAccountsAsync(Tenant, null, 100)).Items, a => a.Code.Contains("str_", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Bad_Operation_Requests_Fail_With_Their_Code_And_Leave_The_Stream_As_It_Was()
    {
        var parties = await PartiesAsync(1000);
        var eth = await PartiesAsync(10, AssetRegistry.Eth);
        var stream = await CreateAsync(parties, 100, 1);
        var ether = await CreateAsync(eth, 1, 0.001m);
        Clock.Advance(Duration.FromSeconds(30));

        await FailsAsync(PaymentsKitErrorCodes.InvalidArgument, () => Streams.PauseAsync(Tenant, stream.Id, new StreamAction(" ")).AsTask());
        await FailsAsync(PaymentsKitErrorCodes.InvalidArgument, () => Streams.SettleAsync(Tenant, stream.Id, null!).AsTask());
        await FailsAsync(PaymentsKitErrorCodes.InvalidArgument, () => Streams.CancelAsync(Tenant, stream.Id, new StreamAction("x") { Reason = new string('r', 501) }).AsTask());
        await FailsAsync(PaymentsKitErrorCodes.InvalidArgument, () => Streams.ResumeAsync(default, stream.Id, By).AsTask());
        await FailsAsync(PaymentsKitErrorCodes.InvalidArgument, () => Streams.SettleAsync(Tenant, default, By).AsTask());
        await FailsAsync(PaymentsKitErrorCodes.NotFound, () => Streams.SettleAsync(Tenant, StreamId.New(Clock), By).AsTask());
        await FailsAsync(PaymentsKitErrorCodes.AmountOutOfRange, () => Streams.WithdrawAsync(Tenant, stream.Id, new WithdrawStreamRequest("r") { Amount = Usdc(0) }).AsTask());
        await FailsAsync(PaymentsKitErrorCodes.AmountOutOfRange, () => Streams.WithdrawAsync(Tenant, stream.Id, new WithdrawStreamRequest("r") { Amount = Usdc(-1) }).AsTask());
        await FailsAsync(PaymentsKitErrorCodes.AssetMismatch, () => Streams.WithdrawAsync(Tenant, stream.Id, new WithdrawStreamRequest("r") { Amount = Money.Of(1, AssetRegistry.Xlm) }).AsTask());
        await FailsAsync(PaymentsKitErrorCodes.AmountPrecision, () => Streams.WithdrawAsync(Tenant, ether.Id, new WithdrawStreamRequest("r") { Amount = Money.Of(0.0000000001m, AssetRegistry.Eth) }).AsTask());
        await FailsAsync(PaymentsKitErrorCodes.InsufficientFunds, () => Streams.WithdrawAsync(Tenant, stream.Id, new WithdrawStreamRequest("r") { Amount = Usdc(30.000001m) }).AsTask());
        await FailsAsync(PaymentsKitErrorCodes.InvalidArgument, () => Streams.ListAsync(Tenant, null, 0).AsTask());
        await FailsAsync(PaymentsKitErrorCodes.InvalidArgument, () => Streams.ListEventsAsync(Tenant, stream.Id, "not-a-cursor", 10).AsTask());
        await FailsAsync(PaymentsKitErrorCodes.InvalidArgument, () => Streams.CompleteDueAsync(Now, 0).AsTask());
        await FailsAsync(PaymentsKitErrorCodes.InvalidArgument, () => Streams.CompleteDueAsync(Now, StreamService.MaxSweepLimit + 1).AsTask());

        foreach (var original in new[] { stream, ether })
        {
            var now = await ReloadAsync(original);
            Assert.Equal((original.Version, original.EventCount, original.SettledAmount, original.WithdrawnAmount), (now.Version, now.EventCount, now.SettledAmount, now.WithdrawnAmount));
            await AssertBooksAsync(now);
        }

        Assert.Equal(Usdc(0), (await Ledger.GetAccountAsync(Tenant, stream.RecipientAccountId)).Balance.Posted);
    }

    [Fact]
    public async Task A_Streams_Own_Accounts_Cannot_Fund_Or_Receive_Another_Stream()
    {
        var parties = await PartiesAsync(1000);
        var first = await CreateAsync(parties, 100, 1);
        Clock.Advance(Duration.FromSeconds(10));
        var valid = Request(parties, 100, 1);

        // Funding another stream from a stream's escrow (or its recipient's balance) would take what its recipient and
        // payer are owed; paying withdrawals into either would leave more there than the stream counts.
        var cases = new (string Field, CreateStreamRequest Request)[]
        {
            ("funding_account_id", valid with { FundingAccountId = first.EscrowAccountId }),
            ("funding_account_id", valid with { FundingAccountId = first.RecipientAccountId }),
            ("payout_account_id", valid with { PayoutAccountId = first.EscrowAccountId }),
            ("payout_account_id", valid with { PayoutAccountId = first.RecipientAccountId }),
        };
        foreach (var (field, request) in cases)
        {
            var error = await FailsAsync(PaymentsKitErrorCodes.InvalidArgument, () => Streams.CreateAsync(Tenant, request).AsTask());
            Assert.Equal(field, error.Context["field"]);
            Assert.Contains(first.Id.ToString(), error.Message, StringComparison.Ordinal);
        }

        Assert.Single((await Streams.ListAsync(Tenant, null, 10)).Items);
        Assert.Equal(Usdc(100), (await Ledger.GetAccountAsync(Tenant, first.EscrowAccountId)).Balance.Posted);
        var cancelled = (await Streams.CancelAsync(Tenant, first.Id, By)).Stream;
        Assert.Equal((Usdc(10), Usdc(90)), (cancelled.SettledAmount, cancelled.RefundedAmount));
        await AssertBooksAsync(cancelled);
    }
}
