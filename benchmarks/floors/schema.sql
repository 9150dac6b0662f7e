-- Seed 001's router tables exactly as the seed gives them (columns, CHECKs, UNIQUEs, foreign keys and
-- indexes), typed and with nothing of PaymentsKit's own: the cheapest schema the issues allow.
CREATE TABLE merchants (id text PRIMARY KEY);
INSERT INTO merchants VALUES ('mer_1');
CREATE TABLE quotes (
    id text PRIMARY KEY, merchant_id text NOT NULL REFERENCES merchants (id), amount_usd numeric(18,6) NOT NULL,
    priority text NOT NULL CHECK (priority IN ('low_fee', 'fast', 'reliable')),
    destination_ethereum text, destination_solana text, candidate_routes jsonb NOT NULL DEFAULT '[]',
    recommended_chain text NOT NULL CHECK (recommended_chain IN ('ethereum', 'solana')),
    expires_at timestamptz NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
CREATE INDEX idx_quotes_merchant ON quotes (merchant_id);
CREATE INDEX idx_quotes_expires ON quotes (expires_at);
CREATE TABLE payment_intents (
    id text PRIMARY KEY, merchant_id text NOT NULL REFERENCES merchants (id), quote_id text NOT NULL REFERENCES quotes (id),
    idempotency_key text NOT NULL, amount_usd numeric(18,6) NOT NULL,
    selected_chain text NOT NULL CHECK (selected_chain IN ('ethereum', 'solana')), destination_address text NOT NULL,
    status text NOT NULL DEFAULT 'created' CHECK (status IN ('created', 'quoted', 'route_selected', 'broadcasting',
        'broadcasted', 'pending_confirmation', 'settled', 'failed', 'manual_review', 'retrying', 'expired', 'cancelled')),
    created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (merchant_id, idempotency_key));
CREATE INDEX idx_pi_merchant ON payment_intents (merchant_id);
CREATE INDEX idx_pi_status ON payment_intents (status);
CREATE INDEX idx_pi_idempotency ON payment_intents (idempotency_key);
CREATE TABLE payment_attempts (
    id text PRIMARY KEY, payment_intent_id text NOT NULL REFERENCES payment_intents (id),
    chain text NOT NULL CHECK (chain IN ('ethereum', 'solana')), tx_id text, rpc_provider text NOT NULL,
    estimated_fee_usd numeric(18,6) NOT NULL, actual_fee_native numeric(18,9), broadcast_at timestamptz,
    confirmed_at timestamptz, status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'broadcasted', 'confirmed', 'failed')),
    failure_reason text, created_at timestamptz NOT NULL DEFAULT now());
CREATE INDEX idx_attempts_pi ON payment_attempts (payment_intent_id);
CREATE INDEX idx_attempts_status ON payment_attempts (status);
CREATE INDEX idx_attempts_tx ON payment_attempts (tx_id);
CREATE TABLE treasury_wallets (
    id text PRIMARY KEY, chain text NOT NULL CHECK (chain IN ('ethereum', 'solana')), address text NOT NULL UNIQUE,
    available_balance numeric(18,6) NOT NULL DEFAULT 0 CHECK (available_balance >= 0),
    reserved_balance numeric(18,6) NOT NULL DEFAULT 0 CHECK (reserved_balance >= 0),
    updated_at timestamptz NOT NULL DEFAULT now());
CREATE INDEX idx_treasury_chain ON treasury_wallets (chain);
INSERT INTO treasury_wallets (id, chain, address, available_balance)
VALUES ('tw_eth', 'ethereum', '0xtreasury', 1e11), ('tw_sol', 'solana', 'SoTreasury', 1e11);
CREATE TABLE ledger_entries (
    id text PRIMARY KEY, payment_intent_id text NOT NULL REFERENCES payment_intents (id),
    type text NOT NULL CHECK (type IN ('reserve', 'debit', 'fee', 'release', 'refund')), amount numeric(18,6) NOT NULL,
    currency text NOT NULL, chain text NOT NULL CHECK (chain IN ('ethereum', 'solana')),
    created_at timestamptz NOT NULL DEFAULT now());
CREATE INDEX idx_ledger_pi ON ledger_entries (payment_intent_id);
CREATE INDEX idx_ledger_chain ON ledger_entries (chain);
CREATE INDEX idx_ledger_type ON ledger_entries (type);
-- payment_intent_id is nullable here only so that the delivery floor can fill the outbox without intents;
-- the flows always set it.
CREATE TABLE webhook_events (
    id text PRIMARY KEY, merchant_id text NOT NULL REFERENCES merchants (id), payment_intent_id text,
    event_type text NOT NULL, payload jsonb NOT NULL DEFAULT '{}', delivered boolean NOT NULL DEFAULT false,
    attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0), last_attempt_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()) WITH (fillfactor = 70);
CREATE INDEX idx_webhooks_merchant ON webhook_events (merchant_id);
CREATE INDEX idx_webhooks_undelivered ON webhook_events (created_at) WHERE NOT delivered;
CREATE SEQUENCE flow_seq;
CREATE SEQUENCE flow_group_seq START 1000000000;
