-- paymentskit_instant (0004_payouts) inlinable (issue 10, performance). Declared STRICT, it could not be inlined
-- (its body's coalesce is not strict), so every row written to a table with a generated column over it ran the
-- function through the SQL-function executor: on webhook delivery (the outbox event's last_attempt_at), about a
-- tenth of the cost of recording an attempt. Its body already returns null for a null argument (substr,
-- make_timestamp and timezone are all strict), so CALLED ON NULL INPUT gives the same results, stored values
-- and index entries, and lets the planner inline it.
ALTER FUNCTION paymentskit_instant(text) CALLED ON NULL INPUT;
