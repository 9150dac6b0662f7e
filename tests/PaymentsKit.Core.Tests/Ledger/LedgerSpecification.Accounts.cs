using PaymentsKit.Ledger;

namespace PaymentsKit.Tests.Ledger;

public abstract partial class LedgerSpecification
{
    [Fact]
    public async Task CreateAccount_Opens_An_Account_With_Zero_Balances_Readable_By_Id_Code_And_Listing()
    {
        var account = await OpenAsync("treasury:usd", LedgerSide.Debit, LedgerAccountFlags.CreditsMustNotExceedDebits, metadata: new Dictionary<string, string> { ["owner"] = "ops" });

        Assert.StartsWith("acc_", account.Id.ToString(), StringComparison.Ordinal);
        Assert.Equal(Tenant, account.TenantId);
        Assert.Equal(AssetRegistry.Usd, account.Asset);
        Assert.Equal(Usd(0), account.Balance.Posted);
        Assert.Equal(Usd(0), account.Balance.Available);
        Assert.Equal(0, account.EntryCount);
        Assert.Equal(Clock.GetCurrentInstant(), account.CreatedAt);

        var read = await ReloadAsync(account);
        Assert.Equal(account.Code, read.Code);
        Assert.Equal(LedgerAccountFlags.CreditsMustNotExceedDebits, read.Flags);
        Assert.Equal("ops", read.Metadata["owner"]);
        Assert.Equal(account.Id, (await Ledger.FindAccountByCodeAsync(Tenant, "treasury:usd"))!.Id);
        Assert.Null(await Ledger.FindAccountByCodeAsync(Tenant, "nope"));
        Assert.Null(await Ledger.FindAccountByCodeAsync(OtherTenant, "treasury:usd"));

        Clock.Advance(NodaTime.Duration.FromSeconds(1));
        var second = await OpenAsync("fees");
        var first = await Ledger.ListAccountsAsync(Tenant, null, 1);
        Assert.Equal([account.Id], first.Items.Select(a => a.Id));
        var rest = await Ledger.ListAccountsAsync(Tenant, first.NextCursor, 10);
        Assert.Equal([second.Id], rest.Items.Select(a => a.Id));
        Assert.Null(rest.NextCursor);
    }

    [Fact]
    public async Task CreateAccount_Rejects_A_Code_Taken_In_The_Tenant_But_Not_In_Another()
    {
        var first = await OpenAsync("wallet");

        var ex = await FailsAsync(PaymentsKitErrorCodes.DuplicateKey, () => OpenAsync("wallet", LedgerSide.Debit));
        Assert.Contains(first.Id.ToString(), ex.Message, StringComparison.Ordinal);
        var elsewhere = await OpenAsync("wallet", tenant: OtherTenant);
        Assert.NotEqual(first.Id, elsewhere.Id);
    }

