#!/usr/bin/env bash
# The Citus suite of `make test`, called by test/run.sh after the set-up
# (test/lib.sh) with the work directory and the private installation:
#
#   bash test/run_citus.sh WORK INST
#
# Builds Citus once (test/citus.sh, cached outside the repository) into the
# private installation, starts a coordinator and two workers as postgres on
# unix sockets only (test/citus_lib.sh), runs the pg_regress files of
# test/citus/sql against the coordinator (each database of the suite: the
# distributed one, citus_regress, and its single-node twin, single_regress,
# a database without Citus on the coordinator) and stops the three servers.
# Prints pg_regress-style "... ok / ... FAILED" lines, which run.sh counts;
# a failed set-up prints one FAILED line.
set -uo pipefail
WORK=$1
INST=$2
TOP=$(cd "$(dirname "$0")/.." && pwd)
. "$TOP/test/citus_lib.sh"
C=$WORK/citus

fail() { echo "test citus_setup                   ... FAILED ($1)"; exit 0; }
trap citus_stop EXIT

start=$(date +%s)
bash "$TOP/test/citus.sh" "$INST"
rc=$?
if [ $rc -eq 3 ]; then echo "citus: skipped (no Citus tarball)"; exit 0; fi
[ $rc -eq 0 ] || fail "build"
echo "citus: build/install step took $(( $(date +%s) - start ))s"

citus_start citus_regress || fail "cluster start, see $C/*.log"
cpsql 0 -d postgres -c "CREATE DATABASE single_regress" || fail "createdb single"

mkdir -p "$C/regress"
cp -r "$TOP/test/citus/sql" "$TOP/test/citus/expected" "$C/regress/"
[ "$(id -u)" -eq 0 ] && chown -R postgres: "$C/regress"
tests=$(cd "$C/regress/sql" && ls *.sql | sed 's/\.sql$//' | sort)
(cd "$C/regress" && citus_as_pg env PGHOST="$WORK/sock" PGPORT="${CITUS_PORTS[0]}" \
	CITUS_W1="${CITUS_PORTS[1]}" CITUS_W2="${CITUS_PORTS[2]}" \
	"$INST$CITUS_PGSYS/lib/pgxs/src/test/regress/pg_regress" --inputdir=. --outputdir=. \
	--bindir= --use-existing --dbname=citus_regress $tests)
# 12_key_text: no node's log holds the key that its calls used (the
# workers logged every statement with its parameters meanwhile)
# (and the check can fail: the workers did log our statements, each with
# its parameters hidden)
n=0
for node in "${CITUS_NODES[@]}"; do
	n=$((n + $(grep -c '7777777' "$C/$node.log")))
done
logged=$(cat "$C/w1.log" "$C/w2.log" | grep -c 'parameters: hidden by the privacy extension')
if [ "$n" -eq 0 ] && [ "$logged" -gt 0 ]; then
	echo "test citus_log_hygiene            ... ok"
else
	echo "test citus_log_hygiene            ... FAILED ($n log lines with the key, $logged statements logged)"
	grep -h '7777777' "$C"/*.log | head -n 5
fi
[ -f "$C/regress/regression.diffs" ] && cat "$C/regress/regression.diffs"
[ -n "${PRIVACY_ACCEPT:-}" ] && cp "$C/regress"/results/*.out "$TOP/test/citus/expected/"
if grep -q 'FAILED\|failed' "$C/regress/regression.out" 2>/dev/null; then
	for n in "${CITUS_NODES[@]}"; do echo "--- $n log (tail)"; tail -n 20 "$C/$n.log"; done
fi
exit 0
