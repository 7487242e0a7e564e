#!/usr/bin/env bash
# bench/80_protect.sh — issue 9 item 7 / issue 10 item 10: the cost of
# protect()'s row-level security for a reader, side by side in one run.
#
# Data: shops (2,000) <- baskets (20,000) <- items (200,000): items is two
# hops from the root.  A reader with SELECT on items only counts the rows of
# items: (a) the table without protect(); (b) protected, nobody restricted;
# (c) protected, one shop restricted.  The policy function takes the row
# (tableoid, ctid), reads the restricted keys once per statement and the
# row's path to the root as the table's owner (src/rights.c).
set -euo pipefail
. "$(dirname "$0")/common.sh"

bench_createdb
bench_header
bpsql <<'SQL'
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS bprot CASCADE;
CREATE SCHEMA bprot;
CREATE TABLE bprot.shops (id int PRIMARY KEY);
CREATE TABLE bprot.baskets (id int PRIMARY KEY, shop int REFERENCES bprot.shops);
CREATE TABLE bprot.items (id int PRIMARY KEY, basket int REFERENCES bprot.baskets);
CREATE TABLE bprot.items_plain (id int PRIMARY KEY, basket int REFERENCES bprot.baskets);
INSERT INTO bprot.shops SELECT generate_series(1, 2000);
INSERT INTO bprot.baskets SELECT i, 1 + i % 2000 FROM generate_series(1, 20000) i;
INSERT INTO bprot.items SELECT i, 1 + i % 20000 FROM generate_series(1, 200000) i;
INSERT INTO bprot.items_plain SELECT * FROM bprot.items;
CREATE INDEX ON bprot.items (basket);
ANALYZE bprot.shops, bprot.baskets, bprot.items, bprot.items_plain;
SELECT privacy.define_subject('bshop', 'bprot.shops');
SELECT privacy.protect('bprot.items');
DO $$ BEGIN CREATE ROLE bench_reader; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
GRANT USAGE ON SCHEMA bprot TO bench_reader;
GRANT SELECT ON bprot.items, bprot.items_plain TO bench_reader;
SQL

# the mean time of COUNT over a table as the reader, in ms (5 runs)
count_ms() {
	as_pg psql -X -At -d "$BENCH_DB" -c "SET ROLE bench_reader" -c "
		DO \$\$ DECLARE t0 timestamptz; n bigint; total float8 := 0; BEGIN
			PERFORM count(*) FROM $1;
			FOR i IN 1..5 LOOP
				t0 := clock_timestamp(); SELECT count(*) INTO n FROM $1;
				total := total + extract(epoch FROM clock_timestamp() - t0) * 1000;
			END LOOP;
			RAISE NOTICE '%', round((total / 5)::numeric, 1);
		END \$\$;" 2>&1 | sed -n 's/.*NOTICE: *//p'
}

a=$(count_ms bprot.items_plain)
b=$(count_ms bprot.items)
bpsql -c "SELECT privacy.restrict('bshop', '1', 'bench')"
c=$(count_ms bprot.items)
bpsql -c "SELECT privacy.unrestrict('bshop', '1')"
echo "count(*) of 200,000 rows two hops from the root, as a reader (ms):"
echo "  (a) not protected              $a"
echo "  (b) protected, none restricted $b   b/a = $(ratio "$b" "$a")"
echo "  (c) protected, one restricted  $c   c/a = $(ratio "$c" "$a")"
bpsql -c "SET client_min_messages = warning" -c "DROP SCHEMA bprot CASCADE"
