#!/usr/bin/env bash
# bench/72_partitions.sh — issue 17: the data map of a partition-heavy schema.
#
# GitLab has 94 partitioned tables with 2,297 partitions; bench/70_map.sh has
# none.  Data (generated, schema gp): users (200), 10 ordinary tables
# referencing users (o1..o10), 100 partitioned tables p1..p100 of 25 leaves
# each (2,500 leaves, 4 rows each), 8 ordinary tables referencing a
# partitioned table by its composite key (n1..n8).  Each partitioned table
# references users directly (u) or through an ordinary table (o, every third
# one), and its foreign key is declared
#   - on the partitioned table (p4, p8, ...: "parent"),
#   - on every partition (p1, p5, ...: "every", the old GitLab / pg_partman
#     style),
#   - on every partition but the three newest ones (p2, p6, ...: "some",
#     Pagila's style: the key is the partitioned table's),
#   - sub-partitioned: 5 list partitions by region of 5 daily partitions
#     each, the key on the partitioned table (p3, p11, ...) or on each of the
#     5 list partitions (p7, p15, ...: "sub").
# Partitioned by day (range) except every seventh table (list by kind).
# Measured in one run:
#   define_subject and refresh_subject (a new session each; refresh warm);
#   the added cost of the event triggers (the same statement with them and
#     without: session_replication_role = replica) of CREATE TABLE ...
#     PARTITION OF (a new daily partition of a mapped partitioned table: the
#     table's key inherited, a key of its own, no key), ALTER TABLE ...
#     ATTACH PARTITION, DETACH PARTITION and DROP TABLE of a partition, each
#     the first statement of a new session (a deploy runs each migration in a
#     new session; mean of 5) and in a warm session (mean of 5, after one
#     round that warms it);
#   access, erase (rolled back) of one user: first call of a new session, warm
#     calls (mean of 10 after 5), wall clock and the backend's CPU time;
#   rows found by access = an independent walk (a fixed point over
#     pg_constraint written here) for every table.
set -euo pipefail
. "$(dirname "$0")/common.sh"

bench_createdb
echo "building schema gp: 100 partitioned tables, 2,500 partitions ..."
t0=$(date +%s)
bpsql <<'SQL'
SET client_min_messages = warning;
DO $$
BEGIN
	IF EXISTS (SELECT FROM privacy.subject_types WHERE name = 'gp') THEN
		PERFORM privacy.drop_subject('gp');
	END IF;
END $$;
SET session_replication_role = replica;  -- drop and build without the event triggers
-- dropped in batches (one transaction would run out of lock slots)
DO $$
DECLARE
	t text;
	n int := 0;
BEGIN
	FOR t IN SELECT c.oid::regclass::text FROM pg_class c
	          WHERE c.relnamespace::regnamespace::text = 'gp' AND c.relkind IN ('r', 'p')
	            AND NOT c.relispartition
	          ORDER BY c.oid DESC LOOP
		EXECUTE 'DROP TABLE IF EXISTS ' || t || ' CASCADE';
		n := n + 1;
		IF n % 5 = 0 THEN
			COMMIT;
		END IF;
	END LOOP;
END $$;
DROP SCHEMA IF EXISTS gp CASCADE;
CREATE SCHEMA gp;
CREATE TABLE gp.users (id bigint PRIMARY KEY, name text);
INSERT INTO gp.users SELECT g, 'user ' || g FROM generate_series(1, 200) g;
DO $$
DECLARE
	i int;
BEGIN
	FOR i IN 1 .. 10 LOOP
		EXECUTE format('CREATE TABLE gp.o%s (id bigint PRIMARY KEY, u bigint REFERENCES gp.users, title text)', i);
		EXECUTE format('CREATE INDEX ON gp.o%s (u)', i);
		EXECUTE format('INSERT INTO gp.o%s SELECT g, 1 + (g * 7 + %s) %% 200, md5(g::text) FROM generate_series(1, 400) g', i, i);
	END LOOP;
END $$;
-- the partitioned tables
DO $$
DECLARE
	n int;
	k int;
	r int;
	style text;
	list bool;
	col text;
	ref text;
	fk text;
	part text;
