using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using NodaTime;
using PaymentsKit.Json;
using PaymentsKit.Ledger;
using PaymentsKit.Storage;
using PaymentsKit.Streaming;
using PaymentsKit.Testing;

namespace PaymentsKit.Tests.Streaming;

/// <summary>The stream service specification on the embedded in-memory store.</summary>
public sealed class InMemoryStreamServiceTests : StreamServiceSpecification
{
    protected override int PropertyIterations => 200;

    protected override Task<IPaymentsStore> CreateStoreAsync() => Task.FromResult<IPaymentsStore>(new InMemoryStore());

    [Fact]
    public async Task The_Sweep_Skips_Handled_Deadlines_Yet_Finds_New_Ones()
    {
        var parties = await PartiesAsync(100_000);
        for (var i = 0; i < 600; i++)
        {
            await CreateAsync(parties, 1, 1);
        }

        Clock.Advance(Duration.FromHours(1));
        Assert.Equal(600, (await SweepAsync(Now)).Count);
        Assert.Empty(await SweepAsync(Now));

        var late = await CreateAsync(parties, 1, 1);
        Clock.Advance(Duration.FromSeconds(2));
        Assert.Equal(late.Id, Assert.Single(await SweepAsync(Now)).Id);
    }
}

public sealed class StreamServiceRegistrationTests
{
    [Fact]
    public void AddPaymentsKit_Registers_A_Resolvable_Stream_Service_Unless_The_Host_Did()
    {
        using var provider = new ServiceCollection().AddPaymentsKit().Services.BuildServiceProvider();
        var hostChosen = new ServiceCollection();
        hostChosen.AddSingleton<IStreamService>(_ => null!);
        hostChosen.AddPaymentsKit();

        Assert.IsType<StreamService>(provider.GetRequiredService<IStreamService>());
        Assert.Same(provider.GetRequiredService<IStreamService>(), provider.GetRequiredService<IStreamService>());
        Assert.Null(Assert.Single(hostChosen, d => d.ServiceType == typeof(IStreamService)).ImplementationType);
    }

    [Fact]
    public async Task The_Registered_Service_Streams_On_The_Registered_Ledger_And_Store()
    {
        using var provider = new ServiceCollection().AddPaymentsKit().Services.BuildServiceProvider();
        var ledger = provider.GetRequiredService<ILedger>();
        var streams = provider.GetRequiredService<IStreamService>();
        var tenant = MerchantId.FromGuid(Guid.CreateVersion7());
        var funding = await ledger.CreateAccountAsync(tenant, new CreateLedgerAccountRequest("payer", "Payer", AssetRegistry.Usdc, LedgerSide.Debit));
        var payout = await ledger.CreateAccountAsync(tenant, new CreateLedgerAccountRequest("payout", "Payout", AssetRegistry.Usdc, LedgerSide.Credit));

        var created = await streams.CreateAsync(tenant, new CreateStreamRequest(funding.Id, payout.Id, "a", "b", Money.Of(5, AssetRegistry.Usdc), 1));

        Assert.Equal(Money.Of(5, AssetRegistry.Usdc), (await ledger.GetAccountAsync(tenant, created.Stream.EscrowAccountId)).Balance.Posted);
        Assert.True((await ledger.ReconcileAsync(tenant)).IsClean);
    }
}

public sealed class StreamRecordTests
{
    private static readonly JsonSerializerOptions Json = PaymentsKitJson.CreateOptions(new AssetRegistry());

    [Fact]
    public async Task Every_Stored_Stream_Record_Round_Trips_With_The_Seed_Column_Names()
    {
        var clock = new ManualClock();
        var store = new InMemoryStore();
        var ledger = new LedgerService(store, clock, new AssetRegistry());
        var streams = new StreamService(store, ledger, clock, new AssetRegistry());
        var tenant = MerchantId.New(clock);
        var funding = await ledger.CreateAccountAsync(tenant, new CreateLedgerAccountRequest("payer", "Payer", AssetRegistry.Usdc, LedgerSide.Debit));
        var payout = await ledger.CreateAccountAsync(tenant, new CreateLedgerAccountRequest("payout", "Payout", AssetRegistry.Usdc, LedgerSide.Credit));
        var created = await streams.CreateAsync(
            tenant,
            new CreateStreamRequest(funding.Id, payout.Id, "GPAYER", "GDEST", Money.Of(10, AssetRegistry.Usdc), 0.000115740m)
            {
                EndTime = clock.GetCurrentInstant() + Duration.FromDays(1),
                ContractAddress = "CCONTRACT",
                TransactionHash = "0xfeed",
                Metadata = new Dictionary<string, string> { ["order"] = "42" },
                IdempotencyKey = "k-1",
            });
        clock.Advance(Duration.FromHours(1));
        await streams.PauseAsync(tenant, created.Stream.Id, new StreamAction("ops"));
        var stored = await streams.GetAsync(tenant, created.Stream.Id);

        var text = JsonSerializer.Serialize(stored, Json);
        var back = JsonSerializer.Deserialize<PaymentStream>(text, Json)!;
        Assert.Equal(text, JsonSerializer.Serialize(back, Json));
        using var document = JsonDocument.Parse(text);
        var root = document.RootElement;
        foreach (var column in new[] { "payer", "recipient", "status", "rate_per_second", "start_time", "end_time", "total_amount", "last_settled_at", "chain_id", "contract_address", "transaction_hash", "metadata", "created_at", "updated_at" })
        {
            Assert.True(root.TryGetProperty(column, out _), column);
        }

        Assert.Equal("paused", root.GetProperty("status").GetString());
        Assert.Equal(0.000115740m, root.GetProperty("rate_per_second").GetDecimal());
        Assert.Equal("10.000000", root.GetProperty("total_amount").GetProperty("amount").GetString());
        Assert.False(root.TryGetProperty("version", out _));
        Assert.Equal(back.RequestFingerprint, stored.RequestFingerprint);
        Assert.NotNull(back.RequestFingerprint);
        Assert.Equal(stored.Pauses, back.Pauses);

        foreach (var recorded in created.Events)
        {
            var json = JsonSerializer.Serialize(recorded, Json);
            Assert.Equal(json, JsonSerializer.Serialize(JsonSerializer.Deserialize<StreamEvent>(json, Json), Json));
        }
    }

    [Fact]
    public void Stream_Ids_Carry_Their_Prefix_And_Event_Ids_Are_Stable_Per_Stream_And_Sequence()
    {
        var clock = new ManualClock();
        var id = StreamId.New(clock);
        var other = StreamId.New(clock);

        Assert.StartsWith("str_", id.ToString(), StringComparison.Ordinal);
        Assert.Equal(id, StreamId.Parse(id.ToString()));
        Assert.Equal(PaymentsKitErrorCodes.MalformedId, Assert.Throws<PaymentsKitException>(() => StreamId.Parse(LedgerAccountId.New(clock).ToString())).Code);
        Assert.Equal(StreamCollections.EventId(id, 1), StreamCollections.EventId(id, 1));
        Assert.NotEqual(StreamCollections.EventId(id, 1), StreamCollections.EventId(id, 2));
        Assert.NotEqual(StreamCollections.EventId(id, 1), StreamCollections.EventId(other, 1));
        Assert.Equal(8, StreamCollections.EventId(id, 1).Version);
    }
}
