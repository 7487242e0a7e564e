#!/usr/bin/env bash
# bench/15_small.sh — issue 16: the fixed cost of a rights call, for people
# with a handful of rows per table (and with ~50, for comparison), side by
# side with the statements the call replaces, in one run.
#
# Shapes (20,000 customers each, rows of a customer spread over the table,
# every link column indexed, four tables with a foreign key, one linked):
#   10 rows: root + five tables of 200,000 rows, 10 rows per customer per
#            table (51 rows per customer): the shape of issue 16;
#   50 rows: root + five tables of 1,000,000 rows (the data set of
#            10_access and 20_erase, 251 rows per customer).
# Calls, pgbench -M prepared, one client:
#   access         jsonb_build_object of 6 index lookups vs privacy.access
#   erase/rollback BEGIN; 6 DELETEs; ROLLBACK  vs  BEGIN; privacy.erase; ROLLBACK
#   erase/commit   BEGIN; 6 DELETEs; COMMIT    vs  privacy.erase (autocommit),
#                  with fsync = on and synchronous_commit = on (set for this
#                  part only), BENCH_COMMIT_TX transactions per run; every
#                  transaction erases a customer no transaction erased
#                  before (ids from a sequence, on copies of the data sets
#                  kept for this: they are rebuilt when used up).
# Each pair runs BENCH_ROUNDS rounds in ABBA order (hand, privacy, privacy,
# hand, ...) so drift hits both sides alike; the table shows the mean
# latencies, the difference (what the call adds, in µs), the ratio of the
# means and the range of the per-round ratios (the spread on a shared
# machine).  Goals (issue 16): access <= 1.15x, erase/rollback <= 1.4x.
set -euo pipefail
. "$(dirname "$0")/common.sh"

COMMIT_TX=${BENCH_COMMIT_TX:-400}
N=20000

bench_createdb
bench_build b200k10 200000 customer_s10 10
bench_build b1m 1000000 customer
# copies consumed by the commit runs: rebuilt when fewer than needed are left
need=$((2 * BENCH_ROUNDS * COMMIT_TX + 50))
for c in "c200k10 200000 customer_c10 10" "c1m 1000000 customer_c50 50"; do
	set -- $c
	if [ "$(bval "SELECT to_regclass('$1.next_id') IS NOT NULL")" = t ] &&
		[ $((N - $(bval "SELECT last_value FROM $1.next_id"))) -lt "$need" ]; then
		echo "data set $1: fewer than $need customers left, rebuilding"
		bpsql -c "COMMENT ON SCHEMA $1 IS 'used up'"
	fi
	bench_build "$@"
	bpsql -c "SET client_min_messages = warning" -c "CREATE SEQUENCE IF NOT EXISTS $1.next_id"
done
bench_header

usable() {
	{ has_fn 'privacy.erase(text,text,text,boolean,text)' || has_fn 'privacy.erase(text,text,text,boolean)'; } && has_fn 'privacy.access(text,text)' &&
		[ "$(bval "SELECT count(*) FROM privacy.subject_tables WHERE subject = '$1'")" -ge 6 ]
}
for subj in customer_s10 customer customer_c10 customer_c50; do
	if ! usable $subj; then
		echo "privacy.access / privacy.erase or the subject $subj is not there: nothing to compare"
		exit 0
	fi
done
echo "dry-run receipt, customer 7, 10-row shape: $(bval "SELECT privacy.erase('customer_s10', '7', dry_run => true) -> 'tables'")"

