-- The subject's key never travels in the text of a statement that Citus
-- sends to a worker (pg_stat_activity there, its statement log): every
-- right, hold, consent, restriction and the ledger's replay, on a customer
-- with rows in every table.  Citus's fast-path planner would write the key
-- into the shard query; our statements go through its router planner,
-- which sends it as a parameter.  Logged below: every command sent that
-- contains the key (none), then the commands of one access and one erasure
-- (the key as $1).
\set VERBOSITY terse
INSERT INTO customers VALUES (7777777, 1, 'k@example.org', 'Key Text');
INSERT INTO conversations VALUES (7777777, 1, 'topic');
INSERT INTO messages VALUES (7777777, 1, 1, 'hello'), (7777777, 2, NULL, 'bye');
INSERT INTO devices VALUES (7777777, 1, '10.9.9.9');
INSERT INTO log VALUES (7777777, 1, 'event');
-- the workers log every statement with its parameters and duration from
-- here on (test/run_citus.sh then searches every node's log for the key:
-- not found); their errors are logged as always
SELECT bool_and(success) AS logging_on FROM run_command_on_workers($$ALTER SYSTEM SET log_statement = 'all'$$);
SELECT bool_and(success) AS logging_on FROM run_command_on_workers($$ALTER SYSTEM SET log_min_duration_statement = 0$$);
SELECT bool_and(success) AS reloaded FROM run_command_on_workers($$SELECT pg_reload_conf()$$);
SELECT pg_sleep(0.3);
-- a session that asks for the fast path gets it for its own statements,
-- not for ours
SET citus.enable_fast_path_router_planner = on;
SET citus.log_remote_commands = on;
SET citus.grep_remote_commands = '%7777777%';
SELECT jsonb_typeof(privacy.access('customer', '7777777')) AS access;
SELECT jsonb_typeof(privacy.access('customer', '7777777')) AS access_again;
SELECT jsonb_typeof(privacy.export('customer', '7777777')) AS export;
SELECT privacy.erase('customer', '7777777', dry_run => true)->'tables'->'public.messages' AS dry_run;
SELECT privacy.hold('customer', '7777777', 'audit');
SELECT privacy.erase('customer', '7777777');
SELECT privacy.release_hold('customer', '7777777');
SELECT privacy.restrict('customer', '7777777', 'disputed');
SELECT privacy.is_restricted('customer', '7777777') AS restricted;
SELECT privacy.unrestrict('customer', '7777777');
SELECT privacy.set_consent('customer', '7777777', 'marketing', true);
SELECT privacy.has_consent('customer', '7777777', 'marketing') AS consent;
-- anonymize mode on the root: an UPDATE of the customer's row
SELECT privacy.set_erasure_mode('customers', 'anonymize');
BEGIN;
SELECT privacy.erase('customer', '7777777')->'tables'->'public.customers' AS anonymized;
ROLLBACK;
-- an error on the worker, inside our statement: the anonymized row
-- violates a CHECK constraint (PostgreSQL's detail would show the row,
-- the key first); the worker hides it before it sends the error (caught
-- here, before any log hook of the coordinator)
ALTER TABLE customers ADD CONSTRAINT key_text_name CHECK (name IS NOT NULL);
SELECT privacy.erase('customer', '7777777');
DO $$
DECLARE d text;
BEGIN
	PERFORM privacy.erase('customer', '7777777');
EXCEPTION WHEN check_violation THEN
	GET STACKED DIAGNOSTICS d = PG_EXCEPTION_DETAIL;
	RAISE NOTICE 'the worker''s detail: %', d;
END $$;
ALTER TABLE customers DROP CONSTRAINT key_text_name;
SELECT privacy.set_erasure_mode('customers', 'delete');
-- a prepared statement of the application, run six times (a generic plan
-- from the sixth): the erasure inside it is planned like any other
PREPARE er(text) AS SELECT privacy.erase('customer', $1, dry_run => true)->'tables'->'public.devices';
EXECUTE er('7777777'); EXECUTE er('7777777'); EXECUTE er('7777777');
EXECUTE er('7777777'); EXECUTE er('7777777'); EXECUTE er('7777777');
DEALLOCATE er;
SELECT privacy.erase('customer', '7777777')->'tables'->'public.messages' AS erased;
SELECT privacy.erase('customer', '7777777')->'tables'->'public.messages' AS again;
SELECT jsonb_typeof(privacy.replay_erasures(privacy.erasure_ledger())) AS replayed;
-- what was sent, with the key as a parameter: one access, one erasure
INSERT INTO customers VALUES (7777778, 1, 'k2@example.org', 'Key Text 2');
INSERT INTO devices VALUES (7777778, 1, '10.9.9.8');
SET citus.grep_remote_commands = '%devices%';
SELECT jsonb_array_length(privacy.access('customer', '7777778')->'data'->'public.devices') AS devices;
SELECT privacy.erase('customer', '7777778')->'tables'->'public.devices' AS erased_devices;
RESET citus.log_remote_commands;
RESET citus.grep_remote_commands;
RESET citus.enable_fast_path_router_planner;
SELECT bool_and(success) AS logging_off FROM run_command_on_workers($$ALTER SYSTEM RESET log_statement$$);
SELECT bool_and(success) AS logging_off FROM run_command_on_workers($$ALTER SYSTEM RESET log_min_duration_statement$$);
SELECT bool_and(success) AS reloaded FROM run_command_on_workers($$SELECT pg_reload_conf()$$);
SELECT pg_sleep(0.3);
SELECT count(*) AS left_behind FROM (SELECT customer_id FROM customers UNION ALL SELECT customer_id FROM conversations
  UNION ALL SELECT customer_id FROM messages UNION ALL SELECT customer_id FROM devices
  UNION ALL SELECT customer_id FROM log) r WHERE customer_id IN (7777777, 7777778);
