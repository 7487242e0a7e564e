#!/usr/bin/env bash
# bench/70_map.sh — issue 17: the data map at the scale of a real application.
#
# Data (generated, GitLab's shape): schema gl, users (200) and 350 tables in
# four levels (60 referencing users, 120 referencing level 1 and users, 120
# referencing level 2 and users, 50 referencing level 3 by two
# foreign keys), so that deep tables have 10-40 foreign-key paths to users;
# rows referencing random parents, a few thousand rows per user in all.
# Schema gk: 1,000 tables in ten levels, no rows (define / refresh).
# Measured in one run:
#   define_subject and refresh_subject on the 1,000 tables;
#   a CREATE TABLE's added cost: the same statement with the event triggers
#     (privacy) and without them (session_replication_role = replica);
#   access, erase (rolled back) and its dry run for one user: the first call
#     of a new session and warm calls (mean of 10, after 5 that settle the
#     plan cache), wall clock and the backend's CPU time;
#   rows found by access = rows of an independent walk (a fixed point over
#     pg_constraint written here), for every table.
set -euo pipefail
. "$(dirname "$0")/common.sh"

bench_createdb
bpsql <<'SQL'
SET client_min_messages = warning;
DO $$
BEGIN
	IF EXISTS (SELECT FROM privacy.subject_types WHERE name IN ('gl', 'gk')) THEN
		PERFORM privacy.drop_subject(name) FROM privacy.subject_types WHERE name IN ('gl', 'gk');
	END IF;
END $$;
SET session_replication_role = replica;
-- dropped in batches (one transaction would run out of lock slots)
DO $$
DECLARE
	t text;
	n int := 0;
BEGIN
	FOR t IN SELECT c.oid::regclass::text FROM pg_class c
	          WHERE c.relnamespace::regnamespace::text IN ('gl', 'gk') AND c.relkind IN ('r', 'p')
	          ORDER BY c.oid DESC LOOP
		EXECUTE 'DROP TABLE IF EXISTS ' || t || ' CASCADE';
		n := n + 1;
		IF n % 100 = 0 THEN
			COMMIT;
		END IF;
	END LOOP;
END $$;
DROP SCHEMA IF EXISTS gl CASCADE;
DROP SCHEMA IF EXISTS gk CASCADE;
CREATE SCHEMA gl;
CREATE SCHEMA gk;
SET session_replication_role = replica;  -- build without the event triggers
SELECT setseed(0.17);
CREATE TABLE gl.users (id bigint PRIMARY KEY, name text);
INSERT INTO gl.users SELECT g, 'user ' || g FROM generate_series(1, 200) g;
-- level, number of tables, FKs to the level above, FKs to users, rows
CREATE TEMP TABLE shape (lvl int, n int, up int, usr int, nrows int);
INSERT INTO shape VALUES (1, 60, 0, 3, 2000), (2, 120, 2, 2, 2000), (3, 120, 2, 1, 2000), (4, 50, 2, 0, 2000);
DO $$
DECLARE
	s record;
	i int;
	j int;
	cols text;
	sets text;
	prev int;
BEGIN
	FOR s IN SELECT * FROM shape ORDER BY lvl LOOP
		SELECT n INTO prev FROM shape WHERE lvl = s.lvl - 1;
		FOR i IN 1 .. s.n LOOP
			cols := ''; sets := '';
			FOR j IN 1 .. s.usr LOOP
				cols := cols || format(', u%s bigint REFERENCES gl.users', j);
				sets := sets || format(', CASE WHEN random() < 0.7 THEN NULL ELSE 1 + floor(random() * 200)::int END');
			END LOOP;
			FOR j IN 1 .. s.up LOOP
				cols := cols || format(', p%s int REFERENCES gl.l%s_%s', j, s.lvl - 1, 1 + floor(random() * prev)::int);
				sets := sets || format(', CASE WHEN random() < 0.7 THEN NULL ELSE 1 + floor(random() * %s)::int END', s.nrows);
			END LOOP;
			EXECUTE format('CREATE TABLE gl.l%s_%s (id int PRIMARY KEY%s, payload text)', s.lvl, i, cols);
			EXECUTE format('INSERT INTO gl.l%s_%s SELECT g%s, md5(g::text) FROM generate_series(1, %s) g',
			               s.lvl, i, sets, s.nrows);
			COMMIT;
		END LOOP;
	END LOOP;
