#!/usr/bin/env bash
# bench/90_audit.sh — issue 13 (Audit) and the audit part of issue 16: what
# the audit chain costs.
#
#   verify   privacy.verify_audit() over a tenth of BENCH_AUDIT_ENTRIES, then
#            over BENCH_AUDIT_ENTRIES entries (150,000):
#            time, and the backend's peak memory growth during the call
#            (VmHWM after minus VmRSS before, from /proc/self/status, after a
#            warm-up that touches every page of the log, so shared buffers do
#            not count);
#   bulk     N appends (privacy._audit) in one transaction, N = 2,000 and
#            8,000, BENCH_ROUNDS rounds in ABBA order, commit included: the
#            ratio 8k/2k is 4 when an append costs O(1) (goal <= 4.5);
#   append   one append per transaction (autocommit), pgbench, one client:
#            the audit share of a rights call.
# Run it on two builds (e.g. main before and after) for the before/after
# table of the README.  Works on any version that has privacy._audit.
set -euo pipefail
BENCH_DB=${BENCH_AUDIT_DB:-bench_audit}
. "$(dirname "$0")/common.sh"

ENTRIES=${BENCH_AUDIT_ENTRIES:-150000}
ROUNDS=${BENCH_ROUNDS:-2}

bench_createdb
bench_header
bpsql -c "SET client_min_messages = warning" -c "DROP EXTENSION privacy" -c "CREATE EXTENSION privacy"

# fill N: append entries up to N in all, 1,000 per transaction, details like
# a rights call's
fill() {
	local have
	have=$(bval "SELECT count(*) FROM privacy.audit")
	for ((i = have; i < $1; i += 1000)); do
		echo "SELECT count(privacy._audit('access', md5(g::text), jsonb_build_object('request', g, 'kind', 'access'))) FROM generate_series(1, 1000) g;"
	done > "$BENCH_TMP/fill.sql"
	chmod 644 "$BENCH_TMP/fill.sql"
	bpsql -o /dev/null -f "$BENCH_TMP/fill.sql"
}

# verify: time and peak memory growth of the backend, one fresh session per round
verify_once() {
	bpsql -At <<'SQL'
SET enable_seqscan = off;
SELECT count(*) FROM (SELECT * FROM privacy.audit ORDER BY seq) s \g /dev/null
RESET enable_seqscan;
SELECT count(detail::text) FROM privacy.audit \g /dev/null
SELECT (regexp_match(pg_read_file('/proc/self/status'), 'VmRSS:\s+(\d+)'))[1] AS rss0 \gset
SELECT clock_timestamp() AS t0 \gset
SELECT privacy.verify_audit() \g /dev/null
SELECT round(extract(epoch FROM clock_timestamp() - :'t0'::timestamptz) * 1000),
	   ((regexp_match(pg_read_file('/proc/self/status'), 'VmHWM:\s+(\d+)'))[1]::bigint - :rss0) / 1024.0;
SQL
}

# verify N: fill to N entries, then verify ROUNDS times
verify_at() {
	local vt=0 vm=0 ms mb t0 t1
	t0=$(date +%s.%N)
	fill "$1"
	t1=$(date +%s.%N)
	echo "log filled to $1 entries ($(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s, 1,000 appends per transaction)"
	for ((r = 0; r < ROUNDS; r++)); do
		IFS='|' read -r ms mb < <(verify_once)
		vt=$(awk -v x="$vt" -v y="$ms" 'BEGIN { print x + y }')
		vm=$(awk -v x="$vm" -v y="$mb" 'BEGIN { print (y > x) ? y : x }')
	done
	echo "verify_audit, $1 entries: $(awk -v s="$vt" -v n="$ROUNDS" 'BEGIN { printf "%.0f", s / n }') ms (mean of $ROUNDS), peak memory growth $(awk -v m="$vm" 'BEGIN { printf "%.1f", m }') MB (max)"
}
verify_at $((ENTRIES / 10))
verify_at "$ENTRIES"

# bulk: N appends in one transaction, commit included
bulk_once() {
	bpsql -At <<SQL
SELECT clock_timestamp() AS t0 \gset
BEGIN;
SELECT count(privacy._audit('bulk', NULL, jsonb_build_object('i', g))) FROM generate_series(1, $1) g \g /dev/null
COMMIT;
SELECT round(extract(epoch FROM clock_timestamp() - :'t0'::timestamptz) * 1000);
SQL
}
s2=0; s8=0
for ((r = 0; r < ROUNDS; r++)); do
	if ((r % 2 == 0)); then
		a=$(bulk_once 2000); b=$(bulk_once 8000)
	else
		b=$(bulk_once 8000); a=$(bulk_once 2000)
	fi
	s2=$((s2 + a)); s8=$((s8 + b))
done
m2=$((s2 / ROUNDS)); m8=$((s8 / ROUNDS))
echo "appends in one transaction: 2,000 in $m2 ms, 8,000 in $m8 ms, ratio $(ratio "$m8" "$m2") (goal <= 4.5)"

# one append per transaction, as a rights call makes it
f=$(script audit_one "SELECT privacy._audit('access', 'd41d8cd98f00b204e9800998ecf8427e', '{\"request\": 1, \"kind\": \"access\"}');")
read -r lat tps < <(pgb "$f" 1 "$BENCH_SECONDS")
echo "one append per transaction (autocommit, pgbench -M prepared, 1 client): $lat ms, $tps tps"
bval "SELECT privacy.verify_audit()" >/dev/null && echo "chain verifies after the bench"
