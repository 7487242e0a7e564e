#!/usr/bin/env bash
# bench/80_citus.sh — issue 15: access and erase of one customer on Citus
# (a coordinator and two workers, test/citus_lib.sh) versus the same data on
# one node (the cluster of `make bench`), side by side in one run.
#
# Data, the same on both sides: 20,000 customers; per customer 3
# conversations, 20 messages (two paths to the root: directly and through
# their conversation), 5 devices, 10 orders, and 10 lines of a linked log
# without a foreign key.  On Citus: customers and every table with a
# foreign key distributed by customer_id (32 shards, one colocation group),
# the log local to the coordinator.
# (a) SELECT privacy.access('customer', :id) for a random customer;
# (b) SELECT privacy.erase('customer', :id), committed, a new customer each
#     time (two-phase commit on Citus: the records commit with the worker);
# (a', b') the same reads and DELETEs written by hand, on both sides: what
#     Citus itself costs for this work (no request, receipt or record);
# (c) protect(): what an ordinary reader pays, one customer's messages (a
#     router query on Citus) and every message (all shards), before and
#     after privacy.protect('messages') with one customer restricted.
# pgbench -M prepared, 1 client, BENCH_ROUNDS alternating runs per side
# (access: BENCH_SECONDS each; erase: BENCH_ERASES transactions each).
# Goal: Citus / single node <= 1.5.
set -euo pipefail
. "$(dirname "$0")/common.sh"
WORK=${PRIVACY_WORK:?run through make bench}
INST=$WORK/inst
. "$TOP/test/citus_lib.sh"
BENCH_ERASES=${BENCH_ERASES:-300}
N=20000
SINGLE_DB=bench_single
CITUS_DB=bench_citus

bash "$TOP/test/citus.sh" "$INST" || { echo "Citus not available: skipped"; exit 0; }
trap 'citus_stop; rm -rf "$BENCH_TMP"' EXIT
citus_start "$CITUS_DB" || { echo "Citus cluster did not start"; exit 1; }

schema="CREATE TABLE customers (customer_id bigint PRIMARY KEY, email text, name text);
CREATE TABLE conversations (customer_id bigint NOT NULL, conv_id bigint NOT NULL, topic text,
	PRIMARY KEY (customer_id, conv_id));
CREATE TABLE messages (customer_id bigint NOT NULL, msg_id bigint NOT NULL, conv_id bigint, body text,
	PRIMARY KEY (customer_id, msg_id));
CREATE TABLE devices (customer_id bigint NOT NULL, device_id bigint NOT NULL, ip inet,
	PRIMARY KEY (customer_id, device_id));
CREATE TABLE orders (customer_id bigint NOT NULL, order_id bigint NOT NULL, total numeric(10,2),
	PRIMARY KEY (customer_id, order_id));
CREATE TABLE log (customer_id bigint, at int, what text);
CREATE INDEX ON log (customer_id);
CREATE SEQUENCE erase_ids;"
distribute="SET citus.shard_count = 32;
SELECT create_distributed_table('customers', 'customer_id');
SELECT create_distributed_table(t, 'customer_id', colocate_with => 'customers')
  FROM unnest(ARRAY['conversations', 'messages', 'devices', 'orders']) t;"
data="INSERT INTO customers SELECT c, 'user' || c || '@example.com', 'Customer ' || c FROM generate_series(1, $N) c;
INSERT INTO conversations SELECT c, v, 'topic ' || v FROM generate_series(1, $N) c, generate_series(1, 3) v;
INSERT INTO messages SELECT c, m, CASE WHEN m % 4 <> 0 THEN 1 + m % 3 END, 'Hello, about my order ' || m
  FROM generate_series(1, $N) c, generate_series(1, 20) m;
INSERT INTO devices SELECT c, d, ('10.' || c % 250 || '.' || d || '.1')::inet FROM generate_series(1, $N) c, generate_series(1, 5) d;
INSERT INTO orders SELECT c, o, o * 1.5 FROM generate_series(1, $N) c, generate_series(1, 10) o;
INSERT INTO log SELECT c, a, 'event ' || a FROM generate_series(1, $N) c, generate_series(1, 10) a;
ALTER TABLE conversations ADD FOREIGN KEY (customer_id) REFERENCES customers;
ALTER TABLE messages ADD FOREIGN KEY (customer_id) REFERENCES customers;
ALTER TABLE messages ADD FOREIGN KEY (customer_id, conv_id) REFERENCES conversations (customer_id, conv_id);
ALTER TABLE devices ADD FOREIGN KEY (customer_id) REFERENCES customers;
ALTER TABLE orders ADD FOREIGN KEY (customer_id) REFERENCES customers;
ANALYZE;"
config="SET client_min_messages = warning;
CREATE EXTENSION privacy;
SELECT privacy.define_subject('customer', 'customers');
SELECT privacy.link('customer', 'log', 'customer_id');
SELECT privacy.classify('customers', 'email', 'user.contact.email');
SELECT privacy.classify('customers', 'name', 'user.name');
SELECT privacy.classify('messages', 'body', 'user.content.private');
SELECT privacy.classify('devices', 'ip', 'user.device.ip_address');
SELECT privacy.classify('log', 'what', 'user.behavior');"

