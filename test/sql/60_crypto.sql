-- Encrypted columns (SPEC §5): keys, low-level functions, encrypt_column,
-- the _decrypted view, per-subject keys, what reaches disk and the log.
CREATE EXTENSION privacy;
\getenv work PRIVACY_WORK
SELECT :'work' <> '' AS have_work_dir;

-- DO block helper: run a statement, print only its SQLSTATE
-- the data key id at the start of a stored text value
CREATE FUNCTION pg_temp.key_of(v text) RETURNS bigint LANGUAGE sql AS $$
	SELECT ('x' || encode(substr(decode(rpad(substr(v, 5), (length(v) - 4 + 3) / 4 * 4, '='),
		'base64'), 1, 8), 'hex'))::bit(64)::bigint $$;
CREATE FUNCTION pg_temp.sqlstate(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE stmt;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE;
END $$;

-- keys -----------------------------------------------------------------
SELECT privacy.create_key('k1') AS k1 \gset
SELECT privacy.create_key('k2') AS k2 \gset
SELECT id, name, subject, subject_ref, state FROM privacy.keys ORDER BY id;
-- the view has no material
SELECT count(*) FROM information_schema.columns
 WHERE table_schema = 'privacy' AND table_name = 'keys' AND column_name ~ 'wrap|material|key$';
-- wrapped keys are 81 bytes, never the raw 32
SELECT id, length(wrapped) FROM privacy.data_keys ORDER BY id;

-- low-level round trips ---------------------------------------------------
SELECT convert_from(privacy.decrypt(privacy.encrypt('hello', :k1), :k1), 'UTF8');
SELECT convert_from(privacy.decrypt(privacy.encrypt('hello', :k1, 'ctx'), :k1, 'ctx'), 'UTF8');
SELECT privacy.decrypt(privacy.encrypt('', :k1), :k1) = ''::bytea AS empty_ok;
SELECT privacy.encrypt(NULL, :k1) IS NULL AS null_in_null_out;
-- a fresh nonce each time
SELECT privacy.encrypt('x', :k1) <> privacy.encrypt('x', :k1) AS randomized;
SELECT length(privacy.encrypt('hello', :k1)) AS overhead_plus_5;
-- wrong aad, wrong key, tampering: XX001
\set VERBOSITY sqlstate
SELECT privacy.decrypt(privacy.encrypt('hello', :k1, 'ctx'), :k1, 'other');
SELECT privacy.decrypt(privacy.encrypt('hello', :k1, 'ctx'), :k1);
SELECT privacy.decrypt(privacy.encrypt('hello', :k1), :k2);
SELECT privacy.decrypt((SELECT set_byte(c, 40, get_byte(c, 40) # 1) FROM (SELECT privacy.encrypt('hello', :k1) AS c) x), :k1);
SELECT privacy.decrypt(overlay(privacy.encrypt('hello', :k1) placing '\x00'::bytea from 60), :k1);
SELECT privacy.decrypt('\x0102', :k1);
SELECT privacy.decrypt(substr(privacy.encrypt('hello', :k1), 1, 30), :k1);
\set VERBOSITY default
SELECT privacy.decrypt(privacy.encrypt('hello', :k1, 'ctx'), :k1, 'other');

-- blind index: deterministic per key
SELECT privacy.blind_index('a@example.com', :k1) = privacy.blind_index('a@example.com', :k1) AS same,
       privacy.blind_index('a@example.com', :k1) <> privacy.blind_index('a@example.com', :k2) AS per_key,
       privacy.blind_index('a@example.com', :k1) <> privacy.blind_index('b@example.com', :k1) AS per_value,
       length(privacy.blind_index('x', :k1));

-- destroying a key: crypto-shredding
SELECT privacy.encrypt('gone', :k2) AS ct2 \gset
SELECT privacy.destroy_key(:k2);
SELECT privacy.destroy_key(:k2) AS again;
SELECT id, state, length(wrapped) FROM privacy.data_keys WHERE id = :k2;
SELECT privacy.decrypt(:'ct2', :k2);
SELECT pg_temp.sqlstate(format('SELECT privacy.decrypt(%L, %s)', :'ct2', :k2));
SELECT pg_temp.sqlstate(format('SELECT privacy.encrypt(''x'', %s)', :k2));
-- the name of a destroyed key can be used again
SELECT privacy.create_key('k2') > :k2 AS reused_name;

-- encrypt_column -----------------------------------------------------------
CREATE TABLE people (id int PRIMARY KEY, name text, nick varchar(10), photo bytea, age int,
	created timestamptz DEFAULT now());
INSERT INTO people (id, name, nick, photo, age) VALUES
	(1, 'Alice', 'al', '\x0102', 30), (2, 'Bob', NULL, NULL, 40), (3, 'Åsa Ünicode', 'åå', '\x', 50);
SELECT privacy.encrypt_column('people', 'name');
SELECT privacy.encrypt_column('people', 'nick');
SELECT privacy.encrypt_column('people', 'photo');
SELECT id, table_name, column_name, subject, key_id > 0 AS has_key, typmod, view
  FROM privacy.encrypted_columns ORDER BY id;
-- types stay: text, varchar (length moved to the trigger), bytea
SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
 WHERE attrelid = 'people'::regclass AND attnum > 0 ORDER BY attnum;
-- the table holds ciphertext only
SELECT id, left(name, 4) AS name, left(nick, 4) AS nick, substr(photo, 1, 3) AS photo, age FROM people ORDER BY id;
SELECT count(*) FROM people WHERE name LIKE '%Alice%' OR nick = 'al' OR photo = '\x0102';
-- the view shows plaintext, same columns and types
SELECT id, name, nick, photo, age FROM people_decrypted ORDER BY id;
SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
 WHERE attrelid = 'people_decrypted'::regclass ORDER BY attnum;
-- writes through the table and the view
INSERT INTO people (id, name, nick, photo, age) VALUES (4, 'Carol', 'cc', '\xff', 20);
INSERT INTO people_decrypted (id, name, nick, photo, age) VALUES (5, 'Dave', 'dd', '\xee', 21)
	RETURNING id, name, nick;
SELECT created IS NOT NULL AS view_applies_defaults FROM people WHERE id = 5;
UPDATE people_decrypted SET name = 'David' WHERE id = 5 RETURNING name;
UPDATE people SET name = 'Caroline' WHERE id = 4;
-- an untouched encrypted value is kept as it is
SELECT name AS before FROM people WHERE id = 1 \gset
UPDATE people SET age = 31 WHERE id = 1;
SELECT name = :'before' AS kept FROM people WHERE id = 1;
-- a new primary key re-binds the value
UPDATE people SET id = 6 WHERE id = 5;
DELETE FROM people_decrypted WHERE id = 2;
SELECT id, name, nick, photo, age FROM people_decrypted ORDER BY id;
-- varchar(10) still holds at most 10 characters
INSERT INTO people (id, nick) VALUES (7, 'abcdefghijk');
INSERT INTO people (id, nick) VALUES (7, 'åbcdefghij');
SELECT nick FROM people_decrypted WHERE id = 7;
-- a pre-existing ciphertext of this very row is kept (reload of dumped data)
UPDATE people SET name = name || '' WHERE id = 1;
SELECT name FROM people_decrypted WHERE id = 1;

-- ciphertext moved to another row or column: refused on write ...
\set VERBOSITY sqlstate
UPDATE people SET name = (SELECT name FROM people WHERE id = 1) WHERE id = 4;
\set VERBOSITY default
UPDATE people SET name = (SELECT name FROM people WHERE id = 1) WHERE id = 4;
-- ... and, written behind the trigger's back, refused on read
ALTER TABLE people DISABLE TRIGGER USER;
UPDATE people SET name = (SELECT name FROM people WHERE id = 1) WHERE id = 4;
UPDATE people SET nick = (SELECT name FROM people WHERE id = 3) WHERE id = 3;
ALTER TABLE people ENABLE TRIGGER USER;
\set VERBOSITY sqlstate
SELECT name FROM people_decrypted WHERE id = 4;
SELECT nick FROM people_decrypted WHERE id = 3;
\set VERBOSITY default
SELECT name FROM people_decrypted WHERE id = 4;
-- tampering: one flipped character, a plaintext slipped in
ALTER TABLE people DISABLE TRIGGER USER;
UPDATE people SET name = 'pv1:' || substr(name, 5, 50) || translate(substr(name, 55), 'ABCabc', 'BCAbca') WHERE id = 4;
-- (plaintext is refused even so: the column's CHECK constraint)
SELECT pg_temp.sqlstate($$UPDATE people SET nick = 'plain' WHERE id = 3$$) AS plaintext_write;
ALTER TABLE people ENABLE TRIGGER USER;
SELECT pg_temp.sqlstate('SELECT name FROM people_decrypted WHERE id = 4') AS tampered,
       pg_temp.sqlstate('SELECT nick FROM people_decrypted WHERE id = 3') AS plaintext;
-- the key id itself altered
ALTER TABLE people DISABLE TRIGGER USER;
UPDATE people SET photo = overlay(photo placing '\xffff'::bytea from 4) WHERE id = 4;
ALTER TABLE people ENABLE TRIGGER USER;
SELECT pg_temp.sqlstate('SELECT photo FROM people_decrypted WHERE id = 4') AS key_id_altered;
-- the view cannot read such rows; new plaintext through the table repairs them
UPDATE people SET name = 'Caroline', photo = '\xff' WHERE id = 4;
UPDATE people SET nick = 'åå' WHERE id = 3;
SELECT id, name, nick FROM people_decrypted ORDER BY id;

-- the view survives RENAME and an owner change
CREATE ROLE regress_crypto_owner;
ALTER TABLE people RENAME TO persons;
ALTER TABLE persons OWNER TO regress_crypto_owner;
SELECT id, name FROM people_decrypted ORDER BY id;
INSERT INTO people_decrypted (id, name) VALUES (8, 'Eve');
SELECT name FROM people_decrypted WHERE id = 8;
ALTER TABLE persons OWNER TO CURRENT_USER;
ALTER TABLE persons RENAME TO people;

-- decrypt_column gives the plaintext back and restores varchar(10)
SELECT privacy.decrypt_column('people', 'nick');
SELECT id, nick FROM people ORDER BY id;
SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'people'::regclass AND attname = 'nick';
SELECT column_name FROM privacy.encrypted_columns ORDER BY id;
SELECT tgname FROM pg_trigger WHERE tgrelid = 'people'::regclass ORDER BY 1;
SELECT privacy.decrypt_column('people', 'name');
SELECT privacy.decrypt_column('people', 'photo');
SELECT id, name, photo FROM people ORDER BY id;
SELECT to_regclass('people_decrypted') IS NULL AS view_dropped;

-- hostile identifiers ------------------------------------------------------
CREATE SCHEMA "My Schema";
CREATE TABLE "My Schema"."Weird ""Table""; DROP TABLE x" ("Key Col" text, "k2" int, "Na me" text,
	PRIMARY KEY ("Key Col", k2));
INSERT INTO "My Schema"."Weird ""Table""; DROP TABLE x" VALUES ('a''b', 1, 'secret ''one''');
SELECT privacy.encrypt_column('"My Schema"."Weird ""Table""; DROP TABLE x"', 'Na me');
INSERT INTO "My Schema"."Weird ""Table""; DROP TABLE x_decrypted" VALUES ('c', 2, 'two');
SELECT * FROM "My Schema"."Weird ""Table""; DROP TABLE x_decrypted" ORDER BY 1;
UPDATE "My Schema"."Weird ""Table""; DROP TABLE x_decrypted" SET "Na me" = 'deux' WHERE k2 = 2;
SELECT "Na me" FROM "My Schema"."Weird ""Table""; DROP TABLE x_decrypted" ORDER BY 1;
SELECT left("Na me", 4) FROM "My Schema"."Weird ""Table""; DROP TABLE x" ORDER BY 1;

-- per-subject keys -----------------------------------------------------------
CREATE TABLE customers (id int PRIMARY KEY, email text);
CREATE TABLE orders (id int PRIMARY KEY, customer_id int REFERENCES customers, note text);
CREATE TABLE lines (order_id int REFERENCES orders, n int, memo text, PRIMARY KEY (order_id, n));
CREATE TABLE unrelated (id int PRIMARY KEY, v text);
SELECT privacy.define_subject('customer', 'customers');
INSERT INTO customers VALUES (1, 'one@example.com'), (2, 'two@example.com');
INSERT INTO orders VALUES (10, 1, 'note of one'), (20, 2, 'note of two'), (30, NULL, 'anonymous');
INSERT INTO lines VALUES (10, 1, 'memo of one'), (20, 1, 'memo of two');
SELECT privacy.encrypt_column('customers', 'email', 'customer');
SELECT privacy.encrypt_column('orders', 'note', 'customer');
-- (lines are two hops from the root: refused with a subject, whose change
-- through orders would not reach them; the column's key serves)
SELECT pg_temp.sqlstate($$SELECT privacy.encrypt_column('lines', 'memo', 'customer')$$) AS two_hops;
SELECT privacy.encrypt_column('lines', 'memo');
INSERT INTO customers VALUES (3, 'three@example.com');
INSERT INTO orders VALUES (40, 3, 'note of three');
-- one key per subject, named by subject_ref only (never by id)
SELECT subject, count(*), bool_and(name = 'subject:customer:' || subject_ref) AS named_by_ref,
       bool_and(length(subject_ref) = 32) AS ref_is_hash
  FROM privacy.keys WHERE subject IS NOT NULL GROUP BY subject;
-- each customer's values are under that customer's key
SELECT c.id, k.subject_ref = r.subject_ref AS same_key
  FROM customers c, orders o, privacy.data_keys k, privacy.data_keys r
 WHERE o.customer_id = c.id
   AND k.id = pg_temp.key_of(c.email) AND r.id = pg_temp.key_of(o.note)
 ORDER BY 1;
SELECT id, email FROM customers_decrypted ORDER BY id;
SELECT id, customer_id, note FROM orders_decrypted ORDER BY id;
SELECT order_id, n, memo FROM lines_decrypted ORDER BY 1, 2;
-- moving an order to another customer moves its note to that customer's key
SELECT pg_temp.key_of(note) AS before FROM orders WHERE id = 40 \gset
UPDATE orders SET customer_id = 2 WHERE id = 40;
SELECT pg_temp.key_of(o.note) = pg_temp.key_of(c.email) AS now_under_2, pg_temp.key_of(o.note) <> :before AS moved
  FROM orders o, customers c WHERE o.id = 40 AND c.id = 2;
SELECT note FROM orders_decrypted WHERE id = 40;
-- access returns decrypted values
SELECT privacy.access('customer', '1') -> 'data';
-- shredding customer 2's key: its values are gone everywhere, others stay
SELECT count(*) FROM (SELECT privacy.destroy_key(id) FROM privacy.data_keys k
	WHERE k.subject = 'customer' AND k.id = (SELECT pg_temp.key_of(email) FROM customers WHERE id = 2)) d;
SELECT id, email FROM customers_decrypted ORDER BY id;
SELECT id, customer_id, note FROM orders_decrypted ORDER BY id;
-- a table outside the subject's map, an unknown subject
SELECT privacy.encrypt_column('unrelated', 'v', 'customer');
SELECT privacy.encrypt_column('unrelated', 'v', 'nobody');

-- a destroyed key stops working in other sessions once committed
CREATE EXTENSION dblink;
SELECT dblink_connect('other', 'dbname=' || current_database());
SELECT * FROM dblink('other', 'SELECT email FROM customers_decrypted WHERE id = 1') AS t(email text);
SELECT count(*) FROM (SELECT privacy.destroy_key(k.id) FROM privacy.data_keys k
	WHERE k.subject = 'customer' AND k.id = (SELECT pg_temp.key_of(email) FROM customers WHERE id = 1)) d;
SELECT * FROM dblink('other', 'SELECT email FROM customers_decrypted WHERE id = 1') AS t(email text);
SELECT dblink_disconnect('other');
DROP EXTENSION dblink;

-- nothing reaches the table file or the WAL in clear -----------------------
CREATE TABLE canary (id int PRIMARY KEY, secret text);
SELECT privacy.encrypt_column('canary', 'secret');
SELECT current_setting('data_directory') AS datadir, pg_relation_filepath('canary') AS relpath,
       pg_walfile_name(pg_current_wal_lsn()) AS firstwal \gset
INSERT INTO canary VALUES (1, 'CANARY-PLAINTEXT-4c1f9');
INSERT INTO canary_decrypted VALUES (2, 'CANARY-PLAINTEXT-4c1f9');
UPDATE canary_decrypted SET secret = 'CANARY-PLAINTEXT-4c1f9!' WHERE id = 1;
CHECKPOINT;
SELECT pg_switch_wal() IS NOT NULL AS switched;
SELECT count(*) FROM canary_decrypted WHERE secret LIKE 'CANARY-PLAINTEXT-4c1f9%';
\setenv CANARY_DATADIR :datadir
\setenv CANARY_RELPATH :relpath
\! grep -a -c 'CANARY-PLAINTEXT-4c1f9' "$CANARY_DATADIR/$CANARY_RELPATH"
\! grep -a -q 'pv1:' "$CANARY_DATADIR/$CANARY_RELPATH" && echo ciphertext present
\setenv CANARY_FIRSTWAL :firstwal
\! cd "$CANARY_DATADIR/pg_wal" && ls | awk -v f="$CANARY_FIRSTWAL" 'length($0) == 24 && $0 >= f' | xargs cat | grep -a -c 'CANARY-PLAINTEXT-4c1f9'
-- nor the root key
\! cd "$CANARY_DATADIR/pg_wal" && ls | awk -v f="$CANARY_FIRSTWAL" 'length($0) == 24 && $0 >= f' | xargs cat | grep -a -c -i -F -f "$PRIVACY_WORK/root.key"

-- failing decrypts log neither the plaintext nor the key ---------------------
SET log_min_error_statement = error;
SET log_min_duration_statement = 0;
ALTER TABLE canary DISABLE TRIGGER USER;
UPDATE canary SET secret = (SELECT secret FROM canary WHERE id = 1) WHERE id = 2;
ALTER TABLE canary ENABLE TRIGGER USER;
SELECT pg_temp.sqlstate('SELECT secret FROM canary_decrypted WHERE id = 2') AS moved;
SELECT pg_temp.sqlstate('SELECT privacy.decrypt(convert_to(secret, ''UTF8''), 1) FROM canary') AS bad_format;
SELECT pg_temp.sqlstate('SELECT privacy.read_encrypted(secret, id + 1000, id) FROM canary') AS bad_column;
SELECT secret FROM canary_decrypted WHERE id = 2;
RESET log_min_error_statement;
RESET log_min_duration_statement;
\! grep -a -c 'CANARY-PLAINTEXT-4c1f9' "$PRIVACY_WORK/server.log"
\! grep -a -c -i -F -f "$PRIVACY_WORK/root.key" "$PRIVACY_WORK/server.log"

-- root key rotation (61_keyring rotates for real): a key that is not in
-- the server's keyring is refused; the current key re-wraps nothing
\! od -An -tx1 -v -N32 /dev/urandom | tr -d ' \n' > "$PRIVACY_WORK/regress_new.key"
\set newkey :work/regress_new.key
SELECT pg_temp.sqlstate(format('SELECT privacy.rotate_root_key(%L)', :'newkey')) AS not_in_keyring;
SELECT privacy.rotate_root_key(:'work' || '/root.key');
SELECT pg_temp.sqlstate(format('SELECT privacy.rotate_root_key(%L)', :'work' || '/nonexistent.key')) AS missing_file;
SELECT privacy.rotate_root_key('relative.key');

-- coming from pgcrypto: the passphrase comes from a server-side file
CREATE EXTENSION pgcrypto;
CREATE TABLE legacy (id int PRIMARY KEY, ssn bytea);
INSERT INTO legacy VALUES (1, pgp_sym_encrypt('123-45-6789', 'old secret')), (2, NULL);
\! printf 'old secret\n' > "$PRIVACY_WORK/regress_pgp.pass"
\set passfile :work/regress_pgp.pass
SELECT privacy.migrate_pgcrypto_column('legacy', 'ssn', :'passfile');
SELECT id, substr(ssn, 1, 3) AS stored FROM legacy ORDER BY id;
SELECT id, convert_from(ssn, 'UTF8') AS ssn FROM legacy_decrypted ORDER BY id;
SELECT privacy.migrate_pgcrypto_column('legacy', 'ssn', :'passfile');
CREATE TABLE legacy_text (id int PRIMARY KEY, t text);
SELECT privacy.migrate_pgcrypto_column('legacy_text', 't', :'passfile');
SELECT privacy.migrate_pgcrypto_column('legacy', 'ssn', 'relative');
\! rm -f "$PRIVACY_WORK/regress_pgp.pass"
DROP TABLE legacy, legacy_text CASCADE;
DROP EXTENSION pgcrypto;

-- invalid input --------------------------------------------------------------
CREATE TABLE typed (id int PRIMARY KEY, n int, j jsonb, t text);
CREATE TABLE nopk (t text);
SELECT privacy.encrypt_column('typed', 'n');
SELECT privacy.encrypt_column('typed', 'j');
SELECT privacy.encrypt_column('typed', 'nope');
SELECT privacy.encrypt_column('typed', 'id');
SELECT privacy.encrypt_column('typed', 'ctid');
SELECT privacy.encrypt_column('nopk', 't');
SELECT privacy.encrypt_column(NULL, 't');
SELECT privacy.encrypt_column('typed', NULL);
SELECT privacy.encrypt_column('typed', 't');
SELECT privacy.encrypt_column('typed', 't');
SELECT privacy.encrypt_column('typed_decrypted', 't');
SELECT privacy.decrypt_column('typed', 'n');
SELECT privacy.decrypt_column('typed', 'nope');
SELECT privacy.create_key(NULL);
SELECT privacy.create_key('');
SELECT privacy.create_key('k1');
SELECT privacy.create_key('subject:x');
SELECT privacy.encrypt('x', NULL);
SELECT privacy.encrypt('x', 999999);
SELECT privacy.decrypt('x', 999999);
SELECT privacy.blind_index('x', 999999);
SELECT privacy.destroy_key(999999);
SELECT privacy.read_encrypted('x'::text, 999999, 1);
SELECT pg_temp.sqlstate($$SELECT privacy.encrypt_column('typed', 'n')$$) AS not_text,
       pg_temp.sqlstate($$SELECT privacy.encrypt_column('typed', 'nope')$$) AS unknown_col,
       pg_temp.sqlstate($$SELECT privacy.encrypt_column('nopk', 't')$$) AS no_pk,
       pg_temp.sqlstate($$SELECT privacy.encrypt('x', 999999)$$) AS unknown_key,
       pg_temp.sqlstate($$SELECT privacy.encrypt_column('unrelated', 'v', 'nobody')$$) AS unknown_subject;

-- privileges -----------------------------------------------------------------
CREATE ROLE regress_crypto_nobody;
CREATE ROLE regress_crypto_admin IN ROLE privacy_admin;
GRANT SELECT ON people TO regress_crypto_nobody;
SELECT privacy.create_key('k3') AS k3 \gset
SET ROLE regress_crypto_nobody;
SELECT privacy.create_key('x');
SELECT privacy.encrypt('x', :k1);
SELECT privacy.decrypt('x', :k1);
SELECT privacy.blind_index('x', :k1);
SELECT * FROM privacy.keys;
SELECT * FROM privacy.data_keys;
SELECT privacy.encrypt_column('typed', 'n');
SELECT privacy.rotate_root_key('/tmp/x');
SELECT privacy.destroy_key(:k1);
SELECT privacy.migrate_pgcrypto_column('typed', 't', '/tmp/x');
-- reading ciphertext of a table it cannot read
SELECT pg_temp.sqlstate('SELECT privacy.read_encrypted(t, 1000, id) FROM typed') AS no_select;
RESET ROLE;
SELECT privacy.encrypt_column('unrelated', 'v');
SET ROLE regress_crypto_nobody;
SELECT pg_temp.sqlstate('SELECT * FROM unrelated_decrypted') AS view_needs_grant;
RESET ROLE;
SET ROLE regress_crypto_admin;
SELECT privacy.encrypt('x', :k3) IS NOT NULL AS admin_can_encrypt;
SELECT count(*) > 0 AS admin_sees_keys FROM privacy.keys;
SELECT privacy.create_key('k4') > 0 AS admin_creates_keys;
SELECT privacy.destroy_key(:k3) AS admin_destroys_keys;
-- privacy_admin, but not the table's owner
SELECT privacy.encrypt_column('typed', 'j');
SELECT privacy.rotate_root_key('/tmp/x');
RESET ROLE;
-- a writer without any privacy role: its first write creates the subject's key
GRANT INSERT, SELECT ON customers, customers_decrypted TO regress_crypto_nobody;
SET ROLE regress_crypto_nobody;
INSERT INTO customers VALUES (4, 'four@example.com');
SELECT email FROM customers_decrypted WHERE id = 4;
RESET ROLE;
SELECT action, count(*) FROM privacy.audit_log WHERE action IN ('create_key', 'destroy_key', 'encrypt_column',
	'decrypt_column', 'rotate_root_key', 'migrate_pgcrypto_column') GROUP BY 1 ORDER BY 1;
GRANT EXECUTE ON FUNCTION privacy.migrate_pgcrypto_column(regclass, name, text, text) TO regress_crypto_admin;
SET ROLE regress_crypto_admin;
SELECT privacy.migrate_pgcrypto_column('typed', 't', '/tmp/x');
RESET ROLE;

-- cleanup --------------------------------------------------------------------
DROP TABLE people, typed, nopk, canary, unrelated CASCADE;
DROP TABLE lines, orders, customers CASCADE;
DROP SCHEMA "My Schema" CASCADE;
\! rm -f "$PRIVACY_WORK/regress_new.key"
DROP EXTENSION privacy CASCADE;
DROP ROLE regress_crypto_nobody, regress_crypto_admin, regress_crypto_owner;
