using System.Reflection;
using System.Text;
using System.Text.RegularExpressions;
using PaymentsKit.Testing;

namespace PaymentsKit.Packaging.Tests;

/// <summary>
/// Every package's public surface matches its checked-in baseline (api/&lt;package&gt;.txt), so a change that
/// breaks code compiled against a shipped version (a member removed, a parameter added, an abstract member
/// added to a public base class) fails here instead of in an integrator's build or at run time.
/// </summary>
/// <remarks>
/// No packing: the assemblies are the build output of the src projects this test project references.
/// To accept a deliberate change, run this class with PAYMENTSKIT_ACCEPT_API=1: it rewrites the baselines,
/// which are then committed with the change (docs/packaging.md).
/// </remarks>
public sealed partial class PublicApiTests
{
    /// <summary>The variable that turns a run of this class into rewriting the baselines.</summary>
    public const string AcceptVariable = "PAYMENTSKIT_ACCEPT_API";

    private static readonly string Folder = Path.Combine(Repository.Root, "api");

    private static readonly IReadOnlyList<string> Shipped =
        [.. PackedPackages.ProjectFiles(Repository.Root).Select(project => Path.GetFileNameWithoutExtension(project))];

    private static bool Accepting => Environment.GetEnvironmentVariable(AcceptVariable) == "1";

    /// <summary>Every shipped package, by id (its assembly's name).</summary>
    public static TheoryData<string> Packages() => [.. Shipped];

    [Theory]
    [MemberData(nameof(Packages))]
    public void The_public_api_matches_its_baseline(string package)
    {
        var assembly = Assembly.Load(new AssemblyName(package));
        var actual = PublicApiSurface.Lines(assembly);
        var path = Path.Combine(Folder, package + ".txt");
        var text = string.Concat(actual.Select(line => line + "\n"));
        if (Accepting)
        {
            Directory.CreateDirectory(Folder);
            if (!File.Exists(path) || File.ReadAllText(path) != text)
            {
                File.WriteAllText(path, text);
            }

            return;
        }

        Assert.True(File.Exists(path), $"{package} has no API baseline at api/{package}.txt. {HowToAccept}");
        var baseline = File.ReadAllLines(path).Where(line => line.Length > 0).ToList();
        var removed = baseline.Except(actual, StringComparer.Ordinal).ToList();
        var added = actual.Except(baseline, StringComparer.Ordinal).ToList();
        if (removed.Count == 0 && added.Count == 0)
        {
            // Same lines, another order: the file was edited by hand; rewriting it puts it back.
            Assert.True(baseline.SequenceEqual(actual, StringComparer.Ordinal), $"api/{package}.txt is out of order. {HowToAccept}");
            return;
        }

        // A new abstract member of a type that already shipped breaks every class that derives from or implements it.
        var headers = baseline.Where(line => !IsMember(line)).ToList();
        var newAbstract = added.Where(line => IsMember(line) && AbstractMember().IsMatch(line)
            && headers.Any(header => Declares(header, line[..line.IndexOf(": ", StringComparison.Ordinal)]))).ToList();
        var message = new StringBuilder()
            .Append(package).Append("'s public API differs from api/").Append(package).AppendLine(".txt.");
        Section(message, removed, "-", "Removed or changed (BREAKING: code compiled against the baseline may no longer build or run)");
        Section(message, newAbstract, "+", "New abstract members of existing types (BREAKING: every type deriving from or implementing them must add them)");
        Section(message, [.. added.Except(newAbstract)], "+", "Added, or what a changed line became");
        Assert.Fail(message.Append(HowToAccept).ToString());
    }

    [Fact]
    public void Every_baseline_belongs_to_a_shipped_package()
    {
        var shipped = Shipped.ToHashSet(StringComparer.Ordinal);
        var stale = Directory.GetFiles(Folder, "*.txt").Select(file => Path.GetFileNameWithoutExtension(file)).Where(name => !shipped.Contains(name));
        Assert.Empty(stale);
    }

    // A type's own line starts with its modifiers; a member's with its type's name and ": ".
    private static bool IsMember(string line) => !line.StartsWith("public ", StringComparison.Ordinal)
        && !line.StartsWith("protected ", StringComparison.Ordinal) && !line.StartsWith('[');

    // Only classes and interfaces take abstract members; a type's name ends its line or is followed by a space.
    private static bool Declares(string header, string type) => new[] { " class ", " interface " }.Any(kind =>
    {
        var at = header.IndexOf(kind + type, StringComparison.Ordinal);
        var end = at + kind.Length + type.Length;
        return at >= 0 && (end == header.Length || header[end] == ' ');
    });

    private static void Section(StringBuilder message, List<string> lines, string marker, string title)
    {
        if (lines.Count > 0)
        {
            message.Append(title).Append(", ").Append(lines.Count).AppendLine(":");
            lines.ForEach(line => message.Append("  ").Append(marker).Append(' ').AppendLine(line));
        }
    }

    // "abstract override" counts too: it takes away the implementation derived types relied on.
    [GeneratedRegex(@"^.+?: (public|protected|protected internal)( static)? abstract ")]
    private static partial Regex AbstractMember();

    private static string HowToAccept =>
        $"If the change is deliberate, rewrite the baselines with `{AcceptVariable}=1 dotnet test tests/PaymentsKit.Packaging.Tests -c Release "
        + $"--filter FullyQualifiedName~{nameof(PublicApiTests)}` and commit api/ with it (see docs/packaging.md).";
}
