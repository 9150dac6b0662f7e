using System.Text.Json;
using PaymentsKit.Json;
using PaymentsKit.Routing;

namespace PaymentsKit.Core.Tests.Primitives;

public sealed class JsonEnumTests
{
    private static readonly JsonSerializerOptions Json = PaymentsKitJson.CreateOptions(new AssetRegistry());

    [Theory]
    [InlineData("""{"priority":1}""")]
    [InlineData("""{"priority":99}""")]
    [InlineData("""{"priority":-1}""")]
    [InlineData("""{"priority":"1"}""")]
    [InlineData("""{"priority":"cheapest"}""")]
    public void An_Enum_Field_Refuses_Integers_As_It_Refuses_An_Unknown_Name(string body)
    {
        var unknownName = Assert.Throws<JsonException>(() => JsonSerializer.Deserialize<Body>("""{"priority":"cheapest"}""", Json));
        var refused = Assert.Throws<JsonException>(() => JsonSerializer.Deserialize<Body>(body, Json));
        Assert.Equal("$.priority", refused.Path);
        Assert.Equal(WithoutPosition(unknownName), WithoutPosition(refused));
    }

    [Fact]
    public void An_Enum_Field_Reads_Its_Snake_Case_Name()
    {
        Assert.Equal(new Body(RoutePriority.Fast), JsonSerializer.Deserialize<Body>("""{"priority":"fast"}""", Json));
        Assert.Equal(new Body(RoutePriority.LowFee), JsonSerializer.Deserialize<Body>("""{"priority":"low_fee"}""", Json));
        Assert.Equal(new Body(null), JsonSerializer.Deserialize<Body>("""{"priority":null}""", Json));
    }

    /// <summary>
    /// Stored records and webhook payloads are written with these options: every value of every enum they can hold
    /// is written as its name, so no stored document holds an integer the options no longer read.
    /// </summary>
    [Fact]
    public void Every_Enum_Value_Is_Written_As_A_String_That_Reads_Back()
    {
        var enums = typeof(PaymentsKitJson).Assembly.GetExportedTypes().Where(t => t.IsEnum).ToList();
        Assert.NotEmpty(enums);
        foreach (var type in enums)
        {
            foreach (var value in Enum.GetValues(type))
            {
                var written = JsonSerializer.Serialize(value, type, Json);
                Assert.True(written.StartsWith('"'), $"{type.Name}.{value} was written as {written}");
                Assert.Equal(value, JsonSerializer.Deserialize(written, type, Json));
            }
        }
    }

    private static string WithoutPosition(JsonException error) => error.Message[..error.Message.IndexOf(" Path:", StringComparison.Ordinal)];

    private sealed record Body(RoutePriority? Priority);
}
