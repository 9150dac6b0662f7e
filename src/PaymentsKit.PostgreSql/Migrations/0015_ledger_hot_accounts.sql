-- The ledger's one-call path, cheaper per call (decision 0007). Same rows, same documents: only how
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
