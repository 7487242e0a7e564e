-- Per-call key sets (issue 17, performance): access and erase compute the
-- key sets of a call level by level, the tables of one owner and one level
-- in one statement (a composite key, a cycle read one by one); erase locks
-- each table's rows as it reads its set and then finds every row through
-- the sets; shared rows are counted per edge over the shared rows of the
-- tables above (acyclic maps) or per path (a cycle).  Tables of two owners
-- at the same levels, a composite foreign key, rows shared between users;
-- every count is checked against an independent query written here (which
-- users each row reaches, by hand for this schema).
CREATE EXTENSION privacy;
SET client_min_messages = warning;
SET jit = off;  -- the oracle below is planned above jit_above_cost
CREATE ROLE map17_a NOLOGIN;
CREATE ROLE map17_b NOLOGIN;
CREATE SCHEMA m17;
GRANT USAGE ON SCHEMA m17 TO map17_a, map17_b;
CREATE TABLE m17.users (id int PRIMARY KEY, name text);
CREATE TABLE m17.a1 (id int PRIMARY KEY, tag int NOT NULL, u int REFERENCES m17.users, UNIQUE (id, tag));
CREATE TABLE m17.b1 (id int PRIMARY KEY, u1 int REFERENCES m17.users, u2 int REFERENCES m17.users);
CREATE TABLE m17.c2 (id int PRIMARY KEY, a int REFERENCES m17.a1, b int REFERENCES m17.b1,
	u int REFERENCES m17.users);
CREATE TABLE m17.d2 (id int PRIMARY KEY, a_id int, a_tag int, b int REFERENCES m17.b1,
	FOREIGN KEY (a_id, a_tag) REFERENCES m17.a1 (id, tag));
CREATE TABLE m17.e3 (id int PRIMARY KEY, c int REFERENCES m17.c2, d int REFERENCES m17.d2,
	parent int);
-- rows referencing random rows of the level above (and users), some NULL
SELECT setseed(0.171);
INSERT INTO m17.users SELECT g, 'user ' || g FROM generate_series(1, 6) g;
INSERT INTO m17.a1 SELECT g, g % 3, CASE WHEN random() < 0.2 THEN NULL ELSE 1 + floor(random() * 6) END
  FROM generate_series(1, 40) g;
INSERT INTO m17.b1 SELECT g, CASE WHEN random() < 0.3 THEN NULL ELSE 1 + floor(random() * 6) END,
	CASE WHEN random() < 0.5 THEN NULL ELSE 1 + floor(random() * 6) END
  FROM generate_series(1, 40) g;
INSERT INTO m17.c2 SELECT g, CASE WHEN random() < 0.3 THEN NULL ELSE 1 + floor(random() * 40) END,
	CASE WHEN random() < 0.3 THEN NULL ELSE 1 + floor(random() * 40) END,
	CASE WHEN random() < 0.7 THEN NULL ELSE 1 + floor(random() * 6) END
  FROM generate_series(1, 80) g;
INSERT INTO m17.d2 SELECT g, a, a % 3, CASE WHEN random() < 0.3 THEN NULL ELSE 1 + floor(random() * 40) END
  FROM (SELECT g, CASE WHEN random() < 0.3 THEN NULL ELSE 1 + floor(random() * 40)::int END AS a
          FROM generate_series(1, 80) g) s;
INSERT INTO m17.e3 SELECT g, CASE WHEN random() < 0.4 THEN NULL ELSE 1 + floor(random() * 80) END,
	CASE WHEN random() < 0.4 THEN NULL ELSE 1 + floor(random() * 80) END,
	CASE WHEN g > 10 AND random() < 0.3 THEN 1 + floor(random() * (g - 1)) END
  FROM generate_series(1, 120) g;
-- two owners at each level
GRANT ALL ON ALL TABLES IN SCHEMA m17 TO map17_a, map17_b;
ALTER TABLE m17.a1 OWNER TO map17_a;
ALTER TABLE m17.c2 OWNER TO map17_a;
ALTER TABLE m17.b1 OWNER TO map17_b;
ALTER TABLE m17.d2 OWNER TO map17_b;
ALTER TABLE m17.e3 OWNER TO map17_b;
SELECT privacy.define_subject('m17', 'm17.users') IS NOT NULL AS defined;

