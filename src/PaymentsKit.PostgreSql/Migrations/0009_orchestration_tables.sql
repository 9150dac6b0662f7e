-- The payment orchestration seed's schema (seed 003) for the orchestration module: its enums,
-- partners, transactions, refunds, transaction_events and audit_logs as record tables (the seed's
-- columns generated from the record JSON, as in 0021), and the payment_methods and currencies
-- lookups with the seed's rows. Deviations from the seed and why:
-- docs/decisions/0002-seed-tables-on-the-record-store.md.

CREATE TYPE transaction_status AS ENUM (
    'pending',
    'processing',
    'completed',
    'failed',
    'cancelled',
    'refunded',
    'partially_refunded'
);

CREATE TYPE payment_provider AS ENUM (
    'stripe',
    'paypal',
    'adyen',
    'manual'
);

CREATE TYPE refund_status AS ENUM (
    'pending',
    'processing',
    'completed',
    'failed'
);

CREATE TYPE event_type AS ENUM (
    'created',
    'payment_initiated',
    'payment_processing',
    'payment_completed',
    'payment_failed',
    'refund_initiated',
    'refund_completed',
    'webhook_received',
    'status_changed'
);

-- Text to enum is only STABLE (labels can be renamed), so a generated column goes through these;
-- the labels above are PaymentsKit's and never renamed. A label the enum lacks fails the write.
CREATE FUNCTION paymentskit_transaction_status(label text) RETURNS transaction_status
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE SET search_path FROM CURRENT
AS $$ SELECT label::transaction_status $$;

CREATE FUNCTION paymentskit_payment_provider(label text) RETURNS payment_provider
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE SET search_path FROM CURRENT
AS $$ SELECT label::payment_provider $$;

CREATE FUNCTION paymentskit_refund_status(label text) RETURNS refund_status
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE SET search_path FROM CURRENT
AS $$ SELECT label::refund_status $$;

CREATE FUNCTION paymentskit_event_type(label text) RETURNS event_type
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE SET search_path FROM CURRENT
AS $$ SELECT label::event_type $$;

-- .NET writes a scoped IPv6 address with its zone (fe80::1%eth0), which inet does not take.
CREATE FUNCTION paymentskit_inet(address text) RETURNS inet
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$ SELECT split_part(address, '%', 1)::inet $$;

CREATE TABLE partners (
    collection            text          NOT NULL CHECK (collection = 'orch_partner'),
    id                    uuid          NOT NULL,
    tenant_id             uuid          NOT NULL,
    version               bigint        NOT NULL CHECK (version >= 1),
    data                  jsonb         NOT NULL,
    created_at            timestamptz   NOT NULL,
    updated_at            timestamptz   NOT NULL,
    name                  varchar(255)  NOT NULL GENERATED ALWAYS AS (data ->> 'name') STORED,
    email                 varchar(255)  NOT NULL GENERATED ALWAYS AS (data ->> 'email') STORED,
    api_key_hash          varchar(255)  NOT NULL GENERATED ALWAYS AS (data ->> 'api_key_hash') STORED,
    -- ptn_ plus the key's first 8 characters: 12, so wider than the seed's VARCHAR(10).
    api_key_prefix        varchar(16)   NOT NULL GENERATED ALWAYS AS (data ->> 'api_key_prefix') STORED,
    is_active             boolean       NOT NULL GENERATED ALWAYS AS ((data ->> 'is_active')::boolean) STORED,
    rate_limit_per_minute integer       NOT NULL GENERATED ALWAYS AS ((data ->> 'rate_limit_per_minute')::integer) STORED,
    webhook_url           varchar(512)  GENERATED ALWAYS AS (data ->> 'webhook_url') STORED,
    webhook_secret        varchar(255)  GENERATED ALWAYS AS (data ->> 'webhook_secret') STORED,
    metadata              jsonb         GENERATED ALWAYS AS (data -> 'metadata') STORED,
    deleted_at            timestamptz   GENERATED ALWAYS AS (paymentskit_instant(data ->> 'deleted_at')) STORED,
    CONSTRAINT partners_pkey PRIMARY KEY (id),
    CONSTRAINT partners_email_key UNIQUE (email),
    CONSTRAINT partners_api_key_hash_key UNIQUE (api_key_hash),
    CONSTRAINT partners_rate_limit_check CHECK (rate_limit_per_minute >= 1)
);

