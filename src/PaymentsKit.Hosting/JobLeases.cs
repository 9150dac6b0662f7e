using System.Security.Cryptography;
using System.Text;
using NodaTime;
using PaymentsKit.Storage;

namespace PaymentsKit.Hosting;

/// <summary>
/// Named leases in the PaymentsKit store, so that work which must not run twice at once (one distribution's payout
/// run) runs on one host at a time however many hosts share the database. A lease is held until it is released or
/// expires; a host that dies holding one keeps others off the work only until then.
/// </summary>
/// <param name="store">Where leases are kept (one record per name).</param>
/// <param name="clock">Supplies now.</param>
public sealed class JobLeases(IPaymentsStore store, IClock clock)
{
    private static readonly RecordCollection<JobLeaseRecord> Leases = new("hosting_job_lease", l => l.Id, _ => Guid.Empty);

    /// <summary>Takes the lease <paramref name="name"/> for <paramref name="duration"/> unless another holder has it.</summary>
    /// <returns>The lease (dispose it to release it), or null when it is held elsewhere.</returns>
    public async ValueTask<JobLease?> TryAcquireAsync(string name, TimeSpan duration, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(duration, TimeSpan.Zero);

        var id = IdOf(name);
        var token = Guid.NewGuid();
        try
        {
            var acquired = await store.ExecuteAsync(
                async (unit, ct) =>
                {
                    var now = clock.GetCurrentInstant();
                    var until = now + Duration.FromTimeSpan(duration);
                    var current = await unit.GetAsync(Leases, Guid.Empty, id, ct).ConfigureAwait(false);
                    if (current is null)
                    {
                        unit.Insert(Leases, new JobLeaseRecord(id, name, token, until));
                        return true;
                    }

                    if (current.Value.ExpiresAt > now)
                    {
                        return false;
                    }

                    unit.Update(Leases, current.Value with { Token = token, ExpiresAt = until }, current.Version);
                    return true;
                },
                cancellationToken).ConfigureAwait(false);
            return acquired ? new JobLease(this, id, token) : null;
        }
        catch (PaymentsKitException ex) when (ex.Code is PaymentsKitErrorCodes.DuplicateKey or PaymentsKitErrorCodes.ConcurrencyConflict)
        {
            // Another host took it first.
            return null;
        }
    }

    /// <summary>Ends the lease now if it is still this holder's.</summary>
    internal ValueTask ReleaseAsync(Guid id, Guid token) =>
        new(store.ExecuteAsync(
            async (unit, ct) =>
            {
                var current = await unit.GetAsync(Leases, Guid.Empty, id, ct).ConfigureAwait(false);
                if (current is { Value.Token: var held } && held == token)
                {
                    unit.Update(Leases, current.Value with { ExpiresAt = clock.GetCurrentInstant() }, current.Version);
                }

                return true;
            },
            CancellationToken.None).AsTask());

    /// <summary>A UUIDv8 from SHA-256 of the name: one record per lease name.</summary>
    private static Guid IdOf(string name)
    {
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes("paymentskit.lease:" + name), hash);
        hash[6] = (byte)((hash[6] & 0x0F) | 0x80);
        hash[8] = (byte)((hash[8] & 0x3F) | 0x80);
        return new Guid(hash[..16], bigEndian: true);
    }
}

/// <summary>A held <see cref="JobLeases"/> lease; disposing it releases it.</summary>
public sealed class JobLease : IAsyncDisposable
{
    private readonly JobLeases _leases;
    private readonly Guid _id;
    private readonly Guid _token;
    private int _released;

    internal JobLease(JobLeases leases, Guid id, Guid token) => (_leases, _id, _token) = (leases, id, token);

    /// <inheritdoc />
    public ValueTask DisposeAsync() =>
        Interlocked.Exchange(ref _released, 1) == 0 ? _leases.ReleaseAsync(_id, _token) : ValueTask.CompletedTask;
}

/// <summary>The stored lease.</summary>
/// <param name="Id">Derived from the name.</param>
/// <param name="Name">The lease's name.</param>
/// <param name="Token">The current holder's token.</param>
/// <param name="ExpiresAt">When others may take it.</param>
internal sealed record JobLeaseRecord(Guid Id, string Name, Guid Token, Instant ExpiresAt);
