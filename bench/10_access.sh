#!/usr/bin/env bash
# bench/10_access.sh — issue 2: privacy.access for one subject versus the
# hand-written query a developer would write, side by side in one run.
#
# Data: root + five tables of 1M rows (4 with a foreign key, 1 linked without
# one), 20,000 customers, 50 rows each per table, every link column indexed.
# (a) hand-written: one jsonb_build_object of six index lookups (the root row
#     and jsonb_agg of each table's rows) for a random customer;
# (b) SELECT privacy.access('customer', :id::text) for a random customer
#     (includes its bookkeeping: the request row and the audit entry).
# Both with pgbench -M prepared, 1 and 2 clients, BENCH_ROUNDS alternating
# runs of BENCH_SECONDS per side (defaults 2 x 15 s), mean latency.
# Target: b/a <= 1.5 (goal 1.2).
set -euo pipefail
. "$(dirname "$0")/common.sh"

S=b1m
ROWS=1000000
N=$((ROWS / 50))
bench_createdb
bench_build "$S" "$ROWS" customer
bench_header

hand=$(script access_hand "\\set id random(1, $N)
SELECT jsonb_build_object(
	'$S.customers', (SELECT coalesce(jsonb_agg(to_jsonb(t)), '[]') FROM $S.customers t WHERE t.id = :id),
	'$S.orders', (SELECT coalesce(jsonb_agg(to_jsonb(t)), '[]') FROM $S.orders t WHERE t.customer_id = :id),
	'$S.messages', (SELECT coalesce(jsonb_agg(to_jsonb(t)), '[]') FROM $S.messages t WHERE t.customer_id = :id),
	'$S.devices', (SELECT coalesce(jsonb_agg(to_jsonb(t)), '[]') FROM $S.devices t WHERE t.customer_id = :id),
	'$S.payments', (SELECT coalesce(jsonb_agg(to_jsonb(t)), '[]') FROM $S.payments t WHERE t.customer_id = :id),
	'$S.events', (SELECT coalesce(jsonb_agg(to_jsonb(t)), '[]') FROM $S.events t WHERE t.customer_ref = :id));")
priv=$(script access_privacy "\\set id random(1, $N)
SELECT privacy.access('customer', :id::text);")

have_priv=0
if has_fn 'privacy.access(text,text)' && [ "$(bval "SELECT count(*) FROM privacy.subject_tables WHERE subject = 'customer'")" -ge 6 ]; then
	have_priv=1
	# sanity: both sides return the same rows for one customer
	rows_a=$(bval "SELECT sum(n) FROM (SELECT count(*) n FROM $S.customers WHERE id = 7 UNION ALL
		SELECT count(*) FROM $S.orders WHERE customer_id = 7 UNION ALL SELECT count(*) FROM $S.messages WHERE customer_id = 7 UNION ALL
		SELECT count(*) FROM $S.devices WHERE customer_id = 7 UNION ALL SELECT count(*) FROM $S.payments WHERE customer_id = 7 UNION ALL
		SELECT count(*) FROM $S.events WHERE customer_ref = 7) s")
	rows_b=$(bval "SELECT sum(jsonb_array_length(value)) FROM jsonb_each(privacy.access('customer', '7') -> 'data')")
	echo "rows for customer 7: hand-written $rows_a, privacy.access $rows_b"
else
	echo "privacy.access or the subject 'customer' is not there yet: measuring the hand-written side only"
fi

# warm-up (not measured): caches and prepared plans
pgb "$hand" 1 5 >/dev/null
[ $have_priv = 1 ] && pgb "$priv" 1 5 >/dev/null

echo
echo "access, one customer: root + 5 tables x $ROWS rows, 50 rows per table per customer"
echo "(mean latency of $BENCH_ROUNDS alternating runs of ${BENCH_SECONDS}s per side)"
printf '%-8s %18s %20s %11s %12s %14s\n' clients "hand-written ms" "privacy.access ms" "ratio b/a" "tps (a)" "tps (b)"
for c in 1 2; do
	read -r lat_a lat_b tps_a tps_b < <(side_by_side "$hand" "$([ $have_priv = 1 ] && echo "$priv")" "$c")
	printf '%-8s %18s %20s %11s %12s %14s\n' "$c" "$lat_a" "$lat_b" "$(ratio "$lat_b" "$lat_a")" "$tps_a" "$tps_b"
done
echo "target: ratio <= 1.5 (goal 1.2)"
for e in "$BENCH_TMP"/*.err; do
	[ -e "$e" ] || continue
	echo "--- pgbench problems ($(basename "$e")):"; tail -n 5 "$e"
done
