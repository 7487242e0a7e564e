-- Integrity findings of session 11's review: generated and identity columns,
-- temporary and the extension's own tables, shared composite keys kept,
-- lossy link conversions, a trigger that skips a delete.
CREATE EXTENSION privacy;
CREATE TABLE g_people (id int PRIMARY KEY, first text, last text,
	full_name text GENERATED ALWAYS AS (first || ' ' || last) STORED,
	serial int GENERATED ALWAYS AS IDENTITY);
INSERT INTO g_people (id, first, last) VALUES (1, 'Ann', 'Lee'), (2, 'Bo', 'Ng');
SELECT privacy.define_subject('gperson', 'g_people');
SELECT privacy.classify('g_people', 'full_name', 'user.name', erasure => 'redact');
SELECT privacy.classify('g_people', 'serial', 'user.unique_id', erasure => 'hash');
SELECT privacy.classify('g_people', 'full_name', 'user.name');
SELECT privacy.classify('g_people', 'serial', 'user.unique_id');
SELECT privacy.classify('g_people', 'first', 'user.name');
SELECT column_name, erasure FROM privacy.classified_columns WHERE table_name = 'g_people'::regclass ORDER BY 1;
SELECT privacy.set_erasure_mode('g_people', 'anonymize');
SELECT privacy.erase('gperson', '1', dry_run => true) -> 'tables';
SELECT privacy.erase('gperson', '1') -> 'tables';
SELECT id, first, last, full_name FROM g_people ORDER BY id;
CREATE TEMP TABLE g_tmp (id int PRIMARY KEY, at timestamptz, name text);
SELECT privacy.classify('g_tmp', 'name', 'user.name');
SELECT privacy.set_erasure_mode('g_tmp', 'anonymize');
SELECT privacy.add_retention('g_tmp', 'at', '1 year');
SELECT privacy.encrypt_column('g_tmp', 'name');
SELECT privacy.encrypt_column('privacy.holds', 'reason');
SELECT privacy.add_retention('privacy.holds', 'placed_at', '1 year');
-- 10. shared => 'keep' with composite keys sharing the tenant column: the
-- kept message loses its sender only; tenant and recipient stay
CREATE TABLE k_users (id int PRIMARY KEY, t int NOT NULL, name text, UNIQUE (t, id));
CREATE TABLE k_msgs (id int PRIMARY KEY, t int, sender int, recipient int, body text,
	FOREIGN KEY (t, sender) REFERENCES k_users (t, id),
	FOREIGN KEY (t, recipient) REFERENCES k_users (t, id));
