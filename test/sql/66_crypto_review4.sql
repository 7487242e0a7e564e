-- Encrypted columns, fourth review: what the write trigger cannot see.
CREATE EXTENSION privacy;
CREATE FUNCTION pg_temp.sqlstate(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE stmt;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE;
END $$;

-- 1. With the table's triggers disabled (ALTER TABLE ... DISABLE TRIGGER
-- USER or ALL, by the owner or a superuser; session_replication_role =
-- replica), INSERT and UPDATE stored plaintext in an encrypted column
-- silently.  encrypt_column now adds a CHECK constraint that the stored
-- value has the form of a ciphertext (no key needed); triggers do not
-- switch it off.  Its violation prints neither the row nor the statement.
CREATE TABLE cr4_t (id int PRIMARY KEY, s text, v varchar(5), b bytea, other int);
INSERT INTO cr4_t VALUES (1, 'alpha', 'beta', '\x01', 0);
SELECT privacy.encrypt_column('cr4_t', 's');
SELECT privacy.encrypt_column('cr4_t', 'v');
SELECT privacy.encrypt_column('cr4_t', 'b');
SELECT c.conname LIKE 'privacy_ciphertext_%' AS named, c.connoinherit, c.convalidated,
       pg_get_constraintdef(c.oid) LIKE 'CHECK (privacy._is_ciphertext(%' AS checks
  FROM pg_constraint c WHERE c.conrelid = 'cr4_t'::regclass AND c.contype = 'c' ORDER BY c.conname;
ALTER TABLE cr4_t DISABLE TRIGGER USER;
SELECT pg_temp.sqlstate($$INSERT INTO cr4_t VALUES (2, 'PLAINTEXT-s', NULL, NULL, 0)$$) AS insert_text,
       pg_temp.sqlstate($$INSERT INTO cr4_t VALUES (2, NULL, 'PLAIN', NULL, 0)$$) AS insert_varchar,
       pg_temp.sqlstate($$INSERT INTO cr4_t VALUES (2, NULL, NULL, '\xdeadbeef', 0)$$) AS insert_bytea,
       pg_temp.sqlstate($$UPDATE cr4_t SET s = 'PLAINTEXT-s' WHERE id = 1$$) AS update_text,
       pg_temp.sqlstate($$UPDATE cr4_t SET b = '\x7076' WHERE id = 1$$) AS update_short_bytea,
       pg_temp.sqlstate($$UPDATE cr4_t SET s = 'pv1:' || repeat('A', 63) WHERE id = 1$$) AS short_text,
       pg_temp.sqlstate($$UPDATE cr4_t SET s = 'pv1:' || repeat('*', 64) WHERE id = 1$$) AS not_base64;
