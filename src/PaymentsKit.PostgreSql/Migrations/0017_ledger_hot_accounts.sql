-- The ledger's one-call path, cheaper per call (decision 0005, "Revision"). Same rows, same documents: only how
-- they are found and how their derived ids are computed changes.

-- Accounts are found by their typed id through a stored column rather than an index on the
-- expression `data ->> 'id'`. An expression index over `data` made every balance update a non-HOT
-- update (the indexed column `data` changed), so each one inserted into all three account indexes
-- and left a dead tuple the next call's scan had to step over. The typed id never changes, so an
-- index on this column lets balance updates stay on their heap page (HOT) without index writes.
ALTER TABLE ledger_accounts ADD COLUMN ref text NOT NULL GENERATED ALWAYS AS (data ->> 'id') STORED;
CREATE UNIQUE INDEX ledger_accounts_ref_idx ON ledger_accounts (ref);
DROP INDEX ledger_accounts_typed_id_idx;

-- Entry ids as migration 0012 derives them, in PL/pgSQL: the SQL function has a FROM clause, so it
-- was never inlined, and every call parsed and planned its body again (a few per cent of a call).
CREATE OR REPLACE FUNCTION paymentskit_ledger_entry_id(account uuid, sequence bigint) RETURNS uuid
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
AS $$
DECLARE
    h bytea := substring(sha256(uuid_send(account) || int8send(sequence)) FROM 1 FOR 16);
BEGIN
    RETURN encode(set_byte(set_byte(h, 6, (get_byte(h, 6) & 15) | 128), 8, (get_byte(h, 8) & 63) | 128), 'hex')::uuid;
END
$$;

-- The balanced-transaction core of migration 0012, with one change: the balance update finds the
-- locked accounts by primary key (id = ANY) rather than joining them to an unnest of the new
-- balances, which the planner answered with a hash join over a scan of the whole accounts table.
CREATE OR REPLACE FUNCTION paymentskit_ledger_apply(
    tenant uuid, tenant_ref text, transaction_id uuid, transaction_ref text, kind text, entry_type text,
    transfer_ref text, description text, metadata jsonb,
    accounts uuid[], sides text[], amounts numeric[], posted numeric[], pending numeric[],
    asset text, scale integer, chain text, now_text text, row_time timestamptz)
RETURNS text
LANGUAGE plpgsql
AS $$
#variable_conflict use_variable
DECLARE
    ids uuid[] := ARRAY(SELECT DISTINCT a FROM unnest(accounts) AS a ORDER BY a);
    wanted integer := array_length(ids, 1);
    refs text[];
    flags text[];
    chains text[];
    assets text[];
    updated text[];
    debits_posted numeric[];
    credits_posted numeric[];
    debits_pending numeric[];
    credits_pending numeric[];
    counts bigint[];
    entry_ids uuid[] := '{}';
    entries jsonb[] := '{}';
    postings jsonb := '[]';
    at text := now_text;
    k integer;
    i integer;
