using System.Text.Json;
using PaymentsKit.Testing;

namespace PaymentsKit.Chains.Ethereum.Tests;

/// <summary>JSON-RPC results in the shapes go-ethereum returns.</summary>
internal static class EthereumFixtures
{
    public const string EtherHash = "0x88df016429689c079f3b2f6ad39fa052532c56795b733da78a91ebe6a713944b";
    public const string TokenHash = "0x2b9f5c1c7fbf4b7e0b0bb8f9be6f0a0b0f5a2d3c4e5f60718293a4b5c6d7e8f9";
    public const string FailedHash = "0x3c1f5c1c7fbf4b7e0b0bb8f9be6f0a0b0f5a2d3c4e5f60718293a4b5c6d7e8f9";
    public const string PendingHash = "0x4d2f5c1c7fbf4b7e0b0bb8f9be6f0a0b0f5a2d3c4e5f60718293a4b5c6d7e8f9";
    public const string Sender = "0xa7d9ddbe1f17865597fbd27ec712455208b6b76d";
    public const string Recipient = "0xf02c1c8e6114b1dbe8937a39260b5b0a374432bb";
    public const string UsdcContract = "0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48";
    public const string UnknownContract = "0xdac17f958d2ee523a2206206994597c13d831ec7";

    public const string EtherTransaction = $$"""
        {
          "blockHash": "0x1d59ff54b1eb26b013ce3cb5fc9dab3705b415a67127a003c3e61eb445bb8df2",
          "blockNumber": "0x5daf3b",
          "from": "{{Sender}}",
          "gas": "0xc350",
          "gasPrice": "0x4a817c800",
          "hash": "{{EtherHash}}",
          "input": "0x68656c6c6f21",
          "nonce": "0x15",
          "to": "{{Recipient}}",
          "transactionIndex": "0x41",
          "value": "0xf3dbb76162000",
          "type": "0x0",
          "chainId": "0x1",
          "v": "0x25",
          "r": "0x1b5e176d927f8e9ab405058b2d2457392da3e20f328b16ddabcebc33eaac5fea",
          "s": "0x4ba69724e8f69de52f0125ad8b3c5c2cef33019bac3249e2c0a2192766d1721c"
        }
        """;

    public const string EtherReceipt = $$"""
        {
          "blockHash": "0x1d59ff54b1eb26b013ce3cb5fc9dab3705b415a67127a003c3e61eb445bb8df2",
          "blockNumber": "0x5daf3b",
          "contractAddress": null,
          "cumulativeGasUsed": "0x33bc",
          "effectiveGasPrice": "0x4a817c800",
          "from": "{{Sender}}",
          "gasUsed": "0x5208",
          "logs": [],
          "logsBloom": "0x00",
          "status": "0x1",
          "to": "{{Recipient}}",
          "transactionHash": "{{EtherHash}}",
          "transactionIndex": "0x41",
          "type": "0x0"
        }
        """;

    public static string TokenTransaction(string hash, string blockNumber) => $$"""
        {
          "blockHash": "0x2e59ff54b1eb26b013ce3cb5fc9dab3705b415a67127a003c3e61eb445bb8df2",
          "blockNumber": {{blockNumber}},
          "from": "{{Sender}}",
          "gas": "0x186a0",
          "gasPrice": "0x3b9aca00",
          "maxFeePerGas": "0x77359400",
          "maxPriorityFeePerGas": "0x3b9aca00",
          "hash": "{{hash}}",
          "input": "0xa9059cbb000000000000000000000000f02c1c8e6114b1dbe8937a39260b5b0a374432bb00000000000000000000000000000000000000000000000000000000017d7840",
          "nonce": "0x16",
          "to": "{{UsdcContract}}",
          "transactionIndex": "0x3",
          "value": "0x0",
          "type": "0x2",
          "chainId": "0x1"
        }
        """;

