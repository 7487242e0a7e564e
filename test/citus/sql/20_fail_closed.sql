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

-- a referenced table with personal data joins the map; access reads it;
-- erase finds its rows by primary key (a ctid differs between the
-- placements of a reference table): a tenant that other customers still
-- reference stays (retained), one that only the erased customer
-- referenced goes, or is rewritten in anonymize mode
SELECT privacy.classify('tenants', 'name', 'user.name');
SELECT table_name, via, routing FROM privacy.subject_tables WHERE table_name = 'tenants'::regclass;
SELECT privacy.access('customer', '50')->'data'->'public.tenants' AS tenant_of_50;
INSERT INTO tenants VALUES (4, 'tenant 4'), (5, 'tenant 5');
INSERT INTO customers VALUES (9050, 4, 'solo@example.org', 'Solo'), (9051, 5, 'solo2@example.org', 'Solo 2');
INSERT INTO messages VALUES (9050, 1, NULL, 'solo message');
SELECT privacy.erase('customer', '9050', dry_run => true)->'tables'->'public.tenants' AS dry_solo;
SELECT r->'tables'->'public.tenants' AS tenant_shared, r->'tables'->'public.messages' AS messages, r->'retained' AS retained
  FROM privacy.erase('customer', '50') r;
SELECT r->'tables'->'public.tenants' AS tenant_solo, r->'retained' AS retained
  FROM privacy.erase('customer', '9050') r;
SELECT privacy.set_erasure_mode('tenants', 'anonymize');
SELECT privacy.erase('customer', '9051')->'tables'->'public.tenants' AS tenant_anonymized;
SELECT privacy.set_erasure_mode('tenants', 'delete');
SELECT tenant_id, name FROM tenants ORDER BY 1;
SELECT (SELECT count(*) FROM customers WHERE customer_id IN (50, 9050, 9051)) AS customers,
       (SELECT count(*) FROM messages WHERE customer_id IN (50, 9050)) AS messages,
       (SELECT count(*) FROM log WHERE customer_id = 50) AS log50;
-- every placement of the reference table (one per node) holds the same rows
SELECT count(*) AS placements, count(DISTINCT result) AS contents, min(result) AS tenants
  FROM run_command_on_placements('tenants',
         $$SELECT string_agg(tenant_id || ':' || coalesce(name, '-'), ',' ORDER BY tenant_id) FROM %s$$);
SELECT privacy.declassify('tenants', 'name');

-- anonymize mode: 'null' and 'redact' rewrite on the worker
SELECT privacy.set_erasure_mode('customers', 'anonymize');
SELECT privacy.erase('customer', '51')->'tables'->'public.customers' AS customers51;
SELECT customer_id, tenant_id, email, name FROM customers WHERE customer_id = 51;
SELECT count(*) AS messages51 FROM messages WHERE customer_id = 51;
-- and the keyed pseudonym ('hash'): computed on the coordinator (a worker
-- has neither the erasure's scope nor this database's secret), written by
-- the worker; equal values get equal pseudonyms, and a second erasure
-- finds nothing left to rewrite
SELECT privacy.classify('conversations', 'topic', 'user.content', 'hash');
SELECT privacy.set_erasure_mode('conversations', 'anonymize');
SELECT r->'tables'->'public.conversations' AS conversations52, r->'tables'->'public.messages' AS messages52
  FROM privacy.erase('customer', '52') r;
SELECT count(*) AS topics, count(DISTINCT topic) AS distinct_topics,
       bool_and(length(topic) = 32 AND topic NOT LIKE 'topic%') AS pseudonyms
  FROM conversations WHERE customer_id = 52;
SELECT privacy.erase('customer', '52')->'tables'->'public.conversations' AS again52;
SELECT privacy.erase('customer', '53', dry_run => true)->'tables'->'public.conversations' AS dry53;
SELECT privacy.erase('customer', '53')->'tables'->'public.conversations' AS conversations53;
-- the pseudonyms are this database's (privacy.pseudonym on the coordinator,
-- callable by a superuser), the same for the same topic of both customers
CREATE TEMP TABLE topics AS SELECT customer_id, conv_id, topic FROM conversations WHERE customer_id IN (52, 53);
SELECT count(*) AS topics, count(*) FILTER (WHERE topic = privacy.pseudonym('topic ' || conv_id, 32)) AS coordinators,
       count(DISTINCT topic) AS distinct_topics FROM topics;
DROP TABLE topics;
SELECT privacy.set_erasure_mode('customers', 'delete');
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
-- a referenced reference table without a primary key (a unique column
-- only): its rows have no identity on every placement; refused before
-- anything changes
CREATE TABLE regions (code text UNIQUE, label text);
SELECT create_reference_table('regions');
INSERT INTO regions VALUES ('north', 'North');
ALTER TABLE agents ADD COLUMN region text REFERENCES regions (code);
UPDATE agents SET region = 'north' WHERE agent_id = 2;
SELECT privacy.classify('regions', 'label', 'user.location');
SELECT privacy.erase('agent', '2');
SELECT count(*) AS tickets2 FROM tickets WHERE agent_id = 2;
SELECT privacy.declassify('regions', 'label');
-- the keyed pseudonym on a table queried through every shard: refused
-- (Citus cannot pass the pseudonyms to an UPDATE through every shard)
SELECT privacy.classify('tickets', 'note', 'user.content', 'hash');
SELECT privacy.set_erasure_mode('tickets', 'anonymize');
SELECT privacy.erase('agent', '2', dry_run => true);
SELECT privacy.declassify('tickets', 'note');
SELECT privacy.set_erasure_mode('tickets', 'delete');
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
