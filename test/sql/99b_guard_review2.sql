-- Security guard, second review: real-application workflows.
CREATE EXTENSION privacy;
SET client_min_messages = warning;
CREATE ROLE regress_g2_app;
CREATE ROLE regress_g2_other;
CREATE SCHEMA g2 AUTHORIZATION regress_g2_app;
GRANT USAGE ON SCHEMA g2 TO regress_g2_other;

-- 1. One owner, an audit trigger (AFTER DELETE, row and statement level)
-- on every table and ON DELETE CASCADE: erase, its dry run and retention
-- work, and the triggers run as the owner.
SET ROLE regress_g2_app;
CREATE TABLE g2.customers (id int PRIMARY KEY, email text, created timestamptz NOT NULL);
CREATE INDEX ON g2.customers (created);
CREATE TABLE g2.orders (id int PRIMARY KEY, customer_id int REFERENCES g2.customers ON DELETE CASCADE, note text);
CREATE TABLE g2.audit (tbl text, op text, level text, who name DEFAULT current_user);
CREATE FUNCTION g2.audit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO g2.audit (tbl, op, level) VALUES (TG_TABLE_NAME, TG_OP, TG_LEVEL); RETURN NULL; END $$;
CREATE TRIGGER customers_audit AFTER DELETE ON g2.customers FOR EACH ROW EXECUTE FUNCTION g2.audit();
CREATE TRIGGER orders_audit AFTER DELETE ON g2.orders FOR EACH ROW EXECUTE FUNCTION g2.audit();
CREATE TRIGGER orders_stmt AFTER DELETE ON g2.orders FOR EACH STATEMENT EXECUTE FUNCTION g2.audit();
INSERT INTO g2.customers SELECT g, 'c' || g || '@example.org', now() - g * interval '100 days' FROM generate_series(1, 6) g;
INSERT INTO g2.orders SELECT g, 1 + g % 6, 'n' || g FROM generate_series(1, 12) g;
RESET ROLE;
SELECT privacy.define_subject('g2_customer', 'g2.customers');
SELECT privacy.classify('g2.customers', 'email', 'user.contact.email');
SELECT privacy.erase('g2_customer', '1', dry_run => true)->'tables' AS dry_run;
SELECT privacy.erase('g2_customer', '1')->'tables' AS erased;
BEGIN;
SELECT privacy.add_retention('g2.customers', 'created', '350 days') AS p \gset
SELECT privacy.run_retention(:p) AS retention_deleted;
COMMIT;
SELECT tbl, op, level, who, count(*) FROM g2.audit GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3;

-- 2. Two owners: a child of another owner with ON DELETE CASCADE and an
-- AFTER trigger makes erase refuse (42501) before it changes anything; the
-- dry run predicts it (it answered as if the erasure would pass).
GRANT REFERENCES ON g2.customers TO regress_g2_other;
CREATE SCHEMA g2o AUTHORIZATION regress_g2_other;
SET ROLE regress_g2_other;
CREATE TABLE g2o.notes (id int PRIMARY KEY, customer_id int REFERENCES g2.customers ON DELETE CASCADE, body text);
CREATE FUNCTION g2o.log() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN OLD; END $$;
CREATE TRIGGER notes_after AFTER DELETE ON g2o.notes FOR EACH ROW EXECUTE FUNCTION g2o.log();
INSERT INTO g2o.notes VALUES (1, 2, 'x');
RESET ROLE;
SELECT privacy.define_subject('g2_customer', 'g2.customers');
\set VERBOSITY default
SELECT privacy.erase('g2_customer', '2', dry_run => true)->'tables' AS dry_run;
SELECT privacy.erase('g2_customer', '2')->'tables' AS erased;
\set VERBOSITY terse
SELECT count(*) AS customer_2_kept FROM g2.customers WHERE id = 2;
-- a BEFORE trigger instead, as the hint says: both pass
SET ROLE regress_g2_other;
DROP TRIGGER notes_after ON g2o.notes;
CREATE TRIGGER notes_before BEFORE DELETE ON g2o.notes FOR EACH ROW EXECUTE FUNCTION g2o.log();
RESET ROLE;
SELECT privacy.erase('g2_customer', '2', dry_run => true)->'tables' AS dry_run;
SELECT privacy.erase('g2_customer', '2')->'tables' AS erased;

DROP SCHEMA g2o CASCADE;
DROP SCHEMA g2 CASCADE;
DROP EXTENSION privacy CASCADE;
DROP OWNED BY regress_g2_app, regress_g2_other;
DROP ROLE regress_g2_app, regress_g2_other;
