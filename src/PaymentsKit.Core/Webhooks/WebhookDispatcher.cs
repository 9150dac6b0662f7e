using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Runtime.ExceptionServices;
using System.Text;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using NodaTime;
using PaymentsKit.Diagnostics;
using PaymentsKit.Storage;

namespace PaymentsKit.Webhooks;

/// <summary>What one dispatch pass did.</summary>
/// <param name="Scheduled">Outbox events turned into deliveries.</param>
/// <param name="Claimed">Deliveries claimed to be attempted (those not sent included).</param>
/// <param name="Delivered">Attempts answered 2xx.</param>
/// <param name="Retrying">Failed attempts scheduled again.</param>
/// <param name="DeadLettered">Deliveries given up (last attempt failed, endpoint gone or disabled).</param>
/// <param name="LostLeases">Attempts whose lease expired before they finished (another dispatcher owns the delivery now).</param>
public sealed record WebhookDispatchResult(int Scheduled, int Claimed, int Delivered, int Retrying, int DeadLettered, int LostLeases)
{
    /// <summary>Whether the pass was full, so more work is probably waiting.</summary>
    public bool MoreWork { get; init; }

    /// <summary>
    /// Claimed deliveries not sent, because their lease would have ended before their timeout (see
    /// <see cref="WebhookDeliveryCompletion.NotSent"/>): put back due at once, costing no attempt.
    /// </summary>
    public int NotSent { get; init; }
}

/// <summary>Delivers the outbox's webhooks.</summary>
public interface IWebhookDispatcher
{
    /// <summary>
    /// One pass: schedules new outbox events to their endpoints, claims due deliveries and attempts them
    /// concurrently, recording each outcome. Safe to run on many hosts at once.
    /// </summary>
    /// <param name="cancellationToken">
    /// Abandons the POSTs in flight (their leases expire and they are claimed again); claimed deliveries not yet sent are
    /// put back unsent, and outcomes already received are recorded, before the pass throws.
    /// </param>
    ValueTask<WebhookDispatchResult> DispatchAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// Delivers continuously until nothing is due or <paramref name="budget"/> has passed: claims the next batch while
    /// the last is being sent, keeps <see cref="WebhookDeliveryOptions.MaxConcurrency"/> attempts in flight and records
    /// outcomes in batches (one round trip for many). The same guarantees as <see cref="DispatchAsync"/>: safe to run
    /// on many hosts at once, at least once, never two attempts of one delivery at the same time.
    /// </summary>
    /// <param name="budget">How long to keep claiming new work; attempts already claimed are finished and recorded after it.</param>
    /// <param name="cancellationToken">
    /// Abandons the POSTs in flight (their leases expire and they are claimed again); claimed deliveries not yet sent are
    /// put back unsent, and outcomes already received are recorded, before the drain throws.
    /// </param>
    /// <returns>The totals; <see cref="WebhookDispatchResult.MoreWork"/> when the budget ran out with work left.</returns>
    ValueTask<WebhookDispatchResult> DrainAsync(TimeSpan budget, CancellationToken cancellationToken = default);

    /// <summary>
    /// Drains as <see cref="DrainAsync(TimeSpan, CancellationToken)"/> does, and winds down when <paramref name="stoppingToken"/>
    /// fires (the host is stopping): claims nothing more, puts the claimed deliveries not yet sent back unsent (due at once,
    /// no attempt counted, free for another dispatcher to claim), lets the POSTs in flight finish, records their outcomes
    /// and returns the totals.
    /// </summary>
    /// <param name="budget">How long to keep claiming new work.</param>
    /// <param name="stoppingToken">Asks the drain to wind down as above; it returns rather than throws.</param>
    /// <param name="cancellationToken">Abandons the POSTs in flight, as in <see cref="DrainAsync(TimeSpan, CancellationToken)"/>.</param>
    /// <returns>The totals; the deliveries put back are counted in <see cref="WebhookDispatchResult.NotSent"/>.</returns>
    /// <remarks>This default, for dispatchers written before the overload existed, ignores <paramref name="stoppingToken"/>.</remarks>
    ValueTask<WebhookDispatchResult> DrainAsync(TimeSpan budget, CancellationToken stoppingToken, CancellationToken cancellationToken) =>
        DrainAsync(budget, cancellationToken);
}

/// <summary>
/// The webhook dispatcher: signs each attempt per Standard Webhooks (<c>webhook-id</c> = event id, a fresh
/// <c>webhook-timestamp</c>, one <c>v1</c> signature per active secret), POSTs the event's JSON with a timeout,
/// treats 2xx as delivered, retries on the <see cref="WebhookRetryPolicy"/> (honouring <c>Retry-After</c> on
/// 429/503), disables the endpoint on 410 and dead-letters after the last attempt. The SSRF guard checks the
/// endpoint (resolving its host) before every attempt.
/// </summary>
public sealed partial class WebhookDispatcher : IWebhookDispatcher
{
    /// <summary>How much of a response body an attempt log keeps.</summary>
    public const int ResponseExcerptBytes = 1024;

    private const string GoneReason = "the endpoint answered 410 Gone";

    // A drain records at most this many outcomes per round trip.
    private const int MaxRecordBatch = 1000;

    // How long a drain's recorder waits for more outcomes before writing a small batch: fewer, fuller round trips.
    private static readonly TimeSpan RecordLinger = TimeSpan.FromMilliseconds(2);

    // How long an abandoned drain or pass still spends recording the outcomes it received and the claims it put back.
    private static readonly TimeSpan RecordGrace = TimeSpan.FromSeconds(5);

    // The LastError of a delivery a stopping drain or a cancelled pass put back unsent; also tells Report why it was not sent.
    private const string StoppedReason = "not sent: the dispatcher stopped before its turn came";

