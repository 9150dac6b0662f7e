using System.Globalization;
using NodaTime;
using PaymentsKit.Ledger;
using PaymentsKit.Storage;

namespace PaymentsKit.Payouts;

public sealed partial class DistributionService
{
    /// <inheritdoc />
    public ValueTask<Distribution> CreateDistributionAsync(MerchantId tenantId, CreateDistributionRequest request, CancellationToken cancellationToken = default)
    {
        var validated = ValidateShape(tenantId, request);
        return RunAsync((unit, ct) => CreateDistributionCoreAsync(unit, tenantId, validated, ct), cancellationToken);
    }

    /// <inheritdoc />
    public ValueTask<Distribution> CreateDistributionAsync(IUnitOfWork unit, MerchantId tenantId, CreateDistributionRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(unit);
        var validated = ValidateShape(tenantId, request);
        return CreateDistributionCoreAsync(unit, tenantId, validated, cancellationToken);
    }

    /// <inheritdoc />
    public async ValueTask<Distribution> GetDistributionAsync(MerchantId tenantId, DistributionId distributionId, CancellationToken cancellationToken = default) =>
        (await LoadAsync(tenantId, distributionId, cancellationToken).ConfigureAwait(false)).Distribution;

    /// <inheritdoc />
    public async ValueTask<Page<Distribution>> ListDistributionsAsync(MerchantId tenantId, string? cursor, int limit, CancellationToken cancellationToken = default)
    {
        PayoutValidation.Tenant(tenantId);
        PayoutValidation.Limit(limit);
        var unit = await _store.BeginAsync(cancellationToken).ConfigureAwait(false);
        await using (unit.ConfigureAwait(false))
        {
            var page = await unit.ListAsync(PayoutCollections.Distributions, tenantId.Value, cursor, limit, cancellationToken).ConfigureAwait(false);
            return new Page<Distribution>([.. page.Items.Select(i => i.Value)], page.NextCursor);
        }
    }

    /// <summary>Checks everything a request says on its own; what needs the asset or the ledger is checked in the unit.</summary>
    private ValidatedDistribution ValidateShape(MerchantId tenantId, CreateDistributionRequest? request)
    {
        PayoutValidation.Tenant(tenantId);
        Guard.NotNull(request, "request");
        if (request!.AssetId.Value == Guid.Empty)
        {
            throw PaymentsKitException.InvalidArgument("asset_id", request.AssetId, "must not be empty");
        }

        if (!Enum.IsDefined(request.Type))
        {
            throw PaymentsKitException.InvalidArgument("type", request.Type, "must be DIVIDEND, COUPON or SNAPSHOT");
        }

        if (!Enum.IsDefined(request.Execution))
        {
            throw PaymentsKitException.InvalidArgument("execution_type", request.Execution, "must be MANUAL, SCHEDULED, RECURRING or AUTOMATIC");
        }

        ValidatePayoutShape(request);
        var concept = Guard.OptionalText(request.Concept, "concept", MaxConceptLength);
        var (zone, dueAt) = ValidateExecution(request);
        var trigger = request.Execution == DistributionExecution.Automatic ? Guard.Text(request.TriggerCondition, "trigger_condition", MaxTriggerLength) : null;
        if ((request.FundingAccountId is null) != (request.PayoutAccountId is null))
        {
            throw PaymentsKitException.InvalidArgument(
                request.FundingAccountId is null ? "funding_account_id" : "payout_account_id", null, "is required when the other ledger account is set");
        }

        if (request.FundingAccountId is { } funding && request.PayoutAccountId is { } payout && funding == payout)
        {
            throw PaymentsKitException.InvalidArgument("payout_account_id", payout, "must differ from funding_account_id");
        }

        return new ValidatedDistribution(request, concept, zone, dueAt, trigger);
    }

