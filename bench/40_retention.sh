#!/usr/bin/env bash
# Retention benchmark (run by `make bench` after the common set-up).
# Three identical 1M-row tables, half of the rows expired, spread over the
# whole table (age not correlated with the physical order):
#   b: one-shot DELETE ... WHERE at < cutoff          (the reference)
#   a: privacy.run_retention(policy)                   (one transaction)
#   c: the background worker, batches of retention_batch_size rows, each its
#      own transaction, while pgbench runs a point-read/update/insert workload
#      on the same table; the same workload is measured on c before, alone.
# Prints throughput ratios, the longest batch transaction and the pgbench
# latency ratio, measured side by side in this run.
# Then the cascade case (CASCADE=0 skips it): two identical message tables of
# $ROWS rows, half expired, 10% with one attachment each (FK without ON
# DELETE action): a hand-written DELETE ... USING of the attachments, then the
# messages, in one transaction, vs run_retention (dependents deleted
# children-first in each batch).
set -euo pipefail
. "$(dirname "$0")/../test/lib.sh"
DB=bench_retention
ROWS=${ROWS:-1000000}
PGB_SECONDS=${PGB_SECONDS:-10}
PGB_RATE=${PGB_RATE:-300}
# ORDER=random: ages spread over the table (worst case for a walk in age
# order); ORDER=append: ages follow the insertion order (logs, events)
ORDER=${ORDER:-random}
if [ "$ORDER" = append ]; then
	AGE="now() - (1 - g::float8 / $ROWS) * interval '60 days'"
else
	AGE="now() - random() * interval '60 days'"
fi
PSQL="psql -X -q -At -v ON_ERROR_STOP=1 -d $DB"
now() { date +%s.%N; }
as_pg dropdb --if-exists $DB >/dev/null 2>&1 || true
as_pg createdb $DB
as_pg psql -X -q -d postgres -c "ALTER SYSTEM SET privacy.retention_enabled = off" -c "SELECT pg_reload_conf()" >/dev/null
as_pg $PSQL -c "CREATE EXTENSION privacy"

echo "== building 3 x $ROWS rows (half expired, ages in $ORDER order)"
as_pg $PSQL <<SQL
CREATE TABLE a (id bigserial PRIMARY KEY, at timestamptz NOT NULL, customer int NOT NULL, payload text);
INSERT INTO a (at, customer, payload)
SELECT $AGE, (random() * 100000)::int, md5(g::text) || md5((g * 7)::text)
  FROM generate_series(1, $ROWS) g;
CREATE INDEX a_at ON a (at);
CREATE TABLE b (LIKE a INCLUDING ALL);
INSERT INTO b SELECT * FROM a;
CREATE TABLE c (LIKE a INCLUDING ALL);
INSERT INTO c SELECT * FROM a;
SELECT setval(pg_get_serial_sequence('a', 'id'), $ROWS) \\g /dev/null
VACUUM ANALYZE a; VACUUM ANALYZE b; VACUUM ANALYZE c;
CHECKPOINT;
SQL
EXPIRED=$(as_pg $PSQL -c "SELECT count(*) FROM a WHERE at < now() - interval '30 days'")
echo "expired rows per table: $EXPIRED"

echo "== one-shot DELETE on b"
t0=$(now)
as_pg $PSQL -c "DELETE FROM b WHERE at < now() - interval '30 days'"
t_delete=$(echo "$(now) - $t0" | bc -l)

echo "== run_retention on a"
P_A=$(as_pg $PSQL -c "SELECT privacy.add_retention('a', 'at', '30 days')")
as_pg $PSQL -c "CHECKPOINT"
t0=$(now)
N_A=$(as_pg $PSQL -c "SELECT privacy.run_retention($P_A)")
t_run=$(echo "$(now) - $t0" | bc -l)

