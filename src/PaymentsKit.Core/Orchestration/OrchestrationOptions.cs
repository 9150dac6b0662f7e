using System.Globalization;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Options;
using NodaTime;

namespace PaymentsKit.Orchestration;

/// <summary>
/// Options of the orchestration module (configure with <c>ConfigureOrchestration</c>). Validated
/// when the host starts; every problem is reported at once.
/// </summary>
public sealed class OrchestrationOptions
{
    /// <summary>The smallest transaction amount, in any currency. Default 0.01 (the seed's <c>check_amount_positive</c>).</summary>
    public decimal MinAmount { get; set; } = 0.01m;

    /// <summary>The largest transaction amount, in any currency. Default 100,000.00 (the seed's <c>check_amount_max</c>).</summary>
    public decimal MaxAmount { get; set; } = 100_000.00m;

    /// <summary>The rate limit a new partner gets when its request names none. Default 100 per minute.</summary>
    public int DefaultRateLimitPerMinute { get; set; } = 100;

    /// <summary>
    /// How long a transaction whose create asked to confirm it may stay pending (stored, not yet sent to the provider)
    /// before <see cref="ITransactionService.SyncAsync"/> sends it itself. A create sends it right after storing it, so a
    /// longer wait means that call died in between; the wait keeps a sync from racing a create still on its way (which
    /// would be safe, one claim wins, but would poll a payment the create is about to send). Default 1 minute; positive.
    /// </summary>
    public Duration UnsentPaymentGracePeriod { get; set; } = Duration.FromMinutes(1);

    /// <summary>
    /// How long a <see cref="ITransactionService.SyncDueAsync"/> pass holds a transaction it claimed before another pass may
    /// take it (when the first died). Every claim of a pass is leased from the pass's start, so keep it longer than a whole
    /// pass takes (its limit ÷ <see cref="SyncParallelism"/> syncs in a row, each a provider poll and a resend at worst): a
    /// pass that outlasts it may see another take the transactions it has not reached yet, which are then called twice
    /// (keyed, so nothing is done twice). 1 second to 1 hour; default 5 minutes.
    /// </summary>
    public Duration SyncLease { get; set; } = Duration.FromMinutes(5);

    /// <summary>
    /// How long <see cref="ITransactionService.SyncDueAsync"/> waits before syncing again a transaction it left unresolved (the
    /// provider still reports no outcome) or could not sync (the provider or the store failed, the partner is inactive), so
    /// such transactions do not take every pass from the others. It counts from the end of the pass (a pass that outlasted it
    /// still leaves them this long). 1 second to 1 day; default 1 minute.
    /// </summary>
    public Duration SyncRetryInterval { get; set; } = Duration.FromMinutes(1);

    /// <summary>
    /// How long after its partner was deleted a payment or refund the provider says it does not know is taken as never
    /// received and failed by <see cref="ITransactionService.SyncDueAsync"/> (error code <c>not_received_by_provider</c>),
    /// instead of being polled for ever: nothing is sent for a deleted partner, so the provider never will receive it. Like
    /// the routing module's drop timeout, it counts from the last moment a call could have been on its way (the deletion),
    /// so keep it well above how long a provider call may take, and above how long the provider may take to show a payment
    /// it has received (a poll answered "unknown" by a provider that does have it, which fails a payment that may still
    /// complete). A poll that does not reach the provider never counts. For a suspended partner, which may be active again,
    /// such a call is held instead of failed once this has passed since the suspension: no longer polled, it is sent when
    /// the partner is active again. 1 second to 7 days; default 1 hour.
    /// </summary>
    public Duration DropTimeout { get; set; } = Duration.FromHours(1);

    /// <summary>How many transactions one <see cref="ITransactionService.SyncDueAsync"/> pass syncs at once. 1–64; default 4.</summary>
    public int SyncParallelism { get; set; } = 4;

    /// <summary>The currencies lookup; starts with <see cref="Currency.Seeded"/>.</summary>
    public IList<Currency> Currencies { get; } = [.. Currency.Seeded];

    /// <summary>The payment methods lookup; starts with <see cref="PaymentMethod.Seeded"/>.</summary>
    public IList<PaymentMethod> PaymentMethods { get; } = [.. PaymentMethod.Seeded];
}

/// <summary>Checks <see cref="OrchestrationOptions"/> and reports every problem in one result.</summary>
internal sealed partial class OrchestrationOptionsValidator(IServiceProvider services) : IValidateOptions<OrchestrationOptions>
{
    // Resolved when validating, not when the validator is built: the registry reads PaymentsKitOptions, whose own
    // validator reports their problems; resolving it eagerly aborted start-up validation of every other options type.
    private AssetRegistry? Registry()
    {
        try
        {
            return services.GetService(typeof(AssetRegistry)) as AssetRegistry;
        }
        catch (Microsoft.Extensions.Options.OptionsValidationException)
        {
            return null;
        }
    }

