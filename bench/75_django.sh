#!/usr/bin/env bash
# bench/75_django.sh — the erasure on a Django-shaped schema whose every
# foreign key is DEFERRABLE INITIALLY DEFERRED (as Django declares them),
# against the same schema with plain (immediate) foreign keys.
#
# Data (generated, Django's shape; one database per variant, because the
# erasure names every initially deferred constraint of the schemas the
# caller may use, not only the map's): auth_user (200 users),
# django_content_type, BENCH_DJ_TABLES tables (default 200) in three levels
# under auth_user (30 % referencing auth_user, 40 % a level-1 table, 30 % a
# level-2 table; every table also a content type, as generic relations do)
# plus 20 % more tables that reach no user (lookups, each with two foreign
# keys); every key NO ACTION (Django emulates CASCADE in Python) and
# indexed; 1,000 rows per table.
# Measured: erase of one user (rolled back), first call of a new session
# and warm (mean of 10), wall and CPU, in each database; in the deferred
# one, the erasure naming every initially deferred constraint (forced by a
# user's trigger) against naming those it needs, alternating; and the
# SET CONSTRAINTS ... IMMEDIATE / DEFERRED pair alone, in a transaction,
# with both lists.
set -euo pipefail
. "$(dirname "$0")/common.sh"

N=${BENCH_DJ_TABLES:-200}
MAIN_DB=$BENCH_DB

build() { # build DB 'DEFERRABLE INITIALLY DEFERRED' or ''
	BENCH_DB=$1
	bench_createdb
	bpsql <<SQL
SET client_min_messages = warning;
DO \$\$
BEGIN
	IF EXISTS (SELECT FROM privacy.subject_types WHERE name = 'dj') THEN
		PERFORM privacy.drop_subject('dj');
	END IF;
END \$\$;
DROP SCHEMA IF EXISTS dj CASCADE;
CREATE SCHEMA dj;
SELECT setseed(0.75);
CREATE TABLE dj.django_content_type (id serial PRIMARY KEY, app_label varchar(100) NOT NULL, model varchar(100) NOT NULL);
INSERT INTO dj.django_content_type (app_label, model) SELECT 'app', 'm' || g FROM generate_series(1, 50) g;
CREATE TABLE dj.auth_user (id serial PRIMARY KEY, username varchar(150) NOT NULL UNIQUE, email varchar(254) NOT NULL);
INSERT INTO dj.auth_user (username, email) SELECT 'u' || g, 'u' || g || '@example.org' FROM generate_series(1, 200) g;
DO \$d\$
DECLARE
	n int := $N;
	n1 int := greatest(1, n * 3 / 10);
	n2 int := greatest(1, n * 4 / 10);
	n3 int := n - n1 - n2;
	nl int := n / 5;
	i int;
	parent text;
	defer text := '$2';
BEGIN
	FOR i IN 1 .. n1 LOOP
		EXECUTE format('CREATE TABLE dj.app_l1_%s (id serial PRIMARY KEY, user_id integer NOT NULL'
			' CONSTRAINT app_l1_%s_user_id_fk_auth_user_id REFERENCES dj.auth_user (id) %s,'
			' content_type_id integer NOT NULL CONSTRAINT app_l1_%s_ct_fk REFERENCES dj.django_content_type (id) %s,'
			' payload text)', i, i, defer, i, defer);
		EXECUTE format('INSERT INTO dj.app_l1_%s (user_id, content_type_id, payload)'
			' SELECT 1 + (g * 7) %% 200, 1 + g %% 50, md5(g::text) FROM generate_series(1, 1000) g', i);
	END LOOP;
	FOR i IN 1 .. n2 LOOP
		parent := format('app_l1_%s', 1 + (i * 13) % n1);
		EXECUTE format('CREATE TABLE dj.app_l2_%s (id serial PRIMARY KEY, parent_id integer NOT NULL'
			' CONSTRAINT app_l2_%s_parent_id_fk REFERENCES dj.%s (id) %s,'
			' content_type_id integer NOT NULL CONSTRAINT app_l2_%s_ct_fk REFERENCES dj.django_content_type (id) %s,'
			' payload text)', i, i, parent, defer, i, defer);
		EXECUTE format('INSERT INTO dj.app_l2_%s (parent_id, content_type_id, payload)'
			' SELECT g, 1 + g %% 50, md5(g::text) FROM generate_series(1, 1000) g', i);
	END LOOP;
	FOR i IN 1 .. n3 LOOP
		parent := format('app_l2_%s', 1 + (i * 17) % n2);
		EXECUTE format('CREATE TABLE dj.app_l3_%s (id serial PRIMARY KEY, parent_id integer NOT NULL'
			' CONSTRAINT app_l3_%s_parent_id_fk REFERENCES dj.%s (id) %s,'
			' content_type_id integer NOT NULL CONSTRAINT app_l3_%s_ct_fk REFERENCES dj.django_content_type (id) %s,'
			' payload text)', i, i, parent, defer, i, defer);
		EXECUTE format('INSERT INTO dj.app_l3_%s (parent_id, content_type_id, payload)'
			' SELECT g, 1 + g %% 50, md5(g::text) FROM generate_series(1, 1000) g', i);
	END LOOP;
	FOR i IN 1 .. nl LOOP
		EXECUTE format('CREATE TABLE dj.lookup_%s (id serial PRIMARY KEY,'
			' content_type_id integer NOT NULL CONSTRAINT lookup_%s_ct_fk REFERENCES dj.django_content_type (id) %s,'
			' other_id integer CONSTRAINT lookup_%s_other_fk REFERENCES dj.lookup_%s (id) %s, payload text)',
			i, i, defer, i, greatest(1, i - 1), defer);
		EXECUTE format('INSERT INTO dj.lookup_%s (content_type_id, payload)'
			' SELECT 1 + g %% 50, md5(g::text) FROM generate_series(1, 100) g', i);
	END LOOP;
END \$d\$;
-- Django indexes every foreign key column
DO \$d\$
DECLARE c record;
BEGIN
	FOR c IN SELECT k.conrelid::regclass AS t, a.attname FROM pg_constraint k
	           JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1]
	          WHERE k.contype = 'f' AND k.connamespace = 'dj'::regnamespace LOOP
		EXECUTE format('CREATE INDEX ON %s (%I)', c.t, c.attname);
	END LOOP;
