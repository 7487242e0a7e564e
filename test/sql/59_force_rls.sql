-- Tables whose owner forces row-level security on itself (tenant isolation
-- keyed on a setting, the usual SaaS pattern): the extension's statements
-- run as the owner with SECURITY_NOFORCE_RLS, as PostgreSQL's foreign-key
-- checks do, so access, erase and retention see every row of the subject
-- (before: access answered one tenant's rows, erase failed or left rows,
-- retention deleted nothing and reported nothing to do).
CREATE EXTENSION privacy;
CREATE ROLE regress_fr_owner;
CREATE TABLE fr_users (id int PRIMARY KEY);
GRANT REFERENCES ON fr_users TO regress_fr_owner;
CREATE SCHEMA fr AUTHORIZATION regress_fr_owner;
SET ROLE regress_fr_owner;
CREATE TABLE fr.notes (id int PRIMARY KEY, user_id int REFERENCES fr_users ON DELETE CASCADE, tenant int, body text);
CREATE TABLE fr.log (id int PRIMARY KEY, who int, tenant int);
CREATE TABLE fr.events (id int PRIMARY KEY, at timestamptz, tenant int);
CREATE TABLE fr.seen (who name, n bigint);
CREATE FUNCTION fr.count_notes() RETURNS trigger LANGUAGE plpgsql AS
$$BEGIN INSERT INTO fr.seen SELECT current_user, count(*) FROM fr.notes; RETURN OLD; END$$;
CREATE TRIGGER count_notes BEFORE DELETE ON fr.notes FOR EACH ROW EXECUTE FUNCTION fr.count_notes();
RESET ROLE;
INSERT INTO fr_users VALUES (1), (2);
SET ROLE regress_fr_owner;
INSERT INTO fr.notes VALUES (1, 1, 1, 'a'), (2, 1, 2, 'b'), (3, 2, 2, 'c');
INSERT INTO fr.log VALUES (1, 1, 1), (2, 1, 2);
INSERT INTO fr.events VALUES (1, now() - interval '3 days', 1), (2, now() - interval '3 days', 2), (3, now(), 2);
DO $$
DECLARE t text;
BEGIN
	FOREACH t IN ARRAY ARRAY['notes', 'log', 'events'] LOOP
		EXECUTE format('ALTER TABLE fr.%I ENABLE ROW LEVEL SECURITY', t);
		EXECUTE format('ALTER TABLE fr.%I FORCE ROW LEVEL SECURITY', t);
		EXECUTE format($p$CREATE POLICY tenant ON fr.%I USING
			(tenant = coalesce(nullif(current_setting('app.tenant', true), '')::int, 1))$p$, t);
	END LOOP;
END $$;
SELECT count(*) AS owner_sees FROM fr.notes;
RESET ROLE;
SELECT privacy.define_subject('fr', 'fr_users');
SELECT privacy.link('fr', 'fr.log', 'who');
SELECT privacy.access('fr', '1') -> 'data' -> 'fr.notes' AS notes, privacy.access('fr', '1') -> 'data' -> 'fr.log' AS log;
SELECT privacy.erase('fr', '1', dry_run => true) -> 'tables';
SELECT privacy.erase('fr', '1') -> 'tables';
SELECT who, n FROM fr.seen;
-- (added and run in one transaction: the worker, naptime 1 s, never runs it first)
BEGIN;
SELECT privacy.add_retention('fr.events', 'at', '1 day') AS pol \gset
SELECT privacy.run_retention(:pol);
COMMIT;
SET ROLE regress_fr_owner;
SET app.tenant = '2';
SELECT id FROM fr.notes ORDER BY id;
SELECT id FROM fr.log ORDER BY id;
SELECT id FROM fr.events ORDER BY id;
RESET app.tenant;
RESET ROLE;
SELECT privacy.drop_retention(:pol);
SELECT privacy.drop_subject('fr');
DROP SCHEMA fr CASCADE;
DROP TABLE fr_users;
DROP ROLE regress_fr_owner;
DROP EXTENSION privacy;
