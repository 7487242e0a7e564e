#!/usr/bin/env bash
# The Citus suite of `make test`, called by test/run.sh after the set-up
# (test/lib.sh) with the work directory and the private installation:
#
#   bash test/run_citus.sh WORK INST
#
# Builds Citus once (test/citus.sh, cached outside the repository) into the
# private installation, starts a coordinator and two workers as postgres on
# unix sockets only (shared_preload_libraries = citus, privacy), joins them,
# runs the pg_regress files of test/citus/sql against the coordinator and
# stops the three servers.  Prints pg_regress-style "... ok / ... FAILED"
# lines, which run.sh counts; a failed set-up prints one FAILED line.
set -uo pipefail
WORK=$1
INST=$2
TOP=$(cd "$(dirname "$0")/.." && pwd)
PGSYS=/usr/lib/postgresql/15
C=$WORK/citus
SOCK=$WORK/sock
PORTS=(54340 54341 54342)
NODES=(coord w1 w2)
export PATH="$INST$PGSYS/bin:$PATH"

as_pg() {
	if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- env PATH="$PATH" "$@"; else "$@"; fi
}

fail() { echo "test citus_setup              ... FAILED ($1)"; exit 0; }

stop_all() {
	local n
	for n in "${NODES[@]}"; do
		[ -f "$C/$n/postmaster.pid" ] && as_pg pg_ctl -D "$C/$n" -m fast -w stop >/dev/null 2>&1
	done
}
trap stop_all EXIT

start=$(date +%s)
bash "$TOP/test/citus.sh" "$INST"
rc=$?
if [ $rc -eq 3 ]; then echo "citus: skipped (no Citus tarball)"; exit 0; fi
[ $rc -eq 0 ] || fail "build"
echo "citus: build/install step took $(( $(date +%s) - start ))s"

mkdir -p "$C"
[ "$(id -u)" -eq 0 ] && chown postgres: "$C"
for i in 0 1 2; do
	n=${NODES[$i]}
	as_pg initdb -A trust -U postgres -D "$C/$n" >"$C/$n.initdb.log" 2>&1 || fail "initdb $n"
	cat >> "$C/$n/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$SOCK'
port = ${PORTS[$i]}
shared_preload_libraries = 'citus, privacy'
privacy.root_key_file = '$WORK/root.key'
max_prepared_transactions = 20
max_worker_processes = 32
citus.recover_2pc_interval = -1
fsync = off
log_line_prefix = '%m [%p] %q%a '
CONF
	as_pg pg_ctl -D "$C/$n" -l "$C/$n.log" -w start >/dev/null || fail "start $n"
done

psql_n() { # $1 = node index, rest = psql args
	local p=${PORTS[$1]}; shift
	as_pg psql -X -q -v ON_ERROR_STOP=1 -h "$SOCK" -p "$p" -U postgres "$@"
}
for i in 0 1 2; do
	psql_n $i -d postgres -c "CREATE DATABASE citus_regress" || fail "createdb"
	psql_n $i -d citus_regress -c "CREATE EXTENSION citus" || fail "citus on ${NODES[$i]}"
done
psql_n 0 -d citus_regress >/dev/null <<SQL || fail "join"
SELECT pg_catalog.citus_set_coordinator_host('$SOCK', ${PORTS[0]});
SELECT pg_catalog.citus_add_node('$SOCK', ${PORTS[1]});
SELECT pg_catalog.citus_add_node('$SOCK', ${PORTS[2]});
SQL
# the single-node twin: same instance, a database without Citus
psql_n 0 -d postgres -c "CREATE DATABASE single_regress" || fail "createdb single"

mkdir -p "$C/regress"
cp -r "$TOP/test/citus/sql" "$TOP/test/citus/expected" "$C/regress/"
[ "$(id -u)" -eq 0 ] && chown -R postgres: "$C/regress"
tests=$(cd "$C/regress/sql" && ls *.sql | sed 's/\.sql$//' | sort)
(cd "$C/regress" && as_pg env PGHOST="$SOCK" PGPORT="${PORTS[0]}" \
	CITUS_W1="${PORTS[1]}" CITUS_W2="${PORTS[2]}" \
	"$INST$PGSYS/lib/pgxs/src/test/regress/pg_regress" --inputdir=. --outputdir=. \
	--bindir= --use-existing --dbname=citus_regress $tests)
[ -f "$C/regress/regression.diffs" ] && cat "$C/regress/regression.diffs"
[ -n "${PRIVACY_ACCEPT:-}" ] && cp "$C/regress"/results/*.out "$TOP/test/citus/expected/"
if grep -q 'FAILED\|failed' "$C/regress/regression.out" 2>/dev/null; then
	for n in "${NODES[@]}"; do echo "--- $n log (tail)"; tail -n 20 "$C/$n.log"; done
fi
exit 0
