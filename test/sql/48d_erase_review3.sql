-- Review of the erasure's atomicity (third pass): cases where the dry run
-- said success and the erasure failed while acting (or counted wrongly).
-- Each now fails before anything changes, the dry run with the same
-- SQLSTATE, or is counted right.
CREATE EXTENSION privacy;
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN EXECUTE q; RETURN 'ok';
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ': ' || SQLERRM; END $$;

-- 1. Unique indexes over rewritten columns (anonymize mode).  'redact'
-- writes one placeholder for every row: the second subject's rewrite
-- collided (23505) while acting.  Also a composite key, an expression
-- (lower()), a partial index, a pseudonym of a value seen again (a second
-- sign-up with an erased e-mail: now erased, 48e), and two rows of one
-- subject.
CREATE TABLE r3_u (id int PRIMARY KEY, email text UNIQUE, nick text NOT NULL UNIQUE,
	a text, b text, UNIQUE (a, b), mail2 text, code text, active boolean);
CREATE UNIQUE INDEX r3_u_lower ON r3_u (lower(mail2));
CREATE UNIQUE INDEX r3_u_code ON r3_u (code) WHERE active;
CREATE TABLE r3_uc (id int PRIMARY KEY, uid int REFERENCES r3_u, tag text UNIQUE);
INSERT INTO r3_u VALUES (1, 'a@x', 'n1', 'a1', 'b1', 'M1', 'c1', true), (2, 'b@x', 'n2', 'a2', 'b1', 'M2', 'c2', true),
	(3, 'c@x', 'n3', 'a3', 'b1', 'M3', 'c3', false), (4, 'd@x', 'n4', 'a4', 'b2', 'M4', 'c4', false);
INSERT INTO r3_uc VALUES (1, 1, 't1'), (2, 4, 't2'), (3, 4, 't3');
SELECT privacy.define_subject('r3u', 'r3_u');
SELECT privacy.set_erasure_mode('r3_u', 'anonymize');
SELECT privacy.set_erasure_mode('r3_uc', 'anonymize');
SELECT privacy.classify('r3_u', 'email', 'user.contact.email', 'redact');
SELECT privacy.classify('r3_u', 'nick', 'user.name', 'redact');
SELECT privacy.erase('r3u', '1') -> 'tables' AS first;
-- the second redacted e-mail and nick: refused, the dry run too
SELECT pg_temp.err($$SELECT privacy.erase('r3u', '2', dry_run => true)$$) AS dry;
SELECT pg_temp.err($$SELECT privacy.erase('r3u', '2')$$) AS real;
SELECT id, email, nick FROM r3_u WHERE id = 2;
-- 'null' under an index whose nulls are distinct never collides
SELECT privacy.classify('r3_u', 'email', 'user.contact.email', 'null');
SELECT privacy.classify('r3_u', 'nick', 'user.name', 'hash');
SELECT privacy.erase('r3u', '2') -> 'tables' AS second;
-- a composite key: (a, b) redacted and 'b1' both, once
SELECT privacy.classify('r3_u', 'a', 'user.name', 'redact');
SELECT privacy.erase('r3u', '1') -> 'tables' AS first_a;
SELECT pg_temp.err($$SELECT privacy.erase('r3u', '3', dry_run => true)$$) AS dry;
SELECT pg_temp.err($$SELECT privacy.erase('r3u', '3')$$) AS real;
SELECT privacy.erase('r3u', '4') -> 'tables' AS other_b_is_fine;
SELECT privacy.classify('r3_u', 'a', 'user.name', 'keep');
-- an expression: '[redacted]' and lower('[REDACTED]') are one key
UPDATE r3_u SET mail2 = '[REDACTED]' WHERE id = 1;
SELECT privacy.classify('r3_u', 'mail2', 'user.contact.email', 'redact');
SELECT pg_temp.err($$SELECT privacy.erase('r3u', '3', dry_run => true)$$) AS dry;
SELECT pg_temp.err($$SELECT privacy.erase('r3u', '3')$$) AS real;
UPDATE r3_u SET mail2 = NULL WHERE id = 1;
SELECT privacy.classify('r3_u', 'mail2', 'user.contact.email', 'null');
-- a partial index: only the active rows count
SELECT privacy.classify('r3_u', 'code', 'user.name', 'redact');
SELECT privacy.erase('r3u', '3') -> 'tables' AS inactive;
SELECT privacy.erase('r3u', '1') -> 'tables' AS active;
SELECT pg_temp.err($$SELECT privacy.erase('r3u', '2', dry_run => true)$$) AS dry;
SELECT pg_temp.err($$SELECT privacy.erase('r3u', '2')$$) AS real;
UPDATE r3_u SET active = false WHERE id = 1;
SELECT privacy.erase('r3u', '2') -> 'tables' AS now_alone;
-- a pseudonym of a value seen again: the same e-mail signs up after its
-- erasure; the second row takes a disambiguated pseudonym (48e), no 23505
SELECT privacy.classify('r3_u', 'email', 'user.contact.email', 'hash');
INSERT INTO r3_u VALUES (5, 'e@x', 'n5', 'a5', 'b5', NULL, NULL, false);
SELECT privacy.erase('r3u', '5') -> 'tables' AS fifth;
INSERT INTO r3_u VALUES (6, 'e@x', 'n6', 'a6', 'b6', NULL, NULL, false);
SELECT pg_temp.err($$SELECT privacy.erase('r3u', '6', dry_run => true)$$) AS dry;
SELECT pg_temp.err($$SELECT privacy.erase('r3u', '6')$$) AS real;
SELECT email <> 'e@x' AS email_changed, email <> (SELECT email FROM r3_u WHERE id = 5) AS distinct_from_fifth,
       nick <> 'n6' AS nick_changed FROM r3_u WHERE id = 6;
