using NodaTime;
using PaymentsKit.Storage;

namespace PaymentsKit.Routing;

/// <summary>An intent a sweeper claimed because it is due (see <see cref="PaymentIntent.DueAt"/>).</summary>
/// <param name="MerchantId">Its merchant.</param>
/// <param name="Id">The intent.</param>
/// <param name="DueAt">When it became due.</param>
/// <param name="LeasedUntil">When the claim's lease runs out; it also identifies the claim when it is released.</param>
public readonly record struct DuePaymentIntent(MerchantId MerchantId, PaymentIntentId Id, Instant DueAt, Instant LeasedUntil);

/// <summary>What one <see cref="IPaymentIntentService.AdvanceDueAsync"/> pass did.</summary>
/// <param name="Claimed">Due intents it claimed (at most the limit; equal to it when more may be due).</param>
/// <param name="Advanced">Intents it moved a step (the others had nothing to do yet, or another worker moved them first).</param>
/// <param name="Failed">Intents whose step failed with an error (logged; they stay due and are tried again).</param>
public readonly record struct PaymentIntentSweepResult(int Claimed, int Advanced, int Failed);

/// <summary>
/// Finds due payment intents across merchants and hands each to one sweeper at a time: a claim leases the intent
/// until it is released or the lease runs out (a sweeper that dies loses nothing, the intent is claimed again later).
/// On PostgreSQL it reads the <c>payment_intents.due_at</c> column through a partial index and claims with
/// <c>FOR UPDATE SKIP LOCKED</c> and a lease row per intent; the default scans every routing merchant's intents
/// through <see cref="IPaymentsStore"/> and leases in process memory.
/// </summary>
/// <remarks>
/// A lease only saves duplicate work: every step re-checks the intent's version when it commits, so even two sweepers
/// holding one intent (after a lease ran out mid-step) apply each step once.
/// </remarks>
public interface IDuePaymentIntentQueue
{
    /// <summary>
    /// Claims up to <paramref name="limit"/> intents due at or before <paramref name="now"/>, oldest due first,
    /// skipping intents another sweeper holds, and leases each until <paramref name="now"/> + <paramref name="lease"/>.
    /// </summary>
    ValueTask<IReadOnlyList<DuePaymentIntent>> ClaimDueAsync(Instant now, Duration lease, int limit, CancellationToken cancellationToken = default);

    /// <summary>
    /// Ends the leases of <paramref name="claims"/>, so each intent can be claimed as soon as it is due again; a lease
    /// that ran out and was taken by another sweeper is left alone.
    /// </summary>
    ValueTask ReleaseAsync(IReadOnlyList<DuePaymentIntent> claims, CancellationToken cancellationToken = default);

    /// <summary>
    /// Extends the leases of <paramref name="claims"/> to <paramref name="until"/> (for intents a sweep found nothing
    /// to do for yet, such as an unconfirmed transaction), so sweeps do not poll them again before then; a lease
    /// taken by another sweeper is left alone.
    /// </summary>
    ValueTask DeferAsync(IReadOnlyList<DuePaymentIntent> claims, Instant until, CancellationToken cancellationToken = default);
}

/// <summary>
/// The default <see cref="IDuePaymentIntentQueue"/>: reads every routing merchant's intents through
/// <see cref="IPaymentsStore"/> (linear in them: for the in-memory store, development and tests) and keeps leases in
/// process memory, so it coordinates the sweepers of one process.
/// </summary>
/// <param name="store">The store the intents are kept in.</param>
public sealed class StoreScanDuePaymentIntentQueue(IPaymentsStore store) : IDuePaymentIntentQueue
{
    private readonly LeaseTable _leases = new();

    /// <summary>The ids the queue keeps an entry for (live, expired or deferred), for tests that check it forgets resolved ones.</summary>
    internal List<Guid> HeldIds() => _leases.HeldIds();

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<DuePaymentIntent>> ClaimDueAsync(Instant now, Duration lease, int limit, CancellationToken cancellationToken = default)
    {
        DueLimits.Check(lease, limit);
        var due = new List<DuePaymentIntent>();
        var unit = await store.BeginAsync(cancellationToken).ConfigureAwait(false);
        await using (unit.ConfigureAwait(false))
        {
            await foreach (var (_, item) in TenantScan.AllAsync(unit, RoutingCollections.Merchants, m => m.Id.Value, RoutingCollections.Intents, cancellationToken).ConfigureAwait(false))
            {
                if (item is { DueAt: { } dueAt } intent && dueAt <= now)
                {
                    due.Add(new DuePaymentIntent(intent.MerchantId, intent.Id, dueAt, now + lease));
                }
            }
        }

        var claimed = new List<DuePaymentIntent>(Math.Min(limit, due.Count));
        lock (_leases.Gate)
        {
            // An intent cancelled or advanced while leased or deferred (or held by a sweeper that died) is never claimed
            // or released again, so its expired entry would stay for the life of the process.
            _leases.DropExpired(now, due.Select(d => d.Id.Value));
            foreach (var candidate in due.OrderBy(d => d.DueAt).ThenBy(d => d.Id.Value, GuidOrder.Instance))
            {
                if (claimed.Count == limit)
                {
                    break;
                }

                if (_leases.TryGet(candidate.Id.Value, out var until) && until > now)
                {
                    continue;
                }

                _leases.Lease(candidate.Id.Value, now + lease);
                claimed.Add(candidate);
            }
        }

        return claimed;
    }

