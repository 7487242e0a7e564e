-- Retention policies: add, run (delete and anonymize), status, drop.
CREATE EXTENSION privacy;
SET client_min_messages = warning;
CREATE TABLE messages (id int PRIMARY KEY, sent_at timestamptz NOT NULL, body text);
CREATE INDEX ON messages (sent_at);
INSERT INTO messages SELECT g, now() - g * interval '1 day', 'message ' || g FROM generate_series(1, 60) g;
CREATE TABLE devices (id int PRIMARY KEY, seen date NOT NULL, ip inet, mac text NOT NULL,
	serial varchar(12), note text);
CREATE INDEX ON devices (seen);
INSERT INTO devices SELECT g, current_date - g * 10, '192.0.2.1', 'aa:bb', 'SN-' || g, 'n' || g
  FROM generate_series(1, 20) g;
SELECT privacy.classify('devices', 'ip', 'user.device.ip_address', 'null');
SELECT privacy.classify('devices', 'serial', 'user.device.device_id', 'hash');
SELECT privacy.classify('devices', 'mac', 'user.device.device_id', 'redact');
-- The worker runs too (naptime 1 s): a policy is added and first run in one
-- transaction, so the counts below are run_retention's.
-- a delete policy
BEGIN;
SELECT privacy.add_retention('messages', 'sent_at', '30 days') AS p_msg \gset
SELECT policy, table_name, age_column, keep, action, columns FROM privacy.retention_policies;
SELECT privacy.run_retention(:p_msg) AS deleted;
COMMIT;
SELECT count(*) AS kept, min(id), max(id) FROM messages;
SELECT privacy.run_retention(:p_msg) AS deleted_again;
SELECT policy, rows, held, error IS NULL AS ok, finished IS NOT NULL AS finished
  FROM privacy.retention_runs WHERE rows > 0 ORDER BY id;

-- an anonymize policy: classified columns by their strategy, rows stay
BEGIN;
SELECT privacy.add_retention('devices', 'seen', '95 days', 'anonymize') AS p_dev \gset
SELECT privacy.run_retention(:p_dev) AS anonymized;
COMMIT;
SELECT id, ip, mac, serial ~ '^[0-9a-f]{12}$' AS serial_hashed, note FROM devices ORDER BY id;
-- equal inputs give equal pseudonyms; already anonymized rows are not counted again
BEGIN;
UPDATE devices SET serial = 'SN-1' WHERE id = 12;
SELECT privacy.run_retention(:p_dev) AS anonymized_again;
COMMIT;
SELECT privacy.pseudonym('SN-1', 12) = serial AS same_pseudonym FROM devices WHERE id = 12;
-- named columns, without classification: 'null'
BEGIN;
SELECT privacy.add_retention('devices', 'seen', '175 days', 'anonymize', '{note}') AS p_note \gset
SELECT privacy.run_retention() AS all_policies;
COMMIT;
SELECT id, note FROM devices WHERE id >= 17 ORDER BY id;
SELECT policy, table_name, action, last_started IS NOT NULL AS has_run, last_error, failures,
       backlog_estimate >= 0 AS has_estimate
  FROM privacy.retention_status ORDER BY policy;

-- a user trigger runs as the table's owner, not as the caller or a superuser
CREATE ROLE regress_ret_owner;
CREATE TABLE owned (id int, at date);
ALTER TABLE owned OWNER TO regress_ret_owner;
CREATE TABLE trigger_log (who name, restricted text);
GRANT INSERT ON trigger_log TO regress_ret_owner;
CREATE FUNCTION owned_trg() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO public.trigger_log VALUES (current_user, 'yes'); RETURN OLD; END $$;
CREATE TRIGGER owned_del BEFORE DELETE ON owned FOR EACH ROW EXECUTE FUNCTION owned_trg();
INSERT INTO owned VALUES (1, '2000-01-01'), (2, current_date);
BEGIN;
SELECT privacy.add_retention('owned', 'at', '1 year') AS p_owned \gset
SELECT privacy.run_retention(:p_owned) AS deleted;
COMMIT;
SELECT who FROM trigger_log;

