#!/usr/bin/env bash
# `make demo`: the set-up of `make test` (test/lib.sh), then a customer-service
# platform database (demo/schema.sql, generated data), then every step in
# demo/steps/*.sql in order, printed readably.
set -euo pipefail
. "$(dirname "$0")/../test/lib.sh"
privacy_setup
cd "$WORK"
cp -r "$TOP/demo" "$WORK/demo"; [ "$(id -u)" -eq 0 ] && chown -R postgres: "$WORK/demo"
as_pg createdb demo
as_pg psql -X -q -v ON_ERROR_STOP=1 -d demo -f "$WORK/demo/schema.sql"
for step in "$WORK"/demo/steps/*.sql; do
	[ -e "$step" ] || continue
	echo
	echo "################ $(basename "$step" .sql)"
	as_pg psql -X -v ON_ERROR_STOP=1 -e -d demo -f "$step"
done
echo
echo "demo finished"
