-- Streaming payments (seed 002, StreamPay): the seed's streams table, enum, defaults and indexes.
-- Streams are records like every other collection (decision 0001): the store reads and writes the
-- standard record columns, and every seed column is generated from the record document, so the
-- table can be queried, indexed and constrained as the seed describes. Deviations from the seed's
-- DDL and why: docs/decisions/0002-streams-table.md.

CREATE TYPE stream_status AS ENUM ('active', 'paused', 'cancelled', 'completed');

-- Records write instants as ISO-8601 in UTC with a 'Z' and at most microsecond fractions, which read
-- the same under every TimeZone and DateStyle setting. The text-to-timestamptz cast is only STABLE
-- because other inputs depend on those settings; for these it is immutable, as a generated column needs.
CREATE FUNCTION paymentskit_utc_instant(value text)
RETURNS timestamptz
LANGUAGE sql
IMMUTABLE STRICT PARALLEL SAFE
AS $$ SELECT value::timestamptz $$;

CREATE TABLE streams (
    collection       text          NOT NULL DEFAULT 'stream',
    id               uuid          NOT NULL DEFAULT gen_random_uuid(),
    tenant_id        uuid          NOT NULL,
    version          bigint        NOT NULL,
    data             jsonb         NOT NULL,
    created_at       timestamptz   NOT NULL DEFAULT now(),
    updated_at       timestamptz   NOT NULL DEFAULT now(),

    payer            varchar(255)  NOT NULL GENERATED ALWAYS AS (data ->> 'payer') STORED,
    recipient        varchar(255)  NOT NULL GENERATED ALWAYS AS (data ->> 'recipient') STORED,
    -- The enum's default ('active') applies when the document has no status; an unknown one is NULL and refused.
    status           stream_status NOT NULL GENERATED ALWAYS AS (
                         CASE coalesce(data ->> 'status', 'active')
                             WHEN 'active' THEN 'active'::stream_status
                             WHEN 'paused' THEN 'paused'::stream_status
                             WHEN 'cancelled' THEN 'cancelled'::stream_status
                             WHEN 'completed' THEN 'completed'::stream_status
                         END) STORED,
    rate_per_second  numeric(20,9) NOT NULL GENERATED ALWAYS AS ((data -> 'rate_per_second')::numeric) STORED,
    start_time       timestamptz   NOT NULL GENERATED ALWAYS AS (paymentskit_utc_instant(data ->> 'start_time')) STORED,
    end_time         timestamptz            GENERATED ALWAYS AS (paymentskit_utc_instant(data ->> 'end_time')) STORED,
    total_amount     numeric(20,9) NOT NULL GENERATED ALWAYS AS ((data -> 'total_amount' ->> 'amount')::numeric) STORED,
    settled_amount   numeric(20,9) NOT NULL GENERATED ALWAYS AS (coalesce((data -> 'settled_amount' ->> 'amount')::numeric, 0)) STORED,
    withdrawn_amount numeric(20,9) NOT NULL GENERATED ALWAYS AS (coalesce((data -> 'withdrawn_amount' ->> 'amount')::numeric, 0)) STORED,
    refunded_amount  numeric(20,9) NOT NULL GENERATED ALWAYS AS (coalesce((data -> 'refunded_amount' ->> 'amount')::numeric, 0)) STORED,
    -- The seed's DEFAULT now(): a generated column cannot have a default, so it falls back to the row's creation.
    last_settled_at  timestamptz   NOT NULL GENERATED ALWAYS AS (coalesce(paymentskit_utc_instant(data ->> 'last_settled_at'), created_at)) STORED,
    chain_id         varchar(50)   NOT NULL GENERATED ALWAYS AS (coalesce(data ->> 'chain_id', 'stellar-testnet')) STORED,
    contract_address varchar(255)           GENERATED ALWAYS AS (data ->> 'contract_address') STORED,
    transaction_hash varchar(66)            GENERATED ALWAYS AS (data ->> 'transaction_hash') STORED,
    metadata         text                   GENERATED ALWAYS AS (nullif(data -> 'metadata', '{}'::jsonb)::text) STORED,

    CONSTRAINT streams_pkey PRIMARY KEY (id),
    CONSTRAINT streams_collection_check CHECK (collection = 'stream'),
    CONSTRAINT streams_version_check CHECK (version >= 1),
    CONSTRAINT streams_rate_per_second_check CHECK (rate_per_second > 0),
    CONSTRAINT streams_total_amount_check CHECK (total_amount > 0),
    CONSTRAINT streams_end_time_check CHECK (end_time IS NULL OR end_time > start_time),
    -- The seed's "total_amount >= accrued_amount at all times", on what is stored: nothing is paid
    -- or refunded beyond the total, and nothing is withdrawn before it is settled.
    CONSTRAINT streams_balance_check CHECK (
        settled_amount >= 0 AND refunded_amount >= 0 AND withdrawn_amount >= 0
        AND settled_amount + refunded_amount <= total_amount
        AND withdrawn_amount <= settled_amount)
);

-- The store's tenant-scoped paging in id order (as paymentskit_records_tenant_idx).
CREATE INDEX streams_tenant_idx ON streams (collection, tenant_id, id);
CREATE INDEX streams_payer_idx ON streams (payer);
CREATE INDEX streams_recipient_idx ON streams (recipient);
CREATE INDEX streams_status_idx ON streams (status);
CREATE INDEX streams_chain_id_idx ON streams (chain_id);
CREATE INDEX streams_created_at_idx ON streams (created_at);