-- two rows of one subject take one placeholder
SELECT privacy.classify('r3_u', 'email', 'user.contact.email', 'null');
SELECT privacy.classify('r3_uc', 'tag', 'user.name', 'redact');
SELECT pg_temp.err($$SELECT privacy.erase('r3u', '4', dry_run => true)$$) AS dry;
SELECT pg_temp.err($$SELECT privacy.erase('r3u', '4')$$) AS real;
SELECT id, tag FROM r3_uc ORDER BY id;
SELECT privacy.drop_subject('r3u');
DROP TABLE r3_uc, r3_u;

-- 2. ON DELETE SET DEFAULT from a row that stays: a default that no row
-- holds failed with 23503 while acting; a default naming the subject's own
-- row failed when that row was deleted.  Now 23503 before anything changes.
CREATE TABLE r3_p (id int PRIMARY KEY, name text);
CREATE TABLE r3_o (id int PRIMARY KEY, pid int DEFAULT 99 REFERENCES r3_p ON DELETE SET DEFAULT, note text);
INSERT INTO r3_p VALUES (1, 'a'), (2, 'b');
INSERT INTO r3_o VALUES (1, 1, 'x');
SELECT privacy.define_subject('r3sd', 'r3_p');
SELECT privacy.set_erasure_mode('r3_o', 'anonymize');
SELECT pg_temp.err($$SELECT privacy.erase('r3sd', '1', dry_run => true)$$) AS dry_missing;
SELECT pg_temp.err($$SELECT privacy.erase('r3sd', '1')$$) AS real_missing;
ALTER TABLE r3_o ALTER pid SET DEFAULT 1;
SELECT pg_temp.err($$SELECT privacy.erase('r3sd', '1', dry_run => true)$$) AS dry_own;
SELECT pg_temp.err($$SELECT privacy.erase('r3sd', '1')$$) AS real_own;
SELECT (SELECT count(*) FROM r3_p) AS parents, (SELECT pid FROM r3_o) AS pid;
-- a default that names a row that stays, or none: as before
ALTER TABLE r3_o ALTER pid SET DEFAULT 2;
SELECT privacy.erase('r3sd', '1', dry_run => true) -> 'tables' AS dry;
SELECT privacy.erase('r3sd', '1') -> 'tables' AS real;
SELECT id, pid, note FROM r3_o;
SELECT privacy.drop_subject('r3sd');
DROP TABLE r3_o, r3_p;

-- 3. CHECK constraints over the rewritten columns: one over two columns
-- both nulled (tested before), one that reads the whole row (was not:
-- 23514 while acting)
CREATE TABLE r3_ck (id int PRIMARY KEY, email text, phone text, CONSTRAINT r3_either CHECK (email IS NOT NULL OR phone IS NOT NULL));
CREATE TABLE r3_wr (id int PRIMARY KEY, email text, phone text, gone int, CONSTRAINT r3_whole CHECK (r3_wr IS NOT NULL));
ALTER TABLE r3_wr DROP COLUMN gone;
INSERT INTO r3_ck VALUES (1, 'a', 'p');
INSERT INTO r3_wr VALUES (1, 'a', 'p');
SELECT privacy.define_subject('r3ck', 'r3_ck');
SELECT privacy.define_subject('r3wr', 'r3_wr');
SELECT privacy.set_erasure_mode('r3_ck', 'anonymize');
SELECT privacy.set_erasure_mode('r3_wr', 'anonymize');
SELECT privacy.classify('r3_ck', 'email', 'user.contact.email', 'null');
SELECT privacy.classify('r3_ck', 'phone', 'user.contact.phone_number', 'null');
SELECT privacy.classify('r3_wr', 'email', 'user.contact.email', 'null');
SELECT pg_temp.err($$SELECT privacy.erase('r3ck', '1', dry_run => true)$$) AS dry_two;
SELECT pg_temp.err($$SELECT privacy.erase('r3ck', '1')$$) AS real_two;
SELECT pg_temp.err($$SELECT privacy.erase('r3wr', '1', dry_run => true)$$) AS dry_whole;
SELECT pg_temp.err($$SELECT privacy.erase('r3wr', '1')$$) AS real_whole;
-- a strategy that keeps the row whole passes
SELECT privacy.classify('r3_wr', 'email', 'user.contact.email', 'redact');
SELECT privacy.erase('r3wr', '1') -> 'tables' AS whole_redacted;
SELECT * FROM r3_wr;
SELECT privacy.drop_subject('r3ck');
SELECT privacy.drop_subject('r3wr');
DROP TABLE r3_ck, r3_wr;

