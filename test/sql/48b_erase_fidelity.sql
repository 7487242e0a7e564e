-- Erasure fidelity (session 13): the dry run and the check phase predict
-- what the erasure does, and the erasure never fails while it changes rows
-- on a case the checks could see: the same outcome, the same SQLSTATE,
-- before anything changes.
CREATE EXTENSION privacy;
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN EXECUTE q; RETURN 'ok';
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM; END $$;

-- 1. A cycle of NO ACTION keys through which both tables are mapped
-- (e_x.y_id -> e_y, e_y.x_id -> e_x): whichever table went first, its
-- DELETE failed on the other's rows (23503 while acting; the dry run said
-- it would succeed).  Both tables' rows now go in one statement.
CREATE TABLE e_users (id int PRIMARY KEY);
CREATE TABLE e_x (id int PRIMARY KEY, user_id int NOT NULL REFERENCES e_users ON DELETE CASCADE, y_id int);
CREATE TABLE e_y (id int PRIMARY KEY, user_id int REFERENCES e_users ON DELETE CASCADE, x_id int REFERENCES e_x);
ALTER TABLE e_x ADD FOREIGN KEY (y_id) REFERENCES e_y;
INSERT INTO e_users VALUES (1), (2);
INSERT INTO e_x VALUES (10, 1, NULL), (20, 2, NULL);
INSERT INTO e_y VALUES (100, 2, 10), (200, 1, NULL), (300, NULL, 10), (400, 2, 20);
UPDATE e_x SET y_id = 200 WHERE id = 10;
UPDATE e_x SET y_id = 400 WHERE id = 20;
SELECT privacy.define_subject('euser', 'e_users');
SELECT privacy.erase('euser', '1', dry_run => true) -> 'tables' AS dry;
SELECT privacy.erase('euser', '1') -> 'tables' AS real;
SELECT id, user_id, y_id FROM e_x ORDER BY id;
SELECT id, user_id, x_id FROM e_y ORDER BY id;
-- the other user (nothing of the cycle in the way): as before
SELECT privacy.erase('euser', '2', dry_run => true) -> 'tables' AS dry;
SELECT privacy.erase('euser', '2') -> 'tables' AS real;
SELECT (SELECT count(*) FROM e_x) AS x, (SELECT count(*) FROM e_y) AS y;
-- shared => 'keep': the other user's row is detached, the cycle deleted
INSERT INTO e_users VALUES (1), (2);
INSERT INTO e_x VALUES (10, 1, NULL);
INSERT INTO e_y VALUES (100, 2, 10), (200, 1, 10);
UPDATE e_x SET y_id = 200 WHERE id = 10;
SELECT privacy.erase('euser', '1', dry_run => true, shared => 'keep') -> 'tables' AS dry;
SELECT privacy.erase('euser', '1', shared => 'keep') -> 'tables' AS real;
SELECT id, user_id, x_id FROM e_y ORDER BY id;
-- RESTRICT both ways, and a root that references its own row through a
-- NOT NULL column (a deferred key, made immediate for the erasure)
CREATE TABLE r_users (id int PRIMARY KEY, fav int NOT NULL);
CREATE TABLE r_posts (id int PRIMARY KEY, author int NOT NULL REFERENCES r_users ON DELETE RESTRICT,
	reply_to int REFERENCES r_posts ON DELETE RESTRICT);