INSERT INTO k_users VALUES (1, 7, 'u1'), (2, 7, 'u2');
INSERT INTO k_msgs VALUES (1, 7, 1, 2, 'hi'), (2, 7, 1, 1, 'note to self'), (3, 7, 2, 2, 'other');
SELECT privacy.define_subject('kuser', 'k_users');
SELECT privacy.classify('k_msgs', 'body', 'user.content');
SELECT privacy.erase('kuser', '1', dry_run => true, shared => 'keep') -> 'tables' AS dry;
SELECT privacy.erase('kuser', '1', shared => 'keep') -> 'tables' AS tables;
SELECT id, t, sender, recipient, body FROM k_msgs ORDER BY id;
-- 11. link conversions never lose information: a varchar(2) link column
-- and erase of '123' (it held '12'); an integer link column and a numeric
-- key 1.5 (it held 2)
CREATE TABLE l_users (id text PRIMARY KEY);
CREATE TABLE l_log (id int PRIMARY KEY, who varchar(2), what text);
INSERT INTO l_users VALUES ('12'), ('123');
INSERT INTO l_log VALUES (1, '12', 'of 12');
SELECT privacy.define_subject('luser', 'l_users');
SELECT privacy.link('luser', 'l_log', 'who');
SELECT privacy.access('luser', '123') -> 'data' AS data_123;
SELECT privacy.erase('luser', '123') -> 'tables' AS tables;
SELECT id, who FROM l_log ORDER BY id;
CREATE TABLE n_accounts (id numeric PRIMARY KEY);
CREATE TABLE n_events (id int PRIMARY KEY, account int, what text);
INSERT INTO n_accounts VALUES (1.5), (2), (3);
INSERT INTO n_events VALUES (1, 2, 'of 2'), (2, 3, 'of 3');
SELECT privacy.define_subject('naccount', 'n_accounts');
SELECT privacy.link('naccount', 'n_events', 'account');
SELECT privacy.access('naccount', '1.5') -> 'data' -> 'public.n_events' AS events_15;
SELECT privacy.access('naccount', '3.0') -> 'data' -> 'public.n_events' AS events_3;
SELECT privacy.erase('naccount', '1.5') -> 'tables' AS tables;
SELECT id, account FROM n_events ORDER BY id;
-- 14. a BEFORE DELETE trigger that keeps a row, a rule instead of a
-- delete: the erasure fails whole (nothing erased), never in part
CREATE TABLE s_users (id int PRIMARY KEY, name text);
CREATE TABLE s_posts (id int PRIMARY KEY, author int REFERENCES s_users ON DELETE CASCADE, body text);
INSERT INTO s_users VALUES (1, 'u1');
INSERT INTO s_posts VALUES (1, 1, 'a'), (2, 1, 'b');
SELECT privacy.define_subject('suser', 's_users');
CREATE FUNCTION s_keep() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN IF OLD.id = 2 THEN RETURN NULL; END IF; RETURN OLD; END $$;
CREATE TRIGGER s_keep BEFORE DELETE ON s_posts FOR EACH ROW EXECUTE FUNCTION s_keep();
SELECT privacy.erase('suser', '1');
SELECT (SELECT count(*) FROM s_users) AS users, (SELECT count(*) FROM s_posts) AS posts;
DROP TRIGGER s_keep ON s_posts;
CREATE RULE s_rule AS ON DELETE TO s_posts DO INSTEAD NOTHING;
SELECT privacy.erase('suser', '1');
SELECT (SELECT count(*) FROM s_users) AS users, (SELECT count(*) FROM s_posts) AS posts;
DROP RULE s_rule ON s_posts;
-- a BEFORE UPDATE trigger that keeps a row from its rewrite (anonymize)
SELECT privacy.classify('s_posts', 'body', 'user.content');
SELECT privacy.set_erasure_mode('s_posts', 'anonymize');
CREATE TRIGGER s_keep BEFORE UPDATE ON s_posts FOR EACH ROW EXECUTE FUNCTION s_keep();
ALTER TABLE s_posts DROP CONSTRAINT s_posts_author_fkey,
	ADD FOREIGN KEY (author) REFERENCES s_users ON DELETE SET NULL;
SELECT privacy.refresh_subject('suser');
SELECT privacy.erase('suser', '1');
SELECT id, author, body FROM s_posts ORDER BY id;
DROP TRIGGER s_keep ON s_posts;
SELECT privacy.erase('suser', '1') -> 'tables' AS tables;
SELECT id, author, body FROM s_posts ORDER BY id;
-- 9. a foreign key declared on one partition only applies to that
-- partition's rows: notes of agents are not a user's
CREATE TABLE p_users (id int PRIMARY KEY, name text);
CREATE TABLE p_agents (id int PRIMARY KEY, name text);
CREATE TABLE p_notes (id int, kind text, owner_id int, body text) PARTITION BY LIST (kind);
CREATE TABLE p_notes_user PARTITION OF p_notes FOR VALUES IN ('user');
CREATE TABLE p_notes_agent PARTITION OF p_notes FOR VALUES IN ('agent');
ALTER TABLE p_notes_user ADD FOREIGN KEY (owner_id) REFERENCES p_users;
ALTER TABLE p_notes_agent ADD FOREIGN KEY (owner_id) REFERENCES p_agents;
INSERT INTO p_users VALUES (1, 'u1');
INSERT INTO p_agents VALUES (1, 'a1');
INSERT INTO p_notes VALUES (1, 'user', 1, 'of user 1'), (2, 'agent', 1, 'of agent 1');
SELECT privacy.define_subject('puser', 'p_users');
SELECT table_name, depth FROM privacy.subject_tables WHERE subject = 'puser' ORDER BY 1;
SELECT privacy.access('puser', '1') -> 'data' AS data;
SELECT privacy.erase('puser', '1') -> 'tables' AS tables;
SELECT id, kind, owner_id FROM p_notes ORDER BY id;
-- a key added later to a partition joins the map at once
CREATE TABLE p_notes_other PARTITION OF p_notes FOR VALUES IN ('other');
ALTER TABLE p_notes_other ADD FOREIGN KEY (owner_id) REFERENCES p_users ON DELETE CASCADE;
SELECT table_name, depth FROM privacy.subject_tables WHERE subject = 'puser' ORDER BY 1;
-- 8. a table with INHERITS children: the extension's statements name it
-- ONLY; a child's rows are not the parent's (same ctids, no foreign key)
CREATE TABLE h_users (id int PRIMARY KEY, name text);
CREATE TABLE h_convs (t int, id int, owner int REFERENCES h_users, PRIMARY KEY (t, id));
CREATE TABLE h_msgs (id int, t int, conv_id int, cc_conv_id int, body text,
	FOREIGN KEY (t, conv_id) REFERENCES h_convs, FOREIGN KEY (t, cc_conv_id) REFERENCES h_convs);
