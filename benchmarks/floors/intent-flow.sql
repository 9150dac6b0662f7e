-- One complete intent flow on seed 001's tables with the fewest statements its steps allow: a quote, then
-- create, select (reserve on the chain's treasury), broadcast (an attempt) and settle (post, fee, release), each
-- step one transaction writing its outbox event. No reads, no JSON documents, no client logic: a floor, not a design.
SELECT nextval('flow_seq') AS n, quote_literal(CASE WHEN random() < 0.5 THEN 'solana' ELSE 'ethereum' END) AS chain \gset
INSERT INTO quotes(id, merchant_id, amount_usd, priority, destination_ethereum, destination_solana, candidate_routes, recommended_chain, expires_at) VALUES ('quo_' || :n, 'mer_1', 10.5, 'low_fee', '0x52908400098527886E0F7030069857D2E4169EE7', 'So11111111111111111111111111111111111111112', '[{"chain":"solana","score":0.91,"fee":"0.01"},{"chain":"ethereum","score":0.7,"fee":"1.20"}]', :chain, now() + interval '5 minutes');
BEGIN;
INSERT INTO payment_intents(id, merchant_id, quote_id, idempotency_key, amount_usd, selected_chain, destination_address) VALUES ('pi_' || :n, 'mer_1', 'quo_' || :n, 'idem_' || :n, 10.5, :chain, 'So11111111111111111111111111111111111111112');
INSERT INTO webhook_events(id, merchant_id, payment_intent_id, event_type, payload) VALUES ('evt_' || :n || 'a', 'mer_1', 'pi_' || :n, 'payment_intent.created', '{"id":"pi_x","status":"created","amount":"10.5"}');
COMMIT;
BEGIN;
UPDATE treasury_wallets SET available_balance = available_balance - 10.51, reserved_balance = reserved_balance + 10.51, updated_at = now() WHERE chain = :chain AND available_balance >= 10.51;
UPDATE payment_intents SET status = 'route_selected', updated_at = now() WHERE id = 'pi_' || :n AND status = 'created';
INSERT INTO ledger_entries(id, payment_intent_id, type, amount, currency, chain) VALUES ('le_' || :n || 'r', 'pi_' || :n, 'reserve', 10.51, 'USDC', :chain);
INSERT INTO webhook_events(id, merchant_id, payment_intent_id, event_type, payload) VALUES ('evt_' || :n || 'b', 'mer_1', 'pi_' || :n, 'payment_intent.route_selected', '{"id":"pi_x","status":"route_selected","chain":"solana"}');
COMMIT;
BEGIN;
INSERT INTO payment_attempts(id, payment_intent_id, chain, tx_id, rpc_provider, estimated_fee_usd, broadcast_at, status) VALUES ('att_' || :n, 'pi_' || :n, :chain, 'tx' || md5(:n::text), 'primary', 0.01, now(), 'broadcasted');
UPDATE payment_intents SET status = 'broadcasted', updated_at = now() WHERE id = 'pi_' || :n AND status = 'route_selected';
INSERT INTO webhook_events(id, merchant_id, payment_intent_id, event_type, payload) VALUES ('evt_' || :n || 'c', 'mer_1', 'pi_' || :n, 'payment_intent.broadcasted', '{"id":"pi_x","status":"broadcasted","tx":"abc"}');
COMMIT;
BEGIN;
UPDATE payment_attempts SET status = 'confirmed', confirmed_at = now(), actual_fee_native = 0.000005 WHERE id = 'att_' || :n;
UPDATE payment_intents SET status = 'settled', updated_at = now() WHERE id = 'pi_' || :n AND status = 'broadcasted';
UPDATE treasury_wallets SET reserved_balance = reserved_balance - 10.51, available_balance = available_balance + 0.004, updated_at = now() WHERE chain = :chain;
INSERT INTO ledger_entries(id, payment_intent_id, type, amount, currency, chain) VALUES ('le_' || :n || 'd', 'pi_' || :n, 'debit', 10.5, 'USDC', :chain), ('le_' || :n || 'f', 'pi_' || :n, 'fee', 0.006, 'USDC', :chain), ('le_' || :n || 'l', 'pi_' || :n, 'release', 0.004, 'USDC', :chain);
INSERT INTO webhook_events(id, merchant_id, payment_intent_id, event_type, payload) VALUES ('evt_' || :n || 'd', 'mer_1', 'pi_' || :n, 'payment_intent.settled', '{"id":"pi_x","status":"settled"}');
COMMIT;