ALTER TABLE r_users ADD FOREIGN KEY (fav) REFERENCES r_posts ON DELETE RESTRICT DEFERRABLE INITIALLY DEFERRED;
BEGIN;
INSERT INTO r_users VALUES (1, 10), (2, 20);
INSERT INTO r_posts VALUES (10, 1, NULL), (11, 1, 10), (20, 2, NULL);
COMMIT;
SELECT privacy.define_subject('ruser', 'r_users');
SELECT privacy.erase('ruser', '1', dry_run => true) -> 'tables' AS dry;
SELECT privacy.erase('ruser', '1') -> 'tables' AS real;
SELECT * FROM r_users ORDER BY id;
SELECT * FROM r_posts ORDER BY id;
-- a BEFORE DELETE trigger that keeps a row of the cycle: all or nothing
-- (the keys are checked when the statement ends: their SQLSTATE)
CREATE FUNCTION r_keep() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
CREATE TRIGGER r_keep BEFORE DELETE ON r_posts FOR EACH ROW EXECUTE FUNCTION r_keep();
SELECT pg_temp.err($$SELECT privacy.erase('ruser', '2')$$) AS kept;
SELECT (SELECT count(*) FROM r_users) AS users, (SELECT count(*) FROM r_posts) AS posts;
DROP TRIGGER r_keep ON r_posts;
-- tables of two owners: one statement cannot delete both; 23503 before
-- anything changes, in the dry run too
CREATE ROLE regress_fid_a;
CREATE ROLE regress_fid_b;
CREATE TABLE o_users (id int PRIMARY KEY);
CREATE TABLE o_x (id int PRIMARY KEY, user_id int NOT NULL REFERENCES o_users ON DELETE CASCADE, y_id int);
CREATE TABLE o_y (id int PRIMARY KEY, user_id int REFERENCES o_users ON DELETE CASCADE, x_id int REFERENCES o_x);
ALTER TABLE o_x ADD FOREIGN KEY (y_id) REFERENCES o_y;
INSERT INTO o_users VALUES (1);
INSERT INTO o_x VALUES (10, 1, NULL);
INSERT INTO o_y VALUES (100, 1, 10);
UPDATE o_x SET y_id = 100;
GRANT SELECT, REFERENCES ON o_users, o_x, o_y TO regress_fid_a, regress_fid_b;
ALTER TABLE o_users OWNER TO regress_fid_a;
ALTER TABLE o_x OWNER TO regress_fid_a;
ALTER TABLE o_y OWNER TO regress_fid_b;
SELECT privacy.define_subject('ouser', 'o_users');
SELECT privacy.erase('ouser', '1', dry_run => true);
SELECT privacy.erase('ouser', '1');
SELECT (SELECT count(*) FROM o_x) AS x, (SELECT count(*) FROM o_y) AS y;

