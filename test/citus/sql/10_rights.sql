-- Scale-out on Citus: a coordinator and two workers, the seed-shaped schema
-- distributed by customer_id (tenants a reference table, messages with two
-- paths to the root, a linked log), every right checked against a
-- single-node twin of the same data: same rows, same receipts.
\getenv w1 CITUS_W1
\set VERBOSITY terse

-- the single-node twin (a database without Citus on the same server)
\c single_regress
CREATE EXTENSION privacy;
\i sql/schema.psql
\i sql/fks.psql
\i sql/data.psql
\i sql/config.psql
SELECT norm(privacy.access('customer', '42')->'data') AS access42 \gset s_
SELECT norm(privacy.export('customer', '42')->'tables') AS export42 \gset s_
SELECT receipt(privacy.erase('customer', '42', dry_run => true)) AS dry42 \gset s_
SELECT receipt(privacy.erase('customer', '42')) AS erase42 \gset s_
SELECT (SELECT count(*) FROM customers) AS customers, (SELECT count(*) FROM conversations) AS conversations,
       (SELECT count(*) FROM messages) AS messages, (SELECT count(*) FROM devices) AS devices,
       (SELECT count(*) FROM log) AS log \gset s_
SELECT privacy.breach_report(ARRAY['messages'::regclass]) - 'generated_at' - 'notification_deadline' - 'aware_at' AS breach \gset s_
SELECT privacy.hold('customer', '7', 'litigation');
SELECT norm(privacy.access('customer', '7')->'data') AS access7 \gset s_

-- the distributed database
\c citus_regress
CREATE EXTENSION privacy;
\i sql/schema.psql
SELECT create_reference_table('tenants');
SELECT create_distributed_table('customers', 'customer_id', shard_count => 8);
SELECT create_distributed_table('conversations', 'customer_id', colocate_with => 'customers');
SELECT create_distributed_table('messages', 'customer_id', colocate_with => 'customers');
SELECT create_distributed_table('devices', 'customer_id', colocate_with => 'customers');
\i sql/fks.psql
\i sql/data.psql
\i sql/config.psql

-- the map knows the placement of each table
SELECT table_name, via, depth, routing FROM privacy.subject_tables WHERE subject = 'customer'
 ORDER BY table_name::text;

-- access: the same rows as on one node (the two-path table too: 10
-- messages of customer 42, none of another customer)
SELECT norm(privacy.access('customer', '42')->'data') = :'s_access42' AS same_access;
SELECT k AS table, jsonb_array_length(v) AS rows FROM jsonb_each(privacy.access('customer', '42')->'data') e(k, v)
 ORDER BY k;
SELECT count(*) AS other_customers FROM jsonb_array_elements(privacy.access('customer', '42')->'data'->'public.messages') r
 WHERE (r->>'customer_id')::bigint <> 42;
SELECT norm(privacy.export('customer', '42')->'tables') = :'s_export42' AS same_export;

-- erase: the same receipts, the same rows left
SELECT receipt(privacy.erase('customer', '42', dry_run => true)) = :'s_dry42'::jsonb AS same_dry_run;
SELECT count(*) AS prepared_before FROM pg_dist_transaction \gset
SELECT receipt(privacy.erase('customer', '42')) AS erase42 \gset d_
SELECT :'d_erase42'::jsonb = :'s_erase42'::jsonb AS same_receipt, jsonb_pretty(:'d_erase42'::jsonb->'tables') AS tables;
-- again: nothing left, zero counts
SELECT privacy.erase('customer', '42')->'tables'->'public.messages' AS again;
SELECT (SELECT count(*) FROM customers) = :s_customers AS customers,
       (SELECT count(*) FROM conversations) = :s_conversations AS conversations,
       (SELECT count(*) FROM messages) = :s_messages AS messages,
       (SELECT count(*) FROM devices) = :s_devices AS devices,
       (SELECT count(*) FROM log) = :s_log AS log;
SELECT (SELECT count(*) FROM messages WHERE customer_id = 42) AS messages42,
       (SELECT count(*) FROM messages WHERE customer_id = 43) AS messages43;
SELECT privacy.breach_report(ARRAY['messages'::regclass]) - 'generated_at' - 'notification_deadline' - 'aware_at'
       = :'s_breach'::jsonb AS same_breach_report;
-- atomic across nodes: the erasure committed with two-phase commit (the
-- worker's transaction was prepared, recorded here, then committed)
SELECT count(*) > :prepared_before AS two_phase FROM pg_dist_transaction;

-- proof that access and erase are router queries: every statement on a
-- distributed table goes to one shard (the one of customer 43), no fan-out
SET citus.log_remote_commands = on;
SET citus.grep_remote_commands = '%customer_id%';
SELECT jsonb_typeof(privacy.access('customer', '43')) AS access43;
SELECT privacy.erase('customer', '43')->'tables'->'public.messages' AS erase43;
RESET citus.log_remote_commands;
RESET citus.grep_remote_commands;

-- a legal hold wins, on every node
SELECT privacy.hold('customer', '7', 'litigation');
SELECT privacy.erase('customer', '7');
SELECT norm(privacy.access('customer', '7')->'data') = :'s_access7' AS held_rows_intact;

-- consent, restriction: recorded on the coordinator, reported by access
SELECT privacy.set_consent('customer', '9', 'marketing', true);
SELECT privacy.restrict('customer', '10', 'disputed');
SELECT privacy.has_consent('customer', '9', 'marketing') AS consent9,
       privacy.access('customer', '10')->'restricted' AS restricted10;

-- the ledger after a restore: customer 42 comes back, replay erases it again
INSERT INTO customers VALUES (42, 1, 'back@example.org', 'Back');
INSERT INTO messages (customer_id, msg_id, body) VALUES (42, 1, 'from an old backup');
SELECT (privacy.replay_erasures(privacy.erasure_ledger())->'matched')::int >= 1 AS replayed;
SELECT (SELECT count(*) FROM customers WHERE customer_id = 42) AS customers42,
       (SELECT count(*) FROM messages WHERE customer_id = 42) AS messages42;

-- the records stay on the coordinator
SELECT count(*) AS receipts FROM privacy.requests WHERE kind = 'erase';
SELECT privacy.verify_audit() > 0 AS audit_ok;
