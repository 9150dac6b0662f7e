using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using Npgsql;
using PaymentsKit.Testing;
using Xunit.Abstractions;

namespace PaymentsKit.Packaging.Tests;

/// <summary>
/// A newcomer's first run: a fresh console project installs the packed packages from a local folder
/// (everything else from the machine's usual package sources) and runs docs/getting-started.md's
/// program, on the in-memory store and on PostgreSQL.
/// </summary>
[Collection(PackagingCollection.Name)]
public sealed partial class GettingStartedTests(PackedPackages packages, ITestOutputHelper output)
{
    private const string LocalSource = "paymentskit-packed";
    private const string DependencyInjection = "Microsoft.Extensions.DependencyInjection";
    private const string Wallet = "GAAZI4TCR3TY5OJHCTJC2A4QSY6CJWJH5IAJTGKIN2ER7LBNVKOCCWN7";
    private static readonly TimeSpan StepTimeout = TimeSpan.FromSeconds(120);

    [Fact]
    public void The_getting_started_program_is_at_most_twenty_lines()
    {
        var lines = GettingStartedProgram().Split('\n').Count(line => !string.IsNullOrWhiteSpace(line));
        Assert.InRange(lines, 5, 20);
    }

    [Fact]
    public async Task The_getting_started_program_runs_against_the_installed_packages_in_memory_and_on_PostgreSql()
    {
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"packing {packages.Version}: {packages.PackDuration.TotalSeconds:F1} s"));
        var app = Path.Combine(packages.WorkRoot, "FirstInvoice");
        Directory.CreateDirectory(app);

        // Stop MSBuild's search for Directory.*.props/targets above the temporary folder.
        foreach (var name in new[] { "Directory.Build.props", "Directory.Build.targets", "Directory.Packages.props" })
        {
            await File.WriteAllTextAsync(Path.Combine(app, name), "<Project />\n");
        }

        // The machine's sources, read before the project's nuget.config exists, so the rest of the graph
        // restores exactly as it would for the user.
        var sources = ParseSources(await DotNetAsync(app, "list sources", "nuget", "list", "source", "--format", "Detailed"));
        Assert.NotEmpty(sources);
        await File.WriteAllTextAsync(Path.Combine(app, "nuget.config"), NuGetConfig(packages.Folder, sources));

        // What `dotnet new console` creates; warnings are errors so the documented program must compile cleanly.
        await File.WriteAllTextAsync(Path.Combine(app, "FirstInvoice.csproj"), """
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <ImplicitUsings>enable</ImplicitUsings>
                <Nullable>enable</Nullable>
                <TreatWarningsAsErrors>true</TreatWarningsAsErrors>
              </PropertyGroup>
            </Project>
            """);
        await File.WriteAllTextAsync(Path.Combine(app, "Program.cs"), GettingStartedProgram());

        // The install steps of the page: the two packages, and a console app's DI container (a host has one)
        // at the version the repository builds with.
        foreach (var id in new[] { "PaymentsKit.Core", "PaymentsKit.PostgreSql" })
        {
            await DotNetAsync(app, "add " + id, "add", "package", id, "--version", packages.Version);
        }

        await DotNetAsync(
            app, "add " + DependencyInjection, "add", "package", DependencyInjection, "--version", packages.CentralVersion(DependencyInjection));

        var installed = XDocument.Load(Path.Combine(app, "FirstInvoice.csproj")).Descendants("PackageReference")
            .ToDictionary(e => e.Attribute("Include")!.Value, e => e.Attribute("Version")!.Value, StringComparer.Ordinal);
        Assert.Equal(packages.Version, installed["PaymentsKit.Core"]);
        Assert.Equal(packages.Version, installed["PaymentsKit.PostgreSql"]);

        await DotNetAsync(app, "build", "build", "-c", "Release", "--disable-build-servers", "-nologo");

        // The restore resolved PaymentsKit from the packed folder, not from any other source.
        var assets = await File.ReadAllTextAsync(Path.Combine(app, "obj", "project.assets.json"));
        Assert.Contains($"\"PaymentsKit.Core/{packages.Version}\"", assets, StringComparison.Ordinal);

        var program = Path.Combine(app, "bin", "Release", "net10.0", "FirstInvoice.dll");
        var inMemory = await DotNetAsync(app, "run in memory", program);
        AssertPrintsPendingInvoice(inMemory);

        await using var server = await ThrowawayPostgres.StartAsync();
        var database = await server.CreateDatabaseAsync("first_invoice");
        var onPostgres = AssertPrintsPendingInvoice(await DotNetAsync(
            app, "run on PostgreSQL", new Dictionary<string, string> { ["PAYMENTSKIT_API_KEY_SECRET"] = TestSecrets.ApiKeyHashingSecret }, program, database));

        // The invoice is in the database, in the seed's invoices table the migrations created.
        await using var connection = new NpgsqlConnection(database);
        await connection.OpenAsync();
        await using var query = new NpgsqlCommand("SELECT invoice_number, status, amount, asset, memo FROM invoices", connection);
        await using var row = await query.ExecuteReaderAsync();
        Assert.True(await row.ReadAsync());
        Assert.Equal("INV-0001", row.GetString(0));
        Assert.Equal("PENDING", row.GetString(1));
        Assert.Equal(25.50m, row.GetDecimal(2));
        Assert.Equal("XLM", row.GetString(3));
        Assert.Equal(onPostgres.Groups["memo"].Value, row.GetString(4));
        Assert.False(await row.ReadAsync());
    }

    /// <summary>Runs one CLI step and reports its duration in the test output.</summary>
    private Task<string> DotNetAsync(string app, string step, params string[] arguments) =>
        DotNetAsync(app, step, new Dictionary<string, string>(), arguments);

    /// <summary>Runs one CLI step with <paramref name="environment"/> added and reports its duration in the test output.</summary>
    private async Task<string> DotNetAsync(string app, string step, IReadOnlyDictionary<string, string> environment, params string[] arguments)
    {
        var watch = Stopwatch.StartNew();
        var result = await DotNetCli.RunAsync(app, StepTimeout, environment, arguments);
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{step}: {watch.Elapsed.TotalSeconds:F1} s"));
        return result;
    }

    /// <summary>The C# block between the first-invoice markers of docs/getting-started.md.</summary>
    private string GettingStartedProgram()
    {
        var page = File.ReadAllText(Path.Combine(packages.RepositoryRoot, "docs", "getting-started.md")).ReplaceLineEndings("\n");
        var block = ProgramBlock().Match(page);
        Assert.True(block.Success, "docs/getting-started.md has no ```csharp block between <!-- first-invoice:begin and <!-- first-invoice:end -->.");
        return block.Groups["code"].Value;
    }

    private static Match AssertPrintsPendingInvoice(string output)
    {
        var line = Assert.Single(output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        var match = OutputLine().Match(line);
        Assert.True(match.Success, $"Unexpected output: {line}");
        return match;
    }

    private static List<PackageSource> ParseSources(string listing)
    {
        // "  1.  nuget.org [Enabled]" followed by the source's URL or path on the next line.
        var lines = listing.ReplaceLineEndings("\n").Split('\n');
        var sources = new List<PackageSource>();
        for (var i = 0; i < lines.Length - 1; i++)
        {
            var header = SourceHeader().Match(lines[i]);
            if (header.Success && header.Groups["state"].Value == "Enabled")
            {
                sources.Add(new PackageSource(header.Groups["name"].Value, lines[i + 1].Trim()));
            }
        }

        return sources;
    }

    private static string NuGetConfig(string folder, IEnumerable<PackageSource> sources)
    {
        // The same source names as the machine's config, so any credentials stored for them still apply;
        // source mapping sends PaymentsKit.* only to the packed folder.
        var all = sources.Prepend(new PackageSource(LocalSource, folder)).ToList();
        var document = new XDocument(
            new XElement(
                "configuration",
                new XElement(
                    "packageSources",
                    new XElement("clear"),
                    all.Select(s => new XElement("add", new XAttribute("key", s.Name), new XAttribute("value", s.Url)))),
                new XElement(
                    "packageSourceMapping",
                    all.Select(s => new XElement(
                        "packageSource",
                        new XAttribute("key", s.Name),
                        new XElement("package", new XAttribute("pattern", s.Name == LocalSource ? "PaymentsKit.*" : "*")))))));
        return document.ToString();
    }

    private sealed record PackageSource(string Name, string Url);

    [GeneratedRegex(@"<!-- first-invoice:begin[^\n]*-->\n```csharp\n(?<code>.*?)```\n<!-- first-invoice:end -->", RegexOptions.Singleline)]
    private static partial Regex ProgramBlock();

    [GeneratedRegex("^inv_[0-9a-hjkmnp-tv-z]{26} INV-0001 Pending: 25\\.5000000 XLM to " + Wallet + ", memo (?<memo>[0-9a-f]{12})$")]
    private static partial Regex OutputLine();

    [GeneratedRegex(@"^\s*\d+\.\s+(?<name>.+?)\s+\[(?<state>Enabled|Disabled)\]\s*$")]
    private static partial Regex SourceHeader();
}