-- invalid input (SQLSTATE: message)
CREATE FUNCTION pg_temp.try(sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN EXECUTE 'SELECT ' || sql; RETURN 'ok';
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM; END $$;
SELECT pg_temp.try($q$privacy.add_retention('messages', 'nope', '1 day')$q$);
SELECT pg_temp.try($q$privacy.add_retention('messages', 'body', '1 day')$q$);
SELECT pg_temp.try($q$privacy.add_retention('messages', 'sent_at', '0 days')$q$);
SELECT pg_temp.try($q$privacy.add_retention('messages', 'sent_at', '-1 day')$q$);
SELECT pg_temp.try($q$privacy.add_retention('messages', 'sent_at', '1 day', 'shred')$q$);
SELECT pg_temp.try($q$privacy.add_retention('messages', 'sent_at', '1 day', 'delete', '{body}')$q$);
SELECT pg_temp.try($q$privacy.add_retention('messages', 'sent_at', '1 day', 'anonymize', '{nope}')$q$);
SELECT pg_temp.try($q$privacy.add_retention('messages', 'sent_at', '1 day', 'anonymize')$q$);
SELECT pg_temp.try($q$privacy.add_retention(NULL, 'sent_at', '1 day')$q$);
SELECT pg_temp.try($q$privacy.add_retention('messages', 'sent_at', NULL)$q$);
SELECT pg_temp.try($q$privacy.add_retention('no_such_table', 'sent_at', '1 day')$q$);
SELECT pg_temp.try($q$privacy.drop_retention(999999)$q$);
SELECT pg_temp.try($q$privacy.run_retention(999999)$q$);
CREATE VIEW messages_v AS SELECT * FROM messages;
SELECT pg_temp.try($q$privacy.add_retention('messages_v', 'sent_at', '1 day')$q$);
CREATE TABLE "Weird ""Table""; DROP TABLE x" ("Sent ""At""" timestamptz, "v;al" text);
INSERT INTO "Weird ""Table""; DROP TABLE x" VALUES ('2000-01-01', 'a'), (now(), 'b');
BEGIN;
SELECT privacy.add_retention('"Weird ""Table""; DROP TABLE x"', 'Sent "At"', '1 day') AS p_weird \gset
SELECT privacy.run_retention(:p_weird) AS deleted;
COMMIT;
SELECT "v;al" FROM "Weird ""Table""; DROP TABLE x";

-- privileges: a role that neither owns the table nor is privacy_admin
CREATE ROLE regress_ret_nobody;
GRANT SELECT ON privacy.retention_runs TO regress_ret_nobody;  -- not enough either
SET ROLE regress_ret_nobody;
SELECT pg_temp.try($q$privacy.add_retention('messages', 'sent_at', '1 day')$q$);
SELECT pg_temp.try($q$privacy.drop_retention($q$ || :p_msg || $q$)$q$);
SELECT pg_temp.try($q$privacy.run_retention($q$ || :p_msg || $q$)$q$);
SELECT pg_temp.try($q$privacy.pseudonym('x')$q$);
SELECT pg_temp.try($q$count(*) FROM privacy.retention_status$q$);
RESET ROLE;
-- the table's owner may add and drop a policy on its own table
SET ROLE regress_ret_owner;
SELECT privacy.add_retention('owned', 'at', '2 years') > 0 AS added;
SELECT privacy.drop_retention(:p_owned);
RESET ROLE;
-- privacy_admin may run and read
GRANT privacy_admin TO regress_ret_nobody;
SET ROLE regress_ret_nobody;
SELECT privacy.run_retention(:p_msg) AS deleted;
SELECT count(*) > 0 AS sees_status FROM privacy.retention_status;
RESET ROLE;

-- one audit entry per policy change and per run that changed rows (no data)
SELECT action, detail FROM privacy.audit_log
 WHERE action IN ('add_retention', 'drop_retention')
    OR (action = 'run_retention' AND (detail->>'rows')::int > 0)
 ORDER BY seq;

-- cleanup
SELECT count(privacy.drop_retention(policy)) AS dropped FROM privacy.retention_policies;
SELECT count(*) AS policies_left FROM privacy.retention_policies;
DROP TABLE messages CASCADE;
DROP TABLE devices, owned, trigger_log, "Weird ""Table""; DROP TABLE x";
DROP FUNCTION owned_trg();
REVOKE ALL ON privacy.retention_runs FROM regress_ret_nobody;
DROP EXTENSION privacy CASCADE;
DROP ROLE regress_ret_owner, regress_ret_nobody;