BEGIN
	FOR n IN 1 .. 100 LOOP
		style := CASE n % 4 WHEN 0 THEN 'parent' WHEN 1 THEN 'every' WHEN 2 THEN 'some'
		                    ELSE CASE WHEN n % 8 = 3 THEN 'sub-parent' ELSE 'sub' END END;
		list := n % 7 = 0 AND style NOT LIKE 'sub%';
		IF n % 3 = 0 THEN
			col := 'o';
			ref := format('gp.o%s', 1 + n % 10);
		ELSE
			col := 'u';
			ref := 'gp.users';
		END IF;
		fk := format('FOREIGN KEY (%I) REFERENCES %s', col, ref);
		EXECUTE format('CREATE TABLE gp.p%s (id bigint NOT NULL, %I bigint, created date NOT NULL,'
		               ' kind int NOT NULL, region int NOT NULL, payload text%s) PARTITION BY %s',
		               n, col, CASE WHEN style IN ('parent', 'sub-parent') THEN ', ' || fk ELSE '' END,
		               CASE WHEN list THEN 'LIST (kind)' WHEN style LIKE 'sub%' THEN 'LIST (region)'
		                    ELSE 'RANGE (created)' END);
		EXECUTE format('ALTER TABLE gp.p%s ADD PRIMARY KEY (id, %s)', n,
		               CASE WHEN list THEN 'kind' WHEN style LIKE 'sub%' THEN 'region, created' ELSE 'created' END);
		EXECUTE format('CREATE INDEX ON gp.p%s (%I)', n, col);
		IF style LIKE 'sub%' THEN
			FOR r IN 1 .. 5 LOOP
				EXECUTE format('CREATE TABLE gp.p%s_r%s PARTITION OF gp.p%s %s FOR VALUES IN (%s) PARTITION BY RANGE (created)',
				               n, r, n, CASE WHEN style = 'sub' THEN '(' || fk || ')' ELSE '' END, r);
				FOR k IN 1 .. 5 LOOP
					EXECUTE format('CREATE TABLE gp.p%s_r%s_d%s PARTITION OF gp.p%s_r%s FOR VALUES FROM (%L) TO (%L)',
					               n, r, k, n, r, date '2026-01-01' + k - 1, date '2026-01-01' + k);
				END LOOP;
			END LOOP;
		ELSE
			FOR k IN 1 .. 25 LOOP
				part := CASE WHEN list THEN format('IN (%s)', k)
				             ELSE format('FROM (%L) TO (%L)', date '2026-01-01' + k - 1, date '2026-01-01' + k) END;
				EXECUTE format('CREATE TABLE gp.p%s_%s%s PARTITION OF gp.p%s %s FOR VALUES %s',
				               n, CASE WHEN list THEN 'k' ELSE 'd' END, k, n,
				               CASE WHEN style = 'every' OR (style = 'some' AND k <= 22) THEN '(' || fk || ')' ELSE '' END, part);
			END LOOP;
		END IF;
		-- 4 rows per leaf, a third of them without a key
		EXECUTE format('INSERT INTO gp.p%s SELECT g, CASE WHEN g %% 3 = 0 THEN NULL ELSE 1 + (g * 13 + %s) %% %s END,'
		               ' %L::date + %s, %s, 1 + (g / 5) %% 5, md5(g::text) FROM generate_series(0, 99) g',
		               n, n, CASE WHEN col = 'u' THEN 200 ELSE 400 END, date '2026-01-01',
		               CASE WHEN style LIKE 'sub%' THEN 'g % 5' WHEN list THEN '0' ELSE 'g % 25' END,
		               CASE WHEN list THEN '1 + g % 25' ELSE '1' END);
		COMMIT;
	END LOOP;
END $$;
-- ordinary tables referencing a partitioned table by its composite key
DO $$
DECLARE
	i int;
	p int;
BEGIN
	FOR i IN 1 .. 8 LOOP
		p := (ARRAY[4, 1, 2, 8, 5, 6, 12, 9])[i];  -- parent, every, some; range partitioned
		EXECUTE format('CREATE TABLE gp.n%s (id bigint PRIMARY KEY, p_id bigint, p_created date, body text,'
		               ' FOREIGN KEY (p_id, p_created) REFERENCES gp.p%s)', i, p);
		EXECUTE format('CREATE INDEX ON gp.n%s (p_id, p_created)', i);
		EXECUTE format('INSERT INTO gp.n%s SELECT g, x.id, x.created, md5(g::text)'
		               ' FROM (SELECT id, created, row_number() OVER (ORDER BY id) AS g FROM gp.p%s) x', i, p);
		COMMIT;
	END LOOP;
