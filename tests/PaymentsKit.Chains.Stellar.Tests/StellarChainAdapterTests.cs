using System.Numerics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using NodaTime;
using PaymentsKit.Chains.Stellar;
using PaymentsKit.Testing;
using static PaymentsKit.Chains.Stellar.Tests.HorizonFixtures;

namespace PaymentsKit.Chains.Stellar.Tests;

public sealed class StellarChainAdapterTests
{
    private static readonly Asset StellarUsdc = Asset.Create("USDC.XLM", 7, ChainId.Stellar, "USDC:" + Issuer);
    private readonly ManualClock _clock = new();

    private StellarChainAdapter Create(params LoopbackHttpServer[] servers) => Create(Duration.FromSeconds(3), servers);

    private StellarChainAdapter Create(Duration timeout, params LoopbackHttpServer[] servers) =>
        new(
            LoopbackAdapterSetup.Options<StellarOptions>(o => (o.RequestTimeout, o.MaxAttempts) = (timeout, 3), servers),
            new HttpClient(),
            LoopbackAdapterSetup.Assets(StellarUsdc),
            _clock,
            NullLogger<StellarChainAdapter>.Instance);

    private StellarChainAdapter OnNetwork(string passphrase, LoopbackHttpServer horizon) =>
        new(
            LoopbackAdapterSetup.Options<StellarOptions>(o => o.NetworkPassphrase = passphrase, horizon),
            new HttpClient(),
            LoopbackAdapterSetup.Assets(StellarUsdc),
            _clock,
            NullLogger<StellarChainAdapter>.Instance);

    private static LoopbackHttpServer Horizon(Dictionary<string, Func<LoopbackRequest, LoopbackResponse>>? extra = null)
    {
        var routes = new Dictionary<string, Func<LoopbackRequest, LoopbackResponse>>
        {
            ["GET /"] = _ => LoopbackResponse.Json(Root),
            ["GET /transactions/" + Hash] = _ => LoopbackResponse.Json(Transaction),
            ["GET /transactions/" + Hash + "/payments"] = _ => LoopbackResponse.Json(Payments),
            ["GET /transactions/" + FailedHash] = _ => LoopbackResponse.Json(FailedTransaction),
            ["GET /fee_stats"] = _ => LoopbackResponse.Json(FeeStats),
        };
        foreach (var (key, value) in extra ?? [])
        {
            routes[key] = value;
        }

        return LoopbackHttpServer.WithRoutes(routes);
    }

