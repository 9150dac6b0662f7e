-- The ledger tables' rules and indexes, cheaper per statement (decision 0021). Every rule stays, with the same values.
-- - PostgreSQL reads back (stringToNode), plans and compiles every CHECK of a table each time a statement starts writing
--   to it, and the ledger batch's one write statement writes four tables per call: about a tenth of the server's time in
--   the ledger scenario, half of it reading the stored expressions. A domain's CHECK is read and planned once per
--   backend (type cache) and only compiled per statement. So every single-column rule becomes a domain, and each
--   table's rules over several columns become one CHECK. Seed 001's ledger_entries type CHECK stays as it is.
-- - ledger_transfers_pending_idx served no query (pending transfers are found by id, their timeouts through the
--   deadline records), and because it named state, every resolution's update of a transfer was a non-HOT update with
--   a new entry in each of the table's indexes. Without it a resolution's update is HOT (measured: 96 % of them with
--   the default fillfactor, page pruning makes the room) and writes no index entry for its transfer.
-- The views over the tables name columns whose type changes; they are dropped and made again as they were (their
-- columns keep their types), with their INSTEAD OF triggers.
DROP VIEW treasury_wallets;
DROP VIEW ledger_account_records;
DROP VIEW ledger_transaction_records;
DROP VIEW ledger_transfer_records;
DROP VIEW ledger_entry_records;

CREATE DOMAIN paymentskit_ledger_side AS text
    CONSTRAINT paymentskit_ledger_side_check CHECK (VALUE IN ('debit', 'credit'));
CREATE DOMAIN paymentskit_ledger_entry_type AS text
    CONSTRAINT paymentskit_ledger_entry_type_check CHECK (VALUE IN ('reserve', 'debit', 'fee', 'release', 'refund'));
CREATE DOMAIN paymentskit_ledger_transaction_kind AS text
    CONSTRAINT paymentskit_ledger_transaction_kind_check CHECK (VALUE IN ('posted', 'pending', 'post_pending', 'void_pending', 'expire_pending'));
CREATE DOMAIN paymentskit_ledger_transfer_state AS text
    CONSTRAINT paymentskit_ledger_transfer_state_check CHECK (VALUE IN ('pending', 'posted', 'voided', 'expired'));
CREATE DOMAIN paymentskit_ledger_account_collection AS text
    CONSTRAINT paymentskit_ledger_account_collection_check CHECK (VALUE = 'ledger_account');
CREATE DOMAIN paymentskit_ledger_transaction_collection AS text
    CONSTRAINT paymentskit_ledger_transaction_collection_check CHECK (VALUE = 'ledger_transaction');
CREATE DOMAIN paymentskit_ledger_transfer_collection AS text
    CONSTRAINT paymentskit_ledger_transfer_collection_check CHECK (VALUE = 'ledger_transfer');
CREATE DOMAIN paymentskit_ledger_account_version AS bigint
    CONSTRAINT paymentskit_ledger_account_version_check CHECK (VALUE >= 1);
CREATE DOMAIN paymentskit_ledger_transaction_version AS bigint
    CONSTRAINT paymentskit_ledger_transaction_version_check CHECK (VALUE = 1);
CREATE DOMAIN paymentskit_ledger_transfer_version AS bigint
    CONSTRAINT paymentskit_ledger_transfer_version_check CHECK (VALUE BETWEEN 1 AND 2);
CREATE DOMAIN paymentskit_ledger_sequence AS bigint
    CONSTRAINT paymentskit_ledger_sequence_check CHECK (VALUE >= 1);
CREATE DOMAIN paymentskit_ledger_posting_accounts AS text[]
    CONSTRAINT paymentskit_ledger_posting_accounts_check CHECK (cardinality(VALUE) BETWEEN 1 AND 256);
CREATE DOMAIN paymentskit_ledger_positive AS numeric
    CONSTRAINT paymentskit_ledger_positive_check CHECK (VALUE > 0);
CREATE DOMAIN paymentskit_ledger_not_negative AS numeric
    CONSTRAINT paymentskit_ledger_not_negative_check CHECK (VALUE >= 0);

ALTER TABLE ledger_accounts
    DROP CONSTRAINT ledger_accounts_collection_check,
    DROP CONSTRAINT ledger_accounts_credits_flag_check,
    DROP CONSTRAINT ledger_accounts_debits_flag_check,
    DROP CONSTRAINT ledger_accounts_normal_side_check,
    DROP CONSTRAINT ledger_accounts_pending_check,
    DROP CONSTRAINT ledger_accounts_version_check,
    ALTER COLUMN collection TYPE paymentskit_ledger_account_collection,
    ALTER COLUMN version TYPE paymentskit_ledger_account_version,
    ALTER COLUMN normal_side TYPE paymentskit_ledger_side,
    ALTER COLUMN debits_pending TYPE paymentskit_ledger_not_negative,
    ALTER COLUMN credits_pending TYPE paymentskit_ledger_not_negative,
    ADD CONSTRAINT ledger_accounts_flags_check CHECK (
        (flags <> 'debits_must_not_exceed_credits' OR debits_posted + debits_pending <= credits_posted)
        AND (flags <> 'credits_must_not_exceed_debits' OR credits_posted + credits_pending <= debits_posted));