echo "== pgbench on c alone (baseline, ${PGB_SECONDS}s at $PGB_RATE tps)"
cat > /tmp/ret_bench.$$.sql <<'PGB'
\set id random(1, 1000000)
\set cust random(1, 100000)
SELECT * FROM c WHERE id = :id;
UPDATE c SET payload = md5(payload) WHERE id = :id;
INSERT INTO c (at, customer, payload) VALUES (now(), :cust, 'new');
PGB
chmod 644 /tmp/ret_bench.$$.sql
LOGDIR=$(mktemp -d /tmp/ret_bench_log.XXXXXX); chmod 777 "$LOGDIR"
# pgbench with per-transaction logs; prints nothing
pgb() { (cd "$LOGDIR" && as_pg pgbench -n -d $DB -c 4 -j 2 -R $PGB_RATE -T $PGB_SECONDS -l \
	--log-prefix="$1" -f /tmp/ret_bench.$$.sql >/dev/null 2>&1); }
# mean latency (ms) of the transactions that ended in [from, to] (epoch s)
lat() { cat "$LOGDIR/$1".* | awk -v f="${2:-0}" -v t="${3:-1e12}" \
	'{ e = $5 + $6 / 1e6; if (e >= f && e <= t) { s += $3; n++ } } END { if (n) printf "%.3f", s / n / 1000; else print "nan" }'; }
pgb base
lat_base=$(lat base)
P_C=$(as_pg $PSQL -c "SELECT privacy.add_retention('c', 'at', '30 days')")
as_pg $PSQL -c "CHECKPOINT"

echo "== the worker on c, with pgbench running"
as_pg psql -X -q -d postgres -c "ALTER SYSTEM SET privacy.retention_enabled = on" -c "SELECT pg_reload_conf()" >/dev/null
pgb worker
as_pg psql -X -q -d postgres -c "ALTER SYSTEM RESET privacy.retention_enabled" -c "SELECT pg_reload_conf()" >/dev/null
# the worker's first complete run over c
read -r N_C t_worker longest batches w_from w_to <<<"$(as_pg $PSQL -F ' ' -c "
	SELECT rows, extract(epoch FROM finished - started), round(longest_batch_ms::numeric, 1), batches,
	       extract(epoch FROM started), extract(epoch FROM finished)
	  FROM privacy.retention_runs WHERE policy = $P_C AND finished IS NOT NULL AND rows > 0
	 ORDER BY id LIMIT 1")"
lat_worker=$(lat worker "$w_from" "$w_to")
read -r longest_a <<<"$(as_pg $PSQL -c "SELECT round(longest_batch_ms::numeric, 1) FROM privacy.retention_runs WHERE policy = $P_A ORDER BY id LIMIT 1")"
LEFT_C=$(as_pg $PSQL -c "SELECT count(*) FROM c WHERE at < now() - interval '30 days' AND customer >= 0 AND payload <> 'new'")
BATCH=$(as_pg $PSQL -c "SHOW privacy.retention_batch_size")
rm -rf /tmp/ret_bench.$$.sql "$LOGDIR"

echo
echo "== results ($ROWS rows, $EXPIRED expired, ages in $ORDER order, batch size $BATCH)"
printf '%-44s %10s %12s %8s\n' "method" "seconds" "rows/s" "ratio"
tp_del=$(echo "$EXPIRED / $t_delete" | bc -l)
tp_run=$(echo "$N_A / $t_run" | bc -l)
tp_wrk=$(echo "${N_C:-0} / ${t_worker:-1}" | bc -l)
printf '%-44s %10.2f %12.0f %8s\n' "DELETE ... WHERE at < cutoff (one shot)" "$t_delete" "$tp_del" "1.00"
printf '%-44s %10.2f %12.0f %8.2f\n' "run_retention (one transaction)" "$t_run" "$tp_run" "$(echo "$tp_run / $tp_del" | bc -l)"
printf '%-44s %10.2f %12.0f %8.2f\n' "worker, under pgbench load" "${t_worker:-0}" "$tp_wrk" "$(echo "$tp_wrk / $tp_del" | bc -l)"
echo
printf '%-44s %10s\n' "longest batch transaction, worker (ms)" "${longest:-?}"
printf '%-44s %10s\n' "longest batch, run_retention (ms)" "${longest_a:-?}"
printf '%-44s %10s\n' "worker batches" "${batches:-?}"
printf '%-44s %10s\n' "expired rows left in c (of the old ones)" "$LEFT_C"
printf '%-44s %10s\n' "pgbench latency alone (ms)" "$lat_base"
printf '%-44s %10s\n' "pgbench latency while the worker ran (ms)" "$lat_worker"
printf '%-44s %10.2f\n' "latency ratio" "$(echo "$lat_worker / $lat_base" | bc -l)"

