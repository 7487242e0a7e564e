-- A table dropped and created again under its name in one transaction (a
-- migration that rebuilds it: create the new table, copy, drop the old one,
-- rename; or rename the old one out of the way first; Rails' create_table
-- force: true) keeps its configuration: subject type, classifications,
-- erasure mode, links, retention policies, protect().  Before, everything
-- went with the old table (without Citus): the new table's rows were no
-- longer erased, retention stopped (42P01), protected rows became visible.
-- Columns are matched by name only: a column at the old attribute number
-- under another name is another column.  The configuration goes back
-- through the functions a DBA calls (define_subject, set_erasure_mode,
-- classify, link, protect), with their checks; what no longer fits is left
-- out with a WARNING.  A table the transaction configured itself keeps what
-- it was given.
CREATE EXTENSION privacy;
SET client_min_messages = warning;
CREATE ROLE regress_rebuild_reader;
CREATE TABLE customers (id int PRIMARY KEY, email text, name text);
CREATE TABLE orders (id int PRIMARY KEY, customer_id int REFERENCES customers, note text);
CREATE TABLE logs (id int PRIMARY KEY, who text, msg text, at timestamptz NOT NULL DEFAULT now());
CREATE INDEX ON logs (who);
CREATE INDEX ON logs (at);
INSERT INTO customers VALUES (1, 'a@example.org', 'A'), (2, 'b@example.org', 'B');
INSERT INTO orders VALUES (1, 1, 'o1'), (2, 2, 'o2');
INSERT INTO logs VALUES (1, '1', 'l1', now() - interval '90 days'), (2, '2', 'l2', now()),
	(3, '1', 'l3', now());
SELECT privacy.define_subject('customer', 'customers');
SELECT privacy.link('customer', 'logs', 'who');
SELECT privacy.classify('customers', 'email', 'user.contact.email');
SELECT privacy.classify('logs', 'msg', 'user.content.private');
SELECT privacy.set_erasure_mode('orders', 'anonymize');
SELECT privacy.classify('orders', 'note', 'user.content.private');
SELECT privacy.add_retention('logs', 'at', '30 days') AS policy \gset
SELECT privacy.protect('logs');
GRANT SELECT ON logs TO regress_rebuild_reader;
SELECT privacy.restrict('customer', '2', 'disputed');

CREATE VIEW config AS
SELECT 'classified' AS what, table_name::text || '.' || column_name AS item FROM privacy.classified_columns
UNION ALL SELECT 'map', table_name::text || ' ' || via FROM privacy.subject_tables
UNION ALL SELECT 'mode', table_name::text || ' ' || mode FROM privacy.table_modes
UNION ALL SELECT 'retention', table_name::text || '.' || age_column FROM privacy.retention
UNION ALL SELECT 'protected', c.relname::text FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid
	WHERE p.polname = 'privacy_restricted'
UNION ALL SELECT 'link trigger', tgrelid::regclass::text FROM pg_trigger WHERE tgname LIKE 'privacy_link_%'
ORDER BY 1, 2;
TABLE config;

-- 1. create the new table, copy, drop the old one, rename the new one
BEGIN;
CREATE TABLE logs_new (id int PRIMARY KEY, who text, extra int, msg text, at timestamptz NOT NULL DEFAULT now());
INSERT INTO logs_new (id, who, msg, at) SELECT id, who, msg, at FROM logs;
DROP TABLE logs;
ALTER TABLE logs_new RENAME TO logs;
COMMIT;
TABLE config;
-- the classification sits on msg by name (attribute 4 now, 3 before)
SELECT c.column_name, c.attnum, a.attname FROM privacy.classifications c
  JOIN pg_attribute a ON a.attrelid = c.table_name AND a.attnum = c.attnum
 WHERE c.table_name = 'logs'::regclass;
-- the policy reads its own column, by name
SELECT age_column, age_attnum FROM privacy.retention WHERE id = :policy;
SELECT policy, table_name, error FROM privacy.retention_status;
-- still protected: customer 2 is restricted
GRANT SELECT ON logs TO regress_rebuild_reader;
SET ROLE regress_rebuild_reader;
SELECT id FROM logs ORDER BY id;
RESET ROLE;
-- the linked rows in the new table are the customer's
SELECT jsonb_object_keys(privacy.access('customer', '1')->'data') ORDER BY 1;
SELECT privacy.run_retention(:policy);
SELECT id FROM logs ORDER BY id;

