-- erase on Citus: the deletes of the routed tables go to the shard group of
-- the key as one router statement (data-modifying CTEs, one per table,
-- referencing tables first); the receipt's counts are those of the
-- single-node twin; a failure inside that statement, or a check that
-- refuses before it, changes nothing on any node.
\set VERBOSITY terse

-- customer 70 has rows in every table of the map (5 tables)
\c single_regress
SELECT receipt(privacy.erase('customer', '70')) AS erase70 \gset s_
\c citus_regress
SELECT count(*) AS rows70 FROM (SELECT customer_id FROM customers UNION ALL SELECT customer_id FROM conversations
  UNION ALL SELECT customer_id FROM messages UNION ALL SELECT customer_id FROM devices
  UNION ALL SELECT customer_id FROM log) r WHERE customer_id = 70;
SELECT receipt(privacy.erase('customer', '70')) AS erase70 \gset d_
SELECT :'d_erase70'::jsonb = :'s_erase70'::jsonb AS same_receipt;
SELECT k AS table, (v->>'deleted')::int AS deleted, ((:'s_erase70'::jsonb)->'tables'->k->>'deleted')::int AS single_node
  FROM jsonb_each(:'d_erase70'::jsonb->'tables') e(k, v) ORDER BY k;

-- the statements Citus sends for an erasure (customer 71): the root row
-- lock, the key set of the conversations (locked), then ONE statement with
-- the four DELETEs (then PREPARE TRANSACTION and COMMIT PREPARED, not shown:
-- their names differ from run to run)
SET citus.log_remote_commands = on;
SET citus.grep_remote_commands = '%customer_id%';
SELECT privacy.erase('customer', '71')->'tables'->'public.devices' AS erase71;
RESET citus.log_remote_commands;
RESET citus.grep_remote_commands;

-- a failure inside the routed statement: a trigger on the worker's shard of
-- devices refuses to delete customer 72's devices (Citus sends every DELETE
-- in the one statement, so the messages and conversations deleted before it
-- in that statement come back with it; the trigger's message is hidden, as
-- any message of PL/pgSQL's RAISE inside the extension's statements: it can
-- quote the row)
CREATE FUNCTION refuse_72() RETURNS trigger LANGUAGE plpgsql AS
  $$BEGIN IF OLD.customer_id = 72 THEN RAISE EXCEPTION 'refused on the worker'; END IF; RETURN OLD; END$$;
SELECT create_distributed_function('refuse_72()');
SELECT bool_and(success) AS triggers FROM run_command_on_placements('devices',
  $$CREATE TRIGGER refuse_72 BEFORE DELETE ON %s FOR EACH ROW EXECUTE FUNCTION public.refuse_72()$$);
SELECT count(*) AS requests FROM privacy.requests \gset before_
SELECT count(*) AS ledger FROM privacy.erasures \gset before_
SELECT count(*) AS audit FROM privacy.audit \gset before_
SELECT privacy.erase('customer', '72');
SELECT (SELECT count(*) FROM customers WHERE customer_id = 72) AS customers72,
       (SELECT count(*) FROM conversations WHERE customer_id = 72) AS conversations72,
       (SELECT count(*) FROM messages WHERE customer_id = 72) AS messages72,
       (SELECT count(*) FROM devices WHERE customer_id = 72) AS devices72,
       (SELECT count(*) FROM log WHERE customer_id = 72) AS log72;
SELECT (SELECT count(*) FROM privacy.requests) = :before_requests AS no_request,
       (SELECT count(*) FROM privacy.erasures) = :before_ledger AS no_ledger,
       (SELECT count(*) FROM privacy.audit) = :before_audit AS no_audit;
SELECT nodeport > 0 AS worker, result AS prepared_left FROM run_command_on_workers('SELECT count(*) FROM pg_prepared_xacts')
 ORDER BY nodeport;
SELECT bool_and(success) AS dropped FROM run_command_on_placements('devices', 'DROP TRIGGER refuse_72 ON %s');
DROP FUNCTION refuse_72();
-- without the trigger it goes
SELECT privacy.erase('customer', '72')->'tables'->'public.messages' AS erase72;