    private readonly IWebhookDeliveryQueue _queue;
    private readonly IPaymentsStore _store;
    private readonly IWebhookEndpointService _endpoints;
    private readonly WebhookEndpointValidator _validator;
    private readonly HttpClient _http;
    private readonly IClock _clock;
    private readonly WebhookDeliveryOptions _options;
    private readonly ILogger _logger;
    private readonly Random _random;

    /// <summary>Creates a dispatcher.</summary>
    /// <param name="queue">The delivery queue.</param>
    /// <param name="store">Where endpoints are read from.</param>
    /// <param name="endpoints">Disables endpoints that answer 410.</param>
    /// <param name="validator">The SSRF guard with the host's resolver.</param>
    /// <param name="http">Sends the POSTs; its own timeout is not used (<see cref="WebhookDeliveryOptions.Timeout"/> is).</param>
    /// <param name="clock">The clock.</param>
    /// <param name="options">Timeouts, batch sizes, retry policy (the host validates them at start).</param>
    /// <param name="logger">Logs failures; optional.</param>
    /// <param name="random">The jitter source; <see cref="Random.Shared"/> when null.</param>
    public WebhookDispatcher(
        IWebhookDeliveryQueue queue,
        IPaymentsStore store,
        IWebhookEndpointService endpoints,
        WebhookEndpointValidator validator,
        HttpClient http,
        IClock clock,
        WebhookDeliveryOptions options,
        ILogger<WebhookDispatcher>? logger = null,
        Random? random = null)
    {
        _queue = queue ?? throw new ArgumentNullException(nameof(queue));
        _store = store ?? throw new ArgumentNullException(nameof(store));
        _endpoints = endpoints ?? throw new ArgumentNullException(nameof(endpoints));
        _validator = validator ?? throw new ArgumentNullException(nameof(validator));
        _http = http ?? throw new ArgumentNullException(nameof(http));
        _clock = clock ?? throw new ArgumentNullException(nameof(clock));
        _options = options ?? throw new ArgumentNullException(nameof(options));
        if (options.Timeout <= TimeSpan.Zero || options.LeaseDuration <= options.Timeout || options.RetryPolicy is null)
        {
            throw PaymentsKitException.InvalidArgument("options", options.Timeout, "need a positive timeout, a lease longer than it and a retry policy");
        }

        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _random = random ?? Random.Shared;
    }

    /// <inheritdoc />
    public async ValueTask<WebhookDispatchResult> DispatchAsync(CancellationToken cancellationToken = default)
    {
        using var activity = PaymentsKitTelemetry.StartActivity("webhooks.dispatch");
        var tally = new Tally();
        var gone = new GoneEndpoints();

        // One batch through the drain's stages, so a cancelled pass winds down as a cancelled drain does.
        await RunAsync(
            gone,
            async (claimed, attempted, stop, abandon) =>
                await HandOnAsync(await ClaimAsync(tally, abandon).ConfigureAwait(false), claimed, attempted, gone, stop, abandon).ConfigureAwait(false),
            (attempted, record) => RecordAllAsync(attempted, tally, record),
            CancellationToken.None,
            cancellationToken).ConfigureAwait(false);
        return tally.Result(activity);
    }

    /// <inheritdoc />
    public ValueTask<WebhookDispatchResult> DrainAsync(TimeSpan budget, CancellationToken cancellationToken = default) =>
        DrainAsync(budget, CancellationToken.None, cancellationToken);

    /// <inheritdoc />
    public async ValueTask<WebhookDispatchResult> DrainAsync(TimeSpan budget, CancellationToken stoppingToken, CancellationToken cancellationToken)
    {
        using var activity = PaymentsKitTelemetry.StartActivity("webhooks.drain");
        var tally = new Tally();
        var gone = new GoneEndpoints();
        var outstanding = new Outstanding();
        await RunAsync(
            gone,
            (claimed, attempted, stop, abandon) => FeedAsync(claimed, attempted, outstanding, tally, gone, budget, stop, abandon),
            (attempted, record) => RecordLoopAsync(attempted, outstanding, tally, record),
            stoppingToken,
            cancellationToken).ConfigureAwait(false);
        return tally.Result(activity);
    }

    /// <summary>
    /// Runs a feeder, <see cref="WebhookDeliveryOptions.MaxConcurrency"/> senders and a recorder. On
    /// <paramref name="stoppingToken"/> the feeder claims nothing more and what was claimed but not sent is put back unsent;
    /// on <paramref name="cancellationToken"/> (or a stage failing) the POSTs in flight are abandoned too. Either way the
    /// outcomes received and the claims put back are recorded, then the cancellation or the failure is thrown.
    /// </summary>
    private async Task RunAsync(GoneEndpoints gone, Feeder feed, Recorder record, CancellationToken stoppingToken, CancellationToken cancellationToken)
    {
        // Abandons the POSTs in flight: the caller cancelled, or a stage failed.
        using var failed = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);