-- 2. rename the old table out of the way first (here: the root)
BEGIN;
ALTER TABLE customers RENAME TO customers_old;
CREATE TABLE customers (id int PRIMARY KEY, email text, name text);
INSERT INTO customers SELECT * FROM customers_old;
ALTER TABLE orders DROP CONSTRAINT orders_customer_id_fkey,
	ADD FOREIGN KEY (customer_id) REFERENCES customers ON DELETE SET NULL;
DROP TABLE customers_old;
COMMIT;
TABLE config;
-- the restriction and a hold still apply to the new root's subjects
SELECT privacy.is_restricted('customer', '2');
SELECT privacy.hold('customer', '1', 'litigation');
SELECT privacy.erase('customer', '1');
SELECT privacy.release_hold('customer', '1');
SELECT (privacy.erase('customer', '1'))->'tables';
SELECT * FROM orders ORDER BY id;
SELECT id, who FROM logs ORDER BY id;

-- 3. a schema move and back, then the drop: every earlier name counts
CREATE SCHEMA old;
BEGIN;
ALTER TABLE orders SET SCHEMA old;
ALTER TABLE old.orders RENAME TO orders_v1;
CREATE TABLE public.orders (id int PRIMARY KEY, customer_id int REFERENCES customers ON DELETE SET NULL, note text);
DROP TABLE old.orders_v1;
COMMIT;
SELECT * FROM config WHERE item LIKE 'orders%';

-- 4. a rebuild without the classified column, with another column at its
-- attribute number, and without the age column: the classification goes
-- (a WARNING), nothing moves to the other column, the policy stops (42703)
-- and deletes nothing by another column
BEGIN;
CREATE TABLE logs_v3 (id int PRIMARY KEY, who text, created timestamptz, body text, at2 timestamptz);
INSERT INTO logs_v3 (id, who, created, body, at2) SELECT id, who, now() - interval '1 year', msg, at FROM logs;
DROP TABLE logs;
ALTER TABLE logs_v3 RENAME TO logs;
COMMIT;
SELECT * FROM config WHERE item LIKE 'logs%';
SELECT age_column, age_attnum FROM privacy.retention WHERE id = :policy;
SELECT privacy.run_retention(:policy);
SELECT policy, error FROM privacy.retention_status;
SELECT count(*) FROM logs;

-- 5. a dropped table that nothing replaces is forgotten, as before; a view
-- under its name does not take its place
SELECT privacy.classify('logs', 'body', 'user.content.private');
BEGIN;
DROP TABLE logs;
CREATE VIEW logs AS SELECT 1 AS id, '1'::text AS who;
COMMIT;
SELECT * FROM config WHERE item LIKE 'logs%';
SELECT count(*) FROM privacy.retention WHERE id = :policy;
DROP VIEW logs;

-- 6. rolled back: nothing changes
BEGIN;
DROP TABLE orders;
ROLLBACK;
SELECT * FROM config WHERE item LIKE 'orders%';

-- 7. a rebuild without the linked column: the link goes, with a WARNING
-- (the commit never fails for it)
CREATE TABLE events (id int PRIMARY KEY, who text);
SELECT privacy.link('customer', 'events', 'who');
BEGIN;
DROP TABLE events;
CREATE TABLE events (id int PRIMARY KEY, actor text);
COMMIT;
SELECT * FROM config WHERE item LIKE 'events%';

-- 8. a table renamed in a transaction that drops nothing keeps its own
-- configuration (a rename is followed, as always)
BEGIN;
ALTER TABLE orders RENAME TO purchases;
COMMIT;
SELECT * FROM config WHERE item LIKE 'purchases%' OR item LIKE 'orders%';

