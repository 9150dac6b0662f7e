using System.Text.Json;
using NodaTime.Text;
using Npgsql;
using PaymentsKit.Ledger;

namespace PaymentsKit.PostgreSql;

/// <summary>The ledger's one-round-trip path: one SQL function call per reservation, post or void (migration 0012).</summary>
public sealed partial class PostgreSqlStore : ILedgerFastPath
{
    private const string ReserveSql =
        "SELECT paymentskit_ledger_reserve($1::uuid, $2::text, $3::uuid, $4::text, $5::uuid, $6::text, $7::uuid, $8::uuid, "
        + "$9::numeric, $10::text, $11::integer, $12::text, $13::text, $14::text, $15::jsonb, $16::text, $17::timestamptz)::text";

    private const string ResolveSql =
        "SELECT paymentskit_ledger_resolve($1::uuid, $2::text, $3::uuid, $4::uuid, $5::text, $6::boolean, "
        + "$7::numeric, $8::text, $9::integer, $10::text[], $11::text[], $12::text, $13::timestamptz)::text";

    /// <inheritdoc />
    async ValueTask<LedgerTransfer?> ILedgerFastPath.TryReserveAsync(LedgerFastReservation reservation, CancellationToken cancellationToken)
    {
        var request = reservation.Request;
        var amount = request.Amount;
        return await CallLedgerAsync(
            ReserveSql,
            [
                reservation.TenantId.Value, reservation.TenantId.ToString(),
                reservation.TransferId.Value, reservation.TransferId.ToString(),
                reservation.TransactionId.Value, reservation.TransactionId.ToString(),
                request.DebitAccountId.Value, request.CreditAccountId.Value,
                amount.Amount, amount.Asset.Code, amount.Asset.Scale, amount.Asset.Chain?.Value,
                Snake(request.EntryType), request.Description,
                JsonSerializer.Serialize(request.Metadata ?? System.Collections.ObjectModel.ReadOnlyDictionary<string, string>.Empty, _json),
                InstantPattern.ExtendedIso.Format(reservation.Now), _clock.GetCurrentInstant().ToDateTimeUtc(),
            ],
            cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    async ValueTask<LedgerTransfer?> ILedgerFastPath.TryResolveAsync(LedgerFastResolution resolution, CancellationToken cancellationToken)
    {
        var amount = resolution.Amount;
        return await CallLedgerAsync(
            ResolveSql,
            [
                resolution.TenantId.Value, resolution.TenantId.ToString(),
                resolution.TransferId.Value,
                resolution.TransactionId.Value, resolution.TransactionId.ToString(),
                resolution.Void,
                amount?.Amount, amount?.Asset.Code, amount?.Asset.Scale,
                resolution.Assets.Select(a => a.Code).ToArray(), resolution.Assets.Select(a => a.Chain?.Value).ToArray(),
                InstantPattern.ExtendedIso.Format(resolution.Now), _clock.GetCurrentInstant().ToDateTimeUtc(),
            ],
            cancellationToken).ConfigureAwait(false);
    }

    private static string? Snake<TEnum>(TEnum? value)
        where TEnum : struct, Enum =>
        value is { } known ? JsonNamingPolicy.SnakeCaseLower.ConvertName(known.ToString()) : null;

    /// <summary>Calls one ledger function; its document is the transfer, SQL NULL means "take the record path".</summary>
    private async ValueTask<LedgerTransfer?> CallLedgerAsync(string sql, object?[] arguments, CancellationToken cancellationToken)
    {
        await EnsureReadyAsync(cancellationToken).ConfigureAwait(false);
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                var command = _dataSource.CreateCommand(sql);
                await using (command.ConfigureAwait(false))
                {
                    foreach (var argument in arguments)
                    {
                        command.Parameters.Add(new NpgsqlParameter { Value = argument ?? DBNull.Value });
                    }

                    var document = await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) as string;
                    return document is null ? null : JsonSerializer.Deserialize<LedgerTransfer>(document, _json);
                }
            }
            catch (PostgresException ex) when ((ex.SqlState is PostgresErrorCodes.SerializationFailure or PostgresErrorCodes.DeadlockDetected)
                                               && attempt < _maxRetries)
            {
                // The call is one statement: it rolled back whole, so calling again is safe.
                LogRetry(_logger, ex.SqlState, attempt + 1, _maxRetries);
                await Task.Delay(Random.Shared.Next(1, 10 << attempt), cancellationToken).ConfigureAwait(false);
            }
            catch (PostgresException ex) when (ex.SqlState is PostgresErrorCodes.SerializationFailure or PostgresErrorCodes.DeadlockDetected)
            {
                // Still losing: the record path takes over and settles the race its own way.
                return null;
            }
            catch (NpgsqlException ex)
            {
                throw StorageFailure(ex, "running a ledger operation");
            }
        }
    }
}
