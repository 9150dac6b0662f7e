-- Ledger entries as typed rows (decision 0009). An entry was a jsonb document with eleven columns generated
-- from it; the one-call path built that document (five nested money objects) for each of a transfer's four
-- entries, and PostgreSQL extracted every generated column back out of it. Now the typed columns are the
-- entry: the batch function writes them directly, the record document is derived from them when the record
-- path reads (the view ledger_entry_records, the collection's table), and a record-path insert into the view
-- is decomposed into the same columns. The seed's columns, constraints and indexes stay as they were.

-- The generated columns become plain ones, keeping their values; the rest of the document gets columns.
ALTER TABLE ledger_entries
    ALTER COLUMN account_id DROP EXPRESSION,
    ALTER COLUMN sequence DROP EXPRESSION,
    ALTER COLUMN transaction_id DROP EXPRESSION,
    ALTER COLUMN payment_intent_id DROP EXPRESSION,
    ALTER COLUMN type DROP EXPRESSION,
    ALTER COLUMN side DROP EXPRESSION,
    ALTER COLUMN posted_change DROP EXPRESSION,
    ALTER COLUMN pending_change DROP EXPRESSION,
    ALTER COLUMN currency DROP EXPRESSION,
    ALTER COLUMN chain DROP EXPRESSION,
    ADD COLUMN tenant_ref text,
    ADD COLUMN kind text,
    ADD COLUMN transfer_id text,
    ADD COLUMN at text,
    ADD COLUMN debits_posted numeric,
    ADD COLUMN credits_posted numeric,
    ADD COLUMN debits_pending numeric,
    ADD COLUMN credits_pending numeric;

UPDATE ledger_entries
   SET tenant_ref = data ->> 'tenant_id',
       kind = data ->> 'kind',
       transfer_id = data ->> 'transfer_id',
       at = data ->> 'at',
       debits_posted = (data -> 'debits_posted' ->> 'amount')::numeric,
       credits_posted = (data -> 'credits_posted' ->> 'amount')::numeric,
       debits_pending = (data -> 'debits_pending' ->> 'amount')::numeric,
       credits_pending = (data -> 'credits_pending' ->> 'amount')::numeric;

-- The record columns every entry had the same value in (collection, version 1, updated_at = created_at) and
-- the document go; amount is generated again, from the typed changes rather than the document.
ALTER TABLE ledger_entries
    ALTER COLUMN tenant_ref SET NOT NULL,
    ALTER COLUMN kind SET NOT NULL,
    ALTER COLUMN at SET NOT NULL,
    ALTER COLUMN debits_posted SET NOT NULL,
    ALTER COLUMN credits_posted SET NOT NULL,
    ALTER COLUMN debits_pending SET NOT NULL,
    ALTER COLUMN credits_pending SET NOT NULL,
    DROP CONSTRAINT ledger_entries_amount_check,
    DROP COLUMN amount,
    DROP COLUMN data,
    DROP COLUMN collection,
    DROP COLUMN version,
    DROP COLUMN updated_at;

ALTER TABLE ledger_entries
    ADD COLUMN amount numeric NOT NULL GENERATED ALWAYS AS (
        CASE WHEN posted_change <> 0 THEN posted_change ELSE abs(pending_change) END) STORED,
    ADD CONSTRAINT ledger_entries_amount_check CHECK (amount > 0 AND posted_change >= 0);

-- The collection's table for the record path, in the shape of paymentskit_records: the document as the
-- store wrote it before (amounts keep their scale: numeric keeps the scale it was written with).
CREATE VIEW ledger_entry_records AS
SELECT 'ledger_entry'::text AS collection, e.id, e.tenant_id, 1::bigint AS version,
       jsonb_build_object(
           'id', e.id, 'tenant_id', e.tenant_ref, 'account_id', e.account_id, 'sequence', e.sequence,
           'transaction_id', e.transaction_id, 'kind', e.kind, 'side', e.side,
           'posted_change', jsonb_build_object('amount', e.posted_change::text, 'asset', e.currency),
           'pending_change', jsonb_build_object('amount', e.pending_change::text, 'asset', e.currency),
           'entry_type', e.type, 'reference', e.payment_intent_id, 'transfer_id', e.transfer_id, 'at', e.at,
           'debits_posted', jsonb_build_object('amount', e.debits_posted::text, 'asset', e.currency),
           'credits_posted', jsonb_build_object('amount', e.credits_posted::text, 'asset', e.currency),
           'debits_pending', jsonb_build_object('amount', e.debits_pending::text, 'asset', e.currency),
           'credits_pending', jsonb_build_object('amount', e.credits_pending::text, 'asset', e.currency),
           'chain', e.chain) AS data,
       e.created_at, e.created_at AS updated_at
  FROM ledger_entries AS e;

-- A record-path insert, decomposed. What the dropped columns' constraints said is checked here: entries are
-- written once at version 1, and all of an entry's money is in its account's asset (the view writes one).
CREATE FUNCTION paymentskit_ledger_entry_record_insert() RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
    d jsonb := NEW.data;
    asset text := d -> 'posted_change' ->> 'asset';
BEGIN
    IF NEW.collection <> 'ledger_entry' OR NEW.version <> 1 OR NEW.updated_at <> NEW.created_at
       OR asset IS DISTINCT FROM d -> 'pending_change' ->> 'asset'
       OR asset IS DISTINCT FROM d -> 'debits_posted' ->> 'asset' OR asset IS DISTINCT FROM d -> 'credits_posted' ->> 'asset'
       OR asset IS DISTINCT FROM d -> 'debits_pending' ->> 'asset' OR asset IS DISTINCT FROM d -> 'credits_pending' ->> 'asset' THEN
        RAISE EXCEPTION USING ERRCODE = 'check_violation', MESSAGE = format('ledger entry %s is not a first version in one asset', NEW.id);
    END IF;

    INSERT INTO ledger_entries (
        id, tenant_id, tenant_ref, account_id, sequence, transaction_id, kind, side, posted_change, pending_change,
        type, payment_intent_id, transfer_id, at, debits_posted, credits_posted, debits_pending, credits_pending,
        currency, chain, created_at)
    VALUES (
        NEW.id, NEW.tenant_id, d ->> 'tenant_id', d ->> 'account_id', (d ->> 'sequence')::bigint, d ->> 'transaction_id',
        d ->> 'kind', d ->> 'side', (d -> 'posted_change' ->> 'amount')::numeric, (d -> 'pending_change' ->> 'amount')::numeric,
        d ->> 'entry_type', d ->> 'reference', d ->> 'transfer_id', d ->> 'at',
        (d -> 'debits_posted' ->> 'amount')::numeric, (d -> 'credits_posted' ->> 'amount')::numeric,
        (d -> 'debits_pending' ->> 'amount')::numeric, (d -> 'credits_pending' ->> 'amount')::numeric,
        asset, d ->> 'chain', NEW.created_at);
    RETURN NEW;
END
$$;

CREATE TRIGGER ledger_entry_records_insert INSTEAD OF INSERT ON ledger_entry_records
    FOR EACH ROW EXECUTE FUNCTION paymentskit_ledger_entry_record_insert();

-- The batch of migration 0018 with the same arguments, checks, rows and answers, cheaper:
-- - entries are written as typed rows: per entry the batch keeps the operation, the account, the sequence,
--   the side and the five amounts in arrays, and one INSERT takes the rest from the operation's values;
-- - an operation applies its changes to the running balances in place and undoes them if it is refused
--   (rare), instead of copying every balance array of the batch twice per operation;
-- - fewer statements (each one pays the executor's set-up): the resolved transfers are locked and their
--   accounts found in one, only when the batch resolves any; the accounts and transfers to write are
--   collected as operations are accepted rather than selected afterwards; and all writes are one statement.
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
    postings jsonb;
    doc jsonb;
    transfer jsonb;
    reserved numeric;
    amount numeric;
    moved numeric;
    j integer;
    k integer;
    p integer;
    q integer;
    ptr integer := 1;
    -- Per accepted operation: what its entries share.
    op_kinds text[] := array_fill(NULL::text, ARRAY[n]);
    op_types text[] := array_fill(NULL::text, ARRAY[n]);
    op_trefs text[] := array_fill(NULL::text, ARRAY[n]);
    op_ats text[] := array_fill(NULL::text, ARRAY[n]);
    op_assets text[] := array_fill(NULL::text, ARRAY[n]);
    op_scales integer[] := array_fill(NULL::integer, ARRAY[n]);
    op_chains text[] := array_fill(NULL::text, ARRAY[n]);
    -- Per entry (the first m are accepted operations'): operation, account, sequence, side, amounts.
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
    -- What the batch writes besides entries.
    w_tx_ids uuid[] := '{}';
    w_tx_tenants uuid[] := '{}';
    w_txs jsonb[] := '{}';
    w_tr_ids uuid[] := '{}';
    w_tr_tenants uuid[] := '{}';
    w_trs jsonb[] := '{}';
    w_accounts uuid[] := '{}';
    w_resolved uuid[] := '{}';
BEGIN
    t_ids := '{}';
    IF 'post' = ANY (kinds) OR 'void' = ANY (kinds) THEN
        SELECT coalesce(array_agg(t.id ORDER BY t.id), '{}'), array_agg(t.tenant_id ORDER BY t.id), array_agg(t.data ORDER BY t.id),
               array_agg(d.id ORDER BY t.id), array_agg(c.id ORDER BY t.id)
          INTO t_ids, t_tenants, t_docs, t_debits, t_credits
          FROM (SELECT * FROM ledger_transfers
                 WHERE id = ANY (ARRAY(SELECT transfer_ids[s] FROM generate_subscripts(kinds, 1) AS s WHERE kinds[s] IN ('post', 'void')))
                 ORDER BY id FOR UPDATE) AS t
               LEFT JOIN ledger_accounts AS d ON d.ref = t.data ->> 'debit_account_id'
               LEFT JOIN ledger_accounts AS c ON c.ref = t.data ->> 'credit_account_id';
    END IF;

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

        FOR q IN 1 .. array_length(o_touched, 1) LOOP
            k := o_touched[q];
            s_dp[q] := a_dp[k];
            s_cp[q] := a_cp[k];
            s_dq[q] := a_dq[k];
            s_cq[q] := a_cq[k];
            s_counts[q] := a_counts[k];
        END LOOP;

        m0 := m;
        postings := '[]';
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
            postings := postings || jsonb_build_object(
                'account_id', a_refs[k], 'side', sides[p], 'amount', jsonb_build_object('amount', round(amts[p], scale)::text, 'asset', asset));
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
            w_resolved := w_resolved || t_ids[j];
            results[i] := t_docs[j]::text;
        END IF;
    END LOOP;

    IF array_length(w_tx_ids, 1) IS NULL THEN
        RETURN results;
    END IF;

    -- One statement writes everything (its parts touch different rows and need not see each other's): each
    -- statement pays the executor's set-up, so one instead of five saves most of that per batch. Each account's
    -- version moves once per operation that changed it, as on the record path; entry amounts have exactly the
    -- asset's scale, as the record path writes them (the view shows them as stored); a transfer is resolved at
    -- most once per batch (a second resolution sees it resolved and is declined).
    WITH accounts AS (
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
         WHERE a.id = ANY (w_accounts)),
    transactions AS (
        INSERT INTO ledger_transactions (collection, id, tenant_id, version, data, created_at, updated_at)
        SELECT 'ledger_transaction', x.id, x.tenant, 1, x.data, row_time, row_time
          FROM unnest(w_tx_ids, w_tx_tenants, w_txs) AS x (id, tenant, data)),
    entries AS (
        INSERT INTO ledger_entries (
            id, tenant_id, tenant_ref, account_id, sequence, transaction_id, kind, side, posted_change, pending_change,
            type, payment_intent_id, transfer_id, at, debits_posted, credits_posted, debits_pending, credits_pending,
            currency, chain, created_at)
        SELECT paymentskit_ledger_entry_id(a_ids[e.k], e.seq), tenants[e.op], tenant_refs[e.op], a_refs[e.k], e.seq, transaction_refs[e.op],
               op_kinds[e.op], e.side, round(e.posted, op_scales[e.op]), round(e.pending, op_scales[e.op]),
               op_types[e.op], NULL, op_trefs[e.op], op_ats[e.op],
               round(e.dp, op_scales[e.op]), round(e.cp, op_scales[e.op]), round(e.dq, op_scales[e.op]), round(e.cq, op_scales[e.op]),
               op_assets[e.op], coalesce(op_chains[e.op], a_chains[e.k]), row_time
          FROM unnest(e_ops[1 : m], e_accounts[1 : m], e_seqs[1 : m], e_sides[1 : m], e_posted[1 : m], e_pending[1 : m],
                      e_dp[1 : m], e_cp[1 : m], e_dq[1 : m], e_cq[1 : m])
               AS e (op, k, seq, side, posted, pending, dp, cp, dq, cq)),
    new_transfers AS (
        INSERT INTO ledger_transfers (collection, id, tenant_id, version, data, created_at, updated_at)
        SELECT 'ledger_transfer', x.id, x.tenant, 1, x.data, row_time, row_time
          FROM unnest(w_tr_ids, w_tr_tenants, w_trs) AS x (id, tenant, data))
    UPDATE ledger_transfers AS t
       SET version = t.version + 1, updated_at = row_time, data = t_docs[array_position(t_ids, t.id)]
     WHERE t.id = ANY (w_resolved);

    RETURN results;
END
$$;