        // Stops claiming and puts back what was claimed but not sent: the caller is stopping, or the run is abandoned.
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken, failed.Token);

        // Outcomes already received are recorded whatever stops the run: their POSTs were answered, and dropped they would be
        // sent again. Once the run is abandoned the writes get a grace of their own, so a store that no longer answers
        // cannot hold it.
        using var recording = new CancellationTokenSource();
        using var grace = failed.Token.Register(static state => ((CancellationTokenSource)state!).CancelAfter(RecordGrace), recording);
        var claimed = Channel.CreateBounded<Work>(new BoundedChannelOptions(_options.BatchSize) { SingleWriter = true });
        var attempted = Channel.CreateUnbounded<WebhookDeliveryCompletion>();
        var feeder = Stage(() => feed(claimed.Writer, attempted.Writer, stop.Token, failed.Token), claimed.Writer);
        var senders = Enumerable.Range(0, _options.MaxConcurrency)
            .Select(_ => Stage(() => SendLoopAsync(claimed.Reader, attempted.Writer, gone, stop.Token, failed.Token), null))
            .ToArray();
        var recorder = Stage(() => record(attempted.Reader, recording.Token), null);

        // The feeder too writes outcomes (the claims it puts back), so the channel completes only once it has ended.
        await Task.WhenAll([feeder, .. senders]).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        attempted.Writer.TryComplete();
        Task[] stages = [feeder, .. senders, recorder];
        await Task.WhenAll(stages).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        if (stages.Select(t => t.Exception?.InnerException).FirstOrDefault(e => e is not null) is { } failure)
        {
            ExceptionDispatchInfo.Throw(failure);
        }

        cancellationToken.ThrowIfCancellationRequested();

        // A stage that fails stops the others, and the run reports its exception rather than their cancellations.
        async Task Stage(Func<Task> run, ChannelWriter<Work>? completes)
        {
            try
            {
                await run().ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !failed.IsCancellationRequested)
            {
                await failed.CancelAsync().ConfigureAwait(false);
                throw;
            }
            finally
            {
                completes?.TryComplete();
            }
        }
    }

    /// <summary>
    /// Claims batch after batch into <paramref name="claimed"/> until nothing is due, the budget is spent or
    /// <paramref name="stop"/> fires; claims it has not handed on when it stops go back unsent through <paramref name="attempted"/>.
    /// </summary>
    private async Task FeedAsync(
        ChannelWriter<Work> claimed, ChannelWriter<WebhookDeliveryCompletion> attempted, Outstanding outstanding, Tally tally, GoneEndpoints gone,
        TimeSpan budget, CancellationToken stop, CancellationToken cancellationToken)
    {
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < budget)
        {
            if (stop.IsCancellationRequested)
            {
                return;
            }

            var recorded = outstanding.NextRecord;
            if (outstanding.Count >= 2L * _options.BatchSize)
            {
                // No further ahead of the recorder than two batches: claimed work waiting to be recorded holds leases that
                // run out, and on PostgreSQL first attempts leased on unscheduled rows are rows every scheduling read walks.
                await recorded.WaitAsync(stop).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                continue;
            }

            var settled = outstanding.Count == 0;
            var claims = await ClaimAsync(tally, cancellationToken).ConfigureAwait(false);
            if (claims.Count == 0)
            {
                // Attempts not yet recorded may unblock ordered successors (or fail into a due retry): look again once
                // the recorder has written more of them. Not sooner: an empty claim still walks the leased deliveries.
                if (settled)
                {
                    return;
                }

                await recorded.WaitAsync(stop).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                continue;
            }

            outstanding.Add(claims.Count);
            if (!await HandOnAsync(claims, claimed, attempted, gone, stop, cancellationToken).ConfigureAwait(false))
            {
                return;
            }
        }

        tally.OutOfBudget = true;
    }

    /// <summary>
    /// Pairs <paramref name="claims"/> with their endpoints and hands them to the senders through <paramref name="claimed"/>;
    /// once <paramref name="stop"/> fires, those not handed on go back unsent through <paramref name="attempted"/>.
    /// </summary>
    /// <returns>Whether every claim was handed on.</returns>
    private async ValueTask<bool> HandOnAsync(
        IReadOnlyList<WebhookClaim> claims, ChannelWriter<Work> claimed, ChannelWriter<WebhookDeliveryCompletion> attempted, GoneEndpoints gone,
        CancellationToken stop, CancellationToken cancellationToken)
    {
        List<Work> work;
        try
        {
            work = await TargetAsync(claims, gone, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            PutBack(claims, attempted);
            return false;
        }

        for (var i = 0; i < work.Count; i++)
        {
            try
            {
                stop.ThrowIfCancellationRequested();
                await claimed.WriteAsync(work[i], stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                PutBack([.. work.Skip(i).Select(w => w.Claim)], attempted);
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// Attempts claimed work until the feeder is done. Once <paramref name="stop"/> fires, what it reads is put back unsent;
    /// a POST in flight runs on until <paramref name="cancellationToken"/>, and one abandoned then keeps its lease (whether
    /// the receiver got it is unknown), so it is never sent twice at once.
    /// </summary>
    private async Task SendLoopAsync(
        ChannelReader<Work> claimed, ChannelWriter<WebhookDeliveryCompletion> attempted, GoneEndpoints gone, CancellationToken stop, CancellationToken cancellationToken)
    {
        // Not cancelled: the feeder completes the channel whenever it ends, and what is left in it must still go back.
        while (await claimed.WaitToReadAsync(CancellationToken.None).ConfigureAwait(false))
        {
            while (claimed.TryRead(out var work))
            {
                if (stop.IsCancellationRequested)
                {
                    PutBack([work.Claim], attempted);
                    continue;
                }

                try
                {
                    attempted.TryWrite(await AttemptAsync(work, gone, cancellationToken).ConfigureAwait(false));
                }
                catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
                {
                    // Abandoned in flight: left to its lease.
                }
            }
        }
    }

    /// <summary>Hands claims a stopping drain or pass did not send to the recorder, to go back due at once with no attempt counted.</summary>
    private void PutBack(IReadOnlyList<WebhookClaim> claims, ChannelWriter<WebhookDeliveryCompletion> attempted)
    {
        foreach (var claim in claims)
        {
            attempted.TryWrite(Unsent(claim, _clock.GetCurrentInstant(), StoppedReason));
        }
    }

    /// <summary>Records attempts in batches: whatever finished while the previous batch was being written, after a short linger.</summary>
    private async Task RecordLoopAsync(ChannelReader<WebhookDeliveryCompletion> attempted, Outstanding outstanding, Tally tally, CancellationToken cancellationToken)
    {
        var batch = new List<WebhookDeliveryCompletion>();
        while (await attempted.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
        {
            if (attempted.Count < _options.BatchSize && !attempted.Completion.IsCompleted)
            {
                await Task.Delay(RecordLinger, cancellationToken).ConfigureAwait(false);
            }

            while (batch.Count < MaxRecordBatch && attempted.TryRead(out var completion))
            {
                batch.Add(completion);
            }

            await RecordAsync(batch, tally, cancellationToken).ConfigureAwait(false);
            outstanding.Recorded(batch.Count);
            batch.Clear();
        }
    }

    /// <summary>Records a pass's outcomes in one round trip, once its senders are done.</summary>
    private async Task RecordAllAsync(ChannelReader<WebhookDeliveryCompletion> attempted, Tally tally, CancellationToken cancellationToken)
    {
        var all = new List<WebhookDeliveryCompletion>();
        while (await attempted.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
        {
            while (attempted.TryRead(out var completion))
            {
                all.Add(completion);
            }
        }

        await RecordAsync(all, tally, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Schedules new outbox events (claiming their deliveries in the same step where the queue can) and claims due deliveries.</summary>
    private async ValueTask<IReadOnlyList<WebhookClaim>> ClaimAsync(Tally tally, CancellationToken cancellationToken)
    {
        var limit = _options.BatchSize;
        var fresh = await _queue.ScheduleAndClaimAsync(PlanAsync, _clock.GetCurrentInstant(), _options.Lease, limit, cancellationToken).ConfigureAwait(false);
        var claims = fresh.Claims;
        if (claims.Count < limit)
        {
            var due = await _queue.ClaimAsync(_clock.GetCurrentInstant(), _options.Lease, limit - claims.Count, cancellationToken).ConfigureAwait(false);
            claims = claims.Count == 0 ? due : [.. claims, .. due];
        }

        tally.Claimed(fresh.Scheduled, claims.Count, fresh.Scheduled == limit || claims.Count == limit);
        return claims;
    }

    /// <summary>Pairs claims with their endpoints.</summary>
    private async ValueTask<List<Work>> TargetAsync(IReadOnlyList<WebhookClaim> claims, GoneEndpoints gone, CancellationToken cancellationToken)
    {
        var targets = await LoadTargetsAsync(claims, gone.BeforeRead(), cancellationToken).ConfigureAwait(false);
        return [.. claims.Select(c => new Work(c, targets.GetValueOrDefault(c.Delivery.EndpointId)))];
    }

    /// <summary>Records attempts in one round trip and reports each.</summary>
    private async ValueTask RecordAsync(IReadOnlyList<WebhookDeliveryCompletion> attempts, Tally tally, CancellationToken cancellationToken)
    {
        if (attempts.Count == 0)
        {
            return;
        }

        var recorded = await _queue.CompleteAsync(attempts, cancellationToken).ConfigureAwait(false);
        foreach (var attempt in attempts)
        {
            var kept = recorded.Contains(attempt.Claim.Delivery.Id);
            tally.Recorded(attempt, kept);
            Report(attempt, kept);
        }
    }

    /// <summary>
    /// Reads a response's <c>Retry-After</c>: delta seconds or an HTTP date, and delta seconds beyond what
    /// <see cref="RetryConditionHeaderValue"/> parses (an int) as the longest wait it can express.
    /// </summary>
    internal static Duration? RetryAfterOf(HttpResponseHeaders headers, Instant now)
    {
        if (headers.RetryAfter is { } parsed)
        {
            return RetryAfter(parsed, now);
        }

        // RFC 9110 puts no bound on delta seconds, but HttpClient drops a value above int.MaxValue as invalid: read as
        // "no Retry-After", it would bring the retry forward to the schedule's next delay, the opposite of what was asked.
        if (headers.NonValidated.TryGetValues("Retry-After", out var values) && values.Count == 1
            && values.ToString().Trim() is { Length: > 0 } text && text.AsSpan().IndexOfAnyExceptInRange('0', '9') < 0)
        {
            return Duration.FromSeconds(long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds) ? Math.Min(seconds, int.MaxValue) : int.MaxValue);
        }

        return null;
    }

    /// <summary>Parses a <c>Retry-After</c> header: delta seconds or an HTTP date.</summary>
    internal static Duration? RetryAfter(RetryConditionHeaderValue? header, Instant now)
    {
        if (header?.Delta is { } delta)
        {
            return delta > TimeSpan.Zero ? Duration.FromTimeSpan(delta) : null;
        }

        if (header?.Date is { } date)
        {
            var wait = Instant.FromDateTimeOffset(date) - now;
            return wait > Duration.Zero ? wait : null;
        }

        return null;
    }

    private async ValueTask<IReadOnlyList<WebhookDeliveryPlan>> PlanAsync(IReadOnlyList<WebhookEvent> events, CancellationToken cancellationToken)
    {
        var plans = new List<WebhookDeliveryPlan>();
        foreach (var tenant in events.GroupBy(e => e.TenantId))
        {
            var endpoints = await _endpoints.ListAsync(tenant.Key, cancellationToken).ConfigureAwait(false);
            foreach (var e in tenant)
            {
                foreach (var endpoint in endpoints)
                {
                    // An endpoint receives the events written since it was registered, never the history before it, on every
                    // store and whenever the pass that schedules them runs.
                    if (endpoint.Status == WebhookEndpointStatus.Enabled && endpoint.Accepts(e.EventType) && e.CreatedAt >= endpoint.CreatedAt)
                    {
                        plans.Add(new WebhookDeliveryPlan(e.Id, e.TenantId, endpoint.Id, e.EventType, endpoint.Ordered ? $"{e.ResourceType}:{e.ResourceId}" : null));
                    }
                }
            }
        }

        return plans;
    }

    /// <summary>
    /// Reads each claimed endpoint once per batch, with what every attempt to it needs: its parsed signing secrets and
    /// the SSRF guard's verdict on its URL (the guarded handler checks again on every new connection).
    /// </summary>
    private async ValueTask<Dictionary<WebhookEndpointId, Target>> LoadTargetsAsync(IReadOnlyList<WebhookClaim> claims, long readAt, CancellationToken cancellationToken)
    {
        var targets = new Dictionary<WebhookEndpointId, Target>();
        if (claims.Count == 0)
        {
            return targets;
        }

        var now = _clock.GetCurrentInstant();
        var checks = new List<(WebhookEndpoint Endpoint, Uri Url, Task<string?> Rejected)>();
        var unit = await _store.BeginAsync(cancellationToken).ConfigureAwait(false);
        await using (unit.ConfigureAwait(false))
        {
            foreach (var claim in claims.DistinctBy(c => c.Delivery.EndpointId))
            {
                var found = await unit.GetAsync(WebhookDeliveryCollections.Endpoints, claim.Delivery.TenantId, claim.Delivery.EndpointId.Value, cancellationToken).ConfigureAwait(false);
                if (found?.Value is not { } endpoint)
                {
                    continue;
                }

                if (endpoint.Status != WebhookEndpointStatus.Enabled)
                {
                    targets[endpoint.Id] = new Target(endpoint, null, [], null, readAt);
                    continue;
                }

                var url = new Uri(endpoint.Url);
                checks.Add((endpoint, url, CheckWithinTimeoutAsync(url, cancellationToken)));
            }
        }

        await Task.WhenAll(checks.Select(c => c.Rejected)).ConfigureAwait(false);
        foreach (var (endpoint, url, check) in checks)
        {
            var rejected = await check.ConfigureAwait(false);
            targets[endpoint.Id] = new Target(endpoint, url, rejected is null ? endpoint.SigningSecrets(now) : [], rejected, readAt);
        }

        return targets;
    }

    /// <summary>
    /// The SSRF guard's verdict on an endpoint URL, its look-up bounded by the attempt timeout. Every delivery of the batch
    /// waits for these checks (all tenants'), so one host on a name server that never answers would otherwise hold the pass
    /// and the dispatcher with it: it costs its own deliveries an attempt (rejected) instead, as a look-up that fails does.
    /// The checks run at once, so
    /// several slow hosts hold the batch for one timeout, not one each.
    /// </summary>
    private async Task<string?> CheckWithinTimeoutAsync(Uri url, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.Timeout);
        try
        {
            var (_, rejected) = await _validator.CheckAsync(url, timeout.Token).ConfigureAwait(false);
            return rejected;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return $"its host did not resolve within {_options.Timeout.TotalSeconds:0.###} s";
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // A resolver that fails (a replaced one whose own transport is down, or anything unforeseen) fails this endpoint's
            // check only: thrown, it would fail the whole batch and leave every tenant's deliveries in it to their leases.
            return Truncate($"its host could not be looked up: {ex.Message}", 256);
        }
    }

    private async ValueTask<WebhookDeliveryCompletion> AttemptAsync(Work work, GoneEndpoints gone, CancellationToken cancellationToken)
    {
        var (claim, target) = work;
        var delivery = claim.Delivery;
        using var activity = PaymentsKitTelemetry.StartActivity("webhooks.deliver", ActivityKind.Client);
        activity?.SetTag("paymentskit.webhook_event", delivery.EventId.ToString());
        activity?.SetTag("paymentskit.webhook_endpoint", delivery.EndpointId.ToString());
        activity?.SetTag("paymentskit.webhooks.attempt", delivery.Attempts);
        var startedAt = _clock.GetCurrentInstant();
        if (startedAt + Duration.FromTimeSpan(_options.Timeout) > claim.LeaseExpiresAt)
        {
            // Waiting for its turn (behind MaxConcurrency, or in a drain's buffer) has eaten so much of the lease that the
            // POST could still run when another dispatcher may take the delivery over: it is not sent, and goes back due
            // at once for a claim with a fresh lease. Its claim's attempt is taken back: with slow receivers a delivery can
            // wait its turn more than once, and dead-lettering it for claims never sent would cut the retry schedule short.
            activity?.SetTag("paymentskit.webhooks.outcome", "lease_too_short");
            return Unsent(claim, startedAt, $"not sent: its lease ends at {claim.LeaseExpiresAt}, sooner than the {_options.Timeout.TotalSeconds:0.###} s timeout allows");
        }

        var endpoint = target?.Endpoint;
        var attempt = endpoint is null || endpoint.Status != WebhookEndpointStatus.Enabled
            ? Attempt(delivery, startedAt, TimeSpan.Zero, WebhookAttemptOutcome.EndpointDisabled, null, null, endpoint is null ? "the endpoint no longer exists" : $"the endpoint is disabled: {endpoint.DisabledReason}")
            : gone.Since(target!)
                ? Attempt(delivery, startedAt, TimeSpan.Zero, WebhookAttemptOutcome.EndpointDisabled, null, null, $"the endpoint is disabled: {GoneReason}")
            : target!.Rejected is { } rejected
                ? Attempt(delivery, startedAt, TimeSpan.Zero, WebhookAttemptOutcome.Rejected, null, null, $"SSRF guard: {rejected}")
                : await SendAsync(claim, target, startedAt, cancellationToken).ConfigureAwait(false);
        if (attempt.Outcome == WebhookAttemptOutcome.Gone)
        {
            // Marked before the endpoint is disabled, so the attempts of this pass waiting their turn stop at once, and again
            // after, so a batch whose endpoints were read before the disable committed stops too.
            gone.Mark(delivery.EndpointId);
            await DisableGoneAsync(delivery, cancellationToken).ConfigureAwait(false);
            gone.Mark(delivery.EndpointId);
        }

        var (status, next) = Decide(delivery, attempt.Outcome, attempt.RetryAfter);
        activity?.SetTag("paymentskit.webhooks.outcome", attempt.Outcome.ToString());
        return new WebhookDeliveryCompletion(claim, status, next, attempt.Log);
    }

    /// <summary>A claim put back without being sent: pending, due at <paramref name="now"/>, its claim's attempt taken back.</summary>
    private static WebhookDeliveryCompletion Unsent(WebhookClaim claim, Instant now, string reason) =>
        new(claim, WebhookDeliveryStatus.Pending, now, Attempt(claim.Delivery, now, TimeSpan.Zero, WebhookAttemptOutcome.Failed, null, null, reason).Log) { NotSent = true };

    private void Report(WebhookDeliveryCompletion completion, bool recorded)
    {
        var delivery = completion.Claim.Delivery;
        var attempt = completion.Attempt;
        var outcomeTag = !recorded ? "lost_lease"
            : completion.NotSent ? "not_sent"
            : completion.Status switch
            {
                WebhookDeliveryStatus.Delivered => "delivered",
                WebhookDeliveryStatus.Pending => "retry",
                _ => attempt.Outcome == WebhookAttemptOutcome.Gone ? "endpoint_gone" : "dead_lettered",
            };
        PaymentsKitTelemetry.WebhookDeliveries.Add(1, new KeyValuePair<string, object?>("outcome", outcomeTag));
        if (!completion.NotSent)
        {
            PaymentsKitTelemetry.WebhookAttemptDuration.Record(attempt.Duration.TotalSeconds, new KeyValuePair<string, object?>("outcome", attempt.Outcome.ToString()));
        }

        if (!recorded)
        {
            LogLostLease(_logger, delivery.Id, delivery.EventId);
            return;
        }

        if (completion.NotSent)
        {
            // No attempt was made and none is counted: reported as a failure, it would read as a receiver problem when the
            // cause is a lease too short for the work waiting its turn, or a dispatcher stopping.
            if (attempt.Error == StoppedReason)
            {
                LogPutBack(_logger, delivery.Id, delivery.EventId);
            }
            else
            {
                LogNotSent(_logger, delivery.Id, delivery.EventId, completion.Claim.LeaseExpiresAt, _options.Timeout);
            }

            return;
        }

        switch (completion.Status)
        {
            case WebhookDeliveryStatus.Pending:
                PaymentsKitTelemetry.WebhookRetries.Add(1);
                LogRetry(_logger, delivery.Id, delivery.EventId, delivery.Attempts, attempt.Outcome, attempt.StatusCode, completion.NextAttemptAt);
                break;
            case WebhookDeliveryStatus.DeadLettered:
                PaymentsKitTelemetry.WebhookDeadLetters.Add(1);
                LogDeadLettered(_logger, delivery.Id, delivery.EventId, delivery.Attempts, attempt.Outcome, attempt.StatusCode);
                break;
        }
    }

    private (WebhookDeliveryStatus Status, Instant? Next) Decide(WebhookDelivery delivery, WebhookAttemptOutcome outcome, Duration? retryAfter)
    {
        switch (outcome)
        {
            case WebhookAttemptOutcome.Delivered:
                return (WebhookDeliveryStatus.Delivered, null);
            case WebhookAttemptOutcome.Gone or WebhookAttemptOutcome.EndpointDisabled:
                return (WebhookDeliveryStatus.DeadLettered, null);
            default:
                var delay = _options.RetryPolicy.DelayAfter(Math.Max(delivery.Attempts, 1), _random, retryAfter);
                return delay is { } wait
                    ? (WebhookDeliveryStatus.Pending, _clock.GetCurrentInstant() + wait)
                    : (WebhookDeliveryStatus.DeadLettered, null);
        }
    }

    private async ValueTask DisableGoneAsync(WebhookDelivery delivery, CancellationToken cancellationToken)
    {
        try
        {
            await _endpoints.DisableAsync(delivery.TenantId, delivery.EndpointId, GoneReason, cancellationToken).ConfigureAwait(false);
            LogEndpointGone(_logger, delivery.EndpointId);
        }
        catch (PaymentsKitException ex) when (ex.Code == PaymentsKitErrorCodes.NotFound)
        {
            // Removed meanwhile: nothing left to disable.
        }
        catch (Exception ex) when (ex is PaymentsKitException || (ex is OperationCanceledException && cancellationToken.IsCancellationRequested))
        {
            // The 410 still settles its delivery, and the endpoint's next 410 disables it. Thrown (a store failure, or the
            // caller cancelling while the disable was written), this would cost the pass the outcomes of every attempt it
            // already sent, to be sent again once their leases expire.
            LogDisableFailed(_logger, ex, delivery.EndpointId);
        }
    }

    private async ValueTask<AttemptResult> SendAsync(WebhookClaim claim, Target target, Instant startedAt, CancellationToken cancellationToken)
    {
        var delivery = claim.Delivery;
        var headers = WebhookSigner.CreateHeaders(target.Secrets, delivery.EventId.ToString(), startedAt, claim.Payload.Span);
        using var request = new HttpRequestMessage(HttpMethod.Post, target.Url)
        {
            Content = new ReadOnlyMemoryContent(claim.Payload),
            Version = HttpVersion.Version11,
        };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        request.Headers.TryAddWithoutValidation("User-Agent", _options.UserAgent);
        request.Headers.TryAddWithoutValidation(WebhookSigner.IdHeader, headers.Id);
        request.Headers.TryAddWithoutValidation(WebhookSigner.TimestampHeader, headers.Timestamp);
        request.Headers.TryAddWithoutValidation(WebhookSigner.SignatureHeader, headers.Signature);

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.Timeout);
        var watch = Stopwatch.StartNew();
        try
        {
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token).ConfigureAwait(false);
            var excerpt = await ExcerptAsync(response, timeout.Token).ConfigureAwait(false);
            var code = (int)response.StatusCode;
            var outcome = code is >= 200 and < 300 ? WebhookAttemptOutcome.Delivered
                : response.StatusCode == HttpStatusCode.Gone ? WebhookAttemptOutcome.Gone
                : WebhookAttemptOutcome.Failed;
            var retryAfter = response.StatusCode is HttpStatusCode.TooManyRequests or HttpStatusCode.ServiceUnavailable
                ? RetryAfterOf(response.Headers, _clock.GetCurrentInstant())
                : null;
            var error = outcome == WebhookAttemptOutcome.Delivered ? null : string.Create(CultureInfo.InvariantCulture, $"HTTP {code}");
            return Attempt(delivery, startedAt, watch.Elapsed, outcome, code, excerpt, error) with { RetryAfter = retryAfter };
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return Attempt(delivery, startedAt, watch.Elapsed, WebhookAttemptOutcome.TimedOut, null, null, $"no answer within {_options.Timeout.TotalSeconds:0.###} s");
        }
        catch (HttpRequestException ex) when (Find<PaymentsKitException>(ex) is { Code: PaymentsKitErrorCodes.WebhookEndpointRejected } guard)
        {
            return Attempt(delivery, startedAt, watch.Elapsed, WebhookAttemptOutcome.Rejected, null, null, $"SSRF guard: {guard.Context.GetValueOrDefault("reason")}");
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // A dropped connection, and anything a receiver (or handler) does that no one foresaw, costs its delivery an
            // attempt, never the pass its batch.
            return Attempt(delivery, startedAt, watch.Elapsed, WebhookAttemptOutcome.Failed, null, null, Truncate(ex.Message, 256));
        }
    }

    private static async ValueTask<string?> ExcerptAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(ResponseExcerptBytes);
        try
        {
            var read = 0;
            try
            {
                var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
                await using (stream.ConfigureAwait(false))
                {
                    int n;
                    while (read < ResponseExcerptBytes
                        && (n = await stream.ReadAsync(buffer.AsMemory(read, ResponseExcerptBytes - read), cancellationToken).ConfigureAwait(false)) > 0)
                    {
                        read += n;
                    }
                }
            }
            catch (Exception ex) when (ex is IOException || (ex is OperationCanceledException && cancellationToken.IsCancellationRequested))
            {
                // The receiver has answered, so its status is the outcome and the excerpt is what arrived: a body cut short
                // (a wrong Content-Length, broken chunking, a reset) or still arriving when the timeout ends or the caller
                // cancels. Taken as a timeout, a 2xx would be sent again for a body no one needs.
            }

            return read == 0 ? null : Encoding.UTF8.GetString(buffer, 0, read);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static T? Find<T>(Exception? ex)
        where T : Exception
    {
        for (; ex is not null; ex = ex.InnerException)
        {
            if (ex is T found)
            {
                return found;
            }
        }

        return null;
    }

    private static string Truncate(string text, int max) => text.Length <= max ? text : text[..max] + "…";

    private static AttemptResult Attempt(
        WebhookDelivery delivery, Instant startedAt, TimeSpan elapsed, WebhookAttemptOutcome outcome, int? statusCode, string? excerpt, string? error) =>
        new(new WebhookDeliveryAttempt(
            Guid.CreateVersion7(startedAt.ToDateTimeOffset()),
            delivery.TenantId,
            delivery.Id,
            delivery.EventId,
            delivery.EndpointId,
            delivery.Attempts,
            startedAt,
            Duration.FromTimeSpan(elapsed),
            outcome,
            statusCode,
            WebhookDeliveryAttempt.Storable(excerpt),
            WebhookDeliveryAttempt.Storable(error)));

    [LoggerMessage(EventId = 401, Level = LogLevel.Information, Message = "Webhook delivery {DeliveryId} of {EventId} attempt {Attempt} failed ({Outcome}, HTTP {StatusCode}); next attempt at {NextAttemptAt}")]
    private static partial void LogRetry(ILogger logger, WebhookDeliveryId deliveryId, WebhookEventId eventId, int attempt, WebhookAttemptOutcome outcome, int? statusCode, Instant? nextAttemptAt);

    [LoggerMessage(EventId = 402, Level = LogLevel.Warning, Message = "Webhook delivery {DeliveryId} of {EventId} dead-lettered after {Attempts} attempt(s) ({Outcome}, HTTP {StatusCode})")]
    private static partial void LogDeadLettered(ILogger logger, WebhookDeliveryId deliveryId, WebhookEventId eventId, int attempts, WebhookAttemptOutcome outcome, int? statusCode);

    [LoggerMessage(EventId = 403, Level = LogLevel.Warning, Message = "Webhook endpoint {EndpointId} answered 410 Gone and was disabled")]
    private static partial void LogEndpointGone(ILogger logger, WebhookEndpointId endpointId);

    [LoggerMessage(EventId = 405, Level = LogLevel.Error, Message = "Webhook endpoint {EndpointId} answered 410 Gone but could not be disabled; its next 410 tries again")]
    private static partial void LogDisableFailed(ILogger logger, Exception exception, WebhookEndpointId endpointId);

    [LoggerMessage(EventId = 406, Level = LogLevel.Information, Message = "Webhook delivery {DeliveryId} of {EventId} was not sent: its lease ends at {LeaseExpiresAt}, sooner than its {Timeout} timeout allows; put back due at once, no attempt counted")]
    private static partial void LogNotSent(ILogger logger, WebhookDeliveryId deliveryId, WebhookEventId eventId, Instant leaseExpiresAt, TimeSpan timeout);

    [LoggerMessage(EventId = 407, Level = LogLevel.Information, Message = "Webhook delivery {DeliveryId} of {EventId} was not sent: the dispatcher stopped before its turn came; put back due at once, no attempt counted")]
    private static partial void LogPutBack(ILogger logger, WebhookDeliveryId deliveryId, WebhookEventId eventId);

    [LoggerMessage(EventId = 404, Level = LogLevel.Warning, Message = "Webhook delivery {DeliveryId} of {EventId} finished after its lease expired; the result was discarded")]
    private static partial void LogLostLease(ILogger logger, WebhookDeliveryId deliveryId, WebhookEventId eventId);

    /// <summary>Claims work into <paramref name="claimed"/> for <see cref="RunAsync"/> until done or <paramref name="stop"/> fires.</summary>
    private delegate Task Feeder(ChannelWriter<Work> claimed, ChannelWriter<WebhookDeliveryCompletion> attempted, CancellationToken stop, CancellationToken cancellationToken);

    /// <summary>Records the outcomes read from <paramref name="attempted"/> for <see cref="RunAsync"/>.</summary>
    private delegate Task Recorder(ChannelReader<WebhookDeliveryCompletion> attempted, CancellationToken cancellationToken);

    /// <summary>A claim and where it goes (null when the endpoint no longer exists).</summary>
    private sealed record Work(WebhookClaim Claim, Target? Target);

    /// <summary>
    /// An endpoint as one batch's attempts use it; <see cref="Url"/> is null when it is not enabled. <see cref="ReadAt"/> is
    /// the <see cref="GoneEndpoints"/> stamp taken before it was read.
    /// </summary>
    private sealed record Target(WebhookEndpoint Endpoint, Uri? Url, IReadOnlyList<WebhookSecret> Secrets, string? Rejected, long ReadAt);

    /// <summary>
    /// The endpoints that answered 410 Gone during one pass or drain. An endpoint read before its 410 is stale: attempts to
    /// it are not sent but dead-lettered as a disabled endpoint's are. One read after its disable committed sees the
    /// endpoint as it now is (still disabled, or enabled again by its owner).
    /// </summary>
    private sealed class GoneEndpoints
    {
        private readonly ConcurrentDictionary<WebhookEndpointId, long> _marked = new();
        private long _stamp;

        /// <summary>The stamp to give the endpoints about to be read.</summary>
        public long BeforeRead() => Interlocked.Read(ref _stamp);

        public void Mark(WebhookEndpointId endpointId) => _marked[endpointId] = Interlocked.Increment(ref _stamp);

        /// <summary>Whether the endpoint answered 410 after <paramref name="target"/> was read.</summary>
        public bool Since(Target target) => _marked.TryGetValue(target.Endpoint.Id, out var at) && target.ReadAt < at;
    }

    /// <summary>Claimed deliveries whose outcome is not recorded yet.</summary>
    private sealed class Outstanding
    {
        private long _count;
        private TaskCompletionSource _nextRecord = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public long Count => Interlocked.Read(ref _count);

        /// <summary>Completes when the recorder next writes outcomes (or ends): take it before looking for work.</summary>
        public Task NextRecord => Volatile.Read(ref _nextRecord).Task;

        public void Add(long delta) => Interlocked.Add(ref _count, delta);

        /// <summary>Outcomes were written (or the recorder stopped): wakes a feeder waiting on <see cref="NextRecord"/>.</summary>
        public void Recorded(long count)
        {
            Interlocked.Add(ref _count, -count);
            Interlocked.Exchange(ref _nextRecord, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
        }
    }

    /// <summary>A pass's or a drain's totals, counted from any thread.</summary>
    private sealed class Tally
    {
        private int _scheduled;
        private int _claimed;
        private int _delivered;
        private int _retrying;
        private int _deadLettered;
        private int _lost;
        private int _notSent;
        private int _fullClaims;

        public bool OutOfBudget { get; set; }

        public void Claimed(int scheduled, int claimed, bool full)
        {
            Interlocked.Add(ref _scheduled, scheduled);
            Interlocked.Add(ref _claimed, claimed);
            Volatile.Write(ref _fullClaims, full ? 1 : 0);
        }

        public void Recorded(WebhookDeliveryCompletion completion, bool kept)
        {
            if (!kept)
            {
                Interlocked.Increment(ref _lost);
                return;
            }

            if (completion.NotSent)
            {
                Interlocked.Increment(ref _notSent);
                return;
            }

            switch (completion.Status)
            {
                case WebhookDeliveryStatus.Delivered:
                    Interlocked.Increment(ref _delivered);
                    break;
                case WebhookDeliveryStatus.Pending:
                    Interlocked.Increment(ref _retrying);
                    break;
                default:
                    Interlocked.Increment(ref _deadLettered);
                    break;
            }
        }

        public WebhookDispatchResult Result(Activity? activity)
        {
            activity?.SetTag("paymentskit.webhooks.scheduled", _scheduled);
            activity?.SetTag("paymentskit.webhooks.claimed", _claimed);
            return new WebhookDispatchResult(_scheduled, _claimed, _delivered, _retrying, _deadLettered, _lost)
            {
                // The last claim was full: more is probably waiting.
                MoreWork = Volatile.Read(ref _fullClaims) == 1 || OutOfBudget,
                NotSent = _notSent,
            };
        }
    }

    private sealed record AttemptResult(WebhookDeliveryAttempt Log)
    {
        public WebhookAttemptOutcome Outcome => Log.Outcome;

        public Duration? RetryAfter { get; init; }
    }
}

