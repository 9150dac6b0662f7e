-- The multi-chain router (seed 001): each seed table is a dedicated records table of the standard
-- shape (collection, id, tenant_id, version, data, created_at, updated_at), so the store reads and
-- writes it like any collection, plus the seed's columns generated from the record's jsonb, with the
-- seed's CHECK constraints and indexes. Names, types and deviations: docs/decisions/0004-routing-tables.md.

-- paymentskit_instant(text) comes from 0004_payouts.

CREATE TABLE merchants (
    collection   text        NOT NULL,
    id           uuid        NOT NULL,
    tenant_id    uuid        NOT NULL,
    version      bigint      NOT NULL CHECK (version >= 1),
    data         jsonb       NOT NULL,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    public_id    text        GENERATED ALWAYS AS (data->>'id') STORED NOT NULL,
    api_key_hash text        GENERATED ALWAYS AS (data->>'api_key_hash') STORED NOT NULL,
    name         text        GENERATED ALWAYS AS (data->>'name') STORED NOT NULL,
    webhook_url  text        GENERATED ALWAYS AS (data->>'webhook_url') STORED,
    CONSTRAINT merchants_pkey PRIMARY KEY (collection, id),
    CONSTRAINT merchants_id_key UNIQUE (id),
    CONSTRAINT merchants_public_id_key UNIQUE (public_id),
    CONSTRAINT merchants_api_key_hash_key UNIQUE (api_key_hash) DEFERRABLE INITIALLY DEFERRED,
    CONSTRAINT merchants_name_check CHECK (length(name) BETWEEN 1 AND 200),
    CONSTRAINT merchants_webhook_url_check CHECK (webhook_url IS NULL OR webhook_url LIKE 'https://%')
);

