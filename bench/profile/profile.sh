#!/usr/bin/env bash
# bench/profile/profile.sh — issue 16: where the fixed cost of one
# privacy.erase / privacy.access call goes (not run by `make bench`).
#
# Run as root (perf needs it), from anywhere:  bash bench/profile/profile.sh
# On a throwaway cluster (the set-up of `make test`) with the 10-rows data set
# of bench/15_small.sh (20,000 customers, 5 tables x 200,000 rows):
#   1. pg_stat_statements (track = all, track_planning = on): every statement
#      a call runs, with its planning and execution time and plan count;
#   2. backend CPU per transaction, hand-written vs privacy (perf stat on the
#      server process: immune to waiting for a core on a shared machine);
#   3. perf record (DWARF call graphs; postgres is stripped, its exported
#      symbols are enough): share of parse, analyze, plan, execute, ...;
#   4. perf uprobes on exported functions: statements parsed and planned,
#      SPI_connects, syscache and relcache lookups and catalog scans per
#      transaction;
#   5. an instrumented build (bench/profile/instrument.patch, applied to a
#      copy of src/, never committed to src/): per-step CPU time inside
#      privacy_erase / privacy_access (clock_gettime(CLOCK_PROCESS_CPUTIME_ID)
#      laps, mean of 1000 calls after 20 warm-up calls, logged by the server).
# Settings: PROFILE_TX (transactions per run, default 2000), PROFILE_ROUNDS
# (default 2), PROFILE_STEPS=0 skips 5 (the patch is written against the
# src/ of its commit and may need refreshing when src/ changes).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../../test/lib.sh"
privacy_setup
cat >> "$WORK/data/postgresql.conf" <<CONF
shared_preload_libraries = 'privacy,pg_stat_statements'
pg_stat_statements.track = all
pg_stat_statements.track_planning = on
pg_stat_statements.max = 10000
CONF
as_pg pg_ctl -D "$WORK/data" -m fast -w restart -l "$WORK/server.log" >/dev/null
. "$HERE/../common.sh"
trap 'privacy_cleanup; rm -rf "$BENCH_TMP"' EXIT

TX=${PROFILE_TX:-2000}
ROUNDS=${PROFILE_ROUNDS:-2}
S=b200k10
bench_createdb
bench_build $S 200000 customer_s10 10
bpsql -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"
bench_header

