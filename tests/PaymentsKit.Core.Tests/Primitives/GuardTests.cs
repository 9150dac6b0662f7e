using FsCheck;
using FsCheck.Fluent;
using static PaymentsKit.Tests.Primitives.Assertions;

namespace PaymentsKit.Tests.Primitives;

public sealed class GuardTests
{
    // Built in code: xunit's theory data would turn a lone surrogate into U+FFFD before the test saw it.
    private static readonly string[] Unstorable =
    [
        "order\0-17",
        "lone high " + (char)0xD800 + " surrogate",
        "lone low " + (char)0xDC00 + " surrogate",
        "ends high " + (char)0xD83D,
        "reversed pair " + (char)0xDE00 + (char)0xD83D,
    ];

    [Fact]
    public void Text_Refuses_What_A_Store_Cannot_Keep_As_It_Is()
    {
        foreach (var value in Unstorable)
        {
            var error = ThrowsCode(PaymentsKitErrorCodes.InvalidArgument, () => Guard.Text(value, "name", 100));
            Assert.Equal("name", error.Context["field"]);
            Assert.Equal(Guard.Storable(value), error.Context["value"]);
        }
    }

    // C0 controls, DEL and C1 controls: never part of a name, key, id or label, and a newline in one forges log lines.
    private static readonly string[] WithControls =
    [
        "key\u0001", "line\nbreak", "carriage\rreturn", "tab\tbed", "del\u007f", "c1\u0085next-line", "c1\u009fend", "\u001b[31mred",
    ];

    [Fact]
    public void Text_Refuses_Control_Characters_Naming_The_Field_Without_Echoing_Them()
    {
        foreach (var value in WithControls)
        {
            var error = ThrowsCode(PaymentsKitErrorCodes.InvalidArgument, () => Guard.Text(value, "idempotency_key", 100));
            Assert.Equal("idempotency_key", error.Context["field"]);
            var echoed = Assert.IsType<string>(error.Context["value"]);
            Assert.DoesNotContain(echoed, char.IsControl);
            Assert.DoesNotContain(error.Message, char.IsControl);
            ThrowsCode(PaymentsKitErrorCodes.InvalidArgument, () => Guard.OptionalText(value, "name", 100));
        }
    }

    [Fact]
    public void Prose_Takes_Line_Breaks_And_Tabs_But_No_Other_Control_Character()
    {
        const string multiLine = "Line one\r\nLine two\n\tindented";
        Assert.Same(multiLine, Guard.Prose(multiLine, "description", 100));
        Assert.Null(Guard.OptionalProse(null, "description", 100));
        foreach (var value in WithControls.Where(v => !v.Contains('\n', StringComparison.Ordinal) && !v.Contains('\r', StringComparison.Ordinal) && !v.Contains('\t', StringComparison.Ordinal)).Concat(Unstorable))
        {
            ThrowsCode(PaymentsKitErrorCodes.InvalidArgument, () => Guard.Prose(value, "description", 100));
        }

        ThrowsCode(PaymentsKitErrorCodes.InvalidArgument, () => Guard.Prose(" \n\t ", "description", 100));
        ThrowsCode(PaymentsKitErrorCodes.InvalidArgument, () => Guard.Prose(new string('x', 101), "description", 100));
    }

    [Theory]
    [InlineData("plain")]
    [InlineData("emoji \uD83D\uDE00 pair")]
    [InlineData("\uD83D\uDE00")]
    public void Text_Keeps_Well_Formed_Text_Unchanged(string value) =>
        Assert.Same(value, Guard.Text(value, "name", 100));

    [Fact]
    public void Storable_Replaces_Only_Nul_And_Unpaired_Surrogates()
    {
        Assert.Equal("a\uFFFDb", Guard.Storable("a\0b"));
        Assert.Equal("x\uFFFD", Guard.Storable("x" + (char)0xD800));
        Assert.Equal("\uFFFDy", Guard.Storable((char)0xDC00 + "y"));
        Assert.Equal("\uD83D\uDE00\uFFFD", Guard.Storable("\uD83D\uDE00" + (char)0xD800));
        Assert.Equal("\uFFFD\uFFFD", Guard.Storable(string.Concat((char)0xDE00, (char)0xD83D)));
    }

    [Fact]
    public void Storable_Text_Is_Accepted_And_Kept_Meets_Specification() =>
        Prop.ForAll(
            Gen.ArrayOf(Gen.Choose(0, 0xFFFF).Select(c => (char)c)).Select(chars => new string(chars)).ToArbitrary(),
            text =>
            {
                var stored = Guard.Storable(text);
                var once = stored.Length == text.Length && Guard.Storable(stored) == stored;
                var accepted = Guard.Value(stored, "t", int.MaxValue) == stored;
                var utf8 = System.Text.Encoding.UTF8.GetString(System.Text.Encoding.UTF8.GetBytes(stored)) == stored && !stored.Contains('\0', StringComparison.Ordinal);
                return once && accepted && utf8;
            }).QuickCheckThrowOnFailure();
}
