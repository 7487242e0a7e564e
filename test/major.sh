# A filled database moves from one PostgreSQL major to a later one by
# pg_dump / pg_restore (sourced by test/run.sh, with the throwaway cluster
# of test/lib.sh running).  `make test` fills it on the host's major (15),
# dumps it with that major's pg_dump, and restores it with 17's pg_restore in
# the trixie chroot, under the same root key: the list of every record, the
# decrypted values, the audit chain and the ledger must be the same, and
# erase and retention must work on the restored records.
#
#   major_dump DIR      fill database major_src, write DIR/{src.dump,list,root.key}
#   major_restore DIR   restore DIR/src.dump into major_dst, compare, print
#                       TAP-style "ok N - ..." lines (counted by run.sh)

major_psql() { as_pg psql -XAtq -v ON_ERROR_STOP=1 "$@"; }

# Everything the database holds, one line per table (rows counted and
# hashed in a fixed order), then what only the extension can read.
# major_list DB AUDIT_MAX: the audit entries up to AUDIT_MAX (the last one
# dumped), as the worker appends one at each retention run it completes.
major_list() {
	major_psql -d "$1" -v audit_max="$2" <<'SQL'
SET TimeZone = 'UTC';
SET extra_float_digits = 1;
SELECT format($q$SELECT %L || ' ' || count(*) || ' ' || coalesce(md5(string_agg(r::text, '|' ORDER BY r::text)), '-') FROM (SELECT ROW(%s) AS r FROM %I.%I%s) s$q$,
	n.nspname || '.' || c.relname, string_agg(quote_ident(a.attname), ',' ORDER BY a.attnum), n.nspname, c.relname,
	CASE WHEN c.oid = 'privacy.audit'::regclass THEN ' WHERE seq <= ' || :audit_max ELSE '' END)
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
 WHERE c.relkind IN ('r', 'p') AND n.nspname IN ('privacy', 'public')
   -- not dumped: the computed map (rebuilt on first use), retention's runtime
   -- state (positions hold ctids and OIDs; recreated at the next run) and its
   -- run log; the audit head moves with each entry (the chain is verified)
   AND c.oid NOT IN ('privacy.map'::regclass, 'privacy.retention_state'::regclass,
                     'privacy.retention_runs'::regclass, 'privacy.audit_head'::regclass)
 GROUP BY n.nspname, c.relname, c.oid ORDER BY n.nspname, c.relname
\gexec
SELECT 'decrypted ' || string_agg(id || ':' || coalesce(note, '-'), ',' ORDER BY id) FROM orders_decrypted;
SELECT 'verify_audit ' || (privacy.verify_audit() >= :audit_max)::text;
SELECT 'ledger ' || (privacy.erasure_ledger() - 'generated_at')::text;
SELECT 'access ' || (privacy.access('customer', '9') -> 'data')::text;
SQL
}