END $$;
RESET session_replication_role;
VACUUM ANALYZE;
SQL
echo "built gp in $(($(date +%s) - t0)) s: $(bval "SELECT format('%s partitioned tables, %s leaf partitions, %s foreign keys declared (%s on partitions)',
	count(*) FILTER (WHERE c.relkind = 'p' AND NOT c.relispartition),
	count(*) FILTER (WHERE c.relkind = 'r' AND c.relispartition),
	(SELECT count(*) FROM pg_constraint k WHERE k.contype = 'f' AND k.connamespace = 'gp'::regnamespace AND k.conparentid = 0),
	(SELECT count(*) FROM pg_constraint k JOIN pg_class r ON r.oid = k.conrelid
	  WHERE k.contype = 'f' AND k.connamespace = 'gp'::regnamespace AND k.conparentid = 0 AND r.relispartition))
	FROM pg_class c WHERE c.relnamespace = 'gp'::regnamespace")"

CPU="SELECT '@cpu', split_part(pg_read_file('/proc/self/schedstat'), ' ', 1)"
# wallcpu: "@cpu NS" (before), "Time: MS" (the statement), "@cpu NS" (after)
# in psql's output -> "wall_ms cpu_ms" (the backend's CPU time, which the
# load of other processes on a shared machine inflates less than the wall
# clock)
wallcpu() {
	awk -F'|' '/^@cpu/ { if (c0 == "") c0 = $2; else { printf "%s %.1f\n", w, ($2 - c0) / 1e6; c0 = "" } next }
		/^Time:/ { split($0, a, " "); w = a[2] }'
}
ms() { # ms ROLE 'SQL': "wall_ms cpu_ms" of one statement, the first of a new session
	as_pg psql -X -At -v ON_ERROR_STOP=1 -d "$BENCH_DB" -c "SET client_min_messages = warning" \
		-c "SET session_replication_role = $1" -c "$CPU" -c "\\timing on" -c "$2" -c "\\timing off" -c "$CPU" | wallcpu
}
avg() { awk '{ s += $1; n++ } END { if (n) printf "%.1f", s / n; else print "n/a" }'; }
sub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", a - b }'; }

echo
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "ms: wall clock / the backend's CPU time"
printf '%-48s %8s %8s\n' "define_subject('gp', 'gp.users'), new session" $(ms origin "SELECT privacy.define_subject('gp', 'gp.users')")
printf '%-48s %8s %8s\n' "refresh_subject('gp'), new session" $(ms origin "SELECT privacy.refresh_subject('gp')")
f="$BENCH_TMP/refresh.sql"
{
	echo "SELECT privacy.refresh_subject('gp');"
	for i in 1 2 3 4 5; do
		printf '%s;\n\\timing on\nSELECT privacy.refresh_subject(%s);\n\\timing off\n%s;\n' "$CPU" "'gp'" "$CPU"
	done
} > "$f"
chmod 644 "$f"
r=$(as_pg psql -X -At -v ON_ERROR_STOP=1 -d "$BENCH_DB" -f "$f" | wallcpu | awk '{ w += $1; c += $2 } END { printf "%.1f %.1f", w / NR, c / NR }')
printf '%-48s %8s %8s\n' "refresh_subject('gp'), warm (mean of 5)" $r
echo "tables in the map: $(bval "SELECT format('%s (%s partitioned, %s partitions mapped by themselves)', count(*),
	count(*) FILTER (WHERE k.relkind = 'p'), count(*) FILTER (WHERE k.relispartition))
	FROM privacy.map m JOIN pg_class k ON k.oid = m.table_name::oid WHERE m.subject = 'gp'")"

