-- paymentskit_instant without a regular expression (issue 10, performance; docs/decisions/0014-webhook-completion-cost.md).
-- Every row written to a table with a generated column over it evaluates the function (inlined since 0016), and a
-- profile of webhook delivery put about half of the outbox event's generated columns' CPU in the regular expression
-- that found the fraction of a second. The text is always an instant in the records' own format
-- (NodaTime's InstantPattern.ExtendedIso: 'uuuu-MM-ddTHH:mm:ss', then '.' and 1-9 digits only when the fraction is
-- not zero, then 'Z'), so the fraction is the text between position 21 and the final 'Z' when position 20 is '.'.
-- Same results (microseconds, truncated) for every such text, so stored values and index entries stay valid; still
-- a single inlinable SELECT, null for null.
CREATE OR REPLACE FUNCTION paymentskit_instant(iso text)
RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT timezone('UTC', make_timestamp(
        substr(iso, 1, 4)::int, substr(iso, 6, 2)::int, substr(iso, 9, 2)::int,
        substr(iso, 12, 2)::int, substr(iso, 15, 2)::int,
        (substr(iso, 18, 2) || '.' || CASE WHEN substr(iso, 20, 1) = '.' THEN substr(rpad(substr(iso, 21, length(iso) - 21), 6, '0'), 1, 6) ELSE '0' END)::float8))
$$;