major_dump() {
	local dir=$1
	mkdir -p "$dir"; chown "$(stat -c %u "$WORK/data")" "$dir" 2>/dev/null
	major_psql -d postgres -c 'CREATE DATABASE major_src' >/dev/null || return 1
	major_psql -d major_src >/dev/null <<'SQL' || return 1
CREATE EXTENSION privacy;
CREATE TABLE customers (id int PRIMARY KEY, name text, email text, phone text);
CREATE TABLE orders (id int PRIMARY KEY, customer_id int REFERENCES customers, note text);
CREATE TABLE tickets (id int PRIMARY KEY, cust int, body text);
CREATE TABLE events (id int PRIMARY KEY, customer_id int REFERENCES customers, at timestamptz NOT NULL);
CREATE INDEX ON events (at);
INSERT INTO customers SELECT g, 'name ' || g, 'c' || g || '@example.org', '+4917' || g FROM generate_series(1, 20) g;
INSERT INTO orders SELECT g, 1 + g % 20, 'note ' || g FROM generate_series(1, 60) g;
INSERT INTO tickets SELECT g, 1 + g % 20, 'body ' || g FROM generate_series(1, 30) g;
INSERT INTO events SELECT g, 1 + g % 20, now() - interval '30 days' FROM generate_series(1, 40) g;
SELECT privacy.define_subject('customer', 'customers');
SELECT privacy.link('customer', 'tickets', 'cust');
SELECT privacy.classify('customers', 'name', 'user.name');
SELECT privacy.classify('customers', 'email', 'user.contact.email');
SELECT privacy.classify('customers', 'phone', 'user.contact.phone_number');
SELECT privacy.classify('tickets', 'body', 'user.content');
SELECT privacy.add_recipient('mailer', 'newsletter', ARRAY['user.contact.email'], 'DE');
SELECT privacy.hold('customer', '2', 'litigation');
SELECT privacy.restrict('customer', '3', 'accuracy disputed');
SELECT privacy.set_consent('customer', '4', 'newsletter', true, 'web form');
SELECT privacy.set_consent('customer', '4', 'newsletter', false);
SELECT privacy.receive_request('export', 'customer', '5');
SELECT privacy.export('customer', '5');
SELECT privacy.receive_request('erase', 'customer', '6');
SELECT privacy.erase('customer', '6', 'request of the person');
SELECT privacy.encrypt_column('orders', 'note', 'customer');
SELECT privacy.create_key('spare');
SELECT privacy.add_retention('events', 'at', '10 days');
-- the worker stays away from this database's policy: the list must not move
UPDATE privacy.retention_state SET next_try = 'infinity';
SELECT privacy.run_retention();
UPDATE privacy.retention_state SET next_try = 'infinity';
SQL
	# the dump first: the list ends with an access(), which logs a request
	major_psql -d major_src -c 'SELECT max(seq) FROM privacy.audit' > "$dir/audit_max" || return 1
	as_pg pg_dump -Fc -d major_src -f "$dir/src.dump.part" || return 1
	major_list major_src "$(cat "$dir/audit_max")" > "$dir/list" || return 1
	cp "$WORK/root.key" "$dir/root.key"
	echo "$PG_MAJOR" > "$dir/major"
	# complete: the later majors restore it (test/run.sh looks for src.dump)
	mv "$dir/src.dump.part" "$dir/src.dump"
	echo "major upgrade: database filled and dumped on PostgreSQL $PG_MAJOR"
}

major_restore() {
	local dir=$1 n=0 from
	from=$(cat "$dir/major")
	t() { # t OK DESCRIPTION
		n=$((n + 1))
		if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi
	}
	cmp -s "$dir/root.key" "$WORK/root.key"
	t $? "$PG_MAJOR runs under the root key of $from"
	major_psql -d postgres -c 'CREATE DATABASE major_dst' >/dev/null
	as_pg pg_restore -d major_dst "$dir/src.dump"
	t $? "pg_restore of $from's dump"
	major_list major_dst "$(cat "$dir/audit_max")" > "$WORK/major.list"
	diff "$dir/list" "$WORK/major.list"
	t $? "the same list on $PG_MAJOR: every record, decrypted values, audit chain, ledger, access"
	[ "$(grep -c . "$dir/list")" -gt 25 ] && grep -q '^decrypted 1:note 1,' "$dir/list"
	t $? "the list covers the catalog and encrypted values ($(grep -c . "$dir/list") lines)"
	major_psql -d major_dst -c "SELECT privacy.erase('customer', '7', 'after the upgrade')" >/dev/null &&
		[ "$(major_psql -d major_dst -c "SELECT count(*) FROM orders WHERE customer_id = 7")" = 0 ]
	t $? "erase after the upgrade"
	[ "$(major_psql -d major_dst -c "SELECT count(*) FILTER (WHERE note IS NULL) FROM orders_decrypted")" = 0 ]
	t $? "the other subjects still decrypt"
	# (by hand or by the worker, which finds the restored policy due)
	major_psql -d major_dst -c "INSERT INTO events SELECT 100 + g, 1, '2001-01-01' FROM generate_series(1, 5) g" &&
		major_psql -d major_dst -c "SELECT privacy.run_retention()" >/dev/null &&
		[ "$(major_psql -d major_dst -c "SELECT count(*) FROM events WHERE id > 100")" = 0 ]
	t $? "retention runs on the restored policy"
	echo "1..$n"
}
