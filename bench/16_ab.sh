#!/usr/bin/env bash
# bench/16_ab.sh — A/B of two builds of the extension: did a change make the
# rights calls slower?  Not part of `make bench`.
#
# Needs two running clusters, each with its own private installation of one
# build (A: the base, B: the change), e.g. `bash test/lib.sh`-style installs
# of two git worktrees.  Each is described by an environment file exporting
# PATH (its bin first), PGHOST and PGPORT:
#   BENCH_A_ENV=/tmp/a.env BENCH_B_ENV=/tmp/b.env bash bench/16_ab.sh
# Both get the same data, in one database (BENCH_DB, default bench):
#   b200k10: the 10-row shape of bench/15_small.sh (20,000 customers, five
#            tables of 200,000 rows, subject customer_s10);
#   gl:      the 350-table map of bench/70_map.sh (users and four levels of
#            tables, 10-40 foreign-key paths per deep table), with
#            BENCH_GL_ROWS rows per table (default 500), subject gl.
# Measured, alternating A and B (ABBA order) for BENCH_ROUNDS rounds
# (default 4):
#   warm, pgbench -M prepared, one client, BENCH_SECONDS (default 10) each:
#     erase of one customer in BEGIN ... ROLLBACK, access of one customer;
#     latency and the backend's CPU per call (perf stat -e task-clock, root);
#   first call of a new session on gl (the map cache loaded by that call):
#     access and erase (rolled back) of one user, BENCH_FIRST (default 5)
#     new sessions each, the backend's CPU time for the call (utime + stime
#     from /proc/self/stat, 10 ms ticks, so reported as a mean) and its wall
#     time.  BENCH_WARM=0 measures these first calls only.
# One cluster can serve both sides (same data; for builds whose SQL objects
# are the same): give both the same environment file, and BENCH_A_SWITCH /
# BENCH_B_SWITCH, shell commands run before each measurement of that side
# (e.g. stop the cluster, put that build's privacy.so in place with install
# and mv, never cp over it: a running server maps the file and crashes, and
# start it); a warm-up run follows each switch.
# Prints, per measure, A and B: the mean and the range (min-max) over rounds.
set -euo pipefail
: "${BENCH_A_ENV:?environment file of build A}" "${BENCH_B_ENV:?environment file of build B}"
. "$(dirname "$0")/common.sh"
BENCH_ROUNDS=${BENCH_ROUNDS:-4}
BENCH_SECONDS=${BENCH_SECONDS:-10}
BENCH_FIRST=${BENCH_FIRST:-5}
GL_ROWS=${BENCH_GL_ROWS:-500}
N=20000

side() { # side A|B: point PATH/PGHOST/PGPORT at that build's cluster
	if [ "$1" = A ]; then . "$BENCH_A_ENV"; else . "$BENCH_B_ENV"; fi
}

build_gl() {
	if [ "$(bval "SELECT obj_description(to_regnamespace('gl'), 'pg_namespace')")" = "rows=$GL_ROWS" ]; then
		echo "data set gl: already built"
		return
	fi
	bpsql <<SQL
SET client_min_messages = warning;
DO \$\$ BEGIN
	IF EXISTS (SELECT FROM privacy.subject_types WHERE name = 'gl') THEN PERFORM privacy.drop_subject('gl'); END IF;
END \$\$;
SET session_replication_role = replica;
DROP SCHEMA IF EXISTS gl CASCADE;
CREATE SCHEMA gl;
SELECT setseed(0.17);
CREATE TABLE gl.users (id bigint PRIMARY KEY, name text);
INSERT INTO gl.users SELECT g, 'user ' || g FROM generate_series(1, 200) g;
CREATE TEMP TABLE shape (lvl int, n int, up int, usr int);
INSERT INTO shape VALUES (1, 60, 0, 3), (2, 120, 2, 2), (3, 120, 2, 1), (4, 50, 2, 0);
DO \$\$
DECLARE
	s record; i int; j int; cols text; sets text; prev int;
BEGIN
	FOR s IN SELECT * FROM shape ORDER BY lvl LOOP
		SELECT n INTO prev FROM shape WHERE lvl = s.lvl - 1;
		FOR i IN 1 .. s.n LOOP
			cols := ''; sets := '';
			FOR j IN 1 .. s.usr LOOP
				cols := cols || format(', u%s bigint REFERENCES gl.users', j);
				sets := sets || ', CASE WHEN random() < 0.7 THEN NULL ELSE 1 + floor(random() * 200)::int END';
			END LOOP;
			FOR j IN 1 .. s.up LOOP
				cols := cols || format(', p%s int REFERENCES gl.l%s_%s', j, s.lvl - 1, 1 + floor(random() * prev)::int);
				sets := sets || format(', CASE WHEN random() < 0.7 THEN NULL ELSE 1 + floor(random() * %s)::int END', $GL_ROWS);
			END LOOP;
			EXECUTE format('CREATE TABLE gl.l%s_%s (id int PRIMARY KEY%s, payload text)', s.lvl, i, cols);
			EXECUTE format('INSERT INTO gl.l%s_%s SELECT g%s, md5(g::text) FROM generate_series(1, %s) g',
			               s.lvl, i, sets, $GL_ROWS);
			COMMIT;
		END LOOP;
	END LOOP;
END \$\$;
DO \$\$
DECLARE c record;
BEGIN
	FOR c IN SELECT k.conrelid::regclass AS t, a.attname FROM pg_constraint k
	           JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1]
	          WHERE k.contype = 'f' AND k.connamespace = 'gl'::regnamespace LOOP
		EXECUTE format('CREATE INDEX ON %s (%I)', c.t, c.attname);
		COMMIT;
	END LOOP;
