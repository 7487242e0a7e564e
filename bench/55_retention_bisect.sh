#!/usr/bin/env bash
# Retention when some rows cannot be deleted (run by `make bench`).
# A table of $ROWS expired rows (default 10 000, one batch), of which BAD rows
# (1, 10, 100 by default: BADS="1 10 100") are refused by a BEFORE DELETE
# trigger that raises (as an application's rule refusing one invoice would).
# Also BADS=0: no bad row, the reference.  DEPS=1: each row has a dependent
# row (a foreign key without ON DELETE action), which each batch deletes
# first (the per-statement cost of a unit is higher: dependents are found and
# deleted before the row).  For each, run_retention() of the
# policy, timed (wall clock, a rolled-back transaction, so each case starts
# from the same table), with the rows deleted and blocked it reports.  A
# failing batch used to fall back to one statement per row; it now splits
# the failing rows' batch in halves until each bad row is alone.
# No assertion: figures only.
set -euo pipefail
. "$(dirname "$0")/../test/lib.sh"
DB=bench_retention_bisect
ROWS=${ROWS:-10000}
BADS=${BADS:-0 1 10 100}
REPEAT=${REPEAT:-3}
PSQL="psql -X -q -At -v ON_ERROR_STOP=1 -d $DB"
as_pg dropdb --if-exists $DB >/dev/null 2>&1 || true
as_pg createdb $DB
as_pg psql -X -q -d postgres -c "ALTER SYSTEM SET privacy.retention_enabled = off" -c "SELECT pg_reload_conf()" >/dev/null
as_pg $PSQL <<SQL
SET client_min_messages = warning;
CREATE EXTENSION privacy;
CREATE TABLE inv (id int PRIMARY KEY, at timestamptz NOT NULL, bad boolean NOT NULL DEFAULT false);
CREATE INDEX ON inv (at);
CREATE FUNCTION inv_refuse() RETURNS trigger LANGUAGE plpgsql AS
\$\$BEGIN IF OLD.bad THEN RAISE EXCEPTION 'refused'; END IF; RETURN OLD; END\$\$;
CREATE TRIGGER inv_refuse BEFORE DELETE ON inv FOR EACH ROW EXECUTE FUNCTION inv_refuse();
INSERT INTO inv (id, at) SELECT g, now() - interval '2 years' - g * interval '1 minute'
  FROM generate_series(1, $ROWS) g;
${DEPS:+CREATE TABLE att (id int PRIMARY KEY, inv int REFERENCES inv);
CREATE INDEX ON att (inv);
INSERT INTO att SELECT g, g FROM generate_series(1, $ROWS) g;
VACUUM ANALYZE att;}
VACUUM ANALYZE inv;
SELECT FROM privacy.add_retention('inv', 'at', '1 year');
SQL
echo "== $ROWS expired rows${DEPS:+ (each with a dependent row)} in one batch, some refused by a trigger; run_retention(), best of $REPEAT"
printf '%-10s %-10s %-10s %s\n' "bad rows" deleted blocked "ms"
for bad in $BADS; do
	best=
	for _ in $(seq "$REPEAT"); do
		# bad rows spread evenly over the table; rolled back after
		out=$(as_pg $PSQL <<SQL 2>/dev/null
BEGIN;
SET client_min_messages = error;
UPDATE inv SET bad = (id % GREATEST($ROWS / NULLIF($bad, 0), 1) = 0 AND id / GREATEST($ROWS / NULLIF($bad, 0), 1) <= $bad)
  WHERE $bad > 0;
SELECT extract(epoch FROM clock_timestamp()) * 1000;
SELECT privacy.run_retention(1);
SELECT extract(epoch FROM clock_timestamp()) * 1000;
SELECT blocked FROM privacy.retention_runs ORDER BY id DESC LIMIT 1;
ROLLBACK;
SQL
)
		t0=$(sed -n 1p <<<"$out"); rows=$(sed -n 2p <<<"$out"); t1=$(sed -n 3p <<<"$out"); blocked=$(sed -n 4p <<<"$out")
		ms=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", b - a }')
		if [ -z "$best" ] || [ "$ms" -lt "$best" ]; then best=$ms; fi
	done
	printf '%-10s %-10s %-10s %s\n' "$bad" "$rows" "${blocked:-0}" "$best"
done
as_pg dropdb $DB
