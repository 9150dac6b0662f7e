-- The Link2Pay seed's tables (seed 000) for the invoicing module: users (merchants), clients,
-- api_keys, invoices, payment_links, payments. Each is a record table (the record store writes
-- collection, id, tenant_id, version and data) whose seed columns are STORED generated columns
-- read from the record JSON (snake_case names, Money as {"amount": "12.5", "asset": "XLM"},
-- typed ids as prefixed text). The store enforces the unique keys through paymentskit_unique_keys;
-- the UNIQUE constraints here are defence in depth over the same values, so one that fires in a
-- commit is reported as the store key holding the value. Foreign keys are deferred to commit
-- because a commit's batch writes records in the order the operation touched them. Deviations from
-- the seed and why: docs/decisions/0002-seed-tables-on-the-record-store.md.

CREATE TABLE users (
    collection     text        NOT NULL CHECK (collection = 'invoicing_merchant'),
    id             uuid        NOT NULL,
    tenant_id      uuid        NOT NULL,
    version        bigint      NOT NULL CHECK (version >= 1),
    data           jsonb       NOT NULL,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    chain          text        NOT NULL GENERATED ALWAYS AS (data ->> 'chain') STORED,
    wallet_address text        NOT NULL GENERATED ALWAYS AS (data ->> 'wallet_address') STORED,
    email          text        GENERATED ALWAYS AS (data ->> 'email') STORED,
    name           text        GENERATED ALWAYS AS (data ->> 'name') STORED,
    email_verified boolean     NOT NULL GENERATED ALWAYS AS ((data ->> 'email_verified')::boolean) STORED,
    CONSTRAINT users_pkey PRIMARY KEY (id),
    CONSTRAINT users_wallet_address_key UNIQUE (chain, wallet_address),
    CONSTRAINT users_email_key UNIQUE (email)
);

CREATE INDEX users_tenant_idx ON users (tenant_id, id);
CREATE INDEX users_wallet_address_idx ON users (wallet_address);