END \$\$;
RESET session_replication_role;
VACUUM ANALYZE;
SELECT privacy.define_subject('gl', 'gl.users');
COMMENT ON SCHEMA gl IS 'rows=$GL_ROWS';
SQL
}

for s in A B; do
	side $s
	echo "== $s: $(bval "SELECT extversion FROM pg_extension WHERE extname = 'privacy'") on port $PGPORT"
	bench_createdb
	bench_build b200k10 200000 customer_s10 10
	build_gl
done

HAVE_PERF=0
if command -v perf >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ] && perf stat -e task-clock true >/dev/null 2>&1; then
	HAVE_PERF=1
fi
script() { # script NAME TEXT: a pgbench script file
	local f="$BENCH_TMP/$1.sql"
	printf '%s\n' "$2" > "$f"
	chmod 644 "$f"
	echo "$f"
}
ERASE=$(script erase "\\set id random(1, $N)
BEGIN;
SELECT privacy.erase('customer_s10', :id::text);
ROLLBACK;")
ACCESS=$(script access "\\set id random(1, $N)
SELECT privacy.access('customer_s10', :id::text);")

# warm F: "latency_ms cpu_us" of one pgbench run (cpu n/a without perf)
warm() {
	local f=$1 app pid= util= lat cpu=n/a i
	app="bench16_${BASHPID}_$(date +%s%N)"
	as_pg env PGAPPNAME="$app" pgbench -n -M prepared -c 1 -j 1 -T "$BENCH_SECONDS" -f "$f" "$BENCH_DB" > "$f.out" 2>&1 &
	local bg=$!
	if [ $HAVE_PERF = 1 ]; then
		for ((i = 0; i < 400; i++)); do
			pid=$(bval "SELECT pid FROM pg_stat_activity WHERE application_name = '$app' AND query <> ''")
			[ -n "$pid" ] && break
			sleep 0.005
		done
		if [ -n "$pid" ]; then
			perf stat -x, -o "$f.perf" -e task-clock -p "$pid" >/dev/null 2>&1 || true
			util=$(awk -F, '/task-clock/ { print $6 }' "$f.perf" 2>/dev/null)
		fi
	fi
	wait $bg || { echo "n/a n/a"; return 0; }
	lat=$(sed -n 's/^latency average = \([0-9.]*\) ms/\1/p' "$f.out")
	if [[ ${util:-} =~ ^[0-9.]+$ && ${lat:-} =~ ^[0-9.]+$ ]]; then
		cpu=$(awk -v u="$util" -v l="$lat" 'BEGIN { printf "%.0f", u * l * 1000 }')
	fi
	echo "$lat $cpu"
}

# first EXPR: BENCH_FIRST new sessions, each one call (rolled back) as its
# first statement touching the map; prints "wall_ms cpu_ms", means
first() {
	local i out w=0 c=0
	for ((i = 0; i < BENCH_FIRST; i++)); do
		out=$(as_pg psql -X -At -v ON_ERROR_STOP=1 -d "$BENCH_DB" 2>&1 <<SQL
SET client_min_messages = warning;
DO \$\$
DECLARE t0 timestamptz; c0 bigint; u int := 1 + ($i * 37 + $RANDOM) % 200;
BEGIN
	c0 := (SELECT split_part(s, ' ', 14)::bigint + split_part(s, ' ', 15)::bigint FROM pg_read_file('/proc/self/stat') s);
	t0 := clock_timestamp();
	BEGIN
		PERFORM $1;
		RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = 'roll back';
	EXCEPTION WHEN raise_exception THEN NULL;
	END;
	RAISE WARNING 'T % %', extract(epoch FROM clock_timestamp() - t0) * 1000,
		((SELECT split_part(s, ' ', 14)::bigint + split_part(s, ' ', 15)::bigint FROM pg_read_file('/proc/self/stat') s) - c0)
		* 1000.0 / $(getconf CLK_TCK);
END \$\$;
SQL
)
		read -r a b < <(echo "$out" | sed -n 's/.*WARNING: *T //p')
		w=$(echo "$w + $a" | bc -l); c=$(echo "$c + $b" | bc -l)
	done
	awk -v w="$w" -v c="$c" -v n="$BENCH_FIRST" 'BEGIN { printf "%.1f %.1f\n", w / n, c / n }'
}

declare -A V	# V[measure,side] = space-separated values over rounds
add() { V["$1,$2"]="${V["$1,$2"]:-} $3"; }
measure() { # measure SIDE
	local s=$1 l c sw
	side "$s"
	sw="BENCH_${s}_SWITCH"
	if [ -n "${!sw:-}" ]; then eval "${!sw}"; warm "$ERASE" >/dev/null; fi
	if [ "${BENCH_WARM:-1}" != 0 ]; then
		read -r l c < <(warm "$ERASE"); add "erase warm ms" "$s" "$l"; add "erase warm CPU us" "$s" "$c"
		read -r l c < <(warm "$ACCESS"); add "access warm ms" "$s" "$l"; add "access warm CPU us" "$s" "$c"
	fi
	read -r l c < <(first "privacy.access('gl', u::text)"); add "gl first access ms" "$s" "$l"; add "gl first access CPU ms" "$s" "$c"
	read -r l c < <(first "privacy.erase('gl', u::text)"); add "gl first erase ms" "$s" "$l"; add "gl first erase CPU ms" "$s" "$c"
	echo "round $r $s done (load $(cut -d' ' -f1 /proc/loadavg))"
}

# warm-up, not measured
if [ "${BENCH_WARM:-1}" != 0 ]; then
	for s in A B; do side $s; warm "$ERASE" >/dev/null; warm "$ACCESS" >/dev/null; done
fi
for ((r = 1; r <= BENCH_ROUNDS; r++)); do
	if ((r % 2)); then measure A; measure B; else measure B; measure A; fi
done

echo
printf '%-24s %22s %22s %7s\n' measure "A mean (min-max)" "B mean (min-max)" "B/A"
for m in "erase warm ms" "erase warm CPU us" "access warm ms" "access warm CPU us" \
	"gl first access ms" "gl first access CPU ms" "gl first erase ms" "gl first erase CPU ms"; do
	awk -v m="$m" -v a="${V["$m,A"]:-}" -v b="${V["$m,B"]:-}" '
	function st(x, o,   X, n, i, s, k) { n = split(x, X, " "); s = k = 0; o["lo"] = 1e12; o["hi"] = -1
		for (i = 1; i <= n; i++) { if (X[i] !~ /^[0-9.]+$/) continue; s += X[i]; k++
			if (X[i] < o["lo"]) o["lo"] = X[i]; if (X[i] > o["hi"]) o["hi"] = X[i] }
		o["n"] = k; o["m"] = k ? s / k : 0 }
	BEGIN { st(a, A); st(b, B)
		if (A["n"] == 0 || B["n"] == 0) { printf "%-24s %22s %22s\n", m, "n/a", "n/a"; exit }
		printf "%-24s %8.3f (%.3f-%.3f) %8.3f (%.3f-%.3f) %6.2fx\n", m, A["m"], A["lo"], A["hi"], B["m"], B["lo"], B["hi"], B["m"] / A["m"] }'
done
echo "per round: A = ${BENCH_A_ENV}, B = ${BENCH_B_ENV}"
for k in "${!V[@]}"; do echo "  $k:${V[$k]}"; done | sort
