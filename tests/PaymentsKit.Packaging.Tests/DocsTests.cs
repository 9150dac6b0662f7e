using System.Reflection;
using System.Text.RegularExpressions;
using PaymentsKit.Testing;

namespace PaymentsKit.Packaging.Tests;

/// <summary>The documentation a newcomer reads: every link resolves, the index reaches every page, every error code is listed.</summary>
public sealed partial class DocsTests
{
    private static readonly string Root = Repository.Root;

    [Fact]
    public void Every_relative_link_in_the_docs_and_package_readmes_points_at_an_existing_file()
    {
        var broken = MarkdownFiles()
            .SelectMany(file => RelativeLinks(file).Select(target => (file, target)))
            .Where(link => !File.Exists(link.target.Path) && !Directory.Exists(link.target.Path))
            .Select(link => $"{Path.GetRelativePath(Root, link.file)} → {link.target.Text}")
            .ToList();
        Assert.True(broken.Count == 0, "Broken links:\n" + string.Join('\n', broken));
    }

    [Fact]
    public void Every_anchor_of_a_relative_link_names_a_heading_of_its_page()
    {
        // A renamed heading leaves its links pointing at the top of the page, which no file check notices.
        var broken = MarkdownFiles()
            .SelectMany(file => AnchoredLinks(file).Select(link => (file, link)))
            .Where(l => l.link.Path.EndsWith(".md", StringComparison.Ordinal) && File.Exists(l.link.Path)
                && !HeadingAnchors(l.link.Path).Contains(l.link.Anchor))
            .Select(l => $"{Path.GetRelativePath(Root, l.file)} → {l.link.Text}")
            .ToList();
        Assert.True(broken.Count == 0, "Links to headings that do not exist:\n" + string.Join('\n', broken));
    }

    [Fact]
    public void The_docs_index_links_every_page_and_every_decision_record()
    {
        var index = Path.Combine(Root, "docs", "README.md");
        var linked = RelativeLinks(index).Select(t => Path.GetFullPath(t.Path)).ToHashSet(StringComparer.Ordinal);
        var pages = Directory.GetFiles(Path.Combine(Root, "docs"), "*.md", SearchOption.AllDirectories)
            .Where(page => page != index)
            .Select(Path.GetFullPath);
        Assert.Empty(pages.Where(page => !linked.Contains(page)).Select(page => Path.GetRelativePath(Root, page)));
    }

    [Fact]
    public void Every_error_code_is_documented_in_the_primitives_page()
    {
        var page = File.ReadAllText(Path.Combine(Root, "docs", "primitives.md"));
        var codes = typeof(PaymentsKitErrorCodes).GetFields(BindingFlags.Public | BindingFlags.Static)
            .Where(f => f.IsLiteral && f.FieldType == typeof(string))
            .Select(f => (string)f.GetRawConstantValue()!)
            .ToList();
        Assert.NotEmpty(codes);
        Assert.DoesNotContain(codes, code => !page.Contains($"| `{code}` |", StringComparison.Ordinal));
    }

    [Fact]
    public void Every_error_code_a_docs_table_names_exists()
    {
        // A code the docs promise but the library never raises sends an integrator's error handling after nothing.
        var codes = typeof(PaymentsKitErrorCodes).GetFields(BindingFlags.Public | BindingFlags.Static)
            .Where(f => f.IsLiteral && f.FieldType == typeof(string))
            .Select(f => (string)f.GetRawConstantValue()!)
            .ToHashSet(StringComparer.Ordinal);

        // The sample API adds a few codes of its own (ApiErrors), which only its page may name.
        var sampleCodes = SampleApiCode().Matches(File.ReadAllText(Path.Combine(Root, "samples", "PaymentsKit.Sample", "Api", "ApiErrorMiddleware.cs")))
            .Select(m => m.Groups["code"].Value)
            .ToHashSet(StringComparer.Ordinal);
        Assert.NotEmpty(sampleCodes);
        var samplePage = Path.Combine(Root, "docs", "sample.md");
        var named = MarkdownFiles().SelectMany(file => CodeColumnCells(file).Select(cell => (file, cell))).ToList();
        Assert.NotEmpty(named);
        var unknown = named
            .SelectMany(c => SnakeCaseCode().Matches(c.cell).Select(m => (c.file, Code: m.Groups["code"].Value)))
            .Where(c => !codes.Contains(c.Code) && !(c.file == samplePage && sampleCodes.Contains(c.Code)))
            .Select(c => $"{Path.GetRelativePath(Root, c.file)}: {c.Code}")
            .Distinct()
            .ToList();
        Assert.True(unknown.Count == 0, "Error codes not in PaymentsKitErrorCodes:\n" + string.Join('\n', unknown));
    }

