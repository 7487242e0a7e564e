-- A role that owns a table and nothing else (session 12's review, helper 5):
-- 1. the AFTER triggers that a foreign-key action (ON DELETE CASCADE, SET
--    NULL) queues on its table fire at the end of the extension's statement
--    on the referenced table, as that table's owner (here a superuser):
--    refused (42501) before the statement runs;
-- 2. retention's dependents are read as their owners: the planner runs the
--    constant parts of a table's index expressions and statistics, never
--    as the extension owner;
-- 3. current_query() of the owner's code hides the client's statement (the
--    id of a hold);
-- 4. the text of a statement the owner's code built with a row's values
--    (QUERY in the log and for the client) is hidden;
-- 5. a table of the owner that the extension reads in a statement it runs
--    as another table's owner is planned without running the owner's code
--    as that role.
CREATE EXTENSION privacy;
CREATE ROLE regress_r5_evil;
CREATE ROLE regress_r5_officer IN ROLE privacy_officer;
CREATE ROLE regress_r5_admin IN ROLE privacy_admin;
CREATE SCHEMA r5 AUTHORIZATION regress_r5_evil;
-- what planted code ran, as whom, in a security-restricted operation or
-- not, seeing which statement; it also tries to become superuser
CREATE TABLE public.r5_log (who name, su boolean, sro boolean, what text, q text);
GRANT INSERT ON public.r5_log TO PUBLIC;
CREATE TABLE public.r5_people (id int PRIMARY KEY, email text, created timestamptz DEFAULT now());
GRANT REFERENCES ON public.r5_people TO regress_r5_evil;
INSERT INTO public.r5_people (id, email) SELECT i, 'p' || i || '@example.org' FROM generate_series(1, 8) i;

SET ROLE regress_r5_evil;
CREATE FUNCTION r5.pwn(what text) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
	sro boolean;
BEGIN
	BEGIN
		LISTEN r5_probe;
		RAISE EXCEPTION 'not restricted';
	EXCEPTION WHEN OTHERS THEN
		sro := SQLERRM <> 'not restricted';
	END;
	INSERT INTO public.r5_log SELECT current_user, r.rolsuper, sro, what, pg_catalog.current_query()
	  FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) current_user;
	BEGIN
		EXECUTE 'ALTER ROLE regress_r5_evil SUPERUSER';
	EXCEPTION WHEN OTHERS THEN NULL;
	END;
	RETURN true;
END $$;
CREATE FUNCTION r5.pwn_imm(v text) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN PERFORM r5.pwn(v); RETURN v; END $$;
CREATE FUNCTION r5.pwn_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM r5.pwn(TG_NAME || ' ' || TG_OP); RETURN NULL; END $$;
CREATE TABLE r5.orders (id int PRIMARY KEY, person int REFERENCES public.r5_people ON DELETE CASCADE, note text);
CREATE TRIGGER orders_after AFTER DELETE ON r5.orders FOR EACH STATEMENT EXECUTE FUNCTION r5.pwn_trigger();
CREATE TABLE r5.notes (id int PRIMARY KEY, person int REFERENCES public.r5_people ON DELETE SET NULL, body text);
CREATE TRIGGER notes_after AFTER UPDATE ON r5.notes FOR EACH ROW EXECUTE FUNCTION r5.pwn_trigger();
INSERT INTO r5.orders SELECT i, i, 'order ' || i FROM generate_series(1, 8) i;
INSERT INTO r5.notes SELECT i, i, 'note ' || i FROM generate_series(1, 8) i;
RESET ROLE;
-- a table of the root's owner with the same kind of trigger is its own code
CREATE TABLE public.r5_visits (id int PRIMARY KEY, person int REFERENCES public.r5_people ON DELETE CASCADE);
CREATE FUNCTION public.r5_visits_trg() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO public.r5_log VALUES (current_user, NULL, NULL, 'visits trigger', NULL); RETURN NULL; END $$;
CREATE TRIGGER visits_after AFTER DELETE ON public.r5_visits FOR EACH STATEMENT EXECUTE FUNCTION public.r5_visits_trg();
INSERT INTO public.r5_visits SELECT i, i FROM generate_series(1, 8) i;
SELECT privacy.define_subject('r5person', 'public.r5_people');
SELECT privacy.classify('public.r5_people', 'email', 'user.contact.email');
SELECT table_name, via FROM privacy.subject_tables WHERE subject = 'r5person' ORDER BY 1::text;

