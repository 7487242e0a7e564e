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
-- a referenced reference table with personal data (tenants): erase reads
-- which tenants other customers still reference through every shard
SELECT privacy.classify('tenants', 'name', 'user.name');
-- a subject whose tables do not route (below), set up before the workers
-- log statements
CREATE TABLE agents (agent_id bigint PRIMARY KEY, name text);
CREATE TABLE categories (cat_id int PRIMARY KEY, label text);
CREATE TABLE tickets (ticket_id bigint PRIMARY KEY, agent_id bigint, cat_id int, note text);
CREATE TABLE notes (ticket_id bigint, note_id bigint, body text, PRIMARY KEY (ticket_id, note_id));
SELECT create_reference_table('agents');
SELECT create_reference_table('categories');
SELECT create_distributed_table('tickets', 'ticket_id', shard_count => 4);
SELECT create_distributed_table('notes', 'ticket_id', colocate_with => 'tickets');
ALTER TABLE tickets ADD FOREIGN KEY (agent_id) REFERENCES agents;
ALTER TABLE tickets ADD FOREIGN KEY (cat_id) REFERENCES categories;
ALTER TABLE notes ADD FOREIGN KEY (ticket_id) REFERENCES tickets;
-- a table local to the coordinator with a foreign key to the reference
-- table: Citus adds it to its metadata (a Citus local table, one shard)
SET client_min_messages = warning;
CREATE TABLE agent_badges (agent_id bigint REFERENCES agents, badge text);
RESET client_min_messages;
INSERT INTO agents VALUES (7777777, 'Key Agent'), (2, 'Other');
INSERT INTO categories SELECT c, 'category ' || c FROM generate_series(1, 4) c;
-- the agent's tickets in categories 1 and 2, the other's in 1 and 3: category 2 is the agent's alone
INSERT INTO tickets SELECT t, CASE WHEN t % 2 = 0 THEN 7777777 ELSE 2 END, CASE WHEN t % 4 = 0 THEN 2 WHEN t % 4 = 1 THEN 3 ELSE 1 END,
  'ticket ' || t FROM generate_series(9000001, 9000012) t;
INSERT INTO notes SELECT 9000001 + n % 12, n, 'note ' || n FROM generate_series(1, 48) n;
INSERT INTO agent_badges VALUES (7777777, 'gold'), (7777777, 'silver'), (2, 'bronze');
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
-- a subject whose tables do not route (tickets distributed by their own
-- id, notes by theirs): every statement over them goes to every shard,
-- and Citus writes a multi-shard query's parameters into its text; the
-- key and the key sets (the agent's ticket ids) reach the workers as an
-- intermediate result instead (COPY data), never in the text
RESET citus.grep_remote_commands;
SET citus.log_remote_commands = off;
SELECT privacy.define_subject('agent', 'agents');
SELECT privacy.classify('tickets', 'note', 'user.content');
SELECT privacy.classify('agents', 'name', 'user.name');
-- a reference table that the tickets reference, with personal data
SELECT privacy.classify('categories', 'label', 'user.content');
SELECT table_name, routing FROM privacy.subject_tables WHERE subject = 'agent' ORDER BY 1::text;
SET citus.log_remote_commands = on;
SET citus.grep_remote_commands = '%7777777%';
SELECT jsonb_array_length(privacy.access('agent', '7777777')->'data'->'public.notes') AS notes;
SELECT jsonb_array_length(privacy.export('agent', '7777777')->'tables'->'public.tickets') AS tickets;
SELECT privacy.erase('agent', '7777777', dry_run => true)->'tables' AS dry_run;
SELECT privacy.hold('agent', '7777777', 'audit');
SELECT privacy.release_hold('agent', '7777777');
-- others' debug messages inside the extension's calls are not logged
-- (Citus's quote the values of parameters; run_citus.sh searches this
-- node's log too)
SET log_min_messages = debug2;
SELECT jsonb_array_length(privacy.access('agent', '7777777')->'data'->'public.tickets') AS tickets;
SELECT privacy.erase('agent', '7777777', dry_run => true)->'tables'->'public.notes' AS dry_run_notes;
RESET log_min_messages;
-- (Citus refuses the reference table's DELETE after parallel ones on
-- the distributed tables in one transaction; sequential mode does both)
SET citus.multi_shard_modify_mode = 'sequential';
SELECT privacy.set_erasure_mode('tickets', 'anonymize'), privacy.set_erasure_mode('agents', 'anonymize');
BEGIN;
SELECT privacy.erase('agent', '7777777')->'tables' AS anonymized;
ROLLBACK;
SELECT privacy.set_erasure_mode('tickets', 'delete'), privacy.set_erasure_mode('agents', 'delete');
SELECT privacy.erase('agent', '7777777')->'tables' AS erased;
RESET citus.multi_shard_modify_mode;
-- (the receipt counted what went: 6 tickets, their 24 notes, 2 badges,
-- the agent's own category; category 1 is shared and kept)
SELECT (SELECT count(*) FROM tickets WHERE agent_id <> 2) AS tickets, (SELECT count(*) FROM notes) AS notes,
       (SELECT count(*) FROM agents) AS agents, (SELECT count(*) FROM agent_badges) AS badges,
       (SELECT string_agg(cat_id::text, ',' ORDER BY cat_id) FROM categories) AS categories;
SELECT privacy.drop_subject('agent');
DROP TABLE agent_badges, notes, tickets, agents, categories;
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
SELECT privacy.declassify('tenants', 'name');
