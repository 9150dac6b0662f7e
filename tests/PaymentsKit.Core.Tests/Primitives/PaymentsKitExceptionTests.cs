using static PaymentsKit.Tests.Primitives.Assertions;

namespace PaymentsKit.Tests.Primitives;

public sealed class PaymentsKitExceptionTests
{
    [Fact]
    public void CarriesCodeContextAndTransience()
    {
        var context = new Dictionary<string, object?> { ["field"] = "amount" };
        var ex = new PaymentsKitException(PaymentsKitErrorCodes.Expired, "Quote expired.", context, isTransient: true);
        context["field"] = "changed";
        Assert.Equal("expired", ex.Code);
        Assert.Equal("amount", ex.Context["field"]);
        Assert.True(ex.IsTransient);
        Assert.Contains("code=expired", ex.ToString(), StringComparison.Ordinal);
        Assert.Contains("field=amount", ex.ToString(), StringComparison.Ordinal);
        Assert.Empty(new PaymentsKitException("x", "y").Context);
        Assert.Throws<ArgumentException>(() => new PaymentsKitException("", "y"));
    }

    [Fact]
    public void Codes_AreDistinctSnakeCaseConstants()
    {
        var codes = typeof(PaymentsKitErrorCodes).GetFields()
            .Where(f => f.IsLiteral)
            .Select(f => (string)f.GetRawConstantValue()!)
            .ToList();
        Assert.Equal(codes.Count, codes.Distinct(StringComparer.Ordinal).Count());
        Assert.All(codes, c => Assert.Matches("^[a-z]+(_[a-z]+)*$", c));
        Assert.Contains("idempotency_conflict", codes);
        Assert.Contains("invalid_transition", codes);
        Assert.Contains("amount_precision", codes);
        Assert.Contains("concurrency_conflict", codes);
    }

    [Fact]
    public void Guard_NamesTheFieldAndValue()
    {
        var ex = ThrowsCode(PaymentsKitErrorCodes.InvalidArgument, () => Guard.Text("  ", "invoice.description", 10));
        Assert.Equal("invoice.description", ex.Context["field"]);
        ex = ThrowsCode(PaymentsKitErrorCodes.InvalidArgument, () => Guard.Text(new string('x', 11), "memo", 10));
        Assert.Contains("at most 10", ex.Message, StringComparison.Ordinal);
        Assert.Null(Guard.OptionalText(null, "memo", 10));
        Assert.Equal("ok", Guard.Text("ok", "memo", 10));
        ThrowsCode(PaymentsKitErrorCodes.InvalidArgument, () => Guard.NotNull<string>(null, "client"));
    }
}
