-- The orchestration seed's triggers (3.2, 3.3) as defence in depth. The services already write a
-- transaction's events and keep refunds within its amount, in the same commit as the change; these
-- triggers check that the database never holds anything else, whoever writes to it, and never
-- write a second copy of what the services wrote.

-- 3.2: every transaction's creation and status change has its event. The seed's trigger inserted the
-- event itself; here the service writes it (with the provider response and the actor, which a
-- trigger cannot know), so this is a constraint trigger checked at commit: the row's latest event
-- (number event_count) must exist and show the row's status, and a status change must come with a
-- new event number. A hand-written status change without its event is rejected.
CREATE FUNCTION log_transaction_changes()
RETURNS trigger
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.status = OLD.status AND NEW.event_count = OLD.event_count THEN
        RETURN NULL;
    END IF;

    IF TG_OP = 'UPDATE' AND NEW.status <> OLD.status AND NEW.event_count <= OLD.event_count THEN
        RAISE EXCEPTION USING
            ERRCODE = 'PKE01',
            MESSAGE = format('transaction %s moved from %s to %s without a new event (event_count stayed %s)', NEW.id, OLD.status, NEW.status, NEW.event_count),
            HINT = 'Write the status change through PaymentsKit, or insert its transaction_events row and raise event_count with it.';
    END IF;

    IF NOT EXISTS (
        SELECT 1 FROM transaction_events e
        WHERE e.transaction_id = NEW.id AND e.sequence = NEW.event_count AND e.status = NEW.status::text) THEN
        RAISE EXCEPTION USING
            ERRCODE = 'PKE01',
            MESSAGE = format('transaction %s is %s but has no event %s with that status', NEW.id, NEW.status, NEW.event_count),
            HINT = 'Write the status change through PaymentsKit, or insert its transaction_events row in the same transaction.';
    END IF;

    RETURN NULL;
END
$$;

CREATE CONSTRAINT TRIGGER log_transaction_changes_trigger
    AFTER INSERT OR UPDATE ON transactions
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW
    EXECUTE FUNCTION log_transaction_changes();

-- 3.3: refunds never exceed their transaction. Stricter than the seed, which counted completed
-- refunds only: pending and processing refunds have reserved their amount too, so every refund that
-- has not failed counts. Locking the transaction row first serializes refunds of one transaction, so
-- two concurrent inserts cannot both pass (the race the seed's version has under READ COMMITTED).
-- A store commit that changes what a refund counts for also writes its transaction (the service's
-- reservation), so it takes that row lock anyway.
CREATE FUNCTION validate_refund_amount()
RETURNS trigger
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
DECLARE
    transaction_amount   decimal(19, 4);
    transaction_currency varchar(3);
    total_refunded       decimal(19, 4);
BEGIN
    IF NEW.status = 'failed' THEN
        RETURN NULL;
    END IF;

    SELECT amount, currency INTO transaction_amount, transaction_currency
    FROM transactions
    WHERE id = NEW.transaction_id
    FOR NO KEY UPDATE;

    IF NOT FOUND THEN
        RAISE EXCEPTION USING
            ERRCODE = 'PKR01',
            MESSAGE = format('refund %s names transaction %s, which does not exist', NEW.id, NEW.transaction_id);
    END IF;

    IF NEW.currency <> transaction_currency THEN
        RAISE EXCEPTION USING
            ERRCODE = 'PKR01',
            MESSAGE = format('refund %s is in %s but transaction %s is in %s', NEW.id, NEW.currency, NEW.transaction_id, transaction_currency);
    END IF;

    SELECT COALESCE(SUM(amount), 0) INTO total_refunded
    FROM refunds
    WHERE transaction_id = NEW.transaction_id
      AND status <> 'failed'
      AND id <> NEW.id;

    IF total_refunded + NEW.amount > transaction_amount THEN
        RAISE EXCEPTION USING
            ERRCODE = 'PKR01',
            MESSAGE = format('Refund amount exceeds transaction amount: refund %s of %s %s on transaction %s of %s, which has %s refunded or in flight',
                             NEW.id, NEW.amount, NEW.currency, NEW.transaction_id, transaction_amount, total_refunded);
    END IF;

    RETURN NULL;
END
$$;

-- AFTER rather than the seed's BEFORE: generated columns (amount, status, transaction_id) are only
-- computed after BEFORE triggers run. Raising still aborts the statement.
CREATE TRIGGER validate_refund_amount_trigger
    AFTER INSERT OR UPDATE ON refunds
    FOR EACH ROW
    EXECUTE FUNCTION validate_refund_amount();
