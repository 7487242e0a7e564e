-- Retention, second review of the day's changes.
-- The worker runs too (naptime 1 s): each policy is added in the transaction
-- that runs it, so the worker never acts first.
CREATE EXTENSION privacy;

-- One row never stalls a policy, whatever SQLSTATE a table's trigger
-- raises for it: an application's own code ('LK001'), insufficient_privilege
-- (a trigger's "you may not delete this row"), feature_not_supported.  Before,
-- only the classes 22, 23, P0, 09, 27, 2F, 38, 39, 44, 21 were one row's: any
-- other failed the whole policy on every retry, and its pass never moved on.
CREATE TABLE rr2_t (id int PRIMARY KEY, at timestamptz);
CREATE INDEX ON rr2_t (at);
CREATE FUNCTION rr2_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF OLD.id = 2 THEN RAISE EXCEPTION 'locked row' USING ERRCODE = 'LK001'; END IF;
	IF OLD.id = 4 THEN RAISE EXCEPTION 'protected row' USING ERRCODE = 'insufficient_privilege'; END IF;
	IF OLD.id = 6 THEN RAISE EXCEPTION 'not here' USING ERRCODE = 'feature_not_supported'; END IF;
	RETURN OLD;
END $$;
CREATE TRIGGER rr2_refuse BEFORE DELETE ON rr2_t FOR EACH ROW EXECUTE FUNCTION rr2_refuse();
INSERT INTO rr2_t SELECT g, now() - interval '10 days' FROM generate_series(1, 8) g;
BEGIN;
SELECT privacy.add_retention('rr2_t', 'at', '1 day') AS a \gset
SELECT privacy.run_retention(:a);
SELECT id FROM rr2_t ORDER BY id;
SELECT rows, blocked, error FROM privacy.retention_runs WHERE policy = :a;
SELECT privacy.drop_retention(:a);
COMMIT;

-- a lock timeout, a serialization failure or a cancel still fails the
-- policy (it waits, or it is not one row's; retried with back-off)
INSERT INTO rr2_t SELECT g, now() - interval '10 days' FROM generate_series(10, 12) g;
CREATE OR REPLACE FUNCTION rr2_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF OLD.id = 11 THEN RAISE EXCEPTION 'again' USING ERRCODE = 'serialization_failure'; END IF;
	RETURN OLD;
END $$;
BEGIN;
SELECT privacy.add_retention('rr2_t', 'at', '1 day') AS a \gset
SELECT privacy.run_retention();
SELECT id FROM rr2_t ORDER BY id;
SELECT rows, blocked, error IS NOT NULL AS failed FROM privacy.retention_runs WHERE policy = :a;
SELECT privacy.drop_retention(:a);
COMMIT;
DROP TABLE rr2_t;
DROP FUNCTION rr2_refuse();
