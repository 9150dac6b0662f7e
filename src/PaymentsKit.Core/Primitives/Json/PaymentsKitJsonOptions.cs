using System.Text.Json;

namespace PaymentsKit.Json;

/// <summary>The host's PaymentsKit JSON settings (built from its <see cref="AssetRegistry"/>), as a service.</summary>
/// <param name="Options">Read-only serializer options from <see cref="PaymentsKitJson.CreateOptions"/>.</param>
public sealed record PaymentsKitJsonOptions(JsonSerializerOptions Options);