erase_priv=$(script erase_priv "\\set id random(1, 20000)
BEGIN;
SELECT privacy.erase('customer_s10', :id::text);
ROLLBACK;")
erase_hand=$(script erase_hand "\\set id random(1, 20000)
BEGIN;
DELETE FROM $S.orders WHERE customer_id = :id;
DELETE FROM $S.messages WHERE customer_id = :id;
DELETE FROM $S.devices WHERE customer_id = :id;
DELETE FROM $S.payments WHERE customer_id = :id;
DELETE FROM $S.events WHERE customer_ref = :id;
DELETE FROM $S.customers WHERE id = :id;
ROLLBACK;")
access_priv=$(script access_priv "\\set id random(1, 20000)
SELECT privacy.access('customer_s10', :id::text);")
access_hand=$(script access_hand "\\set id random(1, 20000)
SELECT jsonb_build_object(
	'$S.customers', (SELECT coalesce(jsonb_agg(to_jsonb(t)), '[]') FROM $S.customers t WHERE t.id = :id),
	'$S.orders', (SELECT coalesce(jsonb_agg(to_jsonb(t)), '[]') FROM $S.orders t WHERE t.customer_id = :id),
	'$S.messages', (SELECT coalesce(jsonb_agg(to_jsonb(t)), '[]') FROM $S.messages t WHERE t.customer_id = :id),
	'$S.devices', (SELECT coalesce(jsonb_agg(to_jsonb(t)), '[]') FROM $S.devices t WHERE t.customer_id = :id),
	'$S.payments', (SELECT coalesce(jsonb_agg(to_jsonb(t)), '[]') FROM $S.payments t WHERE t.customer_id = :id),
	'$S.events', (SELECT coalesce(jsonb_agg(to_jsonb(t)), '[]') FROM $S.events t WHERE t.customer_ref = :id));")
protocol1=$(script protocol1 "BEGIN;
SELECT 1;
ROLLBACK;")
protocol8=$(script protocol8 "BEGIN;
SELECT 1;
SELECT 1;
SELECT 1;
SELECT 1;
SELECT 1;
SELECT 1;
ROLLBACK;")
for f in "$erase_priv" "$erase_hand" "$access_priv" "$access_hand"; do
	as_pg pgbench -n -M prepared -T 3 -f "$f" "$BENCH_DB" >/dev/null 2>&1
done

# the pid of the backend of a pgbench run started in the background
backend_of() {
	local app=$1 pid= i
	for ((i = 0; i < 400; i++)); do
		pid=$(bval "SELECT pid FROM pg_stat_activity WHERE application_name = '$app' AND query <> ''")
		[ -n "$pid" ] && break
		sleep 0.005
	done
	echo "$pid"
}

echo
echo "== 1. statements per call (pg_stat_statements, $TX calls; times in us per call, wall clock)"
PGSS="SELECT calls / $TX AS per_call, plans, round((total_plan_time / calls * 1000)::numeric, 1) AS plan_us,
	round((total_exec_time / calls * 1000)::numeric, 1) AS exec_us, toplevel AS top,
	left(regexp_replace(query, '\\s+', ' ', 'g'), 90) AS statement
	FROM pg_stat_statements WHERE calls >= $TX ORDER BY toplevel DESC, total_exec_time + total_plan_time DESC"
for f in "$erase_priv" "$erase_hand" "$access_priv" "$access_hand"; do
	echo "-- $(basename "$f" .sql)"
	bval "SELECT pg_stat_statements_reset()" >/dev/null
	as_pg pgbench -n -M prepared -t "$TX" -f "$f" "$BENCH_DB" | grep latency
	bpsql -c "$PGSS"
done

echo "== 2. backend CPU per transaction (perf stat -e task-clock on the backend), us"
if ! { command -v perf >/dev/null && perf stat -e task-clock true >/dev/null 2>&1; }; then
	echo "perf is not usable here (apt-get install linux-perf, run as root): skipping 2 and 3"
else
	for ((r = 1; r <= ROUNDS; r++)); do
		for f in "$erase_hand" "$erase_priv" "$access_hand" "$access_priv" "$protocol1" "$protocol8"; do
			app="profile_$(date +%s%N)"
			as_pg env PGAPPNAME=$app pgbench -n -M prepared -t "$TX" -f "$f" "$BENCH_DB" > "$f.out" 2>&1 &
			bg=$!
			pid=$(backend_of $app)
			# CPU per transaction = share of a core used while attached x mean latency
			util=$({ perf stat -x, -e task-clock -p "$pid" 2>&1 >/dev/null || true; } | awk -F, '/task-clock/ { print $6 }')
			wait $bg
			lat=$(sed -n 's/^latency average = \([0-9.]*\) ms/\1/p' "$f.out")
			printf 'round %d %-14s cpu %7.1f us/tx   latency %s ms\n' "$r" "$(basename "$f" .sql)" \
				"$(awk -v u="${util:-0}" -v l="${lat:-0}" 'BEGIN { print u * l * 1000 }')" "$lat"
		done
	done

	echo "== 3. where the backend's CPU goes (perf record, inclusive share of samples)"
	syms='fmgr_security_definer|privacy_erase|privacy_access|SPI_execute_with_args|SPI_execute_plan|raw_parser|pg_analyze_and_rewrite_fixedparams|pg_plan_queries|GetCachedPlan|standard_ExecutorStart|standard_ExecutorRun|standard_ExecutorFinish|standard_ExecutorEnd|AfterTriggerEndQuery|RelationIdGetRelation|KeysShredSubject|AccessRecordRequest|AuditAppend|assemble|collect|run_table_plan|UtilBecomeUser|UtilRestoreUser|set_config_option|AtEOXact_GUC|SPI_connect|SPI_finish|jsonb_build_object|jsonb_in|pushJsonbValue|CommitTransactionCommand|AbortCurrentTransaction|XLogFlush|PostgresMain'
	for f in "$erase_priv" "$access_priv"; do
		app="profile_$(date +%s%N)"
		as_pg env PGAPPNAME=$app pgbench -n -M prepared -t $((TX * 2)) -f "$f" "$BENCH_DB" > "$f.out" 2>&1 &
		bg=$!
		pid=$(backend_of $app)
		sleep 0.5
		perf record -q -F 1999 --call-graph dwarf,16384 -o "$BENCH_TMP/perf.data" -p "$pid" -- sleep 5 >/dev/null 2>&1 || true
		wait $bg
		echo "-- $(basename "$f" .sql)"
		perf report -i "$BENCH_TMP/perf.data" --children --no-demangle --stdio -g none --percent-limit 0.2 2>/dev/null |
			{ grep -E " ($syms)\$" || true; } | awk '{ printf "  %7s  %s\n", $1, $NF }'
	done

	echo "== 4. catalog lookups and statements per call (perf uprobes on exported functions)"
	bin="$INST$PGSYS/bin/postgres"
	fns="raw_parser pg_plan_queries SPI_connect SearchCatCache1 SearchCatCache2 SearchCatCache3 SearchCatCache4 SearchCatCacheList RelationIdGetRelation systable_beginscan PortalRun"
	ok=1
	for fn in $fns; do perf probe -q -x "$bin" "$fn" >/dev/null 2>&1 || ok=0; done
	if [ $ok = 1 ]; then
		# statements (PortalRun calls) per transaction of each script: the marker that counts transactions
		for spec in "$erase_hand:8" "$erase_priv:3" "$access_hand:1" "$access_priv:1"; do
			f=${spec%:*}; per=${spec##*:}
			app="profile_$(date +%s%N)"
			as_pg env PGAPPNAME=$app pgbench -n -M prepared -T 5 -f "$f" "$BENCH_DB" > "$f.out" 2>&1 &
			bg=$!
			pid=$(backend_of $app)
			perf stat -x, -o "$BENCH_TMP/counts" -e 'probe_postgres:*' -p "$pid" >/dev/null 2>&1 || true
			wait $bg
			echo "-- $(basename "$f" .sql), per transaction"
			awk -F, -v per="$per" '/probe_postgres/ { sub("probe_postgres:", "", $3); c[$3] = $1 }
				END { n = c["PortalRun"] / per; if (n <= 0) exit
					for (k in c) if (k != "PortalRun") printf "  %-22s %8.1f\n", k, c[k] / n }' "$BENCH_TMP/counts" | sort
		done
	else
		echo "uprobes are not usable here: skipped"
	fi
	for fn in $fns; do perf probe -q -d "probe_postgres:$fn" >/dev/null 2>&1 || true; done
fi

if [ "${PROFILE_STEPS:-1}" = 1 ]; then
	echo "== 5. steps inside the call (instrumented build, CPU time, mean of 1000 calls)"
	rm -rf "$BENCH_TMP/src" && mkdir -p "$BENCH_TMP/src"
	(cd "$TOP" && tar -cf - --exclude="*.o" --exclude="*.so" --exclude="*.bc" Makefile privacy.control sql src) | tar -xf - -C "$BENCH_TMP/src"
	if (cd "$BENCH_TMP/src" && patch -s -p1 < "$HERE/instrument.patch") &&
		make -C "$BENCH_TMP/src" -s COPT=-DPROF_CPU PG_CONFIG=$PGSYS/bin/pg_config >/dev/null 2>&1; then
		cp "$BENCH_TMP/src/privacy.so" "$INST$PGSYS/lib/privacy.so"
		sed -i "s/^shared_preload_libraries = 'privacy,pg_stat_statements'/shared_preload_libraries = 'privacy'/" "$WORK/data/postgresql.conf"
		as_pg pg_ctl -D "$WORK/data" -m fast -w restart -l "$WORK/server.log" >/dev/null
		l0=$(wc -l < "$WORK/server.log")
		for ((r = 1; r <= ROUNDS; r++)); do
			for f in "$erase_priv" "$access_priv"; do
				as_pg pgbench -n -M prepared -t 1030 -f "$f" "$BENCH_DB" >/dev/null 2>&1
			done
		done
		tail -n +"$l0" "$WORK/server.log" | grep -E 'PROF|^[[:space:]]+[0-9]+ ' | sed 's/^.*LOG:  //'
		echo "(each lap adds one clock read, ~0.5 us; each statement of run_as_owner three more)"
	else
		echo "instrument.patch does not apply to this src/ (refresh it): skipped"
	fi
fi
