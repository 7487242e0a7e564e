-- Policies follow renames; a broken policy shows its error and the others
-- keep reporting; missing runtime state is created on demand; idle passes
-- leave no record, only the last_checked heartbeat (issue 11 items 4, 5, 7).
CREATE EXTENSION privacy;
SET client_min_messages = warning;
CREATE TABLE a (id int, at date NOT NULL);
CREATE TABLE b (id int, at date NOT NULL);
BEGIN;
SELECT privacy.add_retention('a', 'at', '1 year') AS pa \gset
SELECT privacy.add_retention('b', 'at', '1 year') AS pb \gset
-- a rename: the policy follows the column
ALTER TABLE a RENAME COLUMN at TO created;
INSERT INTO a VALUES (1, '2000-01-01'), (2, current_date);
SELECT privacy.run_retention(:pa) AS deleted_after_rename;
COMMIT;
SELECT policy = :pa AS is_a, age_column FROM privacy.retention_policies ORDER BY policy;
-- a dropped column: that policy shows its error, the others keep reporting
BEGIN;
ALTER TABLE b DROP COLUMN at;
SELECT policy = :pa AS is_a, error, backlog_estimate FROM privacy.retention_status ORDER BY policy;
INSERT INTO a VALUES (3, '2000-01-01');
SELECT privacy.run_retention() AS all_policies;
COMMIT;
SELECT array_agg(id ORDER BY id) AS a_left FROM a;
-- runtime state missing (as after pg_dump | pg_restore): created on demand
BEGIN;
DELETE FROM privacy.retention_state;
INSERT INTO a VALUES (4, '2000-01-01');
SELECT privacy.run_retention(:pa) AS deleted_without_state;
SELECT count(*) AS state_rows FROM privacy.retention_state WHERE policy = :pa;
COMMIT;
-- an idle pass: no run row, no audit entry, only the heartbeat
SELECT count(*) AS runs FROM privacy.retention_runs WHERE policy = :pa \gset
SELECT count(*) AS audits FROM privacy.audit_log WHERE action = 'run_retention' \gset
SELECT privacy.run_retention(:pa) AS idle;
SELECT count(*) = :runs AS no_run_row FROM privacy.retention_runs WHERE policy = :pa;
SELECT count(*) = :audits AS no_audit_entry FROM privacy.audit_log WHERE action = 'run_retention';
SELECT last_checked > now() - interval '1 minute' AS heartbeat FROM privacy.retention_status WHERE policy = :pa;

-- passes that find only the held and blocked rows of the policy's last
-- recorded run leave no run row and no audit entry either: a run is recorded
-- when it changes rows, or when its held or blocked rows differ from the last
-- recorded run's (before, every pass of the worker wrote both, naptime after
-- naptime, for rows that stay until a hold ends); retention_status keeps
-- showing the current counts.  Each step runs its passes in one transaction
-- (the worker, naptime 1 s, may run it after the step: it then finds the
-- same rows as the step's last pass, and records nothing either).
CREATE TABLE cust (id int PRIMARY KEY);
INSERT INTO cust VALUES (1), (2);
CREATE TABLE visits (id int PRIMARY KEY, cust_id int REFERENCES cust, at date NOT NULL);
CREATE TABLE pins (id int PRIMARY KEY, visit_id int REFERENCES visits);
-- visits 1, 3, 5, 7 of customer 2 (held); visit 2 pinned by an anonymize-mode row
INSERT INTO visits SELECT g, 1 + g % 2, '2000-01-01' FROM generate_series(1, 8) g;
INSERT INTO pins VALUES (2, 2);
SELECT privacy.define_subject('cust', 'cust');
SELECT privacy.set_erasure_mode('pins', 'anonymize');
SELECT privacy.hold('cust', '2', 'case 4') IS NOT NULL AS held;
BEGIN;
SELECT privacy.add_retention('visits', 'at', '1 year') AS pv \gset
SELECT privacy.run_retention(:pv) AS deleted;
SELECT privacy.run_retention(:pv) AS deleted_again;
SELECT privacy.run_retention(:pv) AS deleted_again;
COMMIT;
SELECT rows, held, blocked, blocked_by FROM privacy.retention_runs WHERE policy = :pv ORDER BY id;
-- the hold ends while every visit of customer 2 gets pinned: nothing is
-- deleted, but the blocked rows are not those of before
BEGIN;
INSERT INTO pins SELECT g, g FROM generate_series(1, 7, 2) g;
SELECT privacy.release_hold('cust', '2');
COMMIT;
BEGIN;
SELECT privacy.run_retention(:pv) AS deleted_after_release;
SELECT privacy.run_retention(:pv) AS deleted_again;
COMMIT;
-- the blocked rows deleted by hand: one more record says nothing is blocked now
BEGIN;
DELETE FROM pins;
DELETE FROM visits;
COMMIT;
BEGIN;
SELECT privacy.run_retention(:pv) AS nothing_left;
SELECT privacy.run_retention(:pv) AS nothing_left;
COMMIT;
SELECT rows, held, blocked, finished IS NOT NULL AS finished FROM privacy.retention_runs
 WHERE policy = :pv ORDER BY id;
SELECT detail - 'policy' AS audited FROM privacy.audit_log
 WHERE action = 'run_retention' AND detail->>'policy' = :'pv' ORDER BY seq;
SELECT last_rows, last_held, last_blocked FROM privacy.retention_status WHERE policy = :pv;

-- a run's started is when the run began (before, when its first batch
-- wrote the record, after the batch's work)
CREATE TABLE slow (id int PRIMARY KEY, at date NOT NULL);
CREATE TABLE slow_log (at timestamptz);
CREATE FUNCTION slow_del() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO public.slow_log VALUES (clock_timestamp()); RETURN OLD; END $$;
CREATE TRIGGER slow_del BEFORE DELETE ON slow FOR EACH ROW EXECUTE FUNCTION slow_del();
INSERT INTO slow VALUES (1, '2000-01-01'), (2, '2000-01-01');
BEGIN;
SELECT privacy.add_retention('slow', 'at', '1 year') AS ps \gset
SELECT clock_timestamp() AS before_run \gset
SELECT privacy.run_retention(:ps) AS deleted;
COMMIT;
SELECT started >= :'before_run' AND started < (SELECT min(at) FROM slow_log) AS started_when_the_run_began
  FROM privacy.retention_runs WHERE policy = :ps;

-- cleanup
SELECT count(privacy.drop_retention(policy)) AS dropped FROM privacy.retention_policies;
SELECT privacy.drop_subject('cust');
DROP TABLE a, b, pins, visits, cust, slow, slow_log;
DROP FUNCTION slow_del();
DROP EXTENSION privacy CASCADE;
