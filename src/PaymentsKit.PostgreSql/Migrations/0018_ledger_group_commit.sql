-- The ledger's one-call path, group-committed (decision 0008). Concurrent standalone ledger calls of
-- one store are sent together as one call of paymentskit_ledger_batch: each operation is checked
-- and applied in order on the balances the earlier ones left, exactly as the per-operation
-- functions of migrations 0012/0017 did, and writes the same rows and documents; an operation
-- outside the path's scope (or one it would refuse) gets NULL, writes nothing and does not affect
-- the others (the service reruns it on the record path). What the batch shares is the statements:
-- one lock statement for the transfers, one for the accounts, and one set-based write per table,
-- so PostgreSQL's per-statement set-up of the record tables (their CHECK constraints and generated
-- columns, measured at ≈ 23 % of a call) and the per-transaction costs are paid once per batch.

-- Operations, one array element each (kind: 'posted' for a balanced transaction, 'reserve', 'post'
-- or 'void'); a balanced transaction's postings follow each other in p_accounts / p_sides /
-- p_amounts, posting_counts[i] of them for operation i. asset_chains (resolutions) maps every
-- registered asset code to its chain. Money is written inline as paymentskit_ledger_money writes it
-- (the amount with exactly the asset's scale): a PL/pgSQL call per amount cost more than the expression. Returns one document per operation (the transaction for
-- 'posted', the transfer otherwise) or NULL for "take the record path".
CREATE FUNCTION paymentskit_ledger_batch(
    kinds text[], tenants uuid[], tenant_refs text[], transaction_ids uuid[], transaction_refs text[],
    transfer_ids uuid[], transfer_refs text[], debit_accounts uuid[], credit_accounts uuid[],
    amounts numeric[], assets text[], scales integer[], chains text[], entry_types text[], descriptions text[],
    metadata jsonb[], asset_chains jsonb[], now_texts text[], row_time timestamptz,
    posting_counts integer[], p_accounts uuid[], p_sides text[], p_amounts numeric[])
RETURNS text[]
LANGUAGE plpgsql
AS $$
#variable_conflict use_variable
DECLARE
    n integer := array_length(kinds, 1);
    results text[] := array_fill(NULL::text, ARRAY[n]);
    -- Locked transfers (resolutions), in id order.
    t_ids uuid[];
    t_tenants uuid[];
    t_docs jsonb[];
    t_debits uuid[];
    t_credits uuid[];
    t_dirty boolean[];
    -- Locked accounts, in id order, with their running state.
    a_ids uuid[];
    a_tenants uuid[];
    a_refs text[];
    a_flags text[];
    a_chains text[];
    a_assets text[];
    a_updated text[];
    a_dp numeric[];
    a_cp numeric[];
    a_dq numeric[];
    a_cq numeric[];
    a_counts bigint[];
    a_bumps integer[];
    a_scales integer[];
    -- One operation's tentative state.
    o_dp numeric[];
    o_cp numeric[];
    o_dq numeric[];
    o_cq numeric[];
    o_counts bigint[];
    o_entry_ids uuid[];
    o_entries jsonb[];
    o_touched integer[];
    acc uuid[];
    sides text[];
    amts numeric[];
    posted numeric[];
    pending numeric[];
    kind text;
    etype text;
    tref text;
    description text;
    meta jsonb;
    asset text;
    scale integer;
    chain text;
    at text;
    postings jsonb;
    doc jsonb;
    transfer jsonb;
    reserved numeric;
    amount numeric;
    moved numeric;
    j integer;
    k integer;
    p integer;
    ptr integer := 1;
    -- What the batch writes.
    w_entry_ids uuid[] := '{}';
    w_entry_tenants uuid[] := '{}';
    w_entries jsonb[] := '{}';
    w_tx_ids uuid[] := '{}';
    w_tx_tenants uuid[] := '{}';
    w_txs jsonb[] := '{}';
    w_tr_ids uuid[] := '{}';
    w_tr_tenants uuid[] := '{}';
    w_trs jsonb[] := '{}';
    w_accounts uuid[];
    w_resolved uuid[];
