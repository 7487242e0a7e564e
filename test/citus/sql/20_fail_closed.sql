-- Fail closed on Citus: what cannot yet work on a distributed or reference
-- table refuses with 0A000 and a hint before changing anything, instead of
-- identifying rows by ctid (unique only inside one shard, different on each
-- placement of a reference table) or installing triggers the shards do not
-- get.  The DDL event triggers do nothing on the workers.
\getenv w1 CITUS_W1
\getenv coord PGPORT
\set VERBOSITY default
CREATE TABLE holidays (day date PRIMARY KEY, name text);
SELECT create_reference_table('holidays');

-- column encryption and retention identify rows by ctid
SELECT privacy.encrypt_column('messages', 'body');
SELECT privacy.add_retention('messages', 'sent', '1 year');
SELECT privacy.add_retention('holidays', 'day', '1 year');
-- link() on a reference table: its rows are written on every node, erase
-- locks the key on one (35_link.sql: what link() supports); protect() on a
-- reference table, whose rows the shards of the subject's key do not hold
-- (25_protect.sql: what protect() supports)
SELECT privacy.link('customer', 'holidays', 'name');
SELECT privacy.protect('holidays');
\set VERBOSITY terse

-- a referenced table with personal data joins the map; access reads it,
-- erase refuses before anything changes (its rows are identified by ctid)
SELECT privacy.classify('tenants', 'name', 'user.name');
SELECT table_name, via, routing FROM privacy.subject_tables WHERE table_name = 'tenants'::regclass;
SELECT privacy.access('customer', '50')->'data'->'public.tenants' AS tenant_of_50;
SELECT privacy.erase('customer', '50');
SELECT (SELECT count(*) FROM customers WHERE customer_id = 50) AS customer50,
       (SELECT count(*) FROM messages WHERE customer_id = 50) AS messages50,
       (SELECT count(*) FROM log WHERE customer_id = 50) AS log50;
SELECT privacy.declassify('tenants', 'name');
SELECT privacy.erase('customer', '50')->'tables'->'public.messages' AS erased50;

-- anonymize mode: 'null' and 'redact' rewrite on the worker; the keyed
-- pseudonym ('hash') is refused before anything changes
SELECT privacy.set_erasure_mode('customers', 'anonymize');
SELECT privacy.erase('customer', '51')->'tables'->'public.customers' AS customers51;
SELECT customer_id, tenant_id, email, name FROM customers WHERE customer_id = 51;
SELECT count(*) AS messages51 FROM messages WHERE customer_id = 51;
SELECT privacy.set_erasure_mode('customers', 'delete');
SELECT privacy.classify('conversations', 'topic', 'user.content', 'hash');
SELECT privacy.set_erasure_mode('conversations', 'anonymize');
SELECT privacy.erase('customer', '52');
SELECT (SELECT count(*) FROM customers WHERE customer_id = 52) AS customer52,
       (SELECT count(*) FROM conversations WHERE customer_id = 52 AND topic LIKE 'topic%') AS topics52;
SELECT privacy.declassify('conversations', 'topic');
SELECT privacy.set_erasure_mode('conversations', 'delete');

-- a root that is not distributed: its distributed tables are queried
-- through every shard (a warning says so), with the same answers; an
-- erasure that Citus refuses changes nothing
CREATE TABLE agents (agent_id int PRIMARY KEY, name text);
CREATE TABLE tickets (ticket_id bigint PRIMARY KEY, agent_id int REFERENCES agents, note text);
SELECT create_reference_table('agents');
SELECT create_distributed_table('tickets', 'ticket_id', shard_count => 4);
INSERT INTO agents SELECT a, 'agent ' || a FROM generate_series(1, 5) a;
INSERT INTO tickets SELECT t, 1 + t % 5, 'note ' || t FROM generate_series(1, 100) t;
SELECT privacy.define_subject('agent', 'agents');
SELECT table_name, via, routing FROM privacy.subject_tables WHERE subject = 'agent' ORDER BY 1::text;
SELECT jsonb_array_length(privacy.access('agent', '2')->'data'->'public.tickets') AS tickets2;
SELECT privacy.erase('agent', '2')->'tables' AS erased2;
SELECT count(*) AS tickets2 FROM tickets WHERE agent_id = 2;
SELECT count(*) AS tickets FROM tickets;
SELECT count(*) AS agents FROM agents;
-- (Citus refuses a reference table's DELETE after a parallel one on a
-- distributed table in the same transaction; sequential mode does both)
BEGIN;
SET LOCAL citus.multi_shard_modify_mode = 'sequential';
SELECT privacy.erase('agent', '2')->'tables' AS erased2;
COMMIT;
SELECT (SELECT count(*) FROM tickets WHERE agent_id = 2) AS tickets2, (SELECT count(*) FROM tickets) AS tickets,
       (SELECT count(*) FROM agents) AS agents;
SELECT privacy.drop_subject('agent');

-- the workers: no configuration there, and DDL on them changes nothing
\c citus_regress - - :w1
SELECT privacy._citus_worker() AS worker;
SELECT count(*) AS subject_types FROM privacy.subject_types;
CREATE TABLE worker_scratch (id int);
DROP TABLE worker_scratch;
\c citus_regress - - :coord
SELECT privacy._citus_worker() AS worker;
SELECT count(*) AS mapped FROM privacy.subject_tables WHERE subject = 'customer';
