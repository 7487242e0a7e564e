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
-- a key into a sibling partition is not a key into the mapped one: an
-- attachment of a user's note is not an agent's
ALTER TABLE pr_notes_u ADD UNIQUE (id);
INSERT INTO pr_users VALUES (2);
INSERT INTO pr_notes VALUES (5, 'u', 2), (5, 'a', 1);
CREATE TABLE pr_uatt (id int PRIMARY KEY, note_id int REFERENCES pr_notes_u (id), body text);
INSERT INTO pr_uatt VALUES (10, 5, 'of user 2');
SELECT privacy.define_subject('pa', 'pr_agents');
SELECT subject, table_name FROM privacy.subject_tables WHERE table_name = 'pr_uatt'::regclass ORDER BY 1;
SELECT privacy.access('pa', '1') -> 'data' -> 'public.pr_uatt' AS agent_sees;
SELECT privacy.access('pr', '2') -> 'data' -> 'public.pr_uatt' AS user_sees;
SELECT privacy.drop_subject('pa');
-- a key into a partition of the mapped partition: its rows are deleted first
CREATE TABLE pr_n2 (id int, kind text, yr int, owner int, PRIMARY KEY (id, kind, yr)) PARTITION BY LIST (kind);
CREATE TABLE pr_n2_u PARTITION OF pr_n2 (FOREIGN KEY (owner) REFERENCES pr_users) FOR VALUES IN ('u') PARTITION BY RANGE (yr);
CREATE TABLE pr_n2_u_1 PARTITION OF pr_n2_u FOR VALUES FROM (2000) TO (2010);
CREATE TABLE pr_n2_x PARTITION OF pr_n2 FOR VALUES IN ('x');
INSERT INTO pr_n2 VALUES (1, 'u', 2005, 2);
CREATE TABLE pr_a2 (id int PRIMARY KEY, nid int, nk text, nyr int, FOREIGN KEY (nid, nk, nyr) REFERENCES pr_n2_u_1);
INSERT INTO pr_a2 VALUES (1, 1, 'u', 2005);
SELECT privacy.erase('pr', '2', dry_run => true) -> 'tables' -> 'public.pr_a2' AS dry;
SELECT privacy.erase('pr', '2') -> 'tables' -> 'public.pr_a2' AS real;
SELECT count(*) FROM pr_a2;
SELECT privacy.drop_subject('pr');
DROP TABLE pr_a2, pr_n2, pr_uatt, pr_att2, pr_att, pr_notes, pr_agents, pr_users;
DROP EXTENSION privacy;