    /// <summary>The seed stores amounts as <c>DECIMAL(19, 4)</c>.</summary>
    internal const int MaxScale = 4;

    internal const decimal MaxStorableAmount = 999_999_999_999_999.9999m;

    public ValidateOptionsResult Validate(string? name, OrchestrationOptions options)
    {
        var errors = new List<string>();
        void Fail(FormattableString message) => errors.Add("PaymentsKit:Orchestration:" + message.ToString(CultureInfo.InvariantCulture));

        if (options.MinAmount <= 0m || options.MinAmount.Scale > MaxScale)
        {
            Fail($"MinAmount must be positive with at most {MaxScale} decimals (value: {options.MinAmount}).");
        }

        if (options.MaxAmount < options.MinAmount || options.MaxAmount > MaxStorableAmount || options.MaxAmount.Scale > MaxScale)
        {
            Fail($"MaxAmount must be at least MinAmount ({options.MinAmount}) and at most {MaxStorableAmount} with at most {MaxScale} decimals (value: {options.MaxAmount}).");
        }

        if (options.DefaultRateLimitPerMinute is < 1 or > OrchestrationRules.MaxRateLimitPerMinute)
        {
            Fail($"DefaultRateLimitPerMinute must be between 1 and {OrchestrationRules.MaxRateLimitPerMinute} (value: {options.DefaultRateLimitPerMinute}).");
        }

        if (options.UnsentPaymentGracePeriod <= Duration.Zero)
        {
            Fail($"UnsentPaymentGracePeriod must be positive (value: {options.UnsentPaymentGracePeriod}).");
        }

        if (options.SyncLease < Duration.FromSeconds(1) || options.SyncLease > Duration.FromHours(1))
        {
            Fail($"SyncLease must be between 1 second and 1 hour (value: {options.SyncLease}).");
        }

        if (options.SyncRetryInterval < Duration.FromSeconds(1) || options.SyncRetryInterval > Duration.FromDays(1))
        {
            Fail($"SyncRetryInterval must be between 1 second and 1 day (value: {options.SyncRetryInterval}).");
        }

        if (options.DropTimeout < Duration.FromSeconds(1) || options.DropTimeout > Duration.FromDays(7))
        {
            Fail($"DropTimeout must be between 1 second and 7 days (value: {options.DropTimeout}).");
        }

        if (options.SyncParallelism is < 1 or > 64)
        {
            Fail($"SyncParallelism must be between 1 and 64 (value: {options.SyncParallelism}).");
        }

        var codes = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < options.Currencies.Count; i++)
        {
            var currency = options.Currencies[i];
            if (currency is null || !CurrencyCode().IsMatch(currency.Code ?? string.Empty))
            {
                Fail($"Currencies[{i}].Code must be three upper-case letters (value: '{currency?.Code}').");
                continue;
            }

            if (!codes.Add(currency.Code!))
            {
                Fail($"Currencies[{i}].Code '{currency.Code}' is listed twice.");
            }

            if (currency.DecimalPlaces is < 0 or > MaxScale)
            {
                Fail($"Currencies[{i}].DecimalPlaces must be between 0 and {MaxScale} (value: {currency.DecimalPlaces}).");
            }
            else if (Registry() is { } registry && registry.TryGet(currency.Code, out var asset) && (asset.Scale != currency.DecimalPlaces || asset.Chain is not null))
            {
                Fail($"Currencies[{i}] '{currency.Code}' has {currency.DecimalPlaces} decimal places but the registered asset has scale {asset.Scale}.");
            }

            if (string.IsNullOrWhiteSpace(currency.Name) || currency.Name.Length > 100)
            {
                Fail($"Currencies[{i}].Name must be 1–100 characters (value: '{currency.Name}').");
            }
        }

        var methods = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < options.PaymentMethods.Count; i++)
        {
            var method = options.PaymentMethods[i];
            if (method is null || !MethodCode().IsMatch(method.Code ?? string.Empty))
            {
                Fail($"PaymentMethods[{i}].Code must be 1–50 lower-case letters, digits or underscores (value: '{method?.Code}').");
                continue;
            }

            if (!methods.Add(method.Code!))
            {
                Fail($"PaymentMethods[{i}].Code '{method.Code}' is listed twice.");
            }

            if (string.IsNullOrWhiteSpace(method.Name) || method.Name.Length > 100)
            {
                Fail($"PaymentMethods[{i}].Name must be 1–100 characters (value: '{method.Name}').");
            }
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    [GeneratedRegex("^[A-Z]{3}$", RegexOptions.CultureInvariant)]
    private static partial Regex CurrencyCode();

    [GeneratedRegex("^[a-z][a-z0-9_]{0,49}$", RegexOptions.CultureInvariant)]
    private static partial Regex MethodCode();
}
