-- Webhook scheduling without rewriting the outbox row, and without one scheduler at a time
-- (issue 10, performance). Marking an event scheduled with webhook_events.scheduled_at rewrote the
-- wide row (every generated column recomputed, every index touched) once more per event, under an
-- advisory lock that let one dispatcher schedule at a time. Instead, a narrow row per unscheduled
-- event, written by a trigger in the outbox write's own transaction, is taken by schedulers with
-- FOR UPDATE SKIP LOCKED and deleted in the transaction that inserts the event's deliveries.
-- An event is therefore, in every snapshot, either unscheduled (its row here is visible) or has its
-- deliveries: a delivery with an ordering key is claimable only while no earlier event of its
-- resource is still here and no earlier delivery of its resource is pending.
CREATE TABLE webhook_events_unscheduled (
    dispatch_seq bigint NOT NULL,
    event_id     uuid   NOT NULL,
    tenant_id    uuid   NOT NULL,
    resource_key text   NOT NULL,
    CONSTRAINT webhook_events_unscheduled_pkey PRIMARY KEY (dispatch_seq)
);

CREATE INDEX webhook_events_unscheduled_resource_idx ON webhook_events_unscheduled (tenant_id, resource_key, dispatch_seq);

INSERT INTO webhook_events_unscheduled (dispatch_seq, event_id, tenant_id, resource_key)
SELECT dispatch_seq, id, tenant_id, resource_type || ':' || resource_id
FROM webhook_events WHERE collection = 'webhook_event' AND scheduled_at IS NULL;

CREATE FUNCTION paymentskit_webhook_event_unscheduled() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    INSERT INTO webhook_events_unscheduled (dispatch_seq, event_id, tenant_id, resource_key)
    VALUES (NEW.dispatch_seq, NEW.id, NEW.tenant_id, NEW.resource_type || ':' || NEW.resource_id);
    RETURN NULL;
END
$$;

CREATE TRIGGER webhook_events_unscheduled_insert AFTER INSERT ON webhook_events
    FOR EACH ROW WHEN (NEW.collection = 'webhook_event') EXECUTE FUNCTION paymentskit_webhook_event_unscheduled();

DROP INDEX webhook_events_unscheduled_idx;
ALTER TABLE webhook_events DROP COLUMN scheduled_at;
