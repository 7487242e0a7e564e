-- Integrity of the map (issue #10 items 2, 3, 5, 8; issue #17 item 3):
-- link spellings, two links on one table, DDL refreshing only the maps it
-- can affect and failing when the refresh fails, a dropped root keeping its
-- legal records.
CREATE EXTENSION privacy;
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN EXECUTE q; RETURN 'ok';
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM; END $$;
CREATE FUNCTION pg_temp.errd(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE d text;
BEGIN EXECUTE q; RETURN 'ok';
EXCEPTION WHEN OTHERS THEN GET STACKED DIAGNOSTICS d = PG_EXCEPTION_DETAIL;
	RETURN SQLSTATE || ': ' || SQLERRM || E'\n' || d; END $$;

CREATE SCHEMA g;
CREATE TABLE g.users (id bigint PRIMARY KEY, name text);
CREATE TABLE g.people (id uuid PRIMARY KEY);
INSERT INTO g.users VALUES (42, 'ann'), (7, 'bob');
INSERT INTO g.people VALUES ('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11');
SELECT privacy.define_subject('user', 'g.users');
SELECT privacy.define_subject('person', 'g.people');

-- 1. a text link column holding another spelling of the key is refused,
--    with the number of rows and the statement that fixes them; values
--    that are no key at all ('nobody') belong to nobody and do not count
CREATE TABLE g.log (id int PRIMARY KEY, who text, other text);
CREATE INDEX ON g.log (who);
CREATE INDEX ON g.log (other);
INSERT INTO g.log VALUES (1, '42', '7'), (2, '042', '7'), (3, ' 42', NULL), (4, 'nobody', '42');
SELECT pg_temp.errd($$SELECT privacy.link('user', 'g.log', 'who')$$);
CREATE TABLE g.plog (id int PRIMARY KEY, who text);
CREATE INDEX ON g.plog (who);
INSERT INTO g.plog VALUES (1, 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'), (2, '{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}');
SELECT pg_temp.errd($$SELECT privacy.link('person', 'g.plog', 'who')$$);
-- nothing linked by the refused calls
SELECT count(*) AS links FROM privacy.links;
-- once rewritten to the canonical text, the link is accepted and access
-- finds every row
UPDATE g.plog SET who = CAST(CAST(who AS uuid) AS text);
SELECT privacy.link('person', 'g.plog', 'who');
SELECT jsonb_array_length(privacy.access('person', 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11')->'data'->'g.plog') AS plog_rows;
-- the upper-case spelling of a uuid is matched too (and accepted by link):
-- a row written later in it is found by access, the dry run and erase
INSERT INTO g.plog VALUES (3, 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'), (4, '{A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11}');
SELECT jsonb_array_length(privacy.access('person', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11')->'data'->'g.plog') AS plog_rows_upper_too;
SELECT privacy.erase('person', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', dry_run => true)->'tables'->'g.plog' AS plog_dry;
-- (a braced spelling is not found: link refuses a column holding one,
-- and accepts the upper-case rows)
SELECT privacy.unlink('person', 'g.plog', 'who');
SELECT pg_temp.errd($$SELECT privacy.link('person', 'g.plog', 'who')$$);
DELETE FROM g.plog WHERE id = 4;
SELECT pg_temp.errd($$SELECT privacy.link('person', 'g.plog', 'who')$$);
-- erased, then a restore brings back a row in the upper-case spelling
-- only: replay finds it by the link column and erases it again
SELECT privacy.erase('person', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11')->'tables'->'g.plog' AS plog_erased;
INSERT INTO g.plog VALUES (5, 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11');
SELECT r->'matched' AS matched, r->'receipts'->0->'tables'->'g.plog' AS plog_replayed
  FROM privacy.replay_erasures(privacy.erasure_ledger()) r;
SELECT count(*) AS plog_left FROM g.plog;
INSERT INTO g.people VALUES ('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11');
UPDATE g.log SET who = '42' WHERE id IN (2, 3);

-- 2. two links on one table: each column keeps its own lock trigger
SELECT privacy.link('user', 'g.log', 'who');
SELECT privacy.link('user', 'g.log', 'other');
SELECT tgname, pg_get_triggerdef(oid) LIKE '%UPDATE OF ' || a || ' ON g.log%' AS on_column
  FROM pg_trigger t, LATERAL (SELECT unnest(ARRAY['who', 'other']) a) c
 WHERE tgrelid = 'g.log'::regclass AND tgname LIKE 'privacy_link%'
   AND tgname LIKE 'privacy_link_' || (SELECT attnum FROM pg_attribute WHERE attrelid = 'g.log'::regclass AND attname = a) || '_%'
 ORDER BY 1;
SELECT key, jsonb_array_length(value) FROM jsonb_each(privacy.access('user', '7')->'data') ORDER BY 1;

-- 3. DDL recomputes only the maps it can affect
SELECT xmin AS map_xmin FROM privacy.map WHERE subject = 'user' AND via = 'root' \gset
SELECT xmin AS person_xmin FROM privacy.map WHERE subject = 'person' AND via = 'root' \gset
CREATE TABLE g.unrelated (id int PRIMARY KEY, v text);
ALTER TABLE g.unrelated ADD COLUMN w int;
SELECT xmin = :'map_xmin' AS user_map_untouched FROM privacy.map WHERE subject = 'user' AND via = 'root';
CREATE TEMP TABLE before AS SELECT table_name::oid AS t, xmin::text AS x FROM privacy.map WHERE subject = 'user';
-- a table referencing a mapped table joins that map, and only that one
CREATE TABLE g.orders (id int PRIMARY KEY, user_id bigint REFERENCES g.users);
SELECT subject, table_name, via, depth FROM privacy.subject_tables WHERE table_name = 'g.orders'::regclass;
-- (only the new row is written: the others keep their row versions)
SELECT table_name AS user_rows_written FROM privacy.map m
 WHERE subject = 'user' AND NOT EXISTS (SELECT FROM before b WHERE b.t = m.table_name::oid AND b.x = m.xmin::text);
SELECT xmin = :'person_xmin' AS person_map_untouched FROM privacy.map WHERE subject = 'person' AND via = 'root';
-- a foreign key added later to a table outside the map
ALTER TABLE g.unrelated ADD COLUMN order_id int REFERENCES g.orders;
SELECT table_name, depth FROM privacy.subject_tables WHERE table_name = 'g.unrelated'::regclass;
-- dropping a mapped table recomputes the maps that held it
DROP TABLE g.unrelated;
SELECT count(*) AS unrelated_left FROM privacy.map WHERE table_name::text = 'g.unrelated';
-- a refresh that fails fails the DDL: a linked column cannot be renamed
-- while it is linked (the map would otherwise lose the table silently)
SELECT pg_temp.err($$ALTER TABLE g.log RENAME COLUMN other TO other2$$);
SELECT count(*) AS log_still_mapped FROM privacy.subject_tables WHERE table_name = 'g.log'::regclass;

-- 4. dropping the root keeps the subject type, its holds and restrictions
--    (legal records outlive DDL); the event is audited; rights calls fail
--    until the subject type is defined again, which re-attaches them
SELECT privacy.hold('user', '42', 'litigation');
SELECT privacy.restrict('user', '7', 'disputed');
CREATE TABLE g.users2 (id bigint PRIMARY KEY, name text);
INSERT INTO g.users2 SELECT * FROM g.users;
DROP TABLE g.orders;
DROP TABLE g.users;
SELECT name, tables FROM privacy.subjects ORDER BY 1;
SELECT count(*) AS holds, (SELECT count(*) FROM privacy.restrictions) AS restrictions FROM privacy.active_holds;
SELECT action, detail FROM privacy.audit_log WHERE action = 'drop_root';
SELECT pg_temp.err($$SELECT privacy.access('user', '42')$$);
ALTER TABLE g.users2 RENAME TO users;
SELECT privacy.define_subject('user', 'g.users');
SELECT pg_temp.err($$SELECT privacy.erase('user', '42')$$);
SELECT privacy.is_restricted('user', '7') AS still_restricted;
SELECT privacy.release_hold('user', '42');
-- the linked table re-attaches too
SELECT table_name, via FROM privacy.subject_tables WHERE subject = 'user' ORDER BY table_name::text;

-- 5. the map entry an erase uses stays valid (pinned) when the map cache is
--    invalidated during the erase: a trigger fired by the erase's own UPDATE
--    changes a mapped table and looks the subject type up again (before,
--    this freed the entry the erase was still reading; a debug build with
--    CLOBBER_FREED_MEMORY crashed or failed here)
CREATE TABLE g.notes (id int PRIMARY KEY, user_id bigint REFERENCES g.users ON DELETE SET NULL, body text);
CREATE TABLE g.tags (id int PRIMARY KEY, note_id int REFERENCES g.notes);
INSERT INTO g.notes VALUES (1, 42, 'secret'), (2, 7, 'other');
INSERT INTO g.tags VALUES (1, 1), (2, 2);
SELECT privacy.classify('g.notes', 'body', 'user.content.private', erasure => 'null');
SELECT privacy.set_erasure_mode('g.notes', 'anonymize');
CREATE FUNCTION g.churn() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	ALTER TABLE g.tags ADD COLUMN IF NOT EXISTS extra int;
	PERFORM privacy.is_restricted('user', '7');
	RETURN NEW;
END $$;
CREATE TRIGGER churn BEFORE UPDATE ON g.notes FOR EACH ROW EXECUTE FUNCTION g.churn();
SELECT key, value FROM jsonb_each(privacy.erase('user', '42')->'tables') ORDER BY 1;
SELECT n.id, n.user_id, n.body, (SELECT count(*) FROM g.tags t WHERE t.note_id = n.id) AS tags
  FROM g.notes n ORDER BY 1;
SELECT count(*) AS has_extra FROM pg_attribute WHERE attrelid = 'g.tags'::regclass AND attname = 'extra';

DROP SCHEMA g CASCADE;
DROP EXTENSION privacy;
