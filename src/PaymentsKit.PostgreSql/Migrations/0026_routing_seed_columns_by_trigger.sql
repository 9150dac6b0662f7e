-- The seed columns of the router's tables written on every payment intent flow (quotes, payment_intents,
-- payment_attempts, webhook_events) are set by a BEFORE INSERT OR UPDATE row trigger instead of being STORED
-- generated columns (issue 5, performance; docs/decisions/0023-routing-seed-columns-by-trigger.md).
--
-- PostgreSQL 15 prepares a table's generation expressions again at every statement that writes it (per executor
-- start: each expression is read back from the catalog with stringToNode and planned, and paymentskit_instant's
-- SQL body is parsed and inlined again each time). These tables are written one row per statement, so that was
-- about a fifth of the server's CPU in the `intents` load scenario. A PL/pgSQL trigger function plans its
-- expressions once per session and evaluates them per row.
--
-- Same columns, types, values, NOT NULLs, CHECKs, indexes and foreign keys: each column keeps its generation
-- expression as the trigger's assignment (PL/pgSQL coerces to the column's type and typmod as a generated column
-- is), and the trigger recomputes every column from `data` on every insert and update, whoever writes, so the
-- columns still never disagree with the record. A value written to a column directly is overwritten by the
-- document's (a generated column refused it instead). DROP EXPRESSION keeps the stored values: no table rewrite.
-- BEFORE row triggers fire before constraints are checked, so the CHECKs still see the document's values; the
-- outbox's AFTER INSERT trigger (0014) still sees resource_type and resource_id.

ALTER TABLE quotes
    ALTER COLUMN public_id DROP EXPRESSION,
    ALTER COLUMN amount_usd DROP EXPRESSION,
    ALTER COLUMN amount_asset DROP EXPRESSION,
    ALTER COLUMN priority DROP EXPRESSION,
    ALTER COLUMN destination_ethereum DROP EXPRESSION,
    ALTER COLUMN destination_solana DROP EXPRESSION,
    ALTER COLUMN candidate_routes DROP EXPRESSION,
    ALTER COLUMN recommended_chain DROP EXPRESSION,
    ALTER COLUMN expires_at DROP EXPRESSION;

CREATE FUNCTION paymentskit_quotes_columns() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    NEW.public_id := NEW.data->>'id';
    NEW.amount_usd := (NEW.data->'amount'->>'amount')::numeric;
    NEW.amount_asset := NEW.data->'amount'->>'asset';
    NEW.priority := NEW.data->>'priority';
    NEW.destination_ethereum := jsonb_path_query_first(NEW.data, '$.destinations[*] ? (@.chain == "ethereum").address') #>> '{}';
    NEW.destination_solana := jsonb_path_query_first(NEW.data, '$.destinations[*] ? (@.chain == "solana").address') #>> '{}';
    NEW.candidate_routes := coalesce(NEW.data->'candidate_routes', '[]'::jsonb);
    NEW.recommended_chain := NEW.data->>'recommended_chain';
    NEW.expires_at := paymentskit_instant(NEW.data->>'expires_at');
    RETURN NEW;
END
$$;

CREATE TRIGGER quotes_columns BEFORE INSERT OR UPDATE ON quotes
    FOR EACH ROW EXECUTE FUNCTION paymentskit_quotes_columns();

ALTER TABLE payment_intents
    ALTER COLUMN public_id DROP EXPRESSION,
    ALTER COLUMN quote_id DROP EXPRESSION,
    ALTER COLUMN idempotency_key DROP EXPRESSION,
    ALTER COLUMN amount_usd DROP EXPRESSION,
    ALTER COLUMN selected_chain DROP EXPRESSION,
    ALTER COLUMN destination_address DROP EXPRESSION,
    ALTER COLUMN status DROP EXPRESSION,
    ALTER COLUMN due_at DROP EXPRESSION;

