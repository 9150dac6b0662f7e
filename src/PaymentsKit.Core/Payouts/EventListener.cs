using System.Globalization;
using NodaTime;
using PaymentsKit.Storage;

namespace PaymentsKit.Payouts;

/// <summary>
/// A blockchain event listener's configuration and cursor (seed 004 <c>blockchain_event_listener_config</c>),
/// one per contract.
/// </summary>
/// <param name="Id">The configuration's id.</param>
/// <param name="ContractId">The contract listened to (e.g. a lifecycle cash-flow contract); unique.</param>
/// <param name="LastProcessedTimestamp">
/// The timestamp of the last event whose effects are committed (e.g. a consensus timestamp in nanoseconds); null
/// before the first. Events at or before it are never handled again.
/// </param>
/// <param name="Enabled">Whether the listener is active.</param>
/// <param name="HandledEvents">Events handled so far.</param>
/// <param name="CreatedAt">When it was registered.</param>
/// <param name="UpdatedAt">When it last changed.</param>
public sealed record EventListenerConfig(
    EventListenerId Id,
    string ContractId,
    long? LastProcessedTimestamp,
    bool Enabled,
    long HandledEvents,
    Instant CreatedAt,
    Instant UpdatedAt);

/// <summary>What one <see cref="IEventListenerService.ProcessAsync"/> call did.</summary>
/// <param name="Handled">Events handed to the handler and committed.</param>
/// <param name="Skipped">Events at or before the cursor, already handled earlier.</param>
/// <param name="LastProcessedTimestamp">The cursor afterwards.</param>
public sealed record EventProcessingResult(int Handled, int Skipped, long? LastProcessedTimestamp);

/// <summary>
/// Per-contract event cursors. <see cref="ProcessAsync"/> hands events after the cursor to a handler that
/// writes its effects into the unit of work it is given; the cursor moves in that same unit, so effects and
/// cursor commit together or not at all and a restart neither handles an event twice nor skips one.
/// </summary>
public interface IEventListenerService
{
    /// <summary>Registers a contract (enabled), or returns its existing configuration unchanged.</summary>
    /// <param name="contractId">1–64 printable ASCII characters.</param>
    /// <param name="startAfterTimestamp">Events at or before this are treated as handled; null to handle everything.</param>
    /// <param name="cancellationToken">Cancels the operation.</param>
    ValueTask<EventListenerConfig> RegisterAsync(string contractId, long? startAfterTimestamp = null, CancellationToken cancellationToken = default);

    /// <summary>Reads a contract's configuration.</summary>
    /// <exception cref="PaymentsKitException"><c>not_found</c> for an unregistered contract.</exception>
    ValueTask<EventListenerConfig> GetAsync(string contractId, CancellationToken cancellationToken = default);

    /// <summary>Enables or disables a listener.</summary>
    ValueTask<EventListenerConfig> SetEnabledAsync(string contractId, bool enabled, CancellationToken cancellationToken = default);

    /// <summary>Lists every listener in registration order, a page at a time.</summary>
    ValueTask<Page<EventListenerConfig>> ListAsync(string? cursor, int limit, CancellationToken cancellationToken = default);

    /// <summary>
    /// Handles the events after the contract's cursor in timestamp order (ties keep their given order), in
    /// chunks of about <paramref name="chunkSize"/> that never split a timestamp: each chunk's effects and the
    /// cursor advance to its last timestamp commit in one unit of work. A lost race with another listener
    /// reruns the chunk on the new cursor.
    /// </summary>
    /// <typeparam name="TEvent">The event type.</typeparam>
    /// <param name="contractId">A registered, enabled contract.</param>
    /// <param name="events">
    /// Events of the contract. Every event of a timestamp must be in the same call, and a later call must not
    /// bring events at or before a timestamp already handled (they are skipped as handled).
    /// </param>
    /// <param name="timestampOf">Reads an event's timestamp (zero or more).</param>
    /// <param name="handler">
    /// Writes an event's effects into the unit of work (e.g. through the <see cref="IUnitOfWork"/> overloads of the
    /// services); it may run again if the chunk is retried, so it must do nothing outside the unit.
    /// </param>
    /// <param name="chunkSize">Events per commit, 1–1000. Default 100.</param>
    /// <param name="cancellationToken">Cancels between chunks; the committed cursor stays where it is.</param>
    /// <exception cref="PaymentsKitException">
    /// <c>not_found</c> for an unregistered contract, <c>invalid_argument</c> for a disabled listener, a negative
    /// timestamp or a bad chunk size, or whatever the handler throws (its chunk is not committed).
    /// </exception>
    ValueTask<EventProcessingResult> ProcessAsync<TEvent>(
        string contractId,
        IEnumerable<TEvent> events,
        Func<TEvent, long> timestampOf,
        Func<IUnitOfWork, TEvent, CancellationToken, ValueTask> handler,
        int chunkSize = 100,
        CancellationToken cancellationToken = default);
}

