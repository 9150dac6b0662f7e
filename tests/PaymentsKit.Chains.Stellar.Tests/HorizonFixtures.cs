namespace PaymentsKit.Chains.Stellar.Tests;

/// <summary>Horizon responses in Horizon's own format (trimmed of links and XDR the adapter does not read).</summary>
internal static class HorizonFixtures
{
    public const string Hash = "3389e9f0f1a65f19736cacf544c2e825313e8447f569233bb8db39aa607c8889";
    public const string FailedHash = "5e2e6fb3e24d37f5e0ff1e1e1a5f3d5bb6fa0b9f6d1c0a5a3f60d1a1b7c99e01";
    public const string Sender = "GA7QYNF7SOWQ3GLR2BGMZEHXAVIRZA4KVWLTJJFC7MGXUA74P7UJVSGZ";
    public const string Recipient = "GB5QPGBUTHET6TVSK3L7NJBKZ4J66CMLEABC5ECPNSBPCOAFCZWJ6KSN";
    public const string MuxedRecipient = "MA7QYNF7SOWQ3GLR2BGMZEHXAVIRZA4KVWLTJJFC7MGXUA74P7UJVAAAAAAAAAAAAAJLK";
    public const string Issuer = "GBAN4AN3QIKSC2QY6CHKA2FBYKW26QORDN6FKWG6GVOIYOT7NBA633GO";
    public const string UnknownIssuer = "GAZER55M26YT7X6IE4PEV5EGGAGNVP5I2DKAN2YUQWU3SOCY644DM6NS";

    public const string Transaction = $$"""
        {
          "_links": {
            "self": { "href": "https://horizon.stellar.org/transactions/{{Hash}}" },
            "ledger": { "href": "https://horizon.stellar.org/ledgers/52429011" }
          },
          "id": "{{Hash}}",
          "paging_token": "225180887203979264",
          "successful": true,
          "hash": "{{Hash}}",
          "ledger": 52429011,
          "created_at": "2024-06-27T10:42:19Z",
          "source_account": "{{Sender}}",
          "source_account_sequence": "172964714779246621",
          "fee_account": "{{Sender}}",
          "fee_charged": "300",
          "max_fee": "100000",
          "operation_count": 3,
          "envelope_xdr": "AAAAAgAAAAA=",
          "result_xdr": "AAAAAAAAASwAAAAAAAAAAQAAAAAAAAABAAAAAAAAAAA=",
          "fee_meta_xdr": "AAAAAgAAAAA=",
          "memo_type": "text",
          "memo": "INV-2024-0042",
          "signatures": [ "q2Fv1tHq0o6H8l3p2Jc1qz0yYk2d3j4J1y5Qk0Xc0JpQ6y9m8Qm5t9Z4c1Zx0l9v2Wf8H3g6Qy0c5Rk3mBqACg==" ],
          "valid_after": "1970-01-01T00:00:00Z",
          "preconditions": { "timebounds": { "min_time": "0" } }
        }
        """;

    public const string Payments = $$"""
        {
          "_links": { "self": { "href": "https://horizon.stellar.org/transactions/{{Hash}}/payments?cursor=&limit=200&order=asc" } },
          "_embedded": {
            "records": [
              {
                "id": "225180887203979265",
                "paging_token": "225180887203979265",
                "transaction_successful": true,
                "source_account": "{{Sender}}",
                "type": "payment",
                "type_i": 1,
                "created_at": "2024-06-27T10:42:19Z",
                "transaction_hash": "{{Hash}}",
                "asset_type": "native",
                "from": "{{Sender}}",
                "to": "{{Recipient}}",
                "amount": "12.5000000"
              },
              {
                "id": "225180887203979266",
                "paging_token": "225180887203979266",
                "transaction_successful": true,
                "source_account": "{{Sender}}",
                "type": "payment",
                "type_i": 1,
                "created_at": "2024-06-27T10:42:19Z",
                "transaction_hash": "{{Hash}}",
                "asset_type": "credit_alphanum4",
                "asset_code": "USDC",
                "asset_issuer": "{{Issuer}}",
                "from": "{{Sender}}",
                "to": "{{Sender}}",
                "to_muxed": "{{MuxedRecipient}}",
                "to_muxed_id": "9223372036854775808",
                "amount": "100.0000000"
              },
              {
                "id": "225180887203979267",
                "paging_token": "225180887203979267",
                "transaction_successful": true,
                "source_account": "{{Sender}}",
                "type": "payment",
                "type_i": 1,
                "created_at": "2024-06-27T10:42:19Z",
                "transaction_hash": "{{Hash}}",
                "asset_type": "credit_alphanum12",
                "asset_code": "UNLISTED",
                "asset_issuer": "{{UnknownIssuer}}",
                "from": "{{Sender}}",
                "to": "{{Recipient}}",
                "amount": "1.0000000"
              },
              {
                "id": "225180887203979268",
                "paging_token": "225180887203979268",
                "transaction_successful": true,
                "source_account": "{{Sender}}",
                "type": "create_account",
                "type_i": 0,
                "created_at": "2024-06-27T10:42:19Z",
                "transaction_hash": "{{Hash}}",
                "starting_balance": "2.0000000",
                "funder": "{{Sender}}",
                "account": "{{UnknownIssuer}}"
              },
              {
                "id": "225180887203979269",
                "paging_token": "225180887203979269",
                "transaction_successful": true,
                "source_account": "{{Sender}}",
                "type": "account_merge",
                "type_i": 8,
                "created_at": "2024-06-27T10:42:19Z",
                "transaction_hash": "{{Hash}}",
                "account": "{{UnknownIssuer}}",
                "into": "{{Sender}}"
              }
            ]
          }
        }
        """;

