#!/usr/bin/env bash
# Encrypted columns: the cost of the ciphertext CHECK constraint on the write
# path (README, "Encrypted columns" > Performance).  INSERT of 100,000 rows
# into an encrypted text column with the constraint (as encrypt_column makes
# it since the fourth review) and without it (dropped: the write path as it
# was before), alternately, best of 5 each; plus the check alone over the
# stored values (a scan calling it, less the same scan without it).  Run by bench/run.sh, or by hand with PGHOST/PGPORT set and
# the private install in PATH.
set -euo pipefail
. "$(dirname "$0")/../test/lib.sh"
ROWS=${BENCH_ROWS:-100000}

as_pg dropdb --if-exists bench_check
as_pg createdb bench_check
as_pg psql -X -q -v ON_ERROR_STOP=1 -d bench_check -v rows="$ROWS" <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION privacy;
CREATE TABLE src (id int PRIMARY KEY, v text);
INSERT INTO src SELECT i, 'user' || i || '@example.com' FROM generate_series(1, :rows) i;
CREATE TABLE with_check (id int PRIMARY KEY, v text);
CREATE TABLE without_check (id int PRIMARY KEY, v text);
SELECT privacy.encrypt_column('with_check', 'v');
SELECT privacy.encrypt_column('without_check', 'v');
SELECT format('ALTER TABLE without_check DROP CONSTRAINT %I', conname)
  FROM pg_constraint WHERE conrelid = 'without_check'::regclass AND contype = 'c' \gexec
VACUUM ANALYZE src;

CREATE TEMP TABLE t (what text, ms numeric);
CREATE FUNCTION pg_temp.run(tbl text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz;
BEGIN
	EXECUTE format('TRUNCATE %I', tbl);
	t0 := clock_timestamp();
	EXECUTE format('INSERT INTO %I SELECT id, v FROM src', tbl);
	INSERT INTO t VALUES (tbl, extract(epoch FROM clock_timestamp() - t0) * 1000);
END $$;
\o /dev/null
SELECT pg_temp.run('without_check'), pg_temp.run('with_check') FROM generate_series(1, 5);
\o
CREATE FUNCTION pg_temp.scan(q text) RETURNS numeric LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz; best numeric := NULL; d numeric;
BEGIN
	FOR i IN 1..5 LOOP
		t0 := clock_timestamp();
		EXECUTE q;
		d := extract(epoch FROM clock_timestamp() - t0) * 1000;
		best := least(coalesce(best, d), d);
	END LOOP;
	RETURN best;
END $$;
\pset footer off
SELECT :rows AS rows,
       round(min(ms) FILTER (WHERE what = 'without_check'), 1) AS insert_without_check_ms,
       round(min(ms) FILTER (WHERE what = 'with_check'), 1) AS insert_with_check_ms,
       round(min(ms) FILTER (WHERE what = 'with_check') / min(ms) FILTER (WHERE what = 'without_check'), 3) AS ratio,
       round(pg_temp.scan('SELECT count(privacy._is_ciphertext(v)) FROM with_check')
             - pg_temp.scan('SELECT count(v) FROM with_check'), 1) AS check_alone_ms
  FROM t;
SQL
as_pg dropdb bench_check
