-- Shared rows across owners (each table as its own owner): whether a row of
-- a table with several paths to the root is also another subject's was
-- told by reading the tables above it along its paths as that table's
-- owner, so a table whose owner may only reference the tables above (or
-- may not even do that any more) failed erase, its dry run too, with
-- 42501.  Now the keys of the rows above that reach another subject are
-- read first as the owner of each table above (restricted to the keys the
-- rows below reference, read as their owner) and passed as arrays.  The
-- receipts and the rows left are those of a one-owner twin of the same
-- data, and no role's policy runs as another role.
CREATE EXTENSION privacy;
SET client_min_messages = warning;
CREATE ROLE regress_os_bob;
CREATE ROLE regress_os_carol;
CREATE ROLE regress_os_mallory;
CREATE ROLE regress_os_officer IN ROLE privacy_officer;
CREATE TABLE public.os_ran (who name, what text);
GRANT INSERT ON public.os_ran TO PUBLIC;
CREATE FUNCTION public.os_log_ran(what text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN INSERT INTO public.os_ran VALUES (current_user, what); RETURN true; END $$;

-- the same tables and rows in schema s; multi: p and w are bob's, v is
-- carol's, who keep no privilege at all on the tables above them
CREATE FUNCTION pg_temp.build(s text, multi boolean) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE format('CREATE SCHEMA %I', s);
	EXECUTE format('GRANT USAGE ON SCHEMA %I TO regress_os_bob, regress_os_carol, regress_os_mallory', s);
	EXECUTE format('SET LOCAL search_path = %I', s);
	CREATE TABLE a (id int PRIMARY KEY, code text UNIQUE, email text);
	CREATE TABLE u (id int PRIMARY KEY, a_id int REFERENCES a);
	-- two paths: p -> u -> a, p -> a
	CREATE TABLE p (id int PRIMARY KEY, u_id int REFERENCES u, a2 int REFERENCES a);
	-- two paths: v -> u -> a, v -> a by its unique code (not the key)
	CREATE TABLE v (id int PRIMARY KEY, u_id int REFERENCES u, a_code text REFERENCES a (code));
	-- three paths: w -> v -> u -> a, w -> v -> a, w -> a
	CREATE TABLE w (id int PRIMARY KEY, v_id int REFERENCES v, a_id int REFERENCES a);
	INSERT INTO a VALUES (1, 'c1', 'one@example.org'), (2, 'c2', 'two@example.org'), (3, 'c3', 'three@example.org');
	INSERT INTO u VALUES (10, 1), (20, 2), (30, 3);
	INSERT INTO p VALUES (100, 20, 1), (101, 10, 1), (102, 10, 2), (103, NULL, 1), (104, 30, NULL);
	INSERT INTO v VALUES (200, 10, 'c1'), (201, 10, 'c2'), (202, 20, 'c1'), (203, 30, 'c3'), (204, NULL, 'c1');
	INSERT INTO w VALUES (300, 200, 1), (301, 201, 1), (302, 203, 1), (303, 202, 2), (304, 204, 3),
		(305, 200, NULL), (306, 203, 3);
	IF multi THEN
		GRANT REFERENCES ON a, u, v TO regress_os_bob;
		GRANT REFERENCES ON a, u TO regress_os_carol;
		ALTER TABLE p OWNER TO regress_os_bob;
		ALTER TABLE w OWNER TO regress_os_bob;
		ALTER TABLE v OWNER TO regress_os_carol;
		REVOKE ALL ON a, u, v FROM regress_os_bob;
		REVOKE ALL ON a, u FROM regress_os_carol;
	END IF;
END $$;
SELECT pg_temp.build('osx', true), pg_temp.build('osy', false);
SELECT privacy.define_subject('osx', 'osx.a'), privacy.define_subject('osy', 'osy.a');

-- a receipt without what differs between the twins (its request, subject,
-- reference and schema); an error as its SQLSTATE
CREATE FUNCTION pg_temp.erase(s text, id text, dry boolean, shared text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	RETURN replace((privacy.erase(s, id, dry_run => dry, shared => shared)
		- 'request' - 'subject' - 'subject_ref')::text, s || '.', 's.');
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE;
END $$;
-- the rows of schema s
CREATE FUNCTION pg_temp.rows(s text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE r text; t text; out text := '';
BEGIN
	FOREACH t IN ARRAY ARRAY['a', 'u', 'p', 'v', 'w'] LOOP
		EXECUTE format('SELECT string_agg(x::text, '' '' ORDER BY x.id) FROM %I.%I x', s, t) INTO r;
		out := out || t || ': ' || coalesce(r, '') || E'\n';
	END LOOP;
	RETURN out;
END $$;
GRANT EXECUTE ON FUNCTION pg_temp.erase(text, text, boolean, text) TO regress_os_officer;

-- 1. dry runs, a real run and shared => 'keep', each against its twin
SET ROLE regress_os_officer;
SELECT pg_temp.erase('osx', '1', true, 'delete') AS dry_run;
SELECT pg_temp.erase('osx', '1', true, 'delete') = pg_temp.erase('osy', '1', true, 'delete') AS same_dry_run;
SELECT pg_temp.erase('osx', '1', true, 'keep') AS dry_run_keep;
SELECT pg_temp.erase('osx', '1', true, 'keep') = pg_temp.erase('osy', '1', true, 'keep') AS same_dry_run_keep;
BEGIN;
SELECT pg_temp.erase('osx', '1', false, 'delete') AS erased;
SELECT pg_temp.erase('osy', '1', false, 'delete') AS erased_twin;
RESET ROLE;
SELECT pg_temp.rows('osx');
SELECT pg_temp.rows('osx') = pg_temp.rows('osy') AS same_rows;
ROLLBACK;
RESET ROLE;
BEGIN;
SET ROLE regress_os_officer;
SELECT pg_temp.erase('osx', '1', false, 'keep') AS erased_keep;
SELECT pg_temp.erase('osy', '1', false, 'keep') AS erased_keep_twin;
RESET ROLE;
SELECT pg_temp.rows('osx');
SELECT pg_temp.rows('osx') = pg_temp.rows('osy') AS same_rows;
ROLLBACK;
RESET ROLE;
-- another subject, whose rows are the tables' other shared rows
BEGIN;
SET ROLE regress_os_officer;
SELECT pg_temp.erase('osx', '2', false, 'keep') = pg_temp.erase('osy', '2', false, 'keep') AS same_keep_2;
SELECT pg_temp.erase('osx', '3', false, 'delete') = pg_temp.erase('osy', '3', false, 'delete') AS same_delete_3;
RESET ROLE;
SELECT pg_temp.rows('osx') = pg_temp.rows('osy') AS same_rows;
ROLLBACK;
RESET ROLE;

-- 2. the table above is mallory's, with a policy calling her own function;
-- bob may read it: the rows above are still read as mallory (who is not
-- subject to her own policy), her policy never runs as bob
CREATE FUNCTION public.os_mal_ok() RETURNS boolean LANGUAGE plpgsql AS $$ BEGIN RETURN public.os_log_ran('mallory''s policy'); END $$;
ALTER FUNCTION public.os_mal_ok() OWNER TO regress_os_mallory;
ALTER TABLE osx.u OWNER TO regress_os_mallory;
GRANT SELECT, REFERENCES ON osx.u TO regress_os_bob, regress_os_carol;
SET ROLE regress_os_mallory;
ALTER TABLE osx.u ENABLE ROW LEVEL SECURITY;
CREATE POLICY everyone ON osx.u USING (public.os_mal_ok());
RESET ROLE;
-- the policy runs as whoever else reads the table
SET ROLE regress_os_bob;
SELECT count(*) AS bob_reads FROM osx.u;
RESET ROLE;
SELECT who, what, count(*) FROM public.os_ran GROUP BY 1, 2 ORDER BY 1, 2;
TRUNCATE public.os_ran;
SET ROLE regress_os_officer;
SELECT pg_temp.erase('osx', '1', true, 'keep') = pg_temp.erase('osy', '1', true, 'keep') AS same_dry_run_keep;
BEGIN;
SELECT pg_temp.erase('osx', '1', false, 'delete') = pg_temp.erase('osy', '1', false, 'delete') AS same_delete;
RESET ROLE;
SELECT pg_temp.rows('osx') = pg_temp.rows('osy') AS same_rows;
ROLLBACK;
RESET ROLE;
SELECT who, what, count(*) FROM public.os_ran GROUP BY 1, 2 ORDER BY 1, 2;

DROP SCHEMA osx CASCADE;
DROP SCHEMA osy CASCADE;
DROP TABLE public.os_ran;
DROP FUNCTION public.os_log_ran(text), public.os_mal_ok();
DROP EXTENSION privacy CASCADE;
DROP OWNED BY regress_os_bob, regress_os_carol, regress_os_mallory, regress_os_officer;
DROP ROLE regress_os_bob, regress_os_carol, regress_os_mallory, regress_os_officer;