# ---------------------------------------------------------------- scripts
access_hand() {
	local s=$1
	script "access_hand_$s" "\\set id random(1, $N)
SELECT jsonb_build_object(
	'$s.customers', (SELECT coalesce(jsonb_agg(to_jsonb(t)), '[]') FROM $s.customers t WHERE t.id = :id),
	'$s.orders', (SELECT coalesce(jsonb_agg(to_jsonb(t)), '[]') FROM $s.orders t WHERE t.customer_id = :id),
	'$s.messages', (SELECT coalesce(jsonb_agg(to_jsonb(t)), '[]') FROM $s.messages t WHERE t.customer_id = :id),
	'$s.devices', (SELECT coalesce(jsonb_agg(to_jsonb(t)), '[]') FROM $s.devices t WHERE t.customer_id = :id),
	'$s.payments', (SELECT coalesce(jsonb_agg(to_jsonb(t)), '[]') FROM $s.payments t WHERE t.customer_id = :id),
	'$s.events', (SELECT coalesce(jsonb_agg(to_jsonb(t)), '[]') FROM $s.events t WHERE t.customer_ref = :id));"
}
access_priv() {
	script "access_priv_$1" "\\set id random(1, $N)
SELECT privacy.access('$2', :id::text);"
}
deletes() {
	local s=$1
	printf '%s\n' "DELETE FROM $s.orders WHERE customer_id = :id;" \
		"DELETE FROM $s.messages WHERE customer_id = :id;" \
		"DELETE FROM $s.devices WHERE customer_id = :id;" \
		"DELETE FROM $s.payments WHERE customer_id = :id;" \
		"DELETE FROM $s.events WHERE customer_ref = :id;" \
		"DELETE FROM $s.customers WHERE id = :id;"
}
erase_rb_hand() {
	script "erase_rb_hand_$1" "\\set id random(1, $N)
BEGIN;
$(deletes "$1")
ROLLBACK;"
}
erase_rb_priv() {
	script "erase_rb_priv_$1" "\\set id random(1, $N)
BEGIN;
SELECT privacy.erase('$2', :id::text);
ROLLBACK;"
}
# commit: both sides draw the id from the same sequence (one nextval each),
# permuted so that consecutive transactions do not touch the same pages (a
# customer's rows are rows c, c + 20000, ...: customer c + 1 shares them)
PERM="7919"	# coprime to $N: (v - 1) * PERM % N + 1 is a permutation of 1..N
next_id() {
	echo "((nextval('$1.next_id') - 1) * $PERM % $N + 1)"
}
erase_c_hand() {
	script "erase_c_hand_$1" "BEGIN;
SELECT $(next_id "$1") AS id \\gset
$(deletes "$1")
COMMIT;"
}
erase_c_priv() {
	script "erase_c_priv_$1" "SELECT privacy.erase('$2', $(next_id "$1")::text);"
}

# ---------------------------------------------------------------- running
# run1 SCRIPT MODE: one pgbench run (MODE: -T seconds or -t transactions),
# prints "latency_ms cpu_us": the mean latency, and the backend's CPU time
# per transaction: the share of a core the server process used (perf stat
# -e task-clock, attached once the run has started) times the mean latency;
# n/a when perf cannot attach.  CPU time does not count waiting for a core,
# so it moves far less than latency on a busy machine.
HAVE_PERF=0
if command -v perf >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ] && perf stat -e task-clock true >/dev/null 2>&1; then
	HAVE_PERF=1
fi
run1() {
	local f=$1 out app pid= cpu=n/a util= lat i
	shift
	app="bench15_${BASHPID}_$(date +%s%N)"
	as_pg env PGAPPNAME="$app" pgbench -n -M prepared -c 1 -j 1 "$@" -f "$f" "$BENCH_DB" > "$f.out" 2>&1 &
	local bg=$!
	if [ $HAVE_PERF = 1 ]; then
		for ((i = 0; i < 400; i++)); do
			pid=$(bval "SELECT pid FROM pg_stat_activity WHERE application_name = '$app' AND query <> ''")
			[ -n "$pid" ] && break
			sleep 0.005
		done
		if [ -n "$pid" ]; then
			perf stat -x, -o "$f.perf" -e task-clock -p "$pid" >/dev/null 2>&1 || true
			# CPUs utilized while attached (the run's first moments are missed)
			util=$(awk -F, '/task-clock/ { print $6 }' "$f.perf" 2>/dev/null)
			[[ ${util:-} =~ ^[0-9.]+$ ]] || { echo "$(basename "$f"): $(tr '\n' ' ' < "$f.perf" 2>/dev/null)" >> "$BENCH_TMP/perf_problems"; }
		else
			echo "$(basename "$f"): backend not found" >> "$BENCH_TMP/perf_problems"
		fi
	fi
	if ! wait $bg; then
		cp "$f.out" "$f.err"
		echo "n/a n/a"
		return 0
	fi
	out=$(cat "$f.out")
	if echo "$out" | grep -q 'number of failed transactions: [1-9]'; then
		echo "$out" > "$f.err"
	fi
	lat=$(echo "$out" | sed -n 's/^latency average = \([0-9.]*\) ms/\1/p')
	# one client: CPU per transaction = share of a core used x mean latency
	if [[ ${util:-} =~ ^[0-9.]+$ && ${lat:-} =~ ^[0-9.]+$ ]]; then
		cpu=$(awk -v u="$util" -v l="$lat" 'BEGIN { printf "%.0f", u * l * 1000 }')
	fi
	echo "$lat $cpu"
}

