-- Mass payouts (seed 004). asset, distribution, batch_payout and blockchain_event_listener_config hold
-- records of the generic store (the shape of paymentskit_records) with the seed's columns generated from
-- the record, so the seed's names and indexes exist on the committed data; holder is a plain table the
-- holder snapshot store fills with binary COPY. See docs/payouts.md for where this departs from the seed.

-- Record timestamps are ISO-8601 text: UTC instants ending in 'Z' and zone-less local times, which parse
-- the same under every TimeZone and DateStyle setting. The casts are only STABLE in general, so these
-- wrappers vouch for the immutability generated columns require.
CREATE FUNCTION paymentskit_instant(iso text)
RETURNS timestamptz
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT timezone('UTC', make_timestamp(
        substr(iso, 1, 4)::int, substr(iso, 6, 2)::int, substr(iso, 9, 2)::int,
        substr(iso, 12, 2)::int, substr(iso, 15, 2)::int,
        (substr(iso, 18, 2) || '.' || substr(rpad(coalesce(substring(iso FROM '\.([0-9]{1,9})Z$'), ''), 6, '0'), 1, 6))::float8))
$$;

CREATE FUNCTION paymentskit_local_time(value text)
RETURNS timestamp
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
AS $$
BEGIN
    RETURN value::timestamp;
END
$$;

CREATE TABLE asset (
    collection            text        NOT NULL,
    id                    uuid        NOT NULL,
    tenant_id             uuid        NOT NULL,
    version               bigint      NOT NULL CHECK (version >= 1),
    data                  jsonb       NOT NULL,
    created_at            timestamptz NOT NULL,
    updated_at            timestamptz NOT NULL,
    token_id              text        GENERATED ALWAYS AS (data->>'token_id') STORED,
    name                  text        GENERATED ALWAYS AS (data->>'name') STORED,
    symbol                text        GENERATED ALWAYS AS (data->>'symbol') STORED,
    total_supply          bigint      GENERATED ALWAYS AS ((data->>'total_supply')::bigint) STORED,
    decimals              integer     GENERATED ALWAYS AS ((data->>'decimals')::integer) STORED,
    lifecycle_contract_id text        GENERATED ALWAYS AS (data->>'lifecycle_contract_id') STORED,
    payment_token_id      text        GENERATED ALWAYS AS (data->>'payment_token_id') STORED,
    last_synced_at        timestamptz GENERATED ALWAYS AS (paymentskit_instant(data->>'last_synced_at')) STORED,
    sync_status           text        GENERATED ALWAYS AS (upper(data->>'sync_status')) STORED,
    CONSTRAINT asset_pkey PRIMARY KEY (collection, id)
);

CREATE INDEX asset_tenant_idx ON asset (collection, tenant_id, id);
-- Token ids are unique per tenant (the seed has one tenant).
CREATE UNIQUE INDEX idx_asset_token_id ON asset (tenant_id, token_id);
CREATE INDEX idx_asset_sync_status ON asset (sync_status);

CREATE TABLE distribution (
    collection        text          NOT NULL,
    id                uuid          NOT NULL,
    tenant_id         uuid          NOT NULL,
    version           bigint        NOT NULL CHECK (version >= 1),
    data              jsonb         NOT NULL,
    created_at        timestamptz   NOT NULL,
    updated_at        timestamptz   NOT NULL,
    asset_id          text          GENERATED ALWAYS AS (data->>'asset_id') STORED,
    type              text          GENERATED ALWAYS AS (upper(data->>'type')) STORED,
    execution_type    text          GENERATED ALWAYS AS (upper(data->>'execution')) STORED,
    payout_type       text          GENERATED ALWAYS AS (upper(data->>'payout')) STORED,
    amount            numeric       GENERATED ALWAYS AS ((data->'amount'->>'amount')::numeric) STORED,
    concept           text          GENERATED ALWAYS AS (data->>'concept') STORED,
    -- When the distribution is due: the scheduled time, or this occurrence of a recurring one, as an instant.
    scheduled_time    timestamptz   GENERATED ALWAYS AS (paymentskit_instant(data->>'due_at')) STORED,
    frequency         text          GENERATED ALWAYS AS (upper(data->>'frequency')) STORED,
    start_time        timestamp     GENERATED ALWAYS AS (paymentskit_local_time(data->>'start_time')) STORED,
    trigger_condition text          GENERATED ALWAYS AS (data->>'trigger_condition') STORED,
    status            text          GENERATED ALWAYS AS (upper(data->>'status')) STORED,
    executed_at       timestamptz   GENERATED ALWAYS AS (paymentskit_instant(data->>'executed_at')) STORED,
    CONSTRAINT distribution_pkey PRIMARY KEY (collection, id)
);