-- the oracle: the users each row reaches (the self-reference of e3 is not a
-- foreign key yet)
CREATE TEMP VIEW reach AS
WITH a1 AS (SELECT ctid AS r, id, tag, array_remove(ARRAY[u], NULL) AS us FROM m17.a1),
     b1 AS (SELECT ctid AS r, id, array_remove(ARRAY[u1, u2], NULL) AS us FROM m17.b1),
     c2 AS (SELECT c.ctid AS r, c.id, coalesce(a1.us, '{}') || coalesce(b1.us, '{}') || array_remove(ARRAY[c.u], NULL) AS us
              FROM m17.c2 c LEFT JOIN a1 ON a1.id = c.a LEFT JOIN b1 ON b1.id = c.b),
     d2 AS (SELECT d.ctid AS r, d.id, coalesce(a1.us, '{}') || coalesce(b1.us, '{}') AS us
              FROM m17.d2 d LEFT JOIN a1 ON (a1.id, a1.tag) = (d.a_id, d.a_tag) LEFT JOIN b1 ON b1.id = d.b),
     e3 AS (SELECT e.ctid AS r, e.id, coalesce(c2.us, '{}') || coalesce(d2.us, '{}') AS us
              FROM m17.e3 e LEFT JOIN c2 ON c2.id = e.c LEFT JOIN d2 ON d2.id = e.d)
SELECT 'm17.users' AS tbl, ARRAY[id] AS us FROM m17.users
UNION ALL SELECT 'm17.a1', us FROM a1 UNION ALL SELECT 'm17.b1', us FROM b1
UNION ALL SELECT 'm17.c2', us FROM c2 UNION ALL SELECT 'm17.d2', us FROM d2
UNION ALL SELECT 'm17.e3', us FROM e3;

-- check(u): per table, rows of user u found by access, deleted and shared
-- in the dry run, against the oracle; returns the mismatches
CREATE FUNCTION pg_temp.check(u int) RETURNS TABLE (tbl text, oracle_rows bigint, oracle_shared bigint,
	accessed int, deleted int, shared int)
LANGUAGE sql AS $$
	WITH o AS (SELECT r.tbl, count(*) FILTER (WHERE u = ANY (r.us)) AS n,
	                  count(*) FILTER (WHERE u = ANY (r.us) AND EXISTS (SELECT FROM unnest(r.us) x WHERE x <> u)) AS s
	             FROM reach r GROUP BY r.tbl),
	     acc AS (SELECT privacy.access('m17', u::text) AS a),
	     dry AS (SELECT privacy.erase('m17', u::text, dry_run => true) AS d)
	SELECT o.tbl, o.n, o.s,
	       coalesce(jsonb_array_length(acc.a->'data'->o.tbl), 0),
	       coalesce((dry.d->'tables'->o.tbl->>'deleted')::int, 0),
	       coalesce((dry.d->'shared'->>o.tbl)::int, 0)
	  FROM o, acc, dry
	 WHERE o.n <> coalesce(jsonb_array_length(acc.a->'data'->o.tbl), 0)
	    OR o.n <> coalesce((dry.d->'tables'->o.tbl->>'deleted')::int, 0)
	    OR (o.tbl <> 'm17.users' AND o.s <> coalesce((dry.d->'shared'->>o.tbl)::int, 0))
$$;

-- the oracle finds rows and shared rows in every table
SELECT tbl, count(*) FILTER (WHERE 1 = ANY (us)) AS rows_of_1,
       count(*) FILTER (WHERE 1 = ANY (us) AND EXISTS (SELECT FROM unnest(us) x WHERE x <> 1)) AS shared_of_1
  FROM reach GROUP BY tbl ORDER BY tbl;
-- acyclic map: no mismatch for any user, twice (kept plans)
SELECT u, count(c.*) AS mismatches FROM generate_series(1, 6) u LEFT JOIN LATERAL pg_temp.check(u) c ON true
 GROUP BY u ORDER BY u;
SELECT u, count(c.*) AS mismatches FROM generate_series(1, 6) u LEFT JOIN LATERAL pg_temp.check(u) c ON true
 GROUP BY u ORDER BY u;