BEGIN
    SELECT array_agg(l.id ORDER BY l.id), array_agg(l.data ->> 'id' ORDER BY l.id), array_agg(l.flags ORDER BY l.id),
           array_agg(l.data -> 'metadata' ->> 'chain' ORDER BY l.id), array_agg(l.asset ORDER BY l.id),
           array_agg(l.data ->> 'updated_at' ORDER BY l.id),
           array_agg(l.debits_posted ORDER BY l.id), array_agg(l.credits_posted ORDER BY l.id),
           array_agg(l.debits_pending ORDER BY l.id), array_agg(l.credits_pending ORDER BY l.id),
           array_agg((l.data ->> 'entry_count')::bigint ORDER BY l.id)
      INTO ids, refs, flags, chains, assets, updated, debits_posted, credits_posted, debits_pending, credits_pending, counts
      FROM (SELECT * FROM ledger_accounts WHERE id = ANY (ids) AND tenant_id = tenant ORDER BY id FOR UPDATE) AS l;
    IF coalesce(array_length(ids, 1), 0) <> wanted THEN
        RETURN NULL;
    END IF;

    FOR k IN 1 .. array_length(ids, 1) LOOP
        IF assets[k] <> asset THEN
            RETURN NULL;
        END IF;

        IF paymentskit_ledger_instant_key(updated[k]) > paymentskit_ledger_instant_key(at) THEN
            at := updated[k];
        END IF;
    END LOOP;

    FOR i IN 1 .. array_length(accounts, 1) LOOP
        k := array_position(ids, accounts[i]);
        IF sides[i] = 'debit' THEN
            debits_posted[k] := debits_posted[k] + posted[i];
            debits_pending[k] := debits_pending[k] + pending[i];
        ELSE
            credits_posted[k] := credits_posted[k] + posted[i];
            credits_pending[k] := credits_pending[k] + pending[i];
        END IF;

        counts[k] := counts[k] + 1;
        entry_ids := entry_ids || paymentskit_ledger_entry_id(ids[k], counts[k]);
        entries := entries || jsonb_build_object(
            'id', entry_ids[i], 'tenant_id', tenant_ref, 'account_id', refs[k], 'sequence', counts[k],
            'transaction_id', transaction_ref, 'kind', kind, 'side', sides[i],
            'posted_change', paymentskit_ledger_money(posted[i], asset, scale),
            'pending_change', paymentskit_ledger_money(pending[i], asset, scale),
            'entry_type', entry_type, 'reference', NULL, 'transfer_id', transfer_ref, 'at', at,
            'debits_posted', paymentskit_ledger_money(debits_posted[k], asset, scale),
            'credits_posted', paymentskit_ledger_money(credits_posted[k], asset, scale),
            'debits_pending', paymentskit_ledger_money(debits_pending[k], asset, scale),
            'credits_pending', paymentskit_ledger_money(credits_pending[k], asset, scale),
            'chain', coalesce(chain, chains[k]));
        postings := postings || jsonb_build_object(
            'account_id', refs[k], 'side', sides[i], 'amount', paymentskit_ledger_money(amounts[i], asset, scale));
    END LOOP;

    FOR k IN 1 .. array_length(ids, 1) LOOP
        IF debits_pending[k] < 0 OR credits_pending[k] < 0
           OR (flags[k] = 'debits_must_not_exceed_credits' AND debits_posted[k] + debits_pending[k] > credits_posted[k])
           OR (flags[k] = 'credits_must_not_exceed_debits' AND credits_posted[k] + credits_pending[k] > debits_posted[k]) THEN
            RETURN NULL;
        END IF;
    END LOOP;

    UPDATE ledger_accounts AS a
       SET version = a.version + 1,
           updated_at = row_time,
           data = a.data || jsonb_build_object(
               'debits_posted', paymentskit_ledger_money(debits_posted[array_position(ids, a.id)], asset, scale),
               'credits_posted', paymentskit_ledger_money(credits_posted[array_position(ids, a.id)], asset, scale),
               'debits_pending', paymentskit_ledger_money(debits_pending[array_position(ids, a.id)], asset, scale),
               'credits_pending', paymentskit_ledger_money(credits_pending[array_position(ids, a.id)], asset, scale),
               'entry_count', counts[array_position(ids, a.id)],
               'updated_at', at)
     WHERE a.id = ANY (ids);

    INSERT INTO ledger_transactions (collection, id, tenant_id, version, data, created_at, updated_at)
    VALUES ('ledger_transaction', transaction_id, tenant, 1, jsonb_build_object(
        'id', transaction_ref, 'tenant_id', tenant_ref, 'kind', kind, 'postings', postings,
        'entry_type', entry_type, 'reference', NULL, 'idempotency_key', NULL, 'description', description,
        'metadata', coalesce(metadata, '{}'), 'reverses', NULL, 'transfer_id', transfer_ref,
        'reference_sequence', 0, 'created_at', at), row_time, row_time);

    INSERT INTO ledger_entries (collection, id, tenant_id, version, data, created_at, updated_at)
    SELECT 'ledger_entry', e.id, tenant, 1, e.data, row_time, row_time
      FROM unnest(entry_ids, entries) AS e (id, data);
    RETURN at;
