-- The extension owner that guard.c switches to for catalog work is read
-- from pg_extension without SPI and reused only within one command: a
-- REASSIGN OWNED, or a dropped and re-created extension, in the same
-- session (even in the same transaction) is seen by the next statement.
-- Catalog work as a stale owner fails here: the old owner is dropped, or
-- is no longer a superuser and owns nothing of the extension.
CREATE ROLE regress_go_a SUPERUSER;
CREATE ROLE regress_go_b SUPERUSER;
CREATE ROLE regress_go_c SUPERUSER;
CREATE ROLE regress_go_reader;
SET ROLE regress_go_a;
CREATE EXTENSION privacy;
RESET ROLE;
CREATE FUNCTION pg_temp.ext_owner() RETURNS name LANGUAGE sql AS
$$SELECT r.rolname FROM pg_extension e JOIN pg_roles r ON r.oid = e.extowner WHERE e.extname = 'privacy'$$;
CREATE FUNCTION pg_temp.setup() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	PERFORM privacy.define_subject('go_user', 'go_users');
	PERFORM privacy.restrict('go_user', '1', 'contested');
	PERFORM privacy.protect('go_posts');
END $$;
CREATE TABLE go_users (id int PRIMARY KEY);
CREATE TABLE go_posts (id int PRIMARY KEY, author int REFERENCES go_users);
INSERT INTO go_users VALUES (1), (2);
INSERT INTO go_posts VALUES (10, 1), (20, 2), (21, 2);
GRANT SELECT ON go_posts TO regress_go_reader;
SELECT pg_temp.setup();
SELECT pg_temp.ext_owner();

-- the policy's lookup of restricted keys runs as the extension owner
SET ROLE regress_go_reader;
SELECT count(*) AS reader_sees FROM go_posts;
RESET ROLE;

-- REASSIGN OWNED and DROP ROLE in the transaction that already used the owner
BEGIN;
SET LOCAL ROLE regress_go_reader;
SELECT count(*) AS reader_sees_before FROM go_posts;
RESET ROLE;
REASSIGN OWNED BY regress_go_a TO regress_go_b;
DROP OWNED BY regress_go_a;
DROP ROLE regress_go_a;
SELECT pg_temp.ext_owner();
SET LOCAL ROLE regress_go_reader;
SELECT count(*) AS reader_sees_after_reassign FROM go_posts;
RESET ROLE;
COMMIT;

-- the same in the next transaction, and a single statement that runs the
-- lookup for many rows (one lookup per command)
SET ROLE regress_go_reader;
SELECT count(*) AS reader_sees_next_xact FROM go_posts;
SELECT count(*) AS reader_sees_twice FROM go_posts a, go_posts b;
RESET ROLE;

-- the extension dropped and re-created by another role in the same
-- transaction; the previous owner then loses superuser
BEGIN;
SET LOCAL ROLE regress_go_reader;
SELECT count(*) AS reader_sees_before FROM go_posts;
RESET ROLE;
DROP EXTENSION privacy CASCADE;
SET LOCAL ROLE regress_go_c;
CREATE EXTENSION privacy;
RESET ROLE;
SELECT pg_temp.setup();
ALTER ROLE regress_go_b NOSUPERUSER;
SELECT pg_temp.ext_owner();
SET LOCAL ROLE regress_go_reader;
SELECT count(*) AS reader_sees_recreated FROM go_posts;
RESET ROLE;
COMMIT;
SET ROLE regress_go_reader;
SELECT count(*) AS reader_sees_recreated_next FROM go_posts;
RESET ROLE;

-- The owner's search_path (guard.c reads pg_db_role_setting once per
-- transaction and owner): ALTER ROLE ... IN DATABASE wins over ALTER ROLE,
-- which wins over ALTER DATABASE; every change is seen by the next call of
-- the same session.  A trigger of the owner records the path it ran with.
CREATE ROLE regress_go_app;
CREATE TABLE go_log (n int, path text);
GRANT INSERT ON go_log TO regress_go_app;
CREATE TABLE go_people (id int PRIMARY KEY);
ALTER TABLE go_people OWNER TO regress_go_app;
INSERT INTO go_people VALUES (1), (2), (3), (4), (5), (6);
CREATE FUNCTION go_path() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO public.go_log VALUES (OLD.id, pg_catalog.current_setting('search_path'));
	RETURN OLD;
END $$;
ALTER FUNCTION go_path() OWNER TO regress_go_app;
CREATE TRIGGER go_path BEFORE DELETE ON go_people FOR EACH ROW EXECUTE FUNCTION go_path();
SELECT privacy.define_subject('go_person', 'go_people');
SELECT privacy.erase('go_person', '1')->'tables' AS erased;
DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET search_path = go_db, public', current_database()); END $$;
SELECT privacy.erase('go_person', '2')->'tables' AS erased;
ALTER ROLE regress_go_app SET search_path = go_role, public;
SELECT privacy.erase('go_person', '3')->'tables' AS erased;
DO $$ BEGIN EXECUTE format('ALTER ROLE regress_go_app IN DATABASE %I SET search_path = go_role_db', current_database()); END $$;
SELECT privacy.erase('go_person', '4')->'tables' AS erased;
-- pg_db_role_setting beyond one block: read by index lookups instead
DO $$ BEGIN
	FOR i IN 1..60 LOOP
		EXECUTE format('CREATE ROLE regress_go_pad_%s', i);
		EXECUTE format('ALTER ROLE regress_go_pad_%s SET application_name = %L', i, repeat('x', 200));
	END LOOP;
END $$;
SELECT pg_relation_size('pg_db_role_setting') > 8192 AS more_than_one_block;
SELECT privacy.erase('go_person', '5')->'tables' AS erased;
DO $$ BEGIN EXECUTE format('ALTER ROLE regress_go_app IN DATABASE %I RESET search_path', current_database()); END $$;
SELECT privacy.erase('go_person', '6')->'tables' AS erased;
SELECT n, path FROM go_log ORDER BY n;
DO $$ BEGIN
	FOR i IN 1..60 LOOP
		EXECUTE format('DROP ROLE regress_go_pad_%s', i);
	END LOOP;
END $$;
DO $$ BEGIN EXECUTE format('ALTER DATABASE %I RESET search_path', current_database()); END $$;
DO $$ BEGIN EXECUTE format('ALTER ROLE regress_go_app IN DATABASE %I RESET search_path', current_database()); END $$;
ALTER ROLE regress_go_app RESET search_path;
DROP TABLE go_people, go_log;
DROP FUNCTION go_path();

DROP TABLE go_posts, go_users;
DROP EXTENSION privacy;
DROP OWNED BY regress_go_b, regress_go_c, regress_go_reader, regress_go_app;
DROP ROLE regress_go_b, regress_go_c, regress_go_reader, regress_go_app;
