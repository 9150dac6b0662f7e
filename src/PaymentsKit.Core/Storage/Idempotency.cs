using System.Collections.Immutable;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text.Json;

namespace PaymentsKit.Storage;

/// <summary>
/// Stripe-style idempotency on top of a unique key: the same key with the same request returns the
/// record the first call created; the same key with a different request is
/// <see cref="PaymentsKitErrorCodes.IdempotencyConflict"/>; concurrent first calls create exactly one.
/// </summary>
public static class Idempotency
{
    /// <summary>The longest idempotency key accepted.</summary>
    public const int MaxKeyLength = 255;

    /// <summary>The amount without trailing zeros, so a request's fingerprint takes 10 and 10.00 as the same amount.</summary>
    internal static decimal CanonicalAmount(decimal amount) => amount / 1.0000000000000000000000000000m;

    /// <summary>A stable fingerprint of a request: SHA-256 of its JSON, as hex.</summary>
    public static string Fingerprint<TRequest>(TRequest request, JsonSerializerOptions options) =>
        Convert.ToHexStringLower(SHA256.HashData(JsonSerializer.SerializeToUtf8Bytes(request, options)));

    /// <summary>
    /// The fingerprint of a request carrying key/value metadata, hashed with the metadata in ordinal key order so the same
    /// pairs sent in another order are the same request. <paramref name="metadata"/> is the request's metadata (null: none)
    /// and <paramref name="withMetadata"/> puts the ordered copy in its place.
    /// </summary>
    internal static MetadataFingerprint FingerprintWithOrderedMetadata<TRequest>(
        TRequest request,
        IReadOnlyDictionary<string, string>? metadata,
        Func<TRequest, IReadOnlyDictionary<string, string>, TRequest> withMetadata,
        JsonSerializerOptions options)
    {
        var ordered = metadata is null ? Fingerprint(request, options) : Fingerprint(withMetadata(request, ImmutableSortedDictionary.CreateRange(StringComparer.Ordinal, metadata)), options);

        // Versions before the ordering hashed the metadata in the caller's order; only with two pairs or more can that differ.
        var callersOrder = metadata is { Count: > 1 } ? Fingerprint(request, options) : ordered;
        return new MetadataFingerprint(ordered, callersOrder);
    }

    /// <summary>The unique-key value of an idempotency key within a tenant.</summary>
    public static string ScopedKey(Guid tenantId, string? idempotencyKey) =>
        $"{tenantId:N}:{Guard.Text(idempotencyKey, "idempotency_key", MaxKeyLength)}";

    /// <summary>
    /// Returns the record holding <paramref name="idempotencyKey"/> in the tenant if its fingerprint
    /// matches, throws <c>idempotency_conflict</c> if it does not, and otherwise runs
    /// <paramref name="create"/> (which inserts the record in the unit of work) and commits. A lost
    /// race for the key re-reads and returns the winner's record, also when this call was refused (<c>insufficient_funds</c>,
    /// a unique value taken) because the winner committed first.
    /// </summary>
    /// <typeparam name="T">The record type.</typeparam>
    /// <param name="store">The store.</param>
    /// <param name="collection">The collection whose unique key <paramref name="uniqueKeyName"/> holds <see cref="ScopedKey"/>.</param>
    /// <param name="uniqueKeyName">The unique key's name.</param>
    /// <param name="tenantId">The tenant.</param>
    /// <param name="idempotencyKey">The caller's key.</param>
    /// <param name="fingerprint">The request's <see cref="Fingerprint{TRequest}"/>.</param>
    /// <param name="fingerprintOf">Reads the fingerprint stored on a record.</param>
    /// <param name="create">Builds and inserts the record (and anything else the operation writes).</param>
    /// <param name="cancellationToken">Cancels the operation.</param>
    /// <param name="operationName">Names the operation's span; the calling method by default.</param>
    /// <returns>The record and whether this call created it.</returns>
    public static async ValueTask<(T Record, bool Created)> CreateOnceAsync<T>(
        IPaymentsStore store,
        RecordCollection<T> collection,
        string uniqueKeyName,
        Guid tenantId,
        string idempotencyKey,
        string fingerprint,
        Func<T, string> fingerprintOf,
        Func<IUnitOfWork, CancellationToken, ValueTask<T>> create,
        CancellationToken cancellationToken = default,
        [CallerMemberName] string operationName = "")
        where T : class
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(fingerprintOf);
        ArgumentNullException.ThrowIfNull(create);
        var scoped = ScopedKey(tenantId, idempotencyKey);
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                return await store.ExecuteAsync(
                    async (unit, ct) =>
                    {
                        var existing = await unit.FindAsync(collection, tenantId, uniqueKeyName, scoped, ct).ConfigureAwait(false);
                        if (existing is not null)
                        {
                            return fingerprintOf(existing.Value) == fingerprint
                                ? (existing.Value, false)
                                : throw new PaymentsKitException(
                                    PaymentsKitErrorCodes.IdempotencyConflict,
                                    $"Idempotency key '{idempotencyKey}' was already used with different parameters.",
                                    new Dictionary<string, object?> { ["idempotency_key"] = idempotencyKey });
                        }

                        return (await create(unit, ct).ConfigureAwait(false), true);
                    },
                    cancellationToken,
                    operationName).ConfigureAwait(false);
            }
            catch (PaymentsKitException ex) when (attempt == 0 && ex.Code != PaymentsKitErrorCodes.IdempotencyConflict)
            {
                // A concurrent first call may have won the key, and this call been refused by what the winner did (the funds it
                // spent, a unique value it took) before reaching the key: then the next attempt finds the winner's record.
                var lostTheKey = ex.Code == PaymentsKitErrorCodes.DuplicateKey && ex.Context.TryGetValue("key", out var key) && Equals(key, uniqueKeyName);
                if (!lostTheKey && !await KeyTakenAsync(store, collection, tenantId, uniqueKeyName, scoped, cancellationToken).ConfigureAwait(false))
                {
                    throw;
                }
            }
        }
    }

    private static async ValueTask<bool> KeyTakenAsync<T>(
        IPaymentsStore store, RecordCollection<T> collection, Guid tenantId, string uniqueKeyName, string scopedKey, CancellationToken cancellationToken)
        where T : class
    {
        var unit = await store.BeginAsync(cancellationToken).ConfigureAwait(false);
        await using (unit.ConfigureAwait(false))
        {
            return await unit.FindAsync(collection, tenantId, uniqueKeyName, scopedKey, cancellationToken).ConfigureAwait(false) is not null;
        }
    }
}

/// <summary>
/// A request's fingerprint with its metadata in ordinal key order (<see cref="Value"/>, what a new record stores), and the
/// one versions before that ordering stored (the metadata in the caller's order).
/// </summary>
/// <param name="Value">The fingerprint to store and compare with.</param>
/// <param name="CallersOrder">The fingerprint of the same request with its metadata in the caller's order.</param>
internal readonly record struct MetadataFingerprint(string Value, string CallersOrder)
{
    /// <summary>
    /// A stored fingerprint as <see cref="Value"/> when it is <see cref="CallersOrder"/>, so a record stored before the
    /// ordering still replays when sent again in the order it was first sent (in another order it stays a conflict, as it
    /// was then); any other stored fingerprint unchanged.
    /// </summary>
    [return: NotNullIfNotNull(nameof(stored))]
    public string? Matching(string? stored) => stored == CallersOrder ? Value : stored;
}
