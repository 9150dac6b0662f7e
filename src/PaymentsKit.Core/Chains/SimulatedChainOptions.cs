using System.Globalization;
using NodaTime;

namespace PaymentsKit.Chains;

/// <summary>
/// Configures a <see cref="SimulatedChain"/>. Every random choice derives from <see cref="Seed"/>, so
/// the same options and the same calls give the same outcomes.
/// </summary>
public sealed class SimulatedChainOptions
{
    /// <summary>The chain this simulates. Default <c>simulated</c>; <c>AddSimulatedChain</c> sets it.</summary>
    public ChainId Chain { get; set; } = ChainId.Of("simulated");

    /// <summary>Seeds the fault draws and generated hashes. Default 1.</summary>
    public int Seed { get; set; } = 1;

    /// <summary>Clock time between blocks (1 ms – 1 day). Default 5 s.</summary>
    public Duration BlockTime { get; set; } = Duration.FromSeconds(5);

    /// <summary>When block 0 was produced. Default: the clock's time when the chain is created.</summary>
    public Instant? Genesis { get; set; }

    /// <summary>Confirmations (≥ 1) after which a transaction is final. Default 3.</summary>
    public int FinalityConfirmations { get; set; } = 3;

    /// <summary>
    /// The fee asset. Default: the built-in native asset for stellar/ethereum/solana/hedera, otherwise an
    /// asset named after the chain with 7 decimals. Its chain must be this chain or none.
    /// </summary>
    public Asset? NativeAsset { get; set; }

    /// <summary>The fee of one transfer, in <see cref="NativeAsset"/> (≥ 0, within its scale). Default 0.00001.</summary>
    public decimal TransferFee { get; set; } = 0.00001m;

    /// <summary>The longest memo accepted, in UTF-8 bytes (0–1024). Default 64.</summary>
    public int MaxMemoBytes { get; set; } = 64;

    /// <summary>Share (0–1) of RPC calls that fail with a transient <c>chain_unavailable</c>. Default 0.</summary>
    public decimal RpcErrorRate { get; set; }

    /// <summary>
    /// Share (0–1) of accepted broadcasts that are dropped: never included, and unknown to the chain once the block
    /// they would have been in has passed. Default 0.
    /// </summary>
    public decimal DropRate { get; set; }

    /// <summary>Share (0–1) of accepted broadcasts that are included as failed, moving no value. Default 0.</summary>
    public decimal FailRate { get; set; }

    /// <summary>Real time each RPC call waits before answering (≥ 0, ≤ 1 minute); reported as latency. Default 0.</summary>
    public Duration Latency { get; set; } = Duration.Zero;

    /// <summary>Congestion reported by health probes, 0–1. Default 0.</summary>
    public decimal Congestion { get; set; }

    /// <summary>How many recent RPC calls the health probe's error rate and latency cover (1–10000). Default 100.</summary>
    public int HealthWindow { get; set; } = 100;

    /// <summary>Validates and normalises addresses. Default <see cref="AddressCodecs.Simple"/>.</summary>
    public IAddressCodec AddressCodec { get; set; } = AddressCodecs.Simple;

    /// <summary>Classifies health measurements. Default <see cref="ChainHealthThresholds.Default"/>.</summary>
    public ChainHealthThresholds HealthThresholds { get; set; } = ChainHealthThresholds.Default;

    /// <summary>The native asset to use: <see cref="NativeAsset"/> or the chain's default.</summary>
    public Asset ResolveNativeAsset()
    {
        if (NativeAsset is not null)
        {
            return NativeAsset;
        }

        var builtIn = AssetRegistry.BuiltIn.FirstOrDefault(a => a.Chain == Chain && a.Identifier == "native");
        return builtIn ?? Asset.Create(Chain.Value.ToUpperInvariant(), 7, Chain, "native");
    }

    /// <summary>Every problem with these options, each naming the option and its value; empty when valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        void Add(FormattableString message) => errors.Add(message.ToString(CultureInfo.InvariantCulture));

        if (Chain.Value is null)
        {
            Add($"SimulatedChain:Chain is required.");
            return errors;
        }

        if (BlockTime < Duration.FromMilliseconds(1) || BlockTime > Duration.FromDays(1))
        {
            Add($"SimulatedChain:BlockTime must be between 1 ms and 1 day (value: {BlockTime}).");
        }

        if (FinalityConfirmations < 1)
        {
            Add($"SimulatedChain:FinalityConfirmations must be at least 1 (value: {FinalityConfirmations}).");
        }

        if (NativeAsset is { Chain: { } assetChain } && assetChain != Chain)
        {
            Add($"SimulatedChain:NativeAsset {NativeAsset.Code} lives on {assetChain}, not on {Chain}.");
        }

        var native = ResolveNativeAsset();
        if (TransferFee < 0m || decimal.Round(TransferFee, native.Scale, MidpointRounding.ToZero) != TransferFee)
        {
            Add($"SimulatedChain:TransferFee must be zero or positive with at most {native.Scale} decimals of {native.Code} (value: {TransferFee}).");
        }

        if (MaxMemoBytes is < 0 or > 1024)
        {
            Add($"SimulatedChain:MaxMemoBytes must be between 0 and 1024 (value: {MaxMemoBytes}).");
        }

        CheckRate(nameof(RpcErrorRate), RpcErrorRate, errors);
        CheckRate(nameof(DropRate), DropRate, errors);
        CheckRate(nameof(FailRate), FailRate, errors);
        CheckRate(nameof(Congestion), Congestion, errors);
        if (Latency < Duration.Zero || Latency > Duration.FromMinutes(1))
        {
            Add($"SimulatedChain:Latency must be between 0 and 1 minute (value: {Latency}).");
        }

        if (HealthWindow is < 1 or > 10_000)
        {
            Add($"SimulatedChain:HealthWindow must be between 1 and 10000 (value: {HealthWindow}).");
        }

        if (AddressCodec is null)
        {
            Add($"SimulatedChain:AddressCodec is required.");
        }

        if (HealthThresholds is null)
        {
            Add($"SimulatedChain:HealthThresholds is required.");
        }

        return errors;
    }

    private static void CheckRate(string name, decimal value, List<string> errors)
    {
        if (value is < 0m or > 1m)
        {
            errors.Add(string.Create(CultureInfo.InvariantCulture, $"SimulatedChain:{name} must be between 0 and 1 (value: {value})."));
        }
    }
}
