-- Invoice refunds (collection invoicing_invoice_refund) move from the shared record table to a table of their own, with
-- columns generated from the record as the seed tables' are (no seed table holds them, so the columns are PaymentsKit's).
-- In paymentskit_records, listing one invoice's refunds walked all of its merchant's refunds and the monthly revenue
-- query read every refund the merchant ever recorded; here invoice_refunds_invoice_idx answers the list
-- (IUnitOfWork.ListByAsync on the invoice_id column) with that invoice's rows only, in id order, and
-- invoice_refunds_created_idx gives the monthly query the refunds recorded since its first month.
CREATE TABLE invoice_refunds (
    collection       text        NOT NULL CHECK (collection = 'invoicing_invoice_refund'),
    id               uuid        NOT NULL,
    tenant_id        uuid        NOT NULL,
    version          bigint      NOT NULL CHECK (version >= 1),
    data             jsonb       NOT NULL,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    merchant_id      uuid        NOT NULL GENERATED ALWAYS AS (tenant_id) STORED,
    invoice_id       uuid        NOT NULL GENERATED ALWAYS AS (paymentskit_typeid_uuid(data ->> 'invoice_id')) STORED,
    amount           numeric     NOT NULL GENERATED ALWAYS AS ((data -> 'amount' ->> 'amount')::numeric) STORED,
    asset            text        NOT NULL GENERATED ALWAYS AS (data -> 'amount' ->> 'asset') STORED,
    transaction_hash text        GENERATED ALWAYS AS (data ->> 'transaction_hash') STORED,
    created_at_ticks bigint      NOT NULL GENERATED ALWAYS AS (paymentskit_ticks(data ->> 'created_at')) STORED,
    CONSTRAINT invoice_refunds_pkey PRIMARY KEY (id),
    CONSTRAINT invoice_refunds_merchant_id_fkey FOREIGN KEY (merchant_id) REFERENCES users (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    CONSTRAINT invoice_refunds_invoice_id_fkey FOREIGN KEY (invoice_id) REFERENCES invoices (id) DEFERRABLE INITIALLY DEFERRED,
    CONSTRAINT invoice_refunds_amount_check CHECK (amount > 0)
);

CREATE INDEX invoice_refunds_tenant_idx ON invoice_refunds (tenant_id, id);
CREATE INDEX invoice_refunds_invoice_idx ON invoice_refunds (tenant_id, invoice_id, id);
CREATE INDEX invoice_refunds_created_idx ON invoice_refunds (tenant_id, created_at_ticks);

-- Refunds recorded before this table existed move over, unchanged (their idempotency keys stay in paymentskit_unique_keys).
INSERT INTO invoice_refunds (collection, id, tenant_id, version, data, created_at, updated_at)
    SELECT collection, id, tenant_id, version, data, created_at, updated_at FROM paymentskit_records WHERE collection = 'invoicing_invoice_refund';
DELETE FROM paymentskit_records WHERE collection = 'invoicing_invoice_refund';
