-- read_encrypted() is no oracle (SPEC §7): where row-level security applies
-- to the caller, it decrypts only the values of rows the caller can see
-- (session 12's review: a ciphertext copied from a hidden row was read).
CREATE EXTENSION privacy;
CREATE ROLE regress_cr_reader;
CREATE TABLE cr_sec (id int PRIMARY KEY, tenant int, secret text);
INSERT INTO cr_sec VALUES (1, 1, 'row one'), (2, 2, 'row two');
SELECT privacy.encrypt_column('cr_sec', 'secret');
CREATE TABLE cr_copy AS SELECT * FROM cr_sec;	-- ciphertexts, e.g. a backup table
ALTER TABLE cr_sec ENABLE ROW LEVEL SECURITY;
CREATE POLICY cr_tenant ON cr_sec FOR SELECT USING (tenant = 1);
GRANT SELECT ON cr_sec, cr_copy, cr_sec_decrypted TO regress_cr_reader;
SELECT id AS col FROM privacy.encrypted_columns WHERE table_name = 'cr_sec'::regclass \gset
SET ROLE regress_cr_reader;
SELECT * FROM cr_sec_decrypted;
SELECT privacy.read_encrypted(c.secret, :col, c.id) FROM cr_copy c WHERE id = 1;
SELECT privacy.read_encrypted(c.secret, :col, c.id) FROM cr_copy c WHERE id = 2;
-- the key in another type than the column's is refused on such a table
SELECT privacy.read_encrypted(c.secret, :col, c.id::bigint) FROM cr_copy c WHERE id = 1;
RESET ROLE;
-- without row security for the reader (the owner), every row is read
SELECT id, privacy.read_encrypted(c.secret, :col, c.id) FROM cr_copy c ORDER BY id;
DROP TABLE cr_copy;
SELECT privacy.decrypt_column('cr_sec', 'secret');
DROP TABLE cr_sec;
DROP ROLE regress_cr_reader;
DROP EXTENSION privacy;

-- discover() never counts rows row-level security hides from the caller
-- (it samples as the table's owner): an explicit table is refused (42501),
-- a scan leaves it out
CREATE EXTENSION privacy;
CREATE ROLE regress_cr_admin IN ROLE privacy_admin;
CREATE TABLE cr_cards (id int PRIMARY KEY, tenant int, card text);
INSERT INTO cr_cards SELECT g, 2, '4111111111111111' FROM generate_series(1, 20) g;
ALTER TABLE cr_cards ENABLE ROW LEVEL SECURITY;
CREATE POLICY cr_t1 ON cr_cards FOR SELECT USING (tenant = 1);
GRANT SELECT ON cr_cards TO regress_cr_admin;
SET ROLE regress_cr_admin;
SELECT count(*) FROM cr_cards;
SELECT column_name, category, matched, sampled FROM privacy.discover('cr_cards');
SELECT count(*) FROM privacy.discover() WHERE table_name = 'cr_cards'::regclass;
RESET ROLE;
SELECT column_name, category, matched, sampled FROM privacy.discover('cr_cards');
DROP TABLE cr_cards;
DROP ROLE regress_cr_admin;
DROP EXTENSION privacy;

-- encrypt_column refuses what would read the ciphertext as the value: a
-- generated column computed from it, a CHECK on it, a generated column
-- itself; and a partition (a row moving to a sibling left its ciphertext
-- in a column nobody decrypts)
CREATE EXTENSION privacy;
CREATE TABLE cr_gen (id int PRIMARY KEY, s text, up text GENERATED ALWAYS AS (upper(s)) STORED);
SELECT privacy.encrypt_column('cr_gen', 's');
SELECT privacy.encrypt_column('cr_gen', 'up');
CREATE TABLE cr_chk (id int PRIMARY KEY, s text CHECK (length(s) < 50), t text, CHECK (id > 0));
SELECT privacy.encrypt_column('cr_chk', 's');
SELECT privacy.encrypt_column('cr_chk', 't');
CREATE TABLE cr_part (id int, k int, s text, PRIMARY KEY (id, k)) PARTITION BY LIST (k);
CREATE TABLE cr_part1 PARTITION OF cr_part FOR VALUES IN (1);
SELECT privacy.encrypt_column('cr_part1', 's');
SELECT table_name::text, column_name FROM privacy.encrypted_columns ORDER BY 1, 2;
SELECT privacy.decrypt_column('cr_chk', 't');
DROP TABLE cr_part, cr_chk, cr_gen;
DROP EXTENSION privacy;

-- dropping one encrypted column (CASCADE drops the _decrypted view) gives
-- the table's other encrypted columns their view back
CREATE EXTENSION privacy;
CREATE TABLE cr_two (id int PRIMARY KEY, a text, b text);
INSERT INTO cr_two VALUES (1, 'x', 'y');
SELECT privacy.encrypt_column('cr_two', 'a');
SELECT privacy.encrypt_column('cr_two', 'b');
ALTER TABLE cr_two DROP COLUMN a CASCADE;
SELECT * FROM cr_two_decrypted;
INSERT INTO cr_two_decrypted VALUES (2, 'z');
SELECT id, b FROM cr_two_decrypted ORDER BY id;
SELECT column_name, view FROM privacy.encrypted_columns;
SELECT privacy.decrypt_column('cr_two', 'b');
SELECT * FROM cr_two ORDER BY id;
DROP TABLE cr_two;
DROP EXTENSION privacy;

-- INSERT ... ON CONFLICT DO UPDATE SET col = EXCLUDED.col: the EXCLUDED
-- value was encrypted for the proposed row; the update encrypts the same
-- plaintext for its own row (it failed with XX001)
CREATE EXTENSION privacy;
CREATE TABLE cr_acc (id serial PRIMARY KEY, email text UNIQUE, secret text, note text);
INSERT INTO cr_acc (email, secret, note) VALUES ('a@x', 's1', 'n1');
SELECT privacy.encrypt_column('cr_acc', 'secret');
SELECT privacy.encrypt_column('cr_acc', 'note');
INSERT INTO cr_acc (email, secret, note) VALUES ('a@x', 's2', 'n2')
	ON CONFLICT (email) DO UPDATE SET secret = EXCLUDED.secret, note = EXCLUDED.note;
INSERT INTO cr_acc (email, secret, note) VALUES ('b@x', 's3', 'n3'), ('a@x', 's4', 'n4')
	ON CONFLICT (email) DO UPDATE SET secret = EXCLUDED.secret, note = EXCLUDED.note;
SELECT email, secret, note FROM cr_acc_decrypted ORDER BY email;
-- a ciphertext of another row is still refused, also one this transaction
-- just wrote (only the statement that encrypted it may re-encrypt it)
UPDATE cr_acc SET secret = (SELECT secret FROM cr_acc WHERE email = 'b@x') WHERE email = 'a@x';
BEGIN;
INSERT INTO cr_acc (email, secret) VALUES ('c@x', 'fresh');
UPDATE cr_acc SET secret = (SELECT secret FROM cr_acc WHERE email = 'c@x') WHERE email = 'a@x';
ROLLBACK;
-- a table of nine encrypted columns
CREATE TABLE cr_w (id int PRIMARY KEY, k text UNIQUE, c1 text, c2 text, c3 text, c4 text, c5 text,
	c6 text, c7 text, c8 text, c9 text);
SELECT count(privacy.encrypt_column('cr_w', 'c' || i)) FROM generate_series(1, 9) i;
INSERT INTO cr_w VALUES (1, 'a', '1', '2', '3', '4', '5', '6', '7', '8', '9');
INSERT INTO cr_w VALUES (2, 'a', 'x1', 'x2', 'x3', 'x4', 'x5', 'x6', 'x7', 'x8', 'x9') ON CONFLICT (k) DO UPDATE
	SET c1 = EXCLUDED.c1, c2 = EXCLUDED.c2, c3 = EXCLUDED.c3, c4 = EXCLUDED.c4, c5 = EXCLUDED.c5,
	    c6 = EXCLUDED.c6, c7 = EXCLUDED.c7, c8 = EXCLUDED.c8, c9 = EXCLUDED.c9;
SELECT id, c1, c5, c9 FROM cr_w_decrypted;
SELECT count(privacy.decrypt_column('cr_w', 'c' || i)) FROM generate_series(1, 9) i;
DROP TABLE cr_w;
SELECT privacy.decrypt_column('cr_acc', 'secret');
SELECT privacy.decrypt_column('cr_acc', 'note');
DROP TABLE cr_acc;
DROP EXTENSION privacy;
