# bench/common.sh — shared by bench/NN_*.sh (sourced).
#
# Builds the benchmark data set: a root table of customers and five tables of
# their rows (four with a foreign key to the root, one linked without a
# foreign key), ~50 rows per customer, every link column indexed; defines the
# subject in privacy when the extension provides it; runs pgbench and prints
# figures.  Expects the environment of `make bench` (bench/run.sh): PGHOST,
# PGPORT and PATH pointing at the private installation.
#
# Settings (environment):
#   BENCH_DB       database (default bench)
#   BENCH_SECONDS  duration of each timed pgbench run (default 15)
#   BENCH_BIG=1    also build 10M rows per table for the erase size test
#                  (about 50M rows, several minutes and ~8 GB of disk)

. "$(dirname "${BASH_SOURCE[0]}")/../test/lib.sh"

BENCH_DB=${BENCH_DB:-bench}
BENCH_SECONDS=${BENCH_SECONDS:-15}
BENCH_TMP=$(mktemp -d /tmp/privacy-bench.XXXXXX)
chmod 755 "$BENCH_TMP"
trap 'rm -rf "$BENCH_TMP"' EXIT

# psql on the bench database, quiet, stop on error
bpsql() {
	as_pg psql -X -q -v ON_ERROR_STOP=1 -d "$BENCH_DB" "$@"
}

# one value from a query
bval() {
	as_pg psql -X -At -v ON_ERROR_STOP=1 -d "$BENCH_DB" -c "$1"
}

bench_createdb() {
	if ! as_pg psql -X -At -d postgres -c "SELECT 1 FROM pg_database WHERE datname = '$BENCH_DB'" | grep -q 1; then
		as_pg createdb "$BENCH_DB"
	fi
	bpsql -c "SET client_min_messages = warning" -c "CREATE EXTENSION IF NOT EXISTS privacy"
}

# has_fn 'privacy.access(text,text)': true when the function exists
has_fn() {
	[ "$(bval "SELECT to_regprocedure('$1') IS NOT NULL")" = t ]
}

# bench_build SCHEMA ROWS_PER_TABLE SUBJECT [ROWS_PER_CUSTOMER]
# Builds SCHEMA.customers (ROWS/ROWS_PER_CUSTOMER customers, default 50 rows
# per customer per table) and five tables of ROWS rows:
# orders, messages, devices, payments (foreign key to customers) and events
# (customer_ref, no foreign key).  Customer c's rows are spread over the whole
# table (row i belongs to customer 1 + (i-1) % customers), as rows of one
# person are in a real database.  Skipped when already built at this size.
# Then defines SUBJECT over it when privacy.define_subject exists.
bench_build() {
	local s=$1 rows=$2 subject=$3 per=${4:-50} subjects t0 t1 tag
	subjects=$((rows / per))
	tag="rows=$rows"
	[ "$per" = 50 ] || tag="rows=$rows per=$per"
	if [ "$(bval "SELECT obj_description('$s'::regnamespace, 'pg_namespace')" 2>/dev/null)" = "$tag" ]; then
		echo "data set $s: $rows rows per table, $per per customer, already built"
	else
		echo "building data set $s: $subjects customers, 5 tables x $rows rows ..."
		t0=$(date +%s)
		bpsql <<SQL
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS $s CASCADE;
CREATE SCHEMA $s;
SET maintenance_work_mem = '256MB';
SET max_parallel_maintenance_workers = 1;
CREATE TABLE $s.customers (
	id bigint PRIMARY KEY, email text NOT NULL, full_name text, phone text,
	created_at timestamptz NOT NULL);
CREATE TABLE $s.orders (
	id bigint, customer_id bigint NOT NULL, total numeric(10,2), status text,
	created_at timestamptz);
CREATE TABLE $s.messages (
	id bigint, customer_id bigint NOT NULL, body text, sent_at timestamptz);
CREATE TABLE $s.devices (
	id bigint, customer_id bigint NOT NULL, ip inet, user_agent text,
	last_seen timestamptz);
CREATE TABLE $s.payments (
	id bigint, customer_id bigint NOT NULL, amount numeric(10,2), card_last4 text,
	paid_at timestamptz);
CREATE TABLE $s.events (
	id bigint, customer_ref bigint NOT NULL, event text, at timestamptz);

INSERT INTO $s.customers
SELECT c, 'user' || c || '@example.com', 'Customer ' || c,
	'+44 7700 ' || lpad((c % 1000000)::text, 6, '0'), now() - (c % 1000) * interval '1 day'
FROM generate_series(1, $subjects) c;
INSERT INTO $s.orders
SELECT i, 1 + (i - 1) % $subjects, (i % 50000) / 100.0, (ARRAY['new','paid','shipped','returned'])[1 + i % 4],
	now() - (i % 1500) * interval '1 day'
FROM generate_series(1, $rows) i;
INSERT INTO $s.messages
SELECT i, 1 + (i - 1) % $subjects, 'Hello, about my order ' || (i % 9973) || ': it has not arrived yet, can you check?',
	now() - (i % 1500) * interval '1 hour'
FROM generate_series(1, $rows) i;
INSERT INTO $s.devices
SELECT i, 1 + (i - 1) % $subjects,
	('10.' || (i >> 16) % 256 || '.' || (i >> 8) % 256 || '.' || i % 256)::inet,
	'Mozilla/5.0 (Linux; Android 14) Mobile build ' || (i % 997), now() - (i % 700) * interval '1 hour'
FROM generate_series(1, $rows) i;
INSERT INTO $s.payments
SELECT i, 1 + (i - 1) % $subjects, (i % 30000) / 100.0, lpad((i % 10000)::text, 4, '0'),
	now() - (i % 1500) * interval '1 day'
FROM generate_series(1, $rows) i;
INSERT INTO $s.events
SELECT i, 1 + (i - 1) % $subjects, (ARRAY['login','logout','view','search','purchase'])[1 + i % 5],
	now() - (i % 3000) * interval '1 hour'
FROM generate_series(1, $rows) i;

ALTER TABLE $s.orders ADD PRIMARY KEY (id);
ALTER TABLE $s.messages ADD PRIMARY KEY (id);
ALTER TABLE $s.devices ADD PRIMARY KEY (id);
ALTER TABLE $s.payments ADD PRIMARY KEY (id);
ALTER TABLE $s.events ADD PRIMARY KEY (id);
CREATE INDEX ON $s.orders (customer_id);
CREATE INDEX ON $s.messages (customer_id);
CREATE INDEX ON $s.devices (customer_id);
CREATE INDEX ON $s.payments (customer_id);
CREATE INDEX ON $s.events (customer_ref);
-- foreign keys added after loading: one validating join instead of a
-- trigger call per row
ALTER TABLE $s.orders ADD FOREIGN KEY (customer_id) REFERENCES $s.customers;
ALTER TABLE $s.messages ADD FOREIGN KEY (customer_id) REFERENCES $s.customers;
ALTER TABLE $s.devices ADD FOREIGN KEY (customer_id) REFERENCES $s.customers;
ALTER TABLE $s.payments ADD FOREIGN KEY (customer_id) REFERENCES $s.customers;
VACUUM (ANALYZE) $s.customers, $s.orders, $s.messages, $s.devices, $s.payments, $s.events;
COMMENT ON SCHEMA $s IS '$tag';
SQL
		t1=$(date +%s)
		echo "built $s in $((t1 - t0)) s ($(bval "SELECT pg_size_pretty(sum(pg_total_relation_size(c.oid))) FROM pg_class c WHERE c.relnamespace = '$s'::regnamespace AND c.relkind = 'r'"))"
	fi
	bench_define "$s" "$subject"
}