INSERT INTO h_users VALUES (1, 'u1'), (2, 'u2');
INSERT INTO h_convs VALUES (1, 10, 1), (1, 20, 2);
INSERT INTO h_msgs VALUES (1, 1, 10, 20, 'of 1 cc 2'), (2, 1, 20, NULL, 'of 2');
SELECT privacy.define_subject('huser', 'h_users');
CREATE TABLE h_msgs_archive () INHERITS (h_msgs);
INSERT INTO h_msgs_archive VALUES (1, 1, 20, NULL, 'archived of 2'), (2, 1, 20, NULL, 'archived of 2');
SELECT privacy.access('huser', '1') -> 'data' -> 'public.h_msgs' AS msgs_of_1;
SELECT privacy.erase('huser', '1') -> 'tables' AS tables;
SELECT tableoid::regclass, id, conv_id, cc_conv_id, body FROM h_msgs ORDER BY 1, 2;
-- 16. retention policies follow renames of their columns: a swap of the
-- age column's name with another's never deletes an unexpired row; the
-- columns of an anonymize policy follow too
CREATE TABLE r_events (id int PRIMARY KEY, created_at timestamptz, updated_at timestamptz,
	note text, email text UNIQUE, code text);
INSERT INTO r_events VALUES (1, now() - interval '3 years', now(), 'old', 'a@x', 'c1'),
	(2, now(), now() - interval '3 years', 'new', 'b@x', 'c2');