CREATE INDEX distribution_tenant_idx ON distribution (collection, tenant_id, id);
CREATE INDEX idx_distribution_asset ON distribution (asset_id);
CREATE INDEX idx_distribution_status ON distribution (status);
CREATE INDEX idx_distribution_scheduled ON distribution (scheduled_time) WHERE status = 'PENDING';

CREATE TABLE batch_payout (
    collection          text        NOT NULL,
    id                  uuid        NOT NULL,
    tenant_id           uuid        NOT NULL,
    version             bigint      NOT NULL CHECK (version >= 1),
    data                jsonb       NOT NULL,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    distribution_id     text        GENERATED ALWAYS AS (data->>'distribution_id') STORED,
    batch_number        integer     GENERATED ALWAYS AS ((data->>'batch_number')::integer) STORED,
    total_holders       integer     GENERATED ALWAYS AS ((data->>'total_holders')::integer) STORED,
    successful_payments integer     GENERATED ALWAYS AS ((data->>'successful_payments')::integer) STORED,
    failed_payments     integer     GENERATED ALWAYS AS ((data->>'failed_payments')::integer) STORED,
    transaction_id      text        GENERATED ALWAYS AS (data->>'transaction_id') STORED,
    status              text        GENERATED ALWAYS AS (upper(data->>'status')) STORED,
    error_message       text        GENERATED ALWAYS AS (data->>'error_message') STORED,
    executed_at         timestamptz GENERATED ALWAYS AS (paymentskit_instant(data->>'executed_at')) STORED,
    CONSTRAINT batch_payout_pkey PRIMARY KEY (collection, id)
);

CREATE INDEX batch_payout_tenant_idx ON batch_payout (collection, tenant_id, id);
CREATE INDEX idx_batch_distribution ON batch_payout (distribution_id);
CREATE INDEX idx_batch_status ON batch_payout (status);

CREATE TABLE blockchain_event_listener_config (
    collection               text        NOT NULL,
    id                       uuid        NOT NULL,
    tenant_id                uuid        NOT NULL,
    version                  bigint      NOT NULL CHECK (version >= 1),
    data                     jsonb       NOT NULL,
    created_at               timestamptz NOT NULL,
    updated_at               timestamptz NOT NULL,
    contract_id              text        GENERATED ALWAYS AS (data->>'contract_id') STORED,
    last_processed_timestamp bigint      GENERATED ALWAYS AS ((data->>'last_processed_timestamp')::bigint) STORED,
    enabled                  boolean     GENERATED ALWAYS AS ((data->>'enabled')::boolean) STORED,
    CONSTRAINT blockchain_event_listener_config_pkey PRIMARY KEY (collection, id)
);

CREATE INDEX blockchain_event_listener_config_tenant_idx ON blockchain_event_listener_config (collection, tenant_id, id);
CREATE UNIQUE INDEX idx_listener_contract ON blockchain_event_listener_config (contract_id);

