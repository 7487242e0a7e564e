-- Retention, second review of the day's changes.
-- The worker runs too (naptime 1 s): each policy is added in the transaction
-- that runs it, so the worker never acts first.
CREATE EXTENSION privacy;

-- One row never stalls a policy when a table's trigger refuses it with an
-- application's own SQLSTATE ('LK001', 'ZZ999': classes PostgreSQL does not
-- define, which only user code raises).  Before, only the classes 22, 23, P0,
-- 09, 27, 2F, 38, 39, 44, 21 were one row's: an application's code failed the
-- whole policy on every retry, and its pass never moved on.
CREATE TABLE rr2_t (id int PRIMARY KEY, at timestamptz);
CREATE INDEX ON rr2_t (at);
CREATE FUNCTION rr2_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF OLD.id = 2 THEN RAISE EXCEPTION 'locked row' USING ERRCODE = 'LK001'; END IF;
	IF OLD.id = 4 THEN RAISE EXCEPTION 'protected row' USING ERRCODE = 'ZZ999'; END IF;
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

-- when every expired row fails, the WARNING does not say that the others
-- were changed (before: "the other rows were changed", with none changed)
BEGIN;
SELECT privacy.add_retention('rr2_t', 'at', '1 day') AS a \gset
SELECT privacy.run_retention(:a);
SELECT rows, blocked FROM privacy.retention_runs WHERE policy = :a;
SELECT privacy.drop_retention(:a);
COMMIT;

-- PostgreSQL's own classes outside the list still fail the policy (a
-- serialization failure, a permission: retried with back-off)
INSERT INTO rr2_t SELECT g, now() - interval '10 days' FROM generate_series(10, 12) g;
CREATE OR REPLACE FUNCTION rr2_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF OLD.id = 11 THEN RAISE EXCEPTION 'again' USING ERRCODE = 'serialization_failure'; END IF;
	IF OLD.id = 12 THEN RAISE EXCEPTION 'protected' USING ERRCODE = 'insufficient_privilege'; END IF;
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
DROP EXTENSION privacy;