    [Fact]
    public async Task A_Fee_Bump_Is_Reported_Under_Its_Own_Hash_Whichever_Hash_Finds_It()
    {
        // Horizon finds a fee bump by its hash or its inner transaction's, and echoes whichever was asked for in "hash".
        // Reported as given, one payment would be two hashes, and could be recorded once under each.
        const string outer = "9b1c0e6b2f3d4c5b6a7988776655443322110ffeeddccbbaa99887766554433a";
        string FeeBump(string asked) => Transaction
            .Replace("\"hash\": \"" + Hash + "\"", "\"hash\": \"" + asked + "\"", StringComparison.Ordinal)
            .Replace(
                "\"memo_type\"",
                "\"fee_bump_transaction\": { \"hash\": \"" + outer + "\", \"signatures\": [] }, \"inner_transaction\": { \"hash\": \"" + Hash + "\", \"max_fee\": \"100\", \"signatures\": [] }, \"memo_type\"",
                StringComparison.Ordinal);
        await using var horizon = Horizon(new()
        {
            ["GET /transactions/" + Hash] = _ => LoopbackResponse.Json(FeeBump(Hash)),
            ["GET /transactions/" + outer] = _ => LoopbackResponse.Json(FeeBump(outer)),
            ["GET /transactions/" + outer + "/payments"] = _ => LoopbackResponse.Json(Payments),
        });
        var adapter = Create(horizon);
        var byInner = await adapter.GetTransactionAsync(Hash);
        var byOuter = await adapter.GetTransactionAsync(outer);
        Assert.Equal(outer, byInner!.Hash);
        Assert.Equal(outer, byOuter!.Hash);
        Assert.Equal(byOuter.Transfers, byInner.Transfers);

        // Its operations are asked for under that hash too: the transaction's own, which Horizon files them under.
        Assert.DoesNotContain(horizon.Requests, r => r.Path.StartsWith("/transactions/" + Hash + "/payments", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Reads_A_Transaction_With_Its_Payments_And_Memo()
    {
        await using var horizon = Horizon();
        var adapter = Create(horizon);
        var tx = await adapter.GetTransactionAsync(Hash.ToUpperInvariant());

        Assert.NotNull(tx);
        Assert.Equal(Hash, tx.Hash);
        Assert.Equal(ChainId.Stellar, tx.Chain);
        Assert.Equal(ChainTransactionStatus.Succeeded, tx.Status);
        Assert.Equal(10, tx.Confirmations); // 52429020 - 52429011 + 1
        Assert.True(tx.IsFinal);
        Assert.Equal("INV-2024-0042", tx.Memo);
        Assert.Equal(Money.Of(0.00003m, AssetRegistry.Xlm), tx.Fee);
        Assert.Equal(Instant.FromUtc(2024, 6, 27, 10, 42, 19), tx.Timestamp);
        Assert.Equal(
            [
                new ChainTransfer(Money.Of(12.5m, AssetRegistry.Xlm), Sender, Recipient),
                new ChainTransfer(Money.Of(100m, StellarUsdc), Sender, MuxedRecipient),
                new ChainTransfer(Money.Of(2m, AssetRegistry.Xlm), Sender, UnknownIssuer),
            ],
            tx.Transfers);
        Assert.Contains(horizon.Requests, r => r.Path == "/transactions/" + Hash + "/payments?limit=200");
    }

    [Fact]
    public async Task A_Failed_Transaction_Moves_Nothing_And_Its_Payments_Are_Not_Read()
    {
        await using var horizon = Horizon();
        var tx = await Create(horizon).GetTransactionAsync(FailedHash);
        Assert.Equal(ChainTransactionStatus.Failed, tx!.Status);
        Assert.Empty(tx.Transfers);
        Assert.Null(tx.Memo);
        Assert.Equal(Money.Of(0.00001m, AssetRegistry.Xlm), tx.Fee);
        Assert.Equal(6, tx.Confirmations);
        Assert.DoesNotContain(horizon.Requests, r => r.Path.Contains("/payments", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_Payment_Finer_Than_Its_Assets_Registered_Scale_Is_Left_Out_And_Logged_And_The_Rest_Is_Read_Exactly()
    {
        // USDC registered in cents; one operation of the transaction moves 1.0000001 USDC, which no amount of the asset
        // can hold. Rounding it would credit what was not paid; failing the whole read would hide the 100 USDC beside it.
        var cents = Asset.Create("USDC.XLM", 2, ChainId.Stellar, "USDC:" + Issuer);
        var payments = Payments.Replace("\"asset_code\": \"UNLISTED\"", "\"asset_code\": \"USDC\"", StringComparison.Ordinal)
            .Replace("\"asset_issuer\": \"" + UnknownIssuer + "\"", "\"asset_issuer\": \"" + Issuer + "\"", StringComparison.Ordinal)
            .Replace("\"amount\": \"1.0000000\"", "\"amount\": \"1.0000001\"", StringComparison.Ordinal);
        await using var horizon = Horizon(new() { ["GET /transactions/" + Hash + "/payments"] = _ => LoopbackResponse.Json(payments) });
        using var logs = new RecordingLoggerFactory();
        var adapter = new StellarChainAdapter(
            LoopbackAdapterSetup.Options<StellarOptions>(null, horizon),
            new HttpClient(),
            LoopbackAdapterSetup.Assets(cents),
            _clock,
            logs.CreateLogger<StellarChainAdapter>());

        var tx = await adapter.GetTransactionAsync(Hash);

        Assert.Equal(
            [
                new ChainTransfer(Money.Of(12.5m, AssetRegistry.Xlm), Sender, Recipient),
                new ChainTransfer(Money.Of(100m, cents), Sender, MuxedRecipient),
                new ChainTransfer(Money.Of(2m, AssetRegistry.Xlm), Sender, UnknownIssuer),
            ],
            tx!.Transfers);
        var warning = Assert.Single(logs.Entries, e => e.EventId.Id == 1102);
        Assert.Equal(LogLevel.Warning, warning.Level);
        Assert.Equal(1.0000001m, warning.Fields["Amount"]);
        Assert.Equal(Hash, warning.Fields["Transaction"]);
        Assert.Equal(Recipient, warning.Fields["To"]);
    }

    [Fact]
    public async Task Unknown_Transaction_Is_Null()
    {
        await using var horizon = Horizon();
        Assert.Null(await Create(horizon).GetTransactionAsync(new string('a', 64)));
    }

    [Fact]
    public async Task A_Transaction_One_Horizon_Does_Not_Know_Yet_Is_Asked_Of_The_Others()
    {
        // A Horizon that lags behind the network answers 404 for a transaction already in a ledger; taking that for
        // "unknown" would let the router replace a payment that went through.
        await using var lagging = LoopbackHttpServer.WithRoutes(new Dictionary<string, Func<LoopbackRequest, LoopbackResponse>>
        {
            ["GET /"] = _ => LoopbackResponse.Json(Root),
        });
        await using var current = Horizon();
        var adapter = Create(lagging, current);

        var transaction = await adapter.GetTransactionAsync(Hash);
        Assert.Equal(Hash, transaction!.Hash);
        Assert.Single(lagging.Requests, r => r.Path == "/transactions/" + Hash);
    }

    [Fact]
    public async Task A_Transaction_Is_Unknown_Once_Every_Horizon_Has_Said_So_Each_Asked_Once()
    {
        await using var first = Horizon();
        await using var second = Horizon();
        var unknown = new string('a', 64);
        Assert.Null(await Create(first, second).GetTransactionAsync(unknown));
        Assert.Single(first.Requests);
        Assert.Single(second.Requests);
    }

    [Fact]
    public async Task A_Transaction_One_Horizon_Does_Not_Know_While_Another_Is_Down_Is_Transient_Not_Unknown()
    {
        // The Horizon that answers 404 may lag behind the one that is down; "unknown" would let the router replace a
        // payment that went through.
        await using var lagging = LoopbackHttpServer.WithRoutes(new Dictionary<string, Func<LoopbackRequest, LoopbackResponse>>
        {
            ["GET /"] = _ => LoopbackResponse.Json(Root),
        });
        await using var down = new LoopbackHttpServer(_ => LoopbackResponse.WithStatus(503));
        var error = await Assert.ThrowsAsync<PaymentsKitException>(() => Create(lagging, down).GetTransactionAsync(Hash).AsTask());
        Assert.Equal(PaymentsKitErrorCodes.ChainUnavailable, error.Code);
        Assert.True(error.IsTransient);
        Assert.Single(lagging.Requests);
    }

    [Fact]
    public async Task A_Single_Horizon_Saying_Not_Found_Is_Asked_Once()
    {
        await using var horizon = Horizon();
        Assert.Null(await Create(horizon).GetTransactionAsync(new string('a', 64)));
        Assert.Single(horizon.Requests);
    }

    [Theory]
    [InlineData("abc")]
    [InlineData("zz89e9f0f1a65f19736cacf544c2e825313e8447f569233bb8db39aa607c8889")]
    [InlineData("")]
    public async Task Malformed_Hash_Is_Invalid_Argument(string hash)
    {
        await using var horizon = Horizon();
        var error = await Assert.ThrowsAsync<PaymentsKitException>(() => Create(horizon).GetTransactionAsync(hash).AsTask());
        Assert.Equal(PaymentsKitErrorCodes.InvalidArgument, error.Code);
        Assert.Empty(horizon.Requests);
    }

    [Fact]
    public async Task A_Retry_After_Date_Without_A_Date_Header_Is_Read_Against_The_Injected_Clock()
    {
        var throttled = 0;
        await using var horizon = Horizon(new()
        {
            ["GET /fee_stats"] = _ => Interlocked.Increment(ref throttled) == 1
                ? new LoopbackResponse(429, "{}", Headers: new Dictionary<string, string> { ["Retry-After"] = "Thu, 01 Jan 2026 00:00:30 GMT" })
                : LoopbackResponse.Json(FeeStats),
        });
        _clock.Set(Instant.FromUtc(2026, 1, 1, 0, 0));
        var adapter = new StellarChainAdapter(
            LoopbackAdapterSetup.Options<StellarOptions>(o => o.MaxRetryDelay = Duration.FromMilliseconds(150), horizon),
            new HttpClient(),
            LoopbackAdapterSetup.Assets(StellarUsdc),
            _clock,
            NullLogger<StellarChainAdapter>.Instance);
        var watch = System.Diagnostics.Stopwatch.StartNew();
        await adapter.EstimateFeeAsync(AssetRegistry.Xlm);
        Assert.InRange(watch.ElapsedMilliseconds, 140, 5_000);
        Assert.Equal(2, horizon.Requests.Count);
    }

    [Fact]
    public async Task Rate_Limited_Endpoint_Fails_Over_To_The_Next_And_Stays_There()
    {
        await using var limited = LoopbackHttpServer.WithRoutes(new Dictionary<string, Func<LoopbackRequest, LoopbackResponse>>
        {
            ["GET /fee_stats"] = _ => new LoopbackResponse(429, RateLimited, Headers: new Dictionary<string, string> { ["Retry-After"] = "1" }),
        });
        await using var healthy = Horizon();
        var adapter = Create(limited, healthy);

        var estimate = await adapter.EstimateFeeAsync(AssetRegistry.Xlm);
        Assert.Equal(Money.Of(0.000025m, AssetRegistry.Xlm), estimate.Fee);
        Assert.Single(limited.Requests);

        await adapter.EstimateFeeAsync(StellarUsdc);
        Assert.Single(limited.Requests); // the healthy endpoint is now preferred
        Assert.Equal(2, healthy.Requests.Count);
    }

    [Fact]
    public async Task Malformed_Response_Fails_Over()
    {
        await using var broken = LoopbackHttpServer.WithRoutes(new Dictionary<string, Func<LoopbackRequest, LoopbackResponse>>
        {
            ["GET /transactions/" + Hash] = _ => LoopbackResponse.Json("{\"successful\": tru"),
        });
        await using var healthy = Horizon();
        var tx = await Create(broken, healthy).GetTransactionAsync(Hash);
        Assert.Equal(ChainTransactionStatus.Succeeded, tx!.Status);
        Assert.Single(broken.Requests);
    }

    [Fact]
    public async Task Response_Missing_Fields_Fails_Over()
    {
        await using var broken = LoopbackHttpServer.WithRoutes(new Dictionary<string, Func<LoopbackRequest, LoopbackResponse>>
        {
            ["GET /fee_stats"] = _ => LoopbackResponse.Json("{\"last_ledger\": \"1\"}"),
        });
        await using var healthy = Horizon();
        var sample = await Create(broken, healthy).ProbeHealthAsync();
        Assert.Equal(52429020, sample.LatestBlock);
    }

    [Fact]
    public async Task Every_Endpoint_Failing_Is_Transient_Chain_Unavailable()
    {
        await using var down = LoopbackHttpServer.WithRoutes(new Dictionary<string, Func<LoopbackRequest, LoopbackResponse>>
        {
            ["GET /transactions/" + Hash] = _ => LoopbackResponse.WithStatus(503, "{\"status\":503}"),
        });
        await using var dropping = new LoopbackHttpServer(_ => LoopbackResponse.Drop());
        var error = await Assert.ThrowsAsync<PaymentsKitException>(() => Create(down, dropping).GetTransactionAsync(Hash).AsTask());
        Assert.Equal(PaymentsKitErrorCodes.ChainUnavailable, error.Code);
        Assert.True(error.IsTransient);
        Assert.Equal(2, down.Requests.Count); // attempts 1 and 3
        Assert.NotEmpty(dropping.Requests);
        Assert.DoesNotContain(down.BaseAddress.AbsolutePath + "transactions", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Slow_Endpoint_Times_Out_And_Fails_Over()
    {
        await using var slow = new LoopbackHttpServer(_ => new LoopbackResponse(200, FeeStats, Delay: TimeSpan.FromSeconds(5)));
        await using var healthy = Horizon();
        var fee = await Create(Duration.FromMilliseconds(300), slow, healthy).EstimateFeeAsync(AssetRegistry.Xlm);
        Assert.Equal(Money.Of(0.000025m, AssetRegistry.Xlm), fee.Fee);
    }

    [Fact]
    public async Task Fee_Estimate_Rejects_Assets_Of_Other_Chains()
    {
        await using var horizon = Horizon();
        var error = await Assert.ThrowsAsync<PaymentsKitException>(() => Create(horizon).EstimateFeeAsync(AssetRegistry.Eth).AsTask());
        Assert.Equal(PaymentsKitErrorCodes.InvalidArgument, error.Code);
    }

    [Fact]
    public async Task Health_Reports_Ledger_Fee_Congestion_And_Errors()
    {
        await using var limited = new LoopbackHttpServer(_ => LoopbackResponse.WithStatus(429, RateLimited));
        await using var healthy = Horizon();
        var adapter = Create(limited, healthy);
        var sample = await adapter.ProbeHealthAsync();
        Assert.Equal(ChainId.Stellar, sample.Chain);
        Assert.Equal(52429020, sample.LatestBlock);
        Assert.Equal(0.97m, sample.Congestion);
        Assert.Equal(Money.Of(0.000025m, AssetRegistry.Xlm), sample.FeeEstimate);
        Assert.Equal(0.5m, sample.RpcErrorRate);
        Assert.Equal(ChainHealthStatus.Unhealthy, sample.Status); // half the calls failed
        Assert.Equal(_clock.GetCurrentInstant(), sample.MeasuredAt);
        Assert.Equal(Duration.FromSeconds(6), sample.ConfirmationTime);
        Assert.True(sample.P95Latency > Duration.Zero);

        for (var i = 0; i < 20; i++)
        {
            await adapter.ProbeHealthAsync();
        }

        var later = await adapter.ProbeHealthAsync();
        Assert.Equal(1m / 23m, later.RpcErrorRate);
        Assert.Equal(ChainHealthStatus.Degraded, later.Status); // congestion 0.97
    }

    [Fact]
    public async Task Health_Probe_Of_An_Unreachable_Chain_Is_Unhealthy_Not_An_Exception()
    {
        await using var down = new LoopbackHttpServer(_ => LoopbackResponse.WithStatus(500));
        var sample = await Create(down).ProbeHealthAsync();
        Assert.Equal(ChainHealthStatus.Unhealthy, sample.Status);
        Assert.Equal(1m, sample.RpcErrorRate);
    }

    [Fact]
    public async Task Unreachable_Probe_Keeps_The_Last_Seen_Ledger_And_Fee()
    {
        var down = false;
        await using var horizon = new LoopbackHttpServer(_ => Volatile.Read(ref down) ? LoopbackResponse.WithStatus(503) : LoopbackResponse.Json(FeeStats));
        var adapter = Create(horizon);
        Assert.Equal(ChainHealthStatus.Degraded, (await adapter.ProbeHealthAsync()).Status);
        Volatile.Write(ref down, true);
        var sample = await adapter.ProbeHealthAsync();
        Assert.Equal(ChainHealthStatus.Unhealthy, sample.Status);
        Assert.Equal(52429020, sample.LatestBlock);
        Assert.Equal(Money.Of(0.000025m, AssetRegistry.Xlm), sample.FeeEstimate);
        Assert.Equal(0.75m, sample.RpcErrorRate); // 3 failed attempts after 1 success
    }

    /// <summary>A signed v0 envelope and its public-network hash, from stellar/js-stellar-base's tests (transaction_envelope_test).</summary>
    private const string V0Envelope =
        "AAAAAAtjwtJadppTmm0NtAU99BFxXXfzPO1N/SqR43Z8aXqXAAAAZAAIj6YAAAACAAAAAAAAAAEAAAAB0QAAAAAAAAEAAAAAAAAAAQAAAADLa6390PDAqg3qDLpshQxS+uVw3ytSgKRirQcInPWt1QAAAAAAAAAAA1Z+AAAAAAAAAAABfGl6lwAAAEBC655+8Izq54MIZrXTVF/E1ycHgQWpVcBD+LFkuOjjJd995u/7wM8sFqQqambL0/ME2FTOtxMO65B9i3eAIu4P";

    private const string V0EnvelopeHash = "a84d534b3742ad89413bdbf259e02fa4c5d039123769e9bcc63616f723a2bcd5";

    [Fact]
    public async Task A_Signed_Envelopes_Hash_Is_Known_Before_Broadcast_On_The_Configured_Network()
    {
        await using var horizon = Horizon();
        IChainAdapter adapter = OnNetwork(StellarOptions.PublicNetworkPassphrase, horizon);
        var v0 = Convert.FromBase64String(V0Envelope);
        Assert.Equal(V0EnvelopeHash, adapter.TransactionHashOf(v0));
        Assert.Equal(V0EnvelopeHash, adapter.NormalizeTransactionHash(V0EnvelopeHash.ToUpperInvariant()));

        // A v0 envelope is hashed as the v1 transaction it stands for (its source an ed25519 muxed account), so the v1
        // envelope of the same transaction has the same hash.
        byte[] v1 = [0, 0, 0, 2, 0, 0, 0, 0, .. v0.AsSpan(4)];
        Assert.Equal(V0EnvelopeHash, adapter.TransactionHashOf(v1));

        foreach (var payload in new[] { [], [0, 0, 0, 2, 1, 2, 3, 250], v0.AsSpan(0, v0.Length - 4).ToArray(), [0, 0, 0, 7, .. v0.AsSpan(4)] })
        {
            Assert.Null(adapter.TransactionHashOf(payload));
        }

        Assert.Empty(horizon.Requests);

        IChainAdapter testnet = OnNetwork(StellarOptions.TestnetNetworkPassphrase, horizon);
        Assert.NotEqual(V0EnvelopeHash, testnet.TransactionHashOf(v0));
    }

    [Fact]
    public async Task Without_A_Configured_Network_The_Hash_Is_Known_Once_Horizon_Has_Named_Its_Network()
    {
        await using var horizon = Horizon();
        var adapter = Create(horizon);
        var v0 = Convert.FromBase64String(V0Envelope);
        Assert.Null(((IChainAdapter)adapter).TransactionHashOf(v0));

        // Horizon's root, read with every transaction, names the network.
        await adapter.GetTransactionAsync(Hash);
        Assert.Equal(V0EnvelopeHash, ((IChainAdapter)adapter).TransactionHashOf(v0));
    }

    private StellarChainAdapter WithEndpoints(string? passphrase, params string[] endpoints)
    {
        var options = new StellarOptions { NetworkPassphrase = passphrase };
        foreach (var endpoint in endpoints)
        {
            options.Endpoints.Add(new Uri(endpoint));
        }

        return new StellarChainAdapter(options, new HttpClient(), LoopbackAdapterSetup.Assets(StellarUsdc), _clock, NullLogger<StellarChainAdapter>.Instance);
    }

    [Theory]
    [InlineData(StellarOptions.PublicNetworkPassphrase, "https://horizon.stellar.org/")]
    [InlineData(StellarOptions.PublicNetworkPassphrase, "https://HORIZON.stellar.org/", "http://horizon.stellar.org:443/api/")]
    [InlineData(StellarOptions.TestnetNetworkPassphrase, "https://horizon-testnet.stellar.org/")]
    public void Only_SDF_Hosts_Of_One_Network_Name_The_Network_Before_Any_Read(string network, params string[] endpoints)
    {
        var v0 = Convert.FromBase64String(V0Envelope);
        var expected = ((IChainAdapter)WithEndpoints(network, "https://my-horizon.example/")).TransactionHashOf(v0);
        Assert.NotNull(expected);

        Assert.Equal(expected, ((IChainAdapter)WithEndpoints(null, endpoints)).TransactionHashOf(v0));
    }

    [Theory]
    [InlineData("https://my-horizon.example/")]
    [InlineData("https://horizon.stellar.org/", "https://my-horizon.example/")]
    [InlineData("https://horizon.stellar.org/", "https://horizon-testnet.stellar.org/")]
    [InlineData("https://horizon-futurenet.stellar.org/")]
    [InlineData("https://horizon.stellar.org.example/")]
    public void Other_Hosts_Or_Mixed_Endpoints_Name_No_Network(params string[] endpoints) =>
        Assert.Null(((IChainAdapter)WithEndpoints(null, endpoints)).TransactionHashOf(Convert.FromBase64String(V0Envelope)));

    [Fact]
    public async Task A_Configured_Network_Wins_Over_Horizons_Root()
    {
        await using var horizon = Horizon(); // its root names the public network
        var adapter = OnNetwork(StellarOptions.TestnetNetworkPassphrase, horizon);
        var v0 = Convert.FromBase64String(V0Envelope);
        var testnetHash = ((IChainAdapter)adapter).TransactionHashOf(v0);

        await adapter.GetTransactionAsync(Hash);
        Assert.Equal(testnetHash, ((IChainAdapter)adapter).TransactionHashOf(v0));
        Assert.NotEqual(V0EnvelopeHash, testnetHash);
    }

    [Fact]
    public void A_Configured_Network_That_Is_Not_An_SDF_Hosts_Is_Rejected_With_The_Other_Problems()
    {
        var options = new StellarOptions { NetworkPassphrase = StellarOptions.TestnetNetworkPassphrase, MaxAttempts = 0 };
        options.Endpoints.Add(new Uri("https://my-horizon.example/"));
        options.Endpoints.Add(StellarOptions.PublicHorizon);
        var errors = options.Validate("Stellar");
        Assert.Equal(2, errors.Count);
        Assert.Contains("Stellar:MaxAttempts", errors[0], StringComparison.Ordinal);
        Assert.Contains("Stellar:NetworkPassphrase", errors[1], StringComparison.Ordinal);
        Assert.Contains("Stellar:Endpoints[1]", errors[1], StringComparison.Ordinal);
        Assert.Contains(StellarOptions.PublicNetworkPassphrase, errors[1], StringComparison.Ordinal);

        var error = Assert.Throws<PaymentsKitException>(() =>
            new StellarChainAdapter(options, new HttpClient(), new AssetRegistry(), _clock, NullLogger<StellarChainAdapter>.Instance));
        Assert.Contains("Stellar:NetworkPassphrase", error.Message, StringComparison.Ordinal);

        options.MaxAttempts = 3;
        options.NetworkPassphrase = StellarOptions.PublicNetworkPassphrase;
        Assert.Empty(options.Validate("Stellar"));
    }

    [Fact]
    public async Task Broadcast_Posts_The_Envelope_As_A_Form_And_Returns_The_Hash()
    {
        byte[] envelope = [0, 0, 0, 2, 1, 2, 3, 250];
        await using var horizon = Horizon(new() { ["POST /transactions"] = _ => LoopbackResponse.Json(Transaction) });
        var result = await Create(horizon).BroadcastAsync(new SignedTransaction(ChainId.Stellar, envelope, null));
        Assert.Equal(new BroadcastResult(Hash, AlreadyKnown: false), result);
        var post = Assert.Single(horizon.Requests, r => r.Method == "POST");
        Assert.Equal("application/x-www-form-urlencoded", post.Headers["content-type"]);
        Assert.Equal("tx=" + Uri.EscapeDataString(Convert.ToBase64String(envelope)), post.Body);
    }

    [Fact]
    public async Task Rebroadcast_Of_A_Known_Transaction_Is_Already_Known_Without_Resubmitting()
    {
        await using var horizon = Horizon(new() { ["POST /transactions"] = _ => LoopbackResponse.Json(Transaction) });
        var result = await Create(horizon).BroadcastAsync(new SignedTransaction(ChainId.Stellar, new byte[] { 1 }, Hash));
        Assert.Equal(new BroadcastResult(Hash, AlreadyKnown: true), result);
        Assert.DoesNotContain(horizon.Requests, r => r.Method == "POST");
    }

    [Fact]
    public async Task Submission_Timeout_Is_Retried_On_Another_Endpoint()
    {
        await using var timingOut = new LoopbackHttpServer(_ => LoopbackResponse.WithStatus(504, SubmitTimeout));
        await using var horizon = Horizon(new() { ["POST /transactions"] = _ => LoopbackResponse.Json(Transaction) });
        var result = await Create(timingOut, horizon).BroadcastAsync(new SignedTransaction(ChainId.Stellar, new byte[] { 1 }, null));
        Assert.Equal(Hash, result.Hash);
    }

    [Theory]
    [InlineData("tx_failed", false, "op_underfunded")]
    [InlineData("tx_bad_seq", false)]
    [InlineData("tx_bad_auth", false)]
    [InlineData("tx_insufficient_fee", true)]
    [InlineData("tx_too_early", true)]
    public async Task Rejections_Carry_Result_Codes_And_Their_Transience(string code, bool transient, params string[] operations)
    {
        await using var horizon = Horizon(new() { ["POST /transactions"] = _ => LoopbackResponse.WithStatus(400, TransactionFailed(code, operations)) });
        var error = await Assert.ThrowsAsync<PaymentsKitException>(() =>
            Create(horizon).BroadcastAsync(new SignedTransaction(ChainId.Stellar, new byte[] { 1 }, null)).AsTask());
        Assert.Equal(PaymentsKitErrorCodes.TransactionRejected, error.Code);
        Assert.Equal(transient, error.IsTransient);
        Assert.Contains(code, error.Message, StringComparison.Ordinal);
        foreach (var operation in operations)
        {
            Assert.Contains(operation, error.Message, StringComparison.Ordinal);
        }

        Assert.Single(horizon.Requests, r => r.Method == "POST"); // a rejection is not retried
    }

    [Fact]
    public async Task Malformed_Envelope_Is_A_Permanent_Rejection()
    {
        await using var horizon = Horizon(new() { ["POST /transactions"] = _ => LoopbackResponse.WithStatus(400, Malformed) });
        var error = await Assert.ThrowsAsync<PaymentsKitException>(() =>
            Create(horizon).BroadcastAsync(new SignedTransaction(ChainId.Stellar, new byte[] { 1 }, null)).AsTask());
        Assert.Equal(PaymentsKitErrorCodes.TransactionRejected, error.Code);
        Assert.False(error.IsTransient);
        Assert.Contains("Transaction Malformed", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Broadcast_Rejects_Other_Chains_And_Empty_Payloads_Locally()
    {
        await using var horizon = Horizon();
        var adapter = Create(horizon);
        Assert.Equal(PaymentsKitErrorCodes.TransactionRejected, (await Assert.ThrowsAsync<PaymentsKitException>(() =>
            adapter.BroadcastAsync(new SignedTransaction(ChainId.Solana, new byte[] { 1 }, null)).AsTask())).Code);
        Assert.Equal(PaymentsKitErrorCodes.TransactionRejected, (await Assert.ThrowsAsync<PaymentsKitException>(() =>
            adapter.BroadcastAsync(new SignedTransaction(ChainId.Stellar, ReadOnlyMemory<byte>.Empty, null)).AsTask())).Code);
        Assert.Empty(horizon.Requests);
    }

    [Fact]
    public async Task Addresses_And_Units()
    {
        await using var horizon = Horizon();
        var adapter = Create(horizon);
        Assert.Equal(new ChainAddress(ChainId.Stellar, Sender), adapter.ParseAddress(Sender));
        Assert.True(adapter.TryParseAddress(MuxedRecipient, out _));
        Assert.Equal(PaymentsKitErrorCodes.InvalidAddress, Assert.Throws<PaymentsKitException>(() => adapter.ParseAddress("GABC")).Code);
        Assert.Equal(new BigInteger(125_000_000), adapter.ToBaseUnits(Money.Of(12.5m, AssetRegistry.Xlm)));
        Assert.Equal(Money.Of(0.0000001m, AssetRegistry.Xlm), adapter.FromBaseUnits(BigInteger.One, AssetRegistry.Xlm));
        Assert.Equal(PaymentsKitErrorCodes.InvalidArgument, Assert.Throws<PaymentsKitException>(() => adapter.ToBaseUnits(Money.Of(1m, AssetRegistry.Eth))).Code);
        Assert.Equal(PaymentsKitErrorCodes.ArithmeticOverflow, Assert.Throws<PaymentsKitException>(() => adapter.FromBaseUnits(BigInteger.Pow(10, 30), AssetRegistry.Xlm)).Code);
    }

    [Fact]
    public void Invalid_Options_Are_Rejected_With_Every_Problem()
    {
        var options = new StellarOptions { MaxAttempts = 0, LedgerTime = Duration.Zero, RequestTimeout = Duration.FromMinutes(10) };
        options.Endpoints.Add(new Uri("ftp://horizon.example/"));
        var error = Assert.Throws<PaymentsKitException>(() =>
            new StellarChainAdapter(options, new HttpClient(), new AssetRegistry(), _clock, NullLogger<StellarChainAdapter>.Instance));
        Assert.Equal(PaymentsKitErrorCodes.InvalidArgument, error.Code);
        foreach (var name in new[] { "Stellar:Endpoints[0]", "Stellar:MaxAttempts", "Stellar:LedgerTime", "Stellar:RequestTimeout" })
        {
            Assert.Contains(name, error.Message, StringComparison.Ordinal);
        }

        Assert.Contains("Stellar:Endpoints must list", string.Join(" ", new StellarOptions().Validate("Stellar")), StringComparison.Ordinal);
    }
}