-- 2. A CHECK constraint that the anonymization violates: the dry run said
-- it would succeed, the erasure failed while rewriting (23514).  Now both
-- fail before anything changes, naming table, column and constraint.  The
-- CHECK is the owner's code: it is evaluated as the owner.
CREATE ROLE regress_fid_owner;
CREATE FUNCTION c_mail_ok(v text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	IF current_user <> 'regress_fid_owner' THEN
		RAISE EXCEPTION 'CHECK evaluated as %', current_user;
	END IF;
	RETURN v LIKE '%@%';
END $$;
CREATE TABLE c_users (id int PRIMARY KEY, email text CONSTRAINT c_mail CHECK (c_mail_ok(email)),
	nick varchar(20), code text CHECK (length(code) < 3));
ALTER TABLE c_users OWNER TO regress_fid_owner;
SET ROLE regress_fid_owner;
INSERT INTO c_users VALUES (1, 'ann@example.org', 'ann', 'x'), (2, 'bob@example.org', 'bob', 'y');
RESET ROLE;
SELECT privacy.define_subject('cuser', 'c_users');
SELECT privacy.set_erasure_mode('c_users', 'anonymize');
SELECT privacy.classify('c_users', 'email', 'user.contact.email', erasure => 'redact');
SELECT privacy.erase('cuser', '1', dry_run => true);
SELECT privacy.erase('cuser', '1');
SELECT privacy.classify('c_users', 'email', 'user.contact.email', erasure => 'hash');
SELECT pg_temp.err($$SELECT privacy.erase('cuser', '1', dry_run => true)$$) AS dry;
SELECT pg_temp.err($$SELECT privacy.erase('cuser', '1')$$) AS real;
SELECT id, email, nick FROM c_users ORDER BY id;
-- a column made NOT NULL after it was classified 'null' (23502)
SELECT privacy.classify('c_users', 'email', 'user.contact.email', erasure => 'null');
SET ROLE regress_fid_owner;
ALTER TABLE c_users ALTER COLUMN email SET NOT NULL;
RESET ROLE;
SELECT pg_temp.err($$SELECT privacy.erase('cuser', '1', dry_run => true)$$) AS dry;
SELECT privacy.erase('cuser', '1');
SET ROLE regress_fid_owner;
ALTER TABLE c_users ALTER COLUMN email DROP NOT NULL;
RESET ROLE;
-- a strategy the constraint accepts, and a CHECK that does not read a
-- rewritten column (length(code)): the erasure goes through
SELECT privacy.classify('c_users', 'nick', 'user.name', erasure => 'redact');
SELECT privacy.erase('cuser', '1', dry_run => true) -> 'tables' AS dry;
SELECT privacy.erase('cuser', '1') -> 'tables' AS real;
SELECT id, email, nick FROM c_users ORDER BY id;
-- a domain's CHECK on the column's type (23514)
CREATE DOMAIN d_nick AS varchar(20) CHECK (VALUE NOT LIKE '[%');
CREATE TABLE d_users (id int PRIMARY KEY, nick d_nick);
INSERT INTO d_users VALUES (1, 'ann');
SELECT privacy.define_subject('duser', 'd_users');
SELECT privacy.set_erasure_mode('d_users', 'anonymize');
SELECT privacy.classify('d_users', 'nick', 'user.name', erasure => 'redact');
SELECT pg_temp.err($$SELECT privacy.erase('duser', '1', dry_run => true)$$) AS dry;
SELECT privacy.erase('duser', '1');
SELECT id, nick FROM d_users;
-- a stored generated column computed from a rewritten one, read by a CHECK
CREATE TABLE g_users (id int PRIMARY KEY, name text,
	initial text GENERATED ALWAYS AS (left(name, 1)) STORED CHECK (initial <> '['));
INSERT INTO g_users (id, name) VALUES (1, 'ann');
SELECT privacy.define_subject('guser', 'g_users');
SELECT privacy.set_erasure_mode('g_users', 'anonymize');
SELECT privacy.classify('g_users', 'name', 'user.name', erasure => 'redact');
SELECT pg_temp.err($$SELECT privacy.erase('guser', '1', dry_run => true)$$) AS dry;
SELECT pg_temp.err($$SELECT privacy.erase('guser', '1')$$) AS real;
-- a CHECK of one partition only: its rows only
CREATE TABLE p_users (id int PRIMARY KEY);
CREATE TABLE p_notes (id int, region text, user_id int REFERENCES p_users ON DELETE SET NULL, body text)
	PARTITION BY LIST (region);
CREATE TABLE p_notes_eu PARTITION OF p_notes FOR VALUES IN ('eu');
CREATE TABLE p_notes_us PARTITION OF p_notes FOR VALUES IN ('us');
ALTER TABLE p_notes_us ADD CONSTRAINT p_body CHECK (body IS NOT NULL);
INSERT INTO p_users VALUES (1), (2);
INSERT INTO p_notes VALUES (1, 'eu', 1, 'a'), (2, 'us', 2, 'b');
SELECT privacy.define_subject('puser', 'p_users');
SELECT privacy.set_erasure_mode('p_notes', 'anonymize');
SELECT privacy.classify('p_notes', 'body', 'user.content', erasure => 'null');
SELECT privacy.erase('puser', '1', dry_run => true) -> 'tables' -> 'public.p_notes' AS dry;
SELECT privacy.erase('puser', '1') -> 'tables' -> 'public.p_notes' AS real;
SELECT pg_temp.err($$SELECT privacy.erase('puser', '2', dry_run => true)$$) AS dry;
SELECT pg_temp.err($$SELECT privacy.erase('puser', '2')$$) AS real;
SELECT id, region, body FROM p_notes ORDER BY id;

-- 3. shared => 'keep' with MATCH FULL composite keys: detaching the sender
-- alone left the key half null (23503 while acting).  A MATCH FULL key is
-- detached whole, or refused before anything changes (23503).
CREATE TABLE k_users (id int PRIMARY KEY, t int NOT NULL, UNIQUE (t, id));
CREATE TABLE k_msgs (id int PRIMARY KEY, t int, sender int, recipient int, body text,
	FOREIGN KEY (t, sender) REFERENCES k_users (t, id) MATCH FULL,
	FOREIGN KEY (t, recipient) REFERENCES k_users (t, id) MATCH FULL);
INSERT INTO k_users VALUES (1, 7), (2, 7);
INSERT INTO k_msgs VALUES (1, 7, 1, 2, 'hi'), (2, 7, 1, 1, 'note to self');
SELECT privacy.define_subject('kuser', 'k_users');
SELECT privacy.erase('kuser', '1', dry_run => true, shared => 'keep');
SELECT privacy.erase('kuser', '1', shared => 'keep');
SELECT id, t, sender, recipient FROM k_msgs ORDER BY id;
-- a NOT NULL tenant in a MATCH FULL key: the same, as a NOT NULL column
ALTER TABLE k_msgs ALTER COLUMN t SET NOT NULL;
SELECT pg_temp.err($$SELECT privacy.erase('kuser', '1', dry_run => true, shared => 'keep')$$) AS dry;
SELECT pg_temp.err($$SELECT privacy.erase('kuser', '1', shared => 'keep')$$) AS real;
-- one MATCH FULL key per row of the subject: detached whole
CREATE TABLE j_users (id int PRIMARY KEY, t int NOT NULL, UNIQUE (t, id));
CREATE TABLE j_docs (id int PRIMARY KEY, owner int REFERENCES j_users, t int, editor int,
	FOREIGN KEY (t, editor) REFERENCES j_users (t, id) MATCH FULL);
INSERT INTO j_users VALUES (1, 7), (2, 7);
INSERT INTO j_docs VALUES (1, 2, 7, 1), (2, 1, 7, 1);
SELECT privacy.define_subject('juser', 'j_users');
SELECT privacy.erase('juser', '1', dry_run => true, shared => 'keep') -> 'tables' AS dry;
SELECT privacy.erase('juser', '1', shared => 'keep') -> 'tables' AS real;
SELECT id, owner, t, editor FROM j_docs ORDER BY id;
-- ON DELETE SET NULL into a NOT NULL column of a row that stays (the
-- tenant of a composite key): 23502 while acting before, 23503 now
CREATE TABLE s_users (id int PRIMARY KEY, t int NOT NULL, UNIQUE (t, id));
CREATE TABLE s_audit (id int PRIMARY KEY, t int NOT NULL, actor int,
	FOREIGN KEY (t, actor) REFERENCES s_users (t, id) ON DELETE SET NULL);
INSERT INTO s_users VALUES (1, 7);
INSERT INTO s_audit VALUES (1, 7, 1);
SELECT privacy.define_subject('suser', 's_users');
SELECT privacy.set_erasure_mode('s_audit', 'anonymize');
SELECT pg_temp.err($$SELECT privacy.erase('suser', '1', dry_run => true)$$) AS dry;
SELECT pg_temp.err($$SELECT privacy.erase('suser', '1')$$) AS real;
-- PostgreSQL 15's column list: only the actor is set null
ALTER TABLE s_audit DROP CONSTRAINT s_audit_t_actor_fkey,
	ADD FOREIGN KEY (t, actor) REFERENCES s_users (t, id) ON DELETE SET NULL (actor);
SELECT privacy.erase('suser', '1', dry_run => true) -> 'tables' AS dry;
SELECT privacy.erase('suser', '1') -> 'tables' AS real;
SELECT * FROM s_audit;

-- 4. Strategy 'hash' on a unique column too short for a pseudonym that
-- does not repeat: the erasures collided (23505; a varchar(8) holds a body
-- of 4 hex characters, 65536 values, and a tag of 4).  classify refuses it
-- (22023); 16 characters and more hold a pseudonym of that length, a column
-- without a unique index one as long as it is; name cannot hold one (the
-- erasure failed, 22023).
CREATE TABLE h_users (id int PRIMARY KEY, code varchar(8) NOT NULL UNIQUE, ref varchar(16) UNIQUE,
	tag char(4), nm name);
INSERT INTO h_users VALUES (1, 'c1', 'r1', 't1', 'n1'), (2, 'c2', 'r2', 't2', 'n2');
SELECT privacy.define_subject('huser', 'h_users');
SELECT privacy.set_erasure_mode('h_users', 'anonymize');
SELECT privacy.classify('h_users', 'code', 'user.unique_id', erasure => 'hash');
SELECT privacy.classify('h_users', 'nm', 'user.name', erasure => 'hash');
SELECT privacy.classify('h_users', 'ref', 'user.unique_id', erasure => 'hash');
SELECT privacy.classify('h_users', 'tag', 'user.unique_id', erasure => 'hash');
-- the default of a unique NOT NULL column that cannot hold a pseudonym
-- stays 'redact' (a NOTICE says so)
SELECT privacy.classify('h_users', 'code', 'user.unique_id');
SELECT column_name, erasure FROM privacy.classified_columns WHERE table_name = 'h_users'::regclass ORDER BY 1;
-- a column narrowed after it was classified: 22023 before anything changes
ALTER TABLE h_users ALTER COLUMN ref TYPE varchar(12);
SELECT privacy.erase('huser', '1', dry_run => true);
SELECT pg_temp.err($$SELECT privacy.erase('huser', '1')$$) AS real;
SELECT id, code, ref, tag FROM h_users ORDER BY id;
ALTER TABLE h_users ALTER COLUMN ref TYPE varchar(16);
SELECT privacy.erase('huser', '1') -> 'tables' AS tables;
SELECT id, code, length(ref) AS ref_len, ref <> 'r' || id AS ref_changed,
	length(tag) AS tag_len, tag <> 't' || id AS tag_changed FROM h_users ORDER BY id;

-- cleanup
DROP TABLE h_users, s_audit, s_users, j_docs, j_users, k_msgs, k_users, p_notes, p_users, g_users;
DROP TABLE c_users, d_users;
DROP DOMAIN d_nick;
DROP FUNCTION c_mail_ok(text);
ALTER TABLE o_x DROP COLUMN y_id;
DROP TABLE o_y, o_x, o_users;
ALTER TABLE r_users DROP COLUMN fav;
DROP TABLE r_posts, r_users;
DROP FUNCTION r_keep();
ALTER TABLE e_x DROP COLUMN y_id;
DROP TABLE e_y, e_x, e_users;
DROP EXTENSION privacy;
DROP ROLE regress_fid_owner, regress_fid_a, regress_fid_b;
