-- The ledger's tables (issue 3; seed 001's ledger_entries). Ledger records are records like every
-- other collection (decision 0001): the store reads and writes the standard record columns, and
-- the columns below are generated from the record document so the books can be queried, indexed
-- and constrained in SQL. The service enforces every rule; the constraints are a second line.

CREATE TABLE ledger_accounts (
    collection      text        NOT NULL,
    id              uuid        NOT NULL,
    tenant_id       uuid        NOT NULL,
    version         bigint      NOT NULL,
    data            jsonb       NOT NULL,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,

    code            text        NOT NULL GENERATED ALWAYS AS (data ->> 'code') STORED,
    asset           text        NOT NULL GENERATED ALWAYS AS (data -> 'debits_posted' ->> 'asset') STORED,
    normal_side     text        NOT NULL GENERATED ALWAYS AS (data ->> 'normal_side') STORED,
    flags           text        NOT NULL GENERATED ALWAYS AS (data ->> 'flags') STORED,
    debits_posted   numeric     NOT NULL GENERATED ALWAYS AS ((data -> 'debits_posted' ->> 'amount')::numeric) STORED,
    credits_posted  numeric     NOT NULL GENERATED ALWAYS AS ((data -> 'credits_posted' ->> 'amount')::numeric) STORED,
    debits_pending  numeric     NOT NULL GENERATED ALWAYS AS ((data -> 'debits_pending' ->> 'amount')::numeric) STORED,
    credits_pending numeric     NOT NULL GENERATED ALWAYS AS ((data -> 'credits_pending' ->> 'amount')::numeric) STORED,

    CONSTRAINT ledger_accounts_pkey PRIMARY KEY (id),
    CONSTRAINT ledger_accounts_collection_check CHECK (collection = 'ledger_account'),
    CONSTRAINT ledger_accounts_version_check CHECK (version >= 1),
    CONSTRAINT ledger_accounts_normal_side_check CHECK (normal_side IN ('debit', 'credit')),
    CONSTRAINT ledger_accounts_pending_check CHECK (debits_pending >= 0 AND credits_pending >= 0),
    CONSTRAINT ledger_accounts_debits_flag_check CHECK (
        flags <> 'debits_must_not_exceed_credits' OR debits_posted + debits_pending <= credits_posted),
    CONSTRAINT ledger_accounts_credits_flag_check CHECK (
        flags <> 'credits_must_not_exceed_debits' OR credits_posted + credits_pending <= debits_posted)
);

