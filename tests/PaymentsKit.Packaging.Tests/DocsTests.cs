using System.Reflection;
using System.Text.RegularExpressions;

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

    [GeneratedRegex(@"\]\((?<target>[^)\s]+)\)")]
    private static partial Regex MarkdownLink();

    [GeneratedRegex("```.*?```", RegexOptions.Singleline)]
    private static partial Regex FencedCode();
}