-- (each policy and the renames in one transaction: the worker, naptime 1 s,
-- cannot run the policy before the renames)
BEGIN;
SELECT privacy.add_retention('r_events', 'created_at', '1 year') AS pol \gset
ALTER TABLE r_events RENAME COLUMN created_at TO tmp;
ALTER TABLE r_events RENAME COLUMN updated_at TO created_at;
ALTER TABLE r_events RENAME COLUMN tmp TO updated_at;
COMMIT;
SELECT age_column FROM privacy.retention_policies WHERE policy = :pol;
-- (the worker, naptime 1 s, may have run the policy already: the rows tell)
SELECT privacy.run_retention(:pol) >= 0 AS ran;
SELECT id, note FROM r_events ORDER BY id;
SELECT privacy.drop_retention(:pol);
INSERT INTO r_events VALUES (3, now() - interval '3 years', now(), 'old again', 'c@x', 'c3');
BEGIN;
SELECT privacy.add_retention('r_events', 'updated_at', '1 year', 'anonymize', columns => '{note}') AS pol2 \gset
ALTER TABLE r_events RENAME COLUMN note TO tmp;
ALTER TABLE r_events RENAME COLUMN code TO note;
ALTER TABLE r_events RENAME COLUMN tmp TO code;
COMMIT;
SELECT columns FROM privacy.retention_policies WHERE policy = :pol2;
SELECT privacy.run_retention(:pol2) >= 0 AS ran;
SELECT id, note, code FROM r_events ORDER BY id;
SELECT privacy.drop_retention(:pol2);
-- columns checked when the policy is added
SELECT privacy.add_retention('r_events', 'updated_at', '1 year', 'anonymize', columns => '{code,code}');
SELECT privacy.classify('r_events', 'email', 'user.contact.email', erasure => 'redact');
SELECT privacy.add_retention('r_events', 'updated_at', '1 year', 'anonymize', columns => '{email}');
DROP TABLE r_events;
-- 17. dropping the root table of one subject type leaves the others'
-- retention, protect and add_retention working
CREATE TABLE d_people (id int PRIMARY KEY);
CREATE TABLE d_orgs (id int PRIMARY KEY);
CREATE TABLE d_visits (id int PRIMARY KEY, org int REFERENCES d_orgs, at timestamptz);
INSERT INTO d_orgs VALUES (1);
INSERT INTO d_visits VALUES (1, 1, now() - interval '3 years'), (2, 1, now());
SELECT privacy.define_subject('dperson', 'd_people');
SELECT privacy.define_subject('dorg', 'd_orgs');
SELECT privacy.add_retention('d_visits', 'at', '1 year') AS vpol \gset
DROP TABLE d_people;
SELECT privacy.run_retention(:vpol) AS deleted;
SELECT privacy.protect('d_visits');
SELECT privacy.add_retention('d_visits', 'at', '2 years') IS NOT NULL AS added;
SELECT id FROM d_visits ORDER BY id;
SELECT jsonb_path_query_array(privacy.access('dorg', '1') -> 'data' -> 'public.d_visits', '$[*].id') AS visit_ids;
DROP TABLE d_visits, d_orgs;
-- 18. one row cannot stall a retention policy: a dependent whose ON DELETE
-- SET NULL meets a NOT NULL column blocks its row only
CREATE TABLE b_sessions (id int PRIMARY KEY, at timestamptz);
CREATE TABLE b_marks (id int PRIMARY KEY, session int NOT NULL, CONSTRAINT b_marks_session
	FOREIGN KEY (session) REFERENCES b_sessions ON DELETE SET NULL);
