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

    /// <summary>Checks the settings.</summary>
    /// <exception cref="PaymentsKitException"><c>invalid_argument</c> naming the first bad setting.</exception>
    public void Validate()
    {
        if (MaxHoldersPerBatch is < 1)
        {
            throw PaymentsKitException.InvalidArgument("max_holders_per_batch", MaxHoldersPerBatch, "must be at least 1");
        }

        if (MaxAttemptsPerHolder is < 1 or > 100)
        {
            throw PaymentsKitException.InvalidArgument(
                "max_attempts_per_holder", MaxAttemptsPerHolder, string.Create(CultureInfo.InvariantCulture, $"must be between 1 and 100"));
        }

        if (DateTimeZoneProviders.Tzdb.GetZoneOrNull(DefaultTimeZone ?? string.Empty) is null)
        {
            throw PaymentsKitException.InvalidArgument("default_time_zone", DefaultTimeZone, "is not an IANA time zone id");
        }
    }
}