-- the message names no value
INSERT INTO cr4_t VALUES (2, 'PLAINTEXT-s', NULL, NULL, 0);
-- existing ciphertext passes (other columns change with triggers off)
UPDATE cr4_t SET other = 1 WHERE id = 1;
ALTER TABLE cr4_t ENABLE TRIGGER USER;
ALTER TABLE cr4_t DISABLE TRIGGER ALL;
SELECT pg_temp.sqlstate($$INSERT INTO cr4_t VALUES (3, 'PLAINTEXT-s', NULL, NULL, 0)$$) AS trigger_all;
ALTER TABLE cr4_t ENABLE TRIGGER ALL;
SET session_replication_role = replica;
SELECT pg_temp.sqlstate($$INSERT INTO cr4_t VALUES (3, 'PLAINTEXT-s', NULL, NULL, 0)$$) AS replica;
RESET session_replication_role;
SELECT id, s, v, b, other FROM cr4_t_decrypted ORDER BY id;
SELECT count(*) AS plaintext_rows FROM cr4_t WHERE s NOT LIKE 'pv1:%' OR v NOT LIKE 'pv1:%';
-- writes through the trigger pass the check; encrypting again says so
INSERT INTO cr4_t VALUES (2, 'gamma', 'delta', '\x02', 0);
SELECT pg_temp.sqlstate($$SELECT privacy.encrypt_column('cr4_t', 's')$$) AS again;
-- a column renamed keeps its check
ALTER TABLE cr4_t RENAME COLUMN s TO s2;
ALTER TABLE cr4_t DISABLE TRIGGER USER;
SELECT pg_temp.sqlstate($$UPDATE cr4_t SET s2 = 'PLAINTEXT-s' WHERE id = 1$$) AS renamed;
ALTER TABLE cr4_t ENABLE TRIGGER USER;
-- decrypt_column removes its column's check, and the plaintext is back
SELECT privacy.decrypt_column('cr4_t', 's2');
SELECT privacy.decrypt_column('cr4_t', 'v');
SELECT count(*) AS checks_left FROM pg_constraint WHERE conrelid = 'cr4_t'::regclass AND contype = 'c';
SELECT id, s2, v FROM cr4_t ORDER BY id;
-- the owner may drop the check on purpose (the owner is trusted with his
-- own table): then only the trigger guards the column
SELECT format('ALTER TABLE cr4_t DROP CONSTRAINT %I', conname) AS drop_check
  FROM pg_constraint WHERE conrelid = 'cr4_t'::regclass AND contype = 'c' \gset
:drop_check;
SELECT privacy.decrypt_column('cr4_t', 'b');
SELECT id, b FROM cr4_t ORDER BY id;
-- the check itself, called alone
SELECT privacy._is_ciphertext(NULL::text) IS NULL AS strict,
       pg_temp.sqlstate($$SELECT privacy._is_ciphertext('pv1:'::text)$$) AS prefix_only,
       pg_temp.sqlstate($$SELECT privacy._is_ciphertext('\x707601'::bytea)$$) AS header_only;
DROP TABLE cr4_t;

-- 2. A row whose subject is found through another table (two hops away:
-- items -> orders -> customers) was encrypted under the key of the
-- customer its order had when it was written; moving the order to another
-- customer left it there, so erasing the former customer shredded the new
-- customer's data.  encrypt_column with a subject now refuses such a table
-- (0A000 with a hint), and a foreign key to another column of the root
-- (whose key can change under it) too; the row's own column (a foreign key
-- to the root's key, a link) works as before, and so does the column's key.
CREATE TABLE cr4_cust (id int PRIMARY KEY, login text UNIQUE NOT NULL);
CREATE TABLE cr4_orders (id int PRIMARY KEY, cust_id int REFERENCES cr4_cust, note text);
CREATE TABLE cr4_items (id int PRIMARY KEY, order_id int REFERENCES cr4_orders, memo text);
CREATE TABLE cr4_by_login (id int PRIMARY KEY, login text REFERENCES cr4_cust (login), memo text);
CREATE TABLE cr4_linked (id int PRIMARY KEY, who text, memo text);
SELECT privacy.define_subject('cr4', 'cr4_cust');
SELECT privacy.link('cr4', 'cr4_linked', 'who');
INSERT INTO cr4_cust VALUES (1, 'ann'), (2, 'bob');
INSERT INTO cr4_orders VALUES (10, 1, 'order note');
INSERT INTO cr4_items VALUES (100, 10, 'item memo');
INSERT INTO cr4_by_login VALUES (1, 'ann', 'login memo');
INSERT INTO cr4_linked VALUES (1, '1', 'linked memo');
SELECT pg_temp.sqlstate($$SELECT privacy.encrypt_column('cr4_items', 'memo', 'cr4')$$) AS two_hops,
       pg_temp.sqlstate($$SELECT privacy.encrypt_column('cr4_by_login', 'memo', 'cr4')$$) AS other_root_column;
