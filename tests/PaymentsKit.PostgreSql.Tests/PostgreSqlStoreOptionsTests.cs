using FsCheck;
using FsCheck.Fluent;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using PaymentsKit.Storage;
using PaymentsKit.Testing;

namespace PaymentsKit.PostgreSql.Tests;

public sealed class PostgreSqlStoreOptionsTests
{
    private const string Valid = "Host=127.0.0.1;Database=payments;Username=app";

    private static readonly string Secret = TestSecrets.ApiKeyHashingSecret;

    [Fact]
    public async Task UsePostgreSql_Replaces_The_InMemory_Store_And_Registers_The_Migrator()
    {
        var services = new ServiceCollection();
        var builder = services.AddPaymentsKit().WithTestSecret();

        Assert.Same(builder, builder.UsePostgreSql(Valid));
        await using var provider = services.BuildServiceProvider();
        provider.GetRequiredService<IStartupValidator>().Validate();

        var store = Assert.IsType<PostgreSqlStore>(provider.GetRequiredService<IPaymentsStore>());
        Assert.Same(store, provider.GetRequiredService<PostgreSqlStore>());
        Assert.Same(store.Migrator, provider.GetRequiredService<IPaymentsKitMigrator>());
        Assert.Single(services, d => d.ServiceType == typeof(IPaymentsStore));
        var options = provider.GetRequiredService<IOptions<PostgreSqlStoreOptions>>().Value;
        Assert.Equal(Valid, options.ConnectionString);
        Assert.Equal("public", options.Schema);
        Assert.Equal(3, options.MaxRetries);
        Assert.True(options.ApplyMigrationsOnStartup);
    }

    [Fact]
    public async Task Every_Problem_Is_Reported_At_Once_When_The_Host_Starts()
    {
        var services = new ServiceCollection();
        services.AddPaymentsKit().WithTestSecret().UsePostgreSql(o =>
        {
            o.ConnectionString = " ";
            o.Schema = "Bad-Schema";
            o.MaxRetries = 11;
        });
        await using var provider = services.BuildServiceProvider();

        var error = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IStartupValidator>().Validate());

        var failures = error.Failures.ToList();
        Assert.Equal(3, failures.Count);
        Assert.Contains(failures, f => f.Contains("ConnectionString is required", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.Contains("Schema", StringComparison.Ordinal) && f.Contains("'Bad-Schema'", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.Contains("MaxRetries", StringComparison.Ordinal) && f.Contains("11", StringComparison.Ordinal));
    }

    [Fact]
    public async Task UsePostgreSql_Without_An_Api_Key_Hashing_Secret_Fails_When_The_Host_Starts()
    {
        // A secret made per process would leave every API key stored in PostgreSQL unverifiable after a restart, or on
        // another host.
        var services = new ServiceCollection();
        services.AddPaymentsKit().UsePostgreSql(Valid);
        await using var provider = services.BuildServiceProvider();

        var error = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IStartupValidator>().Validate());

        Assert.Contains(error.Failures, f => f.Contains("PaymentsKit:ApiKeyHashingSecret is required", StringComparison.Ordinal));

        var configured = new ServiceCollection();
        configured.AddPaymentsKit(o => o.ApiKeyHashingSecret = Secret).UsePostgreSql(Valid);
        await using var started = configured.BuildServiceProvider();
        started.GetRequiredService<IStartupValidator>().Validate();
    }