    /// <inheritdoc />
    public ValueTask ReleaseAsync(IReadOnlyList<DuePaymentIntent> claims, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(claims);
        _leases.Release(claims.Select(c => (c.Id.Value, c.LeasedUntil)));
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public ValueTask DeferAsync(IReadOnlyList<DuePaymentIntent> claims, Instant until, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(claims);
        _leases.Defer(claims.Select(c => (c.Id.Value, c.LeasedUntil)), until);
        return ValueTask.CompletedTask;
    }
}

/// <summary>
/// The in-process lease table the store-scan queues share: when each claimed item's lease (or deferral) ends, by item id.
/// Claims read and write it inside <see cref="Gate"/>; release and defer only touch a lease the claim still holds (one that
/// ran out and was taken by another pass is left alone).
/// </summary>
internal sealed class LeaseTable
{
    private readonly Dictionary<Guid, Instant> _leases = [];

    /// <summary>The lock a claim holds while it reads and writes leases.</summary>
    public Lock Gate { get; } = new();

    /// <summary>When the lease or deferral of <paramref name="id"/> ends, if it has one; the caller holds <see cref="Gate"/>.</summary>
    public bool TryGet(Guid id, out Instant until) => _leases.TryGetValue(id, out until);

    /// <summary>Leases <paramref name="id"/> until <paramref name="until"/>; the caller holds <see cref="Gate"/>.</summary>
    public void Lease(Guid id, Instant until) => _leases[id] = until;

    /// <summary>
    /// Removes the leases that ran out by <paramref name="now"/> of items not in <paramref name="keep"/> (the items a claim
    /// may still take, whose entries it needs); a live lease or pending deferral stays whatever its item became. The
    /// caller holds <see cref="Gate"/>.
    /// </summary>
    public void DropExpired(Instant now, IEnumerable<Guid> keep)
    {
        var kept = keep.ToHashSet();

        // Dictionary allows Remove while it is enumerated (since .NET Core 3.0), so no copy of the keys is needed.
        foreach (var (id, until) in _leases)
        {
            if (until <= now && !kept.Contains(id))
            {
                _leases.Remove(id);
            }
        }
    }

    /// <summary>Ends the leases of <paramref name="claims"/> (item id, the lease's end as claimed).</summary>
    public void Release(IEnumerable<(Guid Id, Instant LeasedUntil)> claims)
    {
        lock (Gate)
        {
            foreach (var (id, leasedUntil) in claims)
            {
                if (_leases.TryGetValue(id, out var held) && held == leasedUntil)
                {
                    _leases.Remove(id);
                }
            }
        }
    }

    /// <summary>Extends the leases of <paramref name="claims"/> (item id, the lease's end as claimed) to <paramref name="until"/>.</summary>
    public void Defer(IEnumerable<(Guid Id, Instant LeasedUntil)> claims, Instant until)
    {
        lock (Gate)
        {
            foreach (var (id, leasedUntil) in claims)
            {
                if (_leases.TryGetValue(id, out var held) && held == leasedUntil)
                {
                    _leases[id] = until;
                }
            }
        }
    }

    /// <summary>The ids holding an entry (for tests).</summary>
    public List<Guid> HeldIds()
    {
        lock (Gate)
        {
            return [.. _leases.Keys];
        }
    }
}

/// <summary>The argument checks every <see cref="IDuePaymentIntentQueue"/> makes.</summary>
internal static class DueLimits
{
    /// <summary>The most intents one claim takes.</summary>
    public const int MaxClaim = 1000;

    public static void Check(Duration lease, int limit)
    {
        if (limit is < 1 or > MaxClaim)
        {
            throw PaymentsKitException.InvalidArgument("limit", limit, "must be between 1 and 1000");
        }

        if (lease <= Duration.Zero)
        {
            throw PaymentsKitException.InvalidArgument("lease", lease.ToString(), "must be positive");
        }
    }
}

/// <summary>How a pass over claimed work items (due intents, due transactions) hands its claims back.</summary>
internal static class DuePass
{
    /// <summary>
    /// Defers the <paramref name="waiting"/> claims (items the pass found nothing to do for yet, or whose work failed) for
    /// <paramref name="wait"/> and releases the rest, so each is claimed again as soon as it is due. Not cancellable: a
    /// lease left behind would only hold its item back until it ran out. The wait counts from when the pass ends: measured
    /// from <paramref name="now"/> (the pass's start), a pass that outlasted it (a slow RPC node or provider) would leave
    /// deferrals already over, and its items would be taken straight again.
    /// </summary>
    public static async ValueTask EndAsync<TClaim>(
        IReadOnlyList<TClaim> claims,
        IEnumerable<TClaim> waiting,
        Instant now,
        IClock clock,
        Duration wait,
        Func<IReadOnlyList<TClaim>, Instant, CancellationToken, ValueTask> defer,
        Func<IReadOnlyList<TClaim>, CancellationToken, ValueTask> release)
    {
        var deferred = waiting.ToHashSet();
        var until = Instant.Max(now, clock.GetCurrentInstant()) + wait;
        await defer([.. deferred], until, CancellationToken.None).ConfigureAwait(false);
        await release([.. claims.Where(c => !deferred.Contains(c))], CancellationToken.None).ConfigureAwait(false);
    }
}
