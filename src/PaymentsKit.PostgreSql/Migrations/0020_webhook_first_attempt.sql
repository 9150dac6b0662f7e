-- A first attempt written once (issue 10, performance; docs/decisions/0010-webhook-first-attempt-written-once.md).
-- Until now scheduling inserted every new delivery already leased and completion updated it: two writes of the
-- delivery row (the update never HOT: status leaves the due index), four index entries more, and a due index full of
-- leased rows that every claim walks. Instead, when an event has exactly one delivery and it is claimed as it is
-- scheduled, the claim is a lease on the event's narrow webhook_events_unscheduled row (an update of unindexed
-- columns, so HOT) and the delivery is inserted once, in its final state with its attempt log, when the attempt
-- completes, deleting the row in the same statement. A dispatcher that dies leaves the row leased; once the lease
-- expires a scheduler takes the event again and inserts its delivery pending with the lost attempt counted.
-- lease_endpoint_id is the endpoint the leased delivery goes to (the one whose lost attempt counts).
ALTER TABLE webhook_events_unscheduled
    ADD COLUMN lease_token       uuid,
    ADD COLUMN lease_expires_at  timestamptz,
    ADD COLUMN lease_endpoint_id uuid;

-- Room on every page for each row's leased version, so that the lease is a HOT update (no index entries): a leased
-- row is about 40 bytes wider, and the rows of a page are usually leased together (consecutive dispatch_seq).
ALTER TABLE webhook_events_unscheduled SET (fillfactor = 40);

-- The attempt log is written by the statement that writes its delivery (and deliveries are never deleted), so the
-- per-row foreign key check proves nothing the queue does not already guarantee; it cost a primary key probe per
-- attempt.
ALTER TABLE webhook_delivery_attempts DROP CONSTRAINT webhook_delivery_attempts_delivery_id_fkey;