-- Tenant-scoped paging in id order (the store's list query).
CREATE INDEX ledger_accounts_tenant_idx ON ledger_accounts (tenant_id, id);

CREATE TABLE ledger_transactions (
    collection      text        NOT NULL,
    id              uuid        NOT NULL,
    tenant_id       uuid        NOT NULL,
    version         bigint      NOT NULL,
    data            jsonb       NOT NULL,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,

    kind            text        NOT NULL GENERATED ALWAYS AS (data ->> 'kind') STORED,
    type            text                 GENERATED ALWAYS AS (data ->> 'entry_type') STORED,
    reference       text                 GENERATED ALWAYS AS (data ->> 'reference') STORED,
    transfer_id     text                 GENERATED ALWAYS AS (data ->> 'transfer_id') STORED,

    CONSTRAINT ledger_transactions_pkey PRIMARY KEY (id),
    CONSTRAINT ledger_transactions_collection_check CHECK (collection = 'ledger_transaction'),
    -- Transactions are immutable: written once, never updated.
    CONSTRAINT ledger_transactions_version_check CHECK (version = 1),
    CONSTRAINT ledger_transactions_kind_check CHECK (kind IN ('posted', 'pending', 'post_pending', 'void_pending', 'expire_pending')),
    CONSTRAINT ledger_transactions_type_check CHECK (type IS NULL OR type IN ('reserve', 'debit', 'fee', 'release', 'refund')),
    CONSTRAINT ledger_transactions_postings_check CHECK (jsonb_array_length(data -> 'postings') BETWEEN 1 AND 256)
);

CREATE INDEX ledger_transactions_tenant_idx ON ledger_transactions (tenant_id, id);
CREATE INDEX ledger_transactions_reference_idx ON ledger_transactions (tenant_id, reference) WHERE reference IS NOT NULL;

-- One row per posting per account: seed 001's ledger_entries (payment_intent_id, type, amount,
-- currency, chain, created_at) plus the account, its sequence and the running balances.
CREATE TABLE ledger_entries (
    collection        text        NOT NULL,
    id                uuid        NOT NULL,
    tenant_id         uuid        NOT NULL,
    version           bigint      NOT NULL,
    data              jsonb       NOT NULL,
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL,

    account_id        text        NOT NULL GENERATED ALWAYS AS (data ->> 'account_id') STORED,
    sequence          bigint      NOT NULL GENERATED ALWAYS AS ((data ->> 'sequence')::bigint) STORED,
    transaction_id    text        NOT NULL GENERATED ALWAYS AS (data ->> 'transaction_id') STORED,
    payment_intent_id text                 GENERATED ALWAYS AS (data ->> 'reference') STORED,
    type              text                 GENERATED ALWAYS AS (data ->> 'entry_type') STORED,
    side              text        NOT NULL GENERATED ALWAYS AS (data ->> 'side') STORED,
    posted_change     numeric     NOT NULL GENERATED ALWAYS AS ((data -> 'posted_change' ->> 'amount')::numeric) STORED,
    pending_change    numeric     NOT NULL GENERATED ALWAYS AS ((data -> 'pending_change' ->> 'amount')::numeric) STORED,
    -- The posting's amount: what was posted, else what was reserved or released.
    amount            numeric     NOT NULL GENERATED ALWAYS AS (
                          CASE WHEN (data -> 'posted_change' ->> 'amount')::numeric <> 0
                               THEN (data -> 'posted_change' ->> 'amount')::numeric
                               ELSE abs((data -> 'pending_change' ->> 'amount')::numeric) END) STORED,
    currency          text        NOT NULL GENERATED ALWAYS AS (data -> 'posted_change' ->> 'asset') STORED,
    chain             text                 GENERATED ALWAYS AS (data ->> 'chain') STORED,

    CONSTRAINT ledger_entries_pkey PRIMARY KEY (id),
    CONSTRAINT ledger_entries_collection_check CHECK (collection = 'ledger_entry'),
    CONSTRAINT ledger_entries_version_check CHECK (version = 1),
    CONSTRAINT ledger_entries_account_sequence_key UNIQUE (account_id, sequence),
    CONSTRAINT ledger_entries_sequence_check CHECK (sequence >= 1),
    CONSTRAINT ledger_entries_type_check CHECK (type IS NULL OR type IN ('reserve', 'debit', 'fee', 'release', 'refund')),
    CONSTRAINT ledger_entries_side_check CHECK (side IN ('debit', 'credit')),
    CONSTRAINT ledger_entries_amount_check CHECK (amount > 0 AND posted_change >= 0)
);

CREATE INDEX ledger_entries_tenant_idx ON ledger_entries (tenant_id, id);
CREATE INDEX idx_ledger_pi ON ledger_entries (payment_intent_id) WHERE payment_intent_id IS NOT NULL;
CREATE INDEX idx_ledger_chain ON ledger_entries (chain) WHERE chain IS NOT NULL;
CREATE INDEX idx_ledger_type ON ledger_entries (type);

CREATE TABLE ledger_transfers (
    collection      text        NOT NULL,
    id              uuid        NOT NULL,
    tenant_id       uuid        NOT NULL,
    version         bigint      NOT NULL,
    data            jsonb       NOT NULL,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,

    state           text        NOT NULL GENERATED ALWAYS AS (data ->> 'state') STORED,
    amount          numeric     NOT NULL GENERATED ALWAYS AS ((data -> 'amount' ->> 'amount')::numeric) STORED,
    posted_amount   numeric     NOT NULL GENERATED ALWAYS AS ((data -> 'posted_amount' ->> 'amount')::numeric) STORED,
    released_amount numeric     NOT NULL GENERATED ALWAYS AS ((data -> 'released_amount' ->> 'amount')::numeric) STORED,
    reference       text                 GENERATED ALWAYS AS (data ->> 'reference') STORED,

    CONSTRAINT ledger_transfers_pkey PRIMARY KEY (id),
    CONSTRAINT ledger_transfers_collection_check CHECK (collection = 'ledger_transfer'),
    CONSTRAINT ledger_transfers_version_check CHECK (version BETWEEN 1 AND 2),
    CONSTRAINT ledger_transfers_state_check CHECK (state IN ('pending', 'posted', 'voided', 'expired')),
    -- Resolved once, for exactly what was reserved: posted + released = amount.
    CONSTRAINT ledger_transfers_amount_check CHECK (
        amount > 0 AND posted_amount >= 0 AND released_amount >= 0
        AND (CASE WHEN state = 'pending' THEN posted_amount + released_amount = 0
                  ELSE posted_amount + released_amount = amount END))
);

CREATE INDEX ledger_transfers_tenant_idx ON ledger_transfers (tenant_id, id);
CREATE INDEX ledger_transfers_pending_idx ON ledger_transfers (tenant_id) WHERE state = 'pending';