-- 1. erasure: the root's DELETE cascades into the owner's tables; their
-- AFTER triggers would run as the root's owner, a superuser
SET ROLE regress_r5_officer;
SELECT privacy.erase('r5person', '1');
RESET ROLE;
SET ROLE regress_r5_evil;
DROP TRIGGER orders_after ON r5.orders;
RESET ROLE;
SET ROLE regress_r5_officer;
SELECT privacy.erase('r5person', '1');
RESET ROLE;
SET ROLE regress_r5_evil;
DROP TRIGGER notes_after ON r5.notes;
-- a BEFORE trigger runs inside the action, as its table's owner
CREATE TRIGGER orders_before BEFORE DELETE ON r5.orders FOR EACH STATEMENT EXECUTE FUNCTION r5.pwn_trigger();
RESET ROLE;
SET ROLE regress_r5_officer;
SELECT privacy.erase('r5person', '1') -> 'tables' AS erased;
RESET ROLE;
SELECT rolsuper FROM pg_roles WHERE rolname = 'regress_r5_evil';
SELECT who, su, sro, what FROM public.r5_log GROUP BY 1, 2, 3, 4 ORDER BY 1, 4;
DROP TRIGGER visits_after ON public.r5_visits;
TRUNCATE public.r5_log;
-- retention takes the dependents along, then deletes the expired row: the
-- same action, the same refusal (recorded, logged; the other policies run).
-- (Policies live in one transaction here: the worker never sees them.)
SET ROLE regress_r5_evil;
CREATE TRIGGER orders_after AFTER DELETE ON r5.orders FOR EACH STATEMENT EXECUTE FUNCTION r5.pwn_trigger();
RESET ROLE;
UPDATE public.r5_people SET created = now() - interval '3 years' WHERE id = 2;
BEGIN;
SET LOCAL ROLE regress_r5_admin;
SELECT privacy.add_retention('public.r5_people', 'created', '1 year') AS people_policy \gset
SELECT privacy.run_retention();
RESET ROLE;
SELECT rows, error FROM privacy.retention_runs WHERE policy = :people_policy ORDER BY id;
SELECT count(*) AS person_2_kept FROM public.r5_people WHERE id = 2;
SELECT who, su, sro, what FROM public.r5_log WHERE who <> 'regress_r5_evil' OR NOT sro;
ROLLBACK;
SET ROLE regress_r5_evil;
DROP TRIGGER orders_after ON r5.orders;
RESET ROLE;
TRUNCATE public.r5_log;