    [Fact]
    public async Task CreateAccount_Concurrently_With_One_Code_Opens_Exactly_One()
    {
        var attempts = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(async () =>
        {
            try
            {
                return (await OpenAsync("race")).Id;
            }
            catch (PaymentsKitException ex) when (ex.Code == PaymentsKitErrorCodes.DuplicateKey)
            {
                return (LedgerAccountId?)null;
            }
        })));

        Assert.Single(attempts, a => a is not null);
        Assert.Single((await Ledger.ListAccountsAsync(Tenant, null, 100)).Items);
    }

    [Theory]
    [InlineData("", "invalid_argument")]
    [InlineData(" starts-with-space", "invalid_argument")]
    [InlineData("has space", "invalid_argument")]
    [InlineData("-leading-dash", "invalid_argument")]
    public async Task CreateAccount_Rejects_A_Malformed_Code(string code, string error)
    {
        await FailsAsync(error, () => OpenAsync(code));
    }

    [Fact]
    public async Task CreateAccount_Rejects_Bad_Requests_With_Clear_Codes()
    {
        await FailsAsync(PaymentsKitErrorCodes.InvalidArgument, () => OpenAsync(new string('a', 65)));
        await FailsAsync(PaymentsKitErrorCodes.InvalidArgument, () => OpenAsync("ok", tenant: default(MerchantId)));
        await FailsAsync(PaymentsKitErrorCodes.InvalidArgument, () => OpenAsync("ok", (LedgerSide)7));
        await FailsAsync(
            PaymentsKitErrorCodes.InvalidArgument,
            () => OpenAsync("ok", flags: LedgerAccountFlags.DebitsMustNotExceedCredits | LedgerAccountFlags.CreditsMustNotExceedDebits));
        await FailsAsync(PaymentsKitErrorCodes.InvalidArgument, () => OpenAsync("ok", flags: (LedgerAccountFlags)4));
        await FailsAsync(PaymentsKitErrorCodes.UnknownAsset, () => OpenAsync("ok", asset: Asset.Create("DOGE", 8)));
        await FailsAsync(PaymentsKitErrorCodes.AssetConflict, () => OpenAsync("ok", asset: WideUsd));
        await FailsAsync(
            PaymentsKitErrorCodes.InvalidArgument,
            () => OpenAsync("ok", metadata: Enumerable.Range(0, 51).ToDictionary(i => $"k{i}", i => "v")));
        await FailsAsync(PaymentsKitErrorCodes.InvalidArgument, () => OpenAsync("ok", metadata: new Dictionary<string, string> { ["k"] = new string('v', 501) }));

        // PostgreSQL's jsonb holds neither, so both stores refuse them as bad input rather than one failing at the commit.
        await FailsAsync(PaymentsKitErrorCodes.InvalidArgument, () => OpenAsync("ok", metadata: new Dictionary<string, string> { ["k"] = "a\0b" }));
        await FailsAsync(PaymentsKitErrorCodes.InvalidArgument, () => OpenAsync("ok", metadata: new Dictionary<string, string> { ["k"] = "a\uD800" }));
        await FailsAsync(
            PaymentsKitErrorCodes.InvalidArgument,
            () => Ledger.CreateAccountAsync(Tenant, new CreateLedgerAccountRequest("ok", " ", AssetRegistry.Usd, LedgerSide.Debit)).AsTask());
        await FailsAsync(PaymentsKitErrorCodes.InvalidArgument, () => Ledger.CreateAccountAsync(Tenant, null!).AsTask());

        Assert.Empty((await Ledger.ListAccountsAsync(Tenant, null, 10)).Items);
    }

    [Fact]
    public async Task CreateAccount_Rejects_A_Chain_In_Metadata_That_Is_No_Chain_Id()
    {
        // The wallet view and every entry's seed chain column read this key: a malformed one would make the account's
        // wallet unreadable for good and write it into each entry.
        foreach (var chain in new[] { "Ethereum", "", "eth chain" })
        {
            await FailsAsync(
                PaymentsKitErrorCodes.InvalidArgument,
                () => OpenAsync("wallet", LedgerSide.Debit, metadata: new Dictionary<string, string> { [TreasuryWallet.ChainMetadataKey] = chain }));
        }

        Assert.Empty((await Ledger.ListAccountsAsync(Tenant, null, 10)).Items);
        var wallet = await OpenAsync("wallet", LedgerSide.Debit, metadata: new Dictionary<string, string> { [TreasuryWallet.ChainMetadataKey] = "ethereum" });
        Assert.Equal(ChainId.Ethereum, (await Ledger.GetTreasuryWalletAsync(Tenant, wallet.Id)).Chain);
    }

    [Fact]
    public async Task GetAccount_Of_Another_Tenant_Or_Unknown_Is_Not_Found()
    {
        var account = await OpenAsync("mine");

        await FailsAsync(PaymentsKitErrorCodes.NotFound, () => Ledger.GetAccountAsync(OtherTenant, account.Id).AsTask());
        await FailsAsync(PaymentsKitErrorCodes.NotFound, () => Ledger.GetAccountAsync(Tenant, LedgerAccountId.New(Clock)).AsTask());
        await FailsAsync(PaymentsKitErrorCodes.NotFound, () => Ledger.GetBalanceAsync(OtherTenant, account.Id).AsTask());
        await FailsAsync(PaymentsKitErrorCodes.InvalidArgument, () => Ledger.GetAccountAsync(Tenant, default).AsTask());
    }

    [Fact]
    public async Task CreateAccount_In_A_Callers_Unit_Of_Work_Commits_With_It_Or_Not_At_All()
    {
        var unit = await Store.BeginAsync();
        await using (unit)
        {
            await Ledger.CreateAccountAsync(unit, Tenant, new CreateLedgerAccountRequest("dropped", "Dropped", AssetRegistry.Usd, LedgerSide.Debit));
        }

        Assert.Null(await Ledger.FindAccountByCodeAsync(Tenant, "dropped"));

        unit = await Store.BeginAsync();
        await using (unit)
        {
            var account = await Ledger.CreateAccountAsync(unit, Tenant, new CreateLedgerAccountRequest("kept", "Kept", AssetRegistry.Usd, LedgerSide.Debit));
            await unit.CommitAsync();
            Assert.Equal(account.Id, (await Ledger.FindAccountByCodeAsync(Tenant, "kept"))!.Id);
        }
    }
}