# The DDL of one round, as lines "tag<TAB>statement"; $1 = a suffix, $2 = a
# day number (each round adds partitions for days of its own).  p16: key on
# the partitioned table; p5: keys on every partition; p9 ("every") loses
# its key on the new partition.
round() {
	local s=$1 d=$2 day next
	day=$(date -d "2026-01-01 + $d days" +%F)
	next=$(date -d "2026-01-01 + $((d + 1)) days" +%F)
	printf 'create_inherited\tCREATE TABLE gp.p16_x%s PARTITION OF gp.p16 FOR VALUES FROM (%s) TO (%s)\n' "$s" "'$day'" "'$next'"
	printf 'create_own_key\tCREATE TABLE gp.p5_x%s PARTITION OF gp.p5 (FOREIGN KEY (u) REFERENCES gp.users) FOR VALUES FROM (%s) TO (%s)\n' "$s" "'$day'" "'$next'"
	printf 'create_no_key\tCREATE TABLE gp.p9_x%s PARTITION OF gp.p9 FOR VALUES FROM (%s) TO (%s)\n' "$s" "'$day'" "'$next'"
	printf 'attach\tALTER TABLE gp.p16 ATTACH PARTITION gp.p16_a%s FOR VALUES FROM (%s) TO (%s)\n' "$s" "'$(date -d "2026-01-01 + $((d + 500)) days" +%F)'" "'$(date -d "2026-01-01 + $((d + 501)) days" +%F)'"
	printf 'detach\tALTER TABLE gp.p16 DETACH PARTITION gp.p16_a%s\n' "$s"
	printf 'drop\tDROP TABLE gp.p16_x%s\n' "$s"
}
# the tables a round attaches: made beforehand, without the event triggers
prepare() {
	bpsql -c "SET session_replication_role = replica" \
		-c "CREATE TABLE gp.p16_a$1 (LIKE gp.p16 INCLUDING ALL)" \
		-c "INSERT INTO gp.p16_a$1 (id, u, created, kind, region) VALUES (1, 1, date '2026-01-01' + $(($2 + 500)), 1, 1)"
}
DDL_TAGS="create_inherited create_own_key create_no_key attach detach drop"
declare -A NEW_R NEW_P WARM_R WARM_P

