-- Encrypted columns, third review: real-application workflows.
CREATE EXTENSION privacy;
CREATE FUNCTION pg_temp.sqlstate(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE stmt;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE;
END $$;

-- 1. pg_restore --clean (and pg_dump --clean) into a database that has the
-- tables drops each table's triggers, then its constraints, then the table:
-- the primary key of a table with encrypted columns could not be dropped
-- (55000, the whole restore failed under --single-transaction).  A table
-- without its write trigger is no longer guarded; one with it still is.
CREATE TABLE cr3_orders (id int PRIMARY KEY, note text);
INSERT INTO cr3_orders VALUES (1, 'one'), (2, 'two');
SELECT privacy.encrypt_column('cr3_orders', 'note');
SELECT pg_temp.sqlstate('ALTER TABLE ONLY cr3_orders DROP CONSTRAINT cr3_orders_pkey') AS with_trigger;
SELECT format('DROP TRIGGER IF EXISTS %I ON cr3_orders', tgname) AS drop_trigger
  FROM pg_trigger WHERE tgrelid = 'cr3_orders'::regclass AND tgname LIKE '~privacy_encrypt_%' \gset
:drop_trigger;
DROP TRIGGER IF EXISTS privacy_write ON cr3_orders_decrypted;
ALTER TABLE IF EXISTS ONLY cr3_orders DROP CONSTRAINT IF EXISTS cr3_orders_pkey;
DROP VIEW IF EXISTS cr3_orders_decrypted;
DROP TABLE IF EXISTS cr3_orders;
SELECT count(*) AS registrations FROM privacy.encrypted_columns;

-- 2. The primary key of a table with encrypted columns attached as a
-- partition is guarded when the command names its parent too: ALTER TABLE
-- parent DROP CONSTRAINT dropped the partition's key with the parent's
-- (every value unreadable: "has no primary key"), and a type change of the
-- parent's column is checked for each encrypted partition or child.
CREATE TABLE cr3_parts (id int, note text, PRIMARY KEY (id)) PARTITION BY RANGE (id);
CREATE TABLE cr3_parts_2 PARTITION OF cr3_parts FOR VALUES FROM (100) TO (200);
CREATE TABLE cr3_parts_1 (id int PRIMARY KEY, note text);
INSERT INTO cr3_parts_1 VALUES (1, 'one');
SELECT privacy.encrypt_column('cr3_parts_1', 'note');
-- (attaching it is refused since the fourth review, 66_crypto_review4: as
-- before it, or with event triggers off)
SELECT pg_temp.sqlstate('ALTER TABLE cr3_parts ATTACH PARTITION cr3_parts_1 FOR VALUES FROM (0) TO (100)') AS attach;
SET session_replication_role = replica;
ALTER TABLE cr3_parts ATTACH PARTITION cr3_parts_1 FOR VALUES FROM (0) TO (100);
RESET session_replication_role;
SELECT pg_temp.sqlstate('ALTER TABLE cr3_parts DROP CONSTRAINT cr3_parts_pkey') AS parent_key;
SELECT count(*) AS keys FROM pg_index WHERE indrelid = 'cr3_parts_1'::regclass AND indisprimary;
-- (the partition key's type cannot change anyway; other commands pass)
ALTER TABLE cr3_parts ADD COLUMN extra int;
INSERT INTO cr3_parts VALUES (2, 'two');
SELECT id, note FROM cr3_parts_1_decrypted ORDER BY id;
CREATE TABLE cr3_base (id int, note text);
CREATE TABLE cr3_child (id int PRIMARY KEY, note text);
INSERT INTO cr3_child VALUES (1, 'child');
SELECT privacy.encrypt_column('cr3_child', 'note');
ALTER TABLE cr3_child INHERIT cr3_base;
-- (without its view, which would refuse a type change too)
DROP VIEW cr3_child_decrypted;
SELECT pg_temp.sqlstate($$ALTER TABLE cr3_base ALTER COLUMN id TYPE date USING '2020-01-01'::date + id$$) AS child_key_type;
SELECT pg_typeof(id) FROM cr3_child;

DROP TABLE cr3_parts, cr3_base CASCADE;
DROP EXTENSION privacy;
