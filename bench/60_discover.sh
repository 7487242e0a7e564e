#!/usr/bin/env bash
# Discovery benchmark (run by `make bench` after the common set-up):
#  1. privacy.discover on a 1M-row, 10-column table (target: well under 1 s),
#     side by side with a sequential count(*) of the same table;
#  2. precision and recall of discover_all() over the labelled corpus of
#     test/sql/70_discover.sql (all proposals, and those >= 0.8 that
#     apply_discovery would classify).
set -euo pipefail
. "$(dirname "$0")/../test/lib.sh"
DB=bench_discover
PSQL="psql -X -q -v ON_ERROR_STOP=1 -d $DB"
as_pg dropdb --if-exists $DB >/dev/null 2>&1 || true
as_pg createdb $DB
as_pg $PSQL -c "CREATE EXTENSION privacy"

echo "== building a 1M-row, 10-column table"
as_pg $PSQL <<'SQL'
CREATE TABLE big (
	id bigint PRIMARY KEY, email text, phone text, ip inet, card text,
	amount numeric(10,2), sku text, note text, created timestamptz, lat float8);
INSERT INTO big
SELECT i, 'user' || i || '@example.com', '+44 20 7946 ' || lpad((i % 10000)::text, 4, '0'),
	('10.' || (i / 65536) % 256 || '.' || (i / 256) % 256 || '.' || i % 256)::inet,
	'4111111111111111', i * 0.5, 'SKU-' || i, 'free text about order ' || i,
	now() - i * interval '1 minute', 51.5 + (i % 1000) / 10000.0
FROM generate_series(1, 1000000) i;
VACUUM ANALYZE big;
SQL

echo "== timing (best and mean of 5 runs each, ms)"
as_pg $PSQL <<'SQL'
DO $$
DECLARE t0 timestamptz; d float8; n int;
	best_d float8 := 1e9; sum_d float8 := 0; best_s float8 := 1e9; sum_s float8 := 0;
BEGIN
	FOR i IN 1..5 LOOP
		t0 := clock_timestamp();
		SELECT count(*) INTO n FROM privacy.discover('big');
		d := extract(epoch FROM clock_timestamp() - t0) * 1000;
		best_d := least(best_d, d); sum_d := sum_d + d;
		t0 := clock_timestamp();
		PERFORM count(*) FROM big;
		d := extract(epoch FROM clock_timestamp() - t0) * 1000;
		best_s := least(best_s, d); sum_s := sum_s + d;
	END LOOP;
	RAISE NOTICE 'discover(big, 1000): % proposals, best % ms, mean % ms',
		n, round(best_d::numeric, 1), round((sum_d / 5)::numeric, 1);
	RAISE NOTICE 'count(*) FROM big (seq scan): best % ms, mean % ms',
		round(best_s::numeric, 1), round((sum_s / 5)::numeric, 1);
	RAISE NOTICE 'ratio discover / seq scan: %', round((sum_d / sum_s)::numeric, 3);
END $$;
SQL
as_pg $PSQL -c "SELECT column_name, category, confidence, matched, sampled FROM privacy.discover('big') ORDER BY 1"
as_pg $PSQL -c "DROP TABLE big"

echo "== precision / recall over the labelled corpus"
# the corpus = the set-up part of the regression test
sed -n '/^-- generators of valid/,/^-- the proposals/p' "$TOP/test/sql/70_discover.sql" > /tmp/corpus.$$.sql
chmod 644 /tmp/corpus.$$.sql
as_pg $PSQL -f /tmp/corpus.$$.sql
rm -f /tmp/corpus.$$.sql
as_pg $PSQL <<'SQL'
CREATE TEMP TABLE labels (tbl text, col name, category text);
INSERT INTO labels VALUES
	('disc.customers', 'email', 'user.contact.email'),
	('disc.customers', 'contact', 'user.contact.phone_number'),
	('disc.customers', 'full_name', 'user.name'),
	('disc.customers', 'firstName', 'user.name.first'),
	('disc.customers', 'home_address', 'user.contact.address'),
	('disc.customers', 'client_ip', 'user.device.ip_address'),
	('disc.customers', 'last_ip', 'user.device.ip_address'),
	('disc.customers', 'birth_date', 'user.demographic.date_of_birth'),
	('disc.customers', 'payout', 'user.financial.bank_account'),
	('disc.customers', 'card', 'user.financial.credit_card'),
	('disc.orders', 'gps', 'user.location.precise'),
	('disc.people_ids', 'cn', 'user.government_id.national_identification_number'),
	('disc.people_ids', 'us', 'user.government_id.national_identification_number'),
	('disc.people_ids', 'uk', 'user.government_id.national_identification_number'),
	('disc.people_ids', 'lat', 'user.location.precise'),
	('disc.people_ids', 'lon', 'user.location.precise'),
	('disc.people_ids', 'correo', 'user.contact.email'),
	('disc.people_ids', '手机', 'user.contact.phone_number'),
	('disc."Weird ""Table""; DROP TABLE x"', 'E-Mail Address', 'user.contact.email'),
	('disc."Weird ""Table""; DROP TABLE x"', 'Telefono; --', 'user.contact.phone_number'),
	('disc.empty_contacts', 'phone_number', 'user.contact.phone_number'),
	('disc.empty_contacts', 'e_mail', 'user.contact.email'),
	('disc.empty_contacts', 'surname', 'user.name.last'),
	('disc.empty_contacts', 'date_of_birth', 'user.demographic.date_of_birth');
CREATE TEMP TABLE props AS SELECT table_name::text AS tbl, column_name AS col, category, confidence
	FROM privacy.discover_all();
\echo decoy columns in the corpus (no personal data):
SELECT count(*) AS decoys FROM information_schema.columns c
 WHERE c.table_schema = 'disc'
   AND NOT EXISTS (SELECT FROM labels l WHERE l.col = c.column_name
                   AND l.tbl = format('%I.%I', c.table_schema, c.table_name));
SELECT t AS threshold, count(p.*) AS proposals,
	count(*) FILTER (WHERE l.category = p.category) AS correct,
	(SELECT count(*) FROM labels) AS labelled,
	round(count(*) FILTER (WHERE l.category = p.category)::numeric / nullif(count(p.*), 0), 3) AS precision,
	round(count(*) FILTER (WHERE l.category = p.category)::numeric / (SELECT count(*) FROM labels), 3) AS recall
FROM (VALUES (0.0::real), (0.8::real)) v(t)
LEFT JOIN props p ON p.confidence >= v.t
LEFT JOIN labels l ON l.tbl = p.tbl AND l.col = p.col
GROUP BY t ORDER BY t;
\echo wrong or unlabelled proposals:
SELECT p.* FROM props p LEFT JOIN labels l ON l.tbl = p.tbl AND l.col = p.col
 WHERE l.category IS DISTINCT FROM p.category;
\echo labelled columns missed:
SELECT l.* FROM labels l LEFT JOIN props p ON l.tbl = p.tbl AND l.col = p.col WHERE p.col IS NULL;
SQL
as_pg dropdb $DB
