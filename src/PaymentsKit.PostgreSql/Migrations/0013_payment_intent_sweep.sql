-- The payment intent sweep (AdvanceDueAsync, run by the Hosting job on any number of hosts): when each intent is
-- next due, from the record's due_at, with a partial index of the intents that are due at all, and one lease row
-- per claimed intent so concurrent sweepers take different intents (docs/routing.md, "Sweeping due intents").

ALTER TABLE payment_intents
    ADD COLUMN due_at timestamptz GENERATED ALWAYS AS (paymentskit_instant(data->>'due_at')) STORED;

CREATE INDEX idx_pi_due ON payment_intents (due_at, id) WHERE due_at IS NOT NULL;

-- A row exists while a sweeper holds the intent (or until the next claim replaces an expired one).
CREATE TABLE payment_intent_leases (
    intent_id    uuid        NOT NULL,
    leased_until timestamptz NOT NULL,
    CONSTRAINT payment_intent_leases_pkey PRIMARY KEY (intent_id)
);