    private static void ValidatePayoutShape(CreateDistributionRequest request)
    {
        if (request.Type == DistributionType.Snapshot)
        {
            Absent(request.Payout, "payout_type", "a SNAPSHOT distribution");
            Absent(request.Amount, "amount", "a SNAPSHOT distribution");
            Absent(request.Percentage, "percentage", "a SNAPSHOT distribution");
            Absent(request.AmountPerShare, "amount_per_share", "a SNAPSHOT distribution");
            return;
        }

        if (request.Payout is not { } payout || !Enum.IsDefined(payout))
        {
            throw PaymentsKitException.InvalidArgument("payout_type", request.Payout, "must be FIXED, PERCENTAGE or PER_SHARE for a dividend or coupon");
        }

        switch (payout)
        {
            case DistributionPayout.Fixed:
                PositiveMoney(request.Amount, "amount");
                Absent(request.Percentage, "percentage", "a FIXED payout");
                Absent(request.AmountPerShare, "amount_per_share", "a FIXED payout");
                break;
            case DistributionPayout.Percentage:
                var pool = PositiveMoney(request.Amount, "amount");
                if (request.Percentage is not { } percent)
                {
                    throw PaymentsKitException.InvalidArgument("percentage", null, "is required for a PERCENTAGE payout");
                }

                // Checks the range and the precision of the percentage with the same rules the allocation applies, and that
                // it pays something: like a FIXED total of zero, a share that truncates to nothing would complete paying nobody.
                if (Allocation.PercentageOfPool(MinorUnits(pool, "amount"), percent) == 0)
                {
                    throw new PaymentsKitException(
                        PaymentsKitErrorCodes.AmountOutOfRange,
                        string.Create(CultureInfo.InvariantCulture, $"{percent} % of {pool} is less than one smallest unit of {pool.Asset.Code}."),
                        new Dictionary<string, object?> { ["field"] = "percentage", ["value"] = percent });
                }

                Absent(request.AmountPerShare, "amount_per_share", "a PERCENTAGE payout");
                break;
            default:
                if (request.AmountPerShare is not { } perShare)
                {
                    throw PaymentsKitException.InvalidArgument("amount_per_share", null, "is required for a PER_SHARE payout");
                }

                Allocation.PerShare(perShare, 0, 0, []);
                Absent(request.Amount, "amount", "a PER_SHARE payout");
                Absent(request.Percentage, "percentage", "a PER_SHARE payout");
                break;
        }
    }

    private (string? Zone, Instant? DueAt) ValidateExecution(CreateDistributionRequest request)
    {
        var execution = request.Execution;
        if (execution != DistributionExecution.Scheduled)
        {
            Absent(request.ScheduledTime, "scheduled_time", $"a {execution} distribution");
        }

        if (execution != DistributionExecution.Recurring)
        {
            Absent(request.Frequency, "frequency", $"a {execution} distribution");
            Absent(request.StartTime, "start_time", $"a {execution} distribution");
        }

        if (execution != DistributionExecution.Automatic)
        {
            Absent(request.TriggerCondition, "trigger_condition", $"a {execution} distribution");
        }

        if (execution is not (DistributionExecution.Scheduled or DistributionExecution.Recurring))
        {
            Absent(request.TimeZone, "time_zone", $"a {execution} distribution");
            return (null, null);
        }

        var zoneId = request.TimeZone ?? _options.DefaultTimeZone;
        var zone = DateTimeZoneProviders.Tzdb.GetZoneOrNull(zoneId)
            ?? throw PaymentsKitException.InvalidArgument("time_zone", zoneId, "is not an IANA time zone id");
        if (execution == DistributionExecution.Scheduled)
        {
            var at = request.ScheduledTime ?? throw PaymentsKitException.InvalidArgument("scheduled_time", null, "is required for a SCHEDULED distribution");
            return (zoneId, DistributionSchedule.Once(Storable(at, "scheduled_time"), zone).AnchorInstant);
        }

        var start = Storable(
            request.StartTime ?? throw PaymentsKitException.InvalidArgument("start_time", null, "is required for a RECURRING distribution"), "start_time");
        var frequency = request.Frequency ?? throw PaymentsKitException.InvalidArgument("frequency", null, "is required for a RECURRING distribution");
        return (zoneId, DistributionSchedule.Recurring(start, frequency, zone).AnchorInstant);
    }

    /// <summary>
    /// A local time every store keeps and every zone can resolve: ISO calendar (the stores keep ISO text, so another
    /// calendar's date would come back as a different day), years 1 to 9998 (PostgreSQL's instants start at year 1, and a
    /// time late in 9999 west of UTC is past the last instant).
    /// </summary>
    private static LocalDateTime Storable(LocalDateTime local, string field)
    {
        if (local.Calendar != CalendarSystem.Iso)
        {
            throw PaymentsKitException.InvalidArgument(field, local, $"must be in the ISO calendar, not {local.Calendar.Id}");
        }

        return local.Year is >= 1 and <= 9998 ? local : throw PaymentsKitException.InvalidArgument(field, local, "must be in the years 1 to 9998");
    }