-- 9. the transaction configures the new table itself: that is what it keeps
CREATE TABLE notes (id int PRIMARY KEY, customer_id int REFERENCES customers ON DELETE CASCADE, body text, memo text);
SELECT privacy.classify('notes', 'body', 'user.content.private');
BEGIN;
DROP TABLE notes;
CREATE TABLE notes (id int PRIMARY KEY, customer_id int REFERENCES customers ON DELETE CASCADE, body text, memo text);
SELECT privacy.classify('notes', 'memo', 'user.content.private');
COMMIT;
SELECT * FROM config WHERE item LIKE 'notes%';

-- 10. a role that owns only its table rebuilds it with code of its own (a
-- domain whose CHECK, an index expression and a trigger call its function):
-- the configuration comes back at commit through link(), classify() and
-- protect(), run by the extension, and the role's code runs only as the
-- role (the function records who runs it); the role gains nothing
CREATE ROLE regress_rebuild_evil;
CREATE SCHEMA evil AUTHORIZATION regress_rebuild_evil;
CREATE TABLE evil_ran (who text, su text);
GRANT INSERT ON evil_ran TO PUBLIC;
SET ROLE regress_rebuild_evil;
CREATE FUNCTION evil.log() RETURNS void LANGUAGE plpgsql VOLATILE AS $$
BEGIN
	INSERT INTO public.evil_ran
	SELECT current_user, rolsuper::text FROM pg_catalog.pg_roles WHERE rolname = current_user;
END $$;
CREATE FUNCTION evil.spy(text) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
	PERFORM evil.log();
	RETURN $1;
END $$;
CREATE TABLE evil.trail (id int PRIMARY KEY, who text, note text);
CREATE INDEX ON evil.trail (who);
INSERT INTO evil.trail VALUES (1, '1', 'x'), (2, '2', 'y');
RESET ROLE;
SELECT privacy.link('customer', 'evil.trail', 'who');
SELECT privacy.classify('evil.trail', 'note', 'user.content.private');
SELECT privacy.protect('evil.trail');
SET ROLE regress_rebuild_evil;
BEGIN;
CREATE DOMAIN evil.who_t AS text CHECK (VALUE IS NULL OR evil.spy(VALUE) IS NOT NULL);
CREATE TABLE evil.trail_new (id int PRIMARY KEY, who evil.who_t, note text);
CREATE INDEX ON evil.trail_new (who);
CREATE INDEX ON evil.trail_new (evil.spy(note));
CREATE FUNCTION evil.spy_trg() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM evil.spy('t');
	RETURN coalesce(NEW, OLD);
END $$;
CREATE TRIGGER spy BEFORE INSERT OR UPDATE OR DELETE ON evil.trail_new FOR EACH ROW EXECUTE FUNCTION evil.spy_trg();
INSERT INTO evil.trail_new SELECT id, who, note FROM evil.trail;
DROP TABLE evil.trail;
ALTER TABLE evil.trail_new RENAME TO trail;
COMMIT;
RESET ROLE;
SELECT count(*) > 0 AS own_code_ran_in_the_migration FROM evil_ran;
TRUNCATE evil_ran;
SELECT * FROM config WHERE item LIKE 'evil.trail%';
SELECT polname FROM pg_policy WHERE polrelid = 'evil.trail'::regclass;
SELECT DISTINCT who, su FROM evil_ran ORDER BY 1, 2;
SELECT rolsuper, rolcreaterole, rolbypassrls FROM pg_roles WHERE rolname = 'regress_rebuild_evil';
-- and its rows are still the subjects' (erase of customer 2 takes its row,
-- the domain's CHECK running as the role, never as anyone else)
SELECT (privacy.erase('customer', '2'))->'tables'->'evil.trail' AS trail_erased;
SELECT DISTINCT who, su FROM evil_ran ORDER BY 1, 2;
DROP SCHEMA evil CASCADE;
DROP TABLE evil_ran;
DROP ROLE regress_rebuild_evil;

DROP VIEW config;
-- a drop and DROP EXTENSION in one transaction (the drop's decision waits
-- for the commit in a trigger on a table of the extension: it failed with
-- "cannot DROP TABLE ... because it has pending trigger events")
BEGIN;
DROP TABLE IF EXISTS notes, purchases, events, customers CASCADE;
DROP EXTENSION privacy;
COMMIT;
DROP SCHEMA old;
DROP ROLE regress_rebuild_reader;
