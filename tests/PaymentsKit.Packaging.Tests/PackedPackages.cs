using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Xml.Linq;
using PaymentsKit.Testing;

namespace PaymentsKit.Packaging.Tests;

/// <summary>The xunit collection whose tests share one packing of the packages.</summary>
[CollectionDefinition(Name)]
public sealed class PackagingCollection : ICollectionFixture<PackedPackages>
{
    /// <summary>The collection name.</summary>
    public const string Name = "Packaging";
}

/// <summary>
/// Packs every project under src/ once per test run into a temporary folder, at a version no earlier
/// run used (so the NuGet caches can never serve a stale copy), and cleans up afterwards.
/// </summary>
/// <remarks>
/// Packing uses no-build: the test project references every src project, so they were built with it
/// (same configuration), and packing only reads that output. A `dotnet test` over the solution may
/// still be building other projects while this runs; nothing here compiles or restores in the repository.
/// </remarks>
public sealed class PackedPackages : IAsyncLifetime
{
    private static readonly TimeSpan PackTimeout = TimeSpan.FromSeconds(120);

    /// <summary>Creates the folders; packing happens in <see cref="InitializeAsync"/>.</summary>
    public PackedPackages()
    {
        RepositoryRoot = Repository.Root;
        Configuration = typeof(PackedPackages).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration
            ?? throw new InvalidOperationException("The test assembly does not record its build configuration.");
        var core = typeof(Money).Assembly.GetName().Version ?? throw new InvalidOperationException("PaymentsKit.Core has no version.");

        // A "g" before the hex keeps the prerelease identifier alphanumeric (SemVer forbids leading zeros in numeric ones).
        Version = string.Create(CultureInfo.InvariantCulture, $"{core.Major}.{core.Minor}.{core.Build}-packtest.g{Guid.NewGuid():N}");
        WorkRoot = Path.Combine(Path.GetTempPath(), "paymentskit-packaging-" + Guid.NewGuid().ToString("N"));
        Folder = Path.Combine(WorkRoot, "packages");
        Projects = ProjectFiles(RepositoryRoot);
    }

    /// <summary>The repository checkout the packages are packed from.</summary>
    public string RepositoryRoot { get; }

    /// <summary>The build configuration packed (the one this test project was built in).</summary>
    public string Configuration { get; }

    /// <summary>The unique version every package was packed at.</summary>
    public string Version { get; }

    /// <summary>A temporary folder for this run; deleted at the end.</summary>
    public string WorkRoot { get; }

    /// <summary>The folder holding the .nupkg and .snupkg files: a local package source.</summary>
    public string Folder { get; }

    /// <summary>Every src/*/*.csproj: each must become a package.</summary>
    public IReadOnlyList<string> Projects { get; }

    /// <summary>Every src/*/*.csproj under <paramref name="repositoryRoot"/>, ordinally: the projects that ship as packages.</summary>
    public static IReadOnlyList<string> ProjectFiles(string repositoryRoot) =>
        [.. Directory.GetDirectories(Path.Combine(repositoryRoot, "src"))
            .SelectMany(directory => Directory.GetFiles(directory, "*.csproj"))
            .Order(StringComparer.Ordinal)];

    /// <summary>The package ids expected: the project file names.</summary>
    public IEnumerable<string> ExpectedIds => Projects.Select(Path.GetFileNameWithoutExtension)!;

    /// <summary>How long packing took.</summary>
    public TimeSpan PackDuration { get; private set; }

    /// <summary>The path of a package file.</summary>
    public string Package(string id, string extension = "nupkg") => Path.Combine(Folder, $"{id}.{Version}.{extension}");

    /// <summary>The version of a package in the repository's Directory.Packages.props.</summary>
    public string CentralVersion(string id) =>
        XDocument.Load(Path.Combine(RepositoryRoot, "Directory.Packages.props")).Descendants("PackageVersion")
            .SingleOrDefault(e => e.Attribute("Include")?.Value == id)?.Attribute("Version")?.Value
        ?? throw new InvalidOperationException($"Directory.Packages.props has no version of {id}.");

    /// <inheritdoc />
    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(Folder);
        var watch = Stopwatch.StartNew();

        // One MSBuild invocation packs every project (in parallel) with the same global properties;
        // they flow to project references, so each package depends on its siblings at this version.
        var traversal = Path.Combine(WorkRoot, "pack.proj");
        var items = string.Concat(Projects.Select(p => $"    <PackageProject Include=\"{p}\" />\n"));
        await File.WriteAllTextAsync(
            traversal,
            $"""
            <Project>
              <ItemGroup>
            {items}  </ItemGroup>
              <Target Name="Pack">
                <MSBuild Projects="@(PackageProject)" Targets="Pack" BuildInParallel="true" />
              </Target>
            </Project>
            """).ConfigureAwait(false);

        await DotNetCli.RunAsync(
            WorkRoot,
            PackTimeout,
            "msbuild",
            traversal,
            "-t:Pack",
            "-nologo",
            "-nodeReuse:false",
            "-p:NoBuild=true",
            "-p:_IsPacking=true",
            $"-p:Configuration={Configuration}",
            $"-p:PackageVersion={Version}",
            $"-p:PackageOutputPath={Folder}{Path.DirectorySeparatorChar}").ConfigureAwait(false);
        PackDuration = watch.Elapsed;
    }

    /// <inheritdoc />
    public Task DisposeAsync()
    {
        DeleteQuietly(WorkRoot);

        // The consuming project's restore extracted these into the global packages folder; no later run
        // can ask for this version again, so they would only pile up.
        var globalPackages = Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } configured
            ? configured
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        foreach (var id in ExpectedIds)
        {
            DeleteQuietly(Path.Combine(globalPackages, id.ToLowerInvariant(), Version));
        }

        return Task.CompletedTask;
    }

    private static void DeleteQuietly(string directory)
    {
        try
        {
            if (Directory.Exists(directory))
            {
                Directory.Delete(directory, recursive: true);
            }
        }
        catch (IOException)
        {
            // A leftover temporary folder is not a test failure.
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