CREATE INDEX partners_tenant_idx ON partners (tenant_id, id);
CREATE INDEX idx_partners_api_key_prefix ON partners (api_key_prefix) WHERE deleted_at IS NULL;
CREATE INDEX idx_partners_is_active ON partners (is_active) WHERE deleted_at IS NULL;
CREATE INDEX idx_partners_email ON partners (email) WHERE deleted_at IS NULL;

CREATE TABLE transactions (
    collection              text               NOT NULL CHECK (collection = 'orch_transaction'),
    id                      uuid               NOT NULL,
    tenant_id               uuid               NOT NULL,
    version                 bigint             NOT NULL CHECK (version >= 1),
    data                    jsonb              NOT NULL,
    created_at              timestamptz        NOT NULL,
    updated_at              timestamptz        NOT NULL,
    partner_id              uuid               NOT NULL GENERATED ALWAYS AS (tenant_id) STORED,
    idempotency_key         varchar(255)       NOT NULL GENERATED ALWAYS AS (data ->> 'idempotency_key') STORED,
    amount                  decimal(19, 4)     NOT NULL GENERATED ALWAYS AS ((data -> 'amount' ->> 'amount')::numeric) STORED,
    currency                varchar(3)         NOT NULL GENERATED ALWAYS AS (data -> 'amount' ->> 'asset') STORED,
    payment_method          varchar(50)        NOT NULL GENERATED ALWAYS AS (data ->> 'payment_method') STORED,
    provider                payment_provider   NOT NULL GENERATED ALWAYS AS (paymentskit_payment_provider(data ->> 'provider')) STORED,
    provider_transaction_id text               GENERATED ALWAYS AS (data ->> 'provider_transaction_id') STORED,
    provider_customer_id    varchar(255)       GENERATED ALWAYS AS (data ->> 'provider_customer_id') STORED,
    status                  transaction_status NOT NULL GENERATED ALWAYS AS (paymentskit_transaction_status(data ->> 'status')) STORED,
    customer_email          varchar(255)       NOT NULL GENERATED ALWAYS AS (data ->> 'customer_email') STORED,
    customer_name           varchar(255)       GENERATED ALWAYS AS (data ->> 'customer_name') STORED,
    customer_phone          varchar(50)        GENERATED ALWAYS AS (data ->> 'customer_phone') STORED,
    description             text               GENERATED ALWAYS AS (data ->> 'description') STORED,
    metadata                jsonb              GENERATED ALWAYS AS (data -> 'metadata') STORED,
    ip_address              inet               GENERATED ALWAYS AS (paymentskit_inet(data ->> 'ip_address')) STORED,
    user_agent              text               GENERATED ALWAYS AS (data ->> 'user_agent') STORED,
    request_id              uuid               GENERATED ALWAYS AS ((data ->> 'request_id')::uuid) STORED,
    error_code              text               GENERATED ALWAYS AS (data ->> 'error_code') STORED,
    error_message           text               GENERATED ALWAYS AS (data ->> 'error_message') STORED,
    retry_count             integer            NOT NULL GENERATED ALWAYS AS ((data ->> 'retry_count')::integer) STORED,
    processed_at            timestamptz        GENERATED ALWAYS AS (paymentskit_instant(data ->> 'processed_at')) STORED,
    failed_at               timestamptz        GENERATED ALWAYS AS (paymentskit_instant(data ->> 'failed_at')) STORED,
    deleted_at              timestamptz        GENERATED ALWAYS AS (paymentskit_instant(data ->> 'deleted_at')) STORED,
    -- The bookkeeping the refund rules and the event trigger check.
    refunded_amount         decimal(19, 4)     NOT NULL GENERATED ALWAYS AS ((data -> 'refunded_amount' ->> 'amount')::numeric) STORED,
    reserved_refund_amount  decimal(19, 4)     NOT NULL GENERATED ALWAYS AS ((data -> 'reserved_refund_amount' ->> 'amount')::numeric) STORED,
    event_count             bigint             NOT NULL GENERATED ALWAYS AS ((data ->> 'event_count')::bigint) STORED,
    CONSTRAINT transactions_pkey PRIMARY KEY (id),
    CONSTRAINT unique_partner_idempotency UNIQUE (partner_id, idempotency_key),
    CONSTRAINT transactions_partner_id_fkey FOREIGN KEY (partner_id) REFERENCES partners (id) DEFERRABLE INITIALLY DEFERRED,
    -- The seed's 0.01 and 100,000.00 bounds are OrchestrationOptions.MinAmount / MaxAmount, which a
    -- host may change; the database holds what DECIMAL(19, 4) can and the amount must be positive.
    CONSTRAINT check_amount_positive CHECK (amount > 0),
    CONSTRAINT check_retry_count CHECK (retry_count >= 0),
    -- Completed plus in-flight refunds never exceed the amount (the service's reservation rule).
    CONSTRAINT check_refunds_within_amount CHECK (
        refunded_amount >= 0 AND reserved_refund_amount >= 0 AND refunded_amount + reserved_refund_amount <= amount
        AND data -> 'refunded_amount' ->> 'asset' = currency AND data -> 'reserved_refund_amount' ->> 'asset' = currency),
    CONSTRAINT check_event_count CHECK (event_count >= 1)
);

CREATE INDEX transactions_tenant_idx ON transactions (tenant_id, id);
CREATE INDEX idx_transactions_partner_id ON transactions (partner_id) WHERE deleted_at IS NULL;
CREATE INDEX idx_transactions_status ON transactions (status) WHERE deleted_at IS NULL;
CREATE INDEX idx_transactions_created_at ON transactions (created_at DESC) WHERE deleted_at IS NULL;
CREATE INDEX idx_transactions_provider_transaction_id ON transactions (provider_transaction_id) WHERE deleted_at IS NULL;
CREATE INDEX idx_transactions_customer_email ON transactions (customer_email) WHERE deleted_at IS NULL;
CREATE INDEX idx_transactions_partner_status_created ON transactions (partner_id, status, created_at DESC) WHERE deleted_at IS NULL;
CREATE INDEX idx_transactions_metadata ON transactions USING GIN (metadata);

CREATE TABLE refunds (
    collection         text           NOT NULL CHECK (collection = 'orch_refund'),
    id                 uuid           NOT NULL,
    tenant_id          uuid           NOT NULL,
    version            bigint         NOT NULL CHECK (version >= 1),
    data               jsonb          NOT NULL,
    created_at         timestamptz    NOT NULL,
    updated_at         timestamptz    NOT NULL,
    partner_id         uuid           NOT NULL GENERATED ALWAYS AS (tenant_id) STORED,
    transaction_id     uuid           NOT NULL GENERATED ALWAYS AS (paymentskit_typeid_uuid(data ->> 'transaction_id')) STORED,
    sequence           integer        NOT NULL GENERATED ALWAYS AS ((data ->> 'sequence')::integer) STORED,
    amount             decimal(19, 4) NOT NULL GENERATED ALWAYS AS ((data -> 'amount' ->> 'amount')::numeric) STORED,
    currency           varchar(3)     NOT NULL GENERATED ALWAYS AS (data -> 'amount' ->> 'asset') STORED,
    reason             varchar(255)   NOT NULL GENERATED ALWAYS AS (data ->> 'reason') STORED,
    status             refund_status  NOT NULL GENERATED ALWAYS AS (paymentskit_refund_status(data ->> 'status')) STORED,
    provider_refund_id text           GENERATED ALWAYS AS (data ->> 'provider_refund_id') STORED,
    error_code         text           GENERATED ALWAYS AS (data ->> 'error_code') STORED,
    error_message      text           GENERATED ALWAYS AS (data ->> 'error_message') STORED,
    processed_at       timestamptz    GENERATED ALWAYS AS (paymentskit_instant(data ->> 'processed_at')) STORED,
    deleted_at         timestamptz    GENERATED ALWAYS AS (paymentskit_instant(data ->> 'deleted_at')) STORED,
    CONSTRAINT refunds_pkey PRIMARY KEY (id),
    CONSTRAINT refunds_sequence_key UNIQUE (transaction_id, sequence),
    CONSTRAINT refunds_transaction_id_fkey FOREIGN KEY (transaction_id) REFERENCES transactions (id) DEFERRABLE INITIALLY DEFERRED,
    CONSTRAINT check_refund_amount_positive CHECK (amount > 0)
);

CREATE INDEX refunds_tenant_idx ON refunds (tenant_id, id);
CREATE INDEX idx_refunds_transaction_id ON refunds (transaction_id) WHERE deleted_at IS NULL;
CREATE INDEX idx_refunds_status ON refunds (status) WHERE deleted_at IS NULL;
CREATE INDEX idx_refunds_created_at ON refunds (created_at DESC) WHERE deleted_at IS NULL;

CREATE TABLE transaction_events (
    collection        text        NOT NULL CHECK (collection = 'orch_transaction_event'),
    id                uuid        NOT NULL,
    tenant_id         uuid        NOT NULL,
    version           bigint      NOT NULL CHECK (version >= 1),
    data              jsonb       NOT NULL,
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL,
    partner_id        uuid        NOT NULL GENERATED ALWAYS AS (tenant_id) STORED,
    transaction_id    uuid        NOT NULL GENERATED ALWAYS AS (paymentskit_typeid_uuid(data ->> 'transaction_id')) STORED,
    sequence          bigint      NOT NULL GENERATED ALWAYS AS ((data ->> 'sequence')::bigint) STORED,
    event_type        event_type  NOT NULL GENERATED ALWAYS AS (paymentskit_event_type(data ->> 'event_type')) STORED,
    status            varchar(50) NOT NULL GENERATED ALWAYS AS (data ->> 'status') STORED,
    provider_response jsonb       GENERATED ALWAYS AS (data -> 'provider_response') STORED,
    error_message     text        GENERATED ALWAYS AS (data ->> 'error_message') STORED,
    created_by        varchar(100) NOT NULL GENERATED ALWAYS AS (data ->> 'created_by') STORED,
    ip_address        inet        GENERATED ALWAYS AS (paymentskit_inet(data ->> 'ip_address')) STORED,
    CONSTRAINT transaction_events_pkey PRIMARY KEY (id),
    -- Exactly one event per number of a transaction's history.
    CONSTRAINT transaction_events_sequence_key UNIQUE (transaction_id, sequence),
    CONSTRAINT transaction_events_transaction_id_fkey FOREIGN KEY (transaction_id) REFERENCES transactions (id) DEFERRABLE INITIALLY DEFERRED,
    CONSTRAINT transaction_events_status_check CHECK (paymentskit_transaction_status(status) IS NOT NULL)
);

CREATE INDEX transaction_events_tenant_idx ON transaction_events (tenant_id, id);
CREATE INDEX idx_transaction_events_transaction_id ON transaction_events (transaction_id);
CREATE INDEX idx_transaction_events_created_at ON transaction_events (created_at DESC);
CREATE INDEX idx_transaction_events_type ON transaction_events (event_type);
CREATE INDEX idx_transaction_events_txn_created ON transaction_events (transaction_id, created_at DESC);

CREATE TABLE audit_logs (
    collection    text         NOT NULL CHECK (collection = 'orch_audit_log'),
    id            uuid         NOT NULL,
    tenant_id     uuid         NOT NULL,
    version       bigint       NOT NULL CHECK (version >= 1),
    data          jsonb        NOT NULL,
    created_at    timestamptz  NOT NULL,
    updated_at    timestamptz  NOT NULL,
    -- Calls that named no (or an unknown) partner are audited too, hence no foreign key.
    partner_id    uuid         GENERATED ALWAYS AS (NULLIF(tenant_id, '00000000-0000-0000-0000-000000000000')) STORED,
    action        varchar(100) NOT NULL GENERATED ALWAYS AS (data ->> 'action') STORED,
    resource_type varchar(50)  NOT NULL GENERATED ALWAYS AS (data ->> 'resource_type') STORED,
    resource_id   uuid         GENERATED ALWAYS AS (paymentskit_typeid_uuid(data ->> 'resource_id')) STORED,
    outcome       text         NOT NULL GENERATED ALWAYS AS (data ->> 'outcome') STORED,
    error_code    text         GENERATED ALWAYS AS (data ->> 'error_code') STORED,
    ip_address    inet         NOT NULL GENERATED ALWAYS AS (paymentskit_inet(data ->> 'ip_address')) STORED,
    user_agent    text         GENERATED ALWAYS AS (data ->> 'user_agent') STORED,
    request_id    uuid         GENERATED ALWAYS AS ((data ->> 'request_id')::uuid) STORED,
    changes       jsonb        GENERATED ALWAYS AS (data -> 'changes') STORED,
    CONSTRAINT audit_logs_pkey PRIMARY KEY (id),
    CONSTRAINT audit_logs_outcome_check CHECK (outcome IN ('succeeded', 'rejected', 'replayed'))
);

CREATE INDEX audit_logs_tenant_idx ON audit_logs (tenant_id, id);
CREATE INDEX idx_audit_logs_partner_id ON audit_logs (partner_id);
CREATE INDEX idx_audit_logs_created_at ON audit_logs (created_at DESC);
CREATE INDEX idx_audit_logs_resource ON audit_logs (resource_type, resource_id);
CREATE INDEX idx_audit_logs_action ON audit_logs (action);

-- The lookups with the seed's rows, for reports and hand-written SQL. The services check amounts
-- and methods against OrchestrationOptions (which starts with the same rows and which a host may
-- extend), so transactions do not reference these tables.
CREATE TABLE payment_methods (
    id         serial       PRIMARY KEY,
    code       varchar(50)  NOT NULL UNIQUE,
    name       varchar(100) NOT NULL,
    is_active  boolean      NOT NULL DEFAULT true,
    created_at timestamptz  NOT NULL DEFAULT now()
);

INSERT INTO payment_methods (code, name) VALUES
    ('card', 'Credit/Debit Card'),
    ('bank_transfer', 'Bank Transfer'),
    ('e_wallet', 'E-Wallet'),
    ('crypto', 'Cryptocurrency');

CREATE TABLE currencies (
    code           varchar(3)   PRIMARY KEY,
    name           varchar(100) NOT NULL,
    symbol         varchar(10),
    decimal_places smallint     NOT NULL DEFAULT 2 CHECK (decimal_places BETWEEN 0 AND 4),
    is_active      boolean      NOT NULL DEFAULT true
);

INSERT INTO currencies (code, name, symbol, decimal_places) VALUES
    ('USD', 'US Dollar', '$', 2),
    ('EUR', 'Euro', '€', 2),
    ('GBP', 'British Pound', '£', 2),
    ('JPY', 'Japanese Yen', '¥', 0),
    ('THB', 'Thai Baht', '฿', 2);

CREATE TRIGGER partners_record_inserted BEFORE INSERT ON partners FOR EACH ROW EXECUTE FUNCTION paymentskit_record_inserted();
CREATE TRIGGER transactions_record_inserted BEFORE INSERT ON transactions FOR EACH ROW EXECUTE FUNCTION paymentskit_record_inserted();
CREATE TRIGGER refunds_record_inserted BEFORE INSERT ON refunds FOR EACH ROW EXECUTE FUNCTION paymentskit_record_inserted();
CREATE TRIGGER transaction_events_record_inserted BEFORE INSERT ON transaction_events FOR EACH ROW EXECUTE FUNCTION paymentskit_record_inserted();
CREATE TRIGGER audit_logs_record_inserted BEFORE INSERT ON audit_logs FOR EACH ROW EXECUTE FUNCTION paymentskit_record_inserted();

-- The seed's updated_at triggers (partners, transactions, refunds), and the same for the append-only
-- tables so a hand-written change to them is versioned too.
CREATE TRIGGER update_partners_updated_at BEFORE UPDATE ON partners FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
CREATE TRIGGER update_transactions_updated_at BEFORE UPDATE ON transactions FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
CREATE TRIGGER update_refunds_updated_at BEFORE UPDATE ON refunds FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
CREATE TRIGGER update_transaction_events_updated_at BEFORE UPDATE ON transaction_events FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
CREATE TRIGGER update_audit_logs_updated_at BEFORE UPDATE ON audit_logs FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();

-- Records written before these tables existed move over, unchanged.
INSERT INTO partners (collection, id, tenant_id, version, data, created_at, updated_at)
    SELECT collection, id, tenant_id, version, data, created_at, updated_at FROM paymentskit_records WHERE collection = 'orch_partner';
INSERT INTO transactions (collection, id, tenant_id, version, data, created_at, updated_at)
    SELECT collection, id, tenant_id, version, data, created_at, updated_at FROM paymentskit_records WHERE collection = 'orch_transaction';
INSERT INTO refunds (collection, id, tenant_id, version, data, created_at, updated_at)
    SELECT collection, id, tenant_id, version, data, created_at, updated_at FROM paymentskit_records WHERE collection = 'orch_refund';
INSERT INTO transaction_events (collection, id, tenant_id, version, data, created_at, updated_at)
    SELECT collection, id, tenant_id, version, data, created_at, updated_at FROM paymentskit_records WHERE collection = 'orch_transaction_event';
INSERT INTO audit_logs (collection, id, tenant_id, version, data, created_at, updated_at)
    SELECT collection, id, tenant_id, version, data, created_at, updated_at FROM paymentskit_records WHERE collection = 'orch_audit_log';
DELETE FROM paymentskit_records
    WHERE collection IN ('orch_partner', 'orch_transaction', 'orch_refund', 'orch_transaction_event', 'orch_audit_log');
