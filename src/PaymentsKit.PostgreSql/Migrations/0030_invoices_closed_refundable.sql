-- What a partly paid invoice applied leaves revenue when it is cancelled or expires (Invoice.Refundable), and the ledger
-- posts that move at that moment. The monthly revenue query reports it in the month the invoice closed, so a month
-- already reported never changes afterwards; it needs, per invoice, the amount moved and when the invoice closed.
-- Both come from the record: `refundable` is its Refundable, `closed_at_ticks` the instant of its last transition once
-- it is EXPIRED or CANCELLED (both terminal, so that transition is the one that closed it; the ledger's move has the
-- same instant). invoices_refundable_closed_idx gives the monthly query the invoices closed since its first month.
-- Adding STORED generated columns rewrites the table once.
ALTER TABLE invoices
    ADD COLUMN refundable      numeric GENERATED ALWAYS AS ((data -> 'refundable' ->> 'amount')::numeric) STORED,
    ADD COLUMN closed_at_ticks bigint  GENERATED ALWAYS AS (
        CASE WHEN upper(data ->> 'status') IN ('EXPIRED', 'CANCELLED') THEN paymentskit_ticks(data -> 'transitions' -> -1 ->> 'at') END) STORED;

CREATE INDEX invoices_refundable_closed_idx ON invoices (tenant_id, closed_at_ticks) WHERE refundable IS NOT NULL;
