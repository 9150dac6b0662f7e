using System.Globalization;
using NodaTime;

namespace PaymentsKit.Payouts;

/// <summary>Settings of the distribution service.</summary>
public sealed class PayoutOptions
{
    /// <summary>Caps holders per batch below the executor's chain limit (at least 1); null uses the executor's limit.</summary>
    public int? MaxHoldersPerBatch { get; set; }

    /// <summary>How many batches may include one holder before its failure is final (1–100). Default 3.</summary>
    public int MaxAttemptsPerHolder { get; set; } = 3;

    /// <summary>The IANA time zone of a distribution's local times when its request names none. Default <c>UTC</c>.</summary>
    public string DefaultTimeZone { get; set; } = "UTC";

    /// <summary>
    /// How long a run of a distribution holds it without renewing (1 second to 1 day). Default 1 minute. A run renews its
    /// lease every third of this while it executes, so no other run executes the distribution meanwhile; a run whose host
    /// died is taken over, and an interrupted MANUAL or AUTOMATIC run becomes due for the worker, once it lapses.
    /// </summary>
    public TimeSpan RunLease { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>Every problem with the settings, each naming the setting and its value; empty when they are usable.</summary>
    public IReadOnlyList<string> Problems()
    {
        var problems = new List<string>();
        void Add(FormattableString message) => problems.Add(message.ToString(CultureInfo.InvariantCulture));
        if (MaxHoldersPerBatch is < 1)
        {
            Add($"PaymentsKit:Payouts:MaxHoldersPerBatch must be at least 1 (value: {MaxHoldersPerBatch}).");
        }

        if (MaxAttemptsPerHolder is < 1 or > 100)
        {
            Add($"PaymentsKit:Payouts:MaxAttemptsPerHolder must be between 1 and 100 (value: {MaxAttemptsPerHolder}).");
        }

        if (RunLease < TimeSpan.FromSeconds(1) || RunLease > TimeSpan.FromDays(1))
        {
            Add($"PaymentsKit:Payouts:RunLease must be between 1 second and 1 day (value: {RunLease}).");
        }

        if (DateTimeZoneProviders.Tzdb.GetZoneOrNull(DefaultTimeZone ?? string.Empty) is null)
        {
            Add($"PaymentsKit:Payouts:DefaultTimeZone is not an IANA time zone id (value: {DefaultTimeZone}).");
        }

        return problems;
    }

    /// <summary>Checks the settings.</summary>
    /// <exception cref="PaymentsKitException"><c>invalid_argument</c> listing every problem.</exception>
    public void Validate()
    {
        var problems = Problems();
        if (problems.Count > 0)
        {
            throw PaymentsKitException.InvalidArgument("payout_options", string.Join(" ", problems), "must be valid");
        }
    }
}

/// <summary>Checks <see cref="PayoutOptions"/> when the host starts, reporting every problem at once.</summary>
internal sealed class PayoutOptionsValidator : Microsoft.Extensions.Options.IValidateOptions<PayoutOptions>
{
    public Microsoft.Extensions.Options.ValidateOptionsResult Validate(string? name, PayoutOptions options)
    {
        var problems = options.Problems();
        return problems.Count == 0 ? Microsoft.Extensions.Options.ValidateOptionsResult.Success : Microsoft.Extensions.Options.ValidateOptionsResult.Fail(problems);
    }
}
