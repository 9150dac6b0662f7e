-- Webhook delivery (issue 10). The outbox (webhook_events, 0005_routing) gains two columns the
-- generic store never writes: dispatch_seq numbers events in insert order (for per-resource
-- ordering) and scheduled_at marks events already fanned out to their endpoints' deliveries.
ALTER TABLE webhook_events ADD COLUMN dispatch_seq bigserial;
ALTER TABLE webhook_events ADD COLUMN scheduled_at timestamptz;

CREATE INDEX webhook_events_unscheduled_idx ON webhook_events (dispatch_seq) WHERE scheduled_at IS NULL;

-- One row per (event, endpoint). seq is the event's dispatch_seq; a pending row is due at
-- next_attempt_at and free when its lease (lease_token, lease_expires_at) is absent or expired.
CREATE TABLE webhook_deliveries (
    id               uuid        NOT NULL,
    tenant_id        uuid        NOT NULL,
    event_id         uuid        NOT NULL,
    endpoint_id      uuid        NOT NULL,
    event_type       text        NOT NULL,
    ordering_key     text,
    seq              bigint      NOT NULL,
    status           text        NOT NULL,
    attempts         integer     NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL,
    last_attempt_at  timestamptz,
    last_status_code integer,
    last_error       text,
    lease_token      uuid,
    lease_expires_at timestamptz,
    created_at       timestamptz NOT NULL,
    completed_at     timestamptz,
    CONSTRAINT webhook_deliveries_pkey PRIMARY KEY (id),
    CONSTRAINT webhook_deliveries_event_endpoint_key UNIQUE (event_id, endpoint_id),
    CONSTRAINT webhook_deliveries_status_check CHECK (status IN ('pending', 'delivered', 'dead_lettered')),
    CONSTRAINT webhook_deliveries_attempts_check CHECK (attempts >= 0)
);

CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at, seq) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_ordering_idx ON webhook_deliveries (endpoint_id, ordering_key, seq)
    WHERE status = 'pending' AND ordering_key IS NOT NULL;
CREATE INDEX webhook_deliveries_tenant_idx ON webhook_deliveries (tenant_id, id);

CREATE TABLE webhook_delivery_attempts (
    id               uuid        NOT NULL,
    tenant_id        uuid        NOT NULL,
    delivery_id      uuid        NOT NULL REFERENCES webhook_deliveries (id),
    event_id         uuid        NOT NULL,
    endpoint_id      uuid        NOT NULL,
    number           integer     NOT NULL,
    started_at       timestamptz NOT NULL,
    duration         interval    NOT NULL,
    outcome          text        NOT NULL,
    status_code      integer,
    response_excerpt text,
    error            text,
    CONSTRAINT webhook_delivery_attempts_pkey PRIMARY KEY (id)
);

CREATE INDEX webhook_delivery_attempts_delivery_idx ON webhook_delivery_attempts (delivery_id, started_at);
