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

-- cleanup
SELECT count(privacy.drop_retention(policy)) AS dropped FROM privacy.retention_policies;
DROP TABLE a, b;
DROP EXTENSION privacy CASCADE;
