-- Eight intent flows per transaction set (the statements of intent-flow.sql over 8 flows at once): the floor of
-- a group commit that shared every statement and commit between 8 callers (run.sh runs 2 such writers, one per core).
SELECT nextval('flow_group_seq') * 8 AS n \gset
INSERT INTO quotes(id, merchant_id, amount_usd, priority, destination_ethereum, destination_solana, candidate_routes, recommended_chain, expires_at) SELECT 'quo_' || g, 'mer_1', 10.5, 'low_fee', '0x52908400098527886E0F7030069857D2E4169EE7', 'So11111111111111111111111111111111111111112', '[{"chain":"solana","score":0.91,"fee":"0.01"},{"chain":"ethereum","score":0.7,"fee":"1.20"}]', CASE WHEN g % 2 = 0 THEN 'solana' ELSE 'ethereum' END, now() + interval '5 minutes' FROM generate_series(:n, :n + 7) g;
BEGIN;
INSERT INTO payment_intents(id, merchant_id, quote_id, idempotency_key, amount_usd, selected_chain, destination_address) SELECT 'pi_' || g, 'mer_1', 'quo_' || g, 'idem_' || g, 10.5, CASE WHEN g % 2 = 0 THEN 'solana' ELSE 'ethereum' END, 'So11111111111111111111111111111111111111112' FROM generate_series(:n, :n + 7) g;
INSERT INTO webhook_events(id, merchant_id, payment_intent_id, event_type, payload) SELECT 'evt_' || g || 'a', 'mer_1', 'pi_' || g, 'payment_intent.created', '{"id":"pi_x","status":"created","amount":"10.5"}' FROM generate_series(:n, :n + 7) g;
COMMIT;
BEGIN;
UPDATE treasury_wallets SET available_balance = available_balance - 4 * 10.51, reserved_balance = reserved_balance + 4 * 10.51, updated_at = now() WHERE chain IN ('solana', 'ethereum') AND available_balance >= 4 * 10.51;
UPDATE payment_intents SET status = 'route_selected', updated_at = now() WHERE id = ANY(ARRAY(SELECT 'pi_' || g FROM generate_series(:n, :n + 7) g)) AND status = 'created';
INSERT INTO ledger_entries(id, payment_intent_id, type, amount, currency, chain) SELECT 'le_' || g || 'r', 'pi_' || g, 'reserve', 10.51, 'USDC', CASE WHEN g % 2 = 0 THEN 'solana' ELSE 'ethereum' END FROM generate_series(:n, :n + 7) g;
INSERT INTO webhook_events(id, merchant_id, payment_intent_id, event_type, payload) SELECT 'evt_' || g || 'b', 'mer_1', 'pi_' || g, 'payment_intent.route_selected', '{"id":"pi_x","status":"route_selected","chain":"solana"}' FROM generate_series(:n, :n + 7) g;
COMMIT;
BEGIN;
INSERT INTO payment_attempts(id, payment_intent_id, chain, tx_id, rpc_provider, estimated_fee_usd, broadcast_at, status) SELECT 'att_' || g, 'pi_' || g, CASE WHEN g % 2 = 0 THEN 'solana' ELSE 'ethereum' END, 'tx' || md5(g::text), 'primary', 0.01, now(), 'broadcasted' FROM generate_series(:n, :n + 7) g;
UPDATE payment_intents SET status = 'broadcasted', updated_at = now() WHERE id = ANY(ARRAY(SELECT 'pi_' || g FROM generate_series(:n, :n + 7) g)) AND status = 'route_selected';
INSERT INTO webhook_events(id, merchant_id, payment_intent_id, event_type, payload) SELECT 'evt_' || g || 'c', 'mer_1', 'pi_' || g, 'payment_intent.broadcasted', '{"id":"pi_x","status":"broadcasted","tx":"abc"}' FROM generate_series(:n, :n + 7) g;
COMMIT;
BEGIN;
UPDATE payment_attempts SET status = 'confirmed', confirmed_at = now(), actual_fee_native = 0.000005 WHERE id = ANY(ARRAY(SELECT 'att_' || g FROM generate_series(:n, :n + 7) g));
UPDATE payment_intents SET status = 'settled', updated_at = now() WHERE id = ANY(ARRAY(SELECT 'pi_' || g FROM generate_series(:n, :n + 7) g)) AND status = 'broadcasted';
UPDATE treasury_wallets SET reserved_balance = reserved_balance - 4 * 10.51, available_balance = available_balance + 4 * 0.004, updated_at = now() WHERE chain IN ('solana', 'ethereum');
INSERT INTO ledger_entries(id, payment_intent_id, type, amount, currency, chain) SELECT 'le_' || g || t, 'pi_' || g, t, 1, 'USDC', CASE WHEN g % 2 = 0 THEN 'solana' ELSE 'ethereum' END FROM generate_series(:n, :n + 7) g, unnest(ARRAY['debit','fee','release']) t;
INSERT INTO webhook_events(id, merchant_id, payment_intent_id, event_type, payload) SELECT 'evt_' || g || 'd', 'mer_1', 'pi_' || g, 'payment_intent.settled', '{"id":"pi_x","status":"settled"}' FROM generate_series(:n, :n + 7) g;
COMMIT;
