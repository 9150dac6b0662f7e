using System.Text.Json;
using PaymentsKit.Testing;
using SimpleBase;

namespace PaymentsKit.Chains.Solana.Tests;

/// <summary>Solana JSON-RPC results in the shapes an Agave validator returns (encoding jsonParsed).</summary>
internal static class SolanaFixtures
{
    public const string Sender = "Ho87cuS3aSRgUMCeMrV7uNCCWx6Fj2ytnufYQ1W7KCLr";
    public const string Recipient = "CSKgzVRhq6PKFUtiEFtWdTYhQTd12ohN3fc6yjxYnwHL";
    public const string SenderUsdcAccount = "4JMhwSEujEZEfMp4X8ZrqYcDNaYy7UFaCXvoSzWQJLQq";
    public const string RecipientUsdcAccount = "9EVd38qiDV6UAmGjkSrdYJRiZNQt2WKVETqLRpGuuHhm";
    public const string UsdcMint = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v";
    public const string UnknownMint = "Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB";

    public static readonly byte[] SignatureBytes = [.. Enumerable.Range(0, 64).Select(i => unchecked((byte)(i * 3 + 1)))];
    public static readonly string Signature = Base58.Bitcoin.Encode(SignatureBytes);
    public static readonly string FailedSignature = Base58.Bitcoin.Encode([.. Enumerable.Range(0, 64).Select(i => unchecked((byte)(i * 5 + 2)))]);
    public static readonly string ProcessedSignature = Base58.Bitcoin.Encode([.. Enumerable.Range(0, 64).Select(i => unchecked((byte)(i * 7 + 3)))]);
    public static readonly string ConfirmedSignature = Base58.Bitcoin.Encode([.. Enumerable.Range(0, 64).Select(i => unchecked((byte)(i * 11 + 4)))]);

    public static string Transaction(string signature, string error) => $$"""
        {
          "blockTime": 1700000000,
          "meta": {
            "computeUnitsConsumed": 12345,
            "err": {{error}},
            "fee": 5000,
            "innerInstructions": [],
            "logMessages": [
              "Program 11111111111111111111111111111111 invoke [1]",
              "Program 11111111111111111111111111111111 success",
              "Program MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr invoke [1]",
              "Program log: Memo (len 8): \"INV-0042\""
            ],
            "postBalances": [1899995000, 200000000, 2039280, 2039280, 2039280, 2039280, 1, 934087680, 521498880],
            "postTokenBalances": [
              { "accountIndex": 2, "mint": "{{UsdcMint}}", "owner": "{{Sender}}", "programId": "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA", "uiTokenAmount": { "amount": "37500000", "decimals": 6, "uiAmount": 37.5, "uiAmountString": "37.5" } },
              { "accountIndex": 3, "mint": "{{UsdcMint}}", "owner": "{{Recipient}}", "programId": "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA", "uiTokenAmount": { "amount": "12500000", "decimals": 6, "uiAmount": 12.5, "uiAmountString": "12.5" } },
              { "accountIndex": 4, "mint": "{{UnknownMint}}", "owner": "{{Sender}}", "programId": "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA", "uiTokenAmount": { "amount": "0", "decimals": 6, "uiAmount": null, "uiAmountString": "0" } },
              { "accountIndex": 5, "mint": "{{UnknownMint}}", "owner": "{{Recipient}}", "programId": "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA", "uiTokenAmount": { "amount": "1000", "decimals": 6, "uiAmount": 0.001, "uiAmountString": "0.001" } }
            ],
            "preBalances": [2000000000, 100000000, 2039280, 2039280, 2039280, 2039280, 1, 934087680, 521498880],
            "preTokenBalances": [
              { "accountIndex": 2, "mint": "{{UsdcMint}}", "owner": "{{Sender}}", "programId": "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA", "uiTokenAmount": { "amount": "50000000", "decimals": 6, "uiAmount": 50.0, "uiAmountString": "50" } },
              { "accountIndex": 3, "mint": "{{UsdcMint}}", "owner": "{{Recipient}}", "programId": "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA", "uiTokenAmount": { "amount": "0", "decimals": 6, "uiAmount": null, "uiAmountString": "0" } },
              { "accountIndex": 4, "mint": "{{UnknownMint}}", "owner": "{{Sender}}", "programId": "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA", "uiTokenAmount": { "amount": "1000", "decimals": 6, "uiAmount": 0.001, "uiAmountString": "0.001" } }
            ],
            "rewards": [],
            "status": { "Ok": null }
          },
          "slot": 230000000,
          "transaction": {
            "message": {
              "accountKeys": [
                { "pubkey": "{{Sender}}", "signer": true, "source": "transaction", "writable": true },
                { "pubkey": "{{Recipient}}", "signer": false, "source": "transaction", "writable": true },
                { "pubkey": "{{SenderUsdcAccount}}", "signer": false, "source": "transaction", "writable": true },
                { "pubkey": "{{RecipientUsdcAccount}}", "signer": false, "source": "transaction", "writable": true },
                { "pubkey": "3Ab2GqmPtuJ4bXbjsPnnHpYvHcXy6wmzHr1KzGh4YVbp", "signer": false, "source": "transaction", "writable": true },
                { "pubkey": "7Np41oeYqPefeNQEHSv1UDhYrehxin3NStELsSKCT4K2", "signer": false, "source": "lookupTable", "writable": true },
                { "pubkey": "11111111111111111111111111111111", "signer": false, "source": "transaction", "writable": false },
                { "pubkey": "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA", "signer": false, "source": "transaction", "writable": false },
                { "pubkey": "MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr", "signer": false, "source": "transaction", "writable": false }
              ],
              "addressTableLookups": [],
              "instructions": [
                { "parsed": { "info": { "destination": "{{Recipient}}", "lamports": 100000000, "source": "{{Sender}}" }, "type": "transfer" }, "program": "system", "programId": "11111111111111111111111111111111", "stackHeight": null },
                { "parsed": { "info": { "authority": "{{Sender}}", "destination": "{{RecipientUsdcAccount}}", "mint": "{{UsdcMint}}", "source": "{{SenderUsdcAccount}}", "tokenAmount": { "amount": "12500000", "decimals": 6, "uiAmount": 12.5, "uiAmountString": "12.5" } }, "type": "transferChecked" }, "program": "spl-token", "programId": "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA", "stackHeight": null },
                { "parsed": "INV-0042", "program": "spl-memo", "programId": "MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr", "stackHeight": null }
              ],
              "recentBlockhash": "EkSnNWid2cvwEVnVx9aBqawnmiCNiDgp3gUdkDPTKN1N"
            },
            "signatures": [ "{{signature}}" ]
          },
          "version": 0
        }
        """;

