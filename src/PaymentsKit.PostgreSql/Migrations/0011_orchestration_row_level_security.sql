-- The orchestration seed's row-level security (5.2) on every partner-scoped table: a session that
-- sets app.current_partner_id (SET app.current_partner_id = '<uuid>') sees and writes only that
-- partner's rows, even with hand-written SQL. Without the setting it sees nothing. The table owner
-- (the role PaymentsKit migrates and connects with) is exempt, as PostgreSQL exempts owners unless
-- FORCE ROW LEVEL SECURITY is set: the store serves every partner and scopes each read itself.
-- Give reporting or partner-facing roles privileges on these tables, never ownership.

CREATE FUNCTION paymentskit_current_partner_id()
RETURNS uuid
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT NULLIF(current_setting('app.current_partner_id', true), '')::uuid $$;

ALTER TABLE partners ENABLE ROW LEVEL SECURITY;
CREATE POLICY partner_isolation ON partners
    FOR ALL
    USING (id = paymentskit_current_partner_id());

ALTER TABLE transactions ENABLE ROW LEVEL SECURITY;
CREATE POLICY partner_isolation ON transactions
    FOR ALL
    USING (partner_id = paymentskit_current_partner_id());

ALTER TABLE refunds ENABLE ROW LEVEL SECURITY;
CREATE POLICY partner_isolation ON refunds
    FOR ALL
    USING (partner_id = paymentskit_current_partner_id());

ALTER TABLE transaction_events ENABLE ROW LEVEL SECURITY;
CREATE POLICY partner_isolation ON transaction_events
    FOR ALL
    USING (partner_id = paymentskit_current_partner_id());

ALTER TABLE audit_logs ENABLE ROW LEVEL SECURITY;
CREATE POLICY partner_isolation ON audit_logs
    FOR ALL
    USING (partner_id = paymentskit_current_partner_id());