-- One row per holder of a distribution's snapshot and its payment record. Amounts are bigint counts of the
-- payment token's smallest unit. No foreign keys: rows are written only by the service after it checked
-- the distribution, and a trigger per row would double the cost of importing a million holders.
CREATE TABLE holder (
    id              uuid        NOT NULL,
    tenant_id       uuid        NOT NULL,
    asset_id        uuid        NOT NULL,
    distribution_id uuid        NOT NULL,
    -- "C": byte order, which for the printable ASCII account ids is the service's ordinal order.
    account_id      text        COLLATE "C" NOT NULL,
    balance         bigint      NOT NULL CHECK (balance >= 0),
    payment_amount  bigint      NOT NULL CHECK (payment_amount >= 0),
    state           text        NOT NULL DEFAULT 'PENDING' CHECK (state IN ('PENDING', 'SUBMITTED', 'PAID', 'FAILED')),
    paid            boolean     GENERATED ALWAYS AS (state = 'PAID') STORED,
    batch_number    integer,
    attempts        integer     NOT NULL DEFAULT 0,
    transaction_id  text,
    error_message   text,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    CONSTRAINT holder_pkey PRIMARY KEY (id),
    -- A holder is paid at most once per distribution: one row, whose state only a claim or its batch's outcome moves.
    CONSTRAINT idx_holder_unique UNIQUE (asset_id, distribution_id, account_id)
);

-- The seed's idx_holder_asset is the leading column of idx_holder_unique, which serves it.
CREATE INDEX idx_holder_distribution ON holder (distribution_id);
CREATE INDEX idx_holder_account ON holder (account_id);
-- Small partial indexes (empty at import, so free for COPY): batches to resume and holders to retry.
CREATE INDEX holder_submitted_idx ON holder (distribution_id, batch_number) WHERE state = 'SUBMITTED';
CREATE INDEX holder_failed_idx ON holder (distribution_id, account_id) WHERE state = 'FAILED';

-- The last batch number claimed per distribution; its row lock serialises claims of one distribution.
CREATE TABLE holder_batch_sequence (
    distribution_id uuid    NOT NULL,
    tenant_id       uuid    NOT NULL,
    last_batch      integer NOT NULL CHECK (last_batch >= 0),
    CONSTRAINT holder_batch_sequence_pkey PRIMARY KEY (distribution_id)
);

-- Claims the next batch of a distribution in one statement: the holders after p_after (account order)
-- that are pending, or failed with attempts left, become SUBMITTED under the next batch number. Nothing
-- (not even a number) is used up when no holder qualifies.
CREATE FUNCTION paymentskit_claim_holders(
    p_tenant uuid, p_asset uuid, p_distribution uuid, p_after text, p_limit integer, p_max_attempts integer, p_now timestamptz)
RETURNS TABLE (claimed_batch integer, claimed_account text, claimed_amount bigint)
LANGUAGE plpgsql
AS $$
DECLARE
    next_batch integer;
BEGIN
    INSERT INTO holder_batch_sequence (distribution_id, tenant_id, last_batch) VALUES (p_distribution, p_tenant, 0)
    ON CONFLICT ON CONSTRAINT holder_batch_sequence_pkey DO NOTHING;
    SELECT s.last_batch + 1 INTO next_batch FROM holder_batch_sequence s WHERE s.distribution_id = p_distribution FOR UPDATE;

    RETURN QUERY
    WITH picked AS (
        SELECT h.id
        FROM holder h
        WHERE h.asset_id = p_asset AND h.distribution_id = p_distribution AND h.tenant_id = p_tenant
          AND h.account_id > p_after AND h.payment_amount > 0
          AND (h.state = 'PENDING' OR (h.state = 'FAILED' AND h.attempts < p_max_attempts))
        ORDER BY h.account_id
        LIMIT p_limit
        FOR UPDATE),
    claimed AS (
        UPDATE holder h
        SET state = 'SUBMITTED', batch_number = next_batch, attempts = h.attempts + 1, updated_at = p_now
        FROM picked
        WHERE h.id = picked.id
        RETURNING h.account_id, h.payment_amount)
    SELECT next_batch, c.account_id::text, c.payment_amount FROM claimed c ORDER BY c.account_id;

    IF FOUND THEN
        UPDATE holder_batch_sequence s SET last_batch = next_batch WHERE s.distribution_id = p_distribution;
    END IF;
END
$$;
