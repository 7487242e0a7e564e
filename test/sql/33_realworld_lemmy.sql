-- A reduced excerpt of Lemmy's schema (LemmyNet/lemmy migrations, diesel,
-- plain SQL; hand-written here, names prefixed lm_): person; private
-- messages between two persons (creator_id and recipient_id, both NOT NULL
-- ON DELETE CASCADE into person); a report of a message, with a combined
-- report table whose CHECK wants exactly one report column set; a vote table
-- guarded by Lemmy's statement trigger require_uplete (a DELETE outside a
-- trigger is refused unless the query starts with /**/); an aggregate
-- (person.pm_count) maintained by a trigger.  Checked against the whole
-- Lemmy schema (57 tables, 35 of them mapped) with synthetic rows: the map,
-- access and erase matched an independent walk of pg_constraint.
-- The defects it found:
-- - with shared => 'keep', a kept shared row that a user trigger updated
--   during the erasure (Lemmy's report_combined copies its report's
--   resolver_id, which the detach of the report cleared) had a new row
--   version that the DELETE, sparing only the frozen ctids, took: another
--   person's row deleted, the receipt not the dry run's.  Now 27000 before
--   the DELETE (the erasure fails whole);
-- - a message between the erased person and a person under a legal hold is
--   55000 with shared => 'keep' too (it goes with the erased person through
--   its NOT NULL cascading key), and the hint said to erase with
--   shared => 'keep'; it now says why keep does not keep them.
-- What it records (Lemmy's own rules, not defects):
-- - require_uplete refuses the erasure's DELETE (the hidden P0001: the
--   extension hides the caller's query from user code, so /**/ cannot pass);
--   disabling the trigger in the erasing transaction works;
-- - shared => 'keep' would clear the report column of a combined report row
--   that another person made, which the table's CHECK refuses: 23503 before
--   anything changes.
SET client_min_messages = warning;
CREATE EXTENSION privacy;
CREATE TABLE lm_person (id serial PRIMARY KEY, name varchar(255) NOT NULL, pm_count int NOT NULL DEFAULT 0);
CREATE TABLE lm_private_message (id serial PRIMARY KEY,
	creator_id int NOT NULL REFERENCES lm_person ON UPDATE CASCADE ON DELETE CASCADE,
	recipient_id int NOT NULL REFERENCES lm_person ON UPDATE CASCADE ON DELETE CASCADE,
	content text NOT NULL);
CREATE TABLE lm_pm_report (id serial PRIMARY KEY,
	creator_id int NOT NULL REFERENCES lm_person ON UPDATE CASCADE ON DELETE CASCADE,
	private_message_id int NOT NULL REFERENCES lm_private_message ON UPDATE CASCADE ON DELETE CASCADE,
	reason text NOT NULL);
CREATE TABLE lm_report_combined (id serial PRIMARY KEY,
	pm_report_id int UNIQUE REFERENCES lm_pm_report ON UPDATE CASCADE ON DELETE CASCADE,
	other_report_id int,
	report_creator_id int NOT NULL REFERENCES lm_person ON UPDATE CASCADE ON DELETE CASCADE,
	CHECK (num_nonnulls(pm_report_id, other_report_id) = 1));
CREATE TABLE lm_person_actions (person_id int NOT NULL REFERENCES lm_person ON UPDATE CASCADE ON DELETE CASCADE,
	target_id int NOT NULL REFERENCES lm_person ON UPDATE CASCADE ON DELETE CASCADE,
	blocked_at timestamptz, PRIMARY KEY (person_id, target_id));
CREATE FUNCTION lm_require_uplete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF pg_trigger_depth() = 1 AND NOT starts_with (current_query(), '/**/') THEN
        RAISE 'using delete instead of uplete is not allowed for this table';
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER require_uplete BEFORE DELETE ON lm_person_actions FOR EACH STATEMENT EXECUTE FUNCTION lm_require_uplete();
CREATE FUNCTION lm_pm_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE lm_person SET pm_count = pm_count - 1 WHERE id = OLD.creator_id;
    RETURN NULL;
END $$;
CREATE TRIGGER lm_pm_count AFTER DELETE ON lm_private_message FOR EACH ROW EXECUTE FUNCTION lm_pm_count();
INSERT INTO lm_person (name, pm_count) VALUES ('alice', 2), ('bob', 1), ('carol', 0);
INSERT INTO lm_private_message (creator_id, recipient_id, content) VALUES (1, 2, 'hi bob'), (2, 1, 'hi alice'), (1, 3, 'hi carol');
INSERT INTO lm_person_actions VALUES (1, 3, now()), (3, 2, now());
SELECT privacy.define_subject('person', 'lm_person');
SELECT table_name, via, depth FROM privacy.subject_tables WHERE subject = 'person' ORDER BY depth, table_name::text;
-- Lemmy's require_uplete refuses the erasure's DELETE of alice's vote/block rows
SELECT privacy.erase('person', '1', dry_run => true) -> 'tables' -> 'public.lm_person_actions';
SELECT privacy.erase('person', '1');
-- /**/ does not pass: user code does not see the caller's query
/**/ SELECT privacy.erase('person', '1');
-- bob under a hold: alice's messages with bob go with alice, keep or not
SELECT privacy.hold('person', '2', 'litigation');
BEGIN;
ALTER TABLE lm_person_actions DISABLE TRIGGER require_uplete;
SAVEPOINT s;
SELECT privacy.erase('person', '1');
ROLLBACK TO s;
SELECT privacy.erase('person', '1', shared => 'keep');
ROLLBACK;
SELECT privacy.release_hold('person', '2');
-- bob reports alice's message: keep would clear the report column, which the CHECK refuses
INSERT INTO lm_pm_report (creator_id, private_message_id, reason) VALUES (2, 1, 'spam');
INSERT INTO lm_report_combined (pm_report_id, report_creator_id) VALUES (1, 2);
BEGIN;
ALTER TABLE lm_person_actions DISABLE TRIGGER require_uplete;
SAVEPOINT s;
SELECT privacy.erase('person', '1', shared => 'keep', dry_run => true);
ROLLBACK TO s;
SELECT r -> 'tables' -> 'public.lm_private_message' AS pm, r -> 'tables' -> 'public.lm_report_combined' AS rc,
	r -> 'shared' AS shared
	FROM privacy.erase('person', '1') r;
SELECT id, name, pm_count FROM lm_person ORDER BY id;
SELECT count(*) FROM lm_private_message;
SELECT count(*) FROM lm_report_combined;
ROLLBACK;
-- carol resolved bob's report of alice's message: erasing carol with keep
-- detaches the report (resolver_id set NULL); Lemmy's trigger then copies the
-- NULL into the combined row, bob's, which the erasure keeps; the DELETE of
-- carol's combined rows took it (a new row version).  Now 27000, nothing erased.
ALTER TABLE lm_pm_report ADD COLUMN resolver_id int REFERENCES lm_person ON UPDATE CASCADE ON DELETE CASCADE;
ALTER TABLE lm_report_combined ADD COLUMN resolver_id int;
CREATE FUNCTION lm_report_combined_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE lm_report_combined SET resolver_id = NEW.resolver_id WHERE pm_report_id = NEW.id;
    RETURN NULL;
END $$;
CREATE TRIGGER lm_report_combined_update AFTER UPDATE OF resolver_id ON lm_pm_report FOR EACH ROW EXECUTE FUNCTION lm_report_combined_update();
SELECT privacy.refresh_subject('person');
UPDATE lm_pm_report SET resolver_id = 3;
BEGIN;
ALTER TABLE lm_person_actions DISABLE TRIGGER require_uplete;
SELECT r -> 'tables' -> 'public.lm_report_combined' AS rc, r -> 'tables' -> 'public.lm_pm_report' AS rep
	FROM privacy.erase('person', '3', shared => 'keep', dry_run => true) r;
SAVEPOINT s;
SELECT privacy.erase('person', '3', shared => 'keep');
ROLLBACK TO s;
SELECT count(*) FROM lm_report_combined;
-- without the trigger: the receipt is the dry run's, bob's combined row stays
ALTER TABLE lm_pm_report DISABLE TRIGGER lm_report_combined_update;
SELECT r -> 'tables' -> 'public.lm_report_combined' AS rc, r -> 'tables' -> 'public.lm_pm_report' AS rep
	FROM privacy.erase('person', '3', shared => 'keep') r;
SELECT id, pm_report_id, report_creator_id FROM lm_report_combined;
ROLLBACK;
DROP EXTENSION privacy;
DROP TABLE lm_report_combined, lm_pm_report, lm_person_actions, lm_private_message, lm_person;
DROP FUNCTION lm_require_uplete(), lm_pm_count(), lm_report_combined_update();