-- 2. retention's dependents: the owner's table has an index and statistics
-- whose expressions hold a constant call of its function, which the
-- planner evaluates when it plans a statement on the table; the rows that
-- reference the expired ones are found as their owner
SET ROLE regress_r5_evil;
CREATE TABLE r5.sessions (id int PRIMARY KEY, person int REFERENCES public.r5_people ON DELETE CASCADE, token text);
CREATE INDEX ON r5.sessions ((token || r5.pwn_imm('index expression')));
CREATE STATISTICS r5.sessions_stat ON (token || r5.pwn_imm('statistics expression')) FROM r5.sessions;
INSERT INTO r5.sessions SELECT i, i, 'tok' || i FROM generate_series(3, 8) i;
RESET ROLE;
UPDATE public.r5_people SET created = now() - interval '3 years' WHERE id IN (3, 4);
TRUNCATE public.r5_log;
BEGIN;
SET LOCAL ROLE regress_r5_admin;
SELECT privacy.add_retention('public.r5_people', 'created', '1 year') AS people_policy \gset
SELECT privacy.run_retention(:people_policy);
RESET ROLE;
SELECT rows, error FROM privacy.retention_runs WHERE policy = :people_policy ORDER BY id;
SELECT privacy.drop_retention(:people_policy);
COMMIT;
SELECT rolsuper FROM pg_roles WHERE rolname = 'regress_r5_evil';
SELECT who, su, sro, what FROM public.r5_log WHERE who <> 'regress_r5_evil' OR NOT sro GROUP BY 1, 2, 3, 4;
SELECT count(*) > 0 AS planted_code_ran_as_owner FROM public.r5_log WHERE who = 'regress_r5_evil';
-- (read as its owner: a superuser's query would run the planted code too)
SET ROLE regress_r5_evil;
SELECT (SELECT count(*) FROM r5.sessions WHERE person IN (3, 4)) AS sessions_left,
	(SELECT count(*) FROM r5.sessions) AS sessions_kept;
RESET ROLE;
SELECT count(*) AS people_left FROM public.r5_people WHERE id IN (3, 4);
TRUNCATE public.r5_log;

-- 3. the owner of a subject's root: its code runs while an officer places a
-- hold (the planner evaluates its statistics' expression), and must not
-- learn the id from the client's statement
SET ROLE regress_r5_evil;
CREATE TABLE r5.members (id int PRIMARY KEY, email text);
CREATE STATISTICS r5.members_stat ON (email || r5.pwn_imm('members statistics')) FROM r5.members;
CREATE FUNCTION r5.refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'not now'; END $$;
CREATE TRIGGER refuse BEFORE DELETE ON r5.members FOR EACH ROW EXECUTE FUNCTION r5.refuse();
INSERT INTO r5.members SELECT i, 'm' || i || '@example.org' FROM generate_series(1, 4) i;
RESET ROLE;
SELECT privacy.define_subject('r5member', 'r5.members');
TRUNCATE public.r5_log;
SET ROLE regress_r5_officer;
SELECT privacy.hold('r5member', '3', 'litigation');
RESET ROLE;
SELECT who, q FROM public.r5_log GROUP BY 1, 2;
-- an error of the owner's code caught by the caller gives the client's
-- statement back
SET ROLE regress_r5_officer;
DO $$
BEGIN
	PERFORM privacy.erase('r5member', '2');
EXCEPTION WHEN OTHERS THEN
	RAISE NOTICE 'caught, current_query() is the DO block again: %', pg_catalog.current_query() LIKE 'DO %';
END $$;
RESET ROLE;
TRUNCATE public.r5_log;

-- 4. a trigger that builds a statement with the row's values: its text
-- (QUERY) is hidden like the detail
SET ROLE regress_r5_evil;
CREATE FUNCTION r5.dynamic() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE 'SELECT 1 FROM r5.' || quote_ident(OLD.body);
	RETURN OLD;
END $$;
CREATE TRIGGER dynamic BEFORE DELETE ON r5.notes FOR EACH ROW EXECUTE FUNCTION r5.dynamic();
UPDATE r5.notes SET body = 'secret-body-5' WHERE id = 5;
RESET ROLE;
SET ROLE regress_r5_officer;
SELECT privacy.erase('r5person', '5');
RESET ROLE;

-- 5. a superuser's table next to the owner's on a path: the extension reads
-- the owner's table in the statement it runs as the superuser (the rows of
-- a table the owner's root references; the key of a row two hops from the
-- root, in breach_report).  Planning it would run the constant parts of the
-- owner's statistics (refused: they are evaluated at every planning) and
-- indexes (computed first, as their owner).  Retention's hold filter on the
-- superuser's devices reads the owner's sessions as their owner since
-- 2026-12-03 (test 58b): its policy runs, the held person's device stays
CREATE TABLE public.r5_places (id int PRIMARY KEY, street text);
INSERT INTO public.r5_places SELECT i, 'street ' || i FROM generate_series(1, 4) i;
GRANT REFERENCES ON public.r5_places TO regress_r5_evil;
SET ROLE regress_r5_evil;
ALTER TABLE r5.members ADD COLUMN place int REFERENCES public.r5_places;
UPDATE r5.members SET place = id;
GRANT REFERENCES ON r5.sessions TO PUBLIC;
RESET ROLE;
CREATE TABLE public.r5_devices (id int PRIMARY KEY, session int REFERENCES r5.sessions ON DELETE CASCADE,
	at timestamptz DEFAULT now() - interval '3 years');
INSERT INTO public.r5_devices SELECT i, i FROM generate_series(5, 8) i;
SELECT privacy.classify('public.r5_places', 'street', 'user.contact.address');
SELECT privacy.refresh_subject('r5member');
SELECT privacy.refresh_subject('r5person');
SELECT privacy.hold('r5person', '6', 'litigation');
TRUNCATE public.r5_log;
-- (access reads the members' place column as the members' owner, then the
-- places as theirs: no statement runs the statistics as another role)
SET ROLE regress_r5_officer;
SELECT privacy.access('r5member', '1') -> 'data' -> 'public.r5_places' AS places;
SELECT privacy.breach_report(ARRAY['public.r5_devices']::regclass[]) -> 'tables' AS tables;
RESET ROLE;
BEGIN;
SET LOCAL ROLE regress_r5_admin;
SELECT privacy.add_retention('public.r5_devices', 'at', '1 year') AS devices_policy \gset
SELECT privacy.run_retention();
RESET ROLE;
SELECT rows, error FROM privacy.retention_runs WHERE policy = :devices_policy ORDER BY id;
ROLLBACK;
SELECT rolsuper FROM pg_roles WHERE rolname = 'regress_r5_evil';
SELECT who, su, sro, what FROM public.r5_log WHERE who <> 'regress_r5_evil' OR NOT sro GROUP BY 1, 2, 3, 4;
-- without the statistics: the same calls work, the index's constant part
-- runs as its owner
SET ROLE regress_r5_evil;
DROP STATISTICS r5.members_stat, r5.sessions_stat;
CREATE INDEX ON r5.members ((email || r5.pwn_imm('members index')));
RESET ROLE;
-- a new session: the index's expressions are not computed yet
\c -
TRUNCATE public.r5_log;
SET ROLE regress_r5_officer;
SELECT privacy.access('r5member', '1') -> 'data' -> 'public.r5_places' AS places;
SELECT privacy.breach_report(ARRAY['public.r5_devices']::regclass[]) -> 'tables' AS tables;
RESET ROLE;
BEGIN;
SET LOCAL ROLE regress_r5_admin;
SELECT privacy.add_retention('public.r5_devices', 'at', '1 year') AS devices_policy \gset
SELECT privacy.run_retention();
RESET ROLE;
SELECT rows, held, error FROM privacy.retention_runs WHERE policy = :devices_policy ORDER BY id;
SELECT privacy.drop_retention(:devices_policy);
COMMIT;
SELECT id, session FROM public.r5_devices ORDER BY id;
SELECT rolsuper FROM pg_roles WHERE rolname = 'regress_r5_evil';
SELECT who, su, sro, what FROM public.r5_log WHERE who <> 'regress_r5_evil' OR NOT sro GROUP BY 1, 2, 3, 4;
SELECT what FROM public.r5_log GROUP BY 1 ORDER BY 1;

-- cleanup (drop_subject refuses while a hold is active)
SELECT privacy.release_hold('r5member', '3');
SELECT privacy.release_hold('r5person', '6');
SELECT privacy.drop_subject('r5member');
SELECT privacy.drop_subject('r5person');
DROP SCHEMA r5 CASCADE;
DROP TABLE public.r5_devices, public.r5_visits, public.r5_people, public.r5_places, public.r5_log;
DROP FUNCTION public.r5_visits_trg();
DROP EXTENSION privacy;
DROP ROLE regress_r5_evil, regress_r5_officer, regress_r5_admin;