SELECT privacy.encrypt_column('cr4_items', 'memo', 'cr4');
SELECT count(*) AS registered FROM privacy.encrypted_columns WHERE table_name IN ('cr4_items'::regclass, 'cr4_by_login'::regclass);
SELECT privacy.encrypt_column('cr4_orders', 'note', 'cr4');
SELECT privacy.encrypt_column('cr4_linked', 'memo', 'cr4');
SELECT privacy.encrypt_column('cr4_items', 'memo');
-- a direct foreign key still follows its row: the moved order's note goes
-- with it, and erasing its former customer leaves it readable
UPDATE cr4_orders SET cust_id = 2 WHERE id = 10;
SELECT privacy.erase('cr4', '1') -> 'keys_shredded' AS shredded;
SELECT id, cust_id, note FROM cr4_orders_decrypted ORDER BY id;
SELECT id, memo FROM cr4_items_decrypted ORDER BY id;
SELECT privacy.decrypt_column('cr4_items', 'memo');
SELECT privacy.decrypt_column('cr4_orders', 'note');
SELECT privacy.decrypt_column('cr4_linked', 'memo');
SELECT privacy.drop_subject('cr4');
DROP TABLE cr4_items, cr4_orders, cr4_by_login, cr4_linked, cr4_cust;

-- 3. Partitions.  A partitioned table cannot be encrypted, nor can a
-- partition; but a table with encrypted columns could be attached as a
-- partition, after which its rows moved to a sibling partition (ciphertext
-- in a column nobody decrypts) and nothing encrypted the sibling's writes.
-- ATTACH PARTITION of such a table is now refused (0A000); a new partition
-- (CREATE TABLE ... PARTITION OF) has no encrypted column to inherit.
CREATE TABLE cr4_p (id int, k int, s text, PRIMARY KEY (id, k)) PARTITION BY LIST (k);
CREATE TABLE cr4_p1 (id int, k int, s text, PRIMARY KEY (id, k));
INSERT INTO cr4_p1 VALUES (1, 1, 'one');
SELECT privacy.encrypt_column('cr4_p1', 's');
SELECT pg_temp.sqlstate($$SELECT privacy.encrypt_column('cr4_p', 's')$$) AS partitioned;
ALTER TABLE cr4_p ATTACH PARTITION cr4_p1 FOR VALUES IN (1);
SELECT pg_temp.sqlstate($$ALTER TABLE cr4_p ATTACH PARTITION cr4_p1 FOR VALUES IN (1)$$) AS attach;
SELECT relispartition FROM pg_class WHERE oid = 'cr4_p1'::regclass;
CREATE TABLE cr4_p2 PARTITION OF cr4_p FOR VALUES IN (2);
SELECT count(*) AS cloned_triggers FROM pg_trigger WHERE tgrelid = 'cr4_p2'::regclass;
SELECT pg_temp.sqlstate($$SELECT privacy.encrypt_column('cr4_p2', 's')$$) AS new_partition;
-- decrypted first, it attaches
SELECT privacy.decrypt_column('cr4_p1', 's');
ALTER TABLE cr4_p ATTACH PARTITION cr4_p1 FOR VALUES IN (1);
SELECT tableoid::regclass, id, s FROM cr4_p ORDER BY id;
DROP TABLE cr4_p;

-- the audit chain's data key ("privacy:audit") keys nothing else: encrypt,
-- decrypt and blind_index refuse it (data under it could never be shredded:
-- it is never destroyed), before and after the cache holds it
SELECT privacy.verify_audit() > 0 AS chain;
SELECT pg_temp.sqlstate(format($$SELECT privacy.encrypt('x'::bytea, %s)$$, id)) AS encrypt,
       pg_temp.sqlstate(format($$SELECT privacy.blind_index('x', %s)$$, id)) AS blind_index,
       pg_temp.sqlstate(format($$SELECT privacy.encrypt('x'::bytea, %s)$$, id)) AS encrypt_again
  FROM privacy.data_keys WHERE name = 'privacy:audit';
SELECT privacy.verify_audit() > 0 AS chain_still_verifies;
DROP EXTENSION privacy;
