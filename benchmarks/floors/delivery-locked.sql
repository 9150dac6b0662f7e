-- The least work any dispatcher can do per batch of 500: one row version per event (as if the claim were a row
-- lock held across the POSTs and the same statement marked the events delivered).
WITH c AS (SELECT id FROM webhook_events WHERE NOT delivered ORDER BY created_at LIMIT 500 FOR UPDATE SKIP LOCKED) UPDATE webhook_events w SET delivered = true, attempts = w.attempts + 1, last_attempt_at = now() FROM c WHERE w.id = c.id RETURNING w.id, w.payload, w.event_type;