-- erase user 2: exactly its rows go, every other row stays
CREATE TEMP TABLE before AS SELECT tbl, count(*) AS n, count(*) FILTER (WHERE 2 = ANY (us)) AS mine
  FROM reach GROUP BY tbl;
BEGIN;
SELECT sum((v->>'deleted')::int) = (SELECT sum(mine) FROM before) AS receipt_counts_its_rows
  FROM jsonb_each(privacy.erase('m17', '2')->'tables') e(k, v);
SELECT b.tbl, b.n - b.mine AS expected, count(r.*) AS left_rows,
       count(r.*) FILTER (WHERE 2 = ANY (r.us)) AS left_of_2
  FROM before b LEFT JOIN reach r USING (tbl) GROUP BY b.tbl, b.n, b.mine
 HAVING count(r.*) <> b.n - b.mine OR count(r.*) FILTER (WHERE 2 = ANY (r.us)) > 0;
ROLLBACK;

-- a cycle: e3 references itself (the map is refreshed by the DDL); its key
-- set is read to a fixed point, shared rows are told per path
ALTER TABLE m17.e3 ADD FOREIGN KEY (parent) REFERENCES m17.e3;
-- rows of user u in e3 with the self-reference: a row is the user's when
-- its c or d row is, or its parent is (to a fixed point)
CREATE FUNCTION pg_temp.e3_rows(u int) RETURNS bigint LANGUAGE sql AS $$
	WITH RECURSIVE c2 AS (SELECT id FROM m17.c2 c WHERE c.u = $1
	                         OR c.a IN (SELECT id FROM m17.a1 WHERE a1.u = $1)
	                         OR c.b IN (SELECT id FROM m17.b1 WHERE $1 IN (b1.u1, b1.u2))),
	     d2 AS (SELECT id FROM m17.d2 d WHERE (d.a_id, d.a_tag) IN (SELECT id, tag FROM m17.a1 WHERE a1.u = $1)
	                         OR d.b IN (SELECT id FROM m17.b1 WHERE $1 IN (b1.u1, b1.u2))),
	     mine(id) AS (SELECT id FROM m17.e3 WHERE c IN (SELECT id FROM c2) OR d IN (SELECT id FROM d2)
	                  UNION SELECT e.id FROM m17.e3 e JOIN mine m ON e.parent = m.id)
	SELECT count(*) FROM mine
$$;
SELECT u, pg_temp.e3_rows(u) = coalesce(jsonb_array_length(privacy.access('m17', u::text)->'data'->'m17.e3'), 0) AS access_equal,
       pg_temp.e3_rows(u) = (privacy.erase('m17', u::text, dry_run => true)->'tables'->'m17.e3'->>'deleted')::int AS dry_run_equal,
       pg_temp.e3_rows(u) > (SELECT count(*) FROM reach WHERE tbl = 'm17.e3' AND u = ANY (us)) AS more_than_without_cycle
  FROM generate_series(1, 6) u ORDER BY u;
SELECT pg_temp.e3_rows(3) AS e3_of_3, (SELECT count(*) FROM m17.e3) AS e3_all \gset
BEGIN;
SELECT (privacy.erase('m17', '3')->'tables'->'m17.e3'->>'deleted')::int = :e3_of_3 AS e3_deleted;
SELECT pg_temp.e3_rows(3) AS e3_left_of_3, (SELECT count(*) FROM m17.e3) = :e3_all - :e3_of_3 AS others_stay;
ROLLBACK;

-- a schema renamed: the statements compiled in this session follow it
SELECT count(*) AS tables_before FROM jsonb_each(privacy.access('m17', '3')->'data');
ALTER SCHEMA m17 RENAME TO m17r;
SELECT count(*) AS tables_after_rename FROM jsonb_each(privacy.access('m17', '3')->'data');
SELECT (privacy.erase('m17', '3', dry_run => true)->'tables') ? 'm17r.e3' AS erase_follows;
ALTER SCHEMA m17r RENAME TO m17;

SELECT privacy.drop_subject('m17');
DROP SCHEMA m17 CASCADE;
DROP ROLE map17_a;
DROP ROLE map17_b;
DROP EXTENSION privacy;
