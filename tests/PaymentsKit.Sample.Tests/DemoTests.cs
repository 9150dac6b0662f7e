using System.Text.RegularExpressions;
using Microsoft.Extensions.DependencyInjection;
using PaymentsKit.PostgreSql;
using PaymentsKit.Routing;
using PaymentsKit.Testing;

namespace PaymentsKit.Sample.Tests;

[CollectionDefinition(PostgresServerFixture.CollectionName)]
public sealed class PostgresCollection : ICollectionFixture<PostgresServerFixture>;

/// <summary>The <c>--demo</c> tour, as <c>Program</c> runs it, on the embedded defaults and on PostgreSQL.</summary>
public sealed partial class DemoTests
{
    /// <summary>Runs the demo like <c>Program</c> does and returns what it printed.</summary>
    internal static async Task<string> RunDemoAsync(string? postgres)
    {
        using var output = new StringWriter();
        await Demo.RunAsync(new SampleOptions { Demo = true, PostgresConnectionString = postgres, ApiKeyHashingSecret = TestSecrets.ApiKeyHashingSecret }, output, CancellationToken.None);
        return output.ToString();
    }

    internal static void AssertTheTourCompleted(string output)
    {
        Assert.Contains("invoice is now Paid", output, StringComparison.Ordinal);
        Assert.Contains("lifecycle: created -> route_selected -> broadcasted -> settled", output, StringComparison.Ordinal);

        // The quote's candidates come ranked by score, which weighs speed and reliability beside the fee: the first need
        // not be the cheapest. Each says whether it may be used, by the exclusion's wire name, not the enum's bare "None".
        Assert.Contains("ranked by score", output, StringComparison.Ordinal);
        Assert.DoesNotContain("cheapest first", output, StringComparison.Ordinal);
        Assert.Equal(3, QuoteCandidateLine().Matches(output).Count);
        Assert.DoesNotContain(", None", output, StringComparison.Ordinal);

        // The run's batches are the planned ones plus the retries of the unpaid holder; the failures are its attempts.
        Assert.Contains("1114 batches ran (1112 planned, 2 retrying unpaid holders): 9,999 payments made, 3 payment attempts failed", output, StringComparison.Ordinal);
        Assert.Contains("books balance: True", output, StringComparison.Ordinal);
        Assert.Contains("refund of 70.00 rejected: refund_exceeds_remaining", output, StringComparison.Ordinal);
        Assert.Contains("(sum 100.000000 USDC)", output, StringComparison.Ordinal);
        Assert.Contains("snapshot of 10000 holders fixes an allocation of exactly 25000.000000 USDC", output, StringComparison.Ordinal);
        Assert.Contains("9999 holders paid", output, StringComparison.Ordinal);
        Assert.Contains("dispatcher: 5 delivered, 0 to retry, 0 dead-lettered", output, StringComparison.Ordinal);
        Assert.Contains(
            "receiver verified 5: payment_intent.created, payment_intent.route_selected, payment_intent.broadcasting, payment_intent.broadcasted, payment_intent.settled",
            output,
            StringComparison.Ordinal);
        Assert.Contains("{\"outcome\":\"duplicate\"}", output, StringComparison.Ordinal);
        Assert.Contains("400 {\"error\":{\"code\":\"webhook_verification_failed\"", output, StringComparison.Ordinal);
        Assert.Contains("every ledger balances", output, StringComparison.Ordinal);
        Assert.DoesNotContain("differences: 1", output, StringComparison.Ordinal);
        Assert.EndsWith("Demo complete." + Environment.NewLine, output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_demo_tours_every_module_on_the_embedded_defaults() =>
        AssertTheTourCompleted(await RunDemoAsync(postgres: null));

    /// <summary>A candidate of the demo's quote: rank, chain, fee in the payment's and the native asset, score, eligibility.</summary>
    [GeneratedRegex(@"^  [1-3]\. (stellar|ethereum|solana) +fee ≈ [0-9.]+ USDC \([0-9.]+ (XLM|ETH|SOL)\), score [0-9.]+, (eligible|excluded: [a-z_]+)\r?$", RegexOptions.Multiline)]
    private static partial Regex QuoteCandidateLine();
}

[Collection(PostgresServerFixture.CollectionName)]
public sealed class PostgresDemoTests(PostgresServerFixture postgres)
{
    [Fact]
    public async Task The_demo_runs_the_same_tour_on_PostgreSQL_with_migrations_applied_on_start_and_a_restart_funds_nothing_twice()
    {
        var database = await postgres.CreateDatabaseAsync("sample_demo");
        var output = await DemoTests.RunDemoAsync(database);
        Assert.StartsWith("PostgreSQL: ", output, StringComparison.Ordinal);
        Assert.Matches("^PostgreSQL: [1-9][0-9]* migrations applied on start \\(0001–", output);
        Assert.Contains("PaymentsKit demo on PostgreSqlStore", output, StringComparison.Ordinal);
        DemoTests.AssertTheTourCompleted(output);

        // A second start on the same database finds the schema and the treasury as they were.
        await using var restarted = SampleHost.Build(new SampleOptions { Url = "http://127.0.0.1:0", BackgroundJobs = false, PostgresConnectionString = database, ApiKeyHashingSecret = TestSecrets.ApiKeyHashingSecret });
        await SampleHost.InitializeAsync(restarted, CancellationToken.None);
        Assert.Empty(await restarted.Services.GetRequiredService<IPaymentsKitMigrator>().MigrateAsync());
        var book = await restarted.Services.GetRequiredService<TreasuryService>().GetBookAsync(ChainId.Solana);
        Assert.Equal(Money.Of(1_000_000m, AssetRegistry.Usdc), book.Funded);
        Assert.True(book.Balances);
    }
}