    [Fact]
    public void Every_csharp_block_that_moves_to_PostgreSql_sets_the_api_key_hashing_secret()
    {
        // UsePostgreSql refuses to start without the secret, so a snippet without it fails the first time it is copied.
        var blocks = MarkdownFiles()
            .SelectMany(file => CSharpBlock().Matches(File.ReadAllText(file)).Select(block => (file, code: block.Groups["code"].Value)))
            .Where(block => block.code.Contains(".UsePostgreSql(", StringComparison.Ordinal))
            .ToList();
        Assert.NotEmpty(blocks);
        var missing = blocks
            .Where(block => !block.code.Contains("ApiKeyHashingSecret", StringComparison.Ordinal))
            .Select(block => $"{Path.GetRelativePath(Root, block.file)}: {block.code.Split('\n')[0]}")
            .ToList();
        Assert.True(missing.Count == 0, "UsePostgreSql without ApiKeyHashingSecret:\n" + string.Join('\n', missing));
    }

    /// <summary>The cells of every table column headed "code" or "codes" (error tables; asset codes are upper case and ignored).</summary>
    private static IEnumerable<string> CodeColumnCells(string file)
    {
        var column = -1;
        foreach (var line in FencedCode().Replace(File.ReadAllText(file), string.Empty).Split('\n'))
        {
            if (!line.StartsWith('|'))
            {
                column = -1;
                continue;
            }

            var cells = line.Trim().Trim('|').Split('|').Select(c => c.Trim()).ToList();
            if (column < 0)
            {
                column = cells.FindIndex(c => c is "code" or "codes");
                column = column < 0 ? int.MaxValue : column;
            }
            else if (column < cells.Count && !cells[column].StartsWith("---", StringComparison.Ordinal))
            {
                yield return cells[column];
            }
        }
    }

    private static IEnumerable<string> MarkdownFiles() =>
        Directory.GetFiles(Path.Combine(Root, "docs"), "*.md", SearchOption.AllDirectories)
            .Concat(Directory.GetFiles(Path.Combine(Root, "src"), "README.md", SearchOption.AllDirectories))
            .Append(Path.Combine(Root, "README.md"))
            .Where(file => !file.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                && !file.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal));

    private static IEnumerable<(string Text, string Path)> RelativeLinks(string file)
    {
        // Code blocks hold code, not links.
        var text = FencedCode().Replace(File.ReadAllText(file), string.Empty);
        foreach (Match link in MarkdownLink().Matches(text))
        {
            var target = link.Groups["target"].Value;
            if (target.Contains("://", StringComparison.Ordinal) || target.StartsWith('#') || target.StartsWith("mailto:", StringComparison.Ordinal))
            {
                continue;
            }

            var path = target.Split('#')[0];
            yield return (target, Path.GetFullPath(Path.Combine(Path.GetDirectoryName(file)!, path)));
        }
    }

    private static IEnumerable<(string Text, string Path, string Anchor)> AnchoredLinks(string file)
    {
        var text = FencedCode().Replace(File.ReadAllText(file), string.Empty);
        foreach (Match link in MarkdownLink().Matches(text))
        {
            var target = link.Groups["target"].Value;
            var hash = target.IndexOf('#', StringComparison.Ordinal);
            if (hash < 0 || target.Contains("://", StringComparison.Ordinal) || target.StartsWith("mailto:", StringComparison.Ordinal))
            {
                continue;
            }

            var path = hash == 0 ? file : Path.GetFullPath(Path.Combine(Path.GetDirectoryName(file)!, target[..hash]));
            yield return (target, path, target[(hash + 1)..]);
        }
    }

    /// <summary>The anchors GitHub gives a page's headings: lower case, punctuation dropped, spaces as hyphens, repeats numbered.</summary>
    private static HashSet<string> HeadingAnchors(string file)
    {
        var anchors = new HashSet<string>(StringComparer.Ordinal);
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (Match heading in Heading().Matches(FencedCode().Replace(File.ReadAllText(file), string.Empty)))
        {
            var slug = HeadingPunctuation().Replace(heading.Groups["title"].Value.Trim().ToLowerInvariant(), string.Empty).Replace(' ', '-');
            var repeats = seen.GetValueOrDefault(slug);
            seen[slug] = repeats + 1;
            anchors.Add(repeats == 0 ? slug : $"{slug}-{repeats}");
        }

        return anchors;
    }

    [GeneratedRegex(@"^#{1,6}[ \t]+(?<title>.+?)[ \t]*$", RegexOptions.Multiline)]
    private static partial Regex Heading();

    [GeneratedRegex(@"[^\p{L}\p{N}\p{Mn}\p{Pc}\- ]")]
    private static partial Regex HeadingPunctuation();

    [GeneratedRegex(@"\]\((?<target>[^)\s]+)\)")]
    private static partial Regex MarkdownLink();

    [GeneratedRegex(@"public const string \w+ = ""(?<code>[a-z_]+)"";")]
    private static partial Regex SampleApiCode();

    [GeneratedRegex(@"`(?<code>[a-z][a-z0-9]*(_[a-z0-9]+)*)`")]
    private static partial Regex SnakeCaseCode();

    [GeneratedRegex("```csharp\n(?<code>.*?)```", RegexOptions.Singleline)]
    private static partial Regex CSharpBlock();

    [GeneratedRegex("```.*?```", RegexOptions.Singleline)]
    private static partial Regex FencedCode();
}