CREATE FUNCTION paymentskit_payment_intents_columns() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    NEW.public_id := NEW.data->>'id';
    NEW.quote_id := NEW.data->>'quote_id';
    NEW.idempotency_key := NEW.data->>'idempotency_key';
    NEW.amount_usd := (NEW.data->'amount'->>'amount')::numeric;
    NEW.selected_chain := NEW.data->>'selected_chain';
    NEW.destination_address := NEW.data->>'destination_address';
    NEW.status := NEW.data->>'status';
    NEW.due_at := paymentskit_instant(NEW.data->>'due_at');
    RETURN NEW;
END
$$;

CREATE TRIGGER payment_intents_columns BEFORE INSERT OR UPDATE ON payment_intents
    FOR EACH ROW EXECUTE FUNCTION paymentskit_payment_intents_columns();

ALTER TABLE payment_attempts
    ALTER COLUMN public_id DROP EXPRESSION,
    ALTER COLUMN payment_intent_id DROP EXPRESSION,
    ALTER COLUMN chain DROP EXPRESSION,
    ALTER COLUMN tx_id DROP EXPRESSION,
    ALTER COLUMN rpc_provider DROP EXPRESSION,
    ALTER COLUMN estimated_fee_usd DROP EXPRESSION,
    ALTER COLUMN actual_fee_native DROP EXPRESSION,
    ALTER COLUMN broadcast_at DROP EXPRESSION,
    ALTER COLUMN confirmed_at DROP EXPRESSION,
    ALTER COLUMN status DROP EXPRESSION,
    ALTER COLUMN failure_reason DROP EXPRESSION;

CREATE FUNCTION paymentskit_payment_attempts_columns() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    NEW.public_id := NEW.data->>'id';
    NEW.payment_intent_id := NEW.data->>'payment_intent_id';
    NEW.chain := NEW.data->>'chain';
    NEW.tx_id := NEW.data->>'tx_id';
    NEW.rpc_provider := NEW.data->>'rpc_provider';
    NEW.estimated_fee_usd := (NEW.data->'estimated_fee'->>'amount')::numeric;
    NEW.actual_fee_native := (NEW.data->'actual_fee_native'->>'amount')::numeric;
    NEW.broadcast_at := paymentskit_instant(NEW.data->>'broadcast_at');
    NEW.confirmed_at := paymentskit_instant(NEW.data->>'confirmed_at');
    NEW.status := NEW.data->>'status';
    NEW.failure_reason := NEW.data->>'failure_reason';
    RETURN NEW;
END
$$;

CREATE TRIGGER payment_attempts_columns BEFORE INSERT OR UPDATE ON payment_attempts
    FOR EACH ROW EXECUTE FUNCTION paymentskit_payment_attempts_columns();

ALTER TABLE webhook_events
    ALTER COLUMN public_id DROP EXPRESSION,
    ALTER COLUMN resource_type DROP EXPRESSION,
    ALTER COLUMN resource_id DROP EXPRESSION,
    ALTER COLUMN payment_intent_id DROP EXPRESSION,
    ALTER COLUMN event_type DROP EXPRESSION,
    ALTER COLUMN payload DROP EXPRESSION,
    ALTER COLUMN delivered DROP EXPRESSION,
    ALTER COLUMN attempts DROP EXPRESSION,
    ALTER COLUMN last_attempt_at DROP EXPRESSION;

CREATE FUNCTION paymentskit_webhook_events_columns() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    NEW.public_id := NEW.data->>'id';
    NEW.resource_type := NEW.data->>'resource_type';
    NEW.resource_id := NEW.data->>'resource_id';
    NEW.payment_intent_id := CASE WHEN NEW.data->>'resource_type' = 'payment_intent' THEN NEW.data->>'resource_id' END;
    NEW.event_type := NEW.data->>'event_type';
    NEW.payload := coalesce(NEW.data->'payload', '{}'::jsonb);
    NEW.delivered := (NEW.data->>'delivered')::boolean;
    NEW.attempts := (NEW.data->>'attempts')::integer;
    NEW.last_attempt_at := paymentskit_instant(NEW.data->>'last_attempt_at');
    RETURN NEW;
END
$$;

CREATE TRIGGER webhook_events_columns BEFORE INSERT OR UPDATE ON webhook_events
    FOR EACH ROW EXECUTE FUNCTION paymentskit_webhook_events_columns();