INSERT INTO b_sessions SELECT g, now() - interval '3 years' FROM generate_series(1, 5) g;
INSERT INTO b_marks VALUES (1, 3);
SELECT privacy.add_retention('b_sessions', 'at', '1 year', cascade => false) AS bpol \gset
SELECT privacy.run_retention(:bpol) AS deleted;
SELECT id FROM b_sessions ORDER BY id;
SELECT last_rows, last_blocked, blocked_by FROM privacy.retention_status WHERE policy = :bpol;
-- with dependents taken along (cascade => true): the blocked row keeps its own
SELECT privacy.drop_retention(:bpol);
CREATE TABLE b_notes (id int PRIMARY KEY, session int REFERENCES b_sessions ON DELETE CASCADE);
INSERT INTO b_sessions SELECT g, now() - interval '3 years' FROM generate_series(6, 8) g;
INSERT INTO b_notes VALUES (1, 3), (2, 6), (3, 7);
SELECT privacy.add_retention('b_sessions', 'at', '1 year') AS bpol \gset
SELECT privacy.run_retention(:bpol) AS deleted;
SELECT id FROM b_sessions ORDER BY id;
SELECT id, session FROM b_notes ORDER BY id;
DROP TABLE b_notes, b_marks, b_sessions;
-- 12. an id that a link column's type cannot hold matches none of its
-- rows: access and erase answer instead of failing (22003, 22P02)
CREATE TABLE c_users (id int PRIMARY KEY);
CREATE TABLE c_small (id int PRIMARY KEY, who smallint);
CREATE TABLE c_names (id text PRIMARY KEY);
CREATE TABLE c_tokens (id int PRIMARY KEY, owner uuid);
INSERT INTO c_users VALUES (70000), (7);
INSERT INTO c_small VALUES (1, 7);
INSERT INTO c_names VALUES ('alice'), ('0b7a7e5e-4a6c-4d43-9a65-2f5f1e1d6a01');
INSERT INTO c_tokens VALUES (1, '0b7a7e5e-4a6c-4d43-9a65-2f5f1e1d6a01');
SELECT privacy.define_subject('cuser', 'c_users');
SELECT privacy.link('cuser', 'c_small', 'who');
SELECT privacy.define_subject('cname', 'c_names');
SELECT privacy.link('cname', 'c_tokens', 'owner');
SELECT privacy.access('cuser', '70000') -> 'data' AS data_70000;
SELECT privacy.erase('cuser', '70000') -> 'tables' AS tables;
SELECT privacy.erase('cuser', '7') -> 'tables' AS tables;
SELECT privacy.access('cname', 'alice') -> 'data' AS data_alice;
SELECT privacy.erase('cname', 'alice', dry_run => true) -> 'tables' AS dry;
SELECT privacy.erase('cname', 'alice') -> 'tables' AS tables;
SELECT privacy.erase('cname', '0b7a7e5e-4a6c-4d43-9a65-2f5f1e1d6a01') -> 'tables' AS tables;
SELECT (SELECT count(*) FROM c_small) AS small, (SELECT count(*) FROM c_tokens) AS tokens;
-- an id longer than an index entry of holds, restrictions and consents
SELECT privacy.hold('cname', repeat('x', 3000), 'litigation');
SELECT privacy.restrict('cname', repeat('x', 3000), 'contested');
DROP TABLE c_small, c_users, c_tokens, c_names;
DROP TABLE p_notes, p_users, p_agents;
DROP TABLE h_msgs_archive, h_msgs, h_convs, h_users;
DROP TABLE s_posts, s_users, n_events, n_accounts, l_log, l_users, k_msgs, k_users, g_people;
DROP FUNCTION s_keep();
-- 19. (session 12) the root references one of the subject's own rows (a
-- favourite post, an avatar upload): a NO ACTION key back to a row deleted
-- before the root is cleared in the root's row first; another user's
-- reference to it is refused (23503) before anything changes
CREATE TABLE c_users (id int PRIMARY KEY, fav int);
CREATE TABLE c_posts (id int PRIMARY KEY, author int REFERENCES c_users);
ALTER TABLE c_users ADD FOREIGN KEY (fav) REFERENCES c_posts;
INSERT INTO c_users VALUES (1, NULL), (2, NULL);
INSERT INTO c_posts VALUES (10, 1), (20, 2);
UPDATE c_users SET fav = 10;
SELECT privacy.define_subject('cuser', 'c_users');
SELECT privacy.erase('cuser', '1') -> 'tables';
UPDATE c_users SET fav = 20 WHERE id = 2;
SELECT privacy.erase('cuser', '1', dry_run => true) -> 'tables';
SELECT privacy.erase('cuser', '1') -> 'tables';
SELECT * FROM c_users ORDER BY id;
SELECT * FROM c_posts ORDER BY id;
SELECT privacy.drop_subject('cuser');
ALTER TABLE c_users DROP COLUMN fav;
DROP TABLE c_posts, c_users;
-- ... but not a key the table is mapped through: clearing it would take
-- rows out of the erasure (the receipt differed from the dry run); the
-- tables of such a cycle are deleted by one statement (48b_erase_fidelity)
CREATE TABLE e_users (id int PRIMARY KEY);
CREATE TABLE e_x (id int PRIMARY KEY, user_id int NOT NULL REFERENCES e_users ON DELETE CASCADE, y_id int);
CREATE TABLE e_y (id int PRIMARY KEY, user_id int REFERENCES e_users ON DELETE CASCADE, x_id int REFERENCES e_x);
ALTER TABLE e_x ADD FOREIGN KEY (y_id) REFERENCES e_y;
INSERT INTO e_users VALUES (1), (2);
INSERT INTO e_x VALUES (10, 1, NULL), (20, 2, NULL);
INSERT INTO e_y VALUES (100, 2, 10), (200, 1, NULL), (300, NULL, 10);
UPDATE e_x SET y_id = 200 WHERE id = 10;
SELECT privacy.define_subject('euser', 'e_users');
SELECT privacy.erase('euser', '1', dry_run => true) -> 'tables' -> 'public.e_y' AS dry;
SELECT privacy.erase('euser', '1') -> 'tables' -> 'public.e_y' AS real;
SELECT id, user_id, x_id FROM e_y ORDER BY id;
SELECT privacy.drop_subject('euser');
ALTER TABLE e_x DROP COLUMN y_id;
DROP TABLE e_y, e_x, e_users;
DROP EXTENSION privacy;
