-- The outbox event's delivery summary (delivered, attempts, last_attempt_at) written as a HOT update (issue 10,
-- performance; decision 0009). Recording a delivery rewrote the wide webhook_events row as a new tuple with new
-- entries in every index, because delivered sits in idx_webhooks_undelivered's predicate; about half the cost of
-- recording an outcome. Nothing reads that index (the dispatcher finds work through webhook_events_unscheduled and
-- webhook_deliveries_due_idx; "which events are undelivered" is a question about their deliveries), so it goes, and
-- the table keeps free room on each page for the updated version. No index now covers a column the update changes,
-- so PostgreSQL writes the new version on the same page without touching any index.
DROP INDEX idx_webhooks_undelivered;

-- New pages only; pages written before keep their rows (their updates are simply not HOT while the page is full).
ALTER TABLE webhook_events SET (fillfactor = 50);
