namespace PaymentsKit.Chains.Hedera.Tests;

/// <summary>Mirror Node REST responses in the Mirror Node's own format.</summary>
internal static class MirrorNodeFixtures
{
    public const string TransactionId = "0.0.1234-1615422161-673238162";
    public const string FailedId = "0.0.1234-1615422200-000000005";

    public const string Transaction = $$"""
        {
          "transactions": [
            {
              "bytes": null,
              "charged_tx_fee": 84650,
              "consensus_timestamp": "1615422170.123456789",
              "entity_id": null,
              "max_fee": "100000000",
              "memo_base64": "SU5WLTAwNDI=",
              "name": "CRYPTOTRANSFER",
              "nft_transfers": [],
              "node": "0.0.3",
              "nonce": 0,
              "parent_consensus_timestamp": null,
              "result": "SUCCESS",
              "scheduled": false,
              "staking_reward_transfers": [ { "account": "0.0.1234", "amount": 12 } ],
              "token_transfers": [
                { "token_id": "0.0.456858", "account": "0.0.1234", "amount": -2500000, "is_approval": false },
                { "token_id": "0.0.456858", "account": "0.0.5678", "amount": 2500000, "is_approval": false },
                { "token_id": "0.0.999999", "account": "0.0.1234", "amount": -7, "is_approval": false },
                { "token_id": "0.0.999999", "account": "0.0.5678", "amount": 7, "is_approval": false }
              ],
              "transaction_hash": "vigzKe2J7fv4ktHBbNTSzQmKq7Lzdq1/qJ6b/tb/8XlAo3yGuQ+gqd8tV8cDbIr3",
              "transaction_id": "{{TransactionId}}",
              "transfers": [
                { "account": "0.0.3", "amount": 4310, "is_approval": false },
                { "account": "0.0.98", "amount": 80340, "is_approval": false },
                { "account": "0.0.800", "amount": -12, "is_approval": false },
                { "account": "0.0.1234", "amount": -100084638, "is_approval": false },
                { "account": "0.0.5678", "amount": 60000000, "is_approval": false },
                { "account": "0.0.9012", "amount": 40000000, "is_approval": false }
              ],
              "valid_duration_seconds": "120",
              "valid_start_timestamp": "1615422161.673238162"
            },
            {
              "charged_tx_fee": 0,
              "consensus_timestamp": "1615422170.123456790",
              "memo_base64": "",
              "name": "CRYPTOTRANSFER",
              "node": null,
              "nonce": 1,
              "parent_consensus_timestamp": "1615422170.123456789",
              "result": "SUCCESS",
              "scheduled": false,
              "token_transfers": [],
              "transaction_id": "{{TransactionId}}",
              "transfers": [ { "account": "0.0.1234", "amount": -1 }, { "account": "0.0.42", "amount": 1 } ]
            }
          ]
        }
        """;

    public const string FailedTransaction = $$"""
        {
          "transactions": [
            {
              "charged_tx_fee": 84650,
              "consensus_timestamp": "1615422210.000000001",
              "memo_base64": "",
              "name": "CRYPTOTRANSFER",
              "node": "0.0.5",
              "nonce": 0,
              "parent_consensus_timestamp": null,
              "result": "INSUFFICIENT_ACCOUNT_BALANCE",
              "scheduled": false,
              "token_transfers": [],
              "transaction_id": "{{FailedId}}",
              "transfers": [
                { "account": "0.0.5", "amount": 4310 },
                { "account": "0.0.98", "amount": 80340 },
                { "account": "0.0.1234", "amount": -84650 }
              ]
            }
          ]
        }
        """;

    public const string ExchangeRate = """
        {
          "current_rate": { "cent_equivalent": 596987, "expiration_time": 1649689200, "hbar_equivalent": 30000 },
          "next_rate": { "cent_equivalent": 594920, "expiration_time": 1649692800, "hbar_equivalent": 30000 },
          "timestamp": "1649689168.000000000"
        }
        """;

    public const string Blocks = """
        {
          "blocks": [
            {
              "count": 3,
              "gas_used": 0,
              "hapi_version": "0.47.0",
              "hash": "0x3c08bbbee74d287b1dcd3f0ca6d1d2cb92c90883c4acf9747de9f3f3162ad25b999fc7e86699f60f2a3fb3ed9a646c6b",
              "logs_bloom": "0x",
              "name": "2024-03-01T10_00_00.000000000Z.rcd.gz",
              "number": 61234567,
              "previous_hash": "0x00",
              "size": 8192,
              "timestamp": { "from": "1709287200.000000000", "to": "1709287201.999999999" }
            }
          ],
          "links": { "next": "/api/v1/blocks?limit=1&order=desc&block.number=lt:61234567" }
        }
        """;

    public const string NotFound = """{ "_status": { "messages": [ { "message": "Not found" } ] } }""";

    public const string TooManyRequests = """{ "_status": { "messages": [ { "message": "Too many requests" } ] } }""";
}