    [Fact]
    public async Task UsePostgreSql_Twice_Registers_Its_Services_And_Its_Secret_Check_Once()
    {
        // A library and its host may both call it; the second call may only add configuration, as AddPaymentsKit's does.
        var services = new ServiceCollection();
        services.AddPaymentsKit().UsePostgreSql(Valid).UsePostgreSql(Valid);

        Assert.Single(services, d => d.ServiceType == typeof(PostgreSqlPayoutsStore));
        await using var provider = services.BuildServiceProvider();
        var error = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IStartupValidator>().Validate());
        var failure = Assert.Single(error.Failures);
        Assert.Contains("PaymentsKit:ApiKeyHashingSecret is required", failure, StringComparison.Ordinal);
    }

    [Fact]
    public void A_Connection_String_Npgsql_Cannot_Parse_Is_Reported_Without_Echoing_It()
    {
        var failures = PostgreSqlStoreOptionsValidator.Problems(new PostgreSqlStoreOptions { ConnectionString = "Host=db;Password=hunter2;Frobnicate=yes" });

        var failure = Assert.Single(failures);
        Assert.Contains("ConnectionString", failure, StringComparison.Ordinal);
        Assert.Contains("frobnicate", failure, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("hunter2", failure, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("public")]
    [InlineData("_private")]
    [InlineData("payments_kit_2")]
    [InlineData("a23456789012345678901234567890123456789012345678901234567890123")]
    public void Valid_Schema_Names_Pass(string schema) =>
        Assert.Empty(PostgreSqlStoreOptionsValidator.Problems(new PostgreSqlStoreOptions { ConnectionString = Valid, Schema = schema }));

    [Theory]
    [InlineData("")]
    [InlineData("Public")]
    [InlineData("2fast")]
    [InlineData("pay-ments")]
    [InlineData("pay ments")]
    [InlineData("x\"; DROP SCHEMA public; --")]
    [InlineData("a234567890123456789012345678901234567890123456789012345678901234")]
    public void Invalid_Schema_Names_Fail_Naming_The_Value(string schema)
    {
        var failure = Assert.Single(PostgreSqlStoreOptionsValidator.Problems(new PostgreSqlStoreOptions { ConnectionString = Valid, Schema = schema }));
        Assert.Contains("Schema", failure, StringComparison.Ordinal);
        Assert.Contains($"'{schema}'", failure, StringComparison.Ordinal);
    }

    [Fact]
    public void MaxRetries_Validation_Meets_Specification() =>
        Prop.ForAll(ArbMap.Default.ArbFor<int>(), retries =>
        {
            var problems = PostgreSqlStoreOptionsValidator.Problems(new PostgreSqlStoreOptions { ConnectionString = Valid, MaxRetries = retries });
            return (problems.Count == 0) == (retries is >= 0 and <= 10);
        }).QuickCheckThrowOnFailure();

    [Theory]
    [InlineData(0, true)]
    [InlineData(10, true)]
    [InlineData(-1, false)]
    [InlineData(11, false)]
    public void MaxRetries_Bounds_Are_0_And_10(int retries, bool valid) =>
        Assert.Equal(valid, PostgreSqlStoreOptionsValidator.Problems(new PostgreSqlStoreOptions { ConnectionString = Valid, MaxRetries = retries }).Count == 0);

    [Fact]
    public void The_Store_Constructor_Rejects_Invalid_Options_With_Every_Problem()
    {
        var error = Assert.Throws<PaymentsKitException>(() => new PostgreSqlStore(
            new PostgreSqlStoreOptions { ConnectionString = null, MaxRetries = -1 }, TestStores.Json, new ManualClock()));

        Assert.Equal(PaymentsKitErrorCodes.InvalidArgument, error.Code);
        Assert.Contains("ConnectionString", error.Message, StringComparison.Ordinal);
        Assert.Contains("MaxRetries", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("", 256)]
    [InlineData(";Max Auto Prepare=0", 0)]
    [InlineData(";MaxAutoPrepare=12", 12)]
    public async Task Statements_Are_Auto_Prepared_Unless_The_Connection_String_Says_Otherwise(string setting, int expected)
    {
        var store = new PostgreSqlStore(new PostgreSqlStoreOptions { ConnectionString = Valid + setting }, TestStores.Json, new ManualClock());
        await using (store.ConfigureAwait(false))
        {
            Assert.Equal(expected, new Npgsql.NpgsqlConnectionStringBuilder(store.DataSource.ConnectionString).MaxAutoPrepare);
        }
    }

    [Fact]
    public async Task Problems_Of_Every_Options_Type_Are_Reported_Together_When_The_Host_Starts()
    {
        var services = new ServiceCollection();
        services.AddPaymentsKit(o => o.DefaultPageSize = 0).WithTestSecret().UsePostgreSql(o =>
        {
            o.ConnectionString = " ";
            o.MaxRetries = 11;
        });
        services.Configure<PaymentsKit.Payouts.PayoutOptions>(o => o.MaxAttemptsPerHolder = 0);
        await using var provider = services.BuildServiceProvider();

        var error = Record.Exception(() => provider.GetRequiredService<IStartupValidator>().Validate());

        var failures = error switch
        {
            OptionsValidationException single => single.Failures.ToList(),
            AggregateException many => many.InnerExceptions.OfType<OptionsValidationException>().SelectMany(e => e.Failures).ToList(),
            _ => [],
        };
        Assert.Contains(failures, f => f.Contains("DefaultPageSize", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.Contains("ConnectionString is required", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.Contains("MaxRetries", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.Contains("PaymentsKit:Payouts:MaxAttemptsPerHolder", StringComparison.Ordinal));
    }
}
