using Microsoft.Extensions.DependencyInjection;
using NodaTime;
using PaymentsKit.Storage;

namespace PaymentsKit.Sample;

/// <summary>Drives one tour through PaymentsKit and prints what happened.</summary>
internal sealed class Demo(IServiceProvider services, TextWriter output)
{
    private static readonly RecordCollection<Note> Notes = new(
        "sample_note", n => n.Id, n => n.Merchant.Value, [new UniqueKey<Note>("title", n => n.Title)]);

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var clock = services.GetRequiredService<IClock>();
        var assets = services.GetRequiredService<AssetRegistry>();
        var store = services.GetRequiredService<IPaymentsStore>();

        output.WriteLine($"PaymentsKit demo on {store.GetType().Name}");
        output.WriteLine($"Assets: {string.Join(", ", assets.All.Select(a => $"{a.Code}({a.Scale})"))}");

        var price = Money.Parse("19.99 USD", assets);
        var total = price + price + price;
        output.WriteLine($"Money: 3 x {price} = {total}; a third of 100.00 USD truncated = {Money.Of(100m, AssetRegistry.Usd).Multiply(1m / 3m, MidpointRounding.ToZero)}");
        try
        {
            Money.Of(1.001m, AssetRegistry.Usd);
        }
        catch (PaymentsKitException ex)
        {
            output.WriteLine($"Rejected: {ex.Code}: {ex.Message}");
        }

        var merchant = MerchantId.New(clock);
        output.WriteLine($"Merchant id: {merchant}");
        var note = new Note(Guid.CreateVersion7(clock.GetCurrentInstant().ToDateTimeOffset()), merchant, "welcome", total);
        await store.ExecuteAsync((unit, _) => { unit.Insert(Notes, note); return ValueTask.FromResult(0); }, cancellationToken).ConfigureAwait(false);
        try
        {
            await store.ExecuteAsync((unit, _) => { unit.Insert(Notes, note with { Id = Guid.NewGuid() }); return ValueTask.FromResult(0); }, cancellationToken).ConfigureAwait(false);
        }
        catch (PaymentsKitException ex)
        {
            output.WriteLine($"Unique key enforced: {ex.Code}: {ex.Message}");
        }

        await using var read = await store.BeginAsync(cancellationToken).ConfigureAwait(false);
        var stored = await read.FindAsync(Notes, merchant.Value, "title", "welcome", cancellationToken).ConfigureAwait(false);
        output.WriteLine($"Stored record read back: {stored?.Value.Title} = {stored?.Value.Amount} (version {stored?.Version})");
        output.WriteLine("Demo complete.");
    }

    private sealed record Note(Guid Id, MerchantId Merchant, string Title, Money Amount);
}
