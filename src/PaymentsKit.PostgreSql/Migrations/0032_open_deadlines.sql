-- Deadline records (collections ledger_transfer_timeout, stream_deadline, invoicing_payment_link_deadline: the records
-- the expiry and completion sweeps walk) move from the shared record table to a table of their own. Closed deadlines
-- are kept, and a sweep's full pass used to read every one ever written; here open_key holds the nil uuid while a
-- deadline is open and null once it is closed, and paymentskit_deadlines_open_idx, partial on open_key, holds only
-- the open ones, so the sweep's list (IUnitOfWork.ListByAsync on open_key) reads the deadlines still open, in id order,
-- however many were closed before them (decision 0029).
-- One table serves every deadline collection, so the index leads with the collection. There is no tenant index:
-- deadlines are shared (tenant_id is the nil uuid), nothing lists them but the sweep, and the primary key answers a
-- plain list in id order.
CREATE TABLE paymentskit_deadlines (
    collection text        NOT NULL,
    id         uuid        NOT NULL,
    tenant_id  uuid        NOT NULL,
    version    bigint      NOT NULL CHECK (version >= 1),
    data       jsonb       NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    open_key   uuid        GENERATED ALWAYS AS (
        CASE WHEN (data ->> 'closed')::boolean THEN NULL ELSE '00000000-0000-0000-0000-000000000000'::uuid END) STORED,
    CONSTRAINT paymentskit_deadlines_pkey PRIMARY KEY (collection, id)
);

CREATE INDEX paymentskit_deadlines_open_idx ON paymentskit_deadlines (collection, tenant_id, open_key, id) WHERE open_key IS NOT NULL;

-- Deadlines written before this table existed move over, unchanged, closed ones included (a sweep reads only the open).
INSERT INTO paymentskit_deadlines (collection, id, tenant_id, version, data, created_at, updated_at)
    SELECT collection, id, tenant_id, version, data, created_at, updated_at FROM paymentskit_records
    WHERE collection IN ('ledger_transfer_timeout', 'stream_deadline', 'invoicing_payment_link_deadline');
DELETE FROM paymentskit_records WHERE collection IN ('ledger_transfer_timeout', 'stream_deadline', 'invoicing_payment_link_deadline');