BEGIN
    SELECT coalesce(array_agg(t.id ORDER BY t.id), '{}'), array_agg(t.tenant_id ORDER BY t.id), array_agg(t.data ORDER BY t.id)
      INTO t_ids, t_tenants, t_docs
      FROM (SELECT * FROM ledger_transfers
             WHERE id = ANY (ARRAY(SELECT transfer_ids[s] FROM generate_subscripts(kinds, 1) AS s WHERE kinds[s] IN ('post', 'void')))
             ORDER BY id FOR UPDATE) AS t;
    SELECT array_agg(d.id ORDER BY x.n), array_agg(c.id ORDER BY x.n)
      INTO t_debits, t_credits
      FROM unnest(t_docs) WITH ORDINALITY AS x (doc, n)
           LEFT JOIN ledger_accounts AS d ON d.ref = x.doc ->> 'debit_account_id'
           LEFT JOIN ledger_accounts AS c ON c.ref = x.doc ->> 'credit_account_id';
    t_dirty := array_fill(false, ARRAY[coalesce(array_length(t_ids, 1), 0)]);

    SELECT coalesce(array_agg(l.id ORDER BY l.id), '{}'), array_agg(l.tenant_id ORDER BY l.id), array_agg(l.ref ORDER BY l.id),
           array_agg(l.flags ORDER BY l.id), array_agg(l.data -> 'metadata' ->> 'chain' ORDER BY l.id), array_agg(l.asset ORDER BY l.id),
           array_agg(l.data ->> 'updated_at' ORDER BY l.id),
           array_agg(l.debits_posted ORDER BY l.id), array_agg(l.credits_posted ORDER BY l.id),
           array_agg(l.debits_pending ORDER BY l.id), array_agg(l.credits_pending ORDER BY l.id),
           array_agg((l.data ->> 'entry_count')::bigint ORDER BY l.id)
      INTO a_ids, a_tenants, a_refs, a_flags, a_chains, a_assets, a_updated, a_dp, a_cp, a_dq, a_cq, a_counts
      FROM (SELECT * FROM ledger_accounts
             WHERE id = ANY (coalesce(p_accounts, '{}') || debit_accounts || credit_accounts || coalesce(t_debits, '{}') || coalesce(t_credits, '{}'))
             ORDER BY id FOR UPDATE) AS l;
    a_bumps := array_fill(0, ARRAY[coalesce(array_length(a_ids, 1), 0)]);

    <<operations>>
    FOR i IN 1 .. n LOOP
        kind := kinds[i];
        IF kind = 'posted' THEN
            acc := p_accounts[ptr : ptr + posting_counts[i] - 1];
            sides := p_sides[ptr : ptr + posting_counts[i] - 1];
            amts := p_amounts[ptr : ptr + posting_counts[i] - 1];
            ptr := ptr + posting_counts[i];
            posted := amts;
            pending := array_fill(0::numeric, ARRAY[posting_counts[i]]);
            asset := assets[i];
            scale := scales[i];
            chain := chains[i];
            etype := entry_types[i];
            tref := NULL;
            description := descriptions[i];
            meta := metadata[i];
        ELSIF kind = 'reserve' THEN
            amount := amounts[i];
            acc := ARRAY[debit_accounts[i], credit_accounts[i]];
            sides := ARRAY['debit', 'credit'];
            amts := ARRAY[amount, amount];
            posted := ARRAY[0, 0]::numeric[];
            pending := amts;
            kind := 'pending';
            asset := assets[i];
            scale := scales[i];
            chain := chains[i];
            etype := entry_types[i];
            tref := transfer_refs[i];
            description := descriptions[i];
            meta := metadata[i];
        ELSE
            -- Posting or voiding a pending transfer without a reference that has not expired.
            j := array_position(t_ids, transfer_ids[i]);
            CONTINUE operations WHEN j IS NULL OR t_tenants[j] <> tenants[i];
            transfer := t_docs[j];
            CONTINUE operations WHEN transfer ->> 'state' <> 'pending' OR transfer ->> 'reference' IS NOT NULL
                OR (transfer ->> 'expires_at' IS NOT NULL
                    AND paymentskit_ledger_instant_key(now_texts[i]) >= paymentskit_ledger_instant_key(transfer ->> 'expires_at'));
            reserved := (transfer -> 'amount' ->> 'amount')::numeric;
            asset := transfer -> 'amount' ->> 'asset';
            scale := coalesce(length(split_part(transfer -> 'amount' ->> 'amount', '.', 2)), 0);
            IF kind = 'void' THEN
                amount := 0;
                moved := reserved;
            ELSE
                CONTINUE operations WHEN amounts[i] IS NOT NULL AND (assets[i] <> asset OR scales[i] <> scale);
                amount := coalesce(amounts[i], reserved);
                moved := amount;
                CONTINUE operations WHEN amount > reserved;
            END IF;

            acc := ARRAY[t_debits[j], t_credits[j]];
            sides := ARRAY['debit', 'credit'];
            amts := ARRAY[moved, moved];
            posted := ARRAY[amount, amount];
            pending := ARRAY[-reserved, -reserved];
            kind := CASE WHEN kind = 'void' THEN 'void_pending' ELSE 'post_pending' END;
            etype := CASE WHEN kind = 'void_pending' THEN 'release' ELSE 'debit' END;
            tref := transfer ->> 'id';
            description := NULL;
            meta := '{}';
            chain := asset_chains[i] ->> asset;
        END IF;

        -- Every account known, the caller's, in the asset; the instant never before a touched account's last change.
        o_touched := '{}';
        at := now_texts[i];
        FOR p IN 1 .. array_length(acc, 1) LOOP
            k := array_position(a_ids, acc[p]);
            CONTINUE operations WHEN k IS NULL OR a_tenants[k] <> tenants[i] OR a_assets[k] <> asset;
            IF NOT k = ANY (o_touched) THEN
                o_touched := o_touched || k;
                IF paymentskit_ledger_instant_key(a_updated[k]) > paymentskit_ledger_instant_key(at) THEN
                    at := a_updated[k];
                END IF;
            END IF;
        END LOOP;

        o_dp := a_dp;
        o_cp := a_cp;
        o_dq := a_dq;
        o_cq := a_cq;
        o_counts := a_counts;
        o_entry_ids := '{}';
        o_entries := '{}';
        postings := '[]';
        FOR p IN 1 .. array_length(acc, 1) LOOP
            k := array_position(a_ids, acc[p]);
            IF sides[p] = 'debit' THEN
                o_dp[k] := o_dp[k] + posted[p];
                o_dq[k] := o_dq[k] + pending[p];
            ELSE
                o_cp[k] := o_cp[k] + posted[p];
                o_cq[k] := o_cq[k] + pending[p];
            END IF;

            o_counts[k] := o_counts[k] + 1;
            o_entry_ids := o_entry_ids || paymentskit_ledger_entry_id(a_ids[k], o_counts[k]);
            o_entries := o_entries || jsonb_build_object(
                'id', o_entry_ids[p], 'tenant_id', tenant_refs[i], 'account_id', a_refs[k], 'sequence', o_counts[k],
                'transaction_id', transaction_refs[i], 'kind', kind, 'side', sides[p],
                'posted_change', jsonb_build_object('amount', round(posted[p], scale)::text, 'asset', asset),
                'pending_change', jsonb_build_object('amount', round(pending[p], scale)::text, 'asset', asset),
                'entry_type', etype, 'reference', NULL, 'transfer_id', tref, 'at', at,
                'debits_posted', jsonb_build_object('amount', round(o_dp[k], scale)::text, 'asset', asset),
                'credits_posted', jsonb_build_object('amount', round(o_cp[k], scale)::text, 'asset', asset),
                'debits_pending', jsonb_build_object('amount', round(o_dq[k], scale)::text, 'asset', asset),
                'credits_pending', jsonb_build_object('amount', round(o_cq[k], scale)::text, 'asset', asset),
                'chain', coalesce(chain, a_chains[k]));
            postings := postings || jsonb_build_object(
                'account_id', a_refs[k], 'side', sides[p], 'amount', jsonb_build_object('amount', round(amts[p], scale)::text, 'asset', asset));
        END LOOP;

        FOREACH k IN ARRAY o_touched LOOP
            CONTINUE operations WHEN o_dq[k] < 0 OR o_cq[k] < 0
               OR (a_flags[k] = 'debits_must_not_exceed_credits' AND o_dp[k] + o_dq[k] > o_cp[k])
               OR (a_flags[k] = 'credits_must_not_exceed_debits' AND o_cp[k] + o_cq[k] > o_dp[k]);
        END LOOP;

        -- Accepted: later operations see its balances.
        a_dp := o_dp;
        a_cp := o_cp;
        a_dq := o_dq;
        a_cq := o_cq;
        a_counts := o_counts;
        FOREACH k IN ARRAY o_touched LOOP
            a_updated[k] := at;
            a_bumps[k] := a_bumps[k] + 1;
            a_scales[k] := scale;
        END LOOP;

        w_entry_ids := w_entry_ids || o_entry_ids;
        w_entries := w_entries || o_entries;
        w_entry_tenants := w_entry_tenants || array_fill(tenants[i], ARRAY[array_length(o_entry_ids, 1)]);
        doc := jsonb_build_object(
            'id', transaction_refs[i], 'tenant_id', tenant_refs[i], 'kind', kind, 'postings', postings,
            'entry_type', etype, 'reference', NULL, 'idempotency_key', NULL, 'description', description,
            'metadata', coalesce(meta, '{}'), 'reverses', NULL, 'transfer_id', tref,
            'reference_sequence', 0, 'created_at', at);
        w_tx_ids := w_tx_ids || transaction_ids[i];
        w_tx_tenants := w_tx_tenants || tenants[i];
        w_txs := w_txs || doc;

        IF kind = 'posted' THEN
            results[i] := doc::text;
        ELSIF kind = 'pending' THEN
            doc := jsonb_build_object(
                'id', tref, 'tenant_id', tenant_refs[i],
                'debit_account_id', a_refs[array_position(a_ids, acc[1])],
                'credit_account_id', a_refs[array_position(a_ids, acc[2])],
                'amount', jsonb_build_object('amount', round(amount, scale)::text, 'asset', asset), 'state', 'pending',
                'posted_amount', jsonb_build_object('amount', round(0, scale)::text, 'asset', asset), 'released_amount', jsonb_build_object('amount', round(0, scale)::text, 'asset', asset),
                'timeout', NULL, 'expires_at', NULL, 'entry_type', etype, 'reference', NULL,
                'pending_transaction_id', transaction_refs[i], 'resolving_transaction_id', NULL, 'created_at', at, 'resolved_at', NULL);
            w_tr_ids := w_tr_ids || transfer_ids[i];
            w_tr_tenants := w_tr_tenants || tenants[i];
            w_trs := w_trs || doc;
            results[i] := doc::text;
        ELSE
            t_docs[j] := transfer || jsonb_build_object(
                'state', CASE WHEN kind = 'void_pending' THEN 'voided' ELSE 'posted' END,
                'posted_amount', jsonb_build_object('amount', round(amount, scale)::text, 'asset', asset),
                'released_amount', jsonb_build_object('amount', round(reserved - amount, scale)::text, 'asset', asset),
                'resolving_transaction_id', transaction_refs[i], 'resolved_at', at);
            t_dirty[j] := true;
            results[i] := t_docs[j]::text;
        END IF;
    END LOOP;

    IF array_length(w_tx_ids, 1) IS NULL THEN
        RETURN results;
    END IF;

    -- Each account's version moves once per operation that changed it, as on the record path.
    w_accounts := ARRAY(SELECT a_ids[s] FROM generate_subscripts(a_ids, 1) AS s WHERE a_bumps[s] > 0);
    UPDATE ledger_accounts AS a
       SET version = a.version + a_bumps[array_position(a_ids, a.id)],
           updated_at = row_time,
           data = a.data || jsonb_build_object(
               'debits_posted', jsonb_build_object('amount', round(a_dp[array_position(a_ids, a.id)], a_scales[array_position(a_ids, a.id)])::text, 'asset', a.asset),
               'credits_posted', jsonb_build_object('amount', round(a_cp[array_position(a_ids, a.id)], a_scales[array_position(a_ids, a.id)])::text, 'asset', a.asset),
               'debits_pending', jsonb_build_object('amount', round(a_dq[array_position(a_ids, a.id)], a_scales[array_position(a_ids, a.id)])::text, 'asset', a.asset),
               'credits_pending', jsonb_build_object('amount', round(a_cq[array_position(a_ids, a.id)], a_scales[array_position(a_ids, a.id)])::text, 'asset', a.asset),
               'entry_count', a_counts[array_position(a_ids, a.id)],
               'updated_at', a_updated[array_position(a_ids, a.id)])
     WHERE a.id = ANY (w_accounts);

    INSERT INTO ledger_transactions (collection, id, tenant_id, version, data, created_at, updated_at)
    SELECT 'ledger_transaction', x.id, x.tenant, 1, x.data, row_time, row_time
      FROM unnest(w_tx_ids, w_tx_tenants, w_txs) AS x (id, tenant, data);

    INSERT INTO ledger_entries (collection, id, tenant_id, version, data, created_at, updated_at)
    SELECT 'ledger_entry', e.id, e.tenant, 1, e.data, row_time, row_time
      FROM unnest(w_entry_ids, w_entry_tenants, w_entries) AS e (id, tenant, data);

    IF array_length(w_tr_ids, 1) IS NOT NULL THEN
        INSERT INTO ledger_transfers (collection, id, tenant_id, version, data, created_at, updated_at)
        SELECT 'ledger_transfer', x.id, x.tenant, 1, x.data, row_time, row_time
          FROM unnest(w_tr_ids, w_tr_tenants, w_trs) AS x (id, tenant, data);
    END IF;

    w_resolved := ARRAY(SELECT t_ids[s] FROM generate_subscripts(t_ids, 1) AS s WHERE t_dirty[s]);
    IF array_length(w_resolved, 1) IS NOT NULL THEN
        UPDATE ledger_transfers AS t
           SET version = t.version + 1, updated_at = row_time, data = t_docs[array_position(t_ids, t.id)]
         WHERE t.id = ANY (w_resolved);
    END IF;

    RETURN results;