END
$$;

-- Resolving finds the transfer's two accounts by the stored typed id (above).
CREATE OR REPLACE FUNCTION paymentskit_ledger_resolve(
    tenant uuid, tenant_ref text, transfer_id uuid, transaction_id uuid, transaction_ref text, is_void boolean,
    amount numeric, amount_asset text, amount_scale integer, asset_codes text[], asset_chains text[],
    now_text text, row_time timestamptz)
RETURNS jsonb
LANGUAGE plpgsql
AS $$
#variable_conflict use_variable
DECLARE
    transfer jsonb;
    reserved numeric;
    asset text;
    scale integer;
    moved numeric;
    debit_account uuid;
    credit_account uuid;
    at text;
BEGIN
    SELECT t.data INTO transfer FROM ledger_transfers AS t WHERE t.id = transfer_id AND t.tenant_id = tenant FOR UPDATE;
    IF transfer IS NULL OR transfer ->> 'state' <> 'pending' OR transfer ->> 'reference' IS NOT NULL
       OR (transfer ->> 'expires_at' IS NOT NULL
           AND paymentskit_ledger_instant_key(now_text) >= paymentskit_ledger_instant_key(transfer ->> 'expires_at')) THEN
        RETURN NULL;
    END IF;

    reserved := (transfer -> 'amount' ->> 'amount')::numeric;
    asset := transfer -> 'amount' ->> 'asset';
    scale := coalesce(length(split_part(transfer -> 'amount' ->> 'amount', '.', 2)), 0);
    IF is_void THEN
        amount := 0;
        moved := reserved;
    ELSE
        IF amount IS NOT NULL AND (amount_asset <> asset OR amount_scale <> scale) THEN
            RETURN NULL;
        END IF;

        amount := coalesce(amount, reserved);
        moved := amount;
        IF amount > reserved THEN
            RETURN NULL;
        END IF;
    END IF;

    SELECT id INTO debit_account FROM ledger_accounts WHERE ref = transfer ->> 'debit_account_id';
    SELECT id INTO credit_account FROM ledger_accounts WHERE ref = transfer ->> 'credit_account_id';
    at := paymentskit_ledger_apply(
        tenant, tenant_ref, transaction_id, transaction_ref,
        CASE WHEN is_void THEN 'void_pending' ELSE 'post_pending' END, CASE WHEN is_void THEN 'release' ELSE 'debit' END,
        transfer ->> 'id', NULL, '{}',
        ARRAY[debit_account, credit_account], ARRAY['debit', 'credit'], ARRAY[moved, moved], ARRAY[amount, amount], ARRAY[-reserved, -reserved],
        asset, scale, asset_chains[array_position(asset_codes, asset)], now_text, row_time);
    IF at IS NULL THEN
        RETURN NULL;
    END IF;

    transfer := transfer || jsonb_build_object(
        'state', CASE WHEN is_void THEN 'voided' ELSE 'posted' END,
        'posted_amount', paymentskit_ledger_money(amount, asset, scale),
        'released_amount', paymentskit_ledger_money(reserved - amount, asset, scale),
        'resolving_transaction_id', transaction_ref, 'resolved_at', at);
    UPDATE ledger_transfers AS t SET version = t.version + 1, updated_at = row_time, data = transfer WHERE t.id = transfer_id;
    RETURN transfer;
END
$$;

-- Their statements depend on their arguments only through key lookups, so one generic plan each
-- serves every call; without this the plan cache kept re-planning some of them per call.
ALTER FUNCTION paymentskit_ledger_apply(uuid, text, uuid, text, text, text, text, text, jsonb, uuid[], text[], numeric[], numeric[], numeric[], text, integer, text, text, timestamptz)
    SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION paymentskit_ledger_resolve(uuid, text, uuid, uuid, text, boolean, numeric, text, integer, text[], text[], text, timestamptz)
    SET plan_cache_mode = force_generic_plan;