-- 4. A rule on DELETE (or UPDATE, for a rewrite) of a mapped table: the
-- dry run counted the rows as deleted, the erasure failed with 0A000 while
-- acting.  Now 0A000 before anything changes, in the dry run too.
CREATE TABLE r3_rp (id int PRIMARY KEY, name text);
CREATE TABLE r3_rc (id int PRIMARY KEY, pid int REFERENCES r3_rp, note text, gone boolean DEFAULT false);
CREATE TABLE r3_rlog (x int);
INSERT INTO r3_rp VALUES (1, 'a');
INSERT INTO r3_rc VALUES (1, 1, 'n');
SELECT privacy.define_subject('r3r', 'r3_rp');
CREATE RULE r3_soft AS ON DELETE TO r3_rc DO INSTEAD UPDATE r3_rc SET gone = true WHERE id = OLD.id;
SELECT pg_temp.err($$SELECT privacy.erase('r3r', '1', dry_run => true)$$) AS dry_instead;
SELECT pg_temp.err($$SELECT privacy.erase('r3r', '1')$$) AS real_instead;
DROP RULE r3_soft ON r3_rc;
CREATE RULE r3_also AS ON DELETE TO r3_rc DO ALSO INSERT INTO r3_rlog VALUES (OLD.id);
SELECT pg_temp.err($$SELECT privacy.erase('r3r', '1', dry_run => true)$$) AS dry_also;
DROP RULE r3_also ON r3_rc;
SELECT privacy.set_erasure_mode('r3_rc', 'anonymize');
SELECT privacy.classify('r3_rc', 'note', 'user.name', 'redact');
ALTER TABLE r3_rc DROP CONSTRAINT r3_rc_pid_fkey;
CREATE RULE r3_noupd AS ON UPDATE TO r3_rc DO INSTEAD NOTHING;
SELECT privacy.link('r3r', 'r3_rc', 'pid');
SELECT pg_temp.err($$SELECT privacy.erase('r3r', '1', dry_run => true)$$) AS dry_update;
SELECT pg_temp.err($$SELECT privacy.erase('r3r', '1')$$) AS real_update;
SELECT (SELECT count(*) FROM r3_rp) AS parents, (SELECT note FROM r3_rc) AS note, (SELECT count(*) FROM r3_rlog) AS log;
SELECT privacy.drop_subject('r3r');
DROP TABLE r3_rc, r3_rp, r3_rlog;

-- 5. A trigger that erases again while an erasure changes rows: the inner
-- erasure's deletions were counted in the outer receipt (another subject's
-- rows under this subject's receipt).  Now 55000, nothing erased; a dry
-- run from a trigger is allowed.
CREATE TABLE r3_ep (id int PRIMARY KEY, name text);
CREATE TABLE r3_ec (id int PRIMARY KEY, pid int REFERENCES r3_ep, note text);
INSERT INTO r3_ep VALUES (1, 'a'), (2, 'b');
INSERT INTO r3_ec VALUES (1, 1, 'n'), (2, 1, 'm'), (3, 2, 'o');
SELECT privacy.define_subject('r3e', 'r3_ep');
CREATE FUNCTION r3_again() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM privacy.erase('r3e', '2', dry_run => TG_ARGV[0]::boolean); RETURN OLD; END $$;
CREATE TRIGGER r3_again AFTER DELETE ON r3_ec FOR EACH ROW EXECUTE FUNCTION r3_again('false');
SELECT privacy.erase('r3e', '1', dry_run => true) -> 'tables' AS dry;
SELECT pg_temp.err($$SELECT privacy.erase('r3e', '1')$$) AS nested;
SELECT (SELECT count(*) FROM r3_ep) AS parents, (SELECT count(*) FROM r3_ec) AS children;
DROP TRIGGER r3_again ON r3_ec;
CREATE TRIGGER r3_again AFTER DELETE ON r3_ec FOR EACH ROW EXECUTE FUNCTION r3_again('true');
SELECT privacy.erase('r3e', '1') -> 'tables' AS with_nested_dry_run;
SELECT (SELECT count(*) FROM r3_ep) AS parents, (SELECT count(*) FROM r3_ec) AS children;
SELECT privacy.drop_subject('r3e');
DROP TABLE r3_ec, r3_ep;
DROP FUNCTION r3_again();
DROP EXTENSION privacy;