END \$d\$;
VACUUM ANALYZE;
SELECT privacy.define_subject('dj', 'dj.auth_user');
SQL
}

echo "building $N tables (+$((N / 5)) lookups) twice ..."
build "${MAIN_DB}_dj_deferred" 'DEFERRABLE INITIALLY DEFERRED'
build "${MAIN_DB}_dj_immediate" ''

for db in "${MAIN_DB}_dj_deferred" "${MAIN_DB}_dj_immediate"; do
	BENCH_DB=$db
	echo
	echo "$db: $(bval "SELECT count(*) FROM privacy.map WHERE subject = 'dj'") tables in the map," \
		"$(bval "SELECT count(*) FROM pg_constraint WHERE condeferred AND connamespace = 'dj'::regnamespace") initially deferred constraints," \
		"user 1: $(bval "SELECT sum((v->>'deleted')::int) FROM jsonb_each(privacy.erase('dj', '1', dry_run => true)->'tables') e(k, v)") rows"
	echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "erase of one user (ms): first call of a session / warm wall (mean of 10) / warm CPU"
	for round in 1 2 3; do
		r=$(bench_timed "privacy.erase('dj', u::text)" 10 2>&1 | sed -n 's/.*WARNING: *//p')
		printf '%-8s %8s %8s %8s\n' erase $r
	done
done

# the erasure names the constraints its statements can queue events of
# (here: the keys referencing a table it deletes from); a user's trigger on
# a table it changes makes it name every initially deferred constraint of
# the schemas the caller may use, as before (and as retention does): A/B in
# the same database, alternating, a statement trigger that does nothing on
# dj.auth_user standing for a user's trigger
BENCH_DB="${MAIN_DB}_dj_deferred"
echo
echo "erase, deferred keys: every constraint named (a user's trigger) / those the erasure needs; warm CPU ms, 30 calls per round"
for round in 1 2 3 4; do
	bpsql -c "CREATE FUNCTION dj.noop() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NULL; END'" \
		-c "CREATE TRIGGER noop AFTER INSERT ON dj.auth_user FOR EACH STATEMENT EXECUTE FUNCTION dj.noop()"
	a=$(bench_timed "privacy.erase('dj', u::text)" 30 2>&1 | sed -n 's/.*WARNING: *//p' | cut -d' ' -f3)
	bpsql -c "DROP TRIGGER noop ON dj.auth_user" -c "DROP FUNCTION dj.noop()"
	b=$(bench_timed "privacy.erase('dj', u::text)" 30 2>&1 | sed -n 's/.*WARNING: *//p' | cut -d' ' -f3)
	printf 'round %s: %8s %8s   (load %s)\n' "$round" "$a" "$b" "$(cut -d' ' -f1 /proc/loadavg)"
done

# the SET CONSTRAINTS pair alone: every initially deferred constraint, and
# the keys that reference a mapped table (what the erasure names here)
setpair() { # setpair 'WHERE condition on pg_constraint c'
	local names
	names=$(bval "SELECT string_agg(format('%I.%I', n.nspname, c.conname), ', ') FROM pg_constraint c
		JOIN pg_namespace n ON n.oid = c.connamespace WHERE c.condeferred AND n.nspname = 'dj' AND $1")
	: > "$BENCH_TMP/set.sql"
	echo '\timing on' >> "$BENCH_TMP/set.sql"
	for i in $(seq 20); do
		printf 'BEGIN;\nSET CONSTRAINTS %s IMMEDIATE;\nSET CONSTRAINTS %s DEFERRED;\nROLLBACK;\n' "$names" "$names" >> "$BENCH_TMP/set.sql"
	done
	chmod 644 "$BENCH_TMP/set.sql"
	as_pg psql -X -At -d "$BENCH_DB" -f "$BENCH_TMP/set.sql" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' |
		awk 'NR % 4 == 2 { a += $1 } NR % 4 == 3 { b += $1 } END { printf "IMMEDIATE %.2f ms + DEFERRED %.2f ms (mean of 20)\n", a / 20, b / 20 }'
}
echo
echo "SET CONSTRAINTS ... IMMEDIATE / DEFERRED alone:"
printf '%-48s %s\n' "every one ($(bval "SELECT count(*) FROM pg_constraint WHERE condeferred AND connamespace = 'dj'::regnamespace"))" "$(setpair true)"
printf '%-48s %s\n' "referencing a mapped table ($(bval "SELECT count(*) FROM pg_constraint c WHERE condeferred AND connamespace = 'dj'::regnamespace AND confrelid IN (SELECT table_name FROM privacy.subject_tables WHERE subject = 'dj')"))" \
	"$(setpair "c.confrelid IN (SELECT table_name FROM privacy.subject_tables WHERE subject = 'dj')")"
