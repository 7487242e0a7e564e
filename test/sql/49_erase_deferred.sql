-- Deferrable constraints (Django declares every foreign key DEFERRABLE
-- INITIALLY DEFERRED): PostgreSQL refuses to queue a deferred trigger event
-- inside a security-restricted operation, where erasure and retention change
-- rows, so those constraints are set IMMEDIATE for the extension's
-- statements and DEFERRED again after them (util.c, UtilDeferredImmediate).
CREATE EXTENSION privacy;
CREATE TABLE d_users (id int PRIMARY KEY, name text);
CREATE TABLE d_orders (id int PRIMARY KEY,
	user_id int REFERENCES d_users DEFERRABLE INITIALLY DEFERRED);
CREATE TABLE d_items (id int PRIMARY KEY,
	order_id int REFERENCES d_orders ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED, note text);
-- an invoice (kept, anonymized) referencing the order
CREATE TABLE d_invoices (id int PRIMARY KEY,
	order_id int REFERENCES d_orders ON DELETE SET NULL DEFERRABLE INITIALLY DEFERRED, buyer text);
-- a user's constraint trigger, deferred: it runs, as the table's owner
CREATE TABLE d_seen (who name, sec boolean);
CREATE FUNCTION d_trg() RETURNS trigger LANGUAGE plpgsql AS
$$BEGIN INSERT INTO d_seen VALUES (current_user, true); RETURN NULL; END$$;
CREATE CONSTRAINT TRIGGER d_items_deleted AFTER DELETE ON d_items
	DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION d_trg();
INSERT INTO d_users VALUES (1, 'Ann'), (2, 'Bo'), (3, 'Cy');
INSERT INTO d_orders VALUES (10, 1), (20, 2), (30, 3);
INSERT INTO d_items VALUES (100, 10, 'a'), (101, 10, 'b'), (200, 20, 'c'), (300, 30, 'd');
INSERT INTO d_invoices VALUES (1, 10, 'Ann'), (2, 20, 'Bo');
SELECT privacy.define_subject('duser', 'd_users');
SELECT privacy.classify('d_invoices', 'buyer', 'user.name');
SELECT privacy.set_erasure_mode('d_invoices', 'anonymize');
SELECT privacy.erase('duser', '1', dry_run => true) -> 'tables';
SELECT privacy.erase('duser', '1') -> 'tables';
SELECT (SELECT count(*) FROM d_users WHERE id = 1) AS users, (SELECT count(*) FROM d_orders WHERE user_id = 1) AS orders,
	(SELECT count(*) FROM d_items WHERE order_id = 10) AS items, (SELECT count(*) FROM d_seen) AS trigger_ran;
SELECT DISTINCT who FROM d_seen;
SELECT id, order_id, buyer FROM d_invoices ORDER BY id;
-- in a transaction: the constraints are deferred again after the erasure
BEGIN;
SELECT privacy.erase('duser', '2') -> 'tables';
INSERT INTO d_orders VALUES (99, 42);		-- deferred: no error here
DELETE FROM d_orders WHERE id = 99;
COMMIT;
-- a violation the transaction deferred before the call fails the call (as
-- its commit would have), nothing erased
BEGIN;
INSERT INTO d_orders VALUES (98, 42);
SELECT privacy.erase('duser', '3') -> 'tables';
ROLLBACK;
SELECT count(*) FROM d_users WHERE id = 3;
-- constraints the caller set immediate: the same
BEGIN;
SET CONSTRAINTS ALL IMMEDIATE;
SELECT privacy.erase('duser', '3') -> 'tables';
ROLLBACK;
-- a name shared with a non-deferrable constraint of the schema is left out
-- (SET CONSTRAINTS would refuse it); an ON DELETE CASCADE queues nothing
-- deferred, so this erasure works all the same
CREATE TABLE d_other (id int PRIMARY KEY, o int);
ALTER TABLE d_other ADD CONSTRAINT d_items_order_id_fkey FOREIGN KEY (o) REFERENCES d_orders;
SELECT privacy.erase('duser', '3') -> 'tables';
DROP TABLE d_other;
SELECT privacy.erase('duser', '3') -> 'tables';