# bench_define SCHEMA SUBJECT: the subject type over SCHEMA, its link and a
# few classified columns, when the extension has those functions yet.
bench_define() {
	local s=$1 subject=$2
	if ! has_fn 'privacy.define_subject(text,regclass,name)'; then
		echo "privacy.define_subject not there yet: subject $subject not defined"
		return 0
	fi
	if [ "$(bval "SELECT count(*) FROM privacy.subject_tables WHERE subject = '$subject'")" -ge 6 ]; then
		return 0
	fi
	bpsql -o /dev/null <<SQL
SELECT privacy.define_subject('$subject', '$s.customers');
SELECT privacy.link('$subject', '$s.events', 'customer_ref');
SELECT privacy.classify('$s.customers', 'email', 'user.contact.email');
SELECT privacy.classify('$s.customers', 'full_name', 'user.name');
SELECT privacy.classify('$s.customers', 'phone', 'user.contact.phone_number');
SELECT privacy.classify('$s.messages', 'body', 'user.content.private');
SELECT privacy.classify('$s.devices', 'ip', 'user.device.ip_address');
SELECT privacy.classify('$s.payments', 'card_last4', 'user.financial');
SQL
	bpsql -o /dev/null -c "SELECT privacy.add_recipient('Payment processor', 'billing', '{user.financial,user.name}', 'IE')" \
		2>/dev/null || true
	echo "subject $subject defined over $s"
}

# script NAME BODY: a pgbench script file readable by the postgres user
script() {
	printf '%s\n' "$2" > "$BENCH_TMP/$1.sql"
	chmod 644 "$BENCH_TMP/$1.sql"
	echo "$BENCH_TMP/$1.sql"
}