# pair LABEL HAND PRIV MODE...: BENCH_ROUNDS rounds in ABBA order; prints a
# row of the table and appends the per-run figures to $BENCH_TMP/runs
pair() {
	local label=$1 a=$2 b=$3 r la lb ca cb
	shift 3
	local las=() lbs=() cas=() cbs=()
	for ((r = 0; r < BENCH_ROUNDS; r++)); do
		if ((r % 2 == 0)); then
			read -r la ca < <(run1 "$a" "$@"); read -r lb cb < <(run1 "$b" "$@")
		else
			read -r lb cb < <(run1 "$b" "$@"); read -r la ca < <(run1 "$a" "$@")
		fi
		las+=("$la"); lbs+=("$lb"); cas+=("$ca"); cbs+=("$cb")
		echo "$label, round $((r + 1)): hand $la ms ($ca us CPU), privacy $lb ms ($cb us CPU)" >> "$BENCH_TMP/runs"
	done
	awk -v label="$label" -v a="${las[*]}" -v b="${lbs[*]}" -v ca="${cas[*]}" -v cb="${cbs[*]}" '
	function stats(x, y, out,   X, Y, n, i, sx, sy, q, lo, hi, k) {
		n = split(x, X, " "); split(y, Y, " "); sx = sy = k = 0; lo = 1e9; hi = 0
		for (i = 1; i <= n; i++) {
			if (X[i] !~ /^[0-9.]+$/ || Y[i] !~ /^[0-9.]+$/ || X[i] == 0) continue
			sx += X[i]; sy += Y[i]; k++
			q = Y[i] / X[i]; if (q < lo) lo = q; if (q > hi) hi = q
		}
		out["n"] = k; if (k == 0) return
		out["a"] = sx / k; out["b"] = sy / k; out["r"] = sy / sx; out["lo"] = lo; out["hi"] = hi
	}
	BEGIN {
		stats(a, b, L); stats(ca, cb, C)
		if (L["n"] == 0) { printf "%-32s %8s %9s %6s %6s %11s |", label, "n/a", "n/a", "n/a", "n/a", "n/a" }
		else printf "%-32s %8.3f %9.3f %6.0f %5.2fx %5.2f-%.2fx |", label, L["a"], L["b"], (L["b"] - L["a"]) * 1000, L["r"], L["lo"], L["hi"]
		if (C["n"] == 0) printf " %6s %6s %6s %6s\n", "n/a", "n/a", "n/a", "n/a"
		else printf " %6.0f %6.0f %6.0f %5.2fx\n", C["a"], C["b"], C["b"] - C["a"], C["r"]
	}'
}

header() {
	printf '%-32s %8s %9s %6s %6s %11s | %6s %6s %6s %6s\n' "" "latency:" "" "" "" "" "CPU:" "" "" ""
	printf '%-32s %8s %9s %6s %6s %11s | %6s %6s %6s %6s\n' "shape / call" "hand ms" "privacy" "+us" ratio "per round" "hand" privacy "+us" ratio
}

declare -A SUBJ=([b200k10]=customer_s10 [b1m]=customer [c200k10]=customer_c10 [c1m]=customer_c50)
declare -A SHAPE=([b200k10]="10 rows" [b1m]="50 rows" [c200k10]="10 rows" [c1m]="50 rows")