-- retention: a deferred dependent goes with its row, a blocked one stays
CREATE TABLE d_logs (id int PRIMARY KEY, at timestamptz NOT NULL);
CREATE TABLE d_refs (id int PRIMARY KEY,
	log_id int REFERENCES d_logs ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED);
CREATE TABLE d_pins (id int PRIMARY KEY,
	log_id int NOT NULL REFERENCES d_logs ON DELETE SET NULL DEFERRABLE INITIALLY DEFERRED);
INSERT INTO d_logs VALUES (1, now() - interval '10 days'), (2, now() - interval '10 days'), (3, now());
INSERT INTO d_refs VALUES (1, 1), (3, 3);
INSERT INTO d_pins VALUES (1, 2);
SELECT privacy.add_retention('d_logs', 'at', '1 day') AS pol \gset
SELECT privacy.run_retention(:pol);
SELECT id FROM d_logs ORDER BY id;
SELECT id FROM d_refs ORDER BY id;
SELECT rows, blocked, error FROM privacy.retention_runs WHERE policy = :pol;
SELECT privacy.drop_retention(:pol);

-- retention's fast path (no hold, no dependent) with a user's deferred
-- constraint trigger on the table
CREATE TABLE d_fast (id int PRIMARY KEY, at timestamptz NOT NULL);
CREATE CONSTRAINT TRIGGER d_fast_deleted AFTER DELETE ON d_fast
	DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION d_trg();
INSERT INTO d_fast VALUES (1, now() - interval '10 days'), (2, now());
SELECT privacy.add_retention('d_fast', 'at', '1 day') AS fpol \gset
SELECT privacy.run_retention(:fpol);
SELECT id FROM d_fast;
SELECT privacy.drop_retention(:fpol);
DROP TABLE d_fast;

-- a user's trigger on the expiring table writes a table retention does not
-- touch, whose constraint trigger is initially deferred (MusicBrainz's raw
-- tags keep artist_tag so): set IMMEDIATE too (the batch failed with 42501)
CREATE TABLE d_agg (id int PRIMARY KEY, n int NOT NULL);
CREATE CONSTRAINT TRIGGER d_agg_deleted AFTER DELETE ON d_agg
	DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION d_trg();
CREATE TABLE d_feed (id int PRIMARY KEY, at timestamptz NOT NULL);
CREATE FUNCTION d_feed_del() RETURNS trigger LANGUAGE plpgsql AS
$$BEGIN DELETE FROM d_agg WHERE id = OLD.id; RETURN NULL; END$$;
CREATE TRIGGER d_feed_del AFTER DELETE ON d_feed FOR EACH ROW EXECUTE FUNCTION d_feed_del();
INSERT INTO d_agg VALUES (1, 1), (2, 1);
INSERT INTO d_feed VALUES (1, now() - interval '10 days'), (2, now());
DELETE FROM d_seen;
SELECT privacy.add_retention('d_feed', 'at', '1 day') AS apol \gset
SELECT privacy.run_retention(:apol);
SELECT rows, error FROM privacy.retention_runs WHERE policy = :apol;
SELECT (SELECT array_agg(id) FROM d_feed) AS feed, (SELECT array_agg(id) FROM d_agg) AS agg,
	(SELECT count(*) FROM d_seen) AS trigger_ran;
SELECT privacy.drop_retention(:apol);
DROP TABLE d_feed, d_agg;
DROP FUNCTION d_feed_del();

-- events the caller's transaction queued before the call fire as the
-- caller, in a restricted context, never as the extension owner (erase is
-- SECURITY DEFINER): a table owner's deferred trigger that would make
-- itself superuser when fired by one finds an officer
CREATE ROLE regress_d_towner;
CREATE ROLE regress_d_officer IN ROLE privacy_officer;
CREATE SCHEMA d_o AUTHORIZATION regress_d_towner;
GRANT USAGE ON SCHEMA d_o TO regress_d_officer;
GRANT REFERENCES ON d_users TO regress_d_towner;
SET ROLE regress_d_towner;
CREATE TABLE d_o.notes (id int PRIMARY KEY, user_id int REFERENCES d_users ON DELETE CASCADE);
CREATE TABLE d_o.seen (who name, super boolean);
GRANT INSERT ON d_o.notes, d_o.seen TO regress_d_officer;
CREATE FUNCTION d_o.trg() RETURNS trigger LANGUAGE plpgsql AS
$$BEGIN
	INSERT INTO d_o.seen SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user;
	IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
		EXECUTE 'ALTER ROLE regress_d_towner SUPERUSER';
	END IF;
	RETURN NULL;