# a new session per statement: 5 rounds without the event triggers and 5
# with them, alternating
for i in 1 2 3 4 5; do
	for role in replica origin; do
		s="${role:0:1}$i"; d=$((30 + i * 2 + (${#role} == 7 ? 0 : 1)))
		prepare "$s" "$d"
		while IFS=$'\t' read -r tag stmt; do
			t=$(ms "$role" "$stmt" | tr ' ' ':')
			if [ "$role" = replica ]; then NEW_R[$tag]+="$t "; else NEW_P[$tag]+="$t "; fi
		done < <(round "$s" "$d")
	done
done

# warm: one session per side, a round that warms it, then 5 timed rounds
for role in replica origin; do
	f="$BENCH_TMP/warm_$role.sql"
	: > "$f"
	for i in 0 1 2 3 4 5; do
		s="w${role:0:1}$i"; d=$((60 + i * 2 + (${#role} == 7 ? 0 : 1)))
		prepare "$s" "$d"
		while IFS=$'\t' read -r tag stmt; do
			printf '\\echo @%s %s\n%s;\n\\timing on\n%s;\n\\timing off\n%s;\n' "$i" "$tag" "$CPU" "$stmt" "$CPU" >> "$f"
		done < <(round "$s" "$d")
	done
	chmod 644 "$f"
	while read -r i tag t c; do
		[ "$i" = 0 ] && continue
		if [ "$role" = replica ]; then WARM_R[$tag]+="$t:$c "; else WARM_P[$tag]+="$t:$c "; fi
	done < <(as_pg psql -X -At -v ON_ERROR_STOP=1 -d "$BENCH_DB" -c "SET client_min_messages = warning" \
		-c "SET session_replication_role = $role" -f "$f" |
		awk -F'|' '/^@cpu/ { if (c0 == "") c0 = $2; else { printf "%s %s %.1f\n", tag, w, ($2 - c0) / 1e6; c0 = "" } next }
			/^@/ { split($0, a, " "); tag = substr(a[1], 2) " " a[2]; next }
			/^Time:/ { split($0, a, " "); w = a[2] }')
done

echo
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "partition DDL (ms, mean of 5): event triggers off (session_replication_role = replica) / on / added cost;"
echo "wall clock, then the backend's CPU time"
printf '%-17s %-35s %-35s\n' "" "first statement of a new session" "warm session"
printf '%-17s %-17s %-17s %-17s %-17s\n' "" "wall" "CPU" "wall" "CPU"
printf '%-17s%s\n' "" "$(for i in 1 2 3 4; do printf ' %5s %5s %5s' off on added; done)"
# col LIST FIELD: the mean of field 1 (wall) or 2 (CPU) of "wall:cpu" items
col() { echo "$1" | tr ' ' '\n' | grep . | cut -d: -f"$2" | avg; }
for tag in $DDL_TAGS; do
	line=$(printf '%-17s' "$tag")
	for side in NEW WARM; do
		for fld in 1 2; do
			eval "a=\${${side}_R[\$tag]}; b=\${${side}_P[\$tag]}"
			x=$(col "$a" $fld); y=$(col "$b" $fld)
			line+=$(printf ' %5s %5s %5s' "$x" "$y" "$(sub "$y" "$x")")
		done
	done
	echo "$line"
done

# the partitions and tables of the DDL above go, with the event triggers
bpsql -c "SET client_min_messages = warning" -c "DO \$\$ DECLARE t text; BEGIN
	FOR t IN SELECT oid::regclass::text FROM pg_class WHERE relnamespace = 'gp'::regnamespace AND relkind = 'r'
	           AND (relname ~ '^p[0-9]+_[xa][a-z]+[0-9]+\$') LOOP
		IF (SELECT relispartition FROM pg_class WHERE oid = t::regclass) THEN
			EXECUTE format('ALTER TABLE %s DETACH PARTITION %s', pg_partition_root(t::regclass)::regclass, t);
		END IF;
		EXECUTE 'DROP TABLE ' || t;
	END LOOP; END \$\$"
echo "after the DDL, the map equals a fresh walk: $(as_pg psql -X -At -v ON_ERROR_STOP=1 -d "$BENCH_DB" \
	-c "CREATE TEMP TABLE before AS SELECT table_name::oid AS t, paths::text AS p FROM privacy.map WHERE subject = 'gp'" \
	-c "SELECT privacy.refresh_subject('gp')" \
	-c "SELECT count(*) = 0 FROM before b FULL JOIN (SELECT table_name::oid AS t, paths::text AS p FROM privacy.map
	     WHERE subject = 'gp') a USING (t) WHERE b.p IS DISTINCT FROM a.p" | tail -1)"

# access and erase: first call of a new session, then warm (bench_timed in common.sh)
echo
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "one user (ms): first call of a session / warm wall (mean of 10, after 5 calls) / warm CPU"
r=$(bench_timed "privacy.access('gp', u::text)" 10 2>&1 | sed -n 's/.*WARNING: *//p')
printf '%-8s %8s %8s %8s\n' access $r
r=$(bench_timed "privacy.erase('gp', u::text)" 10 2>&1 | sed -n 's/.*WARNING: *//p')
printf '%-8s %8s %8s %8s\n' erase $r
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"

# The rows found equal an independent walk, for every table: a fixed point
# over the foreign keys of pg_constraint, rows known by (tableoid, ctid), a
# key declared on partitions read as the partitioned table's (in this schema
# no leaf keys those columns otherwise), counted per partition root.
mism=$(as_pg psql -X -q -At -v ON_ERROR_STOP=1 -d "$BENCH_DB" <<'SQL'
SET client_min_messages = warning;
CREATE TEMP TABLE reach (rel oid, tid tid);
DO $$
DECLARE
	c record;
	added bigint;
	total bigint;
BEGIN
	INSERT INTO reach SELECT u.tableoid, u.ctid FROM gp.users u WHERE u.id = 1;
	LOOP
		total := 0;
		FOR c IN SELECT DISTINCT coalesce(pg_partition_root(k.conrelid), k.conrelid)::regclass AS child,
		                k.confrelid::regclass AS parent, a.attname AS ccol, b.attname AS pcol
		           FROM pg_constraint k
		           JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1]
		           JOIN pg_attribute b ON b.attrelid = k.confrelid AND b.attnum = k.confkey[1]
		          WHERE k.contype = 'f' AND k.conparentid = 0 AND k.connamespace = 'gp'::regnamespace LOOP
			EXECUTE format('INSERT INTO reach SELECT x.tableoid, x.ctid FROM %s x WHERE x.%I IN'
			               ' (SELECT y.%I FROM %s y JOIN reach r ON r.rel = y.tableoid AND r.tid = y.ctid)'
			               ' AND NOT EXISTS (SELECT FROM reach r2 WHERE r2.rel = x.tableoid AND r2.tid = x.ctid)',
			               c.child, c.ccol, c.pcol, c.parent);
			GET DIAGNOSTICS added = ROW_COUNT;
			total := total + added;
		END LOOP;
		EXIT WHEN total = 0;
	END LOOP;
END $$;
SELECT format('%s tables compared, %s rows, %s mismatches', count(*), sum(coalesce(w.n, 0)),
              count(*) FILTER (WHERE coalesce(w.n, 0) <> coalesce(jsonb_array_length(a.value), 0)))
  FROM (SELECT coalesce(pg_partition_root(rel), rel)::regclass::text AS tbl, count(*) AS n FROM reach GROUP BY 1) w
  FULL JOIN jsonb_each(privacy.access('gp', '1')->'data') a ON a.key = w.tbl;
SQL
)
echo "independent walk, user 1: $mism"
