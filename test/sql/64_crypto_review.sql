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
