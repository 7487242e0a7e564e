#!/usr/bin/env bash
# `make stress`: the randomized erase property test (test/sql/45_erase_property.sql)
# over many more generated schemas than `make test` runs, against a throwaway
# cluster (test/lib.sh).  PRIVACY_STRESS_SCHEMAS (default 500) schemas from
# seed PRIVACY_STRESS_SEED (default 1000); prints the failing cases, if any,
# and ends with "N cases, N failed".
set -uo pipefail
. "$(dirname "$0")/lib.sh"
set -e
privacy_setup
schemas=${PRIVACY_STRESS_SCHEMAS:-500}
seed=${PRIVACY_STRESS_SEED:-1000}
as_pg createdb privacy_stress
cp "$TOP/test/sql/45_erase_property.sql" "$WORK/property.sql"
[ "$(id -u)" -eq 0 ] && chown postgres: "$WORK/property.sql"
as_pg psql -X -q -d privacy_stress -v schemas="$schemas" -v first_seed="$seed" \
	-f "$WORK/property.sql" > "$WORK/stress.out" 2>&1 || true
cat "$WORK/stress.out"
line=$(grep -E '^ +[0-9]+ \| +[0-9]+ \| +[0-9]+ \| +[0-9]+ \|' "$WORK/stress.out" | head -1)
cases=$(echo "$line" | awk -F'|' '{gsub(/ /, "", $2); print $2}')
failing=$(echo "$line" | awk -F'|' '{gsub(/ /, "", $4); print $4}')
echo "${cases:-0} cases, ${failing:-1} failed"
[ -n "$cases" ] && [ "$failing" = 0 ]