CREATE TABLE quotes (
    collection           text          NOT NULL,
    id                   uuid          NOT NULL,
    tenant_id            uuid          NOT NULL,
    version              bigint        NOT NULL CHECK (version >= 1),
    data                 jsonb         NOT NULL,
    created_at           timestamptz   NOT NULL,
    updated_at           timestamptz   NOT NULL,
    public_id            text          GENERATED ALWAYS AS (data->>'id') STORED NOT NULL,
    amount_usd           numeric(18,6) GENERATED ALWAYS AS ((data->'amount'->>'amount')::numeric) STORED NOT NULL,
    amount_asset         text          GENERATED ALWAYS AS (data->'amount'->>'asset') STORED NOT NULL,
    priority             text          GENERATED ALWAYS AS (data->>'priority') STORED NOT NULL,
    destination_ethereum text          GENERATED ALWAYS AS (jsonb_path_query_first(data, '$.destinations[*] ? (@.chain == "ethereum").address') #>> '{}') STORED,
    destination_solana   text          GENERATED ALWAYS AS (jsonb_path_query_first(data, '$.destinations[*] ? (@.chain == "solana").address') #>> '{}') STORED,
    candidate_routes     jsonb         GENERATED ALWAYS AS (coalesce(data->'candidate_routes', '[]'::jsonb)) STORED NOT NULL,
    recommended_chain    text          GENERATED ALWAYS AS (data->>'recommended_chain') STORED NOT NULL,
    expires_at           timestamptz   GENERATED ALWAYS AS (paymentskit_instant(data->>'expires_at')) STORED NOT NULL,
    CONSTRAINT quotes_pkey PRIMARY KEY (collection, id),
    CONSTRAINT quotes_public_id_key UNIQUE (public_id),
    CONSTRAINT quotes_merchant_fkey FOREIGN KEY (tenant_id) REFERENCES merchants (id) DEFERRABLE INITIALLY DEFERRED,
    CONSTRAINT quotes_amount_usd_check CHECK (amount_usd > 0),
    CONSTRAINT quotes_priority_check CHECK (priority IN ('low_fee', 'fast', 'reliable')),
    CONSTRAINT quotes_recommended_chain_check CHECK (recommended_chain ~ '^[a-z0-9][a-z0-9-]{0,31}$'),
    CONSTRAINT quotes_candidate_routes_check CHECK (jsonb_typeof(candidate_routes) = 'array')
);

-- The merchant of every tenant table is its tenant_id; this index also serves the store's tenant paging.
CREATE INDEX idx_quotes_merchant ON quotes (collection, tenant_id, id);
CREATE INDEX idx_quotes_expires ON quotes (expires_at);

CREATE TABLE payment_intents (
    collection          text          NOT NULL,
    id                  uuid          NOT NULL,
    tenant_id           uuid          NOT NULL,
    version             bigint        NOT NULL CHECK (version >= 1),
    data                jsonb         NOT NULL,
    created_at          timestamptz   NOT NULL,
    updated_at          timestamptz   NOT NULL,
    public_id           text          GENERATED ALWAYS AS (data->>'id') STORED NOT NULL,
    quote_id            text          GENERATED ALWAYS AS (data->>'quote_id') STORED NOT NULL,
    idempotency_key     text          GENERATED ALWAYS AS (data->>'idempotency_key') STORED NOT NULL,
    amount_usd          numeric(18,6) GENERATED ALWAYS AS ((data->'amount'->>'amount')::numeric) STORED NOT NULL,
    selected_chain      text          GENERATED ALWAYS AS (data->>'selected_chain') STORED NOT NULL,
    destination_address text          GENERATED ALWAYS AS (data->>'destination_address') STORED NOT NULL,
    status              text          GENERATED ALWAYS AS (data->>'status') STORED NOT NULL,
    CONSTRAINT payment_intents_pkey PRIMARY KEY (collection, id),
    CONSTRAINT payment_intents_public_id_key UNIQUE (public_id),
    CONSTRAINT payment_intents_merchant_idempotency_key UNIQUE (tenant_id, idempotency_key) DEFERRABLE INITIALLY DEFERRED,
    CONSTRAINT payment_intents_merchant_fkey FOREIGN KEY (tenant_id) REFERENCES merchants (id) DEFERRABLE INITIALLY DEFERRED,
    CONSTRAINT payment_intents_quote_fkey FOREIGN KEY (quote_id) REFERENCES quotes (public_id) DEFERRABLE INITIALLY DEFERRED,
    CONSTRAINT payment_intents_amount_usd_check CHECK (amount_usd > 0),
    CONSTRAINT payment_intents_idempotency_key_check CHECK (length(idempotency_key) BETWEEN 1 AND 255),
    CONSTRAINT payment_intents_selected_chain_check CHECK (selected_chain ~ '^[a-z0-9][a-z0-9-]{0,31}$'),
    CONSTRAINT payment_intents_status_check CHECK (status IN (
        'created', 'quoted', 'route_selected', 'broadcasting', 'broadcasted', 'pending_confirmation',
        'settled', 'failed', 'manual_review', 'retrying', 'expired', 'cancelled'))
);

CREATE INDEX idx_pi_merchant ON payment_intents (collection, tenant_id, id);
CREATE INDEX idx_pi_status ON payment_intents (status);
CREATE INDEX idx_pi_idempotency ON payment_intents (idempotency_key);

CREATE TABLE payment_attempts (
    collection        text          NOT NULL,
    id                uuid          NOT NULL,
    tenant_id         uuid          NOT NULL,
    version           bigint        NOT NULL CHECK (version >= 1),
    data              jsonb         NOT NULL,
    created_at        timestamptz   NOT NULL,
    updated_at        timestamptz   NOT NULL,
    public_id         text          GENERATED ALWAYS AS (data->>'id') STORED NOT NULL,
    payment_intent_id text          GENERATED ALWAYS AS (data->>'payment_intent_id') STORED NOT NULL,
    chain             text          GENERATED ALWAYS AS (data->>'chain') STORED NOT NULL,
    tx_id             text          GENERATED ALWAYS AS (data->>'tx_id') STORED,
    rpc_provider      text          GENERATED ALWAYS AS (data->>'rpc_provider') STORED NOT NULL,
    estimated_fee_usd numeric(18,6) GENERATED ALWAYS AS ((data->'estimated_fee'->>'amount')::numeric) STORED NOT NULL,
    actual_fee_native numeric(38,18) GENERATED ALWAYS AS ((data->'actual_fee_native'->>'amount')::numeric) STORED,
    broadcast_at      timestamptz   GENERATED ALWAYS AS (paymentskit_instant(data->>'broadcast_at')) STORED,
    confirmed_at      timestamptz   GENERATED ALWAYS AS (paymentskit_instant(data->>'confirmed_at')) STORED,
    status            text          GENERATED ALWAYS AS (data->>'status') STORED NOT NULL,
    failure_reason    text          GENERATED ALWAYS AS (data->>'failure_reason') STORED,
    CONSTRAINT payment_attempts_pkey PRIMARY KEY (collection, id),
    CONSTRAINT payment_attempts_payment_intent_fkey FOREIGN KEY (payment_intent_id) REFERENCES payment_intents (public_id) DEFERRABLE INITIALLY DEFERRED,
    CONSTRAINT payment_attempts_chain_check CHECK (chain ~ '^[a-z0-9][a-z0-9-]{0,31}$'),
    CONSTRAINT payment_attempts_estimated_fee_usd_check CHECK (estimated_fee_usd >= 0),
    CONSTRAINT payment_attempts_actual_fee_native_check CHECK (actual_fee_native IS NULL OR actual_fee_native >= 0),
    CONSTRAINT payment_attempts_status_check CHECK (status IN ('pending', 'broadcasted', 'confirmed', 'failed')),
    CONSTRAINT payment_attempts_failure_check CHECK ((status = 'failed') = (failure_reason IS NOT NULL))
);

CREATE INDEX payment_attempts_tenant_idx ON payment_attempts (collection, tenant_id, id);
CREATE INDEX idx_attempts_pi ON payment_attempts (payment_intent_id);
CREATE INDEX idx_attempts_status ON payment_attempts (status);
CREATE INDEX idx_attempts_tx ON payment_attempts (tx_id);

-- tenant_id holds the chain's partition (a UUID derived from the chain name), so a chain's series pages in time order.
CREATE TABLE chain_health_snapshots (
    collection               text          NOT NULL,
    id                       uuid          NOT NULL,
    tenant_id                uuid          NOT NULL,
    version                  bigint        NOT NULL CHECK (version >= 1),
    data                     jsonb         NOT NULL,
    created_at               timestamptz   NOT NULL,
    updated_at               timestamptz   NOT NULL,
    public_id                text          GENERATED ALWAYS AS (data->>'id') STORED NOT NULL,
    chain                    text          GENERATED ALWAYS AS (data->>'chain') STORED NOT NULL,
    "timestamp"              timestamptz   GENERATED ALWAYS AS (paymentskit_instant(data->>'timestamp')) STORED NOT NULL,
    avg_confirmation_seconds numeric(10,2) GENERATED ALWAYS AS ((data->>'avg_confirmation_seconds')::numeric) STORED NOT NULL,
    rpc_error_rate           numeric(5,4)  GENERATED ALWAYS AS ((data->>'rpc_error_rate')::numeric) STORED NOT NULL,
    p95_latency_ms           integer       GENERATED ALWAYS AS ((data->>'p95_latency_ms')::integer) STORED NOT NULL,
    congestion_score         numeric(5,4)  GENERATED ALWAYS AS ((data->>'congestion_score')::numeric) STORED NOT NULL,
    health_status            text          GENERATED ALWAYS AS (data->>'health_status') STORED NOT NULL,
    estimated_fee_usd        numeric(18,6) GENERATED ALWAYS AS ((data->'estimated_fee_value'->>'amount')::numeric) STORED NOT NULL,
    CONSTRAINT chain_health_snapshots_pkey PRIMARY KEY (collection, id),
    CONSTRAINT chain_health_snapshots_chain_check CHECK (chain ~ '^[a-z0-9][a-z0-9-]{0,31}$'),
    CONSTRAINT chain_health_snapshots_confirmation_check CHECK (avg_confirmation_seconds >= 0),
    CONSTRAINT chain_health_snapshots_rpc_error_rate_check CHECK (rpc_error_rate BETWEEN 0 AND 1),
    CONSTRAINT chain_health_snapshots_latency_check CHECK (p95_latency_ms >= 0),
    CONSTRAINT chain_health_snapshots_congestion_check CHECK (congestion_score BETWEEN 0 AND 1),
    CONSTRAINT chain_health_snapshots_status_check CHECK (health_status IN ('healthy', 'degraded', 'unhealthy')),
    CONSTRAINT chain_health_snapshots_fee_check CHECK (estimated_fee_usd >= 0)
);

CREATE INDEX chain_health_snapshots_partition_idx ON chain_health_snapshots (collection, tenant_id, id);
CREATE INDEX idx_health_chain_ts ON chain_health_snapshots (chain, "timestamp" DESC);

-- The webhook outbox of every module (resource type + id); payment_intent_id is set for payment intent events.
CREATE TABLE webhook_events (
    collection        text        NOT NULL,
    id                uuid        NOT NULL,
    tenant_id         uuid        NOT NULL,
    version           bigint      NOT NULL CHECK (version >= 1),
    data              jsonb       NOT NULL,
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL,
    public_id         text        GENERATED ALWAYS AS (data->>'id') STORED NOT NULL,
    resource_type     text        GENERATED ALWAYS AS (data->>'resource_type') STORED NOT NULL,
    resource_id       text        GENERATED ALWAYS AS (data->>'resource_id') STORED NOT NULL,
    payment_intent_id text        GENERATED ALWAYS AS (CASE WHEN data->>'resource_type' = 'payment_intent' THEN data->>'resource_id' END) STORED,
    event_type        text        GENERATED ALWAYS AS (data->>'event_type') STORED NOT NULL,
    payload           jsonb       GENERATED ALWAYS AS (coalesce(data->'payload', '{}'::jsonb)) STORED NOT NULL,
    delivered         boolean     GENERATED ALWAYS AS ((data->>'delivered')::boolean) STORED NOT NULL,
    attempts          integer     GENERATED ALWAYS AS ((data->>'attempts')::integer) STORED NOT NULL,
    last_attempt_at   timestamptz GENERATED ALWAYS AS (paymentskit_instant(data->>'last_attempt_at')) STORED,
    CONSTRAINT webhook_events_pkey PRIMARY KEY (collection, id),
    CONSTRAINT webhook_events_event_type_check CHECK (event_type ~ '^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$'),
    CONSTRAINT webhook_events_attempts_check CHECK (attempts >= 0)
);

CREATE INDEX idx_webhooks_merchant ON webhook_events (collection, tenant_id, id);
CREATE INDEX idx_webhooks_undelivered ON webhook_events (created_at, id) WHERE NOT delivered;

-- The seed's treasury_wallets as a view of the ledger's treasury wallet accounts (one per chain): the
-- balances are the ledger's, so they always equal what the postings say.
CREATE VIEW treasury_wallets AS
SELECT
    data->>'id'                                  AS id,
    tenant_id                                    AS treasury_tenant_id,
    data->'metadata'->>'chain'                   AS chain,
    data->'metadata'->>'address'                 AS address,
    asset,
    debits_posted - credits_posted - credits_pending AS available_balance,
    credits_pending                              AS reserved_balance,
    updated_at
FROM ledger_accounts
WHERE data->'metadata'->>'treasury_role' = 'wallet';
