-- A lease-based dispatcher's least work per batch of 500: claim (a HOT update: attempts and last_attempt_at are
-- not indexed) and, after the POSTs, mark delivered (never HOT: idx_webhooks_undelivered's predicate reads it).
BEGIN;
WITH c AS (SELECT id FROM webhook_events WHERE NOT delivered AND (last_attempt_at IS NULL OR last_attempt_at < now() - interval '30 s') ORDER BY created_at LIMIT 500 FOR UPDATE SKIP LOCKED), u AS (UPDATE webhook_events w SET attempts = w.attempts + 1, last_attempt_at = now() FROM c WHERE w.id = c.id RETURNING w.id, w.payload, w.event_type) SELECT quote_literal(array_agg(id)::text) AS ids FROM u \gset
COMMIT;
UPDATE webhook_events SET delivered = true WHERE id = ANY(:ids::text[]) AND NOT delivered;