/// <summary>The <see cref="IEventListenerService"/> over any <see cref="IPaymentsStore"/>.</summary>
/// <param name="store">Where configurations and the handlers' effects are kept.</param>
/// <param name="clock">Stamps changes.</param>
public sealed class EventListenerService(IPaymentsStore store, IClock clock) : IEventListenerService
{
    private const int MaxContractIdLength = 64;

    /// <inheritdoc />
    public async ValueTask<EventListenerConfig> RegisterAsync(string contractId, long? startAfterTimestamp = null, CancellationToken cancellationToken = default)
    {
        PayoutValidation.ChainText(contractId, "contract_id", MaxContractIdLength);
        if (startAfterTimestamp is < 0)
        {
            throw PaymentsKitException.InvalidArgument("start_after_timestamp", startAfterTimestamp, "must not be negative");
        }

        for (var attempt = 0; ; attempt++)
        {
            try
            {
                return await store.ExecuteAsync(
                    async (unit, ct) =>
                    {
                        var existing = await FindAsync(unit, contractId, ct).ConfigureAwait(false);
                        if (existing is not null)
                        {
                            return existing.Value;
                        }

                        var now = clock.GetCurrentInstant();
                        var config = new EventListenerConfig(EventListenerId.New(clock), contractId, startAfterTimestamp, true, 0, now, now);
                        unit.Insert(PayoutCollections.EventListeners, config);
                        return config;
                    },
                    cancellationToken).ConfigureAwait(false);
            }
            catch (PaymentsKitException ex) when (ex.Code == PaymentsKitErrorCodes.DuplicateKey && attempt == 0)
            {
                // A concurrent registration of the same contract won; the next attempt returns it.
            }
        }
    }

    /// <inheritdoc />
    public async ValueTask<EventListenerConfig> GetAsync(string contractId, CancellationToken cancellationToken = default)
    {
        PayoutValidation.ChainText(contractId, "contract_id", MaxContractIdLength);
        var unit = await store.BeginAsync(cancellationToken).ConfigureAwait(false);
        await using (unit.ConfigureAwait(false))
        {
            return (await RequireAsync(unit, contractId, cancellationToken).ConfigureAwait(false)).Value;
        }
    }

    /// <inheritdoc />
    public ValueTask<EventListenerConfig> SetEnabledAsync(string contractId, bool enabled, CancellationToken cancellationToken = default)
    {
        PayoutValidation.ChainText(contractId, "contract_id", MaxContractIdLength);
        return store.ExecuteAsync(
            async (unit, ct) =>
            {
                var current = await RequireAsync(unit, contractId, ct).ConfigureAwait(false);
                if (current.Value.Enabled == enabled)
                {
                    return current.Value;
                }

                var updated = current.Value with { Enabled = enabled, UpdatedAt = clock.GetCurrentInstant() };
                unit.Update(PayoutCollections.EventListeners, updated, current.Version);
                return updated;
            },
            cancellationToken);
    }

    /// <inheritdoc />
    public async ValueTask<Page<EventListenerConfig>> ListAsync(string? cursor, int limit, CancellationToken cancellationToken = default)
    {
        var unit = await store.BeginAsync(cancellationToken).ConfigureAwait(false);
        await using (unit.ConfigureAwait(false))
        {
            var page = await unit.ListAsync(PayoutCollections.EventListeners, Guid.Empty, cursor, limit, cancellationToken).ConfigureAwait(false);
            return new Page<EventListenerConfig>([.. page.Items.Select(i => i.Value)], page.NextCursor);
        }
    }

