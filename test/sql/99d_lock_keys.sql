-- The advisory locks on a subject are keyed: pg_locks shows every advisory
-- lock's keys to every role, and an unkeyed hash of an id (hashtext('42'),
-- hashint8(42)) told anyone watching which person was being erased, or
-- whose rows a session was writing into a linked table. The keys are now
-- keyed with a secret random per server start; the function erase uses on
-- the linked tables' side, privacy._link_key_hash, answers only inside
-- erase's statement (anyone could hash the candidates with it).
CREATE EXTENSION privacy;
CREATE TABLE lk_customers (id bigint PRIMARY KEY, email text);
CREATE TABLE lk_events (id int PRIMARY KEY, customer bigint, what text);
CREATE INDEX ON lk_events (customer);
CREATE TABLE lk_tokens (id int PRIMARY KEY, customer text, what text);
CREATE INDEX ON lk_tokens (customer);
INSERT INTO lk_customers VALUES (42, 'a@example.org'), (43, 'b@example.org');
INSERT INTO lk_events VALUES (1, 42, 'x'), (2, 43, 'y');
INSERT INTO lk_tokens VALUES (1, '42', 'x');
SELECT privacy.define_subject('lk', 'lk_customers');
SELECT privacy.link('lk', 'lk_events', 'customer');
SELECT privacy.link('lk', 'lk_tokens', 'customer');
CREATE ROLE regress_lk_watcher;
-- the plain hashes of the id (the lock keys before), as pg_locks shows a key
CREATE TEMP TABLE lk_plain AS
SELECT CAST(CAST(h AS bigint) & 4294967295 AS oid) AS k
  FROM (VALUES (pg_catalog.hashtext('42')), (pg_catalog.hashint8(42)),
			   (CAST(pg_catalog.hashtext('42') AS integer))) v(h);

-- an erasure holds its locks until commit: what another role sees meanwhile
BEGIN;
SELECT privacy.erase('lk', '42', 'test') -> 'tables' ->> 'public.lk_events' AS events;
SELECT count(*) > 0 AS advisory_locks_held
  FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND objsubid = 2;
SELECT count(*) AS plain_hash_keys
  FROM pg_locks l JOIN lk_plain p ON l.objid = p.k
 WHERE l.locktype = 'advisory' AND l.pid = pg_backend_pid();
-- the subject type's map lock too (any role may take any advisory lock:
-- with a plain hashtext of the type's name it could hold every erasure of
-- the type off)
SELECT count(*) AS map_locks, count(*) FILTER (WHERE objid =
		CAST(CAST(pg_catalog.hashtext('lk') AS bigint) & 4294967295 AS oid)) AS plain_map_keys
  FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND objsubid = 2
   AND classid = CAST(CAST(pg_catalog.hashtext('privacy.map') AS bigint) & 4294967295 AS oid);
COMMIT;

-- a writer's shared lock on a linked table: no plain hash either
BEGIN;
INSERT INTO lk_events VALUES (3, 43, 'z');
SELECT count(*) AS writer_locks
  FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND objsubid = 2;
SELECT count(*) AS plain_43
  FROM pg_locks l
 WHERE l.locktype = 'advisory' AND l.pid = pg_backend_pid()
	AND l.objid = CAST(CAST(pg_catalog.hashint8(43) AS bigint) & 4294967295 AS oid);
COMMIT;

-- the keyed hash is no oracle: refused outside erase, for every role
\set VERBOSITY terse
SELECT privacy._link_key_hash(CAST(42 AS bigint));
SET ROLE regress_lk_watcher;
SELECT privacy._link_key_hash('42'::text);
RESET ROLE;
\set VERBOSITY default
-- and erase still takes its locks (a second erasure: nothing left of 42)
SELECT privacy.erase('lk', '42', 'again') -> 'tables' AS again;
SELECT count(*) AS events_left FROM lk_events WHERE customer = 42;

DROP ROLE regress_lk_watcher;
DROP TABLE lk_events, lk_tokens, lk_customers;
DROP EXTENSION privacy CASCADE;
