-- The ledger's one-call path writes what the client planned (issue 3, performance; decision 0024).
--
-- Until now paymentskit_ledger_batch locked the touched accounts and transfers, applied each operation in a
-- PL/pgSQL loop and wrote the result. The loop's expressions are compiled again in every transaction (PL/pgSQL keeps
-- a simple expression's compiled state per transaction, and each batch is one), so about a third of a call's server
-- time went to the loop and its two lock statements rather than to the rows. The store now applies the operations
-- itself, to the accounts and pending transfers it last read or wrote (the same rules, in C#), and this function only
-- writes the outcome, on condition that every row it changes is still at the version the plan was made from:
-- - each changed account is updated only at its expected version, each resolved transfer only at its expected
--   version and while pending; an update finds its row by primary key in id order, so it locks in the order the
--   lock statement did;
-- - if any of them matched nothing (another writer changed it since), the statement raises serialization_failure
--   before it inserts anything, and the whole call rolls back; the store reads those rows again and plans anew;
-- - the entries, transactions and new transfers are the rows paymentskit_ledger_batch wrote, from the same values.
-- Every amount arrives with exactly its asset's scale, as the record path writes it. Same tables, rules and answers;
-- the old function is dropped.
DROP FUNCTION paymentskit_ledger_batch(
    text[], uuid[], text[], uuid[], text[], uuid[], text[], uuid[], uuid[], numeric[], text[], integer[], text[], text[],
    text[], jsonb[], jsonb[], text[], timestamptz, integer[], uuid[], text[], numeric[]);

CREATE FUNCTION paymentskit_ledger_unchanged(unchanged boolean) RETURNS boolean
LANGUAGE plpgsql
AS $$
BEGIN
    IF NOT unchanged THEN
        RAISE EXCEPTION USING ERRCODE = 'serialization_failure',
            MESSAGE = 'ledger accounts or transfers changed since the batch was planned';
    END IF;

    RETURN true;
END
$$;

CREATE FUNCTION paymentskit_ledger_write(
    row_time timestamptz,
    -- The changed accounts: expected and new version, balances, entry count, last change.
    a_ids uuid[], a_expected bigint[], a_versions bigint[],
    a_dp numeric[], a_cp numeric[], a_dq numeric[], a_cq numeric[], a_counts bigint[], a_updated text[],
    -- The accepted operations (one transaction each); an operation's entries are o_first .. o_last.
    o_transaction_ids uuid[], o_tenants uuid[], o_tenant_refs text[], o_transaction_refs text[], o_kinds text[],
    o_types text[], o_transfer_refs text[], o_ats text[], o_assets text[], o_descriptions text[],
    o_metadata jsonb[], o_first integer[], o_last integer[],
    -- The entries: operation, id, account, sequence, side, changes, posting amount, balances after, chain.
    e_ops integer[], e_ids uuid[], e_accounts text[], e_sequences bigint[], e_sides text[], e_posted numeric[],
    e_pending numeric[], e_amounts numeric[], e_dp numeric[], e_cp numeric[], e_dq numeric[], e_cq numeric[],
    e_chains text[],
    -- The reservations: operation, transfer id and text id, zero with the asset's scale (the amount is the first entry's).
    n_ops integer[], n_ids uuid[], n_refs text[], n_zeros numeric[],
    -- The resolutions: transfer, expected version, operation, new state, posted and released amounts.
    r_ids uuid[], r_expected bigint[], r_ops integer[], r_states text[], r_posted numeric[], r_released numeric[])
RETURNS text[]
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off
SET enable_bitmapscan = off
AS $$
#variable_conflict use_variable
DECLARE
    unchanged boolean;
    resolved_ids uuid[];
    resolved_docs text[];
    answers text[] := array_fill(NULL::text, ARRAY[coalesce(array_length(r_ids, 1), 0)]);
