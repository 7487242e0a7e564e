#!/usr/bin/env bash
# bench/20_erase.sh — issue 3: privacy.erase for one subject versus the
# hand-written DELETEs, and erase latency as tables grow.
#
# 1. Same data set as 10_access (root + five tables of 1M rows, 50 rows per
#    customer per table).  Each pgbench transaction erases one random
#    customer inside BEGIN ... ROLLBACK, so the data set stays the same:
#    (a) hand-written: six DELETEs, children first;
#    (b) SELECT privacy.erase('customer', :id::text), bookkeeping included
#        (request, receipt, audit entry, erasure ledger: all rolled back too).
#    Target: b/a <= 2 (goal 1.5).
# 2. Growth: privacy.erase (and the hand-written DELETEs, for reference) on a
#    data set ten times smaller and on the 1M one: 100k vs 1M rows per table by
#    default; with BENCH_BIG=1, 1M vs 10M rows per table (building the 10M
#    set takes several minutes and ~6 GB).  Same 50 rows per customer at every
#    size.  Goal: latency ratio big/small <= 1.3.
set -euo pipefail
. "$(dirname "$0")/common.sh"

bench_createdb
bench_build b1m 1000000 customer
if [ "${BENCH_BIG:-0}" = 1 ]; then
	small=(b1m 1000000 customer)
	big=(b10m 10000000 customer_10m)
	bench_build b10m 10000000 customer_10m
else
	small=(b100k 100000 customer_100k)
	big=(b1m 1000000 customer)
	bench_build b100k 100000 customer_100k
fi
bench_header

# hand_erase SCHEMA: the six DELETEs, children first, root last
hand_erase() {
	local s=$1 n=$(($2 / 50))
	script "erase_hand_$s" "\\set id random(1, $n)
BEGIN;
DELETE FROM $s.orders WHERE customer_id = :id;
DELETE FROM $s.messages WHERE customer_id = :id;
DELETE FROM $s.devices WHERE customer_id = :id;
DELETE FROM $s.payments WHERE customer_id = :id;
DELETE FROM $s.events WHERE customer_ref = :id;
DELETE FROM $s.customers WHERE id = :id;
ROLLBACK;"
}
# priv_erase SCHEMA ROWS SUBJECT
priv_erase() {
	local s=$1 n=$(($2 / 50)) subject=$3
	script "erase_privacy_$s" "\\set id random(1, $n)
BEGIN;
SELECT privacy.erase('$subject', :id::text);
ROLLBACK;"
}
# usable SUBJECT: privacy.erase exists and the subject is mapped
usable() {
	{ has_fn 'privacy.erase(text,text,text,boolean,text)' || has_fn 'privacy.erase(text,text,text,boolean)'; } &&
		[ "$(bval "SELECT count(*) FROM privacy.subject_tables WHERE subject = '$1'")" -ge 6 ]
}

have_priv=0
if usable customer; then
	have_priv=1
	# sanity: the dry-run receipt shows 251 rows (1 + 5 x 50)
	echo "receipt for customer 7 (dry run): $(bval "SELECT privacy.erase('customer', '7', dry_run => true) -> 'tables'")"
else
	echo "privacy.erase or the subject 'customer' is not there yet: measuring the hand-written side only"
fi

h1=$(hand_erase b1m 1000000)
p1=$(priv_erase b1m 1000000 customer)
pgb "$h1" 1 5 >/dev/null
[ $have_priv = 1 ] && pgb "$p1" 1 5 >/dev/null

echo
echo "erase, one customer, BEGIN ... ROLLBACK: root + 5 tables x 1000000 rows, 251 rows per customer"
echo "(mean latency of $BENCH_ROUNDS alternating runs of ${BENCH_SECONDS}s per side)"
printf '%-8s %18s %20s %11s %12s %14s\n' clients "6 DELETEs ms" "privacy.erase ms" "ratio b/a" "tps (a)" "tps (b)"
for c in 1 2; do
	read -r lat_a lat_b tps_a tps_b < <(side_by_side "$h1" "$([ $have_priv = 1 ] && echo "$p1")" "$c")
	printf '%-8s %18s %20s %11s %12s %14s\n' "$c" "$lat_a" "$lat_b" "$(ratio "$lat_b" "$lat_a")" "$tps_a" "$tps_b"
done
echo "target: ratio <= 2 (goal 1.5)"

echo
echo "erase latency as the tables grow (1 client, 50 rows per customer per table)"
hs=$(hand_erase "${small[0]}" "${small[1]}")
hb=$(hand_erase "${big[0]}" "${big[1]}")
ps=$(priv_erase "${small[@]}")
pb=$(priv_erase "${big[@]}")
priv_small=0; priv_big=0
usable "${small[2]}" && priv_small=1
usable "${big[2]}" && priv_big=1
pgb "$hs" 1 5 >/dev/null
pgb "$hb" 1 5 >/dev/null
[ $priv_small = 1 ] && pgb "$ps" 1 5 >/dev/null
[ $priv_big = 1 ] && pgb "$pb" 1 5 >/dev/null
# small and big alternate too: hand-written, then privacy.erase
read -r hs_lat hb_lat _ < <(side_by_side "$hs" "$hb" 1)
ps_lat=n/a; pb_lat=n/a
if [ $priv_small = 1 ] && [ $priv_big = 1 ]; then
	read -r ps_lat pb_lat _ < <(side_by_side "$ps" "$pb" 1)
fi
printf '%-16s %16s %16s %14s\n' "" "${small[1]} rows ms" "${big[1]} rows ms" "ratio big/small"
printf '%-16s %16s %16s %14s\n' "6 DELETEs" "$hs_lat" "$hb_lat" "$(ratio "$hb_lat" "$hs_lat")"
printf '%-16s %16s %16s %14s\n' "privacy.erase" "$ps_lat" "$pb_lat" "$(ratio "$pb_lat" "$ps_lat")"
g_h=$(ratio "$hb_lat" "$hs_lat"); g_p=$(ratio "$pb_lat" "$ps_lat")
printf '%-16s %16s %16s %14s\n' "privacy/hand" "$(ratio "$ps_lat" "$hs_lat")" "$(ratio "$pb_lat" "$hb_lat")" "$(ratio "$g_p" "$g_h")"
echo "goal: privacy.erase ratio big/small <= 1.3 (last column of the last line: its growth"
echo "relative to the hand-written DELETEs' growth, i.e. what privacy adds as tables grow)"
[ "${BENCH_BIG:-0}" = 1 ] || echo "(1M vs 10M rows: run with BENCH_BIG=1 make bench; builds 50M rows, several minutes)"
for e in "$BENCH_TMP"/*.err; do
	[ -e "$e" ] || continue
	echo "--- pgbench problems ($(basename "$e")):"; tail -n 5 "$e"
done
