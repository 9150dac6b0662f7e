-- Records of every collection that does not name its own table: one row per record, the record
-- itself as jsonb. (collection, tenant_id, id) serves tenant-scoped paging in id order.
CREATE TABLE paymentskit_records (
    collection text        NOT NULL,
    id         uuid        NOT NULL,
    tenant_id  uuid        NOT NULL,
    version    bigint      NOT NULL CHECK (version >= 1),
    data       jsonb       NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    CONSTRAINT paymentskit_records_pkey PRIMARY KEY (collection, id)
);

CREATE INDEX paymentskit_records_tenant_idx ON paymentskit_records (collection, tenant_id, id);

-- Unique key values of all collections: the primary key is what enforces uniqueness across
-- concurrent commits; record_id finds the holder.
CREATE TABLE paymentskit_unique_keys (
    collection text NOT NULL,
    key_name   text NOT NULL,
    key_value  text NOT NULL,
    record_id  uuid NOT NULL,
    CONSTRAINT paymentskit_unique_keys_pkey PRIMARY KEY (collection, key_name, key_value)
);

CREATE INDEX paymentskit_unique_keys_record_idx ON paymentskit_unique_keys (collection, record_id);

-- Called by a commit's conditional UPDATE with the number of rows it changed. Raising aborts the
-- whole batch (one implicit transaction), so a stale version writes nothing; the store maps the
-- SQLSTATE PKV01 back to a concurrency conflict on that record.
CREATE FUNCTION paymentskit_expect_version(updated bigint, collection text, record_id uuid, expected_version bigint)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    IF updated <> 1 THEN
        RAISE EXCEPTION USING
            ERRCODE = 'PKV01',
            MESSAGE = format('%s record %s is no longer at version %s', collection, record_id, expected_version);
    END IF;
END
$$;