# warm-up (not measured): caches, prepared plans, the map cache
for s in b200k10 b1m; do
	for f in "$(access_hand $s)" "$(access_priv $s "${SUBJ[$s]}")" "$(erase_rb_hand $s)" "$(erase_rb_priv $s "${SUBJ[$s]}")"; do
		run1 "$f" -T 3 >/dev/null
	done
done

echo
echo "one client, ${BENCH_ROUNDS} rounds per pair (ABBA), ${BENCH_SECONDS}s per run; commit runs: $COMMIT_TX transactions each"
header
for s in b200k10 b1m; do
	pair "${SHAPE[$s]}: access" "$(access_hand $s)" "$(access_priv $s "${SUBJ[$s]}")" -T "$BENCH_SECONDS"
	pair "${SHAPE[$s]}: erase, BEGIN...ROLLBACK" "$(erase_rb_hand $s)" "$(erase_rb_priv $s "${SUBJ[$s]}")" -T "$BENCH_SECONDS"
done

# commit runs: fsync and synchronous_commit on for this part only
restore_fsync() {
	as_pg psql -X -q -d postgres -c "ALTER SYSTEM RESET fsync" -c "ALTER SYSTEM RESET synchronous_commit" \
		-c "SELECT pg_reload_conf()" >/dev/null 2>&1 || true
}
trap 'restore_fsync; rm -rf "$BENCH_TMP"' EXIT
as_pg psql -X -q -d postgres -c "ALTER SYSTEM SET fsync = on" -c "ALTER SYSTEM SET synchronous_commit = on" \
	-c "SELECT pg_reload_conf()" >/dev/null
for i in $(seq 50); do
	[ "$(bval 'SHOW fsync')" = on ] && break
	sleep 0.1
done
echo "(commit runs: fsync=$(bval 'SHOW fsync'), synchronous_commit=$(bval 'SHOW synchronous_commit'), wal_sync_method=$(bval 'SHOW wal_sync_method'))"
for s in c200k10 c1m; do
	first=$(($(bval "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM $s.next_id") + 1))
	h=$(erase_c_hand $s)
	p=$(erase_c_priv $s "${SUBJ[$s]}")
	run1 "$h" -t 20 >/dev/null
	run1 "$p" -t 20 >/dev/null
	pair "${SHAPE[$s]}: erase, committed" "$h" "$p" -t "$COMMIT_TX"
	# independent check: every id handed out is gone from every table
	last=$(bval "SELECT last_value FROM $s.next_id")
	left=$(bval "WITH ids AS (SELECT (v - 1) * $PERM % $N + 1 AS id FROM generate_series($first, $last) v)
		SELECT (SELECT count(*) FROM $s.customers WHERE id IN (SELECT id FROM ids))
		+ (SELECT count(*) FROM $s.orders WHERE customer_id IN (SELECT id FROM ids))
		+ (SELECT count(*) FROM $s.events WHERE customer_ref IN (SELECT id FROM ids))")
	echo "    ($((last - first + 1)) customers erased, one per transaction; rows of theirs left: $left;" \
		"customers left: $(bval "SELECT count(*) FROM $s.customers") of $((N - last)) expected)"
done
restore_fsync

echo
echo "latency: pgbench mean per transaction, client round trips included; CPU: the server"
echo "backend's CPU time per transaction (perf stat), in us; ratio: privacy / hand-written."
echo "goals (issue 16): access <= 1.15x, erase in BEGIN...ROLLBACK <= 1.4x, both shapes"
echo "per-run latencies:"
sed 's/^/    /' "$BENCH_TMP/runs"
if [ -s "$BENCH_TMP/perf_problems" ]; then
	echo "CPU figures missing (n/a) for some runs:"; sed 's/^/    /' "$BENCH_TMP/perf_problems" | head -n 5
fi
for e in "$BENCH_TMP"/*.err; do
	[ -e "$e" ] || continue
	echo "--- pgbench problems ($(basename "$e")):"; tail -n 5 "$e"
done