    public static string TokenReceipt(string hash, string status) => $$"""
        {
          "blockHash": "0x2e59ff54b1eb26b013ce3cb5fc9dab3705b415a67127a003c3e61eb445bb8df2",
          "blockNumber": "0x5daf40",
          "contractAddress": null,
          "cumulativeGasUsed": "0x1a2b3c",
          "effectiveGasPrice": "0x3b9aca00",
          "from": "{{Sender}}",
          "gasUsed": "0xfde8",
          "logs": [
            {
              "address": "{{UsdcContract}}",
              "topics": [
                "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef",
                "0x000000000000000000000000a7d9ddbe1f17865597fbd27ec712455208b6b76d",
                "0x000000000000000000000000f02c1c8e6114b1dbe8937a39260b5b0a374432bb"
              ],
              "data": "0x00000000000000000000000000000000000000000000000000000000017d7840",
              "blockNumber": "0x5daf40",
              "transactionHash": "{{hash}}",
              "transactionIndex": "0x3",
              "logIndex": "0x7",
              "removed": false
            },
            {
              "address": "{{UnknownContract}}",
              "topics": [
                "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef",
                "0x000000000000000000000000a7d9ddbe1f17865597fbd27ec712455208b6b76d",
                "0x000000000000000000000000f02c1c8e6114b1dbe8937a39260b5b0a374432bb"
              ],
              "data": "0x0000000000000000000000000000000000000000000000000000000000000001",
              "logIndex": "0x8",
              "removed": false
            },
            {
              "address": "{{UsdcContract}}",
              "topics": [
                "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef",
                "0x000000000000000000000000a7d9ddbe1f17865597fbd27ec712455208b6b76d",
                "0x000000000000000000000000f02c1c8e6114b1dbe8937a39260b5b0a374432bb"
              ],
              "data": "0x00000000000000000000000000000000000000000000000000000000000f4240",
              "logIndex": "0x9",
              "removed": true
            },
            {
              "address": "{{UsdcContract}}",
              "topics": [
                "0x8c5be1e5ebec7d5bd14f71427d1e84f3dd0314c0f7b2291e5b200ac8c7c3b925",
                "0x000000000000000000000000a7d9ddbe1f17865597fbd27ec712455208b6b76d",
                "0x000000000000000000000000f02c1c8e6114b1dbe8937a39260b5b0a374432bb"
              ],
              "data": "0x0000000000000000000000000000000000000000000000000000000000000005",
              "logIndex": "0xa",
              "removed": false
            }
          ],
          "logsBloom": "0x00",
          "status": "{{status}}",
          "to": "{{UsdcContract}}",
          "transactionHash": "{{hash}}",
          "transactionIndex": "0x3",
          "type": "0x2"
        }
        """;

    public const string EtherBlockHash = "0x1d59ff54b1eb26b013ce3cb5fc9dab3705b415a67127a003c3e61eb445bb8df2";
    public const string TokenBlockHash = "0x2e59ff54b1eb26b013ce3cb5fc9dab3705b415a67127a003c3e61eb445bb8df2";

    /// <summary>The finalized block the standard node reports: above the ether transfer's block, below the token transfer's.</summary>
    public const string FinalizedNumber = "0x5daf3f";

    public static string BlockAt(string number, string hash, string timestamp) => $$"""
        { "number": "{{number}}", "hash": "{{hash}}", "parentHash": "0x9a1c0e6b2f3d4c5b6a7988776655443322110ffeeddccbbaa99887766554433a", "timestamp": "{{timestamp}}", "transactions": [] }
        """;

    public static readonly string Block = BlockAt("0x5daf3b", EtherBlockHash, "0x55ba467c");

    public static readonly string TokenBlock = BlockAt("0x5daf40", TokenBlockHash, "0x55ba46b8");

    public static string FinalizedBlock(string number) => BlockAt(number, "0x7f3e0c9b5a1d2e4f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7", "0x55ba46ac");

    public const string FeeHistory = """
        {
          "oldestBlock": "0x5daf42",
          "reward": [ ["0x3b9aca00"], ["0x59682f00"], ["0x3b9aca00"], ["0x77359400"], ["0x3b9aca00"] ],
          "baseFeePerGas": [ "0x3b9aca00", "0x3b9aca00", "0x3b9aca00", "0x3b9aca00", "0x3b9aca00", "0x4a817c800" ],
          "gasUsedRatio": [ 0.5, 0.9, 1, 0.6, 5e-1 ]
        }
        """;

    public static JsonRpcAnswer Standard(string method, JsonElement parameters) => method switch
    {
        "eth_getTransactionByHash" => parameters[0].GetString() switch
        {
            EtherHash => JsonRpcAnswer.Result(EtherTransaction),
            TokenHash => JsonRpcAnswer.Result(TokenTransaction(TokenHash, "\"0x5daf40\"")),
            FailedHash => JsonRpcAnswer.Result(TokenTransaction(FailedHash, "\"0x5daf40\"")),
            PendingHash => JsonRpcAnswer.Result(TokenTransaction(PendingHash, "null")),
            _ => JsonRpcAnswer.Result("null"),
        },
        "eth_getTransactionReceipt" => parameters[0].GetString() switch
        {
            EtherHash => JsonRpcAnswer.Result(EtherReceipt),
            TokenHash => JsonRpcAnswer.Result(TokenReceipt(TokenHash, "0x1")),
            FailedHash => JsonRpcAnswer.Result(TokenReceipt(FailedHash, "0x0")),
            _ => JsonRpcAnswer.Result("null"),
        },
        "eth_blockNumber" => JsonRpcAnswer.Result("\"0x5daf46\""),
        "eth_getBlockByNumber" => parameters[0].GetString() switch
        {
            "0x5daf3b" => JsonRpcAnswer.Result(Block),
            "0x5daf40" => JsonRpcAnswer.Result(TokenBlock),
            "finalized" => JsonRpcAnswer.Result(FinalizedBlock(FinalizedNumber)),
            _ => JsonRpcAnswer.Result("null"),
        },
        "eth_feeHistory" => JsonRpcAnswer.Result(FeeHistory),
        "eth_gasPrice" => JsonRpcAnswer.Result("\"0x4a817c800\""),
        _ => JsonRpcAnswer.Error(-32601, "the method " + method + " does not exist/is not available"),
    };
}