END $$;
-- every foreign key column indexed, as in a real application
DO $$
DECLARE c record;
BEGIN
	FOR c IN SELECT k.conrelid::regclass AS t, a.attname FROM pg_constraint k
	           JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1]
	          WHERE k.contype = 'f' AND k.connamespace = 'gl'::regnamespace LOOP
		EXECUTE format('CREATE INDEX ON %s (%I)', c.t, c.attname);
		COMMIT;
	END LOOP;
END $$;
-- 1,000 tables in ten levels, each with two or three foreign keys
CREATE TABLE gk.users (id bigint PRIMARY KEY);
DO $$
DECLARE
	i int;
	j int;
	cols text;
BEGIN
	FOR i IN 1 .. 1000 LOOP
		cols := '';
		FOR j IN 1 .. 2 + (i % 2) LOOP
			IF i <= 100 OR random() < 0.2 THEN
				cols := cols || format(', u%s bigint REFERENCES gk.users', j);
			ELSE
				cols := cols || format(', p%s int REFERENCES gk.t%s', j, 1 + floor(random() * (i - 1))::int);
			END IF;
		END LOOP;
		EXECUTE format('CREATE TABLE gk.t%s (id int PRIMARY KEY%s)', i, cols);
		IF i % 100 = 0 THEN
			COMMIT;
		END IF;
	END LOOP;
END $$;
RESET session_replication_role;
VACUUM ANALYZE;
SQL

# paths per table, counted independently (simple paths, gl is acyclic)
paths=$(bval "WITH RECURSIVE e AS (SELECT conrelid AS c, confrelid AS p FROM pg_constraint
	WHERE contype = 'f' AND connamespace = 'gl'::regnamespace),
	w(t, n) AS (SELECT 'gl.users'::regclass::oid, 1::numeric UNION ALL SELECT e.c, w.n FROM w JOIN e ON e.p = w.t),
	s AS (SELECT t, sum(n) AS n FROM w GROUP BY t)
	SELECT format('%s tables; paths per table: max %s, tables with 10-40 paths %s, with more %s',
	  count(*), max(n), count(*) FILTER (WHERE n BETWEEN 10 AND 40), count(*) FILTER (WHERE n > 40)) FROM s")
echo "gl: $paths"

ms() { # ms 'SQL': milliseconds of one statement, in a new session
	as_pg psql -X -At -v ON_ERROR_STOP=1 -d "$BENCH_DB" -c "SET client_min_messages = warning" \
		-c "\\timing on" -c "$1" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -1
}

echo
echo "map of 1,000 tables (gk)"
printf '%-44s %10s\n' "define_subject('gk', 'gk.users')" "$(ms "SELECT privacy.define_subject('gk', 'gk.users')") ms"
printf '%-44s %10s\n' "refresh_subject('gk')" "$(ms "SELECT privacy.refresh_subject('gk')") ms"
echo "tables in the map: $(bval "SELECT count(*) FROM privacy.map WHERE subject = 'gk'")"
bpsql -c "SET client_min_messages = warning" -c "SELECT privacy.drop_subject('gk')" >/dev/null

echo
printf '%-44s %10s\n' "define_subject('gl', 'gl.users') (351 tables)" "$(ms "SELECT privacy.define_subject('gl', 'gl.users')") ms"
echo "tables in the map: $(bval "SELECT count(*) FROM privacy.map WHERE subject = 'gl'")"

# CREATE TABLE: with the event triggers vs without (replica role skips them)
echo
echo "CREATE TABLE, mean of 5 (ms): without event triggers / with privacy / added"
for kind in unrelated mapped; do
	a=0; b=0
	for i in 1 2 3 4 5; do
		if [ $kind = mapped ]; then ref=", u bigint REFERENCES gl.users"; else ref=""; fi
		t1=$(ms "SET session_replication_role = replica; CREATE TABLE gl.x_${kind}_r$i (id int PRIMARY KEY$ref)")
		t2=$(ms "CREATE TABLE gl.x_${kind}_p$i (id int PRIMARY KEY$ref)")
		a=$(echo "$a + $t1" | bc -l); b=$(echo "$b + $t2" | bc -l)
	done
	printf '%-10s %8.1f %8.1f %8.1f\n' "$kind" "$(echo "$a / 5" | bc -l)" "$(echo "$b / 5" | bc -l)" "$(echo "($b - $a) / 5" | bc -l)"
done
bpsql -c "SET client_min_messages = warning" -c "DO \$\$ DECLARE t text; BEGIN FOR t IN SELECT oid::regclass::text FROM pg_class WHERE relname LIKE 'x\\_%' AND relnamespace = 'gl'::regnamespace AND relkind = 'r' LOOP EXECUTE 'DROP TABLE ' || t; END LOOP; END \$\$"

