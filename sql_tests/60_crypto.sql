CREATE EXTENSION privacy;
SELECT privacy.create_key('k1') AS k1 \gset
SELECT privacy.decrypt(privacy.encrypt('hello'::bytea, :k1), :k1);
SELECT * FROM privacy.keys;
CREATE TABLE people (id int PRIMARY KEY, name text, nick varchar(10), photo bytea, age int);
INSERT INTO people VALUES (1, 'Alice', 'al', '\x0102', 30), (2, 'Bob', NULL, NULL, 40);
SELECT privacy.encrypt_column('people', 'name');
SELECT privacy.encrypt_column('people', 'nick');
SELECT privacy.encrypt_column('people', 'photo');
SELECT id, left(name, 4), length(name) > 50 FROM people ORDER BY id;
SELECT * FROM people_decrypted ORDER BY id;
INSERT INTO people VALUES (3, 'Carol', 'cc', '\xff', 20);
INSERT INTO people_decrypted VALUES (4, 'Dave', 'dd', '\xee', 21);
UPDATE people_decrypted SET name = 'David' WHERE id = 4;
UPDATE people SET age = 22 WHERE id = 4;
UPDATE people SET id = 5 WHERE id = 4;
SELECT * FROM people_decrypted ORDER BY id;
DELETE FROM people_decrypted WHERE id = 5;
SELECT privacy.decrypt_column('people', 'nick');
\d people
SELECT * FROM people_decrypted ORDER BY id;
DROP TABLE people CASCADE;
DROP EXTENSION privacy CASCADE;
