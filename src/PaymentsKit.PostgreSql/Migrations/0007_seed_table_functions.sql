-- Helpers for the seed tables of the invoicing and orchestration modules (see
-- docs/decisions/0002-seed-tables-on-the-record-store.md). Those tables keep the record store's
-- shape (collection, id, tenant_id, version, data, created_at, updated_at) and add the seeds'
-- columns as STORED generated columns extracted from `data`, so the store stays the only writer
-- and the columns can never disagree with the record. A generated column may only call IMMUTABLE
-- functions; text -> timestamptz is only STABLE (it depends on DateStyle and TimeZone), hence
-- these parsers of the one format PaymentsKit writes.

-- paymentskit_instant(text), the instant decoder, is defined once in 0004_payouts.

-- The same instant as 100-ns ticks since the Unix epoch (NodaTime's Instant.ToUnixTimeTicks):
-- exact, so SQL orders and pages records the way the services compare instants, and the keyset
-- cursors (which carry ticks) match a row exactly.
CREATE FUNCTION paymentskit_ticks(iso text)
RETURNS bigint
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT (extract(epoch FROM make_timestamp(
                substr(iso, 1, 4)::int, substr(iso, 6, 2)::int, substr(iso, 9, 2)::int,
                substr(iso, 12, 2)::int, substr(iso, 15, 2)::int, 0))::bigint
            + substr(iso, 18, 2)::bigint) * 10000000
        + substr(rpad(coalesce(substring(iso FROM '\.([0-9]{1,9})Z$'), ''), 7, '0'), 1, 7)::bigint
$$;

-- The uuid under a typed id's text form (prefix_ + 26 Crockford base32 characters, the TypeID
-- layout: 2 zero pad bits then the 128 bits, most significant first). Null for text that is not
-- a typed id, so a foreign-key column of a record that holds something else stays empty instead
-- of failing the write.
CREATE FUNCTION paymentskit_typeid_uuid(typeid text)
RETURNS uuid
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT CASE WHEN typeid ~ '^[a-z]{1,8}_[0-7][0-9a-hjkmnp-tv-z]{25}$' THEN (
        SELECT string_agg(to_hex(substring(bits FROM 3 + 4 * n FOR 4)::bit(4)::int), '' ORDER BY n)::uuid
        FROM (SELECT string_agg((strpos('0123456789abcdefghjkmnpqrstvwxyz', substr(right(typeid, 26), i, 1)) - 1)::bit(5)::text, '' ORDER BY i) AS bits
              FROM generate_series(1, 26) AS i) AS encoded,
             generate_series(0, 31) AS n)
    END
$$;

-- created_at / updated_at of a seed table row are the record's own instants (the services stamp
-- them with the injected IClock), not the moment of the commit; a record without updated_at
-- (payments, events, audit entries) keeps its creation instant there.
CREATE FUNCTION paymentskit_record_inserted()
RETURNS trigger
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
BEGIN
    NEW.created_at := coalesce(paymentskit_instant(NEW.data ->> 'created_at'), NEW.created_at);
    NEW.updated_at := coalesce(paymentskit_instant(NEW.data ->> 'updated_at'), NEW.created_at);
    RETURN NEW;
END
$$;

-- The seed's updated_at trigger. The store bumps the version on every write it makes and the
-- record carries its own updated_at; an UPDATE that left the version alone was written by hand
-- (a DBA fixing data), so it gets a new version — a unit of work that read the old one then
-- fails its version check instead of silently overwriting the fix — and updated_at = now().
CREATE FUNCTION update_updated_at_column()
RETURNS trigger
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
BEGIN
    NEW.created_at := OLD.created_at;
    IF NEW.version = OLD.version THEN
        NEW.version := OLD.version + 1;
        NEW.updated_at := now();
    ELSE
        NEW.updated_at := coalesce(paymentskit_instant(NEW.data ->> 'updated_at'), NEW.updated_at);
    END IF;
    RETURN NEW;
END
$$;