END$$;
CREATE CONSTRAINT TRIGGER notes_t AFTER INSERT ON d_o.notes DEFERRABLE INITIALLY DEFERRED
	FOR EACH ROW EXECUTE FUNCTION d_o.trg();
RESET ROLE;
INSERT INTO d_users VALUES (4, 'Di'), (5, 'Ed');
SELECT privacy.refresh_subject('duser');
SET ROLE regress_d_officer;
BEGIN;
INSERT INTO d_o.notes VALUES (7, 5);
SELECT privacy.erase('duser', '4') -> 'tables' -> 'd_o.notes' AS notes;
COMMIT;
RESET ROLE;
SELECT rolsuper FROM pg_roles WHERE rolname = 'regress_d_towner';
SELECT who, super FROM d_o.seen;
DROP SCHEMA d_o CASCADE;
REVOKE ALL ON d_users FROM regress_d_towner;
DROP ROLE regress_d_towner, regress_d_officer;

-- the initially deferred constraints outside the map are read once and kept
-- (util.c): a constraint made initially deferred, and a schema renamed,
-- after an erasure of this session are seen by its next one (a trigger of
-- a mapped table writes a table outside the map whose foreign key becomes
-- initially deferred: left deferred, its event is refused, 42501; named by
-- its old schema, SET CONSTRAINTS fails, 42P01 or 42704)
INSERT INTO d_users VALUES (6, 'Fy'), (7, 'Gu'), (8, 'Hu');
INSERT INTO d_orders VALUES (60, 6), (70, 7), (80, 8);
CREATE SCHEMA d_x;
CREATE TABLE d_x.ref (id int PRIMARY KEY);
INSERT INTO d_x.ref VALUES (60), (70), (80);
CREATE TABLE d_x.log (order_id int CONSTRAINT log_order REFERENCES d_x.ref DEFERRABLE INITIALLY IMMEDIATE);
CREATE FUNCTION d_log_order() RETURNS trigger LANGUAGE plpgsql AS
$$BEGIN INSERT INTO d_x.log VALUES (OLD.id); RETURN NULL; END$$;
CREATE TRIGGER d_orders_log AFTER DELETE ON d_orders FOR EACH ROW EXECUTE FUNCTION d_log_order();
SELECT privacy.erase('duser', '6') -> 'tables' -> 'public.d_orders' ->> 'deleted' AS orders;
ALTER TABLE d_x.log ALTER CONSTRAINT log_order DEFERRABLE INITIALLY DEFERRED;
SELECT privacy.erase('duser', '7') -> 'tables' -> 'public.d_orders' ->> 'deleted' AS orders;
ALTER SCHEMA d_x RENAME TO d_x2;
CREATE OR REPLACE FUNCTION d_log_order() RETURNS trigger LANGUAGE plpgsql AS
$$BEGIN INSERT INTO d_x2.log VALUES (OLD.id); RETURN NULL; END$$;
SELECT privacy.erase('duser', '8') -> 'tables' -> 'public.d_orders' ->> 'deleted' AS orders;
SELECT array_agg(order_id ORDER BY order_id) AS logged FROM d_x2.log;
DROP TRIGGER d_orders_log ON d_orders;
DROP FUNCTION d_log_order();
DROP SCHEMA d_x2 CASCADE;

SELECT privacy.drop_subject('duser');
DROP TABLE d_pins, d_refs, d_logs, d_invoices, d_seen;
DROP TABLE d_items, d_orders, d_users;
DROP FUNCTION d_trg();
DROP EXTENSION privacy;