    public static string Status(string commitment) => $$"""
        { "context": { "apiVersion": "2.0.15", "slot": 230000100 },
          "value": [ { "slot": 230000000, "confirmations": {{(commitment == "finalized" ? "null" : "5")}}, "err": null, "status": { "Ok": null }, "confirmationStatus": "{{commitment}}" } ] }
        """;

    public const string UnknownStatus = """{ "context": { "apiVersion": "2.0.15", "slot": 230000100 }, "value": [ null ] }""";

    public const string PriorityFees = """
        [
          { "slot": 230000027, "prioritizationFee": 0 },
          { "slot": 230000028, "prioritizationFee": 1000 },
          { "slot": 230000029, "prioritizationFee": 5000 },
          { "slot": 230000030, "prioritizationFee": 0 },
          { "slot": 230000031, "prioritizationFee": 20000 }
        ]
        """;

    public static JsonRpcAnswer Standard(string method, JsonElement parameters) => method switch
    {
        "getSignatureStatuses" => parameters[0][0].GetString() switch
        {
            var s when s == Signature => JsonRpcAnswer.Result(Status("finalized")),
            var s when s == FailedSignature => JsonRpcAnswer.Result(Status("finalized")),
            var s when s == ConfirmedSignature => JsonRpcAnswer.Result(Status("confirmed")),
            var s when s == ProcessedSignature => JsonRpcAnswer.Result(Status("processed")),
            _ => JsonRpcAnswer.Result(UnknownStatus),
        },
        "getTransaction" => parameters[0].GetString() switch
        {
            var s when s == Signature || s == ConfirmedSignature => JsonRpcAnswer.Result(Transaction(s!, "null")),
            var s when s == FailedSignature => JsonRpcAnswer.Result(Transaction(s!, "{ \"InstructionError\": [ 1, { \"Custom\": 1 } ] }")),
            _ => JsonRpcAnswer.Result("null"),
        },
        "getSlot" => JsonRpcAnswer.Result("230000031"),
        "getRecentPrioritizationFees" => JsonRpcAnswer.Result(PriorityFees),
        _ => JsonRpcAnswer.Error(-32601, "Method not found"),
    };
}