ALTER TABLE ledger_transactions
    DROP CONSTRAINT ledger_transactions_collection_check,
    DROP CONSTRAINT ledger_transactions_kind_check,
    DROP CONSTRAINT ledger_transactions_postings_check,
    DROP CONSTRAINT ledger_transactions_type_check,
    DROP CONSTRAINT ledger_transactions_version_check,
    ALTER COLUMN collection TYPE paymentskit_ledger_transaction_collection,
    ALTER COLUMN version TYPE paymentskit_ledger_transaction_version,
    ALTER COLUMN kind TYPE paymentskit_ledger_transaction_kind,
    ALTER COLUMN type TYPE paymentskit_ledger_entry_type,
    ALTER COLUMN posting_accounts TYPE paymentskit_ledger_posting_accounts,
    ADD CONSTRAINT ledger_transactions_postings_check CHECK (
        cardinality(posting_sides) = cardinality(posting_accounts) AND cardinality(posting_amounts) = cardinality(posting_accounts)
        AND cardinality(posting_assets) = cardinality(posting_accounts));

DROP INDEX ledger_transfers_pending_idx;

ALTER TABLE ledger_transfers
    DROP CONSTRAINT ledger_transfers_amount_check,
    DROP CONSTRAINT ledger_transfers_collection_check,
    DROP CONSTRAINT ledger_transfers_state_check,
    DROP CONSTRAINT ledger_transfers_version_check,
    ALTER COLUMN collection TYPE paymentskit_ledger_transfer_collection,
    ALTER COLUMN version TYPE paymentskit_ledger_transfer_version,
    ALTER COLUMN state TYPE paymentskit_ledger_transfer_state,
    ALTER COLUMN amount TYPE paymentskit_ledger_positive,
    ALTER COLUMN posted_amount TYPE paymentskit_ledger_not_negative,
    ALTER COLUMN released_amount TYPE paymentskit_ledger_not_negative,
    ADD CONSTRAINT ledger_transfers_amount_check CHECK (
        posted_amount + released_amount = CASE WHEN state = 'pending' THEN 0 ELSE amount END);

-- The entries' amount is generated from posted_change and pending_change (whose types cannot change under it): their
-- rule stays ledger_entries_amount_check.
ALTER TABLE ledger_entries
    DROP CONSTRAINT ledger_entries_sequence_check,
    DROP CONSTRAINT ledger_entries_side_check,
    ALTER COLUMN sequence TYPE paymentskit_ledger_sequence,
    ALTER COLUMN side TYPE paymentskit_ledger_side;

-- The views of migrations 0019 and 0021, unchanged but for casts that keep their columns' types.
CREATE VIEW treasury_wallets AS
SELECT
    ref                                          AS id,
    tenant_id                                    AS treasury_tenant_id,
    metadata->>'chain'                           AS chain,
    metadata->>'address'                         AS address,
    asset,
    debits_posted - credits_posted - credits_pending AS available_balance,
    credits_pending::numeric                     AS reserved_balance,
    updated_at
FROM ledger_accounts
WHERE metadata->>'treasury_role' = 'wallet';

CREATE VIEW ledger_account_records AS
SELECT a.collection::text AS collection, a.id, a.tenant_id, a.version::bigint AS version, paymentskit_ledger_account_document(a) AS data,
       a.created_at, a.updated_at
  FROM ledger_accounts AS a;

CREATE VIEW ledger_transaction_records AS
SELECT t.collection::text AS collection, t.id, t.tenant_id, t.version::bigint AS version, paymentskit_ledger_transaction_document(t) AS data,
       t.created_at, t.updated_at
  FROM ledger_transactions AS t;

CREATE VIEW ledger_transfer_records AS
SELECT t.collection::text AS collection, t.id, t.tenant_id, t.version::bigint AS version, paymentskit_ledger_transfer_document(t) AS data,
       t.created_at, t.updated_at
  FROM ledger_transfers AS t;

CREATE VIEW ledger_entry_records AS
SELECT 'ledger_entry'::text AS collection, e.id, e.tenant_id, 1::bigint AS version,
       jsonb_build_object(
           'id', e.id, 'tenant_id', e.tenant_ref, 'account_id', e.account_id, 'sequence', e.sequence,
           'transaction_id', e.transaction_id, 'kind', e.kind, 'side', e.side,
           'posted_change', jsonb_build_object('amount', e.posted_change::text, 'asset', e.currency),
           'pending_change', jsonb_build_object('amount', e.pending_change::text, 'asset', e.currency),
           'entry_type', e.type, 'reference', e.payment_intent_id, 'transfer_id', e.transfer_id, 'at', e.at,
           'debits_posted', jsonb_build_object('amount', e.debits_posted::text, 'asset', e.currency),
           'credits_posted', jsonb_build_object('amount', e.credits_posted::text, 'asset', e.currency),
           'debits_pending', jsonb_build_object('amount', e.debits_pending::text, 'asset', e.currency),
           'credits_pending', jsonb_build_object('amount', e.credits_pending::text, 'asset', e.currency),
           'chain', e.chain) AS data,
       e.created_at, e.created_at AS updated_at
  FROM ledger_entries AS e;

CREATE TRIGGER ledger_account_records_write INSTEAD OF INSERT OR UPDATE ON ledger_account_records
    FOR EACH ROW EXECUTE FUNCTION paymentskit_ledger_account_record_write();
CREATE TRIGGER ledger_transaction_records_insert INSTEAD OF INSERT ON ledger_transaction_records
    FOR EACH ROW EXECUTE FUNCTION paymentskit_ledger_transaction_record_insert();
CREATE TRIGGER ledger_transfer_records_write INSTEAD OF INSERT OR UPDATE ON ledger_transfer_records
    FOR EACH ROW EXECUTE FUNCTION paymentskit_ledger_transfer_record_write();
CREATE TRIGGER ledger_entry_records_insert INSTEAD OF INSERT ON ledger_entry_records
    FOR EACH ROW EXECUTE FUNCTION paymentskit_ledger_entry_record_insert();
