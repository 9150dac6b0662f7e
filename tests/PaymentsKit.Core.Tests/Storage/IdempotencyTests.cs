using System.Globalization;
using System.Numerics;
using FsCheck;
using FsCheck.Fluent;
using PaymentsKit.Json;
using PaymentsKit.Storage;
using static PaymentsKit.Tests.Primitives.Assertions;

namespace PaymentsKit.Tests.Storage;

public sealed class IdempotencyTests
{
    private static readonly RecordCollection<Order> Orders = new(
        "test_order", o => o.Id, o => o.Tenant, [new UniqueKey<Order>("idempotency", o => o.ScopedKey)]);

    private static readonly System.Text.Json.JsonSerializerOptions Json = PaymentsKitJson.CreateOptions(new AssetRegistry());

    private readonly InMemoryStore _store = new();
    private readonly Guid _tenant = Guid.CreateVersion7();

    [Fact]
    public void Canonical_Amounts_Keep_The_Value_And_Are_Equal_Exactly_When_The_Values_Are_Meets_Specification()
    {
        // Any decimal, and the same value written with trailing zeros where the representation has room for them.
        var gen =
            from lo in ArbMap.Default.GeneratorFor<int>()
            from mid in ArbMap.Default.GeneratorFor<int>()
            from hi in Gen.Frequency((3, Gen.Constant(0)), (1, ArbMap.Default.GeneratorFor<int>()))
            from negative in ArbMap.Default.GeneratorFor<bool>()
            from scale in Gen.Choose(0, 28)
            from zeros in Gen.Choose(0, 28)
            from other in ArbMap.Default.GeneratorFor<decimal>()
            select (new decimal(lo, mid, hi, negative, (byte)scale), zeros, other);
        Prop.ForAll(Arb.From(gen), c =>
        {
            var (amount, zeros, other) = c;
            var canonical = Idempotency.CanonicalAmount(amount);
            Assert.Equal(amount, canonical);
            var padded = Padded(amount, zeros);
            Assert.Equal(amount, padded);
            Assert.Equal(canonical.ToString(CultureInfo.InvariantCulture), Idempotency.CanonicalAmount(padded).ToString(CultureInfo.InvariantCulture));
            Assert.Equal(amount == other, canonical.ToString(CultureInfo.InvariantCulture) == Idempotency.CanonicalAmount(other).ToString(CultureInfo.InvariantCulture));
        }).QuickCheckThrowOnFailure();
    }

    private static decimal Padded(decimal amount, int zeros)
    {
        var bits = decimal.GetBits(amount);
        var scale = (bits[3] >> 16) & 0xFF;
        var mantissa = unchecked((BigInteger)(uint)bits[0] | ((BigInteger)(uint)bits[1] << 32) | ((BigInteger)(uint)bits[2] << 64));
        var max = (BigInteger.One << 96) - 1;
        for (var i = 0; i < zeros && scale < 28 && mantissa * 10 <= max; i++)
        {
            mantissa *= 10;
            scale++;
        }

        var bytes = new int[3];
        for (var i = 0; i < 3; i++)
        {
            bytes[i] = unchecked((int)(uint)((mantissa >> (32 * i)) & uint.MaxValue));
        }

        return new decimal(bytes[0], bytes[1], bytes[2], amount < 0m, (byte)scale);
    }

    [Fact]
    public async Task SameKeySameRequest_ReturnsTheOriginal()
    {
        var first = await CreateAsync("key-1", 10m);
        var second = await CreateAsync("key-1", 10m);
        Assert.True(first.Created);
        Assert.False(second.Created);
        Assert.Equal(first.Record, second.Record);
    }

    [Fact]
    public async Task SameKeyDifferentRequest_IsAConflict_AndNothingIsWritten()
    {
        await CreateAsync("key-1", 10m);
        var ex = await Assert.ThrowsAsync<PaymentsKitException>(() => CreateAsync("key-1", 11m).AsTask());
        Assert.Equal(PaymentsKitErrorCodes.IdempotencyConflict, ex.Code);
        await using var unit = await _store.BeginAsync();
        Assert.Single((await unit.ListAsync(Orders, _tenant, null, 10)).Items);
    }

    [Fact]
    public async Task KeysAreScopedPerTenant()
    {
        var mine = await CreateAsync("key-1", 10m);
        var theirs = await CreateAsync("key-1", 99m, Guid.CreateVersion7());
        Assert.True(theirs.Created);
        Assert.NotEqual(mine.Record.Id, theirs.Record.Id);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData(" ")]
    public async Task BlankKeys_AreRejected(string? key)
    {
        var ex = await Assert.ThrowsAsync<PaymentsKitException>(() => CreateAsync(key!, 1m).AsTask());
        Assert.Equal(PaymentsKitErrorCodes.InvalidArgument, ex.Code);
        ThrowsCode(PaymentsKitErrorCodes.InvalidArgument, () => Idempotency.ScopedKey(_tenant, new string('k', 256)));
    }

    [Fact]
    public async Task ConcurrentFirstCalls_CreateExactlyOne()
    {
        var results = await Task.WhenAll(Enumerable.Range(0, 32).Select(_ => Task.Run(() => CreateAsync("race", 5m).AsTask())));
        Assert.Single(results, r => r.Created);
        Assert.Single(results.Select(r => r.Record.Id).Distinct());
    }

    private ValueTask<(Order Record, bool Created)> CreateAsync(string key, decimal amount, Guid? tenant = null)
    {
        var owner = tenant ?? _tenant;
        var fingerprint = Idempotency.Fingerprint(new { amount }, Json);
        return Idempotency.CreateOnceAsync(_store, Orders, "idempotency", owner, key, fingerprint, o => o.Fingerprint,
            (unit, _) =>
            {
                var order = new Order(Guid.CreateVersion7(), owner, Idempotency.ScopedKey(owner, key), fingerprint, amount);
                unit.Insert(Orders, order);
                return ValueTask.FromResult(order);
            });
    }

    private sealed record Order(Guid Id, Guid Tenant, string ScopedKey, string Fingerprint, decimal Amount);
}