if [ "${CASCADE:-1}" = 1 ]; then
echo
echo "== cascade case: $ROWS messages, 10% with one attachment"
as_pg $PSQL <<SQL
CREATE TABLE m1 (id bigint PRIMARY KEY, at timestamptz NOT NULL, body text);
INSERT INTO m1 SELECT g, $AGE, md5(g::text) FROM generate_series(1, $ROWS) g;
CREATE INDEX m1_at ON m1 (at);
CREATE TABLE a1 (id bigint PRIMARY KEY, message_id bigint NOT NULL REFERENCES m1, name text);
INSERT INTO a1 SELECT g, g * 10, 'file' FROM generate_series(1, $ROWS / 10) g;
CREATE INDEX a1_m ON a1 (message_id);
CREATE TABLE m2 (LIKE m1 INCLUDING ALL);
INSERT INTO m2 SELECT * FROM m1;
CREATE TABLE a2 (LIKE a1 INCLUDING ALL);
ALTER TABLE a2 ADD FOREIGN KEY (message_id) REFERENCES m2;
INSERT INTO a2 SELECT * FROM a1;
VACUUM ANALYZE m1; VACUUM ANALYZE a1; VACUUM ANALYZE m2; VACUUM ANALYZE a2;
CHECKPOINT;
SQL
C_EXP=$(as_pg $PSQL -c "SELECT count(*) FROM m1 WHERE at < now() - interval '30 days'")
C_AEXP=$(as_pg $PSQL -c "SELECT count(*) FROM a1 JOIN m1 ON m1.id = a1.message_id WHERE m1.at < now() - interval '30 days'")
t0=$(now)
as_pg $PSQL -c "BEGIN" -c "DELETE FROM a1 USING m1 WHERE a1.message_id = m1.id AND m1.at < now() - interval '30 days'" \
	-c "DELETE FROM m1 WHERE at < now() - interval '30 days'" -c "COMMIT"
t_hand=$(echo "$(now) - $t0" | bc -l)
P_M=$(as_pg $PSQL -c "SELECT privacy.add_retention('m2', 'at', '30 days')")
as_pg $PSQL -c "CHECKPOINT"
t0=$(now)
N_M=$(as_pg $PSQL -c "SELECT privacy.run_retention($P_M)")
t_casc=$(echo "$(now) - $t0" | bc -l)
read -r longest_m <<<"$(as_pg $PSQL -c "SELECT round(longest_batch_ms::numeric, 1) FROM privacy.retention_runs WHERE policy = $P_M ORDER BY id LIMIT 1")"
A_LEFT=$(as_pg $PSQL -c "SELECT count(*) FROM a2 JOIN m2 ON m2.id = a2.message_id WHERE m2.at < now() - interval '30 days'")
echo
echo "== cascade results ($ROWS messages, $C_EXP expired, $C_AEXP of their attachments)"
printf '%-44s %10s %12s %8s\n' "method" "seconds" "messages/s" "ratio"
tp_hand=$(echo "$C_EXP / $t_hand" | bc -l)
tp_casc=$(echo "$N_M / $t_casc" | bc -l)
printf '%-44s %10.2f %12.0f %8s\n' "DELETE attachments USING, then messages" "$t_hand" "$tp_hand" "1.00"
printf '%-44s %10.2f %12.0f %8.2f\n' "run_retention (dependents first)" "$t_casc" "$tp_casc" "$(echo "$tp_casc / $tp_hand" | bc -l)"
printf '%-44s %10s\n' "longest batch, run_retention (ms)" "${longest_m:-?}"
printf '%-44s %10s\n' "attachments of expired messages left" "$A_LEFT"
fi
as_pg dropdb $DB