END
$$;

-- Every statement is a key lookup, so one generic plan each serves every batch (as in migration 0017).
-- A session plans them once, often while the tables are still small; sequential scans off keeps those
-- plans on the primary keys as the tables grow (measured: a generic plan made on a fresh table
-- scanned all of ledger_transfers on every batch).
ALTER FUNCTION paymentskit_ledger_batch(text[], uuid[], text[], uuid[], text[], uuid[], text[], uuid[], uuid[], numeric[], text[], integer[], text[], text[], text[], jsonb[], jsonb[], text[], timestamptz, integer[], uuid[], text[], numeric[])
    SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION paymentskit_ledger_batch(text[], uuid[], text[], uuid[], text[], uuid[], text[], uuid[], uuid[], numeric[], text[], integer[], text[], text[], text[], jsonb[], jsonb[], text[], timestamptz, integer[], uuid[], text[], numeric[])
    SET enable_seqscan = off;

-- The per-operation functions of migrations 0012 and 0017 are replaced by the batch (a batch of one is one operation).
DROP FUNCTION paymentskit_ledger_post(uuid, text, uuid, text, text, text, jsonb, uuid[], text[], numeric[], text, integer, text, text, timestamptz);
DROP FUNCTION paymentskit_ledger_reserve(uuid, text, uuid, text, uuid, text, uuid, uuid, numeric, text, integer, text, text, text, jsonb, text, timestamptz);
DROP FUNCTION paymentskit_ledger_resolve(uuid, text, uuid, uuid, text, boolean, numeric, text, integer, text[], text[], text, timestamptz);
DROP FUNCTION paymentskit_ledger_apply(uuid, text, uuid, text, text, text, text, text, jsonb, uuid[], text[], numeric[], numeric[], numeric[], text, integer, text, text, timestamptz);