echo "building the data set on both sides ..."
t0=$(date +%s)
as_pg psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $SINGLE_DB" -c "CREATE DATABASE $SINGLE_DB" 2>/dev/null
# one transaction per statement (psql -c would run each string as one)
as_pg psql -X -q -v ON_ERROR_STOP=1 -d "$SINGLE_DB" -o /dev/null <<< "$schema
$data
$config"
cpsql 0 -d "$CITUS_DB" -o /dev/null <<< "SET client_min_messages = warning;
$schema
$distribute
$data
$config"
echo "built in $(( $(date +%s) - t0 )) s"
echo "routing on Citus:"
cpsql 0 -d "$CITUS_DB" -c "SELECT table_name, via, routing FROM privacy.subject_tables ORDER BY 1::text"

# both sides answer the same for one customer
a=$(as_pg psql -X -At -d "$SINGLE_DB" -c "SELECT sum(jsonb_array_length(value)) FROM jsonb_each(privacy.access('customer', '7')->'data')")
b=$(cpsql 0 -At -d "$CITUS_DB" -c "SELECT sum(jsonb_array_length(value)) FROM jsonb_each(privacy.access('customer', '7')->'data')")
echo "rows of customer 7: single node $a, Citus $b"

access=$(script citus_access "\\set id random(1, $N)
SELECT privacy.access('customer', :id::text);")
erase=$(script citus_erase "SELECT nextval('erase_ids') AS id \\gset
SELECT privacy.erase('customer', :id::text);")
# the same work written by hand, for scale: what Citus itself costs.  Access:
# the grouped router statement the extension sends (one round trip), then
# the coordinator's linked log; erase: one DELETE per table in a
# transaction (one round trip each; one worker written, so Citus commits it
# without two-phase commit and no record is written).
hand_access=$(script citus_hand_access "\\set id random(1, $N)
SELECT (SELECT jsonb_agg(to_jsonb(t.*)) FROM customers t WHERE t.customer_id = :id),
       (SELECT jsonb_agg(to_jsonb(t.*)) FROM conversations t WHERE t.customer_id = :id),
       (SELECT jsonb_agg(to_jsonb(t.*)) FROM messages t WHERE t.customer_id = :id),
       (SELECT jsonb_agg(to_jsonb(t.*)) FROM devices t WHERE t.customer_id = :id),
       (SELECT jsonb_agg(to_jsonb(t.*)) FROM orders t WHERE t.customer_id = :id);
SELECT jsonb_agg(to_jsonb(t.*)) FROM log t WHERE t.customer_id = :id;")
hand_erase=$(script citus_hand_erase "SELECT nextval('erase_ids') AS id \\gset
BEGIN;
DELETE FROM messages WHERE customer_id = :id;
DELETE FROM conversations WHERE customer_id = :id;
DELETE FROM devices WHERE customer_id = :id;
DELETE FROM orders WHERE customer_id = :id;
DELETE FROM customers WHERE customer_id = :id;
DELETE FROM log WHERE customer_id = :id;
COMMIT;")

# run SCRIPT SIDE MODE: mean latency in ms (MODE: -T seconds or -t transactions;
# BENCH_USER: the role pgbench connects as, postgres by default)
run() {
	local f=$1 side=$2 out
	if [ "$side" = citus ]; then
		out=$(citus_as_pg pgbench -n -M prepared -c 1 $3 -f "$f" -h "$WORK/sock" -p "${CITUS_PORTS[0]}" -U "${BENCH_USER:-postgres}" "$CITUS_DB" 2>&1) || { echo n/a; return; }
	else
		out=$(as_pg pgbench -n -M prepared -c 1 $3 -f "$f" -U "${BENCH_USER:-postgres}" "$SINGLE_DB" 2>&1) || { echo n/a; return; }
	fi
	echo "$out" | sed -n 's/^latency average = \([0-9.]*\) ms/\1/p'
}
# side_by_side SCRIPT MODE: "single citus", means over BENCH_ROUNDS alternating runs
pair() {
	local r s c ss=0 sc=0
	for ((r = 0; r < BENCH_ROUNDS; r++)); do
		s=$(run "$1" single "$2"); c=$(run "$1" citus "$2")
		ss=$(awk -v x="$ss" -v y="$s" 'BEGIN { print x + y }')
		sc=$(awk -v x="$sc" -v y="$c" 'BEGIN { print x + y }')
	done
	awk -v a="$ss" -v b="$sc" -v n="$BENCH_ROUNDS" 'BEGIN { printf "%.3f %.3f\n", a / n, b / n }'
}

BENCH_DB=$SINGLE_DB bench_header
# warm-up (not measured)
run "$access" single "-T 3" >/dev/null; run "$access" citus "-T 3" >/dev/null
echo
echo "one customer, 1 client (mean latency of $BENCH_ROUNDS alternating runs per side)"
printf '%-34s %16s %12s %8s\n' "" "single node ms" "Citus ms" ratio
read -r ls lc < <(pair "$access" "-T $BENCH_SECONDS")
printf '%-34s %16s %12s %8s\n' "access (${BENCH_SECONDS}s runs)" "$ls" "$lc" "$(ratio "$lc" "$ls")"
read -r ls lc < <(pair "$erase" "-t $BENCH_ERASES")
printf '%-34s %16s %12s %8s\n' "erase, committed ($BENCH_ERASES per run)" "$ls" "$lc" "$(ratio "$lc" "$ls")"
read -r ls lc < <(pair "$hand_access" "-T $BENCH_SECONDS")
printf '%-34s %16s %12s %8s\n' "hand-written access (${BENCH_SECONDS}s)" "$ls" "$lc" "$(ratio "$lc" "$ls")"
read -r ls lc < <(pair "$hand_erase" "-t $BENCH_ERASES")
printf '%-34s %16s %12s %8s\n' "hand-written DELETEs ($BENCH_ERASES)" "$ls" "$lc" "$(ratio "$lc" "$ls")"
echo "goal: ratio <= 1.5"
echo "two-phase commits recorded on the coordinator: $(cpsql 0 -At -d "$CITUS_DB" -c 'SELECT count(*) FROM pg_dist_transaction')"

echo
echo "protect(): a reader's count(*) of messages, one customer restricted (mean of $BENCH_ROUNDS alternating runs per side)"
prot="SET client_min_messages = warning;
DO \$\$ BEGIN CREATE ROLE bench_reader LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END \$\$;
GRANT SELECT ON messages TO bench_reader;
SELECT privacy.restrict('customer', '$N', 'bench');"
as_pg psql -X -q -v ON_ERROR_STOP=1 -d "$SINGLE_DB" -o /dev/null <<< "$prot"
cpsql 0 -d "$CITUS_DB" -o /dev/null <<< "$prot"
one=$(script citus_protect_one "\\set id random(1, $N)
SELECT count(*) FROM messages WHERE customer_id = :id;")
all=$(script citus_protect_all "SELECT count(*) FROM messages;")
printf '%-34s %16s %12s %8s\n' "" "single node ms" "Citus ms" ratio
for state in "not protected" protected; do
	if [ "$state" = protected ]; then
		as_pg psql -X -q -v ON_ERROR_STOP=1 -d "$SINGLE_DB" -o /dev/null -c "SELECT privacy.protect('messages')"
		cpsql 0 -d "$CITUS_DB" -o /dev/null -c "SELECT privacy.protect('messages')"
	fi
	read -r ls lc < <(BENCH_USER=bench_reader pair "$one" "-T $BENCH_SECONDS")
	printf '%-34s %16s %12s %8s\n' "one customer, $state" "$ls" "$lc" "$(ratio "$lc" "$ls")"
	read -r ls lc < <(BENCH_USER=bench_reader pair "$all" "-t 20")
	printf '%-34s %16s %12s %8s\n' "every message, $state" "$ls" "$lc" "$(ratio "$lc" "$ls")"
done
echo "visible to the reader: single node $(as_pg psql -X -At -U bench_reader -d "$SINGLE_DB" -c 'SELECT count(*) FROM messages'), Citus $(citus_as_pg psql -X -At -h "$WORK/sock" -p "${CITUS_PORTS[0]}" -U bench_reader -d "$CITUS_DB" -c 'SELECT count(*) FROM messages')"
