-- The ledger's one-round-trip path (decision 0005): a reservation, or the posting or voiding of one,
-- is a single function call that locks the rows it changes, checks the rules that depend on them
-- and writes exactly the rows the record path writes (same documents, ids, versions). A call that
-- meets anything outside its scope (unknown or foreign rows, a broken flag, a resolved or expired
-- transfer, a reference) returns NULL having written nothing, and the service reruns the operation
-- on the record path, which gives the error or handles the case.

-- Finds an account by its typed id (the form transfers and entries name accounts in).
CREATE UNIQUE INDEX ledger_accounts_typed_id_idx ON ledger_accounts ((data ->> 'id'));

-- The id of an account's n-th entry, as LedgerCollections.EntryId derives it: a UUIDv8 from the
-- SHA-256 of the account id and the sequence, both big-endian.
CREATE FUNCTION paymentskit_ledger_entry_id(account uuid, sequence bigint) RETURNS uuid
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT encode(set_byte(set_byte(h, 6, (get_byte(h, 6) & 15) | 128), 8, (get_byte(h, 8) & 63) | 128), 'hex')::uuid
    FROM (SELECT substring(sha256(uuid_send(account) || int8send(sequence)) FROM 1 FOR 16) AS h) AS digest
$$;

-- Entries written before this migration carry ids from the earlier derivation (a 64-bit mix).
UPDATE ledger_entries AS e
   SET id = paymentskit_ledger_entry_id(a.id, e.sequence),
       data = jsonb_set(e.data, '{id}', to_jsonb(paymentskit_ledger_entry_id(a.id, e.sequence)::text))
  FROM ledger_accounts AS a
 WHERE a.data ->> 'id' = e.account_id;

-- Money as the record documents hold it: the amount with exactly the asset's scale. (PL/pgSQL, as
-- the functions below call it from PL/pgSQL expressions, where a SQL function is not inlined and
-- costs several times as much per call.)
CREATE FUNCTION paymentskit_ledger_money(amount numeric, asset text, scale integer) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
AS $$
BEGIN
    RETURN jsonb_build_object('amount', round(amount, scale)::text, 'asset', asset);
END
$$;

-- An ISO-8601 UTC instant ('…T12:00:00Z' or '…T12:00:00.5Z') as fixed-width text that sorts in time order.
CREATE FUNCTION paymentskit_ledger_instant_key(instant text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT left(instant, 19) || rpad(CASE WHEN length(instant) > 20 THEN substr(instant, 21, length(instant) - 21) ELSE '' END, 9, '0') $$;

-- Writes one balanced transaction on the path's terms: locks the touched accounts in id order,
-- applies the changes in order (one entry each, with the running balances), checks every touched
-- account's flags and pending totals, then writes the accounts, the transaction and the entries.
-- Returns the transaction's instant (now, or a touched account's later last change), or NULL with
-- nothing written when an account is unknown, foreign, in another asset, or would break a rule.
CREATE FUNCTION paymentskit_ledger_apply(
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
               'debits_posted', paymentskit_ledger_money(n.debits_posted, asset, scale),
               'credits_posted', paymentskit_ledger_money(n.credits_posted, asset, scale),
               'debits_pending', paymentskit_ledger_money(n.debits_pending, asset, scale),
               'credits_pending', paymentskit_ledger_money(n.credits_pending, asset, scale),
               'entry_count', n.entry_count,
               'updated_at', at)
      FROM unnest(ids, debits_posted, credits_posted, debits_pending, credits_pending, counts)
           AS n (id, debits_posted, credits_posted, debits_pending, credits_pending, entry_count)
     WHERE a.id = n.id;

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

-- Reserves amount from debit_account to credit_account as a pending transfer without a timeout,
-- reference or idempotency key. Returns the transfer document, or NULL (nothing written).
CREATE FUNCTION paymentskit_ledger_reserve(
    tenant uuid, tenant_ref text, transfer_id uuid, transfer_ref text, transaction_id uuid, transaction_ref text,
    debit_account uuid, credit_account uuid, amount numeric, asset text, scale integer, chain text,
    entry_type text, description text, metadata jsonb, now_text text, row_time timestamptz)
RETURNS jsonb
LANGUAGE plpgsql
AS $$
#variable_conflict use_variable
DECLARE
    at text;
    transfer jsonb;
BEGIN
    at := paymentskit_ledger_apply(
        tenant, tenant_ref, transaction_id, transaction_ref, 'pending', entry_type, transfer_ref, description, metadata,
        ARRAY[debit_account, credit_account], ARRAY['debit', 'credit'], ARRAY[amount, amount], ARRAY[0, 0]::numeric[], ARRAY[amount, amount],
        asset, scale, chain, now_text, row_time);
    IF at IS NULL THEN
        RETURN NULL;
    END IF;

    transfer := jsonb_build_object(
        'id', transfer_ref, 'tenant_id', tenant_ref,
        'debit_account_id', (SELECT data ->> 'id' FROM ledger_accounts WHERE id = debit_account),
        'credit_account_id', (SELECT data ->> 'id' FROM ledger_accounts WHERE id = credit_account),
        'amount', paymentskit_ledger_money(amount, asset, scale), 'state', 'pending',
        'posted_amount', paymentskit_ledger_money(0, asset, scale), 'released_amount', paymentskit_ledger_money(0, asset, scale),
        'timeout', NULL, 'expires_at', NULL, 'entry_type', entry_type, 'reference', NULL,
        'pending_transaction_id', transaction_ref, 'resolving_transaction_id', NULL, 'created_at', at, 'resolved_at', NULL);
    INSERT INTO ledger_transfers (collection, id, tenant_id, version, data, created_at, updated_at)
    VALUES ('ledger_transfer', transfer_id, tenant, 1, transfer, row_time, row_time);
    RETURN transfer;
END
$$;

-- Posts (amount, or all of it when NULL) or voids a pending transfer without a reference that has
-- not expired by now_text. asset_chains pairs every registered asset code with its chain (or NULL).
-- Returns the resolved transfer document, or NULL (nothing written).
CREATE FUNCTION paymentskit_ledger_resolve(
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

    SELECT id INTO debit_account FROM ledger_accounts WHERE data ->> 'id' = transfer ->> 'debit_account_id';
    SELECT id INTO credit_account FROM ledger_accounts WHERE data ->> 'id' = transfer ->> 'credit_account_id';
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
