-- Encrypted columns, second review.
CREATE EXTENSION privacy;
CREATE FUNCTION pg_temp.sqlstate(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE stmt;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE;
END $$;

-- 1. A value is bound to its row's key in a form no session setting
-- changes: written under TimeZone 'UTC' and DateStyle 'ISO', it reads in a
-- session with another time zone, date style, bytea_output,
-- extra_float_digits and IntervalStyle (it failed with XX001: the
-- associated data held the key's text in the writer's settings), and the
-- other way round.
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, MDY';
CREATE TABLE cr2_events (at timestamptz, day date, tag bytea, score float8, span interval,
	local timestamp, note text, PRIMARY KEY (at, day, tag, score, span, local));
INSERT INTO cr2_events VALUES
	('2024-01-02 03:04:05.123456+00', '2024-02-03', '\x00ff', 0.1, '1 day 02:03:04', '2024-01-02 03:04:05', 'written in UTC'),
	('infinity', '-infinity', '\x', 1e300, '-3 mons', '2024-12-31 23:59:59.999999', 'infinite');
SELECT privacy.encrypt_column('cr2_events', 'note');
SET TimeZone = 'Asia/Kolkata';
SET DateStyle = 'SQL, DMY';
SET bytea_output = 'escape';
SET extra_float_digits = -3;
SET IntervalStyle = 'sql_standard';
SELECT note FROM cr2_events_decrypted ORDER BY note;
-- written here, read in UTC
INSERT INTO cr2_events VALUES ('2025-06-07 08:09:10.5+05:30', '2025-06-07', '\x01', 2.5, '-1 year', '2025-06-07 08:09:10', 'written in Kolkata');
INSERT INTO cr2_events_decrypted VALUES ('2025-06-07 08:09:11+05:30', '2025-06-07', '\x02', 0.3, '1 hour', '2025-06-07 08:09:11', 'through the view in Kolkata');
RESET ALL;
SELECT note FROM cr2_events_decrypted ORDER BY note;
-- a key change re-binds the value in any session
SET TimeZone = 'America/New_York';
SET DateStyle = 'German';
UPDATE cr2_events SET at = at + interval '1 hour' WHERE tag = '\x01';
UPDATE cr2_events_decrypted SET note = 'changed in New York' WHERE tag = '\x02';
RESET ALL;
SELECT note FROM cr2_events_decrypted ORDER BY note;
-- a ciphertext moved to another row is still refused
SELECT pg_temp.sqlstate($$UPDATE cr2_events SET note = (SELECT note FROM cr2_events WHERE tag = '\x01') WHERE tag = '\x02'$$) AS moved;
-- and one put there behind the trigger's back is refused when the key
-- changes (it was carried to the new key, unreadable for good)
SELECT note AS saved FROM cr2_events WHERE tag = '\x02' \gset
ALTER TABLE cr2_events DISABLE TRIGGER USER;
UPDATE cr2_events SET note = (SELECT note FROM cr2_events WHERE tag = '\x01') WHERE tag = '\x02';
ALTER TABLE cr2_events ENABLE TRIGGER USER;
SELECT pg_temp.sqlstate($$UPDATE cr2_events SET day = day + 1 WHERE tag = '\x02'$$) AS rebound;
ALTER TABLE cr2_events DISABLE TRIGGER USER;
UPDATE cr2_events SET note = :'saved' WHERE tag = '\x02';
ALTER TABLE cr2_events ENABLE TRIGGER USER;
-- decrypt_column in yet another session gives every value back
SET TimeZone = 'Pacific/Chatham';
SET extra_float_digits = 3;
SELECT privacy.decrypt_column('cr2_events', 'note');
RESET ALL;
SELECT note FROM cr2_events ORDER BY note;
-- keys whose text depends on the session and has no canonical form are
-- refused (0A000), and so is a generated key (its value is computed after
-- the write trigger: the value was bound to an empty key and never read)
CREATE TABLE cr2_range (id tstzrange PRIMARY KEY, s text);
SELECT privacy.encrypt_column('cr2_range', 's');
CREATE TABLE cr2_reg (id regclass PRIMARY KEY, s text);
SELECT privacy.encrypt_column('cr2_reg', 's');
CREATE TABLE cr2_gen (a int, id int GENERATED ALWAYS AS (a * 2) STORED PRIMARY KEY, s text);
SELECT privacy.encrypt_column('cr2_gen', 's');
-- with a subject, a generated column that leads to it is refused too (the
-- write trigger found no subject: every value went under the column's key,
-- out of reach of the subject's erasure)
CREATE TABLE cr2_cust (id int PRIMARY KEY);
CREATE TABLE cr2_cnotes (id int PRIMARY KEY, raw int,
	cust_id int GENERATED ALWAYS AS (raw) STORED REFERENCES cr2_cust, body text);
SELECT privacy.define_subject('cr2_c', 'cr2_cust');
SELECT privacy.encrypt_column('cr2_cnotes', 'body', 'cr2_c');
SELECT privacy.drop_subject('cr2_c');
DROP TABLE cr2_cnotes, cr2_cust;
-- a range of integers prints alike everywhere
CREATE TABLE cr2_irange (id int4range PRIMARY KEY, s text);
INSERT INTO cr2_irange VALUES ('[1,5)', 'in a range');
SELECT privacy.encrypt_column('cr2_irange', 's');
SELECT s FROM cr2_irange_decrypted;
DROP TABLE cr2_events, cr2_range, cr2_reg, cr2_gen, cr2_irange CASCADE;

-- 2. No user trigger fires after the encryption: BEFORE triggers fire in
-- name order, and one named after privacy_encrypt_<id> (set_..., trg_...)
-- stored plaintext or bound the value to a key it then changed.  The write
-- trigger's name now sorts after the usual names; a later one is refused
-- by CREATE/ALTER TRIGGER, and, if event triggers were off, by the write.
CREATE TABLE cr2_notes (id int PRIMARY KEY, note text);
CREATE FUNCTION pg_temp.add_suffix() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN NEW.note := NEW.note || ' (checked)'; RETURN NEW; END $$;
CREATE FUNCTION pg_temp.shift_id() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN NEW.id := NEW.id + 100; RETURN NEW; END $$;
CREATE TRIGGER set_note BEFORE INSERT OR UPDATE ON cr2_notes FOR EACH ROW EXECUTE FUNCTION pg_temp.add_suffix();
CREATE TRIGGER trg_shift_id BEFORE INSERT ON cr2_notes FOR EACH ROW EXECUTE FUNCTION pg_temp.shift_id();
SELECT privacy.encrypt_column('cr2_notes', 'note');
SELECT tgname FROM pg_trigger WHERE tgrelid = 'cr2_notes'::regclass ORDER BY tgname;
INSERT INTO cr2_notes VALUES (1, 'first');
SELECT id, note FROM cr2_notes_decrypted;
SELECT note LIKE 'pv1:%' AND note NOT LIKE '%checked%' AS stored_encrypted FROM cr2_notes;
-- hostile names that sort after it are refused (55000), before or after
-- the encryption exists, for INSERT or UPDATE triggers; AFTER triggers and
-- names that sort first are fine
SELECT pg_temp.sqlstate('CREATE TRIGGER "~~~" BEFORE INSERT ON cr2_notes FOR EACH ROW EXECUTE FUNCTION pg_temp.add_suffix()') AS tildes;
SELECT pg_temp.sqlstate('CREATE TRIGGER "é_note" BEFORE UPDATE ON cr2_notes FOR EACH ROW EXECUTE FUNCTION pg_temp.add_suffix()') AS accented;
SELECT pg_temp.sqlstate(format('CREATE TRIGGER %I BEFORE UPDATE ON cr2_notes FOR EACH ROW EXECUTE FUNCTION pg_temp.add_suffix()',
	repeat(U&'\+10FFFF', 15))) AS highest_code_point;
SELECT pg_temp.sqlstate('CREATE TRIGGER "~~~" AFTER INSERT ON cr2_notes FOR EACH ROW EXECUTE FUNCTION pg_temp.add_suffix()') AS after_trigger;
SELECT pg_temp.sqlstate('CREATE TRIGGER "a_first" BEFORE INSERT ON cr2_notes FOR EACH ROW EXECUTE FUNCTION pg_temp.add_suffix()') AS sorts_first;
CREATE TRIGGER "b_rename_me" BEFORE INSERT ON cr2_notes FOR EACH ROW EXECUTE FUNCTION pg_temp.add_suffix();
ALTER TRIGGER "b_rename_me" ON cr2_notes RENAME TO "~~~~";
SELECT tgname FROM pg_trigger WHERE tgrelid = 'cr2_notes'::regclass AND tgname LIKE '%privacy%' \gset
SELECT pg_temp.sqlstate(format('ALTER TRIGGER %I ON cr2_notes RENAME TO aa_privacy', :'tgname')) AS ours_renamed_first;
-- a table with such a trigger cannot be encrypted
CREATE TABLE cr2_late (id int PRIMARY KEY, note text);
CREATE TRIGGER "~~late" BEFORE UPDATE ON cr2_late FOR EACH ROW EXECUTE FUNCTION pg_temp.add_suffix();
SELECT privacy.encrypt_column('cr2_late', 'note');
-- the write trigger's own check, for when the event trigger did not run: a
-- later trigger for the statement's event stops the write before anything
-- is stored; one for the other event does not
ALTER EVENT TRIGGER privacy_crypto_trigger DISABLE;
CREATE TRIGGER "~~~ late" BEFORE UPDATE ON cr2_notes FOR EACH ROW EXECUTE FUNCTION pg_temp.add_suffix();
ALTER EVENT TRIGGER privacy_crypto_trigger ENABLE;
UPDATE cr2_notes SET note = 'second';
INSERT INTO cr2_notes VALUES (2, 'third');
DROP TRIGGER "~~~ late" ON cr2_notes;
SELECT id, note FROM cr2_notes_decrypted ORDER BY id;
-- an encryption trigger under its name before 0.2.0 (an old dump) takes
-- its new name
DROP TRIGGER b_rename_me ON cr2_notes;
DROP TRIGGER a_first ON cr2_notes;
DROP TRIGGER set_note ON cr2_notes;
DROP TRIGGER trg_shift_id ON cr2_notes;
SELECT substr(:'tgname', 2) AS oldname \gset
ALTER TRIGGER :"tgname" ON cr2_notes RENAME TO :"oldname";
SELECT tgname = :'tgname' AS renamed_back FROM pg_trigger WHERE tgrelid = 'cr2_notes'::regclass AND tgname LIKE '%privacy%';
-- (restored while event triggers were off, it keeps the old name;
-- decrypt_column drops it all the same)
ALTER EVENT TRIGGER privacy_crypto_trigger DISABLE;
ALTER TRIGGER :"tgname" ON cr2_notes RENAME TO :"oldname";
ALTER EVENT TRIGGER privacy_crypto_trigger ENABLE;
SELECT tgname = :'oldname' AS old_name FROM pg_trigger WHERE tgrelid = 'cr2_notes'::regclass AND tgname LIKE '%privacy%';
SELECT privacy.decrypt_column('cr2_notes', 'note');
SELECT count(*) AS encryption_triggers_left FROM pg_trigger
 WHERE tgrelid = 'cr2_notes'::regclass AND tgfoid = 'privacy.encrypt_trigger()'::regprocedure;
DROP TABLE cr2_notes, cr2_late;

-- 3. The primary key stays what the values are bound to: replacing or
-- dropping it, or a type change of a key column that could change its
-- text, is refused (values became unreadable, XX001); rebuilding it on the
-- same columns, renaming a key column and changes within the integer types
-- work.
CREATE TABLE cr2_keyed (id int PRIMARY KEY, code text NOT NULL UNIQUE, s text);
INSERT INTO cr2_keyed VALUES (1, 'c1', 'kept');
SELECT privacy.encrypt_column('cr2_keyed', 's');
ALTER TABLE cr2_keyed DROP CONSTRAINT cr2_keyed_pkey;
ALTER TABLE cr2_keyed DROP CONSTRAINT cr2_keyed_pkey, ADD PRIMARY KEY (code);
ALTER TABLE cr2_keyed DROP COLUMN id CASCADE;
ALTER TABLE cr2_keyed DROP CONSTRAINT cr2_keyed_pkey, ADD CONSTRAINT cr2_keyed_pkey PRIMARY KEY (id);
ALTER TABLE cr2_keyed RENAME COLUMN id TO ident;
-- (the _decrypted view pins the column's type; it is rebuilt after the ALTER)
DROP VIEW cr2_keyed_decrypted;
ALTER TABLE cr2_keyed ALTER COLUMN ident TYPE bigint USING ident + 1;
ALTER TABLE cr2_keyed ALTER COLUMN ident TYPE text;
ALTER TABLE cr2_keyed ALTER COLUMN ident TYPE bigint;
SELECT ident, s FROM cr2_keyed_decrypted;
INSERT INTO cr2_keyed_decrypted VALUES (2, 'c2', 'new');
SELECT ident, s FROM cr2_keyed_decrypted ORDER BY ident;
-- a refusal caught inside a subtransaction leaves the next one right
DO $$
BEGIN
	BEGIN
		ALTER TABLE cr2_keyed DROP CONSTRAINT cr2_keyed_pkey;
	EXCEPTION WHEN object_not_in_prerequisite_state THEN
		RAISE NOTICE 'refused';
	END;
	ALTER TABLE cr2_keyed ADD COLUMN extra int;
END $$;
SELECT pg_temp.sqlstate('ALTER TABLE cr2_keyed DROP CONSTRAINT cr2_keyed_pkey, ADD PRIMARY KEY (code)') AS replaced;
SELECT ident, s FROM cr2_keyed_decrypted ORDER BY ident;
DROP TABLE cr2_keyed CASCADE;

-- 5. varchar(n): characters beyond n that are all spaces are cut off, as
-- varchar(n) does (it was 22001)
CREATE TABLE cr2_short (id int PRIMARY KEY, v varchar(3));
SELECT privacy.encrypt_column('cr2_short', 'v');
INSERT INTO cr2_short VALUES (1, 'abc   '), (2, 'ab'), (3, 'äöü  ');
INSERT INTO cr2_short VALUES (4, 'abcd');
INSERT INTO cr2_short VALUES (5, 'ab  c');
SELECT id, v, length(v) FROM cr2_short_decrypted ORDER BY id;
DROP TABLE cr2_short CASCADE;

-- column privileges are copied to the _decrypted view (a role with SELECT
-- on every column and UPDATE on one could not use the view)
CREATE ROLE regress_cr2_reader;
CREATE TABLE cr2_cols (id int PRIMARY KEY, email text, other text);
INSERT INTO cr2_cols VALUES (1, 'a@example.com', 'o');
GRANT SELECT (id, email, other), UPDATE (email) ON cr2_cols TO regress_cr2_reader;
SELECT privacy.encrypt_column('cr2_cols', 'email');
SELECT attname, attacl FROM pg_attribute WHERE attrelid = 'cr2_cols_decrypted'::regclass AND attnum > 0 ORDER BY attnum;
SET ROLE regress_cr2_reader;
UPDATE cr2_cols_decrypted SET email = 'b@example.com' WHERE id = 1;
SELECT * FROM cr2_cols_decrypted;
UPDATE cr2_cols_decrypted SET other = 'x';
RESET ROLE;
DROP TABLE cr2_cols CASCADE;
DROP ROLE regress_cr2_reader;

-- a table name too long for "<name>_decrypted": the name is cut to fit, at a
-- character boundary (encrypt_column, and every rebuild of the view of a
-- table renamed to such a name, failed with 42622)
CREATE TABLE cr2_a234567890a234567890a234567890a234567890a234567890a23456789 (id int PRIMARY KEY, a text, b text);
SELECT privacy.encrypt_column('cr2_a234567890a234567890a234567890a234567890a234567890a23456789', 'a');
SELECT privacy.encrypt_column('cr2_a234567890a234567890a234567890a234567890a234567890a23456789', 'b');
SELECT DISTINCT view, octet_length(view::text) FROM privacy.encrypted_columns;
SELECT privacy.decrypt_column('cr2_a234567890a234567890a234567890a234567890a234567890a23456789', 'a');
DROP TABLE cr2_a234567890a234567890a234567890a234567890a234567890a23456789 CASCADE;
CREATE TABLE "cr2_äääääääääääääääääääääääääääää" (id int PRIMARY KEY, a text);
SELECT privacy.encrypt_column('"cr2_äääääääääääääääääääääääääääää"', 'a');
SELECT view, octet_length(view::text) FROM privacy.encrypted_columns;
DROP TABLE "cr2_äääääääääääääääääääääääääääää" CASCADE;
DROP EXTENSION privacy;
