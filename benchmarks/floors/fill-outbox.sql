TRUNCATE webhook_events;
INSERT INTO webhook_events (id, merchant_id, event_type, payload, created_at)
SELECT 'evt_' || lpad(g::text, 12, '0'), 'mer_1', 'invoice.paid',
       '{"type":"invoice.paid","timestamp":"2026-01-01T00:00:00Z","data":{"id":"inv_0123456789","amount":"12.34","asset":"USDC"}}',
       now() - interval '1 hour' + g * interval '1 microsecond'
FROM generate_series(1, 200000) g;
VACUUM ANALYZE webhook_events;
