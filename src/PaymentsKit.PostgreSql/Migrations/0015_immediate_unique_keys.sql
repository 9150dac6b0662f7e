-- The two UNIQUE constraints of the seed tables that were DEFERRABLE INITIALLY DEFERRED are checked
-- at once again. A commit writes its records first and claims their keys in
-- paymentskit_unique_keys after that. A deferred unique check therefore ran at COMMIT, after
-- the key claims. Two commits with one idempotency key could each hold what the other needs. The
-- first held the key row; the second had inserted the record row that the first's commit-time check
-- waited on. Every such pair is a real deadlock, found only after deadlock_timeout. With 32 creates
-- on one key the retries kept re-forming pairs until the command timeout. Checked at the insert,
-- the record row is the first thing every such commit contends for. The first insert wins, and the
-- rest wait there and then fail with a unique violation that the store reports as the key's holder.
-- Foreign keys stay deferred: they take KEY SHARE row locks, which never conflict with these inserts.
ALTER TABLE payment_intents
    DROP CONSTRAINT payment_intents_merchant_idempotency_key,
    ADD CONSTRAINT payment_intents_merchant_idempotency_key UNIQUE (tenant_id, idempotency_key);

ALTER TABLE merchants
    DROP CONSTRAINT merchants_api_key_hash_key,
    ADD CONSTRAINT merchants_api_key_hash_key UNIQUE (api_key_hash);
