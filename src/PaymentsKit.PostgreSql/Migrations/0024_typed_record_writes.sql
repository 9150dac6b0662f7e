-- The store's commit writes the ledger's typed collections set-based (decision 0020): each collection's inserts,
-- and its updates, of one commit are one statement straight into the typed table, decomposing the documents as
-- the views' INSTEAD OF triggers do (migrations 0019 and 0021), instead of one trigger call and one INSERT or
-- UPDATE per row through the view. The views and triggers stay for every other writer. Two helpers for those
-- statements; nothing else changes.

-- What a set statement did not write, raised as the row's own statement would have: an insert skips
-- (ON CONFLICT DO NOTHING) a row whose id or other unique value is taken, so a missing id is a unique violation;
-- an update skips a row whose version or tenant no longer matches, so a missing id is a stale version (PKV01, the
-- SQLSTATE of paymentskit_expect_version). The message names the first such record; the store finds the write
-- by it. The statements call it only when they wrote fewer rows than they were given.
CREATE FUNCTION paymentskit_expect_written(collection text, ids uuid[], expected_versions bigint[], written uuid[])
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    FOR i IN 1 .. cardinality(ids) LOOP
        IF NOT ids[i] = ANY (written) THEN
            IF expected_versions IS NULL THEN
                RAISE EXCEPTION USING
                    ERRCODE = 'unique_violation',
                    MESSAGE = format('%s record %s or one of its unique values already exists', collection, ids[i]);
            END IF;

            RAISE EXCEPTION USING
                ERRCODE = 'PKV01',
                MESSAGE = format('%s record %s is no longer at version %s', collection, ids[i], expected_versions[i]);
        END IF;
    END LOOP;
END
$$;

-- Money in more than one asset (a typed row has one asset column), refused as the views' triggers refuse it. The
-- statements compare the assets in SQL and call this only for a row that mixes them; it is volatile so that it is
-- never evaluated ahead of the comparison.
CREATE FUNCTION paymentskit_ledger_mixed_assets(message text, record_id uuid)
RETURNS text
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'check_violation', MESSAGE = format(message, record_id);
END
$$;

-- A transaction document's postings as the four parallel arrays of ledger_transactions, in order (as the view's
-- trigger aggregates them). A function of its own rather than an aggregate over jsonb_array_elements in the
-- statement: the planner prices such a subquery per row at a hundred elements, so the statement's generic plan
-- (priced for ten documents) looked far dearer than a custom one, and each execution was planned again.
CREATE FUNCTION paymentskit_ledger_postings(postings jsonb, OUT accounts text[], OUT sides text[], OUT amounts numeric[], OUT assets text[])
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE COST 1
AS $$
DECLARE
    posting jsonb;
BEGIN
    accounts := '{}';
    sides := '{}';
    amounts := '{}';
    assets := '{}';
    FOR i IN 0 .. coalesce(jsonb_array_length(postings), 0) - 1 LOOP
        posting := postings -> i;
        accounts := accounts || (posting ->> 'account_id');
        sides := sides || (posting ->> 'side');
        amounts := amounts || (posting -> 'amount' ->> 'amount')::numeric;
        assets := assets || (posting -> 'amount' ->> 'asset');
    END LOOP;
END
$$;