# access and erase: first call of a new session, then warm (bench_timed in common.sh)
echo
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "one user (ms): first call of a session / warm wall (mean of 10, after 5 calls) / warm CPU"
r=$(bench_timed "privacy.access('gl', u::text)" 10 2>&1 | sed -n 's/.*WARNING: *//p')
printf '%-8s %8s %8s %8s\n' access $r
r=$(bench_timed "privacy.erase('gl', u::text)" 10 2>&1 | sed -n 's/.*WARNING: *//p')
printf '%-8s %8s %8s %8s\n' erase $r
r=$(bench_timed "privacy.erase('gl', u::text, dry_run => true)" 10 2>&1 | sed -n 's/.*WARNING: *//p')
printf '%-8s %8s %8s %8s\n' dry_run $r
# the floor of any first call: a hand-written statement over the same 350
# tables (each table's foreign-key columns = ANY of 10 keys, counted), in a new
# session, then repeated there (planned again each time: not prepared)
bval "SELECT 'SELECT ' || string_agg(format('(SELECT count(*) FROM %s t WHERE %s)', c.conrelid::regclass, c.conds), ', ')
	FROM (SELECT k.conrelid, string_agg(format('t.%I = ANY (''{1,2,3,4,5,6,7,8,9,10}'')', a.attname), ' OR ') AS conds
	        FROM pg_constraint k JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1]
	       WHERE k.contype = 'f' AND k.connamespace = 'gl'::regnamespace GROUP BY k.conrelid) c" > "$BENCH_TMP/hand.sql"
chmod 644 "$BENCH_TMP/hand.sql"
r=$(as_pg psql -X -At -d "$BENCH_DB" -c '\timing on' -f "$BENCH_TMP/hand.sql" -f "$BENCH_TMP/hand.sql" -f "$BENCH_TMP/hand.sql" |
	sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tr '\n' ' ')
printf '%-8s %s (hand-written, one statement over the 350 tables: first in a new session, then twice more)\n' reference "$r"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "rows of user 1: $(bval "SELECT sum(jsonb_array_length(value)) FROM jsonb_each(privacy.access('gl', '1')->'data')") in $(bval "SELECT count(*) FROM jsonb_each(privacy.access('gl', '1')->'data')") tables"

# the rows found equal an independent walk, for every table
mism=$(as_pg psql -X -At -v ON_ERROR_STOP=1 -d "$BENCH_DB" <<'SQL'
SET client_min_messages = warning;
CREATE TEMP TABLE reach (rel oid, tid tid);
DO $$
DECLARE
	c record;
	added bigint;
	total bigint;
BEGIN
	INSERT INTO reach SELECT 'gl.users'::regclass, u.ctid FROM gl.users u WHERE u.id = 1;
	LOOP
		total := 0;
		FOR c IN SELECT k.conrelid::regclass AS child, k.confrelid::regclass AS parent,
		                a.attname AS ccol, b.attname AS pcol
		           FROM pg_constraint k
		           JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1]
		           JOIN pg_attribute b ON b.attrelid = k.confrelid AND b.attnum = k.confkey[1]
		          WHERE k.contype = 'f' AND k.connamespace = 'gl'::regnamespace LOOP
			EXECUTE format('INSERT INTO reach SELECT %L::regclass, x.ctid FROM %s x WHERE x.%I IN'
			               ' (SELECT y.%I FROM %s y JOIN reach r ON r.rel = %L::regclass AND r.tid = y.ctid)'
			               ' AND NOT EXISTS (SELECT FROM reach r2 WHERE r2.rel = %L::regclass AND r2.tid = x.ctid)',
			               c.child, c.child, c.ccol, c.pcol, c.parent, c.parent, c.child);
			GET DIAGNOSTICS added = ROW_COUNT;
			total := total + added;
		END LOOP;
		EXIT WHEN total = 0;
	END LOOP;
END $$;
SELECT format('%s tables compared, %s rows, %s mismatches', count(*), sum(coalesce(w.n, 0)),
              count(*) FILTER (WHERE coalesce(w.n, 0) <> coalesce(jsonb_array_length(a.value), 0)))
  FROM (SELECT rel::regclass::text AS tbl, count(*) AS n FROM reach GROUP BY 1) w
  FULL JOIN jsonb_each(privacy.access('gl', '1')->'data') a ON a.key = w.tbl;
SQL
)
echo "independent walk, user 1: $mism"
