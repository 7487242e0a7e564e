-- A partition mapped by itself (its foreign key to the subject is declared
-- on it only) is referenced through its partitioned table: attachments of a
-- user's notes are the user's (session 12's review: they were missing from
-- access and the map, and erase failed on the foreign key or cascaded into
-- them without counting).
CREATE EXTENSION privacy;
CREATE TABLE pr_users (id int PRIMARY KEY);
CREATE TABLE pr_agents (id int PRIMARY KEY);
INSERT INTO pr_users VALUES (1), (2);
INSERT INTO pr_agents VALUES (1);
CREATE TABLE pr_notes (id int, kind text, owner int, PRIMARY KEY (id, kind)) PARTITION BY LIST (kind);
CREATE TABLE pr_notes_u PARTITION OF pr_notes (FOREIGN KEY (owner) REFERENCES pr_users) FOR VALUES IN ('u');
CREATE TABLE pr_notes_a PARTITION OF pr_notes (FOREIGN KEY (owner) REFERENCES pr_agents) FOR VALUES IN ('a');
INSERT INTO pr_notes VALUES (1, 'u', 1), (2, 'a', 1), (3, 'u', 2);
CREATE TABLE pr_att (id int PRIMARY KEY, note_id int, note_kind text, body text,
	FOREIGN KEY (note_id, note_kind) REFERENCES pr_notes);
INSERT INTO pr_att VALUES (1, 1, 'u', 'of user 1'), (2, 2, 'a', 'of agent 1'), (3, 3, 'u', 'of user 2');
SELECT privacy.define_subject('pr', 'pr_users');
SELECT table_name, via, depth FROM privacy.subject_tables WHERE subject = 'pr' ORDER BY depth, table_name::text;
SELECT privacy.access('pr', '1') -> 'data' -> 'public.pr_att' AS att;
SELECT privacy.erase('pr', '1', dry_run => true) -> 'tables';
SELECT privacy.erase('pr', '1') -> 'tables';
SELECT id FROM pr_att ORDER BY id;
-- a table created later that references the partitioned table joins the map
CREATE TABLE pr_att2 (id int PRIMARY KEY, note_id int, note_kind text,
	FOREIGN KEY (note_id, note_kind) REFERENCES pr_notes ON DELETE CASCADE);
INSERT INTO pr_att2 VALUES (1, 3, 'u'), (2, 2, 'a');
SELECT table_name FROM privacy.subject_tables WHERE subject = 'pr' ORDER BY table_name::text;
SELECT privacy.access('pr', '2') -> 'data' -> 'public.pr_att2' AS att2;
SELECT privacy.erase('pr', '2') -> 'tables' -> 'public.pr_att2' AS att2_erased;
SELECT id FROM pr_att2 ORDER BY id;
SELECT privacy.drop_subject('pr');
DROP TABLE pr_att2, pr_att, pr_notes, pr_agents, pr_users;
DROP EXTENSION privacy;
