using System.Globalization;

namespace PaymentsKit.Testing;

/// <summary>Assertions for tenant isolation: another tenant's record must look exactly like one that does not exist.</summary>
public static class TenancyAssert
{
    /// <summary>
    /// <paramref name="foreign"/> (a call naming <paramref name="foreignId"/>, another tenant's record) and <paramref name="absent"/>
    /// (the same call naming <paramref name="absentId"/>, which no tenant has) both fail <c>not_found</c> with the same message
    /// and context once each id is masked, so the answer says nothing about whether the record exists elsewhere.
    /// </summary>
    public static async Task HiddenAsync(Func<Task> foreign, string foreignId, Func<Task> absent, string absentId)
    {
        var missing = await Assert.ThrowsAsync<PaymentsKitException>(absent);
        Assert.Equal(PaymentsKitErrorCodes.NotFound, missing.Code);
        AssertSameFailure(missing, absentId, await Assert.ThrowsAsync<PaymentsKitException>(foreign), foreignId);
    }

    /// <summary>
    /// <paramref name="foreign"/> (a call naming <paramref name="foreignId"/>, another tenant's record) answers exactly as
    /// <paramref name="absent"/> (the same call naming <paramref name="absentId"/>, which no tenant has): an equal result, or
    /// the same failure once each id is masked, whichever it is. For calls that filter by a record rather than load it (a
    /// list, a bulk replay), and for input a call may refuse before it looks the record up.
    /// </summary>
    public static async Task SameAsAbsentAsync<T>(Func<Task<T>> foreign, string foreignId, Func<Task<T>> absent, string absentId)
    {
        T expected;
        try
        {
            expected = await absent();
        }
        catch (PaymentsKitException missing)
        {
            AssertSameFailure(missing, absentId, await Assert.ThrowsAsync<PaymentsKitException>(foreign), foreignId);
            return;
        }

        Assert.Equal(expected, await foreign());
    }

    /// <summary>As <see cref="SameAsAbsentAsync{T}(Func{Task{T}}, string, Func{Task{T}}, string)"/> for a call without a result.</summary>
    public static Task SameAsAbsentAsync(Func<Task> foreign, string foreignId, Func<Task> absent, string absentId) =>
        SameAsAbsentAsync(async () => { await foreign(); return true; }, foreignId, async () => { await absent(); return true; }, absentId);

    private static void AssertSameFailure(PaymentsKitException missing, string absentId, PaymentsKitException leaked, string foreignId)
    {
        Assert.Equal(missing.Code, leaked.Code);
        Assert.Equal(Masked(missing.Message, absentId), Masked(leaked.Message, foreignId));
        Assert.Equal(Context(missing, absentId), Context(leaked, foreignId));
        Assert.Equal(missing.IsTransient, leaked.IsTransient);
    }

    private static List<(string Key, string? Value)> Context(PaymentsKitException ex, string id) =>
        [.. ex.Context.Select(c => (c.Key, Masked(Convert.ToString(c.Value, CultureInfo.InvariantCulture), id))).OrderBy(c => c.Key, StringComparer.Ordinal)];

    private static string? Masked(string? text, string id) => text?.Replace(id, "<id>", StringComparison.Ordinal);
}
