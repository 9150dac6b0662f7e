using NodaTime;
using Npgsql;

namespace PaymentsKit.PostgreSql;

/// <summary>The claim, release and defer statements of the lease tables work queues claim with (one row per claimed item).</summary>
internal static class PostgreSqlLeaseStatements
{
    /// <summary>Runs the claim statement <paramref name="sql"/> with <paramref name="parameters"/> ($1, $2, … in order) and reads each claimed row.</summary>
    public static async ValueTask<IReadOnlyList<T>> ClaimAsync<T>(
        PostgreSqlStore store, string sql, object[] parameters, Func<NpgsqlDataReader, T> read, string what, CancellationToken cancellationToken)
    {
        await store.EnsureReadyAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var command = store.DataSource.CreateCommand(sql);
            await using (command.ConfigureAwait(false))
            {
                foreach (var value in parameters)
                {
                    command.Parameters.Add(new NpgsqlParameter { Value = value });
                }

                var claims = new List<T>();
                var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
                await using (reader.ConfigureAwait(false))
                {
                    while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                    {
                        claims.Add(read(reader));
                    }
                }

                return claims;
            }
        }
        catch (NpgsqlException ex)
        {
            throw PostgreSqlStore.StorageFailure(ex, what);
        }
    }

    /// <summary>
    /// Runs <paramref name="sql"/> (parameters: the ids, the lease instant they were claimed with, then
    /// <paramref name="until"/> if given) over the leases of <paramref name="claims"/>, one statement per lease instant, so
    /// only leases still held by these claims change.
    /// </summary>
    public static async ValueTask RunAsync(
        PostgreSqlStore store, string sql, IEnumerable<(Guid Id, Instant LeasedUntil)> claims, Instant? until, string what, CancellationToken cancellationToken)
    {
        foreach (var group in claims.GroupBy(c => c.LeasedUntil))
        {
            try
            {
                var command = store.DataSource.CreateCommand(sql);
                await using (command.ConfigureAwait(false))
                {
                    command.Parameters.Add(new NpgsqlParameter { Value = group.Select(c => c.Id).ToArray() });
                    command.Parameters.Add(new NpgsqlParameter { Value = group.Key.ToDateTimeUtc() });
                    if (until is { } deferred)
                    {
                        command.Parameters.Add(new NpgsqlParameter { Value = deferred.ToDateTimeUtc() });
                    }

                    await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                }
            }
            catch (NpgsqlException ex)
            {
                throw PostgreSqlStore.StorageFailure(ex, what);
            }
        }
    }
}