BEGIN
    -- One statement writes everything (each statement pays the executor's set-up). Its main query runs the guarded
    -- updates and raises if any matched nothing; the inserts run after it (at the statement's end), so a stale plan
    -- inserts nothing.
    WITH accounts AS (
        UPDATE ledger_accounts AS a
           SET version = a_versions[array_position(a_ids, a.id)], updated_at = row_time,
               debits_posted = a_dp[array_position(a_ids, a.id)],
               credits_posted = a_cp[array_position(a_ids, a.id)],
               debits_pending = a_dq[array_position(a_ids, a.id)],
               credits_pending = a_cq[array_position(a_ids, a.id)],
               entry_count = a_counts[array_position(a_ids, a.id)], updated_instant = a_updated[array_position(a_ids, a.id)]
         WHERE a.id = ANY (a_ids) AND a.version = a_expected[array_position(a_ids, a.id)]
        RETURNING a.id),
    resolved AS (
        UPDATE ledger_transfers AS t
           SET version = t.version + 1, updated_at = row_time, state = r_states[array_position(r_ids, t.id)],
               posted_amount = r_posted[array_position(r_ids, t.id)],
               released_amount = r_released[array_position(r_ids, t.id)],
               resolving_transaction_id = o_transaction_refs[r_ops[array_position(r_ids, t.id)]],
               resolved_at = o_ats[r_ops[array_position(r_ids, t.id)]]
         WHERE t.id = ANY (r_ids) AND t.version = r_expected[array_position(r_ids, t.id)] AND t.state = 'pending'
        RETURNING t.id, paymentskit_ledger_transfer_document(t)::text AS doc),
    transactions AS (
        INSERT INTO ledger_transactions (
            collection, id, tenant_id, version, created_at, updated_at, ref, tenant_ref, kind, type, reference, transfer_id,
            posting_accounts, posting_sides, posting_amounts, posting_assets, idempotency_key, description, metadata, reverses,
            reference_sequence, created_instant)
        SELECT 'ledger_transaction', o_transaction_ids[o.i], o_tenants[o.i], 1, row_time, row_time, o_transaction_refs[o.i],
               o_tenant_refs[o.i], o_kinds[o.i], o_types[o.i], NULL, o_transfer_refs[o.i],
               e_accounts[o_first[o.i] : o_last[o.i]], e_sides[o_first[o.i] : o_last[o.i]],
               e_amounts[o_first[o.i] : o_last[o.i]],
               array_fill(o_assets[o.i], ARRAY[o_last[o.i] - o_first[o.i] + 1]), NULL, o_descriptions[o.i], o_metadata[o.i], NULL,
               0, o_ats[o.i]
          FROM generate_series(1, coalesce(array_length(o_transaction_ids, 1), 0)) AS o (i)),
    entries AS (
        INSERT INTO ledger_entries (
            id, tenant_id, tenant_ref, account_id, sequence, transaction_id, kind, side, posted_change, pending_change,
            type, payment_intent_id, transfer_id, at, debits_posted, credits_posted, debits_pending, credits_pending,
            currency, chain, created_at)
        SELECT e_ids[x.e], o_tenants[e_ops[x.e]], o_tenant_refs[e_ops[x.e]], e_accounts[x.e], e_sequences[x.e],
               o_transaction_refs[e_ops[x.e]], o_kinds[e_ops[x.e]], e_sides[x.e],
               e_posted[x.e], e_pending[x.e],
               o_types[e_ops[x.e]], NULL, o_transfer_refs[e_ops[x.e]], o_ats[e_ops[x.e]],
               e_dp[x.e], e_cp[x.e],
               e_dq[x.e], e_cq[x.e],
               o_assets[e_ops[x.e]], e_chains[x.e], row_time
          FROM generate_series(1, coalesce(array_length(e_ids, 1), 0)) AS x (e)),
    new_transfers AS (
        INSERT INTO ledger_transfers (
            collection, id, tenant_id, version, created_at, updated_at, ref, tenant_ref, debit_account_id, credit_account_id,
            asset, amount, state, posted_amount, released_amount, timeout, expires_at, type, reference, pending_transaction_id,
            resolving_transaction_id, created_instant, resolved_at)
        SELECT 'ledger_transfer', n_ids[r.n], o_tenants[n_ops[r.n]], 1, row_time, row_time, n_refs[r.n], o_tenant_refs[n_ops[r.n]],
               e_accounts[o_first[n_ops[r.n]]], e_accounts[o_first[n_ops[r.n]] + 1], o_assets[n_ops[r.n]],
               e_amounts[o_first[n_ops[r.n]]], 'pending',
               n_zeros[r.n], n_zeros[r.n], NULL, NULL, o_types[n_ops[r.n]], NULL,
               o_transaction_refs[n_ops[r.n]], NULL, o_ats[n_ops[r.n]], NULL
          FROM generate_series(1, coalesce(array_length(n_ids, 1), 0)) AS r (n))
    SELECT paymentskit_ledger_unchanged(
               (SELECT count(*) FROM accounts) = coalesce(cardinality(a_ids), 0)
               AND (SELECT count(*) FROM resolved) = coalesce(cardinality(r_ids), 0)),
           (SELECT array_agg(id) FROM resolved), (SELECT array_agg(doc) FROM resolved)
      INTO unchanged, resolved_ids, resolved_docs;

    -- The resolved transfers' documents, in the order of r_ids.
    FOR q IN 1 .. coalesce(array_length(resolved_ids, 1), 0) LOOP
        answers[array_position(r_ids, resolved_ids[q])] := resolved_docs[q];
    END LOOP;

    RETURN answers;
END
$$;
