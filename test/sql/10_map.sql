-- The data map: discovery from pg_constraint at any depth, composite keys,
-- several paths, cycles, self-references, partitions, links, outbound
-- references, the DDL event trigger, DOT output; then invalid input.
CREATE EXTENSION privacy;
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN EXECUTE q; RETURN 'ok';
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM; END $$;

CREATE SCHEMA shop;
CREATE TABLE shop.addresses (id int PRIMARY KEY, street text);
CREATE TABLE shop.tenants (id int PRIMARY KEY, name text);
CREATE TABLE shop.customers (id bigint PRIMARY KEY, tenant_id int REFERENCES shop.tenants,
	email text NOT NULL, address_id int REFERENCES shop.addresses, referred_by bigint REFERENCES shop.customers);
CREATE TABLE shop.orders (id int PRIMARY KEY, customer_id bigint NOT NULL REFERENCES shop.customers, note text);
CREATE TABLE shop.items (order_id int REFERENCES shop.orders, line int, sku text, PRIMARY KEY (order_id, line));
CREATE TABLE shop.item_notes (order_id int, line int, txt text, FOREIGN KEY (order_id, line) REFERENCES shop.items);
CREATE TABLE shop.messages (id int PRIMARY KEY, sender bigint REFERENCES shop.customers,
	recipient bigint REFERENCES shop.customers, parent int REFERENCES shop.messages, body text);
-- a cycle: a <-> b, both hanging off orders
CREATE TABLE shop.a (id int PRIMARY KEY, order_id int REFERENCES shop.orders, b_id int);
CREATE TABLE shop.b (id int PRIMARY KEY, a_id int REFERENCES shop.a);
ALTER TABLE shop.a ADD FOREIGN KEY (b_id) REFERENCES shop.b;
-- partitioned child; and a foreign key declared on one partition only
CREATE TABLE shop.payments (id int, customer_id bigint REFERENCES shop.customers, amount int,
	PRIMARY KEY (id, customer_id)) PARTITION BY HASH (customer_id);
CREATE TABLE shop.payments_0 PARTITION OF shop.payments FOR VALUES WITH (MODULUS 2, REMAINDER 0);
CREATE TABLE shop.payments_1 PARTITION OF shop.payments FOR VALUES WITH (MODULUS 2, REMAINDER 1);
CREATE TABLE shop.visits (id int, customer_id bigint, at date) PARTITION BY RANGE (at);
CREATE TABLE shop.visits_2025 PARTITION OF shop.visits FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
ALTER TABLE shop.visits_2025 ADD FOREIGN KEY (customer_id) REFERENCES shop.customers;
-- hostile identifiers
CREATE TABLE shop."Weird ""T""; DROP TABLE shop.orders; --" ("Id" int PRIMARY KEY,
	"Cust ID" bigint REFERENCES shop.customers, "v a l" text);
-- not related to customers
CREATE TABLE shop.unrelated (id int PRIMARY KEY, v text);
-- a log without foreign key, uuid-ish text key in another type
CREATE TABLE shop.events (id serial PRIMARY KEY, cust text, what text);
CREATE TABLE shop.event_tags (event_id int REFERENCES shop.events, tag text);

SELECT privacy.define_subject('customer', 'shop.customers');
SELECT privacy.link('customer', 'shop.events', 'cust');
SELECT table_name, via, depth, path FROM privacy.subject_tables WHERE subject = 'customer';
-- referenced tables join the map once they hold classified columns
SELECT privacy.classify('shop.addresses', 'street', 'user.contact.address.street');
SELECT table_name, via, depth, path FROM privacy.subject_tables WHERE table_name = 'shop.addresses'::regclass;
SELECT count(*) AS tenants_mapped FROM privacy.subject_tables WHERE table_name = 'shop.tenants'::regclass;

-- the event trigger picks up a new table referencing a mapped table ...
CREATE TABLE shop.order_feedback (id int PRIMARY KEY, order_id int REFERENCES shop.orders, stars int);
SELECT table_name, via, depth FROM privacy.subject_tables WHERE table_name = 'shop.order_feedback'::regclass;
-- ... and a foreign key added later, and a table referencing a linked table
ALTER TABLE shop.unrelated ADD COLUMN customer_id bigint REFERENCES shop.customers;
SELECT table_name, via, depth FROM privacy.subject_tables
 WHERE table_name IN ('shop.unrelated'::regclass, 'shop.event_tags'::regclass) ORDER BY 1;
-- renames do not break the map (it is kept by OID and attribute number)
ALTER TABLE shop.orders RENAME COLUMN customer_id TO buyer_id;
ALTER TABLE shop.orders RENAME TO purchases;
SELECT path FROM privacy.subject_tables WHERE table_name = 'shop.items'::regclass;
-- temporary tables never join the map (they cannot reference a permanent
-- table, and link() refuses them)
CREATE TEMP TABLE scratch (id int, customer_id bigint);
SELECT pg_temp.err($$SELECT privacy.link('customer', 'scratch', 'customer_id')$$);
SELECT count(*) AS temp_mapped FROM privacy.subject_tables WHERE table_name::text LIKE '%scratch%';
DROP TABLE scratch;
-- a dropped table leaves the map
DROP TABLE shop.order_feedback;
SELECT count(*) FROM privacy.subject_tables WHERE table_name::text LIKE '%feedback%';

