-- Refunds of payments' unapplied money (collection invoicing_payment_refund): a merchant returns money kept for review
-- (a payment that matched nothing, arrived late, paid a cancelled invoice, or the other assets of a transaction) to its
-- payer. They get a table of their own, as invoice refunds did in 0029, with columns generated from the record:
-- payment_refunds_payment_idx answers the list of one payment's refunds (IUnitOfWork.ListByAsync on the payment_id
-- column) with that payment's rows only, in id order. They are kept apart from invoice_refunds because the revenue
-- queries report those as refunded out of overpayments, and these never were: they leave the unapplied account.
CREATE TABLE payment_refunds (
    collection       text        NOT NULL CHECK (collection = 'invoicing_payment_refund'),
    id               uuid        NOT NULL,
    tenant_id        uuid        NOT NULL,
    version          bigint      NOT NULL CHECK (version >= 1),
    data             jsonb       NOT NULL,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    merchant_id      uuid        NOT NULL GENERATED ALWAYS AS (tenant_id) STORED,
    payment_id       uuid        NOT NULL GENERATED ALWAYS AS (paymentskit_typeid_uuid(data ->> 'payment_id')) STORED,
    amount           numeric     NOT NULL GENERATED ALWAYS AS ((data -> 'amount' ->> 'amount')::numeric) STORED,
    asset            text        NOT NULL GENERATED ALWAYS AS (data -> 'amount' ->> 'asset') STORED,
    transaction_hash text        GENERATED ALWAYS AS (data ->> 'transaction_hash') STORED,
    created_at_ticks bigint      NOT NULL GENERATED ALWAYS AS (paymentskit_ticks(data ->> 'created_at')) STORED,
    CONSTRAINT payment_refunds_pkey PRIMARY KEY (id),
    CONSTRAINT payment_refunds_merchant_id_fkey FOREIGN KEY (merchant_id) REFERENCES users (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    CONSTRAINT payment_refunds_payment_id_fkey FOREIGN KEY (payment_id) REFERENCES payments (id) DEFERRABLE INITIALLY DEFERRED,
    CONSTRAINT payment_refunds_amount_check CHECK (amount > 0)
);

CREATE INDEX payment_refunds_tenant_idx ON payment_refunds (tenant_id, id);
CREATE INDEX payment_refunds_payment_idx ON payment_refunds (tenant_id, payment_id, id);
