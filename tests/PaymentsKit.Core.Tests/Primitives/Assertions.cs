namespace PaymentsKit.Tests.Primitives;

internal static class Assertions
{
    public static PaymentsKitException ThrowsCode(string code, Action action)
    {
        var ex = Assert.Throws<PaymentsKitException>(action);
        Assert.Equal(code, ex.Code);
        return ex;
    }
}
