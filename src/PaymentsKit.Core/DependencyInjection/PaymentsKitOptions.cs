namespace PaymentsKit.DependencyInjection;

/// <summary>Options for <c>AddPaymentsKit</c>. Validated when the host starts; every problem is reported at once.</summary>
public sealed class PaymentsKitOptions
{
    /// <summary>Assets the host adds to the built-in ones (see <see cref="AssetRegistry.BuiltIn"/>).</summary>
    public IList<AssetDefinition> Assets { get; } = [];

    /// <summary>The default page size for list operations (1–1000). Default 50.</summary>
    public int DefaultPageSize { get; set; } = 50;

    /// <summary>
    /// The secret API key hashes are keyed with, base64 (at least 32 bytes). Required with a durable
    /// store (<c>UsePostgreSql</c> refuses to start without it): keys issued under one secret do not verify
    /// under another. When null, a random secret is made per process, which suits only the in-memory store.
    /// </summary>
    public string? ApiKeyHashingSecret { get; set; }
}

/// <summary>A host-defined asset, as options carry it.</summary>
public sealed class AssetDefinition
{
    /// <summary>The asset code.</summary>
    public string? Code { get; set; }

    /// <summary>Decimal places, 0–18.</summary>
    public int Scale { get; set; }

    /// <summary>The chain, for an on-chain asset.</summary>
    public string? Chain { get; set; }

    /// <summary>The chain's identifier of the asset.</summary>
    public string? Identifier { get; set; }

    /// <summary>Builds the validated <see cref="Asset"/>.</summary>
    /// <exception cref="PaymentsKitException"><c>invalid_argument</c> naming the bad field.</exception>
    public Asset ToAsset() => Asset.Create(Code!, Scale, Chain is null ? null : ChainId.Of(Chain), Identifier);
}
