using System.Globalization;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Options;
using Npgsql;

namespace PaymentsKit.PostgreSql;

/// <summary>Checks <see cref="PostgreSqlStoreOptions"/> and reports every problem in one result.</summary>
internal sealed partial class PostgreSqlStoreOptionsValidator : IValidateOptions<PostgreSqlStoreOptions>
{
    internal const int MaxRetriesLimit = 10;

    public ValidateOptionsResult Validate(string? name, PostgreSqlStoreOptions options)
    {
        var errors = Problems(options);
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    internal static List<string> Problems(PostgreSqlStoreOptions options)
    {
        var errors = new List<string>();
        if (string.IsNullOrWhiteSpace(options.ConnectionString))
        {
            errors.Add("PaymentsKit:PostgreSql:ConnectionString is required.");
        }
        else
        {
            try
            {
                _ = new NpgsqlConnectionStringBuilder(options.ConnectionString);
            }
            catch (ArgumentException ex)
            {
                // The message names the bad keyword; the connection string itself may hold a password.
                errors.Add($"PaymentsKit:PostgreSql:ConnectionString is not a valid Npgsql connection string: {ex.Message}");
            }
        }

        if (options.Schema is null || !SchemaPattern().IsMatch(options.Schema))
        {
            errors.Add($"PaymentsKit:PostgreSql:Schema must be lower-case letters, digits and underscores, start with a letter or underscore and be at most 63 characters (value: '{options.Schema}').");
        }

        if (options.MaxRetries is < 0 or > MaxRetriesLimit)
        {
            errors.Add(string.Create(
                CultureInfo.InvariantCulture,
                $"PaymentsKit:PostgreSql:MaxRetries must be between 0 and {MaxRetriesLimit} (value: {options.MaxRetries})."));
        }

        return errors;
    }

    [GeneratedRegex("^[a-z_][a-z0-9_]{0,62}$", RegexOptions.CultureInvariant)]
    private static partial Regex SchemaPattern();
}