-- a check that refuses before anything changes: rows of repairs stay
-- (anonymize mode) and reference devices of customer 73 (NO ACTION): 23503
-- before any DELETE is sent
CREATE TABLE repairs (customer_id bigint NOT NULL, device_id bigint NOT NULL, note int);
SELECT create_distributed_table('repairs', 'customer_id', colocate_with => 'customers');
ALTER TABLE repairs ADD FOREIGN KEY (customer_id, device_id) REFERENCES devices;
INSERT INTO repairs VALUES (73, 1, 1);
SELECT privacy.set_erasure_mode('repairs', 'anonymize');
SET citus.log_remote_commands = on;
SET citus.grep_remote_commands = '%DELETE%';
SELECT privacy.erase('customer', '73');
RESET citus.log_remote_commands;
RESET citus.grep_remote_commands;
SELECT (SELECT count(*) FROM customers WHERE customer_id = 73) AS customers73,
       (SELECT count(*) FROM messages WHERE customer_id = 73) AS messages73,
       (SELECT count(*) FROM devices WHERE customer_id = 73) AS devices73,
       (SELECT count(*) FROM repairs WHERE customer_id = 73) AS repairs73,
       (SELECT count(*) FROM log WHERE customer_id = 73) AS log73;
DROP TABLE repairs;

-- routed tables of another owner: Citus lets one role only use a shard
-- group's placements once the transaction changed them ("cannot perform
-- query on placements that were modified in this transaction by a
-- different user"), and every statement runs as its table's owner: erase
-- refuses before it sends anything (0A000)
CREATE ROLE device_owner LOGIN;
GRANT USAGE ON SCHEMA public TO device_owner;
GRANT SELECT, REFERENCES ON customers TO device_owner;
ALTER TABLE devices OWNER TO device_owner;
SET citus.log_remote_commands = on;
SELECT privacy.erase('customer', '74');
RESET citus.log_remote_commands;
-- a dry run only reads: it works
SELECT privacy.erase('customer', '74', dry_run => true)->'tables'->'public.devices' AS dry74;
ALTER TABLE devices OWNER TO postgres;
DROP OWNED BY device_owner;
DROP ROLE device_owner;
SELECT (SELECT count(*) FROM devices WHERE customer_id = 74) AS devices74,
       (SELECT count(*) FROM messages WHERE customer_id = 74) AS messages74;

-- the kind of a table is cached per relation until Citus invalidates it:
-- a local table distributed afterwards (same OID) is refused at once
CREATE TABLE probe (customer_id bigint NOT NULL, at timestamptz NOT NULL DEFAULT now());
SELECT privacy.add_retention('probe', 'at', '1 year') > 0 AS local_policy;
SELECT privacy.drop_retention(id) FROM privacy.retention WHERE table_name = 'probe'::regclass;
SELECT create_distributed_table('probe', 'customer_id', colocate_with => 'customers');
SELECT privacy.add_retention('probe', 'at', '1 year');
DROP TABLE probe;

-- the locked key set of the conversations is read as rows, one table, no
-- subquery.  Citus's fast path would keep a generic plan, but it writes the
-- key into the text it sends; the extension's statements go through the
-- router planner, which sends the key as a parameter and plans on every
-- call: Citus's planner messages of the ninth erasure are three router
-- plans (the root row lock, the key set, the DELETE statement).  Every row
-- is locked and read: the receipts stay those of the single-node twin
-- (customers 120 to 128).
\c single_regress
SELECT string_agg(receipt(privacy.erase('customer', c::text))::text, ' ' ORDER BY c) AS erases
  FROM generate_series(120, 127) c \gset s_
SELECT receipt(privacy.erase('customer', '128')) AS erase128 \gset s_
\c citus_regress
SELECT string_agg(receipt(privacy.erase('customer', c::text))::text, ' ' ORDER BY c) AS erases
  FROM generate_series(120, 127) c \gset d_
SELECT :'d_erases' = :'s_erases' AS same_receipts;
SET client_min_messages = debug2;
SELECT receipt(privacy.erase('customer', '128')) AS erase128 \gset d_
RESET client_min_messages;
SELECT :'d_erase128'::jsonb = :'s_erase128'::jsonb AS same_receipt,
       (:'d_erase128'::jsonb)->'tables'->'public.conversations' AS conversations128;
SELECT (SELECT count(*) FROM conversations WHERE customer_id BETWEEN 120 AND 128) AS conversations_left,
       (SELECT count(*) FROM messages WHERE customer_id BETWEEN 120 AND 128) AS messages_left;
