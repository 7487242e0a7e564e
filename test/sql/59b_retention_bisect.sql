-- One row never stalls a policy, and costs little: when a batch's DELETE or
-- UPDATE fails on a row's error (a trigger that refuses it), the batch is
-- split in halves, each in a subtransaction, until every failing row is
-- alone; the other rows are changed, the failing ones stay, counted as
-- blocked.  k failing rows of n cost about 2 k log2(n) statements; before,
-- the batch changed its rows one by one (n statements: 1,000 here).
-- The worker runs too (naptime 1 s): each policy is added in the
-- transaction that first runs it.
CREATE EXTENSION privacy;
-- statements that reach the table: a sequence is not rolled back with a
-- subtransaction
CREATE SEQUENCE rb_stmts;
CREATE FUNCTION rb_count() RETURNS trigger LANGUAGE plpgsql AS
  $$ BEGIN PERFORM nextval('rb_stmts'); RETURN NULL; END $$;
CREATE FUNCTION rb_refuse() RETURNS trigger LANGUAGE plpgsql AS
  $$ BEGIN IF OLD.bad THEN RAISE EXCEPTION 'refused' USING ERRCODE = 'LK001'; END IF;
     RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END; END $$;

-- a delete policy: 1,000 expired rows (one batch), four refused, one row not due
CREATE TABLE rb_inv (id int PRIMARY KEY, at timestamptz NOT NULL, bad boolean NOT NULL);
CREATE INDEX ON rb_inv (at);
INSERT INTO rb_inv SELECT g, now() - interval '10 days' - g * interval '1 minute',
  g IN (1, 500, 501, 1000) FROM generate_series(1, 1000) g;
INSERT INTO rb_inv VALUES (2000, now(), true);
CREATE TRIGGER rb_refuse BEFORE DELETE ON rb_inv FOR EACH ROW EXECUTE FUNCTION rb_refuse();
CREATE TRIGGER rb_count BEFORE DELETE ON rb_inv FOR EACH STATEMENT EXECUTE FUNCTION rb_count();
BEGIN;
SELECT privacy.add_retention('rb_inv', 'at', '1 day') AS p \gset
SELECT privacy.run_retention(:p) AS deleted;
COMMIT;
SELECT id FROM rb_inv ORDER BY id;
SELECT rows, blocked, blocked_by, error FROM privacy.retention_runs WHERE policy = :p;
-- one by one: over 1,000 statements
SELECT nextval('rb_stmts') < 120 AS few_statements;
-- the refused rows are tried again by the next pass
UPDATE rb_inv SET bad = false WHERE id = 500;
SELECT privacy.run_retention(:p) AS deleted;
SELECT id FROM rb_inv ORDER BY id;

-- an anonymize policy with a 'hash' column: each row of a split unit gets
-- its own row's pseudonym
CREATE TABLE rb_dev (id int PRIMARY KEY, at timestamptz NOT NULL, serial varchar(12),
  orig text, bad boolean NOT NULL);
INSERT INTO rb_dev SELECT g, now() - interval '10 days' - g * interval '1 minute',
  'SN-' || g, 'SN-' || g, g IN (3, 100, 150) FROM generate_series(1, 200) g;
SELECT privacy.classify('rb_dev', 'serial', 'user.device.device_id', 'hash');
CREATE TRIGGER rb_refuse BEFORE UPDATE ON rb_dev FOR EACH ROW EXECUTE FUNCTION rb_refuse();
BEGIN;
SELECT privacy.add_retention('rb_dev', 'at', '1 day', 'anonymize') AS d \gset
SELECT privacy.run_retention(:d) AS anonymized;
COMMIT;
SELECT count(*) FILTER (WHERE serial = privacy.pseudonym(orig, 12)) AS own_pseudonym,
  count(*) FILTER (WHERE serial = orig) AS unchanged,
  count(*) FILTER (WHERE serial <> orig AND serial <> privacy.pseudonym(orig, 12)) AS wrong
  FROM rb_dev;
SELECT id FROM rb_dev WHERE serial = orig ORDER BY id;
SELECT rows, blocked FROM privacy.retention_runs WHERE policy = :d;

-- a delete policy with dependents: a refused row keeps its dependents, the
-- others' go with them
CREATE TABLE rb_msg (id int PRIMARY KEY, at timestamptz NOT NULL, bad boolean NOT NULL);
CREATE TABLE rb_att (id int PRIMARY KEY, msg int REFERENCES rb_msg);
CREATE INDEX ON rb_att (msg);
INSERT INTO rb_msg SELECT g, now() - interval '10 days' - g * interval '1 minute',
  g IN (10, 90) FROM generate_series(1, 100) g;
INSERT INTO rb_att SELECT g, g FROM generate_series(1, 100) g WHERE g % 10 = 0;
CREATE TRIGGER rb_refuse BEFORE DELETE ON rb_msg FOR EACH ROW EXECUTE FUNCTION rb_refuse();
BEGIN;
SELECT privacy.add_retention('rb_msg', 'at', '1 day') AS m \gset
SELECT privacy.run_retention(:m) AS deleted;
COMMIT;
SELECT id FROM rb_msg ORDER BY id;
SELECT id, msg FROM rb_att ORDER BY id;
SELECT rows, dependents, blocked, blocked_by FROM privacy.retention_runs WHERE policy = :m;

DROP TABLE rb_att, rb_msg, rb_dev, rb_inv;
DROP FUNCTION rb_refuse(), rb_count();
DROP SEQUENCE rb_stmts;
DROP EXTENSION privacy;