    private async ValueTask<Distribution> CreateDistributionCoreAsync(IUnitOfWork unit, MerchantId tenantId, ValidatedDistribution validated, CancellationToken cancellationToken)
    {
        var request = validated.Request;
        var asset = (await RequireAssetAsync(unit, tenantId, request.AssetId, cancellationToken).ConfigureAwait(false)).Value;
        var paymentAsset = _assets.Get(asset.PaymentAsset);
        if (request.Amount is { } amount && amount.Asset != paymentAsset)
        {
            throw new PaymentsKitException(
                PaymentsKitErrorCodes.AssetMismatch,
                $"The amount is in {amount.Asset.Code} but asset {asset.Id} pays in {paymentAsset.Code}.",
                new Dictionary<string, object?> { ["field"] = "amount", ["value"] = amount.Asset.Code, ["expected"] = paymentAsset.Code });
        }

        if (request.AmountPerShare is { } perShare)
        {
            // The per-share amount against this asset's scales: too many decimals for the payment asset are fine
            // (amounts truncate), more than 18 are not.
            Allocation.PerShare(perShare, paymentAsset.Scale, asset.Decimals, []);
        }

        if (request.FundingAccountId is { } funding && request.PayoutAccountId is { } payout)
        {
            await RequireLedgerAccountAsync(unit, tenantId, funding, "funding_account_id", paymentAsset, cancellationToken).ConfigureAwait(false);
            await RequireLedgerAccountAsync(unit, tenantId, payout, "payout_account_id", paymentAsset, cancellationToken).ConfigureAwait(false);
        }

        var now = _clock.GetCurrentInstant();
        var id = DistributionId.New(_clock);
        var distribution = new Distribution(
            id,
            tenantId,
            asset.Id,
            request.Type,
            request.Execution,
            request.Payout,
            request.Amount,
            request.Percentage,
            request.AmountPerShare,
            validated.Concept,
            request.ScheduledTime,
            request.Frequency,
            request.StartTime,
            validated.TimeZone,
            validated.TriggerCondition,
            DistributionStatus.Pending,
            validated.DueAt,
            0,
            request.Execution == DistributionExecution.Recurring ? id : null,
            request.FundingAccountId,
            request.PayoutAccountId,
            null,
            null,
            [],
            null,
            now,
            now);
        unit.Insert(PayoutCollections.Distributions, distribution);
        if (await unit.GetAsync(PayoutCollections.Tenants, Guid.Empty, tenantId.Value, cancellationToken).ConfigureAwait(false) is null)
        {
            unit.Insert(PayoutCollections.Tenants, new PayoutTenant(tenantId.Value, tenantId));
        }

        return distribution;
    }

    private static async ValueTask RequireLedgerAccountAsync(
        IUnitOfWork unit, MerchantId tenantId, LedgerAccountId accountId, string field, Asset paymentAsset, CancellationToken cancellationToken)
    {
        var account = await unit.GetAsync(LedgerCollections.Accounts, tenantId.Value, accountId.Value, cancellationToken).ConfigureAwait(false)
            ?? throw new PaymentsKitException(
                PaymentsKitErrorCodes.NotFound,
                $"No ledger account {accountId} exists for this tenant ({field}).",
                new Dictionary<string, object?> { ["field"] = field, ["value"] = accountId.ToString() });
        if (account.Value.Asset != paymentAsset)
        {
            throw new PaymentsKitException(
                PaymentsKitErrorCodes.AssetMismatch,
                $"Ledger account {accountId} ({field}) counts {account.Value.Asset.Code}, but payouts are in {paymentAsset.Code}.",
                new Dictionary<string, object?> { ["field"] = field, ["value"] = account.Value.Asset.Code, ["expected"] = paymentAsset.Code });
        }
    }

    private static Money PositiveMoney(Money? amount, string field)
    {
        if (amount is not { } value || value == default)
        {
            throw PaymentsKitException.InvalidArgument(field, null, "is required");
        }

        if (!value.IsPositive)
        {
            throw new PaymentsKitException(
                PaymentsKitErrorCodes.AmountOutOfRange,
                string.Create(CultureInfo.InvariantCulture, $"{field} must be greater than zero (value: '{value}')."),
                new Dictionary<string, object?> { ["field"] = field, ["value"] = value.Amount });
        }

        MinorUnits(value, field);
        return value;
    }

    /// <summary>An amount in its asset's smallest unit, which allocation counts in.</summary>
    private static long MinorUnits(Money amount, string field)
    {
        var units = amount.MinorUnits;
        return units <= long.MaxValue
            ? (long)units
            : throw new PaymentsKitException(
                PaymentsKitErrorCodes.AmountOutOfRange,
                string.Create(CultureInfo.InvariantCulture, $"{field} {amount} is more than 2^63 - 1 smallest units of {amount.Asset.Code}."),
                new Dictionary<string, object?> { ["field"] = field, ["value"] = amount.Amount });
    }

    private static void Absent(object? value, string field, string what)
    {
        if (value is not null)
        {
            throw PaymentsKitException.InvalidArgument(field, value, $"must not be set for {what}");
        }
    }

    private sealed record ValidatedDistribution(CreateDistributionRequest Request, string? Concept, string? TimeZone, Instant? DueAt, string? TriggerCondition);
}