    /// <inheritdoc />
    public async ValueTask<EventProcessingResult> ProcessAsync<TEvent>(
        string contractId,
        IEnumerable<TEvent> events,
        Func<TEvent, long> timestampOf,
        Func<IUnitOfWork, TEvent, CancellationToken, ValueTask> handler,
        int chunkSize = 100,
        CancellationToken cancellationToken = default)
    {
        PayoutValidation.ChainText(contractId, "contract_id", MaxContractIdLength);
        Guard.NotNull(events, "events");
        ArgumentNullException.ThrowIfNull(timestampOf);
        ArgumentNullException.ThrowIfNull(handler);
        if (chunkSize is < 1 or > BufferedUnitOfWork.MaxPageSize)
        {
            throw PaymentsKitException.InvalidArgument(
                "chunk_size", chunkSize, string.Create(CultureInfo.InvariantCulture, $"must be between 1 and {BufferedUnitOfWork.MaxPageSize}"));
        }

        var ordered = events.Select((e, i) => (Event: e, Timestamp: timestampOf(e), Index: i)).ToList();
        foreach (var (_, timestamp, index) in ordered)
        {
            if (timestamp < 0)
            {
                throw PaymentsKitException.InvalidArgument(
                    string.Create(CultureInfo.InvariantCulture, $"events[{index}].timestamp"), timestamp, "must not be negative");
            }
        }

        ordered.Sort((a, b) => a.Timestamp != b.Timestamp ? a.Timestamp.CompareTo(b.Timestamp) : a.Index.CompareTo(b.Index));
        var config = await GetAsync(contractId, cancellationToken).ConfigureAwait(false);
        if (!config.Enabled)
        {
            throw PaymentsKitException.InvalidArgument("contract_id", contractId, "has a disabled listener; enable it before processing its events");
        }

        var handled = 0;
        var skipped = 0;
        var cursor = config.LastProcessedTimestamp;
        var start = 0;
        while (start < ordered.Count)
        {
            cancellationToken.ThrowIfCancellationRequested();

            // A chunk ends on a timestamp boundary: the cursor cannot express half of a timestamp.
            var end = Math.Min(start + chunkSize, ordered.Count);
            while (end < ordered.Count && ordered[end].Timestamp == ordered[end - 1].Timestamp)
            {
                end++;
            }

            var chunk = ordered.GetRange(start, end - start);
            var (chunkHandled, chunkSkipped, chunkCursor) = await store.ExecuteAsync(
                async (unit, ct) =>
                {
                    var current = await RequireAsync(unit, contractId, ct).ConfigureAwait(false);
                    if (!current.Value.Enabled)
                    {
                        throw PaymentsKitException.InvalidArgument("contract_id", contractId, "has a disabled listener; enable it before processing its events");
                    }

                    var after = current.Value.LastProcessedTimestamp;
                    var count = 0;
                    foreach (var item in chunk)
                    {
                        if (after is { } done && item.Timestamp <= done)
                        {
                            continue;
                        }

                        await handler(unit, item.Event, ct).ConfigureAwait(false);
                        count++;
                    }

                    if (count == 0)
                    {
                        return (0, chunk.Count, after);
                    }

                    var last = chunk[^1].Timestamp;
                    unit.Update(
                        PayoutCollections.EventListeners,
                        current.Value with { LastProcessedTimestamp = last, HandledEvents = checked(current.Value.HandledEvents + count), UpdatedAt = clock.GetCurrentInstant() },
                        current.Version);
                    return (count, chunk.Count - count, (long?)last);
                },
                cancellationToken).ConfigureAwait(false);
            handled += chunkHandled;
            skipped += chunkSkipped;
            cursor = chunkCursor;
            start = end;
        }

        return new EventProcessingResult(handled, skipped, cursor);
    }

    private static async ValueTask<Versioned<EventListenerConfig>?> FindAsync(IUnitOfWork unit, string contractId, CancellationToken cancellationToken) =>
        await unit.FindAsync(PayoutCollections.EventListeners, Guid.Empty, PayoutCollections.ContractKey, contractId, cancellationToken).ConfigureAwait(false);

    private static async ValueTask<Versioned<EventListenerConfig>> RequireAsync(IUnitOfWork unit, string contractId, CancellationToken cancellationToken) =>
        await FindAsync(unit, contractId, cancellationToken).ConfigureAwait(false)
        ?? throw new PaymentsKitException(
            PaymentsKitErrorCodes.NotFound,
            $"No event listener is registered for contract '{contractId}'.",
            new Dictionary<string, object?> { ["field"] = "contract_id", ["value"] = contractId });
}
