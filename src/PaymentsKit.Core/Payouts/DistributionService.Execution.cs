using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using NodaTime;
using PaymentsKit.Ledger;
using PaymentsKit.Storage;

namespace PaymentsKit.Payouts;

public sealed partial class DistributionService
{
    private const int MaxTransactionIdLength = 200;
    private const int MaxErrorLength = 1000;

    /// <inheritdoc />
    public async ValueTask<Distribution> ExecuteAsync(
        MerchantId tenantId, DistributionId distributionId, IProgress<PayoutProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        var (distribution, asset) = await LoadAsync(tenantId, distributionId, cancellationToken).ConfigureAwait(false);
        if (DistributionLifecycle.Machine.IsTerminal(distribution.Status))
        {
            return distribution;
        }

        if (_executor is UnregisteredPayoutExecutor)
        {
            // Fail before anything moves: no holder is claimed for an executor that cannot pay.
            throw UnregisteredPayoutExecutor.Error();
        }

        if (distribution.Status == DistributionStatus.Pending && distribution.DueAt is { } dueAt && dueAt > _clock.GetCurrentInstant())
        {
            throw new PaymentsKitException(
                PaymentsKitErrorCodes.NotDue,
                $"Distribution {distribution.Id} is due at {dueAt}; a {distribution.Execution} distribution does not run earlier.",
                new Dictionary<string, object?> { ["field"] = "due_at", ["value"] = dueAt.ToString() });
        }

        var (current, lease) = await TakeRunLeaseAsync(distribution, cancellationToken).ConfigureAwait(false);
        if (lease is null)
        {
            // Another run is executing it (or just finished it). It must not be joined: this run would re-execute the batch
            // that run is paying, at the same time, and only an executor that never pays a concurrent duplicate twice could take that.
            return current;
        }

        Distribution ran;
        Distribution? ended;
        try
        {
            ran = await ExecuteLeasedAsync(current, asset, new RunState(progress, lease), cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            ended = await lease.EndAsync().ConfigureAwait(false);
        }

        return ended ?? ran;
    }

    /// <summary>Runs a distribution whose run lease this run holds: resumes unknown batches, then pays every holder due.</summary>
    private async ValueTask<Distribution> ExecuteLeasedAsync(Distribution distribution, TokenAsset asset, RunState run, CancellationToken cancellationToken)
    {
        distribution = await EnsureSnapshotAsync(distribution, asset, cancellationToken).ConfigureAwait(false);
        var key = KeyOf(distribution);
        var paymentAsset = _assets.Get(asset.PaymentAsset);
        if (distribution.UnpostedBatches > 0)
        {
            await PostOutstandingAsync(distribution, cancellationToken).ConfigureAwait(false);
        }

        // On every run, not only the first: a run resumed after the funding account was drained must not pay what the
        // ledger would then refuse to post.
        await CheckFundingAsync(distribution, key, paymentAsset, cancellationToken).ConfigureAwait(false);
        if (distribution.Status == DistributionStatus.Pending)
        {
            distribution = await StartAsync(distribution, cancellationToken).ConfigureAwait(false);
            if (DistributionLifecycle.Machine.IsTerminal(distribution.Status))
            {
                return distribution;
            }
        }

        // First the batches a run that died left with an unknown outcome: same holders, same key.
        foreach (var batch in await _holders.ListSubmittedAsync(key, cancellationToken).ConfigureAwait(false))
        {
            await RunBatchAsync(distribution, asset, paymentAsset, batch, run, cancellationToken).ConfigureAwait(false);
        }

        // Then passes over the holders in account order. The first takes only pending holders, in full batches; the passes
        // after it retry failed holders with attempts left one per batch, so a holder that failed an atomic batch cannot
        // fail its neighbours a second time, in this run or in one that resumes it.
        string? after = null;
        var retrying = false;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();

            // Before the claim too: holders claimed by a run that then stops wait for the run that took over to end.
            await run.Lease.EnsureHeldAsync(cancellationToken).ConfigureAwait(false);
            var batch = await _holders.ClaimBatchAsync(
                key,
                after,
                retrying ? 1 : MaxHoldersPerBatch,
                retrying ? _options.MaxAttemptsPerHolder : 0,
                _clock.GetCurrentInstant(),
                cancellationToken).ConfigureAwait(false);
            if (batch is null)
            {
                if (retrying && after is null)
                {
                    break;
                }

                retrying = true;
                after = null;
                continue;
            }

            after = batch.Transfers[^1].AccountId;
            await RunBatchAsync(distribution, asset, paymentAsset, batch, run, cancellationToken).ConfigureAwait(false);
        }

        return await FinishAsync(distribution, key, paymentAsset, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<PayoutBatchRecord>> ListBatchesAsync(MerchantId tenantId, DistributionId distributionId, CancellationToken cancellationToken = default)
    {
        var (distribution, _) = await LoadAsync(tenantId, distributionId, cancellationToken).ConfigureAwait(false);
        var totals = await _holders.GetTotalsAsync(KeyOf(distribution), _options.MaxAttemptsPerHolder, cancellationToken).ConfigureAwait(false);
        var records = new List<PayoutBatchRecord>(totals.LastBatchNumber);
        var unit = await _store.BeginAsync(cancellationToken).ConfigureAwait(false);
        await using (unit.ConfigureAwait(false))
        {
            for (var number = 1; number <= totals.LastBatchNumber; number++)
            {
                var found = await FindBatchAsync(unit, distribution, number, cancellationToken).ConfigureAwait(false);
                if (found is not null)
                {
                    records.Add(found.Value);
                }
            }
        }

        return records;
    }

    /// <summary>Makes sure the allocation is fixed: adopts a snapshot the holder store has but the record does not note, or imports one from the source.</summary>
    private async ValueTask<Distribution> EnsureSnapshotAsync(Distribution distribution, TokenAsset asset, CancellationToken cancellationToken)
    {
        if (distribution.Snapshot is not null)
        {
            return distribution;
        }

        var totals = await _holders.GetTotalsAsync(KeyOf(distribution), _options.MaxAttemptsPerHolder, cancellationToken).ConfigureAwait(false);
        if (totals.Holders > 0)
        {
            // A run (or an import) died between writing the holders and noting them on the distribution.
            var info = new HolderSnapshotInfo(
                totals.Holders, totals.Holders - totals.NothingDue, totals.TotalBalance, Money.FromMinorUnits(totals.AllocatedUnits, _assets.Get(asset.PaymentAsset)), _clock.GetCurrentInstant());
            await RecordSnapshotAsync(distribution, info, cancellationToken).ConfigureAwait(false);
        }
        else if (_source is not null)
        {
            // A SCHEDULED or RECURRING distribution's due time is its record date: who held the token then is entitled, however
            // late the run starts (a worker that was down, a run backing off). One without a due time is paid to today's holders.
            var asOf = distribution.DueAt ?? _clock.GetCurrentInstant();
            var holders = new List<HolderBalance>();
            await foreach (var holder in _source.ReadHoldersAsync(asset, asOf, cancellationToken).WithCancellation(cancellationToken).ConfigureAwait(false))
            {
                holders.Add(holder);
            }

            await ImportCoreAsync(distribution.TenantId, distribution.Id, [.. holders], null, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            throw new PaymentsKitException(
                PaymentsKitErrorCodes.SnapshotRequired,
                $"Distribution {distribution.Id} has no holder snapshot; import one (or register an IHolderSnapshotSource) before running it.",
                new Dictionary<string, object?> { ["field"] = "holders", ["value"] = distribution.Id.ToString() });
        }

        return (await LoadAsync(distribution.TenantId, distribution.Id, cancellationToken).ConfigureAwait(false)).Distribution;
    }

    /// <summary>
    /// Refuses to start when the funding account could not give, or the payout account could not take, what is still
    /// to be paid: a batch's posting follows its payment, so a posting the ledger refused would come after money left.
    /// </summary>
    private async ValueTask CheckFundingAsync(Distribution distribution, HolderSnapshotKey key, Asset paymentAsset, CancellationToken cancellationToken)
    {
        if (distribution.FundingAccountId is not { } fundingId || distribution.PayoutAccountId is not { } payoutId)
        {
            return;
        }

        Money? due = null;
        await CheckAsync(fundingId, "funding_account_id", LedgerAccountFlags.CreditsMustNotExceedDebits, a => a.DebitsPosted - a.CreditsPosted - a.CreditsPending, "give").ConfigureAwait(false);
        await CheckAsync(payoutId, "payout_account_id", LedgerAccountFlags.DebitsMustNotExceedCredits, a => a.CreditsPosted - a.DebitsPosted - a.DebitsPending, "take").ConfigureAwait(false);

        async ValueTask CheckAsync(LedgerAccountId id, string field, LedgerAccountFlags limit, Func<LedgerAccount, Money> room, string verb)
        {
            var account = await _ledger.GetAccountAsync(distribution.TenantId, id, cancellationToken).ConfigureAwait(false);
            if (!account.Flags.HasFlag(limit))
            {
                return;
            }

            if (due is null)
            {
                var totals = await _holders.GetTotalsAsync(key, _options.MaxAttemptsPerHolder, cancellationToken).ConfigureAwait(false);
                due = Money.FromMinorUnits(totals.AllocatedUnits - totals.PaidUnits, paymentAsset);
            }

            var left = room(account);
            if (left < due.Value)
            {
                throw new PaymentsKitException(
                    PaymentsKitErrorCodes.InsufficientFunds,
                    $"Account {id} can {verb} {left} but distribution {distribution.Id} still has {due.Value} to pay.",
                    new Dictionary<string, object?> { ["field"] = field, ["value"] = id.ToString(), ["available"] = left.Amount, ["required"] = due.Value.Amount });
            }
        }
    }

    private ValueTask<Distribution> StartAsync(Distribution distribution, CancellationToken cancellationToken) =>
        RunAsync(
            async (unit, ct) =>
            {
                var current = await RequireDistributionAsync(unit, distribution.TenantId, distribution.Id, ct).ConfigureAwait(false);
                if (current.Value.Status != DistributionStatus.Pending)
                {
                    // Another runner started it first; this one joins.
                    return current.Value;
                }

                var started = Transition(current.Value, DistributionStatus.Processing, "execution started", _clock.GetCurrentInstant());
                unit.Update(PayoutCollections.Distributions, started, current.Version);
                return started;
            },
            cancellationToken);

    private async ValueTask RunBatchAsync(Distribution distribution, TokenAsset asset, Asset paymentAsset, ClaimedBatch batch, RunState run, CancellationToken cancellationToken)
    {
        var key = KeyOf(distribution);
        var idempotencyKey = PayoutCollections.BatchKey(distribution.Id, batch.BatchNumber);
        var recorded = await OpenBatchRecordAsync(distribution, batch, idempotencyKey, paymentAsset, cancellationToken).ConfigureAwait(false);
        var request = new PayoutBatchRequest(
            idempotencyKey, distribution.TenantId, distribution.Id, batch.BatchNumber, asset.TokenId, asset.PaymentTokenId, paymentAsset, batch.Transfers);
        await run.Lease.EnsureHeldAsync(cancellationToken).ConfigureAwait(false);
        PayoutBatchResult result;
        try
        {
            result = await _executor.ExecuteAsync(request, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            LogUnknownOutcome(_logger, ex, batch.BatchNumber, distribution.Id.ToString());
            await NoteUnknownOutcomeAsync(distribution, batch.BatchNumber, ex).ConfigureAwait(false);
            throw;
        }

        var (outcomes, strangers) = Outcomes(request, result);
        var transactionId = StoredTransactionId(result.TransactionId);
        var paidUnits = 0L;
        var paid = 0;
        foreach (var (outcome, transfer) in outcomes.Zip(batch.Transfers))
        {
            if (outcome.Error is null)
            {
                paidUnits = checked(paidUnits + transfer.Amount);
                paid++;
            }
        }

        if (strangers is not null)
        {
            LogStrangers(_logger, batch.BatchNumber, distribution.Id.ToString(), strangers);
        }

        var failures = outcomes.Where(o => o.Error is not null).Take(10).Select(o => $"{o.AccountId}: {o.Error}").ToList();
        var errorMessage = failures.Count == 0 && strangers is null ? null : Truncate(string.Join("; ", failures.Append(strangers).OfType<string>()));
        PaymentsKitException? refused = null;
        if (!recorded)
        {
            refused = await CloseBatchRecordAsync(distribution, batch, result, transactionId, paid, paidUnits, errorMessage, paymentAsset, cancellationToken).ConfigureAwait(false);
        }

        await _holders.RecordOutcomesAsync(key, batch.BatchNumber, transactionId, outcomes, _clock.GetCurrentInstant(), cancellationToken).ConfigureAwait(false);
        LogBatch(_logger, batch.BatchNumber, distribution.Id.ToString(), paid, outcomes.Count - paid, result.TransactionId);
        run.Report(batch.BatchNumber, paid, outcomes.Count - paid);
        if (refused is not null)
        {
            // Paying on would move more money the ledger cannot book; the next run posts this batch first.
            throw PostingRefused(distribution, batch.BatchNumber, refused);
        }
    }

    /// <summary>Writes the PROCESSING batch record unless it exists; returns whether its outcome is already recorded.</summary>
    private async ValueTask<bool> OpenBatchRecordAsync(Distribution distribution, ClaimedBatch batch, string idempotencyKey, Asset paymentAsset, CancellationToken cancellationToken) =>
        await RunAsync(
            async (unit, ct) =>
            {
                var existing = await FindBatchAsync(unit, distribution, batch.BatchNumber, ct).ConfigureAwait(false);
                if (existing is not null)
                {
                    return existing.Value.Status != DistributionStatus.Processing;
                }

                var now = _clock.GetCurrentInstant();
                unit.Insert(
                    PayoutCollections.Batches,
                    new PayoutBatchRecord(
                        PayoutBatchId.New(_clock), distribution.TenantId, distribution.Id, batch.BatchNumber, idempotencyKey, batch.Transfers.Count, 0, 0,
                        Money.Zero(paymentAsset), null, DistributionStatus.Processing, null, null, null, now, now));
                return false;
            },
            cancellationToken).ConfigureAwait(false);

    /// <summary>
    /// Records the batch's outcome and posts what it paid to the ledger in one unit of work. A record already
    /// closed means an earlier run got this far before dying: nothing is written twice. When the ledger refuses the
    /// posting, the outcome is recorded without it, the posting outstanding (<see cref="PayoutBatchRecord.PostingError"/>),
    /// and the refusal returned: the holders were paid, and a batch left open would be re-executed into the same refusal.
    /// </summary>
    private async ValueTask<PaymentsKitException?> CloseBatchRecordAsync(
        Distribution distribution,
        ClaimedBatch batch,
        PayoutBatchResult result,
        string? transactionId,
        int paid,
        long paidUnits,
        string? errorMessage,
        Asset paymentAsset,
        CancellationToken cancellationToken)
    {
        try
        {
            await CloseAsync(null).ConfigureAwait(false);
            return null;
        }
        catch (PaymentsKitException ex) when (!ex.IsTransient && paidUnits > 0 && distribution is { FundingAccountId: not null, PayoutAccountId: not null })
        {
            LogPostingRefused(_logger, ex, batch.BatchNumber, distribution.Id.ToString(), ex.Code);
            return await CloseAsync(ex).ConfigureAwait(false) ? ex : null;
        }

        ValueTask<bool> CloseAsync(PaymentsKitException? refused) =>
            RunAsync(
                async (unit, ct) =>
                {
                    var current = await FindBatchAsync(unit, distribution, batch.BatchNumber, ct).ConfigureAwait(false)
                        ?? throw new InvalidOperationException($"Batch record {batch.BatchNumber} of {distribution.Id} vanished.");
                    if (current.Value.Status != DistributionStatus.Processing)
                    {
                        return false;
                    }

                    var failed = batch.Transfers.Count - paid;
                    var now = _clock.GetCurrentInstant();
                    var closed = current.Value with
                    {
                        SuccessfulPayments = paid,
                        FailedPayments = failed,
                        Paid = Money.FromMinorUnits(paidUnits, paymentAsset),
                        TransactionId = transactionId,
                        FullTransactionId = transactionId == result.TransactionId ? null : Guard.Storable(result.TransactionId!),
                        Status = failed == 0 ? DistributionStatus.Completed : DistributionStatus.Failed,
                        ErrorMessage = errorMessage,
                        PostingError = refused is null ? null : Truncate($"{refused.Code}: {refused.Message}"),
                        ExecutedAt = now,
                        UpdatedAt = now,
                    };
                    if (refused is null)
                    {
                        closed = closed with { LedgerTransactionId = await PostBatchAsync(unit, distribution, closed, ct).ConfigureAwait(false) };
                    }
                    else
                    {
                        await CountUnpostedAsync(unit, distribution, 1, now, ct).ConfigureAwait(false);
                    }

                    unit.Update(PayoutCollections.Batches, closed, current.Version);
                    return true;
                },
                cancellationToken);
    }

    /// <summary>
    /// Posts, before the run pays anyone else, the batches whose posting the ledger refused after they were paid. One still
    /// refused stops the run with that refusal: paying on would move more money the ledger cannot book.
    /// </summary>
    private async ValueTask PostOutstandingAsync(Distribution distribution, CancellationToken cancellationToken)
    {
        foreach (var record in await ListBatchesAsync(distribution.TenantId, distribution.Id, cancellationToken).ConfigureAwait(false))
        {
            if (record.PostingError is null)
            {
                continue;
            }

            try
            {
                await RunAsync(
                    async (unit, ct) =>
                    {
                        var current = await FindBatchAsync(unit, distribution, record.BatchNumber, ct).ConfigureAwait(false);
                        if (current is not { Value.PostingError: not null })
                        {
                            // Another runner posted it.
                            return 0;
                        }

                        var now = _clock.GetCurrentInstant();
                        var posted = await PostBatchAsync(unit, distribution, current.Value, ct).ConfigureAwait(false);
                        unit.Update(PayoutCollections.Batches, current.Value with { LedgerTransactionId = posted, PostingError = null, UpdatedAt = now }, current.Version);
                        await CountUnpostedAsync(unit, distribution, -1, now, ct).ConfigureAwait(false);
                        return 0;
                    },
                    cancellationToken).ConfigureAwait(false);
            }
            catch (PaymentsKitException ex) when (!ex.IsTransient)
            {
                throw PostingRefused(distribution, record.BatchNumber, ex);
            }
        }
    }

    /// <summary>Posts what a closed batch paid (debit the payout account, credit the funding account), if payouts are posted and it paid anything.</summary>
    private async ValueTask<LedgerTransactionId?> PostBatchAsync(IUnitOfWork unit, Distribution distribution, PayoutBatchRecord batch, CancellationToken cancellationToken)
    {
        if (batch.Paid.Amount == 0 || distribution.FundingAccountId is not { } funding || distribution.PayoutAccountId is not { } payout)
        {
            return null;
        }

        var transaction = await _ledger.PostTransactionAsync(
            unit,
            distribution.TenantId,
            new PostLedgerTransactionRequest([LedgerPosting.Debit(payout, batch.Paid), LedgerPosting.Credit(funding, batch.Paid)])
            {
                EntryType = LedgerEntryType.Debit,
                Reference = distribution.Id.ToString(),
                IdempotencyKey = "payout:" + batch.IdempotencyKey,
                Description = string.Create(CultureInfo.InvariantCulture, $"Payout batch {batch.BatchNumber}: {batch.SuccessfulPayments} holder(s)"),
            },
            cancellationToken).ConfigureAwait(false);
        return transaction.Id;
    }

    /// <summary>Counts a batch into (+1) or out of (−1) <see cref="Distribution.UnpostedBatches"/> in the unit that records its posting's state.</summary>
    private async ValueTask CountUnpostedAsync(IUnitOfWork unit, Distribution distribution, int delta, Instant now, CancellationToken cancellationToken)
    {
        var current = await RequireDistributionAsync(unit, distribution.TenantId, distribution.Id, cancellationToken).ConfigureAwait(false);
        unit.Update(
            PayoutCollections.Distributions,
            current.Value with { UnpostedBatches = current.Value.UnpostedBatches + delta, UpdatedAt = now },
            current.Version);
    }

    /// <summary>The ledger's refusal of a paid batch's posting, as the run reports it: same code, naming the batch and what happens next.</summary>
    private static PaymentsKitException PostingRefused(Distribution distribution, int batchNumber, PaymentsKitException refusal) =>
        new(
            refusal.Code,
            string.Create(
                CultureInfo.InvariantCulture,
                $"Batch {batchNumber} of distribution {distribution.Id} was paid and is recorded, but the ledger refuses to post it: {refusal.Message} The run stopped; the next run posts the batch before it pays anyone else."),
            new Dictionary<string, object?>(refusal.Context) { ["distribution"] = distribution.Id.ToString(), ["batch"] = batchNumber },
            innerException: refusal);

    /// <summary>Notes on the batch record that its outcome is unknown. Best effort: the holders' state already says so.</summary>
    private async ValueTask NoteUnknownOutcomeAsync(Distribution distribution, int batchNumber, Exception cause)
    {
        try
        {
            await _store.ExecuteAsync(
                async (unit, ct) =>
                {
                    var current = await FindBatchAsync(unit, distribution, batchNumber, ct).ConfigureAwait(false);
                    if (current is { Value.Status: DistributionStatus.Processing })
                    {
                        unit.Update(
                            PayoutCollections.Batches,
                            current.Value with { ErrorMessage = Truncate("outcome unknown, re-executed on the next run: " + cause.Message), UpdatedAt = _clock.GetCurrentInstant() },
                            current.Version);
                    }

                    return 0;
                },
                CancellationToken.None).ConfigureAwait(false);
        }
        catch (PaymentsKitException)
        {
            // The store may be what failed; the submitted holders carry the state that matters.
        }
    }

    private async ValueTask<Distribution> FinishAsync(Distribution distribution, HolderSnapshotKey key, Asset paymentAsset, CancellationToken cancellationToken)
    {
        var totals = await _holders.GetTotalsAsync(key, _options.MaxAttemptsPerHolder, cancellationToken).ConfigureAwait(false);
        if (totals.Submitted > 0 || totals.Pending > 0 || totals.Retryable > 0)
        {
            // Another runner still has batches in flight; it finishes the distribution.
            return (await LoadAsync(distribution.TenantId, distribution.Id, cancellationToken).ConfigureAwait(false)).Distribution;
        }

        var status = totals.Failed == 0 ? DistributionStatus.Completed : DistributionStatus.Failed;
        var result = new DistributionResult(
            totals.Paid,
            totals.Failed,
            Money.FromMinorUnits(totals.PaidUnits, paymentAsset),
            Money.FromMinorUnits(totals.AllocatedUnits - totals.PaidUnits, paymentAsset),
            totals.LastBatchNumber);
        var finished = await RunAsync(
            async (unit, ct) =>
            {
                var current = await RequireDistributionAsync(unit, distribution.TenantId, distribution.Id, ct).ConfigureAwait(false);

                // A paid batch whose posting is outstanding keeps it open: a finished distribution is never run again to post it.
                if (current.Value.Status != DistributionStatus.Processing || current.Value.UnpostedBatches > 0)
                {
                    return current.Value;
                }

                var now = _clock.GetCurrentInstant();
                var reason = status == DistributionStatus.Completed
                    ? "every holder paid"
                    : string.Create(CultureInfo.InvariantCulture, $"{totals.Failed} holder(s) unpaid after {_options.MaxAttemptsPerHolder} attempt(s)");
                var done = Transition(current.Value, status, reason, now) with { Result = result, ExecutedAt = now };
                unit.Update(PayoutCollections.Distributions, done, current.Version);
                if (NextOccurrence(done, now) is { } next)
                {
                    unit.Insert(PayoutCollections.Distributions, next);
                }

                return done;
            },
            cancellationToken).ConfigureAwait(false);
        LogFinished(_logger, finished.Id.ToString(), finished.Status, totals.Paid, totals.Failed);
        return finished;
    }

    /// <summary>The next run of a recurring series: missed occurrences coalesce into the first one after now.</summary>
    private Distribution? NextOccurrence(Distribution finished, Instant now)
    {
        if (finished.Execution != DistributionExecution.Recurring || finished.StartTime is not { } start || finished.Frequency is not { } frequency)
        {
            return null;
        }

        var schedule = DistributionSchedule.Recurring(start, frequency, DateTimeZoneProviders.Tzdb[finished.TimeZone!]);
        var after = finished.DueAt is { } due && due > now ? due : now;
        if (schedule.NextAfter(after) is not { } nextDue)
        {
            return null;
        }

        return finished with
        {
            Id = DistributionId.New(_clock),
            Status = DistributionStatus.Pending,
            DueAt = nextDue,
            Occurrence = checked(finished.Occurrence + 1),
            // A first distribution created before it named its own series has none: it is the series' first.
            SeriesId = finished.SeriesId ?? finished.Id,
            RunLeaseExpiresAt = null,
            RunLeaseHolder = null,
            Snapshot = null,
            Result = null,
            Transitions = [],
            ExecutedAt = null,
            CreatedAt = now,
            UpdatedAt = now,
        };
    }

    /// <summary>
    /// Lists each holder's outcome in batch order from the executor's verdict, and describes the accounts it reports failed
    /// that the batch does not pay (null when there are none). Those cannot void the verdict on the batch's own holders: the
    /// ones not listed were paid, and refusing the verdict would leave them paid but unrecorded, the batch re-executed into
    /// the same refusal on every run.
    /// </summary>
    private static (List<HolderOutcome> Outcomes, string? Strangers) Outcomes(PayoutBatchRequest request, PayoutBatchResult? result)
    {
        if (result?.FailedAccounts is null)
        {
            throw new PaymentsKitException(
                PaymentsKitErrorCodes.PayoutResultInvalid,
                $"The payout executor returned no result for batch {request.IdempotencyKey}.",
                new Dictionary<string, object?> { ["batch"] = request.IdempotencyKey });
        }

        var outcomes = new List<HolderOutcome>(request.Transfers.Count);
        var matched = 0;
        foreach (var transfer in request.Transfers)
        {
            if (result.FailedAccounts.TryGetValue(transfer.AccountId, out var error))
            {
                matched++;
                outcomes.Add(new HolderOutcome(transfer.AccountId, Truncate(string.IsNullOrWhiteSpace(error) ? "failed" : error)));
            }
            else
            {
                outcomes.Add(new HolderOutcome(transfer.AccountId, null));
            }
        }

        if (matched == result.FailedAccounts.Count)
        {
            return (outcomes, null);
        }

        var inBatch = request.Transfers.Select(t => t.AccountId).ToHashSet(StringComparer.Ordinal);
        var strangers = result.FailedAccounts.Where(f => !inBatch.Contains(f.Key)).OrderBy(f => f.Key, StringComparer.Ordinal).ToList();
        return (
            outcomes,
            string.Create(
                CultureInfo.InvariantCulture,
                $"the executor also reported {strangers.Count} account(s) this batch does not pay as failed: {string.Join("; ", strangers.Take(10).Select(f => $"'{f.Key}': {f.Value}"))}"));
    }

    private static async ValueTask<Versioned<PayoutBatchRecord>?> FindBatchAsync(IUnitOfWork unit, Distribution distribution, int batchNumber, CancellationToken cancellationToken) =>
        await unit.FindAsync(
            PayoutCollections.Batches, distribution.TenantId.Value, PayoutCollections.BatchNumberKey, PayoutCollections.BatchKey(distribution.Id, batchNumber), cancellationToken)
            .ConfigureAwait(false);

    /// <summary>
    /// The executor's transaction id as the batch record and the holders keep it: unchanged when it is storable and at most
    /// <see cref="MaxTransactionIdLength"/> characters, otherwise its start, "…" and the SHA-256 of its UTF-8 in hex — still
    /// unique to it, and the full id goes to <see cref="PayoutBatchRecord.FullTransactionId"/>. By the time an id is seen the
    /// holders were paid, so refusing it would leave a paid batch unrecorded, re-executed on every run.
    /// </summary>
    private static string? StoredTransactionId(string? id)
    {
        if (id is null || (id.Length <= MaxTransactionIdLength && Guard.Storable(id) == id))
        {
            return id;
        }

        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(id)));
        var start = id[..Math.Min(id.Length, MaxTransactionIdLength - 1 - hash.Length)];
        return Guard.Storable(start) + "…" + hash;
    }

    // The executor's text as every store keeps it (no NUL, no unpaired surrogate), within the column: a text PostgreSQL
    // refused would fail the batch's record after the executor had paid.
    private static string Truncate(string text) => Guard.Storable(text.Length <= MaxErrorLength ? text : text[..MaxErrorLength]);

    /// <summary>Counts what one run did, for progress reports, and holds its run lease.</summary>
    private sealed class RunState(IProgress<PayoutProgress>? progress, RunLease lease)
    {
        public RunLease Lease => lease;

        private int _batches;
        private long _paid;
        private long _failed;

        public void Report(int batchNumber, int paid, int failed)
        {
            _batches++;
            _paid += paid;
            _failed += failed;
            progress?.Report(new PayoutProgress(batchNumber, _batches, _paid, _failed));
        }
    }
}