# pgb SCRIPT CLIENTS SECONDS: runs pgbench (prepared statements), prints
# "latency_ms tps", or "n/a n/a" when it fails (the log is kept in $BENCH_TMP).
pgb() {
	local f=$1 c=$2 t=$3 out
	out=$(as_pg pgbench -n -M prepared -c "$c" -j "$c" -T "$t" -f "$f" "$BENCH_DB" 2>&1) || {
		echo "$out" > "$f.c$c.err"
		echo "n/a n/a"
		return 0
	}
	if echo "$out" | grep -q 'number of failed transactions: [1-9]'; then
		echo "$out" > "$f.c$c.err"
	fi
	echo "$(echo "$out" | sed -n 's/^latency average = \([0-9.]*\) ms/\1/p') $(echo "$out" | sed -n 's/^tps = \([0-9]*\)\.\([0-9]\).* .*/\1.\2/p')"
}

# ratio B A: B/A with two decimals, or n/a
ratio() {
	if [[ $1 =~ ^[0-9.]+$ && $2 =~ ^[0-9.]+$ ]]; then
		awk -v b="$1" -v a="$2" 'BEGIN { if (a > 0) printf "%.2f", b / a; else print "n/a" }'
	else
		echo "n/a"
	fi
}

bench_header() {
	echo "PostgreSQL $(bval 'SHOW server_version'), $(nproc) cores, fsync=$(bval 'SHOW fsync'), shared_buffers=$(bval 'SHOW shared_buffers'), ${BENCH_SECONDS}s per run, pgbench -M prepared"
}

# BENCH_ROUNDS: pgbench runs of each side, alternating a, b, a, b, ... so that
# drift (caches, hint bits, checkpoints) hits both sides alike (default 2).
BENCH_ROUNDS=${BENCH_ROUNDS:-2}

# side_by_side SCRIPT_A SCRIPT_B CLIENTS: prints "lat_a lat_b tps_a tps_b",
# the means over BENCH_ROUNDS alternating runs; SCRIPT_B empty: only a.
side_by_side() {
	local a=$1 b=$2 c=$3 r la ta lb tb
	local sla=0 sta=0 slb=0 stb=0 na=0 nb=0
	for ((r = 0; r < BENCH_ROUNDS; r++)); do
		read -r la ta < <(pgb "$a" "$c" "$BENCH_SECONDS")
		if [[ $la =~ ^[0-9.]+$ ]]; then
			sla=$(awk -v x="$sla" -v y="$la" 'BEGIN { print x + y }')
			sta=$(awk -v x="$sta" -v y="$ta" 'BEGIN { print x + y }'); na=$((na + 1))
		fi
		[ -n "$b" ] || continue
		read -r lb tb < <(pgb "$b" "$c" "$BENCH_SECONDS")
		if [[ $lb =~ ^[0-9.]+$ ]]; then
			slb=$(awk -v x="$slb" -v y="$lb" 'BEGIN { print x + y }')
			stb=$(awk -v x="$stb" -v y="$tb" 'BEGIN { print x + y }'); nb=$((nb + 1))
		fi
	done
	mean() { if [ "$2" -gt 0 ]; then awk -v s="$1" -v n="$2" -v f="$3" 'BEGIN { printf f, s / n }'; else echo n/a; fi; }
	echo "$(mean "$sla" $na %.3f) $(mean "$slb" $nb %.3f) $(mean "$sta" $na %.1f) $(mean "$stb" $nb %.1f)"
}

# bench_timed 'SQL expression' count: in a new session, ms of the first call,
# then (after 5 calls that settle the plan cache) the mean of the next count,
# wall clock and the backend's CPU time (utime + stime from /proc, as the
# superuser: the load of other processes does not change it), printed as a
# WARNING "first wall cpu"; each call rolled back; u is 1 + (i * 37) % 200
bench_timed() {
	as_pg psql -X -At -v ON_ERROR_STOP=1 -d "$BENCH_DB" <<SQL
SET client_min_messages = warning;
DO \$\$
DECLARE
	t0 timestamptz;
	c0 bigint;
	first float8;
	total float8 := 0;
	cpu bigint := 0;
	i int;
	u int;
BEGIN
	FOR i IN 0 .. $2 + 5 LOOP
		u := 1 + (i * 37) % 200;
		BEGIN
			t0 := clock_timestamp();
			c0 := (SELECT split_part(s, ' ', 14)::bigint + split_part(s, ' ', 15)::bigint
			         FROM pg_read_file('/proc/self/stat') s);
			PERFORM $1;
			IF i = 0 THEN
				first := extract(epoch FROM clock_timestamp() - t0) * 1000;
			ELSIF i > 5 THEN
				total := total + extract(epoch FROM clock_timestamp() - t0) * 1000;
				cpu := cpu + (SELECT split_part(s, ' ', 14)::bigint + split_part(s, ' ', 15)::bigint
				                FROM pg_read_file('/proc/self/stat') s) - c0;
			END IF;
			RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = 'roll back';
		EXCEPTION WHEN raise_exception THEN
			NULL;
		END;
	END LOOP;
	RAISE WARNING '% % %', round(first::numeric, 1), round((total / $2)::numeric, 1),
		round(cpu * 1000.0 / $(getconf CLK_TCK) / $2, 1);
END \$\$;
SQL
}
