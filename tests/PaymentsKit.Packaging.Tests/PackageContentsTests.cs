using System.IO.Compression;
using System.Reflection.Metadata;
using System.Text;
using System.Text.RegularExpressions;
using System.Xml.Linq;

namespace PaymentsKit.Packaging.Tests;

/// <summary>What is inside every packed package: metadata, README, XML docs, symbols with Source Link.</summary>
[Collection(PackagingCollection.Name)]
public sealed partial class PackageContentsTests(PackedPackages packages)
{
    // The Portable PDB custom debug information kind that holds the Source Link JSON.
    private static readonly Guid SourceLinkKind = new("CC110556-A091-4D38-9FEC-25AB9A351A6A");

    [Fact]
    public void Every_src_project_is_packed_with_a_symbol_package_and_nothing_else_is()
    {
        Assert.Subset(
            packages.ExpectedIds.ToHashSet(StringComparer.Ordinal),
            new HashSet<string>(StringComparer.Ordinal)
            {
                "PaymentsKit.Core", "PaymentsKit.PostgreSql", "PaymentsKit.Hosting", "PaymentsKit.Chains.Stellar",
                "PaymentsKit.Chains.Ethereum", "PaymentsKit.Chains.Solana", "PaymentsKit.Chains.Hedera",
            });
        var expected = packages.ExpectedIds
            .SelectMany(id => new[] { $"{id}.{packages.Version}.nupkg", $"{id}.{packages.Version}.snupkg" })
            .Order(StringComparer.Ordinal);
        var actual = Directory.GetFiles(packages.Folder).Select(Path.GetFileName).Order(StringComparer.Ordinal);
        Assert.Equal(expected, actual);
    }

    [Fact]
    public void Every_package_has_its_metadata_license_readme_repository_and_xml_docs()
    {
        foreach (var id in packages.ExpectedIds)
        {
            using var zip = ZipFile.OpenRead(packages.Package(id));
            var nuspec = Nuspec(zip);
            string Field(string name) => nuspec.Descendants().SingleOrDefault(e => e.Name.LocalName == name)?.Value
                ?? throw new InvalidOperationException($"{id}: the nuspec has no <{name}>.");

            Assert.Equal(id, Field("id"));
            Assert.Equal(packages.Version, Field("version"));
            Assert.True(Field("description").Length >= 40, $"{id}: the description is too short to say what the package does.");
            Assert.StartsWith("PaymentsKit contributors", Field("authors"), StringComparison.Ordinal);
            Assert.Contains("payments", Field("tags").Split(' '));

            var license = nuspec.Descendants().Single(e => e.Name.LocalName == "license");
            Assert.Equal("expression", license.Attribute("type")?.Value);
            Assert.Equal("MIT", license.Value);

            var repository = nuspec.Descendants().Single(e => e.Name.LocalName == "repository");
            Assert.Equal("git", repository.Attribute("type")?.Value);
            Assert.Equal("https://github.com/paymentskit/paymentskit", repository.Attribute("url")?.Value?.TrimEnd('/').Replace(".git", string.Empty, StringComparison.Ordinal));
            Assert.Matches(CommitPattern(), repository.Attribute("commit")?.Value ?? string.Empty);

            // The package's own README, shown on the gallery page.
            Assert.Equal("README.md", Field("readme"));
            var readme = Read(zip, "README.md");
            Assert.StartsWith($"# {id}", readme, StringComparison.Ordinal);

            Assert.NotNull(zip.GetEntry($"lib/net10.0/{id}.dll"));
            var docs = XDocument.Parse(Read(zip, $"lib/net10.0/{id}.xml"));
            Assert.Equal(id, docs.Root?.Element("assembly")?.Element("name")?.Value);
            Assert.True(docs.Descendants("member").Count(m => m.Attribute("name")?.Value.StartsWith("T:", StringComparison.Ordinal) == true) >= 3, $"{id}: the XML docs document no types.");
        }
    }

    [Fact]
    public void Packages_depend_on_Core_at_the_same_version_and_Core_on_its_declared_dependencies()
    {
        foreach (var id in packages.ExpectedIds)
        {
            using var zip = ZipFile.OpenRead(packages.Package(id));
            var dependencies = Nuspec(zip).Descendants().Where(e => e.Name.LocalName == "dependency")
                .ToDictionary(e => e.Attribute("id")!.Value, e => e.Attribute("version")!.Value, StringComparer.Ordinal);

            Assert.DoesNotContain("Microsoft.SourceLink.GitHub", dependencies.Keys);
            Assert.DoesNotContain("Microsoft.CodeAnalysis.BannedApiAnalyzers", dependencies.Keys);
            if (id == "PaymentsKit.Core")
            {
                Assert.Contains("NodaTime", dependencies.Keys);
                Assert.Contains("Microsoft.Extensions.DependencyInjection.Abstractions", dependencies.Keys);
                Assert.DoesNotContain(dependencies.Keys, d => d.StartsWith("PaymentsKit.", StringComparison.Ordinal));
            }
            else
            {
                Assert.Equal(packages.Version, dependencies["PaymentsKit.Core"]);
            }
        }
    }

    [Fact]
    public void Every_symbol_package_holds_a_portable_pdb_with_source_link_to_the_packed_commit()
    {
        foreach (var id in packages.ExpectedIds)
        {
            string commit;
            using (var zip = ZipFile.OpenRead(packages.Package(id)))
            {
                commit = Nuspec(zip).Descendants().Single(e => e.Name.LocalName == "repository").Attribute("commit")!.Value;
            }

            using var symbols = ZipFile.OpenRead(packages.Package(id, "snupkg"));
            var entry = symbols.GetEntry($"lib/net10.0/{id}.pdb") ?? throw new InvalidOperationException($"{id}.snupkg holds no {id}.pdb.");
            using var pdb = new MemoryStream();
            using (var stream = entry.Open())
            {
                stream.CopyTo(pdb);
            }

            pdb.Position = 0;
            using var provider = MetadataReaderProvider.FromPortablePdbStream(pdb);
            var reader = provider.GetMetadataReader();
            var sourceLink = reader.GetCustomDebugInformation(EntityHandle.ModuleDefinition)
                .Select(reader.GetCustomDebugInformation)
                .Where(info => reader.GetGuid(info.Kind) == SourceLinkKind)
                .Select(info => Encoding.UTF8.GetString(reader.GetBlobBytes(info.Value)))
                .SingleOrDefault();

            Assert.NotNull(sourceLink);
            Assert.Contains($"https://raw.githubusercontent.com/paymentskit/paymentskit/{commit}/", sourceLink, StringComparison.Ordinal);
            Assert.Contains(reader.Documents, d => reader.GetString(reader.GetDocument(d).Name).EndsWith(".cs", StringComparison.Ordinal));
        }
    }

    private static XDocument Nuspec(ZipArchive zip) =>
        XDocument.Parse(Read(zip, zip.Entries.Single(e => e.FullName.EndsWith(".nuspec", StringComparison.Ordinal)).FullName));

    private static string Read(ZipArchive zip, string path)
    {
        var entry = zip.GetEntry(path) ?? throw new InvalidOperationException($"The package holds no {path}.");
        using var reader = new StreamReader(entry.Open(), Encoding.UTF8);
        return reader.ReadToEnd();
    }

    [GeneratedRegex("^[0-9a-f]{40}$")]
    private static partial Regex CommitPattern();
}