-- several subject types may share tables
CREATE TABLE shop.staff (login text PRIMARY KEY, name text);
CREATE TABLE shop.tickets (id int PRIMARY KEY, customer_id bigint REFERENCES shop.customers, agent text REFERENCES shop.staff);
SELECT privacy.define_subject('agent', 'shop.staff');
SELECT subject, table_name, depth FROM privacy.subject_tables WHERE subject = 'agent';
SELECT subject, count(*) FROM privacy.subject_tables GROUP BY 1 ORDER BY 1;
SELECT name, root, key_column, tables FROM privacy.subjects ORDER BY 1;

-- the map as Graphviz DOT
SELECT privacy.data_map('agent');
SELECT privacy.data_map('customer') LIKE 'digraph "customer" {%' AS dot,
       privacy.data_map('customer') LIKE '%"shop.events" -> "shop.customers" [style=dashed%' AS link_edge,
       privacy.data_map('customer') LIKE '%street: user.contact.address.street (null)%' AS classified,
       privacy.data_map('customer') LIKE '%"shop.customers" -> "shop.addresses" [label="address_id"]%' AS referenced_edge;

-- a key column other than the primary key must be unique
CREATE TABLE shop.people (id int PRIMARY KEY, code uuid UNIQUE, nick text);
SELECT privacy.define_subject('person', 'shop.people', 'code');
SELECT name, key_column FROM privacy.subjects WHERE name = 'person';
-- redefining replaces
SELECT privacy.define_subject('person', 'shop.people');
SELECT name, key_column FROM privacy.subjects WHERE name = 'person';
SELECT privacy.drop_subject('person');

-- invalid input
SELECT pg_temp.err($$SELECT privacy.define_subject(NULL, 'shop.customers')$$);
SELECT pg_temp.err($$SELECT privacy.define_subject('x', NULL)$$);
SELECT pg_temp.err($$SELECT privacy.define_subject('', 'shop.customers')$$);
SELECT pg_temp.err($$SELECT privacy.define_subject('x', 'shop.nope')$$);
SELECT pg_temp.err($$SELECT privacy.define_subject('x', 'shop.customers', 'nope')$$);
SELECT pg_temp.err($$SELECT privacy.define_subject('x', 'shop.people', 'nick')$$);
SELECT pg_temp.err($$SELECT privacy.define_subject('x', 'shop.items')$$);
SELECT pg_temp.err($$SELECT privacy.define_subject('x', 'shop.payments_0')$$);
SELECT pg_temp.err($$SELECT privacy.define_subject('x', 'pg_catalog.pg_class')$$);
SELECT pg_temp.err($$SELECT privacy.define_subject('x', 'privacy.map')$$);
CREATE VIEW shop.v AS SELECT 1 AS id;
SELECT pg_temp.err($$SELECT privacy.define_subject('x', 'shop.v')$$);
SELECT pg_temp.err($$SELECT privacy.link('nobody', 'shop.events', 'cust')$$);
SELECT pg_temp.err($$SELECT privacy.link('customer', 'shop.events', 'nope')$$);
SELECT pg_temp.err($$SELECT privacy.link('customer', 'shop.events', NULL)$$);
SELECT pg_temp.err($$SELECT privacy.link('customer', 'shop.customers', 'id')$$);
CREATE TABLE shop.pointy (p point);
SELECT pg_temp.err($$SELECT privacy.link('customer', 'shop.pointy', 'p')$$);
SELECT pg_temp.err($$SELECT privacy.refresh_subject('nobody')$$);
SELECT pg_temp.err($$SELECT privacy.refresh_subject(NULL)$$);
SELECT pg_temp.err($$SELECT privacy.data_map('nobody')$$);
SELECT pg_temp.err($$SELECT privacy.unlink('customer', 'shop.pointy', 'p')$$);
SELECT pg_temp.err($$SELECT privacy.drop_subject('nobody')$$);
-- a link column without an index: a NOTICE says rights calls would scan
CREATE TABLE shop.noidx (cust bigint);
SELECT privacy.link('customer', 'shop.noidx', 'cust');
-- nothing was changed by the failed calls
SELECT name FROM privacy.subjects ORDER BY 1;
-- privileges: a role without grants gets 42501
CREATE ROLE regress_nobody;
GRANT USAGE ON SCHEMA shop TO regress_nobody;
SET ROLE regress_nobody;
SELECT pg_temp.err($$SELECT privacy.define_subject('x', 'shop.customers')$$);
SELECT pg_temp.err($$SELECT * FROM privacy.subject_tables$$);
SELECT pg_temp.err($$SELECT * FROM privacy.map$$);
RESET ROLE;
REVOKE USAGE ON SCHEMA shop FROM regress_nobody;
DROP ROLE regress_nobody;

DROP SCHEMA shop CASCADE;
SELECT count(*) AS subjects_left FROM privacy.subject_types;
DROP EXTENSION privacy;
