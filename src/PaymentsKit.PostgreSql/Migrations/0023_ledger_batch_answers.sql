-- The ledger batch's answers and lock plans (decision 0018). Same arguments, checks, rows and refusals as migration
-- 0021's paymentskit_ledger_batch; two changes:
-- - A reservation or a posted transaction is answered with its instant (the only value of its record the batch
--   decides: now, or a touched account's later last change) instead of the written row's document: the client
--   already holds everything else and builds the record with the code the other paths use (LedgerBooks). Only a
--   resolution, whose transfer the client does not know, is still answered with the resolved transfer's document.
--   No document is built for reservations and posted transactions, and their statements need no RETURNING.
-- - The lock statements probe the primary key with an index scan (enable_bitmapscan off, as enable_seqscan already
--   was): the pkey returns the rows in id order, so the bitmap heap scan and the sort before FOR UPDATE go.
CREATE OR REPLACE FUNCTION paymentskit_ledger_batch(
    kinds text[], tenants uuid[], tenant_refs text[], transaction_ids uuid[], transaction_refs text[],
    transfer_ids uuid[], transfer_refs text[], debit_accounts uuid[], credit_accounts uuid[],
    amounts numeric[], assets text[], scales integer[], chains text[], entry_types text[], descriptions text[],
    metadata jsonb[], asset_chains jsonb[], now_texts text[], row_time timestamptz,
    posting_counts integer[], p_accounts uuid[], p_sides text[], p_amounts numeric[])
RETURNS text[]
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off
SET enable_bitmapscan = off
AS $$
#variable_conflict use_variable
DECLARE
    n integer := array_length(kinds, 1);
    results text[] := array_fill(NULL::text, ARRAY[n]);
    -- Locked transfers (resolutions), in id order.
    t_ids uuid[];
    t_tenants uuid[];
    t_refs text[];
    t_states text[];
    t_references text[];
    t_expires text[];
    t_amounts numeric[];
    t_assets text[];
    t_debits uuid[];
    t_credits uuid[];
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
    -- One operation's touched accounts and their balances before it, to undo a refused operation.
    o_touched integer[];
    s_dp numeric[];
    s_cp numeric[];
    s_dq numeric[];
    s_cq numeric[];
    s_counts bigint[];
    refused boolean;
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
    reserved numeric;
    amount numeric;
    moved numeric;
    j integer;
    k integer;
    p integer;
    q integer;
    ptr integer := 1;
    -- Per accepted operation: what its transaction and entries share; its entries are op_first[i] .. op_last[i].
    op_kinds text[] := array_fill(NULL::text, ARRAY[n]);
    op_types text[] := array_fill(NULL::text, ARRAY[n]);
    op_trefs text[] := array_fill(NULL::text, ARRAY[n]);
    op_ats text[] := array_fill(NULL::text, ARRAY[n]);
    op_assets text[] := array_fill(NULL::text, ARRAY[n]);
    op_scales integer[] := array_fill(NULL::integer, ARRAY[n]);
    op_chains text[] := array_fill(NULL::text, ARRAY[n]);
    op_descriptions text[] := array_fill(NULL::text, ARRAY[n]);
    op_metadata jsonb[] := array_fill(NULL::jsonb, ARRAY[n]);
    op_first integer[] := array_fill(NULL::integer, ARRAY[n]);
    op_last integer[] := array_fill(NULL::integer, ARRAY[n]);
    -- Per entry (the first m are accepted operations'): operation, account, sequence, side, amounts; the
    -- posting's account id and amount (with the asset's scale) for the transaction.
    m integer := 0;
    m0 integer;
    e_ops integer[] := '{}';
    e_accounts integer[] := '{}';
    e_seqs bigint[] := '{}';
    e_sides text[] := '{}';
    e_posted numeric[] := '{}';
    e_pending numeric[] := '{}';
    e_dp numeric[] := '{}';
    e_cp numeric[] := '{}';
    e_dq numeric[] := '{}';
    e_cq numeric[] := '{}';
    e_refs text[] := '{}';
    e_amounts numeric[] := '{}';
    -- What the batch writes besides entries: accepted operations (their transactions), reservations, the changed
    -- accounts and the resolved transfers (by id: the writes find their rows by key, never by a join, which a
    -- generic plan could make a hash of the whole table).
    w_ops integer[] := '{}';
    w_reserves integer[] := '{}';
    w_accounts uuid[] := '{}';
    w_resolved uuid[] := '{}';
    w_resolved_ops integer[] := '{}';
    w_resolved_states text[] := '{}';
    w_resolved_posted numeric[] := '{}';
    w_resolved_released numeric[] := '{}';
    -- The resolutions' answers: operation and resolved transfer's document.
    r_ops integer[];
    r_docs text[];
BEGIN
    t_ids := '{}';
    IF 'post' = ANY (kinds) OR 'void' = ANY (kinds) THEN
        SELECT coalesce(array_agg(t.id), '{}'), array_agg(t.tenant_id), array_agg(t.ref),
               array_agg(t.state), array_agg(t.reference), array_agg(t.expires_at),
               array_agg(t.amount), array_agg(t.asset),
               array_agg(d.id), array_agg(c.id)
          INTO t_ids, t_tenants, t_refs, t_states, t_references, t_expires, t_amounts, t_assets, t_debits, t_credits
          FROM (SELECT * FROM ledger_transfers
                 WHERE id = ANY (ARRAY(SELECT transfer_ids[s] FROM generate_subscripts(kinds, 1) AS s WHERE kinds[s] IN ('post', 'void')))
                 ORDER BY id FOR UPDATE) AS t
               LEFT JOIN ledger_accounts AS d ON d.ref = t.debit_account_id
               LEFT JOIN ledger_accounts AS c ON c.ref = t.credit_account_id;
    END IF;

    SELECT coalesce(array_agg(l.id), '{}'), array_agg(l.tenant_id), array_agg(l.ref),
           array_agg(l.flags), array_agg(l.metadata ->> 'chain'), array_agg(l.asset),
           array_agg(l.updated_instant),
           array_agg(l.debits_posted), array_agg(l.credits_posted),
           array_agg(l.debits_pending), array_agg(l.credits_pending),
           array_agg(l.entry_count)
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
            CONTINUE operations WHEN t_states[j] <> 'pending' OR t_references[j] IS NOT NULL
                OR (t_expires[j] IS NOT NULL
                    AND paymentskit_ledger_instant_key(now_texts[i]) >= paymentskit_ledger_instant_key(t_expires[j]));
            reserved := t_amounts[j];
            asset := t_assets[j];
            scale := scale(reserved);
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
            tref := t_refs[j];
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

        FOR q IN 1 .. array_length(o_touched, 1) LOOP
            k := o_touched[q];
            s_dp[q] := a_dp[k];
            s_cp[q] := a_cp[k];
            s_dq[q] := a_dq[k];
            s_cq[q] := a_cq[k];
            s_counts[q] := a_counts[k];
        END LOOP;

        m0 := m;
        FOR p IN 1 .. array_length(acc, 1) LOOP
            k := array_position(a_ids, acc[p]);
            IF sides[p] = 'debit' THEN
                a_dp[k] := a_dp[k] + posted[p];
                a_dq[k] := a_dq[k] + pending[p];
            ELSE
                a_cp[k] := a_cp[k] + posted[p];
                a_cq[k] := a_cq[k] + pending[p];
            END IF;

            a_counts[k] := a_counts[k] + 1;
            m := m + 1;
            e_ops[m] := i;
            e_accounts[m] := k;
            e_seqs[m] := a_counts[k];
            e_sides[m] := sides[p];
            e_posted[m] := posted[p];
            e_pending[m] := pending[p];
            e_dp[m] := a_dp[k];
            e_cp[m] := a_cp[k];
            e_dq[m] := a_dq[k];
            e_cq[m] := a_cq[k];
            e_refs[m] := a_refs[k];
            e_amounts[m] := round(amts[p], scale);
        END LOOP;

        refused := false;
        FOREACH k IN ARRAY o_touched LOOP
            IF a_dq[k] < 0 OR a_cq[k] < 0
               OR (a_flags[k] = 'debits_must_not_exceed_credits' AND a_dp[k] + a_dq[k] > a_cp[k])
               OR (a_flags[k] = 'credits_must_not_exceed_debits' AND a_cp[k] + a_cq[k] > a_dp[k]) THEN
                refused := true;
            END IF;
        END LOOP;

        IF refused THEN
            FOR q IN 1 .. array_length(o_touched, 1) LOOP
                k := o_touched[q];
                a_dp[k] := s_dp[q];
                a_cp[k] := s_cp[q];
                a_dq[k] := s_dq[q];
                a_cq[k] := s_cq[q];
                a_counts[k] := s_counts[q];
            END LOOP;

            m := m0;
            CONTINUE operations;
        END IF;

        -- Accepted: later operations see its balances.
        FOREACH k IN ARRAY o_touched LOOP
            IF a_bumps[k] = 0 THEN
                w_accounts := w_accounts || a_ids[k];
            END IF;

            a_updated[k] := at;
            a_bumps[k] := a_bumps[k] + 1;
            a_scales[k] := scale;
        END LOOP;

        op_kinds[i] := kind;
        op_types[i] := etype;
        op_trefs[i] := tref;
        op_ats[i] := at;
        op_assets[i] := asset;
        op_scales[i] := scale;
        op_chains[i] := chain;
        op_descriptions[i] := description;
        op_metadata[i] := coalesce(meta, '{}');
        op_first[i] := m0 + 1;
        op_last[i] := m;
        w_ops := w_ops || i;

        IF kind = 'pending' THEN
            w_reserves := w_reserves || i;
            results[i] := at;
        ELSIF kind = 'posted' THEN
            results[i] := at;
        ELSE
            -- A second resolution of the same transfer in this batch sees it resolved and is declined.
            t_states[j] := CASE WHEN kind = 'void_pending' THEN 'voided' ELSE 'posted' END;
            w_resolved := w_resolved || t_ids[j];
            w_resolved_ops := w_resolved_ops || i;
            w_resolved_states := w_resolved_states || t_states[j];
            w_resolved_posted := w_resolved_posted || round(amount, scale);
            w_resolved_released := w_resolved_released || round(reserved - amount, scale);
        END IF;
    END LOOP;

    IF array_length(w_ops, 1) IS NULL THEN
        RETURN results;
    END IF;

    -- One statement writes everything (its parts touch different rows and need not see each other's): each
    -- statement pays the executor's set-up. Each account's version moves once per operation that changed it, as
    -- on the record path; amounts have exactly the asset's scale, as the record path writes them; a resolution is
    -- answered with the resolved row's document.
    WITH accounts AS (
        UPDATE ledger_accounts AS a
           SET version = a.version + a_bumps[array_position(a_ids, a.id)], updated_at = row_time,
               debits_posted = round(a_dp[array_position(a_ids, a.id)], a_scales[array_position(a_ids, a.id)]),
               credits_posted = round(a_cp[array_position(a_ids, a.id)], a_scales[array_position(a_ids, a.id)]),
               debits_pending = round(a_dq[array_position(a_ids, a.id)], a_scales[array_position(a_ids, a.id)]),
               credits_pending = round(a_cq[array_position(a_ids, a.id)], a_scales[array_position(a_ids, a.id)]),
               entry_count = a_counts[array_position(a_ids, a.id)], updated_instant = a_updated[array_position(a_ids, a.id)]
         WHERE a.id = ANY (w_accounts)),
    transactions AS (
        INSERT INTO ledger_transactions AS x (
            collection, id, tenant_id, version, created_at, updated_at, ref, tenant_ref, kind, type, reference, transfer_id,
            posting_accounts, posting_sides, posting_amounts, posting_assets, idempotency_key, description, metadata, reverses,
            reference_sequence, created_instant)
        SELECT 'ledger_transaction', transaction_ids[o.i], tenants[o.i], 1, row_time, row_time, transaction_refs[o.i], tenant_refs[o.i],
               op_kinds[o.i], op_types[o.i], NULL, op_trefs[o.i],
               e_refs[op_first[o.i] : op_last[o.i]], e_sides[op_first[o.i] : op_last[o.i]], e_amounts[op_first[o.i] : op_last[o.i]],
               array_fill(op_assets[o.i], ARRAY[op_last[o.i] - op_first[o.i] + 1]), NULL, op_descriptions[o.i], op_metadata[o.i], NULL,
               0, op_ats[o.i]
          FROM unnest(w_ops) AS o (i)),
    entries AS (
        INSERT INTO ledger_entries (
            id, tenant_id, tenant_ref, account_id, sequence, transaction_id, kind, side, posted_change, pending_change,
            type, payment_intent_id, transfer_id, at, debits_posted, credits_posted, debits_pending, credits_pending,
            currency, chain, created_at)
        SELECT paymentskit_ledger_entry_id(a_ids[e_accounts[x.e]], e_seqs[x.e]), tenants[e_ops[x.e]], tenant_refs[e_ops[x.e]],
               e_refs[x.e], e_seqs[x.e], transaction_refs[e_ops[x.e]], op_kinds[e_ops[x.e]], e_sides[x.e],
               round(e_posted[x.e], op_scales[e_ops[x.e]]), round(e_pending[x.e], op_scales[e_ops[x.e]]),
               op_types[e_ops[x.e]], NULL, op_trefs[e_ops[x.e]], op_ats[e_ops[x.e]],
               round(e_dp[x.e], op_scales[e_ops[x.e]]), round(e_cp[x.e], op_scales[e_ops[x.e]]),
               round(e_dq[x.e], op_scales[e_ops[x.e]]), round(e_cq[x.e], op_scales[e_ops[x.e]]),
               op_assets[e_ops[x.e]], coalesce(op_chains[e_ops[x.e]], a_chains[e_accounts[x.e]]), row_time
          FROM generate_series(1, m) AS x (e)),
    new_transfers AS (
        INSERT INTO ledger_transfers AS t (
            collection, id, tenant_id, version, created_at, updated_at, ref, tenant_ref, debit_account_id, credit_account_id,
            asset, amount, state, posted_amount, released_amount, timeout, expires_at, type, reference, pending_transaction_id,
            resolving_transaction_id, created_instant, resolved_at)
        SELECT 'ledger_transfer', transfer_ids[r.i], tenants[r.i], 1, row_time, row_time, transfer_refs[r.i], tenant_refs[r.i],
               e_refs[op_first[r.i]], e_refs[op_first[r.i] + 1], op_assets[r.i], e_amounts[op_first[r.i]], 'pending',
               round(0, op_scales[r.i]), round(0, op_scales[r.i]), NULL, NULL, op_types[r.i], NULL, transaction_refs[r.i],
               NULL, op_ats[r.i], NULL
          FROM unnest(w_reserves) AS r (i)),
    resolved AS (
        UPDATE ledger_transfers AS t
           SET version = t.version + 1, updated_at = row_time, state = w_resolved_states[array_position(w_resolved, t.id)],
               posted_amount = w_resolved_posted[array_position(w_resolved, t.id)],
               released_amount = w_resolved_released[array_position(w_resolved, t.id)],
               resolving_transaction_id = transaction_refs[w_resolved_ops[array_position(w_resolved, t.id)]],
               resolved_at = op_ats[w_resolved_ops[array_position(w_resolved, t.id)]]
         WHERE t.id = ANY (w_resolved)
        RETURNING w_resolved_ops[array_position(w_resolved, t.id)] AS op, paymentskit_ledger_transfer_document(t)::text AS doc)
    SELECT array_agg(resolved.op), array_agg(resolved.doc) INTO r_ops, r_docs FROM resolved;

    FOR q IN 1 .. coalesce(array_length(r_ops, 1), 0) LOOP
        results[r_ops[q]] := r_docs[q];
    END LOOP;

    RETURN results;
END
$$;