CREATE TABLE clients (
    collection     text        NOT NULL CHECK (collection = 'invoicing_client'),
    id             uuid        NOT NULL,
    tenant_id      uuid        NOT NULL,
    version        bigint      NOT NULL CHECK (version >= 1),
    data           jsonb       NOT NULL,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    merchant_id    uuid        NOT NULL GENERATED ALWAYS AS (tenant_id) STORED,
    name           text        NOT NULL GENERATED ALWAYS AS (data ->> 'name') STORED,
    email          text        GENERATED ALWAYS AS (data ->> 'email') STORED,
    wallet_address text        GENERATED ALWAYS AS (data ->> 'wallet_address') STORED,
    metadata       jsonb       GENERATED ALWAYS AS (data -> 'metadata') STORED,
    CONSTRAINT clients_pkey PRIMARY KEY (id),
    CONSTRAINT clients_merchant_id_email_key UNIQUE (merchant_id, email),
    CONSTRAINT clients_merchant_id_fkey FOREIGN KEY (merchant_id) REFERENCES users (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED
);

CREATE INDEX clients_tenant_idx ON clients (tenant_id, id);
CREATE INDEX clients_merchant_id_idx ON clients (merchant_id);
CREATE INDEX clients_email_idx ON clients (email);
CREATE INDEX clients_wallet_address_idx ON clients (wallet_address);

CREATE TABLE api_keys (
    collection   text        NOT NULL CHECK (collection = 'invoicing_api_key'),
    id           uuid        NOT NULL,
    tenant_id    uuid        NOT NULL,
    version      bigint      NOT NULL CHECK (version >= 1),
    data         jsonb       NOT NULL,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    user_id      uuid        NOT NULL GENERATED ALWAYS AS (tenant_id) STORED,
    -- The seed's `key` holds the hashed key; the key itself is never stored.
    key          text        NOT NULL GENERATED ALWAYS AS (data ->> 'hash') STORED,
    prefix       text        NOT NULL GENERATED ALWAYS AS (data ->> 'prefix') STORED,
    name         text        NOT NULL GENERATED ALWAYS AS (data ->> 'name') STORED,
    expires_at   timestamptz GENERATED ALWAYS AS (paymentskit_instant(data ->> 'expires_at')) STORED,
    last_used_at timestamptz GENERATED ALWAYS AS (paymentskit_instant(data ->> 'last_used_at')) STORED,
    revoked_at   timestamptz GENERATED ALWAYS AS (paymentskit_instant(data ->> 'revoked_at')) STORED,
    CONSTRAINT api_keys_pkey PRIMARY KEY (id),
    CONSTRAINT api_keys_key_key UNIQUE (key),
    CONSTRAINT api_keys_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED
);

CREATE INDEX api_keys_tenant_idx ON api_keys (tenant_id, id);
CREATE INDEX api_keys_user_id_idx ON api_keys (user_id);

CREATE TABLE invoices (
    collection       text        NOT NULL CHECK (collection = 'invoicing_invoice'),
    id               uuid        NOT NULL,
    tenant_id        uuid        NOT NULL,
    version          bigint      NOT NULL CHECK (version >= 1),
    data             jsonb       NOT NULL,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    invoice_number   text        NOT NULL GENERATED ALWAYS AS (data ->> 'number') STORED,
    merchant_id      uuid        NOT NULL GENERATED ALWAYS AS (tenant_id) STORED,
    client_id        uuid        GENERATED ALWAYS AS (paymentskit_typeid_uuid(data ->> 'client_id')) STORED,
    amount           numeric     NOT NULL GENERATED ALWAYS AS ((data -> 'amount' ->> 'amount')::numeric) STORED,
    asset            text        NOT NULL GENERATED ALWAYS AS (data -> 'amount' ->> 'asset') STORED,
    description      text        NOT NULL GENERATED ALWAYS AS (data ->> 'description') STORED,
    memo             text        NOT NULL GENERATED ALWAYS AS (data ->> 'memo') STORED,
    status           text        NOT NULL GENERATED ALWAYS AS (upper(data ->> 'status')) STORED,
    expires_at       timestamptz NOT NULL GENERATED ALWAYS AS (paymentskit_instant(data ->> 'expires_at')) STORED,
    paid_at          timestamptz GENERATED ALWAYS AS (paymentskit_instant(data ->> 'paid_at')) STORED,
    metadata         jsonb       GENERATED ALWAYS AS (data -> 'metadata') STORED,
    amount_paid      numeric     NOT NULL GENERATED ALWAYS AS ((data -> 'amount_paid' ->> 'amount')::numeric) STORED,
    overpaid         numeric     NOT NULL GENERATED ALWAYS AS ((data -> 'overpaid' ->> 'amount')::numeric) STORED,
    paid_late        boolean     NOT NULL GENERATED ALWAYS AS ((data ->> 'paid_late')::boolean) STORED,
    created_at_ticks bigint      NOT NULL GENERATED ALWAYS AS (paymentskit_ticks(data ->> 'created_at')) STORED,
    expires_at_ticks bigint      NOT NULL GENERATED ALWAYS AS (paymentskit_ticks(data ->> 'expires_at')) STORED,
    CONSTRAINT invoices_pkey PRIMARY KEY (id),
    CONSTRAINT invoices_invoice_number_key UNIQUE (merchant_id, invoice_number),
    CONSTRAINT invoices_memo_key UNIQUE (merchant_id, memo),
    CONSTRAINT invoices_merchant_id_fkey FOREIGN KEY (merchant_id) REFERENCES users (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    CONSTRAINT invoices_client_id_fkey FOREIGN KEY (client_id) REFERENCES clients (id) DEFERRABLE INITIALLY DEFERRED,
    CONSTRAINT invoices_status_check CHECK (status IN ('PENDING', 'PAID', 'EXPIRED', 'CANCELLED')),
    CONSTRAINT invoices_amount_check CHECK (amount > 0),
    CONSTRAINT invoices_amount_paid_check CHECK (amount_paid >= 0 AND overpaid >= 0 AND overpaid <= amount_paid),
    CONSTRAINT invoices_asset_check CHECK (data -> 'amount_paid' ->> 'asset' = asset AND data -> 'overpaid' ->> 'asset' = asset),
    CONSTRAINT invoices_paid_at_check CHECK (status <> 'PAID' OR paid_at IS NOT NULL)
);

CREATE INDEX invoices_tenant_idx ON invoices (tenant_id, id);
CREATE INDEX invoices_merchant_id_idx ON invoices (merchant_id);
CREATE INDEX invoices_client_id_idx ON invoices (client_id);
CREATE INDEX invoices_status_idx ON invoices (status);
CREATE INDEX invoices_expires_at_idx ON invoices (expires_at);
CREATE INDEX invoices_created_at_idx ON invoices (created_at);
CREATE INDEX invoices_invoice_number_idx ON invoices (invoice_number);
-- The pending-invoices page (newest first) and the expiry scan (soonest first), keyset on exact ticks.
CREATE INDEX invoices_pending_created_idx ON invoices (merchant_id, created_at_ticks DESC, id DESC) WHERE status = 'PENDING';
CREATE INDEX invoices_pending_expiry_idx ON invoices (expires_at_ticks, id) WHERE status = 'PENDING';

CREATE TABLE payment_links (
    collection   text        NOT NULL CHECK (collection = 'invoicing_payment_link'),
    id           uuid        NOT NULL,
    tenant_id    uuid        NOT NULL,
    version      bigint      NOT NULL CHECK (version >= 1),
    data         jsonb       NOT NULL,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    merchant_id  uuid        NOT NULL GENERATED ALWAYS AS (tenant_id) STORED,
    slug         text        NOT NULL GENERATED ALWAYS AS (data ->> 'slug') STORED,
    title        text        NOT NULL GENERATED ALWAYS AS (data ->> 'title') STORED,
    description  text        GENERATED ALWAYS AS (data ->> 'description') STORED,
    amount       numeric     NOT NULL GENERATED ALWAYS AS ((data -> 'amount' ->> 'amount')::numeric) STORED,
    asset        text        NOT NULL GENERATED ALWAYS AS (data -> 'amount' ->> 'asset') STORED,
    active       boolean     NOT NULL GENERATED ALWAYS AS ((data ->> 'active')::boolean) STORED,
    expires_at   timestamptz GENERATED ALWAYS AS (paymentskit_instant(data ->> 'expires_at')) STORED,
    max_uses     integer     GENERATED ALWAYS AS ((data ->> 'max_uses')::integer) STORED,
    current_uses integer     NOT NULL GENERATED ALWAYS AS ((data ->> 'current_uses')::integer) STORED,
    metadata     jsonb       GENERATED ALWAYS AS (data -> 'metadata') STORED,
    CONSTRAINT payment_links_pkey PRIMARY KEY (id),
    CONSTRAINT payment_links_slug_key UNIQUE (slug),
    CONSTRAINT payment_links_merchant_id_fkey FOREIGN KEY (merchant_id) REFERENCES users (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    CONSTRAINT payment_links_amount_check CHECK (amount > 0),
    -- A link is never used more often than it allows, whoever writes it.
    CONSTRAINT payment_links_uses_check CHECK (current_uses >= 0 AND (max_uses IS NULL OR (max_uses >= 1 AND current_uses <= max_uses)))
);

CREATE INDEX payment_links_tenant_idx ON payment_links (tenant_id, id);
CREATE INDEX payment_links_merchant_id_idx ON payment_links (merchant_id);
CREATE INDEX payment_links_active_idx ON payment_links (active);

CREATE TABLE payments (
    collection       text        NOT NULL CHECK (collection = 'invoicing_payment'),
    id               uuid        NOT NULL,
    tenant_id        uuid        NOT NULL,
    version          bigint      NOT NULL CHECK (version >= 1),
    data             jsonb       NOT NULL,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    merchant_id      uuid        NOT NULL GENERATED ALWAYS AS (tenant_id) STORED,
    chain            text        NOT NULL GENERATED ALWAYS AS (data ->> 'chain') STORED,
    transaction_hash text        NOT NULL GENERATED ALWAYS AS (data ->> 'transaction_hash') STORED,
    invoice_id       uuid        GENERATED ALWAYS AS (paymentskit_typeid_uuid(data ->> 'invoice_id')) STORED,
    link_id          uuid        GENERATED ALWAYS AS (paymentskit_typeid_uuid(data ->> 'link_id')) STORED,
    client_id        uuid        GENERATED ALWAYS AS (paymentskit_typeid_uuid(data ->> 'client_id')) STORED,
    amount           numeric     NOT NULL GENERATED ALWAYS AS ((data -> 'amount' ->> 'amount')::numeric) STORED,
    asset            text        NOT NULL GENERATED ALWAYS AS (data -> 'amount' ->> 'asset') STORED,
    -- The seed's `from` / `to` are reserved words in SQL; every query would have to quote them.
    from_address     text        NOT NULL GENERATED ALWAYS AS (data ->> 'from') STORED,
    to_address       text        NOT NULL GENERATED ALWAYS AS (data ->> 'to') STORED,
    memo             text        GENERATED ALWAYS AS (data ->> 'memo') STORED,
    confirmations    bigint      NOT NULL GENERATED ALWAYS AS ((data ->> 'confirmations')::bigint) STORED,
    status           text        NOT NULL GENERATED ALWAYS AS (upper(data ->> 'status')) STORED,
    review_code      text        GENERATED ALWAYS AS (data ->> 'review_code') STORED,
    created_at_ticks bigint      NOT NULL GENERATED ALWAYS AS (paymentskit_ticks(data ->> 'created_at')) STORED,
    CONSTRAINT payments_pkey PRIMARY KEY (id),
    -- The double-spend guard: a transaction pays once per chain.
    CONSTRAINT payments_transaction_hash_key UNIQUE (chain, transaction_hash),
    CONSTRAINT payments_merchant_id_fkey FOREIGN KEY (merchant_id) REFERENCES users (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    CONSTRAINT payments_invoice_id_fkey FOREIGN KEY (invoice_id) REFERENCES invoices (id) DEFERRABLE INITIALLY DEFERRED,
    CONSTRAINT payments_link_id_fkey FOREIGN KEY (link_id) REFERENCES payment_links (id) DEFERRABLE INITIALLY DEFERRED,
    CONSTRAINT payments_client_id_fkey FOREIGN KEY (client_id) REFERENCES clients (id) DEFERRABLE INITIALLY DEFERRED,
    -- PENDING and FAILED of the seed's PaymentStatus never occur: only final, successful transactions
    -- are recorded; one that cannot be applied is kept as NEEDS_REVIEW with its review code.
    CONSTRAINT payments_status_check CHECK (status IN ('CONFIRMED', 'NEEDS_REVIEW')),
    CONSTRAINT payments_review_check CHECK ((status = 'NEEDS_REVIEW') = (review_code IS NOT NULL)),
    CONSTRAINT payments_amount_check CHECK (amount > 0),
    -- A payment is attached to at most one invoice or link.
    CONSTRAINT payments_target_check CHECK (invoice_id IS NULL OR link_id IS NULL)
);

CREATE INDEX payments_tenant_idx ON payments (tenant_id, id);
CREATE INDEX payments_invoice_id_idx ON payments (invoice_id);
CREATE INDEX payments_link_id_idx ON payments (link_id);
CREATE INDEX payments_client_id_idx ON payments (client_id);
CREATE INDEX payments_from_idx ON payments (from_address);
CREATE INDEX payments_to_idx ON payments (to_address);
CREATE INDEX payments_status_idx ON payments (status);
CREATE INDEX payments_created_at_idx ON payments (created_at);
-- Payment history, revenue and top clients: a merchant's confirmed payments, newest first.
CREATE INDEX payments_confirmed_created_idx ON payments (merchant_id, created_at_ticks DESC, id DESC) WHERE status = 'CONFIRMED';

CREATE TRIGGER users_record_inserted BEFORE INSERT ON users FOR EACH ROW EXECUTE FUNCTION paymentskit_record_inserted();
CREATE TRIGGER clients_record_inserted BEFORE INSERT ON clients FOR EACH ROW EXECUTE FUNCTION paymentskit_record_inserted();
CREATE TRIGGER api_keys_record_inserted BEFORE INSERT ON api_keys FOR EACH ROW EXECUTE FUNCTION paymentskit_record_inserted();
CREATE TRIGGER invoices_record_inserted BEFORE INSERT ON invoices FOR EACH ROW EXECUTE FUNCTION paymentskit_record_inserted();
CREATE TRIGGER payment_links_record_inserted BEFORE INSERT ON payment_links FOR EACH ROW EXECUTE FUNCTION paymentskit_record_inserted();
CREATE TRIGGER payments_record_inserted BEFORE INSERT ON payments FOR EACH ROW EXECUTE FUNCTION paymentskit_record_inserted();

CREATE TRIGGER update_users_updated_at BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
CREATE TRIGGER update_clients_updated_at BEFORE UPDATE ON clients FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
CREATE TRIGGER update_api_keys_updated_at BEFORE UPDATE ON api_keys FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
CREATE TRIGGER update_invoices_updated_at BEFORE UPDATE ON invoices FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
CREATE TRIGGER update_payment_links_updated_at BEFORE UPDATE ON payment_links FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
CREATE TRIGGER update_payments_updated_at BEFORE UPDATE ON payments FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();

-- Records written before these tables existed move over, unchanged.
INSERT INTO users (collection, id, tenant_id, version, data, created_at, updated_at)
    SELECT collection, id, tenant_id, version, data, created_at, updated_at FROM paymentskit_records WHERE collection = 'invoicing_merchant';
INSERT INTO clients (collection, id, tenant_id, version, data, created_at, updated_at)
    SELECT collection, id, tenant_id, version, data, created_at, updated_at FROM paymentskit_records WHERE collection = 'invoicing_client';
INSERT INTO api_keys (collection, id, tenant_id, version, data, created_at, updated_at)
    SELECT collection, id, tenant_id, version, data, created_at, updated_at FROM paymentskit_records WHERE collection = 'invoicing_api_key';
INSERT INTO invoices (collection, id, tenant_id, version, data, created_at, updated_at)
    SELECT collection, id, tenant_id, version, data, created_at, updated_at FROM paymentskit_records WHERE collection = 'invoicing_invoice';
INSERT INTO payment_links (collection, id, tenant_id, version, data, created_at, updated_at)
    SELECT collection, id, tenant_id, version, data, created_at, updated_at FROM paymentskit_records WHERE collection = 'invoicing_payment_link';
INSERT INTO payments (collection, id, tenant_id, version, data, created_at, updated_at)
    SELECT collection, id, tenant_id, version, data, created_at, updated_at FROM paymentskit_records WHERE collection = 'invoicing_payment';
DELETE FROM paymentskit_records
    WHERE collection IN ('invoicing_merchant', 'invoicing_client', 'invoicing_api_key', 'invoicing_invoice', 'invoicing_payment_link', 'invoicing_payment');