    public const string FailedTransaction = $$"""
        {
          "id": "{{FailedHash}}",
          "paging_token": "225180887203979520",
          "successful": false,
          "hash": "{{FailedHash}}",
          "ledger": 52429015,
          "created_at": "2024-06-27T10:42:44Z",
          "source_account": "{{Sender}}",
          "fee_account": "{{Sender}}",
          "fee_charged": 100,
          "max_fee": "100",
          "operation_count": 1,
          "memo_type": "none",
          "signatures": []
        }
        """;

    public const string Root = """
        {
          "_links": { "account": { "href": "https://horizon.stellar.org/accounts/{account_id}", "templated": true } },
          "horizon_version": "2.32.0",
          "core_version": "stellar-core 21.1.0",
          "ingest_latest_ledger": 52429020,
          "history_latest_ledger": 52429020,
          "history_latest_ledger_closed_at": "2024-06-27T10:43:20Z",
          "history_elder_ledger": 2,
          "core_latest_ledger": 52429020,
          "network_passphrase": "Public Global Stellar Network ; September 2015",
          "current_protocol_version": 21,
          "supported_protocol_version": 21,
          "core_supported_protocol_version": 21
        }
        """;

    public const string FeeStats = """
        {
          "last_ledger": "52429020",
          "last_ledger_base_fee": "100",
          "ledger_capacity_usage": "0.97",
          "fee_charged": { "max": "20000", "min": "100", "mode": "100", "p10": "100", "p20": "100", "p30": "100", "p40": "100", "p50": "100", "p60": "100", "p70": "100", "p80": "101", "p90": "250", "p95": "1000", "p99": "20000" },
          "max_fee": { "max": "1000000", "min": "100", "mode": "100000", "p10": "100", "p20": "200", "p30": "1000", "p40": "10000", "p50": "100000", "p60": "100000", "p70": "100000", "p80": "100000", "p90": "200000", "p95": "500000", "p99": "1000000" }
        }
        """;

    public const string NotFound = """
        {
          "type": "https://stellar.org/horizon-errors/not_found",
          "title": "Resource Missing",
          "status": 404,
          "detail": "The resource at the url requested was not found.  This usually occurs for one of two reasons:  The url requested is not valid, or no data in our database could be found with the parameters provided."
        }
        """;

    public const string RateLimited = """
        {
          "type": "https://stellar.org/horizon-errors/rate_limit_exceeded",
          "title": "Rate Limit Exceeded",
          "status": 429,
          "detail": "The rate limit for the requesting IP address is over its alloted limit."
        }
        """;

    public const string SubmitTimeout = """
        {
          "type": "https://stellar.org/horizon-errors/timeout",
          "title": "Timeout",
          "status": 504,
          "detail": "Your request timed out before completing.  Please try your request again. If you are submitting a transaction make sure you are sending exactly the same transaction (with the same sequence number)."
        }
        """;

    public static string TransactionFailed(string transactionCode, params string[] operationCodes) => $$"""
        {
          "type": "https://stellar.org/horizon-errors/transaction_failed",
          "title": "Transaction Failed",
          "status": 400,
          "detail": "The transaction failed when submitted to the stellar network. The `extras.result_codes` field on this response contains further details.",
          "extras": {
            "envelope_xdr": "AAAAAgAAAADdfhHDs4Vaug6p8Oxb1QRjNRdJt3pYKKBVhFHrEgd9QAAAAAoAEi4YAAAAAwAAAAEAAAAA",
            "result_codes": {
              "transaction": "{{transactionCode}}"{{(operationCodes.Length > 0 ? ", \"operations\": [" + string.Join(", ", operationCodes.Select(c => "\"" + c + "\"")) + "]" : string.Empty)}}
            },
            "result_xdr": "AAAAAAAAAGT/////AAAAAQAAAAAAAAAB////+wAAAAA="
          }
        }
        """;

    public const string Malformed = """
        {
          "type": "https://stellar.org/horizon-errors/transaction_malformed",
          "title": "Transaction Malformed",
          "status": 400,
          "detail": "Horizon could not decode the transaction envelope in this request.",
          "extras": { "envelope_xdr": "bm90IHhkcg==" }
        }
        """;
}
