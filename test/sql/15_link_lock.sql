-- link()'s race guard for any key type: a writer's trigger takes the
-- subject's advisory lock on the link column's value, erase must take the
-- same lock.  Both hash the value with its type's hash function, in the
-- column's collation.  Before, the trigger hashed the value's output text and
-- erase its cast to text, which differ for char(n) (trailing blanks), inet
-- (the netmask) and boolean ('true' against 't'); and output text depends on
-- the session: a timestamptz key written in one time zone and erased from
-- another, a numeric 1.00 erased as 1.0, a case-insensitive collation.  Each
-- gave two different locks: no guard.
CREATE EXTENSION privacy;
CREATE SCHEMA k;
CREATE TABLE k.people (code text PRIMARY KEY);
CREATE TABLE k.log (id int, code char(8));
CREATE TABLE k.hosts (addr inet PRIMARY KEY);
CREATE TABLE k.hlog (id int, addr inet);
CREATE TABLE k.flags (f boolean PRIMARY KEY);
CREATE TABLE k.flog (id int, f boolean);
CREATE TABLE k.moments (at timestamptz PRIMARY KEY);
CREATE TABLE k.mlog (id int, at timestamptz);
CREATE TABLE k.amounts (n numeric PRIMARY KEY);
CREATE TABLE k.alog (id int, n numeric);
CREATE COLLATION k.ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
CREATE TABLE k.handles (h text COLLATE k.ci PRIMARY KEY);
CREATE TABLE k.hdlog (id int, h text COLLATE k.ci);
INSERT INTO k.people VALUES ('abc');
INSERT INTO k.hosts VALUES ('10.0.0.1');
INSERT INTO k.flags VALUES (true);
INSERT INTO k.moments VALUES ('2026-01-01 00:00:00+00');
INSERT INTO k.amounts VALUES (1.00);
INSERT INTO k.handles VALUES ('Ann');
SET client_min_messages = warning;
SELECT privacy.define_subject('person', 'k.people');
SELECT privacy.define_subject('host', 'k.hosts');
SELECT privacy.define_subject('flag', 'k.flags');
SELECT privacy.link('person', 'k.log', 'code');
SELECT privacy.link('host', 'k.hlog', 'addr');
SELECT privacy.link('flag', 'k.flog', 'f');
SELECT privacy.define_subject('moment', 'k.moments');
SELECT privacy.link('moment', 'k.mlog', 'at');
SELECT privacy.define_subject('amount', 'k.amounts');
SELECT privacy.link('amount', 'k.alog', 'n');
SELECT privacy.define_subject('handle', 'k.handles');
SELECT privacy.link('handle', 'k.hdlog', 'h');
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

-- written in New York, erased from Tokyo
BEGIN;
SET LOCAL TimeZone = 'America/New_York';
INSERT INTO k.mlog VALUES (1, '2026-01-01 00:00:00+00');
SET LOCAL TimeZone = 'Asia/Tokyo';
SELECT privacy.erase('moment', '2026-01-01 09:00:00+09')->'tables' AS erased;
SELECT * FROM pg_temp.subject_locks('moment');
ROLLBACK;

-- 1.00 written, 1.0 erased
BEGIN;
INSERT INTO k.alog VALUES (1, 1.00);
SELECT privacy.erase('amount', '1.0')->'tables' AS erased;
SELECT * FROM pg_temp.subject_locks('amount');
ROLLBACK;

-- 'ANN' written, 'ann' erased, under a case-insensitive collation
BEGIN;
INSERT INTO k.hdlog VALUES (1, 'ANN');
SELECT privacy.erase('handle', 'ann')->'tables' AS erased;
SELECT * FROM pg_temp.subject_locks('handle');
ROLLBACK;

-- the conversion of the key to a linked column's type runs as that table's
-- owner: a domain CHECK of a role that owns only its table, erased by the
-- superuser, runs as that role in a security-restricted operation (in the
-- lock statement and everywhere else)
CREATE ROLE regress_link_owner;
GRANT USAGE ON SCHEMA k TO regress_link_owner;
GRANT CREATE ON SCHEMA k TO regress_link_owner;
SET ROLE regress_link_owner;
CREATE TABLE k.seen (who name, superuser boolean, restricted boolean);
GRANT INSERT ON k.seen TO PUBLIC;
CREATE FUNCTION k.spy(v text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	BEGIN
		PERFORM set_config('role', current_user, true);	-- refused in a security-restricted operation
		INSERT INTO k.seen VALUES (current_user, (SELECT rolsuper FROM pg_roles WHERE rolname = current_user), false);
	EXCEPTION WHEN insufficient_privilege THEN
		INSERT INTO k.seen VALUES (current_user, (SELECT rolsuper FROM pg_roles WHERE rolname = current_user), true);
	END;
	RETURN true;
END $$;
CREATE DOMAIN k.code AS text CHECK (k.spy(VALUE));
CREATE TABLE k.dlog (id int, code k.code);
RESET ROLE;
SET client_min_messages = warning;
SELECT privacy.link('person', 'k.dlog', 'code');
RESET client_min_messages;
SET ROLE regress_link_owner;
INSERT INTO k.dlog VALUES (1, 'abc');
DELETE FROM k.seen;
RESET ROLE;
BEGIN;
SELECT privacy.erase('person', 'abc')->'tables'->'k.dlog' AS erased;
SELECT who, superuser, restricted, count(*) > 0 AS ran FROM k.seen GROUP BY 1, 2, 3 ORDER BY 1, 2, 3;
ROLLBACK;

-- privacy._link_key_hash: the keyed hash erase's lock statement uses;
-- refused anywhere else (an oracle for the keys pg_locks shows: test 99d)
SELECT privacy._link_key_hash(NULL::int) IS NULL AS null_is_null;
DO $$ BEGIN PERFORM privacy._link_key_hash(1.0::numeric);
EXCEPTION WHEN OTHERS THEN RAISE NOTICE 'outside erase: %', SQLSTATE; END $$;
DO $$ BEGIN PERFORM privacy._link_key_hash('an untyped literal');
EXCEPTION WHEN OTHERS THEN RAISE NOTICE 'untyped argument: %', SQLSTATE; END $$;
-- privacy._link_key: a key as a link column's type, NULL when it has none
SELECT privacy._link_key(NULL::int, 70000::bigint) AS fits,
       privacy._link_key(NULL::smallint, 70000) IS NULL AS too_large,
       privacy._link_key(NULL::uuid, 'alice'::text) IS NULL AS no_uuid,
       privacy._link_key(NULL::int, 2.0) AS whole,
       privacy._link_key(NULL::int, 2.5) IS NULL AS not_whole,
       privacy._link_key(NULL::varchar(2), '123'::text) AS no_typmod,
       privacy._link_key(NULL::int, NULL::bigint) IS NULL AS null_is_null;
DO $$ BEGIN PERFORM privacy._link_key(NULL::int, 'an untyped literal');
EXCEPTION WHEN OTHERS THEN RAISE NOTICE 'untyped key: %', SQLSTATE; END $$;
DO $$ BEGIN PERFORM privacy._link_key(NULL, 1);
EXCEPTION WHEN OTHERS THEN RAISE NOTICE 'untyped target: %', SQLSTATE; END $$;

DROP SCHEMA k CASCADE;
DROP ROLE regress_link_owner;
DROP EXTENSION privacy;
