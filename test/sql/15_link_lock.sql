-- link()'s race guard for any key type: a writer's trigger takes the
-- subject's advisory lock on the link column's text as its type's output
-- function writes it; erase must take the same lock.  Before, erase used the
-- cast to text, which differs for char(n) (trailing blanks), inet (the
-- netmask) and boolean ('true' against 't'): two different locks, no guard.
CREATE EXTENSION privacy;
CREATE SCHEMA k;
CREATE TABLE k.people (code text PRIMARY KEY);
CREATE TABLE k.log (id int, code char(8));
CREATE TABLE k.hosts (addr inet PRIMARY KEY);
CREATE TABLE k.hlog (id int, addr inet);
CREATE TABLE k.flags (f boolean PRIMARY KEY);
CREATE TABLE k.flog (id int, f boolean);
INSERT INTO k.people VALUES ('abc');
INSERT INTO k.hosts VALUES ('10.0.0.1');
INSERT INTO k.flags VALUES (true);
SET client_min_messages = warning;
SELECT privacy.define_subject('person', 'k.people');
SELECT privacy.define_subject('host', 'k.hosts');
SELECT privacy.define_subject('flag', 'k.flags');
SELECT privacy.link('person', 'k.log', 'code');
SELECT privacy.link('host', 'k.hlog', 'addr');
SELECT privacy.link('flag', 'k.flog', 'f');
RESET client_min_messages;

-- the advisory locks of subject type s held by this session: lock tags and modes
CREATE FUNCTION pg_temp.subject_locks(s text, OUT tags bigint, OUT modes text) LANGUAGE sql AS $$
	SELECT count(DISTINCT l.objid), string_agg(DISTINCT l.mode, ', ')
	  FROM pg_locks l
	 WHERE l.locktype = 'advisory' AND l.pid = pg_backend_pid() AND l.objsubid = 2
	   AND l.classid = ((hashtext(s COLLATE "C")::bigint + 4294967296) % 4294967296)::text::oid $$;

-- a row written for the person, then the erasure, in one transaction: the
-- writer's shared lock and the erasure's exclusive lock are one lock tag
BEGIN;
INSERT INTO k.log VALUES (1, 'abc');
SELECT * FROM pg_temp.subject_locks('person');
SELECT privacy.erase('person', 'abc')->'tables' AS erased;
SELECT * FROM pg_temp.subject_locks('person');
ROLLBACK;

BEGIN;
INSERT INTO k.hlog VALUES (1, '10.0.0.1');
SELECT privacy.erase('host', '10.0.0.1')->'tables' AS erased;
SELECT * FROM pg_temp.subject_locks('host');
ROLLBACK;

BEGIN;
INSERT INTO k.flog VALUES (1, true);
SELECT privacy.erase('flag', 'true')->'tables' AS erased;
SELECT * FROM pg_temp.subject_locks('flag');
ROLLBACK;

DROP SCHEMA k CASCADE;
DROP EXTENSION privacy;
